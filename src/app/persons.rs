//! Persons and faces: naming, confirming, rejecting, merging, splitting and moving, faces drawn
//! or dismissed by hand, clustering, and the reads that show a person's faces and photos.

use std::path::Path;

use serde::Serialize;

use super::{subjects, App, Permission};
use crate::ann::FaceIndex;
use crate::cluster::{self, Mode};
use crate::error::Result;
use crate::query::{self, PersonPhotos};
use crate::store::{FaceId, FaceRow, Link, Person, PersonFace, PersonId};
use crate::vision::{FaceModels, Manifest, Rect};

/// A person and every face linked to them.
#[derive(Serialize)]
pub struct PersonDetail {
    pub person: Person,
    pub faces: Vec<PersonFace>,
}

/// What a face command changed, in words and by id.
#[derive(Serialize)]
pub struct Changed {
    pub message: String,
    pub faces: Vec<i64>,
}

/// The suggestions confirmed at once (`person confirm`): the faces, so they can be undone.
#[derive(Serialize)]
pub struct Confirmed {
    pub person: Person,
    pub faces: Vec<FaceId>,
    /// The faces' links before, for an undo ([`App::restore_links`]).
    #[serde(skip)]
    pub before: Vec<crate::store::FaceState>,
}

fn ids(faces: &[FaceId]) -> Vec<i64> {
    faces.iter().map(|f| f.0).collect()
}

impl App<'_> {
    pub fn persons(&mut self) -> Result<Vec<Person>> {
        self.require(Permission::View, "person list", &[])?;
        self.store().persons()
    }

    pub fn person_detail(&mut self, id: PersonId) -> Result<PersonDetail> {
        let subject = [format!("person:{}", id.0)];
        self.require(Permission::View, "person show", &subject)?;
        let detail = PersonDetail { person: self.store().person(id)?, faces: self.store().person_faces(id)? };
        self.audit_read("person show", &subject, "ok");
        Ok(detail)
    }

    pub fn name_person(&mut self, id: PersonId, name: &str, email: Option<&str>) -> Result<Person> {
        let subject = [format!("person:{}", id.0)];
        self.require(Permission::EditPersons, "person name", &subject)?;
        self.library.store.set_person_details(id, Some(name), email)?;
        self.audit("person name", &subject, "ok", None)?;
        let person = self.store().person(id)?;
        self.warn_if_unconfirmed(&person);
        Ok(person)
    }

    pub fn add_person(&mut self, name: &str, email: Option<&str>, external: bool) -> Result<Person> {
        self.require(Permission::EditPersons, "person add", &[])?;
        let id = self.library.store.add_person(Some(name), email, external)?;
        self.audit("person add", &[format!("person:{}", id.0)], "ok", None)?;
        self.store().person(id)
    }

    /// Moves every face of `from` to `into`; returns `into` and how many faces moved.
    pub fn merge_persons(&mut self, into: PersonId, from: PersonId) -> Result<(Person, usize)> {
        let subjects = [format!("person:{}", into.0), format!("person:{}", from.0)];
        self.require(Permission::EditPersons, "person merge", &subjects)?;
        let moved = self.library.store.merge_persons(into, from)?;
        self.audit("person merge", &subjects, &format!("{moved} faces moved"), None)?;
        Ok((self.store().person(into)?, moved))
    }

    /// Confirms every suggestion of the person: the review list `person photos` shows (and
    /// `erase` waits on) and the faces clustering suggested.
    pub fn confirm_suggestions(&mut self, manifest: &Manifest, person: PersonId) -> Result<Confirmed> {
        let subject = [format!("person:{}", person.0)];
        self.require(Permission::EditPersons, "person confirm", &subject)?;
        let found = query::person_review(self.library, manifest, person)?;
        let mut faces: Vec<FaceId> = found.suggestions.iter().map(|s| s.face_id).collect();
        faces.extend(self.store().person_faces(person)?.iter().filter(|f| f.link == Link::Suggested).map(|f| f.face_id));
        faces.sort_unstable();
        faces.dedup();
        let before = self.store().face_states_of(&faces)?;
        self.library.store.move_faces(&faces, person)?;
        let all = [subject.to_vec(), subjects("face", ids(&faces))].concat();
        self.audit("person confirm", &all, &format!("{} faces confirmed", faces.len()), None)?;
        Ok(Confirmed { person: self.store().person(person)?, faces, before })
    }

    /// Marks a person external (a visitor, a hired model) or not.
    pub fn mark_external(&mut self, id: PersonId, external: bool) -> Result<()> {
        let subject = [format!("person:{}", id.0)];
        self.require(Permission::EditPersons, "person external", &subject)?;
        if self.store().person(id)?.external == external {
            return Ok(());
        }
        self.library.store.set_external(id, external)?;
        self.audit("person external", &subject, if external { "external" } else { "not external" }, None)
    }

    /// A new person made of one face (the review queue's "new person").
    pub fn new_person_from(&mut self, face: FaceId) -> Result<Person> {
        self.require(Permission::EditPersons, "person add", &[format!("face:{}", face.0)])?;
        let id = self.library.store.add_person(None, None, false)?;
        self.library.store.move_faces(&[face], id)?;
        self.audit("person add", &[format!("person:{}", id.0), format!("face:{}", face.0)], "ok", Some("from the review queue"))?;
        self.store().person(id)
    }

    /// Makes a new person of some of a person's faces.
    pub fn split_person(&mut self, from: PersonId, faces: &[FaceId]) -> Result<Person> {
        self.require(Permission::EditPersons, "person split", &[format!("person:{}", from.0)])?;
        let new = self.library.store.split_person(from, faces)?;
        let subjects = [format!("person:{}", from.0), format!("person:{}", new.0)];
        self.audit("person split", &subjects, &format!("{} faces", faces.len()), None)?;
        self.store().person(new)
    }

    /// Every photo of the person: the confirmed ones and the suggestions to review. The
    /// calibrated threshold with the exact scan gives the list `erase` waits on; other settings
    /// are for exploring.
    pub fn person_photos(&mut self, manifest: &Manifest, person: PersonId, threshold: Option<f32>, method: query::Method) -> Result<PersonPhotos> {
        let subject = [format!("person:{}", person.0)];
        self.require(Permission::View, "person photos", &subject)?;
        let threshold = threshold.unwrap_or(manifest.embedder.match_threshold);
        let found = match (threshold == manifest.embedder.match_threshold, method) {
            (true, query::Method::Exact) => query::person_review(self.library, manifest, person)?,
            _ => query::person_photos(self.library, manifest, person, threshold, method)?,
        };
        let outcome = format!("{} confirmed, {} suggested", found.confirmed.len(), found.suggestions.len());
        self.audit_read("person photos", &subject, &outcome);
        Ok(found)
    }

    /// Faces linked to nobody.
    pub fn unassigned_faces(&mut self) -> Result<Vec<FaceRow>> {
        self.require(Permission::View, "face list", &[])?;
        self.store().unassigned_faces()
    }

    /// Links faces to `to` as confirmed (a human said so).
    pub fn move_faces(&mut self, faces: &[FaceId], to: PersonId) -> Result<Changed> {
        let command = format!("face move to person:{}", to.0);
        self.require(Permission::EditPersons, &command, &subjects("face", ids(faces)))?;
        self.library.store.move_faces(faces, to)?;
        self.audit(&command, &subjects("face", ids(faces)), "ok", None)?;
        let message = match faces {
            [one] => format!("face {} moved to {}", one.0, self.label_of(to)),
            _ => format!("{} face(s) moved to {}", faces.len(), self.label_of(to)),
        };
        Ok(Changed { message, faces: ids(faces) })
    }

    /// Confirms faces' current links.
    pub fn confirm_faces(&mut self, faces: &[FaceId]) -> Result<Changed> {
        self.require(Permission::EditPersons, "face confirm", &subjects("face", ids(faces)))?;
        self.library.store.confirm_faces(faces)?;
        self.audit("face confirm", &subjects("face", ids(faces)), "ok", None)?;
        Ok(Changed { message: format!("{} face(s) confirmed", faces.len()), faces: ids(faces) })
    }

    /// Says the faces are not `person` (or not whoever they are linked to): the link goes and
    /// the pair is never suggested again.
    pub fn reject_faces(&mut self, faces: &[FaceId], person: Option<PersonId>) -> Result<Changed> {
        let command = match person {
            Some(p) => format!("face reject for person:{}", p.0),
            None => "face reject".to_string(),
        };
        self.require(Permission::EditPersons, &command, &subjects("face", ids(faces)))?;
        self.library.store.reject_faces(faces, person)?;
        self.audit(&command, &subjects("face", ids(faces)), "ok", None)?;
        let whom = person.map(|p| format!(" for {}", self.label_of(p))).unwrap_or_default();
        Ok(Changed { message: format!("{} face(s) rejected{whom}", faces.len()), faces: ids(faces) })
    }

    /// Not faces: deleted, and never detected again on re-indexing.
    pub fn dismiss_faces(&mut self, faces: &[FaceId]) -> Result<Changed> {
        self.require(Permission::EditPersons, "face dismiss", &subjects("face", ids(faces)))?;
        let dismissed = crate::review::dismiss_faces(self.library, faces, &self.actor.name)?;
        Ok(Changed { message: format!("{} face(s) dismissed as not faces", dismissed.len()), faces: ids(faces) })
    }

    /// A face the detector missed, drawn by hand on an indexed photo.
    pub fn add_face(&mut self, manifest: &Manifest, models: &mut FaceModels, photo: &Path, rect: Rect) -> Result<Changed> {
        self.require(Permission::EditPersons, "face add", &[])?;
        let (face, photo_id) = crate::review::add_face(self.library, manifest, models, photo, rect, &self.actor.name)?;
        let message = format!(
            "face {} added to photo {} ({}); link it with `face move {} --to PERSON`",
            face.0,
            photo_id.0,
            crate::paths::key(photo),
            face.0
        );
        Ok(Changed { message, faces: vec![face.0] })
    }

    pub fn cluster(&mut self, manifest: &Manifest, mode: Mode) -> Result<cluster::Outcome> {
        self.require(Permission::EditPersons, "cluster", &[])?;
        let (index, _) = FaceIndex::open(&self.library.index_dir(), &self.library.store, &manifest.embedder.model.id, manifest.embedder.dim, true)?;
        let outcome = cluster::run(self.library, &index, mode, &cluster::Params::default())?;
        let summary = format!("{} linked, {} persons created", outcome.faces_linked, outcome.persons_created);
        self.audit("cluster", &[], &summary, Some(&format!("{mode:?}")))?;
        Ok(outcome)
    }

    /// Warns when a person has no confirmed face: the gate then blocks their photos.
    pub(super) fn warn_if_unconfirmed(&mut self, p: &Person) {
        if p.confirmed_faces == 0 {
            self.warnings.push(unconfirmed_hint(p));
        }
    }
}

/// What a person with no confirmed face means for the gate, and what to do.
pub fn unconfirmed_hint(p: &Person) -> String {
    format!(
        "person {} has no confirmed face ({} suggested): `check` blocks their photos as \"identity only suggested\"; \
         review with `facegate person photos {}`, confirm with `facegate person confirm {}`",
        p.id.0, p.suggested_faces, p.id.0, p.id.0
    )
}
