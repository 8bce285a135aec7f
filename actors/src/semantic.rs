//! `SemanticIndex`: this instance's approximate nearest-neighbour index (HNSW, `hnsw_rs`) over
//! the talents' profile vectors, built from the server's storage at start and kept current by
//! the events that say a talent was re-embedded. Readers search through a `SemanticHandle` on a
//! blocking thread.
//!
//! HNSW cannot delete: a talent re-embedded gets a new node and the old one is skipped in
//! answers (a tombstone). When tombstones pass a quarter of the live nodes the index is rebuilt
//! in the background while the old one keeps answering. The shell that loads it, follows the
//! events and reloads on failure is the kept index's (see `kept`). Vectors are normalised, so the dot
//! product is the cosine similarity.

use crate::events::{Event, Topic};
use crate::kept::{Kept, KeptIndex, KeptIndexActor, KeptStats};
use crate::relay::PortFuture;
use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

/// Vectors from which a build inserts on every core.
const PARALLEL_BUILD_FROM: usize = 10_000;
/// HNSW layers (log_M of the largest index we expect is far below).
const MAX_LAYERS: usize = 16;

/// Where the index reads from.
pub trait SemanticSource: Send + Sync + 'static {
    /// Up to `limit` talents' profile vectors (of the configured model) with ids after
    /// `after`, in id order.
    fn vectors(&self, after: Option<Uuid>, limit: usize) -> PortFuture<Vec<(Uuid, Vec<f32>)>>;
    /// The current profile vector of each talent (None: it has none any more).
    fn current(&self, ids: Vec<Uuid>) -> PortFuture<Vec<(Uuid, Option<Vec<f32>>)>>;
    /// The talents whose vectors an event on `Topic::Matching` says changed.
    fn changed(&self, event: &Event) -> Vec<Uuid>;
}

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy)]
pub struct HnswParams {
    pub dims: usize,
    pub m: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
}

/// 1 − the dot product of two unit vectors (their cosine distance), never negative: rounding
/// can make the dot product of a vector with itself exceed 1 (anndists' `DistDot` asserts on
/// that).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        // Eight lanes, so the compiler vectorises the sum.
        let mut lanes = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (x, y) in ca.zip(cb) {
            for (lane, (x, y)) in lanes.iter_mut().zip(x.iter().zip(y)) {
                *lane += x * y;
            }
        }
        (1.0 - (lanes.iter().sum::<f32>() + tail)).max(0.0)
    }
}

/// Scales `v` to length 1 (a zero vector stays zero).
pub fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The graph and what its node ids stand for.
pub struct VectorIndex {
    params: HnswParams,
    hnsw: Hnsw<'static, f32, UnitCosine>,
    /// Node id -> talent.
    talents: Vec<Uuid>,
    /// Node id -> whether it is the talent's current node.
    live: Vec<bool>,
    /// Node id -> a fingerprint of its vector: putting the same vector again changes nothing
    /// (events applied twice, as when catching up from a copy, cost no new node).
    fingerprints: Vec<u64>,
    /// Talent -> its current node.
    node: HashMap<Uuid, usize>,
    tombstones: usize,
}

impl VectorIndex {
    pub fn new(params: HnswParams, expected: usize) -> VectorIndex {
        VectorIndex {
            params,
            hnsw: Hnsw::new(
                params.m,
                expected.max(1024),
                MAX_LAYERS,
                params.ef_construction,
                UnitCosine,
            ),
            talents: Vec::with_capacity(expected),
            live: Vec::with_capacity(expected),
            fingerprints: Vec::with_capacity(expected),
            node: HashMap::with_capacity(expected),
            tombstones: 0,
        }
    }

    /// Adds a node for `talent` (its current one from now on).
    fn push(&mut self, talent: Uuid, fingerprint: u64) -> usize {
        let id = self.talents.len();
        self.talents.push(talent);
        self.live.push(true);
        self.fingerprints.push(fingerprint);
        if let Some(old) = self.node.insert(talent, id) {
            self.live[old] = false;
            self.tombstones += 1;
        }
        id
    }

    /// Builds from `vectors` (each talent once), inserting on every core when there are many.
    pub fn build(params: HnswParams, vectors: Vec<(Uuid, Vec<f32>)>) -> VectorIndex {
        let mut index = VectorIndex::new(params, vectors.len());
        let mut points = Vec::with_capacity(vectors.len());
        for (talent, v) in vectors {
            if v.len() != params.dims {
                continue;
            }
            let v = normalised(v);
            let id = index.push(talent, fingerprint(&v));
            points.push((v, id));
        }
        let refs: Vec<(&[f32], usize)> = points.iter().map(|(v, id)| (v.as_slice(), *id)).collect();
        if refs.len() < PARALLEL_BUILD_FROM {
            // Small indexes are built in order: their graph does not depend on how the threads
            // of a parallel insert interleave on a busy machine, and it takes milliseconds.
            for point in refs {
                index.hnsw.insert_slice(point);
            }
        } else {
            index.hnsw.parallel_insert_slice(&refs);
        }
        index
    }

    /// Puts a talent's new vector in (None: takes the talent out).
    pub fn put(&mut self, talent: Uuid, vector: Option<Vec<f32>>) {
        let Some(v) = vector.filter(|v| v.len() == self.params.dims) else {
            if let Some(old) = self.node.remove(&talent) {
                self.live[old] = false;
                self.tombstones += 1;
            }
            return;
        };
        let v = normalised(v);
        let print = fingerprint(&v);
        if self
            .node
            .get(&talent)
            .is_some_and(|&n| self.fingerprints[n] == print)
        {
            return;
        }
        let id = self.push(talent, print);
        self.hnsw.insert_slice((&v, id));
    }

    /// The `k` talents nearest `query` with a cosine similarity of at least `min_similarity`,
    /// nearest first.
    pub fn search(&self, query: &[f32], k: usize, min_similarity: f32) -> Vec<(Uuid, f32)> {
        if query.len() != self.params.dims || self.node.is_empty() || k == 0 {
            return Vec::new();
        }
        let query = normalised(query.to_vec());
        // Ask for more than `k` to cover tombstones among the nearest.
        let want = k + k.min(self.tombstones);
        let ef = self.params.ef_search.max(want);
        let mut found: Vec<(Uuid, f32)> = self
            .hnsw
            .search(&query, want, ef)
            .into_iter()
            .filter(|n| self.live.get(n.d_id).copied().unwrap_or(false))
            .map(|n| (self.talents[n.d_id], 1.0 - n.distance))
            .filter(|(_, similarity)| *similarity >= min_similarity)
            .collect();
        found.truncate(k);
        found
    }

    pub fn len(&self) -> usize {
        self.node.len()
    }

    pub fn is_empty(&self) -> bool {
        self.node.is_empty()
    }

    /// Whether replaced nodes have piled up enough to rebuild.
    pub fn needs_rebuild(&self) -> bool {
        self.tombstones > 1_000 && self.tombstones > self.node.len() / 4
    }
}

/// A fingerprint of a (normalised) vector's bits.
fn fingerprint(v: &[f32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for x in v {
        x.to_bits().hash(&mut hasher);
    }
    hasher.finish()
}

/// The basename of a copy's graph files (`graph.hnsw.graph`, `graph.hnsw.data`).
const GRAPH: &str = "graph";
/// A copy's node list: per node the talent (16 bytes), whether it is live (1 byte) and its
/// vector's fingerprint (8 bytes, little-endian).
const NODES: &str = "nodes";
const NODE_BYTES: usize = 25;

impl VectorIndex {
    /// Writes the graph (hnsw_rs's dump) and the node list into `folder`: talents in it.
    pub fn write_copy(&self, folder: &Path) -> anyhow::Result<u64> {
        self.hnsw.file_dump(folder, GRAPH)?;
        let mut nodes = std::io::BufWriter::new(std::fs::File::create(folder.join(NODES))?);
        for ((talent, live), print) in self.talents.iter().zip(&self.live).zip(&self.fingerprints) {
            nodes.write_all(talent.as_bytes())?;
            nodes.write_all(&[u8::from(*live)])?;
            nodes.write_all(&print.to_le_bytes())?;
        }
        nodes.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(self.node.len() as u64)
    }

    /// Opens a copy `write_copy` wrote, if it has `params`' dimension.
    pub fn read_copy(params: HnswParams, folder: &Path) -> anyhow::Result<VectorIndex> {
        let nodes = std::fs::read(folder.join(NODES))?;
        anyhow::ensure!(nodes.len() % NODE_BYTES == 0, "a damaged node list");
        // A graph loaded by hnsw_rs borrows its loader for as long as it lives (for its
        // memory-mapped mode, which is not used: the vectors are read into memory). The loader
        // is a few hundred bytes, leaked once per copy opened (once a start).
        let loader: &'static HnswIo = Box::leak(Box::new(HnswIo::new(folder, GRAPH)));
        let hnsw: Hnsw<'static, f32, UnitCosine> = loader.load_hnsw_with_dist(UnitCosine)?;
        let count = nodes.len() / NODE_BYTES;
        anyhow::ensure!(
            hnsw.get_nb_point() == count,
            "the graph has {} nodes, the node list {count}",
            hnsw.get_nb_point()
        );
        let dims = hnsw.get_point_indexation().get_data_dimension();
        anyhow::ensure!(
            count == 0 || dims == params.dims,
            "vectors of {dims} dimensions, not {}",
            params.dims
        );
        let mut index = VectorIndex {
            params,
            hnsw,
            talents: Vec::with_capacity(count),
            live: Vec::with_capacity(count),
            fingerprints: Vec::with_capacity(count),
            node: HashMap::with_capacity(count),
            tombstones: 0,
        };
        for (id, node) in nodes.chunks_exact(NODE_BYTES).enumerate() {
            let talent = Uuid::from_slice(&node[..16])?;
            let live = node[16] == 1;
            let print = u64::from_le_bytes(node[17..25].try_into()?);
            index.talents.push(talent);
            index.live.push(live);
            index.fingerprints.push(print);
            if live {
                index.node.insert(talent, id);
            } else {
                index.tombstones += 1;
            }
        }
        Ok(index)
    }
}

/// Why a search has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SemanticError {
    /// The first load has not finished.
    WarmingUp,
    Failed(String),
}

impl std::fmt::Display for SemanticError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SemanticError::WarmingUp => f.write_str("the semantic index is still loading"),
            SemanticError::Failed(e) => write!(f, "the semantic index failed: {e}"),
        }
    }
}

impl std::error::Error for SemanticError {}

/// What `/readyz` and `/metrics` show.
#[derive(Debug, Clone, Default)]
pub struct SemanticStats {
    /// What every kept index reports (built, builds, events applied, ...).
    pub kept: KeptStats,
    pub vectors: usize,
    pub tombstones: usize,
}

/// The actor that keeps the semantic index.
pub type SemanticIndex = KeptIndexActor<Semantic>;

/// The semantic index as a kept index: how its graph is built, and how it loads and changes.
pub struct Semantic {
    params: HnswParams,
    /// What a copy must be fit for (the model and dimension of the vectors); None: not saved.
    fit: Option<String>,
}

impl KeptIndex for Semantic {
    type Data = VectorIndex;
    /// Talents whose vectors changed.
    type Change = Vec<Uuid>;
    type Source = dyn SemanticSource;
    const NAME: &'static str = "semantic index";
    const TOPIC: Topic = Topic::Matching;

    fn load(self: &Arc<Self>, source: &Arc<Self::Source>, batch: usize) -> PortFuture<VectorIndex> {
        Box::pin(build(Arc::clone(source), self.params, batch))
    }

    fn fit(&self) -> Option<String> {
        self.fit.clone()
    }

    fn write_copy(data: &VectorIndex, folder: &Path) -> anyhow::Result<u64> {
        data.write_copy(folder)
    }

    fn open_copy(self: &Arc<Self>, folder: PathBuf) -> anyhow::Result<VectorIndex> {
        let opened = VectorIndex::read_copy(self.params, &folder);
        // The graph is in memory now (or the copy was unusable): the files are not needed.
        let _ = std::fs::remove_dir_all(&folder);
        opened
    }

    fn changes(source: &Self::Source, event: &Event) -> Vec<Vec<Uuid>> {
        let talents = source.changed(event);
        match talents.is_empty() {
            true => Vec::new(),
            false => vec![talents],
        }
    }

    fn apply(
        self: &Arc<Self>,
        source: &Arc<Self::Source>,
        kept: &Arc<Kept<Self>>,
        talents: Vec<Uuid>,
    ) -> PortFuture<bool> {
        let (source, kept) = (Arc::clone(source), Arc::clone(kept));
        Box::pin(async move {
            let current = source.current(talents).await?;
            let reload = tokio::task::spawn_blocking(move || {
                let mut guard = kept.write();
                let Some(index) = guard.as_mut() else {
                    return false;
                };
                for (talent, vector) in current {
                    index.put(talent, vector);
                }
                index.needs_rebuild()
            })
            .await?;
            Ok(reload)
        })
    }
}

/// Searches this instance's semantic index; cheap to clone.
#[derive(Clone)]
pub struct SemanticHandle {
    kept: Arc<Kept<Semantic>>,
}

impl Default for SemanticHandle {
    fn default() -> Self {
        SemanticHandle { kept: Kept::new() }
    }
}

impl SemanticHandle {
    /// The actor that builds this index with `params` from `source`, reading `batch` vectors
    /// at a time, and keeps it current with the changes `hub` carries. Copies are fit for
    /// `fit` (the model and dimension; None: never saved).
    pub fn keeper(
        &self,
        source: Arc<dyn SemanticSource>,
        hub: actix::Addr<crate::NotificationHub>,
        params: HnswParams,
        batch: usize,
        fit: Option<String>,
    ) -> SemanticIndex {
        KeptIndexActor::new(
            Arc::new(Semantic { params, fit }),
            source,
            Arc::clone(&self.kept),
            hub,
            batch,
        )
    }

    pub fn is_built(&self) -> bool {
        self.kept.is_built()
    }

    pub fn stats(&self) -> SemanticStats {
        let (vectors, tombstones) = self
            .kept
            .read()
            .as_ref()
            .map_or((0, 0), |index| (index.len(), index.tombstones));
        SemanticStats {
            kept: self.kept.stats(),
            vectors,
            tombstones,
        }
    }

    /// The `k` talents nearest `query` (cosine similarity at least `min_similarity`).
    pub async fn search(
        &self,
        query: Vec<f32>,
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<(Uuid, f32)>, SemanticError> {
        if !self.is_built() {
            return Err(SemanticError::WarmingUp);
        }
        let kept = Arc::clone(&self.kept);
        tokio::task::spawn_blocking(move || {
            kept.read()
                .as_ref()
                .map(|index| index.search(&query, k, min_similarity))
                .unwrap_or_default()
        })
        .await
        .map_err(|e| SemanticError::Failed(e.to_string()))
    }
}

/// Loads every vector in pages of `batch` and builds the graph on blocking threads.
async fn build(
    source: Arc<dyn SemanticSource>,
    params: HnswParams,
    batch: usize,
) -> anyhow::Result<VectorIndex> {
    let mut vectors = Vec::new();
    let mut after = None;
    loop {
        let page = source.vectors(after, batch).await?;
        let full = page.len() == batch;
        after = page.last().map(|(id, _)| *id);
        vectors.extend(page);
        if !full {
            break;
        }
    }
    Ok(tokio::task::spawn_blocking(move || VectorIndex::build(params, vectors)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(dims: usize) -> HnswParams {
        HnswParams {
            dims,
            m: 16,
            ef_construction: 100,
            ef_search: 64,
        }
    }

    /// A deterministic pseudo-random unit vector.
    fn vector(seed: u64, dims: usize) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..dims)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn id(n: u64) -> Uuid {
        Uuid::from_u64_pair(0, n)
    }

    #[test]
    fn a_saved_graph_opens_with_the_same_answers_and_only_at_its_dimension() {
        let dims = 16;
        let vectors: Vec<_> = (0..500).map(|n| (id(n), vector(n, dims))).collect();
        let mut index = VectorIndex::build(params(dims), vectors);
        index.put(id(7), Some(vector(90_000, dims)));
        index.put(id(8), None);
        let folder = std::env::temp_dir().join(format!("castyou-graph-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&folder).unwrap();
        assert_eq!(index.write_copy(&folder).unwrap(), 499);

        let mut opened = VectorIndex::read_copy(params(dims), &folder).unwrap();
        assert_eq!(opened.len(), 499);
        // A vector put again (an event applied twice, as when catching up): nothing changes.
        let tombstones = opened.tombstones;
        opened.put(id(7), Some(vector(90_000, dims)));
        opened.put(id(3), Some(vector(3, dims)));
        assert_eq!(opened.tombstones, tombstones);
        assert_eq!(opened.talents.len(), 501);
        assert_eq!(opened.tombstones, index.tombstones);
        for n in [0u64, 17, 499] {
            assert_eq!(
                opened.search(&vector(n, dims), 5, -1.0),
                index.search(&vector(n, dims), 5, -1.0)
            );
        }
        assert_eq!(opened.search(&vector(90_000, dims), 1, -1.0)[0].0, id(7));
        assert!(opened
            .search(&vector(8, dims), 10, -1.0)
            .iter()
            .all(|(t, _)| *t != id(8)));
        // Another dimension: never opened.
        assert!(VectorIndex::read_copy(params(32), &folder).is_err());
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn finds_the_nearest_and_keeps_up_with_changes() {
        let dims = 16;
        let vectors: Vec<_> = (0..1_000).map(|n| (id(n), vector(n, dims))).collect();
        let mut index = VectorIndex::build(params(dims), vectors.clone());
        assert_eq!(index.len(), 1_000);
        // Each vector finds itself first, with similarity 1.
        for n in [0u64, 17, 999, 555] {
            let found = index.search(&vector(n, dims), 5, -1.0);
            assert_eq!(found[0].0, id(n));
            assert!((found[0].1 - 1.0).abs() < 1e-4, "{:?}", found[0]);
        }
        // A talent re-embedded is found by its new vector, never by its old one.
        index.put(id(17), Some(vector(50_000, dims)));
        assert_eq!(index.search(&vector(50_000, dims), 1, -1.0)[0].0, id(17));
        let old = index.search(&vector(17, dims), 5, -1.0);
        assert!(
            old.iter().all(|(t, s)| *t != id(17) || *s < 0.99),
            "{old:?}"
        );
        assert_eq!(index.len(), 1_000);
        // Removed: gone from answers.
        index.put(id(999), None);
        assert!(index
            .search(&vector(999, dims), 10, -1.0)
            .iter()
            .all(|(t, _)| *t != id(999)));
        assert_eq!(index.len(), 999);
        // Wrong length: ignored; a similarity floor cuts the answer.
        index.put(id(5), Some(vec![1.0; 3]));
        assert_eq!(index.len(), 998);
        assert!(index.search(&[1.0; 3], 5, -1.0).is_empty());
        assert!(index.search(&vector(1, dims), 50, 0.999).len() <= 1);
    }

    #[test]
    fn recall_against_brute_force_is_high() {
        let dims = 32;
        let vectors: Vec<_> = (0..3_000).map(|n| (id(n), vector(n, dims))).collect();
        let index = VectorIndex::build(params(dims), vectors.clone());
        let units: Vec<(Uuid, Vec<f32>)> = vectors
            .into_iter()
            .map(|(t, v)| (t, normalised(v)))
            .collect();
        let mut hits = 0;
        let queries = 30;
        for q in 0..queries {
            let query = normalised(vector(1_000_000 + q, dims));
            let mut exact: Vec<(Uuid, f32)> = units
                .iter()
                .map(|(t, v)| (*t, v.iter().zip(&query).map(|(a, b)| a * b).sum()))
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1));
            let truth: Vec<Uuid> = exact.iter().take(10).map(|(t, _)| *t).collect();
            hits += index
                .search(&query, 10, -1.0)
                .iter()
                .filter(|(t, _)| truth.contains(t))
                .count();
        }
        let recall = hits as f64 / (queries as f64 * 10.0);
        assert!(recall >= 0.9, "recall@10 {recall}");
    }
}
