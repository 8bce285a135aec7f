//! Media processing: what each instance's media queue worker does with a completed upload,
//! with the CPU work on blocking threads.
//!
//! Items wait in the leased queue `db::queue::MEDIA` (the PROCESSING rows of `media_items`),
//! run by the one queue worker every background job has (`castyou_actors::queue`): it claims,
//! renews the lease while the work runs, and runs a bounded number at once. Every write made
//! here names the lease, so a worker whose lease ran out (it died, or hung) can change nothing
//! any more. An item whose worker died is taken up again once its lease runs out — after a
//! restart, or by another instance — and one that killed or failed `max_attempts` workers is
//! FAILED (the queue's dead letter, `fail_exhausted`). Status and progress go out
//! as `MEDIA_CHANGED` events with the change itself (the outbox relays them to every
//! instance's `mediaProcessing` subscribers); the results and the step log go to MongoDB as
//! the item's media metadata (`MEDIA_PROCESSED`, stored by the document consumer).

use super::events;
use super::media::{MediaKind, ProcessingReport, Rendition, Step};
use super::AppState;
use crate::clients::ffmpeg::{self, ToolError, Tools};
use crate::clients::imaging;
use crate::clients::sandbox::{StillError, StillRunner};
use crate::clients::storage::{key_of, Store, FULL, LARGE, POSTER, SMALL};
use crate::db;
use crate::db::media::{MediaRow, Processed};
use crate::db::queue::{self, Lease};
use crate::domain::ids::MediaId;
use crate::errors::AppError;
use anyhow::Context;
use castyou_vocab::queue::Ran;
use diesel_async::AsyncConnection;
use std::time::{Duration, Instant};

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

/// Leases up to `limit` items waiting for processing.
pub async fn claim(state: &AppState, limit: usize) -> anyhow::Result<Vec<Lease>> {
    let mut conn = state.conn().await?;
    let media = &state.settings.media;
    queue::claim(
        &mut conn,
        queue::MEDIA,
        limit,
        Duration::from_secs(media.lease_secs),
        media.max_attempts,
    )
    .await
    .context("queue::claim (media)")
}

/// Extends the lease of an item being processed (false: it is no longer this lease's).
pub async fn renew(state: &AppState, lease: Lease) -> anyhow::Result<bool> {
    let mut conn = state.conn().await?;
    let within = Duration::from_secs(state.settings.media.lease_secs);
    queue::renew(&mut conn, queue::MEDIA, &lease, within)
        .await
        .context("queue::renew (media)")
}

/// How many items wait for processing, and how many were given up (all instances).
pub async fn depth(state: &AppState) -> anyhow::Result<(i64, i64)> {
    let mut conn = state.conn().await?;
    queue::depth(&mut conn, queue::MEDIA, state.settings.media.max_attempts)
        .await
        .context("queue::depth (media)")
}

/// The dead letters: items whose workers died or failed `max_attempts` times are FAILED and
/// their objects removed. How many.
pub async fn fail_exhausted(state: &AppState) -> anyhow::Result<u64> {
    let max = state.settings.media.max_attempts;
    let mut conn = state.conn().await?;
    let failed = conn
        .transaction::<_, AppError, _>(async |c| {
            let leases = queue::exhausted(c, queue::MEDIA, max, 20)
                .await
                .context("queue::exhausted (media)")?;
            let mut failed = Vec::new();
            for lease in leases {
                let reason = format!("processing did not finish in {max} attempts");
                if let Some(row) = db::media::fail(c, MediaId(lease.id), &reason)
                    .await
                    .context("media::fail")?
                {
                    events::media_changed(c, &row).await?;
                    failed.push(row);
                }
            }
            Ok(failed)
        })
        .await?;
    drop(conn);
    for row in &failed {
        tracing::warn!(media = %row.id, "a media item was given up after its workers died");
        if let Err(e) = state.media_store.delete_item(row.id.0).await {
            tracing::warn!(media = %row.id, error = %format!("{e:#}"), "a failed item's objects were not removed");
        }
    }
    Ok(failed.len() as u64)
}

/// Processes one leased item to READY or FAILED, or gives it back to be tried again (by any
/// instance, after a pause that grows with its tries). What became of it.
pub async fn process(state: &AppState, lease: Lease) -> anyhow::Result<Ran> {
    let row = {
        let mut conn = state.conn().await?;
        db::media::find(&mut conn, MediaId(lease.id))
            .await
            .context("media::find")?
    };
    let Some(row) = row.filter(|r| r.status == "PROCESSING") else {
        // Deleted (or finished by an earlier holder) between the claim and now.
        return Ok(Ran::default());
    };
    let started = chrono::Utc::now();
    let mut report = super::media::new_report(&row, started);
    let budget = Duration::from_secs(state.settings.media.item_timeout_secs);
    let work = async {
        match MediaKind::parse(&row.kind) {
            Some(MediaKind::Headshot) => still(state, &row, &lease, &mut report).await,
            Some(MediaKind::Reel) => video(state, &row, &lease, &mut report, true).await,
            Some(MediaKind::VoiceReel) => video(state, &row, &lease, &mut report, false).await,
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
    report.finished_at = Some(chrono::Utc::now());
    match outcome {
        Ok(done) => {
            finish(state, &row, &lease, done, report).await?;
            Ok(Ran {
                done: 1,
                ..Ran::default()
            })
        }
        Err(Failure::Refused(reason)) => {
            refuse(state, &row, &lease, &reason, report).await?;
            Ok(Ran {
                refused: 1,
                ..Ran::default()
            })
        }
        Err(Failure::Retry(e)) => {
            let error = format!("{e:#}");
            tracing::warn!(media = %row.id, attempt = lease.attempt, error, "media processing failed; it will be tried again");
            // Given back after a pause, to whichever instance takes it.
            let pause = Duration::from_secs(5 * u64::from(lease.attempt.max(1).unsigned_abs()));
            let mut conn = state.conn().await?;
            queue::retry_later(&mut conn, queue::MEDIA, &lease, pause, &error, true)
                .await
                .context("queue::retry_later (media)")?;
            Ok(Ran {
                retried: 1,
                ..Ran::default()
            })
        }
    }
}

/// Records progress (and renews the lease); an error if the item is no longer this attempt's.
async fn progress(state: &AppState, lease: &Lease, value: f32) -> Result<(), Failure> {
    let mut conn = state.conn().await?;
    let within = lease_secs(state);
    let changed = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(now) = db::media::set_progress(c, lease, value, within)
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

// Long: a still's processing in order (read, decode in the sandbox, renditions, writes),
// each step timed into the report where it happens.
async fn still(
    state: &AppState,
    row: &MediaRow,
    lease: &Lease,
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
    progress(state, lease, 0.2).await?;
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
    progress(state, lease, 0.8).await?;
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
    lease: &Lease,
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
    progress(state, lease, 0.4).await?;
    let timer = Timer::start();
    let at = ffmpeg::poster_time(probe.duration_seconds);
    let poster = tools.poster(&input, &row.content_type, at).await?;
    timer.done(report, "poster frame");
    let (pw, ph) = imaging::jpeg_size(&poster)
        .ok_or_else(|| Failure::Refused("the poster frame could not be read".into()))?;
    progress(state, lease, 0.8).await?;
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
    lease: &Lease,
    done: Processed,
    mut report: ProcessingReport,
) -> anyhow::Result<()> {
    report.outcome = "READY".into();
    let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
    let finished = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(now) = db::media::finish(c, lease, &done)
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
    lease: &Lease,
    reason: &str,
    mut report: ProcessingReport,
) -> anyhow::Result<()> {
    report.outcome = "FAILED".into();
    report.error = Some(reason.to_string());
    let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
    let failed = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(now) = db::media::refuse(c, lease, reason)
                .await
                .context("media::refuse")?
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
