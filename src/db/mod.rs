//! PostgreSQL through diesel-async: the pool, migrations, and one repository module per
//! aggregate. Only this module (and its children) speaks SQL.

pub mod accounts;
pub mod applications;
pub mod embeddings;
pub mod favorites;
pub mod groups;
pub mod jobs;
pub mod media;
pub mod models;
pub mod outbox;
pub mod page;
pub mod profiles;
pub mod queue;
pub mod schema;
pub mod search;
pub mod sessions;
pub mod snapshots;
pub mod types;
pub mod users;

use crate::configuration::DatabaseSettings;
use anyhow::Context;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;
use std::time::Duration;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Every repository function answers `QueryResult<T>`: diesel's error is the one error type of
/// `db`, stored data that does not decode included (`undecodable`). Services add what they were
/// doing (`.context("locking group …")`) when they turn it into their own error.
pub use diesel::result::QueryResult;

/// A stored value that does not decode into its domain type, as diesel reports decoding errors.
pub fn undecodable(cause: anyhow::Error) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(cause.into())
}

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = Object<AsyncPgConnection>;

/// Builds the pool; connections open lazily, so this does not touch the server.
pub fn build_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new(settings.url.expose_secret());
    let timeout = Duration::from_secs(settings.connect_timeout_secs);
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the PostgreSQL pool")
}

/// Applies pending migrations; returns the versions applied.
pub async fn run_migrations(settings: &DatabaseSettings) -> anyhow::Result<Vec<String>> {
    let url = settings.url.expose_secret().to_string();
    // The wrapper blocks on its own runtime, so it must run off the async workers.
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to migrate")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    })
    .await
    .context("migration task")?
}

/// Reverts every migration (used by the migrations test).
pub async fn revert_all_migrations(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let url = settings.url.expose_secret().to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to revert")?;
        conn.revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("reverting migrations: {e}"))?;
        Ok(())
    })
    .await
    .context("migration task")?
}

/// Whether PostgreSQL answers (for `/readyz`).
pub async fn ping(pool: &PgPool) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("getting a connection")?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .context("SELECT 1")?;
    Ok(())
}
