//! `MatchSource` over PostgreSQL: talent profiles and OPEN jobs as the match index reads them,
//! and which events change them.

use crate::db;
use crate::db::models::{Job, TalentProfile};
use crate::domain::ids::{JobId, UserId};
use crate::domain::JobStatus;
use crate::services::events::{self, OutboxEvent};
use crate::services::matching::{add_job_vectors, add_talent_vectors, job_record, talent_input};
use crate::services::AppState;
use anyhow::Context;
use castyou_actors::matching::{Change, JobRecord, MatchSource, TalentRecord};
use castyou_actors::relay::PortFuture;
use castyou_actors::Event;
use uuid::Uuid;

pub struct PgMatchSource {
    state: AppState,
}

impl PgMatchSource {
    pub fn new(state: AppState) -> PgMatchSource {
        PgMatchSource { state }
    }
}

fn talent_record(profile: &TalentProfile) -> TalentRecord {
    TalentRecord {
        id: profile.row.user_id.0,
        input: talent_input(profile),
        union_status: profile.row.union_status,
    }
}

impl MatchSource for PgMatchSource {
    type Row = Job;

    fn talents(&self, after: Option<Uuid>, limit: usize) -> PortFuture<Vec<TalentRecord>> {
        let state = self.state.clone();
        Box::pin(async move {
            let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let profiles = db::profiles::talents_after(&mut conn, after.map(UserId), limit)
                .await
                .context("profiles::talents_after")?;
            talent_records(&state, &mut conn, &profiles).await
        })
    }

    fn open_jobs(&self, after: Option<Uuid>, limit: usize) -> PortFuture<Vec<JobRecord<Job>>> {
        let state = self.state.clone();
        Box::pin(async move {
            let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let jobs = db::jobs::open_after(&mut conn, after.map(JobId), limit)
                .await
                .context("jobs::open_after")?;
            let mut records = jobs
                .into_iter()
                .map(job_record)
                .collect::<anyhow::Result<Vec<_>>>()?;
            add_vectors(&state, &mut conn, &mut records).await?;
            Ok(records)
        })
    }

    fn talents_by_id(&self, ids: Vec<Uuid>) -> PortFuture<Vec<TalentRecord>> {
        let state = self.state.clone();
        Box::pin(async move {
            let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
            let ids: Vec<UserId> = ids.into_iter().map(UserId).collect();
            let profiles = db::profiles::find_talents(&mut conn, &ids)
                .await
                .context("profiles::find_talents")?;
            talent_records(&state, &mut conn, &profiles).await
        })
    }

    fn open_job(&self, id: Uuid) -> PortFuture<Option<JobRecord<Job>>> {
        let state = self.state.clone();
        Box::pin(async move {
            let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
            let job = db::jobs::find(&mut conn, JobId(id))
                .await
                .context("jobs::find")?;
            let Some(mut record) = job
                .filter(|j| j.row.status == JobStatus::Open)
                .map(job_record)
                .transpose()?
            else {
                return Ok(None);
            };
            add_vectors(&state, &mut conn, std::slice::from_mut(&mut record)).await?;
            Ok(Some(record))
        })
    }

    fn changes(&self, event: &Event) -> Vec<Change> {
        let Some(decoded) = events::decode(event) else {
            return Vec::new();
        };
        let change = match &*decoded {
            OutboxEvent::TalentProfileChanged(c) => Some(Change::Talents(vec![c.talent_id.0])),
            // New vectors change NOTABLE_WORKS and DREAM_GIG (only read with an endpoint).
            OutboxEvent::EmbeddingsStored(stored) if self.state.ai.is_some() => {
                let mut changes = Vec::new();
                if !stored.talent_ids.is_empty() {
                    changes.push(Change::Talents(
                        stored.talent_ids.iter().map(|t| t.0).collect(),
                    ));
                }
                changes.extend(stored.job_ids.iter().map(|j| Change::Job {
                    id: j.0,
                    announce: false,
                }));
                return changes;
            }
            OutboxEvent::JobPublished(c) | OutboxEvent::JobUpdated(c) => Some(Change::Job {
                id: c.job_id.0,
                announce: true,
            }),
            OutboxEvent::JobFilled(c) | OutboxEvent::JobCancelled(c) => Some(Change::Job {
                id: c.job_id.0,
                announce: false,
            }),
            OutboxEvent::JobClosed(p) => Some(Change::Job {
                id: p.job_id.0,
                announce: false,
            }),
            OutboxEvent::ApplicationCreated(_)
            | OutboxEvent::ApplicationMoved(_)
            | OutboxEvent::ApplicationWithdrawn(_)
            | OutboxEvent::DiscoverServed(_)
            | OutboxEvent::AiResult(_)
            | OutboxEvent::EmbeddingsStored(_)
            | OutboxEvent::DeadlineReminder(_)
            | OutboxEvent::GroupInvited(_)
            | OutboxEvent::GroupJoined(_)
            | OutboxEvent::SessionsRevoked(_)
            | OutboxEvent::MediaChanged(_)
            | OutboxEvent::MediaProcessed(_)
            | OutboxEvent::EmailVerificationRequested(_)
            | OutboxEvent::PasswordResetRequested(_)
            | OutboxEvent::Audit(_)
            | OutboxEvent::Notification(_)
            | OutboxEvent::NotificationsRead(_) => None,
        };
        change.into_iter().collect()
    }
}

/// The index's records of these profiles, with their embeddings where they exist.
async fn talent_records(
    state: &AppState,
    conn: &mut db::PgConn,
    profiles: &[TalentProfile],
) -> anyhow::Result<Vec<TalentRecord>> {
    let mut records: Vec<TalentRecord> = profiles.iter().map(talent_record).collect();
    let mut inputs: Vec<(Uuid, &mut castyou_model::TalentInput)> =
        records.iter_mut().map(|r| (r.id, &mut r.input)).collect();
    add_talent_vectors(state, conn, &mut inputs).await?;
    Ok(records)
}

async fn add_vectors(
    state: &AppState,
    conn: &mut db::PgConn,
    records: &mut [JobRecord<Job>],
) -> anyhow::Result<()> {
    let mut inputs: Vec<(Uuid, &mut castyou_model::JobInput)> =
        records.iter_mut().map(|r| (r.id, &mut r.input)).collect();
    add_job_vectors(state, conn, &mut inputs).await
}
