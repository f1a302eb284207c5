//! The face index beside the SQLite library, keyed by face id: an HNSW graph (`usearch`) for
//! approximate neighbours (clustering), and every vector in one matrix ([`Vectors`]) for exact
//! searches (search, `person photos`, erasure). SQLite stays the source of truth: both are a
//! cache, brought up to date on open (new faces added; rebuilt from SQLite when missing,
//! unreadable, made for another model, library or graph format, or when too many entries are
//! dead). Dead entries (faces deleted since) are harmless to searches, since every hit is looked
//! up in SQLite and face ids are never reused; a writer removes them from the files at once (an
//! erasure must leave no vector behind): from the vector matrix, and from the graph with their
//! vectors overwritten by zeros (`FaceIndex::remove`).
//!
//! Files: `index/meta.json` names the current generation `faces-<n>`, whose files are the graph
//! `faces-<n>.usearch` (usearch's own format, vectors included), `faces-<n>.vectors` and its int8
//! copy `faces-<n>.q8` (written with the generation, or by the next writer where it is missing or
//! does not fit; searches without it scan the f32 rows); a new generation is written under a new
//! name and the meta file is swapped atomically, so a crash leaves the old index or the new one,
//! never a mix. Then every other file in the folder is deleted. All three files hold raw
//! embeddings (biometric data).

mod q8;
mod vectors;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::{Error, Result};
use crate::store::{FaceId, Store};
pub use q8::dot_i8;
pub use vectors::{compact_path, Query, Vectors};

/// The dot product of two vectors of equal length: AVX2 with FMA where the CPU has it (detected
/// once), else the portable `dot_lanes`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            // SAFETY: the CPU has the features `dot_avx2` is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_lanes(a, b)
}

/// Whether this x86-64 CPU has AVX2 and FMA (std caches the answer).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Four 8-wide fused multiply-add chains over 32 floats a step, then one horizontal sum. The
/// compiler's own vectorisation of [`dot_lanes`] was 1.6× slower on vectors in cache
/// (5.8 vs 9.2 ns for 128-d), which is where the grouped exact scan spends its time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut s = [_mm256_setzero_ps(); 4];
    for (x, y) in ca.zip(cb) {
        for (k, acc) in s.iter_mut().enumerate() {
            // SAFETY: both chunks hold 32 floats, so 8 from offset 8k are in bounds.
            *acc = unsafe { _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr().add(8 * k)), _mm256_loadu_ps(y.as_ptr().add(8 * k)), *acc) };
        }
    }
    let v = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    let q = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    _mm_cvtss_f32(q) + tail
}

/// Eight independent partial sums: the compiler vectorises this (one running sum it may not
/// reorder, so cannot).
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

const META: &str = "meta.json";
/// The file format of the graph, recorded in the meta file: a generation made by another format
/// (hnsw_rs before December 2026) is rebuilt.
const GRAPH_FORMAT: &str = "usearch-2-cos-i8";
/// Links per node (usearch's `connectivity`; the bottom layer keeps twice as many). At a million
/// synthetic faces one search at 64 candidates finds 97 % of the same-identity faces with 24
/// links, 86 % with 16 and 99 % with 32; the build takes 1.5 and 2.2 times as long as with 16
/// (`FACEGATE_MILLION_PROBE=1 cargo bench --bench million`, README scale section).
const CONNECTIVITY: usize = 24;
/// Candidates kept while inserting (`expansion_add`); see `ef_construction`.
const EF_CONSTRUCTION: usize = 96;
/// Candidates kept while searching, at least (usearch keeps `k` when that is more).
const EF_SEARCH: usize = 64;
/// Build anew (rather than compact) when more than this share of the graph's entries are dead or
/// removed: many removals in a row would wear the graph down.
const MAX_DEAD_SHARE: f64 = 0.2;
/// Keys of the zero vectors that overwrite removed entries (see `remove`); face ids are far below.
const SCRUB_KEY: u64 = u64::MAX / 2;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Meta {
    basename: String,
    model: String,
    dim: usize,
    num_points: usize,
    max_face_id: i64,
    /// The library's id (`Store::library_id`); older index files without it are rebuilt.
    #[serde(default)]
    library: Option<String>,
    /// `GRAPH_FORMAT` of the graph file; older index files without it are rebuilt.
    #[serde(default)]
    graph: Option<String>,
    /// Removed entries left in the graph file, their vectors zeroed (reused by later insertions).
    #[serde(default)]
    removed: usize,
}

impl Meta {
    /// Whether the files it names were made for this library, model and dimension.
    fn fits(&self, library: &str, model: &str, dim: usize) -> bool {
        self.model == model && self.dim == dim && self.library.as_deref() == Some(library)
    }

    fn vectors_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.vectors", self.basename))
    }

    fn compact_path(&self, dir: &Path) -> PathBuf {
        compact_path(&self.vectors_path(dir))
    }
}

pub struct FaceIndex {
    graph: Index,
    vectors: Vectors,
    meta: Meta,
}

/// What [`FaceIndex::open`] did, for reports and tests. In JSON the variant is `action`, in
/// snake case like every other kind the tool prints (`{"action": "rebuilt", "points": 31}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Sync {
    UpToDate,
    Extended { added: usize },
    /// Dead entries were removed from the files (and new faces added).
    Compacted { removed: usize, added: usize },
    Rebuilt { points: usize },
}

impl FaceIndex {
    /// Loads the index in `dir` and brings it up to date with `store`'s embeddings of `model`;
    /// when `persist` (the caller holds the library's lock) writes it back, without dead entries.
    pub fn open(dir: &Path, store: &Store, model: &str, dim: usize, persist: bool) -> Result<(FaceIndex, Sync)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let library = store.library_id()?;
        let loaded = current_generation(dir, store, &library, model, dim)
            .filter(|(meta, _, dead)| (dead + meta.removed) as f64 <= MAX_DEAD_SHARE * (meta.num_points + meta.removed) as f64)
            .and_then(|(meta, vectors, dead)| load(dir, &meta).map(|graph| (FaceIndex { graph, vectors, meta }, dead)));
        let (mut index, rebuilt, dead) = match loaded {
            Some((index, dead)) => (index, false, dead),
            None => {
                let meta = Meta {
                    basename: String::new(),
                    model: model.into(),
                    dim,
                    num_points: 0,
                    max_face_id: 0,
                    library: Some(library),
                    graph: Some(GRAPH_FORMAT.into()),
                    removed: 0,
                };
                (FaceIndex { graph: new_graph(dim)?, vectors: Vectors::new(dim), meta }, true, 0)
            }
        };
        let added = index.insert(store.embeddings_after(model, FaceId(index.meta.max_face_id))?)?;
        let sync = if rebuilt {
            Sync::Rebuilt { points: added }
        } else if dead > 0 && persist {
            let live: HashSet<FaceId> = store.embedding_ids(model)?.into_iter().collect();
            let dead: HashSet<FaceId> = index.vectors.ids().iter().copied().filter(|id| !live.contains(id)).collect();
            index.remove(&dead)?;
            Sync::Compacted { removed: dead.len(), added }
        } else if added > 0 {
            Sync::Extended { added }
        } else {
            Sync::UpToDate
        };
        if persist && sync != Sync::UpToDate {
            index.save(dir)?;
        } else if persist {
            if !index.vectors.has_compact() {
                // A generation written by an older facegate, or whose int8 copy a crash cut short.
                index.write_compact(dir)?;
            }
            // Files of older generations left by a crash while they were being deleted (they
            // may hold erased faces' vectors).
            remove_stale(dir, &index.meta.basename)?;
        }
        Ok((index, sync))
    }

    pub fn len(&self) -> usize {
        self.meta.num_points
    }

    pub fn is_empty(&self) -> bool {
        self.meta.num_points == 0
    }

    /// Every indexed vector, for exact searches.
    pub fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    /// The `k` nearest indexed faces to a unit vector, as (face, cosine similarity), best first.
    /// Some may be dead; callers resolve them through the store.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(FaceId, f32)> {
        if self.is_empty() || k == 0 {
            return Vec::new();
        }
        // usearch searches with max(EF_SEARCH, k) candidates.
        let mut hits: Vec<(FaceId, f32)> = match self.graph.search(query, k) {
            Ok(m) => m.keys.iter().zip(&m.distances).map(|(&key, &d)| (FaceId(key as i64), 1.0 - d)).collect(),
            // usearch refuses a search when every thread slot it reserved is busy (a caller with
            // more threads than `reserve` allowed for): the exact answer serves instead.
            Err(_) => return self.exact_nearest(query, k),
        };
        // The graph's similarities are int8 estimates: each is replaced by the f32 product.
        for hit in &mut hits {
            if let Some(v) = self.vectors.get(hit.0) {
                hit.1 = dot(query, v);
            }
        }
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        hits
    }

    /// The `k` nearest by a scan of every vector.
    fn exact_nearest(&self, query: &[f32], k: usize) -> Vec<(FaceId, f32)> {
        let mut all: Vec<(FaceId, f32)> = self.vectors.iter().map(|(id, v)| (id, dot(query, v))).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.truncate(k);
        all
    }

    /// Every indexed face with similarity at least `threshold`: widens `k` until the farthest
    /// hit falls below the threshold or the whole index has been returned.
    pub fn within(&self, query: &[f32], threshold: f32) -> Vec<(FaceId, f32)> {
        let mut k = 64;
        loop {
            let hits = self.nearest(query, k);
            let exhausted = hits.len() < k || k >= self.len();
            if exhausted || hits.last().is_none_or(|h| h.1 < threshold) {
                return hits.into_iter().filter(|h| h.1 >= threshold).collect();
            }
            k = (k * 4).min(self.len());
        }
    }

    /// Adds faces with ids above every id held to the vectors and the graph (in parallel), and
    /// returns how many.
    fn insert(&mut self, fresh: Vec<(FaceId, Vec<f32>)>) -> Result<usize> {
        let first = self.vectors.len();
        self.vectors.extend(&fresh)?;
        drop(fresh);
        let rows: Vec<(FaceId, &[f32])> = self.vectors.iter().skip(first).collect();
        if rows.is_empty() {
            return Ok(0);
        }
        let live = self.graph.size();
        reserve(&self.graph, live + self.meta.removed + rows.len())?;
        let graph = &self.graph;
        rows.par_iter().try_for_each(|(id, v)| graph.add(id.0 as u64, v)).map_err(|e| graph_error(&self.meta.basename, "cannot add to", e))?;
        let added = rows.len();
        // Insertions reuse removed entries first.
        self.meta.removed = self.meta.removed.saturating_sub(added);
        self.meta.num_points += added;
        self.meta.max_face_id = self.vectors.max_id().0;
        Ok(added)
    }

    /// Takes the `dead` faces out of the vectors and the graph. usearch keeps a removed entry's
    /// vector in its slot (and writes it to the file), so every free slot is first filled with a
    /// zero vector under a scrub key, which overwrites the removed vector where it lies, and the
    /// scrub keys are removed in turn: the slots left behind hold zeros only (cosine distance 1
    /// from every face, so searches do not pass through them).
    fn remove(&mut self, dead: &HashSet<FaceId>) -> Result<()> {
        let mut removed = 0;
        for id in dead {
            removed += self.graph.remove(id.0 as u64).map_err(|e| graph_error(&self.meta.basename, "cannot remove from", e))?;
        }
        let free = self.meta.removed + removed;
        reserve(&self.graph, self.graph.size() + free)?;
        let zero = vec![0f32; self.meta.dim];
        for k in 0..free as u64 {
            self.graph.add(SCRUB_KEY + k, &zero).map_err(|e| graph_error(&self.meta.basename, "cannot scrub removed entries in", e))?;
        }
        for k in 0..free as u64 {
            self.graph.remove(SCRUB_KEY + k).map_err(|e| graph_error(&self.meta.basename, "cannot scrub removed entries in", e))?;
        }
        self.vectors = self.vectors.without(dead);
        self.meta.removed = free;
        self.meta.num_points = self.vectors.len();
        if self.graph.size() != self.meta.num_points {
            return Err(Error::Invalid(format!("the graph holds {} faces after removal, the vectors {}", self.graph.size(), self.meta.num_points)));
        }
        Ok(())
    }

    /// Writes a new generation: the graph file, then the vectors and the meta file (`swap_in`).
    fn save(&mut self, dir: &Path) -> Result<()> {
        let base = self.next_basename(dir);
        crate::crash::point("writing the HNSW graph");
        let path = graph_path(dir, &base);
        let text = path.to_str().ok_or_else(|| Error::Invalid(format!("index path {} is not UTF-8", path.display())))?;
        self.graph.save(text).map_err(|e| graph_error(&path, "cannot write", e))?;
        self.swap_in(dir, base)
    }

    /// Writes the current generation's missing int8 copy (under a temporary name, then renamed)
    /// and maps it.
    fn write_compact(&mut self, dir: &Path) -> Result<()> {
        let path = self.meta.compact_path(dir);
        let tmp = path.with_extension("q8.tmp");
        self.vectors.write_compact(&tmp)?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        self.vectors = Vectors::open(&self.meta.vectors_path(dir), self.meta.dim)?;
        Ok(())
    }

    /// A name for the next generation, with leftovers of a crashed attempt under it cleared.
    fn next_basename(&self, dir: &Path) -> String {
        let old = &self.meta.basename;
        let generation = old.strip_prefix("faces-").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) + 1;
        let base = format!("faces-{generation}");
        remove_generation(dir, &base);
        base
    }

    /// Writes the vector file of generation `base` (its graph is written), makes `base` current
    /// by renaming the meta file, and deletes every other file in the folder.
    fn swap_in(&mut self, dir: &Path, base: String) -> Result<()> {
        self.meta.basename = base;
        self.vectors.write(&self.meta.vectors_path(dir))?;
        self.vectors.write_compact(&self.meta.compact_path(dir))?;
        let tmp = dir.join("meta.json.tmp");
        let json = serde_json::to_vec_pretty(&self.meta).expect("meta serialises");
        crate::crash::point("writing the index meta file");
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        let file = std::fs::File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        crate::crash::point("renaming the index meta file");
        std::fs::rename(&tmp, dir.join(META)).map_err(|e| Error::io(dir.join(META), e))?;
        remove_stale(dir, &self.meta.basename)
    }
}

/// Deletes every file in the index folder but the meta file and generation `base`'s files.
fn remove_stale(dir: &Path, base: &str) -> Result<()> {
    let current = generation_files(dir, base);
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n != META) && !current.contains(&path) {
            crate::crash::point("deleting an old index file");
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Every vector of `model` for an exact search, without loading the graph: the current
/// generation's vector file plus the faces stored since, or all of SQLite when the file is
/// missing, unreadable or not this library's. Dead entries may be among them (see the module).
pub fn exact_vectors(dir: &Path, store: &Store, model: &str, dim: usize) -> Result<Vectors> {
    let cached = current_generation(dir, store, &store.library_id()?, model, dim).map(|(_, vectors, _)| vectors);
    let mut vectors = cached.unwrap_or_else(|| Vectors::new(dim));
    vectors.extend(&store.embeddings_after(model, vectors.max_id())?)?;
    Ok(vectors)
}

/// The current generation's meta and vector file, with its number of dead entries, when they were
/// made for this library, model and dimension, read whole, and SQLite holds no face up to the
/// generation's last one that it lacks (more live faces than entries: not this library's files).
fn current_generation(dir: &Path, store: &Store, library: &str, model: &str, dim: usize) -> Option<(Meta, Vectors, usize)> {
    let meta = read_meta(dir).filter(|m| m.fits(library, model, dim))?;
    let live = store.count_embeddings_upto(model, FaceId(meta.max_face_id)).ok()?;
    let dead = meta.num_points.checked_sub(live)?;
    let vectors = Vectors::open(&meta.vectors_path(dir), dim).ok()?;
    (vectors.len() == meta.num_points && vectors.max_id().0 <= meta.max_face_id).then_some((meta, vectors, dead))
}

/// An empty graph for vectors of `dim` dimensions: cosine distance over the vectors scaled to
/// int8 (usearch's quantisation: a quarter of the f32 bytes, so a million faces' graph is read
/// from memory four times less; `nearest` re-scores what it finds in f32).
fn new_graph(dim: usize) -> Result<Index> {
    let options = IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization: ScalarKind::I8,
        connectivity: connectivity(),
        expansion_add: ef_construction(),
        expansion_search: ef_search(),
        multi: false,
    };
    Index::new(&options).map_err(|e| Error::Invalid(format!("cannot make an HNSW graph: {e}")))
}

/// Room for `capacity` entries, and a search context for every thread that may use the graph at
/// once (rayon's workers and the caller).
fn reserve(graph: &Index, capacity: usize) -> Result<()> {
    let threads = rayon::current_num_threads().max(std::thread::available_parallelism().map_or(1, |n| n.get())) + 2;
    graph.reserve_capacity_and_threads(capacity.max(1024), threads).map_err(|e| Error::Invalid(format!("cannot reserve room in the HNSW graph: {e}")))
}

fn graph_error(what: impl std::fmt::Debug, doing: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{doing} the HNSW graph {what:?}: {e}"))
}

/// `EF_CONSTRUCTION`, or `FACEGATE_HNSW_EF_CONSTRUCTION` for measuring others.
fn ef_construction() -> usize {
    setting("FACEGATE_HNSW_EF_CONSTRUCTION", EF_CONSTRUCTION)
}

/// `EF_SEARCH`, or `FACEGATE_HNSW_EF_SEARCH` for measuring others.
fn ef_search() -> usize {
    setting("FACEGATE_HNSW_EF_SEARCH", EF_SEARCH)
}

/// `CONNECTIVITY`, or `FACEGATE_HNSW_CONNECTIVITY` for measuring others (a graph keeps the
/// connectivity it was built with).
fn connectivity() -> usize {
    setting("FACEGATE_HNSW_CONNECTIVITY", CONNECTIVITY)
}

/// A graph setting, or the environment variable that overrides it (16 or more; others are ignored).
fn setting(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).filter(|&v| v >= 16).unwrap_or(default)
}

fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join(META)).ok()?).ok()
}

fn graph_path(dir: &Path, base: &str) -> PathBuf {
    dir.join(format!("{base}.usearch"))
}

fn generation_files(dir: &Path, base: &str) -> [PathBuf; 3] {
    [graph_path(dir, base), dir.join(format!("{base}.vectors")), dir.join(format!("{base}.q8"))]
}

fn remove_generation(dir: &Path, base: &str) {
    for p in generation_files(dir, base).into_iter().filter(|p| p.exists()) {
        crate::crash::point("deleting an unfinished index file");
        let _ = std::fs::remove_file(p);
    }
}

/// Reads a saved graph whole; `None` when it is missing, of another format, unreadable, or does
/// not hold the meta file's number of faces.
fn load(dir: &Path, meta: &Meta) -> Option<Index> {
    if meta.graph.as_deref() != Some(GRAPH_FORMAT) {
        return None;
    }
    let path = graph_path(dir, &meta.basename);
    let graph = new_graph(meta.dim).ok()?;
    graph.load(path.to_str()?).ok()?;
    graph.change_expansion_search(ef_search());
    // A search context for each thread that may search at once (see `reserve`).
    reserve(&graph, graph.size() + meta.removed).ok()?;
    (graph.size() == meta.num_points && graph.dimensions() == meta.dim).then_some(graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum_for_any_length() {
        for n in [0usize, 1, 7, 8, 9, 128, 131] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "n = {n}");
        }
    }

    /// A library of `clusters × size` one-face photos whose vectors crowd round cluster centres.
    fn clustered_library(dir: &Path, clusters: usize, size: usize, dim: usize) -> Store {
        use crate::store::PhotoRecord;
        use crate::vision::{Detection, Face, Rect};
        let mut store = Store::open(&dir.join("library.db")).unwrap();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..dim).map(|_| next()).collect()).collect();
        let records: Vec<PhotoRecord> = (0..clusters * size)
            .map(|i| {
                let mut v: Vec<f32> = centres[i % clusters].iter().map(|c| c + 0.08 * next()).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= n);
                let rect = Rect { x0: 0.0, y0: 0.0, x1: 10.0, y1: 10.0 };
                PhotoRecord::Indexed {
                    path: format!("/p/{i}.jpg"),
                    size: 1,
                    mtime_ns: 1,
                    content_hash: format!("{i}"),
                    info: Default::default(),
                    faces: vec![Face::detected(Detection { rect, score: 0.9, keypoints: vec![[5.0, 5.0]; 6] }, v)],
                    damage: None,
                }
            })
            .collect();
        store.write_batch(&records, "p", "m").unwrap();
        store
    }

    #[test]
    fn removed_faces_leave_the_files_and_the_graph_still_finds_the_rest() {
        let (clusters, size, dim) = (30, 100, 32);
        let dir = tempfile::tempdir().unwrap();
        let mut store = clustered_library(dir.path(), clusters, size, dim);
        let index_dir = dir.path().join("index");
        let (index, sync) = FaceIndex::open(&index_dir, &store, "m", dim, true).unwrap();
        assert_eq!(sync, Sync::Rebuilt { points: clusters * size });
        // Remove one whole cluster (a person with many photos) and a few scattered faces.
        let all = index.vectors().clone();
        let gone: HashSet<FaceId> =
            all.ids().iter().enumerate().filter(|(i, _)| i % clusters == 4 || i % 997 == 0).map(|(_, id)| *id).collect();
        // Each removed vector's first 8 floats, and its first 16 int8 values as the graph file
        // holds them (scaled by 127 / norm, rounded toward zero); the file holds them now.
        let int8 = |v: &[f32]| {
            let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
            v[..16].iter().map(|&x| (x as f64 * 127.0 / norm).clamp(-127.0, 127.0) as i8 as u8).collect::<Vec<u8>>()
        };
        let mut raw: Vec<Vec<u8>> = gone.iter().take(20).map(|id| all.get(*id).unwrap()[..8].iter().flat_map(|x| x.to_ne_bytes()).collect()).collect();
        raw.extend(gone.iter().take(20).map(|id| int8(all.get(*id).unwrap())));
        let graph = std::fs::read(graph_path(&index_dir, &read_meta(&index_dir).unwrap().basename)).unwrap();
        assert!(raw[20..].iter().all(|r| graph.windows(r.len()).any(|w| w == &r[..])), "the graph file holds the int8 rows");
        drop(index);
        let states = store.photo_states().unwrap();
        let photos: Vec<_> = states.values().filter(|p| gone.contains(&FaceId(p.id.0))).map(|p| p.id).collect();
        assert_eq!(photos.len(), gone.len(), "one face per photo, ids in step");
        store.remove_photos(&photos).unwrap();

        let (index, sync) = FaceIndex::open(&index_dir, &store, "m", dim, true).unwrap();
        assert_eq!(sync, Sync::Compacted { removed: gone.len(), added: 0 });
        assert_eq!(index.len(), clusters * size - gone.len());
        for entry in std::fs::read_dir(&index_dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for r in &raw {
                assert!(!bytes.windows(r.len()).any(|w| w == &r[..]), "a removed vector is still in the index files");
            }
        }
        assert_eq!(std::fs::read_dir(&index_dir).unwrap().count(), 4, "meta and one generation only");
        let (mut found, mut survivors) = (0, 0);
        for (id, v) in all.iter() {
            let hits = index.nearest(v, 10);
            assert!(hits.iter().all(|(h, _)| !gone.contains(h)), "a removed face was returned");
            if !gone.contains(&id) {
                survivors += 1;
                found += hits.iter().any(|(h, _)| *h == id) as usize;
            }
        }
        assert!(found as f64 >= 0.95 * survivors as f64, "{found} of {survivors} survivors find themselves");
        let (again, sync) = FaceIndex::open(&index_dir, &store, "m", dim, true).unwrap();
        assert_eq!(sync, Sync::UpToDate);
        assert_eq!(again.len(), index.len());
        let exact = exact_vectors(&index_dir, &store, "m", dim).unwrap();
        assert_eq!(exact.ids(), again.vectors().ids());
        drop((index, again));

        // A second removal: the slots freed the first time are scrubbed again with the new ones.
        let second: HashSet<FaceId> = all.ids().iter().enumerate().filter(|(i, id)| i % clusters == 7 && !gone.contains(id)).map(|(_, id)| *id).collect();
        let photos: Vec<_> = store.photo_states().unwrap().values().filter(|p| second.contains(&FaceId(p.id.0))).map(|p| p.id).collect();
        store.remove_photos(&photos).unwrap();
        let (index, sync) = FaceIndex::open(&index_dir, &store, "m", dim, true).unwrap();
        assert_eq!(sync, Sync::Compacted { removed: second.len(), added: 0 });
        assert_eq!(read_meta(&index_dir).unwrap().removed, gone.len() + second.len());
        let raw: Vec<Vec<u8>> = second.iter().take(20).map(|id| int8(all.get(*id).unwrap())).collect();
        let graph = std::fs::read(graph_path(&index_dir, &read_meta(&index_dir).unwrap().basename)).unwrap();
        assert!(raw.iter().all(|r| !graph.windows(r.len()).any(|w| w == &r[..])), "a vector removed the second time is still in the graph");
        // Tight clusters of 100 in 32 dimensions, ranked by int8 codes: a face is not always in
        // its own top 10 (measured 187-200 of 200); the graph must still hold nearly all.
        let survivors: Vec<_> = all.iter().filter(|(id, _)| !gone.contains(id) && !second.contains(id)).collect();
        let found = survivors.iter().filter(|(id, v)| index.nearest(v, 10).iter().any(|h| h.0 == *id)).count();
        assert!(found as f64 >= 0.9 * survivors.len() as f64, "{found} of {} survivors find themselves after the second removal", survivors.len());
    }

    /// Regression (hnsw_rs, before usearch): an index run whose photos had no face, or one that
    /// removed the last photo with a face, failed with "cannot write index ... unexpected error".
    #[test]
    fn a_library_without_faces_has_an_empty_index() {
        let dir = tempfile::tempdir().unwrap();
        let index_dir = dir.path().join("index");
        let empty = Store::open(&dir.path().join("empty.db")).unwrap();
        let (index, sync) = FaceIndex::open(&index_dir, &empty, "m", 8, true).unwrap();
        assert_eq!((index.len(), sync), (0, Sync::Rebuilt { points: 0 }));
        assert!(index.nearest(&[1.0; 8], 3).is_empty());
        let (_, sync) = FaceIndex::open(&index_dir, &empty, "m", 8, true).unwrap();
        assert_eq!(sync, Sync::UpToDate);

        let other = tempfile::tempdir().unwrap();
        let mut store = clustered_library(other.path(), 2, 5, 8);
        let index_dir = other.path().join("index");
        FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        let photos: Vec<_> = store.photo_states().unwrap().values().map(|p| p.id).collect();
        store.remove_photos(&photos).unwrap();
        let (index, _) = FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        assert_eq!(index.len(), 0);
        let (again, sync) = FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        assert_eq!((again.len(), sync), (0, Sync::UpToDate));
        assert!(exact_vectors(&index_dir, &store, "m", 8).unwrap().is_empty());
    }

    /// A generation that hnsw_rs wrote (before usearch; its meta names no graph format) is built
    /// anew by the next writer, and its files are deleted.
    #[test]
    fn an_index_of_the_hnsw_rs_era_is_rebuilt_and_its_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = clustered_library(dir.path(), 3, 10, 8);
        let index_dir = dir.path().join("index");
        FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(index_dir.join(META)).unwrap()).unwrap();
        meta.as_object_mut().unwrap().remove("graph");
        std::fs::write(index_dir.join(META), serde_json::to_vec(&meta).unwrap()).unwrap();
        let old = index_dir.join(format!("{}.hnsw.graph", meta["basename"].as_str().unwrap()));
        std::fs::write(&old, b"an hnsw_rs graph").unwrap();
        let (index, sync) = FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        assert_eq!(sync, Sync::Rebuilt { points: 30 });
        assert!(!old.exists(), "the old graph file is deleted");
        let (first, v) = index.vectors().iter().next().unwrap();
        assert!(index.nearest(v, 5).iter().any(|h| h.0 == first), "the rebuilt graph finds a face");
        let (_, sync) = FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        assert_eq!(sync, Sync::UpToDate);
    }

    #[test]
    fn index_files_of_another_library_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = clustered_library(dir.path(), 3, 10, 8);
        let index_dir = dir.path().join("index");
        FaceIndex::open(&index_dir, &store, "m", 8, true).unwrap();
        let other = tempfile::tempdir().unwrap();
        let other_store = clustered_library(other.path(), 3, 10, 8);
        let (_, sync) = FaceIndex::open(&index_dir, &other_store, "m", 8, true).unwrap();
        assert_eq!(sync, Sync::Rebuilt { points: 30 });
    }
}
