//! Shared by the scale benches: the synthetic world (identities in a cone, faces round them,
//! packed into photos) and a few measuring helpers. Each bench uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use facegate::photo::PhotoInfo;
use facegate::store::PhotoRecord;
use facegate::vision::{Detection, Face, Rect};

/// Share of the common direction in every identity centre: the mean cosine between identities.
pub const SHARED: f64 = 0.6;
/// A face's squared noise norm is uniform in [0, NOISE_S2_MAX]: self-similarity 1/sqrt(1+s²).
pub const NOISE_S2_MAX: f64 = 0.075;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (splitmix64; no extra crates).

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

pub fn normalise(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

// ---------------------------------------------------------------------------------------------
// The synthetic world.

pub struct World {
    pub seed: u64,
    pub dim: usize,
    pub common: Vec<f64>,
    pub centres: Vec<Vec<f64>>,
    /// Identity of each synthetic face, in insertion order (face k gets the k-th face id).
    pub ident: Vec<u32>,
    /// Photos as (first face, number of faces), in insertion order.
    pub photos: Vec<(usize, usize)>,
}

impl World {
    /// A world from `seed` whose identity sizes (faces per identity, drawn after the common
    /// direction from the same generator) `sizes` chooses.
    pub fn new(seed: u64, dim: usize, sizes: impl FnOnce(&mut Rng) -> Vec<usize>) -> World {
        let mut rng = Rng::new(seed);
        let mut common: Vec<f64> = (0..dim).map(|_| rng.gauss()).collect();
        normalise(&mut common);
        let mut world = World { seed, dim, common, centres: Vec::new(), ident: Vec::new(), photos: Vec::new() };
        let sizes = sizes(&mut rng);
        for _ in 0..sizes.len() {
            world.add_identity(&mut rng);
        }
        let mut faces: Vec<u32> = sizes.iter().enumerate().flat_map(|(i, &s)| std::iter::repeat_n(i as u32, s)).collect();
        rng.shuffle(&mut faces);
        let photos = pack_photos(&mut faces, 0, &mut rng);
        world.ident = faces;
        world.photos = photos;
        world
    }

    pub fn add_identity(&mut self, rng: &mut Rng) -> u32 {
        let mut r: Vec<f64> = (0..self.dim).map(|_| rng.gauss()).collect();
        let along: f64 = r.iter().zip(&self.common).map(|(a, b)| a * b).sum();
        r.iter_mut().zip(&self.common).for_each(|(x, c)| *x -= along * c);
        normalise(&mut r);
        let centre = r.iter().zip(&self.common).map(|(x, c)| SHARED.sqrt() * c + (1.0 - SHARED).sqrt() * x).collect();
        self.centres.push(centre);
        (self.centres.len() - 1) as u32
    }

    /// Adds `count` faces in new photos: 80% of known identities (never the subject), 20% of
    /// new ones with about two faces each. Returns the range of the new faces.
    pub fn add_faces(&mut self, count: usize) -> std::ops::Range<usize> {
        let mut rng = Rng::new(self.seed ^ 0xADD);
        let start = self.ident.len();
        let mut faces = Vec::with_capacity(count);
        while faces.len() < count * 4 / 5 {
            let id = self.ident[rng.below(start)];
            if id != 0 {
                faces.push(id);
            }
        }
        while faces.len() < count {
            let id = self.add_identity(&mut rng);
            let k = (1 + rng.below(3)).min(count - faces.len());
            faces.extend(std::iter::repeat_n(id, k));
        }
        rng.shuffle(&mut faces);
        let photos = pack_photos(&mut faces, start, &mut rng);
        self.ident.extend(faces);
        self.photos.extend(photos);
        start..self.ident.len()
    }

    pub fn face_vector(&self, k: usize) -> Vec<f32> {
        let mut rng = Rng::new(self.seed ^ (k as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let s = (rng.unit() * NOISE_S2_MAX).sqrt() / (self.dim as f64).sqrt();
        let mut v: Vec<f64> = self.centres[self.ident[k] as usize].iter().map(|c| c + s * rng.gauss()).collect();
        normalise(&mut v);
        v.into_iter().map(|x| x as f32).collect()
    }

    pub fn record(&self, photo: usize) -> PhotoRecord {
        let (first, len) = self.photos[photo];
        let faces = (0..len)
            .map(|j| {
                let x = 100.0 + 950.0 * j as f32;
                let rect = Rect { x0: x, y0: 600.0, x1: x + 400.0, y1: 1100.0 };
                let keypoints = [
                    [x + 120.0, 780.0], [x + 280.0, 780.0], [x + 200.0, 880.0],
                    [x + 200.0, 980.0], [x + 20.0, 800.0], [x + 380.0, 800.0],
                ];
                Face::detected(Detection { rect, score: 0.9, keypoints: keypoints.to_vec() }, self.face_vector(first + j))
            })
            .collect();
        PhotoRecord::Indexed {
            path: format!("/synthetic/{:04}/{:08}.jpg", photo / 1000, photo),
            size: 2_000_000 + (photo as u64 * 7919) % 3_000_000,
            mtime_ns: 1_700_000_000_000_000_000 + photo as i64 * 1_000_000_000,
            content_hash: format!("{:016x}{:016x}", self.seed, photo),
            info: PhotoInfo {
                width: 4000,
                height: 3000,
                orientation: 1,
                taken_at: Some(format!("2023-{:02}-{:02}T12:00:00", 1 + photo % 12, 1 + photo % 28)),
                camera: Some("Synthetic Camera".into()),
            },
            faces,
            damage: None,
        }
    }

    pub fn faces_of(&self) -> HashMap<u32, Vec<usize>> {
        let mut out: HashMap<u32, Vec<usize>> = HashMap::new();
        for (k, &i) in self.ident.iter().enumerate() {
            out.entry(i).or_default().push(k);
        }
        out
    }
}

/// Packs faces (identities, shuffled) into photos of 1–4 faces with no identity twice in a
/// photo, reordering `faces` so that each photo is a contiguous run. `offset` is the index of
/// `faces[0]` among all faces.
pub fn pack_photos(faces: &mut [u32], offset: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut photos = Vec::new();
    let mut i = 0;
    while i < faces.len() {
        let want = match rng.below(20) {
            0..=9 => 1,
            10..=14 => 2,
            15..=17 => 3,
            _ => 4,
        };
        let start = i;
        while i - start < want && i < faces.len() {
            let taken = &faces[start..i];
            let Some(j) = (i..(i + 32).min(faces.len())).find(|&j| !taken.contains(&faces[j])) else { break };
            faces.swap(i, j);
            i += 1;
        }
        photos.push((offset + start, i - start));
    }
    photos
}

// ---------------------------------------------------------------------------------------------
// Measuring.

pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// A field of /proc/self/status in kB (VmHWM: peak resident set, VmRSS: now); 0 where unknown.
pub fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else { return 0 };
    if meta.is_dir() {
        std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
    } else {
        meta.len()
    }
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn mib_kb(kb: u64) -> String {
    format!("{:.0} MiB", kb as f64 / 1024.0)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
