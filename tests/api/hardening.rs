//! What an attacker tried: cost attacks that stall a worker, many mutations in one request,
//! forged client addresses, sockets that outlive their session, mutations hidden from the audit
//! trail in fragments, endless sessions, and 2FA changes with a stolen token.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, spawn_app_with, TestApp, TestUser,
};
use crate::notifications::until_documented;
use crate::subscriptions::{
    connect, next_message, open, subscribe, until_subscribed, Socket, MY_UPDATES, TRANSPORT_WS,
};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// `query{...F0} fragment F0 on Query{...F1 ...F1} … fragment F{n} on Query{__typename}`:
/// a few hundred bytes whose naive expansion doubles with every level.
pub(crate) fn doubling_fragments(levels: usize) -> String {
    let mut query = String::from("query{...F0}");
    for i in 0..levels {
        query.push_str(&format!(
            " fragment F{i} on Query{{...F{} ...F{}}}",
            i + 1,
            i + 1
        ));
    }
    query.push_str(&format!(" fragment F{levels} on Query{{__typename}}"));
    query
}

pub(crate) async fn post(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("sending");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The close code the server ends the socket with, skipping other frames.
async fn close_code(socket: &mut Socket, wait: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        if let Message::Close(close) = frame.ok()? {
            return close.map(|c| u16::from(c.code));
        }
    }
}

/// A talent's socket with one live `myApplicationUpdates` subscription (id "1").
async fn subscribed_socket(app: &TestApp, user: &TestUser) -> Socket {
    let mut socket = connect(app, TRANSPORT_WS, user).await;
    subscribe(&mut socket, TRANSPORT_WS, "1", MY_UPDATES, json!({})).await;
    until_subscribed(app, 1).await;
    socket
}

/// The subscription gets UNAUTHENTICATED, then the socket is closed with 4401.
async fn assert_session_ended(socket: &mut Socket, wait: Duration) {
    let message = next_message(socket, wait)
        .await
        .expect("an error for the open subscription");
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "1", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message}"
    );
    assert_eq!(close_code(socket, wait).await, Some(4401));
}

#[actix_web::test]
async fn a_group_holds_at_most_its_configured_members() {
    let app = spawn_app_with(|s| s.groups.max_members = 2).await;
    let owner = app.talent().await;
    let first = app.talent().await;
    let second = app.talent().await;
    let created = app
        .gql_ok(
            r#"mutation { createTalentGroup(name: "Small") { id } }"#,
            json!({}),
            Some(&owner.access_token),
        )
        .await;
    let group = created["createTalentGroup"]["id"].clone();
    let invite =
        "mutation($g: UUID!, $t: UUID!) { inviteToGroup(groupId: $g, talentId: $t) { status } }";

    let ok = app
        .gql(
            invite,
            json!({ "g": group, "t": first.id }),
            Some(&owner.access_token),
        )
        .await;
    let full = app
        .gql(
            invite,
            json!({ "g": group, "t": second.id }),
            Some(&owner.access_token),
        )
        .await;

    assert_no_errors(&ok);
    assert_error(&full, "CONFLICT");
}

#[actix_web::test]
async fn each_root_mutation_field_spends_a_rate_limit_unit() {
    let app = spawn_app_with(|s| {
        s.rate_limit.general_max = 5;
        s.rate_limit.window_secs = 600;
    })
    .await;
    let three = r#"mutation { a: logout(refreshToken: "x") b: logout(refreshToken: "y")
        c: logout(refreshToken: "z") }"#;

    let (_, first) = post(&app, json!({ "query": three }), &[]).await;
    let (status, second) = post(&app, json!({ "query": three }), &[]).await;

    assert_no_errors(&first);
    assert_eq!(status, 429, "{second:#}");
    assert_error(&second, "RATE_LIMITED");
}

#[actix_web::test]
async fn rate_limits_hold_in_the_instance_while_redis_is_unreachable() {
    let app = spawn_app_with(|s| {
        s.redis.url = "redis://127.0.0.1:1".to_string().into();
        s.rate_limit.general_max = 3;
        s.rate_limit.auth_max = 2;
        s.rate_limit.window_secs = 600;
    })
    .await;

    for _ in 0..3 {
        let (_, body) = post(&app, json!({ "query": "{ requestId }" }), &[]).await;
        assert_no_errors(&body);
    }
    let (status, fourth) = post(&app, json!({ "query": "{ requestId }" }), &[]).await;

    assert_eq!(status, 429, "{fourth:#}");
    assert_error(&fourth, "RATE_LIMITED");
}

#[actix_web::test]
async fn forged_forwarding_headers_do_not_buy_fresh_login_attempts() {
    let app = spawn_app_with(|s| {
        s.rate_limit.auth_max = 3;
        s.rate_limit.window_secs = 600;
    })
    .await;
    let login = |n: usize| {
        json!({ "query": format!(
            "mutation {{ login(email: \"nobody{n}@example.com\", password: \"wrong password\") {{ accessToken }} }}"
        ) })
    };

    let mut codes = Vec::new();
    for n in 0..4 {
        let spoofed = format!("203.0.113.{n}");
        let forwarded = format!("for={spoofed}");
        let (_, body) = post(
            &app,
            login(n),
            &[
                ("x-forwarded-for", spoofed.as_str()),
                ("forwarded", forwarded.as_str()),
            ],
        )
        .await;
        codes.push(body["errors"][0]["extensions"]["code"].clone());
    }

    assert!(
        codes[..3].iter().all(|c| *c == "UNAUTHENTICATED"),
        "{codes:?}"
    );
    assert_eq!(codes[3], "RATE_LIMITED", "{codes:?}");
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_client_is_the_nearest_untrusted_hop() {
    let app = spawn_app_with(|s| {
        s.application.trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
            .map(|p| castyou::configuration::parse_proxy(p).expect("a proxy"))
            .to_vec();
        s.rate_limit.auth_max = 3;
        s.rate_limit.window_secs = 600;
    })
    .await;
    let admin = app.admin().await;
    let login = json!({ "query":
        "mutation { login(email: \"nobody@example.com\", password: \"wrong password\") { accessToken } }" });

    // The client writes any leftmost value it likes; the proxies append what they saw.
    let mut codes = Vec::new();
    for n in 0..4 {
        let chain = format!("6.6.6.{n}, 198.51.100.7, 10.1.2.3");
        let (_, body) = post(&app, login.clone(), &[("x-forwarded-for", chain.as_str())]).await;
        codes.push(body["errors"][0]["extensions"]["code"].clone());
    }
    until_documented(&app).await;
    let log = app
        .gql_ok(
            "{ auditLog(first: 100) { edges { node { action ip } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;

    assert_eq!(codes[3], "RATE_LIMITED", "{codes:?}");
    let failed: Vec<&Value> = log["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["action"] == "LOGIN_FAILED")
        .collect();
    assert!(!failed.is_empty(), "{log:#}");
    assert!(failed.iter().all(|n| n["ip"] == "198.51.100.7"), "{log:#}");
}

#[actix_web::test]
async fn a_socket_ends_when_its_session_logs_out() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let mut socket = subscribed_socket(&app, &talent).await;

    app.gql_ok(
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({ "t": talent.refresh_token }),
        None,
    )
    .await;

    assert_session_ended(&mut socket, Duration::from_secs(10)).await;
}

#[actix_web::test]
async fn a_socket_ends_when_its_refresh_token_is_reused() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let mut socket = subscribed_socket(&app, &talent).await;
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";

    app.gql_ok(refresh, json!({ "t": talent.refresh_token }), None)
        .await;
    let reused = app
        .gql(refresh, json!({ "t": talent.refresh_token }), None)
        .await;

    assert_error(&reused, "UNAUTHENTICATED");
    assert_session_ended(&mut socket, Duration::from_secs(10)).await;
}

#[actix_web::test]
async fn a_socket_ends_when_the_admin_command_changes_the_role_even_without_redis() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let mut socket = subscribed_socket(&app, &talent).await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_castyou"))
        .args(["admin", "grant", &talent.email])
        .env("APP_ENVIRONMENT", "test")
        .env(
            "DATABASE_URL",
            secrecy::ExposeSecret::expose_secret(&app.settings.database.url),
        )
        // The command cannot reach Redis: PostgreSQL's outbox carries the revocation.
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("APP_MONGODB__DATABASE", &app.db_name)
        .env("APP_LOG__FILTER", "error")
        .output()
        .await
        .expect("running castyou admin");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_session_ended(&mut socket, Duration::from_secs(10)).await;
    let (status, me) = post_as(&app, &talent.access_token, "{ me { id } }").await;
    assert_eq!(status, 401, "{me:#}");
    assert_error(&me, "UNAUTHENTICATED");
}

async fn post_as(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    post(
        app,
        json!({ "query": query }),
        &[("authorization", auth.as_str())],
    )
    .await
}

#[actix_web::test]
async fn a_socket_closes_when_its_access_token_expires() {
    let app = spawn_app_with(|s| {
        s.auth.access_token_ttl_secs = 2;
        s.auth.refresh_token_ttl_secs = 60;
    })
    .await;
    let talent = app.talent().await;
    let mut socket = subscribed_socket(&app, &talent).await;

    assert_session_ended(&mut socket, Duration::from_secs(6)).await;
}

#[actix_web::test]
async fn a_connection_without_a_token_is_refused() {
    let app = spawn_app().await;

    let mut socket = open(&app, TRANSPORT_WS, json!({})).await;
    let answer = next_message(&mut socket, Duration::from_secs(3)).await;

    assert_ne!(
        answer.as_ref().and_then(|m| m["type"].as_str()),
        Some("connection_ack"),
        "{answer:?}"
    );
}

#[actix_web::test]
async fn sockets_are_capped_per_user_and_per_address() {
    let app = spawn_app_with(|s| {
        s.realtime.max_sockets_per_user = 2;
        s.realtime.max_sockets_per_address = 3;
    })
    .await;
    let talent = app.talent().await;
    let other = app.talent().await;

    let _first = connect(&app, TRANSPORT_WS, &talent).await;
    let _second = connect(&app, TRANSPORT_WS, &talent).await;
    let mut third = open(&app, TRANSPORT_WS, json!({ "token": talent.access_token })).await;
    let refused = next_message(&mut third, Duration::from_secs(3)).await;
    assert_ne!(
        refused.as_ref().and_then(|m| m["type"].as_str()),
        Some("connection_ack"),
        "{refused:?}"
    );
    drop(third);
    // The refused socket's address slot is freed once it is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _other = connect(&app, TRANSPORT_WS, &other).await;

    // A fourth socket from this address is refused at the upgrade.
    let url = format!("ws://127.0.0.1:{}/graphql", app.port);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static(TRANSPORT_WS),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("the upgrade should be refused: {:?}", other.map(|_| ())),
    }
}

#[actix_web::test]
async fn a_costly_subscription_is_refused_over_the_socket() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let mut socket = connect(&app, TRANSPORT_WS, &talent).await;
    let attack = doubling_fragments(30)
        .replace("query{", "subscription{myApplicationUpdates{kind} ")
        .replace(" on Query{", " on Subscription{");

    subscribe(&mut socket, TRANSPORT_WS, "1", &attack, json!({})).await;
    let answer = next_message(&mut socket, Duration::from_secs(2))
        .await
        .expect("an answer");

    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(
        answer["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{answer}"
    );
}

#[actix_web::test]
async fn mutations_inside_fragments_are_audited() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let owner = app.talent().await;
    let mut groups = Vec::new();
    for name in ["Inline", "Named"] {
        let created = app
            .gql_ok(
                "mutation($n: String!) { createTalentGroup(name: $n) { id } }",
                json!({ "n": name }),
                Some(&owner.access_token),
            )
            .await;
        groups.push(
            created["createTalentGroup"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }

    app.gql_ok(
        "mutation($g: UUID!) { ... on Mutation { gone: deleteTalentGroup(groupId: $g) } }",
        json!({ "g": groups[0] }),
        Some(&owner.access_token),
    )
    .await;
    app.gql_ok(
        "mutation($g: UUID!) { ...Delete } fragment Delete on Mutation { deleteTalentGroup(groupId: $g) @include(if: true) }",
        json!({ "g": groups[1] }),
        Some(&owner.access_token),
    )
    .await;
    until_documented(&app).await;
    let log = app
        .gql_ok(
            "{ auditLog(first: 100) { edges { node { action objectId } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;

    let deleted: Vec<&str> = log["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["node"]["action"] == "DELETE_TALENT_GROUP")
        .filter_map(|e| e["node"]["objectId"].as_str())
        .collect();
    for group in &groups {
        assert!(deleted.contains(&group.as_str()), "{group} in {log:#}");
    }
}

#[actix_web::test]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    let app = spawn_app_with(|s| {
        s.auth.access_token_ttl_secs = 1;
        s.auth.refresh_token_ttl_secs = 2;
        s.auth.session_lifetime_secs = 4;
    })
    .await;
    let user = app.register("TALENT").await;
    let signed_in = Instant::now();
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }";

    let mut token = user.refresh_token.clone();
    let ended_after = loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let body = app.gql(refresh, json!({ "t": token }), None).await;
        if body["errors"].is_array() {
            assert_error(&body, "UNAUTHENTICATED");
            break signed_in.elapsed();
        }
        token = body["data"]["refreshToken"]["refreshToken"]
            .as_str()
            .expect("a new refresh token")
            .to_string();
        assert!(signed_in.elapsed() < Duration::from_secs(10), "never ended");
    };

    assert!(
        ended_after >= Duration::from_millis(3_500),
        "{ended_after:?}"
    );
    assert!(ended_after < Duration::from_secs(6), "{ended_after:?}");
}

#[actix_web::test]
async fn changing_two_factor_needs_the_password_once_the_sign_in_is_not_recent() {
    let app = spawn_app_with(|s| s.auth.reauth_window_secs = 0).await;
    let user = app.register("TALENT").await;
    let begin = "mutation($p: String) { beginTwoFactorSetup(password: $p) { secret } }";
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let stolen = app.gql(begin, json!({}), Some(&user.access_token)).await;
    let wrong = app
        .gql(
            begin,
            json!({ "p": "not the password" }),
            Some(&user.access_token),
        )
        .await;
    let owner = app
        .gql(
            begin,
            json!({ "p": user.password }),
            Some(&user.access_token),
        )
        .await;

    assert_error(&stolen, "FORBIDDEN");
    assert_bad_input(&wrong, "password");
    assert_no_errors(&owner);
    let disable = app
        .gql(
            "mutation { disableTwoFactor(code: \"000000\") }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    // Not on yet: refused before any password question.
    assert_error(&disable, "CONFLICT");
}

#[actix_web::test]
async fn two_factor_state_is_private_to_its_user_and_admins() {
    let app = spawn_app().await;
    let user = app.register("TALENT").await;
    let other = app.register("TALENT").await;
    let admin = app.admin().await;
    let query = "query($id: UUID!) { user(id: $id) { id twoFactorEnabled } }";

    let mine = app
        .gql(query, json!({ "id": user.id }), Some(&user.access_token))
        .await;
    let theirs = app
        .gql(query, json!({ "id": user.id }), Some(&other.access_token))
        .await;
    let admins = app
        .gql(query, json!({ "id": user.id }), Some(&admin.access_token))
        .await;

    assert_eq!(mine["data"]["user"]["twoFactorEnabled"], false, "{mine:#}");
    assert_error(&theirs, "FORBIDDEN");
    assert_eq!(
        admins["data"]["user"]["twoFactorEnabled"], false,
        "{admins:#}"
    );
}
