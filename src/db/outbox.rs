//! The transactional outbox: events written in the same transaction as the change they
//! describe, read back in order by the relay.

use super::schema::outbox_events;
use super::PgConn;
use crate::domain::ids::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox_events, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub seq: i64,
    pub id: EventId,
    pub kind: String,
    pub job_id: Option<JobId>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Which consumers an event is for; the others find it marked done at insert.
#[derive(Debug, Clone, Copy)]
pub struct Consumers {
    pub bus: bool,
    pub mail: bool,
}

/// Records an event; call inside the transaction that makes the change. `job_id` is the job
/// whose pipeline watchers hear of it.
pub async fn record(
    conn: &mut PgConn,
    kind: &str,
    job_id: Option<JobId>,
    payload: &serde_json::Value,
    consumers: Consumers,
) -> QueryResult<()> {
    let done = |wanted: bool| (!wanted).then(Utc::now);
    diesel::insert_into(outbox_events::table)
        .values((
            outbox_events::id.eq(Uuid::now_v7()),
            outbox_events::kind.eq(kind),
            outbox_events::job_id.eq(job_id),
            outbox_events::payload.eq(payload),
            outbox_events::delivered_at.eq(done(consumers.bus)),
            outbox_events::mailed_at.eq(done(consumers.mail)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

/// The sequence number of the last event this connection recorded (call in the transaction
/// that recorded it, after `record`).
pub async fn last_seq(conn: &mut PgConn) -> QueryResult<i64> {
    diesel::sql_query("SELECT currval(pg_get_serial_sequence('outbox_events', 'seq')) AS seq")
        .get_result::<Seq>(conn)
        .await
        .map(|s| s.seq)
}

/// The position of the newest event committed (0: none).
pub async fn newest_seq(conn: &mut PgConn) -> QueryResult<i64> {
    diesel::sql_query("SELECT coalesce(max(seq), 0) AS seq FROM outbox_events")
        .get_result::<Seq>(conn)
        .await
        .map(|s| s.seq)
}

/// Who reads the outbox, each at its own pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// The relay, publishing on the event bus (`delivered_at`).
    Bus,
    /// The document consumer, storing notifications, activity and audit (`documented_at`).
    Documents,
    /// The mailer, sending account mail (`mailed_at`).
    Mail,
}

/// Stages an audit entry for the document store (never published on the bus).
pub async fn record_audit(
    conn: &mut PgConn,
    id: EventId,
    payload: &serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(outbox_events::table)
        .values((
            outbox_events::id.eq(id),
            outbox_events::kind.eq("AUDIT"),
            outbox_events::payload.eq(payload),
            outbox_events::delivered_at.eq(diesel::dsl::now),
            outbox_events::mailed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Events `consumer` has not handled, oldest first. The document consumer reads only the
/// `known` kinds: one of a newer server's kinds stays for a server that knows it.
pub async fn pending(
    conn: &mut PgConn,
    consumer: Consumer,
    known: &[&str],
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    let query = outbox_events::table
        .order(outbox_events::seq)
        .limit(limit)
        .select(OutboxRow::as_select());
    match consumer {
        Consumer::Bus => {
            query
                .filter(outbox_events::delivered_at.is_null())
                .load(conn)
                .await
        }
        Consumer::Documents => {
            query
                .filter(outbox_events::documented_at.is_null())
                .filter(outbox_events::kind.eq_any(known))
                .load(conn)
                .await
        }
        Consumer::Mail => {
            query
                .filter(outbox_events::mailed_at.is_null())
                .filter(outbox_events::kind.eq_any(known))
                .load(conn)
                .await
        }
    }
}

/// Events of kinds outside `known` that the document consumer has not handled (kept for a
/// server that knows them; reported on `/metrics`).
pub async fn unknown_pending(conn: &mut PgConn, known: &[&str]) -> QueryResult<i64> {
    outbox_events::table
        .filter(outbox_events::documented_at.is_null())
        .filter(outbox_events::kind.ne_all(known))
        .count()
        .get_result(conn)
        .await
}

pub async fn mark_done(conn: &mut PgConn, consumer: Consumer, seqs: &[i64]) -> QueryResult<usize> {
    let rows = outbox_events::table.filter(outbox_events::seq.eq_any(seqs));
    match consumer {
        Consumer::Bus => {
            diesel::update(rows)
                .set(outbox_events::delivered_at.eq(diesel::dsl::now))
                .execute(conn)
                .await
        }
        Consumer::Documents => {
            diesel::update(rows)
                .set(outbox_events::documented_at.eq(diesel::dsl::now))
                .execute(conn)
                .await
        }
        Consumer::Mail => {
            diesel::update(rows)
                .set(outbox_events::mailed_at.eq(diesel::dsl::now))
                .execute(conn)
                .await
        }
    }
}

/// How many events wait for `consumer` (for `/metrics`).
pub async fn backlog(conn: &mut PgConn, consumer: Consumer) -> QueryResult<i64> {
    let all = outbox_events::table.count();
    match consumer {
        Consumer::Bus => {
            all.filter(outbox_events::delivered_at.is_null())
                .get_result(conn)
                .await
        }
        Consumer::Documents => {
            all.filter(outbox_events::documented_at.is_null())
                .get_result(conn)
                .await
        }
        Consumer::Mail => {
            all.filter(outbox_events::mailed_at.is_null())
                .get_result(conn)
                .await
        }
    }
}

/// Deletes up to `limit` events that were delivered before `before` and are documented.
pub async fn prune_delivered(
    conn: &mut PgConn,
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    let old: Vec<i64> = outbox_events::table
        .filter(outbox_events::delivered_at.lt(before))
        .filter(outbox_events::documented_at.is_not_null())
        .filter(outbox_events::mailed_at.is_not_null())
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

/// Stages a document-only event (an explain-log entry): done already for the bus and mail.
pub async fn record_staged(
    conn: &mut PgConn,
    id: EventId,
    kind: &str,
    payload: &serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(outbox_events::table)
        .values((
            outbox_events::id.eq(id),
            outbox_events::kind.eq(kind),
            outbox_events::payload.eq(payload),
            outbox_events::delivered_at.eq(diesel::dsl::now),
            outbox_events::mailed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
