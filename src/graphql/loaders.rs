//! DataLoaders: nested fields (an application's job and talent, a job's producer and counts)
//! load in one query per kind per request, not one per row. Built per request, so nothing
//! cached outlives it.

use crate::db::models::{
    ApplicationEvent, Job, Membership, ProducerProfile, TalentGroup, TalentProfile, User,
};
use crate::db::PgPool;
use crate::db::{self, PgConn};
use crate::domain::ids::{ApplicationId, GroupId, JobId, UserId};
use crate::errors::AppError;
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use std::sync::Arc;

pub type LoadError = Arc<AppError>;

/// Turns a loader failure into the client-facing error.
pub fn load_error(e: LoadError) -> async_graphql::Error {
    async_graphql::ErrorExtensions::extend(e.as_ref())
}

pub struct Db(PgPool);

impl Db {
    async fn conn(&self) -> Result<PgConn, LoadError> {
        self.0.get().await.map_err(fail)
    }
}

fn fail(e: impl Into<AppError>) -> LoadError {
    Arc::new(e.into())
}

macro_rules! loader {
    ($name:ident, $key:ty => $value:ty, |$conn:ident, $keys:ident| $body:expr) => {
        pub struct $name(Db);

        impl Loader<$key> for $name {
            type Value = $value;
            type Error = LoadError;

            async fn load(
                &self,
                $keys: &[$key],
            ) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let mut $conn = self.0.conn().await?;
                $body
            }
        }
    };
}

loader!(UserLoader, UserId => User, |conn, keys| {
    let rows = db::users::find_many(&mut conn, keys).await.map_err(fail)?;
    Ok(rows.into_iter().map(|u| (u.id, u)).collect())
});

loader!(TalentLoader, UserId => TalentProfile, |conn, keys| {
    let rows = db::profiles::find_talents(&mut conn, keys)
        .await
        .map_err(fail)?;
    Ok(rows.into_iter().map(|t| (t.row.user_id, t)).collect())
});

loader!(ProducerLoader, UserId => ProducerProfile, |conn, keys| {
    let rows = db::profiles::find_producers(&mut conn, keys)
        .await
        .map_err(fail)?;
    Ok(rows.into_iter().map(|p| (p.user_id, p)).collect())
});

loader!(JobLoader, JobId => Job, |conn, keys| {
    let rows = db::jobs::find_many(&mut conn, keys).await.map_err(fail)?;
    Ok(rows.into_iter().map(|j| (j.row.id, j)).collect())
});

loader!(ApplicationCountLoader, JobId => i64, |conn, keys| {
    let rows = db::jobs::application_counts(&mut conn, keys)
        .await
        .map_err(fail)?;
    Ok(rows.into_iter().collect())
});

loader!(HistoryLoader, ApplicationId => Vec<ApplicationEvent>, |conn, keys| {
    let rows = db::applications::events_of(&mut conn, keys)
        .await
        .map_err(fail)?;
    let mut out: HashMap<ApplicationId, Vec<ApplicationEvent>> = HashMap::new();
    for e in rows {
        out.entry(e.application_id).or_default().push(e);
    }
    Ok(out)
});

loader!(GroupLoader, GroupId => TalentGroup, |conn, keys| {
    let rows = db::groups::find_groups(&mut conn, keys)
        .await
        .map_err(fail)?;
    Ok(rows.into_iter().map(|g| (g.id, g)).collect())
});

loader!(MembersLoader, GroupId => Vec<Membership>, |conn, keys| {
    let rows = db::groups::members_of(&mut conn, keys)
        .await
        .map_err(fail)?;
    let mut out: HashMap<GroupId, Vec<Membership>> = HashMap::new();
    for m in rows {
        out.entry(m.group_id).or_default().push(m);
    }
    Ok(out)
});

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub talents: DataLoader<TalentLoader>,
    pub producers: DataLoader<ProducerLoader>,
    pub jobs: DataLoader<JobLoader>,
    pub application_counts: DataLoader<ApplicationCountLoader>,
    pub histories: DataLoader<HistoryLoader>,
    pub groups: DataLoader<GroupLoader>,
    pub members: DataLoader<MembersLoader>,
}

/// The loaders of one request, built on first use (many requests never need one).
pub struct LazyLoaders {
    pool: PgPool,
    loaders: std::sync::OnceLock<Loaders>,
}

impl LazyLoaders {
    pub fn new(pool: PgPool) -> LazyLoaders {
        LazyLoaders {
            pool,
            loaders: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> &Loaders {
        self.loaders.get_or_init(|| Loaders::new(&self.pool))
    }
}

impl Loaders {
    pub fn new(pool: &PgPool) -> Loaders {
        let db = || Db(pool.clone());
        Loaders {
            users: DataLoader::new(UserLoader(db()), tokio::spawn),
            talents: DataLoader::new(TalentLoader(db()), tokio::spawn),
            producers: DataLoader::new(ProducerLoader(db()), tokio::spawn),
            jobs: DataLoader::new(JobLoader(db()), tokio::spawn),
            application_counts: DataLoader::new(ApplicationCountLoader(db()), tokio::spawn),
            histories: DataLoader::new(HistoryLoader(db()), tokio::spawn),
            groups: DataLoader::new(GroupLoader(db()), tokio::spawn),
            members: DataLoader::new(MembersLoader(db()), tokio::spawn),
        }
    }
}
