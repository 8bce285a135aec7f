//! Malformed and hostile input: broken JSON, broken documents, unknown fields, deep and wide
//! queries, huge bodies, wrong variable types, oversized strings. Each gets the right code and
//! never a 500 or a panic; every error carries `extensions.code`.

use crate::hardening::{doubling_fragments, post};
use crate::helpers::assert_error;
use crate::helpers::{
    assert_bad_input, assert_every_error_has_a_code, assert_no_errors, spawn_app, spawn_app_with,
    TestApp,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// POSTs raw bytes to /graphql; returns the status and the body as JSON if it is JSON.
async fn post_raw(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Option<Value>) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("sending");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("reading the body");
    (status, serde_json::from_slice(&bytes).ok())
}

fn first_code(body: &Option<Value>) -> Option<String> {
    body.as_ref()?["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_string)
}

/// The server still answers normally (it did not fall over).
async fn assert_still_serving(app: &TestApp) {
    let body = app.gql("query { me { id } }", json!({}), None).await;
    assert_no_errors(&body);
}

#[actix_web::test]
async fn malformed_json_is_a_400_with_graphql_parse_failed() {
    let app = spawn_app().await;

    for raw in [
        r#"{"query": "#,
        "not json at all",
        r#"{"query": "{ me { id } }""#,
        "\u{0}\u{1}\u{2}",
    ] {
        let (status, body) = post_raw(&app, "application/json", raw.to_string()).await;
        assert_eq!(status, 400, "{raw:?} -> {body:?}");
        assert_eq!(
            first_code(&body).as_deref(),
            Some("GRAPHQL_PARSE_FAILED"),
            "{raw:?} -> {body:?}"
        );
    }
    assert_still_serving(&app).await;
}

#[actix_web::test]
async fn a_json_body_without_a_string_query_is_rejected_with_a_code() {
    let app = spawn_app().await;

    for raw in [
        r#"{"query": 5}"#,
        r#"{}"#,
        r#"{"query": null}"#,
        r#""just a string""#,
    ] {
        let (status, body) = post_raw(&app, "application/json", raw.to_string()).await;
        assert!(status < 500, "{raw} -> {status}");
        let body = body.unwrap_or_else(|| panic!("{raw} -> a non-JSON body"));
        assert_every_error_has_a_code(&body);
    }
}

#[actix_web::test]
async fn an_empty_body_is_rejected_with_a_code() {
    let app = spawn_app().await;

    let (status, body) = post_raw(&app, "application/json", "").await;

    assert!((400..500).contains(&status), "{status}");
    assert_every_error_has_a_code(&body.expect("a JSON body"));
}

#[actix_web::test]
async fn a_document_that_does_not_parse_is_graphql_parse_failed() {
    let app = spawn_app().await;

    for query in [
        "{ me { id ",
        "query {",
        "mutation { register( }",
        "}}}}",
        "",
    ] {
        let (status, body) = app.post_graphql(query, json!({}), None).await;
        assert!(status.as_u16() < 500, "{query:?} -> {status}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED",
            "{query:?} -> {body:#}"
        );
        assert_every_error_has_a_code(&body);
    }
}

#[actix_web::test]
async fn an_unknown_field_is_graphql_validation_failed() {
    let app = spawn_app().await;

    let (status, body) = app
        .post_graphql("query { me { id shoeSize } }", json!({}), None)
        .await;

    assert!(status.as_u16() < 500);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body:#}"
    );
    assert_every_error_has_a_code(&body);
}

#[actix_web::test]
async fn an_unknown_operation_name_or_argument_is_graphql_validation_failed_or_bad_input() {
    let app = spawn_app().await;

    let unknown_arg = app
        .gql("query { jobs(color: RED) { totalCount } }", json!({}), None)
        .await;
    let missing_arg = app.gql("query { job { id } }", json!({}), None).await;

    for body in [unknown_arg, missing_arg] {
        assert_every_error_has_a_code(&body);
        let code = body["errors"][0]["extensions"]["code"].as_str();
        assert!(
            matches!(
                code,
                Some("GRAPHQL_VALIDATION_FAILED") | Some("BAD_USER_INPUT")
            ),
            "{body:#}"
        );
    }
}

/// `me { talentProfile { user { talentProfile { user ... { id } } } } }` nested `depth` levels.
fn nested_me(depth: usize) -> String {
    let mut selection = "id".to_string();
    // Each loop adds two levels; `me` adds one more.
    for _ in 0..(depth - 1) / 2 {
        selection = format!("talentProfile {{ user {{ {selection} }} }}");
    }
    format!("query {{ me {{ {selection} }} }}")
}

#[actix_web::test]
async fn a_30_level_deep_query_is_rejected_before_it_runs() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    // Control: the same shape at a shallow depth is fine, so the rejection is about depth.
    let shallow = app
        .gql(&nested_me(5), json!({}), Some(&talent.access_token))
        .await;
    assert_no_errors(&shallow);

    let (status, body) = app
        .post_graphql(&nested_me(31), json!({}), Some(&talent.access_token))
        .await;

    assert!(status.as_u16() < 500);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body:#}"
    );
    assert!(body["data"].is_null(), "nothing may run: {body:#}");
    assert_every_error_has_a_code(&body);
}

#[actix_web::test]
async fn a_query_over_the_complexity_limit_is_rejected_before_it_runs() {
    let app = spawn_app().await;
    let limit = app.settings.application.max_query_complexity;
    let aliases = |n: usize| -> String {
        let fields: Vec<String> = (0..n)
            .map(|i| format!("a{i}: me {{ id displayName role }}"))
            .collect();
        format!("query {{ {} }}", fields.join(" "))
    };
    let user = app.register("TALENT").await;
    assert_no_errors(
        &app.gql(&aliases(5), json!({}), Some(&user.access_token))
            .await,
    );

    let (status, body) = app
        .post_graphql(&aliases(limit + 1), json!({}), Some(&user.access_token))
        .await;

    assert!(status.as_u16() < 500);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body:#}"
    );
    assert!(body["data"].is_null());
}

#[actix_web::test]
async fn a_body_over_the_limit_is_refused_without_a_server_error() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;
    let huge = "x".repeat(1024 * 1024);

    let sent = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&user.access_token)
        .json(&json!({
            "query": "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
            "variables": { "i": { "stageName": "Big", "bio": huge } }
        }))
        .send()
        .await;

    // A server may answer 413 and close before reading the rest of the body; the client then
    // sees the connection end mid-upload. That is a refusal too, just not a 500.
    if let Ok(response) = sent {
        let status = response.status().as_u16();
        let body: Option<Value> = response.json().await.ok();
        assert!(status != 500, "a server error for a big body: {body:?}");
        if status != 413 {
            let body = body.expect("a JSON body when not 413");
            assert_every_error_has_a_code(&body);
        }
    }
    assert_eq!(
        app.row_count("talent_profiles").await,
        0,
        "nothing may be saved"
    );
    assert_still_serving(&app).await;
}

#[actix_web::test]
async fn a_body_just_over_the_configured_limit_is_413() {
    let app = spawn_app_with(|settings| settings.application.body_limit_bytes = 16 * 1024).await;
    let padding = "x".repeat(17 * 1024);

    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ me { id } }", "variables": { "padding": padding } }))
        .send()
        .await
        .expect("sending");

    assert_eq!(response.status().as_u16(), 413);
    let under = app
        .client
        .post(app.url("/graphql"))
        .json(
            &json!({ "query": "{ me { id } }", "variables": { "padding": "x".repeat(8 * 1024) } }),
        )
        .send()
        .await
        .expect("sending");
    assert_eq!(
        under.status().as_u16(),
        200,
        "a body under the limit is served"
    );
}

#[actix_web::test]
async fn variables_of_the_wrong_type_are_rejected_with_a_client_code() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let cases = [
        ("query($id: UUID!) { job(id: $id) { id } }", json!({ "id": 42 })),
        ("query($id: UUID!) { job(id: $id) { id } }", json!({ "id": "not-a-uuid" })),
        ("query($id: UUID!) { job(id: $id) { id } }", json!({})),
        ("query($f: Int) { jobs(first: $f) { totalCount } }", json!({ "f": "ten" })),
        ("query($f: Int) { jobs(first: $f) { totalCount } }", json!({ "f": 3_000_000_000u64 })),
        ("query($f: Int) { jobs(first: $f) { totalCount } }", json!({ "f": 1.5 })),
        ("query($s: ApplicationStage) { myApplications(stage: $s) { totalCount } }", json!({ "s": "PROMOTED" })),
        (
            "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
            json!({ "i": { "stageName": ["a", "list"] } }),
        ),
        (
            "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
            json!({ "i": { "stageName": "Ok", "heightCm": "tall" } }),
        ),
        (
            "mutation($d: DateTime!) { createJob(input: { title: \"T\", description: \"D\", productionType: FILM, applicationDeadline: $d }) { id } }",
            json!({ "d": "next tuesday" }),
        ),
        ("query { jobs(first: \"ten\") { totalCount } }", json!({})),
    ];
    for (query, variables) in cases {
        let (status, body) = app
            .post_graphql(query, variables.clone(), Some(&talent.access_token))
            .await;
        assert!(status.as_u16() < 500, "{query} {variables} -> {status}");
        assert_every_error_has_a_code(&body);
        let code = body["errors"][0]["extensions"]["code"].as_str();
        assert!(
            matches!(
                code,
                Some("BAD_USER_INPUT") | Some("GRAPHQL_VALIDATION_FAILED")
            ),
            "{query} {variables} -> {body:#}"
        );
    }
}

#[actix_web::test]
async fn a_10k_character_stage_name_is_bad_input() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;

    let body = app
        .gql(
            "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
            json!({ "i": { "stageName": "s".repeat(10_000) } }),
            Some(&talent.access_token),
        )
        .await;

    assert_bad_input(&body, "input.stageName");
}

#[actix_web::test]
async fn nul_bytes_and_odd_unicode_never_cause_a_server_error() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;

    for name in [
        "nul\u{0}byte",
        "\u{202e}reversed",
        "emoji 🎭 name",
        "\u{feff}bom",
        "line\nbreak",
    ] {
        let (status, body) = app
            .post_graphql(
                "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { stageName } }",
                json!({ "i": { "stageName": name } }),
                Some(&talent.access_token),
            )
            .await;
        assert!(status.as_u16() < 500, "{name:?} -> {status}");
        if body.get("errors").is_some() {
            assert_every_error_has_a_code(&body);
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{name:?} -> {body:#}"
            );
        }
    }
    let search = app
        .gql(
            "query($t: String) { talents(text: $t) { totalCount } }",
            json!({ "t": "a\u{0}b ' OR 1=1 --" }),
            Some(&talent.access_token),
        )
        .await;
    assert_ne!(
        search["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR",
        "{search:#}"
    );
}

#[actix_web::test]
async fn full_text_search_operators_in_the_filter_are_harmless() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    app.open_job(&producer).await;

    for text in ["!", "&", "a & | b", "(((", "'", "\\", ":*", "<->", "%", "_"] {
        let body = app
            .gql(
                "query($t: String) { jobs(filter: { text: $t }) { totalCount } }",
                json!({ "t": text }),
                None,
            )
            .await;
        if body.get("errors").is_some() {
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{text:?} -> {body:#}"
            );
        }
    }
    assert_still_serving(&app).await;
}

#[actix_web::test]
async fn every_error_in_a_response_with_several_carries_a_code() {
    let app = spawn_app().await;
    let (a, b, viewer) = (
        app.register("TALENT").await,
        app.register("TALENT").await,
        app.register("PRODUCER").await,
    );

    let body = app
        .gql(
            "query($a: UUID!, $b: UUID!) { a: user(id: $a) { email } b: user(id: $b) { email } me { id } }",
            json!({ "a": a.id, "b": b.id }),
            Some(&viewer.access_token),
        )
        .await;

    assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "{body:#}");
    assert_every_error_has_a_code(&body);
    assert_eq!(
        body["data"]["me"]["id"],
        viewer.id.to_string(),
        "the rest of the query still answers"
    );
}

#[actix_web::test]
async fn internal_details_never_reach_the_client() {
    let app = spawn_app().await;
    let talent = app.talent().await;

    let body = app
        .gql(
            "query($id: UUID!) { application(id: $id) { id } }",
            json!({ "id": uuid::Uuid::nil() }),
            Some(&talent.access_token),
        )
        .await;
    let bad = app
        .gql(
            "query { me { id shoeSize } }",
            json!({}),
            Some(&talent.access_token),
        )
        .await;

    for body in [body, bad] {
        let text = body.to_string().to_lowercase();
        for leak in ["diesel", "postgres", "sql", "panicked", "src/", ".rs:"] {
            assert!(!text.contains(leak), "{leak} leaked: {body:#}");
        }
    }
}

#[actix_web::test]
async fn a_get_request_cannot_run_a_mutation() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { register(email: \"get@example.com\", password: \"correct horse battery\", role: TALENT, displayName: \"G\") { accessToken } }")])
        .send()
        .await
        .expect("sending");

    assert!(response.status().as_u16() < 500);
    assert_eq!(
        app.row_count("users").await,
        0,
        "a GET must not mutate (CSRF)"
    );
}

// Cost attacks: documents whose naive expansion is exponential, or multiplied by list
// lengths, are refused by the linear pre-check before anything else runs.

#[actix_web::test]
async fn a_doubling_fragment_query_is_refused_in_milliseconds_while_others_are_served() {
    let app = spawn_app().await;
    let attack = doubling_fragments(40);
    assert!(
        attack.len() < 2_000,
        "a small request: {} bytes",
        attack.len()
    );

    let started = Instant::now();
    let (attacked, me) = tokio::join!(
        post(&app, json!({ "query": attack }), &[]),
        post(&app, json!({ "query": "{ me { id } }" }), &[]),
    );
    let took = started.elapsed();

    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert_eq!(attacked.0, 400);
    assert_error(&attacked.1, "GRAPHQL_VALIDATION_FAILED");
    assert_no_errors(&me.1);
}

#[actix_web::test]
async fn nested_unpaged_lists_are_costed_by_their_length() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let nested = "{ myGroups { members { talent { talentProfile { id } } group { members { group {
        members { group { members { role } } } } } } } } }";
    let modest = "{ myGroups { name members { role status } } }";

    let refused = app.gql(nested, json!({}), Some(&talent.access_token)).await;
    let served = app.gql(modest, json!({}), Some(&talent.access_token)).await;

    assert_error(&refused, "GRAPHQL_VALIDATION_FAILED");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cost")),
        "{refused:#}"
    );
    assert_no_errors(&served);
}

#[actix_web::test]
async fn a_thousand_aliased_logins_are_refused_before_any_runs() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;
    let fields: String = (0..1000)
        .map(|i| {
            format!(
                "a{i}: login(email: \"{}\", password: \"guess number {i}\") {{ accessToken }} ",
                user.email
            )
        })
        .collect();
    let query = format!("mutation {{ {fields} }}");

    let started = Instant::now();
    let (status, body) = post(&app, json!({ "query": query }), &[]).await;

    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(status, 400, "{body:#}");
    assert_error(&body, "GRAPHQL_VALIDATION_FAILED");
}
