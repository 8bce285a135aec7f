//! The transactional outbox: events written in the same transaction as the change they
//! describe, read back in order by the relay.

use super::schema::outbox_events;
use super::PgConn;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox_events, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub seq: i64,
    pub id: Uuid,
    pub kind: String,
    pub job_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Records an event; call inside the transaction that makes the change. `job_id` is the job
/// whose pipeline watchers hear of it.
pub async fn record(
    conn: &mut PgConn,
    kind: &str,
    job_id: Option<Uuid>,
    payload: &serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(outbox_events::table)
        .values((
            outbox_events::id.eq(Uuid::now_v7()),
            outbox_events::kind.eq(kind),
            outbox_events::job_id.eq(job_id),
            outbox_events::payload.eq(payload),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Undelivered events, oldest first.
pub async fn undelivered(conn: &mut PgConn, limit: i64) -> QueryResult<Vec<OutboxRow>> {
    outbox_events::table
        .filter(outbox_events::delivered_at.is_null())
        .order(outbox_events::seq)
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)
        .await
}

pub async fn mark_delivered(conn: &mut PgConn, seqs: &[i64]) -> QueryResult<usize> {
    diesel::update(outbox_events::table.filter(outbox_events::seq.eq_any(seqs)))
        .set(outbox_events::delivered_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

/// How many events wait for delivery (for `/metrics`).
pub async fn backlog(conn: &mut PgConn) -> QueryResult<i64> {
    outbox_events::table
        .filter(outbox_events::delivered_at.is_null())
        .count()
        .get_result(conn)
        .await
}

/// Deletes up to `limit` events delivered before `before`.
pub async fn prune_delivered(
    conn: &mut PgConn,
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    let old: Vec<i64> = outbox_events::table
        .filter(outbox_events::delivered_at.lt(before))
        .select(outbox_events::seq)
        .limit(limit)
        .load(conn)
        .await?;
    if old.is_empty() {
        return Ok(0);
    }
    diesel::delete(outbox_events::table.filter(outbox_events::seq.eq_any(old)))
        .execute(conn)
        .await
}
