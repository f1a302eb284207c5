//! The int8 copy of the vector file, scanned before the f32 rows so that an exact search reads a
//! quarter of the bytes. Each vector `v` is stored as `scale · codes` (codes in −127..=127, one
//! scale per vector) with two norms that bound what that loses: `residual = ‖v − scale·codes‖`
//! and `norm = ‖scale·codes‖`. A query `x` is cut the same way (`x ≈ t·p`), and then
//!
//! `x·v − t·scale·(p·codes) = x·(v − scale·codes) + (x − t·p)·(scale·codes)`,
//!
//! so `|x·v − approx| ≤ ‖x‖·residual + ‖x − t·p‖·norm` (Cauchy–Schwarz on both terms). The int8
//! product itself is exact (integers), so `approx + bound` is an upper bound of the true cosine,
//! and only rows whose upper bound reaches the threshold are re-checked in f32: none is dropped.
//!
//! File `faces-<n>.q8` (little-endian), written beside `faces-<n>.vectors` with every generation:
//! magic `FGQ8V001`, dimension (u32), count (u64), fingerprint of the vector file it was made
//! from (u64), then per vector `scale`, `residual`, `norm` (f32 each), then `count × dimension`
//! codes (i8). A file whose header or fingerprint does not fit its vector file is not used.

use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::store::FaceId;

const MAGIC: &[u8; 8] = b"FGQ8V001";
const HEADER: usize = 8 + 4 + 8 + 8;
const STATS: usize = 12;
/// Added to every upper bound: covers the f32 rounding in the approximation and in the bound
/// (each well under 1e-6 for unit vectors) and the f32 kernel's own rounding of the exact
/// product the candidates are re-checked with (under 2e-5 at 128-d), ten times over.
pub(super) const SLACK: f32 = 2e-4;

/// A vector cut to int8: `v ≈ scale · codes`.
#[derive(Clone, Debug)]
pub(super) struct Quantized {
    pub codes: Vec<i8>,
    pub scale: f32,
    /// `‖v − scale·codes‖`, rounded up.
    pub residual: f32,
    /// `‖scale·codes‖`, rounded up.
    pub norm: f32,
    /// `‖v‖`, rounded up.
    pub length: f32,
}

/// Rounds a non-negative norm computed in f64 up to an f32 that is not below it.
fn up(x: f64) -> f32 {
    let f = x as f32;
    if (f as f64) < x { f32::from_bits(f.to_bits() + 1) } else { f }
}

pub(super) fn quantize(v: &[f32]) -> Quantized {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 0.0 };
    let codes: Vec<i8> =
        v.iter().map(|&x| if scale > 0.0 { (x / scale).round().clamp(-127.0, 127.0) as i8 } else { 0 }).collect();
    let (mut residual, mut norm, mut length) = (0f64, 0f64, 0f64);
    for (&x, &c) in v.iter().zip(&codes) {
        let approx = scale as f64 * c as f64;
        residual += (x as f64 - approx).powi(2);
        norm += approx * approx;
        length += (x as f64).powi(2);
    }
    Quantized { codes, scale, residual: up(residual.sqrt()), norm: up(norm.sqrt()), length: up(length.sqrt()) }
}

/// Rows of a vector file that its fingerprint samples: 64 spread over it, and the last.
pub(super) fn sampled_rows(count: usize) -> impl Iterator<Item = usize> {
    (0..count).step_by(count.div_ceil(64).max(1)).chain(count.checked_sub(1))
}

/// Identifies a vector file's content cheaply: every id, and the [`sampled_rows`], so a copy made
/// from another file is not taken for this one's.
pub(super) fn fingerprint(ids: &[FaceId], mut row: impl FnMut(usize) -> u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ ids.len() as u64;
    let mut mix = |x: u64| {
        h = (h ^ x).wrapping_mul(0x0000_0100_0000_01B3);
        h ^= h >> 29;
    };
    for id in ids {
        mix(id.0 as u64);
    }
    for r in sampled_rows(ids.len()) {
        mix(row(r));
    }
    h
}

/// Bits of a row for [`fingerprint`].
pub(super) fn row_bits(row: &[f32]) -> u64 {
    row.iter().fold(0u64, |h, x| h.rotate_left(7) ^ x.to_bits() as u64)
}

/// Writes the int8 copy of `rows` (the vector file's, in order) and syncs it.
pub(super) fn write<'a>(path: &Path, dim: usize, fingerprint: u64, rows: impl Iterator<Item = &'a [f32]> + Clone, count: usize) -> Result<()> {
    let io = |e| Error::io(path, e);
    crate::crash::point("creating an int8 vector file");
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&(dim as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&(count as u64).to_le_bytes()).map_err(io)?;
    out.write_all(&fingerprint.to_le_bytes()).map_err(io)?;
    for row in rows.clone() {
        let q = quantize(row);
        for x in [q.scale, q.residual, q.norm] {
            out.write_all(&x.to_le_bytes()).map_err(io)?;
        }
    }
    for row in rows {
        let q = quantize(row);
        // SAFETY: i8 and u8 have the same size and alignment.
        out.write_all(unsafe { std::slice::from_raw_parts(q.codes.as_ptr().cast::<u8>(), q.codes.len()) }).map_err(io)?;
    }
    crate::crash::point("finishing an int8 vector file");
    let file = out.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(io)
}

/// A mapped int8 copy, checked against the vector file it claims to be made from.
#[derive(Debug)]
pub(super) struct Compact {
    map: Mmap,
    dim: usize,
    count: usize,
}

impl Compact {
    /// `None` when the file is missing, damaged, or made from other vectors: the caller scans the
    /// f32 rows instead.
    pub fn open(path: &Path, dim: usize, count: usize, fingerprint: u64) -> Option<Compact> {
        let file = std::fs::File::open(path).ok()?;
        // SAFETY: index files are written once under a fresh name and never changed in place
        // (see `ann`), so the mapping does not change under us.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
        let header = map.get(..HEADER)?;
        let u32_at = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().expect("4 bytes")) as usize;
        let u64_at = |o: usize| u64::from_le_bytes(header[o..o + 8].try_into().expect("8 bytes"));
        let fits = &header[..8] == MAGIC
            && u32_at(8) == dim
            && u64_at(12) as usize == count
            && u64_at(20) == fingerprint
            && map.len() == HEADER + count * (STATS + dim);
        fits.then_some(Compact { map, dim, count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Rows `rows` as (codes, `(scale, residual, norm)`), in order.
    #[inline]
    pub fn rows(&self, rows: std::ops::Range<usize>) -> impl Iterator<Item = (&[i8], (f32, f32, f32))> {
        let stats = &self.map[HEADER + rows.start * STATS..HEADER + rows.end * STATS];
        let base = HEADER + self.count * STATS;
        let bytes = &self.map[base + rows.start * self.dim..base + rows.end * self.dim];
        // SAFETY: i8 and u8 have the same size and alignment.
        let codes = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) };
        let f = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        codes.chunks_exact(self.dim.max(1)).zip(stats.chunks_exact(STATS).map(move |s| (f(&s[0..4]), f(&s[4..8]), f(&s[8..12]))))
    }
}

/// The exact integer product of two code vectors of equal length: AVX2 where the CPU has it, else
/// the portable loop.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if super::has_avx2() {
            // SAFETY: the CPU has the features `dot_i8_avx2` is compiled for.
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_lanes(a, b)
}

/// 32 codes a step: `|a| · (b·sign a)` pairwise into i16 (at most 2·127·127, no saturation, as
/// codes never hold −128), then into i32 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x as i32 * y as i32).sum();
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    for (x, y) in ca.zip(cb) {
        // SAFETY: both chunks hold 32 bytes.
        let (x, y) = unsafe { (_mm256_loadu_si256(x.as_ptr().cast()), _mm256_loadu_si256(y.as_ptr().cast())) };
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    let q = _mm_add_epi32(_mm256_extracti128_si256(acc, 1), _mm256_castsi256_si128(acc));
    let q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0b01_00_11_10));
    let q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0b10_11_00_01));
    _mm_cvtsi128_si32(q) + tail
}

/// Sixteen independent i32 sums, which the compiler vectorises.
#[inline(always)]
pub(super) fn dot_i8_lanes(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x as i32 * y as i32).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] as i32 * y[i] as i32;
        }
    }
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_kernels_are_exact_for_any_length() {
        for n in [0usize, 1, 15, 16, 31, 32, 33, 128, 131] {
            let a: Vec<i8> = (0..n).map(|i| ((i * 37 % 255) as i32 - 127) as i8).collect();
            let b: Vec<i8> = (0..n).map(|i| ((i * 91 % 255) as i32 - 127) as i8).collect();
            let plain: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(dot_i8_lanes(&a, &b), plain, "n = {n}");
            assert_eq!(dot_i8(&a, &b), plain, "n = {n}");
            let extreme = vec![127i8; n];
            let low = vec![-127i8; n];
            assert_eq!(dot_i8(&extreme, &low), -127 * 127 * n as i32, "n = {n}");
        }
    }

    #[test]
    fn quantization_bounds_hold() {
        let v: Vec<f32> = (0..128).map(|i| ((i as f32) * 0.731).sin()).collect();
        let q = quantize(&v);
        let back: Vec<f64> = q.codes.iter().map(|&c| q.scale as f64 * c as f64).collect();
        let residual = v.iter().zip(&back).map(|(&x, y)| (x as f64 - y).powi(2)).sum::<f64>().sqrt();
        assert!(q.residual as f64 >= residual && (q.residual as f64) < residual * 1.001 + 1e-9);
        assert!(q.codes.iter().all(|&c| c > -128));
        let zero = quantize(&[0.0; 8]);
        assert_eq!((zero.scale, zero.residual, zero.norm), (0.0, 0.0, 0.0));
    }
}
