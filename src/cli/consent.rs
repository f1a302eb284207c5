//! `purpose`, `project`, `consent`, `check`, `export`, `usage` and `audit` on the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;

use super::args::{AuditCommand, CheckArgs, ConsentCommand, ExportArgs, ProjectCommand, PurposeCommand, UseArgs};
use super::{actor, label_of, person_id, photo_objects, print_json, purpose_name, reply, today, Cli};
use crate::consent::{self, rules::valid_grant, Gate, Use};
use crate::library::{Access, Library};
use crate::store::{NewGrant, PersonId, PhotoId};

/// Exit status of `consent expiring` when something expires in the window.
pub const EXIT_EXPIRING: u8 = 3;

fn using(cli: &Cli, store: &crate::store::Store, u: &UseArgs) -> anyhow::Result<Use> {
    let purpose = purpose_name(store, &u.purpose)?;
    Ok(Use { purpose, project: u.project.clone(), on: u.on.unwrap_or_else(|| today(cli)), min_face_px: u.min_face_px })
}

/// The purposes as the library spells them, and their ids.
fn purpose_ids(store: &crate::store::Store, given: &[String]) -> anyhow::Result<(Vec<String>, Vec<i64>)> {
    let names = given.iter().map(|p| purpose_name(store, p)).collect::<anyhow::Result<Vec<_>>>()?;
    let ids = names.iter().map(|p| store.purpose_id(p)).collect::<Result<Vec<_>, _>>()?;
    Ok((names, ids))
}

pub fn purpose(cli: &Cli, dir: PathBuf, c: &PurposeCommand) -> anyhow::Result<ExitCode> {
    match c {
        PurposeCommand::Add { name, description } => {
            let mut lib = super::open(&dir, Access::Write)?;
            if let Some(same) = lib.store.purposes()?.into_iter().find(|p| p.name.to_lowercase() == name.to_lowercase()) {
                bail!("purpose {:?} exists already (names are not case-sensitive)", same.name);
            }
            let id = lib.store.add_purpose(name, description.as_deref())?;
            lib.store.audit(&actor(cli), "purpose add", &[format!("purpose:{id}")], "ok", Some(name))?;
            reply(cli, &serde_json::json!({ "id": id, "name": name }), &format!("added purpose {name}"))
        }
        PurposeCommand::List => {
            let lib = super::open(&dir, Access::Read)?;
            let purposes = lib.store.purposes()?;
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
            let mut lib = super::open(&dir, Access::Write)?;
            let id = lib.store.add_project(name, *until)?;
            lib.store.audit(&actor(cli), "project add", &[format!("project:{id}")], "ok", Some(name))?;
            reply(cli, &serde_json::json!({ "id": id, "name": name, "until": until }), &format!("added project {name}"))
        }
        ProjectCommand::List => {
            let lib = super::open(&dir, Access::Read)?;
            let projects = lib.store.projects()?;
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
    let who = actor(cli);
    let today = today(cli);
    match c {
        ConsentCommand::Grant { person, purposes, from, until, no_expiry: _, project, evidence, source, note } => {
            let mut lib = super::open(&dir, Access::Write)?;
            let person = person_id(&lib.store, person)?;
            lib.store.person(person)?;
            let (purposes, purpose_ids) = purpose_ids(&lib.store, purposes)?;
            let project_id = project.as_deref().map(|p| lib.store.project_id(p)).transpose()?;
            let from = from.unwrap_or(today);
            if let Some(until) = until.filter(|u| *u < from) {
                bail!("--until {until} is before --from {from}");
            }
            // Everything is checked before the evidence is stored and the records written.
            let evidence = evidence.as_deref().map(|f| consent::store_evidence(&lib.dir, f)).transpose()?;
            let grant = NewGrant {
                person,
                purposes: purpose_ids,
                project: project_id,
                from,
                until: *until,
                source: source.map(|s| format!("{s:?}").to_lowercase()),
                note: note.clone(),
                evidence,
            };
            if let Some(project) = project {
                let until_project = lib.store.projects()?.into_iter().find(|p| &p.name == project).and_then(|p| p.until);
                if let Some(end) = crate::consent::rules::runs_past_project(*until, until_project) {
                    let own = until.map_or("has no end".to_string(), |u| format!("runs until {u}"));
                    eprintln!("facegate: warning: the consent {own}, past the end of project {project} ({end}); it ends with the project on {end}");
                }
            }
            super::person::warn_if_unconfirmed(&lib.store.person(person)?);
            let ids = lib.store.grant(&grant, &who)?;
            let subjects = [vec![format!("person:{}", person.0)], ids.iter().map(|i| format!("consent:{i}")).collect()].concat();
            let detail = format!("purposes {} from {from} until {}", purposes.join(","), until.map_or("no expiry".into(), |u| u.to_string()));
            lib.store.audit(&who, "consent grant", &subjects, "ok", Some(&detail))?;
            reply(cli, &serde_json::json!({ "consents": ids }), &format!("recorded consent {ids:?} for {}", label_of(&lib.store, person)))
        }
        ConsentCommand::Revoke { person, purposes, date, note } => {
            let mut lib = super::open(&dir, Access::Write)?;
            let person = person_id(&lib.store, person)?;
            lib.store.person(person)?;
            let (purposes, purpose_ids) = purpose_ids(&lib.store, purposes)?;
            let effective = date.unwrap_or(today);
            let scope = (!purposes.is_empty()).then_some(purpose_ids.as_slice());
            let ids = lib.store.revoke(person, scope, effective, note.as_deref(), &who)?;
            let what = if purposes.is_empty() { "all purposes".to_string() } else { purposes.join(",") };
            lib.store.audit(&who, "consent revoke", &[format!("person:{}", person.0)], "ok", Some(&format!("{what} from {effective}")))?;
            reply(cli, &serde_json::json!({ "revocations": ids }), &format!("revoked {what} for {} from {effective}", label_of(&lib.store, person)))
        }
        ConsentCommand::List { person, purpose } => {
            let lib = super::open(&dir, Access::Read)?;
            let purpose_id = purpose.as_deref().map(|p| purpose_name(&lib.store, p).and_then(|p| Ok(lib.store.purpose_id(&p)?))).transpose()?;
            let person = person.as_deref().map(|p| person_id(&lib.store, p)).transpose()?;
            #[derive(Serialize)]
            struct Listed {
                #[serde(flatten)]
                record: crate::store::ConsentRow,
                /// Whether this record is in force today.
                valid: bool,
                /// "valid", or why not, today.
                status: String,
            }
            let mut listed = Vec::new();
            for record in lib.store.consent_rows(person, purpose_id)? {
                let grants = lib.store.grants_for(record.person)?;
                let revocations = lib.store.revocations_for(record.person)?;
                let single: Vec<_> = grants.into_iter().filter(|g| g.id == record.id).collect();
                let status = valid_grant(&single, &revocations, &record.purpose, record.project.as_deref(), today);
                listed.push(Listed { valid: status.is_ok(), status: status.err().map_or("valid".into(), |r| r.to_string()), record });
            }
            let revocations = lib.store.revocation_rows(person)?;
            if cli.json {
                print_json(&serde_json::json!({ "today": today, "consents": listed, "revocations": revocations }))?;
                return Ok(ExitCode::SUCCESS);
            }
            let names: std::collections::HashMap<i64, String> =
                lib.store.persons()?.into_iter().map(|p| (p.id.0, super::person_label(&p))).collect();
            let label = |p: PersonId| names.get(&p.0).cloned().unwrap_or_else(|| format!("person {}", p.0));
            let width = |strings: Vec<usize>, min: usize| strings.into_iter().max().unwrap_or(0).max(min);
            let who_w = width(listed.iter().map(|l| label(l.record.person).chars().count()).chain(revocations.iter().map(|r| label(r.person).chars().count())).collect(), 11);
            let what_w = width(listed.iter().map(|l| l.record.purpose.chars().count()).collect(), 14);
            let mut out = std::io::stdout().lock();
            for l in &listed {
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
            for r in &revocations {
                writeln!(out, "revoked       {:<who_w$}  {:<what_w$} from {}", label(r.person), r.purpose.as_deref().unwrap_or("(all)"), r.effective)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ConsentCommand::Expiring { within } => {
            let lib = super::open(&dir, Access::Read)?;
            let found = consent::expiring(&lib.store, today, *within)?;
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
        ConsentCommand::Request { person, purposes, out, sender, organisation } => {
            let mut lib = super::open(&dir, Access::Write)?;
            let person = person_id(&lib.store, person)?;
            let p = lib.store.person(person)?;
            let (purposes, _) = purpose_ids(&lib.store, purposes)?;
            let known = lib.store.purposes()?;
            let id = person.0;
            let email = p.email.clone().with_context(|| format!("person {id} has no email; set one with `facegate person name {id} NAME --email ADDRESS`"))?;
            let name = p.name.clone().unwrap_or_default();
            // Each purpose as its description says it, the name after it.
            let listed: Vec<String> = purposes
                .iter()
                .map(|name| match known.iter().find(|k| &k.name == name).and_then(|k| k.description.as_deref()) {
                    Some(d) => format!("  - {d} ({name})"),
                    None => format!("  - {name}"),
                })
                .collect();
            let (we, signed) = match organisation {
                Some(o) => (format!("{o} would like"), format!("Kind regards\n{o}\n")),
                None => ("we would like".to_string(), "Kind regards\n".to_string()),
            };
            let body = format!(
                "Dear {},\n\n{we} to use photos in which you appear for the following purposes:\n\n{}\n\n\
                 Please tell us whether you agree, for how long, and for which of these purposes. You may\n\
                 withdraw your consent at any time, and you may ask which photos of you we hold.\n\n{signed}",
                if name.is_empty() { "Sir or Madam" } else { &name },
                listed.join("\n"),
            );
            let message = mail_builder::MessageBuilder::new()
                .from(sender.as_str())
                .to((name.as_str(), email.as_str()))
                .subject(format!("Consent request: use of photos ({})", purposes.join(", ")))
                .text_body(body)
                .write_to_vec()
                .context("building the message")?;
            std::fs::write(out, message).with_context(|| out.display().to_string())?;
            lib.store.audit(&who, "consent request", &[format!("person:{id}")], "ok", Some(&purposes.join(",")))?;
            reply(cli, &serde_json::json!({ "out": out, "to": email }), &format!("wrote {}", out.display()))
        }
    }
}

/// `check`: exit 0 when every photo is allowed, 1 when any is blocked, 2 on errors.
pub fn check(cli: &Cli, dir: PathBuf, a: &CheckArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| -> anyhow::Result<(Vec<consent::PhotoDecision>, Use)> {
        let lib = super::open(&dir, Access::Read)?;
        let u = using(cli, &lib.store, &a.using)?;
        let mut gate = Gate::new(&lib.store, u.clone())?;
        let decisions = a.photos.iter().map(|p| gate.check_path(p)).collect::<crate::Result<Vec<_>>>()?;
        Ok((decisions, u))
    })();
    let (decisions, u) = match outcome {
        Ok(d) => d,
        Err(e) => {
            super::print_error(cli.json, &e);
            return Ok(ExitCode::from(2));
        }
    };
    let subjects: Vec<String> = decisions.iter().filter_map(|d| d.photo_id.map(|p| format!("photo:{}", p.0))).collect();
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    super::audit_read(cli, &dir, &format!("check {}", u.purpose), &subjects, &format!("{allowed} of {} allowed", decisions.len()));
    if cli.json {
        print_json(&serde_json::json!({ "purpose": u.purpose, "project": u.project, "on": u.on, "photos": decisions }))?;
    } else {
        for d in &decisions {
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
    let mut lib = super::open(&dir, Access::Write)?;
    let u = using(cli, &lib.store, &a.using)?;
    let photos: Vec<PhotoId> = match &a.person {
        Some(p) => {
            let p = person_id(&lib.store, p)?;
            lib.store.person(p)?;
            lib.store.confirmed_photos(p)?
        }
        None => {
            let roots = a
                .from
                .iter()
                .map(|p| p.canonicalize().map(|c| crate::paths::key(&c)).with_context(|| p.display().to_string()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            lib.store.photo_paths()?.into_iter().filter(|(_, path)| roots.iter().any(|r| crate::pipeline::scan::is_under(path, r))).map(|(id, _)| id).collect()
        }
    };
    let who = actor(cli);
    let report = consent::export(&mut lib.store, &photos, &u, &a.to, a.link, &who)?;
    let subjects: Vec<String> = report.exported.iter().map(|e| format!("photo:{}", e.photo_id.0)).collect();
    let outcome = format!("{} exported, {} withheld", report.exported.len(), report.withheld.len());
    lib.store.audit(&who, "export", &subjects, &outcome, Some(&u.purpose))?;
    if cli.json {
        print_json(&report)?;
    } else {
        println!("{outcome} to {} (manifest: facegate-manifest.json, .csv)", a.to.display());
        for w in &report.withheld {
            println!("withheld {}: {}", w.path, w.reasons.join("; "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn usage(cli: &Cli, dir: PathBuf, person: Option<&str>, photo: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let lib = super::open(&dir, Access::Read)?;
    let person = person.map(|p| person_id(&lib.store, p)).transpose()?.map(|p| p.0);
    let photo_id = match photo {
        Some(p) => {
            let key = crate::paths::key(&p.canonicalize().with_context(|| p.display().to_string())?);
            Some(lib.store.gate_photo(&key)?.with_context(|| format!("{key} is not in the library"))?.id)
        }
        None => None,
    };
    let rows = lib.store.usage(person.map(PersonId), photo_id)?;
    let subject = person.map(|p| vec![format!("person:{p}")]).or(photo_id.map(|p| vec![format!("photo:{}", p.0)])).unwrap_or_default();
    super::audit_read(cli, &dir, "usage", &subject, &format!("{} uses", rows.len()));
    if cli.json {
        print_json(&serde_json::json!({ "uses": rows }))?;
    } else if rows.is_empty() {
        match (photo, person) {
            (Some(p), _) => println!("no recorded use of {}", p.display()),
            (None, Some(p)) => println!("no recorded use of the photos of {}", label_of(&lib.store, PersonId(p))),
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
    let mut lib = super::open(&dir, Access::Write)?;
    let person = &person_id(&lib.store, person)?.0;
    let notice = crate::gdpr::report::Notice { controller: controller.clone(), storage_period: storage_period.clone() };
    let summary = crate::gdpr::report::access_report(&lib, PersonId(*person), *format, out, today(cli), &notice)?;
    lib.store.audit(&actor(cli), "report access", &[format!("person:{person}")], "ok", Some(&format!("{format:?}")))?;
    reply(cli, &summary, &format!("wrote the access report for person {person} to {}", out.display()))
}

pub fn erase(cli: &Cli, dir: PathBuf, a: &super::args::EraseArgs) -> anyhow::Result<ExitCode> {
    use crate::gdpr::erase::{self, Files, Options};
    if a.resume {
        // Opening as a writer finishes them (and says so on stderr).
        let mut lib = Library::open(&dir, Access::Write)?;
        let finished = erase::finish_pending(&mut lib)?;
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
    let mut lib = super::open(&dir, access)?;
    let person_id = person_id(&lib.store, person)?.0;
    let files = match (&a.quarantine, a.delete_files) {
        (Some(q), _) => Files::Quarantine(q.clone()),
        (None, true) => Files::Delete,
        (None, false) => Files::Keep,
    };
    let opts = Options {
        person: PersonId(person_id),
        reason,
        files,
        include_suggestions: a.include_suggestions,
        actor: actor(cli),
        certificate_dir: a.certificate_dir.clone().unwrap_or_else(|| lib.dir.join("certificates")),
    };
    let person = match lib.store.person(opts.person) {
        Ok(p) => p,
        Err(e) => {
            // Already erased (perhaps by a run that was interrupted and finished since): say by which.
            let subject = format!("person:{person_id}");
            let done = lib.store.audit_log(Some(&subject), None)?.into_iter().rev().find(|a| a.command == "erase");
            if let Some(erasure) = done.and_then(|a| a.subjects.into_iter().find(|s| s.starts_with("erasure:"))) {
                let id = erasure.trim_start_matches("erasure:");
                bail!("person {person_id} was erased by erasure {id} (certificate erasure-{id}.txt in {})", opts.certificate_dir.display());
            }
            return Err(e.into());
        }
    };
    let plan = erase::plan(&lib, &manifest, &opts)?;
    if a.dry_run {
        super::audit_read(cli, &dir, "erase --dry-run", &[format!("person:{person_id}")], &format!("{} photos", plan.photos.len()));
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
            bail!("erasing person {person_id} needs confirmation: run it on a terminal or pass --yes");
        }
        eprintln!(
            "Erase person {person_id} ({}): {} photo(s), {} face(s), consents and evidence. This cannot be undone.",
            person.name.as_deref().unwrap_or("unnamed"),
            plan.photos.len(),
            plan.faces
        );
        print_plan(&plan, &mut std::io::stderr().lock())?;
        eprint!("Type 'erase' to go on: ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "erase" {
            bail!("not confirmed; nothing was erased");
        }
    }
    let report = erase::execute(&mut lib, &manifest, &plan, &opts)?;
    if cli.json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a erase::Report,
            review: Vec<serde_json::Value>,
        }
        let review = report.review.iter().map(|(p, w)| serde_json::json!({ "path": p, "why": w })).collect();
        let mut value = serde_json::to_value(Out { report: &report, review })?;
        value["files_deleted"] = photo_objects(&report.files_deleted).into();
        value["files_quarantined"] = photo_objects(&report.files_quarantined).into();
        value["photos_kept_blocked"] = report.photos_kept_blocked.iter().map(|sha| serde_json::json!({ "sha256": sha })).collect();
        print_json(&value)?;
    } else {
        println!(
            "erasure {}: {} file(s) deleted, {} quarantined, {} kept and blocked, {} face(s), {} consent record(s) removed",
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
    }
    Ok(ExitCode::SUCCESS)
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
    let lib = super::open(&dir, Access::Read)?;
    match c {
        AuditCommand::Log { person, since } => {
            let subject = person.as_deref().map(|p| person_id(&lib.store, p)).transpose()?.map(|p| format!("person:{}", p.0));
            let entries = lib.store.audit_log(subject.as_deref(), since.as_deref())?;
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
            let v = lib.store.audit_verify()?;
            if cli.json {
                print_json(&v)?;
            } else if let Some((id, why)) = &v.first_bad {
                println!("audit trail broken at entry {id}: {why}");
            } else {
                println!("audit trail intact: {} entries", v.entries);
            }
            Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
