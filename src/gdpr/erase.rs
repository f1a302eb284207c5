//! `facegate erase PERSON`: every trace of a person, in one step.
//!
//! 1. Plan (no writes): the person's photos from `person photos` with an exact scan (confirmed,
//!    plus suggestions when the caller says they are the person's; unreviewed suggestions make it
//!    refuse). A photo showing only the person is deleted or quarantined (per mode); a photo that
//!    also shows others, or changed on disk since indexing, or any photo under `--keep-files`, is
//!    kept, blocked for every purpose, and listed for review.
//! 2. One transaction removes the photos' rows, the person's faces and embeddings, consents,
//!    revocations and the person, records suppressions for kept photos and the sha256 of removed
//!    files, and an erasure record without personal data.
//!    The same transaction records the erasure's job (`erasure_jobs`, see `Job`): the steps
//!    that follow, and the certificate's content.
//! 3. The job runs: files are deleted or moved, orphaned evidence files deleted, the face index
//!    written anew without the erased faces (compacted, or built from SQLite; every other index
//!    file, which may hold their vectors, deleted), the WAL checkpointed and truncated
//!    (`secure_delete` zeroes deleted rows in the database), the certificate written, and the job
//!    closed with the audit entry in one transaction. Each step is done again safely, so when a
//!    crash stops the job, the next command that opens the library as a writer finishes it
//!    ([`finish_pending`], also `erase --resume`); `status` lists it meanwhile ([`unfinished`]).
//!
//! The plan and the certificate list every recorded use of the person's photos (usage log), so
//! the recipients of copies can be told (Art. 17(2), 19).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ann::FaceIndex;
use crate::crash;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::query;
use crate::store::{ErasurePlan, FaceId, PersonId, PhotoId};
use crate::vision::{Manifest, Rect};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Files {
    Delete,
    Quarantine(PathBuf),
    Keep,
}

impl Files {
    fn name(&self) -> &'static str {
        match self {
            Files::Delete => "delete-files",
            Files::Quarantine(_) => "quarantine",
            Files::Keep => "keep-files",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub person: PersonId,
    pub reason: String,
    pub files: Files,
    pub include_suggestions: bool,
    pub actor: String,
    pub certificate_dir: PathBuf,
}

/// A photo in the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedPhoto {
    pub photo_id: PhotoId,
    pub path: String,
    pub sha256: String,
    /// What happens to the file: delete, quarantine, keep (blocked).
    pub action: &'static str,
    /// Why a photo is kept, when it is.
    pub why_kept: Option<String>,
    #[serde(skip)]
    faces: Vec<(FaceId, Rect)>,
}

/// A recorded use of one of the person's photos (from the usage log): whoever received a copy
/// must be told of the erasure (Art. 17(2), 19).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedUse {
    pub photo_sha256: String,
    pub purpose: String,
    pub project: Option<String>,
    pub used_on: String,
    pub destination: String,
    pub actor: String,
}

/// What an erasure will do; nothing has been written yet.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub person: PersonId,
    pub photos: Vec<PlannedPhoto>,
    pub faces: usize,
    /// Every recorded use of these photos.
    pub uses: Vec<RecordedUse>,
}

impl Plan {
    /// The erased person's faces in the planned photos.
    pub fn face_ids(&self) -> Vec<FaceId> {
        self.photos.iter().flat_map(|p| p.faces.iter().map(|f| f.0)).collect()
    }
}

/// What an erasure did; also the certificate's content (no personal data).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub erasure_id: i64,
    pub at: String,
    pub reason: String,
    pub mode: String,
    pub actor: String,
    pub files_deleted: Vec<ErasedPhoto>,
    pub files_quarantined: Vec<ErasedPhoto>,
    /// The photos kept but blocked for every purpose, to review.
    pub photos_kept_blocked: Vec<ErasedPhoto>,
    pub faces_removed: usize,
    pub consents_removed: usize,
    pub revocations_removed: usize,
    pub evidence_files_deleted: usize,
    pub index_points_after_rebuild: usize,
    /// Uses of the person's photos recorded before the erasure: copies to follow up.
    pub uses: Vec<RecordedUse>,
    pub certificate_json: String,
    pub certificate_text: String,
    /// Paths to review (photos kept because they show others or changed on disk); for the
    /// operator only, not in the certificate.
    #[serde(skip)]
    pub review: Vec<(String, String)>,
}

/// A photo an erasure removed or kept, named by its content only: the certificate holds no path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredPhoto")]
pub struct ErasedPhoto {
    pub sha256: String,
}

/// Journals written before photos were objects held bare hashes; both still resume.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredPhoto {
    Bare(String),
    Object { sha256: String },
}

impl From<StoredPhoto> for ErasedPhoto {
    fn from(p: StoredPhoto) -> ErasedPhoto {
        match p {
            StoredPhoto::Bare(sha256) | StoredPhoto::Object { sha256 } => ErasedPhoto { sha256 },
        }
    }
}

/// An erasure whose rows are gone but whose other steps may not all be done: the state kept in
/// `erasure_jobs` between the erasure transaction and the transaction that closes it. It holds
/// no personal data except the paths of photo files still to delete or move, which go (zeroed
/// by `secure_delete`) as soon as that step is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Job {
    person: i64,
    /// The embedding model and dimension of the face index to rewrite.
    model: String,
    dim: usize,
    /// Photo files still to delete, or to move into `quarantine`.
    files: Vec<JobFile>,
    quarantine: Option<PathBuf>,
    /// Evidence files (by sha256) still to delete.
    evidence: Vec<String>,
    /// Whether the index files have been written anew without the erased faces.
    index_done: bool,
    /// The certificate's content.
    report: Report,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct JobFile {
    photo_id: i64,
    path: String,
}

/// An erasure not finished yet, as `status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Unfinished {
    pub erasure_id: i64,
    /// The steps left, in order.
    pub remaining: Vec<&'static str>,
}

pub fn plan(library: &Library, manifest: &Manifest, opts: &Options) -> Result<Plan> {
    let store = &library.store;
    let found = query::person_review(library, manifest, opts.person)?;
    if !found.suggestions.is_empty() && !opts.include_suggestions {
        let p = opts.person.0;
        let list: Vec<String> = found.suggestions.iter().map(|s| format!("  face {} in {}", s.face_id.0, s.path)).collect();
        return Err(Error::Invalid(format!(
            "{} has {} unreviewed suggestion(s) (those `facegate person photos {p}` lists):\n{}\n\
             confirm them (`facegate person confirm {p}`, `face move F --to {p}`) or reject them (`face reject F --person {p}`), \
             or pass --include-suggestions to erase them as this person's",
            store.label_of(opts.person),
            found.suggestions.len(),
            list.join("\n")
        )));
    }
    let mut person_faces: HashSet<FaceId> = store.person_faces(opts.person)?.iter().map(|f| f.face_id).collect();
    let listed = found.confirmed.iter().chain(found.suggestions.iter().filter(|_| opts.include_suggestions));
    person_faces.extend(listed.clone().map(|p| p.face_id));
    let mut photos = Vec::new();
    let mut seen = HashSet::new();
    for p in listed {
        if !seen.insert(p.photo_id) {
            continue;
        }
        let Some(photo) = store.gate_photo_by_id(p.photo_id)? else { continue };
        let faces = store.gate_faces(p.photo_id)?;
        let mine: Vec<(FaceId, Rect)> = faces.iter().filter(|f| person_faces.contains(&f.id)).map(|f| (f.id, f.rect)).collect();
        let others = faces.len() - mine.len();
        let on_disk = std::fs::read(&photo.path).ok().map(|b| hex::encode(Sha256::digest(&b)));
        let why_kept = if others > 0 {
            Some(format!("also shows {others} other face(s)"))
        } else if opts.files == Files::Keep {
            Some("--keep-files".to_string())
        } else if on_disk.as_deref().is_some_and(|h| h != photo.content_hash) {
            Some("changed on disk since it was indexed".to_string())
        } else {
            None
        };
        let action = match (&why_kept, &opts.files) {
            (Some(_), _) | (None, Files::Keep) => "keep",
            (None, Files::Delete) => "delete",
            (None, Files::Quarantine(_)) => "quarantine",
        };
        photos.push(PlannedPhoto { photo_id: photo.id, path: photo.path, sha256: photo.content_hash, action, why_kept, faces: mine });
    }
    let ids: Vec<PhotoId> = photos.iter().map(|p| p.photo_id).collect();
    let uses = store
        .usage_of_photos(&ids)?
        .into_iter()
        .map(|u| RecordedUse {
            photo_sha256: u.content_sha256,
            purpose: u.purpose,
            project: u.project,
            used_on: u.used_on.to_string(),
            destination: u.destination,
            actor: u.actor,
        })
        .collect();
    Ok(Plan { person: opts.person, faces: person_faces.len(), photos, uses })
}

/// Runs the erasure: one transaction (with the job), then the job's steps.
pub fn execute(library: &mut Library, manifest: &Manifest, plan: &Plan, opts: &Options) -> Result<Report> {
    let removed: Vec<&PlannedPhoto> = plan.photos.iter().filter(|p| p.action != "keep").collect();
    let kept: Vec<&PlannedPhoto> = plan.photos.iter().filter(|p| p.action == "keep").collect();
    let summary = serde_json::json!({
        "photos_removed": removed.len(),
        "photos_kept_blocked": kept.len(),
        "faces": plan.faces,
    });
    let db_plan = ErasurePlan {
        person: plan.person,
        reason: opts.reason.clone(),
        mode: opts.files.name().to_string(),
        actor: opts.actor.clone(),
        remove_photos: removed.iter().map(|p| (p.photo_id, p.sha256.clone())).collect(),
        keep_photos: kept.iter().map(|p| (p.photo_id, p.faces.clone())).collect(),
        summary,
    };
    let hashes = |action: &str| removed.iter().filter(|p| p.action == action).map(|p| ErasedPhoto { sha256: p.sha256.clone() }).collect::<Vec<_>>();
    let certs = &opts.certificate_dir;
    let job = |erased: &crate::store::Erased| Job {
        person: plan.person.0,
        model: manifest.embedder.model.id.clone(),
        dim: manifest.embedder.dim,
        files: removed.iter().map(|p| JobFile { photo_id: p.photo_id.0, path: p.path.clone() }).collect(),
        quarantine: match &opts.files {
            Files::Quarantine(dir) => Some(dir.clone()),
            _ => None,
        },
        evidence: erased.orphaned_evidence.clone(),
        index_done: false,
        report: Report {
            erasure_id: erased.erasure_id,
            at: erased.at.clone(),
            reason: opts.reason.clone(),
            mode: opts.files.name().to_string(),
            actor: opts.actor.clone(),
            files_deleted: hashes("delete"),
            files_quarantined: hashes("quarantine"),
            photos_kept_blocked: kept.iter().map(|p| ErasedPhoto { sha256: p.sha256.clone() }).collect(),
            faces_removed: erased.faces_removed,
            consents_removed: erased.consents_removed,
            revocations_removed: erased.revocations_removed,
            evidence_files_deleted: erased.orphaned_evidence.len(),
            index_points_after_rebuild: 0,
            uses: plan.uses.clone(),
            certificate_json: certs.join(format!("erasure-{}.json", erased.erasure_id)).display().to_string(),
            certificate_text: certs.join(format!("erasure-{}.txt", erased.erasure_id)).display().to_string(),
            review: Vec::new(),
        },
    };
    let erased = library.store.erase_person(&db_plan, |e| serde_json::to_string(&job(e)).expect("job serialises"))?;
    let mut report = run(library, erased.erasure_id, job(&erased))?;
    report.review = kept.iter().map(|p| (p.path.clone(), p.why_kept.clone().unwrap_or_default())).collect();
    Ok(report)
}

/// Finishes every erasure a crash left unfinished; their reports, oldest first. Run by every
/// command that opens the library as a writer.
pub fn finish_pending(library: &mut Library) -> Result<Vec<Report>> {
    let mut done = Vec::new();
    for (id, state) in library.store.erasure_jobs()? {
        done.push(run(library, id, parse_job(library, &state)?)?);
    }
    Ok(done)
}

/// The erasures not finished yet, with the steps they have left.
pub fn unfinished(library: &Library) -> Result<Vec<Unfinished>> {
    let mut out = Vec::new();
    for (erasure_id, state) in library.store.erasure_jobs()? {
        let job = parse_job(library, &state)?;
        let mut remaining = Vec::new();
        if !job.files.is_empty() {
            remaining.push("photo files");
        }
        if !job.evidence.is_empty() {
            remaining.push("evidence files");
        }
        if !job.index_done {
            remaining.push("index files");
        }
        remaining.extend(["WAL truncation", "certificate"]);
        out.push(Unfinished { erasure_id, remaining });
    }
    Ok(out)
}

fn parse_job(library: &Library, state: &str) -> Result<Job> {
    serde_json::from_str(state).map_err(|e| Error::DataCorruption {
        path: library.dir.join(crate::library::DB_FILE),
        detail: format!("unreadable erasure job: {e}"),
    })
}

/// The steps after the erasure transaction, each safe to run again after a crash; progress is
/// recorded after each step.
fn run(library: &mut Library, id: i64, mut job: Job) -> Result<Report> {
    let save = |library: &mut Library, job: &Job| library.store.update_erasure_job(id, &serde_json::to_string(job).expect("job serialises"));
    // Files, after the library no longer points at them.
    if !job.files.is_empty() {
        if let Some(dir) = &job.quarantine {
            // Copies of personal data: owner-only, like the library.
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io(dir, e))?;
        }
        for f in &job.files {
            remove_photo_file(f, job.quarantine.as_deref())?;
        }
        job.files.clear();
        save(library, &job)?;
    }
    if !job.evidence.is_empty() {
        for sha in &job.evidence {
            // Stored as SHA.EXT (or SHA, before extensions were kept).
            for path in crate::consent::evidence_files(&library.dir, sha) {
                crash::point("deleting an evidence file");
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        job.evidence.clear();
        save(library, &job)?;
    }
    // The index files held the person's vectors: write them anew without every face SQLite no
    // longer has (compaction, or a build from SQLite), deleting every other index file.
    if !job.index_done {
        let (index, _) = FaceIndex::open(&library.index_dir(), &library.store, &job.model, job.dim, true)?;
        job.report.index_points_after_rebuild = index.len();
        job.index_done = true;
        save(library, &job)?;
    }
    library.store.checkpoint()?;
    let report = job.report;
    write_certificate(&report)?;
    let subjects = [format!("person:{}", job.person), format!("erasure:{id}")];
    let outcome = format!(
        "{} deleted, {} quarantined, {} kept blocked, {} faces",
        report.files_deleted.len(),
        report.files_quarantined.len(),
        report.photos_kept_blocked.len(),
        report.faces_removed
    );
    library.store.finish_erasure_job(id, &report.actor, &subjects, &outcome, Some(&report.mode))?;
    // The closing transaction's pages leave the WAL too (the job row, zeroed, was in them).
    library.store.checkpoint()?;
    Ok(report)
}

/// Deletes a photo file, or moves it into the quarantine folder; a file already gone (done before
/// a crash) is skipped.
fn remove_photo_file(f: &JobFile, quarantine: Option<&Path>) -> Result<()> {
    let src = &crate::paths::path(&f.path);
    if !src.exists() {
        return Ok(());
    }
    match quarantine {
        None => {
            crash::point("deleting a photo file");
            std::fs::remove_file(src).map_err(|e| Error::io(src, e))
        }
        Some(dir) => {
            // The file's own name, bytes and all, after the photo id.
            let mut name = std::ffi::OsString::from(format!("{}-", f.photo_id));
            name.push(src.file_name().unwrap_or_default());
            let target = dir.join(name);
            crash::point("moving a photo file");
            if std::fs::rename(src, &target).is_err() {
                std::fs::copy(src, &target).map_err(|e| Error::io(&target, e))?;
                crash::point("deleting a photo file copied to quarantine");
                std::fs::remove_file(src).map_err(|e| Error::io(src, e))?;
            }
            Ok(())
        }
    }
}

/// Writes a file whole or not at all (a temporary file renamed over it), so that a crash never
/// leaves half a certificate and writing it again gives the same single file.
fn write_whole(path: &str, bytes: &[u8]) -> Result<()> {
    let tmp = format!("{path}.tmp");
    crash::point("writing a certificate");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
    crash::point("renaming a certificate");
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn write_certificate(report: &Report) -> Result<()> {
    if let Some(dir) = Path::new(&report.certificate_json).parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let json = crate::json::to_vec_pretty(report).expect("report serialises");
    write_whole(&report.certificate_json, &json)?;
    let list = |v: &[ErasedPhoto]| if v.is_empty() { "  (none)\n".to_string() } else { v.iter().map(|p| format!("  sha256 {}\n", p.sha256)).collect() };
    let uses = if report.uses.is_empty() {
        "  (none recorded)\n".to_string()
    } else {
        report
            .uses
            .iter()
            .map(|u| {
                let project = u.project.as_ref().map(|p| format!(", project {p}")).unwrap_or_default();
                format!("  {} to {} for {}{project}, by {}: sha256 {}\n", u.used_on, u.destination, u.purpose, u.actor, u.photo_sha256)
            })
            .collect()
    };
    let text = format!(
        "ERASURE CERTIFICATE\n\nErasure {} carried out on {} by {}.\nReason: {}\nMode: {}\n\n\
         The person's face records and biometric templates ({} faces), {} consent record(s), {} revocation(s) \
         and {} evidence file(s) were erased from the facegate library. The face search index was rewritten \
         without them ({} entries remain). Deleted database content was overwritten (SQLite secure_delete) \
         and the write-ahead log was truncated.\n\nPhoto files deleted:\n{}\nPhoto files moved to quarantine:\n{}\n\
         Photos kept (they also show other people, changed on disk, or --keep-files; blocked for every use, the \
         person's face will not be indexed again):\n{}\n\
         Recorded uses of the person's photos before the erasure (copies outside the library: tell each recipient, \
         GDPR Art. 17(2) and 19):\n{}\nThis certificate holds no personal data; files are identified by their SHA-256.\n",
        report.erasure_id,
        report.at,
        report.actor,
        report.reason,
        report.mode,
        report.faces_removed,
        report.consents_removed,
        report.revocations_removed,
        report.evidence_files_deleted,
        report.index_points_after_rebuild,
        list(&report.files_deleted),
        list(&report.files_quarantined),
        list(&report.photos_kept_blocked),
        uses,
    );
    write_whole(&report.certificate_text, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::ErasedPhoto;

    #[test]
    fn a_journal_with_bare_hashes_still_reads_and_writes_objects() {
        let old: Vec<ErasedPhoto> = serde_json::from_str(r#"["ab12", {"sha256": "cd34"}]"#).unwrap();
        assert_eq!(old, [ErasedPhoto { sha256: "ab12".into() }, ErasedPhoto { sha256: "cd34".into() }]);
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"[{"sha256":"ab12"},{"sha256":"cd34"}]"#);
        assert!(serde_json::from_str::<ErasedPhoto>(r#"{"path": "a.jpg"}"#).is_err());
    }
}
