//! The notification inbox, activity feed and audit log, made from committed events and stored
//! in the MongoDB-wire server; live over websockets on every instance.

use crate::helpers::{
    assert_error, assert_no_errors, spawn_app, spawn_app_with, spawn_with_settings, TestApp,
    TestUser,
};
use crate::subscriptions::{connect, next_message, subscribe, until_subscribed, TRANSPORT_WS};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

const INBOX: &str = "query($unread: Boolean, $first: Int, $after: String) {
    notifications(unreadOnly: $unread, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id kind title body data readAt createdAt } } } }";

/// Waits until the document consumer has handled every committed event.
pub(crate) async fn until_documented(app: &TestApp) {
    for _ in 0..300 {
        let waiting = app
            .sql_values(
                "SELECT count(*)::text AS value FROM outbox_events WHERE documented_at IS NULL",
            )
            .await;
        if waiting == ["0"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("events were not documented in time");
}

/// Every notification of `user`, newest first.
pub(crate) async fn inbox(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let data = app
        .gql_ok(INBOX, json!({ "first": 100 }), Some(&user.access_token))
        .await;
    data["notifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn of_kind<'a>(notifications: &'a [Value], kind: &str) -> Vec<&'a Value> {
    notifications.iter().filter(|n| n["kind"] == kind).collect()
}

async fn unread(app: &TestApp, user: &TestUser) -> i64 {
    app.gql_ok(
        "{ unreadNotificationCount }",
        json!({}),
        Some(&user.access_token),
    )
    .await["unreadNotificationCount"]
        .as_i64()
        .expect("a count")
}

async fn create_group(app: &TestApp, owner: &TestUser) -> Uuid {
    let data = app
        .gql_ok(
            r#"mutation { createTalentGroup(name: "The Understudies") { id } }"#,
            json!({}),
            Some(&owner.access_token),
        )
        .await;
    data["createTalentGroup"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

#[actix_web::test]
async fn each_kind_of_notification_is_made_once_per_recipient_with_its_text_and_data() {
    let app = spawn_app_with(|s| s.realtime.deadline_reminder_secs = 3600).await;
    let producer = app.producer().await;
    let (stays, leaves) = (app.talent().await, app.talent().await);
    let job = app.open_job(&producer).await;
    let kept = app.apply(&stays, job).await;
    let gone = app.apply(&leaves, job).await;
    app.move_ok(&producer, kept, "SHORTLISTED").await;
    assert_no_errors(
        &app.gql(
            "mutation($id: UUID!) { withdrawApplication(id: $id) { id } }",
            json!({ "id": gone }),
            Some(&leaves.access_token),
        )
        .await,
    );
    assert_no_errors(&app.job_mutation(&producer, "closeJob", job).await);
    // A second job whose deadline is inside the (one hour) reminder window.
    let soon = app
        .draft_job(&producer, chrono::Duration::minutes(30))
        .await;
    app.gql_ok(
        "mutation($id: UUID!) { publishJob(id: $id) { id } }",
        json!({ "id": soon }),
        Some(&producer.access_token),
    )
    .await;
    let group = create_group(&app, &stays).await;
    app.gql_ok(
        "mutation($g: UUID!, $t: UUID!) { inviteToGroup(groupId: $g, talentId: $t) { status } }",
        json!({ "g": group, "t": leaves.id }),
        Some(&stays.access_token),
    )
    .await;
    app.gql_ok(
        "mutation($g: UUID!) { acceptGroupInvite(groupId: $g) { status } }",
        json!({ "g": group }),
        Some(&leaves.access_token),
    )
    .await;
    for _ in 0..100 {
        let reminded = app
            .sql_values("SELECT count(*)::text AS value FROM outbox_events WHERE kind = 'DEADLINE_REMINDER'")
            .await;
        if reminded == ["1"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_documented(&app).await;

    // Redelivering every event stores nothing twice.
    app.sql("UPDATE outbox_events SET documented_at = NULL")
        .await;
    until_documented(&app).await;

    let to_producer = inbox(&app, &producer).await;
    let received = of_kind(&to_producer, "APPLICATION_RECEIVED");
    assert_eq!(received.len(), 2, "{to_producer:#?}");
    assert_eq!(received[0]["title"], "New application");
    assert!(received
        .iter()
        .all(|n| n["data"]["jobId"] == job.to_string()));
    let ids: Vec<&Value> = received
        .iter()
        .map(|n| &n["data"]["applicationId"])
        .collect();
    assert!(ids.contains(&&json!(kept.to_string())) && ids.contains(&&json!(gone.to_string())));
    let withdrawn = of_kind(&to_producer, "APPLICATION_WITHDRAWN");
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["data"]["applicationId"], gone.to_string());
    assert!(withdrawn[0]["body"].as_str().unwrap().contains("withdrew"));
    let closed = of_kind(&to_producer, "JOB_CLOSED");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["data"]["jobId"], job.to_string());
    let reminder = of_kind(&to_producer, "DEADLINE_REMINDER");
    assert_eq!(reminder.len(), 1, "{to_producer:#?}");
    assert_eq!(reminder[0]["data"]["jobId"], soon.to_string());
    assert_eq!(to_producer.len(), 5);

    let to_stays = inbox(&app, &stays).await;
    let moved = of_kind(&to_stays, "STAGE_CHANGED");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["body"], "You have been shortlisted for Lead role.");
    assert_eq!(moved[0]["data"]["applicationId"], kept.to_string());
    assert_eq!(moved[0]["data"]["stage"], "SHORTLISTED");
    assert_eq!(of_kind(&to_stays, "JOB_CLOSED").len(), 1, "still in play");
    let accepted = of_kind(&to_stays, "GROUP_INVITE_ACCEPTED");
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["data"]["groupId"], group.to_string());
    assert_eq!(to_stays.len(), 3);

    let to_leaves = inbox(&app, &leaves).await;
    assert_eq!(
        of_kind(&to_leaves, "JOB_CLOSED").len(),
        0,
        "withdrawn: not in play"
    );
    let invite = of_kind(&to_leaves, "GROUP_INVITE");
    assert_eq!(invite.len(), 1);
    assert_eq!(
        invite[0]["body"],
        "You are invited to join The Understudies."
    );
    assert_eq!(to_leaves.len(), 1);
}

#[actix_web::test]
async fn the_inbox_pages_newest_first_and_marks_only_its_owners_notifications_read() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other = app.producer().await;
    let job = app.open_job(&producer).await;
    for _ in 0..5 {
        let talent = app.talent().await;
        app.apply(&talent, job).await;
    }
    until_documented(&app).await;

    let first = app
        .gql_ok(INBOX, json!({ "first": 2 }), Some(&producer.access_token))
        .await;
    let page = &first["notifications"];
    assert_eq!(page["totalCount"], 5);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let mut seen: Vec<Value> = page["edges"].as_array().unwrap().clone();
    let mut after = page["pageInfo"]["endCursor"].clone();
    loop {
        let next = app
            .gql_ok(
                INBOX,
                json!({ "first": 2, "after": after }),
                Some(&producer.access_token),
            )
            .await;
        let page = &next["notifications"];
        seen.extend(page["edges"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 5);
    let times: Vec<&str> = seen
        .iter()
        .map(|e| e["node"]["createdAt"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let ids: Vec<String> = seen
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect();

    // Someone else's ids change nothing, and they never see them.
    let theirs = app
        .gql_ok(
            "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": ids }),
            Some(&other.access_token),
        )
        .await;
    assert_eq!(theirs["markNotificationsRead"], 0);
    assert!(inbox(&app, &other).await.is_empty());
    assert_eq!(unread(&app, &producer).await, 5);

    let mine = app
        .gql_ok(
            "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": &ids[..2] }),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(mine["markNotificationsRead"], 2);
    assert_eq!(unread(&app, &producer).await, 3);
    let unread_page = app
        .gql_ok(
            INBOX,
            json!({ "unread": true }),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(unread_page["notifications"]["totalCount"], 3);
    let rest = app
        .gql_ok(
            "mutation { markNotificationsRead(all: true) }",
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(rest["markNotificationsRead"], 3);
    assert_eq!(unread(&app, &producer).await, 0);
    assert!(inbox(&app, &producer)
        .await
        .iter()
        .all(|n| n["readAt"].is_string()));

    let neither = app
        .gql(
            "mutation { markNotificationsRead }",
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    assert_error(&neither, "BAD_USER_INPUT");
    let anonymous = app
        .gql("{ unreadNotificationCount }", json!({}), None)
        .await;
    assert_error(&anonymous, "UNAUTHENTICATED");
    let bad_cursor = app
        .gql(
            INBOX,
            json!({ "after": "nope" }),
            Some(&producer.access_token),
        )
        .await;
    assert_error(&bad_cursor, "BAD_USER_INPUT");
}

#[actix_web::test]
async fn the_bell_and_the_new_notification_arrive_live_on_another_instance() {
    let a = spawn_app().await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let talent = a.talent().await;
    let job = a.open_job(&producer).await;

    let mut socket = connect(&b, TRANSPORT_WS, &producer).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "bell",
        "subscription { unreadNotificationCount }",
        json!({}),
    )
    .await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "inbox",
        "subscription { notifications { id kind title body data } }",
        json!({}),
    )
    .await;
    until_subscribed(&b, 2).await;

    let application = a.apply(&talent, job).await;
    let mut bell = Vec::new();
    let mut pushed = None;
    while pushed.is_none() || bell.last() != Some(&json!(1)) {
        let message = next_message(&mut socket, Duration::from_secs(10))
            .await
            .expect("live messages");
        match message["id"].as_str() {
            Some("bell") => {
                bell.push(message["payload"]["data"]["unreadNotificationCount"].clone())
            }
            Some("inbox") => pushed = Some(message["payload"]["data"]["notifications"].clone()),
            _ => panic!("unexpected {message}"),
        }
    }
    assert_eq!(
        bell.first(),
        Some(&json!(0)),
        "the current count comes first: {bell:?}"
    );
    let pushed = pushed.expect("the notification");
    assert_eq!(pushed["kind"], "APPLICATION_RECEIVED");
    assert_eq!(pushed["data"]["applicationId"], application.to_string());
    // Pushed only once stored: it is in the inbox.
    let stored = inbox(&a, &producer).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["id"], pushed["id"]);

    // Marking it read (through A) lowers the bell on B.
    a.gql_ok(
        "mutation { markNotificationsRead(all: true) }",
        json!({}),
        Some(&producer.access_token),
    )
    .await;
    let lowered = next_message(&mut socket, Duration::from_secs(10))
        .await
        .expect("the new count");
    assert_eq!(lowered["id"], "bell");
    assert_eq!(lowered["payload"]["data"]["unreadNotificationCount"], 0);
}

#[actix_web::test]
async fn notifications_made_while_a_user_was_offline_are_all_in_the_inbox() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    // The talent has no connection while the producer moves the application along.
    for stage in ["SHORTLISTED", "AUDITION", "CALLBACK", "OFFERED", "HIRED"] {
        app.move_ok(&producer, application, stage).await;
    }
    until_documented(&app).await;
    let notifications = inbox(&app, &talent).await;
    let stages: Vec<&str> = notifications
        .iter()
        .map(|n| n["data"]["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["HIRED", "OFFERED", "CALLBACK", "AUDITION", "SHORTLISTED"]
    );
    assert_eq!(
        notifications[0]["body"],
        "Congratulations: you have been cast in Lead role."
    );
    assert_eq!(unread(&app, &talent).await, 5);
}

/// A MongoDB-wire server of this test's own (nx-27017 from the project venv), on a free port,
/// keeping its data on disk so it survives a restart; killed when dropped.
pub(crate) struct OwnMongo {
    pub(crate) port: u16,
    dir: std::path::PathBuf,
    child: Child,
}

impl OwnMongo {
    fn binary() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".data/venv/bin/nx-27017")
    }

    async fn start_on(port: u16, dir: std::path::PathBuf) -> OwnMongo {
        std::fs::create_dir_all(&dir).expect("a data folder");
        let mut child = Command::new(Self::binary())
            .args(["--host", "127.0.0.1", "-p", &port.to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .arg("--log-file")
            .arg(dir.join("log"))
            .arg("--pid-file")
            .arg(dir.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nx-27017 (scripts/services.sh installs it)");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return OwnMongo { port, dir, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nx-27017 did not come up on port {port}");
    }

    pub(crate) async fn start() -> OwnMongo {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("castyou-mongo-{}", Uuid::new_v4().simple()));
        OwnMongo::start_on(port, dir).await
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) async fn restart(mut self) -> OwnMongo {
        self.stop();
        let (port, dir) = (self.port, std::mem::take(&mut self.dir));
        std::mem::forget(self);
        OwnMongo::start_on(port, dir).await
    }
}

impl Drop for OwnMongo {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[actix_web::test]
async fn with_mongodb_stopped_during_a_burst_every_notification_arrives_exactly_once() {
    let mut mongo = OwnMongo::start().await;
    let uri = format!("mongodb://127.0.0.1:{}", mongo.port);
    let app = spawn_app_with(|s| s.mongodb.uri = uri.clone().into()).await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut talents = Vec::new();
    for _ in 0..8 {
        talents.push(app.talent().await);
    }
    for talent in &talents[..3] {
        app.apply(talent, job).await;
    }
    until_documented(&app).await;

    mongo.stop();
    for talent in &talents[3..] {
        app.apply(talent, job).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = app
        .sql_values("SELECT count(*)::text AS value FROM outbox_events WHERE documented_at IS NULL")
        .await;
    assert_ne!(
        waiting,
        ["0"],
        "events wait in the outbox while MongoDB is down"
    );

    let _mongo = mongo.restart().await;
    until_documented(&app).await;
    let notifications = inbox(&app, &producer).await;
    let received = of_kind(&notifications, "APPLICATION_RECEIVED");
    assert_eq!(received.len(), 8, "{notifications:#?}");
    let mut by_application: HashMap<String, usize> = HashMap::new();
    for n in &received {
        *by_application
            .entry(n["data"]["applicationId"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(by_application.len(), 8);
    assert!(by_application.values().all(|&n| n == 1));
}

#[actix_web::test]
async fn the_activity_feed_shows_what_happened_around_a_user_newest_first() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let bystander = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    app.move_ok(&producer, application, "SHORTLISTED").await;
    until_documented(&app).await;

    let feed = |user: &TestUser| {
        let token = user.access_token.clone();
        let app = &app;
        async move {
            app.gql_ok(
                "{ activityFeed(first: 10) { edges { node { verb actor { id } objectType objectId summary at } } } }",
                json!({}),
                Some(&token),
            )
            .await["activityFeed"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .collect::<Vec<_>>()
        }
    };
    let producers = feed(&producer).await;
    let verbs: Vec<&str> = producers
        .iter()
        .map(|e| e["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["MOVED", "APPLIED", "PUBLISHED"]);
    assert_eq!(producers[0]["actor"]["id"], producer.id.to_string());
    assert_eq!(producers[0]["objectId"], application.to_string());
    assert_eq!(producers[1]["actor"]["id"], talent.id.to_string());
    let talents = feed(&talent).await;
    let verbs: Vec<&str> = talents
        .iter()
        .map(|e| e["verb"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["MOVED", "APPLIED"]);
    assert!(feed(&bystander).await.is_empty());
}

#[actix_web::test]
async fn the_audit_log_records_actions_and_sign_ins_without_secrets_for_admins_only() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    app.move_ok(&producer, application, "SHORTLISTED").await;
    let failed = app.login(&talent.email, "not the password", None).await;
    assert_error(&failed, "UNAUTHENTICATED");
    // A refresh token used twice: the second use is reuse.
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";
    app.gql_ok(refresh, json!({ "t": producer.refresh_token }), None)
        .await;
    app.gql(refresh, json!({ "t": producer.refresh_token }), None)
        .await;
    until_documented(&app).await;

    let query = "query($actor: UUID, $object: String) { auditLog(actorId: $actor, objectId: $object, first: 100) {
        edges { node { actor { id } action objectType objectId summary ip userAgent requestId at } } } }";
    let log = app
        .gql_ok(query, json!({}), Some(&admin.access_token))
        .await;
    let entries: Vec<Value> = log["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "REGISTERED",
        "UPSERT_PRODUCER_PROFILE",
        "CREATE_JOB",
        "PUBLISH_JOB",
        "APPLY_TO_JOB",
        "MOVE_APPLICATION",
        "LOGIN_FAILED",
        "LOGIN_SUCCEEDED",
        "TOKEN_REFRESHED",
        "REFRESH_REUSE_DETECTED",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let moved = entries
        .iter()
        .find(|e| e["action"] == "MOVE_APPLICATION")
        .unwrap();
    assert_eq!(moved["actor"]["id"], producer.id.to_string());
    assert_eq!(moved["objectType"], "Application");
    assert_eq!(moved["objectId"], application.to_string());
    assert!(moved["summary"].as_str().unwrap().contains("SHORTLISTED"));
    assert_eq!(moved["ip"], "127.0.0.1");
    assert!(moved["requestId"].is_string());
    let failed = entries
        .iter()
        .find(|e| e["action"] == "LOGIN_FAILED")
        .unwrap();
    assert!(failed["actor"].is_null());
    assert_eq!(failed["objectId"], talent.email);

    // Newest first, and filters by actor and object.
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    let by_object = app
        .gql_ok(
            query,
            json!({ "object": application.to_string() }),
            Some(&admin.access_token),
        )
        .await;
    let objects: Vec<&Value> = by_object["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(!objects.is_empty());
    assert!(objects
        .iter()
        .all(|e| e["node"]["objectId"] == application.to_string()));

    // Nothing secret is stored: not the passwords, not the tokens.
    let everything = serde_json::to_string(&entries).unwrap();
    for secret in [
        producer.password.as_str(),
        "not the password",
        producer.refresh_token.as_str(),
        producer.access_token.as_str(),
        talent.refresh_token.as_str(),
    ] {
        assert!(!everything.contains(secret), "a secret in the audit log");
    }
    assert!(everything.contains("[redacted]") || !everything.contains("password"));

    // (The producer's session ended with the reuse; another producer asks.)
    let other_producer = app.producer().await;
    for user in [&other_producer, &talent] {
        let refused = app.gql(query, json!({}), Some(&user.access_token)).await;
        assert_error(&refused, "FORBIDDEN");
    }
    assert_error(&app.gql(query, json!({}), None).await, "UNAUTHENTICATED");
}
