//! The approximate-nearest-neighbour index over face embeddings (HNSW, `hnsw_rs`), keyed by face
//! id. SQLite stays the source of truth: the index is a cache persisted beside it, brought up to
//! date on open (new faces inserted; rebuilt from SQLite when missing, unreadable, built for
//! another model, or when too many of its entries are dead). Dead entries (faces deleted since
//! the build) need no tombstone list: every hit is looked up in SQLite and ids that are gone drop
//! out there, and face ids are never reused.
//!
//! Files: `index/meta.json` names the current `faces-<n>.hnsw.{graph,data}` pair; a new pair is
//! written under a new name and the meta file is swapped atomically, so a crash leaves the old
//! index or the new one, never a mix. The data file holds raw embeddings (biometric data).

use std::path::{Path, PathBuf};

use hnsw_rs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{FaceId, Store};

/// Cosine distance for unit vectors, `max(0, 1 − a·b)`; the clamp keeps hnsw_rs's non-negative
/// assertion happy on rounding.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent partial sums: the compiler vectorises this (one sequential f32 sum it cannot).
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
const MAX_CONNECTIONS: usize = 16;
const EF_CONSTRUCTION: usize = 200;
const MAX_LAYER: usize = 16;
/// Rebuild when more than this share of indexed entries are dead.
const MAX_DEAD_SHARE: f64 = 0.2;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Meta {
    basename: String,
    model: String,
    dim: usize,
    num_points: usize,
    max_face_id: i64,
}

pub struct FaceIndex {
    hnsw: Hnsw<'static, f32, UnitCosine>,
    meta: Meta,
}

/// What [`FaceIndex::open`] did, for reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Sync {
    UpToDate,
    Extended { added: usize },
    Rebuilt { points: usize },
}

impl FaceIndex {
    /// Loads the index in `dir` and brings it up to date with `store`'s embeddings of `model`;
    /// writes the updated index back when `persist` (the caller holds the library's lock).
    pub fn open(dir: &Path, store: &Store, model: &str, dim: usize, persist: bool) -> Result<(FaceIndex, Sync)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let loaded = read_meta(dir).filter(|m| m.model == model && m.dim == dim).and_then(|meta| {
            let live = store.count_embeddings_upto(model, FaceId(meta.max_face_id)).ok()?;
            let dead = meta.num_points.checked_sub(live)?; // more live than indexed: not ours
            if dead as f64 > MAX_DEAD_SHARE * meta.num_points as f64 {
                return None;
            }
            load(dir, &meta).map(|hnsw| FaceIndex { hnsw, meta })
        });
        let (mut index, rebuilt) = match loaded {
            Some(index) => (index, false),
            None => {
                let meta = Meta { basename: String::new(), model: model.into(), dim, num_points: 0, max_face_id: 0 };
                (FaceIndex { hnsw: new_hnsw(store.num_faces()?), meta }, true)
            }
        };
        let fresh = store.embeddings_after(model, FaceId(index.meta.max_face_id))?;
        if fresh.iter().any(|(_, v)| v.len() != dim) {
            return Err(Error::Invalid(format!("stored embeddings of {model} do not have {dim} dimensions")));
        }
        let data: Vec<(&[f32], usize)> = fresh.iter().map(|(id, v)| (v.as_slice(), id.0 as usize)).collect();
        index.hnsw.parallel_insert_slice(&data);
        index.meta.num_points += fresh.len();
        if let Some((last, _)) = fresh.last() {
            index.meta.max_face_id = last.0;
        }
        let sync = match (rebuilt, fresh.len()) {
            (true, n) => Sync::Rebuilt { points: n },
            (false, 0) => Sync::UpToDate,
            (false, n) => Sync::Extended { added: n },
        };
        if persist && sync != Sync::UpToDate {
            index.save(dir)?;
        }
        index.hnsw.set_searching_mode(true);
        Ok((index, sync))
    }

    pub fn len(&self) -> usize {
        self.meta.num_points
    }

    pub fn is_empty(&self) -> bool {
        self.meta.num_points == 0
    }

    /// The `k` nearest indexed faces to a unit vector, as (face, cosine similarity), best first.
    /// Some may be dead; callers resolve them through the store.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(FaceId, f32)> {
        if self.is_empty() {
            return Vec::new();
        }
        let ef = (2 * k).max(64);
        self.hnsw
            .search(query, k, ef)
            .into_iter()
            .map(|n| (FaceId(n.d_id as i64), 1.0 - n.distance))
            .collect()
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

    fn save(&mut self, dir: &Path) -> Result<()> {
        let old = self.meta.basename.clone();
        let generation = old.strip_prefix("faces-").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) + 1;
        let base = format!("faces-{generation}");
        // Clear leftovers of a crashed earlier attempt with the same name.
        remove_pair(dir, &base);
        let written = self
            .hnsw
            .file_dump(dir, &base)
            .map_err(|e| Error::Invalid(format!("cannot write index in {}: {e}", dir.display())))?;
        self.meta.basename = written;
        let tmp = dir.join("meta.json.tmp");
        let json = serde_json::to_vec_pretty(&self.meta).expect("meta serialises");
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        let file = std::fs::File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(META)).map_err(|e| Error::io(dir.join(META), e))?;
        if !old.is_empty() && old != self.meta.basename {
            remove_pair(dir, &old);
        }
        Ok(())
    }
}

fn new_hnsw(capacity: usize) -> Hnsw<'static, f32, UnitCosine> {
    Hnsw::new(MAX_CONNECTIONS, capacity.max(1024), MAX_LAYER, EF_CONSTRUCTION, UnitCosine)
}

fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join(META)).ok()?).ok()
}

fn pair(dir: &Path, base: &str) -> [PathBuf; 2] {
    [dir.join(format!("{base}.hnsw.graph")), dir.join(format!("{base}.hnsw.data"))]
}

fn remove_pair(dir: &Path, base: &str) {
    for p in pair(dir, base) {
        let _ = std::fs::remove_file(p);
    }
}

/// Reloads a dumped index; `None` when its files are missing or unreadable (hnsw_rs panics on some
/// corrupt files, so the panic is caught and treated the same way).
fn load(dir: &Path, meta: &Meta) -> Option<Hnsw<'static, f32, UnitCosine>> {
    if !pair(dir, &meta.basename).iter().all(|p| p.is_file()) {
        return None;
    }
    // The loaded index borrows from its reader for its whole life; one reader per load is leaked.
    fn reload(dir: &Path, base: &str) -> anyhow::Result<Hnsw<'static, f32, UnitCosine>> {
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, base)));
        io.load_hnsw()
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loaded = std::panic::catch_unwind(|| reload(dir, &meta.basename));
    std::panic::set_hook(hook);
    let hnsw = loaded.ok()?.ok()?;
    (hnsw.get_nb_point() == meta.num_points).then_some(hnsw)
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

    #[test]
    fn unit_cosine_is_zero_for_equal_vectors_and_never_negative() {
        let v = [0.6f32, 0.8];
        assert!(UnitCosine.eval(&v, &v).abs() < 1e-6);
        assert_eq!(UnitCosine.eval(&[1.0, 0.0], &[1.0000001, 0.0]), 0.0);
        assert!((UnitCosine.eval(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-6);
    }
}
