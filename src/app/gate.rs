//! The gate as a use case, for the CLI's `check` and the API alike: may these photos, named by
//! path, by the library's path or by content hash, be used for a purpose (in a project, on a
//! day)? A thin layer over `consent::Gate` that decides each photo and audits the read.

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use super::{subjects, App, Permission};
use crate::consent::{Gate, PhotoDecision, Use};
use crate::error::{Error, Result};
use crate::store::Store;

/// A photo to decide.
#[derive(Clone, Debug, PartialEq)]
pub enum PhotoRef {
    /// A file on this machine (a copy outside the library is decided by its content).
    Path(PathBuf),
    /// A path as the library holds it; no file outside the library is read (for callers who
    /// should not probe the server's files: the API).
    LibraryPath(String),
    /// The SHA-256 of a file's content.
    Sha256(String),
}

/// The gate's answer for some photos, in the shape `facegate check --json` prints and the API
/// answers.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub purpose: String,
    pub project: Option<String>,
    pub on: NaiveDate,
    pub photos: Vec<PhotoDecision>,
}

impl App<'_> {
    /// The gate: may each photo be used as `using` says (see [`App::use_for`])? The read is
    /// audited.
    pub fn check(&mut self, photos: &[PhotoRef], using: Use) -> Result<Check> {
        let command = format!("check {}", using.purpose);
        self.require(Permission::View, &command, &[])?;
        let store = self.store();
        let mut gate = Gate::new(store, using.clone())?;
        let decisions = photos
            .iter()
            .map(|p| match p {
                PhotoRef::Path(path) => gate.check_path(path),
                PhotoRef::LibraryPath(key) => match store.gate_photo(key)? {
                    Some(photo) => gate.check(&photo),
                    None => Ok(blocked(
                        key.clone(),
                        "not in the library under this path (files outside the library are not read: give the file's sha256 instead)".into(),
                        true,
                    )),
                },
                PhotoRef::Sha256(sha) => check_hash(store, &mut gate, sha),
            })
            .collect::<Result<Vec<_>>>()?;
        let photo_subjects = subjects("photo", decisions.iter().filter_map(|d| d.photo_id.map(|p| p.0)));
        let allowed = decisions.iter().filter(|d| d.allowed).count();
        self.audit_read(&command, &photo_subjects, &format!("{allowed} of {} allowed", decisions.len()));
        Ok(Check { purpose: using.purpose, project: using.project, on: using.on, photos: decisions })
    }
}

/// Decides the library's photo with this content (the strictest decision when several rows
/// have it); content nobody indexed is blocked, and so is a copy of a file an erasure removed.
fn check_hash(store: &Store, gate: &mut Gate, sha: &str) -> Result<PhotoDecision> {
    let sha = sha.trim().to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!("{sha:?} is not a SHA-256 (64 hexadecimal digits)")));
    }
    let mut decisions = Vec::new();
    for photo in store.gate_photos_by_hash(&sha)? {
        decisions.push(gate.check(&photo)?);
    }
    if let Some(strictest) = decisions.iter().position(|d| !d.allowed).or((!decisions.is_empty()).then_some(0)) {
        return Ok(decisions.swap_remove(strictest));
    }
    Ok(match store.erased_files()?.get(&sha) {
        Some((erasure, _)) => blocked(format!("sha256:{sha}"), format!("not in the library, and the content of a file removed by erasure {erasure}"), false),
        None => blocked(format!("sha256:{sha}"), "no photo with this content is in the library; index it first".into(), true),
    })
}

/// A photo blocked before any face is looked at; `error` when it could not be judged at all.
fn blocked(path: String, reason: String, error: bool) -> PhotoDecision {
    PhotoDecision { path, photo_id: None, allowed: false, reasons: vec![reason.clone()], faces: vec![], error: error.then_some(reason), matched_by_content: None }
}
