//! Scale of the person layer on synthetic clustered embeddings (128-d, the embedder's dimension):
//! build the HNSW index, cluster every face, add 1,000 faces to the library, list the photos of a
//! person with 1,000 confirmed faces, and the peak memory and on-disk size. Everything goes
//! through the library's real code paths (`Store::write_batch`, `FaceIndex::open`,
//! `cluster::run`, `query::person_photos`) on a temporary library; no model is run.
//!
//!     cargo bench --bench persons_scale                  # 100,000 faces
//!     cargo bench --bench persons_scale -- 10000         # a quick check
//!     FACEGATE_BENCH_SIZES=10000,30000,100000 cargo bench --bench persons_scale
//!                                                        # growth: each size in its own process
//!
//! Environment: `FACEGATE_BENCH_BREAKDOWN=0` skips the per-part timings (they repeat work: the
//! neighbour searches of the full clustering run are done once more, in parallel, and its links
//! are written a second time); `FACEGATE_BENCH_KEEP=DIR` builds the library in DIR and keeps it.
//!
//! The synthetic world (deterministic, fixed seed): N/10 identities; identity 0 (the "subject")
//! has exactly 1,000 faces, from 20,000 faces on two more have 1,500 and 1,200; of the rest 30%
//! have one face and the others a heavy-tailed number (capped at 300). An identity is a unit
//! centre sharing 60% of a common direction (so different people sit near cosine 0.6, as real
//! embeddings crowd into a cone rather than spreading over the sphere); a face is its centre plus
//! isotropic Gaussian noise, renormalised, which puts same-identity cosines at about 0.93–0.99.
//! Photos hold 1–4 faces and never two faces of one identity. The realised similarity
//! distributions are printed.
//!
//! Also reported: clustering quality (pairwise precision/recall over all faces against the
//! synthetic identities, how the big identities split), the index's recall against brute force
//! and how many faces their own vector cannot find, whether `person photos` for a person with
//! only 10 confirmed faces finds the same photos with the index as with the exact search, CPU
//! time beside wall time (the machine may be shared), each phase's peak RSS (the peak mark is
//! reset before each phase, so the breakdowns' own copies do not count) and the on-disk sizes.
//! Lines marked "prototype" or "proposed" time code that lives only in this bench.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use common::*;
use facegate::ann::{self, dot, FaceIndex, Query};
use facegate::cluster::{self, Mode, Params, Scope};
use facegate::library::{Access, Library};
use facegate::query::{self, Method};
use facegate::store::{FaceId, FaceState, Link, PersonId, PhotoRecord};
use facegate::vision::Manifest;

const SEED: u64 = 0x5EED_FACE_0001;
const SUBJECT_FACES: usize = 1000;
const NEW_FACES: usize = 1000;
const BATCH_PHOTOS: usize = 1000;
/// Runs of each `person photos` timing (fewer when the runs add up to more than RUN_BUDGET).
const PHOTO_RUNS: usize = 5;
const RUN_BUDGET: Duration = Duration::from_secs(40);

/// Faces per identity; identity 0 is the subject.
fn identity_sizes(n: usize, rng: &mut Rng) -> Vec<usize> {
    let bigs: Vec<usize> = if n >= 20_000 { vec![SUBJECT_FACES, 1500, 1200] } else { vec![SUBJECT_FACES] };
    let big_total: usize = bigs.iter().sum();
    assert!(n >= big_total + 1000, "N must be at least {}", big_total + 1000);
    let n_ids = (n / 10).max(bigs.len() + 50);
    let rest_faces = n - big_total;
    let rest_ids = n_ids - bigs.len();
    let mean = rest_faces as f64 / rest_ids as f64;
    // 30% singletons; the others 2 + c·E^1.5 (E exponential, mean of E^1.5 = Γ(2.5) ≈ 1.33).
    let c = (((mean - 0.3) / 0.7 - 2.0) / 1.329).max(0.1);
    let mut rest: Vec<usize> = (0..rest_ids)
        .map(|_| if rng.unit() < 0.3 { 1 } else { (2.0 + c * (-rng.unit().ln()).powf(1.5)).round().min(300.0) as usize })
        .collect();
    let mut sum: usize = rest.iter().sum();
    while sum < rest_faces {
        let i = rng.below(rest.len());
        if rest[i] >= 2 && rest[i] < 300 {
            rest[i] += 1;
            sum += 1;
        }
    }
    while sum > rest_faces {
        let i = rng.below(rest.len());
        if rest[i] > 2 {
            rest[i] -= 1;
            sum -= 1;
        }
    }
    bigs.into_iter().chain(rest).collect()
}

// ---------------------------------------------------------------------------------------------
// Measuring.


/// CPU time (user + system) of this process so far, in seconds: with other work on the machine,
/// wall time alone overstates what a phase costs.
fn cpu_now() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn timed_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration, f64) {
    let c = cpu_now();
    let (out, d) = timed(f);
    (out, d, cpu_now() - c)
}

/// Per-phase peak memory: freed heap is handed back (malloc_trim) and the kernel's peak-RSS mark
/// reset (`/proc/self/clear_refs` = 5) before a phase; VmHWM after it is the phase's peak.
struct Memory {
    resettable: bool,
    base: u64,
    /// Largest phase peak so far (kB) and its phase.
    max: (u64, String),
    phases: Vec<(String, u64, u64)>,
}

impl Memory {
    fn new() -> Memory {
        Memory { resettable: true, base: 0, max: (0, String::new()), phases: Vec::new() }
    }

    fn start(&mut self) {
        // SAFETY: malloc_trim only returns free heap pages to the system.
        unsafe { libc::malloc_trim(0) };
        self.resettable &= std::fs::write("/proc/self/clear_refs", "5").is_ok();
        self.base = proc_status("VmRSS:");
    }

    /// Ends a phase; returns a note "peak X (+Y over the Z resident before)".
    fn end(&mut self, phase: &str) -> String {
        let peak = proc_status("VmHWM:");
        self.phases.push((phase.to_string(), self.base, peak));
        if peak > self.max.0 {
            self.max = (peak, phase.to_string());
        }
        format!("peak RSS {} (+{} over {} before)", mib_kb(peak), mib_kb(peak.saturating_sub(self.base)), mib_kb(self.base))
    }
}









fn quantiles(mut v: Vec<f32>) -> String {
    v.sort_by(f32::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "min {:.3}  p1 {:.3}  p5 {:.3}  median {:.3}  p95 {:.3}  p99 {:.3}  max {:.3}",
        q(0.0), q(0.01), q(0.05), q(0.5), q(0.95), q(0.99), q(1.0)
    )
}

/// Prints table rows and collects the numbers the multi-size summary needs.
struct Report {
    row: Vec<(String, String)>,
}

impl Report {
    fn section(&self, title: &str) {
        println!("\n  {title}");
    }

    fn line(&self, what: &str, value: String, note: &str) {
        println!("    {what:<46} {value:>14}  {note}");
    }

    /// A line that also goes into the summary row (numbers in seconds or MiB).
    fn key(&mut self, key: &str, what: &str, value: String, number: f64, note: &str) {
        self.line(what, value, note);
        self.row.push((key.into(), format!("{number:.4}")));
    }
}

// ---------------------------------------------------------------------------------------------
// Clustering quality against the synthetic identities.

struct Quality {
    precision: f64,
    recall: f64,
    persons: usize,
    linked: usize,
    multi_face_identities: usize,
    subject_split: Vec<usize>,
    /// For identities 1 and 2 (1,500 and 1,200 faces from 20,000 faces on): how their faces split over persons.
    big_splits: Vec<(u64, Vec<usize>)>,
}

/// Pairwise precision and recall over every face (not a sample: the contingency table is cheap).
fn quality(states: &[FaceState], ident_of: &HashMap<FaceId, u32>) -> Quality {
    let c2 = |n: u64| (n * n.saturating_sub(1) / 2) as f64;
    let mut cell: HashMap<(PersonId, u32), u64> = HashMap::new();
    let mut person_size: HashMap<PersonId, u64> = HashMap::new();
    let mut ident_size: HashMap<u32, u64> = HashMap::new();
    let mut linked = 0;
    for s in states {
        let Some(&i) = ident_of.get(&s.face) else { continue };
        *ident_size.entry(i).or_default() += 1;
        if let Some(p) = s.person {
            linked += 1;
            *cell.entry((p, i)).or_default() += 1;
            *person_size.entry(p).or_default() += 1;
        }
    }
    let tp: f64 = cell.values().map(|&n| c2(n)).sum();
    let predicted: f64 = person_size.values().map(|&n| c2(n)).sum();
    let actual: f64 = ident_size.values().map(|&n| c2(n)).sum();
    let split = |ident: u32| {
        let mut v: Vec<usize> = cell.iter().filter(|((_, i), _)| *i == ident).map(|(_, &n)| n as usize).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    };
    let subject_split = split(0);
    let big_splits = [1u32, 2].iter().filter(|i| ident_size.get(i).is_some_and(|&n| n >= 1000)).map(|&i| (ident_size[&i], split(i))).collect();
    Quality {
        precision: if predicted > 0.0 { tp / predicted } else { 1.0 },
        recall: if actual > 0.0 { tp / actual } else { 1.0 },
        persons: person_size.len(),
        linked,
        multi_face_identities: ident_size.values().filter(|&&n| n >= 2).count(),
        subject_split,
        big_splits,
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let sizes: Vec<usize> = match (args.first(), std::env::var("FACEGATE_BENCH_SIZES")) {
        (Some(a), _) => vec![parse_n(a)],
        (None, Ok(list)) => list.split(',').filter(|s| !s.trim().is_empty()).map(|s| parse_n(s.trim())).collect(),
        (None, Err(_)) => vec![100_000],
    };
    if let [n] = sizes[..] {
        run(n);
    } else {
        growth(&sizes);
    }
}

fn parse_n(s: &str) -> usize {
    let s = s.to_ascii_lowercase().replace('_', "");
    let (num, mult) = match s.strip_suffix('k') {
        Some(x) => (x.to_string(), 1000),
        None => (s.clone(), 1),
    };
    num.parse::<usize>().map(|n| n * mult).unwrap_or_else(|_| panic!("not a face count: {s}"))
}

/// Runs each size in a child process (so each has its own peak memory) and prints how the
/// costs grow.
fn growth(sizes: &[usize]) {
    let exe = std::env::current_exe().expect("own executable");
    let mut rows: Vec<(usize, BTreeMap<String, f64>)> = Vec::new();
    for &n in sizes {
        let mut child = Command::new(&exe)
            .arg(n.to_string())
            .env_remove("FACEGATE_BENCH_SIZES")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the bench for one size");
        let mut row = BTreeMap::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("@row ") {
                for kv in rest.split_whitespace() {
                    if let Some((k, v)) = kv.split_once('=') {
                        row.insert(k.to_string(), v.parse().unwrap_or(f64::NAN));
                    }
                }
            } else {
                println!("{line}");
            }
        }
        assert!(child.wait().expect("bench child").success(), "the bench for {n} faces failed");
        rows.push((n, row));
    }
    let keys: &[(&str, &str)] = &[
        ("write_s", "write library (s)"),
        ("index_build_s", "build HNSW index (s)"),
        ("index_recall", "index recall@32 vs exact"),
        ("index_self_subject", "subject faces its own vector finds"),
        ("cluster_full_s", "cluster all, Full (s)"),
        ("cluster_full_cpu_s", "  cpu time (s)"),
        ("cluster_neigh_seq_est_s", "  of which neighbour search, est. (s)"),
        ("cluster_apply_s", "  of which apply_links (s)"),
        ("precision", "pairwise precision"),
        ("recall", "pairwise recall"),
        ("add_write_s", "add 1000: write_batch (s)"),
        ("add_index_s", "add 1000: FaceIndex::open (s)"),
        ("add_cluster_s", "add 1000: cluster Incremental (s)"),
        ("add_total_s", "add 1000: index + cluster (s)"),
        ("index_load_s", "FaceIndex::open, up to date (s)"),
        ("pp_index_s", "person photos, Index, median (s)"),
        ("pp_exact_s", "person photos, Exact, median (s)"),
        ("pp_few_index_vs_exact", "10-face person: Index finds of Exact"),
        ("hwm_mib", "peak memory VmHWM (MiB)"),
        ("db_mib", "database on disk (MiB)"),
        ("index_mib", "index on disk (MiB)"),
    ];
    println!("\n=== persons_scale: growth with library size ===");
    print!("  {:<40}", "faces");
    for (n, _) in &rows {
        print!("{n:>12}");
    }
    println!("{:>12}", "exponent");
    for (key, label) in keys {
        print!("  {label:<40}");
        for (_, row) in &rows {
            match row.get(*key) {
                Some(v) => print!("{v:>12.3}"),
                None => print!("{:>12}", "-"),
            }
        }
        // Growth exponent b in cost ∝ N^b between the smallest and largest size.
        let (first, last) = (&rows[0], &rows[rows.len() - 1]);
        match (first.1.get(*key), last.1.get(*key)) {
            (Some(&a), Some(&b)) if a > 0.0 && b > 0.0 && (key.ends_with("_s") || key.ends_with("_mib")) => {
                println!("{:>12.2}", (b / a).ln() / (last.0 as f64 / first.0 as f64).ln())
            }
            _ => println!(),
        }
    }
    println!("  (exponent: b in cost ∝ N^b between the smallest and the largest size; 1 = linear)");
}

fn run(n: usize) {
    let manifest = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")).expect("models/models.toml");
    let model = manifest.embedder.model.id.clone();
    let dim = manifest.embedder.dim;
    let pipeline = manifest.pipeline_id();
    let params = Params::default();
    let breakdown = std::env::var("FACEGATE_BENCH_BREAKDOWN").map(|v| v != "0").unwrap_or(true);
    let temp;
    let dir: PathBuf = match std::env::var_os("FACEGATE_BENCH_KEEP") {
        Some(d) => {
            let d = PathBuf::from(d);
            assert!(!d.join("library.db").exists(), "{} already holds a library", d.display());
            d
        }
        None => {
            temp = tempfile::tempdir().expect("temporary folder");
            temp.path().join("library")
        }
    };
    let mut rep = Report { row: vec![("n".into(), n.to_string())] };
    println!("\n=== persons_scale: {n} faces, model {model} ({dim}-d), {} rayon threads ===", rayon::current_num_threads());
    println!("  library: {}", dir.display());
    println!("  load average at start: {} (2 cores here are shared: compare wall with cpu)", load_average());

    // -- The synthetic world.
    let (mut world, t_gen) = timed(|| World::new(SEED, dim, |rng| identity_sizes(n, rng)));
    let faces_of = world.faces_of();
    let mut sizes: Vec<usize> = faces_of.values().map(Vec::len).collect();
    sizes.sort_unstable();
    rep.section("synthetic data");
    rep.line("identities", world.centres.len().to_string(), &format!(
        "{} with one face, median {} faces, largest {:?}",
        sizes.iter().filter(|&&s| s == 1).count(),
        sizes[sizes.len() / 2],
        &sizes[sizes.len().saturating_sub(4)..]
    ));
    let per_photo = world.photos.iter().fold([0usize; 4], |mut a, &(_, l)| {
        a[l - 1] += 1;
        a
    });
    rep.line("photos", world.photos.len().to_string(), &format!("with 1/2/3/4 faces: {per_photo:?}"));
    {
        let mut rng = Rng::new(SEED ^ 0xD15);
        let multi: Vec<&Vec<usize>> = faces_of.values().filter(|f| f.len() >= 2).collect();
        let same: Vec<f32> = (0..20_000)
            .map(|_| {
                let f = multi[rng.below(multi.len())];
                let a = f[rng.below(f.len())];
                let b = loop {
                    let b = f[rng.below(f.len())];
                    if b != a {
                        break b;
                    }
                };
                dot(&world.face_vector(a), &world.face_vector(b))
            })
            .collect();
        let above_pair = same.iter().filter(|&&s| s >= params.pair).count() as f64 / same.len() as f64;
        let diff: Vec<f32> = (0..20_000)
            .filter_map(|_| {
                let (a, b) = (rng.below(n), rng.below(n));
                (world.ident[a] != world.ident[b]).then(|| dot(&world.face_vector(a), &world.face_vector(b)))
            })
            .collect();
        rep.line("same identity cosine (20k pairs)", String::new(), &quantiles(same));
        rep.line("", String::new(), &format!("{:.1}% of them ≥ pair threshold {}", 100.0 * above_pair, params.pair));
        rep.line("different identities cosine (20k pairs)", String::new(), &quantiles(diff));
        // Nearest other identity of a few faces: the worst case a face meets in the index.
        let probe: Vec<usize> = (0..200).map(|_| rng.below(n)).collect();
        let probe_vecs: Vec<Vec<f32>> = probe.iter().map(|&a| world.face_vector(a)).collect();
        let nearest_other: Vec<f32> = (0..n)
            .into_par_iter()
            .fold(
                || vec![-1f32; probe.len()],
                |mut best, b| {
                    let vb = world.face_vector(b);
                    for (j, &a) in probe.iter().enumerate() {
                        if world.ident[a] != world.ident[b] {
                            best[j] = best[j].max(dot(&probe_vecs[j], &vb));
                        }
                    }
                    best
                },
            )
            .reduce(|| vec![-1f32; probe.len()], |a, b| a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect());
        rep.line("nearest other-identity face (200 faces)", String::new(), &quantiles(nearest_other));
    }
    rep.line("generate", secs(t_gen), "");

    // -- Write the library in batches, as `facegate index` does.
    let mut library = Library::open(&dir, Access::Write).expect("open library");
    let mut mem = Memory::new();
    mem.start();
    let t = Instant::now();
    let mut written = 0;
    for chunk in (0..world.photos.len()).collect::<Vec<_>>().chunks(BATCH_PHOTOS) {
        let records: Vec<PhotoRecord> = chunk.iter().map(|&p| world.record(p)).collect();
        written += library.store.write_batch(&records, &pipeline, &model).expect("write_batch");
    }
    let t_write = t.elapsed();
    assert_eq!(written, n);
    rep.section("library");
    rep.key("write_s", "write_batch, all photos (1000 per batch)", secs(t_write), t_write.as_secs_f64(), "incl. making the records");
    rep.line("", String::new(), &mem.end("write"));

    // Face ids follow insertion order: map them to identities, and check a few vectors.
    let states = library.store.face_states().unwrap();
    assert_eq!(states.len(), n);
    let mut ident_of: HashMap<FaceId, u32> = states.iter().enumerate().map(|(k, s)| (s.face, world.ident[k])).collect();
    let mut face_id_of: Vec<FaceId> = states.iter().map(|s| s.face).collect();
    for k in [0, n / 2, n - 1] {
        let stored = library.store.face_vectors(&[face_id_of[k]]).unwrap();
        assert!(dot(&stored[0].1, &world.face_vector(k)) > 0.9999, "face ids do not follow insertion order");
    }
    drop(states);

    // -- (1) Build the HNSW index.
    rep.section("(1) HNSW index");
    mem.start();
    let ((index, sync), t_index, c_index) = timed_cpu(|| FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap());
    rep.key("index_build_s", "FaceIndex::open, build + save", secs(t_index), t_index.as_secs_f64(), &format!("{sync:?}; cpu {c_index:.1} s"));
    rep.line("", String::new(), &mem.end("build index"));
    index_quality(&mut rep, &library, &index, &model, &faces_of[&0].iter().map(|&k| face_id_of[k]).collect::<Vec<_>>(), params.neighbours);

    // -- (2) Cluster everything.
    rep.section("(2) cluster::run Full");
    let mut parts: Option<(cluster::Plan, Duration, Duration, Duration, Duration, Duration, Duration)> = None;
    if breakdown {
        // The same steps as cluster::run, read-only, timed one by one.
        let (faces, t_states) = timed(|| library.store.face_states().unwrap());
        let (rejections, t_rej) = timed(|| library.store.rejections().unwrap());
        let wanted: Vec<FaceId> = faces.iter().filter(|f| f.person.is_none() || f.link == Some(Link::Suggested)).map(|f| f.face).collect();
        let (vectors, t_vec) = timed(|| library.store.face_vectors(&wanted).unwrap());
        let sample = vectors.len().min(3000);
        let (_, t_seq) = timed(|| {
            for (_, v) in &vectors[..sample] {
                std::hint::black_box(index.nearest(v, params.neighbours));
            }
        });
        let per_query = t_seq / sample as u32;
        let (near, t_par) = timed(|| {
            vectors.par_iter().map(|(f, v)| (*f, index.nearest(v, params.neighbours))).collect::<HashMap<_, _>>()
        });
        let (plan, t_plan) = timed(|| {
            cluster::plan(&faces, &rejections, |f| near.get(&f).cloned().unwrap_or_default(), &params, Scope::ALL)
        });
        drop((faces, vectors, near));
        parts = Some((plan, t_states + t_rej, t_vec, per_query * wanted.len() as u32, t_par, t_plan, per_query));
    }
    mem.start();
    let (outcome, t_cluster, c_cluster) = timed_cpu(|| cluster::run(&mut library, &index, Mode::Full, &params).unwrap());
    let note = mem.end("cluster Full");
    rep.key("cluster_full_s", "cluster::run(Full), total", secs(t_cluster), t_cluster.as_secs_f64(), &format!("cpu {c_cluster:.1} s; target ≤ 60 s at 100k"));
    rep.row.push(("cluster_full_cpu_s".into(), format!("{c_cluster:.4}")));
    rep.line("outcome", String::new(), &format!("{outcome:?}"));
    rep.line("", String::new(), &note);
    if let Some((plan, t_states, t_vec, t_seq_est, t_par, t_plan, per_query)) = parts.take() {
        rep.line("  face_states + rejections", secs(t_states), "");
        rep.line("  face_vectors (one query per face)", secs(t_vec), "");
        rep.key("cluster_neigh_seq_est_s", "  neighbour search, sequential (est.)", secs(t_seq_est), t_seq_est.as_secs_f64(),
            &format!("{:.0} µs/face × {} faces, k = {}", per_query.as_secs_f64() * 1e6, n, params.neighbours));
        rep.key("cluster_neigh_par_s", "  neighbour search, rayon (all faces)", secs(t_par), t_par.as_secs_f64(), "not what run does: the proposed prefetch");
        rep.line("  plan (given neighbours)", secs(t_plan), "");
        // Write the same plan again, timed: clear the machine's links first.
        let (_, t_clear) = timed(|| library.store.clear_machine_links().unwrap());
        let (_, t_apply) = timed(|| library.store.apply_links(plan.new_persons, &plan.links).unwrap());
        let (_, t_unassigned) = timed(|| library.store.unassigned_faces().unwrap());
        assert_eq!(plan.links.len(), outcome.faces_linked + outcome.faces_confirmed_by_rule, "the replayed plan differs");
        rep.key("cluster_apply_s", "  apply_links (replayed)", secs(t_apply), t_apply.as_secs_f64(),
            &format!("{} links, {} new persons; clear_machine_links took {}", plan.links.len(), plan.new_persons, secs(t_clear)));
        rep.line("  unassigned_faces (for the outcome)", secs(t_unassigned), "");
        let rest = t_cluster.as_secs_f64()
            - [t_states, t_vec, t_seq_est, t_plan, t_apply, t_unassigned].iter().map(Duration::as_secs_f64).sum::<f64>();
        rep.line("  unaccounted (total − parts)", format!("{rest:.2} s"), "");
    }
    let states = library.store.face_states().unwrap();
    let q = quality(&states, &ident_of);
    rep.key("precision", "pairwise precision (all faces)", format!("{:.4}", q.precision), q.precision, "vs synthetic identities");
    rep.key("recall", "pairwise recall (all faces)", format!("{:.4}", q.recall), q.recall, "");
    rep.line("persons / identities with ≥2 faces", format!("{} / {}", q.persons, q.multi_face_identities), "");
    rep.line("faces linked", format!("{} / {n}", q.linked), "");
    rep.line("subject (1000 faces) split over persons", q.subject_split.len().to_string(),
        &format!("largest parts {:?}", &q.subject_split[..q.subject_split.len().min(6)]));
    for (size, parts) in &q.big_splits {
        rep.line(&format!("a {size}-face identity split over persons"), parts.len().to_string(),
            &format!("largest parts {:?}", &parts[..parts.len().min(6)]));
    }

    // -- (3) Add 1,000 faces in new photos.
    rep.section("(3) add 1000 faces to the library");
    drop(index);
    let old_photos = world.photos.len();
    let new_faces = world.add_faces(NEW_FACES);
    let records: Vec<PhotoRecord> = (old_photos..world.photos.len()).map(|p| world.record(p)).collect();
    let (_, t_add_write) = timed(|| library.store.write_batch(&records, &pipeline, &model).unwrap());
    drop(records);
    let states = {
        let s = library.store.face_states().unwrap();
        for (k, st) in s.iter().enumerate().skip(n) {
            ident_of.insert(st.face, world.ident[k]);
            face_id_of.push(st.face);
        }
        s
    };
    assert_eq!(states.len(), new_faces.end);
    rep.key("add_write_s", "write_batch (one batch)", secs(t_add_write), t_add_write.as_secs_f64(), &format!("{} photos", world.photos.len() - old_photos));
    mem.start();
    let ((index, sync), t_add_index, c_add_index) = timed_cpu(|| FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap());
    rep.key("add_index_s", "FaceIndex::open (load + insert + save)", secs(t_add_index), t_add_index.as_secs_f64(), &format!("{sync:?}; cpu {c_add_index:.2} s"));
    let note = mem.end("add: index update");
    rep.line("", String::new(), &note);
    mem.start();
    let (outcome, t_add_cluster, c_add_cluster) = timed_cpu(|| cluster::run(&mut library, &index, Mode::Incremental, &params).unwrap());
    let note = mem.end("add: cluster Incremental");
    rep.key("add_cluster_s", "cluster::run(Incremental)", secs(t_add_cluster), t_add_cluster.as_secs_f64(), &format!("cpu {c_add_cluster:.2} s; {outcome:?}"));
    rep.line("", String::new(), &note);
    let t_add = t_add_index + t_add_cluster;
    rep.key("add_total_s", "index update + clustering", secs(t_add), t_add.as_secs_f64(), "target ≤ 5 s at 100k");
    {
        // Were the new faces put with the person holding most of their identity's old faces?
        let mut holder: HashMap<u32, HashMap<PersonId, usize>> = HashMap::new();
        for s in &states[..n] {
            if let Some(p) = s.person {
                *holder.entry(ident_of[&s.face]).or_default().entry(p).or_default() += 1;
            }
        }
        let majority = |i: u32| holder.get(&i).and_then(|m| m.iter().max_by_key(|(p, c)| (**c, std::cmp::Reverse(**p))).map(|(p, _)| *p));
        let after = library.store.face_states().unwrap();
        let (mut joinable, mut joined_right, mut linked) = (0, 0, 0);
        for s in &after[n..] {
            let i = ident_of[&s.face];
            let m = majority(i);
            joinable += m.is_some() as usize;
            linked += s.person.is_some() as usize;
            joined_right += (m.is_some() && s.person == m) as usize;
        }
        rep.line("new faces linked", format!("{linked} / {NEW_FACES}"), &format!(
            "{joined_right} of the {joinable} whose identity already had a person joined that person"
        ));
        let q = quality(&after, &ident_of);
        rep.line("pairwise precision / recall after", format!("{:.4} / {:.4}", q.precision, q.recall), "");
    }
    if breakdown {
        let (_, t_states) = timed(|| library.store.face_states().unwrap());
        let (_, t_unassigned) = timed(|| library.store.unassigned_faces().unwrap());
        rep.line("  of which face_states (all faces)", secs(t_states), "read again, for the breakdown");
        rep.line("  of which unassigned_faces (all unlinked)", secs(t_unassigned), "");
    }
    drop(index);
    mem.start();
    let ((index, sync), t_load) = timed(|| FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap());
    rep.key("index_load_s", "FaceIndex::open when up to date (load only)", secs(t_load), t_load.as_secs_f64(), &format!("{sync:?}, {} points", index.len()));
    rep.line("", String::new(), &mem.end("index load"));
    drop(index); // person_photos loads its own, as the command does

    // -- (4) `person photos` for the person holding the subject's 1,000 faces.
    rep.section("(4) person photos: 1000 confirmed faces");
    let subject_faces: Vec<FaceId> = faces_of[&0].iter().map(|&k| face_id_of[k]).collect();
    assert_eq!(subject_faces.len(), SUBJECT_FACES);
    let states = library.store.face_states().unwrap();
    let mut count: HashMap<PersonId, usize> = HashMap::new();
    let subject_set: HashSet<FaceId> = subject_faces.iter().copied().collect();
    for s in states.iter().filter(|s| subject_set.contains(&s.face)) {
        if let Some(p) = s.person {
            *count.entry(p).or_default() += 1;
        }
    }
    let person = match count.into_iter().max_by_key(|(p, c)| (*c, std::cmp::Reverse(*p))) {
        Some((p, _)) => p,
        None => library.store.add_person(None, None, false).unwrap(),
    };
    let (_, t_move) = timed(|| library.store.move_faces(&subject_faces, person).unwrap());
    rep.line("store.move_faces (confirm 1000 faces)", secs(t_move), &format!("person {}", person.0));
    let threshold = manifest.embedder.match_threshold;
    for (method, key) in [(Method::Index, "pp_index_s"), (Method::Exact, "pp_exact_s")] {
        let mut times = Vec::new();
        let mut last = None;
        mem.start();
        let started = Instant::now();
        let cpu_start = cpu_now();
        while times.len() < PHOTO_RUNS && (times.len() < 1 || started.elapsed() < RUN_BUDGET) {
            let (out, t) = timed(|| query::person_photos(&library, &manifest, person, threshold, method).unwrap());
            times.push(t);
            last = Some(out);
        }
        let note = mem.end(&format!("person photos {method:?}"));
        let out = last.unwrap();
        let wrong = out.suggestions.iter().filter(|p| ident_of.get(&p.face_id) != Some(&0)).count();
        let runs = times.len();
        let cpu_per_run = (cpu_now() - cpu_start) / runs as f64;
        let (lo, hi) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
        let m = median(times);
        rep.key(key, &format!("person_photos, Method::{method:?} (median)"), ms(m), m.as_secs_f64(), &format!(
            "{runs} runs, {}–{}, cpu {:.0} ms/run; {} confirmed photos, {} suggestions ({} not the subject); target ≤ 100 ms",
            ms(lo), ms(hi), cpu_per_run * 1e3, out.confirmed.len(), out.suggestions.len(), wrong
        ));
        rep.line("", String::new(), &note);
    }
    if breakdown {
        // The parts of person_photos, timed one by one with the same store calls.
        let (linked, t_pf) = timed(|| library.store.person_faces(person).unwrap());
        let ids: Vec<FaceId> = linked.iter().map(|f| f.face_id).collect();
        let (queries, t_fv) = timed(|| library.store.face_vectors(&ids).unwrap());
        let ((index, _), t_open) = timed(|| FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap());
        let mut hits_total = 0;
        let mut candidates: HashSet<FaceId> = HashSet::new();
        let (_, t_within) = timed(|| {
            for (_, q) in &queries {
                let hits = index.within(q, threshold);
                hits_total += hits.len();
                candidates.extend(hits.iter().map(|h| h.0));
            }
        });
        let cand: Vec<FaceId> = candidates.iter().copied().collect();
        let (_, t_rows) = timed(|| library.store.faces(&cand).unwrap());
        let (_, t_states) = timed(|| library.store.face_states_of(&cand).unwrap());
        rep.line("  person + person_faces", ms(t_pf), "");
        rep.line("  face_vectors (1000 queries)", ms(t_fv), "");
        rep.line("  Index: FaceIndex::open (load from disk)", ms(t_open), "every call loads the whole index");
        rep.line("  Index: within() × 1000 queries", ms(t_within), &format!(
            "{:.0} ms/query, {:.0} hits/query (k widens 64→256→1024, ef = 2k)",
            t_within.as_secs_f64() * 1e3 / queries.len() as f64, hits_total as f64 / queries.len() as f64
        ));
        rep.line("  store.faces + face_states_of (candidates)", ms(t_rows + t_states), &format!("{} faces", cand.len()));
        let (vectors, t_load) = timed(|| ann::exact_vectors(&library.index_dir(), &library.store, &model, dim).unwrap());
        let q: Vec<Query> = queries.iter().map(|(id, v)| Query { face: Some(*id), vector: v }).collect();
        let (exact_hits, t_match) = timed(|| vectors.matches(&q, threshold));
        rep.key("pp_exact_load_ms", "  Exact: exact_vectors (vector file + newer faces)", ms(t_load), t_load.as_secs_f64() * 1e3, &format!("{} vectors", vectors.len()));
        rep.key("pp_exact_match_ms", "  Exact: Vectors::matches (1000 queries, grouped)", ms(t_match), t_match.as_secs_f64() * 1e3, &format!("{} faces match", exact_hits.len()));
        // The same answer by brute force (every query against every vector), to check the pruning.
        let (brute, t_brute) = timed(|| {
            vectors
                .iter()
                .filter(|(id, v)| queries.iter().any(|(qid, qv)| qid != id && dot(qv, v) >= threshold))
                .count()
        });
        rep.line("  brute force, same question", ms(t_brute), &format!(
            "{brute} faces match ({})", if brute == exact_hits.len() { "same as matches" } else { "DIFFERS from matches" }
        ));
    }

    // -- (4b) A person confirmed on only a few faces: does `person photos` find the others?
    let faces_now = world.faces_of(); // the added faces joined some identities
    let (&big_ident, big) = faces_now.iter().filter(|(i, _)| **i != 0).max_by_key(|(i, f)| (f.len(), std::cmp::Reverse(**i))).unwrap();
    rep.section(&format!("(4b) person photos: a new person with 10 confirmed faces of a {}-face identity", big.len()));
    let few: Vec<FaceId> = big.iter().step_by(big.len() / 10).take(10).map(|&k| face_id_of[k]).collect();
    let few_person = library.store.add_person(Some("ten faces"), None, false).unwrap();
    library.store.move_faces(&few, few_person).unwrap();
    let mut found = Vec::new();
    for method in [Method::Index, Method::Exact] {
        let (out, t) = timed(|| query::person_photos(&library, &manifest, few_person, threshold, method).unwrap());
        let right = out.suggestions.iter().filter(|p| ident_of.get(&p.face_id) == Some(&big_ident)).count();
        found.push(right);
        rep.line(&format!("person_photos, Method::{method:?}"), ms(t), &format!(
            "{} suggestions: {right} of the identity's other {} faces, {} of other identities",
            out.suggestions.len(), big.len() - few.len(), out.suggestions.len() - right
        ));
    }
    let share = found[0] as f64 / found[1].max(1) as f64;
    rep.key("pp_few_index_vs_exact", "  Index finds, of what Exact finds", format!("{:.1}%", 100.0 * share), share,
        "the rest sit in faces no HNSW search reaches");

    // -- (5) Memory and disk.
    rep.section("(5) memory and disk");
    if mem.resettable {
        for (phase, base, peak) in &mem.phases {
            rep.line(&format!("peak RSS: {phase}"), mib_kb(*peak), &format!("+{} over {} before", mib_kb(peak.saturating_sub(*base)), mib_kb(*base)));
        }
        let (hwm, phase) = mem.max.clone();
        rep.key("hwm_mib", "peak memory, largest phase peak", mib_kb(hwm), hwm as f64 / 1024.0, &format!(
            "in {phase}; RSS of the whole bench process (its own data is a few MiB; the breakdowns are outside the phases)"
        ));
    } else {
        let hwm = proc_status("VmHWM:");
        rep.key("hwm_mib", "peak memory (VmHWM, whole process)", mib_kb(hwm), hwm as f64 / 1024.0,
            "cannot reset the peak here: includes the breakdowns' own copies");
    }
    rep.line("resident now (VmRSS)", mib_kb(proc_status("VmRSS:")), "");
    let db: u64 = ["library.db", "library.db-wal", "library.db-shm"].iter().map(|f| dir_size(&dir.join(f))).sum();
    let idx = dir_size(&library.index_dir());
    rep.key("db_mib", "database (library.db + -wal + -shm)", mib(db), db as f64 / 1048576.0, &format!("{} faces", new_faces.end));
    rep.key("index_mib", "index folder (graph + data)", mib(idx), idx as f64 / 1048576.0, "");
    rep.line("load average at end", load_average(), "");
    rep.section("extra: distance kernel");
    dot_kernels(&mut rep, dim);
    let row: Vec<String> = rep.row.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("@row {}", row.join(" "));
}

/// How well the HNSW index finds what an exact search finds: recall@k against brute force on a
/// sample of queries, and whether a face's own vector finds the face (a face that its own vector
/// cannot reach is invisible to every search).
fn index_quality(rep: &mut Report, library: &Library, index: &FaceIndex, model: &str, subject: &[FaceId], k: usize) {
    let (pool, _) = timed(|| library.store.embeddings_after(model, FaceId(0)).unwrap());
    let mut rng = Rng::new(SEED ^ 0x9A1);
    let sample: Vec<usize> = (0..200).map(|_| rng.below(pool.len())).collect();
    let (recalls, t_exact): (Vec<f64>, _) = timed(|| {
        sample
            .par_iter()
            .map(|&i| {
                let q = &pool[i].1;
                let mut all: Vec<(f32, FaceId)> = pool.iter().map(|(id, v)| (dot(q, v), *id)).collect();
                all.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
                let truth: HashSet<FaceId> = all[..k].iter().map(|x| x.1).collect();
                let got = index.nearest(q, k);
                got.iter().filter(|(id, _)| truth.contains(id)).count() as f64 / k as f64
            })
            .collect()
    });
    let mean = recalls.iter().sum::<f64>() / recalls.len() as f64;
    let worst = recalls.iter().copied().fold(1.0, f64::min);
    rep.key("index_recall", &format!("recall@{k} vs exact (200 queries)"), format!("{mean:.4}"), mean,
        &format!("worst query {worst:.3}; brute force took {}", secs(t_exact)));
    let vectors: HashMap<FaceId, &Vec<f32>> = pool.iter().map(|(id, v)| (*id, v)).collect();
    let self_hit = |ids: &[FaceId]| -> usize {
        ids.par_iter().filter(|id| index.nearest(vectors[id], k).iter().any(|(g, _)| g == *id)).count()
    };
    let random: Vec<FaceId> = (0..2000).map(|_| pool[rng.below(pool.len())].0).collect();
    let r = self_hit(&random);
    let s = self_hit(subject);
    rep.line(&format!("own face in nearest(own vector, {k})"), format!("{r} / {}", random.len()), "random faces");
    rep.key("index_self_subject", "  same, the subject's 1000 faces", format!("{s} / {}", subject.len()), s as f64 / subject.len() as f64,
        "a dense identity: its faces crowd each other's neighbour lists");
    // A face its own vector misses even with a wide search is unreachable in the graph.
    let missed: Vec<FaceId> = subject.iter().copied().filter(|id| !index.nearest(vectors[id], k).iter().any(|(g, _)| g == id)).collect();
    let wide = missed.par_iter().filter(|id| index.nearest(vectors[id], 2048).iter().any(|(g, _)| g == *id)).count();
    rep.line("  of those missed, found with k = 2048 (ef 4096)", format!("{wide} / {}", missed.len()), "the rest no search reaches");
}

/// `ann::dot` (eight independent accumulators, vectorised; used by the index's distance and the
/// exact searches) against a single running sum.
fn dot_kernels(rep: &mut Report, dim: usize) {
    let mut rng = Rng::new(SEED ^ 0xD07);
    let vs: Vec<Vec<f32>> = (0..4096).map(|_| (0..dim).map(|_| rng.gauss() as f32).collect()).collect();
    let rounds = 400;
    let run = |f: &dyn Fn(&[f32], &[f32]) -> f32| {
        let t = Instant::now();
        let mut acc = 0.0;
        for r in 0..rounds {
            let q = &vs[r % vs.len()];
            for v in &vs {
                acc += f(std::hint::black_box(q), v);
            }
        }
        std::hint::black_box(acc);
        t.elapsed().as_secs_f64() * 1e9 / (rounds * vs.len()) as f64
    };
    let a = run(&|x, y| sequential_dot(x, y));
    let b = run(&|x, y| dot(x, y));
    rep.key("sequential_dot_ns", &format!("single running sum, {dim}-d"), format!("{a:.1} ns"), a, "not vectorised");
    rep.key("dot_ns", "ann::dot (AVX2 + FMA where the CPU has it)", format!("{b:.1} ns"), b, &format!("{:.1}× faster", a / b));
}

/// The dot product as a single running sum, which the compiler does not vectorise (what
/// `ann::dot` was before it got independent partial sums): kept to show the difference.
fn sequential_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
