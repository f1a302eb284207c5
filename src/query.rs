//! `facegate search`: the faces of a query photo, and every indexed photo showing the chosen one.
//! Reads the store and the index; never writes photos or faces.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::ann::{dot, FaceIndex};
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
pub fn query_faces(models: &mut FaceModels, path: &Path) -> Result<Vec<Face>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (rgb, _) = photo::decode(&bytes).map_err(|reason| Error::bad_photo(path, reason))?;
    let mut faces = models.faces(&Pyramid::new(rgb, 16))?;
    faces.sort_by(|a, b| b.detection.rect.area().total_cmp(&a.detection.rect.area()));
    Ok(faces)
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

/// Every photo with a face at cosine similarity ≥ `threshold` to `query` (a unit vector), best
/// first; one entry per photo.
pub fn photos_of(library: &Library, manifest: &Manifest, query: &[f32], threshold: f32, method: Method) -> Result<Vec<Match>> {
    let model = &manifest.embedder.model.id;
    let hits: Vec<(FaceId, f32)> = match method {
        Method::Exact => library
            .store
            .embeddings_after(model, FaceId(0))?
            .into_iter()
            .map(|(id, v)| (id, dot(query, &v)))
            .filter(|(_, s)| *s >= threshold)
            .collect(),
        Method::Index => {
            let (index, _) = FaceIndex::open(&library.index_dir(), &library.store, model, manifest.embedder.dim, library.is_writable())?;
            index.within(query, threshold)
        }
    };
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
