//! The audit trail: who did what to what, from where. Entries are staged in PostgreSQL's
//! outbox at the time of the action (so none is lost while MongoDB is away) and shipped to the
//! document store by the document consumer. Summaries never hold passwords, tokens, codes or
//! secrets: argument values under such names are replaced before anything is written.

use super::{AppState, RequestMeta, Viewer};
use crate::db;
use crate::domain::ids::*;
use crate::domain::Role;
use anyhow::Context;
pub use castyou_vocab::events::AuditEntry;
use chrono::Utc;
use serde_json::Value;

/// The longest summary kept.
const MAX_SUMMARY: usize = 2000;

/// Argument names whose values are never written down.
const SECRET_NAMES: &[&str] = &[
    "password",
    "token",
    "code",
    "secret",
    "totp",
    "idtoken",
    "refreshtoken",
    "accesstoken",
];

/// Whether a value under `name` must be redacted.
pub fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| lower.contains(s))
}

/// `value` with every secret-named field redacted, at any depth.
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret(k) {
                        Value::String("[redacted]".into())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// One audited action.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: Option<(UserId, Role)>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
}

impl Entry {
    pub fn by(viewer: Option<&Viewer>) -> Option<(UserId, Role)> {
        viewer.map(|v| (v.user_id, v.role))
    }
}

/// Stages `entry`; a failure is logged (the action itself already happened or failed).
pub async fn record(state: &AppState, meta: &RequestMeta, entry: Entry) {
    let mut summary = entry.summary;
    if summary.len() > MAX_SUMMARY {
        let mut cut = MAX_SUMMARY;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
        summary.push('…');
    }
    let staged = AuditEntry {
        actor_id: entry.actor.map(|(id, _)| id),
        role: entry.actor.map(|(_, role)| role.to_string()),
        action: entry.action,
        object_type: entry.object_type,
        object_id: entry.object_id,
        summary,
        ip: meta.client_ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: meta.request_id.clone(),
        at: Utc::now(),
    };
    let stored = async {
        let payload = serde_json::to_value(&staged)
            .map_err(|e| anyhow::Error::new(e).context("encoding an audit entry"))?;
        let mut conn = state.conn().await?;
        db::outbox::record_audit(&mut conn, EventId::generate(), &payload)
            .await
            .context("outbox::record_audit")?;
        Ok::<(), crate::errors::AppError>(())
    };
    if let Err(e) = stored.await {
        tracing::error!(code = e.code(), action = %staged.action, "an audit entry could not be staged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = json!({ "email": "a@b.c", "password": "hunter2",
                        "input": { "idToken": "x.y.z", "name": "N" }, "code": "123456" });
        let r = redacted(&v);
        assert_eq!(r["email"], "a@b.c");
        assert_eq!(r["password"], "[redacted]");
        assert_eq!(r["input"]["idToken"], "[redacted]");
        assert_eq!(r["input"]["name"], "N");
        assert_eq!(r["code"], "[redacted]");
    }
}
