//! Per-stage timings of `facegate index` on real photos: decode, hash, pyramid, detect (with the
//! tiled pass and the second look taken apart), align, embed, and a whole photo.
//!
//!     cargo bench --bench stages                 # everything (a few minutes on 2 cores)
//!     cargo bench --bench stages -- detect/      # one group (criterion's name filter)
//!
//! Photos: `../shared/faces/people` when that folder exists (read in place, never copied into the
//! repository), else `sample-images/`. From the first JPEG with a clear face the bench makes, in a
//! temporary folder, a 250×250 face photo (a square crop around the face, JPEG q90) and a 12 MP
//! photo (a 4:3 crop around the face upscaled to 4000×3000, JPEG q90). Environment overrides:
//!
//! - `FACEGATE_BENCH_PHOTOS=DIR`   where to look for source photos
//! - `FACEGATE_BENCH_SOURCE=FILE`  the source photo to use
//! - `FACEGATE_BENCH_SMALL=FILE`, `FACEGATE_BENCH_LARGE=FILE`  use these files as the small and
//!   the 12 MP photo instead (e.g. ones written by `scripts/make_bench_photos.py`)
//! - `FACEGATE_BENCH_THREADS=N`    intra-op threads per ONNX session (default 1: what each worker
//!   of `facegate index` gets when there are several jobs)
//!
//! Anything missing (no photos, no ONNX Runtime, no face found) skips the benches that need it
//! with a message instead of failing.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::RgbImage;
use sha2::{Digest, Sha256};

use facegate::photo;
use facegate::vision::align::{chip_map, Similarity};
use facegate::vision::blazeface::tile_frames;
use facegate::vision::retinaface;
use facegate::vision::manifest::Layout;
use facegate::vision::{write_input, Detection, Detector, Device, Embedder, Manifest, Pyramid};

const SMALL_SIDE: u32 = 250;
const LARGE_SIZE: (u32, u32) = (4000, 3000);
const JPEG_QUALITY: u8 = 90;
/// `Pyramid::new(rgb, 16)` as the pipeline builds it.
const PYRAMID_MIN_SIDE: u32 = 16;

fn skip(what: &str, why: &str) {
    eprintln!("stages bench: skipping {what}: {why}");
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn threads() -> usize {
    std::env::var("FACEGATE_BENCH_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// The folder the source photos come from.
fn photo_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FACEGATE_BENCH_PHOTOS") {
        return Some(PathBuf::from(dir));
    }
    let root = manifest_dir();
    [root.join("../shared/faces/people"), root.join("sample-images")].into_iter().find(|d| d.is_dir())
}

/// Photo files under `dir`, JPEGs first, each group sorted by path.
fn list_photos(dir: &Path) -> Vec<PathBuf> {
    let ext = |p: &Path| p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| matches!(ext(p).as_str(), "jpg" | "jpeg" | "png" | "webp"))
        .collect();
    files.sort_by_key(|p| (!matches!(ext(p).as_str(), "jpg" | "jpeg"), p.clone()));
    files
}

fn encode_jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(img).expect("JPEG encoding");
    out
}

fn largest(faces: &[Detection]) -> Option<&Detection> {
    faces.iter().max_by(|a, b| a.rect.area().total_cmp(&b.rect.area()))
}

/// A `w`×`h` window (clipped to the image) centred on `(cx, cy)` as far as the image allows.
fn window(cx: f32, cy: f32, w: u32, h: u32, iw: u32, ih: u32) -> (u32, u32, u32, u32) {
    let (w, h) = (w.min(iw), h.min(ih));
    let x = (cx - w as f32 / 2.0).clamp(0.0, (iw - w) as f32) as u32;
    let y = (cy - h as f32 / 2.0).clamp(0.0, (ih - h) as f32) as u32;
    (x, y, w, h)
}

/// A `SMALL_SIDE` square face photo: a square of 2.2× the face around it (the image centre
/// when no face is known), resized.
fn make_small(src: &RgbImage, face: Option<&Detection>) -> RgbImage {
    let (iw, ih) = src.dimensions();
    let (cx, cy, side) = match face {
        Some(f) => {
            let r = f.rect;
            ((r.x0 + r.x1) / 2.0, (r.y0 + r.y1) / 2.0, (2.2 * r.width().max(r.height())) as u32)
        }
        None => (iw as f32 / 2.0, ih as f32 / 2.0, iw.min(ih)),
    };
    let side = side.clamp(1, iw.min(ih));
    let (x, y, w, h) = window(cx, cy, side, side, iw, ih);
    let crop = imageops::crop_imm(src, x, y, w, h).to_image();
    imageops::resize(&crop, SMALL_SIDE, SMALL_SIDE, FilterType::Lanczos3)
}

/// A 4000×3000 photo: the largest 4:3 window around the face, upscaled.
fn make_large(src: &RgbImage, face: Option<&Detection>) -> RgbImage {
    let (iw, ih) = src.dimensions();
    let (cx, cy) = face.map_or((iw as f32 / 2.0, ih as f32 / 2.0), |f| {
        ((f.rect.x0 + f.rect.x1) / 2.0, (f.rect.y0 + f.rect.y1) / 2.0)
    });
    let (ww, wh) = if iw * 3 >= ih * 4 { (ih * 4 / 3, ih) } else { (iw, iw * 3 / 4) };
    let (x, y, w, h) = window(cx, cy, ww.max(1), wh.max(1), iw, ih);
    let crop = imageops::crop_imm(src, x, y, w, h).to_image();
    imageops::resize(&crop, LARGE_SIZE.0, LARGE_SIZE.1, FilterType::Triangle)
}

/// Everything the benches share, made once.
struct Fixture {
    _tmp: tempfile::TempDir,
    small_path: PathBuf,
    small: Vec<u8>,
    large_path: PathBuf,
    large: Vec<u8>,
    /// The largest source photo when it has 8 MP or more: a real camera JPEG, for comparison.
    real_large: Option<(PathBuf, Vec<u8>)>,
}

struct Models {
    manifest: Manifest,
    detector: Detector,
    embedder: Embedder,
}

fn load_models() -> Option<Models> {
    let dir = manifest_dir().join("models");
    let manifest = match Manifest::load(&dir) {
        Ok(m) => m,
        Err(e) => {
            skip("the model benches", &format!("no models ({e})"));
            return None;
        }
    };
    let t = threads();
    match (Detector::new(&manifest, Device::Cpu, t), Embedder::new(&manifest, Device::Cpu, t)) {
        (Ok(detector), Ok(embedder)) => Some(Models { manifest, detector, embedder }),
        (Err(e), _) | (_, Err(e)) => {
            skip("the model benches", &format!("cannot load the models: {e}"));
            None
        }
    }
}

fn fixture(models: Option<&mut Models>) -> Option<Fixture> {
    let from_env = |var: &str| std::env::var_os(var).map(PathBuf::from);
    let tmp = tempfile::Builder::new().prefix("facegate-bench-").tempdir().expect("temp dir");
    let read = |p: &Path| std::fs::read(p).map_err(|e| eprintln!("stages bench: cannot read {}: {e}", p.display())).ok();

    let sources = match (from_env("FACEGATE_BENCH_SOURCE"), photo_dir()) {
        (Some(file), _) => vec![file],
        (None, Some(dir)) => list_photos(&dir),
        (None, None) => vec![],
    };
    let (given_small, given_large) = (from_env("FACEGATE_BENCH_SMALL"), from_env("FACEGATE_BENCH_LARGE"));
    let need_source = given_small.is_none() || given_large.is_none();
    if sources.is_empty() && need_source {
        skip("all benches", "no photos in ../shared/faces/people or sample-images/ (set FACEGATE_BENCH_PHOTOS)");
        return None;
    }

    // The source: the first photo with a clear face (score above the second-look threshold), or
    // the first photo that decodes when the models are not available.
    let mut chosen: Option<(PathBuf, RgbImage, Option<Detection>)> = None;
    if need_source {
        let mut models = models;
        for path in &sources {
            let Some(bytes) = read(path) else { continue };
            let Ok(photo::Decoded { rgb, .. }) = photo::decode(&bytes, &photo::Limits::default()) else { continue };
            let Some(m) = models.as_deref_mut() else {
                chosen = Some((path.clone(), rgb, None));
                break;
            };
            let pyramid = Pyramid::new(rgb, PYRAMID_MIN_SIDE);
            let faces = m.detector.detect(&pyramid).unwrap_or_default();
            let clear = 0.9; // a clear face: no second look needed for either detector family
            if let Some(face) = largest(&faces).filter(|f| f.score >= clear) {
                let face = face.clone();
                let rgb = pyramid.base().clone();
                chosen = Some((path.clone(), rgb, Some(face)));
                break;
            }
        }
        match &chosen {
            Some((path, rgb, face)) => eprintln!(
                "stages bench: source photo {} ({}×{}), face {:?}",
                path.display(),
                rgb.width(),
                rgb.height(),
                face.as_ref().map(|f| (f.rect, f.score))
            ),
            None => {
                skip("all benches", "no source photo with a clear face");
                return None;
            }
        }
    }

    let t0 = Instant::now();
    let make = |given: Option<PathBuf>, name: &str, build: &dyn Fn(&RgbImage, Option<&Detection>) -> RgbImage| {
        if let Some(p) = given {
            return read(&p).map(|b| (p, b));
        }
        let (_, rgb, face) = chosen.as_ref().expect("source chosen");
        let bytes = encode_jpeg(&build(rgb, face.as_ref()));
        let path = tmp.path().join(name);
        std::fs::write(&path, &bytes).expect("write bench photo");
        Some((path, bytes))
    };
    let (small_path, small) = make(given_small, "small-250.jpg", &make_small)?;
    let (large_path, large) = make(given_large, "large-12mp.jpg", &make_large)?;
    eprintln!(
        "stages bench: small photo {} ({} KB), 12 MP photo {} ({} KB), made in {:.1} s",
        small_path.display(),
        small.len() / 1024,
        large_path.display(),
        large.len() / 1024,
        t0.elapsed().as_secs_f64()
    );

    let real_large = sources
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")))
        .filter_map(|p| image::image_dimensions(p).ok().map(|(w, h)| (w as u64 * h as u64, p)))
        .filter(|&(px, _)| px >= 8_000_000)
        .max_by_key(|&(px, _)| px)
        .and_then(|(_, p)| read(p).map(|b| (p.clone(), b)));
    Some(Fixture { _tmp: tmp, small_path, small, large_path, large, real_large })
}

fn decode_pyramid(bytes: &[u8]) -> Pyramid {
    let rgb = photo::decode(bytes, &photo::Limits::default()).expect("bench photo decodes").rgb;
    Pyramid::new(rgb, PYRAMID_MIN_SIDE)
}

fn stages(c: &mut Criterion) {
    let mut models = load_models();
    let Some(fx) = fixture(models.as_mut()) else { return };
    let small_px = decode_pyramid(&fx.small);
    let large_px = decode_pyramid(&fx.large);

    // --- decode and hash: no models needed.
    {
        let mut g = c.benchmark_group("decode");
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("small_250", |b| b.iter(|| photo::decode(black_box(&fx.small), &photo::Limits::default()).unwrap()));
        g.bench_function("large_12mp", |b| b.iter(|| photo::decode(black_box(&fx.large), &photo::Limits::default()).unwrap()));
        if let Some((path, bytes)) = &fx.real_large {
            eprintln!("stages bench: decode/real_camera is {} ({} KB)", path.display(), bytes.len() / 1024);
            g.bench_function("real_camera", |b| b.iter(|| photo::decode(black_box(bytes), &photo::Limits::default()).unwrap()));
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("read_hash");
        g.throughput(Throughput::Bytes(fx.large.len() as u64));
        g.bench_function("sha256_12mp", |b| b.iter(|| Sha256::digest(black_box(&fx.large))));
        g.bench_function("read_sha256_12mp", |b| {
            b.iter(|| Sha256::digest(std::fs::read(black_box(&fx.large_path)).unwrap()))
        });
        g.throughput(Throughput::Bytes(fx.small.len() as u64));
        g.bench_function("read_sha256_small", |b| {
            b.iter(|| Sha256::digest(std::fs::read(black_box(&fx.small_path)).unwrap()))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("pyramid");
        g.sampling_mode(SamplingMode::Flat);
        let small_rgb = small_px.base().clone();
        let large_rgb = large_px.base().clone();
        g.bench_function("small_250", |b| {
            b.iter_batched(|| small_rgb.clone(), |img| Pyramid::new(img, PYRAMID_MIN_SIDE), BatchSize::LargeInput)
        });
        g.bench_function("large_12mp", |b| {
            b.iter_batched(|| large_rgb.clone(), |img| Pyramid::new(img, PYRAMID_MIN_SIDE), BatchSize::LargeInput)
        });
        g.finish();
    }

    let Some(m) = models.as_mut() else { return };
    let small_faces = m.detector.detect(&small_px).expect("detect small");
    let large_faces = m.detector.detect(&large_px).expect("detect 12 MP");
    eprintln!("stages bench: small photo: {} faces; 12 MP photo: {} faces", small_faces.len(), large_faces.len());
    // The detector with parts of its work turned off, to show what each costs.
    let variant = |change: &dyn Fn(&mut Manifest)| {
        let mut manifest = m.manifest.clone();
        change(&mut manifest);
        Detector::new(&manifest, Device::Cpu, threads()).expect("detector")
    };
    let mut variants: Vec<(&str, Detector)> = Vec::new();
    if let Some(r) = &m.manifest.detector.retinaface {
        for (name, (w, h)) in [("small", (small_px.width(), small_px.height())), ("12 MP", (large_px.width(), large_px.height()))] {
            let passes = retinaface::passes(w, h, &r.scales, r.scales.fine_pixels);
            let sizes: Vec<String> = passes.iter().map(|p| format!("{}×{} (scale {:.3})", p.width, p.height, p.scale)).collect();
            eprintln!("stages bench: {name} photo: passes {}", sizes.join(", "));
        }
        variants.push(("12mp_coarse_pass_only", variant(&|m| m.detector.retinaface.as_mut().unwrap().scales.fine_min_side = f32::INFINITY)));
        variants.push(("12mp_no_second_look", variant(&|m| m.detector.retinaface.as_mut().unwrap().verify.below = f32::NEG_INFINITY)));
    }
    if let Some(b) = &m.manifest.detector.blazeface {
        eprintln!("stages bench: 12 MP photo: {} BlazeFace frames", tile_frames(large_px.width(), large_px.height(), &b.tiling).len());
        variants.push(("12mp_whole_image_only", variant(&|m| m.detector.blazeface.as_mut().unwrap().tiling.max_levels = 0)));
        variants.push(("12mp_tiles_no_second_look", variant(&|m| m.detector.blazeface.as_mut().unwrap().verify_below = f32::NEG_INFINITY)));
    }

    // --- the embedder network alone (ONNX Runtime, input prepared beforehand), per batch size.
    {
        let mut g = c.benchmark_group("onnx");
        g.sampling_mode(SamplingMode::Flat);
        let e = m.embedder.spec().clone();
        let mut emb = facegate::vision::runtime::session(
            Device::Cpu,
            &m.manifest.read_verified(&e.model).expect("embedder model"),
            threads(),
        )
        .expect("embedder session");
        let es = e.input.size;
        let chips = vec![0.1f32; 2 * es * es * 3];
        for n in [1usize, 2] {
            let eshape = match e.input.layout {
                Layout::Nhwc => [n as i64, es as i64, es as i64, 3],
                Layout::Nchw => [n as i64, 3, es as i64, es as i64],
            };
            g.bench_function(format!("embedder_batch{n}"), |b| {
                b.iter(|| {
                    let tensor = ort::value::TensorRef::from_array_view((eshape, &chips[..n * es * es * 3])).unwrap();
                    let out = emb.run(ort::inputs![e.input.name.as_str() => tensor]).unwrap();
                    black_box(out.len());
                })
            });
        }
        g.finish();
    }

    // --- detection.
    {
        let mut g = c.benchmark_group("detect");
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(4));
        g.bench_function("small_250", |b| b.iter(|| m.detector.detect(&small_px).unwrap()));
        g.bench_function("12mp_full", |b| b.iter(|| m.detector.detect(&large_px).unwrap()));
        for (name, detector) in &mut variants {
            g.bench_function(*name, |b| b.iter(|| detector.detect(&large_px).unwrap()));
        }
        g.finish();
    }

    // --- alignment and embedding of the small photo's face.
    let Some(face) = largest(&small_faces).cloned() else {
        skip("align, embed and whole_photo", "no face found in the small photo");
        return;
    };
    let e = m.embedder.spec().clone();
    {
        let mut g = c.benchmark_group("align");
        let mut chip = vec![0.0f32; e.input.size * e.input.size * 3];
        g.bench_function("fit_warp_150", |b| {
            b.iter(|| {
                let points: Vec<[f32; 2]> = e.keypoints.iter().map(|&k| face.keypoints[k]).collect();
                let to_chip = Similarity::fit(&points, &e.template).unwrap();
                write_input(&small_px, &chip_map(&to_chip), &e.input, &mut chip, false);
            })
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("embed");
        g.sampling_mode(SamplingMode::Flat);
        let one = [face.clone()];
        let name = if e.flip_average { "one_face_flip_average" } else { "one_face" };
        g.bench_function(name, |b| b.iter(|| m.embedder.embed(&small_px, &one).unwrap()));
        g.finish();
    }
    {
        let mut g = c.benchmark_group("whole_photo");
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(6));
        let mut run = |bytes: &[u8]| {
            let image = decode_pyramid(bytes);
            let faces = m.detector.detect(&image).unwrap();
            m.embedder.embed(&image, &faces).unwrap()
        };
        g.bench_function("small_250", |b| b.iter(|| run(black_box(&fx.small))));
        g.bench_function("large_12mp", |b| b.iter(|| run(black_box(&fx.large))));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = stages
}
criterion_main!(benches);
