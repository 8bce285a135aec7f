//! Rate limits per client address, kept in Redis: authentication attempts and requests in
//! general, each answered with RATE_LIMITED and a retry delay once exceeded.

use crate::helpers::{assert_error, assert_no_errors, spawn_app_with, TestApp};
use serde_json::{json, Value};

fn unknown_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

fn retry_after(body: &Value) -> u64 {
    body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("extensions.retryAfterSeconds missing: {body:#}"))
}

/// POSTs a document and returns the status and body, whatever the status.
async fn post(app: &TestApp, query: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("sending");
    let status = response.status().as_u16();
    let body = response
        .json::<Value>()
        .await
        .unwrap_or_else(|e| panic!("a JSON body (status {status}): {e}"));
    (status, body)
}

#[actix_web::test]
async fn the_fourth_login_attempt_over_an_auth_limit_of_three_is_rate_limited() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.auth_max = 3;
        settings.rate_limit.window_secs = 600;
    })
    .await;
    let email = unknown_email();

    for attempt in 1..=3 {
        let body = app.login(&email, "wrong password!", None).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "attempt {attempt} is within the limit: {body:#}"
        );
    }
    let fourth = app.login(&email, "wrong password!", None).await;

    assert_error(&fourth, "RATE_LIMITED");
    let retry = retry_after(&fourth);
    assert!(
        retry > 0 && retry <= 600,
        "retryAfterSeconds {retry} should be within the window"
    );
}

#[actix_web::test]
async fn the_auth_limit_counts_registrations_and_logins_together_but_not_other_requests() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.auth_max = 3;
    })
    .await;
    let user = app.register("TALENT").await;
    assert_no_errors(&app.login(&user.email, &user.password, None).await);
    assert_no_errors(&app.login(&user.email, &user.password, None).await);

    let limited = app.login(&user.email, &user.password, None).await;
    let me = app
        .gql("query { me { id } }", json!({}), Some(&user.access_token))
        .await;

    assert_error(&limited, "RATE_LIMITED");
    assert_no_errors(&me);
    assert_eq!(me["data"]["me"]["id"], user.id.to_string());
}

#[actix_web::test]
async fn the_sixth_request_over_a_general_limit_of_five_is_rate_limited() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.general_max = 5;
    })
    .await;

    for request in 1..=5 {
        let (status, body) = post(&app, "{ me { id } }").await;
        assert_eq!(status, 200, "request {request}: {body:#}");
        assert_no_errors(&body);
    }
    let (status, sixth) = post(&app, "{ me { id } }").await;

    assert!(status == 200 || status == 429, "status {status}");
    assert_error(&sixth, "RATE_LIMITED");
    assert!(retry_after(&sixth) > 0);
}

#[actix_web::test]
async fn two_apps_with_their_own_redis_prefix_count_separately() {
    let limited = |settings: &mut castyou::configuration::Settings| {
        settings.rate_limit.enabled = true;
        settings.rate_limit.general_max = 2;
    };
    let first = spawn_app_with(limited).await;
    let second = spawn_app_with(limited).await;
    for _ in 0..2 {
        assert_no_errors(&post(&first, "{ me { id } }").await.1);
    }

    let (_, other) = post(&second, "{ me { id } }").await;
    let (_, over) = post(&first, "{ me { id } }").await;

    assert_no_errors(&other);
    assert_error(&over, "RATE_LIMITED");
}

#[actix_web::test]
async fn no_limit_applies_when_rate_limiting_is_disabled() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit.enabled = false;
        settings.rate_limit.general_max = 1;
        settings.rate_limit.auth_max = 1;
    })
    .await;

    for _ in 0..3 {
        assert_no_errors(&post(&app, "{ me { id } }").await.1);
        assert_error(
            &app.login(&unknown_email(), "wrong password!", None).await,
            "UNAUTHENTICATED",
        );
    }
}
