//! `facegate index`: scan → read and hash → decode → detect → align → embed → store, in a rayon
//! pool with one pair of ONNX sessions per worker. Results stream to one writer that commits them
//! in batches (one transaction each), so a killed run loses at most the batch in flight and a new
//! run picks up where it stopped. A bad file is recorded with its reason and the run goes on.
//! The core only counts and reports through [`Progress`]; drawing is the CLI's business.

pub mod scan;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ann::{self, FaceIndex};
use crate::cluster;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::photo;
use crate::store::{PhotoRecord, PhotoState};
use crate::vision::{Device, FaceModels, Manifest, Pyramid};
use scan::Candidate;

/// A file that could not be indexed, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

/// Events for whoever shows progress.
pub trait Progress: Sync {
    /// Scanning is done; `work` photos need reading.
    fn started(&self, _work: u64) {}
    fn photo_done(&self) {}
    fn failure(&self, _failure: &Failure) {}
}

/// No output.
pub struct Quiet;
impl Progress for Quiet {}

#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub roots: Vec<PathBuf>,
    pub jobs: usize,
    pub device: Device,
    /// Photos per transaction.
    pub batch_size: usize,
    /// Place the new faces into persons at the end.
    pub cluster: bool,
    /// How large a photo may be (the library's setting).
    pub limits: photo::Limits,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Photo files found under the roots.
    pub photos_seen: usize,
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub failed: usize,
    /// Files that are not images.
    pub skipped: usize,
    /// Faces found in the photos processed by this run.
    pub faces: usize,
    pub library_photos: usize,
    pub library_faces: usize,
    pub seconds: f64,
    /// New and changed photos processed per second.
    pub photos_per_second: f64,
    pub index: Option<ann::Sync>,
    pub clustering: Option<cluster::Outcome>,
    pub failures: Vec<Failure>,
}

pub fn index(library: &mut Library, manifest: &Manifest, opts: &IndexOptions, progress: &dyn Progress) -> Result<Summary> {
    let start = Instant::now();
    let pipeline = manifest.pipeline_id();
    let model = manifest.embedder.model.id.clone();
    let jobs = opts.jobs.max(1);
    let threads_per_session = if jobs == 1 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { 1 };
    // Load one set of models before anything else, so a missing runtime or model fails at once.
    let pool = ModelPool { manifest, device: opts.device, threads: threads_per_session, idle: Mutex::new(vec![]) };
    let first = pool.take()?;
    pool.give(first);

    let found = scan::scan(&opts.roots)?;
    let states = library.store.photo_states()?;
    let erased = library.store.erased_files()?;
    let mut summary = Summary { photos_seen: found.photos.len(), skipped: found.skipped, ..Default::default() };
    for f in &found.failures {
        progress.failure(f);
    }
    summary.failures = found.failures.clone();

    let mut work: Vec<(&Candidate, Option<&PhotoState>)> = Vec::new();
    for cand in &found.photos {
        let prior = states.get(&cand.key);
        match prior {
            Some(p) if p.size == cand.size && p.mtime_ns == cand.mtime_ns => {
                // A failure is not tried again while the file is unchanged, unless the size limits
                // stopped it and now let it through, or it was indexed in part (a damaged file)
                // by an older pipeline.
                let retry = p.needs_pixels.is_some_and(|n| n <= opts.limits.max_pixels)
                    || p.pipeline.as_deref().is_some_and(|id| id != pipeline);
                if let (Some(reason), false) = (&p.error, retry) {
                    let f = Failure { path: cand.key.clone(), reason: format!("{reason} (unchanged since an earlier run)") };
                    progress.failure(&f);
                    summary.failures.push(f);
                } else if p.error.is_none() && p.pipeline.as_deref() == Some(pipeline.as_str()) {
                    summary.unchanged += 1;
                } else {
                    work.push((cand, prior));
                }
            }
            _ => work.push((cand, prior)),
        }
    }
    progress.started(work.len() as u64);

    let workers = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("facegate-worker-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start worker threads: {e}")))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<PhotoRecord>>(4 * jobs);
    let written = std::thread::scope(|s| -> Result<()> {
        s.spawn(|| {
            workers.install(|| {
                work.par_iter().for_each_with(tx, |tx, (cand, prior)| {
                    let record = pool.take().map(|mut models| {
                        let r = process(&mut models, cand, *prior, &pipeline, &erased, &opts.limits);
                        pool.give(models);
                        r
                    });
                    // The receiver only goes away on a fatal error; stop quietly then.
                    let _ = tx.send(record);
                });
            })
        });
        let mut batch = Vec::new();
        let mut last_flush = Instant::now();
        for record in rx {
            let record = record?;
            let is_new = |key: &str| !states.contains_key(key);
            match &record {
                PhotoRecord::Unchanged { .. } => summary.unchanged += 1,
                PhotoRecord::Indexed { path, damage: Some(reason), .. } | PhotoRecord::Failed { path, reason, .. } => {
                    let f = Failure { path: path.clone(), reason: reason.clone() };
                    progress.failure(&f);
                    summary.failures.push(f);
                }
                PhotoRecord::Indexed { path, .. } if is_new(path) => summary.new += 1,
                PhotoRecord::Indexed { .. } => summary.changed += 1,
            }
            progress.photo_done();
            batch.push(record);
            if batch.len() >= opts.batch_size.max(1) || last_flush.elapsed() > Duration::from_secs(2) {
                summary.faces += library.store.write_batch(&batch, &pipeline, &model)?;
                batch.clear();
                last_flush = Instant::now();
            }
        }
        summary.faces += library.store.write_batch(&batch, &pipeline, &model)?;
        Ok(())
    });
    written?;

    // Photos that were in the library under these roots but are gone from disk.
    let seen: HashSet<&str> = found.photos.iter().map(|c| c.key.as_str()).chain(found.failures.iter().map(|f| f.path.as_str())).collect();
    let gone: Vec<_> = states
        .iter()
        .filter(|(key, _)| found.roots.iter().any(|r| scan::is_under(key, r)))
        .filter(|(key, _)| !found.unreadable_dirs.iter().any(|d| scan::is_under(key, d)))
        .filter(|(key, _)| !seen.contains(key.as_str()))
        .map(|(_, st)| st.id)
        .collect();
    summary.removed = library.store.remove_photos(&gone)?;

    let (index, sync) =
        FaceIndex::open(&library.index_dir(), &library.store, &model, manifest.embedder.dim, library.is_writable())?;
    summary.index = Some(sync);
    if opts.cluster {
        summary.clustering = Some(cluster::run(library, &index, cluster::Mode::Incremental, &cluster::Params::default())?);
    }
    summary.failed = summary.failures.len();
    summary.library_photos = library.store.num_photos()?;
    summary.library_faces = library.store.num_faces()?;
    summary.seconds = start.elapsed().as_secs_f64();
    summary.photos_per_second = (summary.new + summary.changed) as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// Reads, hashes, decodes and runs the models on one file. A file identical to one deleted or
/// quarantined by an erasure is flagged and not indexed. A file over the size limits is refused
/// before it is read (by its size) or decoded (by its header).
fn process(
    models: &mut FaceModels,
    cand: &Candidate,
    prior: Option<&PhotoState>,
    pipeline: &str,
    erased: &HashMap<String, (i64, String)>,
    limits: &photo::Limits,
) -> PhotoRecord {
    let refused = |content_hash: String, why: photo::Undecodable| PhotoRecord::Failed {
        path: cand.key.clone(),
        size: cand.size,
        mtime_ns: cand.mtime_ns,
        content_hash,
        reason: why.reason,
        needs_pixels: why.needs_pixels,
    };
    let failed = |content_hash: String, reason: String| refused(content_hash, photo::Undecodable { reason, needs_pixels: None });
    if let Some(why) = limits.refuse_file(cand.size) {
        return refused(String::new(), why);
    }
    let bytes = match std::fs::read(&cand.path) {
        Ok(b) => b,
        Err(e) => return failed(String::new(), format!("cannot read: {e}")),
    };
    let content_hash = hex::encode(Sha256::digest(&bytes));
    if let Some((id, at)) = erased.get(&content_hash) {
        return failed(content_hash, format!("identical to a file removed by erasure {id} on {at}; not indexed, review it"));
    }
    if let Some(p) = prior {
        if p.content_hash == content_hash && p.error.is_none() && p.pipeline.as_deref() == Some(pipeline) {
            return PhotoRecord::Unchanged { id: p.id, size: cand.size, mtime_ns: cand.mtime_ns };
        }
    }
    let photo::Decoded { rgb, info, damage } = match photo::decode(&bytes, limits) {
        Ok(d) => d,
        Err(why) => return refused(content_hash, why),
    };
    drop(bytes);
    let image = Pyramid::new(rgb, 16);
    let manual = prior.map_or(&[][..], |p| &p.manual[..]);
    match models.faces(&image, manual) {
        Ok(faces) => PhotoRecord::Indexed {
            path: cand.key.clone(),
            size: cand.size,
            mtime_ns: cand.mtime_ns,
            content_hash,
            info,
            faces,
            damage,
        },
        Err(e) => failed(content_hash, format!("face models failed: {e}")),
    }
}

/// ONNX sessions are `&mut` to run: each worker borrows a detector/embedder pair, created on
/// first need, and gives it back.
struct ModelPool<'a> {
    manifest: &'a Manifest,
    device: Device,
    threads: usize,
    idle: Mutex<Vec<FaceModels>>,
}

impl ModelPool<'_> {
    fn take(&self) -> Result<FaceModels> {
        if let Some(m) = self.idle.lock().expect("model pool lock").pop() {
            return Ok(m);
        }
        FaceModels::load(self.manifest, self.device, self.threads)
    }

    fn give(&self, models: FaceModels) {
        self.idle.lock().expect("model pool lock").push(models);
    }
}
