//! Where the kept indexes' saved copies live (the port `SnapshotStore` of the actors' crate):
//! one file per index under `search.dir/snapshots` for this instance, the same file published
//! to the media store (the local folder or S3) for instances that start on an empty disk, and
//! the outbox's events since a copy was taken, for catching up.
//!
//! A copy is one file: a magic line, the manifest (the index, what it is fit for, the outbox
//! position it includes, each file's length and CRC-32) and the files one after another. It is
//! written beside its place and renamed into it, and an object store replaces an object whole,
//! so a reader sees a whole copy or the previous one. Every file is checked against the manifest
//! before the index opens it: a damaged copy is never served. Copies are tied to the database
//! they were taken from (its name and object id).

use crate::clients::storage::{snapshot_key, MediaStore, Store};
use crate::db::{self, PgPool};
use anyhow::Context;
use castyou_actors::relay::PortFuture;
use castyou_actors::snapshots::{Found, SavedAt, SnapshotStore};
use castyou_actors::Event;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

const MAGIC: &[u8] = b"CASTYOU-COPY 1\n";
/// Bounds on what a copy may declare, checked before anything is allocated for it.
const MAX_MANIFEST_BYTES: u32 = 1 << 20;
const MAX_FILES: usize = 4096;
/// More events than this since a copy: loading from storage is cheaper than catching up.
const MAX_MISSED: usize = 200_000;
const MISSED_PAGE: i64 = 2_000;
/// A transaction that committed after a copy was taken may have been recorded (its outbox
/// position drawn) up to this long before: its events are applied again (applying is
/// idempotent: an index re-reads what changed).
const LATE_COMMITS: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    index: String,
    saved: SavedAt,
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    name: String,
    bytes: u64,
    crc32: u32,
}

/// The server's `SnapshotStore`; cheap to clone.
#[derive(Clone)]
pub struct Snapshots(Arc<Copies>);

struct Copies {
    root: PathBuf,
    database: String,
    store: Option<Arc<MediaStore>>,
    pool: PgPool,
    /// How far back the outbox surely keeps events.
    history: chrono::Duration,
    /// The largest copy published or downloaded.
    max_bytes: u64,
}

impl Snapshots {
    /// Copies under `root` (the indexes' folder), published to `store` when given, of the
    /// database `pool` reaches, whose outbox keeps events for `retention`.
    pub async fn new(
        root: PathBuf,
        pool: PgPool,
        store: Option<Arc<MediaStore>>,
        retention: chrono::Duration,
        max_bytes: u64,
    ) -> anyhow::Result<Snapshots> {
        let database = {
            let mut conn = pool.get().await?;
            db::snapshots::database_tag(&mut conn).await?
        };
        // Events pruned at `retention` after delivery; keep a margin for the relay's delay.
        let history = (retention - chrono::Duration::hours(12)).max(chrono::Duration::hours(1));
        Ok(Snapshots(Arc::new(Copies {
            root,
            database,
            store,
            pool,
            history,
            max_bytes,
        })))
    }
}

impl Copies {
    fn scratch(&self) -> anyhow::Result<PathBuf> {
        let folder = self.root.join(format!("copy-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        Ok(folder)
    }

    fn key(&self, index: &str) -> String {
        snapshot_key(&self.database, index)
    }

    /// This instance's copy of `index`.
    fn local(&self, index: &str) -> PathBuf {
        let name = self.key(index).replace('/', "_");
        self.root.join("snapshots").join(format!("{name}.copy"))
    }

    /// Unpacks `copy`, found `from`, into a scratch folder (removed again if it is not a usable
    /// copy).
    fn unpacked(
        &self,
        copy: impl Read,
        index: &str,
        fit: &str,
        from: &'static str,
    ) -> anyhow::Result<Found> {
        let folder = self.scratch()?;
        match unpack(copy, index, fit, &folder) {
            Ok(saved) => Ok(Found {
                folder,
                saved,
                from,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&folder);
                Err(e)
            }
        }
    }

    async fn own(self: &Arc<Self>, index: &str, fit: &str) -> anyhow::Result<Option<Found>> {
        let path = self.local(index);
        if !tokio::fs::try_exists(&path).await? {
            return Ok(None);
        }
        let (this, index, fit) = (Arc::clone(self), index.to_string(), fit.to_string());
        let found = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            this.unpacked(std::io::BufReader::new(file), &index, &fit, "local")
        })
        .await??;
        Ok(Some(found))
    }

    async fn published(self: &Arc<Self>, index: &str, fit: &str) -> anyhow::Result<Option<Found>> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let key = self.key(index);
        match store.size(&key).await? {
            None => return Ok(None),
            Some(size) if size > self.max_bytes => {
                anyhow::bail!(
                    "the published copy has {size} bytes, more than search.snapshot_max_bytes"
                )
            }
            Some(_) => {}
        }
        let bytes = store.get(&key, self.max_bytes).await?;
        let (this, index, fit) = (Arc::clone(self), index.to_string(), fit.to_string());
        let found = tokio::task::spawn_blocking(move || {
            this.unpacked(std::io::Cursor::new(bytes), &index, &fit, "object store")
        })
        .await??;
        Ok(Some(found))
    }
}

impl SnapshotStore for Snapshots {
    fn scratch(&self) -> anyhow::Result<PathBuf> {
        self.0.scratch()
    }

    fn keep(&self, index: &str, folder: PathBuf, saved: SavedAt) -> PortFuture<()> {
        let (this, index) = (Arc::clone(&self.0), index.to_string());
        Box::pin(async move {
            let path = this.local(&index);
            let (into, name) = (path.clone(), index.clone());
            let bytes = tokio::task::spawn_blocking(move || {
                let packed = pack(&folder, &name, &saved, &into);
                let _ = std::fs::remove_dir_all(&folder);
                packed
            })
            .await??;
            let Some(store) = &this.store else {
                return Ok(());
            };
            if bytes > this.max_bytes {
                tracing::warn!(
                    index,
                    bytes,
                    "the copy is larger than search.snapshot_max_bytes; not published"
                );
                return Ok(());
            }
            let copy = tokio::fs::read(&path).await?;
            store
                .put(&this.key(&index), "application/octet-stream", copy)
                .await
                .context("publishing the copy")?;
            tracing::info!(index, bytes, "a copy was saved and published");
            Ok(())
        })
    }

    fn newest(&self, index: &str, fit: &str) -> PortFuture<Option<Found>> {
        let (this, index, fit) = (Arc::clone(&self.0), index.to_string(), fit.to_string());
        Box::pin(async move {
            match this.own(&index, &fit).await {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(
                        index,
                        error = format!("{e:#}"),
                        "this instance's copy is not usable"
                    );
                }
            }
            match this.published(&index, &fit).await {
                Ok(found) => Ok(found),
                Err(e) => {
                    tracing::warn!(
                        index,
                        error = format!("{e:#}"),
                        "the published copy is not usable"
                    );
                    Ok(None)
                }
            }
        })
    }

    fn missed(&self, saved: &SavedAt) -> PortFuture<Option<Vec<Arc<Event>>>> {
        let (this, saved) = (Arc::clone(&self.0), saved.clone());
        Box::pin(async move {
            if saved.at < Utc::now() - this.history {
                return Ok(None);
            }
            let since = saved.at - LATE_COMMITS;
            let mut conn = this.pool.get().await?;
            let (mut events, mut after) = (Vec::new(), 0);
            loop {
                let rows = db::snapshots::events_since(
                    &mut conn,
                    saved.through,
                    since,
                    after,
                    MISSED_PAGE,
                )
                .await?;
                let Some(last) = rows.last() else {
                    return Ok(Some(events));
                };
                after = last.seq;
                // A bulk load at or before the copy's position was committed before the copy
                // was loaded (its position was read first), so the copy has its rows.
                let bulk = |row: &db::outbox::OutboxRow| {
                    row.kind == db::snapshots::BULK_LOAD && row.seq > saved.through
                };
                if rows.iter().any(bulk) {
                    tracing::info!("rows were loaded in bulk since the copy was taken");
                    return Ok(None);
                }
                events.extend(
                    rows.into_iter()
                        .map(|row| Arc::new(super::events::to_event(row))),
                );
                if events.len() > MAX_MISSED {
                    return Ok(None);
                }
            }
        })
    }
}

/// Writes the files of `folder` as one copy at `to` (beside it, then renamed): its bytes.
fn pack(folder: &Path, index: &str, saved: &SavedAt, to: &Path) -> anyhow::Result<u64> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        anyhow::ensure!(entry.file_type()?.is_file(), "a copy holds files only");
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| anyhow::anyhow!("a file name that is not UTF-8"))?;
        anyhow::ensure!(plain_name(&name), "an unexpected file name {name:?}");
        let (bytes, crc32) = copy_hashing(std::fs::File::open(entry.path())?, std::io::sink())?;
        files.push(Entry { name, bytes, crc32 });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let manifest = Manifest {
        index: index.to_string(),
        saved: saved.clone(),
        files,
    };
    let header = serde_json::to_vec(&manifest)?;
    let dir = to.parent().context("a copy's place has a folder")?;
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".partial-{}", Uuid::now_v7().simple()));
    let written = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        out.write_all(MAGIC)?;
        out.write_all(&(header.len() as u32).to_le_bytes())?;
        out.write_all(&header)?;
        for entry in &manifest.files {
            let file = std::fs::File::open(folder.join(&entry.name))?;
            anyhow::ensure!(
                copy_hashing(file, &mut out)? == (entry.bytes, entry.crc32),
                "{} changed while it was saved",
                entry.name
            );
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok::<_, anyhow::Error>(file.metadata()?.len())
    })();
    match written {
        Ok(bytes) => {
            std::fs::rename(&partial, to)?;
            Ok(bytes)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Reads a copy of `index` fit for `fit` into the empty `folder`, checking every file; what it
/// includes. An error for a copy of another index or fit, or a damaged one.
fn unpack(mut copy: impl Read, index: &str, fit: &str, folder: &Path) -> anyhow::Result<SavedAt> {
    let mut magic = [0u8; MAGIC.len()];
    copy.read_exact(&mut magic).context("a truncated copy")?;
    anyhow::ensure!(magic == MAGIC, "not a copy of an index");
    let mut length = [0u8; 4];
    copy.read_exact(&mut length).context("a truncated copy")?;
    let length = u32::from_le_bytes(length);
    anyhow::ensure!(
        length <= MAX_MANIFEST_BYTES,
        "a damaged copy (manifest of {length} bytes)"
    );
    let mut manifest = vec![0u8; length as usize];
    copy.read_exact(&mut manifest).context("a truncated copy")?;
    let manifest: Manifest = serde_json::from_slice(&manifest).context("a damaged manifest")?;
    anyhow::ensure!(
        manifest.index == index,
        "a copy of {:?}, not {index:?}",
        manifest.index
    );
    anyhow::ensure!(
        manifest.saved.fit == fit,
        "a copy for {:?}, not {fit:?}",
        manifest.saved.fit
    );
    anyhow::ensure!(
        manifest.files.len() <= MAX_FILES,
        "a damaged copy ({} files)",
        manifest.files.len()
    );
    for entry in &manifest.files {
        anyhow::ensure!(
            plain_name(&entry.name),
            "a damaged copy (file {:?})",
            entry.name
        );
        let path = folder.join(&entry.name);
        let mut out = std::io::BufWriter::new(std::fs::File::create_new(&path)?);
        let (read, crc32) = copy_hashing((&mut copy).take(entry.bytes), &mut out)?;
        anyhow::ensure!(read == entry.bytes, "a truncated copy ({})", entry.name);
        anyhow::ensure!(
            crc32 == entry.crc32,
            "a damaged copy ({} fails its checksum)",
            entry.name
        );
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    anyhow::ensure!(
        copy.read(&mut [0u8; 1])? == 0,
        "a damaged copy (bytes after its last file)"
    );
    Ok(manifest.saved)
}

/// Copies `from` to `to`: the bytes copied and their CRC-32.
fn copy_hashing(mut from: impl Read, mut to: impl Write) -> std::io::Result<(u64, u32)> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok((bytes, hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        bytes += n as u64;
    }
}

/// A file name a copy may hold: letters, digits, `.`, `-`, `_`, not starting with a dot
/// other than Tantivy's own, never a path.
fn plain_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(fit: &str) -> SavedAt {
        SavedAt {
            fit: fit.into(),
            through: 42,
            at: Utc::now(),
            records: 2,
        }
    }

    fn folder() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("castyou-copy-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_copy_comes_back_whole_and_a_damaged_or_unfit_one_never() {
        let (from, into, copies) = (folder(), folder(), folder());
        std::fs::write(from.join("meta.json"), b"{\"a\":1}").unwrap();
        std::fs::write(from.join("0a1b.idx"), vec![7u8; 200_000]).unwrap();
        let copy = copies.join("lexical.copy");
        let bytes = pack(&from, "lexical index", &saved("v1"), &copy).unwrap();
        assert_eq!(bytes, std::fs::metadata(&copy).unwrap().len());

        let back = unpack(
            std::fs::File::open(&copy).unwrap(),
            "lexical index",
            "v1",
            &into,
        )
        .unwrap();
        assert_eq!(back.through, 42);
        assert_eq!(
            std::fs::read(into.join("0a1b.idx")).unwrap(),
            vec![7u8; 200_000]
        );
        assert_eq!(std::fs::read(into.join("meta.json")).unwrap(), b"{\"a\":1}");

        let whole = std::fs::read(&copy).unwrap();
        let unfit = unpack(whole.as_slice(), "lexical index", "v2", &folder());
        assert!(format!("{:#}", unfit.unwrap_err()).contains("not \"v2\""));
        assert!(unpack(whole.as_slice(), "semantic index", "v1", &folder()).is_err());
        // One flipped byte in a file, a truncated copy, one with bytes after it: refused.
        let mut flipped = whole.clone();
        let at = flipped.len() - 1_000;
        flipped[at] ^= 1;
        let damaged = unpack(flipped.as_slice(), "lexical index", "v1", &folder());
        assert!(format!("{:#}", damaged.unwrap_err()).contains("checksum"));
        assert!(unpack(&whole[..whole.len() - 10], "lexical index", "v1", &folder()).is_err());
        let mut longer = whole.clone();
        longer.push(0);
        assert!(unpack(longer.as_slice(), "lexical index", "v1", &folder()).is_err());
        assert!(unpack(&b"garbage"[..], "lexical index", "v1", &folder()).is_err());
    }

    #[test]
    fn a_copy_holds_plain_file_names_only() {
        assert!(plain_name("meta.json"));
        assert!(plain_name("graph.hnsw.data"));
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "é"] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }
}
