//! Media items (migration `2026-12-01-000010_media`): status, keys and what processing found.

use super::{queue, PgConn};
use crate::domain::ids::{MediaId, UserId};
use chrono::{DateTime, Utc};
use diesel::sql_types::{
    BigInt, Double, Float, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

const COLUMNS: &str = "id, owner_id, kind, status, content_type, byte_size, file_name, \
    object_key, display_key, thumbnail_key, progress, width, height, duration_seconds, error, \
    upload_expires_at, attempts, created_at, updated_at";

/// An item as stored (and as `MEDIA_CHANGED` events carry it).
#[derive(Debug, Clone, QueryableByName, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: MediaId,
    #[diesel(sql_type = SqlUuid)]
    pub owner_id: UserId,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub content_type: String,
    #[diesel(sql_type = BigInt)]
    pub byte_size: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub file_name: Option<String>,
    #[diesel(sql_type = Text)]
    pub object_key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub display_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub thumbnail_key: Option<String>,
    #[diesel(sql_type = Float)]
    pub progress: f32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub width: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub height: Option<i32>,
    #[diesel(sql_type = Nullable<Double>)]
    pub duration_seconds: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub upload_expires_at: DateTime<Utc>,
    /// How many times a worker took it (each write of a worker names its attempt).
    #[diesel(sql_type = Integer)]
    #[serde(default)]
    pub attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

/// An item as `MEDIA_CHANGED` events carry it.
impl From<&MediaRow> for castyou_vocab::events::MediaSnapshot {
    fn from(r: &MediaRow) -> Self {
        castyou_vocab::events::MediaSnapshot {
            id: r.id,
            owner_id: r.owner_id,
            kind: r.kind.clone(),
            status: r.status.clone(),
            content_type: r.content_type.clone(),
            byte_size: r.byte_size,
            file_name: r.file_name.clone(),
            object_key: r.object_key.clone(),
            display_key: r.display_key.clone(),
            thumbnail_key: r.thumbnail_key.clone(),
            progress: r.progress,
            width: r.width,
            height: r.height,
            duration_seconds: r.duration_seconds,
            error: r.error.clone(),
            upload_expires_at: r.upload_expires_at,
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The row a `MEDIA_CHANGED` event carried.
impl From<&castyou_vocab::events::MediaSnapshot> for MediaRow {
    fn from(r: &castyou_vocab::events::MediaSnapshot) -> Self {
        MediaRow {
            id: r.id,
            owner_id: r.owner_id,
            kind: r.kind.clone(),
            status: r.status.clone(),
            content_type: r.content_type.clone(),
            byte_size: r.byte_size,
            file_name: r.file_name.clone(),
            object_key: r.object_key.clone(),
            display_key: r.display_key.clone(),
            thumbnail_key: r.thumbnail_key.clone(),
            progress: r.progress,
            width: r.width,
            height: r.height,
            duration_seconds: r.duration_seconds,
            error: r.error.clone(),
            upload_expires_at: r.upload_expires_at,
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new item awaiting its upload.
pub struct NewMedia<'a> {
    pub id: MediaId,
    pub owner_id: UserId,
    pub kind: &'a str,
    pub content_type: &'a str,
    pub byte_size: i64,
    pub file_name: Option<&'a str>,
    pub object_key: &'a str,
    pub upload_expires_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConn, new: &NewMedia<'_>) -> diesel::QueryResult<MediaRow> {
    diesel::sql_query(format!(
        "INSERT INTO media_items (id, owner_id, kind, status, content_type, byte_size, \
         file_name, object_key, upload_expires_at) \
         VALUES ($1, $2, $3, 'AWAITING_UPLOAD', $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(new.id)
    .bind::<SqlUuid, _>(new.owner_id)
    .bind::<Text, _>(new.kind)
    .bind::<Text, _>(new.content_type)
    .bind::<BigInt, _>(new.byte_size)
    .bind::<Nullable<Text>, _>(new.file_name)
    .bind::<Text, _>(new.object_key)
    .bind::<Timestamptz, _>(new.upload_expires_at)
    .get_result(conn)
    .await
}

pub async fn find(conn: &mut PgConn, id: MediaId) -> diesel::QueryResult<Option<MediaRow>> {
    diesel::sql_query(format!("SELECT {COLUMNS} FROM media_items WHERE id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .map(Some)
        .or_else(not_found_is_none)
}

fn not_found_is_none<T>(e: diesel::result::Error) -> diesel::QueryResult<Option<T>> {
    match e {
        diesel::result::Error::NotFound => Ok(None),
        other => Err(other),
    }
}

/// An owner's items of `kind` (every kind when None), newest first; `ready_only` leaves out
/// everything not READY.
pub async fn of_owner(
    conn: &mut PgConn,
    owner: UserId,
    kind: Option<&str>,
    ready_only: bool,
    limit: i64,
) -> diesel::QueryResult<Vec<MediaRow>> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM media_items WHERE owner_id = $1 \
         AND ($2::text IS NULL OR kind = $2) AND (NOT $3 OR status = 'READY') \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind::<SqlUuid, _>(owner)
    .bind::<Nullable<Text>, _>(kind)
    .bind::<diesel::sql_types::Bool, _>(ready_only)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(QueryableByName)]
pub struct Usage {
    #[diesel(sql_type = BigInt)]
    pub items: i64,
    #[diesel(sql_type = BigInt)]
    pub bytes: i64,
}

/// What an owner's items take: how many, and their declared bytes.
pub async fn usage(conn: &mut PgConn, owner: UserId) -> diesel::QueryResult<Usage> {
    diesel::sql_query(
        "SELECT count(*) AS items, coalesce(sum(byte_size), 0)::bigint AS bytes \
         FROM media_items WHERE owner_id = $1",
    )
    .bind::<SqlUuid, _>(owner)
    .get_result(conn)
    .await
}

/// AWAITING_UPLOAD → PROCESSING (progress 0, ready for a worker). None: the item was not
/// awaiting its upload any more (completed twice at once, or swept).
pub async fn start_processing(
    conn: &mut PgConn,
    id: MediaId,
) -> diesel::QueryResult<Option<MediaRow>> {
    diesel::sql_query(format!(
        "UPDATE media_items SET status = 'PROCESSING', progress = 0, leased_until = NULL, \
         lease = NULL, attempts = 0, last_error = NULL, \
         updated_at = now() WHERE id = $1 AND status = 'AWAITING_UPLOAD' \
         AND (upload_lease_until IS NULL OR upload_lease_until < now()) RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

#[derive(QueryableByName)]
struct Lease {
    #[diesel(sql_type = SqlUuid)]
    upload_lease: uuid::Uuid,
}

/// Takes the upload lease of an item awaiting its upload at `key` (None: the item is gone,
/// no longer awaits an upload, or another upload holds the lease).
pub async fn begin_upload(
    conn: &mut PgConn,
    id: MediaId,
    key: &str,
    lease_secs: f64,
) -> diesel::QueryResult<Option<uuid::Uuid>> {
    diesel::sql_query(
        "UPDATE media_items SET upload_lease = gen_random_uuid(), \
         upload_lease_until = now() + make_interval(secs => $3) \
         WHERE id = $1 AND object_key = $2 AND status = 'AWAITING_UPLOAD' \
         AND (upload_lease_until IS NULL OR upload_lease_until < now()) RETURNING upload_lease",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(key)
    .bind::<Double, _>(lease_secs)
    .get_result::<Lease>(conn)
    .await
    .map(|l| Some(l.upload_lease))
    .or_else(not_found_is_none)
}

/// Renews upload lease `lease` while the item still awaits its upload: false when it no
/// longer holds (deleted, completed, or taken by another upload after it ran out).
pub async fn renew_upload(
    conn: &mut PgConn,
    id: MediaId,
    lease: uuid::Uuid,
    lease_secs: f64,
) -> diesel::QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE media_items SET upload_lease_until = now() + make_interval(secs => $3) \
         WHERE id = $1 AND upload_lease = $2 AND status = 'AWAITING_UPLOAD'",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(lease)
    .bind::<Double, _>(lease_secs)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Gives upload lease `lease` back (the upload is done or abandoned): false when the item no
/// longer held it.
pub async fn end_upload(
    conn: &mut PgConn,
    id: MediaId,
    lease: uuid::Uuid,
) -> diesel::QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE media_items SET upload_lease = NULL, upload_lease_until = NULL \
         WHERE id = $1 AND upload_lease = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(lease)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// → FAILED with the reason, from AWAITING_UPLOAD or PROCESSING.
pub async fn fail(
    conn: &mut PgConn,
    id: MediaId,
    reason: &str,
) -> diesel::QueryResult<Option<MediaRow>> {
    diesel::sql_query(format!(
        "UPDATE media_items SET status = 'FAILED', error = $2, leased_until = NULL, lease = NULL, \
         updated_at = now() WHERE id = $1 AND status IN ('AWAITING_UPLOAD', 'PROCESSING') \
         RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(reason)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

pub async fn delete(conn: &mut PgConn, id: MediaId) -> diesel::QueryResult<bool> {
    diesel::sql_query("DELETE FROM media_items WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// Up to `limit` items whose upload URL expired more than `grace_secs` ago without a
/// completed upload, oldest first (skipping rows another sweeper holds).
pub async fn expired_uploads(
    conn: &mut PgConn,
    grace_secs: i64,
    limit: i64,
) -> diesel::QueryResult<Vec<MediaRow>> {
    diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM media_items WHERE status = 'AWAITING_UPLOAD' \
         AND upload_expires_at < now() - make_interval(secs => $1) \
         ORDER BY upload_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind::<Double, _>(grace_secs as f64)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Deletes an item still awaiting its upload (None of it changed meanwhile).
pub async fn delete_awaiting(conn: &mut PgConn, id: MediaId) -> diesel::QueryResult<bool> {
    diesel::sql_query("DELETE FROM media_items WHERE id = $1 AND status = 'AWAITING_UPLOAD'")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// Records progress (0..1) of the worker holding `lease`, extending it.
pub async fn set_progress(
    conn: &mut PgConn,
    lease: &queue::Lease,
    progress: f32,
    lease_secs: f64,
) -> diesel::QueryResult<Option<MediaRow>> {
    diesel::sql_query(format!(
        "UPDATE media_items SET progress = $3, leased_until = now() + make_interval(secs => $4), \
         updated_at = now() WHERE id = $1 AND lease = $2 AND status = 'PROCESSING' \
         RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(lease.id)
    .bind::<SqlUuid, _>(lease.token)
    .bind::<Float, _>(progress)
    .bind::<Double, _>(lease_secs)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

/// What processing made of an item.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    pub display_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_seconds: Option<f64>,
}

/// PROCESSING → READY with what the worker holding `lease` made (None: the item is no longer
/// this lease's).
pub async fn finish(
    conn: &mut PgConn,
    lease: &queue::Lease,
    done: &Processed,
) -> diesel::QueryResult<Option<MediaRow>> {
    diesel::sql_query(format!(
        "UPDATE media_items SET status = 'READY', progress = 1, leased_until = NULL, lease = NULL, \
         display_key = $3, thumbnail_key = $4, width = $5, height = $6, duration_seconds = $7, \
         error = NULL, last_error = NULL, updated_at = now() \
         WHERE id = $1 AND lease = $2 AND status = 'PROCESSING' RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(lease.id)
    .bind::<SqlUuid, _>(lease.token)
    .bind::<Nullable<Text>, _>(done.display_key.as_deref())
    .bind::<Nullable<Text>, _>(done.thumbnail_key.as_deref())
    .bind::<Nullable<Integer>, _>(done.width)
    .bind::<Nullable<Integer>, _>(done.height)
    .bind::<Nullable<Double>, _>(done.duration_seconds)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

/// PROCESSING → FAILED with the reason, if the item is still `lease`'s.
pub async fn refuse(
    conn: &mut PgConn,
    lease: &queue::Lease,
    reason: &str,
) -> diesel::QueryResult<Option<MediaRow>> {
    diesel::sql_query(format!(
        "UPDATE media_items SET status = 'FAILED', error = $3, leased_until = NULL, lease = NULL, \
         updated_at = now() WHERE id = $1 AND lease = $2 AND status = 'PROCESSING' \
         RETURNING {COLUMNS}"
    ))
    .bind::<SqlUuid, _>(lease.id)
    .bind::<SqlUuid, _>(lease.token)
    .bind::<Text, _>(reason)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)
}
