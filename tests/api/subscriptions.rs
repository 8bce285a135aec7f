//! Live pipelines over real websocket clients, in both protocols.

use crate::helpers::{spawn_app, TestApp, TestUser};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) const TRANSPORT_WS: &str = "graphql-transport-ws";
pub(crate) const LEGACY_WS: &str = "graphql-ws";

pub(crate) const PIPELINE: &str = "subscription($job: UUID!) { applicationPipeline(jobId: $job) {
    kind jobId fromStage toStage at application { id stage talent { stageName } } } }";
pub(crate) const MY_UPDATES: &str =
    "subscription { myApplicationUpdates { kind jobId fromStage toStage application { id stage } } }";

/// Opens a websocket in `protocol` and sends `connection_init` with `payload`.
pub(crate) async fn open(app: &TestApp, protocol: &str, payload: Value) -> Socket {
    let url = format!("ws://127.0.0.1:{}/graphql", app.port);
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).expect("a header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connecting");
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sending");
}

/// The next JSON message other than keep-alives, or None if the socket closed or stayed quiet.
pub(crate) async fn next_message(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        match frame.ok()? {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).ok()?;
                if matches!(value["type"].as_str(), Some("ka" | "ping" | "pong")) {
                    continue;
                }
                return Some(value);
            }
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

pub(crate) async fn connect(app: &TestApp, protocol: &str, user: &TestUser) -> Socket {
    let mut socket = open(
        app,
        protocol,
        json!({ "Authorization": format!("Bearer {}", user.access_token) }),
    )
    .await;
    let ack = next_message(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(
        ack.as_ref().and_then(|m| m["type"].as_str()),
        Some("connection_ack"),
        "{ack:?}"
    );
    socket
}

pub(crate) async fn subscribe(
    socket: &mut Socket,
    protocol: &str,
    id: &str,
    query: &str,
    variables: Value,
) {
    let kind = if protocol == TRANSPORT_WS {
        "subscribe"
    } else {
        "start"
    };
    send(
        socket,
        json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

/// The payload of the next event for subscription `id`.
pub(crate) async fn next_event(socket: &mut Socket, id: &str) -> Value {
    let message = next_message(socket, Duration::from_secs(10))
        .await
        .expect("an event before the timeout");
    assert_eq!(message["id"], id, "{message}");
    assert!(
        matches!(message["type"].as_str(), Some("next" | "data")),
        "{message}"
    );
    message["payload"].clone()
}

/// The code of the error a subscription was refused with: an `error` message carries the
/// errors as its payload, a `next` message carries them beside `data`.
pub(crate) fn refusal_code(message: &Value) -> Option<&str> {
    let errors = match message["type"].as_str() {
        Some("error") => &message["payload"],
        Some("next" | "data") => &message["payload"]["errors"],
        _ => return None,
    };
    errors[0]["extensions"]["code"].as_str()
}

/// The next event for `id` of `field` that is not the APPLIED of an application made just
/// before subscribing (committed before, it may still be on its way when the subscription
/// starts).
pub(crate) async fn next_change(socket: &mut Socket, id: &str, field: &str) -> Value {
    loop {
        let event = next_event(socket, id).await["data"][field].clone();
        if event["kind"] != "APPLIED" {
            return event;
        }
    }
}

/// A producer's socket subscribed (as "1") to the job's pipeline, registered with the hub.
pub(crate) async fn watching_pipeline(
    app: &TestApp,
    producer: &TestUser,
    job: uuid::Uuid,
) -> Socket {
    let mut socket = connect(app, TRANSPORT_WS, producer).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "1",
        PIPELINE,
        json!({ "job": job }),
    )
    .await;
    until_subscribed(app, 1).await;
    socket
}

/// Waits until the hub holds `n` subscriptions, so a change made now is seen.
pub(crate) async fn until_subscribed(app: &TestApp, n: usize) {
    for _ in 0..100 {
        if app.live_subscriptions().await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the subscription never registered");
}

#[actix_web::test]
async fn a_producer_watching_the_pipeline_sees_an_application_arrive_and_move() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let mut socket = watching_pipeline(&app, &producer, job).await;

    let application = app.apply(&talent, job).await;
    let applied = next_event(&mut socket, "1").await;
    app.move_ok(&producer, application, "SHORTLISTED").await;
    let moved = next_event(&mut socket, "1").await;

    let event = &applied["data"]["applicationPipeline"];
    assert_eq!(event["kind"], "APPLIED");
    assert_eq!(event["jobId"], job.to_string());
    assert_eq!(event["application"]["id"], application.to_string());
    assert_eq!(event["application"]["talent"]["stageName"], "Test Talent");
    let event = &moved["data"]["applicationPipeline"];
    assert_eq!(event["kind"], "MOVED");
    assert_eq!(event["fromStage"], "APPLIED");
    assert_eq!(event["toStage"], "SHORTLISTED");
    assert_eq!(event["application"]["stage"], "SHORTLISTED");
}

#[actix_web::test]
async fn a_talent_on_the_legacy_protocol_sees_their_application_move_and_the_job_close() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    let mut socket = connect(&app, LEGACY_WS, &talent).await;
    subscribe(&mut socket, LEGACY_WS, "7", MY_UPDATES, json!({})).await;
    until_subscribed(&app, 1).await;

    app.move_ok(&producer, application, "SHORTLISTED").await;
    let moved = next_change(&mut socket, "7", "myApplicationUpdates").await;
    app.job_mutation(&producer, "closeJob", job).await;
    let closed = next_change(&mut socket, "7", "myApplicationUpdates").await;

    let event = &moved;
    assert_eq!(event["kind"], "MOVED");
    assert_eq!(event["application"]["id"], application.to_string());
    assert_eq!(event["toStage"], "SHORTLISTED");
    let event = &closed;
    assert_eq!(event["kind"], "JOB_CLOSED");
    assert_eq!(event["jobId"], job.to_string());
    assert_eq!(event["application"], Value::Null);
}

#[actix_web::test]
async fn another_producers_pipeline_is_forbidden() {
    let app = spawn_app().await;
    let owner = app.producer().await;
    let other = app.producer().await;
    let job = app.open_job(&owner).await;
    let mut socket = connect(&app, TRANSPORT_WS, &other).await;

    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "1",
        PIPELINE,
        json!({ "job": job }),
    )
    .await;
    let message = next_message(&mut socket, Duration::from_secs(5))
        .await
        .expect("an answer");

    assert_eq!(refusal_code(&message), Some("FORBIDDEN"), "{message}");
}

#[actix_web::test]
async fn a_connection_without_a_token_gets_no_acknowledgement() {
    let app = spawn_app().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut socket = open(&app, protocol, json!({})).await;
        let answer = next_message(&mut socket, Duration::from_secs(3)).await;
        assert_ne!(
            answer.as_ref().and_then(|m| m["type"].as_str()),
            Some("connection_ack"),
            "{protocol}: {answer:?}"
        );
    }
}

#[actix_web::test]
async fn a_bad_token_never_gets_an_acknowledgement() {
    let app = spawn_app().await;
    for payload in [
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({ "token": "still.not.valid" }),
    ] {
        for protocol in [TRANSPORT_WS, LEGACY_WS] {
            let mut socket = open(&app, protocol, payload.clone()).await;
            let answer = next_message(&mut socket, Duration::from_secs(3)).await;
            assert_ne!(
                answer.as_ref().and_then(|m| m["type"].as_str()),
                Some("connection_ack"),
                "{protocol}: {answer:?}"
            );
        }
    }
}

#[actix_web::test]
async fn a_logged_out_token_is_refused_at_connection_init() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    app.gql_ok(
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({ "t": talent.refresh_token }),
        None,
    )
    .await;

    let mut socket = open(&app, TRANSPORT_WS, json!({ "token": talent.access_token })).await;
    let answer = next_message(&mut socket, Duration::from_secs(3)).await;

    assert_ne!(
        answer.as_ref().and_then(|m| m["type"].as_str()),
        Some("connection_ack")
    );
}

#[actix_web::test]
async fn completing_a_subscription_stops_its_events() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut socket = watching_pipeline(&app, &producer, job).await;
    let first = app.talent().await;
    app.apply(&first, job).await;
    next_event(&mut socket, "1").await;

    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    for _ in 0..100 {
        if app.live_subscriptions().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = app.talent().await;
    app.apply(&second, job).await;

    assert_eq!(app.live_subscriptions().await, 0);
    // The server may confirm with `complete`; no further event may arrive.
    while let Some(message) = next_message(&mut socket, Duration::from_secs(2)).await {
        assert_eq!(
            message["type"], "complete",
            "an event after complete: {message}"
        );
    }
}

#[actix_web::test]
async fn every_change_writes_one_outbox_event_in_its_transaction() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    app.move_ok(&producer, application, "SHORTLISTED").await;
    // A refused move writes nothing.
    app.move_application(&producer, application, "HIRED").await;

    // Registration writes its verification mail and the profile its match-index event too;
    // this test is about the pipeline.
    let kinds = app
        .sql_values(
            "SELECT kind AS value FROM outbox_events WHERE kind NOT IN \
             ('AUDIT', 'EMAIL_VERIFICATION_REQUESTED', 'TALENT_PROFILE_CHANGED') ORDER BY seq",
        )
        .await;

    assert_eq!(
        kinds,
        vec!["JOB_PUBLISHED", "APPLICATION_CREATED", "APPLICATION_MOVED"]
    );
}

#[actix_web::test]
async fn events_cross_instances_sharing_postgres_and_redis() {
    let a = spawn_app().await;
    let b = crate::helpers::spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let talent = b.talent().await;
    let job = a.open_job(&producer).await;
    let mut producer_socket = connect(&a, TRANSPORT_WS, &producer).await;
    subscribe(
        &mut producer_socket,
        TRANSPORT_WS,
        "p",
        PIPELINE,
        json!({ "job": job }),
    )
    .await;
    let mut talent_socket = connect(&b, LEGACY_WS, &talent).await;
    subscribe(&mut talent_socket, LEGACY_WS, "t", MY_UPDATES, json!({})).await;
    until_subscribed(&a, 1).await;
    until_subscribed(&b, 1).await;

    let application = b.apply(&talent, job).await;
    let applied = next_event(&mut producer_socket, "p").await;
    let seen_by_talent = next_event(&mut talent_socket, "t").await;
    a.move_ok(&producer, application, "SHORTLISTED").await;
    let seen_by_producer = next_event(&mut producer_socket, "p").await;

    assert_eq!(applied["data"]["applicationPipeline"]["kind"], "APPLIED");
    assert_eq!(
        applied["data"]["applicationPipeline"]["application"]["id"],
        application.to_string()
    );
    assert_eq!(
        seen_by_talent["data"]["myApplicationUpdates"]["kind"],
        "APPLIED"
    );
    let moved = next_change(&mut talent_socket, "t", "myApplicationUpdates").await;
    assert_eq!(moved["kind"], "MOVED");
    assert_eq!(moved["toStage"], "SHORTLISTED");
    assert_eq!(
        seen_by_producer["data"]["applicationPipeline"]["kind"],
        "MOVED"
    );
    // Each event arrives once on each instance.
    assert_eq!(
        next_message(&mut producer_socket, Duration::from_secs(1)).await,
        None
    );
}

#[actix_web::test]
async fn metrics_show_open_websockets_live_subscriptions_and_the_outbox() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let _socket = watching_pipeline(&app, &producer, job).await;

    let response = app
        .client
        .get(app.ops_url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let status = response.status();
    let text = response.text().await.expect("a body");

    assert_eq!(status, 200);
    for line in [
        "castyou_websockets_open 1",
        "castyou_subscriptions_live 1",
        "castyou_outbox_backlog ",
        "castyou_actor_restarts_total{actor=\"relay\"} 0",
        "castyou_http_requests_total{status=\"200\"}",
        "castyou_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[actix_web::test]
async fn a_connection_holds_a_limited_number_of_subscriptions() {
    let app =
        crate::helpers::spawn_app_with(|s| s.realtime.max_subscriptions_per_connection = 2).await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut socket = connect(&app, TRANSPORT_WS, &producer).await;
    for id in ["1", "2"] {
        subscribe(
            &mut socket,
            TRANSPORT_WS,
            id,
            PIPELINE,
            json!({ "job": job }),
        )
        .await;
    }
    until_subscribed(&app, 2).await;

    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "3",
        PIPELINE,
        json!({ "job": job }),
    )
    .await;
    let refused = next_message(&mut socket, Duration::from_secs(5))
        .await
        .expect("an answer");
    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    let _ = next_message(&mut socket, Duration::from_secs(5)).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "4",
        PIPELINE,
        json!({ "job": job }),
    )
    .await;
    until_subscribed(&app, 2).await;
    let talent = app.talent().await;
    app.apply(&talent, job).await;
    let mut ids = Vec::new();
    while let Some(message) = next_message(&mut socket, Duration::from_secs(2)).await {
        if message["type"] == "next" {
            ids.push(message["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ids.sort();

    assert_eq!(refused["id"], "3", "{refused}");
    assert_eq!(refusal_code(&refused), Some("CONFLICT"), "{refused}");
    assert_eq!(ids, vec!["2", "4"]);
}

#[actix_web::test]
async fn pruning_deletes_only_old_delivered_outbox_events() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    app.open_job(&producer).await;
    app.sql(
        "INSERT INTO outbox_events (id, kind, payload, created_at, delivered_at, documented_at) VALUES
         (gen_random_uuid(), 'OLD_DELIVERED', '{}', now() - interval '40 days',
          now() - interval '30 days', now() - interval '30 days'),
         (gen_random_uuid(), 'OLD_WAITING', '{}', now() - interval '40 days', NULL, NULL)",
    )
    .await;
    let pool = castyou::db::build_pool(&app.settings.database).expect("a pool");
    let mut conn = pool.get().await.expect("a connection");

    let deleted = castyou::db::outbox::prune_delivered(
        &mut conn,
        chrono::Utc::now() - chrono::Duration::days(7),
        1000,
    )
    .await
    .expect("pruning");

    assert_eq!(deleted, 1);
    let kinds = app
        .sql_values("SELECT kind AS value FROM outbox_events WHERE kind <> 'AUDIT' ORDER BY seq")
        .await;
    assert!(!kinds.contains(&"OLD_DELIVERED".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"OLD_WAITING".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"JOB_PUBLISHED".to_string()), "{kinds:?}");
}
