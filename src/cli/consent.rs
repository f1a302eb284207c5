//! `purpose`, `project`, `consent`, `check`, `export`, `usage`, `report`, `erase` and `audit` on
//! the command line: arguments in, one [`App`] call, output rendered.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;

use super::args::{AuditCommand, CheckArgs, ConsentCommand, ExportArgs, ProjectCommand, PurposeCommand, UseArgs};
use super::{photo_objects, print_json, reply, with_app, Cli};
use crate::app::requests::Ask;
use crate::app::{App, Grant, PhotoRef};
use crate::consent::Use;
use crate::library::Access;
use crate::store::{PersonId, PhotoId, Purpose};

/// Exit status of `consent expiring` when something expires in the window.
pub const EXIT_EXPIRING: u8 = 3;

fn using(app: &App, u: &UseArgs) -> anyhow::Result<Use> {
    Ok(app.use_for(&u.purpose, u.project.as_deref(), u.on, u.min_face_px)?)
}

pub fn purpose(cli: &Cli, dir: PathBuf, c: &PurposeCommand) -> anyhow::Result<ExitCode> {
    match c {
        PurposeCommand::Add { name, description } => {
            let id = with_app(cli, &dir, Access::Write, |app| Ok(app.add_purpose(name, description.as_deref())?))?;
            let purpose = Purpose { id, name: name.clone(), description: description.clone() };
            reply(cli, &purpose, &format!("added purpose {name}"))
        }
        PurposeCommand::List => {
            let purposes = with_app(cli, &dir, Access::Read, |app| Ok(app.purposes()?))?;
            if cli.json {
                print_json(&serde_json::json!({ "purposes": purposes }))?;
            } else {
                for p in purposes {
                    println!("{}  {}", p.name, p.description.unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn project(cli: &Cli, dir: PathBuf, c: &ProjectCommand) -> anyhow::Result<ExitCode> {
    match c {
        ProjectCommand::Add { name, until } => {
            let id = with_app(cli, &dir, Access::Write, |app| Ok(app.add_project(name, *until)?))?;
            reply(cli, &serde_json::json!({ "id": id, "name": name, "until": until }), &format!("added project {name}"))
        }
        ProjectCommand::List => {
            let projects = with_app(cli, &dir, Access::Read, |app| Ok(app.projects()?))?;
            if cli.json {
                print_json(&serde_json::json!({ "projects": projects }))?;
            } else {
                for p in projects {
                    println!("{}  {}", p.name, p.until.map(|d| format!("until {d}")).unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn consent(cli: &Cli, dir: PathBuf, c: &ConsentCommand) -> anyhow::Result<ExitCode> {
    let access = if matches!(c, ConsentCommand::List { .. } | ConsentCommand::Expiring { .. }) { Access::Read } else { Access::Write };
    with_app(cli, &dir, access, |app| consent_command(cli, app, c))
}

fn consent_command(cli: &Cli, app: &mut App, c: &ConsentCommand) -> anyhow::Result<ExitCode> {
    let today = app.today;
    match c {
        ConsentCommand::Grant { person, purposes, from, until, no_expiry: _, project, evidence, source, note } => {
            let person = app.person_id(person)?;
            let grant = Grant {
                person: Some(person),
                purposes: purposes.clone(),
                from: *from,
                until: *until,
                project: project.clone(),
                evidence: evidence.clone(),
                source: source.map(|s| format!("{s:?}").to_lowercase()),
                note: note.clone(),
                ..Grant::default()
            };
            let granted = app.grant(&grant)?;
            reply(cli, &granted, &format!("recorded consent {:?} for {}", granted.consents, app.label_of(person)))
        }
        ConsentCommand::Revoke { person, purposes, date, note } => {
            let person = app.person_id(person)?;
            let (ids, what) = app.revoke(person, purposes, *date, note.as_deref())?;
            reply(cli, &serde_json::json!({ "revocations": ids }), &format!("revoked {what} for {}", app.label_of(person)))
        }
        ConsentCommand::List { person, purpose } => {
            let person = person.as_deref().map(|p| app.person_id(p)).transpose()?;
            let list = app.consents(person, purpose.as_deref())?;
            if cli.json {
                print_json(&list)?;
                return Ok(ExitCode::SUCCESS);
            }
            let (listed, revocations) = (&list.consents, &list.revocations);
            let names: std::collections::HashMap<i64, String> =
                app.store().persons()?.into_iter().map(|p| (p.id.0, p.label())).collect();
            let label = |p: PersonId| names.get(&p.0).cloned().unwrap_or_else(|| format!("person {}", p.0));
            let width = |strings: Vec<usize>, min: usize| strings.into_iter().max().unwrap_or(0).max(min);
            let who_w = width(listed.iter().map(|l| label(l.record.person).chars().count()).chain(revocations.iter().map(|r| label(r.person).chars().count())).collect(), 11);
            let what_w = width(listed.iter().map(|l| l.record.purpose.chars().count()).collect(), 14);
            let mut out = std::io::stdout().lock();
            for l in listed {
                let r = &l.record;
                writeln!(
                    out,
                    "consent {:>4}  {:<who_w$}  {:<what_w$} {} .. {}  {}{}",
                    r.id,
                    label(r.person),
                    r.purpose,
                    r.valid_from,
                    r.valid_until.map_or("no expiry".into(), |d| d.to_string()),
                    l.status,
                    r.project.as_ref().map(|p| format!("  project {p}")).unwrap_or_default()
                )?;
            }
            for r in revocations {
                writeln!(out, "revoked       {:<who_w$}  {:<what_w$} from {}", label(r.person), r.purpose.as_deref().unwrap_or("(all)"), r.effective)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsentCommand::Expiring { within } => {
            let found = app.expiring(*within)?;
            if cli.json {
                let mut listed = serde_json::to_value(&found)?;
                for (e, value) in found.iter().zip(listed.as_array_mut().into_iter().flatten()) {
                    value["photos"] = photo_objects(&e.photos).into();
                }
                print_json(&serde_json::json!({ "today": today, "within_days": within, "expiring": listed }))?;
            } else {
                for e in &found {
                    let c = &e.consent;
                    println!(
                        "consent {} of person {} ({}) for {} expires {}: {} photo(s) will be blocked",
                        c.id,
                        c.person.0,
                        e.person_name.as_deref().unwrap_or("unnamed"),
                        c.purpose,
                        e.ends,
                        e.photos.len()
                    );
                    if let (Some(project_end), Some(project)) = (e.ends_with_project, &c.project) {
                        let own = c.valid_until.map_or("no end".to_string(), |u| format!("until {u}"));
                        println!("    warning: the record says {own}, but it ends with project {project} on {project_end}");
                    }
                    for p in &e.photos {
                        println!("    {p}");
                    }
                }
            }
            Ok(if found.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_EXPIRING) })
        }
        ConsentCommand::Request { person, purposes, out, months, project, language, link_days, link_base, sender, organisation } => {
            let person = app.person_id(person)?;
            let ask = Ask {
                persons: vec![person],
                photos: Vec::new(),
                purposes: purposes.clone(),
                months: *months,
                project: project.clone(),
                language: language.clone(),
                link_days: *link_days,
                organisation: organisation.clone(),
                contact: None,
                link_base: link_base.clone(),
                sender: sender.clone(),
            };
            let issued = app.ask_consent(&ask)?.pop().expect("one request per person asked");
            std::fs::write(out, &issued.message).with_context(|| out.display().to_string())?;
            let json = serde_json::json!({ "out": out, "to": issued.to, "request": issued.request, "answer_link": issued.answer_link,
                "withdraw_link": issued.withdraw_link, "expires_at": issued.expires_at });
            reply(cli, &json, &format!("wrote {} (answer link {}, until {})", out.display(), issued.answer_link, issued.expires_at))
        }
    }
}

/// `check`: exit 0 when every photo is allowed, 1 when any is blocked, 2 on errors.
pub fn check(cli: &Cli, dir: PathBuf, a: &CheckArgs) -> anyhow::Result<ExitCode> {
    let outcome = with_app(cli, &dir, Access::Read, |app| {
        let u = using(app, &a.using)?;
        let photos: Vec<PhotoRef> = a.photos.iter().cloned().map(PhotoRef::Path).collect();
        Ok(app.check(&photos, u)?)
    });
    let checked = match outcome {
        Ok(d) => d,
        Err(e) => {
            super::print_error(cli.json, &e);
            return Ok(ExitCode::from(2));
        }
    };
    let decisions = &checked.photos;
    if cli.json {
        print_json(&checked)?;
    } else {
        for d in decisions {
            println!("{}  {}", if d.allowed { "allowed" } else { "BLOCKED" }, d.path);
            if let Some(indexed) = &d.matched_by_content {
                println!("    (path not in the library: matched by content, identical to {indexed})");
            }
            for r in &d.reasons {
                println!("    {r}");
            }
        }
    }
    Ok(if decisions.iter().any(|d| d.error.is_some()) {
        ExitCode::from(2)
    } else if decisions.iter().all(|d| d.allowed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn export(cli: &Cli, dir: PathBuf, a: &ExportArgs) -> anyhow::Result<ExitCode> {
    let report = with_app(cli, &dir, Access::Write, |app| {
        let u = using(app, &a.using)?;
        let photos: Vec<PhotoId> = match &a.person {
            Some(p) => {
                let p = app.person_id(p)?;
                app.confirmed_photos(p)?
            }
            None => app.photos_under(&a.from)?,
        };
        Ok(app.export(&photos, &u, &a.to, a.link)?)
    })?;
    if cli.json {
        print_json(&report)?;
    } else {
        let outcome = format!("{} exported, {} withheld", report.exported.len(), report.withheld.len());
        println!("{outcome} to {} (manifest: facegate-manifest.json, .csv)", a.to.display());
        for w in &report.withheld {
            println!("withheld {}: {}", w.path, w.reasons.join("; "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn usage(cli: &Cli, dir: PathBuf, person: Option<&str>, photo: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let (rows, whose) = with_app(cli, &dir, Access::Read, |app| {
        let person = person.map(|p| app.person_id(p)).transpose()?;
        let rows = app.usage(person, photo)?;
        Ok((rows, person.map(|p| app.label_of(p))))
    })?;
    if cli.json {
        print_json(&serde_json::json!({ "uses": rows }))?;
    } else if rows.is_empty() {
        match (photo, whose) {
            (Some(p), _) => println!("no recorded use of {}", p.display()),
            (None, Some(p)) => println!("no recorded use of the photos of {p}"),
            (None, None) => println!("no recorded use"),
        }
    } else {
        for u in rows {
            println!(
                "{}  {}  {}{}  -> {}  by {}",
                u.used_on,
                u.path.as_deref().unwrap_or("(photo gone)"),
                u.purpose,
                u.project.map(|p| format!(" / {p}")).unwrap_or_default(),
                u.destination,
                u.actor
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(cli: &Cli, dir: PathBuf, c: &super::args::ReportCommand) -> anyhow::Result<ExitCode> {
    let super::args::ReportCommand::Access { person, format, out, controller, storage_period } = c;
    let (summary, whom) = with_app(cli, &dir, Access::Write, |app| {
        let person = app.person_id(person)?;
        let notice = crate::gdpr::report::Notice { controller: controller.clone(), storage_period: storage_period.clone() };
        Ok((app.access_report(person, *format, out, &notice)?, app.label_of(person)))
    })?;
    reply(cli, &summary, &format!("wrote the access report for {whom} to {}", out.display()))
}

pub fn erase(cli: &Cli, dir: PathBuf, a: &super::args::EraseArgs) -> anyhow::Result<ExitCode> {
    use crate::gdpr::erase::{Files, Options};
    if a.resume {
        // Opened without `super::open`, which would finish them itself (and say so on stderr).
        let mut library = crate::library::Library::open(&dir, Access::Write)?;
        let actor = crate::app::Actor::owner(super::actor(cli));
        let finished = App::new(&actor, &mut library, super::today(cli)).resume_erasures()?;
        let message = match finished.len() {
            0 => "no unfinished erasure".to_string(),
            n => format!("finished {n} interrupted erasure(s): {}", finished.iter().map(|r| r.certificate_text.as_str()).collect::<Vec<_>>().join(", ")),
        };
        return reply(cli, &serde_json::json!({ "finished": finished }), &message);
    }
    let (Some(person), Some(reason)) = (a.person.as_deref(), a.reason.clone()) else {
        bail!("erase needs a PERSON and --reason, or --resume");
    };
    let manifest = super::manifest(cli)?;
    let access = if a.dry_run { Access::Read } else { Access::Write };
    with_app(cli, &dir, access, |app| {
        let person = app.person_id(person)?;
        let files = match (&a.quarantine, a.delete_files) {
            (Some(q), _) => Files::Quarantine(q.clone()),
            (None, true) => Files::Delete,
            (None, false) => Files::Keep,
        };
        let mut opts = Options {
            person,
            reason,
            files,
            include_suggestions: a.include_suggestions,
            actor: String::new(),
            certificate_dir: a.certificate_dir.clone().unwrap_or_else(|| app.library.dir.join("certificates")),
        };
        let plan = app.erase_plan(&manifest, &mut opts)?;
        let whom = app.label_of(person);
        if a.dry_run {
            app.erase_previewed(&plan, person);
            if cli.json {
                print_json(&plan)?;
            } else {
                print_plan(&plan, &mut std::io::stdout().lock())?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !a.yes {
            use std::io::IsTerminal;
            if !std::io::stdin().is_terminal() {
                bail!("erasing {whom} needs confirmation: run it on a terminal or pass --yes");
            }
            eprintln!("Erase {whom}: {} photo(s), {} face(s), consents and evidence. This cannot be undone.", plan.photos.len(), plan.faces);
            print_plan(&plan, &mut std::io::stderr().lock())?;
            eprint!("Type 'erase' to go on: ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if answer.trim() != "erase" {
                bail!("not confirmed; nothing was erased");
            }
        }
        let report = app.erase(&manifest, &plan, &opts)?;
        print_erasure(cli, &report, &whom)?;
        Ok(ExitCode::SUCCESS)
    })
}

fn print_erasure(cli: &Cli, report: &crate::gdpr::erase::Report, whom: &str) -> anyhow::Result<()> {
    if cli.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a crate::gdpr::erase::Report,
            review: Vec<serde_json::Value>,
        }
        let review = report.review.iter().map(|(p, w)| serde_json::json!({ "path": p, "why": w })).collect();
        return print_json(&Out { report, review });
    }
    println!(
        "erasure {} of {whom}: {} file(s) deleted, {} quarantined, {} kept and blocked, {} face(s), {} consent record(s) removed",
        report.erasure_id,
        report.files_deleted.len(),
        report.files_quarantined.len(),
        report.photos_kept_blocked.len(),
        report.faces_removed,
        report.consents_removed
    );
    for (path, why) in &report.review {
        println!("review: {path} ({why})");
    }
    if !report.uses.is_empty() {
        println!("{} recorded use(s) of these photos: tell each recipient (Art. 17(2), 19); listed in the certificate", report.uses.len());
    }
    println!("certificate: {} and {}", report.certificate_text, report.certificate_json);
    Ok(())
}

/// The photos an erasure will touch and the recorded uses of them.
fn print_plan(plan: &crate::gdpr::erase::Plan, out: &mut dyn Write) -> std::io::Result<()> {
    for p in &plan.photos {
        writeln!(out, "  {:<10} {}{}", p.action, p.path, p.why_kept.as_ref().map(|w| format!(" ({w})")).unwrap_or_default())?;
    }
    if plan.uses.is_empty() {
        return writeln!(out, "No recorded use of these photos.");
    }
    writeln!(out, "{} recorded use(s) of these photos (copies outside the library; tell each recipient, Art. 17(2), 19):", plan.uses.len())?;
    for u in &plan.uses {
        let project = u.project.as_ref().map(|p| format!(" / {p}")).unwrap_or_default();
        writeln!(out, "  {}  {}{project}  -> {}  by {}  (sha256 {})", u.used_on, u.purpose, u.destination, u.actor, u.photo_sha256)?;
    }
    Ok(())
}

pub fn audit(cli: &Cli, dir: PathBuf, c: &AuditCommand) -> anyhow::Result<ExitCode> {
    with_app(cli, &dir, Access::Read, |app| match c {
        AuditCommand::Log { person, since } => {
            let person = person.as_deref().map(|p| app.person_id(p)).transpose()?;
            let entries = app.audit_log(person, since.as_deref())?;
            if cli.json {
                print_json(&serde_json::json!({ "entries": entries }))?;
            } else {
                for e in entries {
                    println!("{:>6}  {}  {:<12} {:<16} {}  {}", e.id, e.at, e.actor, e.command, e.subjects.join(","), e.outcome);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let v = app.audit_verify()?;
            if cli.json {
                print_json(&v)?;
            } else if let Some(bad) = &v.first_bad {
                println!("audit trail broken at entry {}: {}", bad.id, bad.why);
            } else {
                println!("audit trail intact: {} entries", v.entries);
            }
            Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    })
}

/// `organisation`: shows the settings, after setting what is given.
pub fn organisation(cli: &Cli, dir: PathBuf, name: Option<&str>, contact: Option<&str>, public_url: Option<&str>) -> anyhow::Result<ExitCode> {
    let changing = name.is_some() || contact.is_some() || public_url.is_some();
    let access = if changing { Access::Write } else { Access::Read };
    let org = with_app(cli, &dir, access, |app| Ok(if changing { app.set_organisation(name, contact, public_url)? } else { app.organisation()? }))?;
    let unset = || "(not set)".to_string();
    let text = format!(
        "organisation: {}\ncontact: {}\npublic url: {}",
        org.name.clone().unwrap_or_else(unset),
        org.contact.clone().unwrap_or_else(unset),
        org.public_url.clone().unwrap_or_else(unset)
    );
    reply(cli, &org, &text)
}
