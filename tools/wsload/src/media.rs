//! `media`: the media pipeline's figures on a running server (see scripts/mediaload.sh).
//!
//! - Stills: N copies of a 12-megapixel JPEG uploaded, then completed; the server's CPU time
//!   (from /proc) until every one is READY gives images per CPU-second (each makes a large and
//!   a small rendition). Then `concurrent` more completed at once, with the server's resident
//!   memory sampled every 10 ms: the peak while they are processed.
//! - Poster: a long 1080p MP4 completed; the time until READY (probe + poster frame + write).
//! - Upload: a generated body of `upload_mib` MiB streamed to the local store's signed URL;
//!   throughput and the server's resident memory growth while it streams.

use crate::{cpu_secs, rss_kib, Api};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Plan {
    pub jpeg: String,
    pub video: String,
    pub images: usize,
    pub concurrent: usize,
    pub upload_mib: u64,
}

const REQUEST: &str = r#"mutation($k: MediaKind!, $t: String!, $s: Int!) {
    requestMediaUpload(kind: $k, contentType: $t, byteSize: $s) {
        uploadUrl headers media { id } } }"#;
const COMPLETE: &str = r#"mutation($id: UUID!) { completeMediaUpload(id: $id) { status } }"#;
const STATUS: &str = r#"query($id: UUID!) { media(id: $id) { status error } }"#;

async fn talent(api: &Api) -> Result<String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let data = api
        .gql(
            "mutation($e: String!) { register(email: $e, password: \"load test password\",
               role: TALENT, displayName: \"Media Load\") { accessToken } }",
            json!({ "e": format!("mediaload-{stamp}@example.com") }),
            None,
        )
        .await?;
    let token = data["register"]["accessToken"]
        .as_str()
        .ok_or_else(|| anyhow!("no token"))?
        .to_string();
    api.gql(
        "mutation { upsertTalentProfile(input: { stageName: \"Media Load\" }) { id } }",
        json!({}),
        Some(&token),
    )
    .await?;
    Ok(token)
}

/// Requests an upload of `size` bytes; (id, URL, headers).
async fn request(
    api: &Api,
    token: &str,
    kind: &str,
    content_type: &str,
    size: u64,
) -> Result<(String, String, Vec<(String, String)>)> {
    let data = api
        .gql(
            REQUEST,
            json!({ "k": kind, "t": content_type, "s": size }),
            Some(token),
        )
        .await?;
    let upload = &data["requestMediaUpload"];
    let headers = upload["headers"]
        .as_object()
        .ok_or_else(|| anyhow!("no headers"))?
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    Ok((
        upload["media"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id"))?
            .to_string(),
        upload["uploadUrl"]
            .as_str()
            .ok_or_else(|| anyhow!("no URL"))?
            .to_string(),
        headers,
    ))
}

async fn put(
    api: &Api,
    url: &str,
    headers: &[(String, String)],
    body: reqwest::Body,
) -> Result<()> {
    let mut put = api.http.put(url);
    for (k, v) in headers {
        put = put.header(k, v);
    }
    let response = put.body(body).send().await?;
    if !response.status().is_success() {
        bail!("upload: {}", response.status());
    }
    Ok(())
}

async fn upload(
    api: &Api,
    token: &str,
    kind: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<String> {
    let (id, url, headers) = request(api, token, kind, content_type, bytes.len() as u64).await?;
    put(api, &url, &headers, bytes.to_vec().into()).await?;
    Ok(id)
}

async fn complete(api: &Api, token: &str, id: &str) -> Result<()> {
    api.gql(COMPLETE, json!({ "id": id }), Some(token)).await?;
    Ok(())
}

/// Waits until every item is READY (an error if one FAILED).
async fn all_ready(api: &Api, token: &str, ids: &[String]) -> Result<()> {
    let mut waiting: Vec<&String> = ids.iter().collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for id in waiting {
            let data = api.gql(STATUS, json!({ "id": id }), Some(token)).await?;
            match data["media"]["status"].as_str() {
                Some("READY") => {}
                Some("FAILED") => bail!("{id} FAILED: {}", data["media"]["error"]),
                _ => still.push(id),
            }
        }
        waiting = still;
        if Instant::now() > deadline {
            bail!("{} items not READY after 10 minutes", waiting.len());
        }
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Samples `pid`'s resident memory every 10 ms until stopped; the peak, in KiB.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let task = {
            let (stop, peak) = (stop.clone(), peak.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(now) = rss_kib(pid) {
                        peak.fetch_max(now, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        Sampler { stop, peak, task }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

// Long: a load scenario read top to bottom: upload, complete, wait, measure, report.
pub async fn run(api: &Api, pid: u32, plan: Plan) -> Result<()> {
    let token = talent(api).await?;
    let jpeg = std::fs::read(&plan.jpeg).with_context(|| plan.jpeg.clone())?;
    let video = std::fs::read(&plan.video).with_context(|| plan.video.clone())?;

    // Stills, one after another as fast as the workers take them: CPU per image.
    let mut ids = Vec::new();
    for _ in 0..plan.images {
        ids.push(upload(api, &token, "HEADSHOT", "image/jpeg", &jpeg).await?);
    }
    let cpu_before = cpu_secs(pid)?;
    let started = Instant::now();
    for id in &ids {
        complete(api, &token, id).await?;
    }
    all_ready(api, &token, &ids).await?;
    let cpu = cpu_secs(pid)? - cpu_before;
    let wall = started.elapsed().as_secs_f64();
    println!(
        "stills: {} × {:.1} MB 12-megapixel JPEG -> large (1280) + small (320) JPEG renditions",
        plan.images,
        jpeg.len() as f64 / 1e6
    );
    println!(
        "  server CPU {cpu:.2} s, wall {wall:.2} s: {:.1} images per CPU-second ({:.1} renditions), {:.1} images/s",
        plan.images as f64 / cpu,
        2.0 * plan.images as f64 / cpu,
        plan.images as f64 / wall
    );

    // `concurrent` completed at once: peak memory.
    let mut ids = Vec::new();
    for _ in 0..plan.concurrent {
        ids.push(upload(api, &token, "HEADSHOT", "image/jpeg", &jpeg).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = rss_kib(pid)?;
    let sampler = Sampler::start(pid);
    let started = Instant::now();
    futures_util::future::try_join_all(ids.iter().map(|id| complete(api, &token, id))).await?;
    all_ready(api, &token, &ids).await?;
    let peak = sampler.finish().await;
    println!(
        "  {} completed at once: READY in {:.2} s; server RSS {} KiB before, peak {} KiB (+{} KiB)",
        plan.concurrent,
        started.elapsed().as_secs_f64(),
        base,
        peak,
        peak.saturating_sub(base)
    );

    // A long 1080p video: probe and poster frame.
    let reel = upload(api, &token, "REEL", "video/mp4", &video).await?;
    let started = Instant::now();
    complete(api, &token, &reel).await?;
    all_ready(api, &token, std::slice::from_ref(&reel)).await?;
    println!(
        "poster: {:.1} MB video READY {:.2} s after completion (probe + poster frame + write)",
        video.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    // A large upload streamed through the local store.
    let size = plan.upload_mib << 20;
    let (_, url, headers) = request(api, &token, "REEL", "video/mp4", size).await?;
    // 1 MiB of a repeating pattern, sent `upload_mib` times (the store does not look at it).
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let body = futures_util::stream::iter(
        (0..plan.upload_mib).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = rss_kib(pid)?;
    let sampler = Sampler::start(pid);
    let started = Instant::now();
    put(api, &url, &headers, reqwest::Body::wrap_stream(body)).await?;
    let secs = started.elapsed().as_secs_f64();
    let peak = sampler.finish().await;
    println!(
        "upload: {} MiB in {secs:.2} s = {:.0} MB/s; server RSS {base} KiB before, peak {peak} KiB (+{} KiB)",
        plan.upload_mib,
        size as f64 / 1e6 / secs,
        peak.saturating_sub(base)
    );
    Ok(())
}
