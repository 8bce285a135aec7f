//! Verified emails, password resets and provider sign-in that cannot be pre-hijacked, with the
//! mails going through a real SMTP server on loopback (aiosmtpd) and read back from it.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app_with, TestApp, TestUser,
};
use crate::mail_sink::{token_in, SmtpSink};
use crate::notifications::until_documented;
use crate::provider_login::{firebase_claims, sign, spawn_app_with_providers_and, uid};
use crate::subscriptions::{connect, next_message, subscribe, MY_UPDATES, TRANSPORT_WS};
use serde_json::{json, Value};
use std::time::Duration;

const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) }";
const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const ME: &str = "{ me { id emailVerified } }";
const PROVIDER_LOGIN: &str = r#"mutation($t: String!, $r: Role, $c: String) {
    loginWithProvider(provider: GOOGLE, idToken: $t, role: $r, totpCode: $c) {
        accessToken refreshToken user { id emailVerified } } }"#;

async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| use_smtp(s, url)).await
}

fn use_smtp(settings: &mut castyou::configuration::Settings, url: String) {
    settings.mail.transport = castyou::configuration::MailTransport::Smtp;
    settings.mail.smtp_url = Some(url.into());
}

async fn email_verified(app: &TestApp, user: &TestUser) -> bool {
    app.gql_ok(ME, json!({}), Some(&user.access_token)).await["me"]["emailVerified"]
        .as_bool()
        .expect("a flag")
}

/// Makes every account token of the app look expired.
async fn expire_tokens(app: &TestApp) {
    app.sql(
        "UPDATE account_tokens SET created_at = now() - interval '2 hours', \
         expires_at = now() - interval '1 hour'",
    )
    .await;
}

#[actix_web::test]
async fn the_verification_link_works_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("TALENT").await;

    let mail = sink.wait_for(&user.email, 1).await;
    let token = token_in(&mail[0]);
    assert!(
        mail[0].contains("Subject: Confirm your email address"),
        "{}",
        mail[0]
    );
    assert!(
        !email_verified(&app, &user).await,
        "marked unverified until then"
    );
    let first = app.gql(VERIFY, json!({ "t": token }), None).await;
    let again = app.gql(VERIFY, json!({ "t": token }), None).await;

    assert_eq!(first["data"]["verifyEmail"], true, "{first:#}");
    assert_bad_input(&again, "token");
    assert!(email_verified(&app, &user).await);
}

#[actix_web::test]
async fn an_expired_verification_link_is_refused() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("TALENT").await;
    let token = token_in(&sink.wait_for(&user.email, 1).await[0]);

    expire_tokens(&app).await;
    let late = app.gql(VERIFY, json!({ "t": token }), None).await;

    assert_bad_input(&late, "token");
    assert!(!email_verified(&app, &user).await);
}

#[actix_web::test]
async fn the_verification_mail_can_be_sent_again_a_few_times_an_hour() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("TALENT").await;
    let resend = "mutation { resendVerificationEmail }";

    let second = app.gql(resend, json!({}), Some(&user.access_token)).await;
    let third = app.gql(resend, json!({}), Some(&user.access_token)).await;
    let fourth = app.gql(resend, json!({}), Some(&user.access_token)).await;

    assert_no_errors(&second);
    assert_no_errors(&third);
    assert_error(&fourth, "RATE_LIMITED");
    assert_eq!(sink.wait_for(&user.email, 3).await.len(), 3);
}

#[actix_web::test]
async fn a_password_reset_works_once_and_ends_every_session() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.talent().await;
    let mut socket = connect(&app, TRANSPORT_WS, &user).await;
    subscribe(&mut socket, TRANSPORT_WS, "1", MY_UPDATES, json!({})).await;

    let asked = app
        .gql(REQUEST_RESET, json!({ "e": user.email }), None)
        .await;
    assert_eq!(asked["data"]["requestPasswordReset"], true);
    let mails = sink.wait_for(&user.email, 2).await;
    let reset_mail = mails
        .iter()
        .find(|m| m.contains("Subject: Reset your CastYou password"))
        .expect("a reset mail");
    let token = token_in(reset_mail);
    let new_password = "a brand new passphrase";
    let reset = app
        .gql(RESET, json!({ "t": token, "p": new_password }), None)
        .await;
    let reused = app
        .gql(
            RESET,
            json!({ "t": token, "p": "yet another passphrase" }),
            None,
        )
        .await;

    assert_eq!(reset["data"]["resetPassword"], true, "{reset:#}");
    assert_bad_input(&reused, "token");
    // Every session ended: the old refresh and access tokens, and the open socket.
    let refreshed = app
        .gql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": user.refresh_token }),
            None,
        )
        .await;
    assert_error(&refreshed, "UNAUTHENTICATED");
    let (status, _) = app
        .post_graphql("{ me { id } }", json!({}), Some(&user.access_token))
        .await;
    assert_eq!(status, 401);
    let ended = next_message(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(
        ended
            .as_ref()
            .map(|m| m["payload"][0]["extensions"]["code"].clone()),
        Some(json!("UNAUTHENTICATED")),
        "{ended:?}"
    );
    // The new password works, the old one does not, and the reset proved the address.
    let old = app.login(&user.email, &user.password, None).await;
    assert_error(&old, "UNAUTHENTICATED");
    let new = app.login(&user.email, new_password, None).await;
    assert_no_errors(&new);
    let token_now = new["data"]["login"]["accessToken"]
        .as_str()
        .expect("a token");
    let me = app.gql_ok(ME, json!({}), Some(token_now)).await;
    assert_eq!(me["me"]["emailVerified"], true);
}

#[actix_web::test]
async fn an_expired_reset_link_is_refused() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("TALENT").await;
    app.gql(REQUEST_RESET, json!({ "e": user.email }), None)
        .await;
    let mails = sink.wait_for(&user.email, 2).await;
    let token = token_in(
        mails
            .iter()
            .find(|m| m.contains("Reset your CastYou password"))
            .expect("a reset mail"),
    );

    expire_tokens(&app).await;
    let late = app
        .gql(
            RESET,
            json!({ "t": token, "p": "a brand new passphrase" }),
            None,
        )
        .await;

    assert_bad_input(&late, "token");
    assert_no_errors(&app.login(&user.email, &user.password, None).await);
}

#[actix_web::test]
async fn a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let known = app.register("TALENT").await;
    let unknown = format!("{}@example.com", uuid::Uuid::new_v4().simple());

    let for_known = app
        .post_graphql(REQUEST_RESET, json!({ "e": known.email }), None)
        .await;
    let for_unknown = app
        .post_graphql(REQUEST_RESET, json!({ "e": unknown }), None)
        .await;

    assert_eq!(for_known, for_unknown);
    sink.wait_for(&known.email, 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.to(&unknown).is_empty());
}

#[actix_web::test]
async fn mail_written_while_the_mail_server_is_down_arrives_once_it_is_back() {
    let mut sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    sink.stop().await;

    let users = [
        app.register("TALENT").await,
        app.register("PRODUCER").await,
        app.register("TALENT").await,
    ];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = app.metrics_text().await;
    assert!(sink.messages().is_empty());
    assert!(metrics.contains("castyou_mail_backlog 3"), "{metrics}");
    assert!(
        !metrics.contains("castyou_mail_failures_total 0"),
        "failed attempts are counted: {metrics}"
    );
    sink.restart().await;

    for user in &users {
        sink.wait_for(&user.email, 1).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for user in &users {
        assert_eq!(
            sink.to(&user.email).len(),
            1,
            "exactly once to {}",
            user.email
        );
    }
}

#[actix_web::test]
async fn tokens_never_reach_the_audit_log() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let admin = app.admin().await;
    let user = app.register("TALENT").await;
    let verify_token = token_in(&sink.wait_for(&user.email, 1).await[0]);
    app.gql(VERIFY, json!({ "t": verify_token }), None).await;
    app.gql(REQUEST_RESET, json!({ "e": user.email }), None)
        .await;
    let mails = sink.wait_for(&user.email, 2).await;
    let reset_token = token_in(
        mails
            .iter()
            .find(|m| m.contains("Reset your CastYou password"))
            .expect("a reset mail"),
    );
    app.gql(
        RESET,
        json!({ "t": reset_token, "p": "a brand new passphrase" }),
        None,
    )
    .await;
    until_documented(&app).await;

    let log = app
        .gql_ok(
            "{ auditLog(first: 100) { edges { node { action summary } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    let text = log.to_string();

    assert!(text.contains("PASSWORD_RESET"), "{text}");
    assert!(text.contains("VERIFY_EMAIL"), "{text}");
    assert!(
        !text.contains(&verify_token) && !text.contains(&reset_token),
        "{text}"
    );
    assert!(!text.contains("a brand new passphrase"), "{text}");
}

async fn provider_login(app: &TestApp, claims: &Value, code: Option<&str>) -> Value {
    app.gql(
        PROVIDER_LOGIN,
        json!({ "t": sign(claims), "r": "TALENT", "c": code }),
        None,
    )
    .await
}

#[actix_web::test]
async fn a_squatter_loses_an_unverified_account_to_the_verified_owner_of_its_address() {
    let app = spawn_app_with_providers_and(|_| {}).await;
    let admin = app.admin().await;
    // The squatter registers the victim's address first and never verifies it.
    let squatter = app.register("TALENT").await;
    let victim = firebase_claims(&uid(), &squatter.email);

    let body = provider_login(&app, &victim, None).await;

    assert_no_errors(&body);
    let payload = &body["data"]["loginWithProvider"];
    assert_eq!(
        payload["user"]["id"],
        json!(squatter.id),
        "the account is the victim's now"
    );
    assert_eq!(payload["user"]["emailVerified"], true);
    assert_error(
        &app.login(&squatter.email, &squatter.password, None).await,
        "UNAUTHENTICATED",
    );
    let refreshed = app
        .gql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": squatter.refresh_token }),
            None,
        )
        .await;
    assert_error(&refreshed, "UNAUTHENTICATED");
    let (status, _) = app
        .post_graphql("{ me { id } }", json!({}), Some(&squatter.access_token))
        .await;
    assert_eq!(status, 401);
    let victim_token = payload["accessToken"].as_str().expect("a token");
    assert_no_errors(&app.gql(ME, json!({}), Some(victim_token)).await);
    until_documented(&app).await;
    let log = app
        .gql_ok(
            "{ auditLog(first: 100) { edges { node { action objectId } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    assert!(
        log.to_string().contains("ACCOUNT_TAKEN_OVER"),
        "the takeover is audited: {log:#}"
    );
}

#[actix_web::test]
async fn an_unverified_provider_address_never_creates_or_links_an_account() {
    let app = spawn_app_with_providers_and(|_| {}).await;
    let existing = app.register("TALENT").await;
    let mut new_claims = firebase_claims(&uid(), &format!("{}@gmail.example", uid()));
    new_claims["email_verified"] = json!(false);
    let mut existing_claims = firebase_claims(&uid(), &existing.email);
    existing_claims["email_verified"] = json!(false);

    let new = provider_login(&app, &new_claims, None).await;
    let linked = provider_login(&app, &existing_claims, None).await;

    assert_error(&new, "FORBIDDEN");
    assert_error(&linked, "FORBIDDEN");
    assert_no_errors(&app.login(&existing.email, &existing.password, None).await);
}

#[actix_web::test]
async fn provider_sign_in_asks_for_the_second_factor_when_it_is_on() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with_providers_and(move |s| use_smtp(s, url)).await;
    let user = app.register("TALENT").await;
    // The owner verified the address and turned 2FA on.
    let token = token_in(&sink.wait_for(&user.email, 1).await[0]);
    app.gql(VERIFY, json!({ "t": token }), None).await;
    let setup = app
        .gql_ok(
            "mutation { beginTwoFactorSetup { secret } }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    let totp = crate::two_factor::authenticator(
        setup["beginTwoFactorSetup"]["secret"]
            .as_str()
            .expect("a secret"),
    );
    app.gql_ok(
        "mutation($c: String!) { confirmTwoFactor(code: $c) }",
        json!({ "c": crate::two_factor::code(&totp, -1) }),
        Some(&user.access_token),
    )
    .await;
    let claims = firebase_claims(&uid(), &user.email);

    let without = provider_login(&app, &claims, None).await;
    let with = provider_login(&app, &claims, Some(&crate::two_factor::code(&totp, 0))).await;

    assert_error(&without, "TWO_FACTOR_REQUIRED");
    assert_no_errors(&with);
    assert_eq!(
        with["data"]["loginWithProvider"]["user"]["id"],
        json!(user.id)
    );
    // The verified account was linked, not taken over: the password still works.
    assert_error(
        &app.login(&user.email, &user.password, None).await,
        "TWO_FACTOR_REQUIRED",
    );
}

#[actix_web::test]
async fn email_verification_state_is_private_to_its_user_and_admins() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("TALENT").await;
    let other = app.register("TALENT").await;
    let query = "query($id: UUID!) { user(id: $id) { emailVerified } }";

    let theirs = app
        .gql(query, json!({ "id": user.id }), Some(&other.access_token))
        .await;

    assert_error(&theirs, "FORBIDDEN");
}

#[actix_web::test]
async fn a_reset_that_first_proves_the_address_drops_the_squatters_two_factor() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    // The squatter registered the owner's address first (never verified) and turned 2FA on.
    let (squatter, _their_authenticator) = crate::two_factor::user_with_two_factor(&app).await;
    assert_error(
        &app.login(&squatter.email, &squatter.password, None).await,
        "TWO_FACTOR_REQUIRED",
    );

    // The owner of the mailbox resets the password.
    app.gql(REQUEST_RESET, json!({ "e": squatter.email }), None)
        .await;
    let mails = sink.wait_for(&squatter.email, 2).await;
    let token = token_in(
        mails
            .iter()
            .find(|m| m.contains("Reset your CastYou password"))
            .expect("a reset mail"),
    );
    let new_password = "the owner's own passphrase";
    let reset = app
        .gql(RESET, json!({ "t": token, "p": new_password }), None)
        .await;
    assert_eq!(reset["data"]["resetPassword"], true, "{reset:#}");

    // The owner signs in with the new password alone: the squatter's 2FA is gone.
    let signed_in = app.login(&squatter.email, new_password, None).await;
    assert_no_errors(&signed_in);
    let token = signed_in["data"]["login"]["accessToken"]
        .as_str()
        .expect("a token");
    let me = app
        .gql_ok(
            "{ me { emailVerified twoFactorEnabled } }",
            json!({}),
            Some(token),
        )
        .await;
    assert_eq!(me["me"]["twoFactorEnabled"], false);
    assert_eq!(me["me"]["emailVerified"], true);
}

#[actix_web::test]
async fn an_account_gets_a_few_reset_mails_an_hour_however_many_are_asked_for() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let user = app.register("TALENT").await;
    sink.wait_for(&user.email, 1).await;

    for _ in 0..6 {
        let asked = app
            .gql(REQUEST_RESET, json!({ "e": user.email }), None)
            .await;
        assert_eq!(asked["data"]["requestPasswordReset"], true);
    }
    // The verification mail and three reset mails, no more.
    sink.wait_for(&user.email, 4).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resets = sink
        .to(&user.email)
        .iter()
        .filter(|m| m.contains("Reset your CastYou password"))
        .count();
    assert_eq!(resets, 3);
}
