//! The lexical index kept current: opened from the newest saved copy when the instance starts
//! and caught up (see `snapshots`), or built from PostgreSQL (in a fresh folder under
//! `search.dir`), then following the profile changes the outbox carries, each
//! applied on a blocking thread and visible to searches once committed (milliseconds after the
//! profile's commit). PostgreSQL stays the truth: a search first waits, at most `WAIT`, until
//! the index has applied the newest profile change committed anywhere (`own_writes`).

use super::events::{self, OutboxEvent};
use crate::clients::lexical::{LexicalIndex, TalentText, LAYOUT_VERSION};
use crate::db::{self, PgPool};
use crate::domain::ids::UserId;
use crate::errors::{AppError, AppResult};
use castyou_actors::kept::{Kept, KeptIndex, KeptIndexActor, KeptStats};
use castyou_actors::relay::PortFuture;
use castyou_actors::{Event, NotificationHub, Topic};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long a search waits, at most, for the index to build or to apply a committed change.
const WAIT: Duration = Duration::from_secs(2);

/// Where the index reads talents from.
pub struct TalentTexts {
    pool: PgPool,
}

impl TalentTexts {
    pub fn new(pool: PgPool) -> TalentTexts {
        TalentTexts { pool }
    }
}

fn text_of(row: db::search::TalentTextRow) -> TalentText {
    TalentText {
        id: row.user_id.0,
        stage_name: row.stage_name,
        headline: row.headline,
        about: row.about,
    }
}

/// The lexical index as a kept index.
pub struct Lexical {
    dir: PathBuf,
}

/// The actor that keeps the lexical index.
pub type LexicalKeeper = KeptIndexActor<Lexical>;

/// How old a build folder must be before another instance may remove it: one being created
/// holds no lock yet.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// Removes builds no live writer holds (left by a process that was killed): each build's
/// writer holds an exclusive lock on its `.tantivy-writer.lock` while it lives. Instances
/// sharing the folder keep their own builds.
fn remove_stale_builds(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("build-") && !name.starts_with("copy-") {
            continue;
        }
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > STALE_AFTER));
        let lock = path.join(".tantivy-writer.lock");
        let free = !lock.exists() || std::fs::File::open(&lock).is_ok_and(|f| f.try_lock().is_ok());
        if old && free {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

async fn build(
    dir: PathBuf,
    source: Arc<TalentTexts>,
    batch: usize,
) -> anyhow::Result<Arc<LexicalIndex>> {
    let root = dir.clone();
    let index = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root)?;
        remove_stale_builds(&root);
        LexicalIndex::create(&root.join(format!("build-{}", Uuid::now_v7().simple())))
    })
    .await??;
    let index = Arc::new(index);
    let mut after: Option<UserId> = None;
    loop {
        let rows = {
            let mut conn = source.pool.get().await?;
            db::search::talent_texts_after(&mut conn, after, batch as i64).await?
        };
        let Some(last) = rows.last() else {
            break;
        };
        after = Some(last.user_id);
        let texts: Vec<TalentText> = rows.into_iter().map(text_of).collect();
        let index = Arc::clone(&index);
        tokio::task::spawn_blocking(move || index.add(&texts)).await??;
    }
    let built = Arc::clone(&index);
    tokio::task::spawn_blocking(move || built.commit()).await??;
    Ok(index)
}

impl KeptIndex for Lexical {
    type Data = Arc<LexicalIndex>;
    /// Talents whose profile changed.
    type Change = Vec<Uuid>;
    type Source = TalentTexts;
    const NAME: &'static str = "lexical index";
    const TOPIC: Topic = Topic::Matching;

    fn load(self: &Arc<Self>, source: &Arc<TalentTexts>, batch: usize) -> PortFuture<Self::Data> {
        Box::pin(build(self.dir.clone(), Arc::clone(source), batch))
    }

    fn committed(self: &Arc<Self>, source: &Arc<TalentTexts>) -> PortFuture<Option<i64>> {
        let pool = source.pool.clone();
        Box::pin(async move {
            let mut conn = pool.get().await?;
            Ok(Some(db::outbox::newest_seq(&mut conn).await?))
        })
    }

    fn fit(&self) -> Option<String> {
        Some(format!("lexical-v{LAYOUT_VERSION}"))
    }

    fn write_copy(data: &Arc<LexicalIndex>, folder: &Path) -> anyhow::Result<u64> {
        data.copy_to(folder)
    }

    /// The copy's folder (a scratch folder under `search.dir`) becomes the index's own.
    fn open_copy(self: &Arc<Self>, folder: PathBuf) -> anyhow::Result<Arc<LexicalIndex>> {
        Ok(Arc::new(LexicalIndex::open(&folder)?))
    }

    fn changes(_source: &TalentTexts, event: &Event) -> Vec<Vec<Uuid>> {
        match events::decode(event).as_deref() {
            Some(OutboxEvent::TalentProfileChanged(c)) => vec![vec![c.talent_id.0]],
            _ => Vec::new(),
        }
    }

    fn apply(
        self: &Arc<Self>,
        source: &Arc<TalentTexts>,
        kept: &Arc<Kept<Self>>,
        talents: Vec<Uuid>,
    ) -> PortFuture<bool> {
        let (source, kept) = (Arc::clone(source), Arc::clone(kept));
        Box::pin(async move {
            let ids: Vec<UserId> = talents.iter().copied().map(UserId).collect();
            let rows = {
                let mut conn = source.pool.get().await?;
                db::search::talent_texts(&mut conn, &ids).await?
            };
            let texts: Vec<TalentText> = rows.into_iter().map(text_of).collect();
            let gone: Vec<Uuid> = talents
                .into_iter()
                .filter(|id| texts.iter().all(|t| t.id != *id))
                .collect();
            let Some(index) = kept.read().as_ref().map(Arc::clone) else {
                return Ok(false);
            };
            tokio::task::spawn_blocking(move || index.put(&texts, &gone)).await??;
            Ok(false)
        })
    }
}

/// What `/readyz` and `/metrics` show of the lexical index.
#[derive(Debug, Clone, Default)]
pub struct LexicalStats {
    pub kept: KeptStats,
    pub talents: u64,
    pub bytes: u64,
}

/// Searches this instance's lexical index; cheap to clone.
#[derive(Clone)]
pub struct LexicalHandle {
    kept: Arc<Kept<Lexical>>,
}

impl Default for LexicalHandle {
    fn default() -> Self {
        LexicalHandle { kept: Kept::new() }
    }
}

impl LexicalHandle {
    /// The actor that builds the index under `dir` from `source`, reading `batch` talents at a
    /// time, and keeps it current with the changes `hub` carries.
    pub fn keeper(
        &self,
        dir: PathBuf,
        source: Arc<TalentTexts>,
        hub: actix::Addr<NotificationHub>,
        batch: usize,
    ) -> LexicalKeeper {
        KeptIndexActor::new(
            Arc::new(Lexical { dir }),
            source,
            Arc::clone(&self.kept),
            hub,
            batch,
        )
    }

    pub fn is_built(&self) -> bool {
        self.kept.is_built()
    }

    pub fn stats(&self) -> LexicalStats {
        let (talents, bytes) = self
            .kept
            .read()
            .as_ref()
            .map_or((0, 0), |index| (index.len(), index.bytes()));
        LexicalStats {
            kept: self.kept.stats(),
            talents,
            bytes,
        }
    }

    /// The index, once it has applied the change at outbox position `seq` (0: none to wait
    /// for); waits at most `WAIT` for the first build and for that change.
    pub async fn current(&self, seq: i64) -> AppResult<Arc<LexicalIndex>> {
        if !self.kept.applied_through(seq, WAIT).await {
            tracing::warn!(
                seq,
                "search answered before the lexical index applied a change"
            );
        }
        if !self.kept.is_built() {
            let deadline = tokio::time::Instant::now() + WAIT;
            while !self.kept.is_built() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.kept.read().as_ref().map(Arc::clone).ok_or_else(|| {
            AppError::WarmingUp(
                "the search index is still loading after a start; retry in a few seconds".into(),
            )
        })
    }
}
