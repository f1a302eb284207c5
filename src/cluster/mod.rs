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
//! - parts of one person that placement started apart are merged when at least two of the run's
//!   faces match both and they share no photo; only parts made in the run are merged, never two
//!   persons that existed before it (see `merge_split_persons`);
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
    /// Parts of one person joined after placement (see `merge_split_persons`).
    pub merged: usize,
}

/// Faces that must bridge two persons before they are merged.
const MERGE_BRIDGES: usize = 2;

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Outcome {
    pub faces_linked: usize,
    pub persons_created: usize,
    pub faces_confirmed_by_rule: usize,
    /// Parts of one person that placement had started apart, joined (see `merge_split_persons`).
    pub persons_merged: usize,
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

/// Decides links for the faces in `faces` (all faces of the library, by id). `near(f)` gives
/// other faces similar to `f` with their similarity, best first; it is asked up to three times
/// for a face, so it should be cheap (`run` searches every list up front).
pub fn plan(
    faces: &[FaceState],
    rejections: &HashSet<(FaceId, PersonId)>,
    mut near: impl FnMut(FaceId) -> Vec<(FaceId, f32)>,
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

    out.merged = merge_split_persons(&mut out, &mut person_of, &photos_of, &photo_of, rejections, &mut near, params);

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

/// Faces are placed one at a time, so a person with many photos can start twice before its
/// faces meet (two early faces pair up before either has seen the other's partner) and end up
/// as two persons. This joins such parts: person `B` made in this run goes into person `A` when
/// at least `MERGE_BRIDGES` of the run's faces of either one match the other by the join rule
/// (mean of the three best similarities ≥ `join`), and the two share no photo and no rejection
/// forbids it. Persons that already existed are never merged with each other (that is a human's
/// call, `person merge`), only receive parts made in this run. Returns the number of merges.
fn merge_split_persons(
    out: &mut Plan,
    person_of: &mut HashMap<FaceId, PersonRef>,
    photos_of: &HashMap<PersonRef, HashSet<PhotoId>>,
    photo_of: &HashMap<FaceId, PhotoId>,
    rejections: &HashSet<(FaceId, PersonId)>,
    near: &mut impl FnMut(FaceId) -> Vec<(FaceId, f32)>,
    params: &Params,
) -> usize {
    // Faces of this run that match another person as they would join it: the bridges.
    let mut bridges: BTreeMap<(PersonRef, PersonRef), HashSet<FaceId>> = BTreeMap::new();
    let placed: Vec<FaceId> = out.links.iter().map(|l| l.face).collect();
    for face in placed {
        let own = person_of[&face];
        let mut by_person: BTreeMap<PersonRef, Vec<f32>> = BTreeMap::new();
        for (g, s) in near(face) {
            match person_of.get(&g) {
                Some(p) if *p != own && photo_of.get(&g) != photo_of.get(&face) => by_person.entry(*p).or_default().push(s),
                _ => {}
            }
        }
        for (other, mut sims) in by_person {
            sims.sort_by(|a, b| b.total_cmp(a));
            let top = &sims[..sims.len().min(3)];
            if top.iter().sum::<f32>() / top.len() as f32 >= params.join {
                bridges.entry((own.min(other), own.max(other))).or_default().insert(face);
            }
        }
    }
    let mut pairs: Vec<((PersonRef, PersonRef), usize)> =
        bridges.into_iter().map(|(pair, faces)| (pair, faces.len())).filter(|(_, n)| *n >= MERGE_BRIDGES).collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let mut parent: HashMap<PersonRef, PersonRef> = HashMap::new();
    fn root(parent: &HashMap<PersonRef, PersonRef>, mut p: PersonRef) -> PersonRef {
        while let Some(&q) = parent.get(&p) {
            p = q;
        }
        p
    }
    let mut photos: HashMap<PersonRef, HashSet<PhotoId>> = photos_of.clone();
    let mut faces: HashMap<PersonRef, Vec<FaceId>> = HashMap::new();
    for (f, p) in person_of.iter() {
        faces.entry(*p).or_default().push(*f);
    }
    let mut merged = 0;
    for ((a, b), _) in pairs {
        let (a, b) = (root(&parent, a), root(&parent, b));
        let size = |p: &PersonRef| photos.get(p).map_or(0, HashSet::len);
        // The part made in this run goes into the other; between two new parts, the smaller one.
        let (into, from) = match (a, b) {
            (PersonRef::Existing(_), PersonRef::Existing(_)) => continue,
            (PersonRef::Existing(_), PersonRef::New(_)) => (a, b),
            (PersonRef::New(_), PersonRef::Existing(_)) => (b, a),
            (PersonRef::New(_), PersonRef::New(_)) if size(&a) >= size(&b) => (a, b),
            _ => (b, a),
        };
        if into == from {
            continue;
        }
        let shared_photo = photos.get(&from).is_some_and(|f| photos.get(&into).is_some_and(|i| !f.is_disjoint(i)));
        let rejected = match into {
            PersonRef::Existing(id) => faces.get(&from).is_some_and(|fs| fs.iter().any(|f| rejections.contains(&(*f, id)))),
            PersonRef::New(_) => false,
        };
        if shared_photo || rejected {
            continue;
        }
        parent.insert(from, into);
        let moved = photos.remove(&from).unwrap_or_default();
        photos.entry(into).or_default().extend(moved);
        let moved = faces.remove(&from).unwrap_or_default();
        faces.entry(into).or_default().extend(moved);
        merged += 1;
    }
    if merged == 0 {
        return 0;
    }
    // Relink the merged parts and number the new persons that are left from 0 again.
    let mut renumber: BTreeMap<usize, usize> = BTreeMap::new();
    for i in 0..out.new_persons {
        if root(&parent, PersonRef::New(i)) == PersonRef::New(i) {
            let next = renumber.len();
            renumber.insert(i, next);
        }
    }
    let final_ref = |p: PersonRef| match root(&parent, p) {
        PersonRef::New(i) => PersonRef::New(renumber[&i]),
        existing => existing,
    };
    for l in out.links.iter_mut() {
        l.person = final_ref(l.person);
        person_of.insert(l.face, l.person);
    }
    out.new_persons = renumber.len();
    merged
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
    // A possible face nobody has reviewed is never placed, nor used to place another.
    let unreviewed = store.unreviewed_possible_faces()?;
    let faces: Vec<_> = store.face_states()?.into_iter().filter(|f| !unreviewed.contains(&f.face)).collect();
    let rejections = store.rejections()?;
    let wanted = faces
        .iter()
        .filter(|f| (f.person.is_none() && f.face > after) || (scope.review_suggestions && f.link == Some(Link::Suggested)))
        .map(|f| f.face)
        .collect();
    let near = Neighbours::search(index, &faces, wanted, params.neighbours);
    let plan = plan(&faces, &rejections, |f| near.of(f), params, scope);
    store.apply_links(plan.new_persons, &plan.links)?;
    if let Some(last) = faces.last() {
        store.set_meta(WATERMARK, &last.face.0.to_string())?;
    }
    Ok(Outcome {
        faces_linked: plan.links.iter().filter(|l| l.by == LinkedBy::Cluster).count(),
        persons_created: plan.new_persons,
        faces_confirmed_by_rule: plan.links.iter().filter(|l| l.by == LinkedBy::Rule).count(),
        persons_merged: plan.merged,
        faces_unlinked: store.unassigned_faces()?.len(),
    })
}

/// Every neighbour list the plan can ask for, searched in parallel up front (the plan itself stays
/// sequential, in face-id order), and kept flat: `k` slots a face, each the neighbour's position
/// in the run's faces and its similarity, 8 bytes a slot (256 MB for 32 neighbours of a million
/// faces). Neighbours that are not among the run's faces (unreviewed possible faces, faces
/// removed since the graph was written) are left out; the plan would skip them.
struct Neighbours<'a> {
    faces: &'a [FaceState],
    /// The faces searched for, by id.
    wanted: Vec<FaceId>,
    k: usize,
    /// `k` slots per wanted face, best first; unused slots hold `EMPTY`.
    slots: Vec<(u32, f32)>,
}

impl<'a> Neighbours<'a> {
    const EMPTY: (u32, f32) = (u32::MAX, f32::NAN);

    /// `faces` sorted by id; `wanted` a sorted subset of their ids.
    fn search(index: &crate::ann::FaceIndex, faces: &'a [FaceState], wanted: Vec<FaceId>, k: usize) -> Neighbours<'a> {
        use rayon::prelude::*;
        let position = |id: FaceId| faces.binary_search_by_key(&id, |f| f.face).ok().and_then(|i| u32::try_from(i).ok());
        let mut slots = vec![Self::EMPTY; wanted.len() * k];
        if k > 0 {
            slots.par_chunks_mut(k).zip(wanted.par_iter()).for_each(|(out, face)| {
                let Some(v) = index.vectors().get(*face) else { return };
                let found = index.nearest(v, k).into_iter().filter_map(|(g, s)| position(g).map(|p| (p, s)));
                for (slot, hit) in out.iter_mut().zip(found) {
                    *slot = hit;
                }
            });
        }
        Neighbours { faces, wanted, k, slots }
    }

    /// The neighbours of `face`, best first (none for a face that was not searched).
    fn of(&self, face: FaceId) -> Vec<(FaceId, f32)> {
        let Ok(i) = self.wanted.binary_search(&face) else { return Vec::new() };
        self.slots[i * self.k..(i + 1) * self.k].iter().take_while(|s| s.0 != u32::MAX).map(|&(p, s)| (self.faces[p as usize].face, s)).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Incremental,
    Full,
    Recluster,
}
