//! `facegate cluster`, `person …` and `face …`: the person layer on the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{ClusterArgs, FaceCommand, PersonCommand};
use super::{manifest, print_json, reply, with_app, Cli};
use crate::app::App;
use crate::cluster::Mode;
use crate::library::Access;
use crate::query::PersonPhoto;
use crate::store::FaceId;

pub fn cluster(cli: &Cli, dir: PathBuf, a: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let manifest = manifest(cli)?;
    let mode = if a.recluster { Mode::Recluster } else if a.all { Mode::Full } else { Mode::Incremental };
    let outcome = with_app(cli, &dir, Access::Write, |app| Ok(app.cluster(&manifest, mode)?))?;
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
    with_app(cli, &dir, access, |app| person_command(cli, app, command))
}

fn person_command(cli: &Cli, app: &mut App, command: &PersonCommand) -> anyhow::Result<ExitCode> {
    match command {
        PersonCommand::List => {
            let persons = app.persons()?;
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
            let id = app.person_id(id)?;
            let show = app.person_detail(id)?;
            if cli.json {
                return done(print_json(&show));
            }
            let p = &show.person;
            let mut out = std::io::stdout().lock();
            writeln!(out, "person {}: {}{}", p.id.0, p.name.as_deref().unwrap_or("(unnamed)"), p.email.as_deref().map(|e| format!(" <{e}>")).unwrap_or_default())?;
            writeln!(out, "  {} confirmed face(s), {} suggested (only confirmed faces count for consent)", p.confirmed_faces, p.suggested_faces)?;
            if p.confirmed_faces == 0 {
                writeln!(out, "  {}", crate::app::unconfirmed_hint(p))?;
            }
            for f in &show.faces {
                let sim = f.similarity.map(|s| format!(" {s:.3}")).unwrap_or_default();
                writeln!(out, "  face {:>6}  {:<9}{sim}  {}  {}", f.face_id.0, f.link.as_str(), f.path, rect(&f.rect))?;
            }
        }
        PersonCommand::Name { id, name, email } => {
            let id = app.person_id(id)?;
            let person = app.name_person(id, name, email.as_deref())?;
            return reply(cli, &person, &format!("person {} is now {name}", id.0));
        }
        PersonCommand::Add { name, email, external } => {
            let person = app.add_person(name, email.as_deref(), *external)?;
            return reply(cli, &person, &format!("added person {}: {name}", person.id.0));
        }
        PersonCommand::Merge { a, b } => {
            let (a, b) = (app.person_id(a)?, app.person_id(b)?);
            let (person, moved) = app.merge_persons(a, b)?;
            let message = format!("merged person {} into {} ({moved} faces moved)", b.0, person.label());
            return reply(cli, &person, &message);
        }
        PersonCommand::Confirm { id } => {
            let id = app.person_id(id)?;
            let confirmed = app.confirm_suggestions(&manifest(cli)?, id)?;
            let message = format!(
                "confirmed {} suggested face(s) as {}; {} confirmed face(s) now",
                confirmed.faces.len(),
                confirmed.person.label(),
                confirmed.person.confirmed_faces
            );
            return reply(cli, &confirmed, &message);
        }
        PersonCommand::Split { id, faces } => {
            let id = app.person_id(id)?;
            let new = app.split_person(id, &face_ids(faces))?;
            return reply(cli, &new, &format!("split {} faces of {} into new person {}", faces.len(), app.label_of(id), new.id.0));
        }
        PersonCommand::Photos { id, include_suggestions, threshold, method } => {
            let id = app.person_id(id)?;
            let found = app.person_photos(&manifest(cli)?, id, *threshold, *method)?;
            if cli.json {
                return done(print_json(&found.report(*include_suggestions)));
            }
            let mut out = std::io::stdout().lock();
            let p = &found.person;
            writeln!(out, "person {} {}: searched with {} face(s) at similarity >= {}", p.id.0, p.name.as_deref().unwrap_or("(unnamed)"), found.searched_with, found.threshold)?;
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
    let changed = with_app(cli, &dir, access, |app| {
        Ok(Some(match command {
            FaceCommand::Add { photo, rect } => {
                let manifest = manifest(cli)?;
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                let mut models = crate::vision::FaceModels::load(&manifest, cli.device, threads)?;
                app.add_face(&manifest, &mut models, photo, *rect)?
            }
            FaceCommand::Dismiss { faces } => app.dismiss_faces(&face_ids(faces))?,
            FaceCommand::Move { face, to } => {
                let to = app.person_id(to)?;
                app.move_faces(&[FaceId(*face)], to)?
            }
            FaceCommand::Confirm { faces } => app.confirm_faces(&face_ids(faces))?,
            FaceCommand::Reject { faces, person } => {
                let person = person.as_deref().map(|p| app.person_id(p)).transpose()?;
                app.reject_faces(&face_ids(faces), person)?
            }
            FaceCommand::List { .. } => {
                let rows = app.unassigned_faces()?;
                if cli.json {
                    print_json(&serde_json::json!({ "faces": rows }))?;
                    return Ok(None);
                }
                let mut out = std::io::stdout().lock();
                for r in &rows {
                    let tier = if r.origin == crate::vision::Origin::Detected { String::new() } else { format!("  ({} face)", r.origin.as_str()) };
                    writeln!(out, "face {:>6}  {}  {}{tier}", r.face_id.0, r.path, rect(&r.rect))?;
                }
                return Ok(None);
            }
        }))
    })?;
    match changed {
        Some(c) => reply(cli, &c, &c.message),
        None => Ok(ExitCode::SUCCESS),
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
