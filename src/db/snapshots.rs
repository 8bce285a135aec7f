//! What saved copies of the kept indexes need of PostgreSQL: which database they were taken
//! from, and the events committed since.

use super::outbox::OutboxRow;
use super::schema::outbox_events;
use super::PgConn;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// The kind of the event a bulk load (rows written without events, as `castyou seed` does)
/// records: no saved copy taken before it is opened, since catching up cannot see those rows.
/// Done for every consumer at insert: only copies read it.
pub const BULK_LOAD: &str = "BULK_LOAD";

/// Records that rows were written in bulk, without events.
pub async fn record_bulk_load(conn: &mut PgConn) -> QueryResult<()> {
    let now = Utc::now();
    diesel::insert_into(outbox_events::table)
        .values((
            outbox_events::id.eq(Uuid::now_v7()),
            outbox_events::kind.eq(BULK_LOAD),
            outbox_events::payload.eq(serde_json::json!({})),
            outbox_events::delivered_at.eq(now),
            outbox_events::documented_at.eq(now),
            outbox_events::mailed_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Tag {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tag: String,
}

/// This database's name and object id: a copy taken from another database (or an earlier one
/// of the same name) is never opened here.
pub async fn database_tag(conn: &mut PgConn) -> QueryResult<String> {
    diesel::sql_query(
        "SELECT datname || '-' || oid::text AS tag FROM pg_database \
         WHERE datname = current_database()",
    )
    .get_result::<Tag>(conn)
    .await
    .map(|t| t.tag)
}

/// Up to `limit` events after position `after_seq` that are past `through` or were recorded
/// from `since` on (a transaction that committed after a copy was taken may hold a position
/// below the copy's), in order.
pub async fn events_since(
    conn: &mut PgConn,
    through: i64,
    since: DateTime<Utc>,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    outbox_events::table
        .filter(
            outbox_events::seq
                .gt(through)
                .or(outbox_events::created_at.ge(since)),
        )
        .filter(outbox_events::seq.gt(after_seq))
        .order(outbox_events::seq)
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)
        .await
}
