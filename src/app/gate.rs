//! The gate as a use case: may these photos, named by path or by content hash, be used for a
//! purpose (in a project, on a day)? A thin layer over `consent::Gate`: it resolves the purpose
//! as the CLI does (not case-sensitive), decides each photo, and audits the read. The answer has
//! the shape of `facegate check --json`.

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use super::{Actor, Permission};
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

/// The gate's answer for a set of photos.
#[derive(Clone, Debug, Serialize)]
pub struct CheckAnswer {
    pub purpose: String,
    pub project: Option<String>,
    pub on: NaiveDate,
    pub photos: Vec<PhotoDecision>,
}

/// The purpose as the library spells it (names are not case-sensitive).
pub fn purpose_name(store: &Store, given: &str) -> Result<String> {
    let wanted = given.trim().to_lowercase();
    let purposes = store.purposes()?;
    if let Some(p) = purposes.iter().find(|p| p.name.to_lowercase() == wanted) {
        return Ok(p.name.clone());
    }
    let known: Vec<&str> = purposes.iter().map(|p| p.name.as_str()).collect();
    Err(Error::Invalid(format!("unknown purpose {given:?} (known: {})", if known.is_empty() { "none yet".into() } else { known.join(", ") })))
}

/// Decides each photo for `using` (whose purpose is resolved first) and audits the read.
pub fn check_photos(store: &mut Store, actor: &Actor, mut using: Use, photos: &[PhotoRef]) -> Result<CheckAnswer> {
    actor.require(store, Permission::View, "check", &[])?;
    using.purpose = purpose_name(store, &using.purpose)?;
    let decisions = {
        let store: &Store = store;
        let mut gate = Gate::new(store, using.clone())?;
        photos
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
            .collect::<Result<Vec<_>>>()?
    };
    let subjects: Vec<String> = decisions.iter().filter_map(|d| d.photo_id.map(|p| format!("photo:{}", p.0))).collect();
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    store.audit(&actor.name, &format!("check {}", using.purpose), &subjects, &format!("{allowed} of {} allowed", decisions.len()), None)?;
    Ok(CheckAnswer { purpose: using.purpose, project: using.project, on: using.on, photos: decisions })
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
