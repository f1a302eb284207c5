//! The command-line front end: turns parsed arguments into calls on the library and renders the
//! results as text or JSON. Only this module draws (progress bars, tables).

pub mod args;
mod consent;
mod person;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::library::{Access, Library};
use crate::pipeline::{self, Failure, IndexOptions, Progress};
use crate::query::{self, QueryFace};
use crate::store::{FaceId, PersonId};
use crate::vision::{self, FaceModels, Manifest};
pub use args::{Cli, Command};

/// Exit status when some files could not be indexed (the rest were).
pub const EXIT_PARTIAL: u8 = 2;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let library_dir = cli.library.clone().unwrap_or_else(Library::default_dir);
    match &cli.command {
        Command::Index(a) => index(&cli, library_dir, a),
        Command::Search(a) => search(&cli, library_dir, a),
        Command::Status => status(&cli, library_dir),
        Command::Cluster(a) => person::cluster(&cli, library_dir, a),
        Command::Person(c) => person::person(&cli, library_dir, c),
        Command::Face(c) => person::face(&cli, library_dir, c),
        Command::Purpose(c) => consent::purpose(&cli, library_dir, c),
        Command::Project(c) => consent::project(&cli, library_dir, c),
        Command::Consent(c) => consent::consent(&cli, library_dir, c),
        Command::Check(a) => consent::check(&cli, library_dir, a),
        Command::Export(a) => consent::export(&cli, library_dir, a),
        Command::Usage { person, photo } => consent::usage(&cli, library_dir, *person, photo.as_deref()),
        Command::Audit(c) => consent::audit(&cli, library_dir, c),
        Command::Report(c) => consent::report(&cli, library_dir, c),
        Command::Erase(a) => consent::erase(&cli, library_dir, a),
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

/// Records that personal data was read. Readers do not hold the writer lock; when another
/// process holds it (an index run), the entry waits on SQLite's busy timeout.
fn audit_read(cli: &Cli, dir: &std::path::Path, command: &str, subjects: &[String], outcome: &str) {
    let written = crate::store::Store::open(&dir.join(crate::library::DB_FILE))
        .and_then(|mut s| s.audit(&actor(cli), command, subjects, outcome, None));
    if let Err(e) = written {
        eprintln!("facegate: warning: could not write the audit entry: {e}");
    }
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
    let mut library = open(&library_dir, Access::Write)?;
    if let Some(mp) = a.max_megapixels {
        library.store.set_max_megapixels(mp)?;
    }
    let opts = IndexOptions {
        roots: a.paths.clone(),
        jobs: a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        device: cli.device,
        batch_size: a.batch_size,
        cluster: !a.no_cluster,
        limits: library.store.photo_limits()?,
    };
    let bar = Bar::new(std::io::stderr().is_terminal());
    let summary = pipeline::index(&mut library, &manifest, &opts, &bar)?;
    let mut outcome = format!("{} new, {} changed, {} removed, {} failed", summary.new, summary.changed, summary.removed, summary.failed);
    if let Some(mp) = a.max_megapixels {
        outcome.push_str(&format!("; photo limit set to {mp} megapixels"));
    }
    library.store.audit(&actor(cli), "index", &[], &outcome, None)?;
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
            "{} faces found in {:.1} s ({:.1} photos/s); library: {} photos, {} faces ({})",
            s.faces, s.seconds, s.photos_per_second, s.library_photos, s.library_faces, library_dir.display()
        );
    }
    Ok(if summary.failed > 0 { ExitCode::from(EXIT_PARTIAL) } else { ExitCode::SUCCESS })
}

#[derive(Serialize)]
struct SearchReport<'a> {
    query: String,
    faces: Vec<QueryFace>,
    face: usize,
    threshold: f32,
    method: query::Method,
    matches: &'a [query::Match],
    /// The library face linked to the person with --assign.
    assigned: Option<FaceId>,
}

/// Links the query face to `person`: finds the same face in the library (indexing the query
/// photo first when it is not there) and confirms it as the person's.
fn assign(
    cli: &Cli,
    library: &mut Library,
    manifest: &Manifest,
    photo: &std::path::Path,
    face: &vision::Face,
    person: PersonId,
) -> anyhow::Result<FaceId> {
    library.store.person(person)?;
    let key = crate::paths::key(&photo.canonicalize().with_context(|| photo.display().to_string())?);
    let opts = IndexOptions {
        roots: vec![photo.to_path_buf()],
        jobs: 1,
        device: cli.device,
        batch_size: 1,
        cluster: true,
        limits: library.store.photo_limits()?,
    };
    let summary = pipeline::index(library, manifest, &opts, &pipeline::Quiet)?;
    if let Some(f) = summary.failures.first() {
        bail!("{}: cannot add the query photo to the library: {}", f.path, f.reason);
    }
    let stored = library.store.photo_faces(&key)?;
    let best = stored
        .iter()
        .map(|row| (row.rect.iou(&face.detection.rect), row.face_id))
        .filter(|(iou, _)| *iou > 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
        .with_context(|| format!("{key}: the query face is not among the library's faces of this photo"))?;
    library.store.move_faces(&[best], person)?;
    Ok(best)
}

fn search(cli: &Cli, library_dir: PathBuf, a: &args::SearchArgs) -> anyhow::Result<ExitCode> {
    let manifest = manifest(cli)?;
    let access = if a.assign.is_some() { Access::Write } else { Access::Read };
    let mut library = open(&library_dir, access)?;
    let mut models = FaceModels::load(&manifest, cli.device, std::thread::available_parallelism().map_or(1, |n| n.get()))?;
    let faces = query::query_faces(&mut models, &a.photo, &library.store.photo_limits()?)?;
    let listed = query::describe(&faces);
    if faces.is_empty() {
        bail!("{}: no face found in the query photo", a.photo.display());
    }
    let number = a.face.unwrap_or(1);
    if number == 0 || number > faces.len() {
        let list: Vec<String> = listed.iter().map(face_line).collect();
        bail!("{}: no face {number}; the photo has {} face(s):\n{}", a.photo.display(), faces.len(), list.join("\n"));
    }
    let threshold = a.threshold.unwrap_or(manifest.embedder.match_threshold);
    let assigned = match a.assign {
        Some(person) => Some(assign(cli, &mut library, &manifest, &a.photo, &faces[number - 1], PersonId(person))?),
        None => None,
    };
    let matches = query::photos_of(&library, &manifest, &faces[number - 1].embedding, threshold, a.method)?;
    let subjects: Vec<String> = matches.iter().map(|m| format!("photo:{}", m.photo_id.0)).collect();
    audit_read(cli, &library_dir, "search", &subjects, &format!("{} photos", matches.len()));
    if cli.json {
        let query = a.photo.display().to_string();
        let report = SearchReport { query, faces: listed, face: number, threshold, method: a.method, matches: &matches, assigned };
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if let (Some(face), Some(person)) = (assigned, a.assign) {
        writeln!(out, "face {} of {} is now confirmed as person {person}", face.0, a.photo.display())?;
    }
    writeln!(out, "{}: {} face(s), searching with face {number}", a.photo.display(), faces.len())?;
    if faces.len() > 1 {
        for f in &listed {
            writeln!(out, "{}", face_line(f))?;
        }
    }
    writeln!(out, "{} photo(s) at similarity >= {threshold}:", matches.len())?;
    for m in &matches {
        let r = m.rect;
        writeln!(out, "{:.3}  {}  face at ({:.0},{:.0})-({:.0},{:.0})", m.similarity, m.path, r.x0, r.y0, r.x1, r.y1)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn face_line(f: &QueryFace) -> String {
    let r = f.rect;
    format!("  face {}: ({:.0},{:.0})-({:.0},{:.0}), {:.0}×{:.0} px, score {:.2}", f.number, r.x0, r.y0, r.x1, r.y1, r.width(), r.height(), f.score)
}

#[derive(Serialize)]
struct Status {
    library: String,
    photos: usize,
    faces: usize,
    /// Erasures a crash interrupted: any write command (or `erase --resume`) finishes them.
    unfinished_erasures: Vec<crate::gdpr::erase::Unfinished>,
}

fn status(cli: &Cli, library_dir: PathBuf) -> anyhow::Result<ExitCode> {
    let library = open(&library_dir, Access::Read)?;
    library.store.check_integrity()?;
    let s = Status {
        library: library_dir.display().to_string(),
        photos: library.store.num_photos()?,
        faces: library.store.num_faces()?,
        unfinished_erasures: crate::gdpr::erase::unfinished(&library)?,
    };
    if cli.json {
        print_json(&s)?;
    } else {
        println!("{}: {} photos, {} faces; database integrity ok", s.library, s.photos, s.faces);
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

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).context("writing JSON")?;
    writeln!(out)?;
    Ok(())
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
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} photos ({per_sec}, eta {eta})")
                    .expect("valid template"),
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
