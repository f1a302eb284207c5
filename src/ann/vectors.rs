//! Every indexed embedding in one contiguous matrix, and the exact searches over it. Erasure,
//! access requests and `search` must not miss a face, so they scan every vector instead of asking
//! the approximate graph. The vector file is memory-mapped, not read; its int8 copy (`q8.rs`) is
//! scanned first, split across cores, and only the rows whose upper bound can reach the threshold
//! are re-checked in f32, so the scan reads a quarter of the bytes and never drops a match (see
//! [`Vectors::matches`]). Without a fitting int8 copy the f32 rows are scanned, as before.
//!
//! File `faces-<n>.vectors` (little-endian): magic `FGVEC001`, dimension (u32), count (u64),
//! `count` face ids (i64, ascending), then `count × dimension` f32.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;

use super::q8::{self, Compact, Quantized, SLACK};
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

/// Face ids (ascending) and their unit vectors, row by row: the first rows may live in a mapped
/// vector file (with its int8 copy), the rest in memory.
#[derive(Clone, Debug, Default)]
pub struct Vectors {
    dim: usize,
    ids: Vec<FaceId>,
    file: Option<Arc<Mapped>>,
    /// The rows after the mapped ones (every row when no file is mapped).
    data: Vec<f32>,
}

/// A mapped vector file: its first `rows` rows, and the int8 copy when one fits.
#[derive(Debug)]
struct Mapped {
    map: Mmap,
    rows: usize,
    dim: usize,
    compact: Option<Compact>,
}

impl Mapped {
    fn data(&self) -> &[f32] {
        let bytes = &self.map[HEADER + 8 * self.rows..];
        // SAFETY: `open` checked the length, that the offset is 4-aligned in a page-aligned map
        // and that the machine is little-endian; any bits are a valid f32.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), self.rows * self.dim) }
    }
}

/// A vector to search with; a query face never counts as its own match.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub face: Option<FaceId>,
    pub vector: &'a [f32],
}

/// The int8 copy of a vector file beside it: `faces-<n>.vectors` → `faces-<n>.q8`.
pub fn compact_path(vectors: &Path) -> PathBuf {
    vectors.with_extension("q8")
}

impl Vectors {
    pub fn new(dim: usize) -> Vectors {
        Vectors { dim, ..Vectors::default() }
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

    /// Whether the mapped rows have a fitting int8 copy (or there are none to scan).
    pub fn has_compact(&self) -> bool {
        self.file.as_ref().is_none_or(|f| f.compact.is_some())
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

    fn mapped_rows(&self) -> usize {
        self.file.as_ref().map_or(0, |f| f.rows)
    }

    fn mapped_data(&self) -> &[f32] {
        self.file.as_ref().map_or(&[], |f| f.data())
    }

    fn row(&self, row: usize) -> &[f32] {
        let (mapped, dim) = (self.mapped_rows(), self.dim);
        match row.checked_sub(mapped) {
            None => &self.mapped_data()[row * dim..(row + 1) * dim],
            Some(r) => &self.data[r * dim..(r + 1) * dim],
        }
    }

    /// Rows in id order: (face, vector).
    pub fn iter(&self) -> impl Iterator<Item = (FaceId, &[f32])> + Clone {
        let dim = self.dim.max(1);
        self.ids.iter().copied().zip(self.mapped_data().chunks_exact(dim).chain(self.data.chunks_exact(dim)))
    }

    /// A copy, in memory, without the faces in `dead`.
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
    /// Rows with an int8 copy take these tests on upper bounds of their products (`q8.rs`), after
    /// one test against a root round all queries; a row that may match is then scanned in f32 as
    /// a row without a copy is, so the answer is the f32 scan's, similarities included.
    pub fn matches(&self, queries: &[Query], threshold: f32) -> Vec<(FaceId, f32)> {
        if queries.is_empty() || self.is_empty() {
            return Vec::new();
        }
        let groups = Groups::new(queries, threshold);
        let mapped = self.mapped_rows();
        let compact = self.file.as_ref().and_then(|f| f.compact.as_ref());
        let mut hits: Vec<(FaceId, f32)> = match compact {
            Some(c) => {
                let cut = Cut::new(queries, &groups, threshold);
                (0..mapped.div_ceil(CHUNK))
                    .into_par_iter()
                    .flat_map_iter(|k| {
                        let rows = k * CHUNK..((k + 1) * CHUNK).min(mapped);
                        groups.scan_q8(queries, &cut, c, &self.ids, self.mapped_data(), rows, threshold)
                    })
                    .collect()
            }
            None => scan_f32(&groups, queries, &self.ids[..mapped], self.mapped_data(), threshold),
        };
        hits.extend(scan_f32(&groups, queries, &self.ids[mapped..], &self.data, threshold));
        hits
    }

    /// Reads the whole file into memory (no int8 copy): what exact searches did before the file
    /// was mapped, kept for comparison and for machines that are not little-endian.
    pub fn read(path: &Path, dim: usize) -> Result<Vectors> {
        use std::io::Read;
        let bad = |detail: String| Error::DataCorruption { path: path.to_path_buf(), detail };
        let io = |e| Error::io(path, e);
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len() as usize;
        let mut header = [0u8; HEADER];
        if len < HEADER || file.read_exact(&mut header).is_err() {
            return Err(bad("not a facegate vector file".into()));
        }
        let count = check_header(&header, len, dim).map_err(bad)?;
        let mut id_bytes = vec![0u8; 8 * count];
        file.read_exact(&mut id_bytes).map_err(io)?;
        let ids = parse_ids(&id_bytes).map_err(bad)?;
        // Straight into the matrix: this file is the bulk of an exact search's start-up.
        let mut data = vec![0f32; count * dim];
        // SAFETY: any bytes are a valid f32, and u8 has no alignment requirement.
        let bytes = unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), data.len() * 4) };
        file.read_exact(bytes).map_err(io)?;
        if cfg!(target_endian = "big") {
            data.iter_mut().for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
        }
        Ok(Vectors { dim, ids, file: None, data })
    }

    /// Maps the file (its rows are read from the page cache as the scan reaches them) and its
    /// int8 copy beside it, which is used only when it fits this file (see `q8.rs`).
    pub fn open(path: &Path, dim: usize) -> Result<Vectors> {
        if cfg!(target_endian = "big") {
            return Vectors::read(path, dim);
        }
        let bad = |detail: String| Error::DataCorruption { path: path.to_path_buf(), detail };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: vector files are written once under a fresh name and never changed in place
        // (see `ann`), so the mapping does not change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let header = map.get(..HEADER).ok_or_else(|| bad("not a facegate vector file".into()))?;
        let count = check_header(header, map.len(), dim).map_err(bad)?;
        let ids = parse_ids(&map[HEADER..HEADER + 8 * count]).map_err(bad)?;
        assert_eq!((map.as_ptr() as usize + HEADER + 8 * count) % 4, 0, "f32 rows are aligned");
        // The sampled rows are read, not touched through the map: a page fault can map a large
        // block of the page cache at once, and a sample spread over the file would then make
        // all of it resident.
        let start = (HEADER + 8 * count) as u64;
        let mut row = vec![0u8; 4 * dim];
        let mut failed = false;
        let print = q8::fingerprint(&ids, |r| {
            use std::os::unix::fs::FileExt;
            failed |= file.read_exact_at(&mut row, start + (r * 4 * dim) as u64).is_err();
            let floats: Vec<f32> = row.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
            q8::row_bits(&floats)
        });
        let mut mapped = Mapped { map, rows: count, dim, compact: None };
        mapped.compact = (!failed).then(|| Compact::open(&compact_path(path), dim, count, print)).flatten().filter(|c| c.len() == count);
        Ok(Vectors { dim, ids, file: Some(Arc::new(mapped)), data: Vec::new() })
    }

    fn fingerprint(&self) -> u64 {
        q8::fingerprint(&self.ids, |r| q8::row_bits(self.row(r)))
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
        for (_, row) in self.iter() {
            for x in row {
                out.write_all(&x.to_le_bytes()).map_err(io)?;
            }
        }
        crate::crash::point("finishing a vector file");
        let file = out.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
        file.sync_all().map_err(io)
    }

    /// Writes the int8 copy of these rows, as the vector file `write` writes them, and syncs it.
    pub fn write_compact(&self, path: &Path) -> Result<()> {
        q8::write(path, self.dim, self.fingerprint(), self.iter().map(|(_, v)| v), self.len())
    }
}

/// The vector count a file header gives, checked against the file length and dimension.
fn check_header(header: &[u8], len: usize, dim: usize) -> std::result::Result<usize, String> {
    if &header[..8] != MAGIC {
        return Err("not a facegate vector file".into());
    }
    let file_dim = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
    let count = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes")) as usize;
    if file_dim != dim {
        return Err(format!("vectors have {file_dim} dimensions, expected {dim}"));
    }
    let expected = count.checked_mul(8 + 4 * dim).and_then(|n| n.checked_add(HEADER));
    if expected != Some(len) {
        return Err(format!("{len} bytes for {count} vectors"));
    }
    Ok(count)
}

fn parse_ids(bytes: &[u8]) -> std::result::Result<Vec<FaceId>, String> {
    let ids: Vec<FaceId> = bytes.chunks_exact(8).map(|b| FaceId(i64::from_le_bytes(b.try_into().expect("8 bytes")))).collect();
    if ids.windows(2).any(|w| w[0] >= w[1]) {
        return Err("face ids are not ascending".into());
    }
    Ok(ids)
}

/// The f32 scan of rows `block` (faces `ids`), split across cores.
fn scan_f32(groups: &Groups, queries: &[Query], ids: &[FaceId], block: &[f32], threshold: f32) -> Vec<(FaceId, f32)> {
    let dim = block.len() / ids.len().max(1);
    block
        .par_chunks((CHUNK * dim).max(1))
        .zip(ids.par_chunks(CHUNK))
        .flat_map_iter(|(block, ids)| groups.scan(queries, ids, block, threshold))
        .collect()
}

/// The queries cut to int8 (`q8.rs`), and a root test: the normalised sum of the queries with
/// the smallest product at which a row can still match one of them.
struct Cut {
    queries: Vec<Quantized>,
    root: Option<(Quantized, f32)>,
}

impl Cut {
    fn new(queries: &[Query], groups: &Groups, threshold: f32) -> Cut {
        let cut: Vec<Quantized> = queries.iter().map(|q| q8::quantize(q.vector)).collect();
        let root = (queries.len() > 1 && groups.centres.len() > 1)
            .then(|| {
                let mut sum = vec![0f64; queries[0].vector.len()];
                for q in queries {
                    sum.iter_mut().zip(q.vector).for_each(|(s, &x)| *s += x as f64);
                }
                let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
                (norm > 0.0).then(|| sum.iter().map(|x| (x / norm) as f32).collect::<Vec<f32>>())
            })
            .flatten()
            .and_then(|centre| {
                let nearest = queries.iter().map(|q| dot(q.vector, &centre)).fold(1f32, f32::min);
                let bound = lowest_match(threshold, nearest)?;
                Some((q8::quantize(&centre), bound))
            });
        Cut { queries: cut, root }
    }
}

/// The smallest product with a centre at which a vector can still be within `threshold` of a
/// member that is itself at product `nearest` from that centre; `None` when any vector can.
fn lowest_match(threshold: f32, nearest: f32) -> Option<f32> {
    let theta = (threshold as f64).clamp(-1.0, 1.0).acos();
    let angle = theta + (nearest as f64).clamp(-1.0, 1.0).acos();
    // A margin for rounding in the dot products: it only ever admits more.
    (angle < std::f64::consts::PI).then(|| (angle.cos() - 1e-4) as f32)
}

/// An upper bound of the cosine of query `q` and a row with int8 `codes` and `(scale, residual,
/// norm)` (see `q8.rs`).
#[inline(always)]
fn upper(q: &Quantized, codes: &[i8], (scale, residual, norm): (f32, f32, f32), product: &impl Fn(&[i8], &[i8]) -> i32) -> f32 {
    q.scale * scale * product(&q.codes, codes) as f32 + q.length * residual + q.residual * norm + SLACK
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
        let bounds = nearest.iter().map(|&s| lowest_match(threshold, s).unwrap_or(f32::NEG_INFINITY)).collect();
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

    /// Rows `rows` of the mapped rows (`ids`, f32 rows `block`, int8 copy `c`) that match: the
    /// group tests on int8 upper bounds, then the f32 scan of the rows that pass them.
    #[allow(clippy::too_many_arguments)]
    fn scan_q8(
        &self,
        queries: &[Query],
        cut: &Cut,
        c: &Compact,
        ids: &[FaceId],
        block: &[f32],
        rows: std::ops::Range<usize>,
        threshold: f32,
    ) -> Vec<(FaceId, f32)> {
        #[cfg(target_arch = "x86_64")]
        {
            if super::has_avx2() {
                // SAFETY: the CPU has the features `candidates_avx2` is compiled for.
                let rows = unsafe { self.candidates_avx2(queries, cut, c, ids, rows, threshold) };
                return self.recheck(queries, ids, block, rows, threshold);
            }
        }
        let rows = self.candidates_with(queries, cut, c, ids, rows, threshold, q8::dot_i8_lanes);
        self.recheck(queries, ids, block, rows, threshold)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn candidates_avx2(
        &self,
        queries: &[Query],
        cut: &Cut,
        c: &Compact,
        ids: &[FaceId],
        rows: std::ops::Range<usize>,
        threshold: f32,
    ) -> Vec<usize> {
        // SAFETY: the caller checked the CPU features, which `dot_i8_avx2` needs too.
        self.candidates_with(queries, cut, c, ids, rows, threshold, |a, b| unsafe { q8::dot_i8_avx2(a, b) })
    }

    /// The rows whose upper bound reaches the threshold for some query other than themselves.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn candidates_with(
        &self,
        queries: &[Query],
        cut: &Cut,
        c: &Compact,
        ids: &[FaceId],
        rows: std::ops::Range<usize>,
        threshold: f32,
        product: impl Fn(&[i8], &[i8]) -> i32,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        'rows: for ((codes, stats), r) in c.rows(rows.clone()).zip(rows) {
            let id = ids[r];
            if let Some((root, bound)) = &cut.root {
                if upper(root, codes, stats, &product) < *bound {
                    continue;
                }
            }
            for ((&centre, members), &bound) in self.centres.iter().zip(&self.members).zip(&self.bounds) {
                let to_centre = upper(&cut.queries[centre], codes, stats, &product);
                if to_centre < bound {
                    continue;
                }
                for &m in members {
                    if queries[m].face == Some(id) {
                        continue;
                    }
                    let u = if m == centre { to_centre } else { upper(&cut.queries[m], codes, stats, &product) };
                    if u >= threshold {
                        out.push(r);
                        continue 'rows;
                    }
                }
            }
        }
        out
    }

    /// The f32 answer for candidate rows.
    fn recheck(&self, queries: &[Query], ids: &[FaceId], block: &[f32], rows: Vec<usize>, threshold: f32) -> Vec<(FaceId, f32)> {
        let dim = queries[0].vector.len();
        rows.into_iter().flat_map(|r| self.scan(queries, &ids[r..r + 1], &block[r * dim..(r + 1) * dim], threshold)).collect()
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
        let mapped = Vectors::open(&path, 8).unwrap();
        assert_eq!(mapped.ids, vs.ids);
        assert!(mapped.iter().eq(vs.iter()));
        assert!(Vectors::read(&path, 16).is_err());
        assert!(Vectors::open(&path, 16).is_err());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(Vectors::read(&path, 8), Err(Error::DataCorruption { .. })));
        assert!(matches!(Vectors::open(&path, 8), Err(Error::DataCorruption { .. })));
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

    /// Unit vectors whose product with `query` lies within ±0.002 of `threshold`, a third of them
    /// exactly at it, and as many far ones.
    fn at_the_edge(query: &[f32], n: usize, threshold: f32, seed: u64) -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| {
                let mut u = unit(seed + i as u64, query.len());
                let along = dot(&u, query);
                u.iter_mut().zip(query).for_each(|(x, q)| *x -= along * q);
                let norm = u.iter().map(|a| a * a).sum::<f32>().sqrt();
                let c = match i % 3 {
                    0 => threshold,
                    1 => threshold + ((i % 41) as f32 - 20.0) * 1e-4,
                    _ => threshold - 0.3,
                };
                let s = (1.0 - c * c).sqrt();
                query.iter().zip(&u).map(|(q, x)| c * q + s * x / norm).collect()
            })
            .collect()
    }

    /// Writes `rows` (ids 1..) with their int8 copy and maps them back.
    fn mapped(dir: &Path, rows: &[Vec<f32>]) -> (Vectors, PathBuf) {
        let mut vs = Vectors::new(rows[0].len());
        vs.extend(&rows.iter().enumerate().map(|(i, v)| (FaceId(i as i64 + 1), v.clone())).collect::<Vec<_>>()).unwrap();
        let path = dir.join("faces-1.vectors");
        vs.write(&path).unwrap();
        vs.write_compact(&compact_path(&path)).unwrap();
        (Vectors::open(&path, vs.dim).unwrap(), path)
    }

    fn sorted(mut hits: Vec<(FaceId, f32)>) -> Vec<(FaceId, f32)> {
        hits.sort_by_key(|h| h.0);
        hits
    }

    #[test]
    fn the_int8_bound_is_never_below_the_f32_product() {
        let cases: Vec<(Vec<f32>, Vec<f32>)> = (0..20_000u64)
            .map(|i| {
                let (a, mut b) = (unit(i + 1, 128), unit(i + 50_000, 128));
                match i % 4 {
                    // Nearly the same vector, one spike, a sparse one: the quantiser's hard cases.
                    0 => b = a.iter().zip(&b).map(|(x, y)| x + 0.01 * y).collect(),
                    1 => b[(i % 128) as usize] += 5.0,
                    2 => b.iter_mut().enumerate().filter(|(k, _)| k % 17 != 0).for_each(|(_, x)| *x *= 1e-3),
                    _ => {}
                }
                let n = b.iter().map(|x| x * x).sum::<f32>().sqrt();
                b.iter_mut().for_each(|x| *x /= n);
                (a, b)
            })
            .collect();
        let mut worst = 0f32;
        for (a, b) in &cases {
            let (qa, qb) = (q8::quantize(a), q8::quantize(b));
            let u = upper(&qa, &qb.codes, (qb.scale, qb.residual, qb.norm), &q8::dot_i8);
            let exact = dot(a, b);
            assert!(u - SLACK >= exact - 1e-5, "upper bound {u} below the product {exact}");
            worst = worst.max(u - exact);
        }
        // Tight enough to prune: a row far below the threshold is never re-checked.
        assert!(worst < 0.05, "bound loses {worst}");
    }

    #[test]
    fn int8_scan_at_the_thresholds_edge_drops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let threshold = 0.935;
        let query = unit(7, 128);
        let (vs, path) = mapped(dir.path(), &at_the_edge(&query, 30_000, threshold, 11));
        assert!(vs.has_compact());
        let exact = Vectors::read(&path, 128).unwrap();
        assert!(exact.file.is_none());
        let q = [Query { face: None, vector: &query }];
        let want = sorted(exact.matches(&q, threshold));
        let brute = brute_force(&exact, &q, threshold);
        assert_eq!(want, brute);
        assert!(want.len() > 8000, "{} at or above the threshold", want.len());
        assert_eq!(sorted(vs.matches(&q, threshold)), want);

        // Many queries (groups and the root test): stored vectors at the edge of each of them.
        let queries: Vec<Vec<f32>> = (0..60u64)
            .map(|i| {
                let mut v: Vec<f32> = query.iter().zip(unit(100 + i, 128)).map(|(a, b)| a + 0.25 * b).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= n);
                v
            })
            .collect();
        let rows: Vec<Vec<f32>> = queries.iter().enumerate().flat_map(|(i, q)| at_the_edge(q, 400, threshold, 1000 * i as u64)).collect();
        let sub = tempfile::tempdir().unwrap();
        let (vs, path) = mapped(sub.path(), &rows);
        let exact = Vectors::read(&path, 128).unwrap();
        for n in [2, 60] {
            let q: Vec<Query> = queries[..n].iter().enumerate().map(|(i, v)| Query { face: Some(FaceId(i as i64 * 401 + 1)), vector: v }).collect();
            let want = sorted(exact.matches(&q, threshold));
            assert_eq!(want, brute_force(&exact, &q, threshold));
            assert_eq!(sorted(vs.matches(&q, threshold)), want, "{n} queries");
        }
    }

    #[test]
    fn a_missing_stale_or_damaged_int8_copy_falls_back_to_the_f32_rows() {
        let dir = tempfile::tempdir().unwrap();
        let threshold = 0.935;
        let query = unit(3, 64);
        let (_, path) = mapped(dir.path(), &at_the_edge(&query, 3000, threshold, 5));
        let q = [Query { face: None, vector: &query }];
        let want = sorted(Vectors::read(&path, 64).unwrap().matches(&q, threshold));
        let q8_path = compact_path(&path);
        // Stale: the copy of other vectors with the same count and ids.
        let other = tempfile::tempdir().unwrap();
        let (_, other_path) = mapped(other.path(), &at_the_edge(&unit(4, 64), 3000, threshold, 6));
        std::fs::copy(compact_path(&other_path), &q8_path).unwrap();
        let vs = Vectors::open(&path, 64).unwrap();
        assert!(!vs.has_compact(), "a copy made from other vectors was used");
        assert_eq!(sorted(vs.matches(&q, threshold)), want);
        // Cut short.
        let bytes = std::fs::read(compact_path(&other_path)).unwrap();
        std::fs::write(&q8_path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(!Vectors::open(&path, 64).unwrap().has_compact());
        // Missing.
        std::fs::remove_file(&q8_path).unwrap();
        let vs = Vectors::open(&path, 64).unwrap();
        assert!(!vs.has_compact());
        assert_eq!(sorted(vs.matches(&q, threshold)), want);
    }

    #[test]
    fn mapped_rows_and_rows_added_after_them_are_both_searched() {
        let dir = tempfile::tempdir().unwrap();
        let base = clustered(500, 32);
        let path = dir.path().join("faces-1.vectors");
        base.write(&path).unwrap();
        base.write_compact(&compact_path(&path)).unwrap();
        let mut vs = Vectors::open(&path, 32).unwrap();
        let more = clustered(600, 32);
        let fresh: Vec<(FaceId, Vec<f32>)> = more.iter().skip(500).map(|(id, v)| (id, v.to_vec())).collect();
        vs.extend(&fresh).unwrap();
        assert_eq!(vs.len(), 600);
        assert_eq!(vs.get(FaceId(550)), more.get(FaceId(550)));
        assert_eq!(vs.iter().count(), 600);
        let queries: Vec<Query> = [3, 520].iter().map(|&r| Query { face: Some(more.ids[r]), vector: more.row(r) }).collect();
        assert_eq!(sorted(vs.matches(&queries, 0.8)), brute_force(&more, &queries, 0.8));
        let kept = vs.without(&[FaceId(2), FaceId(560)].into_iter().collect());
        assert_eq!((kept.len(), kept.get(FaceId(2)), kept.get(FaceId(561)) == more.get(FaceId(561))), (598, None, true));
    }
}
