//! Indexing photo folders and searching by a face: the use cases around the pipeline and the
//! face index.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{subjects, App, Permission};
use crate::error::{Error, Result};
use crate::pipeline::{self, IndexOptions, Progress, Summary};
use crate::query::{self, Match, QueryPhoto};
use crate::store::{FaceId, PersonId};
use crate::vision::{Face, FaceModels, Manifest};

/// A query photo: a file on this machine (the CLI), or an upload held in memory (the server).
#[derive(Clone, Copy, Debug)]
pub enum QuerySource<'a> {
    File(&'a Path),
    /// An upload, by the file name it came with.
    Upload { name: &'a str, bytes: &'a [u8] },
}

impl QuerySource<'_> {
    /// How the photo is named in errors and in the report's `query`.
    pub fn name(&self) -> PathBuf {
        match self {
            QuerySource::File(path) => path.to_path_buf(),
            QuerySource::Upload { name, .. } => PathBuf::from(name),
        }
    }
}

/// What `facegate search` and the API's search are asked.
#[derive(Clone, Debug)]
pub struct PhotoSearch<'a> {
    pub source: QuerySource<'a>,
    /// The face to search with, counting from 1 by size (default: the largest).
    pub face: Option<usize>,
    /// Default: the embedder's calibrated threshold.
    pub threshold: Option<f32>,
    pub method: query::Method,
    /// Link the query face to this person (an id, a name or an email) first.
    pub assign: Option<String>,
    /// Where the models run, to index the query photo for an assignment.
    pub device: crate::vision::Device,
}

/// Where query photos uploaded to the server are kept once a face of theirs is assigned to a
/// person (inside the library folder, owner-only, each named by its content).
pub const UPLOADS_DIR: &str = "uploads";

impl App<'_> {
    /// Indexes the roots (new, changed and removed photos), clustering the new faces unless
    /// told not to. `max_megapixels` first changes the library's photo size limit.
    pub fn index(&mut self, manifest: &Manifest, opts: &IndexOptions, progress: &dyn Progress, max_megapixels: Option<u64>) -> Result<Summary> {
        self.require(Permission::Administer, "index", &[])?;
        let mut opts = opts.clone();
        if let Some(mp) = max_megapixels {
            self.library.store.set_max_megapixels(mp)?;
            opts.limits = self.store().photo_limits()?;
        }
        let summary = pipeline::index(self.library, manifest, &opts, progress)?;
        let mut outcome = format!("{} new, {} changed, {} removed, {} failed", summary.new, summary.changed, summary.removed, summary.failed);
        if let Some(mp) = max_megapixels {
            outcome.push_str(&format!("; photo limit set to {mp} megapixels"));
        }
        self.audit("index", &[], &outcome, None)?;
        Ok(summary)
    }

    /// Every indexed photo showing the face whose embedding is `query`.
    pub fn search(&mut self, manifest: &Manifest, query: &[f32], threshold: f32, method: query::Method) -> Result<Vec<Match>> {
        self.require(Permission::View, "search", &[])?;
        let matches = query::photos_of(self.library, manifest, query, threshold, method)?;
        let found = subjects("photo", matches.iter().map(|m| m.photo_id.0));
        self.audit_read("search", &found, &format!("{} photos", matches.len()));
        Ok(matches)
    }

    /// The faces of a query photo held in memory (an upload; `source` names it in errors),
    /// largest first, and the photo decoded. Nothing is written: searching with a face is
    /// [`App::search`], which audits. A file that is not a photo is an [`Error::Invalid`].
    pub fn query_photo(&mut self, models: &mut FaceModels, bytes: &[u8], source: &Path) -> Result<QueryPhoto> {
        self.require(Permission::View, "search", &[])?;
        // Not a photo: bad input from the user, not a file of the library that went bad.
        query::faces_in(models, bytes, source, &self.store().photo_limits()?).map_err(|e| match e {
            Error::BadPhoto { .. } => Error::Invalid(e.to_string()),
            e => e,
        })
    }

    /// A search by photo given the query photo's faces (from [`query::query_faces`] or
    /// [`App::query_photo`]): picks the face, assigns it when asked, and finds every photo of
    /// the person ([`App::search`], audited), in the shape `search --json` prints.
    pub fn search_photo(&mut self, manifest: &Manifest, faces: &[Face], s: &PhotoSearch) -> Result<query::SearchReport> {
        let source = s.source.name();
        let number = query::pick(faces, s.face, &source)?;
        let face = &faces[number - 1];
        let threshold = s.threshold.unwrap_or(manifest.embedder.match_threshold);
        let assigned = match s.assign.as_deref() {
            Some(p) => {
                let person = self.person_id(p)?;
                let opts = IndexOptions { roots: vec![], jobs: 1, device: s.device, batch_size: 1, cluster: true, limits: self.store().photo_limits()? };
                Some(match s.source {
                    QuerySource::File(path) => self.assign_query_face(manifest, &opts, path, face, person)?,
                    QuerySource::Upload { bytes, .. } => self.assign_uploaded_face(manifest, &opts, bytes, face, person)?,
                })
            }
            None => None,
        };
        let matches = self.search(manifest, &face.embedding, threshold, s.method)?;
        let query = serde_json::json!({ "path": source.display().to_string() });
        Ok(query::SearchReport { query, faces: query::describe(faces), face: number, threshold, method: s.method, matches, assigned })
    }

    /// Confirms a face of an uploaded query photo as `person`, as [`App::assign_query_face`]
    /// does for a file: the photo is kept in the library's [`UPLOADS_DIR`] (named by its
    /// SHA-256) and indexed, unless the library already holds a photo with this content, which
    /// is used instead. Before the role is checked nothing is written; when the assignment
    /// fails, the kept copy goes again.
    pub fn assign_uploaded_face(&mut self, manifest: &Manifest, opts: &IndexOptions, bytes: &[u8], face: &Face, person: PersonId) -> Result<FaceId> {
        self.require(Permission::EditPersons, &format!("face move to person:{}", person.0), &[])?;
        self.store().person(person)?;
        let sha = hex::encode(Sha256::digest(bytes));
        let indexed = self.store().gate_photos_by_hash(&sha)?.into_iter().map(|p| crate::paths::path(&p.path)).find(|p| p.is_file());
        let (photo, kept) = match indexed {
            Some(path) => (path, false),
            None => (keep_upload(&self.library.dir, &sha, bytes)?, true),
        };
        let assigned = self.assign_query_face(manifest, opts, &photo, face, person);
        if assigned.is_err() && kept {
            let _ = std::fs::remove_file(&photo);
        }
        assigned
    }

    /// Confirms a query photo's face as `person`: finds the same face in the library (indexing
    /// the photo first when it is not there) and links it.
    pub fn assign_query_face(&mut self, manifest: &Manifest, opts: &IndexOptions, photo: &Path, face: &Face, person: PersonId) -> Result<FaceId> {
        let command = format!("face move to person:{}", person.0);
        self.require(Permission::EditPersons, &command, &[])?;
        self.store().person(person)?;
        let key = crate::paths::key(&photo.canonicalize().map_err(|e| Error::io(photo, e))?);
        let mut opts = opts.clone();
        opts.roots = vec![photo.to_path_buf()];
        opts.limits = self.store().photo_limits()?;
        let summary = pipeline::index(self.library, manifest, &opts, &pipeline::Quiet)?;
        if let Some(f) = summary.failures.first() {
            return Err(Error::Invalid(format!("{}: cannot add the query photo to the library: {}", f.path, f.reason)));
        }
        let stored = self.store().photo_faces(&key)?;
        let best = stored
            .iter()
            .map(|row| (row.rect.iou(&face.detection.rect), row.face_id))
            .filter(|(iou, _)| *iou > 0.5)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id)
            .ok_or_else(|| Error::Invalid(format!("{key}: the query face is not among the library's faces of this photo")))?;
        self.library.store.move_faces(&[best], person)?;
        self.audit(&command, &[format!("face:{}", best.0)], "ok", Some("from a search"))?;
        Ok(best)
    }
}

/// Writes an uploaded photo to `uploads/SHA.EXT` (the extension of its format) through a
/// temporary file; an existing copy is kept as it is.
fn keep_upload(library_dir: &Path, sha: &str, bytes: &[u8]) -> Result<PathBuf> {
    let ext = image::guess_format(bytes).ok().and_then(|f| f.extensions_str().first().copied()).unwrap_or("img");
    let dir = library_dir.join(UPLOADS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let dest = dir.join(format!("{sha}.{ext}"));
    if !dest.exists() {
        let tmp = dir.join(format!(".{sha}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(dest)
}
