//! MediaWorkers: each instance processes completed uploads, a bounded number at a time, with
//! the CPU work on blocking threads.
//!
//! An item is taken with a lease on its row (`FOR UPDATE SKIP LOCKED`, then `leased_until`);
//! the worker renews it while it works, and every write it makes names its attempt, so a
//! worker whose lease ran out (it died, or hung) can change nothing any more. An item whose
//! worker died is taken up again once its lease runs out — after a restart, or by another
//! instance — and one that killed `max_attempts` workers is FAILED. Status and progress go out
//! as `MEDIA_CHANGED` events with the change itself (the outbox relays them to every
//! instance's `mediaProcessing` subscribers); the results and the step log go to MongoDB as
//! the item's media metadata (`MEDIA_PROCESSED`, stored by the document consumer).

use super::events;
use super::media::{MediaKind, ProcessingReport, Rendition, Step};
use super::AppState;
use crate::clients::ffmpeg::{self, ToolError, Tools};
use crate::clients::imaging;
use crate::clients::sandbox::{StillError, StillRunner};
use crate::clients::storage::{key_of, FULL, LARGE, POSTER, SMALL};
use crate::db;
use crate::db::media::{MediaRow, Processed};
use crate::errors::AppError;
use anyhow::Context;
use diesel_async::AsyncConnection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What this instance's workers did.
#[derive(Debug, Default)]
pub struct MediaWorkerStats {
    pub running: AtomicU64,
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
}

/// Why an item was not processed.
enum Failure {
    /// The file's fault: the item is FAILED with this reason, said to its owner.
    Refused(String),
    /// Ours (storage, database): the item is tried again, by any instance.
    Retry(anyhow::Error),
}

impl From<ToolError> for Failure {
    fn from(e: ToolError) -> Failure {
        match e {
            ToolError::Refused(reason) => Failure::Refused(reason),
            ToolError::Failed(reason) => Failure::Retry(anyhow::anyhow!(reason)),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Retry(e)
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Failure {
        Failure::Retry(anyhow::Error::from(e))
    }
}

/// How many items this instance processes at once.
pub fn concurrency(state: &AppState) -> usize {
    match state.settings.media.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

fn lease_secs(state: &AppState) -> f64 {
    state.settings.media.lease_secs as f64
}

/// Starts this instance's workers: they take whatever is waiting (a restart resumes here),
/// then wake on each upload completed here and look every `media.poll_secs` for the rest.
pub fn start(state: AppState) {
    if !state.settings.media.process {
        tracing::info!("media.process is off: this instance leaves media processing to others");
        return;
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency(&state)));
    let poll = Duration::from_secs(state.settings.media.poll_secs.max(1));
    actix_web::rt::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            match claim(&state).await {
                Ok(Some(row)) => {
                    let state = state.clone();
                    actix_web::rt::spawn(async move {
                        process(&state, row).await;
                        drop(permit);
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "looking for media to process failed"),
            }
            drop(permit);
            if let Err(e) = fail_exhausted(&state).await {
                tracing::warn!(error = %e, "failing abandoned media items failed");
            }
            tokio::select! {
                _ = state.media_wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    });
}

async fn claim(state: &AppState) -> anyhow::Result<Option<MediaRow>> {
    let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
    Ok(db::media::claim(
        &mut conn,
        lease_secs(state),
        state.settings.media.max_attempts,
    )
    .await?)
}

/// Items whose workers died `max_attempts` times: FAILED, objects removed.
async fn fail_exhausted(state: &AppState) -> anyhow::Result<()> {
    let max = state.settings.media.max_attempts;
    let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
    let failed = conn
        .transaction::<_, AppError, _>(async |c| {
            let rows = db::media::exhausted(c, max, 20)
                .await
                .context("media::exhausted")?;
            let mut failed = Vec::new();
            for row in rows {
                let reason = format!("processing did not finish in {max} attempts");
                if let Some(row) = db::media::fail_attempt(c, row.id, row.attempts, &reason)
                    .await
                    .context("media::fail_attempt")?
                {
                    events::media_changed(c, &row).await?;
                    failed.push(row);
                }
            }
            Ok(failed)
        })
        .await
        .map_err(anyhow::Error::from)?;
    drop(conn);
    for row in failed {
        state.media_stats.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(media = %row.id, "a media item was given up after its workers died");
        if let Err(e) = state.media_store.delete_item(row.id.0).await {
            tracing::warn!(media = %row.id, error = %e, "a failed item's objects were not removed");
        }
    }
    Ok(())
}

/// Processes one leased item to READY or FAILED (or leaves it to be tried again).
async fn process(state: &AppState, row: MediaRow) {
    state.media_stats.running.fetch_add(1, Ordering::Relaxed);
    let attempt = row.attempts;
    // Keeps the lease while the work runs; stopped (dropped) when it ends.
    let heartbeat = {
        let state = state.clone();
        let id = row.id;
        let every = Duration::from_secs_f64((lease_secs(&state) / 3.0).max(1.0));
        // Work past the item's budget is not worth a lease: the heartbeat stops there.
        let until = Instant::now() + Duration::from_secs(state.settings.media.item_timeout_secs);
        actix_web::rt::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if Instant::now() >= until {
                    return;
                }
                let Ok(mut conn) = state.conn().await else {
                    continue;
                };
                match db::media::renew(&mut conn, id, attempt, lease_secs(&state)).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(media = %id, error = %e, "renewing a media lease failed")
                    }
                }
            }
        })
    };
    let started = chrono::Utc::now();
    let mut report = super::media::new_report(&row, started);
    let budget = Duration::from_secs(state.settings.media.item_timeout_secs);
    let work = async {
        match MediaKind::parse(&row.kind) {
            Some(MediaKind::Headshot) => still(state, &row, &mut report).await,
            Some(MediaKind::Reel) => video(state, &row, &mut report, true).await,
            Some(MediaKind::VoiceReel) => video(state, &row, &mut report, false).await,
            None => Err(Failure::Refused(format!("unknown kind {}", row.kind))),
        }
    };
    // Whatever a file does to the tools, its item ends within the budget (the tools it ran
    // are killed when `work` is dropped).
    let outcome = match tokio::time::timeout(budget, work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::Refused(format!(
            "processing took longer than {} s and was stopped",
            budget.as_secs()
        ))),
    };
    heartbeat.abort();
    report.finished_at = Some(chrono::Utc::now());
    let result = match outcome {
        Ok(done) => finish(state, &row, done, report).await,
        Err(Failure::Refused(reason)) => refuse(state, &row, &reason, report).await,
        Err(Failure::Retry(e)) => {
            state.media_stats.retried.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(media = %row.id, attempt, error = %e, "media processing failed; it will be tried again");
            // Give the lease back after a pause, to whichever instance takes it.
            let pause = 5.0 * f64::from(attempt.max(1));
            match state.conn().await {
                Ok(mut conn) => db::media::renew(&mut conn, row.id, attempt, pause)
                    .await
                    .map(drop)
                    .map_err(|e| anyhow::anyhow!(e)),
                Err(e) => Err(anyhow::Error::from(e)),
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(media = %row.id, error = %e, "recording a media item's outcome failed; its lease will run out and it is tried again");
    }
    state.media_stats.running.fetch_sub(1, Ordering::Relaxed);
}

/// Records progress (and renews the lease); an error if the item is no longer this attempt's.
async fn progress(state: &AppState, row: &MediaRow, value: f32) -> Result<(), Failure> {
    let mut conn = state.conn().await?;
    let lease = lease_secs(state);
    let changed = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(now) = db::media::set_progress(c, row.id, row.attempts, value, lease)
                .await
                .context("media::set_progress")?
            else {
                return Ok(false);
            };
            events::media_changed(c, &now).await?;
            Ok(true)
        })
        .await?;
    if changed {
        Ok(())
    } else {
        Err(Failure::Retry(anyhow::anyhow!(
            "the item was deleted or taken by another worker"
        )))
    }
}

/// Times one step into the report.
struct Timer(Instant);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now())
    }

    fn done(self, report: &mut ProcessingReport, name: &str) {
        report.steps.push(Step {
            name: name.to_string(),
            ms: self.0.elapsed().as_secs_f64() * 1000.0,
        });
    }
}

async fn still(
    state: &AppState,
    row: &MediaRow,
    report: &mut ProcessingReport,
) -> Result<Processed, Failure> {
    let media = &state.settings.media;
    let timer = Timer::start();
    let bytes = state
        .media_store
        .get(&row.object_key, media.headshot.max_bytes)
        .await
        .context("reading the upload")?;
    timer.done(report, "read");
    progress(state, row, 0.2).await?;
    let runner = StillRunner::from_settings(media).context("the still helper")?;
    let timer = Timer::start();
    let decoded = runner.process(bytes, &row.content_type).await;
    timer.done(report, "decode and resize");
    let still = match decoded {
        Ok(still) => still,
        Err(StillError::Refused { reason, peak_bytes }) => {
            report.peak_memory_bytes = peak_bytes;
            return Err(Failure::Refused(reason));
        }
        Err(StillError::Failed(e)) => return Err(Failure::Retry(e)),
    };
    report.peak_memory_bytes = Some(still.peak_bytes);
    let processed = still.processed;
    report.width = Some(processed.width as i32);
    report.height = Some(processed.height as i32);
    report.orientation = Some(processed.orientation);
    report.decoded = Some(processed.decoded.clone());
    progress(state, row, 0.8).await?;
    let timer = Timer::start();
    let full = key_of(row.id.0, FULL);
    let large = key_of(row.id.0, LARGE);
    let small = key_of(row.id.0, SMALL);
    let (stored_w, stored_h) =
        turned_back(processed.width, processed.height, processed.orientation);
    let objects = [
        (
            &full,
            "full",
            row.content_type.as_str(),
            stored_w,
            stored_h,
            processed.full,
        ),
        (
            &large,
            "large",
            "image/jpeg",
            processed.large.width,
            processed.large.height,
            processed.large.jpeg,
        ),
        (
            &small,
            "small",
            "image/jpeg",
            processed.small.width,
            processed.small.height,
            processed.small.jpeg,
        ),
    ];
    for (key, name, content_type, width, height, bytes) in objects {
        report.renditions.push(Rendition {
            name: name.into(),
            key: key.clone(),
            width,
            height,
            bytes: bytes.len() as u64,
        });
        state
            .media_store
            .put(key, content_type, bytes)
            .await
            .context("writing a rendition")?;
    }
    timer.done(report, "write renditions");
    Ok(Processed {
        display_key: Some(full),
        thumbnail_key: Some(small),
        width: Some(processed.width as i32),
        height: Some(processed.height as i32),
        duration_seconds: None,
    })
}

/// The size of an image as stored, from its size as displayed and its EXIF orientation.
fn turned_back(width: u32, height: u32, orientation: u8) -> (u32, u32) {
    if matches!(orientation, 5..=8) {
        (height, width)
    } else {
        (width, height)
    }
}

async fn video(
    state: &AppState,
    row: &MediaRow,
    report: &mut ProcessingReport,
    needs_picture: bool,
) -> Result<Processed, Failure> {
    let media = &state.settings.media;
    let tools = Tools {
        ffprobe: media.ffprobe.clone(),
        ffmpeg: media.ffmpeg.clone(),
        timeout: Duration::from_millis(media.tool_timeout_ms),
        max_memory: media.tool_max_memory,
    };
    let input = state.media_store.tool_input(&row.object_key)?;
    let timer = Timer::start();
    let probe = tools.probe(&input, &row.content_type).await?;
    timer.done(report, "probe");
    report.format = probe.format.clone();
    report.duration_seconds = probe.duration_seconds;
    report.video_codec = probe.video_codec.clone();
    report.audio_codec = probe.audio_codec.clone();
    report.width = probe.width.map(|w| w as i32);
    report.height = probe.height.map(|h| h as i32);
    probe.check_streams(media.max_streams as usize, ffmpeg::MAX_VIDEO_PIXELS)?;
    if needs_picture {
        let (Some(w), Some(h)) = (probe.width, probe.height) else {
            return Err(Failure::Refused("the file has no video stream".into()));
        };
        if u64::from(w) * u64::from(h) > ffmpeg::MAX_VIDEO_PIXELS {
            return Err(Failure::Refused(format!(
                "the video is {w} × {h} pixels; at most 8192 × 4352 are accepted"
            )));
        }
    } else if probe.audio_codec.is_none() {
        return Err(Failure::Refused("the file has no audio stream".into()));
    }
    let mut done = Processed {
        width: probe.width.map(|w| w as i32),
        height: probe.height.map(|h| h as i32),
        duration_seconds: probe.duration_seconds,
        ..Processed::default()
    };
    if !needs_picture {
        return Ok(done);
    }
    progress(state, row, 0.4).await?;
    let timer = Timer::start();
    let at = ffmpeg::poster_time(probe.duration_seconds);
    let poster = tools.poster(&input, &row.content_type, at).await?;
    timer.done(report, "poster frame");
    let (pw, ph) = imaging::jpeg_size(&poster)
        .ok_or_else(|| Failure::Refused("the poster frame could not be read".into()))?;
    progress(state, row, 0.8).await?;
    let timer = Timer::start();
    let key = key_of(row.id.0, POSTER);
    report.renditions.push(Rendition {
        name: "poster".into(),
        key: key.clone(),
        width: pw,
        height: ph,
        bytes: poster.len() as u64,
    });
    state
        .media_store
        .put(&key, "image/jpeg", poster)
        .await
        .context("writing the poster frame")?;
    timer.done(report, "write poster");
    done.thumbnail_key = Some(key);
    Ok(done)
}

/// READY, with what was made and the report, in one transaction.
async fn finish(
    state: &AppState,
    row: &MediaRow,
    done: Processed,
    mut report: ProcessingReport,
) -> anyhow::Result<()> {
    report.outcome = "READY".into();
    let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
    let finished = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(now) = db::media::finish(c, row.id, row.attempts, &done)
                .await
                .context("media::finish")?
            else {
                return Ok(false);
            };
            events::media_changed(c, &now).await?;
            events::media_processed(c, &now, report).await?;
            Ok(true)
        })
        .await
        .map_err(anyhow::Error::from)?;
    if finished {
        state.media_stats.ready.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    // Taken over (another worker rewrites the same keys), or deleted meanwhile: then what was
    // written here after the deletion removed its objects would stay behind, untracked.
    tracing::info!(media = %row.id, "a processed item was deleted or taken over meanwhile");
    let still_there = db::media::find(&mut conn, row.id)
        .await
        .context("media::find")?
        .is_some();
    drop(conn);
    if !still_there {
        state
            .media_store
            .delete_item(row.id.0)
            .await
            .context("removing what was made for a deleted item")?;
    }
    Ok(())
}

/// FAILED with the file's reason; the upload and anything made from it are removed.
async fn refuse(
    state: &AppState,
    row: &MediaRow,
    reason: &str,
    mut report: ProcessingReport,
) -> anyhow::Result<()> {
    report.outcome = "FAILED".into();
    report.error = Some(reason.to_string());
    let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
    let failed = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(now) = db::media::fail_attempt(c, row.id, row.attempts, reason)
                .await
                .context("media::fail_attempt")?
            else {
                return Ok(false);
            };
            events::media_changed(c, &now).await?;
            events::media_processed(c, &now, report).await?;
            Ok(true)
        })
        .await
        .map_err(anyhow::Error::from)?;
    let gone = !failed
        && db::media::find(&mut conn, row.id)
            .await
            .context("media::find")?
            .is_none();
    drop(conn);
    if failed {
        state.media_stats.failed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(media = %row.id, reason, "a media item was refused");
    }
    if failed || gone {
        // The hostile or broken file goes (the row stays to say why); an item deleted while
        // it was being processed loses what was written for it meanwhile.
        state
            .media_store
            .delete_item(row.id.0)
            .await
            .context("removing a refused item's objects")?;
    }
    Ok(())
}
