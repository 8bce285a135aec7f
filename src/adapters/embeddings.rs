//! The embedding queue's work and the semantic index's source, over PostgreSQL and the
//! configured endpoint: works out which texts of the leased subjects changed (content hashes),
//! embeds them, stores vectors with an `EMBEDDINGS_STORED` event in one transaction, and reads
//! vectors back.

use crate::clients::ai::Ai;
use crate::db::embeddings as store;
use crate::db::queue::{self, Lease};
use crate::db::{self, PgPool};
use crate::domain::ids::{JobId, UserId};
use crate::services::embeddings::{
    content_hash, job_text, talent_texts, EmbeddingStats, Part, JOB_PART,
};
use crate::services::events::{self, OutboxEvent};
use anyhow::Context;
use castyou_actors::queue::Work;
use castyou_actors::relay::PortFuture;
use castyou_actors::{Event, SemanticSource, Topic};
use castyou_vocab::queue::Ran;
use diesel_async::AsyncConnection;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The embedding queue's work: changed profile and job text into vectors.
pub struct EmbeddingWork {
    pool: PgPool,
    ai: Ai,
    stats: Arc<EmbeddingStats>,
    /// Texts per endpoint call.
    batch: usize,
    lease: Duration,
    max_attempts: i32,
}

impl EmbeddingWork {
    pub fn new(
        pool: PgPool,
        ai: Ai,
        stats: Arc<EmbeddingStats>,
        batch: usize,
        lease: Duration,
        max_attempts: i32,
    ) -> EmbeddingWork {
        EmbeddingWork {
            pool,
            ai,
            stats,
            batch: batch.max(1),
            lease,
            max_attempts,
        }
    }
}

/// One leased subject whose text changed since it was last embedded.
#[derive(Debug)]
struct Ticket {
    lease: Lease,
    talent: bool,
    /// Parts embedded, in the order of `texts`, with their content hashes.
    embed: Vec<(String, Vec<u8>)>,
    /// Parts whose text is now empty: their vectors go.
    clear: Vec<String>,
    texts: Vec<String>,
}

/// The tickets of the leased subjects whose texts changed; settles the others at once.
async fn prepare(pool: &PgPool, ai: &Ai, leases: Vec<Lease>) -> anyhow::Result<Vec<Ticket>> {
    let mut conn = pool.get().await?;
    let ids: Vec<Uuid> = leases.iter().map(|l| l.id).collect();
    // A backlog row is a talent's or a job's: ids never collide, so both are looked up.
    let talent_ids: Vec<UserId> = ids.iter().copied().map(UserId).collect();
    let job_ids: Vec<JobId> = ids.iter().copied().map(JobId).collect();
    let talents: HashMap<Uuid, _> = db::profiles::find_talents(&mut conn, &talent_ids)
        .await
        .context("profiles::find_talents")?
        .into_iter()
        .map(|t| (t.row.user_id.0, t))
        .collect();
    let jobs: HashMap<Uuid, _> = db::jobs::find_many(&mut conn, &job_ids)
        .await
        .context("jobs::find_many")?
        .into_iter()
        .map(|j| (j.row.id.0, j))
        .collect();
    let stored: HashMap<(Uuid, String), Vec<u8>> = store::hashes(&mut conn, &ids)
        .await
        .context("embeddings::hashes")?
        .into_iter()
        .map(|h| ((h.subject_id, h.part), h.content_hash))
        .collect();
    let (model, dims) = (ai.embedding_model(), ai.dimensions());
    let mut tickets = Vec::new();
    let mut settled = Vec::new();
    for lease in leases {
        let texts: Vec<(String, String)> = if let Some(t) = talents.get(&lease.id) {
            talent_texts(t)
                .into_iter()
                .map(|(part, text)| (part.as_str().to_string(), text))
                .collect()
        } else if let Some(j) = jobs.get(&lease.id) {
            vec![(JOB_PART.to_string(), job_text(j))]
        } else {
            // Gone: its vectors went with it.
            settled.push(lease);
            continue;
        };
        let mut ticket = Ticket {
            lease,
            talent: talents.contains_key(&lease.id),
            embed: Vec::new(),
            clear: Vec::new(),
            texts: Vec::new(),
        };
        for (part, text) in texts {
            let text = ai.bounded(text.trim()).to_string();
            let known = stored.get(&(lease.id, part.clone()));
            if text.is_empty() {
                if known.is_some() {
                    ticket.clear.push(part);
                }
                continue;
            }
            let hash = content_hash(model, dims, &part, &text);
            if known != Some(&hash) {
                ticket.embed.push((part, hash));
                ticket.texts.push(text);
            }
        }
        if ticket.embed.is_empty() && ticket.clear.is_empty() {
            settled.push(lease);
        } else {
            tickets.push(ticket);
        }
    }
    store::settle(&mut conn, &settled)
        .await
        .context("embeddings::settle")?;
    Ok(tickets)
}

/// Every ticket's texts, `batch` per endpoint call: a vector per text, in order.
async fn embed(
    ai: &Ai,
    stats: &EmbeddingStats,
    tickets: &[Ticket],
    batch: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let texts: Vec<&String> = tickets.iter().flat_map(|t| &t.texts).collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch) {
        stats.calls.fetch_add(1, Ordering::Relaxed);
        let chunk: Vec<String> = chunk.iter().map(|t| t.to_string()).collect();
        let got = ai.embed(&chunk).await?.vectors;
        anyhow::ensure!(
            got.len() == chunk.len(),
            "{} vectors for {} texts",
            got.len(),
            chunk.len()
        );
        vectors.extend(got);
    }
    stats
        .embedded_texts
        .fetch_add(texts.len() as u64, Ordering::Relaxed);
    Ok(vectors)
}

/// Stores each ticket's vectors (in its texts' order) and settles it, in one transaction with
/// the `EMBEDDINGS_STORED` event; tickets whose subject was queued again or taken over since
/// are left out. How many were stored.
async fn store_vectors(
    pool: &PgPool,
    model: &str,
    tickets: Vec<Ticket>,
    vectors: Vec<Vec<f32>>,
) -> anyhow::Result<u64> {
    let mut vectors = vectors.into_iter();
    let done: Vec<(Ticket, Vec<Vec<f32>>)> = tickets
        .into_iter()
        .map(|t| {
            let own = vectors.by_ref().take(t.texts.len()).collect();
            (t, own)
        })
        .collect();
    let mut conn = pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let leases: Vec<Lease> = done.iter().map(|(t, _)| t.lease).collect();
        let held = store::held(c, &leases).await.context("embeddings::held")?;
        let (mut talents, mut jobs, mut settled) = (Vec::new(), Vec::new(), Vec::new());
        for (ticket, vectors) in done.iter().filter(|(t, _)| held.contains(&t.lease.id)) {
            let id = ticket.lease.id;
            for ((part, hash), vector) in ticket.embed.iter().zip(vectors) {
                if ticket.talent {
                    store::put_talent_part(c, id, part, model, hash, Some(vector)).await
                } else {
                    store::put_job(c, id, model, hash, Some(vector)).await
                }
                .or_else(ignore_vanished)?;
            }
            for part in &ticket.clear {
                if ticket.talent {
                    store::put_talent_part(c, id, part, model, &[], None).await?;
                } else {
                    store::put_job(c, id, model, &[], None).await?;
                }
            }
            settled.push(ticket.lease);
            if ticket.talent {
                talents.push(UserId(id));
            } else {
                jobs.push(JobId(id));
            }
        }
        store::settle(c, &settled).await?;
        events::embeddings_stored(c, talents, jobs)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(settled.len() as u64)
    })
    .await
}

/// A subject deleted between the claim and the store leaves a foreign-key violation: nothing
/// to store for it.
fn ignore_vanished(e: diesel::result::Error) -> diesel::QueryResult<()> {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => Ok(()),
        e => Err(e),
    }
}

impl EmbeddingWork {
    async fn run(&self, leases: Vec<Lease>) -> anyhow::Result<Ran> {
        let claimed = leases.len() as u64;
        let tickets = prepare(&self.pool, &self.ai, leases).await?;
        let unchanged = claimed - tickets.len() as u64;
        if tickets.is_empty() {
            return Ok(Ran {
                done: unchanged,
                ..Ran::default()
            });
        }
        let vectors = match embed(&self.ai, &self.stats, &tickets, self.batch).await {
            Ok(vectors) => vectors,
            Err(e) => {
                // The endpoint's failure, not the subjects': each is due again at once with
                // its try refunded, and the queue pauses.
                let error = format!("{e:#}");
                let mut conn = self.pool.get().await?;
                for ticket in &tickets {
                    queue::retry_later(
                        &mut conn,
                        queue::EMBEDDINGS,
                        &ticket.lease,
                        Duration::ZERO,
                        &error,
                        false,
                    )
                    .await
                    .context("queue::retry_later (embeddings)")?;
                }
                return Err(e);
            }
        };
        let stored = store_vectors(&self.pool, self.ai.embedding_model(), tickets, vectors).await?;
        Ok(Ran {
            done: unchanged + stored,
            ..Ran::default()
        })
    }
}

impl Work for EmbeddingWork {
    const NAME: &'static str = "embeddings";
    const TOPIC: Option<Topic> = Some(Topic::Matching);

    fn claim(&self, limit: usize) -> PortFuture<Vec<Lease>> {
        let (pool, lease, max) = (self.pool.clone(), self.lease, self.max_attempts);
        Box::pin(async move {
            let mut conn = pool.get().await?;
            queue::claim(&mut conn, queue::EMBEDDINGS, limit, lease, max)
                .await
                .context("queue::claim (embeddings)")
        })
    }

    fn renew(&self, held: Lease) -> PortFuture<bool> {
        let (pool, lease) = (self.pool.clone(), self.lease);
        Box::pin(async move {
            let mut conn = pool.get().await?;
            queue::renew(&mut conn, queue::EMBEDDINGS, &held, lease)
                .await
                .context("queue::renew (embeddings)")
        })
    }

    fn run(&self, leases: Vec<Lease>) -> PortFuture<Ran> {
        let work = EmbeddingWork {
            pool: self.pool.clone(),
            ai: self.ai.clone(),
            stats: Arc::clone(&self.stats),
            ..*self
        };
        Box::pin(async move { work.run(leases).await })
    }

    /// Dead letters stay in the backlog with their last error, for operators (`/readyz`
    /// counts them); a change to the subject's text queues it afresh.
    fn bury(&self) -> PortFuture<u64> {
        Box::pin(async { Ok(0) })
    }

    fn depth(&self) -> PortFuture<(i64, i64)> {
        let (pool, max) = (self.pool.clone(), self.max_attempts);
        Box::pin(async move {
            let mut conn = pool.get().await?;
            queue::depth(&mut conn, queue::EMBEDDINGS, max)
                .await
                .context("queue::depth (embeddings)")
        })
    }

    fn wakes(&self, event: &Event) -> bool {
        matches!(
            events::decode(event).as_deref(),
            Some(
                OutboxEvent::TalentProfileChanged(_)
                    | OutboxEvent::JobUpdated(_)
                    | OutboxEvent::JobPublished(_)
            )
        )
    }
}

/// The semantic index's source: talents' PROFILE vectors of the configured model.
pub struct PgSemanticSource {
    pool: PgPool,
    model: String,
    dims: i32,
}

impl PgSemanticSource {
    pub fn new(pool: PgPool, ai: &Ai) -> PgSemanticSource {
        PgSemanticSource {
            pool,
            model: ai.embedding_model().to_string(),
            dims: ai.dimensions() as i32,
        }
    }
}

impl SemanticSource for PgSemanticSource {
    fn vectors(&self, after: Option<Uuid>, limit: usize) -> PortFuture<Vec<(Uuid, Vec<f32>)>> {
        let (pool, model, dims) = (self.pool.clone(), self.model.clone(), self.dims);
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let rows = store::talent_vectors_page(
                &mut conn,
                Part::Profile.as_str(),
                &model,
                dims,
                after,
                limit as i64,
            )
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.subject_id, store::from_bytes(&r.vector)))
                .collect())
        })
    }

    fn current(&self, ids: Vec<Uuid>) -> PortFuture<Vec<(Uuid, Option<Vec<f32>>)>> {
        let (pool, model, dims) = (self.pool.clone(), self.model.clone(), self.dims);
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let mut found: HashMap<Uuid, Vec<f32>> =
                store::talent_vectors(&mut conn, &ids, &[Part::Profile.as_str()], &model, dims)
                    .await?
                    .into_iter()
                    .map(|r| (r.subject_id, store::from_bytes(&r.vector)))
                    .collect();
            Ok(ids
                .into_iter()
                .map(|id| {
                    let v = found.remove(&id);
                    (id, v)
                })
                .collect())
        })
    }

    fn changed(&self, event: &Event) -> Vec<Uuid> {
        match events::decode(event).as_deref() {
            Some(OutboxEvent::EmbeddingsStored(stored)) => {
                stored.talent_ids.iter().map(|t| t.0).collect()
            }
            _ => Vec::new(),
        }
    }
}
