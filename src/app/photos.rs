//! Indexing photo folders and searching by a face: the use cases around the pipeline and the
//! face index.

use std::path::Path;

use super::{subjects, App, Permission};
use crate::error::{Error, Result};
use crate::pipeline::{self, IndexOptions, Progress, Summary};
use crate::query::{self, Match};
use crate::store::{FaceId, PersonId};
use crate::vision::{Face, Manifest};

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
