//! Websocket load tool for CastYou's subscriptions (`scripts/wsload.sh` runs it against a
//! release build).
//!
//! - `idle`: opens N authenticated `applicationPipeline` subscriptions and reports the server's
//!   resident memory growth per subscribed connection.
//! - `fanout`: opens N subscriptions to one job's pipeline, moves an application every
//!   `interval`, and reports, per event, the time from sending the mutation to the last
//!   subscriber's delivery (p50/p99 over events), every delivery's latency, and deliveries per
//!   second of server CPU time.
//! - `notify`: N talents (seeded in PostgreSQL, with access tokens signed here with the server's
//!   secret), each with one websocket subscribed to `notifications`, all applicants of one job;
//!   the producer closes the job, which notifies every one of them: the time from sending the
//!   mutation to each live notification.
//! - `matching`: discover and job feeds over a database filled by `castyou seed` (see
//!   `matching.rs`).
//! - `inbox`: N notifications stored for one producer (through the outbox and the document
//!   consumer, as in production), then the latency of the inbox's first page.
//!
//! Only the server at `--url` is contacted; every wait is bounded.

mod matching;
mod media;
mod search;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(about = "Load tool for CastYou's websocket subscriptions")]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:18090")]
    url: String,
    /// The server's operations listener (`/metrics`).
    #[arg(long, default_value = "http://127.0.0.1:18091")]
    operations_url: String,
    /// The server's process id, to read its memory and CPU time from /proc.
    #[arg(long)]
    server_pid: u32,
    /// PostgreSQL, for seeding (`notify`, `inbox`; through `psql`).
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/castyou_wsload"
    )]
    database_url: String,
    /// The server's JWT secret, to sign the seeded talents' access tokens (`notify`).
    #[arg(long, env = "WSLOAD_JWT_SECRET", default_value = "")]
    jwt_secret: String,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 256)]
    open_concurrency: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Server memory per idle subscribed connection.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// How long to let the server settle before measuring.
        #[arg(long, default_value_t = 5)]
        settle_secs: u64,
    },
    /// One pipeline event fanned out to every subscriber of one job.
    Fanout {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        #[arg(long, default_value_t = 30)]
        events: usize,
        /// Time between mutations; 0 sends each as soon as the previous move of its
        /// application answered.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Applications moved in turn (event k moves application k % lanes): a mutation
        /// waits only for the previous move of its own application, so a slow answer does not
        /// hold the next event back.
        #[arg(long, default_value_t = 4)]
        lanes: usize,
    },
    /// One job closing notifies its N applicants, each connected once.
    Notify {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
    },
    /// Discover and job feeds over a seeded database (`castyou seed`): cold discover pages,
    /// concurrent discover pages (first and deeper), concurrent job feeds, and the push of a
    /// newly published job to subscribed talents.
    Matching {
        /// Jobs whose first discover page is asked cold, one request at a time.
        #[arg(long, default_value_t = 50)]
        cold_jobs: usize,
        /// Jobs the concurrent discover clients spread over.
        #[arg(long, default_value_t = 200)]
        jobs: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Requests per concurrent phase.
        #[arg(long, default_value_t = 3_000)]
        requests: usize,
        /// Talents subscribed to `jobFeed` for the push measurement.
        #[arg(long, default_value_t = 1_000)]
        subscribers: usize,
    },
    /// `searchTalents` over a seeded database: lexical and semantic queries at N concurrent
    /// clients.
    Search {
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Requests per phase (lexical, then semantic).
        #[arg(long, default_value_t = 3_000)]
        requests: usize,
    },
    /// The semantic index alone (no server): build time, memory per vector and recall@10
    /// against brute force, over vectors exported one base64 float32 vector per line.
    Recall {
        #[arg(long)]
        file: String,
        #[arg(long, default_value_t = 512)]
        dims: usize,
        #[arg(long, default_value_t = 16)]
        m: usize,
        #[arg(long, default_value_t = 200)]
        ef_construction: usize,
        #[arg(long, default_value_t = 64)]
        ef_search: usize,
        #[arg(long, default_value_t = 500)]
        queries: usize,
    },
    /// The media pipeline: images per CPU-second and peak memory for 12-megapixel stills, a
    /// long video's poster frame, a large upload's throughput and memory (scripts/mediaload.sh).
    Media {
        /// A 12-megapixel JPEG.
        #[arg(long)]
        jpeg: String,
        /// A long 1080p MP4.
        #[arg(long)]
        video: String,
        #[arg(long, default_value_t = 40)]
        images: usize,
        #[arg(long, default_value_t = 20)]
        concurrent: usize,
        #[arg(long, default_value_t = 1024)]
        upload_mib: u64,
    },
    /// The inbox's first page with N notifications stored for its user.
    Inbox {
        #[arg(long, default_value_t = 100_000)]
        notifications: usize,
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
    },
}

const PIPELINE: &str = "subscription($job: UUID!) { applicationPipeline(jobId: $job) {
    kind fromStage toStage at application { id stage stageChangedAt } } }";

#[tokio::main]
// Long: the tool's command line dispatched to its scenarios, with the shared set-up.
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Scenario::Recall {
        file,
        dims,
        m,
        ef_construction,
        ef_search,
        queries,
    } = &cli.scenario
    {
        let params = castyou_actors::semantic::HnswParams {
            dims: *dims,
            m: *m,
            ef_construction: *ef_construction,
            ef_search: *ef_search,
        };
        return search::recall(file, params, *queries);
    }
    let http = reqwest::Client::new();
    let api = Arc::new(Api {
        http,
        graphql: format!("{}/graphql", cli.url.trim_end_matches('/')),
        metrics: format!("{}/metrics", cli.operations_url.trim_end_matches('/')),
        websocket: format!(
            "{}/graphql",
            cli.url
                .trim_end_matches('/')
                .replacen("http://", "ws://", 1)
                .replacen("https://", "wss://", 1)
        ),
    });
    let lanes = match &cli.scenario {
        Scenario::Fanout { lanes, .. } => (*lanes).max(1),
        _ => 1,
    };
    let world = Arc::new(World::create(&api, lanes).await?);
    println!(
        "job {} with applications {}",
        world.job,
        world.applications.join(", ")
    );
    match cli.scenario {
        Scenario::Idle {
            connections,
            settle_secs,
        } => idle(&api, &world, &cli, connections, settle_secs).await,
        Scenario::Fanout {
            subscribers,
            events,
            interval_ms,
            ..
        } => fanout(&api, &world, &cli, subscribers, events, interval_ms).await,
        Scenario::Notify { users } => notify(&api, &world, &cli, users).await,
        Scenario::Inbox {
            notifications,
            requests,
        } => inbox(&api, &world, &cli, notifications, requests).await,
        Scenario::Search {
            concurrency,
            requests,
        } => search::run(&api, &cli, concurrency, requests).await,
        Scenario::Recall { .. } => Ok(()),
        Scenario::Media {
            jpeg,
            video,
            images,
            concurrent,
            upload_mib,
        } => {
            let plan = media::Plan {
                jpeg,
                video,
                images,
                concurrent,
                upload_mib,
            };
            media::run(&api, cli.server_pid, plan).await
        }
        Scenario::Matching {
            cold_jobs,
            jobs,
            concurrency,
            requests,
            subscribers,
        } => {
            let plan = matching::Plan {
                cold_jobs,
                jobs,
                concurrency,
                requests,
                subscribers,
            };
            matching::run(&api, &cli, plan).await
        }
    }
}

struct Api {
    http: reqwest::Client,
    graphql: String,
    metrics: String,
    websocket: String,
}

impl Api {
    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Result<Value> {
        let mut request = self
            .http
            .post(&self.graphql)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await?.json().await?;
        if let Some(errors) = body.get("errors") {
            bail!("{query}: {errors}");
        }
        Ok(body["data"].clone())
    }

    /// The value of a metric line that starts with `name `.
    async fn metric(&self, name: &str) -> Result<f64> {
        let text = self.http.get(&self.metrics).send().await?.text().await?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .ok_or_else(|| anyhow!("no metric {name}"))?
            .trim()
            .parse()
            .context(name.to_string())
    }
}

/// A producer with an open job and one application in it, at CALLBACK (which may move to
/// CALLBACK again, so it can be moved any number of times).
struct World {
    producer_token: String,
    job: String,
    /// Every application to the job, one talent each: `fanout` moves
    /// them in turn, so mutations overlap while each application's events keep their order.
    applications: Vec<String>,
}

impl World {
    // Long: the scenario's world (producers, talents, jobs) made in the order it depends on.
    async fn create(api: &Api, lanes: usize) -> Result<World> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let register = |role: &'static str, i: usize| {
            let email = format!("wsload-{role}-{i}-{stamp}@example.com").to_lowercase();
            async move {
                let data = api
                    .gql(
                        "mutation($e: String!, $r: Role!) { register(email: $e,
                           password: \"load test password\", role: $r, displayName: \"Load\") {
                           accessToken } }",
                        json!({ "e": email, "r": role }),
                        None,
                    )
                    .await?;
                Ok::<String, anyhow::Error>(
                    data["register"]["accessToken"]
                        .as_str()
                        .ok_or_else(|| anyhow!("no token"))?
                        .to_string(),
                )
            }
        };
        let producer = register("PRODUCER", 0).await?;
        api.gql(
            "mutation { upsertProducerProfile(input: { company: \"Load Pictures\" }) { id } }",
            json!({}),
            Some(&producer),
        )
        .await?;
        let deadline = (std::time::SystemTime::now() + Duration::from_secs(30 * 86_400))
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let job = api
            .gql(
                "mutation($d: DateTime!) { createJob(input: { title: \"Load test\",
                   description: \"A job for the load tool.\", productionType: FILM,
                   applicationDeadline: $d }) { id } }",
                json!({ "d": rfc3339(deadline) }),
                Some(&producer),
            )
            .await?["createJob"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no job id"))?
            .to_string();
        api.gql(
            "mutation($id: UUID!) { publishJob(id: $id) { id } }",
            json!({ "id": job }),
            Some(&producer),
        )
        .await?;
        let mut applications = Vec::with_capacity(lanes);
        for i in 0..lanes.max(1) {
            let talent = register("TALENT", i).await?;
            api.gql(
                "mutation { upsertTalentProfile(input: { stageName: \"Load Talent\" }) { id } }",
                json!({}),
                Some(&talent),
            )
            .await?;
            let application = api
                .gql(
                    "mutation($j: UUID!) { applyToJob(jobId: $j) { id } }",
                    json!({ "j": job }),
                    Some(&talent),
                )
                .await?["applyToJob"]["id"]
                .as_str()
                .ok_or_else(|| anyhow!("no application id"))?
                .to_string();
            applications.push(application);
        }
        let world = World {
            producer_token: producer,
            job,
            applications,
        };
        for application in &world.applications {
            world.move_to(api, application, "SHORTLISTED").await?;
            world.move_to(api, application, "CALLBACK").await?;
        }
        Ok(world)
    }

    async fn move_to(&self, api: &Api, application: &str, stage: &str) -> Result<()> {
        api.gql(
            "mutation($id: UUID!, $s: ApplicationStage!) { moveApplication(id: $id, stage: $s) { id } }",
            json!({ "id": application, "s": stage }),
            Some(&self.producer_token),
        )
        .await
        .map(drop)
    }
}

/// Seconds since the epoch as an RFC 3339 UTC time.
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What each of the tool's sockets reads into (a larger frame grows it for itself).
const READ_BUFFER: usize = 4096;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What one connection subscribes to: whose token, which document, which variables.
#[derive(Clone)]
struct Sub {
    token: String,
    query: &'static str,
    variables: Value,
}

impl Sub {
    fn pipeline(world: &World) -> Sub {
        Sub {
            token: world.producer_token.clone(),
            query: PIPELINE,
            variables: json!({ "job": world.job }),
        }
    }
}

/// Opens a websocket, is acknowledged, and subscribes.
async fn subscribed(api: &Api, sub: &Sub) -> Result<Socket> {
    let mut request = api.websocket.as_str().into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // tungstenite's default read buffer is 128 KiB per socket, zeroed before every read: at
    // 10,000 sockets that is 1.3 GB and most of the tool's CPU, taken from the cores it shares
    // with the server. Frames here are a few hundred bytes.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    let init = json!({ "type": "connection_init",
        "payload": { "Authorization": format!("Bearer {}", sub.token) } });
    socket.send(Message::Text(init.to_string().into())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .context("waiting for connection_ack")?
            .ok_or_else(|| anyhow!("closed before connection_ack"))??;
        match frame {
            Message::Text(text) if text.contains("connection_ack") => break,
            Message::Text(text) => bail!("refused: {text}"),
            Message::Close(frame) => bail!("closed: {frame:?}"),
            _ => continue,
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe",
        "payload": { "query": sub.query, "variables": sub.variables } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await?;
    Ok(socket)
}

/// Opens `n` subscribed sockets, `concurrency` at a time, and hands each to `reader`; returns
/// once the server holds `live_after` subscriptions.
async fn open_all<F, Fut>(
    api: &Arc<Api>,
    subs: Arc<Vec<Sub>>,
    n: usize,
    live_after: usize,
    concurrency: usize,
    reader: F,
) -> Result<()>
where
    F: Fn(usize, Socket) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut opening = Vec::with_capacity(n);
    for i in 0..n {
        let (api, subs, gate, reader) = (api.clone(), subs.clone(), gate.clone(), reader.clone());
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            let socket = subscribed(&api, &subs[i % subs.len()]).await?;
            tokio::spawn(reader(i, socket));
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in opening {
        task.await??;
    }
    // Every subscription registered with the server's hub.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let live = api.metric("castyou_subscriptions_live").await? as usize;
        if live >= live_after {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {live} of {live_after} subscriptions became live");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "opened {n} subscribed connections in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))?
        .parse()
        .context("VmRSS")
}

/// CPU time (user + system) `pid` has used, in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which ends with the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unreadable stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).unwrap_or(&"0").parse::<u64>()?
        + fields.get(12).unwrap_or(&"0").parse::<u64>()?;
    // Linux reports in USER_HZ, 100 per second.
    Ok(ticks as f64 / 100.0)
}

async fn idle(
    api: &Arc<Api>,
    world: &Arc<World>,
    cli: &Cli,
    n: usize,
    settle_secs: u64,
) -> Result<()> {
    // One connection first, so one-off allocations are in the baseline.
    let subs = Arc::new(vec![Sub::pipeline(world)]);
    open_all(api, subs.clone(), 1, 1, 1, |_, socket| hold(socket)).await?;
    tokio::time::sleep(Duration::from_secs(settle_secs)).await;
    let before = rss_kib(cli.server_pid)?;
    open_all(api, subs, n, n + 1, cli.open_concurrency, |_, socket| {
        hold(socket)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(settle_secs)).await;
    let after = rss_kib(cli.server_pid)?;
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "server RSS before: {before} KiB, with {n} more idle subscribed connections: {after} KiB"
    );
    println!("memory per idle subscribed connection: {per:.2} KiB");
    println!("load tool RSS: {} KiB", rss_kib(std::process::id())?);
    Ok(())
}

/// Keeps a socket open and answers the server's pings, until it closes.
async fn hold(mut socket: Socket) {
    while let Some(Ok(_)) = socket.next().await {}
}

/// Which of `applications` a pipeline event is about.
fn lane_of(frame: &str, applications: &[String]) -> Option<usize> {
    const KEY: &str = "\"application\":{\"id\":\"";
    let at = frame.find(KEY)? + KEY.len();
    let id = frame.get(at..at + 36)?;
    applications.iter().position(|a| a == id)
}

/// What the subscribers saw of one event (shared by every reader; a delivery costs the tool
/// three atomic operations, not a message to a collector, so the tool takes as little of the
/// cores it shares with the server as it can).
struct EventSeen {
    count: AtomicUsize,
    first: AtomicU64,
    last: AtomicU64,
}

// Long: a load scenario read top to bottom: connect, subscribe, drive, measure, report.
async fn fanout(
    api: &Arc<Api>,
    world: &Arc<World>,
    cli: &Cli,
    n: usize,
    events: usize,
    interval_ms: u64,
) -> Result<()> {
    let epoch = Instant::now();
    // When event k's mutation was sent, in µs since `epoch`.
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..events).map(|_| AtomicU64::new(0)).collect());
    let seen: Arc<Vec<EventSeen>> = Arc::new(
        (0..events)
            .map(|_| EventSeen {
                count: AtomicUsize::new(0),
                first: AtomicU64::new(u64::MAX),
                last: AtomicU64::new(0),
            })
            .collect(),
    );
    // Each subscriber's latencies, sent once it has seen every event.
    let (finished, mut latencies) = mpsc::unbounded_channel::<Vec<u64>>();
    let unexpected = Arc::new(AtomicUsize::new(0));
    let lanes = world.applications.len();
    let reader = {
        let (sent, seen, unexpected) = (sent.clone(), seen.clone(), unexpected.clone());
        let applications = Arc::new(world.applications.clone());
        move |_i: usize, mut socket: Socket| {
            let (sent, seen, finished, unexpected, applications) = (
                sent.clone(),
                seen.clone(),
                finished.clone(),
                unexpected.clone(),
                applications.clone(),
            );
            async move {
                let mut mine = Vec::with_capacity(events);
                // Events seen of each application (lane j's n-th is event n * lanes + j).
                let mut of_lane = vec![0usize; lanes];
                while let Some(Ok(frame)) = socket.next().await {
                    let Message::Text(text) = frame else { continue };
                    // The moves this tool makes (CALLBACK to CALLBACK), in each application's
                    // order.
                    if !text.contains("\"fromStage\":\"CALLBACK\"") {
                        if text.contains("\"errors\"") {
                            unexpected.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let now = epoch.elapsed().as_micros() as u64;
                    let Some(lane) = lane_of(&text, &applications) else {
                        unexpected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let k = of_lane[lane] * lanes + lane;
                    of_lane[lane] += 1;
                    if let (Some(at), Some(event)) = (sent.get(k), seen.get(k)) {
                        let latency = now.saturating_sub(at.load(Ordering::Acquire));
                        event.first.fetch_min(latency, Ordering::Relaxed);
                        event.last.fetch_max(latency, Ordering::Relaxed);
                        event.count.fetch_add(1, Ordering::Relaxed);
                        mine.push(latency);
                        if mine.len() == events {
                            let _ = finished.send(std::mem::take(&mut mine));
                        }
                    }
                }
            }
        }
    };
    let subs = Arc::new(vec![Sub::pipeline(world)]);
    open_all(api, subs, n, n, cli.open_concurrency, reader).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let cpu_before = cpu_secs(cli.server_pid)?;
    let wall = Instant::now();
    let interval = Duration::from_millis(interval_ms);
    // One task per application, each moving its own in order at its events' times.
    let start = Instant::now();
    let senders: Vec<_> = (0..lanes)
        .map(|lane| {
            let (api, world, sent) = (api.clone(), world.clone(), sent.clone());
            tokio::spawn(async move {
                let application = &world.applications[lane];
                for k in (lane..events).step_by(lanes) {
                    tokio::time::sleep_until((start + interval * k as u32).into()).await;
                    sent[k].store(epoch.elapsed().as_micros() as u64, Ordering::Release);
                    world.move_to(&api, application, "CALLBACK").await?;
                }
                Ok::<(), anyhow::Error>(())
            })
        })
        .collect();

    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut complete = 0usize;
    let deadline = tokio::time::Instant::now() + interval * events as u32 + Duration::from_secs(30);
    while complete < n {
        match tokio::time::timeout_at(deadline, latencies.recv()).await {
            Ok(Some(mine)) => {
                for latency in mine {
                    all.saturating_record(latency.max(1));
                }
                complete += 1;
            }
            _ => break,
        }
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let cpu = cpu_secs(cli.server_pid)? - cpu_before;
    for sender in senders {
        sender.await??;
    }
    let expected = n * events;
    let total: usize = seen.iter().map(|e| e.count.load(Ordering::Relaxed)).sum();
    let per_event: Vec<(usize, u64, u64)> = seen
        .iter()
        .map(|e| {
            (
                e.count.load(Ordering::Relaxed),
                e.first.load(Ordering::Relaxed),
                e.last.load(Ordering::Relaxed),
            )
        })
        .collect();

    let mut first = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut last = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for (count, earliest, latest) in &per_event {
        if *count == n {
            first.saturating_record((*earliest).max(1));
            last.saturating_record((*latest).max(1));
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{events} events x {n} subscribers, one event every {interval_ms} ms: {total} of {expected} deliveries, {} complete events, {} error messages",
        last.len(),
        unexpected.load(Ordering::Relaxed)
    );
    println!(
        "mutation sent -> first subscriber: p50 {:.1} ms, p99 {:.1} ms",
        ms(first.value_at_quantile(0.5)),
        ms(first.value_at_quantile(0.99))
    );
    println!(
        "mutation sent -> last subscriber: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(last.value_at_quantile(0.5)),
        ms(last.value_at_quantile(0.99)),
        ms(last.max())
    );
    println!(
        "mutation sent -> each delivery: p50 {:.1} ms, p99 {:.1} ms",
        ms(all.value_at_quantile(0.5)),
        ms(all.value_at_quantile(0.99))
    );
    println!(
        "server CPU {cpu:.2} s over {elapsed:.1} s: {:.0} deliveries per CPU second; {:.0} deliveries/s wall",
        total as f64 / cpu.max(0.01),
        total as f64 / elapsed
    );
    if total < expected {
        bail!("{} deliveries missing", expected - total);
    }
    Ok(())
}

/// Runs SQL through `psql`; returns its unaligned output rows.
fn psql(cli: &Cli, sql: &str) -> Result<Vec<String>> {
    let out = std::process::Command::new("psql")
        .arg(&cli.database_url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    exp: i64,
    iat: i64,
    role: &'a str,
    sid: uuid::Uuid,
}

/// An access token for `user`, as the server signs them (HS256, issuer and audience of the
/// default settings).
fn token_for(secret: &str, user: &str) -> Result<String> {
    token_with_role(secret, user, "TALENT")
}

/// An access token for `user` in `role`.
fn token_with_role(secret: &str, user: &str, role: &str) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let claims = Claims {
        iss: "castyou",
        aud: "castyou-api",
        sub: user,
        exp: now + 3600,
        iat: now,
        role,
        sid: uuid::Uuid::new_v4(),
    };
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

fn report(what: &str, h: &Histogram<u64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{what}: n {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}

// Long: a load scenario read top to bottom: connect, subscribe, drive, measure, report.
async fn notify(api: &Arc<Api>, world: &Arc<World>, cli: &Cli, n: usize) -> Result<()> {
    if cli.jwt_secret.is_empty() {
        bail!("notify signs the talents' tokens: give --jwt-secret (or WSLOAD_JWT_SECRET)");
    }
    let seeded = Instant::now();
    let ids = psql(
        cli,
        &format!(
            "CREATE TEMP TABLE seed AS
               SELECT gen_random_uuid() AS id, n FROM generate_series(1, {n}) AS n;
             INSERT INTO users (id, email, role, display_name)
               SELECT id, 'wsload-' || id || '@example.com', 'TALENT', 'Load Talent ' || n FROM seed;
             INSERT INTO talent_profiles (user_id, stage_name)
               SELECT id, 'Load Talent ' || n FROM seed;
             INSERT INTO applications (id, job_id, talent_id)
               SELECT gen_random_uuid(), '{}', id FROM seed;
             SELECT id FROM seed;",
            world.job
        ),
    )?;
    println!(
        "seeded {} talents applying to the job in {:.1} s",
        ids.len(),
        seeded.elapsed().as_secs_f64()
    );
    let subs: Vec<Sub> = ids
        .iter()
        .map(|id| {
            Ok(Sub {
                token: token_for(&cli.jwt_secret, id)?,
                query: "subscription { notifications { id kind title data } }",
                variables: json!({}),
            })
        })
        .collect::<Result<_>>()?;
    let epoch = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let (deliveries, mut delivered) = mpsc::unbounded_channel::<u64>();
    let reader = {
        let sent = sent.clone();
        move |_i: usize, mut socket: Socket| {
            let (sent, deliveries) = (sent.clone(), deliveries.clone());
            async move {
                while let Some(Ok(frame)) = socket.next().await {
                    let Message::Text(text) = frame else { continue };
                    if text.contains("\"JOB_CLOSED\"") {
                        let now = epoch.elapsed().as_micros() as u64;
                        let _ = deliveries.send(now.saturating_sub(sent.load(Ordering::Acquire)));
                    }
                }
            }
        }
    };
    open_all(api, Arc::new(subs), n, n, cli.open_concurrency, reader).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let cpu_before = cpu_secs(cli.server_pid)?;
    sent.store(epoch.elapsed().as_micros() as u64, Ordering::Release);
    api.gql(
        "mutation($id: UUID!) { closeJob(id: $id) { status } }",
        json!({ "id": world.job }),
        Some(&world.producer_token),
    )
    .await?;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while (latency.len() as usize) < n {
        match tokio::time::timeout_at(deadline, delivered.recv()).await {
            Ok(Some(us)) => latency.saturating_record(us.max(1)),
            _ => break,
        }
    }
    let cpu = cpu_secs(cli.server_pid)? - cpu_before;
    println!(
        "job closed with {n} applicants connected: {} of {n} live notifications, server CPU {cpu:.2} s",
        latency.len()
    );
    report("closeJob sent -> each live notification", &latency);
    if (latency.len() as usize) < n {
        bail!("{} notifications missing", n - latency.len() as usize);
    }
    Ok(())
}

async fn inbox(
    api: &Arc<Api>,
    world: &Arc<World>,
    cli: &Cli,
    n: usize,
    requests: usize,
) -> Result<()> {
    // Copies of the job's one APPLICATION_CREATED event, each a new event for the producer.
    let started = Instant::now();
    psql(
        cli,
        &format!(
            "INSERT INTO outbox_events (id, kind, job_id, payload)
               SELECT gen_random_uuid(), kind, job_id, payload
               FROM outbox_events, generate_series(1, {n})
               WHERE job_id = '{}' AND kind = 'APPLICATION_CREATED';",
            world.job
        ),
    )?;
    println!("{n} events committed; waiting for the document consumer");
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let waiting = api.metric("castyou_documents_backlog").await? as usize;
        if waiting == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{waiting} events still undocumented");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "documented in {took:.1} s ({:.0} events/s: each a notification and an activity entry)",
        n as f64 / took
    );
    for (what, query) in [
        (
            "inbox first page (20, no count)",
            "{ notifications(first: 20) { pageInfo { hasNextPage endCursor }
               edges { cursor node { id kind title body data readAt createdAt } } } }",
        ),
        (
            "inbox first page (20, with totalCount)",
            "{ notifications(first: 20) { totalCount pageInfo { hasNextPage endCursor }
               edges { cursor node { id kind title body data readAt createdAt } } } }",
        ),
        ("unreadNotificationCount", "{ unreadNotificationCount }"),
    ] {
        let first = api
            .gql(query, json!({}), Some(&world.producer_token))
            .await?;
        if let Some(total) = first["notifications"]["totalCount"].as_u64() {
            if total < n as u64 {
                bail!("the inbox holds {total} notifications, not {n}");
            }
        }
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..requests {
            let at = Instant::now();
            api.gql(query, json!({}), Some(&world.producer_token))
                .await?;
            latency.saturating_record((at.elapsed().as_micros() as u64).max(1));
        }
        report(&format!("{what}, one request at a time"), &latency);
    }
    Ok(())
}
