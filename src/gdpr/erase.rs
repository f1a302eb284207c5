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
//! 3. Files are deleted or moved, orphaned evidence files deleted, the face index written anew
//!    without the erased faces (compacted, or built from SQLite; its old files, which held the
//!    vectors, deleted), the WAL checkpointed and truncated
//!    (`secure_delete` zeroes deleted rows in the database), and a certificate written.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ann::FaceIndex;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::query::{self, Method};
use crate::store::{ErasurePlan, FaceId, PersonId, PhotoId};
use crate::vision::manifest::hex;
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

/// What an erasure will do; nothing has been written yet.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub person: PersonId,
    pub photos: Vec<PlannedPhoto>,
    pub faces: usize,
}

/// What an erasure did; also the certificate's content (no personal data).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub erasure_id: i64,
    pub at: String,
    pub reason: String,
    pub mode: &'static str,
    pub actor: String,
    pub files_deleted: Vec<String>,
    pub files_quarantined: Vec<String>,
    /// sha256 of the photos kept but blocked for every purpose, to review.
    pub photos_kept_blocked: Vec<String>,
    pub faces_removed: usize,
    pub consents_removed: usize,
    pub revocations_removed: usize,
    pub evidence_files_deleted: usize,
    pub index_points_after_rebuild: usize,
    pub certificate_json: String,
    pub certificate_text: String,
    /// Paths to review (photos kept because they show others or changed on disk); for the
    /// operator only, not in the certificate.
    #[serde(skip)]
    pub review: Vec<(String, String)>,
}

pub fn plan(library: &Library, manifest: &Manifest, opts: &Options) -> Result<Plan> {
    let store = &library.store;
    let found = query::person_photos(library, manifest, opts.person, manifest.embedder.match_threshold, Method::Exact)?;
    if !found.suggestions.is_empty() && !opts.include_suggestions {
        return Err(Error::Invalid(format!(
            "person {} has {} unreviewed suggestion(s); review them (`facegate person photos {}`, `face move`/`face reject`) \
             or pass --include-suggestions to erase them as this person's",
            opts.person.0,
            found.suggestions.len(),
            opts.person.0
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
        let on_disk = std::fs::read(&photo.path).ok().map(|b| hex(&Sha256::digest(&b)));
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
    Ok(Plan { person: opts.person, faces: person_faces.len(), photos })
}

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
    let erased = library.store.erase_person(&db_plan)?;

    // Files, after the library no longer points at them.
    let (mut deleted, mut quarantined) = (Vec::new(), Vec::new());
    if let Files::Quarantine(dir) = &opts.files {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    for p in &removed {
        let src = &crate::paths::path(&p.path);
        if !src.exists() {
            deleted.push(p.sha256.clone()); // already gone from disk
            continue;
        }
        match &opts.files {
            Files::Delete => {
                std::fs::remove_file(src).map_err(|e| Error::io(src, e))?;
                deleted.push(p.sha256.clone());
            }
            Files::Quarantine(dir) => {
                let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let target = dir.join(format!("{}-{name}", p.photo_id.0));
                if std::fs::rename(src, &target).is_err() {
                    std::fs::copy(src, &target).map_err(|e| Error::io(&target, e))?;
                    std::fs::remove_file(src).map_err(|e| Error::io(src, e))?;
                }
                quarantined.push(p.sha256.clone());
            }
            Files::Keep => unreachable!("kept photos are not removed"),
        }
    }
    let evidence_dir = library.dir.join("evidence");
    for sha in &erased.orphaned_evidence {
        let _ = std::fs::remove_file(evidence_dir.join(sha));
    }
    // The index files held the person's vectors: write them anew without every face SQLite no
    // longer has (compaction, or a build from SQLite), deleting the old files.
    let (index, _) = FaceIndex::open(&library.index_dir(), &library.store, &manifest.embedder.model.id, manifest.embedder.dim, true)?;

    let certs = &opts.certificate_dir;
    std::fs::create_dir_all(certs).map_err(|e| Error::io(certs, e))?;
    let mut report = Report {
        erasure_id: erased.erasure_id,
        at: erased.at,
        reason: opts.reason.clone(),
        mode: opts.files.name(),
        actor: opts.actor.clone(),
        files_deleted: deleted,
        files_quarantined: quarantined,
        photos_kept_blocked: kept.iter().map(|p| p.sha256.clone()).collect(),
        faces_removed: erased.faces_removed,
        consents_removed: erased.consents_removed,
        revocations_removed: erased.revocations_removed,
        evidence_files_deleted: erased.orphaned_evidence.len(),
        index_points_after_rebuild: index.len(),
        certificate_json: certs.join(format!("erasure-{}.json", erased.erasure_id)).display().to_string(),
        certificate_text: certs.join(format!("erasure-{}.txt", erased.erasure_id)).display().to_string(),
        review: kept.iter().map(|p| (p.path.clone(), p.why_kept.clone().unwrap_or_default())).collect(),
    };
    let subjects = [format!("person:{}", plan.person.0), format!("erasure:{}", report.erasure_id)];
    let outcome = format!(
        "{} deleted, {} quarantined, {} kept blocked, {} faces",
        report.files_deleted.len(),
        report.files_quarantined.len(),
        report.photos_kept_blocked.len(),
        report.faces_removed
    );
    library.store.audit(&opts.actor, "erase", &subjects, &outcome, Some(opts.files.name()))?;
    library.store.checkpoint()?;
    write_certificate(&mut report)?;
    Ok(report)
}

fn write_certificate(report: &mut Report) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).expect("report serialises");
    std::fs::write(&report.certificate_json, json).map_err(|e| Error::io(&report.certificate_json, e))?;
    let list = |v: &[String]| if v.is_empty() { "  (none)\n".to_string() } else { v.iter().map(|h| format!("  sha256 {h}\n")).collect() };
    let text = format!(
        "ERASURE CERTIFICATE\n\nErasure {} carried out on {} by {}.\nReason: {}\nMode: {}\n\n\
         The person's face records and biometric templates ({} faces), {} consent record(s), {} revocation(s) \
         and {} evidence file(s) were erased from the facegate library. The face search index was rewritten \
         without them ({} entries remain). Deleted database content was overwritten (SQLite secure_delete) \
         and the write-ahead log was truncated.\n\nPhoto files deleted:\n{}\nPhoto files moved to quarantine:\n{}\n\
         Photos kept because they also show other people (blocked for every use, the person's face will not be \
         indexed again):\n{}\nThis certificate holds no personal data; files are identified by their SHA-256.\n",
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
    );
    std::fs::write(&report.certificate_text, text).map_err(|e| Error::io(&report.certificate_text, e))
}
