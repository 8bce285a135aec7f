//! Breaking things on purpose: Redis unreachable, or restarted and empty. Users should still be
//! served, and above all a revoked session must stay revoked whatever Redis remembers.

use crate::helpers::{
    assert_error, assert_every_error_has_a_code, assert_no_errors, spawn_app_with,
    spawn_app_without_redis, TestApp, TestUser,
};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

async fn logout(app: &TestApp, user: &TestUser) {
    let data = app
        .gql_ok(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": user.refresh_token }),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(data["logout"], true);
}

async fn me(app: &TestApp, user: &TestUser) -> serde_json::Value {
    app.gql("query { me { id } }", json!({}), Some(&user.access_token))
        .await
}

#[actix_web::test]
async fn without_redis_requests_are_still_served_and_errors_keep_their_codes() {
    let app = spawn_app_without_redis().await;

    let user = app.register("TALENT").await;
    let wrong = app.login(&user.email, "not the password", None).await;
    let mine = me(&app, &user).await;

    assert_error(&wrong, "UNAUTHENTICATED");
    assert_every_error_has_a_code(&wrong);
    assert_no_errors(&mine);
    assert_eq!(mine["data"]["me"]["id"], user.id.to_string());
}

#[actix_web::test]
async fn without_redis_a_logged_out_access_token_is_still_rejected() {
    let app = spawn_app_without_redis().await;
    let user = app.register("TALENT").await;

    logout(&app, &user).await;

    assert_error(&me(&app, &user).await, "UNAUTHENTICATED");
}

/// A redis-server of this test's own on a free port, killed when dropped.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    async fn start_on(port: u16) -> OwnRedis {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server (it must be on PATH)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return OwnRedis { port, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not come up on port {port}");
    }

    async fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        OwnRedis::start_on(port).await
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it: its port then refuses connections.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it and starts a fresh, empty one on the same port.
    async fn restart(mut self) -> OwnRedis {
        let port = self.port;
        let _ = self.child.kill();
        let _ = self.child.wait();
        OwnRedis::start_on(port).await
    }

    /// How many keys the server has written since this instance started.
    async fn key_count(&self) -> usize {
        let client = redis::Client::open(self.url()).expect("a redis URL");
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return 0;
        };
        redis::cmd("DBSIZE")
            .query_async::<usize>(&mut conn)
            .await
            .unwrap_or(0)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends requests until the server writes to the (restarted) Redis again.
async fn until_the_server_uses(app: &TestApp, redis: &OwnRedis) {
    for _ in 0..100 {
        let _ = app.gql("query { me { id } }", json!({}), None).await;
        if redis.key_count().await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never reconnected to Redis");
}

#[actix_web::test]
async fn a_logged_out_access_token_stays_rejected_after_redis_restarts_empty() {
    let redis = OwnRedis::start().await;
    let url = redis.url();
    let app = spawn_app_with(|settings| settings.redis.url = url.into()).await;
    let user = app.register("TALENT").await;
    logout(&app, &user).await;
    assert_error(&me(&app, &user).await, "UNAUTHENTICATED");

    let redis = redis.restart().await;
    until_the_server_uses(&app, &redis).await;

    assert_error(&me(&app, &user).await, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn a_session_revoked_while_redis_was_down_stays_revoked_once_redis_is_back() {
    let redis = OwnRedis::start().await;
    let url = redis.url();
    let app = spawn_app_with(|settings| settings.redis.url = url.into()).await;
    let user = app.register("TALENT").await;
    assert_no_errors(&me(&app, &user).await);
    let port = redis.port;
    drop(redis);

    logout(&app, &user).await;
    let redis = OwnRedis::start_on(port).await;
    until_the_server_uses(&app, &redis).await;

    assert_error(&me(&app, &user).await, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn pipeline_events_made_while_redis_is_down_arrive_once_it_returns() {
    use crate::subscriptions::{next_event, next_message, watching_pipeline};
    let redis = OwnRedis::start().await;
    let url = redis.url();
    let app = spawn_app_with(|s| s.redis.url = url.into()).await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let mut socket = watching_pipeline(&app, &producer, job).await;
    // Whatever was already on its way (the job's publication) is through before Redis goes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let port = redis.port;
    drop(redis);

    let application = app.apply(&talent, job).await;
    let during_outage = next_message(&mut socket, Duration::from_secs(2)).await;
    let waiting = app
        .row_count("outbox_events WHERE delivered_at IS NULL")
        .await;
    let _redis = OwnRedis::start_on(port).await;
    let event = next_event(&mut socket, "1").await;

    assert_eq!(
        during_outage, None,
        "nothing can be delivered while Redis is down"
    );
    assert_eq!(waiting, 1, "the event waits in the outbox");
    let event = &event["data"]["applicationPipeline"];
    assert_eq!(event["kind"], "APPLIED");
    assert_eq!(event["application"]["id"], application.to_string());
    assert_eq!(
        next_message(&mut socket, Duration::from_secs(2)).await,
        None,
        "delivered once"
    );
    assert_eq!(
        app.row_count("outbox_events WHERE delivered_at IS NULL")
            .await,
        0
    );
}

/// The codes of `n` logins with a wrong password from one client.
async fn wrong_logins(app: &TestApp, n: usize) -> Vec<String> {
    let mut codes = Vec::with_capacity(n);
    for i in 0..n {
        let body = app
            .login(&format!("nobody{i}@example.com"), "a wrong password", None)
            .await;
        codes.push(
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("none")
                .to_string(),
        );
    }
    codes
}

fn limited_after(codes: &[String], allowed: usize) {
    assert!(
        codes[..allowed].iter().all(|c| c == "UNAUTHENTICATED"),
        "{codes:?}"
    );
    assert!(
        codes[allowed..].iter().all(|c| c == "RATE_LIMITED"),
        "every attempt past the limit is refused: {codes:?}"
    );
}

#[actix_web::test]
async fn every_wrong_password_counts_while_redis_refuses_connections() {
    let mut redis = OwnRedis::start().await;
    let url = redis.url();
    let app = spawn_app_with(move |s| {
        s.redis.url = url.into();
        s.rate_limit.auth_max = 20;
        s.rate_limit.general_max = 1000;
    })
    .await;
    // Connected first, as a running server is; then Redis goes away.
    assert!(app.gql("{ requestId }", json!({}), None).await["data"].is_object());
    redis.stop();

    let codes = wrong_logins(&app, 25).await;
    limited_after(&codes, 20);
}

#[actix_web::test]
async fn every_wrong_password_counts_while_redis_hangs_and_answers_stay_quick() {
    // A "Redis" that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("an address").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let app = spawn_app_with(move |s| {
        s.redis.url = format!("redis://127.0.0.1:{port}").into();
        s.rate_limit.auth_max = 20;
        s.rate_limit.general_max = 1000;
    })
    .await;

    let started = std::time::Instant::now();
    let codes = wrong_logins(&app, 25).await;
    let took = started.elapsed();
    limited_after(&codes, 20);
    // A hung Redis is given up on quickly, not waited for at every request.
    assert!(took < Duration::from_secs(15), "25 logins took {took:?}");
    hold.abort();
}
