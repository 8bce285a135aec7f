//! GraphQL over HTTP as Apollo Client and legacy clients speak it: media types and status
//! codes, automatic persisted queries (across instances, over GET), and batches.

use crate::hardening::doubling_fragments;
use crate::helpers::{spawn_app, spawn_app_with, spawn_with_settings, TestApp};
use castyou::http::over_http::sha256_hex;
use serde_json::{json, Value};

const MODERN: &str = "application/graphql-response+json, application/json;q=0.9";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

struct Reply {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

/// POSTs `body` with `accept` (None: no Accept header at all) and an optional bearer token.
async fn post(app: &TestApp, accept: Option<&str>, token: Option<&str>, body: Value) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client.post(app.url("/graphql")).json(&body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    reply(request.send().await.expect("sending")).await
}

async fn get(app: &TestApp, params: &[(&str, String)], token: Option<&str>) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client
        .get(app.url("/graphql"))
        .query(params)
        .header("accept", MODERN);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    reply(request.send().await.expect("sending")).await
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[actix_web::test]
async fn modern_clients_get_the_graphql_response_media_type_and_the_specifications_statuses() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let other = app.talent().await;

    let bad_token = post(
        &app,
        Some(MODERN),
        Some("not-a-token"),
        json!({ "query": "{ me { id } }" }),
    )
    .await;
    let syntax = post(&app, Some(MODERN), None, json!({ "query": "{ me { id " })).await;
    let unknown_field = post(&app, Some(MODERN), None, json!({ "query": "{ nope }" })).await;
    let field_error = post(
        &app,
        Some(MODERN),
        Some(&talent.access_token),
        json!({ "query": "query($id: UUID!) { user(id: $id) { id email } }", "variables": { "id": other.id } }),
    )
    .await;

    for reply in [&bad_token, &syntax, &unknown_field, &field_error] {
        assert!(
            reply.content_type.starts_with(GRAPHQL_RESPONSE),
            "{}",
            reply.content_type
        );
    }
    assert_eq!(
        (bad_token.status, code(&bad_token.body)),
        (401, Some("UNAUTHENTICATED"))
    );
    assert_eq!(
        (syntax.status, code(&syntax.body)),
        (400, Some("GRAPHQL_PARSE_FAILED"))
    );
    assert_eq!(
        (unknown_field.status, code(&unknown_field.body)),
        (400, Some("GRAPHQL_VALIDATION_FAILED"))
    );
    // Execution happened: 200, with the field's error beside the data.
    assert_eq!(field_error.status, 200);
    assert_eq!(code(&field_error.body), Some("FORBIDDEN"));
    assert_eq!(field_error.body["data"]["user"]["id"], json!(other.id));
}

#[actix_web::test]
async fn legacy_clients_get_json_and_200_for_every_well_formed_request() {
    let app = spawn_app_with(|s| {
        s.rate_limit.general_max = 3;
        s.rate_limit.window_secs = 600;
    })
    .await;

    let bad_token = post(
        &app,
        None,
        Some("not-a-token"),
        json!({ "query": "{ me { id } }" }),
    )
    .await;
    let validation = post(
        &app,
        Some("application/json"),
        None,
        json!({ "query": "{ nope }" }),
    )
    .await;
    let ok = post(&app, Some("*/*"), None, json!({ "query": "{ requestId }" })).await;
    post(&app, None, None, json!({ "query": "{ requestId }" })).await;
    let limited = post(&app, None, None, json!({ "query": "{ requestId }" })).await;
    let not_graphql = post(&app, None, None, json!("{ me { id } }")).await;

    for reply in [&bad_token, &validation, &ok, &limited] {
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        assert!(
            reply.content_type.starts_with("application/json"),
            "{}",
            reply.content_type
        );
    }
    assert_eq!(code(&bad_token.body), Some("UNAUTHENTICATED"));
    assert_eq!(code(&validation.body), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(code(&limited.body), Some("RATE_LIMITED"));
    assert!(limited.headers.get("retry-after").is_some());
    assert!(limited.body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(0));
    // Not a GraphQL request at all: 400, saying what is expected.
    assert_eq!(not_graphql.status, 400);
    let message = not_graphql.body["errors"][0]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        message.contains("expected a GraphQL request object"),
        "{message}"
    );
}

#[actix_web::test]
async fn an_unacceptable_media_type_is_refused() {
    let app = spawn_app().await;

    let reply = post(
        &app,
        Some("text/html"),
        None,
        json!({ "query": "{ requestId }" }),
    )
    .await;

    assert_eq!(reply.status, 406);
}

#[actix_web::test]
async fn a_persisted_query_is_registered_once_and_then_answered_by_hash_on_any_instance() {
    let a = spawn_app().await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let query = "query Hello { requestId }";
    let hash = sha256_hex(query);

    let miss = post(
        &a,
        Some(MODERN),
        None,
        json!({ "extensions": persisted(&hash) }),
    )
    .await;
    let registered = post(
        &a,
        Some(MODERN),
        None,
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    let hit = post(
        &b,
        Some(MODERN),
        None,
        json!({ "extensions": persisted(&hash) }),
    )
    .await;

    assert_eq!(
        code(&miss.body),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{:#}",
        miss.body
    );
    assert!(
        registered.body["data"]["requestId"].is_string(),
        "{:#}",
        registered.body
    );
    assert_eq!(hit.status, 200);
    assert!(hit.body["data"]["requestId"].is_string(), "{:#}", hit.body);
}

#[actix_web::test]
async fn a_persisted_query_whose_hash_does_not_match_is_refused() {
    let app = spawn_app().await;
    let wrong = sha256_hex("{ something { else } }");

    let reply = post(
        &app,
        Some(MODERN),
        None,
        json!({ "query": "{ requestId }", "extensions": persisted(&wrong) }),
    )
    .await;

    assert_eq!(reply.status, 400);
    assert_eq!(code(&reply.body), Some("BAD_USER_INPUT"));
}

#[actix_web::test]
async fn persisted_queries_can_be_switched_off() {
    let app = spawn_app_with(|s| s.persisted_queries.enabled = false).await;
    let hash = sha256_hex("{ requestId }");

    let reply = post(
        &app,
        Some(MODERN),
        None,
        json!({ "extensions": persisted(&hash) }),
    )
    .await;

    assert_eq!(
        code(&reply.body),
        Some("PERSISTED_QUERY_NOT_SUPPORTED"),
        "{:#}",
        reply.body
    );
}

#[actix_web::test]
async fn a_persisted_document_is_cost_checked_and_never_stored_when_refused() {
    let app = spawn_app().await;
    let attack = doubling_fragments(30);
    let hash = sha256_hex(&attack);

    let registering = post(
        &app,
        Some(MODERN),
        None,
        json!({ "query": attack, "extensions": persisted(&hash) }),
    )
    .await;
    let by_hash = post(
        &app,
        Some(MODERN),
        None,
        json!({ "extensions": persisted(&hash) }),
    )
    .await;

    assert_eq!(code(&registering.body), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(code(&by_hash.body), Some("PERSISTED_QUERY_NOT_FOUND"));
}

#[actix_web::test]
async fn hashed_queries_run_over_get_and_anonymous_answers_may_be_cached() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let query = "query Job($id: UUID!) { job(id: $id) { id title } }";
    let hash = sha256_hex(query);
    let extensions = persisted(&hash).to_string();
    let variables = json!({ "id": job }).to_string();
    post(
        &app,
        Some(MODERN),
        None,
        json!({ "query": query, "variables": { "id": job }, "extensions": persisted(&hash) }),
    )
    .await;

    let anonymous = get(
        &app,
        &[
            ("extensions", extensions.clone()),
            ("variables", variables.clone()),
        ],
        None,
    )
    .await;
    let signed_in = get(
        &app,
        &[("extensions", extensions), ("variables", variables)],
        Some(&producer.access_token),
    )
    .await;

    assert_eq!(anonymous.status, 200, "{:#}", anonymous.body);
    assert_eq!(anonymous.body["data"]["job"]["id"], json!(job));
    let cache = |r: &Reply| {
        r.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        cache(&anonymous).starts_with("public, max-age="),
        "{}",
        cache(&anonymous)
    );
    assert_eq!(signed_in.body["data"]["job"]["id"], json!(job));
    assert_eq!(cache(&signed_in), "no-store");
}

#[actix_web::test]
async fn a_mutation_over_get_is_refused() {
    let app = spawn_app().await;
    let mutation = "mutation { logout(refreshToken: \"x\") }";

    let reply = get(&app, &[("query", mutation.to_string())], None).await;

    assert_eq!(reply.status, 405, "{:#}", reply.body);
    assert_eq!(code(&reply.body), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
}

#[actix_web::test]
async fn a_batch_is_answered_in_order_with_each_operation_checked_on_its_own() {
    let app =
        spawn_app_with(|s| s.query.max_batch_operations = 3.try_into().expect("positive")).await;
    let talent = app.talent().await;

    let reply = post(
        &app,
        Some(MODERN),
        Some(&talent.access_token),
        json!([
            { "query": "{ me { id } }" },
            { "query": doubling_fragments(30) },
            { "query": "query Q($n: Int!) { jobs(first: $n) { totalCount } }", "variables": { "n": 1 } },
        ]),
    )
    .await;
    let over = post(
        &app,
        Some(MODERN),
        None,
        json!([{ "query": "{ requestId }" }, { "query": "{ requestId }" },
               { "query": "{ requestId }" }, { "query": "{ requestId }" }]),
    )
    .await;

    assert_eq!(reply.status, 200);
    let answers = reply.body.as_array().expect("an array of answers");
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["data"]["me"]["id"], json!(talent.id));
    assert_eq!(code(&answers[1]), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(
        answers[2]["data"]["jobs"]["totalCount"].is_number(),
        "{:#}",
        answers[2]
    );
    assert_eq!(over.status, 400);
    assert_eq!(code(&over.body), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(over.body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("at most 3")));
}

#[actix_web::test]
async fn each_operation_of_a_batch_is_rate_limited_on_its_own() {
    let app = spawn_app_with(|s| {
        s.rate_limit.general_max = 2;
        s.rate_limit.window_secs = 600;
    })
    .await;

    let reply = post(
        &app,
        Some(MODERN),
        None,
        json!([
            { "query": "mutation { logout(refreshToken: \"a\") }" },
            { "query": "mutation { logout(refreshToken: \"b\") }" },
            { "query": "mutation { logout(refreshToken: \"c\") }" },
        ]),
    )
    .await;

    let answers = reply.body.as_array().expect("an array of answers");
    assert_eq!(answers[0]["data"]["logout"], false);
    assert_eq!(answers[1]["data"]["logout"], false);
    assert_eq!(code(&answers[2]), Some("RATE_LIMITED"));
}

#[actix_web::test]
async fn each_mutation_of_a_batch_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let talent = app.talent().await;

    let reply = post(
        &app,
        Some(MODERN),
        Some(&talent.access_token),
        json!([
            { "query": "mutation { createTalentGroup(name: \"One\") { id } }" },
            { "query": "mutation { createTalentGroup(name: \"Two\") { id } }" },
        ]),
    )
    .await;
    crate::notifications::until_documented(&app).await;
    let log = app
        .gql_ok(
            "{ auditLog(first: 50) { edges { node { action objectId } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;

    let created: Vec<&Value> = reply
        .body
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| &a["data"]["createTalentGroup"]["id"])
        .collect();
    let audited: Vec<&Value> = log["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["node"]["action"] == "CREATE_TALENT_GROUP")
        .map(|e| &e["node"]["objectId"])
        .collect();
    assert_eq!(created.len(), 2);
    for id in created {
        assert!(audited.contains(&id), "{id} in {log:#}");
    }
}

/// Registers `query` as the client at `address` (behind a trusted proxy): whether it is then
/// answered by hash.
async fn register_from(app: &TestApp, address: &str, query: &str) -> bool {
    let hash = sha256_hex(query);
    let registered: Value = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", address)
        .json(&json!({ "query": query, "extensions": persisted(&hash) }))
        .send()
        .await
        .expect("registering")
        .json()
        .await
        .expect("json");
    assert!(registered["data"]["requestId"].is_string(), "{registered}");
    let by_hash = post(
        app,
        Some(MODERN),
        None,
        json!({ "extensions": persisted(&hash) }),
    )
    .await;
    by_hash.body["data"]["requestId"].is_string()
}

#[actix_web::test]
async fn one_client_filling_its_registration_share_leaves_room_for_others() {
    let app = spawn_app_with(|s| {
        s.application.trusted_proxies =
            vec![castyou::configuration::parse_proxy("127.0.0.1").expect("a proxy")];
        s.persisted_queries.max_entries = 20;
        s.persisted_queries.max_entries_per_client = 8;
    })
    .await;

    let mut stored = 0;
    for i in 0..12 {
        if register_from(&app, "198.51.100.7", &format!("query A{i} {{ requestId }}")).await {
            stored += 1;
        }
    }
    assert_eq!(stored, 8, "one address registers its share, no more");
    // A document already stored is sent again for free.
    assert!(register_from(&app, "198.51.100.7", "query A0 { requestId }").await);
    // Another address still registers.
    assert!(register_from(&app, "203.0.113.9", "query B0 { requestId }").await);
}

#[actix_web::test]
async fn hash_only_misses_spend_the_rate_limit() {
    let app = spawn_app_with(|s| {
        s.rate_limit.general_max = 5;
        s.rate_limit.window_secs = 600;
    })
    .await;
    let mut codes = Vec::new();
    for i in 0..7 {
        let hash = sha256_hex(&format!("query Probe{i} {{ requestId }}"));
        let reply = post(
            &app,
            Some(MODERN),
            None,
            json!({ "extensions": persisted(&hash) }),
        )
        .await;
        codes.push(code(&reply.body).unwrap_or("none").to_string());
    }
    assert_eq!(&codes[..5], ["PERSISTED_QUERY_NOT_FOUND"; 5]);
    assert_eq!(&codes[5..], ["RATE_LIMITED"; 2]);
}
