//! Cohorts: subscribers with the same operation, variables and viewer share one execution per
//! event; everyone still gets exactly their own selection, and nobody shares with a viewer who
//! may see something else. Sockets leave nothing behind when they close.

use crate::helpers::{rss_kib, spawn_app_with, TestApp, TestUser};
use crate::subscriptions::{
    connect, next_message, refusal_code, subscribe, until_subscribed, Socket, LEGACY_WS,
    TRANSPORT_WS,
};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

const SHARED: &str =
    "subscription($job: UUID!) { applicationPipeline(jobId: $job) { kind toStage } }";
const WIDER: &str = "subscription($job: UUID!) {
    applicationPipeline(jobId: $job) { kind jobId application { id stage } } }";

/// `n` sockets of `user`, each subscribed (id "s") to `query` with `variables`.
async fn subscribed(
    app: &TestApp,
    user: &TestUser,
    n: usize,
    query: &str,
    variables: Value,
) -> Vec<Socket> {
    let mut sockets = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(100) {
        let size = 100.min(n - chunk * 100);
        let opened = futures_util::future::join_all((0..size).map(|_| async {
            let mut socket = connect(app, TRANSPORT_WS, user).await;
            subscribe(&mut socket, TRANSPORT_WS, "s", query, variables.clone()).await;
            socket
        }))
        .await;
        sockets.extend(opened);
    }
    sockets
}

/// The `next` payloads `socket` gets within `wait`.
async fn payloads(socket: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Some(message) = next_message(socket, wait).await {
        if matches!(message["type"].as_str(), Some("next" | "data")) {
            got.push(message["payload"].clone());
        }
    }
    got
}

#[actix_web::test]
async fn a_thousand_sockets_share_one_execution_and_each_gets_its_own_selection() {
    let app = spawn_app_with(|s| {
        s.realtime.max_sockets_per_user = 5000;
        s.realtime.max_sockets_per_address = 5000;
    })
    .await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let other_job = app.open_job(&producer).await;

    let mut shared = subscribed(&app, &producer, 1000, SHARED, json!({ "job": job })).await;
    let mut legacy = connect(&app, LEGACY_WS, &producer).await;
    subscribe(&mut legacy, LEGACY_WS, "l", SHARED, json!({ "job": job })).await;
    let mut wider = connect(&app, TRANSPORT_WS, &producer).await;
    subscribe(&mut wider, TRANSPORT_WS, "w", WIDER, json!({ "job": job })).await;
    let mut elsewhere = connect(&app, TRANSPORT_WS, &producer).await;
    subscribe(
        &mut elsewhere,
        TRANSPORT_WS,
        "e",
        SHARED,
        json!({ "job": other_job }),
    )
    .await;
    until_subscribed(&app, 1003).await;
    assert_eq!(
        app.gauge("castyou_subscription_cohorts").await,
        3,
        "one execution for the 1,001 same subscriptions, one each for the other two"
    );

    let application = app.apply(&talent, job).await;
    let expected =
        json!({ "data": { "applicationPipeline": { "kind": "APPLIED", "toStage": "APPLIED" } } });
    for (i, socket) in shared.iter_mut().enumerate() {
        let message = next_message(socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("socket {i} got the event"));
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], "s");
        assert_eq!(message["payload"], expected, "socket {i}");
    }
    let message = next_message(&mut legacy, Duration::from_secs(10))
        .await
        .expect("the legacy socket got the event");
    assert_eq!(message["type"], "data", "{message}");
    assert_eq!(message["id"], "l");
    assert_eq!(message["payload"], expected);
    let message = next_message(&mut wider, Duration::from_secs(10))
        .await
        .expect("the wider selection got the event");
    assert_eq!(
        message["payload"],
        json!({ "data": { "applicationPipeline": {
            "kind": "APPLIED", "jobId": job,
            "application": { "id": application, "stage": "APPLIED" } } } })
    );
    assert_eq!(
        payloads(&mut elsewhere, Duration::from_millis(500)).await,
        Vec::<Value>::new(),
        "another job's subscribers get nothing"
    );

    // Every socket got the event once: nothing more is waiting.
    for socket in shared.iter_mut().take(20) {
        assert_eq!(
            payloads(socket, Duration::from_millis(50)).await,
            Vec::<Value>::new()
        );
    }

    // Leaving: the cohort lives while one member is left, and ends with the last.
    drop(shared);
    drop(legacy);
    for _ in 0..100 {
        if app.live_subscriptions().await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.live_subscriptions().await, 2);
    assert_eq!(app.gauge("castyou_subscription_cohorts").await, 2);
}

#[actix_web::test]
async fn viewers_who_may_see_differently_never_share_a_cohort() {
    let app = spawn_app_with(|_| {}).await;
    let producer = app.producer().await;
    let stranger = app.producer().await;
    let admin = app.admin().await;
    let talent = app.talent().await;
    let applicant = app.talent().await;
    let job = app.open_job(&producer).await;

    // The producer on two devices (two sessions), an admin, and two who may not watch.
    let second_device = {
        let data = app.login(&producer.email, &producer.password, None).await;
        let mut user = producer.clone();
        user.access_token = data["data"]["login"]["accessToken"]
            .as_str()
            .expect("a token")
            .to_string();
        user
    };
    let mut watchers = Vec::new();
    for user in [&producer, &second_device, &admin] {
        let mut socket = connect(&app, TRANSPORT_WS, user).await;
        subscribe(
            &mut socket,
            TRANSPORT_WS,
            "s",
            SHARED,
            json!({ "job": job }),
        )
        .await;
        watchers.push(socket);
    }
    let mut refused = Vec::new();
    for user in [&stranger, &talent] {
        let mut socket = connect(&app, TRANSPORT_WS, user).await;
        subscribe(
            &mut socket,
            TRANSPORT_WS,
            "s",
            SHARED,
            json!({ "job": job }),
        )
        .await;
        let answer = next_message(&mut socket, Duration::from_secs(5))
            .await
            .expect("an answer");
        assert_eq!(refusal_code(&answer), Some("FORBIDDEN"), "{answer}");
        let complete = next_message(&mut socket, Duration::from_secs(5)).await;
        assert_eq!(complete, Some(json!({ "id": "s", "type": "complete" })));
        refused.push(socket);
    }
    until_subscribed(&app, 3).await;
    assert_eq!(
        app.gauge("castyou_subscription_cohorts").await,
        2,
        "the producer's two devices share; the admin runs apart"
    );

    app.apply(&applicant, job).await;
    for socket in &mut watchers {
        let message = next_message(socket, Duration::from_secs(10))
            .await
            .expect("a watcher got the event");
        assert_eq!(
            message["payload"]["data"]["applicationPipeline"]["kind"],
            "APPLIED"
        );
    }
    for socket in &mut refused {
        assert_eq!(
            payloads(socket, Duration::from_millis(500)).await,
            Vec::<Value>::new(),
            "a refused subscriber never gets events"
        );
    }
}

/// The bytes the allocator has handed out and not had back, over all its arenas: what a leak
/// grows, unlike the resident memory, which also holds freed memory the allocator keeps.
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

/// Opens `n` sockets of `user` (50 at a time), each subscribed to its notifications and
/// acknowledged, and closes them.
async fn open_and_close(app: &TestApp, user: &TestUser, n: usize) {
    let mut opened = 0;
    while opened < n {
        let size = 50.min(n - opened);
        futures_util::future::join_all((0..size).map(|_| async {
            let mut socket = connect(app, TRANSPORT_WS, user).await;
            subscribe(
                &mut socket,
                TRANSPORT_WS,
                "n",
                "subscription { notifications { id } }",
                json!({}),
            )
            .await;
            let _ = socket.close(None).await;
            // Until the server's close answer, or the socket ends.
            while let Some(Ok(_)) = socket.next().await {}
        }))
        .await;
        opened += size;
    }
}

#[actix_web::test]
async fn opening_and_closing_ten_thousand_sockets_leaves_memory_where_it_started() {
    let app = spawn_app_with(|s| {
        s.realtime.max_sockets_per_user = 100;
        s.realtime.max_sockets_per_address = 100;
    })
    .await;
    let talent = app.talent().await;
    let settle = || async {
        for _ in 0..200 {
            if app.gauge("castyou_websockets_open").await == 0
                && app.live_subscriptions().await == 0
                && app.gauge("castyou_subscription_cohorts").await == 0
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("sockets, subscriptions or cohorts were left open");
    };

    // Warm up: allocator arenas, pools and caches reach their working size.
    open_and_close(&app, &talent, 2000).await;
    settle().await;
    let (heap_before, rss_before) = (heap_in_use(), rss_kib());
    open_and_close(&app, &talent, 10_000).await;
    settle().await;
    let (heap_after, rss_after) = (heap_in_use(), rss_kib());
    eprintln!(
        "heap in use {heap_before} -> {heap_after} bytes; RSS {rss_before} -> {rss_after} KiB"
    );

    // 10,000 connections keeping even 100 bytes each would hold 1 MB more.
    let grown = heap_after.saturating_sub(heap_before);
    assert!(
        grown < 1_000_000,
        "the heap grew {grown} bytes over 10,000 sockets ({heap_before} -> {heap_after})"
    );
}
