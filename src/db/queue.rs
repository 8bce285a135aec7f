//! The leased queue every background job runs on (see the migration
//! `2026-12-07-000012_leased_queues`). A queue is rows of a table that carry `leased_until`,
//! `lease`, `attempts` and `last_error`:
//!
//! - **Claim**: the oldest due rows (never leased, lease run out, or their pause over), locked
//!   with `FOR UPDATE SKIP LOCKED` so instances never take the same row, get a fresh lease
//!   token and `attempts + 1`.
//! - **Heartbeat**: the holder renews its lease while it works.
//! - **Fencing**: every write of a worker names its lease token; once the lease ran out and
//!   another worker took the row, or the row was queued again, the old worker changes nothing.
//! - **Backoff**: a try that failed gives its row back with a pause (and, when the failure was
//!   nobody's fault in the row — an endpoint down — refunds its attempt).
//! - **Dead letter**: a row whose tries reached `max_attempts` is not claimed again; the queue's
//!   owner decides what it becomes (a FAILED media item; an embedding left for operators).

use super::PgConn;
pub use castyou_vocab::queue::Lease;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use std::time::Duration;

/// Where a queue's rows live.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    /// Its name in metrics and logs.
    pub name: &'static str,
    table: &'static str,
    key: &'static str,
    /// Which rows of the table are in the queue at all.
    waiting: &'static str,
    /// Which due rows go first.
    order: &'static str,
}

/// Uploaded media items waiting to be processed.
pub const MEDIA: Queue = Queue {
    name: "media",
    table: "media_items",
    key: "id",
    waiting: "status = 'PROCESSING'",
    order: "leased_until NULLS FIRST, updated_at",
};

/// Talents and jobs whose text changed since it was last embedded.
pub const EMBEDDINGS: Queue = Queue {
    name: "embeddings",
    table: "embedding_backlog",
    key: "subject_id",
    waiting: "TRUE",
    order: "queued_at",
};

/// A dead letter: its tries reached `max_attempts` (`$1`) and its last lease ran out.
const DEAD: &str = "(attempts >= $1 AND (leased_until IS NULL OR leased_until < now()))";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Leases up to `limit` due rows for `lease`, oldest first, skipping rows another instance is
/// claiming and rows whose tries reached `max_attempts`.
pub async fn claim(
    conn: &mut PgConn,
    queue: Queue,
    limit: usize,
    lease: Duration,
    max_attempts: i32,
) -> diesel::QueryResult<Vec<Lease>> {
    let Queue {
        table,
        key,
        waiting,
        order,
        ..
    } = queue;
    diesel::sql_query(format!(
        "WITH due AS ( \
             SELECT {key} FROM {table} \
             WHERE {waiting} AND (leased_until IS NULL OR leased_until < now()) \
               AND attempts < $2 \
             ORDER BY {order} LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE {table} t \
         SET leased_until = now() + make_interval(secs => $3), lease = gen_random_uuid(), \
             attempts = t.attempts + 1 \
         FROM due WHERE t.{key} = due.{key} \
         RETURNING t.{key} AS id, t.lease AS token, t.attempts AS attempt"
    ))
    .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind::<Integer, _>(max_attempts)
    .bind::<Double, _>(secs(lease))
    .load(conn)
    .await
}

/// Extends `lease` (false: the row is no longer this lease's).
pub async fn renew(
    conn: &mut PgConn,
    queue: Queue,
    lease: &Lease,
    within: Duration,
) -> diesel::QueryResult<bool> {
    let Queue {
        table,
        key,
        waiting,
        ..
    } = queue;
    diesel::sql_query(format!(
        "UPDATE {table} SET leased_until = now() + make_interval(secs => $3) \
         WHERE {key} = $1 AND lease = $2 AND {waiting}"
    ))
    .bind::<SqlUuid, _>(lease.id)
    .bind::<SqlUuid, _>(lease.token)
    .bind::<Double, _>(secs(within))
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Gives a failed try's row back, due again after `pause`, with the reason kept; `counts`
/// false refunds the attempt (the failure was not the row's: an endpoint was down). False when
/// the row was no longer this lease's.
pub async fn retry_later(
    conn: &mut PgConn,
    queue: Queue,
    lease: &Lease,
    pause: Duration,
    error: &str,
    counts: bool,
) -> diesel::QueryResult<bool> {
    let Queue {
        table,
        key,
        waiting,
        ..
    } = queue;
    diesel::sql_query(format!(
        "UPDATE {table} SET leased_until = now() + make_interval(secs => $3), lease = NULL, \
         last_error = $4, attempts = CASE WHEN $5 THEN attempts ELSE attempts - 1 END \
         WHERE {key} = $1 AND lease = $2 AND {waiting}"
    ))
    .bind::<SqlUuid, _>(lease.id)
    .bind::<SqlUuid, _>(lease.token)
    .bind::<Double, _>(secs(pause))
    .bind::<Text, _>(error)
    .bind::<Bool, _>(counts)
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Rows whose tries reached `max_attempts` and whose last lease ran out (each worker died or
/// failed on them), locked for the caller's transaction, which dead-letters them.
pub async fn exhausted(
    conn: &mut PgConn,
    queue: Queue,
    max_attempts: i32,
    limit: usize,
) -> diesel::QueryResult<Vec<Lease>> {
    let Queue {
        table,
        key,
        waiting,
        ..
    } = queue;
    diesel::sql_query(format!(
        "SELECT {key} AS id, coalesce(lease, '00000000-0000-0000-0000-000000000000') AS token, \
                attempts AS attempt \
         FROM {table} WHERE {waiting} AND {DEAD} \
         ORDER BY leased_until NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind::<Integer, _>(max_attempts)
    .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct Depth {
    #[diesel(sql_type = BigInt)]
    waiting: i64,
    #[diesel(sql_type = BigInt)]
    dead: i64,
}

/// How many rows wait in the queue, and how many of them are dead letters.
pub async fn depth(
    conn: &mut PgConn,
    queue: Queue,
    max_attempts: i32,
) -> diesel::QueryResult<(i64, i64)> {
    let Queue { table, waiting, .. } = queue;
    diesel::sql_query(format!(
        "SELECT count(*) FILTER (WHERE NOT ({DEAD})) AS waiting, \
                count(*) FILTER (WHERE {DEAD}) AS dead \
         FROM {table} WHERE {waiting}"
    ))
    .bind::<Integer, _>(max_attempts)
    .get_result::<Depth>(conn)
    .await
    .map(|d| (d.waiting, d.dead))
}
