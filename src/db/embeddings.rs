//! Vectors of talent profiles and jobs, and the embedding backlog (see the migration
//! `2026-12-01-000008_embeddings`). Vectors travel as little-endian float32 bytes.

use super::queue::Lease;
use super::PgConn;
use diesel::sql_types::{Array, BigInt, Bytea, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// What a backlog row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Talent,
    Job,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Talent => "TALENT",
            Subject::Job => "JOB",
        }
    }
}

pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Queues `id` for embedding (call in the transaction that changed its text). A subject
/// queued already moves to the back with its lease cleared (what a worker holding it makes is
/// not stored) and its tries forgotten.
pub async fn enqueue(conn: &mut PgConn, id: Uuid, subject: Subject) -> diesel::QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO embedding_backlog (subject_id, subject) VALUES ($1, $2) \
         ON CONFLICT (subject_id) DO UPDATE \
         SET queued_at = clock_timestamp(), leased_until = NULL, lease = NULL, attempts = 0, \
             last_error = NULL",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(subject.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// Queues every talent and live job without vectors of `model` (a first configuration, a
/// model change, rows written by `castyou seed`). Returns how many were queued.
pub async fn enqueue_missing(
    conn: &mut PgConn,
    model: &str,
    dims: i32,
) -> diesel::QueryResult<usize> {
    let talents = diesel::sql_query(
        "INSERT INTO embedding_backlog (subject_id, subject) \
         SELECT p.user_id, 'TALENT' FROM talent_profiles p \
         WHERE NOT EXISTS (SELECT 1 FROM talent_embeddings e \
                           WHERE e.talent_id = p.user_id AND e.model = $1 AND e.dims = $2) \
         ON CONFLICT (subject_id) DO NOTHING",
    )
    .bind::<Text, _>(model)
    .bind::<Integer, _>(dims)
    .execute(conn)
    .await?;
    let jobs = diesel::sql_query(
        "INSERT INTO embedding_backlog (subject_id, subject) \
         SELECT j.id, 'JOB' FROM jobs j \
         WHERE j.status IN ('DRAFT', 'OPEN') AND NOT EXISTS (SELECT 1 FROM job_embeddings e \
                           WHERE e.job_id = j.id AND e.model = $1 AND e.dims = $2) \
         ON CONFLICT (subject_id) DO NOTHING",
    )
    .bind::<Text, _>(model)
    .bind::<Integer, _>(dims)
    .execute(conn)
    .await?;
    Ok(talents + jobs)
}

/// Removes the settled subjects still held by their leases (a subject queued again since it
/// was claimed stays, to be embedded afresh).
pub async fn settle(conn: &mut PgConn, leases: &[Lease]) -> diesel::QueryResult<()> {
    if leases.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = leases.iter().map(|l| l.id).collect();
    let tokens: Vec<Uuid> = leases.iter().map(|l| l.token).collect();
    diesel::sql_query(
        "DELETE FROM embedding_backlog b USING unnest($1::uuid[], $2::uuid[]) AS s(id, token) \
         WHERE b.subject_id = s.id AND b.lease = s.token",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<SqlUuid>, _>(tokens)
    .execute(conn)
    .await
    .map(drop)
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = SqlUuid)]
    subject_id: Uuid,
}

/// Which of these leases still hold their subjects, locked for the caller's transaction (the
/// others' subjects were queued again, or taken by another worker after their lease ran out).
pub async fn held(conn: &mut PgConn, leases: &[Lease]) -> diesel::QueryResult<Vec<Uuid>> {
    let ids: Vec<Uuid> = leases.iter().map(|l| l.id).collect();
    let tokens: Vec<Uuid> = leases.iter().map(|l| l.token).collect();
    diesel::sql_query(
        "SELECT b.subject_id FROM embedding_backlog b \
         JOIN unnest($1::uuid[], $2::uuid[]) AS s(id, token) \
           ON b.subject_id = s.id AND b.lease = s.token \
         FOR UPDATE OF b",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<SqlUuid>, _>(tokens)
    .load::<Held>(conn)
    .await
    .map(|rows| rows.into_iter().map(|r| r.subject_id).collect())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StoredHash {
    #[diesel(sql_type = SqlUuid)]
    pub subject_id: Uuid,
    #[diesel(sql_type = Text)]
    pub part: String,
    #[diesel(sql_type = Bytea)]
    pub content_hash: Vec<u8>,
}

/// The content hashes stored for these subjects (talent parts, and `JOB` for jobs).
pub async fn hashes(conn: &mut PgConn, ids: &[Uuid]) -> diesel::QueryResult<Vec<StoredHash>> {
    diesel::sql_query(
        "SELECT talent_id AS subject_id, part, content_hash FROM talent_embeddings \
         WHERE talent_id = ANY($1) \
         UNION ALL \
         SELECT job_id AS subject_id, 'JOB' AS part, content_hash FROM job_embeddings \
         WHERE job_id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(ids.to_vec())
    .load(conn)
    .await
}

/// Stores one talent part's vector (None: the part has no text any more).
pub async fn put_talent_part(
    conn: &mut PgConn,
    talent: Uuid,
    part: &str,
    model: &str,
    hash: &[u8],
    vector: Option<&[f32]>,
) -> diesel::QueryResult<()> {
    match vector {
        Some(v) => diesel::sql_query(
            "INSERT INTO talent_embeddings (talent_id, part, model, dims, content_hash, vector) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (talent_id, part) DO UPDATE SET model = EXCLUDED.model, \
             dims = EXCLUDED.dims, content_hash = EXCLUDED.content_hash, \
             vector = EXCLUDED.vector, embedded_at = now()",
        )
        .bind::<SqlUuid, _>(talent)
        .bind::<Text, _>(part)
        .bind::<Text, _>(model)
        .bind::<Integer, _>(v.len() as i32)
        .bind::<Bytea, _>(hash)
        .bind::<Bytea, _>(to_bytes(v))
        .execute(conn)
        .await
        .map(drop),
        None => {
            diesel::sql_query("DELETE FROM talent_embeddings WHERE talent_id = $1 AND part = $2")
                .bind::<SqlUuid, _>(talent)
                .bind::<Text, _>(part)
                .execute(conn)
                .await
                .map(drop)
        }
    }
}

pub async fn put_job(
    conn: &mut PgConn,
    job: Uuid,
    model: &str,
    hash: &[u8],
    vector: Option<&[f32]>,
) -> diesel::QueryResult<()> {
    match vector {
        Some(v) => diesel::sql_query(
            "INSERT INTO job_embeddings (job_id, model, dims, content_hash, vector) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (job_id) DO UPDATE SET model = EXCLUDED.model, dims = EXCLUDED.dims, \
             content_hash = EXCLUDED.content_hash, vector = EXCLUDED.vector, embedded_at = now()",
        )
        .bind::<SqlUuid, _>(job)
        .bind::<Text, _>(model)
        .bind::<Integer, _>(v.len() as i32)
        .bind::<Bytea, _>(hash)
        .bind::<Bytea, _>(to_bytes(v))
        .execute(conn)
        .await
        .map(drop),
        None => diesel::sql_query("DELETE FROM job_embeddings WHERE job_id = $1")
            .bind::<SqlUuid, _>(job)
            .execute(conn)
            .await
            .map(drop),
    }
}

#[derive(Debug, Clone, QueryableByName)]
pub struct VectorRow {
    #[diesel(sql_type = SqlUuid)]
    pub subject_id: Uuid,
    #[diesel(sql_type = Text)]
    pub part: String,
    #[diesel(sql_type = Bytea)]
    pub vector: Vec<u8>,
}

/// Up to `limit` talents' vectors of `part` and `model` with ids after `after`, in id order.
pub async fn talent_vectors_page(
    conn: &mut PgConn,
    part: &str,
    model: &str,
    dims: i32,
    after: Option<Uuid>,
    limit: i64,
) -> diesel::QueryResult<Vec<VectorRow>> {
    diesel::sql_query(
        "SELECT talent_id AS subject_id, part, vector FROM talent_embeddings \
         WHERE part = $1 AND model = $2 AND dims = $3 AND ($4::uuid IS NULL OR talent_id > $4) \
         ORDER BY talent_id LIMIT $5",
    )
    .bind::<Text, _>(part)
    .bind::<Text, _>(model)
    .bind::<Integer, _>(dims)
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// The vectors of `model` of these talents, of the parts named.
pub async fn talent_vectors(
    conn: &mut PgConn,
    ids: &[Uuid],
    parts: &[&str],
    model: &str,
    dims: i32,
) -> diesel::QueryResult<Vec<VectorRow>> {
    diesel::sql_query(
        "SELECT talent_id AS subject_id, part, vector FROM talent_embeddings \
         WHERE talent_id = ANY($1) AND part = ANY($2) AND model = $3 AND dims = $4",
    )
    .bind::<Array<SqlUuid>, _>(ids.to_vec())
    .bind::<Array<Text>, _>(parts.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    .bind::<Text, _>(model)
    .bind::<Integer, _>(dims)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct JobVectorRow {
    #[diesel(sql_type = SqlUuid)]
    pub job_id: Uuid,
    #[diesel(sql_type = Bytea)]
    pub vector: Vec<u8>,
}

/// The vectors of `model` of these jobs.
pub async fn job_vectors(
    conn: &mut PgConn,
    ids: &[Uuid],
    model: &str,
    dims: i32,
) -> diesel::QueryResult<Vec<JobVectorRow>> {
    diesel::sql_query(
        "SELECT job_id, vector FROM job_embeddings \
         WHERE job_id = ANY($1) AND model = $2 AND dims = $3",
    )
    .bind::<Array<SqlUuid>, _>(ids.to_vec())
    .bind::<Text, _>(model)
    .bind::<Integer, _>(dims)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.0, -1.5, 3.25e-7, f32::MAX];
        assert_eq!(from_bytes(&to_bytes(&v)), v);
        assert_eq!(to_bytes(&v).len(), 16);
    }
}
