//! Saved copies of kept indexes, so an instance that starts is ready in seconds instead of
//! building each index from storage. A copy records the outbox position it includes: the
//! instance opens it, then applies the events committed since (catching up), and follows the
//! bus as usual. The port says where copies live (the server keeps its own on local disk and
//! publishes them to the object store, for instances that start on an empty disk) and reads the
//! events an instance missed; the kept-index shell (`kept`) does the rest.

use crate::events::Event;
use crate::relay::PortFuture;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// What a copy is and includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAt {
    /// What the copy is fit for (the index's layout version; the model and dimension of
    /// vectors): a copy of another fit is never opened.
    pub fit: String,
    /// Every change committed up to this outbox position is in the copy.
    pub through: i64,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Records in it.
    pub records: u64,
}

/// A copy found, unpacked into a folder of its own.
pub struct Found {
    pub folder: PathBuf,
    pub saved: SavedAt,
    /// Where it came from ("local", "object store"), for logs and `/readyz`.
    pub from: &'static str,
}

/// Where kept indexes keep their copies, and what happened since one was taken.
pub trait SnapshotStore: Send + Sync + 'static {
    /// A new, empty folder on the indexes' disk.
    fn scratch(&self) -> anyhow::Result<PathBuf>;

    /// Keeps `folder` (written by the index, then no longer touched by it) as the newest copy of
    /// `index`, and publishes it for other instances. The folder is consumed.
    fn keep(&self, index: &str, folder: PathBuf, saved: SavedAt) -> PortFuture<()>;

    /// The newest intact copy of `index` of this `fit`: this instance's own, else the one
    /// published; unpacked into a scratch folder. None: there is none usable (missing, damaged,
    /// of another fit — each logged).
    fn newest(&self, index: &str, fit: &str) -> PortFuture<Option<Found>>;

    /// Every event committed after the copy was taken, in order. None: some may no longer be
    /// kept (the outbox is pruned), so the copy cannot be brought up to date.
    fn missed(&self, saved: &SavedAt) -> PortFuture<Option<Vec<Arc<Event>>>>;
}
