//! The `matching` scenario: the discover feed, the job feed and the live job feed over a
//! database filled by `castyou seed` (100,000 talents and 10,000 OPEN jobs in
//! `scripts/matchload.sh`). Tokens are signed here with the server's secret for seeded users.

use super::{psql, report, subscribed, token_with_role, Api, Cli, Sub};
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub struct Plan {
    pub cold_jobs: usize,
    pub jobs: usize,
    pub concurrency: usize,
    pub requests: usize,
    pub subscribers: usize,
}

const DISCOVER: &str = "query($j: UUID!, $after: String) {
    discoverFeed(jobId: $j, first: 20, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { score talent { id stageName headline }
                factors { factor score verdict explanation } } } } }";
const JOB_FEED: &str = "query { jobFeed(first: 20) {
    edges { node { score job { id title } factors { factor score verdict } } } } }";
const LIVE: &str = "subscription { jobFeed(minScore: 0) { score job { id title } } }";

fn snapshot(h: &Mutex<Histogram<u64>>) -> Result<Histogram<u64>> {
    Ok(h.lock().map_err(|_| anyhow!("poisoned"))?.clone())
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures is valid"))
}

async fn timed(api: &Api, query: &str, vars: Value, token: &str) -> Result<(u64, Value)> {
    let started = Instant::now();
    let data = api.gql(query, vars, Some(token)).await?;
    Ok((started.elapsed().as_micros() as u64, data))
}

// Long: a load scenario read top to bottom: seed, warm, drive, measure, report.
pub async fn run(api: &Arc<Api>, cli: &Cli, plan: Plan) -> Result<()> {
    if cli.jwt_secret.is_empty() {
        bail!("matching signs seeded users' tokens: give --jwt-secret (or WSLOAD_JWT_SECRET)");
    }
    let secret = cli.jwt_secret.clone();
    let ready = index_stats(api, cli).await?;
    println!("match index: {ready}");

    let jobs: Vec<(String, String)> = psql(
        cli,
        &format!(
            "SELECT id || ',' || producer_id FROM jobs WHERE status = 'OPEN'
             ORDER BY md5(id::text) LIMIT {}",
            plan.cold_jobs + plan.jobs
        ),
    )?
    .into_iter()
    .filter_map(|row| {
        let (job, producer) = row.split_once(',')?;
        Some((job.to_string(), producer.to_string()))
    })
    .collect();
    if jobs.len() < plan.cold_jobs + plan.jobs {
        bail!("only {} OPEN jobs: seed more", jobs.len());
    }
    let token_of = |producer: &str| token_with_role(&secret, producer, "PRODUCER");

    // Cold: the first page of jobs never ranked before, one request at a time.
    let mut cold = histogram();
    for (job, producer) in &jobs[..plan.cold_jobs] {
        let (us, _) = timed(api, DISCOVER, json!({ "j": job }), &token_of(producer)?).await?;
        cold.record(us)?;
    }
    report("discoverFeed(first: 20), cold, sequential", &cold);

    // Concurrent: first pages and 1–4 deeper pages, across `jobs` jobs.
    let spread: Arc<Vec<(String, String)>> = Arc::new(jobs[plan.cold_jobs..].to_vec());
    let all = Arc::new(Mutex::new(histogram()));
    let first_pages_cold = Arc::new(Mutex::new(histogram()));
    let warm = Arc::new(Mutex::new(histogram()));
    let seen: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    let left = Arc::new(AtomicUsize::new(plan.requests));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..plan.concurrency {
        let (api, spread, all, first_pages_cold, warm, seen, left, secret) = (
            Arc::clone(api),
            Arc::clone(&spread),
            Arc::clone(&all),
            Arc::clone(&first_pages_cold),
            Arc::clone(&warm),
            Arc::clone(&seen),
            Arc::clone(&left),
            secret.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = w * 7919;
            loop {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (job, producer) = &spread[(n >> 33) % spread.len()];
                let token = token_with_role(&secret, producer, "PRODUCER")?;
                let depth = 1 + (n >> 20) % 5;
                let mut after: Option<String> = None;
                for _ in 0..depth {
                    if left
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(1))
                        .is_err()
                    {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let first_time = after.is_none()
                        && seen
                            .lock()
                            .map_err(|_| anyhow!("poisoned"))?
                            .insert(job.clone());
                    let (us, data) =
                        timed(&api, DISCOVER, json!({ "j": job, "after": after }), &token).await?;
                    all.lock().map_err(|_| anyhow!("poisoned"))?.record(us)?;
                    let h = if first_time { &first_pages_cold } else { &warm };
                    h.lock().map_err(|_| anyhow!("poisoned"))?.record(us)?;
                    let info = &data["discoverFeed"]["pageInfo"];
                    after = info["endCursor"].as_str().map(String::from);
                    if info["hasNextPage"] != true {
                        break;
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let took = started.elapsed().as_secs_f64();
    let all = snapshot(&all)?;
    println!(
        "discoverFeed pages, {} concurrent over {} jobs: {:.0} requests/s",
        plan.concurrency,
        spread.len(),
        all.len() as f64 / took
    );
    report("  every page", &all);
    report(
        "  first page of a job not yet ranked",
        &snapshot(&first_pages_cold)?,
    );
    report(
        "  pages of jobs ranked before (first and deeper)",
        &snapshot(&warm)?,
    );

    // Job feed: random seeded talents, concurrently.
    let talents: Arc<Vec<String>> = Arc::new(psql(
        cli,
        "SELECT user_id FROM talent_profiles ORDER BY md5(user_id::text) LIMIT 5000",
    )?);
    let feed = Arc::new(Mutex::new(histogram()));
    let left = Arc::new(AtomicUsize::new(plan.requests));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..plan.concurrency {
        let (api, talents, feed, left, secret) = (
            Arc::clone(api),
            Arc::clone(&talents),
            Arc::clone(&feed),
            Arc::clone(&left),
            secret.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(1))
                .is_ok()
            {
                i = (i + 7) % talents.len();
                let token = token_with_role(&secret, &talents[i], "TALENT")?;
                let (us, _) = timed(&api, JOB_FEED, json!({}), &token).await?;
                feed.lock().map_err(|_| anyhow!("poisoned"))?.record(us)?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let feed = snapshot(&feed)?;
    println!(
        "jobFeed(first: 20), {} concurrent: {:.0} requests/s",
        plan.concurrency,
        feed.len() as f64 / started.elapsed().as_secs_f64()
    );
    report("  every request", &feed);

    push(api, cli, &secret, &talents, &jobs[0].1, plan.subscribers).await?;
    println!("match index after: {}", index_stats(api, cli).await?);
    Ok(())
}

/// `subscribers` talents subscribe to `jobFeed(minScore: 0)`; a producer publishes a job; the
/// time from sending `publishJob` to each talent's push.
async fn push(
    api: &Arc<Api>,
    cli: &Cli,
    secret: &str,
    talents: &[String],
    producer: &str,
    subscribers: usize,
) -> Result<()> {
    let subscribers = subscribers.min(talents.len());
    let mut sockets = Vec::with_capacity(subscribers);
    for talent in &talents[..subscribers] {
        let sub = Sub {
            token: token_with_role(secret, talent, "TALENT")?,
            query: LIVE,
            variables: json!({}),
        };
        sockets.push(subscribed(api, &sub).await?);
    }
    let live = wait_for_subscribers(api, subscribers).await?;
    println!("{live} jobFeed subscribers");
    let producer_token = token_with_role(secret, producer, "PRODUCER")?;
    let deadline = super::rfc3339(
        (std::time::SystemTime::now() + Duration::from_secs(20 * 86_400))
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    );
    let job = api
        .gql(
            "mutation($d: DateTime!) { createJob(input: { title: \"Lead in a period drama\",
               description: \"A new period drama shooting in London.\", productionType: TV,
               location: { country: \"GB\" }, payMin: 400, payMax: 900, currency: \"GBP\",
               applicationDeadline: $d }) { id } }",
            json!({ "d": deadline }),
            Some(&producer_token),
        )
        .await?["createJob"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no job id"))?
        .to_string();
    let sent = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for mut socket in sockets {
        let (tx, job) = (tx.clone(), job.clone());
        tokio::spawn(async move {
            while let Ok(Some(Ok(frame))) =
                tokio::time::timeout(Duration::from_secs(20), socket.next()).await
            {
                if let Message::Text(text) = frame {
                    if text.contains(&job) {
                        let _ = tx.send(sent.elapsed().as_micros() as u64);
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    api.gql(
        "mutation($id: UUID!) { publishJob(id: $id) { id } }",
        json!({ "id": job }),
        Some(&producer_token),
    )
    .await?;
    let mut pushed = histogram();
    while let Some(us) = rx.recv().await {
        pushed.record(us)?;
    }
    println!(
        "publish -> jobFeed push: {} of {subscribers} talents received it",
        pushed.len()
    );
    report("  publishJob sent -> push received", &pushed);
    let _ = cli;
    Ok(())
}

async fn wait_for_subscribers(api: &Api, n: usize) -> Result<usize> {
    for _ in 0..600 {
        let live = api.metric("castyou_job_feed_subscribers").await? as usize;
        if live >= n {
            return Ok(live);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the jobFeed subscriptions did not all register")
}

/// The match index's section of the operators' `/readyz`, once it is built.
async fn index_stats(api: &Api, cli: &Cli) -> Result<Value> {
    let url = format!("{}/readyz", cli.operations_url.trim_end_matches('/'));
    for _ in 0..1200 {
        let body: Value = api.http.get(&url).send().await?.json().await?;
        if body["matchIndex"]["status"] == "ready" {
            return Ok(body["matchIndex"].clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the match index was not built within two minutes")
}
