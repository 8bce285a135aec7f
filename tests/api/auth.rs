//! Registration, password login, refresh-token rotation and reuse detection, logout, and what
//! the server does with missing, garbage, forged, expired and revoked bearer tokens.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, TestApp, TestUser,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const REGISTER: &str = r#"mutation($email: String!, $password: String!, $role: Role!, $name: String!) {
    register(email: $email, password: $password, role: $role, displayName: $name) {
        accessToken refreshToken accessTokenExpiresAt
        user { id email role displayName twoFactorEnabled createdAt }
    }
}"#;

const REFRESH: &str = r#"mutation($t: String!) {
    refreshToken(refreshToken: $t) { accessToken refreshToken user { id } }
}"#;

const ME: &str = "query { me { id email role } }";

async fn register_raw(app: &TestApp, email: &str, password: &str, role: &str, name: &str) -> Value {
    app.gql(
        REGISTER,
        json!({ "email": email, "password": password, "role": role, "name": name }),
        None,
    )
    .await
}

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn refresh(app: &TestApp, token: &str) -> Value {
    app.gql(REFRESH, json!({ "t": token }), None).await
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.gql(ME, json!({}), Some(token)).await
}

fn tokens(payload: &Value) -> (String, String) {
    (
        payload["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_string(),
        payload["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_string(),
    )
}

#[actix_web::test]
async fn registering_returns_a_token_pair_and_the_new_user_with_a_normalised_email() {
    let app = spawn_app().await;
    let local = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("Mixed.{local}@Example.COM");

    let body = register_raw(
        &app,
        &email,
        "correct horse battery",
        "PRODUCER",
        "Ada Director",
    )
    .await;

    assert_no_errors(&body);
    let payload = &body["data"]["register"];
    let user = &payload["user"];
    assert_eq!(user["email"], format!("mixed.{local}@example.com"));
    assert_eq!(user["role"], "PRODUCER");
    assert_eq!(user["displayName"], "Ada Director");
    assert_eq!(user["twoFactorEnabled"], false);
    let expires: chrono::DateTime<chrono::Utc> = payload["accessTokenExpiresAt"]
        .as_str()
        .expect("accessTokenExpiresAt")
        .parse()
        .expect("an RFC 3339 date");
    let ttl = app.settings.auth.access_token_ttl_secs;
    let expected = chrono::Utc::now() + chrono::Duration::seconds(ttl);
    assert!(
        (expires - expected).num_seconds().abs() < 120,
        "access token should expire about {ttl}s from now, got {expires}"
    );
    let (access, _) = tokens(payload);
    let me = app.gql_ok(ME, json!({}), Some(&access)).await;
    assert_eq!(me["me"]["id"], user["id"]);
    assert_eq!(me["me"]["role"], "PRODUCER");
}

#[actix_web::test]
async fn registering_as_admin_is_forbidden_and_creates_no_user() {
    let app = spawn_app().await;
    let email = unique_email();

    let body = register_raw(&app, &email, "correct horse battery", "ADMIN", "Mallory").await;

    assert_error(&body, "FORBIDDEN");
    let rows = app
        .sql_values(&format!(
            "SELECT id::text AS value FROM users WHERE email = '{email}'"
        ))
        .await;
    assert!(rows.is_empty(), "no user may be created: {rows:?}");
}

#[actix_web::test]
async fn registering_an_email_twice_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_no_errors(&register_raw(&app, &email, "correct horse battery", "TALENT", "First").await);

    let same = register_raw(&app, &email, "another good password", "TALENT", "Second").await;
    let upper = register_raw(
        &app,
        &email.to_uppercase(),
        "another good password",
        "PRODUCER",
        "Third",
    )
    .await;

    assert_error(&same, "CONFLICT");
    assert_error(&upper, "CONFLICT");
}

#[actix_web::test]
async fn registering_with_a_malformed_email_is_bad_input_on_email() {
    let app = spawn_app().await;
    for email in [
        "not-an-email",
        "",
        "two@@example.com",
        "spaces in@example.com",
        "@example.com",
    ] {
        let body = register_raw(&app, email, "correct horse battery", "TALENT", "Name").await;
        assert_bad_input(&body, "email");
    }
}

#[actix_web::test]
async fn passwords_must_be_between_10_and_128_characters() {
    let app = spawn_app().await;

    let too_short = register_raw(&app, &unique_email(), "123456789", "TALENT", "Name").await;
    let too_long = register_raw(&app, &unique_email(), &"p".repeat(129), "TALENT", "Name").await;
    let shortest = register_raw(&app, &unique_email(), "1234567890", "TALENT", "Name").await;
    let longest = register_raw(&app, &unique_email(), &"p".repeat(128), "TALENT", "Name").await;

    assert_bad_input(&too_short, "password");
    assert_bad_input(&too_long, "password");
    assert_no_errors(&shortest);
    assert_no_errors(&longest);
}

#[actix_web::test]
async fn display_names_must_be_between_1_and_100_characters() {
    let app = spawn_app().await;

    let empty = register_raw(&app, &unique_email(), "correct horse battery", "TALENT", "").await;
    let too_long = register_raw(
        &app,
        &unique_email(),
        "correct horse battery",
        "TALENT",
        &"n".repeat(101),
    )
    .await;
    let longest = register_raw(
        &app,
        &unique_email(),
        "correct horse battery",
        "TALENT",
        &"n".repeat(100),
    )
    .await;

    assert_bad_input(&empty, "displayName");
    assert_bad_input(&too_long, "displayName");
    assert_no_errors(&longest);
}

#[actix_web::test]
async fn logging_in_with_the_right_password_returns_a_working_token_pair() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let body = app
        .login(&user.email.to_uppercase(), &user.password, None)
        .await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["login"]["user"]["id"], user.id.to_string());
    let (access, _) = tokens(&body["data"]["login"]);
    let me = app.gql_ok(ME, json!({}), Some(&access)).await;
    assert_eq!(me["me"]["id"], user.id.to_string());
}

#[actix_web::test]
async fn logging_in_with_a_wrong_password_or_unknown_email_is_unauthenticated() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let wrong_password = app.login(&user.email, "not the password", None).await;
    let unknown_email = app.login(&unique_email(), &user.password, None).await;

    assert_error(&wrong_password, "UNAUTHENTICATED");
    assert_error(&unknown_email, "UNAUTHENTICATED");
    assert!(wrong_password["data"]["login"].is_null() || wrong_password["data"].is_null());
}

#[actix_web::test]
async fn refreshing_rotates_the_pair_and_the_new_pair_works() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let first = refresh(&app, &user.refresh_token).await;
    assert_no_errors(&first);
    let (access1, refresh1) = tokens(&first["data"]["refreshToken"]);
    assert_ne!(
        refresh1, user.refresh_token,
        "the refresh token must rotate"
    );
    assert_eq!(
        first["data"]["refreshToken"]["user"]["id"],
        user.id.to_string()
    );

    let me_body = me(&app, &access1).await;
    assert_no_errors(&me_body);
    assert_eq!(me_body["data"]["me"]["id"], user.id.to_string());
    let second = refresh(&app, &refresh1).await;
    assert_no_errors(&second);
    let (_, refresh2) = tokens(&second["data"]["refreshToken"]);
    assert_ne!(refresh2, refresh1);
}

#[actix_web::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;
    // A second, independent session of the same user must survive.
    let other_session = app.login(&user.email, &user.password, None).await;
    let (other_access, other_refresh) = tokens(&other_session["data"]["login"]);
    let rotated = refresh(&app, &user.refresh_token).await;
    let (newest_access, newest_refresh) = tokens(&rotated["data"]["refreshToken"]);

    let reuse = refresh(&app, &user.refresh_token).await;

    assert_error(&reuse, "UNAUTHENTICATED");
    assert_error(&refresh(&app, &newest_refresh).await, "UNAUTHENTICATED");
    assert_error(&me(&app, &newest_access).await, "UNAUTHENTICATED");
    assert_error(&me(&app, &user.access_token).await, "UNAUTHENTICATED");
    let other_me = me(&app, &other_access).await;
    assert_no_errors(&other_me);
    assert_eq!(other_me["data"]["me"]["id"], user.id.to_string());
    assert_no_errors(&refresh(&app, &other_refresh).await);
}

#[actix_web::test]
async fn an_unknown_refresh_token_is_unauthenticated() {
    let app = spawn_app().await;

    let body = refresh(&app, "definitely-not-a-refresh-token").await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn logging_out_revokes_the_refresh_token_and_the_sessions_access_token() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let body = app
        .gql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": user.refresh_token }),
            Some(&user.access_token),
        )
        .await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["logout"], true);
    assert_error(&refresh(&app, &user.refresh_token).await, "UNAUTHENTICATED");
    assert_error(&me(&app, &user.access_token).await, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn logging_out_with_an_unknown_token_returns_false_without_an_error() {
    let app = spawn_app().await;

    let body = app
        .gql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": "no-such-token" }),
            None,
        )
        .await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["logout"], false);
}

#[actix_web::test]
async fn me_without_a_token_is_null_without_an_error() {
    let app = spawn_app().await;

    let body = app.gql(ME, json!({}), None).await;

    assert_no_errors(&body);
    assert!(body["data"]["me"].is_null(), "{body:#}");
}

#[actix_web::test]
async fn a_garbage_bearer_token_is_unauthenticated() {
    let app = spawn_app().await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"] {
        let body = me(&app, token).await;
        assert_error(&body, "UNAUTHENTICATED");
    }
}

/// The claims of a real access token, so forged variants differ in one thing only.
fn claims_of(token: &str) -> serde_json::Map<String, Value> {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn sign_hs256(claims: &serde_json::Map<String, Value>, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("signing")
}

fn test_secret(app: &TestApp) -> Vec<u8> {
    app.settings
        .auth
        .jwt_secret
        .as_ref()
        .expect("the test config has a JWT secret")
        .expose_secret()
        .as_bytes()
        .to_vec()
}

async fn registered(app: &TestApp) -> (TestUser, serde_json::Map<String, Value>) {
    let user = app.register("TALENT").await;
    let claims = claims_of(&user.access_token);
    (user, claims)
}

#[actix_web::test]
async fn an_expired_access_token_is_unauthenticated() {
    let app = spawn_app().await;
    let (user, mut claims) = registered(&app).await;
    let secret = test_secret(&app);
    // Control: the same claims re-signed with the server's secret are accepted, so the
    // rejection below is about expiry alone.
    let resigned = sign_hs256(&claims, &secret);
    let control = me(&app, &resigned).await;
    assert_no_errors(&control);
    assert_eq!(control["data"]["me"]["id"], user.id.to_string());
    let hour_ago = chrono::Utc::now().timestamp() - 3600;
    claims.insert("exp".into(), json!(hour_ago));
    claims.insert("iat".into(), json!(hour_ago - 600));

    let body = me(&app, &sign_hs256(&claims, &secret)).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_token_signed_with_another_secret_is_unauthenticated() {
    let app = spawn_app().await;
    let (_, claims) = registered(&app).await;

    let body = me(
        &app,
        &sign_hs256(&claims, b"some-other-secret-that-is-long-enough-0123456789"),
    )
    .await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_token_with_a_tampered_role_is_unauthenticated() {
    let app = spawn_app().await;
    let (user, mut claims) = registered(&app).await;
    let original_signature = user
        .access_token
        .rsplit('.')
        .next()
        .expect("signature")
        .to_string();
    claims.insert("role".into(), json!("ADMIN"));
    let header = user.access_token.split('.').next().expect("header");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));
    let forged = format!("{header}.{payload}.{original_signature}");

    let body = me(&app, &forged).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn an_unsigned_alg_none_token_is_unauthenticated() {
    let app = spawn_app().await;
    let (_, claims) = registered(&app).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json"));

    let body = me(&app, &format!("{header}.{payload}.")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_token_for_another_audience_is_unauthenticated() {
    let app = spawn_app().await;
    let (_, mut claims) = registered(&app).await;
    claims.insert("aud".into(), json!("some-other-api"));

    let body = me(&app, &sign_hs256(&claims, &test_secret(&app))).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_bad_token_is_unauthenticated_even_on_operations_that_allow_anonymous_callers() {
    let app = spawn_app().await;

    let body = app
        .gql("query { jobs { totalCount } }", json!({}), Some("garbage"))
        .await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn an_expired_refresh_token_is_unauthenticated() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;
    app.sql("UPDATE refresh_tokens SET expires_at = now() - interval '1 minute'")
        .await;

    let body = refresh(&app, &user.refresh_token).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn tokens_cannot_stand_in_for_one_another() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let refresh_as_bearer = me(&app, &user.refresh_token).await;
    let access_as_refresh = refresh(&app, &user.access_token).await;

    assert_error(&refresh_as_bearer, "UNAUTHENTICATED");
    assert_error(&access_as_refresh, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn an_overlong_password_at_login_is_refused_with_a_client_code() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let body = app.login(&user.email, &"p".repeat(100_000), None).await;

    let code = body["errors"][0]["extensions"]["code"].as_str();
    assert!(
        matches!(code, Some("UNAUTHENTICATED") | Some("BAD_USER_INPUT")),
        "{body:#}"
    );
}
