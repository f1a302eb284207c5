//! Every indexed embedding in one contiguous matrix, and the exact searches over it. Erasure,
//! access requests and `search` must not miss a face, so they scan every vector instead of asking
//! the approximate graph; the matrix file loads in one read and the scan prunes with a bound that
//! never drops a match (see [`Vectors::matches`]).
//!
//! File `faces-<n>.vectors` (little-endian): magic `FGVEC001`, dimension (u32), count (u64),
//! `count` face ids (i64, ascending), then `count × dimension` f32.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;

use super::{dot, dot_lanes};
use crate::error::{Error, Result};
use crate::store::FaceId;

const MAGIC: &[u8; 8] = b"FGVEC001";
const HEADER: usize = 8 + 4 + 8;
/// Query groups for the pruning bound: more groups mean tighter bounds and more dot products
/// against the group centres (one per group per stored vector).
const MAX_GROUPS: usize = 32;
/// Vectors per parallel work item.
const CHUNK: usize = 2048;

/// Face ids (ascending) and their unit vectors, row by row.
#[derive(Clone, Debug, Default)]
pub struct Vectors {
    dim: usize,
    ids: Vec<FaceId>,
    data: Vec<f32>,
}

/// A vector to search with; a query face never counts as its own match.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub face: Option<FaceId>,
    pub vector: &'a [f32],
}

impl Vectors {
    pub fn new(dim: usize) -> Vectors {
        Vectors { dim, ids: Vec::new(), data: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn ids(&self) -> &[FaceId] {
        &self.ids
    }

    /// The largest face id held (0 when empty).
    pub fn max_id(&self) -> FaceId {
        self.ids.last().copied().unwrap_or(FaceId(0))
    }

    /// Appends faces with ids above every id held, in ascending order.
    pub fn extend(&mut self, fresh: &[(FaceId, Vec<f32>)]) -> Result<()> {
        for (id, v) in fresh {
            if v.len() != self.dim {
                return Err(Error::Invalid(format!("embedding of face {} has {} dimensions, not {}", id.0, v.len(), self.dim)));
            }
            if *id <= self.max_id() && !self.ids.is_empty() {
                return Err(Error::Invalid(format!("face {} is out of order in the vector store", id.0)));
            }
            self.ids.push(*id);
            self.data.extend_from_slice(v);
        }
        Ok(())
    }

    pub fn get(&self, id: FaceId) -> Option<&[f32]> {
        let row = self.ids.binary_search(&id).ok()?;
        Some(self.row(row))
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }

    /// Rows in id order: (face, vector).
    pub fn iter(&self) -> impl Iterator<Item = (FaceId, &[f32])> {
        self.ids.iter().copied().zip(self.data.chunks_exact(self.dim.max(1)))
    }

    /// A copy without the faces in `dead`.
    pub fn without(&self, dead: &std::collections::HashSet<FaceId>) -> Vectors {
        let mut out = Vectors::new(self.dim);
        for (id, v) in self.iter().filter(|(id, _)| !dead.contains(id)) {
            out.ids.push(id);
            out.data.extend_from_slice(v);
        }
        out
    }

    /// Every stored face whose best cosine similarity to the queries (a face not counting as its
    /// own match) is at least `threshold`, with that similarity, by face id.
    ///
    /// Exact, and fast for many queries: the queries are grouped round up to 32 farthest-first
    /// centres; a group with centre `c` whose members lie within angle `α` of it can only hold a
    /// match for `v` when `angle(c, v) ≤ acos(threshold) + α` (triangle inequality on the sphere),
    /// so a stored vector is compared with the members of the groups that pass this test only.
    pub fn matches(&self, queries: &[Query], threshold: f32) -> Vec<(FaceId, f32)> {
        if queries.is_empty() || self.is_empty() {
            return Vec::new();
        }
        let groups = Groups::new(queries, threshold);
        let dim = self.dim;
        self.data
            .par_chunks(CHUNK * dim)
            .zip(self.ids.par_chunks(CHUNK))
            .flat_map_iter(|(block, ids)| groups.scan(queries, ids, block, threshold))
            .collect()
    }

    pub fn read(path: &Path, dim: usize) -> Result<Vectors> {
        use std::io::Read;
        let bad = |detail: String| Error::DataCorruption { path: path.to_path_buf(), detail };
        let io = |e| Error::io(path, e);
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        let mut header = [0u8; HEADER];
        if len < HEADER || file.read_exact(&mut header).is_err() || &header[..8] != MAGIC {
            return Err(bad("not a facegate vector file".into()));
        }
        let file_dim = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
        let count = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes")) as usize;
        if file_dim != dim {
            return Err(bad(format!("vectors have {file_dim} dimensions, expected {dim}")));
        }
        let expected = count.checked_mul(8 + 4 * dim).and_then(|n| n.checked_add(HEADER));
        if expected != Some(len) {
            return Err(bad(format!("{len} bytes for {count} vectors")));
        }
        let mut id_bytes = vec![0u8; 8 * count];
        file.read_exact(&mut id_bytes).map_err(io)?;
        let ids: Vec<FaceId> =
            id_bytes.chunks_exact(8).map(|b| FaceId(i64::from_le_bytes(b.try_into().expect("8 bytes")))).collect();
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("face ids are not ascending".into()));
        }
        // Straight into the matrix: this file is the bulk of an exact search's start-up.
        let mut data = vec![0f32; count * dim];
        // SAFETY: any bytes are a valid f32, and u8 has no alignment requirement.
        let bytes = unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), data.len() * 4) };
        file.read_exact(bytes).map_err(io)?;
        if cfg!(target_endian = "big") {
            data.iter_mut().for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
        }
        Ok(Vectors { dim, ids, data })
    }

    /// Writes the file and syncs it (the caller swaps it in by renaming the index meta).
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |e| Error::io(path, e);
        crate::crash::point("creating a vector file");
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&(self.dim as u32).to_le_bytes()).map_err(io)?;
        out.write_all(&(self.ids.len() as u64).to_le_bytes()).map_err(io)?;
        for id in &self.ids {
            out.write_all(&id.0.to_le_bytes()).map_err(io)?;
        }
        for x in &self.data {
            out.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        crate::crash::point("finishing a vector file");
        let file = out.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
        file.sync_all().map_err(io)
    }
}

/// Queries grouped round centres (indices into the queries), with each group's bound: the
/// smallest `dot(centre, v)` at which `v` can still match a member.
struct Groups {
    centres: Vec<usize>,
    members: Vec<Vec<usize>>,
    bounds: Vec<f32>,
}

impl Groups {
    fn new(queries: &[Query], threshold: f32) -> Groups {
        // Farthest-first centres, starting from the first query.
        let k = queries.len().min(MAX_GROUPS);
        let mut centres = vec![0];
        let mut closest: Vec<f32> = queries.iter().map(|q| dot(q.vector, queries[0].vector)).collect();
        while centres.len() < k {
            let (next, _) = closest.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).expect("queries");
            centres.push(next);
            for (c, q) in closest.iter_mut().zip(queries) {
                *c = c.max(dot(q.vector, queries[next].vector));
            }
        }
        let mut members = vec![Vec::new(); centres.len()];
        let mut nearest = vec![1f32; centres.len()];
        for (i, q) in queries.iter().enumerate() {
            let (g, s) = centres
                .iter()
                .enumerate()
                .map(|(g, &c)| (g, if c == i { 1.0 } else { dot(q.vector, queries[c].vector) }))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("centres");
            members[g].push(i);
            nearest[g] = nearest[g].min(s);
        }
        let theta = (threshold as f64).clamp(-1.0, 1.0).acos();
        let bounds = nearest
            .iter()
            .map(|&s| {
                let angle = theta + (s as f64).clamp(-1.0, 1.0).acos();
                // A margin for rounding in the dot products: it only ever admits more.
                if angle >= std::f64::consts::PI { f32::NEG_INFINITY } else { (angle.cos() - 1e-4) as f32 }
            })
            .collect();
        Groups { centres, members, bounds }
    }

    /// The rows of `block` (faces `ids`) whose best similarity to a query other than themselves
    /// reaches `threshold`. The loop is compiled a second time for AVX2, so that the dot products
    /// inline into it (a call per dot product would cost as much as the product).
    fn scan(&self, queries: &[Query], ids: &[FaceId], block: &[f32], threshold: f32) -> Vec<(FaceId, f32)> {
        #[cfg(target_arch = "x86_64")]
        {
            if super::has_avx2() {
                // SAFETY: the CPU has the features `scan_avx2` is compiled for.
                return unsafe { self.scan_avx2(queries, ids, block, threshold) };
            }
        }
        self.scan_lanes(queries, ids, block, threshold)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scan_avx2(&self, queries: &[Query], ids: &[FaceId], block: &[f32], threshold: f32) -> Vec<(FaceId, f32)> {
        // SAFETY: the caller checked the CPU features, which `dot_avx2` needs too.
        self.scan_with(queries, ids, block, threshold, |a, b| unsafe { super::dot_avx2(a, b) })
    }

    fn scan_lanes(&self, queries: &[Query], ids: &[FaceId], block: &[f32], threshold: f32) -> Vec<(FaceId, f32)> {
        self.scan_with(queries, ids, block, threshold, dot_lanes)
    }

    #[inline(always)]
    fn scan_with(
        &self,
        queries: &[Query],
        ids: &[FaceId],
        block: &[f32],
        threshold: f32,
        product: impl Fn(&[f32], &[f32]) -> f32,
    ) -> Vec<(FaceId, f32)> {
        let mut out = Vec::new();
        for (&id, v) in ids.iter().zip(block.chunks_exact(block.len() / ids.len().max(1))) {
            let mut best = f32::NEG_INFINITY;
            for ((&c, members), &bound) in self.centres.iter().zip(&self.members).zip(&self.bounds) {
                let to_centre = product(queries[c].vector, v);
                if to_centre < bound {
                    continue;
                }
                for &m in members {
                    if queries[m].face != Some(id) {
                        best = best.max(if m == c { to_centre } else { product(queries[m].vector, v) });
                    }
                }
            }
            if best >= threshold {
                out.push((id, best));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        // A small deterministic generator (xorshift), enough for test vectors.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= n);
        v
    }

    /// Clusters of nearby vectors round random centres.
    fn clustered(n: usize, dim: usize) -> Vectors {
        let mut vs = Vectors::new(dim);
        let rows: Vec<(FaceId, Vec<f32>)> = (0..n)
            .map(|i| {
                let centre = unit(1000 + (i % 17) as u64, dim);
                let noise = unit(i as u64 + 1, dim);
                let mut v: Vec<f32> = centre.iter().zip(&noise).map(|(c, e)| c + 0.35 * e).collect();
                let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
                v.iter_mut().for_each(|a| *a /= norm);
                (FaceId(i as i64 + 1), v)
            })
            .collect();
        vs.extend(&rows).unwrap();
        vs
    }

    fn brute_force(vs: &Vectors, queries: &[Query], threshold: f32) -> Vec<(FaceId, f32)> {
        vs.iter()
            .filter_map(|(id, v)| {
                let best = queries.iter().filter(|q| q.face != Some(id)).map(|q| dot(q.vector, v)).fold(f32::NEG_INFINITY, f32::max);
                (best >= threshold).then_some((id, best))
            })
            .collect()
    }

    #[test]
    fn grouped_search_finds_exactly_what_brute_force_finds() {
        let vs = clustered(3000, 32);
        for (n_queries, threshold) in [(1, 0.8), (5, 0.85), (200, 0.9), (700, 0.75)] {
            let queries: Vec<Query> =
                (0..n_queries).map(|i| i * 3).map(|r| Query { face: Some(vs.ids[r]), vector: vs.row(r) }).collect();
            let mut got = vs.matches(&queries, threshold);
            got.sort_by_key(|h| h.0);
            let want = brute_force(&vs, &queries, threshold);
            assert!(!want.is_empty());
            assert_eq!(got.len(), want.len(), "{n_queries} queries at {threshold}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.0);
                assert!((g.1 - w.1).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn a_query_face_is_not_its_own_match() {
        let vs = clustered(50, 16);
        let lone = Query { face: Some(vs.ids[7]), vector: vs.row(7) };
        let hits = vs.matches(&[lone], 0.999);
        assert!(hits.iter().all(|h| h.0 != vs.ids[7]), "{hits:?}");
        let anonymous = Query { face: None, vector: vs.row(7) };
        assert!(vs.matches(&[anonymous], 0.999).iter().any(|h| h.0 == vs.ids[7]));
    }

    #[test]
    fn file_round_trip_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.vectors");
        let vs = clustered(10, 8);
        vs.write(&path).unwrap();
        let back = Vectors::read(&path, 8).unwrap();
        assert_eq!(back.ids, vs.ids);
        assert_eq!(back.data, vs.data);
        assert!(Vectors::read(&path, 16).is_err());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(Vectors::read(&path, 8), Err(Error::DataCorruption { .. })));
    }

    #[test]
    fn extend_keeps_ids_ascending_and_without_drops() {
        let mut vs = clustered(5, 4);
        assert!(vs.extend(&[(FaceId(3), vec![1.0, 0.0, 0.0, 0.0])]).is_err());
        vs.extend(&[(FaceId(9), vec![1.0, 0.0, 0.0, 0.0])]).unwrap();
        assert_eq!(vs.get(FaceId(9)), Some(&[1.0, 0.0, 0.0, 0.0][..]));
        let dead = [FaceId(2), FaceId(9)].into_iter().collect();
        let kept = vs.without(&dead);
        assert_eq!(kept.ids, vec![FaceId(1), FaceId(3), FaceId(4), FaceId(5)]);
        assert_eq!(kept.get(FaceId(3)), vs.get(FaceId(3)));
    }
}
