//! The explain log: every feed page served, staged off the answer's path and written in
//! batches, so "what was shown to whom, and why" can be answered later.

use crate::db::{self};
use crate::documents::explain::{verdict_letter, ExplainDoc, LoggedTalent, LoggedWeight};
use crate::documents::{bson_time, sort_key};
use crate::domain::ids::EventId;
use crate::errors::AppResult;
use crate::services::{events, AppState};
use anyhow::Context as _;
use castyou_vocab::events::{Served, ServedPages};
use std::collections::HashMap;
use uuid::Uuid;

/// How long a served page waits, at most, before it is written to the outbox.
const EXPLAIN_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);
/// Pages per outbox row (and a flush is started once this many wait).
const EXPLAIN_BATCH: usize = 200;
/// Pages kept waiting while PostgreSQL cannot take them; the oldest go first past this.
const EXPLAIN_MAX_WAITING: usize = 50_000;

/// The same page shown to the same viewer again within this long is logged once.
const EXPLAIN_REPEAT: std::time::Duration = std::time::Duration::from_secs(60);
/// Pages remembered for `EXPLAIN_REPEAT`, at most (older ones are forgotten first).
const EXPLAIN_REMEMBERED: usize = 20_000;

/// This instance's explain-log stager: pages served wait here (no I/O on the answer's path)
/// and are written to the outbox in batches every `EXPLAIN_FLUSH` by `run`, and once more when
/// the server stops. While PostgreSQL is away they keep waiting (up to `EXPLAIN_MAX_WAITING`,
/// then the oldest are dropped and counted); a crash loses at most the last flush interval.
/// A page already logged for the same viewer within `EXPLAIN_REPEAT` (same job, request,
/// weights, talents and scores) is not logged again: the log answers "what was shown, when",
/// and a client reloading a page in a loop must not write a 400-day document each time.
#[derive(Default)]
pub struct ExplainStage {
    waiting: std::sync::Mutex<std::collections::VecDeque<Served>>,
    recent: std::sync::Mutex<HashMap<u64, std::time::Instant>>,
    wake: tokio::sync::Notify,
    dropped: std::sync::atomic::AtomicU64,
    repeats: std::sync::atomic::AtomicU64,
}

/// What makes two served pages the same for the explain log.
fn page_fingerprint(served: &Served) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    served.job_id.0.hash(&mut h);
    served.viewer_id.0.hash(&mut h);
    served.viewer_role.hash(&mut h);
    served.engine_version.hash(&mut h);
    served.request.to_string().hash(&mut h);
    for w in &served.weights {
        w.factor.hash(&mut h);
        w.weight.to_bits().hash(&mut h);
    }
    for t in &served.talents {
        t.talent_id.0.hash(&mut h);
        t.rank.hash(&mut h);
        t.score.to_bits().hash(&mut h);
    }
    h.finish()
}

impl ExplainStage {
    fn waiting(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Served>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when the same page was logged for the same viewer within `EXPLAIN_REPEAT`
    /// (remembering this one otherwise).
    fn is_repeat(&self, served: &Served) -> bool {
        let key = page_fingerprint(served);
        let now = std::time::Instant::now();
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < EXPLAIN_REPEAT)
        {
            return true;
        }
        if recent.len() >= EXPLAIN_REMEMBERED {
            recent.retain(|_, at| now.duration_since(*at) < EXPLAIN_REPEAT);
            if recent.len() >= EXPLAIN_REMEMBERED {
                recent.clear();
            }
        }
        recent.insert(key, now);
        false
    }

    /// Pages not logged because they repeated one logged within the minute.
    pub fn repeats(&self) -> u64 {
        self.repeats.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn push(&self, served: Served) {
        if self.is_repeat(&served) {
            self.repeats
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let mut waiting = self.waiting();
        if waiting.len() >= EXPLAIN_MAX_WAITING {
            waiting.pop_front();
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(
                "the explain log is full while PostgreSQL is away; dropped the oldest page"
            );
        }
        waiting.push_back(served);
        if waiting.len() >= EXPLAIN_BATCH {
            self.wake.notify_one();
        }
    }

    /// Pages dropped because too many waited.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes every waiting page to the outbox; on failure they wait for the next flush.
    pub async fn flush(&self, state: &AppState) -> AppResult<usize> {
        let mut written = 0;
        loop {
            let batch: Vec<Served> = {
                let mut waiting = self.waiting();
                let n = waiting.len().min(EXPLAIN_BATCH);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                return Ok(written);
            }
            let n = batch.len();
            let event = events::OutboxEvent::DiscoverServed(ServedPages { pages: batch });
            if let Err(e) = stage(state, &event).await {
                let events::OutboxEvent::DiscoverServed(ServedPages { pages }) = event else {
                    return Err(e);
                };
                let mut waiting = self.waiting();
                for page in pages.into_iter().rev() {
                    waiting.push_front(page);
                }
                return Err(e);
            }
            written += n;
        }
    }

    /// Flushes every `EXPLAIN_FLUSH` (sooner when a batch is full), for as long as the server runs.
    pub async fn run(self: std::sync::Arc<Self>, state: AppState) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(EXPLAIN_FLUSH) => {}
                () = self.wake.notified() => {}
            }
            if let Err(e) = self.flush(&state).await {
                tracing::error!(
                    code = e.code(),
                    "explain-log pages could not be staged; retrying"
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn stage(state: &AppState, event: &events::OutboxEvent) -> AppResult<()> {
    let (kind, payload) = event.to_columns()?;
    let mut conn = state.conn().await?;
    db::outbox::record_staged(&mut conn, EventId::generate(), kind, &payload)
        .await
        .context("outbox::record_staged")?;
    Ok(())
}

/// The explain-log documents of a staged row: the `n`th page's id is derived from the row's,
/// so shipping the row twice stores each page once.
pub fn explain_docs(pages: &ServedPages, row: Uuid) -> Vec<ExplainDoc> {
    pages
        .pages
        .iter()
        .enumerate()
        .map(|(n, page)| explain_doc(page, Uuid::new_v5(&row, n.to_string().as_bytes())))
        .collect()
}

fn explain_doc(served: &Served, id: Uuid) -> ExplainDoc {
    let at = bson_time(served.at);
    ExplainDoc {
        key: sort_key(at, &id.to_string()),
        id: id.to_string(),
        job_id: served.job_id.to_string(),
        viewer_id: served.viewer_id.to_string(),
        viewer_role: served.viewer_role.clone(),
        engine_version: served.engine_version.clone(),
        weights: served
            .weights
            .iter()
            .map(|w| LoggedWeight {
                factor: w.factor.clone(),
                weight: f64::from(w.weight),
            })
            .collect(),
        request: served.request.to_string(),
        talents: served
            .talents
            .iter()
            .map(|t| LoggedTalent {
                talent_id: t.talent_id.to_string(),
                rank: i64::from(t.rank),
                score: f64::from(t.score),
                scores: t.factors.iter().map(|(s, _)| f64::from(*s)).collect(),
                verdicts: t
                    .factors
                    .iter()
                    .map(|(_, v)| verdict_letter(v.as_str()))
                    .collect(),
            })
            .collect(),
        at,
    }
}
