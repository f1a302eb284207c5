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
//! Above 200,000 faces only the exact search's index files are written, not the HNSW graph (most
//! of an hour on two cores); `FACEGATE_MILLION_GRAPH=1` builds the whole index at any size.
//! `FACEGATE_MILLION_RSS=1` also prints the resident set after each step of one search.
//! The queries run twice, each in its own process so that each has its own peak RSS: `old`, the
//! exact search as it was before the int8 copy (the whole f32 vector file read into memory and
//! scanned: `Vectors::read` + `Vectors::matches`), and `new`, as `search` runs it now
//! (`ann::exact_vectors`: the files memory-mapped, the int8 copy scanned first). Both must find
//! the same faces. Figures are the median of 9 runs (search: 9 different query faces), with the
//! page cache warm after the first.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use facegate::ann::{self, FaceIndex, Query, Vectors};
use facegate::library::{Access, Library};
use facegate::query::{self, Method};
use facegate::store::{FaceId, PersonId, PhotoRecord};
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
            "build-q8" => {
                let path = vector_file(&library_dir(n).join("index"));
                let (_, t) = timed(|| Vectors::open(&path, manifest().embedder.dim).unwrap().write_compact(&ann::compact_path(&path)).unwrap());
                println!("  int8 copy written anew (Vectors::write_compact) in {}", secs(t));
            }
            "old" | "new" => queries(n, &mode),
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
        let disk = |p: &Path| dir_size(p) as f64 / (1024.0 * 1024.0);
        println!("  disk");
        let index = dir.join("index");
        let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
        for e in std::fs::read_dir(&index).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let kind = ["hnsw.graph", "hnsw.data", "vectors", "q8"].into_iter().find(|k| name.ends_with(&format!(".{k}"))).unwrap_or("other");
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
    let graph = std::env::var("FACEGATE_MILLION_GRAPH").map_or(n <= 200_000, |v| v == "1");
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

/// As the next `facegate index` would: a writer's open brings the index files up to date (an index
/// built by an older facegate gets its int8 copy here).
fn upgrade(n: usize) {
    let manifest = manifest();
    let library = Library::open(&library_dir(n), Access::Write).unwrap();
    let t = Instant::now();
    let (_, sync) = FaceIndex::open(&library.index_dir(), &library.store, &manifest.embedder.model.id, manifest.embedder.dim, true).unwrap();
    println!("  writer's FaceIndex::open (adds the int8 copy to an older index): {sync:?} in {}, peak RSS {}", secs(t.elapsed()), mib_kb(proc_status("VmHWM:")));
}

/// The index generation of the exact search without its HNSW graph, which takes most of an hour
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
