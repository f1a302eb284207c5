//! `facegate cluster`, `person …` and `face …`: the person layer on the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::args::{ClusterArgs, FaceCommand, PersonCommand};
use super::{actor, audit_read, label_of, manifest, person_id, print_json, reply, Cli};
use crate::ann::FaceIndex;
use crate::cluster::{self, Mode};
use crate::library::Access;
use crate::query::{self, PersonPhoto};
use crate::store::{FaceId, PersonId};

pub fn cluster(cli: &Cli, dir: PathBuf, a: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let manifest = manifest(cli)?;
    let mut library = super::open(&dir, Access::Write)?;
    let (index, _) = FaceIndex::open(&library.index_dir(), &library.store, &manifest.embedder.model.id, manifest.embedder.dim, true)?;
    let mode = if a.recluster { Mode::Recluster } else if a.all { Mode::Full } else { Mode::Incremental };
    let outcome = cluster::run(&mut library, &index, mode, &cluster::Params::default())?;
    let summary = format!("{} linked, {} persons created", outcome.faces_linked, outcome.persons_created);
    library.store.audit(&actor(cli), "cluster", &[], &summary, Some(&format!("{mode:?}")))?;
    if cli.json {
        print_json(&outcome)?;
    } else {
        println!(
            "{} faces linked, {} persons created ({} split parts merged), {} faces confirmed by rule; {} faces linked to nobody",
            outcome.faces_linked, outcome.persons_created, outcome.persons_merged, outcome.faces_confirmed_by_rule, outcome.faces_unlinked
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn person(cli: &Cli, dir: PathBuf, command: &PersonCommand) -> anyhow::Result<ExitCode> {
    let access = match command {
        PersonCommand::List | PersonCommand::Show { .. } | PersonCommand::Photos { .. } => Access::Read,
        _ => Access::Write,
    };
    let mut library = super::open(&dir, access)?;
    let store = &mut library.store;
    match command {
        PersonCommand::List => {
            let persons = store.persons()?;
            if cli.json {
                return done(print_json(&serde_json::json!({ "persons": persons })));
            }
            let names: Vec<String> = persons.iter().map(|p| p.name.clone().unwrap_or_else(|| "(unnamed)".into())).collect();
            let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(28);
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:>6}  {:<w$} {:>9} {:>9} {:>6}", "id", "name", "confirmed", "suggested", "photos")?;
            for (p, name) in persons.iter().zip(&names) {
                writeln!(out, "{:>6}  {:<w$} {:>9} {:>9} {:>6}", p.id.0, name, p.confirmed_faces, p.suggested_faces, p.photos)?;
            }
        }
        PersonCommand::Show { id } => {
            let id = &person_id(store, id)?.0;
            #[derive(Serialize)]
            struct Show {
                person: crate::store::Person,
                faces: Vec<crate::store::PersonFace>,
            }
            let show = Show { person: store.person(PersonId(*id))?, faces: store.person_faces(PersonId(*id))? };
            audit_read(cli, &dir, "person show", &[format!("person:{id}")], "ok");
            if cli.json {
                return done(print_json(&show));
            }
            let p = &show.person;
            let mut out = std::io::stdout().lock();
            writeln!(out, "person {}: {}{}", p.id.0, p.name.as_deref().unwrap_or("(unnamed)"), p.email.as_deref().map(|e| format!(" <{e}>")).unwrap_or_default())?;
            writeln!(out, "  {} confirmed face(s), {} suggested (only confirmed faces count for consent)", p.confirmed_faces, p.suggested_faces)?;
            if p.confirmed_faces == 0 {
                writeln!(out, "  {}", unconfirmed_hint(p))?;
            }
            for f in &show.faces {
                let sim = f.similarity.map(|s| format!(" {s:.3}")).unwrap_or_default();
                writeln!(out, "  face {:>6}  {:<9}{sim}  {}  {}", f.face_id.0, f.link.as_str(), f.path, rect(&f.rect))?;
            }
        }
        PersonCommand::Name { id, name, email } => {
            let id = &person_id(store, id)?.0;
            store.set_person_details(PersonId(*id), Some(name), email.as_deref())?;
            store.audit(&actor(cli), "person name", &[format!("person:{id}")], "ok", None)?;
            warn_if_unconfirmed(&store.person(PersonId(*id))?);
            return reply(cli, &store.person(PersonId(*id))?, &format!("person {id} is now {name}"));
        }
        PersonCommand::Add { name, email, external } => {
            let id = store.add_person(Some(name), email.as_deref(), *external)?;
            store.audit(&actor(cli), "person add", &[format!("person:{}", id.0)], "ok", None)?;
            return reply(cli, &store.person(id)?, &format!("added person {}: {name}", id.0));
        }
        PersonCommand::Merge { a, b } => {
            let (a, b) = (&person_id(store, a)?.0, &person_id(store, b)?.0);
            let moved = store.merge_persons(PersonId(*a), PersonId(*b))?;
            store.audit(&actor(cli), "person merge", &[format!("person:{a}"), format!("person:{b}")], &format!("{moved} faces moved"), None)?;
            return reply(cli, &store.person(PersonId(*a))?, &format!("merged person {b} into {a} ({moved} faces moved)"));
        }
        PersonCommand::Confirm { id } => {
            let id = &person_id(store, id)?.0;
            let manifest = manifest(cli)?;
            let person = PersonId(*id);
            let found = query::person_review(&library, &manifest, person)?;
            let store = &mut library.store;
            let mut faces: Vec<FaceId> = found.suggestions.iter().map(|s| s.face_id).collect();
            faces.extend(store.person_faces(person)?.iter().filter(|f| f.link == crate::store::Link::Suggested).map(|f| f.face_id));
            faces.sort_unstable();
            faces.dedup();
            store.move_faces(&faces, person)?;
            let subjects: Vec<String> = std::iter::once(format!("person:{id}")).chain(faces.iter().map(|f| format!("face:{}", f.0))).collect();
            store.audit(&actor(cli), "person confirm", &subjects, &format!("{} faces confirmed", faces.len()), None)?;
            let p = store.person(person)?;
            let message = format!("confirmed {} suggested face(s) as person {id}; {} confirmed face(s) now", faces.len(), p.confirmed_faces);
            #[derive(Serialize)]
            struct Confirmed {
                person: crate::store::Person,
                faces: Vec<FaceId>,
            }
            return reply(cli, &Confirmed { person: p, faces }, &message);
        }
        PersonCommand::Split { id, faces } => {
            let id = &person_id(store, id)?.0;
            let new = store.split_person(PersonId(*id), &face_ids(faces))?;
            let subjects = [format!("person:{id}"), format!("person:{}", new.0)];
            store.audit(&actor(cli), "person split", &subjects, &format!("{} faces", faces.len()), None)?;
            return reply(cli, &store.person(new)?, &format!("split {} faces of person {id} into new person {}", faces.len(), new.0));
        }
        PersonCommand::Photos { id, include_suggestions, threshold, method } => {
            let id = &person_id(store, id)?.0;
            let manifest = manifest(cli)?;
            let threshold = threshold.unwrap_or(manifest.embedder.match_threshold);
            // The defaults give the list `erase` waits on; other settings are for exploring.
            let found = match (threshold == manifest.embedder.match_threshold, method) {
                (true, query::Method::Exact) => query::person_review(&library, &manifest, PersonId(*id))?,
                _ => query::person_photos(&library, &manifest, PersonId(*id), threshold, *method)?,
            };
            audit_read(cli, &dir, "person photos", &[format!("person:{id}")], &format!("{} confirmed, {} suggested", found.confirmed.len(), found.suggestions.len()));
            #[derive(Serialize)]
            struct Report<'a> {
                #[serde(flatten)]
                found: &'a query::PersonPhotos,
                include_suggestions: bool,
                /// The person's photos under the flags: confirmed, plus suggestions when asked.
                photos: Vec<&'a PersonPhoto>,
            }
            let photos = found.confirmed.iter().chain(found.suggestions.iter().filter(|_| *include_suggestions)).collect();
            if cli.json {
                return done(print_json(&Report { found: &found, include_suggestions: *include_suggestions, photos }));
            }
            let mut out = std::io::stdout().lock();
            let p = &found.person;
            writeln!(out, "person {} {}: searched with {} face(s) at similarity >= {threshold}", p.id.0, p.name.as_deref().unwrap_or("(unnamed)"), found.searched_with)?;
            writeln!(out, "{} confirmed photo(s):", found.confirmed.len())?;
            for ph in &found.confirmed {
                writeln!(out, "  {}", photo_line(ph))?;
            }
            writeln!(out, "{} suggestion(s) to review:", found.suggestions.len())?;
            for ph in &found.suggestions {
                writeln!(out, "  {}", photo_line(ph))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn face(cli: &Cli, dir: PathBuf, command: &FaceCommand) -> anyhow::Result<ExitCode> {
    let access = if matches!(command, FaceCommand::List { .. }) { Access::Read } else { Access::Write };
    let mut library = super::open(&dir, access)?;
    #[derive(Serialize)]
    struct Changed<'a> {
        message: &'a str,
        faces: Vec<i64>,
    }
    match command {
        FaceCommand::Add { photo, rect } => {
            let manifest = super::manifest(cli)?;
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut models = crate::vision::FaceModels::load(&manifest, cli.device, threads)?;
            let (face, photo_id) = crate::review::add_face(&mut library, &manifest, &mut models, photo, *rect, &actor(cli))?;
            let message = format!("face {} added to photo {} ({}); link it with `face move {} --to PERSON`", face.0, photo_id.0, photo.display(), face.0);
            return reply(cli, &Changed { message: &message, faces: vec![face.0] }, &message);
        }
        FaceCommand::Dismiss { faces } => {
            let dismissed = crate::review::dismiss_faces(&mut library, &face_ids(faces), &actor(cli))?;
            let message = format!("{} face(s) dismissed as not faces", dismissed.len());
            return reply(cli, &Changed { message: &message, faces: faces.clone() }, &message);
        }
        _ => {}
    }
    // The person the command names, by id, name or email.
    let to = match command {
        FaceCommand::Move { to, .. } => Some(person_id(&library.store, to)?),
        FaceCommand::Reject { person: Some(p), .. } => Some(person_id(&library.store, p)?),
        _ => None,
    };
    let store = &mut library.store;
    let (message, faces) = match command {
        FaceCommand::Move { face, .. } => {
            let to = to.expect("resolved above");
            store.move_faces(&[FaceId(*face)], to)?;
            (format!("face {face} moved to {}", label_of(store, to)), vec![*face])
        }
        FaceCommand::Confirm { faces } => {
            store.confirm_faces(&face_ids(faces))?;
            (format!("{} face(s) confirmed", faces.len()), faces.clone())
        }
        FaceCommand::Reject { faces, .. } => {
            store.reject_faces(&face_ids(faces), to)?;
            let whom = to.map(|p| format!(" for {}", label_of(store, p))).unwrap_or_default();
            (format!("{} face(s) rejected{whom}", faces.len()), faces.clone())
        }
        FaceCommand::Add { .. } | FaceCommand::Dismiss { .. } => unreachable!("handled above"),
        FaceCommand::List { .. } => {
            let rows = store.unassigned_faces()?;
            if cli.json {
                return done(print_json(&serde_json::json!({ "faces": rows })));
            }
            let mut out = std::io::stdout().lock();
            for r in &rows {
                let tier = if r.origin == crate::vision::Origin::Detected { String::new() } else { format!("  ({} face)", r.origin.as_str()) };
                writeln!(out, "face {:>6}  {}  {}{tier}", r.face_id.0, r.path, rect(&r.rect))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let subjects: Vec<String> = faces.iter().map(|f| format!("face:{f}")).collect();
    let command = match command {
        FaceCommand::Move { .. } => format!("face move to person:{}", to.expect("resolved above").0),
        FaceCommand::Confirm { .. } => "face confirm".into(),
        FaceCommand::Reject { person: Some(_), .. } => format!("face reject for person:{}", to.expect("resolved above").0),
        FaceCommand::Reject { person: None, .. } => "face reject".into(),
        FaceCommand::List { .. } | FaceCommand::Add { .. } | FaceCommand::Dismiss { .. } => unreachable!("handled above"),
    };
    library.store.audit(&actor(cli), &command, &subjects, "ok", None)?;
    reply(cli, &Changed { message: &message, faces }, &message)
}

/// What a person with no confirmed face means for the gate, and what to do.
pub(super) fn unconfirmed_hint(p: &crate::store::Person) -> String {
    format!(
        "person {} has no confirmed face ({} suggested): `check` blocks their photos as \"identity only suggested\"; \
         review with `facegate person photos {}`, confirm with `facegate person confirm {}`",
        p.id.0, p.suggested_faces, p.id.0, p.id.0
    )
}

/// Warns on stderr when a person has no confirmed face.
pub(super) fn warn_if_unconfirmed(p: &crate::store::Person) {
    if p.confirmed_faces == 0 {
        eprintln!("facegate: warning: {}", unconfirmed_hint(p));
    }
}

fn face_ids(ids: &[i64]) -> Vec<FaceId> {
    ids.iter().map(|&i| FaceId(i)).collect()
}

fn done(printed: anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    printed.map(|()| ExitCode::SUCCESS)
}

fn rect(r: &crate::vision::Rect) -> String {
    format!("({:.0},{:.0})-({:.0},{:.0})", r.x0, r.y0, r.x1, r.y1)
}

fn photo_line(p: &PersonPhoto) -> String {
    let sim = p.similarity.map(|s| format!("{s:.3}")).unwrap_or_else(|| "  -  ".into());
    format!("{sim}  {:<9}  {}  face {} at {}", p.basis, p.path, p.face_id.0, rect(&p.rect))
}
