//! The consent gate: may this photo be used for this purpose (in this project, on this date)?
//! Allowed only when every face counted by the policy belongs to a confirmed person with a valid
//! consent. Anything doubtful denies: an unidentified face, a merely suggested identity, a photo
//! changed on disk since it was indexed, a photo that could not be indexed, a blocked photo.
//! Also: evidence files (stored by content hash), gated export, and expiry look-ahead.

pub mod rules;
pub mod texts;

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::{ConsentRow, GatePhoto, PersonId, PhotoId, Store};
use crate::vision::Rect;
use rules::{valid_grant, Grant, Refusal, Revocation};

/// What a use is for, and how strict to be.
#[derive(Clone, Debug)]
pub struct Use {
    pub purpose: String,
    pub project: Option<String>,
    pub on: NaiveDate,
    /// Faces smaller than this (box width or height, pixels) are not counted; 0 counts every face.
    pub min_face_px: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaceDecision {
    pub face_id: i64,
    pub rect: Rect,
    pub person: Option<PersonId>,
    pub allowed: bool,
    /// The consent record that allows it.
    pub consent: Option<i64>,
    pub refusal: Option<Refusal>,
    pub reason: Option<String>,
    /// Below the policy's minimum face size: not counted.
    pub ignored: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct PhotoDecision {
    pub path: String,
    pub photo_id: Option<PhotoId>,
    pub allowed: bool,
    /// Why not, one line per blocking face or photo-level reason.
    pub reasons: Vec<String>,
    pub faces: Vec<FaceDecision>,
    /// Set when the photo could not be judged at all (not indexed, unreadable): an error, and blocked.
    pub error: Option<String>,
    /// When the path is not in the library but its content is: the library photo with the same
    /// sha256 that the decision is about.
    pub matched_by_content: Option<String>,
}

/// Decides photos, caching each person's records.
pub struct Gate<'a> {
    store: &'a Store,
    using: Use,
    records: HashMap<PersonId, (Vec<Grant>, Vec<Revocation>)>,
}

impl<'a> Gate<'a> {
    /// Checks that the purpose and project exist before anything is decided.
    pub fn new(store: &'a Store, using: Use) -> Result<Gate<'a>> {
        store.purpose_id(&using.purpose)?;
        if let Some(p) = &using.project {
            store.project_id(p)?;
        }
        Ok(Gate { store, using, records: HashMap::new() })
    }

    /// Decides a photo file given by path.
    pub fn check_path(&mut self, path: &Path) -> Result<PhotoDecision> {
        let shown = crate::paths::key(path);
        let blocked = |error: String| PhotoDecision {
            path: shown.clone(),
            photo_id: None,
            allowed: false,
            reasons: vec![error.clone()],
            faces: vec![],
            error: Some(error),
            matched_by_content: None,
        };
        let key = match path.canonicalize() {
            Ok(p) => crate::paths::key(&p),
            Err(e) => return Ok(blocked(format!("cannot read: {e}"))),
        };
        if let Some(photo) = self.store.gate_photo(&key)? {
            return self.check(&photo);
        }
        // Not under this path: a byte-identical copy of an indexed photo is decided as that photo.
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return Ok(blocked(format!("cannot read: {e}"))),
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        if let Some((erasure, _)) = self.store.erased_files()?.get(&sha) {
            let mut d = blocked(format!("not in the library, and a copy of a file removed by erasure {erasure}"));
            d.error = None;
            return Ok(d);
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mtime_ns = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64);
        let mut decisions = Vec::new();
        for indexed in self.store.gate_photos_by_hash(&sha)? {
            // Judged as the indexed photo, but with this file's own path, size and time, so the
            // on-disk check reads this file.
            let copy = GatePhoto { path: key.clone(), size: meta.len(), mtime_ns, ..indexed.clone() };
            let mut d = self.check(&copy)?;
            d.matched_by_content = Some(indexed.path);
            decisions.push(d);
        }
        // Several rows with this content: the strictest decision.
        let strictest = decisions.iter().position(|d| !d.allowed).unwrap_or(0);
        match decisions.into_iter().nth(strictest) {
            Some(d) => Ok(d),
            None => Ok(blocked("not in the library (neither its path nor its content); index it first".into())),
        }
    }

    /// Decides an indexed photo.
    pub fn check(&mut self, photo: &GatePhoto) -> Result<PhotoDecision> {
        let mut d = PhotoDecision {
            path: photo.path.clone(),
            photo_id: Some(photo.id),
            allowed: false,
            reasons: vec![],
            faces: vec![],
            error: None,
            matched_by_content: None,
        };
        if let Some(e) = &photo.error {
            d.reasons.push(format!("could not be indexed ({e}); faces unknown"));
            return Ok(d);
        }
        if let Some(reason) = changed_on_disk(photo) {
            d.reasons.push(reason);
            return Ok(d);
        }
        if let Some(b) = &photo.blocked {
            d.reasons.push(format!("blocked for every purpose: {b}"));
        }
        for face in self.store.gate_faces(photo.id)? {
            let ignored = face.rect.width().min(face.rect.height()) < self.using.min_face_px;
            let verdict = if ignored {
                Ok(None)
            } else {
                let unreviewed = face.origin == crate::vision::Origin::Possible && !face.confirmed;
                match (face.person, face.confirmed) {
                    _ if unreviewed => Err(Refusal::PossibleFace),
                    (None, _) => Err(Refusal::FaceNotIdentified),
                    (Some(p), false) => Err(Refusal::IdentityOnlySuggested { person: p.0, similarity: face.similarity }),
                    (Some(p), true) => self.consent(p).map(Some),
                }
            };
            let fd = FaceDecision {
                face_id: face.id.0,
                rect: face.rect,
                person: face.person,
                allowed: verdict.is_ok(),
                consent: verdict.clone().ok().flatten(),
                reason: verdict.as_ref().err().map(|r| r.to_string()),
                refusal: verdict.err(),
                ignored,
            };
            if let Some(r) = &fd.reason {
                let who = fd.person.map_or_else(|| "unknown person".into(), |p| self.store.label_of(p));
                d.reasons.push(format!("face {} ({who}): {r}", fd.face_id));
            }
            d.faces.push(fd);
        }
        d.allowed = d.reasons.is_empty();
        Ok(d)
    }

    fn consent(&mut self, person: PersonId) -> Result<i64, Refusal> {
        let store = self.store;
        let entry = match self.records.entry(person) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                // A database error here denies (the caller sees no consent) rather than allows.
                let grants = store.grants_for(person).unwrap_or_default();
                let revocations = store.revocations_for(person).unwrap_or_default();
                v.insert((grants, revocations))
            }
        };
        valid_grant(&entry.0, &entry.1, &self.using.purpose, self.using.project.as_deref(), self.using.on)
    }
}

/// Whether the file differs from what was indexed (size and mtime first, then content).
fn changed_on_disk(photo: &GatePhoto) -> Option<String> {
    let path = &crate::paths::path(&photo.path);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("file unavailable: {e}")),
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    if meta.len() == photo.size && mtime == photo.mtime_ns {
        return None;
    }
    match std::fs::read(path) {
        Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == photo.content_hash => None,
        Ok(_) => Some("changed on disk since it was indexed; run `facegate index` again".into()),
        Err(e) => Some(format!("file unavailable: {e}")),
    }
}

/// Copies an evidence file into the library's evidence store, named by its sha256.
/// Returns (sha256, original file name).
pub fn store_evidence(library_dir: &Path, file: &Path) -> Result<(String, String)> {
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let sha = store_evidence_bytes(library_dir, &bytes, file)?;
    // Escaped like every stored path, so that a name that is not UTF-8 is kept exactly.
    let name = file.file_name().map(|n| crate::paths::key(Path::new(n))).unwrap_or_default();
    Ok((sha, name))
}

/// Stores `bytes` as evidence under their sha256 (with `named_like`'s extension) and returns
/// the hash: for evidence made here, such as the snapshot of a consent given online.
pub fn store_evidence_bytes(library_dir: &Path, bytes: &[u8], named_like: &Path) -> Result<String> {
    let sha = hex::encode(Sha256::digest(bytes));
    let dir = library_dir.join("evidence");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // Named by its hash, keeping the form's extension so that it still opens as what it is.
    let dest = dir.join(evidence_file_name(&sha, named_like));
    if !dest.exists() {
        let tmp = dir.join(format!("{sha}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(sha)
}

/// `SHA.EXT` (the extension lower-cased, when it is a short plain one), else `SHA`.
fn evidence_file_name(sha: &str, file: &Path) -> String {
    let ext = file.extension().and_then(|e| e.to_str()).filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    match ext {
        Some(e) => format!("{sha}.{}", e.to_ascii_lowercase()),
        None => sha.to_string(),
    }
}

/// The stored files of the evidence with this hash (one per extension it was given with).
pub fn evidence_files(library_dir: &Path, sha: &str) -> Vec<std::path::PathBuf> {
    let dir = library_dir.join("evidence");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut found: Vec<_> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n == sha || n.strip_prefix(sha).is_some_and(|rest| rest.starts_with('.') && !rest.ends_with(".tmp"))))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// What a gated export did.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub purpose: String,
    pub project: Option<String>,
    pub on: NaiveDate,
    pub destination: String,
    pub exported: Vec<Exported>,
    pub withheld: Vec<PhotoDecision>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    pub photo_id: PhotoId,
    pub path: String,
    pub file: String,
}

/// Copies (or hard-links) the allowed photos among `photos` into `dest`, writes
/// `facegate-manifest.json` and `.csv` there, and records each use.
pub fn export(store: &mut Store, photos: &[PhotoId], using: &Use, dest: &Path, link: bool, actor: &str) -> Result<ExportReport> {
    let mut decisions = Vec::new();
    {
        let mut gate = Gate::new(store, using.clone())?;
        for &id in photos {
            if let Some(photo) = store.gate_photo_by_id(id)? {
                decisions.push((gate.check(&photo)?, photo.content_hash));
            }
        }
    }
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let mut report = ExportReport {
        purpose: using.purpose.clone(),
        project: using.project.clone(),
        on: using.on,
        destination: dest.display().to_string(),
        exported: vec![],
        withheld: vec![],
    };
    let mut uses = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (d, hash) in decisions {
        if !d.allowed {
            report.withheld.push(d);
            continue;
        }
        let id = d.photo_id.expect("indexed photo");
        let src = crate::paths::path(&d.path);
        // The exported file keeps the original name's bytes (prefixed by the photo id on a clash).
        let name = src.file_name().map(ToOwned::to_owned).unwrap_or_else(|| id.0.to_string().into());
        let name = if taken.insert(name.clone()) {
            name
        } else {
            let mut prefixed = std::ffi::OsString::from(format!("{}-", id.0));
            prefixed.push(&name);
            prefixed
        };
        let target = dest.join(&name);
        let copied = if link { std::fs::hard_link(&src, &target) } else { std::fs::copy(&src, &target).map(|_| ()) };
        copied.map_err(|e| Error::io(&target, e))?;
        uses.push((id, hash));
        report.exported.push(Exported { photo_id: id, path: d.path, file: crate::paths::key(&target) });
    }
    write_manifest(dest, &report)?;
    store.record_usage(&uses, &using.purpose, using.project.as_deref(), using.on, &report.destination, actor)?;
    Ok(report)
}

fn write_manifest(dest: &Path, report: &ExportReport) -> Result<()> {
    let json = dest.join("facegate-manifest.json");
    std::fs::write(&json, crate::json::to_vec_pretty(report).expect("report serialises")).map_err(|e| Error::io(&json, e))?;
    let path = dest.join("facegate-manifest.csv");
    let failed = |e: csv::Error| Error::io(&path, e.into());
    let mut w = csv::Writer::from_path(&path).map_err(failed)?;
    w.write_record(["status", "photo_id", "path", "exported_as", "reason"]).map_err(failed)?;
    for e in &report.exported {
        w.write_record(["exported", &e.photo_id.0.to_string(), &e.path, &e.file, ""]).map_err(failed)?;
    }
    for x in &report.withheld {
        let id = x.photo_id.map(|p| p.0.to_string()).unwrap_or_default();
        w.write_record(["withheld", &id, &x.path, "", &x.reasons.join("; ")]).map_err(failed)?;
    }
    w.flush().map_err(|e| Error::io(&path, e))
}

/// A consent that runs out within the window, and the photos it will block.
#[derive(Clone, Debug, Serialize)]
pub struct Expiring {
    pub consent: ConsentRow,
    /// The last valid day: the record's own end, or its project's when that comes first.
    pub ends: NaiveDate,
    /// The project's end, when the record itself says a later day (or none): it ends with the project.
    pub ends_with_project: Option<NaiveDate>,
    pub person_name: Option<String>,
    pub person_email: Option<String>,
    /// Photos of the person (confirmed face) allowed for the purpose today, which the consent's
    /// end will block; photos blocked anyway (someone else without consent, erased, changed on
    /// disk …) are not counted.
    pub photos: Vec<String>,
}

/// Consents valid today whose last day (their own, or their project's) falls within `days` days
/// of `today`, for which no other record keeps the purpose valid the day after.
pub fn expiring(store: &Store, today: NaiveDate, days: i64) -> Result<Vec<Expiring>> {
    let end = today + chrono::Duration::days(days);
    let mut out = Vec::new();
    for c in store.consent_rows_ending(today, end)? {
        let grants = store.grants_for(c.person)?;
        let Some(grant) = grants.iter().find(|g| g.id == c.id) else { continue };
        let Some(until) = rules::last_day(grant).filter(|u| *u >= today && *u <= end) else { continue };
        let revocations = store.revocations_for(c.person)?;
        let project = c.project.as_deref();
        if valid_grant(&grants, &revocations, &c.purpose, project, today) != Ok(c.id) {
            continue; // not the record in force today
        }
        if valid_grant(&grants, &revocations, &c.purpose, project, until + chrono::Duration::days(1)).is_ok() {
            continue; // renewed already
        }
        let ends_with_project = rules::runs_past_project(grant.until, grant.project_until);
        let person = store.person(c.person)?;
        let mut gate = Gate::new(store, Use { purpose: c.purpose.clone(), project: c.project.clone(), on: today, min_face_px: 0.0 })?;
        let mut photos = Vec::new();
        for id in store.confirmed_photos(c.person)? {
            let Some(photo) = store.gate_photo_by_id(id)? else { continue };
            if gate.check(&photo)?.allowed {
                photos.push(photo.path);
            }
        }
        out.push(Expiring { consent: c, ends: until, ends_with_project, person_name: person.name, person_email: person.email, photos });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    #[test]
    fn evidence_keeps_a_name_that_is_not_utf8_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let form = dir.path().join(std::ffi::OsStr::from_bytes(b"quitclaim-\xff.pdf"));
        std::fs::write(&form, b"%PDF signed").unwrap();
        let (sha, name) = super::store_evidence(&dir.path().join("lib"), &form).unwrap();
        assert_eq!(name, "quitclaim-\\xff.pdf");
        assert_eq!(crate::paths::path(&name), Path::new(form.file_name().unwrap()));
        assert!(super::evidence_files(&dir.path().join("lib"), &sha)[0].to_str().unwrap().ends_with(".pdf"));
    }
}
