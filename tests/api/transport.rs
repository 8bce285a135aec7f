//! The websocket transport itself: protocol negotiation, the init timeout, and backpressure:
//! a subscriber that stops reading is cut off while the others carry on.

use crate::helpers::{rss_kib, spawn_app, spawn_app_with, TestApp};
use crate::subscriptions::{
    connect, next_message, send, subscribe, until_subscribed, Socket, LEGACY_WS, TRANSPORT_WS,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

fn request(
    app: &TestApp,
    protocol: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("ws://127.0.0.1:{}/graphql", app.port)
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).expect("a header"),
    );
    request
}

#[actix_web::test]
async fn the_server_answers_with_the_protocol_it_speaks() {
    let app = spawn_app().await;
    for (offered, chosen) in [
        (TRANSPORT_WS, TRANSPORT_WS),
        (LEGACY_WS, LEGACY_WS),
        ("chat, graphql-transport-ws", TRANSPORT_WS),
    ] {
        let (_socket, response) = tokio_tungstenite::connect_async(request(&app, offered))
            .await
            .expect("connecting");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.as_bytes()),
            Some(chosen.as_bytes()),
            "offered {offered}"
        );
    }
    let refused = tokio_tungstenite::connect_async(request(&app, "chat")).await;
    assert!(refused.is_err(), "no GraphQL protocol offered: {refused:?}");
}

/// The close frame the server ends `socket` with, if it does within `wait`.
async fn close_frame(socket: &mut Socket, wait: Duration) -> Option<(CloseCode, String)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??
        {
            Ok(Message::Close(frame)) => {
                return frame.map(|f| (f.code, f.reason.to_string()));
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[actix_web::test]
async fn a_connection_that_never_initialises_is_closed_after_the_init_timeout() {
    let app = spawn_app_with(|s| s.realtime.ws_init_timeout_secs = 1).await;
    let (mut silent, _) = tokio_tungstenite::connect_async(request(&app, TRANSPORT_WS))
        .await
        .expect("connecting");
    let started = std::time::Instant::now();
    let frame = close_frame(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(
        frame,
        Some((
            CloseCode::from(4408),
            "Connection initialisation timeout".to_string()
        ))
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // An acknowledged connection outlives the timeout.
    let producer = app.producer().await;
    let mut socket = connect(&app, TRANSPORT_WS, &producer).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_pong(&mut socket).await;
}

/// Sends a protocol ping and expects the next frame to be its pong.
async fn assert_pong(socket: &mut Socket) {
    send(socket, json!({ "type": "ping" })).await;
    let pong = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an answer")
        .expect("a frame")
        .expect("a message");
    assert_eq!(
        pong,
        Message::Text(json!({ "type": "pong" }).to_string().into())
    );
}

/// Events of about 5 KiB each (the application's cover note is 5,000 characters), so a few
/// thousand of them are more than the kernel's socket buffers hold.
const EVENTS: &str = "subscription($job: UUID!) {
    applicationPipeline(jobId: $job) { kind at application { coverNote } } }";

/// A producer's socket that reads at most a few KiB at a time from the kernel, so the server
/// cannot park much in socket buffers once it stops reading.
async fn narrow_socket(app: &TestApp) -> Socket {
    let tcp = tokio::net::TcpSocket::new_v4().expect("a socket");
    tcp.set_recv_buffer_size(4096).expect("a receive buffer");
    let stream = tcp
        .connect(
            format!("127.0.0.1:{}", app.port)
                .parse()
                .expect("an address"),
        )
        .await
        .expect("connecting");
    let (socket, _) = tokio_tungstenite::client_async(
        request(app, TRANSPORT_WS),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("a websocket");
    socket
}

#[actix_web::test]
async fn a_subscriber_that_stops_reading_is_cut_off_and_the_others_get_every_event() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let applied = app
        .gql_ok(
            "mutation($j: UUID!, $note: String) { applyToJob(jobId: $j, coverNote: $note) { id } }",
            json!({ "j": job, "note": "n".repeat(5000) }),
            Some(&talent.access_token),
        )
        .await;
    let application = applied["applyToJob"]["id"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a uuid");

    let mut fast = connect(&app, TRANSPORT_WS, &producer).await;
    subscribe(
        &mut fast,
        TRANSPORT_WS,
        "fast",
        EVENTS,
        json!({ "job": job }),
    )
    .await;
    let mut slow = narrow_socket(&app).await;
    send(
        &mut slow,
        json!({ "type": "connection_init",
                "payload": { "Authorization": format!("Bearer {}", producer.access_token) } }),
    )
    .await;
    let ack = next_message(&mut slow, Duration::from_secs(5)).await;
    assert_eq!(
        ack.as_ref().map(|m| m["type"].clone()),
        Some(json!("connection_ack"))
    );
    subscribe(
        &mut slow,
        TRANSPORT_WS,
        "slow",
        EVENTS,
        json!({ "job": job }),
    )
    .await;
    until_subscribed(&app, 2).await;

    // One real move gives an event to copy; then bursts of copies, each with a later `at`, go
    // through the outbox as any committed event does. The fast client reads each burst before
    // the next is written; the slow one reads nothing.
    app.move_ok(&producer, application, "SHORTLISTED").await;
    let first = next_message(&mut fast, Duration::from_secs(10))
        .await
        .expect("the move");
    assert_eq!(
        first["payload"]["data"]["applicationPipeline"]["kind"], "MOVED",
        "{first}"
    );
    let (bursts, burst) = (40, 100);
    let mut last_at = String::new();
    for b in 0..bursts {
        app.sql(&format!(
            "INSERT INTO outbox_events (id, kind, job_id, payload)
             SELECT gen_random_uuid(), kind, job_id,
                    jsonb_set(payload, '{{at}}',
                              to_jsonb(to_char(TIMESTAMPTZ '2030-01-01 00:00:00Z'
                                                 + make_interval(secs => {b} * {burst} + n),
                                               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))
             FROM outbox_events, generate_series(1, {burst}) AS n
             WHERE seq = (SELECT min(seq) FROM outbox_events
                          WHERE job_id = '{job}' AND kind = 'APPLICATION_MOVED')
             ORDER BY n"
        ))
        .await;
        for _ in 0..burst {
            let message = next_message(&mut fast, Duration::from_secs(10))
                .await
                .expect("every event reaches the fast subscriber");
            let event = &message["payload"]["data"]["applicationPipeline"];
            let at = event["at"].as_str().expect("a time").to_string();
            assert!(at > last_at, "in order: {at} after {last_at}");
            last_at = at;
        }
    }

    // The slow client now reads what was queued for it: fewer events than were sent, then the
    // error that cut it off, then `complete`; its connection is still usable.
    let mut received = 0;
    let cut_off = loop {
        let message = next_message(&mut slow, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("the slow socket ended after {received} events"));
        if message["payload"].get("errors").is_some() {
            break message;
        }
        assert_eq!(message["type"], "next", "{message}");
        received += 1;
    };
    assert!(
        received < bursts * burst,
        "the slow subscriber was cut off, got {received}"
    );
    assert_eq!(cut_off["id"], "slow");
    assert_eq!(
        cut_off["payload"]["errors"][0]["extensions"]["code"], "CONFLICT",
        "{cut_off}"
    );
    let complete = next_message(&mut slow, Duration::from_secs(5)).await;
    assert_eq!(complete, Some(json!({ "id": "slow", "type": "complete" })));
    assert_eq!(
        app.live_subscriptions().await,
        1,
        "only the fast subscription is live"
    );
}

#[actix_web::test]
async fn queries_and_mutations_are_refused_over_websockets_in_both_protocols() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.draft_job(&producer, chrono::Duration::days(7)).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut socket = connect(&app, protocol, &producer).await;
        subscribe(
            &mut socket,
            protocol,
            "m",
            "mutation($id: UUID!) { publishJob(id: $id) { status } }",
            json!({ "id": job }),
        )
        .await;
        let refusal = next_message(&mut socket, Duration::from_secs(5))
            .await
            .expect("an answer");
        assert_eq!(refusal["type"], "error", "{refusal}");
        assert_eq!(refusal["id"], "m");
        let code = if protocol == TRANSPORT_WS {
            &refusal["payload"][0]["extensions"]["code"]
        } else {
            &refusal["payload"]["extensions"]["code"]
        };
        assert_eq!(code, "GRAPHQL_VALIDATION_FAILED", "{refusal}");
        // The connection stays usable for subscriptions.
        subscribe(&mut socket, protocol, "s", EVENTS, json!({ "job": job })).await;
        until_subscribed(&app, 1).await;
    }
    let status = app
        .sql_values(&format!(
            "SELECT status::text AS value FROM jobs WHERE id = '{job}'"
        ))
        .await;
    assert_eq!(status, ["DRAFT"], "the mutation never ran");
}

/// The status a refused websocket handshake was answered with.
async fn refused_status(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

#[actix_web::test]
async fn upgrades_are_checked_like_the_http_routes_before_the_handshake() {
    let app = spawn_app_with(|s| {
        s.application.cors_allowed_origins =
            vec!["https://app.castyou.test".parse().expect("an origin")];
    })
    .await;

    // Only /graphql upgrades.
    let mut elsewhere = format!("ws://127.0.0.1:{}/healthz", app.port)
        .into_client_request()
        .expect("a request");
    elsewhere.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(TRANSPORT_WS),
    );
    assert_eq!(refused_status(elsewhere).await, 404);

    // A browser page from an origin off the CORS allowlist is refused; one on it is served,
    // and so is a client that sends no origin (a native app).
    let mut foreign = request(&app, TRANSPORT_WS);
    foreign
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("https://evil.example"));
    assert_eq!(refused_status(foreign).await, 403);
    let mut ours = request(&app, TRANSPORT_WS);
    ours.headers_mut().insert(
        "Origin",
        HeaderValue::from_static("https://app.castyou.test"),
    );
    let (_socket, response) = tokio_tungstenite::connect_async(ours)
        .await
        .expect("an allowed origin connects");
    assert_eq!(response.status().as_u16(), 101);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(
        request_id.is_some_and(|id| uuid::Uuid::parse_str(&id).is_ok()),
        "the handshake answer carries a request id: {:?}",
        response.headers()
    );

    // The handshakes are counted with the other requests.
    let metrics = app
        .client
        .get(app.ops_url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("a body");
    for status in ["101", "403", "404"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("castyou_http_requests_total")
                    && l.contains(&format!("status=\"{status}\""))),
            "{status} counted:\n{metrics}"
        );
    }

    // Plain HTTP on the same listener still passes the middleware.
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(
        health
            .headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
}

#[actix_web::test]
async fn a_server_that_stops_closes_its_sockets_as_going_away() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut socket = connect(&app, TRANSPORT_WS, &producer).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "s",
        EVENTS,
        json!({ "job": job }),
    )
    .await;
    until_subscribed(&app, 1).await;

    let started = std::time::Instant::now();
    let stopped = app.stop_gracefully();
    let (frame, ()) = tokio::join!(close_frame(&mut socket, Duration::from_secs(10)), stopped);
    assert_eq!(frame.map(|(code, _)| code), Some(CloseCode::Away));
    assert!(
        started.elapsed() < Duration::from_secs(app.settings.application.shutdown_timeout_secs),
        "the open socket did not hold the shutdown up to its timeout: {:?}",
        started.elapsed()
    );
}

/// A raw client: the handshake for `protocol` written and its answer read, nothing more read
/// after it (the kernel's receive buffer kept small, so the server's answers pile up on its
/// side).
async fn raw_socket(app: &TestApp, protocol: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpSocket::new_v4().expect("a socket");
    tcp.set_recv_buffer_size(4096).expect("a receive buffer");
    let mut stream = tcp
        .connect(
            format!("127.0.0.1:{}", app.port)
                .parse()
                .expect("an address"),
        )
        .await
        .expect("connecting");
    let handshake = format!(
        "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
    );
    stream
        .write_all(handshake.as_bytes())
        .await
        .expect("the handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.expect("the answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Streams masked, empty pings at `socket` without reading anything, for at most `limit`:
/// how long until the server closed the connection (a write failed), or None.
async fn flood_pings(socket: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncWriteExt;
    // FIN + ping, masked, no payload, and its 4-byte mask: 6 bytes each.
    let ping = [0x89u8, 0x80, 0x12, 0x34, 0x56, 0x78];
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1024)
        .collect();
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        match tokio::time::timeout(Duration::from_millis(200), socket.write_all(&batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Some(started.elapsed()),
            // The server is not reading right now: keep trying until the limit.
            Err(_) => {}
        }
    }
    None
}

#[actix_web::test]
async fn an_unauthenticated_socket_streaming_pings_is_closed_by_its_init_deadline_in_bounded_memory(
) {
    // Only the init deadline and the bound on unsent bytes can stop this client: its message
    // rate is allowed.
    let app = spawn_app_with(|s| {
        s.realtime.ws_init_timeout_secs = 2;
        s.realtime.ws_messages_per_sec = 1_000_000_000;
        s.realtime.ws_message_burst = 1_000_000_000;
    })
    .await;
    let before = rss_kib();
    let mut socket = raw_socket(&app, TRANSPORT_WS).await;
    let closed = flood_pings(&mut socket, Duration::from_secs(20)).await;
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    let closed = closed.expect("the server still had the socket open after 20 s of pings");
    assert!(
        closed < Duration::from_millis(3_500),
        "closed only after {closed:?}; the init deadline is 2 s"
    );
    assert!(
        grown_mib < 64,
        "the server's memory grew by {grown_mib} MiB"
    );
    assert_still_serving(&app).await;
}

#[actix_web::test]
async fn a_socket_over_its_message_rate_is_closed_with_policy_violation() {
    let app = spawn_app_with(|s| {
        s.realtime.ws_messages_per_sec = 10;
        s.realtime.ws_message_burst = 20;
    })
    .await;
    let producer = app.producer().await;
    let mut socket = connect(&app, TRANSPORT_WS, &producer).await;
    // Pings are control frames; they count like any message.
    for _ in 0..40 {
        if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
            break;
        }
    }
    let frame = close_frame(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(
        frame,
        Some((CloseCode::Policy, "too many messages".to_string()))
    );

    // Within the rate, a client is served.
    let mut calm = connect(&app, TRANSPORT_WS, &producer).await;
    for _ in 0..5 {
        assert_pong(&mut calm).await;
    }
}

async fn assert_still_serving(app: &TestApp) {
    let body = app.gql("{ requestId }", json!({}), None).await;
    assert!(body["data"]["requestId"].is_string(), "{body}");
}
