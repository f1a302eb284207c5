//! `facegate search`: the faces of a query photo, and every indexed photo showing the chosen one.
//! Reads the store and the index; never writes photos or faces.

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;
use serde::Serialize;

use crate::ann::{self, FaceIndex, Query};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::photo;
use crate::store::{FaceId, PhotoId};
use crate::vision::{Face, FaceModels, Manifest, Pyramid, Rect};

/// A face found in the query photo; `number` counts from 1, largest face first.
#[derive(Clone, Debug, Serialize)]
pub struct QueryFace {
    pub number: usize,
    pub rect: Rect,
    pub score: f32,
}

/// An indexed photo showing the person, with its best-matching face.
#[derive(Clone, Debug, Serialize)]
pub struct Match {
    pub photo_id: PhotoId,
    pub path: String,
    pub similarity: f32,
    pub face_id: FaceId,
    pub rect: Rect,
    pub taken_at: Option<String>,
}

/// Finds and embeds every face of a photo file, largest first.
pub fn query_faces(models: &mut FaceModels, path: &Path, limits: &photo::Limits) -> Result<Vec<Face>> {
    if let Some(refused) = std::fs::metadata(path).ok().and_then(|m| limits.refuse_file(m.len())) {
        return Err(Error::bad_photo(path, refused.reason));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(faces_in(models, &bytes, path, limits)?.faces)
}

/// A query photo held in memory, decoded, with its faces.
pub struct QueryPhoto {
    /// Largest first.
    pub faces: Vec<Face>,
    /// The photo, upright.
    pub image: RgbImage,
}

/// Finds and embeds every face of a photo held in memory (an upload), largest first; `source`
/// names it in errors.
pub fn faces_in(models: &mut FaceModels, bytes: &[u8], source: &Path, limits: &photo::Limits) -> Result<QueryPhoto> {
    let decoded = photo::decode(bytes, limits).map_err(|why| Error::bad_photo(source, why.reason))?;
    let image = decoded.rgb;
    let pyramid = Pyramid::new(image, 16);
    let mut faces = models.faces(&pyramid, &[])?;
    faces.sort_by(|a, b| b.detection.rect.area().total_cmp(&a.detection.rect.area()));
    Ok(QueryPhoto { faces, image: pyramid.into_base() })
}

/// Face `number` (counting from 1, largest first; default the largest) of the query photo
/// `source`: an error when it has no face, or not that many, listing the faces it has.
pub fn pick(faces: &[Face], number: Option<usize>, source: &Path) -> Result<usize> {
    if faces.is_empty() {
        return Err(Error::Invalid(format!("{}: no face found in the query photo", source.display())));
    }
    let number = number.unwrap_or(1);
    if number == 0 || number > faces.len() {
        let list: Vec<String> = describe(faces).iter().map(|f| format!("  {f}")).collect();
        return Err(Error::Invalid(format!("{}: no face {number}; the photo has {} face(s):\n{}", source.display(), faces.len(), list.join("\n"))));
    }
    Ok(number)
}

impl std::fmt::Display for QueryFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.rect;
        write!(f, "face {}: ({:.0},{:.0})-({:.0},{:.0}), {:.0}×{:.0} px, score {:.2}", self.number, r.x0, r.y0, r.x1, r.y1, r.width(), r.height(), self.score)
    }
}

/// A search by photo, in the shape `facegate search --json` prints and the API answers.
#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    /// The query photo, as an object like every photo: `{"path": ...}` (an upload's file name).
    pub query: serde_json::Value,
    pub faces: Vec<QueryFace>,
    /// The face searched with (its number).
    pub face: usize,
    pub threshold: f32,
    pub method: Method,
    pub matches: Vec<Match>,
    /// The library face linked to the person with `--assign`.
    pub assigned: Option<FaceId>,
}

pub fn describe(faces: &[Face]) -> Vec<QueryFace> {
    faces
        .iter()
        .enumerate()
        .map(|(i, f)| QueryFace { number: i + 1, rect: f.detection.rect, score: f.detection.score })
        .collect()
}

/// How candidates are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The HNSW index (approximate; fast on large libraries).
    Index,
    /// Every stored embedding (exact).
    Exact,
}

/// Every stored face whose best similarity to the queries (a query face not counting as its own
/// match) is at least `threshold`, with that similarity.
fn matching(library: &Library, manifest: &Manifest, queries: &[Query], threshold: f32, method: Method) -> Result<Vec<(FaceId, f32)>> {
    let (model, dim) = (&manifest.embedder.model.id, manifest.embedder.dim);
    match method {
        Method::Exact => Ok(ann::exact_vectors(&library.index_dir(), &library.store, model, dim)?.matches(queries, threshold)),
        Method::Index => {
            let (index, _) = FaceIndex::open(&library.index_dir(), &library.store, model, dim, library.is_writable())?;
            let mut best: HashMap<FaceId, f32> = HashMap::new();
            for q in queries {
                for (id, s) in index.within(q.vector, threshold).into_iter().filter(|h| Some(h.0) != q.face) {
                    let e = best.entry(id).or_insert(s);
                    *e = e.max(s);
                }
            }
            Ok(best.into_iter().collect())
        }
    }
}

/// Every photo with a face at cosine similarity ≥ `threshold` to `query` (a unit vector), best
/// first; one entry per photo.
pub fn photos_of(library: &Library, manifest: &Manifest, query: &[f32], threshold: f32, method: Method) -> Result<Vec<Match>> {
    let hits = matching(library, manifest, &[Query { face: None, vector: query }], threshold, method)?;
    let similarity: HashMap<FaceId, f32> = hits.iter().copied().collect();
    let ids: Vec<FaceId> = hits.iter().map(|h| h.0).collect();
    let mut best: HashMap<PhotoId, Match> = HashMap::new();
    for row in library.store.faces(&ids)? {
        let m = Match {
            photo_id: row.photo_id,
            path: row.path,
            similarity: similarity[&row.face_id],
            face_id: row.face_id,
            rect: row.rect,
            taken_at: row.taken_at,
        };
        match best.get(&m.photo_id) {
            Some(b) if b.similarity >= m.similarity => {}
            _ => {
                best.insert(m.photo_id, m);
            }
        }
    }
    let mut out: Vec<Match> = best.into_values().collect();
    out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// One photo in a person's list, with the face that put it there.
#[derive(Clone, Debug, Serialize)]
pub struct PersonPhoto {
    pub photo_id: PhotoId,
    pub path: String,
    pub face_id: FaceId,
    pub rect: Rect,
    /// Best similarity to the faces searched with (none for a confirmed face when no other
    /// confirmed face was searched with).
    pub similarity: Option<f32>,
    /// Why it is listed: `confirmed`, `suggested` (linked by clustering) or `search` (matched, linked
    /// to nobody or only suggested for someone else).
    pub basis: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct PersonPhotos {
    pub person: crate::store::Person,
    pub threshold: f32,
    /// How many of the person's faces were searched with.
    pub searched_with: usize,
    pub confirmed: Vec<PersonPhoto>,
    pub suggestions: Vec<PersonPhoto>,
}

/// A person's photos as `facegate person photos --json` prints them and the API answers:
/// everything found, and the list under the flags.
#[derive(Serialize)]
pub struct PersonPhotosReport {
    #[serde(flatten)]
    pub found: PersonPhotos,
    pub include_suggestions: bool,
    /// The person's photos under the flags: confirmed, plus suggestions when asked.
    pub photos: Vec<PersonPhoto>,
}

impl PersonPhotos {
    pub fn report(self, include_suggestions: bool) -> PersonPhotosReport {
        let photos = self.confirmed.iter().chain(self.suggestions.iter().filter(|_| include_suggestions)).cloned().collect();
        PersonPhotosReport { found: self, include_suggestions, photos }
    }
}

/// A person's photos and the suggestions to review, as `person photos` shows them by default and
/// as `erase` asks about them: the calibrated threshold and the exact scan. One function, so the
/// list a human reviews is the list erasure waits on.
pub fn person_review(library: &Library, manifest: &Manifest, person: crate::store::PersonId) -> Result<PersonPhotos> {
    person_photos(library, manifest, person, manifest.embedder.match_threshold, Method::Exact)
}

/// Every photo of a person: those with a confirmed face, and suggestions (faces clustering linked
/// to the person, and faces matching any of the person's confirmed faces, or its suggested faces
/// when none is confirmed). Faces confirmed for someone else or rejected for this person are left out.
pub fn person_photos(
    library: &Library,
    manifest: &Manifest,
    person: crate::store::PersonId,
    threshold: f32,
    method: Method,
) -> Result<PersonPhotos> {
    use crate::store::Link;
    let store = &library.store;
    let info = store.person(person)?;
    let linked = store.person_faces(person)?;
    let confirmed: Vec<FaceId> = linked.iter().filter(|f| f.link == Link::Confirmed).map(|f| f.face_id).collect();
    let basis_faces: Vec<FaceId> =
        if confirmed.is_empty() { linked.iter().map(|f| f.face_id).collect() } else { confirmed.clone() };
    let vectors = store.face_vectors(&basis_faces)?;
    let queries: Vec<Query> = vectors.iter().map(|(id, v)| Query { face: Some(*id), vector: v }).collect();
    // Best similarity per face over all queries, a face not counting as its own match.
    let best: HashMap<FaceId, f32> = matching(library, manifest, &queries, threshold, method)?.into_iter().collect();

    let linked_ids: std::collections::HashSet<FaceId> = linked.iter().map(|f| f.face_id).collect();
    let mut hit_ids: Vec<FaceId> = best.keys().copied().filter(|id| !linked_ids.contains(id)).collect();
    hit_ids.sort_unstable();
    let states: HashMap<FaceId, crate::store::FaceState> = store.face_states_of(&hit_ids)?.into_iter().map(|f| (f.face, f)).collect();
    let rejected: std::collections::HashSet<FaceId> = store.rejected_faces(person)?;
    let mut confirmed_photos: HashMap<PhotoId, PersonPhoto> = HashMap::new();
    for f in linked.iter().filter(|f| f.link == Link::Confirmed) {
        let entry = PersonPhoto {
            photo_id: f.photo_id,
            path: f.path.clone(),
            face_id: f.face_id,
            rect: f.rect,
            similarity: best.get(&f.face_id).copied(),
            basis: "confirmed",
        };
        confirmed_photos.entry(f.photo_id).or_insert(entry);
    }
    // Suggestions: linked suggestions first, then search hits.
    let mut candidates: Vec<(FaceId, Option<f32>, &'static str)> = linked
        .iter()
        .filter(|f| f.link == Link::Suggested)
        .map(|f| (f.face_id, best.get(&f.face_id).copied().or(f.similarity), "suggested"))
        .collect();
    candidates.extend(hit_ids.iter().map(|id| (*id, Some(best[id]), "search")));
    // Linked suggestions are this person's; a search hit counts unless it is gone, confirmed
    // for someone else, or rejected for this person.
    candidates.retain(|(id, _, basis)| {
        let alive = *basis == "suggested" || states.contains_key(id);
        let confirmed_elsewhere = states.get(id).is_some_and(|s| s.link == Some(Link::Confirmed) && s.person != Some(person));
        alive && !confirmed_elsewhere && !rejected.contains(id)
    });
    let ids: Vec<FaceId> = candidates.iter().map(|c| c.0).collect();
    let rows: HashMap<FaceId, crate::store::FaceRow> = store.faces(&ids)?.into_iter().map(|r| (r.face_id, r)).collect();
    let mut suggestion_photos: HashMap<PhotoId, PersonPhoto> = HashMap::new();
    for (id, similarity, basis) in candidates {
        let Some(row) = rows.get(&id) else { continue };
        if confirmed_photos.contains_key(&row.photo_id) {
            continue;
        }
        let entry = PersonPhoto { photo_id: row.photo_id, path: row.path.clone(), face_id: id, rect: row.rect, similarity, basis };
        match suggestion_photos.get(&row.photo_id) {
            Some(e) if e.similarity >= entry.similarity => {}
            _ => {
                suggestion_photos.insert(row.photo_id, entry);
            }
        }
    }
    let mut confirmed: Vec<PersonPhoto> = confirmed_photos.into_values().collect();
    confirmed.sort_by(|a, b| a.path.cmp(&b.path));
    let mut suggestions: Vec<PersonPhoto> = suggestion_photos.into_values().collect();
    suggestions.sort_by(|a, b| b.similarity.unwrap_or(0.0).total_cmp(&a.similarity.unwrap_or(0.0)).then_with(|| a.path.cmp(&b.path)));
    Ok(PersonPhotos { person: info, threshold, searched_with: queries.len(), confirmed, suggestions })
}
