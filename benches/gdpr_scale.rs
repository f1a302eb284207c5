//! Scale of the GDPR side (consent gate, gated export, erasure, audit trail) on synthetic
//! libraries built through the library's own API (`Store::write_batch`, `add_person`,
//! `move_faces`, `grant`, `revoke`, `FaceIndex::open`) in a temporary folder; no model is run.
//! Photo files are real (a few bytes each) so the gate's size/mtime check and the erasure's
//! sha256 check see what they see in use.
//!
//!     cargo build --release && cargo bench --bench gdpr_scale    # full size (several minutes on
//!                                                                # 2 cores: 100k-point HNSW builds)
//!     cargo bench --bench gdpr_scale -- quick                    # 10k photos, 20k faces, 100k entries
//!     cargo bench --bench gdpr_scale -- quick audit              # some sections: check, erase, audit
//!
//! Targets (from the issues): (1) `check` of one photo ≤ 20 ms on a warm 100,000-photo library
//! (in-process and the whole `target/release/facegate` process); (2) the gate part of `export`
//! over 10,000 photos ≤ 2 s; (3) erasing a person with 1,000 photos from a 100,000-face library
//! ≤ 30 s including the index rebuild (plan and execute, then each step of execute replayed on a
//! copy of the library); (4) `audit verify` over 1,000,000 entries ≤ 10 s.
//!
//! Environment: `FACEGATE_BENCH_KEEP=DIR` builds in DIR and keeps it; `FACEGATE_BENCH_PROTO=1`
//! also builds the erased library's graph from scratch in (3), to compare its recall with the
//! compacted one; `FACEGATE_BENCH_RANDOM=1` gives library B uniformly random
//! embeddings instead of identity clusters (the HNSW worst case).
//!
//! The machine may be shared (another benchmark running): the load average is printed, and
//! phases show CPU time beside wall time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use facegate::ann::{self, dot, FaceIndex, Query};
use facegate::consent::{self, Gate, Use};
use facegate::gdpr::erase::{self, Files, Options};
use facegate::library::{Access, Library, DB_FILE};
use facegate::photo::PhotoInfo;
use facegate::query::{self, Method};
use facegate::store::{ErasurePlan, FaceId, Link, LinkedBy, NewGrant, NewLink, PersonId, PersonRef, PhotoId, PhotoRecord};
use facegate::vision::{Detection, Face, Manifest, Rect};

const SEED: u64 = 0x5EED_6D70_0001;
const ACTOR: &str = "bench";

// ---------------------------------------------------------------------------------------------
// Small helpers (copied from persons_scale.rs, trimmed).

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

fn unit_vector(v: Vec<f64>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| (x / n) as f32).collect()
}

fn random_unit(rng: &mut Rng, dim: usize) -> Vec<f32> {
    unit_vector((0..dim).map(|_| rng.gauss()).collect())
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// CPU seconds (user + system) of this process, or of its waited-for children.
fn cpu(who: i32) -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn max_rss_children_kb() -> i64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss
}

fn timed_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration, f64) {
    let c = cpu(libc::RUSAGE_SELF);
    let (out, d) = timed(f);
    (out, d, cpu(libc::RUSAGE_SELF) - c)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so each section reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else { return 0 };
    if meta.is_dir() {
        std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum()).unwrap_or(0)
    } else {
        meta.len()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

fn mib_kb(kb: u64) -> String {
    format!("{:.0} MiB", kb as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// "median (p95, max)" of a set of run times, in ms.
fn spread(mut v: Vec<Duration>) -> (Duration, String) {
    v.sort();
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let m = q(0.5);
    (m, format!("{} runs: min {}, p95 {}, max {}", v.len(), ms(q(0.0)), ms(q(0.95)), ms(q(1.0))))
}

fn line(what: &str, value: String, note: &str) {
    println!("    {what:<50} {value:>14}  {note}");
}

fn section(title: &str) {
    println!("\n  {title}   [load average {}]", load_average());
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Writes a small real photo file; returns (size, mtime_ns as the scanner computes it, sha256).
fn write_photo(path: &Path, bytes: &[u8]) -> (u64, i64, String) {
    std::fs::write(path, bytes).unwrap();
    let meta = std::fs::metadata(path).unwrap();
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64);
    (meta.len(), mtime, hex::encode(Sha256::digest(bytes)))
}

fn detection(j: usize) -> Detection {
    let x = 100.0 + 950.0 * j as f32;
    let rect = Rect { x0: x, y0: 600.0, x1: x + 400.0, y1: 1100.0 };
    let keypoints = [[x + 120.0, 780.0], [x + 280.0, 780.0], [x + 200.0, 880.0], [x + 200.0, 980.0], [x + 20.0, 800.0], [x + 380.0, 800.0]];
    Detection { rect, score: 0.9, keypoints: keypoints.to_vec() }
}

fn info(i: usize) -> PhotoInfo {
    PhotoInfo {
        width: 4000,
        height: 3000,
        orientation: 1,
        taken_at: Some(format!("2023-{:02}-{:02}T12:00:00", 1 + i % 12, 1 + i % 28)),
        camera: Some("Synthetic Camera".into()),
    }
}

struct Ctx {
    root: PathBuf,
    manifest: Manifest,
    model: String,
    dim: usize,
    pipeline: String,
    quick: bool,
    /// (target, measured, goal, verdict)
    summary: Vec<(String, String, String, String)>,
}

impl Ctx {
    fn verdict(&mut self, target: &str, measured: f64, goal: f64, unit: &str, note: &str) {
        let met = if measured <= goal { "MET" } else { "MISSED" };
        let fmt = |x: f64| if unit == "ms" { format!("{x:.2} ms") } else { format!("{x:.2} s") };
        self.summary.push((target.into(), fmt(measured), format!("≤ {}", fmt(goal)), format!("{met} {note}")));
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let quick = args.iter().any(|a| a == "quick");
    let chosen: Vec<&str> = args.iter().map(String::as_str).filter(|a| ["check", "erase", "audit"].contains(a)).collect();
    let run = |s: &str| chosen.is_empty() || chosen.contains(&s);
    let manifest = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")).expect("models/models.toml");
    let temp = tempfile::tempdir().expect("temporary folder");
    let root = match std::env::var_os("FACEGATE_BENCH_KEEP") {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            PathBuf::from(d)
        }
        None => temp.path().to_path_buf(),
    }
    .canonicalize()
    .unwrap();
    let mut ctx = Ctx {
        root,
        model: manifest.embedder.model.id.clone(),
        dim: manifest.embedder.dim,
        pipeline: manifest.pipeline_id(),
        manifest,
        quick,
        summary: Vec::new(),
    };
    println!(
        "\n=== gdpr_scale{}: model {} ({}-d), {} rayon threads, {} cores ===",
        if quick { " (quick sizes)" } else { "" },
        ctx.model,
        ctx.dim,
        rayon::current_num_threads(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("  work folder: {}", ctx.root.display());
    println!("  load average at start: {} (shared cores: compare wall with cpu)", load_average());
    if run("check") {
        check_and_export(&mut ctx);
    }
    if run("erase") {
        erasure(&mut ctx);
    }
    if run("audit") {
        audit(&mut ctx);
    }
    println!("\n=== summary{} ===", if quick { " (QUICK sizes: not the targets' sizes)" } else { "" });
    println!("  {:<58} {:>12} {:>12}  verdict", "target", "measured", "goal");
    for (t, m, g, v) in &ctx.summary {
        println!("  {t:<58} {m:>12} {g:>12}  {v}");
    }
    println!("  load average at end: {}", load_average());
}

// ---------------------------------------------------------------------------------------------
// (1) check and (2) export gate on a library of N photos with 1–3 faces each.

fn check_and_export(ctx: &mut Ctx) {
    let n_photos = if ctx.quick { 10_000 } else { 100_000 };
    let n_persons = if ctx.quick { 200 } else { 2_000 };
    let n_export = if ctx.quick { 2_000 } else { 10_000 };
    let api_runs = if ctx.quick { 300 } else { 1_000 };
    let cli_runs = if ctx.quick { 10 } else { 20 };
    reset_peak();
    section(&format!("(1)+(2) library A: {n_photos} photos with 1–3 faces, {n_persons} persons"));
    let mut rng = Rng(SEED ^ 0xA);
    let dir = ctx.root.join("library-a");
    let photos_dir = ctx.root.join("photos-a");
    let mut library = Library::open(&dir, Access::Write).unwrap();

    // Photos: real files, random unit embeddings; face k (insertion order) gets id k + 1.
    let mut paths = Vec::with_capacity(n_photos);
    let mut photo_of_face: Vec<usize> = Vec::new();
    let (mut t_files, mut t_write) = (Duration::ZERO, Duration::ZERO);
    for start in (0..n_photos).step_by(1000) {
        let mut records = Vec::with_capacity(1000);
        for i in start..(start + 1000).min(n_photos) {
            let folder = photos_dir.join(format!("{:03}", i / 1000));
            let path = folder.join(format!("{i:08}.jpg"));
            let ((size, mtime_ns, content_hash), t) = timed(|| {
                if i % 1000 == 0 {
                    std::fs::create_dir_all(&folder).unwrap();
                }
                write_photo(&path, format!("synthetic photo {i}\n").as_bytes())
            });
            t_files += t;
            let k = 1 + rng.below(3);
            let faces = (0..k).map(|j| Face::detected(detection(j), random_unit(&mut rng, ctx.dim))).collect();
            photo_of_face.extend(std::iter::repeat(i).take(k));
            records.push(PhotoRecord::Indexed { path: path.to_string_lossy().into_owned(), size, mtime_ns, content_hash, info: info(i), faces, damage: None });
            paths.push(path);
        }
        let (_, t) = timed(|| library.store.write_batch(&records, &ctx.pipeline, &ctx.model).unwrap());
        t_write += t;
    }
    let n_faces = photo_of_face.len();
    assert_eq!(library.store.num_faces().unwrap(), n_faces);
    line("photo files written (real, a few bytes)", secs(t_files), &format!("{n_photos} files"));
    line("write_batch (1000 photos per batch)", secs(t_write), &format!("{n_faces} faces"));

    // Persons, links, purposes, consents, revocations: one transaction per call, as the CLI does.
    let (persons, t_persons) = timed(|| (0..n_persons).map(|i| library.store.add_person(Some(&format!("Person {i}")), None, false).unwrap()).collect::<Vec<PersonId>>());
    let mut confirmed: HashMap<PersonId, Vec<FaceId>> = HashMap::new();
    let mut suggested = Vec::new();
    for k in 0..n_faces {
        let (face, person) = (FaceId(k as i64 + 1), persons[rng.below(n_persons)]);
        match rng.unit() {
            r if r < 0.80 => confirmed.entry(person).or_default().push(face),
            r if r < 0.88 => suggested.push(NewLink { face, person: PersonRef::Existing(person), link: Link::Suggested, similarity: Some(0.95), by: LinkedBy::Cluster }),
            _ => {}
        }
    }
    let (_, t_move) = timed(|| {
        for (p, faces) in &confirmed {
            library.store.move_faces(faces, *p).unwrap();
        }
    });
    let (_, t_sugg) = timed(|| library.store.apply_links(0, &suggested).unwrap());
    let store = &mut library.store;
    let web = store.add_purpose("web", Some("website")).unwrap();
    let print = store.add_purpose("print", None).unwrap();
    let press = store.add_purpose("press", None).unwrap();
    let project = store.add_project("catalogue-2024", Some(date("2024-12-31"))).unwrap();
    let (mut grants, mut revocations) = (0, 0);
    let (_, t_grants) = timed(|| {
        for &p in &persons {
            if rng.unit() < 0.85 {
                let purposes = if rng.unit() < 0.5 { vec![web, print] } else { vec![web] };
                let until = (rng.unit() < 0.3).then(|| date("2023-12-31"));
                let g = NewGrant { person: p, purposes, project: None, from: date("2020-01-01"), until, source: Some("paper".into()), note: None, evidence: None };
                store.grant(&g, ACTOR).unwrap();
                grants += 1;
            }
            if rng.unit() < 0.1 {
                let g = NewGrant { person: p, purposes: vec![press], project: Some(project), from: date("2024-01-01"), until: None, source: None, note: None, evidence: None };
                store.grant(&g, ACTOR).unwrap();
                grants += 1;
            }
            if rng.unit() < 0.1 {
                store.revoke(p, Some(&[web]), date("2024-01-01"), None, ACTOR).unwrap();
                revocations += 1;
            }
        }
    });
    let n_tx = n_persons + confirmed.len() + grants + revocations;
    line("add_person", secs(t_persons), &format!("{n_persons} transactions"));
    line("move_faces (confirm, one call per person)", secs(t_move), &format!("{} faces confirmed", confirmed.values().map(Vec::len).sum::<usize>()));
    line("apply_links (suggested, one transaction)", secs(t_sugg), &format!("{} faces", suggested.len()));
    line("grant + revoke", secs(t_grants), &format!("{grants} grants, {revocations} revocations"));
    line("  small transactions, mean", ms((t_persons + t_move + t_grants) / n_tx as u32), &format!("{n_tx} commits (WAL, synchronous=FULL: one fsync each)"));
    let db_bytes: u64 = ["library.db", "library.db-wal"].iter().map(|f| dir_size(&dir.join(f))).sum();
    line("library A database on disk", mib(db_bytes), &format!("photo files {}", mib(dir_size(&photos_dir))));

    // -- (1) check one photo, in-process: Gate::new + check_path, a fresh gate each time (as the CLI).
    let using = Use { purpose: "web".into(), project: None, on: date("2024-06-01"), min_face_px: 0.0 };
    let pick: Vec<usize> = (0..api_runs + 50).map(|_| rng.below(n_photos)).collect();
    let mut times = Vec::new();
    let mut allowed = 0;
    let store = &library.store;
    for (r, &i) in pick.iter().enumerate() {
        let (d, t) = timed(|| {
            let mut gate = Gate::new(store, using.clone()).unwrap();
            gate.check_path(&paths[i]).unwrap()
        });
        assert!(d.error.is_none() && d.photo_id.is_some(), "gate error on {}: {:?}", paths[i].display(), d.reasons);
        if r >= 50 {
            // the first 50 warm the page cache and the statement cache
            times.push(t);
            allowed += d.allowed as usize;
        }
    }
    let (api_median, note) = spread(times);
    section("(1) check one photo (warm)");
    line("Gate::new + check_path, median", ms(api_median), &format!("{note}; {allowed} allowed"));
    ctx.verdict(&format!("(1) check, in-process (Gate::new+check_path), {n_photos} photos"), api_median.as_secs_f64() * 1e3, 20.0, "ms", "");
    // The fixed costs a CLI process pays besides the gate: opening the library (PRAGMA quick_check
    // reads the whole database), and the audit entry (another open + one fsync'd transaction).
    let mut opens = Vec::new();
    for _ in 0..5 {
        opens.push(timed(|| Library::open(&dir, Access::Read).unwrap()).1);
    }
    let (open_median, note) = spread(opens);
    line("Library::open(Read)", ms(open_median), &note);
    let (_, t_qc) = timed(|| library.store.check_integrity().unwrap());
    line("store.check_integrity (quick_check; `status` only)", ms(t_qc), "O(database size); no longer on every open");
    let mut appends = Vec::new();
    for i in 0..20 {
        appends.push(timed(|| library.store.audit(ACTOR, "check web", &[format!("photo:{i}")], "1 of 1 allowed", None).unwrap()).1);
    }
    let (append_median, note) = spread(appends);
    line("store.audit (one entry, open store)", ms(append_median), &note);

    // The whole CLI process.
    let exe = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target")).join("release/facegate");
    if exe.is_file() {
        let built = std::fs::metadata(&exe).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).map_or(String::new(), |e| format!("built {:.0} min ago", e.as_secs_f64() / 60.0));
        let cli = |args: &[&std::ffi::OsStr]| {
            let t = Instant::now();
            let status = Command::new(&exe).args(args).env("FACEGATE_ACTOR", ACTOR).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
            (status.code(), t.elapsed())
        };
        let mut bare = Vec::new();
        for _ in 0..cli_runs {
            bare.push(cli(&["--version".as_ref()]).1);
        }
        let (bare_median, _) = spread(bare);
        let (mut times, mut codes) = (Vec::new(), HashMap::new());
        let cpu_before = cpu(libc::RUSAGE_CHILDREN);
        for &i in pick.iter().take(cli_runs + 2) {
            let args: Vec<&std::ffi::OsStr> = vec!["--library".as_ref(), dir.as_os_str(), "check".as_ref(), paths[i].as_os_str(), "--purpose".as_ref(), "web".as_ref(), "--on".as_ref(), "2024-06-01".as_ref()];
            let (code, t) = cli(&args);
            times.push(t);
            *codes.entry(code).or_insert(0) += 1;
        }
        let cpu_per_run = (cpu(libc::RUSAGE_CHILDREN) - cpu_before) / times.len() as f64;
        times.drain(..2); // warm-up
        let (cli_median, note) = spread(times);
        line("CLI: facegate check PHOTO --purpose web, median", ms(cli_median), &format!("{note}; exit codes {codes:?}; cpu {:.1} ms/run", cpu_per_run * 1e3));
        line("CLI: facegate --version (process start), median", ms(bare_median), &format!("{} ({built})", exe.display()));
        line("CLI: peak RSS of a child (ru_maxrss)", mib_kb(max_rss_children_kb() as u64), "");
        ctx.verdict(&format!("(1) check, CLI process, {n_photos} photos"), cli_median.as_secs_f64() * 1e3, 20.0, "ms",
            &format!("(process start alone {:.1} ms)", bare_median.as_secs_f64() * 1e3));
    } else {
        line("CLI", "skipped".into(), &format!("{} missing: run `cargo build --release` first", exe.display()));
    }

    // -- (2) The gate part of export over N photos (the loop at the top of consent::export).
    section(&format!("(2) export gate over {n_export} photos"));
    let mut ids: Vec<PhotoId> = (1..=n_photos as i64).map(PhotoId).collect();
    rng.shuffle(&mut ids);
    ids.truncate(n_export);
    let mut runs = Vec::new();
    let mut allowed = 0;
    for _ in 0..3 {
        let ((n, a), t, c) = timed_cpu(|| {
            let store = &library.store;
            let mut gate = Gate::new(store, using.clone()).unwrap();
            let (mut n, mut a) = (0, 0);
            for &id in &ids {
                if let Some(photo) = store.gate_photo_by_id(id).unwrap() {
                    let d = gate.check(&photo).unwrap();
                    n += 1;
                    a += d.allowed as usize;
                }
            }
            (n, a)
        });
        assert_eq!(n, n_export);
        allowed = a;
        runs.push((t, c));
    }
    for (r, (t, c)) in runs.iter().enumerate() {
        line(&format!("gate_photo_by_id + Gate::check, run {}", r + 1), secs(*t), &format!("cpu {c:.2} s; {:.0} µs/photo", t.as_secs_f64() * 1e6 / n_export as f64));
    }
    let worst = runs.iter().map(|r| r.0).max().unwrap();
    line("allowed / withheld", format!("{allowed} / {}", n_export - allowed), "");
    ctx.verdict(&format!("(2) export gate, {n_export} photos (worst of 3)"), worst.as_secs_f64(), 2.0, "s", "");
    let dest = ctx.root.join("export-a");
    let (report, t_export) = timed(|| consent::export(&mut library.store, &ids, &using, &dest, true, ACTOR).unwrap());
    line("whole consent::export with --link (hard links)", secs(t_export), &format!("{} exported, {} withheld; + manifest + usage log", report.exported.len(), report.withheld.len()));
    drop(report);
    std::fs::remove_dir_all(&dest).ok();
    line("peak memory in this section (VmHWM)", mib_kb(proc_status("VmHWM:")), "bench process");
    let db_bytes: u64 = ["library.db", "library.db-wal"].iter().map(|f| dir_size(&dir.join(f))).sum();
    line("library A on disk (db + wal)", mib(db_bytes), &format!("{n_photos} photos, {n_faces} faces"));
}

// ---------------------------------------------------------------------------------------------
// (3) Erasure of a person with 1,000 photos in a library of N faces.

fn erasure(ctx: &mut Ctx) {
    let n_faces = if ctx.quick { 20_000 } else { 100_000 };
    let subject = 1_000;
    let mixed = 100; // subject photos that also show others: kept and blocked
    reset_peak();
    section(&format!("(3) library B: {n_faces} faces; the subject has {subject} confirmed faces in {subject} photos ({mixed} with others)"));
    let mut rng = Rng(SEED ^ 0xB);
    let dir = ctx.root.join("library-b");
    let photos_dir = ctx.root.join("photos-b");
    std::fs::create_dir_all(&photos_dir).unwrap();
    // (is the subject's, faces)
    let mut photos: Vec<(bool, usize)> = (0..subject).map(|i| (true, 1 + if i < mixed { 1 + rng.below(2) } else { 0 })).collect();
    let mut left = n_faces - photos.iter().map(|p| p.1).sum::<usize>();
    while left > 0 {
        let k = (1 + rng.below(3)).min(left);
        photos.push((false, k));
        left -= k;
    }
    rng.shuffle(&mut photos);
    // Embeddings as persons_scale.rs makes them: N/10 identity centres sharing 60% of a common
    // direction (different people near cosine 0.6), a face = its centre + Gaussian noise of
    // squared norm uniform in [0, 0.075]. Uniformly random unit vectors (FACEGATE_BENCH_RANDOM=1)
    // are the HNSW worst case: every distance is about 1, so nothing prunes the search.
    let random = std::env::var("FACEGATE_BENCH_RANDOM").is_ok_and(|v| v == "1");
    let common = random_unit(&mut rng, ctx.dim);
    let identity = |rng: &mut Rng| {
        let r = random_unit(rng, ctx.dim);
        unit_vector(r.iter().zip(&common).map(|(x, c)| 0.6f64.sqrt() * *c as f64 + 0.4f64.sqrt() * *x as f64).collect())
    };
    let centres: Vec<Vec<f32>> = (0..n_faces / 10).map(|_| identity(&mut rng)).collect();
    let face_near = |rng: &mut Rng, c: &[f32], s2: f64| {
        let s = (s2 / ctx.dim as f64).sqrt();
        unit_vector(c.iter().map(|&x| x as f64 + s * rng.gauss()).collect())
    };
    // The subject: its own centre, noise of squared norm 0.03 (pairwise cosine ≈ 0.97 ≥ 0.93).
    let centre = identity(&mut rng);
    let mut subject_faces = Vec::new();
    let mut subject_files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut library = Library::open(&dir, Access::Write).unwrap();
    let mut face_k = 0i64;
    let (_, t_write) = timed(|| {
        for (b, chunk) in photos.chunks(1000).enumerate() {
            let mut records = Vec::new();
            for (j, &(mine, k)) in chunk.iter().enumerate() {
                let i = b * 1000 + j;
                let path = photos_dir.join(format!("{i:08}.jpg"));
                let (size, mtime_ns, content_hash) = if mine {
                    let bytes = format!("subject photo {i}\n").into_bytes();
                    let meta = write_photo(&path, &bytes);
                    subject_files.push((path.clone(), bytes));
                    meta
                } else {
                    (2_000_000, 1_700_000_000_000_000_000 + i as i64, format!("{:016x}{:016x}", SEED, i))
                };
                let faces = (0..k)
                    .map(|f| {
                        face_k += 1;
                        let v = if mine && f == 0 {
                            subject_faces.push(FaceId(face_k));
                            face_near(&mut rng, &centre, 0.03)
                        } else if random {
                            random_unit(&mut rng, ctx.dim)
                        } else {
                            let c = &centres[rng.below(centres.len())];
                            let s2 = rng.unit() * 0.075;
                            face_near(&mut rng, c, s2)
                        };
                        Face::detected(detection(f), v)
                    })
                    .collect();
                records.push(PhotoRecord::Indexed { path: path.to_string_lossy().into_owned(), size, mtime_ns, content_hash, info: info(i), faces, damage: None });
            }
            library.store.write_batch(&records, &ctx.pipeline, &ctx.model).unwrap();
        }
    });
    assert_eq!(library.store.num_faces().unwrap(), n_faces);
    let stored = library.store.face_vectors(&subject_faces[..1]).unwrap();
    assert!(dot(&stored[0].1, &centre) > 0.95, "face ids do not follow insertion order");
    line("write_batch, all photos", secs(t_write), &format!("{} photos, {subject} real files; {} embeddings",
        photos.len(), if random { "uniformly random".to_string() } else { format!("{} identities", centres.len()) }));
    let store = &mut library.store;
    let person = store.add_person(Some("Subject"), Some("subject@example.org"), false).unwrap();
    store.move_faces(&subject_faces, person).unwrap();
    let web = store.add_purpose("web", None).unwrap();
    let print = store.add_purpose("print", None).unwrap();
    let form = ctx.root.join("consent-form.pdf");
    std::fs::write(&form, b"signed form").unwrap();
    let evidence = consent::store_evidence(&library.dir, &form).unwrap();
    let store = &mut library.store;
    store.grant(&NewGrant { person, purposes: vec![web, print], project: None, from: date("2020-01-01"), until: None, source: Some("paper".into()), note: None, evidence: Some(evidence) }, ACTOR).unwrap();
    store.revoke(person, Some(&[print]), date("2024-01-01"), None, ACTOR).unwrap();
    let ((index, sync), t_index, c_index) = timed_cpu(|| FaceIndex::open(&library.index_dir(), &library.store, &ctx.model, ctx.dim, true).unwrap());
    line("FaceIndex::open: initial build + save", secs(t_index), &format!("{sync:?}; cpu {c_index:.1} s"));
    drop(index);
    let lib_bytes = dir_size(&dir);
    line("library B on disk (db + index)", mib(lib_bytes), &format!("index {}", mib(dir_size(&library.index_dir()))));
    drop(library);
    let copy = ctx.root.join("library-b2");
    copy_dir(&dir, &copy);

    // The real thing: plan, then execute, on library B.
    let certs = ctx.root.join("certificates");
    let opts = Options { person, reason: "bench".into(), files: Files::Delete, include_suggestions: false, actor: ACTOR.into(), certificate_dir: certs.clone() };
    let mut library = Library::open(&dir, Access::Write).unwrap();
    let (plan, t_plan, c_plan) = timed_cpu(|| erase::plan(&library, &ctx.manifest, &opts).unwrap());
    let deleting = plan.photos.iter().filter(|p| p.action == "delete").count();
    line("erase::plan", secs(t_plan), &format!("cpu {c_plan:.2} s; {} photos ({deleting} to delete), {} faces", plan.photos.len(), plan.faces));
    assert_eq!(plan.photos.len(), subject, "the plan should find every photo of the subject");
    let (report, t_exec, c_exec) = timed_cpu(|| erase::execute(&mut library, &ctx.manifest, &plan, &opts).unwrap());
    line("erase::execute (Files::Delete)", secs(t_exec), &format!("cpu {c_exec:.2} s; {} files deleted, {} kept, {} faces, {} index points after",
        report.files_deleted.len(), report.photos_kept_blocked.len(), report.faces_removed, report.index_points_after_rebuild));
    let total = t_plan + t_exec;
    line("plan + execute", secs(total), "target ≤ 30 s");
    drop(library);

    // The same again on the copy, step by step (execute's steps replayed with the same calls).
    section("(3) breakdown, replayed on a copy of library B");
    for (p, bytes) in &subject_files {
        std::fs::write(p, bytes).unwrap();
    }
    let mut library = Library::open(&copy, Access::Write).unwrap();
    let opts = Options { certificate_dir: ctx.root.join("certificates2"), ..opts };
    let (plan2, t_plan2) = timed(|| erase::plan(&library, &ctx.manifest, &opts).unwrap());
    line("erase::plan again (warm)", secs(t_plan2), "");
    let threshold = ctx.manifest.embedder.match_threshold;
    let (_, t_pp) = timed(|| query::person_photos(&library, &ctx.manifest, person, threshold, Method::Exact).unwrap());
    line("  query::person_photos(Exact)", secs(t_pp), "");
    let (vectors, t_pool) = timed(|| ann::exact_vectors(&library.index_dir(), &library.store, &ctx.model, ctx.dim).unwrap());
    line("    exact_vectors (vector file + newer faces)", secs(t_pool), &format!("{} vectors", vectors.len()));
    let stored = library.store.face_vectors(&subject_faces).unwrap();
    let queries: Vec<Query> = stored.iter().map(|(id, v)| Query { face: Some(*id), vector: v }).collect();
    let (hits, t_dots) = timed(|| vectors.matches(&queries, threshold).len());
    line("    Vectors::matches (1000 queries, grouped)", secs(t_dots), &format!("{hits} faces match"));
    drop(vectors);
    let (_, t_loop) = timed(|| {
        for p in &plan2.photos {
            let photo = library.store.gate_photo_by_id(p.photo_id).unwrap().unwrap();
            std::hint::black_box(library.store.gate_faces(p.photo_id).unwrap());
            std::hint::black_box(std::fs::read(&photo.path).ok().map(|b| hex::encode(Sha256::digest(&b))));
        }
    });
    line("  per photo: rows + faces + read + sha256", secs(t_loop), &format!("{} photos", plan2.photos.len()));
    let mine: std::collections::HashSet<FaceId> = subject_faces.iter().copied().collect();
    let keep_photos = plan2
        .photos
        .iter()
        .filter(|p| p.action == "keep")
        .map(|p| (p.photo_id, library.store.gate_faces(p.photo_id).unwrap().into_iter().filter(|f| mine.contains(&f.id)).map(|f| (f.id, f.rect)).collect()))
        .collect();
    let db_plan = ErasurePlan {
        person,
        reason: opts.reason.clone(),
        mode: "delete-files".into(),
        actor: ACTOR.into(),
        remove_photos: plan2.photos.iter().filter(|p| p.action != "keep").map(|p| (p.photo_id, p.sha256.clone())).collect(),
        keep_photos,
        summary: serde_json::json!({}),
    };
    // The journal entry is what the erasure job would record; the bench does its steps itself.
    let (erased, t_sql) = timed(|| library.store.erase_person(&db_plan, |e| format!("{{\"faces_removed\":{}}}", e.faces_removed)).unwrap());
    let wal = dir_size(&copy.join("library.db-wal"));
    line("execute: erase_person (one SQL transaction)", secs(t_sql), &format!("{} faces removed; WAL now {}", erased.faces_removed, mib(wal)));
    let (_, t_files) = timed(|| {
        for p in plan2.photos.iter().filter(|p| p.action != "keep") {
            std::fs::remove_file(&p.path).unwrap();
        }
    });
    line("execute: delete files", secs(t_files), "");
    let ((index, sync), t_rebuild, c_rebuild) =
        timed_cpu(|| FaceIndex::open(&library.index_dir(), &library.store, &ctx.model, ctx.dim, true).unwrap());
    line("execute: index without the erased faces (FaceIndex::open)", secs(t_rebuild), &format!("cpu {c_rebuild:.1} s; {sync:?}; {} points", index.len()));
    // recall@10 of the compacted graph against brute force on 200 stored vectors (search ef 64,
    // as FaceIndex::nearest), beside that of a graph built from scratch when FACEGATE_BENCH_PROTO=1.
    {
        let data = library.store.embeddings_after(&ctx.model, FaceId(0)).unwrap();
        let mut rng = Rng(SEED ^ 0xD);
        let sample: Vec<usize> = (0..200).map(|_| rng.below(data.len())).collect();
        let truth: Vec<Vec<usize>> = sample
            .par_iter()
            .map(|&i| {
                let mut all: Vec<(f32, usize)> = data.iter().map(|(id, v)| (dot(&data[i].1, v), id.0 as usize)).collect();
                all.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
                all[..10].iter().map(|x| x.1).collect()
            })
            .collect();
        let recall = |search: &dyn Fn(&[f32]) -> Vec<usize>| {
            let found: usize = sample.iter().zip(&truth).map(|(&i, t)| search(&data[i].1).iter().filter(|id| t.contains(id)).count()).sum();
            found as f64 / (10 * sample.len()) as f64
        };
        let r = recall(&|q| index.nearest(q, 10).iter().map(|h| h.0 .0 as usize).collect());
        line("  recall@10 of the compacted index", format!("{r:.4}"), "200 queries vs brute force");
        if std::env::var("FACEGATE_BENCH_PROTO").is_ok_and(|v| v == "1") {
            let fresh = tempfile::tempdir().unwrap();
            let ((built, _), t_proto) = timed(|| FaceIndex::open(fresh.path(), &library.store, &ctx.model, ctx.dim, false).unwrap());
            let r = recall(&|q| built.nearest(q, 10).iter().map(|h| h.0 .0 as usize).collect());
            line("  for comparison: built from scratch", secs(t_proto), &format!("recall@10 {r:.4} (no save)"));
        }
    }
    drop(index);
    let (_, t_audit) = timed(|| library.store.audit(ACTOR, "erase", &[format!("person:{}", person.0)], "bench", None).unwrap());
    let (_, t_ckpt) = timed(|| library.store.checkpoint().unwrap());
    line("execute: audit entry", ms(t_audit), "");
    line("execute: checkpoint (TRUNCATE)", secs(t_ckpt), "");
    let parts = [("exact scan (plan)", t_pp), ("plan per-photo loop", t_loop), ("SQL transaction", t_sql), ("file deletion", t_files), ("index compaction", t_rebuild), ("checkpoint", t_ckpt)];
    let (big, tb) = parts.iter().max_by_key(|p| p.1).unwrap();
    line("dominant part", secs(*tb), big);
    line("peak memory in this section (VmHWM)", mib_kb(proc_status("VmHWM:")), "bench process, incl. the breakdown");
    line("library B on disk after erasure", mib(dir_size(&dir)), "");
    ctx.verdict(&format!("(3) erase 1000 photos, {n_faces} faces (plan+execute)"), total.as_secs_f64(), 30.0, "s",
        &format!("(plan {:.1} s, execute {:.1} s; biggest part: {big} {:.1} s)", t_plan.as_secs_f64(), t_exec.as_secs_f64(), tb.as_secs_f64()));
}

// ---------------------------------------------------------------------------------------------
// (4) audit verify over N entries.

fn audit(ctx: &mut Ctx) {
    let n = if ctx.quick { 100_000 } else { 1_000_000 };
    let api_n = if ctx.quick { 300 } else { 1_000 };
    reset_peak();
    section(&format!("(4) audit trail: {n} entries"));
    let dir = ctx.root.join("library-c");
    let mut library = Library::open(&dir, Access::Write).unwrap();
    let append = |library: &mut Library, count: usize| {
        let mut times = Vec::with_capacity(count);
        for i in 0..count {
            times.push(timed(|| library.store.audit(ACTOR, "check web", &[format!("photo:{i}")], "1 of 1 allowed", Some("web")).unwrap()).1);
        }
        let total: Duration = times.iter().sum();
        let (m, note) = spread(times);
        (m, total / count as u32, note)
    };
    let (m0, mean0, note) = append(&mut library, api_n);
    line("store.audit, empty trail, median", ms(m0), &format!("mean {}; {note}", ms(mean0)));
    line(&format!("  {n} entries through the API would take"), format!("{:.0} s", mean0.as_secs_f64() * n as f64), "so the bench writes the rest directly");
    drop(library);

    // Fill directly, same hash rule, 50,000 entries per transaction.
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch("PRAGMA synchronous = NORMAL;").unwrap();
    let (mut id, mut prev): (i64, String) = conn.query_row("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let actors = ["alice", "bob", "carol", "dave"];
    let commands = ["check web", "export", "person name", "consent grant", "search", "index", "person photos"];
    let base = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    let mut rng = Rng(SEED ^ 0xC);
    let (_, t_fill) = timed(|| {
        let mut conn = conn;
        while (id as usize) < n {
            let tx = conn.transaction().unwrap();
            {
                let mut stmt = tx.prepare("INSERT INTO audit (id, at, actor, command, subjects, outcome, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)").unwrap();
                for _ in 0..50_000 {
                    if id as usize >= n {
                        break;
                    }
                    id += 1;
                    let at = (base + chrono::Duration::seconds(id * 7)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
                    let subjects: Vec<String> = (0..1 + rng.below(3)).map(|_| format!("photo:{}", rng.below(100_000))).collect();
                    let subjects = serde_json::to_string(&subjects).unwrap();
                    let (actor, command) = (actors[rng.below(actors.len())], commands[rng.below(commands.len())]);
                    let outcome = format!("{} of {} allowed", rng.below(3), 3);
                    let detail = (rng.below(2) == 0).then_some("web");
                    let hash = facegate::store::entry_hash(&prev, id, &at, actor, command, &subjects, &outcome, detail);
                    stmt.execute(rusqlite::params![id, at, actor, command, subjects, outcome, detail, prev, hash]).unwrap();
                    prev = hash;
                }
            }
            tx.commit().unwrap();
        }
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    });
    line("direct fill (rusqlite, 50k per transaction)", secs(t_fill), &format!("{} entries", n - api_n));
    let db = dir_size(&dir.join(DB_FILE));
    line("audit database on disk", mib(db), &format!("{:.0} bytes/entry", db as f64 / n as f64));

    let (mut library, t_open) = timed(|| Library::open(&dir, Access::Write).unwrap());
    line("Library::open on the full trail", ms(t_open), "");
    let (_, t_qc) = timed(|| library.store.check_integrity().unwrap());
    line("store.check_integrity (`status`)", ms(t_qc), "grows with the trail");
    let mut verifies = Vec::new();
    for _ in 0..2 {
        let (v, t, c) = timed_cpu(|| library.store.audit_verify().unwrap());
        assert!(v.ok && v.entries == n, "the chain does not verify: {v:?}");
        line("store.audit_verify()", secs(t), &format!("cpu {c:.2} s; {} entries ok", v.entries));
        verifies.push(t);
    }
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    let (_, t_read) = timed(|| {
        let mut stmt = conn.prepare("SELECT id, at, actor, command, subjects, outcome, detail, prev_hash, hash FROM audit ORDER BY id").unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut bytes = 0usize;
        while let Some(r) = rows.next().unwrap() {
            for c in [1, 2, 3, 4, 5, 7, 8] {
                bytes += r.get::<_, String>(c).unwrap().len();
            }
        }
        bytes
    });
    let (_, t_hash) = timed(|| {
        let mut prev = "0".repeat(64);
        for i in 0..n as i64 {
            prev = facegate::store::entry_hash(&prev, i, "2024-01-01T00:00:00Z", "alice", "check web", "[\"photo:12345\"]", "1 of 3 allowed", Some("web"));
        }
        prev
    });
    drop(conn);
    line("  reading every row alone (rusqlite)", secs(t_read), "");
    line("  entry_hash × N alone (same code)", secs(t_hash), &format!("{:.2} µs each", t_hash.as_secs_f64() * 1e6 / n as f64));
    let (m1, mean1, note) = append(&mut library, api_n / 5);
    line(&format!("store.audit at {n} entries, median"), ms(m1), &format!("mean {}; {note}", ms(mean1)));
    line("peak memory in this section (VmHWM)", mib_kb(proc_status("VmHWM:")), "bench process");
    let worst = verifies.into_iter().max().unwrap();
    ctx.verdict(&format!("(4) audit verify, {n} entries (worst of 2)"), worst.as_secs_f64(), 10.0, "s", "");
    ctx.summary.push(("    audit append via the API, per entry (empty / full trail)".into(), format!("{} / {}", ms(mean0), ms(mean1)), "-".into(), "no target: every command pays it".into()));
}
