//! Running it: health and readiness (including a Redis that is down), security headers, request
//! ids, CORS, the introspection switch, and the committed schema.graphql staying current.

use crate::helpers::{
    admin_connection, assert_no_errors, spawn_app, spawn_app_with, spawn_app_without_redis, TestApp,
};
use castyou::configuration::Settings;
use serde_json::{json, Value};

/// GETs `path` of `app`.
async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.expect("sending")
}

/// GETs `path` of `app`'s operators' listener.
async fn get_ops(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.ops_url(path))
        .send()
        .await
        .expect("sending")
}

/// POSTs `{ me { id } }` to `app`'s /graphql, anonymously.
async fn post_a_me_query(app: &TestApp) -> reqwest::Response {
    app.client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("sending")
}

#[actix_web::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;

    let response = get(&app, "/healthz").await;

    assert_eq!(response.status().as_u16(), 200);
}

#[actix_web::test]
async fn the_public_readyz_says_only_whether_the_instance_is_ready() {
    let app = spawn_app().await;
    let down = spawn_app_without_redis().await;

    let ready = get(&app, "/readyz").await;
    let unready = get(&down, "/readyz").await;

    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(unready.status().as_u16(), 503);
    for response in [ready, unready] {
        let body: Value = response.json().await.expect("a JSON body");
        assert!(
            body.get("checks").is_none(),
            "no details in public: {body:#}"
        );
        assert!(!body.to_string().contains("redis"), "{body:#}");
    }
}

#[actix_web::test]
async fn metrics_are_served_only_on_the_operators_listener() {
    let app = spawn_app().await;

    let public = get(&app, "/metrics").await;
    let operators = get_ops(&app, "/metrics").await;

    assert_eq!(public.status().as_u16(), 404);
    assert_eq!(operators.status().as_u16(), 200);
    let text = operators.text().await.expect("a body");
    assert!(text.contains("castyou_http_requests"), "{text}");
}

#[actix_web::test]
async fn the_operators_listener_wants_its_token_when_one_is_set() {
    let app =
        spawn_app_with(|s| s.operations.token = Some("ops-secret-token".to_string().into())).await;

    let without = get_ops(&app, "/metrics").await;
    let wrong = app
        .client
        .get(app.ops_url("/metrics"))
        .bearer_auth("guess")
        .send()
        .await
        .expect("sending");
    let with = app
        .client
        .get(app.ops_url("/readyz"))
        .bearer_auth("ops-secret-token")
        .send()
        .await
        .expect("sending");

    assert_eq!(without.status().as_u16(), 401);
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(with.status().as_u16(), 200);
    let body: Value = with.json().await.expect("a JSON body");
    assert_eq!(body["checks"]["postgres"], "ok", "{body:#}");
}

#[actix_web::test]
async fn readyz_answers_200_naming_postgres_redis_and_mongodb() {
    let app = spawn_app().await;

    let response = get_ops(&app, "/readyz").await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["checks"]["postgres"], "ok", "{body:#}");
    assert_eq!(body["checks"]["redis"], "ok", "{body:#}");
    assert_eq!(body["checks"]["mongodb"], "ok", "{body:#}");
}

#[actix_web::test]
async fn readyz_answers_503_naming_mongodb_when_it_is_down() {
    let app = spawn_app_with(|s| s.mongodb.uri = "mongodb://127.0.0.1:1".to_string().into()).await;

    let response = get_ops(&app, "/readyz").await;

    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["checks"]["mongodb"], "unavailable", "{body:#}");
    assert_eq!(body["checks"]["postgres"], "ok", "{body:#}");
}

#[actix_web::test]
async fn readyz_answers_503_naming_redis_when_redis_is_down() {
    let app = spawn_app_without_redis().await;

    let response = get_ops(&app, "/readyz").await;

    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.expect("a JSON body");
    let text = body.to_string().to_lowercase();
    assert!(
        text.contains("redis"),
        "the body must name what is down: {body:#}"
    );
    // PostgreSQL is fine, and the report should not blame it.
    let healthz = get(&app, "/healthz").await;
    assert_eq!(
        healthz.status().as_u16(),
        200,
        "liveness does not depend on Redis"
    );
}

#[actix_web::test]
async fn readyz_answers_503_naming_postgres_when_the_database_is_gone() {
    let app = spawn_app().await;
    rename_database(&app.settings, &app.db_name).await;

    let response = get_ops(&app, "/readyz").await;

    let status = response.status().as_u16();
    let body: Option<Value> = response.json().await.ok();
    restore_database(&app.settings, &app.db_name).await;
    assert_eq!(status, 503, "{body:?}");
    let body = body.expect("a JSON body");
    assert!(
        body.to_string().to_lowercase().contains("postgres"),
        "{body:#}"
    );
}

/// Moves the test database out of the server's reach (its pool can no longer connect).
async fn rename_database(settings: &Settings, name: &str) {
    use diesel_async::RunQueryDsl;
    let mut conn = admin_connection(settings).await;
    // The server may reconnect between the two statements; try a few times.
    for attempt in 0.. {
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .execute(&mut conn)
        .await
        .expect("terminating connections");
        let renamed = diesel::sql_query(format!(
            r#"ALTER DATABASE "{name}" RENAME TO "{name}_away""#
        ))
        .execute(&mut conn)
        .await;
        match renamed {
            Ok(_) => return,
            Err(e) if attempt < 20 => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("renaming the database: {e}"),
        }
    }
}

/// Puts it back so the usual clean-up drops it.
async fn restore_database(settings: &Settings, name: &str) {
    use diesel_async::RunQueryDsl;
    let mut conn = admin_connection(settings).await;
    let _ = diesel::sql_query(format!(
        r#"ALTER DATABASE "{name}_away" RENAME TO "{name}""#
    ))
    .execute(&mut conn)
    .await;
}

#[actix_web::test]
async fn responses_carry_security_headers() {
    let app = spawn_app().await;
    let graphql = post_a_me_query(&app).await;
    let health = get(&app, "/healthz").await;

    for response in [graphql, health] {
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_lowercase)
        };
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{headers:?}"
        );
        assert_eq!(
            header("x-frame-options").as_deref(),
            Some("deny"),
            "{headers:?}"
        );
        assert!(
            header("referrer-policy").is_some_and(|v| !v.is_empty()),
            "{headers:?}"
        );
    }
}

#[actix_web::test]
async fn every_response_has_its_own_request_id() {
    let app = spawn_app().await;
    let mut ids = Vec::new();

    for _ in 0..2 {
        let response = post_a_me_query(&app).await;
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        ids.push(id.expect("an x-request-id header"));
    }

    assert!(ids.iter().all(|id| !id.is_empty()));
    assert_ne!(ids[0], ids[1]);
}

#[actix_web::test]
async fn cors_allows_configured_origins_only() {
    let app = spawn_app_with(|settings| {
        settings.application.cors_allowed_origins =
            vec!["https://app.castyou.test".parse().expect("an origin")];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };

    let allowed = preflight("https://app.castyou.test")
        .await
        .expect("sending");
    let refused = preflight("https://evil.example").await.expect("sending");

    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.castyou.test")
    );
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "an unlisted origin was allowed: {:?}",
        refused.headers()
    );
}

#[actix_web::test]
async fn introspection_can_be_switched_off() {
    let on = spawn_app_with(|settings| settings.application.introspection = true).await;
    let off = spawn_app_with(|settings| settings.application.introspection = false).await;
    let query = "{ __schema { queryType { name } } }";

    let allowed = on.gql(query, json!({}), None).await;
    let refused = off.gql(query, json!({}), None).await;

    assert_no_errors(&allowed);
    assert_eq!(allowed["data"]["__schema"]["queryType"]["name"], "Query");
    assert!(refused["data"]["__schema"].is_null(), "{refused:#}");
    // Refusing may be a null or an error; an error must still carry its code.
    if refused.get("errors").is_some() {
        crate::helpers::assert_every_error_has_a_code(&refused);
    }
}

#[test]
fn the_committed_schema_graphql_matches_the_server() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();

    let current = castyou::graphql::schema_sdl();

    assert!(
        committed.trim_end() == current.trim_end(),
        "schema.graphql is stale (or missing); run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[actix_web::test]
async fn a_fatal_error_at_start_exits_with_its_message_and_no_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("an address").port();
    let database = crate::helpers::TestDatabase::create().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_castyou"))
        .arg("serve")
        .env("APP_ENVIRONMENT", "test")
        .env(
            "DATABASE_URL",
            secrecy::ExposeSecret::expose_secret(&database.settings.database.url),
        )
        .env("APP_MONGODB__DATABASE", &database.name)
        .env("APP_REDIS__KEY_PREFIX", format!("{}:", database.name))
        .env("PORT", "0")
        .env("APP_OPERATIONS__PORT", port.to_string())
        .env("APP_MEDIA__PROCESS", "false")
        .output()
        .await
        .expect("the server binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    drop(taken);
}
