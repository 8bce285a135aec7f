//! The embedding worker's and the semantic index's ports over PostgreSQL and the configured
//! endpoint: leases backlog rows, works out which texts changed (content hashes), embeds them,
//! stores vectors with an `EMBEDDINGS_STORED` event in one transaction, and reads vectors back.

use crate::clients::ai::Ai;
use crate::db::embeddings::{self as store, Subject};
use crate::db::{self, PgPool};
use crate::domain::ids::{JobId, UserId};
use crate::services::embeddings::{content_hash, job_text, talent_texts, Part, JOB_PART};
use crate::services::events::{self, OutboxEvent};
use anyhow::Context;
use castyou_actors::embeddings::{EmbeddingPort, Pending};
use castyou_actors::relay::PortFuture;
use castyou_actors::{Event, SemanticSource};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// How long a worker holds a lease before another may take the subject.
const LEASE_SECS: i64 = 120;

/// What the worker carries for one leased subject.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ticket {
    id: Uuid,
    talent: bool,
    queued_at: DateTime<Utc>,
    /// Parts embedded, in the order of the texts, with their content hashes.
    embed: Vec<(String, Vec<u8>)>,
    /// Parts whose text is now empty: their vectors go.
    clear: Vec<String>,
}

pub struct PgEmbeddings {
    pool: PgPool,
    ai: Ai,
}

impl PgEmbeddings {
    pub fn new(pool: PgPool, ai: Ai) -> PgEmbeddings {
        PgEmbeddings { pool, ai }
    }
}

/// The texts of the claimed subjects that changed; settles the others.
async fn claim(pool: &PgPool, ai: &Ai, limit: usize) -> anyhow::Result<Vec<Pending>> {
    let mut conn = pool.get().await?;
    let claimed = store::claim(&mut conn, limit as i64, LEASE_SECS)
        .await
        .context("embeddings::claim")?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.subject_id).collect();
    let talent_ids: Vec<UserId> = claimed
        .iter()
        .filter(|c| c.subject == Subject::Talent.as_str())
        .map(|c| UserId(c.subject_id))
        .collect();
    let job_ids: Vec<JobId> = claimed
        .iter()
        .filter(|c| c.subject == Subject::Job.as_str())
        .map(|c| JobId(c.subject_id))
        .collect();
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
    let mut pending = Vec::new();
    let mut settled = Vec::new();
    for c in claimed {
        let texts: Vec<(String, String)> = if let Some(t) = talents.get(&c.subject_id) {
            talent_texts(t)
                .into_iter()
                .map(|(part, text)| (part.as_str().to_string(), text))
                .collect()
        } else if let Some(j) = jobs.get(&c.subject_id) {
            vec![(JOB_PART.to_string(), job_text(j))]
        } else {
            // Gone: its vectors went with it.
            settled.push((c.subject_id, c.queued_at));
            continue;
        };
        let mut ticket = Ticket {
            id: c.subject_id,
            talent: c.subject == Subject::Talent.as_str(),
            queued_at: c.queued_at,
            embed: Vec::new(),
            clear: Vec::new(),
        };
        let mut to_embed = Vec::new();
        for (part, text) in texts {
            let text = ai.bounded(text.trim()).to_string();
            let known = stored.get(&(c.subject_id, part.clone()));
            if text.is_empty() {
                if known.is_some() {
                    ticket.clear.push(part);
                }
                continue;
            }
            let hash = content_hash(model, dims, &part, &text);
            if known != Some(&hash) {
                ticket.embed.push((part, hash));
                to_embed.push(text);
            }
        }
        if ticket.embed.is_empty() && ticket.clear.is_empty() {
            settled.push((c.subject_id, c.queued_at));
        } else {
            pending.push(Pending {
                ticket: serde_json::to_value(&ticket)?,
                texts: to_embed,
            });
        }
    }
    store::settle(&mut conn, &settled)
        .await
        .context("embeddings::settle")?;
    Ok(pending)
}

async fn store_vectors(
    pool: &PgPool,
    model: &str,
    done: Vec<(Pending, Vec<Vec<f32>>)>,
) -> anyhow::Result<()> {
    let mut tickets = Vec::with_capacity(done.len());
    for (pending, vectors) in done {
        let ticket: Ticket = serde_json::from_value(pending.ticket)?;
        anyhow::ensure!(
            ticket.embed.len() == vectors.len(),
            "{} vectors for {} parts",
            vectors.len(),
            ticket.embed.len()
        );
        tickets.push((ticket, vectors));
    }
    let model = model.to_string();
    let mut conn = pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let mut talents = Vec::new();
        let mut jobs = Vec::new();
        let mut settled = Vec::new();
        for (ticket, vectors) in &tickets {
            for ((part, hash), vector) in ticket.embed.iter().zip(vectors) {
                if ticket.talent {
                    store::put_talent_part(c, ticket.id, part, &model, hash, Some(vector)).await
                } else {
                    store::put_job(c, ticket.id, &model, hash, Some(vector)).await
                }
                .or_else(ignore_vanished)?;
            }
            for part in &ticket.clear {
                if ticket.talent {
                    store::put_talent_part(c, ticket.id, part, &model, &[], None).await?;
                } else {
                    store::put_job(c, ticket.id, &model, &[], None).await?;
                }
            }
            settled.push((ticket.id, ticket.queued_at));
            if ticket.talent {
                talents.push(UserId(ticket.id));
            } else {
                jobs.push(JobId(ticket.id));
            }
        }
        store::settle(c, &settled).await?;
        events::embeddings_stored(c, talents, jobs)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(())
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

impl EmbeddingPort for PgEmbeddings {
    fn claim(&self, limit: usize) -> PortFuture<Vec<Pending>> {
        let (pool, ai) = (self.pool.clone(), self.ai.clone());
        Box::pin(async move { claim(&pool, &ai, limit).await })
    }

    fn embed(&self, texts: Vec<String>) -> PortFuture<Vec<Vec<f32>>> {
        let ai = self.ai.clone();
        Box::pin(async move { Ok(ai.embed(&texts).await?.vectors) })
    }

    fn store(&self, done: Vec<(Pending, Vec<Vec<f32>>)>) -> PortFuture<()> {
        let (pool, model) = (self.pool.clone(), self.ai.embedding_model().to_string());
        Box::pin(async move { store_vectors(&pool, &model, done).await })
    }

    fn release(&self, pending: Vec<Pending>, error: String) -> PortFuture<()> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let ids: Vec<Uuid> = pending
                .iter()
                .filter_map(|p| p.ticket.get("id")?.as_str()?.parse().ok())
                .collect();
            let mut conn = pool.get().await?;
            store::release(&mut conn, &ids, &error).await?;
            Ok(())
        })
    }

    fn backlog(&self) -> PortFuture<i64> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            Ok(store::backlog(&mut conn).await?)
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
