//! TOTP two-factor authentication: setup, confirmation, login with and without a code, replay,
//! and switching it off. Codes are computed here the way an authenticator app would.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, TestApp, TestUser,
};
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};

const BEGIN: &str = "mutation { beginTwoFactorSetup { secret otpauthUrl } }";
const CONFIRM: &str = "mutation($c: String!) { confirmTwoFactor(code: $c) }";
const DISABLE: &str = "mutation($c: String!) { disableTwoFactor(code: $c) }";

/// An authenticator for the secret the server handed out.
pub(crate) fn authenticator(secret_base32: &str) -> TOTP {
    let bytes = Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .expect("the secret is base32");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The code for `offset` 30-second steps from now. Successive calls with increasing offsets
/// give strictly increasing steps, so the server's replay protection never rejects them.
pub(crate) fn code(totp: &TOTP, offset: i64) -> String {
    totp.generate((now() as i64 + offset * 30) as u64)
}

/// A six-digit code that is valid for no step near now.
fn wrong_code(totp: &TOTP) -> String {
    let valid: Vec<String> = (-3..=3).map(|o| code(totp, o)).collect();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .expect("some code is wrong")
}

async fn begin(app: &TestApp, user: &TestUser) -> TOTP {
    let data = app.gql_ok(BEGIN, json!({}), Some(&user.access_token)).await;
    let secret = data["beginTwoFactorSetup"]["secret"]
        .as_str()
        .expect("secret");
    authenticator(secret)
}

/// A user with two-factor on, confirmed with the code of the previous step.
pub(crate) async fn user_with_two_factor(app: &TestApp) -> (TestUser, TOTP) {
    let user = app.register("TALENT").await;
    let totp = begin(app, &user).await;
    let data = app
        .gql_ok(
            CONFIRM,
            json!({ "c": code(&totp, -1) }),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(data["confirmTwoFactor"], true);
    (user, totp)
}

async fn two_factor_enabled(app: &TestApp, user: &TestUser) -> bool {
    let data = app
        .gql_ok(
            "query { me { twoFactorEnabled } }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    data["me"]["twoFactorEnabled"].as_bool().expect("a boolean")
}

#[actix_web::test]
async fn beginning_setup_returns_a_base32_secret_and_an_otpauth_url() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let data = app.gql_ok(BEGIN, json!({}), Some(&user.access_token)).await;

    let setup = &data["beginTwoFactorSetup"];
    let secret = setup["secret"].as_str().expect("secret");
    let url = setup["otpauthUrl"].as_str().expect("otpauthUrl");
    assert!(
        Secret::Encoded(secret.to_string())
            .to_bytes()
            .is_ok_and(|b| b.len() >= 16),
        "the secret must be base32 of at least 128 bits: {secret}"
    );
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    assert!(
        !two_factor_enabled(&app, &user).await,
        "setup alone must not switch it on"
    );
    assert_no_errors(&app.login(&user.email, &user.password, None).await);
}

#[actix_web::test]
async fn beginning_setup_anonymously_is_unauthenticated() {
    let app = spawn_app().await;

    let body = app.gql(BEGIN, json!({}), None).await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn confirming_with_a_valid_code_turns_two_factor_on() {
    let app = spawn_app().await;

    let (user, _) = user_with_two_factor(&app).await;

    assert!(two_factor_enabled(&app, &user).await);
}

#[actix_web::test]
async fn confirming_with_a_wrong_code_is_bad_input_on_code_and_leaves_it_off() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;
    let totp = begin(&app, &user).await;

    let body = app
        .gql(
            CONFIRM,
            json!({ "c": wrong_code(&totp) }),
            Some(&user.access_token),
        )
        .await;

    assert_bad_input(&body, "code");
    assert!(!two_factor_enabled(&app, &user).await);
}

#[actix_web::test]
async fn confirming_without_beginning_setup_is_a_conflict() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;

    let body = app
        .gql(CONFIRM, json!({ "c": "123456" }), Some(&user.access_token))
        .await;

    assert_error(&body, "CONFLICT");
}

#[actix_web::test]
async fn beginning_setup_again_while_enabled_is_a_conflict() {
    let app = spawn_app().await;
    let (user, _) = user_with_two_factor(&app).await;

    let body = app.gql(BEGIN, json!({}), Some(&user.access_token)).await;

    assert_error(&body, "CONFLICT");
}

#[actix_web::test]
async fn login_without_a_code_requires_two_factor_once_it_is_on() {
    let app = spawn_app().await;
    let (user, _) = user_with_two_factor(&app).await;

    let body = app.login(&user.email, &user.password, None).await;

    assert_error(&body, "TWO_FACTOR_REQUIRED");
}

#[actix_web::test]
async fn login_with_a_wrong_code_is_unauthenticated() {
    let app = spawn_app().await;
    let (user, totp) = user_with_two_factor(&app).await;

    let body = app
        .login(&user.email, &user.password, Some(&wrong_code(&totp)))
        .await;

    assert_error(&body, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn login_with_a_wrong_password_is_unauthenticated_even_when_two_factor_is_on() {
    let app = spawn_app().await;
    let (user, totp) = user_with_two_factor(&app).await;

    let without_code = app.login(&user.email, "not the password", None).await;
    let with_code = app
        .login(&user.email, "not the password", Some(&code(&totp, 0)))
        .await;

    assert_error(&without_code, "UNAUTHENTICATED");
    assert_error(&with_code, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn login_with_the_right_code_succeeds() {
    let app = spawn_app().await;
    let (user, totp) = user_with_two_factor(&app).await;

    let body = app
        .login(&user.email, &user.password, Some(&code(&totp, 0)))
        .await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["login"]["user"]["id"], user.id.to_string());
    let access = body["data"]["login"]["accessToken"]
        .as_str()
        .expect("token");
    let me = app
        .gql_ok("query { me { id } }", json!({}), Some(access))
        .await;
    assert_eq!(me["me"]["id"], user.id.to_string());
}

#[actix_web::test]
async fn a_code_is_not_accepted_twice() {
    let app = spawn_app().await;
    let (user, totp) = user_with_two_factor(&app).await;
    let used = code(&totp, 0);
    assert_no_errors(&app.login(&user.email, &user.password, Some(&used)).await);

    let replay = app.login(&user.email, &user.password, Some(&used)).await;

    assert_error(&replay, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn disabling_with_a_wrong_code_is_bad_input_and_keeps_it_on() {
    let app = spawn_app().await;
    let (user, totp) = user_with_two_factor(&app).await;

    let body = app
        .gql(
            DISABLE,
            json!({ "c": wrong_code(&totp) }),
            Some(&user.access_token),
        )
        .await;

    assert_bad_input(&body, "code");
    assert!(two_factor_enabled(&app, &user).await);
}

#[actix_web::test]
async fn disabling_with_a_valid_code_lets_the_user_log_in_without_one() {
    let app = spawn_app().await;
    let (user, totp) = user_with_two_factor(&app).await;

    let data = app
        .gql_ok(
            DISABLE,
            json!({ "c": code(&totp, 1) }),
            Some(&user.access_token),
        )
        .await;

    assert_eq!(data["disableTwoFactor"], true);
    assert!(!two_factor_enabled(&app, &user).await);
    assert_no_errors(&app.login(&user.email, &user.password, None).await);
}
