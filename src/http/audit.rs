//! Audits the mutations of an HTTP request: before it runs, each root mutation field (however
//! the document spells it: aliases, inline or named fragments, directives) is noted with its
//! arguments (variables resolved, secrets redacted); after, each is recorded as done
//! or failed. Sign-in and 2FA mutations are recorded by their resolvers instead, which know
//! the user they concern.

use crate::services::audit::{self, Entry};
use crate::services::{AppState, RequestMeta, Viewer};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::Positioned;
use async_graphql::{PathSegment, Request, Response, Value};
use std::collections::HashSet;

/// Fields audited where they are resolved (see `graphql::users`).
const RECORDED_BY_RESOLVER: &[&str] = &[
    "register",
    "login",
    "refreshToken",
    "logout",
    "loginWithProvider",
    "beginTwoFactorSetup",
    "confirmTwoFactor",
    "disableTwoFactor",
];

/// A root mutation field about to run.
pub struct Planned {
    key: String,
    field: String,
    arguments: serde_json::Value,
}

/// The root mutation fields of `request`'s operation (none for queries and subscriptions).
pub fn plan(request: &mut Request) -> Vec<Planned> {
    let operation_name = request.operation_name.take();
    let variables = std::mem::take(&mut request.variables);
    let planned = plan_parsed(request, operation_name.as_deref(), &variables);
    // Put back what was borrowed for planning: the request runs with them.
    request.operation_name = operation_name;
    request.variables = variables;
    planned
}

fn plan_parsed(
    request: &mut Request,
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
) -> Vec<Planned> {
    let Ok(document) = request.parsed_query() else {
        return Vec::new();
    };
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops.get(name),
            None if ops.len() == 1 => ops.values().next(),
            None => None,
        },
    };
    let Some(operation) = operation else {
        return Vec::new();
    };
    if operation.node.ty != OperationType::Mutation {
        return Vec::new();
    }
    let mut fields = Vec::new();
    root_fields(
        document,
        &operation.node.selection_set.node,
        &mut HashSet::new(),
        &mut fields,
    );
    let mut keys = HashSet::new();
    let mut planned = Vec::new();
    for field in fields {
        let name = field.node.name.node.as_str();
        if RECORDED_BY_RESOLVER.contains(&name) || name == "__typename" {
            continue;
        }
        let key = field.node.response_key().node.to_string();
        // Fields sharing a response key are merged into one execution.
        if !keys.insert(key.clone()) {
            continue;
        }
        let mut arguments = serde_json::Map::new();
        for (arg, value) in &field.node.arguments {
            let value = value
                .node
                .clone()
                .into_const_with(|var| variables.get(&var).cloned().ok_or(()))
                .ok()
                .and_then(|v| v.into_json().ok())
                .unwrap_or(serde_json::Value::Null);
            arguments.insert(arg.node.to_string(), value);
        }
        planned.push(Planned {
            key,
            field: name.to_string(),
            arguments: audit::redacted(&serde_json::Value::Object(arguments)),
        });
    }
    planned
}

/// The root fields of a selection set however the document spells them: directly, in inline
/// fragments, or in named fragments (each expanded once). Fields a directive skips are listed
/// too; `record` leaves out whatever did not run.
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    expanded: &mut HashSet<&'a str>,
    out: &mut Vec<&'a Positioned<Field>>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => out.push(field),
            Selection::InlineFragment(inline) => {
                root_fields(document, &inline.node.selection_set.node, expanded, out)
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if !expanded.insert(name.as_str()) {
                    continue;
                }
                if let Some(fragment) = document.fragments.get(name) {
                    root_fields(document, &fragment.node.selection_set.node, expanded, out);
                }
            }
        }
    }
}

/// `moveApplication` → `MOVE_APPLICATION`.
fn action_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for (i, c) in field.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn object_type(field: &str) -> &'static str {
    match field {
        "applyToJob" | "withdrawApplication" | "moveApplication" | "moveApplications" => {
            "Application"
        }
        "upsertTalentProfile" => "TalentProfile",
        "upsertProducerProfile" => "ProducerProfile",
        "markNotificationsRead" => "Notification",
        f if f.contains("Job") => "Job",
        f if f.contains("Group") => "TalentGroup",
        f if f.contains("FavoriteList") => "FavoriteList",
        _ => "Unknown",
    }
}

/// What the field acted on: its id argument, else the id it answered with, else the viewer.
fn object_id(planned: &Planned, data: Option<&Value>, viewer: Option<&Viewer>) -> String {
    for key in ["id", "applicationId", "jobId", "groupId", "listId"] {
        if let Some(id) = planned.arguments.get(key).and_then(|v| v.as_str()) {
            return id.to_string();
        }
    }
    if let Some(ids) = planned.arguments.get("ids").and_then(|v| v.as_array()) {
        let ids: Vec<&str> = ids.iter().filter_map(|v| v.as_str()).collect();
        return ids.join(",");
    }
    if planned.arguments.get("all").and_then(|v| v.as_bool()) == Some(true) {
        return "all".into();
    }
    if let Some(Value::Object(answer)) = data {
        if let Some(Value::String(id)) = answer.get("id") {
            return id.clone();
        }
    }
    viewer.map(|v| v.user_id.to_string()).unwrap_or_default()
}

/// Records each planned field as done or failed, once the request has run.
pub async fn record(
    state: &AppState,
    meta: &RequestMeta,
    viewer: Option<Viewer>,
    planned: Vec<Planned>,
    response: &Response,
) {
    let data = match &response.data {
        Value::Object(map) => Some(map),
        _ => None,
    };
    for field in planned {
        let error = response
            .errors
            .iter()
            .find(|e| matches!(e.path.first(), Some(PathSegment::Field(key)) if *key == field.key));
        let answer = data.and_then(|d| d.get(field.key.as_str()));
        if error.is_none() && answer.is_none() {
            // Never ran (the request was refused as a whole).
            continue;
        }
        let mut action = action_name(&field.field);
        let mut summary = field.arguments.to_string();
        if let Some(error) = error {
            action.push_str("_FAILED");
            let code = error
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .map(|c| c.to_string())
                .unwrap_or_default();
            summary = format!("{summary} -> {}", code.trim_matches('"'));
        }
        let entry = Entry {
            actor: Entry::by(viewer.as_ref()),
            object_id: object_id(&field, answer, viewer.as_ref()),
            object_type: object_type(&field.field).to_string(),
            action,
            summary,
        };
        audit::record(state, meta, entry).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_screaming_snake_case() {
        assert_eq!(action_name("moveApplication"), "MOVE_APPLICATION");
        assert_eq!(action_name("markJobFilled"), "MARK_JOB_FILLED");
    }

    #[test]
    fn mutation_fields_are_planned_with_variables_and_without_secrets() {
        let mut request = Request::new(
            "mutation M($id: UUID!) { a: moveApplication(id: $id, stage: REJECTED) { id }
               login(email: \"x\", password: \"y\") { accessToken } }",
        )
        .variables(async_graphql::Variables::from_json(
            serde_json::json!({ "id": "abc" }),
        ));
        let planned = plan(&mut request);
        assert_eq!(planned.len(), 1, "login is recorded by its resolver");
        assert_eq!(planned[0].key, "a");
        assert_eq!(planned[0].arguments["id"], "abc");
        assert_eq!(planned[0].arguments["stage"], "REJECTED");
        assert!(plan(&mut Request::new("{ me { id } }")).is_empty());
    }

    #[test]
    fn mutation_fields_inside_fragments_are_planned() {
        let mut request = Request::new(
            "mutation { ... on Mutation { a: deleteTalentGroup(groupId: \"g1\") }
               ...F ...F }
             fragment F on Mutation { closeJob(id: \"j1\") { id } ... on Mutation { b: leaveGroup(groupId: \"g2\") } }",
        );
        let planned = plan(&mut request);
        let keys: Vec<&str> = planned.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["a", "closeJob", "b"]);
        assert_eq!(planned[0].arguments["groupId"], "g1");
    }
}
