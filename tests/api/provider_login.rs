//! `loginWithProvider`: RS256 ID tokens in the Firebase and Auth0 shapes, verified against a
//! JWKS this test serves itself. The keys in tests/fixtures/ are test-only and were made with
//! `openssl genrsa -out tests/fixtures/provider_rsa_private.pem 2048` (see its README).

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, error_code, error_field, spawn_app_with,
    TestApp,
};
use castyou::configuration::{IdentityProviderKind, IdentityProviderSettings};
use serde_json::{json, Value};

const SIGNING_KEY: &str = include_str!("../fixtures/provider_rsa_private.pem");
/// A key the JWKS does not hold: tokens signed with it have a bad signature.
const OTHER_KEY: &str = include_str!("../fixtures/other_rsa_private.pem");
const JWKS: &str = include_str!("../fixtures/provider_jwks.json");
const KID: &str = "castyou-test-key-1";

const FIREBASE_ISSUER: &str = "https://securetoken.google.com/castyou-test";
const FIREBASE_AUDIENCE: &str = "castyou-test";
const AUTH0_ISSUER: &str = "https://castyou-test.eu.auth0.com/";
const AUTH0_AUDIENCE: &str = "castyou-auth0-client";

const LOGIN: &str = r#"mutation($p: AuthProvider!, $t: String!, $r: Role) {
    loginWithProvider(provider: $p, idToken: $t, role: $r) {
        accessToken refreshToken user { id email role displayName }
    }
}"#;

/// Serves the fixture JWKS on 127.0.0.1; returns its URL.
async fn serve_jwks() -> String {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let server = HttpServer::new(|| {
        App::new().route(
            "/.well-known/jwks.json",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(JWKS)
            }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("binding the JWKS server");
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    format!("http://127.0.0.1:{port}/.well-known/jwks.json")
}

/// An app that trusts our Firebase project and our Auth0 tenant, both keyed by the fixture JWKS.
async fn spawn_app_with_providers() -> TestApp {
    spawn_app_with_providers_and(|_| {}).await
}

/// Like `spawn_app_with_providers`, with a chance to change the settings too.
pub(crate) async fn spawn_app_with_providers_and(
    customise: impl FnOnce(&mut castyou::configuration::Settings),
) -> TestApp {
    let jwks_url = serve_jwks().await;
    spawn_app_with(|settings| {
        customise(settings);
        settings.auth.identity_providers = vec![
            IdentityProviderSettings {
                kind: IdentityProviderKind::Firebase,
                jwks_url: jwks_url.clone(),
                issuer: FIREBASE_ISSUER.into(),
                audience: FIREBASE_AUDIENCE.into(),
            },
            IdentityProviderSettings {
                kind: IdentityProviderKind::Auth0,
                jwks_url,
                issuer: AUTH0_ISSUER.into(),
                audience: AUTH0_AUDIENCE.into(),
            },
        ];
    })
    .await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn unique_email() -> String {
    format!("{}@gmail.example", uuid::Uuid::new_v4().simple())
}

/// Claims of a Firebase ID token for a Google sign-in.
pub(crate) fn firebase_claims(uid: &str, email: &str) -> Value {
    json!({
        "iss": FIREBASE_ISSUER,
        "aud": FIREBASE_AUDIENCE,
        "sub": uid,
        "user_id": uid,
        "auth_time": now() - 10,
        "iat": now() - 10,
        "exp": now() + 3600,
        "email": email,
        "email_verified": true,
        "name": "Grace Google",
        "firebase": {
            "sign_in_provider": "google.com",
            "identities": { "google.com": ["1234567890"], "email": [email] }
        }
    })
}

/// Claims of an Auth0 ID token.
fn auth0_claims(sub: &str, email: &str) -> Value {
    json!({
        "iss": AUTH0_ISSUER,
        "aud": AUTH0_AUDIENCE,
        "sub": sub,
        "iat": now() - 10,
        "exp": now() + 3600,
        "email": email,
        "email_verified": true,
        "name": "Otto Auth"
    })
}

fn sign_with(claims: &Value, pem: &str, kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_string());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA key");
    jsonwebtoken::encode(&header, claims, &key).expect("signing")
}

pub(crate) fn sign(claims: &Value) -> String {
    sign_with(claims, SIGNING_KEY, KID)
}

async fn login(app: &TestApp, provider: &str, token: &str, role: Option<&str>) -> Value {
    app.gql(LOGIN, json!({ "p": provider, "t": token, "r": role }), None)
        .await
}

/// Logs in with an ID token of `claims`, signed with the fixture key the JWKS holds.
async fn login_with_claims(
    app: &TestApp,
    provider: &str,
    claims: &Value,
    role: Option<&str>,
) -> Value {
    login(app, provider, &sign(claims), role).await
}

pub(crate) fn uid() -> String {
    format!("uid-{}", uuid::Uuid::new_v4().simple())
}

/// Firebase claims of a Google account this server has not seen.
fn claims_of_a_new_firebase_user() -> Value {
    firebase_claims(&uid(), &unique_email())
}

#[actix_web::test]
async fn a_first_google_login_creates_a_user_with_the_requested_role() {
    let app = spawn_app_with_providers().await;
    let email = unique_email();

    let body = login_with_claims(
        &app,
        "GOOGLE",
        &firebase_claims(&uid(), &email),
        Some("PRODUCER"),
    )
    .await;

    assert_no_errors(&body);
    let payload = &body["data"]["loginWithProvider"];
    assert_eq!(payload["user"]["email"], email);
    assert_eq!(payload["user"]["role"], "PRODUCER");
    assert_eq!(payload["user"]["displayName"], "Grace Google");
    let access = payload["accessToken"].as_str().expect("accessToken");
    let me = app
        .gql_ok("query { me { id role } }", json!({}), Some(access))
        .await;
    assert_eq!(me["me"]["id"], payload["user"]["id"]);
    assert_eq!(me["me"]["role"], "PRODUCER");
}

#[actix_web::test]
async fn a_second_login_of_the_same_account_returns_the_same_user_without_a_role() {
    let app = spawn_app_with_providers().await;
    let claims = claims_of_a_new_firebase_user();
    let first = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;
    assert_no_errors(&first);

    let second = login_with_claims(&app, "GOOGLE", &claims, None).await;

    assert_no_errors(&second);
    assert_eq!(
        second["data"]["loginWithProvider"]["user"]["id"],
        first["data"]["loginWithProvider"]["user"]["id"]
    );
    assert_eq!(
        second["data"]["loginWithProvider"]["user"]["role"],
        "TALENT"
    );
    assert_eq!(app.row_count("users").await, 1);
}

#[actix_web::test]
async fn a_provider_login_with_the_verified_email_of_a_password_user_links_to_that_user() {
    let app = spawn_app_with_providers().await;
    let user = app.register("TALENT").await;

    let body = login_with_claims(&app, "GOOGLE", &firebase_claims(&uid(), &user.email), None).await;

    assert_no_errors(&body);
    assert_eq!(
        body["data"]["loginWithProvider"]["user"]["id"],
        user.id.to_string()
    );
}

#[actix_web::test]
async fn an_unverified_provider_email_never_signs_into_an_existing_account() {
    let app = spawn_app_with_providers().await;
    let user = app.register("TALENT").await;
    let mut claims = firebase_claims(&uid(), &user.email);
    claims["email_verified"] = json!(false);

    let body = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;

    // Refusing is fine; what must not happen is a session for the password user.
    assert_ne!(
        body["data"]["loginWithProvider"]["user"]["id"],
        json!(user.id.to_string()),
        "an unverified email took over an account: {body:#}"
    );
}

#[actix_web::test]
async fn a_new_provider_user_without_a_role_is_bad_input_on_role() {
    let app = spawn_app_with_providers().await;

    let body = login_with_claims(&app, "GOOGLE", &claims_of_a_new_firebase_user(), None).await;

    assert_bad_input(&body, "role");
    assert_eq!(app.row_count("users").await, 0);
}

#[actix_web::test]
async fn a_new_provider_user_asking_for_admin_is_forbidden() {
    let app = spawn_app_with_providers().await;

    let body = login_with_claims(
        &app,
        "GOOGLE",
        &claims_of_a_new_firebase_user(),
        Some("ADMIN"),
    )
    .await;

    assert_error(&body, "FORBIDDEN");
}

#[actix_web::test]
async fn a_token_for_another_audience_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let mut claims = claims_of_a_new_firebase_user();
    claims["aud"] = json!("someone-elses-project");

    let body = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_token_from_another_issuer_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let mut claims = claims_of_a_new_firebase_user();
    claims["iss"] = json!("https://securetoken.google.com/someone-elses-project");

    let body = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn an_expired_token_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let mut claims = claims_of_a_new_firebase_user();
    claims["iat"] = json!(now() - 7200);
    claims["auth_time"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);

    let body = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_token_signed_by_a_key_outside_the_jwks_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let claims = claims_of_a_new_firebase_user();

    let same_kid = login(
        &app,
        "GOOGLE",
        &sign_with(&claims, OTHER_KEY, KID),
        Some("TALENT"),
    )
    .await;
    let unknown_kid = login(
        &app,
        "GOOGLE",
        &sign_with(&claims, OTHER_KEY, "unknown-kid"),
        Some("TALENT"),
    )
    .await;

    assert_error(&same_kid, "UNAUTHENTICATED");
    assert_error(&unknown_kid, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_token_with_a_tampered_payload_is_unauthenticated() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let app = spawn_app_with_providers().await;
    let claims = claims_of_a_new_firebase_user();
    let token = sign(&claims);
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut forged = claims.clone();
    forged["email"] = json!(unique_email());
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));

    let body = login(&app, "GOOGLE", &parts.join("."), Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn an_hs256_token_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let claims = claims_of_a_new_firebase_user();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(KID.into());
    // The classic algorithm confusion: the public JWKS used as an HMAC secret.
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWKS.as_bytes()),
    )
    .expect("signing");

    let body = login(&app, "GOOGLE", &token, Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_garbage_id_token_is_unauthenticated() {
    let app = spawn_app_with_providers().await;

    let body = login(&app, "GOOGLE", "not-a-jwt", Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_google_token_presented_as_facebook_is_unauthenticated() {
    let app = spawn_app_with_providers().await;

    let body = login_with_claims(
        &app,
        "FACEBOOK",
        &claims_of_a_new_firebase_user(),
        Some("TALENT"),
    )
    .await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_firebase_facebook_sign_in_logs_in_as_facebook() {
    let app = spawn_app_with_providers().await;
    let mut claims = claims_of_a_new_firebase_user();
    claims["firebase"]["sign_in_provider"] = json!("facebook.com");

    let as_facebook = login_with_claims(&app, "FACEBOOK", &claims, Some("TALENT")).await;
    let as_google = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;

    assert_no_errors(&as_facebook);
    assert_error(&as_google, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn no_provider_login_works_when_no_identity_provider_is_configured() {
    let app = spawn_app_with(|settings| settings.auth.identity_providers = vec![]).await;

    let body = login_with_claims(
        &app,
        "GOOGLE",
        &claims_of_a_new_firebase_user(),
        Some("TALENT"),
    )
    .await;

    // The spec leaves the code open: an unusable provider argument or a token nobody vouches for.
    let refused = (error_code(&body), error_field(&body));
    assert!(
        matches!(
            refused,
            (Some("UNAUTHENTICATED"), _) | (Some("BAD_USER_INPUT"), Some("provider"))
        ),
        "{body:#}"
    );
    assert_eq!(app.row_count("users").await, 0);
}

#[actix_web::test]
async fn an_auth0_google_token_creates_and_then_finds_the_user() {
    let app = spawn_app_with_providers().await;
    let email = unique_email();
    let sub = format!(
        "google-oauth2|{}",
        uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000
    );
    let claims = auth0_claims(&sub, &email);

    let first = login_with_claims(&app, "GOOGLE", &claims, Some("TALENT")).await;
    let second = login_with_claims(&app, "GOOGLE", &claims, None).await;

    assert_no_errors(&first);
    assert_no_errors(&second);
    assert_eq!(first["data"]["loginWithProvider"]["user"]["email"], email);
    assert_eq!(first["data"]["loginWithProvider"]["user"]["role"], "TALENT");
    assert_eq!(
        first["data"]["loginWithProvider"]["user"]["id"],
        second["data"]["loginWithProvider"]["user"]["id"]
    );
}

#[actix_web::test]
async fn an_auth0_token_presented_as_another_provider_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let google = auth0_claims("google-oauth2|123", &unique_email());
    let linkedin = auth0_claims("linkedin|abc", &unique_email());

    let google_as_facebook = login_with_claims(&app, "FACEBOOK", &google, Some("TALENT")).await;
    let linkedin_as_google = login_with_claims(&app, "GOOGLE", &linkedin, Some("TALENT")).await;
    let linkedin_as_linkedin = login_with_claims(&app, "LINKEDIN", &linkedin, Some("TALENT")).await;

    assert_error(&google_as_facebook, "UNAUTHENTICATED");
    assert_error(&linkedin_as_google, "UNAUTHENTICATED");
    assert_no_errors(&linkedin_as_linkedin);
}

#[actix_web::test]
async fn an_auth0_token_for_another_audience_is_unauthenticated() {
    let app = spawn_app_with_providers().await;
    let mut claims = auth0_claims("facebook|456", &unique_email());
    claims["aud"] = json!(FIREBASE_AUDIENCE);

    let body = login_with_claims(&app, "FACEBOOK", &claims, Some("TALENT")).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_provider_created_user_cannot_log_in_with_a_password() {
    let app = spawn_app_with_providers().await;
    let email = unique_email();
    let created = login_with_claims(
        &app,
        "GOOGLE",
        &firebase_claims(&uid(), &email),
        Some("TALENT"),
    )
    .await;
    assert_no_errors(&created);

    let empty = app.login(&email, "", None).await;
    let guess = app.login(&email, "correct horse battery", None).await;

    assert_error(&empty, "UNAUTHENTICATED");
    assert_error(&guess, "UNAUTHENTICATED");
}
