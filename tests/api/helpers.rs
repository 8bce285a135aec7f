//! `spawn_app()`: a server of our own per test, on port 0, with its own freshly migrated
//! PostgreSQL database (dropped afterwards) and its own Redis key prefix.

use castyou::configuration::{Environment, Settings};
use castyou::startup::Application;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The operators' listener (`/metrics`, detailed `/readyz`).
    pub ops_port: u16,
    pub settings: Settings,
    pub db_name: String,
    pub client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
    hub: actix::Addr<castyou_actors::NotificationHub>,
    pub pipelines: castyou::services::pipelines::Pipelines,
    pub matches: actix::Addr<castyou_actors::MatchIndex<castyou::db::models::Job>>,
    /// Resolves when the application has stopped, after what it does when stopping.
    stopped: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

/// A registered user and the tokens it got.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, with a chance to change the settings first.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let base = Settings::load_for(Environment::Test).expect("test settings");
    let db_name = format!("castyou_test_{}", Uuid::new_v4().simple());
    create_database(&base, &db_name).await;
    let mut settings = base.clone();
    settings.database = base.database.with_database(&db_name);
    settings.redis.key_prefix = format!("castyou-test:{}:", Uuid::new_v4().simple());
    settings.mongodb.database = db_name.clone();
    settings.application.port = 0;
    // An endpoint exported in the shell must not reach the tests; those that want one say so.
    settings.ai.base_url = None;
    settings.ai.api_key = None;
    customise(&mut settings);
    spawn_with_settings(settings, db_name).await
}

/// Like `spawn_app`, with Redis pointed at a port where nothing listens.
pub async fn spawn_app_without_redis() -> TestApp {
    spawn_app_with(|settings| {
        settings.redis.url = "redis://127.0.0.1:1".to_string().into();
    })
    .await
}

/// Starts another server on an existing test database (a second instance, a restart).
pub async fn spawn_with_settings(mut settings: Settings, db_name: String) -> TestApp {
    // Stills are decoded in a child process: the server's own binary, as in production (the
    // test binary is not it).
    if settings.media.still_helper.is_empty() {
        settings.media.still_helper = env!("CARGO_BIN_EXE_castyou").to_string();
    }
    let app = Application::build(settings.clone())
        .await
        .expect("building the application");
    let port = app.port();
    let ops_port = app.operations_port();
    let server = app.handle();
    let hub = app.hub().clone();
    let pipelines = app.pipelines().clone();
    let matches = app.matches().clone();
    let (done, stopped) = tokio::sync::oneshot::channel();
    actix_web::rt::spawn(async move {
        let _ = app.run_until_stopped().await;
        let _ = done.send(());
    });
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        ops_port,
        settings,
        db_name,
        client: modern_client(),
        server,
        hub,
        pipelines,
        matches,
        stopped: std::sync::Mutex::new(Some(stopped)),
    }
}

impl TestApp {
    /// Stops the server as SIGTERM does (open requests and sockets are let finish) and waits
    /// until it has, and has done what it does when stopping (copies of its indexes saved).
    pub async fn stop_gracefully(&self) {
        self.server.stop(true).await;
        let stopped = self.stopped.lock().expect("not poisoned").take();
        if let Some(stopped) = stopped {
            let _ = stopped.await;
        }
    }
}

/// The tests' HTTP client asks for `application/graphql-response+json` first, as Apollo Client
/// does, so statuses follow the GraphQL-over-HTTP specification (4xx when nothing executed).
/// `tests/api/over_http.rs` covers legacy `application/json` clients.
pub fn modern_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(
            "application/graphql-response+json, application/json;q=0.9",
        ),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// A connection to the server's `postgres` database, for creating, dropping and renaming others.
pub async fn admin_connection(settings: &Settings) -> AsyncPgConnection {
    let url = settings.database.with_database("postgres");
    AsyncPgConnection::establish(url.url.expose_secret())
        .await
        .expect("connecting to the postgres database")
}

async fn create_database(settings: &Settings, name: &str) {
    let mut conn = admin_connection(settings).await;
    diesel::sql_query(format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut conn)
        .await
        .expect("creating the test database");
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Ask the server to stop. Its completion cannot be awaited here: the server runs on this
        // test's runtime, which this (synchronous) drop blocks, so waiting would deadlock. The
        // command is sent when `stop` is called; the returned future only reports completion.
        drop(self.server.stop(false));
        let settings = self.settings.clone();
        let db_name = self.db_name.clone();
        run_on_a_thread_of_its_own(|| async move {
            drop_database(&settings, &db_name).await;
            forget_redis_keys(&settings).await;
        });
    }
}

/// Runs the future `make` returns to completion on a short-lived runtime of its own thread, and
/// waits for it: `Drop` runs outside async code, and the test's own runtime may be blocked there.
fn run_on_a_thread_of_its_own<F, Fut>(make: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(make());
    })
    .join();
}

/// Drops database `name`; `WITH (FORCE)` ends any connections still open to it (a server's pool).
async fn drop_database(settings: &Settings, name: &str) {
    let mut conn = admin_connection(settings).await;
    let _ = diesel::sql_query(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut conn)
        .await;
}

/// Deletes this test's keys (rate-limit counters, revoked sessions) from the shared Redis.
async fn forget_redis_keys(settings: &Settings) {
    let Ok(client) = redis::Client::open(settings.redis.url.expose_secret()) else {
        return;
    };
    let connect = client.get_multiplexed_async_connection();
    // A test may point at a Redis that is down on purpose; do not wait for it.
    let Ok(Ok(mut conn)) = tokio::time::timeout(std::time::Duration::from_secs(2), connect).await
    else {
        return;
    };
    let pattern = format!("{}*", settings.redis.key_prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
}

impl TestApp {
    /// POSTs a GraphQL document; returns the status and the JSON body.
    pub async fn post_graphql(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sending the request");
        let status = response.status();
        let body = response.json::<Value>().await.expect("a JSON body");
        (status, body)
    }

    /// POSTs a GraphQL document and returns the JSON body.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.post_graphql(query, variables, token).await.1
    }

    /// Like `gql`, but panics unless the response has no errors; returns `data`.
    pub async fn gql_ok(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let body = self.gql(query, variables, token).await;
        assert!(
            body.get("errors").is_none(),
            "unexpected errors for {query}: {body:#}"
        );
        body["data"].clone()
    }

    /// Runs SQL against this test's database (arranging states the API cannot reach quickly).
    pub async fn sql(&self, statement: &str) {
        let mut conn = AsyncPgConnection::establish(self.settings.database.url.expose_secret())
            .await
            .expect("connecting to the test database");
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .expect("running SQL");
    }

    pub async fn register(&self, role: &str) -> TestUser {
        let email = format!("{}@example.com", Uuid::new_v4().simple());
        let password = "correct horse battery".to_string();
        let data = self
            .gql_ok(
                r#"mutation($email: String!, $password: String!, $role: Role!) {
                    register(email: $email, password: $password, role: $role, displayName: "Test User") {
                        accessToken refreshToken user { id }
                    }
                }"#,
                json!({ "email": email, "password": password, "role": role }),
                None,
            )
            .await;
        let payload = &data["register"];
        TestUser {
            id: payload["user"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid"),
            email,
            password,
            access_token: payload["accessToken"].as_str().expect("token").to_string(),
            refresh_token: payload["refreshToken"].as_str().expect("token").to_string(),
        }
    }

    /// A TALENT with a minimal talent profile.
    pub async fn talent(&self) -> TestUser {
        let user = self.register("TALENT").await;
        self.gql_ok(
            r#"mutation { upsertTalentProfile(input: { stageName: "Test Talent" }) { id } }"#,
            json!({}),
            Some(&user.access_token),
        )
        .await;
        user
    }

    /// A PRODUCER with a producer profile.
    pub async fn producer(&self) -> TestUser {
        let user = self.register("PRODUCER").await;
        self.gql_ok(
            r#"mutation { upsertProducerProfile(input: { company: "Test Pictures" }) { id } }"#,
            json!({}),
            Some(&user.access_token),
        )
        .await;
        user
    }

    /// A user granted ADMIN, logged in again so the token carries the role.
    pub async fn admin(&self) -> TestUser {
        let mut user = self.register("TALENT").await;
        self.sql(&format!(
            "UPDATE users SET role = 'ADMIN' WHERE id = '{}'",
            user.id
        ))
        .await;
        let data = self
            .gql_ok(
                r#"mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }"#,
                json!({ "e": user.email, "p": user.password }),
                None,
            )
            .await;
        user.access_token = data["login"]["accessToken"].as_str().expect("token").into();
        user.refresh_token = data["login"]["refreshToken"]
            .as_str()
            .expect("token")
            .into();
        user
    }

    /// A job of `producer`, DRAFT, with the deadline `deadline_in` from now.
    pub async fn draft_job(&self, producer: &TestUser, deadline_in: chrono::Duration) -> Uuid {
        let deadline = (chrono::Utc::now() + deadline_in).to_rfc3339();
        let data = self
            .gql_ok(
                r#"mutation($d: DateTime!) { createJob(input: {
                    title: "Lead role", description: "A feature film lead.", productionType: FILM,
                    applicationDeadline: $d }) { id } }"#,
                json!({ "d": deadline }),
                Some(&producer.access_token),
            )
            .await;
        data["createJob"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// An OPEN job of `producer`, deadline in 7 days.
    pub async fn open_job(&self, producer: &TestUser) -> Uuid {
        let id = self.draft_job(producer, chrono::Duration::days(7)).await;
        self.gql_ok(
            r#"mutation($id: UUID!) { publishJob(id: $id) { id } }"#,
            json!({ "id": id }),
            Some(&producer.access_token),
        )
        .await;
        id
    }

    /// `talent` applies to `job`; returns the application id.
    pub async fn apply(&self, talent: &TestUser, job: Uuid) -> Uuid {
        let data = self
            .gql_ok(
                r#"mutation($j: UUID!) { applyToJob(jobId: $j) { id } }"#,
                json!({ "j": job }),
                Some(&talent.access_token),
            )
            .await;
        data["applyToJob"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The `extensions.field` of the first error, if any.
pub fn error_field(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["field"].as_str()
}

// ---------------------------------------------------------------------------------------------
// Shared test vocabulary added with the test modules: logins, moves, SQL reads, assertions.

/// A text column named `value`, for reading single values back with `TestApp::sql_values`.
#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Reads the column `value` (cast to text) of every row `statement` returns.
pub async fn sql_values_in(
    database: &castyou::configuration::DatabaseSettings,
    statement: &str,
) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(database.url.expose_secret())
        .await
        .expect("connecting to the test database");
    diesel::sql_query(statement)
        .load::<TextRow>(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("running {statement}: {e}"))
        .into_iter()
        .map(|row| row.value)
        .collect()
}

#[derive(diesel::QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

impl TestApp {
    /// The plan PostgreSQL chooses for `query` after the `SET LOCAL` statements in `settings`
    /// (one transaction, rolled back).
    pub async fn explain(&self, settings: &[&str], query: &str) -> String {
        use diesel_async::SimpleAsyncConnection;
        let mut conn = AsyncPgConnection::establish(self.settings.database.url.expose_secret())
            .await
            .expect("connecting to the test database");
        conn.batch_execute("BEGIN").await.expect("BEGIN");
        for setting in settings {
            conn.batch_execute(&format!("SET LOCAL {setting}"))
                .await
                .expect("SET LOCAL");
        }
        let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN {query}"))
            .load(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("explaining {query}: {e}"));
        conn.batch_execute("ROLLBACK").await.expect("ROLLBACK");
        plan.into_iter()
            .map(|r| r.line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An absolute URL on this server.
    /// How many live subscriptions this instance's hub holds.
    pub async fn live_subscriptions(&self) -> usize {
        self.hub
            .send(castyou_actors::hub::CountSubscriptions)
            .await
            .expect("the hub answers")
    }

    /// The documents of `collection` in this test's MongoDB database matching `filter`, once
    /// at least `at_least` are there (the document consumer writes after the commit), or after
    /// 10 s whatever is there.
    pub async fn documents(
        &self,
        collection: &str,
        filter: mongodb::bson::Document,
        at_least: usize,
    ) -> Vec<mongodb::bson::Document> {
        use futures_util::TryStreamExt;
        let client = mongodb::Client::with_uri_str(self.settings.mongodb.uri.expose_secret())
            .await
            .expect("a MongoDB client");
        let coll = client
            .database(&self.settings.mongodb.database)
            .collection::<mongodb::bson::Document>(collection);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found: Vec<_> = coll
                .find(filter.clone())
                .await
                .expect("find")
                .try_collect()
                .await
                .expect("documents");
            if found.len() >= at_least || std::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The server's `/metrics` text.
    /// Sends `batch` (a JSON array of operations) as `token`: the answers, in order.
    pub async fn post_batch(&self, batch: &[Value], token: &str) -> Vec<Value> {
        self.client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(batch)
            .send()
            .await
            .expect("the batch")
            .json()
            .await
            .expect("answers")
    }

    /// The value of gauge `name` on the operators' `/metrics`.
    pub async fn gauge(&self, name: &str) -> i64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in:\n{text}"))
    }

    pub async fn metrics_text(&self) -> String {
        let response = self
            .client
            .get(self.ops_url("/metrics"))
            .send()
            .await
            .expect("metrics");
        assert_eq!(response.status(), 200);
        response.text().await.expect("a body")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An absolute URL on the operators' listener.
    pub fn ops_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ops_port)
    }

    /// The operators' detailed `/readyz` (whatever its status).
    pub async fn readiness(&self) -> serde_json::Value {
        self.client
            .get(self.ops_url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("a JSON body")
    }

    /// Rows of `SELECT ... AS value` against this test's database, as text.
    pub async fn sql_values(&self, statement: &str) -> Vec<String> {
        sql_values_in(&self.settings.database, statement).await
    }

    /// How many rows `table` of this test's database holds.
    pub async fn row_count(&self, table: &str) -> i64 {
        let values = self
            .sql_values(&format!("SELECT count(*)::text AS value FROM {table}"))
            .await;
        values[0].parse().expect("a count")
    }

    /// The raw `login` response body.
    pub async fn login(&self, email: &str, password: &str, totp_code: Option<&str>) -> Value {
        self.gql(
            r#"mutation($e: String!, $p: String!, $t: String) {
                login(email: $e, password: $p, totpCode: $t) {
                    accessToken refreshToken accessTokenExpiresAt user { id email role }
                }
            }"#,
            json!({ "e": email, "p": password, "t": totp_code }),
            None,
        )
        .await
    }

    /// The raw `moveApplication` response body, as `user`.
    pub async fn move_application(&self, user: &TestUser, id: Uuid, stage: &str) -> Value {
        self.gql(
            r#"mutation($id: UUID!, $s: ApplicationStage!) {
                moveApplication(id: $id, stage: $s) { id stage }
            }"#,
            json!({ "id": id, "s": stage }),
            Some(&user.access_token),
        )
        .await
    }

    /// Moves an application and panics unless the move succeeded.
    pub async fn move_ok(&self, user: &TestUser, id: Uuid, stage: &str) {
        let body = self.move_application(user, id, stage).await;
        assert!(
            body.get("errors").is_none() && body["data"]["moveApplication"]["stage"] == stage,
            "moving {id} to {stage} should succeed: {body:#}"
        );
    }

    /// The stage of an application, read by `viewer` (its talent, producer or an admin).
    pub async fn stage_of(&self, viewer: &TestUser, id: Uuid) -> String {
        let data = self
            .gql_ok(
                r#"query($id: UUID!) { application(id: $id) { stage } }"#,
                json!({ "id": id }),
                Some(&viewer.access_token),
            )
            .await;
        data["application"]["stage"]
            .as_str()
            .unwrap_or_else(|| panic!("application {id} not visible: {data:#}"))
            .to_string()
    }

    /// Runs a job mutation (`publishJob`, `closeJob`, ...) and returns the raw body.
    pub async fn job_mutation(&self, user: &TestUser, mutation: &str, job: Uuid) -> Value {
        self.gql(
            &format!("mutation($id: UUID!) {{ {mutation}(id: $id) {{ id status }} }}"),
            json!({ "id": job }),
            Some(&user.access_token),
        )
        .await
    }
}

/// Panics (showing the body) unless the first error carries `code`.
#[track_caller]
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(
        error_code(body),
        Some(code),
        "expected an error with code {code}, got: {body:#}"
    );
}

/// Panics (showing the body) unless the first error is BAD_USER_INPUT naming `field`.
#[track_caller]
pub fn assert_bad_input(body: &Value, field: &str) {
    assert_eq!(
        (error_code(body), error_field(body)),
        (Some("BAD_USER_INPUT"), Some(field)),
        "expected BAD_USER_INPUT on {field}, got: {body:#}"
    );
}

/// Panics (showing the body) unless the first error is BAD_USER_INPUT naming one of `fields`.
#[track_caller]
pub fn assert_bad_input_on_one_of(body: &Value, fields: &[&str]) {
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body:#}"
    );
    let field = error_field(body).unwrap_or_default();
    assert!(
        fields.contains(&field),
        "expected one of {fields:?}, got {body:#}"
    );
}

/// Panics unless the body has no errors.
#[track_caller]
pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
}

/// Panics unless the body has at least one error and every error has an `extensions.code`.
#[track_caller]
pub fn assert_every_error_has_a_code(body: &Value) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors, got: {body:#}"));
    assert!(!errors.is_empty(), "expected errors, got: {body:#}");
    for error in errors {
        assert!(
            error["extensions"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "an error without extensions.code: {error:#} in {body:#}"
        );
    }
}

/// The `node.id` of every edge of a GraphQL connection, sorted (for comparing as sets).
pub fn sorted_node_ids(connection: &Value) -> Vec<String> {
    let mut ids: Vec<String> = connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a connection with edges, got: {connection:#}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// `ids` as strings, sorted: what `sorted_node_ids` returns for a connection of exactly these.
pub fn sorted_ids(ids: &[Uuid]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    ids.sort();
    ids
}

/// A fresh, empty database of our own (no migrations), dropped when this goes out of scope.
pub struct TestDatabase {
    pub settings: Settings,
    pub name: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let base = Settings::load_for(Environment::Test).expect("test settings");
        let name = format!("castyou_test_{}", Uuid::new_v4().simple());
        create_database(&base, &name).await;
        let mut settings = base.clone();
        settings.database = base.database.with_database(&name);
        TestDatabase { settings, name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let settings = self.settings.clone();
        let name = self.name.clone();
        run_on_a_thread_of_its_own(|| async move { drop_database(&settings, &name).await });
    }
}

/// This process's resident memory, in KiB (the server under test runs in it).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
