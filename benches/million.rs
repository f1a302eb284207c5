//! Exact search at a million faces (issue 13): `search` of one face and `person photos` of a
//! person with 1,000 confirmed faces, on the synthetic world of the other scale benches (128-d,
//! identities in a cone), with the identity sizes of a real archive: most persons have 1–5 faces,
//! a few 1,000–5,000. Everything goes through the library's own code (`Store::write_batch`,
//! `FaceIndex::open`, `ann::exact_vectors`, `query::photos_of`, `query::person_photos`).
//!
//!     cargo bench --bench million                  # 100,000 then 1,000,000 faces, and the growth
//!     cargo bench --bench million -- 100k          # one size
//!
//! Each library is built once (SQLite, then the index from scratch, timed) and kept under
//! `target/bench-million/<n>/`; reruns measure the queries only (delete the folder to rebuild).
//! Above 200,000 faces only the exact search's index files are written, not the HNSW graph (17
//! minutes at 1M on two cores with usearch, 26 with hnsw_rs, 3 December 2026);
//! `FACEGATE_MILLION_GRAPH=1` builds the whole index at any size (and rebuilds a cached library's
//! index that has no usearch graph).
//! `FACEGATE_MILLION_RSS=1` also prints the resident set after each step of one search.
//! The queries run twice, each in its own process so that each has its own peak RSS: `old`, the
//! exact search as it was before the int8 copy (the whole f32 vector file read into memory and
//! scanned: `Vectors::read` + `Vectors::matches`), and `new`, as `search` runs it now
//! (`ann::exact_vectors`: the files memory-mapped, the int8 copy scanned first). Both must find
//! the same faces. Figures are the median of 9 runs (search: 9 different query faces), with the
//! page cache warm after the first.
//!
//! `FACEGATE_MILLION_WRITES=1` (with a graph) also times the writing operations on a copy of the
//! library: `cluster --all` with its pairwise precision and recall, adding 10,000 faces, erasing
//! the person with 1,000 photos, and, as whole CLI processes, `check` of one photo and
//! `consent expiring --within 30d` over up to 100,000 consents (see `writes`);
//! `FACEGATE_MILLION_BASELINE=BIN` also times `consent expiring` with another facegate binary,
//! alternating with this build's, on the same library.
//! `FACEGATE_MILLION_PROBE=1` (with a graph) measures how many of the faces clustering needs one
//! graph search finds, and the clustering recall the rule itself allows with exact neighbours
//! (see `probe`).
//!
//!     FACEGATE_MILLION_GRAPH=1 FACEGATE_MILLION_WRITES=1 cargo bench --bench million -- 1m

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use facegate::ann::{self, FaceIndex, Query, Vectors};
use facegate::cluster;
use facegate::gdpr::erase::{self, Files, Options};
use facegate::library::{Access, Library};
use facegate::query::{self, Method};
use facegate::store::{FaceId, NewGrant, PersonId, PersonRef, PhotoRecord};
use facegate::vision::Manifest;
use serde::{Deserialize, Serialize};

const SEED: u64 = 0x5EED_FACE_1000;
/// Identities with many faces: the first is the person whose photos are listed.
const BIG: [usize; 5] = [1000, 5000, 3000, 2000, 1200];
const BATCH_PHOTOS: usize = 1000;
const RUNS: usize = 9;

/// What the build step leaves beside the library, so reruns know it without rebuilding.
#[derive(Serialize, Deserialize)]
struct Built {
    faces: usize,
    photos: usize,
    identities: usize,
    person: i64,
    /// One face of each of 9 identities with 2–5 faces: the search queries.
    queries: Vec<i64>,
    write_s: f64,
    /// Whether the HNSW graph was built (`FaceIndex::open`), or only the exact search's files.
    #[serde(default = "yes")]
    graph: bool,
    index_s: f64,
    index_cpu_s: f64,
    index_peak_kb: u64,
    build_peak_kb: u64,
}

fn yes() -> bool {
    true
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if let Ok(mode) = std::env::var("FACEGATE_MILLION_CHILD") {
        let n = parse_n(&std::env::var("FACEGATE_MILLION_N").expect("size"));
        match mode.as_str() {
            "build" => build(n),
            "upgrade" => upgrade(n),
            "reindex" => reindex(n),
            "build-q8" => {
                let path = vector_file(&library_dir(n).join("index"));
                let (_, t) = timed(|| Vectors::open(&path, manifest().embedder.dim).unwrap().write_compact(&ann::compact_path(&path)).unwrap());
                println!("  int8 copy written anew (Vectors::write_compact) in {}", secs(t));
            }
            "old" | "new" => queries(n, &mode),
            "writes" => writes(n),
            "probe" => probe(n),
            other => panic!("unknown child {other}"),
        }
        return;
    }
    let sizes: Vec<usize> = match args.first() {
        Some(a) => a.split(',').map(parse_n).collect(),
        None => vec![100_000, 1_000_000],
    };
    let mut rows: Vec<(usize, BTreeMap<String, f64>)> = Vec::new();
    for &n in &sizes {
        println!("\n=== million: {n} faces, {} cores, load average {} ===", std::thread::available_parallelism().map_or(1, |c| c.get()), load_average());
        let dir = library_dir(n);
        if !dir.join("built.json").is_file() {
            child(n, "build");
        }
        let graph_file = |dir: &Path| std::fs::read_dir(dir.join("index")).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".usearch"));
        if wants_graph(n) && !graph_file(&dir) {
            // Cached without a graph, or with one of an older format (hnsw_rs).
            child(n, "reindex");
        }
        let built: Built = serde_json::from_slice(&std::fs::read(dir.join("built.json")).unwrap()).unwrap();
        println!("  library {} ({} faces in {} photos, {} identities)", dir.display(), built.faces, built.photos, built.identities);
        let index_what = if built.graph { "index from scratch (FaceIndex::open)" } else { "exact search files only, no graph" };
        println!("  built once: write_batch {:.1} s; {index_what} {:.1} s (cpu {:.1} s, peak RSS {}); build process peak {}",
            built.write_s, built.index_s, built.index_cpu_s, mib_kb(built.index_peak_kb), mib_kb(built.build_peak_kb));
        if !Vectors::open(&vector_file(&dir.join("index")), manifest().embedder.dim).unwrap().has_compact() {
            child(n, if built.graph { "upgrade" } else { "build-q8" });
        }
        let mut row = BTreeMap::new();
        if built.graph {
            row.insert("index_build_s".to_string(), built.index_s);
        }
        for mode in ["old", "new"] {
            row.extend(child(n, mode).into_iter().map(|(k, v)| (format!("{mode}_{k}"), v)));
        }
        if built.graph && std::env::var("FACEGATE_MILLION_PROBE").is_ok_and(|v| v == "1") {
            child(n, "probe");
        }
        if built.graph && std::env::var("FACEGATE_MILLION_WRITES").is_ok_and(|v| v == "1") {
            row.extend(child(n, "writes"));
        }
        let disk = |p: &Path| dir_size(p) as f64 / (1024.0 * 1024.0);
        println!("  disk");
        let index = dir.join("index");
        let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
        for e in std::fs::read_dir(&index).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let kind = ["usearch", "vectors", "q8"].into_iter().find(|k| name.ends_with(&format!(".{k}"))).unwrap_or("other");
            *by_kind.entry(kind).or_default() += e.metadata().unwrap().len();
        }
        let db = dir_size(&dir.join("library.db")) + dir_size(&dir.join("library.db-wal"));
        println!("    {:<44} {:>12}  {:.0} bytes per face", "library.db", mib(db), db as f64 / n as f64);
        for (kind, bytes) in &by_kind {
            println!("    {:<44} {:>12}  {:.0} bytes per face", format!("index/*.{kind}"), mib(*bytes), *bytes as f64 / n as f64);
        }
        row.insert("disk_db_mib".into(), db as f64 / (1024.0 * 1024.0));
        row.insert("disk_index_mib".into(), disk(&index));
        rows.push((n, row));
    }
    if rows.len() > 1 {
        growth(&rows);
    }
}

fn parse_n(s: &str) -> usize {
    let s = s.trim().to_ascii_lowercase().replace('_', "");
    let (num, mult) = if let Some(x) = s.strip_suffix('k') {
        (x.to_string(), 1000)
    } else if let Some(x) = s.strip_suffix('m') {
        (x.to_string(), 1_000_000)
    } else {
        (s.clone(), 1)
    };
    num.parse::<usize>().map(|n| n * mult).unwrap_or_else(|_| panic!("not a face count: {s}"))
}

fn library_dir(n: usize) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-million").join(n.to_string())
}

fn manifest() -> Manifest {
    Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")).expect("models/models.toml")
}

/// Runs one step in its own process, echoing its output; returns its `@row` figures.
fn child(n: usize, mode: &str) -> BTreeMap<String, f64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("FACEGATE_MILLION_CHILD", mode)
        .env("FACEGATE_MILLION_N", n.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a bench step");
    let mut row = BTreeMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        match line.strip_prefix("@row ") {
            Some(rest) => row.extend(rest.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))),
            None => println!("{line}"),
        }
    }
    assert!(child.wait().unwrap().success(), "bench step {mode} for {n} faces failed");
    row
}

/// Most identities have 1–5 faces (mean about 2.3), a few have the `BIG` sizes.
fn identity_sizes(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut sizes = BIG.to_vec();
    let mut total: usize = sizes.iter().sum();
    assert!(n >= total + 10_000, "at least {} faces", total + 10_000);
    while total < n {
        let s = match rng.below(100) {
            0..=39 => 1,
            40..=64 => 2,
            65..=79 => 3,
            80..=91 => 4,
            _ => 5,
        }
        .min(n - total);
        sizes.push(s);
        total += s;
    }
    sizes
}

fn cpu_now() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Writes the library and builds its index from scratch, as `facegate index` would.
fn build(n: usize) {
    let dir = library_dir(n);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let manifest = manifest();
    let (model, dim, pipeline) = (manifest.embedder.model.id.clone(), manifest.embedder.dim, manifest.pipeline_id());
    let (world, t_gen) = timed(|| World::new(SEED, dim, |rng| identity_sizes(n, rng)));
    println!("  build: {} identities, {} photos generated in {}", world.centres.len(), world.photos.len(), secs(t_gen));
    let mut library = Library::open(&dir, Access::Write).expect("create library");
    let t = Instant::now();
    let mut written = 0;
    for (i, chunk) in (0..world.photos.len()).collect::<Vec<_>>().chunks(BATCH_PHOTOS).enumerate() {
        let records: Vec<PhotoRecord> = chunk.iter().map(|&p| world.record(p)).collect();
        written += library.store.write_batch(&records, &pipeline, &model).expect("write_batch");
        if i % 100 == 99 {
            println!("    {written} faces written, {}", secs(t.elapsed()));
        }
    }
    let write_s = t.elapsed().as_secs_f64();
    assert_eq!(written, n);
    println!("  build: write_batch {write_s:.1} s");
    let states = library.store.face_states().unwrap();
    let face_id_of: Vec<FaceId> = states.iter().map(|s| s.face).collect();
    drop(states);
    let faces_of = world.faces_of();
    let subject: Vec<FaceId> = faces_of[&0].iter().map(|&k| face_id_of[k]).collect();
    let person = library.store.add_person(Some("Subject"), None, false).unwrap();
    library.store.move_faces(&subject, person).unwrap();
    let mut rng = Rng::new(SEED ^ 0x9);
    let mut queries = Vec::new();
    while queries.len() < RUNS {
        let k = rng.below(n);
        let size = faces_of[&world.ident[k]].len();
        if (2..=5).contains(&size) {
            queries.push(face_id_of[k].0);
        }
    }
    let (photos, identities) = (world.photos.len(), world.centres.len());
    drop((world, faces_of, face_id_of));
    // SAFETY: malloc_trim only returns free heap pages to the system.
    unsafe { libc::malloc_trim(0) };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (c, t) = (cpu_now(), Instant::now());
    let graph = wants_graph(n);
    if graph {
        let (index, sync) = FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap();
        println!("  build: FaceIndex::open {:.1} s ({sync:?}, {} points)", t.elapsed().as_secs_f64(), index.len());
    } else {
        exact_files_only(&library, &model, dim);
        println!("  build: exact search files only (no HNSW graph) {:.1} s", t.elapsed().as_secs_f64());
    }
    let index_s = t.elapsed().as_secs_f64();
    let index_cpu_s = cpu_now() - c;
    let index_peak_kb = proc_status("VmHWM:");
    let built = Built { faces: n, photos, identities, person: person.0, queries, write_s, graph, index_s, index_cpu_s, index_peak_kb, build_peak_kb: 0 };
    let built = Built { build_peak_kb: proc_status("VmHWM:").max(index_peak_kb), ..built };
    std::fs::write(dir.join("built.json"), serde_json::to_vec_pretty(&built).unwrap()).unwrap();
}

/// Whether the run builds the HNSW graph: `FACEGATE_MILLION_GRAPH=1` or `0`, else up to 200k.
fn wants_graph(n: usize) -> bool {
    std::env::var("FACEGATE_MILLION_GRAPH").map_or(n <= 200_000, |v| v == "1")
}

/// Builds the index of the cached library anew (its files deleted first) and records the build
/// in `built.json`, as `build` would have.
fn reindex(n: usize) {
    let manifest = manifest();
    let dir = library_dir(n);
    let library = Library::open(&dir, Access::Write).unwrap();
    std::fs::remove_dir_all(library.index_dir()).unwrap();
    let (c, t) = (cpu_now(), Instant::now());
    let (index, sync) = FaceIndex::open(&library.index_dir(), &library.store, &manifest.embedder.model.id, manifest.embedder.dim, true).unwrap();
    let index_s = t.elapsed().as_secs_f64();
    println!("  rebuild: FaceIndex::open {index_s:.1} s ({sync:?}, {} points), peak RSS {}", index.len(), mib_kb(proc_status("VmHWM:")));
    let built: Built = serde_json::from_slice(&std::fs::read(dir.join("built.json")).unwrap()).unwrap();
    let peak = proc_status("VmHWM:");
    let built = Built { graph: true, index_s, index_cpu_s: cpu_now() - c, index_peak_kb: peak, build_peak_kb: peak, ..built };
    std::fs::write(dir.join("built.json"), serde_json::to_vec_pretty(&built).unwrap()).unwrap();
}

/// As the next `facegate index` would: a writer's open brings the index files up to date (an index
/// built by an older facegate gets its int8 copy here).
fn upgrade(n: usize) {
    let manifest = manifest();
    let library = Library::open(&library_dir(n), Access::Write).unwrap();
    let t = Instant::now();
    let (_, sync) = FaceIndex::open(&library.index_dir(), &library.store, &manifest.embedder.model.id, manifest.embedder.dim, true).unwrap();
    println!("  writer's FaceIndex::open (adds the int8 copy to an older index): {sync:?} in {}, peak RSS {}", secs(t.elapsed()), mib_kb(proc_status("VmHWM:")));
}

/// The index generation of the exact search without its HNSW graph, which took 26 minutes
/// to build at a million faces on two cores (`FACEGATE_MILLION_GRAPH=1` builds it): the vector
/// file and its int8 copy as `FaceIndex` writes them, and the meta file naming them. Searches
/// read these; a writer's `FaceIndex::open` would find the graph missing and build everything.
fn exact_files_only(library: &Library, model: &str, dim: usize) {
    let dir = library.index_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let (vectors, t) = timed(|| ann::exact_vectors(&dir, &library.store, model, dim).unwrap());
    println!("    all embeddings from SQLite: {} ({} vectors)", secs(t), vectors.len());
    let path = dir.join("faces-1.vectors");
    vectors.write(&path).unwrap();
    vectors.write_compact(&ann::compact_path(&path)).unwrap();
    let meta = serde_json::json!({
        "basename": "faces-1", "model": model, "dim": dim, "num_points": vectors.len(),
        "max_face_id": vectors.max_id().0, "library": library.store.library_id().unwrap(),
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
}

fn row(key: &str, value: f64) {
    println!("@row {key}={value:.4}");
}

fn report(what: &str, times: &[Duration], note: &str) -> f64 {
    let p50 = median(times.to_vec());
    let (lo, hi) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    println!("    {what:<44} {:>10}  p50 of {} ({}–{}) {note}", ms(p50), times.len(), ms(*lo), ms(*hi));
    p50.as_secs_f64() * 1e3
}

/// The current generation's vector file, as `index/meta.json` names it.
fn vector_file(index: &Path) -> PathBuf {
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(index.join("meta.json")).unwrap()).unwrap();
    index.join(format!("{}.vectors", meta["basename"].as_str().unwrap()))
}

/// The exact search as it was before the int8 copy: the whole f32 file read, then scanned.
fn old_vectors(library: &Library, model: &str, dim: usize) -> Vectors {
    let mut vectors = Vectors::read(&vector_file(&library.index_dir()), dim).unwrap();
    vectors.extend(&library.store.embeddings_after(model, vectors.max_id()).unwrap()).unwrap();
    vectors
}

/// Runs the searches in this process; `mode` is `old` or `new`.
fn queries(n: usize, mode: &str) {
    let dir = library_dir(n);
    let built: Built = serde_json::from_slice(&std::fs::read(dir.join("built.json")).unwrap()).unwrap();
    let manifest = manifest();
    let (model, dim, threshold) = (manifest.embedder.model.id.clone(), manifest.embedder.dim, manifest.embedder.match_threshold);
    let library = Library::open(&dir, Access::Share).unwrap();
    let person = PersonId(built.person);
    let query_ids: Vec<FaceId> = built.queries.iter().map(|&q| FaceId(q)).collect();
    let singles = library.store.face_vectors(&query_ids).unwrap();
    let confirmed: Vec<FaceId> = library.store.person_faces(person).unwrap().into_iter().map(|f| f.face_id).collect();
    let subject = library.store.face_vectors(&confirmed).unwrap();
    assert_eq!(subject.len(), BIG[0]);
    let subject_q: Vec<Query> = subject.iter().map(|(id, v)| Query { face: Some(*id), vector: v }).collect();
    let load = || if mode == "old" { old_vectors(&library, &model, dim) } else { ann::exact_vectors(&library.index_dir(), &library.store, &model, dim).unwrap() };
    println!("  {mode}: {}", if mode == "old" { "f32 file read whole, f32 scan" } else { "ann::exact_vectors: memory-mapped, int8 scan, f32 re-check" });

    if std::env::var_os("FACEGATE_MILLION_RSS").is_some() {
        println!("    RSS before: {} kB", proc_status("VmRSS:"));
        let (v, t) = timed(load);
        println!("    RSS after load: {} kB ({})", proc_status("VmRSS:"), ms(t));
        let (h, t) = timed(|| v.matches(&[Query { face: None, vector: &singles[0].1 }], threshold).len());
        println!("    RSS after one search ({h} hits): {} kB ({})", proc_status("VmRSS:"), ms(t));
        let h = v.matches(&subject_q, threshold).len();
        println!("    RSS after 1000-query search ({h} hits): {} kB", proc_status("VmRSS:"));
    }
    let (mut t_search, mut t_pp) = (Vec::new(), Vec::new());
    let (mut hits1, mut hits_pp) = (Vec::new(), 0);
    for (_, v) in &singles {
        let (h, t) = timed(|| load().matches(&[Query { face: None, vector: v }], threshold).len());
        hits1.push(h);
        t_search.push(t);
    }
    for _ in 0..RUNS {
        let (h, t) = timed(|| load().matches(&subject_q, threshold).len());
        hits_pp = h;
        t_pp.push(t);
    }
    let search = report("search one face (load + matches)", &t_search, &format!("hits {hits1:?}"));
    let pp = report("person photos core (load + 1000-query matches)", &t_pp, &format!("{hits_pp} faces match"));
    row("search_ms", search);
    row("pp_core_ms", pp);
    row("search_hits", hits1.iter().sum::<usize>() as f64);
    row("pp_hits", hits_pp as f64);
    if mode == "new" {
        let mut t_full = Vec::new();
        for (_, v) in &singles {
            t_full.push(timed(|| query::photos_of(&library, &manifest, v, threshold, Method::Exact).unwrap()).1);
        }
        row("search_full_ms", report("query::photos_of (search, whole query)", &t_full, ""));
        let mut t_full = Vec::new();
        let mut found = (0, 0);
        for _ in 0..RUNS {
            let (out, t) = timed(|| query::person_photos(&library, &manifest, person, threshold, Method::Exact).unwrap());
            found = (out.confirmed.len(), out.suggestions.len());
            t_full.push(t);
        }
        row("pp_full_ms", report("query::person_photos (exact, whole query)", &t_full, &format!("{} confirmed photos, {} suggestions", found.0, found.1)));
    }
    let peak = proc_status("VmHWM:");
    println!("    {:<44} {:>10}", "peak RSS of this process", mib_kb(peak));
    row("peak_mib", peak as f64 / 1024.0);
}

fn growth(rows: &[(usize, BTreeMap<String, f64>)]) {
    println!("\n=== growth ===");
    let keys = [
        ("old_search_ms", "search one face, old (ms)"),
        ("new_search_ms", "search one face, new (ms)"),
        ("new_search_full_ms", "query::photos_of, new (ms)"),
        ("old_pp_core_ms", "person photos core, old (ms)"),
        ("new_pp_core_ms", "person photos core, new (ms)"),
        ("new_pp_full_ms", "query::person_photos, new (ms)"),
        ("old_peak_mib", "peak RSS, old (MiB)"),
        ("new_peak_mib", "peak RSS, new (MiB)"),
        ("index_build_s", "index from scratch (s)"),
        ("disk_db_mib", "library.db (MiB)"),
        ("disk_index_mib", "index folder (MiB)"),
    ];
    print!("  {:<34}", "");
    for (n, _) in rows {
        print!(" {n:>12}");
    }
    println!("  growth first→last");
    for (k, label) in keys {
        print!("  {label:<34}");
        let vals: Vec<f64> = rows.iter().map(|(_, r)| r.get(k).copied().unwrap_or(f64::NAN)).collect();
        for v in &vals {
            print!(" {v:>12.1}");
        }
        println!("  ×{:.1}", vals[vals.len() - 1] / vals[0]);
    }
    let same = rows.iter().all(|(_, r)| r.get("old_search_hits") == r.get("new_search_hits") && r.get("old_pp_hits") == r.get("new_pp_hits"));
    println!("  old and new find the same faces: {}", if same { "yes" } else { "NO" });
}

/// The writing operations, on a copy of the built library (`<n>-work`, deleted after), so the
/// cache stays as built: `cluster --all` with its pairwise precision and recall against the
/// synthetic identities, adding 10,000 faces (the index update and incremental clustering),
/// erasing the person with 1,000 photos (plan and execute, index included), and `check` of one
/// photo as a whole CLI process (`target/release/facegate`). Each figure with its peak RSS.
fn writes(n: usize) {
    let built: Built = serde_json::from_slice(&std::fs::read(library_dir(n).join("built.json")).unwrap()).unwrap();
    let work = library_dir(n).with_file_name(format!("{n}-work"));
    let _ = std::fs::remove_dir_all(&work);
    let (_, t) = timed(|| assert!(Command::new("cp").arg("-a").arg(library_dir(n)).arg(&work).status().unwrap().success()));
    println!("  writes, on a copy of the library ({}, copied in {})", work.display(), secs(t));
    let manifest = manifest();
    let (model, dim, pipeline) = (manifest.embedder.model.id.clone(), manifest.embedder.dim, manifest.pipeline_id());
    let mut world = World::new(SEED, dim, |rng| identity_sizes(n, rng));
    let mut library = Library::open(&work, Access::Write).unwrap();
    let step = |what: &str, t: Duration, cpu: f64, note: String| {
        println!("    {what:<44} {:>10}  cpu {cpu:.1} s, peak RSS {}; {note}", secs(t), mib_kb(proc_status("VmHWM:")));
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    };
    let _ = std::fs::write("/proc/self/clear_refs", "5");

    let (c, t) = (cpu_now(), Instant::now());
    let (index, sync) = FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap();
    let t_load = t.elapsed();
    step("FaceIndex::open (load, up to date)", t_load, cpu_now() - c, format!("{sync:?}"));
    let (c, t) = (cpu_now(), Instant::now());
    let outcome = cluster::run(&mut library, &index, cluster::Mode::Full, &cluster::Params::default()).unwrap();
    let t_cluster = t.elapsed();
    let (precision, recall, recall_small) = pairwise(&library, &world);
    step("cluster::run(Full) (cluster --all)", t_cluster, cpu_now() - c, format!("pairwise precision {precision:.4}, recall {recall:.4} (identities of 1-5 faces {recall_small:.4}); {outcome:?}"));
    drop(index);

    let first_new = world.photos.len();
    let new_faces = world.add_faces(10_000);
    let (c, t) = (cpu_now(), Instant::now());
    let mut records: Vec<PhotoRecord> = (first_new..world.photos.len()).map(|p| world.record(p)).collect();
    // The first few new photos are real files, for `check` as a whole process below.
    let photo_dir = work.join("photos");
    std::fs::create_dir_all(&photo_dir).unwrap();
    let mut real = Vec::new();
    for (i, r) in records.iter_mut().take(RUNS + 2).enumerate() {
        if let PhotoRecord::Indexed { path, size, mtime_ns, content_hash, .. } = r {
            let file = photo_dir.join(format!("{i:02}.jpg"));
            let bytes = format!("photo {i}").into_bytes();
            std::fs::write(&file, &bytes).unwrap();
            let meta = std::fs::metadata(&file).unwrap();
            *size = meta.len();
            *mtime_ns = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
            *content_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            *path = file.to_str().unwrap().to_string();
            real.push(path.clone());
        }
    }
    library.store.write_batch(&records, &pipeline, &model).unwrap();
    let t_write = t.elapsed();
    let (index, sync) = FaceIndex::open(&library.index_dir(), &library.store, &model, dim, true).unwrap();
    let t_index = t.elapsed() - t_write;
    let outcome = cluster::run(&mut library, &index, cluster::Mode::Incremental, &cluster::Params::default()).unwrap();
    let t_add = t.elapsed();
    drop(index);
    let (precision, recall, recall_small) = pairwise(&library, &world);
    step(&format!("add {} faces (write + index + cluster)", new_faces.len()), t_add, cpu_now() - c, format!(
        "write_batch {}, FaceIndex::open {} ({sync:?}), clustering {}; precision {precision:.4}, recall {recall:.4} (1-5 faces {recall_small:.4}); {} linked",
        secs(t_write), secs(t_index), secs(t_add - t_write - t_index), outcome.faces_linked));

    let opts = Options { person: PersonId(built.person), reason: "bench".into(), files: Files::Keep, include_suggestions: false, actor: "bench".into(), certificate_dir: work.join("certificates") };
    let (c, t) = (cpu_now(), Instant::now());
    let plan = erase::plan(&library, &manifest, &opts).unwrap();
    let t_plan = t.elapsed();
    let done = erase::execute(&mut library, &manifest, &plan, &opts).unwrap();
    let t_erase = t.elapsed();
    step("erase the person with 1,000 photos", t_erase, cpu_now() - c, format!(
        "plan {} ({} photos), execute {} ({} faces removed, {} index points after)",
        secs(t_plan), plan.photos.len(), secs(t_erase - t_plan), done.faces_removed, done.index_points_after_rebuild));
    drop(library);

    // 100,000 consents for `web` (one per person, the first 100,000 persons), ending over the next
    // 400 days, then `consent expiring --within 30d` and `check` as whole CLI processes.
    let mut library = Library::open(&work, Access::Write).unwrap();
    let web = library.store.add_purpose("web", None).unwrap();
    let persons = library.store.persons().unwrap();
    let today = chrono::Local::now().date_naive();
    let (_, t_grants) = timed(|| {
        for (i, p) in persons.iter().take(100_000).enumerate() {
            let until = today + chrono::Days::new((i % 400) as u64);
            let g = NewGrant { person: p.id, purposes: vec![web], project: None, from: today - chrono::Days::new(30), until: Some(until), source: Some("paper".into()), note: None, evidence: None };
            library.store.grant(&g, "bench").unwrap();
        }
    });
    let consents = persons.len().min(100_000);
    println!("    {consents} consents recorded (Store::grant each) in {}", secs(t_grants));
    drop(library);
    let exe = library_dir(n).parent().unwrap().parent().unwrap().join("release/facegate");
    let run = |exe: &Path, args: &[&str]| {
        let t = Instant::now();
        let out = Command::new(exe).arg("--library").arg(&work).args(args).env("FACEGATE_ACTOR", "bench").output().unwrap();
        (t.elapsed(), out.status.code(), String::from_utf8_lossy(&out.stdout).lines().count())
    };
    let cli = |args: &[&str]| run(&exe, args);
    let (mut check, mut codes) = (Vec::new(), BTreeMap::new());
    for path in &real {
        let (t, code, _) = cli(&["check", path, "--purpose", "web"]);
        check.push(t);
        *codes.entry(code).or_insert(0) += 1;
    }
    check.drain(..2);
    let check_ms = report("check one photo, whole CLI process", &check, &format!("exit codes {codes:?}"));
    let (mut expiring, mut lines) = (Vec::new(), 0);
    for _ in 0..5 {
        let (t, _, l) = cli(&["consent", "expiring", "--within", "30d"]);
        expiring.push(t);
        lines = l;
    }
    let expiring_ms = report(&format!("consent expiring --within 30d ({consents} consents)"), &expiring, &format!("whole CLI process, {lines} lines printed"));
    if let Some(baseline) = std::env::var_os("FACEGATE_MILLION_BASELINE").map(PathBuf::from) {
        // The same CLI timings with another build, alternating with this one, on the same library.
        let (mut old, mut new, mut old_lines) = (Vec::new(), Vec::new(), 0);
        for _ in 0..5 {
            let (t, _, l) = run(&baseline, &["consent", "expiring", "--within", "30d"]);
            old.push(t);
            old_lines = l;
            new.push(cli(&["consent", "expiring", "--within", "30d"]).0);
        }
        report(&format!("  baseline {}", baseline.display()), &old, &format!("{old_lines} lines printed"));
        report("  this build, alternating with it", &new, &format!("{lines} lines printed"));
    }
    row("cluster_all_s", t_cluster.as_secs_f64());
    row("cluster_precision", precision);
    row("cluster_recall", recall);
    row("add_10k_s", t_add.as_secs_f64());
    row("erase_s", t_erase.as_secs_f64());
    row("check_cli_ms", check_ms);
    row("expiring_cli_ms", expiring_ms);
    std::fs::remove_dir_all(&work).unwrap();
}

/// How well the graph finds the faces clustering needs: for 2,000 faces of identities with 2–5
/// faces, the share of their same-identity faces at or above the pair threshold that one graph
/// search (`FaceIndex::nearest`, the neighbours clustering asks for) returns, against the exact
/// answer from the synthetic identities (`FACEGATE_HNSW_EF_SEARCH` changes the graph's search);
/// then the recall the clustering rule reaches with exact neighbour lists, its limit whatever
/// the index.
fn probe(n: usize) {
    let manifest = manifest();
    let (model, dim) = (manifest.embedder.model.id.clone(), manifest.embedder.dim);
    let world = World::new(SEED, dim, |rng| identity_sizes(n, rng));
    let faces_of = world.faces_of();
    let library = Library::open(&library_dir(n), Access::Share).unwrap();
    let face_id_of: Vec<FaceId> = library.store.face_states().unwrap().iter().map(|s| s.face).collect();
    let (index, _) = FaceIndex::open(&library.index_dir(), &library.store, &model, dim, false).unwrap();
    let params = cluster::Params::default();
    let mut rng = Rng::new(SEED ^ 0x9B0B);
    let (mut probes, mut siblings_all, mut wanted, mut found, mut faces_missing_all) = (0, 0, 0, 0, 0);
    let t = Instant::now();
    while probes < 2_000 {
        let k = rng.below(world.ident.len());
        let siblings = &faces_of[&world.ident[k]];
        if !(2..=5).contains(&siblings.len()) {
            continue;
        }
        probes += 1;
        siblings_all += siblings.len() - 1;
        let query = index.vectors().get(face_id_of[k]).unwrap().to_vec();
        let hits: std::collections::HashSet<FaceId> = index.nearest(&query, params.neighbours).into_iter().map(|h| h.0).collect();
        let close: Vec<FaceId> = siblings
            .iter()
            .filter(|&&j| j != k)
            .map(|&j| face_id_of[j])
            .filter(|id| index.vectors().get(*id).is_some_and(|v| ann::dot(v, &query) >= params.pair))
            .collect();
        let got = close.iter().filter(|id| hits.contains(id)).count();
        wanted += close.len();
        found += got;
        faces_missing_all += usize::from(!close.is_empty() && got == 0);
    }
    let per = t.elapsed() / probes as u32;
    println!("    graph search (ef_search {}): {found} of {wanted} same-identity faces >= {} found ({:.2} %; {siblings_all} same-identity faces in all); {faces_missing_all} of {probes} faces found none of theirs; {} a search",
        std::env::var("FACEGATE_HNSW_EF_SEARCH").unwrap_or_else(|_| "default".into()), params.pair, 100.0 * found as f64 / wanted.max(1) as f64, ms(per));
    // What the rule itself allows: the plan with exact neighbour lists. Identities sit far enough
    // apart (their centres' cosine is 0.6 + 0.4 x that of two random directions, about 0.77 at
    // most among a million) that no face of another identity can count towards a join (the mean of
    // the three best similarities needs each of them above 3 x join - 2 = 0.82), so each face's
    // exact list is its own identity's faces, best first, the first `neighbours` of them.
    let states = library.store.face_states().unwrap();
    let position: HashMap<FaceId, usize> = face_id_of.iter().enumerate().map(|(k, id)| (*id, k)).collect();
    let vector = |k: usize| index.vectors().get(face_id_of[k]).unwrap();
    let exact = |f: FaceId| -> Vec<(FaceId, f32)> {
        let k = position[&f];
        let q = vector(k);
        let mut hits: Vec<(FaceId, f32)> = faces_of[&world.ident[k]]
            .iter()
            .filter(|&&j| j != k)
            .map(|&j| (face_id_of[j], ann::dot(vector(j), q)))
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        hits.truncate(params.neighbours);
        hits
    };
    let (plan, t) = timed(|| cluster::plan(&states, &Default::default(), exact, &params, cluster::Scope::ALL));
    let mut person: Vec<Option<PersonRef>> = states.iter().map(|s| s.person.map(PersonRef::Existing)).collect();
    for l in &plan.links {
        person[position[&l.face]] = Some(l.person);
    }
    let (precision, recall, recall_small) = pairwise_of(person.into_iter(), &world);
    println!("    cluster::plan with exact neighbours (the rule's own limit, {}): precision {precision:.4}, recall {recall:.4} (identities of 1-5 faces {recall_small:.4})", secs(t));
}

/// Pairwise precision and recall of the library's persons against the synthetic identities,
/// over every face (face k of the world is the k-th face id), with the recall over the pairs of
/// the identities with 1–5 faces apart (the `BIG` ones hold most pairs at 100k).
fn pairwise(library: &Library, world: &World) -> (f64, f64, f64) {
    let states = library.store.face_states().unwrap();
    pairwise_of(states.iter().map(|s| s.person.map(PersonRef::Existing)), world)
}

/// `pairwise` for any assignment of the world's faces (in face order) to persons.
fn pairwise_of(persons: impl Iterator<Item = Option<PersonRef>>, world: &World) -> (f64, f64, f64) {
    let c2 = |n: u64| (n * n.saturating_sub(1) / 2) as f64;
    let mut cell: HashMap<(PersonRef, u32), u64> = HashMap::new();
    let mut person: HashMap<PersonRef, u64> = HashMap::new();
    let mut ident: HashMap<u32, u64> = HashMap::new();
    for (p, &i) in persons.zip(&world.ident) {
        *ident.entry(i).or_default() += 1;
        if let Some(p) = p {
            *cell.entry((p, i)).or_default() += 1;
            *person.entry(p).or_default() += 1;
        }
    }
    let small = |i: &u32| ident[i] <= 5;
    let tp: f64 = cell.values().map(|&n| c2(n)).sum();
    let tp_small: f64 = cell.iter().filter(|((_, i), _)| small(i)).map(|(_, &n)| c2(n)).sum();
    let predicted: f64 = person.values().map(|&n| c2(n)).sum();
    let actual: f64 = ident.values().map(|&n| c2(n)).sum();
    let actual_small: f64 = ident.iter().filter(|(i, _)| small(i)).map(|(_, &n)| c2(n)).sum();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    (ratio(tp, predicted), ratio(tp, actual), ratio(tp_small, actual_small))
}
