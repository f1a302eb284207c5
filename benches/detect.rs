//! Detection quality on real photos: recall per face-height bucket and precision on
//! `../shared/wider-dev` (WIDER FACE validation photos with their boxes), and the share of tight
//! portraits and turned heads in which a face is found, made from `../shared/faces`.
//!
//!     scripts/bench_detect.sh                       # both, with the models in models/
//!     FACEGATE_MODELS=models/blazeface scripts/bench_detect.sh   # the same for BlazeFace
//!
//! Environment: `FACEGATE_BENCH_STEP=N` takes every Nth WIDER photo (default 1: all 400);
//! `FACEGATE_BENCH_ONLY=wider|crops|portraits` runs one part; `FACEGATE_BENCH_DUMP=FILE` writes every
//! unmatched detection (photo, box, score) as TSV for looking at them, `FACEGATE_BENCH_MISSED=FILE`
//! every annotated face of 64 px or more that no detection matched (photo, box, and the best IoU
//! and score among the detections it overlaps). One thread, one session,
//! as each worker of `facegate index` runs. Where the photos or the runtime are missing it says so
//! and does nothing.
//!
//! WIDER: a detection matches an annotated face at IoU >= 0.4 (RetinaFace's boxes are drawn a
//! little differently from WIDER's). "Faces" counts detections scoring at least the manifest's
//! `score_threshold`, "with possible" also the possible faces, which block the gate too.
//! Precision is the share of detections matching some annotated face, at any size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use facegate::photo;
use facegate::vision::{Detection, Detector, Device, Manifest, Pyramid, Rect};
use image::RgbImage;

const BUCKETS: [(f32, f32, &str); 5] =
    [(0.0, 16.0, "<16"), (16.0, 32.0, "16-32"), (32.0, 64.0, "32-64"), (64.0, 128.0, "64-128"), (128.0, f32::MAX, ">=128")];

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = std::env::var_os("FACEGATE_MODELS").map(PathBuf::from).unwrap_or_else(|| repo.join("models"));
    let manifest = match Manifest::load(&models) {
        Ok(m) => m,
        Err(e) => return eprintln!("detect bench: cannot load the models: {e}"),
    };
    let mut detector = match Detector::new(&manifest, Device::Cpu, 1) {
        Ok(d) => d,
        Err(e) => return eprintln!("detect bench: cannot load the detector (run scripts/setup.sh): {e}"),
    };
    let only = std::env::var("FACEGATE_BENCH_ONLY").unwrap_or_default();
    println!("detector {} (score >= {}, possible >= {})", manifest.detector.model.id, manifest.detector.score_threshold, manifest.detector.possible_threshold);
    let shared = repo.join("../shared");
    if only.is_empty() || only == "wider" {
        match std::fs::read_to_string(shared.join("wider-dev/labels.txt")) {
            Ok(labels) => wider(&mut detector, &shared.join("wider-dev/images"), &labels),
            Err(_) => eprintln!("detect bench: no ../shared/wider-dev; skipping WIDER"),
        }
    }
    if only.is_empty() || only == "crops" {
        match std::fs::read_to_string(shared.join("wider-dev/labels.txt")) {
            Ok(labels) => wider_crops(&mut detector, &shared.join("wider-dev/images"), &labels),
            Err(_) => eprintln!("detect bench: no ../shared/wider-dev; skipping WIDER crops"),
        }
    }
    if only.is_empty() || only == "portraits" {
        match std::fs::read_to_string(shared.join("faces/labels.tsv")) {
            Ok(labels) => portraits(&mut detector, &shared.join("faces"), &labels),
            Err(_) => eprintln!("detect bench: no ../shared/faces; skipping portraits"),
        }
    }
}

/// `# name` lines, each followed by `x y w h …` lines.
fn parse_wider(text: &str) -> Vec<(String, Vec<Rect>)> {
    let mut out: Vec<(String, Vec<Rect>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('#') {
            out.push((name.trim().to_string(), Vec::new()));
        } else if let Some((_, boxes)) = out.last_mut() {
            let v: Vec<f32> = line.split_whitespace().take(4).filter_map(|s| s.parse().ok()).collect();
            if v.len() == 4 {
                boxes.push(Rect { x0: v[0], y0: v[1], x1: v[0] + v[2], y1: v[1] + v[3] });
            }
        }
    }
    out
}

fn load(path: &Path) -> Option<RgbImage> {
    let bytes = std::fs::read(path).ok()?;
    photo::decode(&bytes, &photo::Limits::default()).ok().map(|d| d.rgb)
}

#[derive(Default)]
struct Tally {
    found: [usize; 5],
    detections: usize,
    matched: usize,
}

impl Tally {
    fn add(&mut self, truth: &[Rect], buckets: &[usize], dets: &[&Detection]) {
        for (t, &b) in truth.iter().zip(buckets) {
            if dets.iter().any(|d| d.rect.iou(t) >= 0.4) {
                self.found[b] += 1;
            }
        }
        self.detections += dets.len();
        self.matched += dets.iter().filter(|d| truth.iter().any(|t| d.rect.iou(t) >= 0.4)).count();
    }

    fn row(&self, name: &str, total: &[usize; 5]) -> String {
        let cells: Vec<String> = (0..5).map(|i| format!("{:.1} %", 100.0 * self.found[i] as f64 / total[i].max(1) as f64)).collect();
        format!(
            "| {name} | {} | {:.1} % ({} of {}) |",
            cells.join(" | "),
            100.0 * self.matched as f64 / self.detections.max(1) as f64,
            self.matched,
            self.detections
        )
    }
}

fn wider(detector: &mut Detector, images: &Path, labels: &str) {
    let step: usize = std::env::var("FACEGATE_BENCH_STEP").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let confident = detector.spec().score_threshold;
    let mut dump = std::env::var_os("FACEGATE_BENCH_DUMP").map(|p| std::fs::File::create(p).expect("dump file"));
    let mut missed = std::env::var_os("FACEGATE_BENCH_MISSED").map(|p| std::fs::File::create(p).expect("missed file"));
    let (mut faces, mut all) = (Tally::default(), Tally::default());
    let mut total = [0usize; 5];
    let (mut photos, mut seconds) = (0, 0.0f64);
    for (name, truth) in parse_wider(labels).into_iter().step_by(step) {
        let Some(rgb) = load(&images.join(&name)) else {
            eprintln!("detect bench: cannot read {name}");
            continue;
        };
        let start = Instant::now();
        let image = Pyramid::new(rgb, 16);
        let found = detector.detect(&image).expect("detector runs");
        seconds += start.elapsed().as_secs_f64();
        photos += 1;
        let buckets: Vec<usize> =
            truth.iter().map(|t| BUCKETS.iter().position(|&(lo, hi, _)| t.height() >= lo && t.height() < hi).unwrap_or(0)).collect();
        for &b in &buckets {
            total[b] += 1;
        }
        let sure: Vec<&Detection> = found.iter().filter(|d| d.score >= confident).collect();
        faces.add(&truth, &buckets, &sure);
        all.add(&truth, &buckets, &found.iter().collect::<Vec<_>>());
        if let Some(out) = dump.as_mut() {
            for d in found.iter().filter(|d| !truth.iter().any(|t| d.rect.iou(t) >= 0.4)) {
                let r = d.rect;
                writeln!(out, "{name}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{:.3}", r.x0, r.y0, r.x1, r.y1, d.score).expect("dump");
            }
        }
        if let Some(out) = missed.as_mut() {
            for t in truth.iter().filter(|t| t.height() >= 64.0 && !found.iter().any(|d| d.rect.iou(t) >= 0.4)) {
                let best = found.iter().filter(|d| d.rect.iou(t) > 0.0).max_by(|a, b| a.rect.iou(t).total_cmp(&b.rect.iou(t)));
                let (iou, score) = best.map_or((0.0, 0.0), |d| (d.rect.iou(t), d.score));
                writeln!(out, "{name}\t{:.0}\t{:.0}\t{:.0}\t{:.0}\t{iou:.2}\t{score:.3}", t.x0, t.y0, t.x1, t.y1).expect("missed");
            }
        }
    }
    println!("\nWIDER dev: {photos} photos, {} faces; recall at IoU >= 0.4 by face height; {:.3} s per photo (detection, one thread)\n", total.iter().sum::<usize>(), seconds / photos.max(1) as f64);
    let heads: Vec<String> = BUCKETS.iter().map(|b| format!("{} px ({})", b.2, total[BUCKETS.iter().position(|x| x.2 == b.2).unwrap()])).collect();
    println!("| detections | {} | precision |", heads.join(" | "));
    println!("|{}", " --- |".repeat(7));
    println!("{}", faces.row("faces", &total));
    println!("{}", all.row("faces and possible faces", &total));
}

/// Portraits cut from crowds: every annotated WIDER face of 64 px or more (frontal, turned,
/// profile, partly covered), cut out with the box itself as the frame and with the box grown
/// 1.5 times (as a press-kit or ID photo frames a head). A crop counts when a detection, possible
/// or confident, has its centre inside the annotated box.
fn wider_crops(detector: &mut Detector, images: &Path, labels: &str) {
    let confident = detector.spec().score_threshold;
    let mut kinds: Vec<(&str, usize, usize, usize)> = vec![("face box", 0, 0, 0), ("box grown 1.5×", 0, 0, 0)];
    for (name, truth) in parse_wider(labels) {
        if !truth.iter().any(|t| t.height() >= 64.0) {
            continue;
        }
        let Some(rgb) = load(&images.join(&name)) else { continue };
        for t in truth.iter().filter(|t| t.height() >= 64.0) {
            for (kind, grown) in [(0, grow(t, 1.0, rgb.width(), rgb.height())), (1, grow(t, 1.5, rgb.width(), rgb.height()))] {
                let img = crop(&rgb, &grown);
                let (x, y) = (grown.x0.round(), grown.y0.round());
                let inside = Rect { x0: t.x0 - x, y0: t.y0 - y, x1: t.x1 - x, y1: t.y1 - y };
                let found = detector.detect(&Pyramid::new(img, 16)).expect("detector runs");
                let hits: Vec<&Detection> = found
                    .iter()
                    .filter(|d| {
                        let (cx, cy) = d.rect.center();
                        cx >= inside.x0 && cx <= inside.x1 && cy >= inside.y0 && cy <= inside.y1
                    })
                    .collect();
                if hits.is_empty() {
                    eprintln!("detect bench: no face in the crop of {name} at {:.0},{:.0} {:.0}×{:.0} ({})", t.x0, t.y0, t.width(), t.height(), kinds[kind].0);
                }
                count(&mut kinds[kind], &hits, confident);
            }
        }
    }
    print_found("WIDER faces of 64 px or more cut out as portraits", "faces", &kinds);
}

/// Counts one crop in its row: (name, crops, with any face, with a confident face).
fn count(row: &mut (&str, usize, usize, usize), found: &[&Detection], confident: f32) {
    row.1 += 1;
    row.2 += usize::from(!found.is_empty());
    row.3 += usize::from(found.iter().any(|d| d.score >= confident));
}

fn print_found(title: &str, what: &str, rows: &[(&str, usize, usize, usize)]) {
    println!("\n{title}: a face found in\n");
    println!("| crop | {what} | any face | confident face |\n| --- | --- | --- | --- |");
    for (name, n, any, sure) in rows {
        let share = |k: usize| 100.0 * k as f64 / (*n).max(1) as f64;
        println!("| {name} | {n} | {any} ({:.1} %) | {sure} ({:.1} %) |", share(*any), share(*sure));
    }
}

/// Tight crops of each labelled photo's largest face (the box itself, and the box cut by a
/// tenth on every side), and turned heads (the photo rotated 30° either way, and mirrored
/// profiles are not made: the shared photos have their own turned heads). A photo counts when
/// any face, possible or confident, is found.
fn portraits(detector: &mut Detector, faces: &Path, labels: &str) {
    let confident = detector.spec().score_threshold;
    let mut kinds: Vec<(&str, usize, usize, usize)> = vec![("face box", 0, 0, 0), ("box cut by 10 %", 0, 0, 0), ("rotated ±30°", 0, 0, 0)];
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 2 || cols[1] != "single" && !cols[0].starts_with("people/") {
            continue;
        }
        let Some(rgb) = load(&faces.join(cols[0])) else { continue };
        let image = Pyramid::new(rgb.clone(), 16);
        let found = detector.detect(&image).expect("detector runs");
        let Some(main) = found.iter().max_by(|a, b| a.rect.area().total_cmp(&b.rect.area())) else { continue };
        let r = main.rect;
        let cut = Rect {
            x0: r.x0 + 0.1 * r.width(),
            y0: r.y0 + 0.1 * r.height(),
            x1: r.x1 - 0.1 * r.width(),
            y1: r.y1 - 0.1 * r.height(),
        };
        let mut tests: Vec<(usize, RgbImage)> = vec![(0, crop(&rgb, &r)), (1, crop(&rgb, &cut))];
        for angle in [30.0f32, -30.0] {
            tests.push((2, rotate(&crop(&rgb, &grow(&r, 2.0, rgb.width(), rgb.height())), angle)));
        }
        for (kind, img) in tests {
            let (w, h) = img.dimensions();
            let img_copy = img.clone();
            let found = detector.detect(&Pyramid::new(img, 16)).expect("detector runs");
            if found.is_empty() {
                eprintln!("detect bench: no face in {} ({}, {w}×{h})", cols[0], kinds[kind].0);
                if let Ok(dir) = std::env::var("FACEGATE_BENCH_MISSES") { let _ = img_copy.save(Path::new(&dir).join(format!("{}-{kind}.png", cols[0].replace('/', "_")))); }
            }
            count(&mut kinds[kind], &found.iter().collect::<Vec<_>>(), confident);
        }
    }
    print_found("Portraits from ../shared/faces (people/)", "photos", &kinds);
}

fn grow(r: &Rect, k: f32, w: u32, h: u32) -> Rect {
    let (cx, cy) = r.center();
    Rect::from_center(cx, cy, k * r.width(), k * r.height()).clip(w as f32, h as f32)
}

fn crop(rgb: &RgbImage, r: &Rect) -> RgbImage {
    let r = r.clip(rgb.width() as f32, rgb.height() as f32);
    let (x, y) = (r.x0.round() as u32, r.y0.round() as u32);
    let (w, h) = ((r.width().round() as u32).max(8), (r.height().round() as u32).max(8));
    image::imageops::crop_imm(rgb, x, y, w.min(rgb.width() - x), h.min(rgb.height() - y)).to_image()
}

/// Rotates about the centre, keeping the size (corners filled with grey).
fn rotate(rgb: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = rgb.dimensions();
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
        if sx >= 0.0 && sy >= 0.0 && (sx as u32) < w && (sy as u32) < h {
            *rgb.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([128, 128, 128])
        }
    })
}
