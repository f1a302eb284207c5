//! The command-line front end: turns parsed arguments into calls on the library and renders the
//! results as text or JSON. Only this module draws (progress bars, tables).

pub mod args;
mod consent;
mod person;
mod web;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::app::{Actor, App, PhotoSearch, QuerySource};
use crate::library::{Access, Library};
use crate::pipeline::{Failure, IndexOptions, Progress};
use crate::query;
use crate::vision::{self, FaceModels, Manifest};
pub use args::{Cli, Command};

#[cfg(test)]
mod tests {
    #[test]
    fn rates_have_one_decimal() {
        assert_eq!(super::rate(3.8954), "3.9/s");
    }
}

/// Exit status when some files could not be indexed (the rest were).
pub const EXIT_PARTIAL: u8 = 2;

/// Parses the command line. A usage error is printed (and, under `--json`, also as the JSON error
/// object on stdout) with a hint where one helps; the `Err` is the exit code.
pub fn parse() -> Result<Cli, ExitCode> {
    use clap::Parser;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let e = match Cli::try_parse_from(&args) {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        e.exit();
    }
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let hint = swallowed_by_purpose(&words).filter(|_| e.kind() == clap::error::ErrorKind::MissingRequiredArgument);
    if words.iter().any(|w| w == "--json") {
        let mut message = e.render().to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        if let Some(h) = &hint {
            message.push_str("; ");
            message.push_str(h);
        }
        let _ = print_json(&serde_json::json!({ "error": { "code": "usage", "message": message } }));
    }
    let _ = e.print();
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
    Err(ExitCode::from(2))
}

/// A number among the values of `--purpose` (which takes several), when the person id is
/// missing: `consent grant --purpose social 4` read `4` as a second purpose.
fn swallowed_by_purpose(words: &[String]) -> Option<String> {
    let at = words.iter().position(|w| w == "--purpose")?;
    let number = words[at + 1..].iter().take_while(|w| !w.starts_with('-')).find(|w| w.parse::<i64>().is_ok())?;
    Some(format!(
        "--purpose takes several names, so {number:?} was read as a purpose; put the person before --purpose \
         (`facegate consent grant {number} --purpose ...`) or end the purposes with `--`"
    ))
}

/// The `code` of the JSON error object: the library error's kind.
fn error_code(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<crate::Error>() {
            return match c {
                crate::Error::Lookup { code, .. } => code,
                crate::Error::Io { .. } => "io",
                crate::Error::BadPhoto { .. } => "bad_photo",
                crate::Error::RuntimeMissing { .. } => "runtime_missing",
                crate::Error::Onnx(_) => "onnx",
                crate::Error::Model { .. } => "model",
                crate::Error::Db(_) => "database",
                crate::Error::DataCorruption { .. } => "data_corruption",
                crate::Error::Invalid(_) => "invalid",
                crate::Error::Denied(_) => "denied",
                crate::Error::Busy(_) => "busy",
            };
        }
    }
    "error"
}

/// Prints a fatal error: one line on stderr, and under `--json` the error object on stdout.
pub fn print_error(json: bool, e: &anyhow::Error) {
    eprintln!("facegate: error: {e:#}");
    if json {
        let _ = print_json(&serde_json::json!({ "error": { "code": error_code(e), "message": format!("{e:#}") } }));
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let library_dir = cli.library.clone().unwrap_or_else(Library::default_dir);
    // Forgetting --library makes a second library in the default place: say so when it happens.
    let chosen = cli.library.is_some() || std::env::var_os("FACEGATE_LIBRARY").is_some();
    let existed = library_dir.join(crate::library::DB_FILE).exists();
    let outcome = dispatch(&cli, library_dir.clone());
    if !chosen && !existed && library_dir.join(crate::library::DB_FILE).exists() {
        eprintln!(
            "facegate: note: created a new library in {} (no --library given; pass --library DIR or set FACEGATE_LIBRARY to use another)",
            library_dir.display()
        );
    }
    outcome
}

fn dispatch(cli: &Cli, library_dir: PathBuf) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Index(a) => index(cli, library_dir, a),
        Command::Search(a) => search(cli, library_dir, a),
        Command::Status => status(cli, library_dir),
        Command::Cluster(a) => person::cluster(cli, library_dir, a),
        Command::Person(c) => person::person(cli, library_dir, c),
        Command::Face(c) => person::face(cli, library_dir, c),
        Command::Purpose(c) => consent::purpose(cli, library_dir, c),
        Command::Project(c) => consent::project(cli, library_dir, c),
        Command::Consent(c) => consent::consent(cli, library_dir, c),
        Command::Check(a) => consent::check(cli, library_dir, a),
        Command::Export(a) => consent::export(cli, library_dir, a),
        Command::Usage { person, photo } => consent::usage(cli, library_dir, person.as_deref(), photo.as_deref()),
        Command::Audit(c) => consent::audit(cli, library_dir, c),
        Command::Report(c) => consent::report(cli, library_dir, c),
        Command::Erase(a) => consent::erase(cli, library_dir, a),
        Command::Organisation { name, contact, public_url } => consent::organisation(cli, library_dir, name.as_deref(), contact.as_deref(), public_url.as_deref()),
        Command::User(c) => web::user(cli, library_dir, c),
        Command::Token(c) => web::token(cli, library_dir, c),
        Command::Serve(a) => web::serve(cli, library_dir, a),
    }
}

/// Opens the library. A writer first finishes every erasure a crash left unfinished (see
/// `gdpr::erase`), so no command works on a library that still holds an erased person's data.
fn open(dir: &std::path::Path, access: Access) -> anyhow::Result<Library> {
    let mut library = Library::open(dir, access)?;
    if access == Access::Write {
        for r in crate::gdpr::erase::finish_pending(&mut library).context("finishing an interrupted erasure")? {
            eprintln!("facegate: finished interrupted erasure {} (certificate {})", r.erasure_id, r.certificate_text);
        }
    }
    Ok(library)
}

/// Runs `work` as the command line's user (the library owner, see [`Actor::owner`]) on the
/// library opened for `access`, then prints the warnings the work collected.
fn with_app<T>(cli: &Cli, dir: &std::path::Path, access: Access, work: impl FnOnce(&mut App) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut library = open(dir, access)?;
    let actor = Actor::owner(actor(cli));
    let mut app = App::new(&actor, &mut library, today(cli));
    let outcome = work(&mut app);
    for w in &app.warnings {
        eprintln!("facegate: warning: {w}");
    }
    outcome
}

/// Who is acting: `--actor`, else the OS user.
fn actor(cli: &Cli) -> String {
    cli.actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(os_user)
}

/// The name of the user running the process, from the password database.
fn os_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; the name is copied at once.
    unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        if pw.is_null() || (*pw).pw_name.is_null() {
            return format!("uid {uid}");
        }
        std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned()
    }
}

/// Today: `--now`, else the local date.
fn today(cli: &Cli) -> chrono::NaiveDate {
    cli.now.unwrap_or_else(|| chrono::Local::now().date_naive())
}

fn manifest(cli: &Cli) -> anyhow::Result<Manifest> {
    let dir = vision::runtime::find_models(cli.models.as_deref())?;
    Ok(Manifest::load(&dir)?)
}

fn index(cli: &Cli, library_dir: PathBuf, a: &args::IndexArgs) -> anyhow::Result<ExitCode> {
    let manifest = manifest(cli)?;
    let bar = Bar::new(std::io::stderr().is_terminal());
    let (summary, persons) = with_app(cli, &library_dir, Access::Write, |app| {
        let opts = IndexOptions {
            roots: a.paths.clone(),
            jobs: a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            device: cli.device,
            batch_size: a.batch_size,
            cluster: !a.no_cluster,
            limits: app.store().photo_limits()?,
        };
        let summary = app.index(&manifest, &opts, &bar, a.max_megapixels)?;
        Ok((summary, app.store().num_persons()?))
    })?;
    bar.finish();
    if cli.json {
        print_json(&summary)?;
    } else {
        let s = &summary;
        println!(
            "{} photos seen: {} new, {} changed, {} unchanged, {} removed, {} failed; {} other files skipped",
            s.photos_seen, s.new, s.changed, s.unchanged, s.removed, s.failed, s.skipped
        );
        println!(
            "{} faces found in {:.1} s ({:.1} photos/s); library: {} photos, {} faces, {} persons ({})",
            s.faces, s.seconds, s.photos_per_second, s.library_photos, s.library_faces, persons, library_dir.display()
        );
    }
    Ok(if summary.failed > 0 { ExitCode::from(EXIT_PARTIAL) } else { ExitCode::SUCCESS })
}

fn search(cli: &Cli, library_dir: PathBuf, a: &args::SearchArgs) -> anyhow::Result<ExitCode> {
    let manifest = manifest(cli)?;
    let access = if a.assign.is_some() { Access::Write } else { Access::Read };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut models = FaceModels::load(&manifest, cli.device, threads)?;
    let (report, assigned_to) = with_app(cli, &library_dir, access, |app| {
        let faces = query::query_faces(&mut models, &a.photo, &app.store().photo_limits()?)?;
        let asked = PhotoSearch {
            source: QuerySource::File(&a.photo),
            face: a.face,
            threshold: a.threshold,
            method: a.method,
            assign: a.assign.clone(),
            device: cli.device,
        };
        let report = app.search_photo(&manifest, &faces, &asked)?;
        let assigned_to = a.assign.as_deref().map(|p| app.person_id(p).map(|id| app.label_of(id))).transpose()?;
        Ok((report, assigned_to))
    })?;
    if cli.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if let (Some(face), Some(person)) = (report.assigned, assigned_to) {
        writeln!(out, "face {} of {} is now confirmed as {person}", face.0, a.photo.display())?;
    }
    writeln!(out, "{}: {} face(s), searching with face {}", a.photo.display(), report.faces.len(), report.face)?;
    if report.faces.len() > 1 {
        for f in &report.faces {
            writeln!(out, "  {f}")?;
        }
    }
    writeln!(out, "{} photo(s) at similarity >= {}:", report.matches.len(), report.threshold)?;
    for m in &report.matches {
        let r = m.rect;
        writeln!(out, "{:.3}  {}  face at ({:.0},{:.0})-({:.0},{:.0})", m.similarity, m.path, r.x0, r.y0, r.x1, r.y1)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Status {
    library: String,
    /// Photos indexed; files recorded as failures are counted apart.
    photos: usize,
    failed: usize,
    faces: usize,
    persons: usize,
    /// Erasures a crash interrupted: any write command (or `erase --resume`) finishes them.
    unfinished_erasures: Vec<crate::gdpr::erase::Unfinished>,
}

fn status(cli: &Cli, library_dir: PathBuf) -> anyhow::Result<ExitCode> {
    let library = open(&library_dir, Access::Read)?;
    library.store.check_integrity()?;
    let failed = library.store.num_failed_photos()?;
    let s = Status {
        library: library_dir.display().to_string(),
        photos: library.store.num_photos()? - failed,
        failed,
        faces: library.store.num_faces()?,
        persons: library.store.num_persons()?,
        unfinished_erasures: crate::gdpr::erase::unfinished(&library)?,
    };
    if cli.json {
        print_json(&s)?;
    } else {
        let failed = if s.failed > 0 { format!(" ({} more files failed)", s.failed) } else { String::new() };
        println!("{}: {} photos{failed}, {} faces, {} persons; database integrity ok", s.library, s.photos, s.faces, s.persons);
        for u in &s.unfinished_erasures {
            println!(
                "erasure {} is unfinished (left: {}); `facegate erase --resume` or any write command finishes it",
                u.erasure_id,
                u.remaining.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints `value` as JSON with --json, else the one-line `message`.
fn reply<T: Serialize>(cli: &Cli, value: &T, message: &str) -> anyhow::Result<ExitCode> {
    if cli.json {
        print_json(value)?;
    } else {
        println!("{message}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one JSON object, its floats rounded as [`crate::json`] rounds them everywhere.
fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let value = crate::json::to_value(value).context("writing JSON")?;
    debug_assert!(value.is_object(), "every command prints one JSON object");
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &value).context("writing JSON")?;
    writeln!(out)?;
    Ok(())
}

/// A progress rate as people read it: "3.9/s", not "3.8954/s".
fn rate(per_sec: f64) -> String {
    format!("{per_sec:.1}/s")
}

/// Photo paths as objects (`{"path": ...}`), the one shape photos have in JSON.
fn photo_objects(paths: &[String]) -> Vec<serde_json::Value> {
    paths.iter().map(|p| serde_json::json!({ "path": p })).collect()
}

/// Progress on a terminal: a bar, with failures printed above it. Elsewhere failures go to
/// stderr one per line.
struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    fn new(terminal: bool) -> Bar {
        let bar = terminal.then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} photos ({rate}, eta {eta})")
                    .expect("valid template")
                    .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{}", rate(s.per_sec()));
                    }),
            );
            b
        });
        Bar { bar }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn started(&self, work: u64) {
        if let Some(b) = &self.bar {
            b.set_length(work);
        }
    }

    fn photo_done(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    fn failure(&self, f: &Failure) {
        let line = format!("facegate: {}: {}", f.path, f.reason);
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}
