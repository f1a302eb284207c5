//! What the web app's review screens need: the queue of faces a human still has to decide,
//! with the persons they may be, one photo with its faces and the gate's answer for every
//! purpose, and undoing a change of links.

use std::collections::HashMap;

use serde::Serialize;

use super::{subjects, App, Changed, Permission};
use crate::ann::{self, Query};
use crate::consent::{Gate, PhotoDecision, Use};
use crate::error::{Error, Result};
use crate::store::{FaceId, FaceRow, FaceState, Person, PersonId, PhotoId};
use crate::vision::{Manifest, Origin};

/// Why a face waits for a human.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Undecided {
    /// The detector was unsure it is a face.
    Possible,
    /// Clustering suggested a person; nobody confirmed.
    Suggested,
    /// Linked to nobody.
    Unidentified,
}

/// A person a face may be, with the best similarity to one of their confirmed faces.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub person: Person,
    pub similarity: f32,
}

/// One face in the review queue.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewItem {
    pub face: FaceRow,
    pub why: Undecided,
    /// The suggested person.
    pub suggested: Option<Person>,
    /// How many photos one decision about this identity unblocks: a suggested person's
    /// suggested photos, else this face's photo.
    pub blocks: usize,
    pub candidates: Vec<Candidate>,
}

/// A page of the queue, and how many faces wait in all.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewQueue {
    pub total: usize,
    pub items: Vec<ReviewItem>,
}

/// A face of a photo with its person, as the photo page labels it.
#[derive(Clone, Debug, Serialize)]
pub struct PhotoFace {
    pub face: FaceRow,
    pub person: Option<Person>,
    pub confirmed: bool,
}

/// A photo, its faces and, for every purpose, whether it may be used today and why not.
#[derive(Clone, Debug, Serialize)]
pub struct PhotoView {
    pub photo_id: PhotoId,
    pub path: String,
    /// Width and height in pixels, as the boxes measure them.
    pub size: Option<(u32, u32)>,
    pub faces: Vec<PhotoFace>,
    pub purposes: Vec<(String, PhotoDecision)>,
}

/// How many candidate persons the queue shows per face, and how far below the match threshold
/// it still looks (candidates are for a human to judge, never linked by themselves).
const CANDIDATES: usize = 3;
const CANDIDATE_SLACK: f32 = 0.05;

impl App<'_> {
    /// The faces that block the most photos first: a suggested person's faces (confirming them
    /// unblocks all their photos at once), then possible and unidentified faces, larger first.
    pub fn review_queue(&mut self, manifest: &Manifest, offset: usize, limit: usize) -> Result<ReviewQueue> {
        self.require(Permission::View, "review queue", &[])?;
        let store = self.store();
        let undecided = store.undecided_faces()?;
        let mut per_person: HashMap<PersonId, usize> = HashMap::new();
        for (_, p, _) in &undecided {
            if let Some(p) = p {
                *per_person.entry(*p).or_default() += 1;
            }
        }
        // Ordered on what the faces table gives at once; whole rows are read for the page only.
        let mut queue: Vec<(FaceId, Option<PersonId>, usize, f32)> =
            undecided.into_iter().map(|(face, person, area)| (face, person, person.map_or(1, |p| per_person[&p]), area)).collect();
        queue.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.3.total_cmp(&a.3)).then_with(|| a.0.cmp(&b.0)));
        let total = queue.len();
        let queue: Vec<_> = queue.into_iter().skip(offset).take(limit).collect();
        let rows: HashMap<FaceId, FaceRow> = store.faces(&queue.iter().map(|q| q.0).collect::<Vec<_>>())?.into_iter().map(|r| (r.face_id, r)).collect();
        let page: Vec<(FaceRow, Option<PersonId>, usize)> = queue.into_iter().filter_map(|(face, person, blocks, _)| rows.get(&face).map(|r| (r.clone(), person, blocks))).collect();
        let vectors = ann::exact_vectors(&self.library.index_dir(), store, &manifest.embedder.model.id, manifest.embedder.dim)?;
        // One scan with the page's faces together, then each face's own matches among the hits.
        let threshold = manifest.embedder.match_threshold - CANDIDATE_SLACK;
        let own: HashMap<FaceId, Vec<f32>> = store.face_vectors(&page.iter().map(|p| p.0.face_id).collect::<Vec<_>>())?.into_iter().collect();
        let queries: Vec<Query> = own.iter().map(|(face, vector)| Query { face: Some(*face), vector }).collect();
        let hits: Vec<FaceId> = vectors.matches(&queries, threshold).into_iter().map(|h| h.0).collect();
        let confirmed: Vec<FaceState> = store.face_states_of(&hits)?.into_iter().filter(|s| s.link == Some(crate::store::Link::Confirmed)).collect();
        let mut found = Vec::with_capacity(page.len());
        for (face, suggested, blocks) in page {
            let why = match (suggested, face.origin) {
                (Some(_), _) => Undecided::Suggested,
                (None, Origin::Possible) => Undecided::Possible,
                (None, _) => Undecided::Unidentified,
            };
            let mut candidates: HashMap<PersonId, f32> = HashMap::new();
            if let Some(vector) = own.get(&face.face_id) {
                for s in confirmed.iter().filter(|s| s.face != face.face_id) {
                    let (Some(p), Some(other)) = (s.person, vectors.get(s.face)) else { continue };
                    let similarity = ann::dot(vector, other);
                    if similarity >= threshold {
                        let e = candidates.entry(p).or_insert(f32::MIN);
                        *e = e.max(similarity);
                    }
                }
            }
            let mut candidates: Vec<(PersonId, f32)> = candidates.into_iter().collect();
            candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            candidates.truncate(CANDIDATES);
            found.push((face, why, suggested, blocks, candidates));
        }
        // Only the persons the page shows are read.
        let persons = store.persons_by_id(found.iter().flat_map(|f| f.2.iter().copied().chain(f.4.iter().map(|c| c.0))))?;
        let items = found
            .into_iter()
            .map(|(face, why, suggested, blocks, candidates)| ReviewItem {
                face,
                why,
                suggested: suggested.map(|p| persons[&p].clone()),
                blocks,
                candidates: candidates.into_iter().map(|(p, similarity)| Candidate { person: persons[&p].clone(), similarity }).collect(),
            })
            .collect();
        Ok(ReviewQueue { total, items })
    }

    /// A photo with its faces and the gate's answer for every purpose today.
    pub fn photo_view(&mut self, photo: PhotoId) -> Result<PhotoView> {
        let subject = [format!("photo:{}", photo.0)];
        self.require(Permission::View, "photo show", &subject)?;
        let store = self.store();
        let gate_photo = store.gate_photo_by_id(photo)?.ok_or_else(|| Error::lookup("unknown_photo", format!("no photo {}", photo.0)))?;
        let gate_faces: HashMap<FaceId, (Option<PersonId>, bool)> = store.gate_faces(photo)?.into_iter().map(|f| (f.id, (f.person, f.confirmed))).collect();
        let persons = store.persons_by_id(gate_faces.values().filter_map(|f| f.0))?;
        let mut faces: Vec<PhotoFace> = store
            .faces(&gate_faces.keys().copied().collect::<Vec<_>>())?
            .into_iter()
            .map(|face| {
                let (person, confirmed) = gate_faces[&face.face_id];
                PhotoFace { person: person.and_then(|p| persons.get(&p).cloned()), confirmed, face }
            })
            .collect();
        faces.sort_by(|a, b| a.face.rect.x0.total_cmp(&b.face.rect.x0));
        let mut purposes = Vec::new();
        for p in store.purposes()? {
            let using = Use { purpose: p.name.clone(), project: None, on: self.today, min_face_px: 0.0 };
            purposes.push((p.name, Gate::new(store, using)?.check(&gate_photo)?));
        }
        let view = PhotoView { photo_id: photo, path: gate_photo.path, size: store.photo_size(photo)?, faces, purposes };
        self.audit_read("photo show", &subject, "ok");
        Ok(view)
    }

    /// Puts faces' links back as `before` says (the undo of "confirm all suggestions").
    pub fn restore_links(&mut self, before: &[FaceState]) -> Result<Changed> {
        let faces: Vec<i64> = before.iter().map(|s| s.face.0).collect();
        self.require(Permission::EditPersons, "face links undo", &subjects("face", faces.iter().copied()))?;
        self.library.store.restore_links(before)?;
        self.audit("face links undo", &subjects("face", faces.iter().copied()), "ok", None)?;
        Ok(Changed { message: format!("{} face link(s) put back", faces.len()), faces })
    }
}
