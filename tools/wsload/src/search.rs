//! The `search` scenario: `searchTalents` over a database filled by `castyou seed`, at N
//! concurrent clients, for lexical queries (names as typed, with a typo, spelled as they
//! sound, and words of what talents did) and for semantic queries (each query's embedding is
//! cached after its first use, which is not measured). And `recall`: the semantic index's
//! build time, memory per vector and recall@10 against brute force, over vectors exported
//! from PostgreSQL.

use super::{psql, report, token_with_role, Api, Cli};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use castyou_actors::semantic::{normalised, HnswParams, VectorIndex};
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const SEARCH: &str = "query($q: String!, $s: Boolean) {
    searchTalents(query: $q, semantic: $s, first: 20) {
        edges { node { score signals talent { id stageName } } } } }";

/// What producers type when they half remember: the name, a typo, a sound-alike spelling.
fn variants(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    let words: Vec<&str> = name.split_whitespace().collect();
    if let Some(last) = words.last() {
        let chars: Vec<char> = last.chars().collect();
        if chars.len() >= 5 {
            // A swapped pair in the surname.
            let mut typo = chars.clone();
            typo.swap(2, 3);
            let mut w = words.clone();
            let typo: String = typo.into_iter().collect();
            w.pop();
            w.push(&typo);
            out.push(w.join(" "));
        }
    }
    let sounds = name
        .replace("ph", "f")
        .replace("th", "t")
        .replace('y', "i")
        .replace("ck", "k");
    if sounds != name {
        out.push(sounds);
    }
    out
}

const CONTENT: &[&str] = &[
    "detective drama",
    "period drama lead",
    "stage musical",
    "voice over commercial",
    "stunt action",
    "comedy improv",
    "shakespeare theatre",
    "music video dancer",
];

const SEMANTIC: &[&str] = &[
    "played a detective in a period drama",
    "a comedian who can improvise on camera",
    "voice actor for animated series",
    "classically trained stage actor for Shakespeare",
    "dancer with music video experience",
    "stunt performer for action films",
    "singer for a West End musical",
    "model for a fashion campaign",
    "actor who speaks fluent Spanish and French",
    "young lead for a coming-of-age indie film",
    "villain in a fantasy series",
    "narrator with a warm baritone voice",
];

async fn phase(
    api: &Arc<Api>,
    token: &str,
    queries: Arc<Vec<String>>,
    semantic: bool,
    concurrency: usize,
    requests: usize,
) -> Result<Histogram<u64>> {
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new(3).map_err(|e| anyhow!("{e}"))?,
    ));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (api, queries, hist, next) = (
            Arc::clone(api),
            Arc::clone(&queries),
            Arc::clone(&hist),
            Arc::clone(&next),
        );
        let token = token.to_string();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return anyhow::Ok(());
                }
                let q = &queries[i % queries.len()];
                let started = Instant::now();
                api.gql(SEARCH, json!({ "q": q, "s": semantic }), Some(&token))
                    .await?;
                let us = started.elapsed().as_micros() as u64;
                hist.lock().map_err(|_| anyhow!("poisoned"))?.record(us)?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let h = hist.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    Ok(h)
}

pub async fn run(api: &Arc<Api>, cli: &Cli, concurrency: usize, requests: usize) -> Result<()> {
    if cli.jwt_secret.is_empty() {
        bail!("search signs a seeded producer's token: give --jwt-secret (or WSLOAD_JWT_SECRET)");
    }
    let producer = psql(cli, "SELECT user_id FROM producer_profiles LIMIT 1")?
        .pop()
        .context("no producer: seed first")?;
    let token = token_with_role(&cli.jwt_secret, &producer, "PRODUCER")?;
    let names = psql(
        cli,
        "SELECT stage_name FROM talent_profiles ORDER BY md5(user_id::text) LIMIT 200",
    )?;
    let mut lexical: Vec<String> = names.iter().flat_map(|n| variants(n)).collect();
    lexical.extend(CONTENT.iter().map(|s| s.to_string()));
    let lexical = Arc::new(lexical);
    println!("lexical queries: {} distinct", lexical.len());

    // Warm-up (connections, plans), not measured.
    phase(api, &token, Arc::clone(&lexical), false, concurrency, 200).await?;
    let started = Instant::now();
    let h = phase(
        api,
        &token,
        Arc::clone(&lexical),
        false,
        concurrency,
        requests,
    )
    .await?;
    report(
        &format!("searchTalents lexical, {concurrency} concurrent"),
        &h,
    );
    println!(
        "  throughput {:.0} req/s",
        h.len() as f64 / started.elapsed().as_secs_f64()
    );

    let semantic = Arc::new(SEMANTIC.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // Each query's first use embeds it (and caches it in Redis): not measured.
    phase(api, &token, Arc::clone(&semantic), true, 1, semantic.len()).await?;
    let started = Instant::now();
    let h = phase(api, &token, semantic, true, concurrency, requests).await?;
    report(
        &format!("searchTalents semantic (embedding cached), {concurrency} concurrent"),
        &h,
    );
    println!(
        "  throughput {:.0} req/s",
        h.len() as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// This process's resident memory in bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Builds the index over the vectors in `file` (one base64 float32 vector per line), and
/// measures recall@10 of `queries` jittered copies of stored vectors against brute force.
pub fn recall(file: &str, params: HnswParams, queries: usize) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut vectors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bytes = engine.decode(line.trim())?;
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if v.len() != params.dims {
            bail!("line {i}: {} dimensions, not {}", v.len(), params.dims);
        }
        vectors.push((uuid::Uuid::from_u64_pair(0, i as u64), v));
    }
    drop(text);
    let n = vectors.len();
    println!("vectors: {n} of {} dimensions", params.dims);
    let units: Vec<Vec<f32>> = vectors.iter().map(|(_, v)| normalised(v.clone())).collect();
    let before = rss();
    let started = Instant::now();
    let index = VectorIndex::build(params, vectors);
    let took = started.elapsed();
    let grown = rss().saturating_sub(before);
    println!(
        "hnsw build: {:.1} s (m {}, ef_construction {}), memory {:.1} MB = {} bytes per vector ({} of them the vector itself)",
        took.as_secs_f64(),
        params.m,
        params.ef_construction,
        grown as f64 / 1e6,
        grown / n.max(1) as u64,
        params.dims * 4
    );
    let mut rng: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut hits = 0usize;
    let mut search_us = Vec::with_capacity(queries);
    for _ in 0..queries {
        let base = &units[(next() % n as u64) as usize];
        // A nearby query that is not itself stored.
        let query: Vec<f32> = normalised(
            base.iter()
                .map(|x| x + ((next() % 2001) as f32 / 1000.0 - 1.0) * 0.05)
                .collect(),
        );
        let mut exact: Vec<(usize, f32)> = units
            .iter()
            .enumerate()
            .map(|(i, v)| (i, v.iter().zip(&query).map(|(a, b)| a * b).sum()))
            .collect();
        exact.select_nth_unstable_by(10, |a, b| b.1.total_cmp(&a.1));
        let truth: Vec<uuid::Uuid> = exact[..10]
            .iter()
            .map(|(i, _)| uuid::Uuid::from_u64_pair(0, *i as u64))
            .collect();
        let started = Instant::now();
        let found = index.search(&query, 10, -1.0);
        search_us.push(started.elapsed().as_micros() as u64);
        hits += found.iter().filter(|(t, _)| truth.contains(t)).count();
    }
    search_us.sort_unstable();
    println!(
        "recall@10 over {queries} queries: {:.4} (ef_search {}); search p50 {} µs, p99 {} µs",
        hits as f64 / (queries * 10) as f64,
        params.ef_search,
        search_us[search_us.len() / 2],
        search_us[search_us.len() * 99 / 100]
    );
    Ok(())
}
