//! Grouping faces into persons. Incremental: faces without a person are taken one at a time in
//! face-id order (so the outcome does not depend on threads) and either join the person whose
//! faces they match, start a new person with another unlinked face they match, or stay
//! unlinked. Neighbours come from the HNSW index, never from a pass over all pairs.
//!
//! Rules, each unit-tested below:
//! - a person appears at most once per photo: a face never joins a person who already has a face
//!   in its photo (two faces of one photo never land in one person automatically);
//! - a face never joins a person a human rejected for it;
//! - human links are never changed; machine links are only ever added here (a full
//!   `--recluster` first drops the machine's links, see `Store::clear_machine_links`);
//! - every machine link is a suggestion with its similarity, except the auto-confirm rule: a
//!   suggested face whose similarity to at least `confirm_count` confirmed faces of its person is
//!   `confirm_similarity` or more becomes confirmed (`linked_by = rule`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::store::{FaceId, FaceState, Link, LinkedBy, NewLink, PersonId, PersonRef, PhotoId};

#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// A face joins a person when the mean of its (up to) three best similarities to that
    /// person's faces reaches this.
    pub join: f32,
    /// Two unlinked faces start a new person when their similarity reaches this.
    pub pair: f32,
    /// Neighbours fetched per face.
    pub neighbours: usize,
    pub confirm_similarity: f32,
    pub confirm_count: usize,
}

impl Default for Params {
    /// Calibrated on ../shared/faces (see README): pairwise precision 1.0, recall 0.98 there.
    fn default() -> Params {
        Params { join: 0.94, pair: 0.95, neighbours: 32, confirm_similarity: 0.97, confirm_count: 3 }
    }
}

/// What a clustering run decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub new_persons: usize,
    pub links: Vec<NewLink>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Outcome {
    pub faces_linked: usize,
    pub persons_created: usize,
    pub faces_confirmed_by_rule: usize,
    pub faces_unlinked: usize,
}

/// Which faces a run looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Only unlinked faces with a larger id are placed (the faces added since the last run; 0 for all).
    pub after: FaceId,
    /// Also apply the auto-confirm rule to older machine suggestions.
    pub review_suggestions: bool,
}

impl Scope {
    pub const ALL: Scope = Scope { after: FaceId(0), review_suggestions: true };
}

/// Decides links for the faces in `faces` (all faces of the library, by id). `neighbours(f)`
/// gives other faces similar to `f` with their similarity, best first.
pub fn plan(
    faces: &[FaceState],
    rejections: &HashSet<(FaceId, PersonId)>,
    mut neighbours: impl FnMut(FaceId) -> Vec<(FaceId, f32)>,
    params: &Params,
    scope: Scope,
) -> Plan {
    let photo_of: HashMap<FaceId, PhotoId> = faces.iter().map(|f| (f.face, f.photo)).collect();
    let mut person_of: HashMap<FaceId, PersonRef> =
        faces.iter().filter_map(|f| f.person.map(|p| (f.face, PersonRef::Existing(p)))).collect();
    let mut photos_of: HashMap<PersonRef, HashSet<PhotoId>> = HashMap::new();
    for (face, person) in &person_of {
        photos_of.entry(*person).or_default().insert(photo_of[face]);
    }
    let mut out = Plan::default();
    let mut cache: HashMap<FaceId, Vec<(FaceId, f32)>> = HashMap::new();
    let mut near = |f: FaceId| -> Vec<(FaceId, f32)> { cache.entry(f).or_insert_with(|| neighbours(f)).clone() };

    for face in faces.iter().filter(|f| f.person.is_none() && f.face > scope.after) {
        if person_of.contains_key(&face.face) {
            continue; // paired with an earlier face in this run
        }
        let found: Vec<(FaceId, f32)> = near(face.face)
            .into_iter()
            .filter(|(g, _)| *g != face.face && photo_of.get(g).is_some_and(|p| *p != face.photo))
            .collect();
        let allowed = |p: &PersonRef, photos_of: &HashMap<PersonRef, HashSet<PhotoId>>| {
            let rejected = matches!(p, PersonRef::Existing(id) if rejections.contains(&(face.face, *id)));
            !rejected && !photos_of.get(p).is_some_and(|ph| ph.contains(&face.photo))
        };
        // Join the best-matching person.
        let mut by_person: BTreeMap<PersonRef, Vec<f32>> = BTreeMap::new();
        for (g, s) in &found {
            if let Some(p) = person_of.get(g) {
                by_person.entry(*p).or_default().push(*s);
            }
        }
        let best = by_person
            .into_iter()
            .filter(|(p, _)| allowed(p, &photos_of))
            .map(|(p, mut sims)| {
                sims.sort_by(|a, b| b.total_cmp(a));
                let top = &sims[..sims.len().min(3)];
                (p, top.iter().sum::<f32>() / top.len() as f32)
            })
            .filter(|(_, score)| *score >= params.join)
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
        if let Some((person, score)) = best {
            link(&mut out, &mut person_of, &mut photos_of, face.face, face.photo, person, score);
            continue;
        }
        // Or start a person with the best unlinked face it matches.
        let partner = found.iter().find(|(g, s)| *s >= params.pair && !person_of.contains_key(g));
        if let Some(&(g, s)) = partner {
            let person = PersonRef::New(out.new_persons);
            out.new_persons += 1;
            link(&mut out, &mut person_of, &mut photos_of, face.face, face.photo, person, s);
            link(&mut out, &mut person_of, &mut photos_of, g, photo_of[&g], person, s);
        }
    }

    // Auto-confirm rule over every machine suggestion, old and new.
    let confirmed: HashSet<FaceId> = faces.iter().filter(|f| f.link == Some(Link::Confirmed)).map(|f| f.face).collect();
    let suggested: Vec<(FaceId, PersonRef)> = faces
        .iter()
        .filter(|f| scope.review_suggestions && f.link == Some(Link::Suggested) && f.linked_by != Some(LinkedBy::Human))
        .filter_map(|f| f.person.map(|p| (f.face, PersonRef::Existing(p))))
        .chain(out.links.iter().map(|l| (l.face, l.person)))
        .collect();
    for (face, person) in suggested {
        let support = near(face)
            .iter()
            .filter(|(g, s)| *s >= params.confirm_similarity && confirmed.contains(g) && person_of.get(g) == Some(&person))
            .count();
        if support >= params.confirm_count {
            out.links.retain(|l| l.face != face);
            out.links.push(NewLink { face, person, link: Link::Confirmed, similarity: None, by: LinkedBy::Rule });
        }
    }
    out
}

fn link(
    out: &mut Plan,
    person_of: &mut HashMap<FaceId, PersonRef>,
    photos_of: &mut HashMap<PersonRef, HashSet<PhotoId>>,
    face: FaceId,
    photo: PhotoId,
    person: PersonRef,
    similarity: f32,
) {
    person_of.insert(face, person);
    photos_of.entry(person).or_default().insert(photo);
    out.links.push(NewLink { face, person, link: Link::Suggested, similarity: Some(similarity), by: LinkedBy::Cluster });
}

#[cfg(test)]
mod tests;

/// Meta key holding the largest face id placed by the last clustering run.
const WATERMARK: &str = "cluster.after_face";

/// Runs clustering on the library: incrementally (faces added since the last run), over every
/// unlinked face (`Full`), or from scratch after dropping every machine link (`Recluster`).
pub fn run(library: &mut crate::library::Library, index: &crate::ann::FaceIndex, mode: Mode, params: &Params) -> crate::Result<Outcome> {
    let store = &mut library.store;
    if mode == Mode::Recluster {
        store.clear_machine_links()?;
    }
    let after = match mode {
        Mode::Incremental => FaceId(store.meta(WATERMARK)?.and_then(|v| v.parse().ok()).unwrap_or(0)),
        Mode::Full | Mode::Recluster => FaceId(0),
    };
    let scope = Scope { after, review_suggestions: mode != Mode::Incremental };
    let faces = store.face_states()?;
    let rejections = store.rejections()?;
    let wanted: Vec<FaceId> = faces
        .iter()
        .filter(|f| (f.person.is_none() && f.face > after) || (scope.review_suggestions && f.link == Some(Link::Suggested)))
        .map(|f| f.face)
        .collect();
    // Every neighbour list the plan can ask for, searched in parallel up front (the plan itself
    // stays sequential, in face-id order).
    use rayon::prelude::*;
    let vectors = store.face_vectors(&wanted)?;
    let near: HashMap<FaceId, Vec<(FaceId, f32)>> =
        vectors.par_iter().map(|(f, v)| (*f, index.nearest(v, params.neighbours))).collect();
    drop(vectors);
    let plan = plan(&faces, &rejections, |f| near.get(&f).cloned().unwrap_or_default(), params, scope);
    store.apply_links(plan.new_persons, &plan.links)?;
    if let Some(last) = faces.last() {
        store.set_meta(WATERMARK, &last.face.0.to_string())?;
    }
    Ok(Outcome {
        faces_linked: plan.links.iter().filter(|l| l.by == LinkedBy::Cluster).count(),
        persons_created: plan.new_persons,
        faces_confirmed_by_rule: plan.links.iter().filter(|l| l.by == LinkedBy::Rule).count(),
        faces_unlinked: store.unassigned_faces()?.len(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Incremental,
    Full,
    Recluster,
}
