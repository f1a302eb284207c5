//! The clustering rules on small hand-made embedding sets.

use super::*;

/// A unit vector at `angle` degrees in the plane, lifted into 3-d by `z` (different people live
/// at different angles; cos 15° ≈ 0.966, cos 30° ≈ 0.866).
fn v(angle: f32, z: f32) -> Vec<f32> {
    let a = angle.to_radians();
    let mut x = vec![a.cos(), a.sin(), z];
    let n = x.iter().map(|c| c * c).sum::<f32>().sqrt();
    x.iter_mut().for_each(|c| *c /= n);
    x
}

struct Lib {
    faces: Vec<FaceState>,
    vectors: HashMap<FaceId, Vec<f32>>,
    scope: Scope,
}

impl Lib {
    fn new() -> Lib {
        Lib { faces: vec![], vectors: HashMap::new(), scope: Scope::ALL }
    }

    /// Adds face `id` in photo `photo` with vector `vec`, optionally linked.
    fn face(mut self, id: i64, photo: i64, vec: Vec<f32>, person: Option<(i64, Link, LinkedBy)>) -> Lib {
        self.faces.push(FaceState {
            face: FaceId(id),
            photo: PhotoId(photo),
            person: person.map(|p| PersonId(p.0)),
            link: person.map(|p| p.1),
            linked_by: person.map(|p| p.2),
        });
        self.faces.sort_by_key(|f| f.face);
        self.vectors.insert(FaceId(id), vec);
        self
    }

    /// Exact neighbours, best first, as the index would give them.
    fn plan_with(&self, rejections: &HashSet<(FaceId, PersonId)>) -> Plan {
        plan(
            &self.faces,
            rejections,
            |f| {
                let q = &self.vectors[&f];
                let mut out: Vec<(FaceId, f32)> = self
                    .vectors
                    .iter()
                    .filter(|(g, _)| **g != f)
                    .map(|(g, x)| (*g, q.iter().zip(x).map(|(a, b)| a * b).sum()))
                    .collect();
                out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                out
            },
            &Params::default(),
            self.scope,
        )
    }

    fn plan(&self) -> Plan {
        self.plan_with(&HashSet::new())
    }
}

fn person_of(plan: &Plan, face: i64) -> Option<PersonRef> {
    plan.links.iter().find(|l| l.face == FaceId(face)).map(|l| l.person)
}

#[test]
fn matching_unlinked_faces_form_a_person_and_a_loner_stays_unlinked() {
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), None)
        .face(2, 2, v(2.0, 0.0), None)
        .face(3, 3, v(4.0, 0.0), None)
        .face(4, 4, v(90.0, 0.0), None);
    let plan = lib.plan();
    assert_eq!(plan.new_persons, 1);
    let p = person_of(&plan, 1).unwrap();
    assert_eq!(person_of(&plan, 2), Some(p));
    assert_eq!(person_of(&plan, 3), Some(p));
    assert_eq!(person_of(&plan, 4), None);
    for l in &plan.links {
        assert_eq!((l.link, l.by), (Link::Suggested, LinkedBy::Cluster));
        assert!(l.similarity.unwrap() > 0.99, "every suggestion carries its similarity");
    }
}

#[test]
fn two_faces_of_one_photo_never_join_the_same_person() {
    // Faces 1 and 2 are near-identical but share photo 1 (twins, a mirror, a poster).
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), None)
        .face(2, 1, v(0.5, 0.0), None)
        .face(3, 2, v(1.0, 0.0), None);
    let plan = lib.plan();
    let (p1, p2) = (person_of(&plan, 1), person_of(&plan, 2));
    assert!(p1.is_some() && p1 != p2, "{plan:?}");
    // Nor may a face join an existing person who is already in its photo.
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), Some((7, Link::Confirmed, LinkedBy::Human)))
        .face(2, 1, v(0.5, 0.0), None)
        .face(3, 2, v(1.0, 0.0), Some((7, Link::Confirmed, LinkedBy::Human)));
    assert_eq!(person_of(&lib.plan(), 2), None);
}

#[test]
fn linked_faces_are_never_moved_and_new_faces_join_the_best_person() {
    let human = Some((7, Link::Confirmed, LinkedBy::Human));
    let other = Some((8, Link::Suggested, LinkedBy::Cluster));
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), human)
        .face(2, 2, v(40.0, 0.0), other)
        .face(3, 3, v(3.0, 0.0), None)
        .face(4, 4, v(41.0, 0.0), None);
    let plan = lib.plan();
    assert!(plan.links.iter().all(|l| l.face.0 >= 3), "only unlinked faces get links: {plan:?}");
    assert_eq!(person_of(&plan, 3), Some(PersonRef::Existing(PersonId(7))));
    assert_eq!(person_of(&plan, 4), Some(PersonRef::Existing(PersonId(8))));
    assert_eq!(plan.new_persons, 0);
}

#[test]
fn a_rejected_person_is_never_suggested_again() {
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), Some((7, Link::Confirmed, LinkedBy::Human)))
        .face(2, 2, v(1.0, 0.0), None);
    let rejected: HashSet<_> = [(FaceId(2), PersonId(7))].into();
    let plan = lib.plan_with(&rejected);
    assert_eq!(person_of(&plan, 2), None);
    assert_eq!(person_of(&lib.plan(), 2), Some(PersonRef::Existing(PersonId(7))));
}

#[test]
fn auto_confirm_needs_three_very_close_confirmed_faces() {
    let c = Some((7, Link::Confirmed, LinkedBy::Human));
    let base = Lib::new().face(1, 1, v(0.0, 0.0), c).face(2, 2, v(1.0, 0.0), c).face(3, 3, v(2.0, 0.0), c);
    // Within cos 0.97 (≈ 14°) of all three: confirmed by the rule.
    let plan = base.face(4, 4, v(1.5, 0.0), None).plan();
    let l = plan.links.iter().find(|l| l.face == FaceId(4)).unwrap();
    assert_eq!((l.link, l.by), (Link::Confirmed, LinkedBy::Rule));
    // Close to only two confirmed faces: stays a suggestion.
    let two = Lib::new().face(1, 1, v(0.0, 0.0), c).face(2, 2, v(1.0, 0.0), c).face(4, 4, v(1.5, 0.0), None);
    let l = *two.plan().links.iter().find(|l| l.face == FaceId(4)).unwrap();
    assert_eq!(l.link, Link::Suggested);
    // An old machine suggestion that meets the rule is confirmed as well.
    let old = Lib::new()
        .face(1, 1, v(0.0, 0.0), c)
        .face(2, 2, v(1.0, 0.0), c)
        .face(3, 3, v(2.0, 0.0), c)
        .face(4, 4, v(1.5, 0.0), Some((7, Link::Suggested, LinkedBy::Cluster)));
    assert_eq!(old.plan().links.iter().filter(|l| l.by == LinkedBy::Rule).count(), 1);
    // An incremental run leaves old suggestions alone.
    let incremental = Lib { scope: Scope { after: FaceId(4), review_suggestions: false }, ..old };
    assert!(incremental.plan().links.is_empty());
}

#[test]
fn an_incremental_run_places_only_new_faces_but_pairs_them_with_old_loners() {
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), None)
        .face(2, 2, v(60.0, 0.0), None)
        .face(3, 3, v(1.0, 0.0), None);
    let lib = Lib { scope: Scope { after: FaceId(2), review_suggestions: false }, ..lib };
    let plan = lib.plan();
    assert_eq!(plan.new_persons, 1);
    assert_eq!(person_of(&plan, 3), person_of(&plan, 1));
    assert_eq!(person_of(&plan, 2), None);
}

#[test]
fn the_plan_is_deterministic() {
    let mut lib = Lib::new();
    for i in 0..40 {
        lib = lib.face(i, i, v((i % 4) as f32 * 45.0 + (i as f32 * 0.37) % 3.0, 0.0), None);
    }
    let a = lib.plan();
    assert_eq!(a, lib.plan());
    assert_eq!(a.new_persons, 4);
}

/// Plans with the given neighbour lists (as an approximate index might return them: incomplete),
/// similarities computed from the vectors.
fn plan_with_lists(lib: &Lib, lists: &[(i64, &[i64])]) -> Plan {
    let lists: HashMap<FaceId, Vec<FaceId>> =
        lists.iter().map(|(f, l)| (FaceId(*f), l.iter().map(|g| FaceId(*g)).collect())).collect();
    plan(
        &lib.faces,
        &HashSet::new(),
        |f| {
            let q = &lib.vectors[&f];
            let sim = |g: &FaceId| q.iter().zip(&lib.vectors[g]).map(|(a, b)| a * b).sum::<f32>();
            lists.get(&f).map(|l| l.iter().map(|g| (*g, sim(g))).collect()).unwrap_or_default()
        },
        &Params::default(),
        lib.scope,
    )
}

#[test]
fn parts_of_one_person_started_apart_are_merged() {
    // Faces 1 and 2 never see each other's partner, so placement starts two persons; faces 3 and
    // 4 see both sides and bridge them.
    let lib = Lib::new().face(1, 1, v(0.0, 0.0), None).face(2, 2, v(1.0, 0.0), None).face(3, 3, v(2.0, 0.0), None).face(4, 4, v(3.0, 0.0), None);
    let lists: &[(i64, &[i64])] = &[(1, &[3]), (2, &[4]), (3, &[1, 2, 4]), (4, &[2, 3, 1])];
    let plan = plan_with_lists(&lib, lists);
    assert_eq!((plan.new_persons, plan.merged), (1, 1), "{plan:?}");
    assert!(plan.links.iter().all(|l| l.person == PersonRef::New(0)));
    // One bridging face is not enough.
    let plan = plan_with_lists(&lib, &[(1, &[3]), (2, &[4]), (3, &[1]), (4, &[2, 3, 1])]);
    assert_eq!((plan.new_persons, plan.merged), (2, 0), "{plan:?}");
    // Parts that share a photo stay apart.
    let lib = Lib::new().face(1, 1, v(0.0, 0.0), None).face(2, 1, v(1.0, 0.0), None).face(3, 3, v(2.0, 0.0), None).face(4, 4, v(3.0, 0.0), None);
    let plan = plan_with_lists(&lib, lists);
    assert_eq!((plan.new_persons, plan.merged), (2, 0), "{plan:?}");
}

#[test]
fn a_new_part_joins_an_existing_person_but_existing_persons_are_never_merged() {
    let human = Some((7, Link::Confirmed, LinkedBy::Human));
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), human)
        .face(3, 3, v(2.0, 0.0), human)
        .face(10, 10, v(1.0, 0.0), None)
        .face(11, 11, v(3.0, 0.0), None)
        .face(12, 12, v(4.0, 0.0), None);
    let lists: &[(i64, &[i64])] = &[(10, &[11]), (11, &[10, 3, 1]), (12, &[11, 3, 1])];
    let plan = plan_with_lists(&lib, lists);
    assert_eq!((plan.new_persons, plan.merged), (0, 1), "{plan:?}");
    for f in [10, 11, 12] {
        let l = plan.links.iter().find(|l| l.face == FaceId(f)).unwrap();
        assert_eq!((l.person, l.link), (PersonRef::Existing(PersonId(7)), Link::Suggested));
    }
    // Two persons that already exist stay two, however alike: merging them is a human's call.
    let lib = Lib::new()
        .face(1, 1, v(0.0, 0.0), human)
        .face(2, 2, v(1.0, 0.0), Some((8, Link::Suggested, LinkedBy::Cluster)))
        .face(10, 10, v(0.2, 0.0), None)
        .face(11, 11, v(0.8, 0.0), None);
    let plan = plan_with_lists(&lib, &[(10, &[1, 2]), (11, &[2, 1])]);
    assert_eq!(plan.merged, 0);
    assert_ne!(person_of(&plan, 10), person_of(&plan, 11));
}
