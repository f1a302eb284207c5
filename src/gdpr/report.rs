//! `facegate report access PERSON`: everything the library holds about a person (GDPR Art. 15).
//!
//! The report is built from the store only: the person's row, the faces linked to them (confirmed
//! and suggested) grouped by photo, their consent records and revocations, the uses of photos
//! showing them, and the audit entries naming them, with the information Art. 15(1) asks for
//! (controller, purposes, recipients, storage period, source, rights). It says nothing about
//! anyone else (Art. 15(4)): every other detected face in a thumbnail is covered with a solid
//! block, other faces are neither marked nor named, and audit subjects that are other persons are
//! replaced by a placeholder.
//!
//! Three formats: one pretty JSON document, one CSV file with a `section` column, or one
//! self-contained HTML file (inline CSS, thumbnails as `data:` URIs, a Content-Security-Policy
//! that forbids every network fetch). The file is written owner-only (0600), through a temporary
//! file in the same folder renamed over `out`, so a reader never sees half a report.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::consent::rules::valid_grant;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::store::{AuditEntry, ConsentRow, FaceId, Link, LinkedBy, Person, PersonId, PhotoId, RevocationRow, Store, Usage};
use crate::vision::Rect;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Json,
    Csv,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct ReportSummary {
    pub person: PersonId,
    pub photos: usize,
    pub consents: usize,
    pub uses: usize,
    pub audit_entries: usize,
    pub out: String,
}

/// The long side of an HTML thumbnail, in pixels.
pub const THUMB_MAX: u32 = 320;
/// The colour of a confirmed face's box in the HTML thumbnails (magenta: rare in photos).
pub const CONFIRMED_RGB: [u8; 3] = [255, 0, 255];
/// The colour of a suggested face's box (orange).
pub const SUGGESTED_RGB: [u8; 3] = [255, 140, 0];
/// The solid colour covering other people's faces in the thumbnails (slate blue: not a grey a
/// black-and-white photo could hold).
pub const COVER_RGB: [u8; 3] = [70, 80, 130];

/// What the organisation must tell the person besides their data (Art. 15(1)); set per report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Notice {
    /// Who the controller is, and how to reach them (and their data protection officer).
    pub controller: Option<String>,
    /// How long the data is kept.
    pub storage_period: Option<String>,
}
/// Replaces an audit subject that names another person.
const OTHER_PERSON: &str = "another person";

/// Writes the access report for `person` to `out`.
/// Consent statuses are given as of `on`.
pub fn access_report(library: &Library, person: PersonId, format: Format, out: &Path, on: chrono::NaiveDate, notice: &Notice) -> Result<ReportSummary> {
    // Everything is read (and an unknown person refused) before anything is written.
    let (bytes, mut summary) = render(library, person, format, on, notice)?;
    write_private(out, &bytes)?;
    summary.out = out.display().to_string();
    Ok(summary)
}

/// The access report for `person` in `format`, as bytes (the web app's download), and what it
/// holds (`out` left empty).
pub fn render(library: &Library, person: PersonId, format: Format, on: chrono::NaiveDate, notice: &Notice) -> Result<(Vec<u8>, ReportSummary)> {
    let report = collect(&library.store, person, on, notice)?;
    let bytes = match format {
        Format::Json => {
            let mut b = crate::json::to_vec_pretty(&report).map_err(|e| Error::Invalid(format!("cannot serialise the report: {e}")))?;
            b.push(b'\n');
            b
        }
        Format::Csv => csv(&report)?,
        Format::Html => html(&report)?.into_bytes(),
    };
    let summary = ReportSummary {
        person,
        photos: report.photos.len(),
        consents: report.consents.len(),
        uses: report.uses.len(),
        audit_entries: report.audit.len(),
        out: String::new(),
    };
    Ok((bytes, summary))
}

// ---------------------------------------------------------------------------------------------
// What the report holds.

#[derive(Debug, Serialize)]
struct AccessReport {
    report: &'static str,
    generated_at: String,
    /// The day the consents' `status` refers to.
    status_date: NaiveDate,
    person: Person,
    /// The Art. 15(1) information.
    information: Information,
    /// What is stored for each face besides its box.
    stored_per_face: &'static str,
    photos: Vec<ReportPhoto>,
    consents: Vec<ReportConsent>,
    revocations: Vec<RevocationRow>,
    uses: Vec<Usage>,
    audit: Vec<AuditEntry>,
    /// The library's photo size limits, for decoding the thumbnails.
    #[serde(skip)]
    limits: crate::photo::Limits,
}

#[derive(Debug, Serialize)]
struct ReportPhoto {
    photo_id: PhotoId,
    path: String,
    /// `confirmed` when at least one of the person's faces in it is confirmed, else `suggested`.
    status: Link,
    taken_at: Option<String>,
    /// SHA-256 of the file's content when it was indexed.
    content_sha256: Option<String>,
    /// Whether the file is still where it was indexed.
    file_present: bool,
    faces: Vec<ReportFace>,
    /// Other detected faces in the photo: covered in the thumbnail, never reported.
    #[serde(skip)]
    others: Vec<Rect>,
}

/// Art. 15(1) (a)–(h): what the processing is, for whom, how long, from where, and the rights.
#[derive(Debug, Serialize)]
struct Information {
    controller: String,
    /// The purposes of the processing: recognising faces, and the uses consented to.
    purposes: Vec<String>,
    /// Who received photos showing the person (the destinations in the usage log).
    recipients: Vec<String>,
    storage_period: String,
    source: String,
    rights: Vec<&'static str>,
}

const NOT_SET: &str = "not set (report access --controller / FACEGATE_CONTROLLER)";
const RECOGNITION_PURPOSE: &str = "face recognition: finding the photos that show a person, to decide whether each photo may be used \
(consent of everyone in it) and to answer access and erasure requests";
const DEFAULT_STORAGE: &str = "as long as the photo is in the archive, or until the person asks for erasure; consent records as long \
as the photos they cover are kept";
const SOURCE: &str = "the photos of the organisation's photo archive (faces found and described automatically); consent records \
as given by the person (source of each record in the consent table)";
const RIGHTS: [&str; 5] = [
    "to ask for a copy of this data (Art. 15)",
    "to have inaccurate data corrected, such as a face wrongly linked to you (Art. 16)",
    "to have the data erased (Art. 17), and to withdraw consent at any time (Art. 7(3))",
    "to restrict or object to the processing (Art. 18, 21)",
    "to lodge a complaint with a supervisory authority (Art. 77)",
];

#[derive(Debug, Serialize)]
struct ReportFace {
    face_id: FaceId,
    link: Link,
    linked_by: Option<LinkedBy>,
    similarity: Option<f32>,
    /// In pixels of the upright photo (EXIF orientation applied).
    rect: Rect,
}

#[derive(Debug, Serialize)]
struct ReportConsent {
    #[serde(flatten)]
    record: ConsentRow,
    /// `valid`, or why the record does not hold on `status_date`.
    status: String,
}

const STORED_PER_FACE: &str = "the face's position in the photo (box), a face description computed from it \
(a 128-number embedding, biometric data used to recognise the face), how sure the match is (similarity), \
and whether the link to the person was confirmed by a human or rule or only suggested by clustering";

fn collect(store: &Store, id: PersonId, today: chrono::NaiveDate, notice: &Notice) -> Result<AccessReport> {
    let person = store.person(id)?;
    let faces = store.person_faces(id)?;
    // Capture dates, from the photo rows.
    let taken: BTreeMap<PhotoId, Option<String>> = store
        .faces(&faces.iter().map(|f| f.face_id).collect::<Vec<_>>())?
        .into_iter()
        .map(|f| (f.photo_id, f.taken_at))
        .collect();
    let mut photos: Vec<ReportPhoto> = Vec::new();
    for f in faces {
        let face = ReportFace { face_id: f.face_id, link: f.link, linked_by: f.linked_by, similarity: f.similarity, rect: f.rect };
        match photos.iter_mut().find(|p| p.photo_id == f.photo_id) {
            Some(p) => {
                if f.link == Link::Confirmed {
                    p.status = Link::Confirmed;
                }
                p.faces.push(face);
            }
            None => photos.push(ReportPhoto {
                photo_id: f.photo_id,
                file_present: crate::paths::path(&f.path).is_file(),
                taken_at: taken.get(&f.photo_id).cloned().flatten(),
                content_sha256: store.gate_photo_by_id(f.photo_id)?.map(|g| g.content_hash),
                path: f.path,
                status: f.link,
                faces: vec![face],
                others: Vec::new(),
            }),
        }
    }
    for p in &mut photos {
        let own: Vec<FaceId> = p.faces.iter().map(|f| f.face_id).collect();
        p.others = store.gate_faces(p.photo_id)?.into_iter().filter(|f| !own.contains(&f.id)).map(|f| f.rect).collect();
    }
    // Confirmed photos first, then the suggestions; by path within each.
    photos.sort_by(|a, b| (a.status != Link::Confirmed, &a.path).cmp(&(b.status != Link::Confirmed, &b.path)));

    let grants = store.grants_for(id)?;
    let revocations_rules = store.revocations_for(id)?;
    let consents: Vec<ReportConsent> = store
        .consent_rows(Some(id), None)?
        .into_iter()
        .filter(|c| c.person == id)
        .map(|record| {
            let single: Vec<_> = grants.iter().filter(|g| g.id == record.id).cloned().collect();
            let status = valid_grant(&single, &revocations_rules, &record.purpose, record.project.as_deref(), today)
                .err()
                .map_or_else(|| "valid".to_string(), |r| r.to_string());
            ReportConsent { record, status }
        })
        .collect();
    let revocations = store.revocation_rows(Some(id))?.into_iter().filter(|r| r.person == id).collect();
    let uses = store.usage(Some(id), None)?;
    let mut recipients: Vec<String> = uses.iter().map(|u| u.destination.clone()).collect();
    recipients.sort();
    recipients.dedup();
    let descriptions: BTreeMap<String, Option<String>> = store.purposes()?.into_iter().map(|p| (p.name, p.description)).collect();
    let mut consented: Vec<&String> = consents.iter().map(|c| &c.record.purpose).collect();
    consented.sort();
    consented.dedup();
    let purposes = std::iter::once(RECOGNITION_PURPOSE.to_string())
        .chain(consented.into_iter().map(|p| match descriptions.get(p).cloned().flatten() {
            Some(d) => format!("{p}: {d} (with your consent)"),
            None => format!("{p} (with your consent)"),
        }))
        .collect();
    let information = Information {
        controller: notice.controller.clone().unwrap_or_else(|| NOT_SET.to_string()),
        purposes,
        recipients,
        storage_period: notice.storage_period.clone().unwrap_or_else(|| DEFAULT_STORAGE.to_string()),
        source: SOURCE.to_string(),
        rights: RIGHTS.to_vec(),
    };
    let own = format!("person:{}", id.0);
    let audit = store
        .audit_log(Some(&own), None)?
        .into_iter()
        .map(|mut e| {
            for s in &mut e.subjects {
                if s.starts_with("person:") && *s != own {
                    *s = OTHER_PERSON.to_string();
                }
            }
            e
        })
        .collect();
    Ok(AccessReport {
        report: "GDPR Art. 15 access report",
        generated_at: crate::store::now_iso(),
        status_date: today,
        person,
        information,
        stored_per_face: STORED_PER_FACE,
        photos,
        consents,
        revocations,
        uses,
        audit,
        limits: store.photo_limits()?,
    })
}

// ---------------------------------------------------------------------------------------------
// CSV: one file, one `section` column, the union of every section's fields.

const CSV_COLUMNS: &[&str] = &[
    "section", "id", "name", "email", "external", "created_at", "photo_id", "path", "taken_at", "file_present", "status",
    "face_id", "link", "linked_by", "similarity", "x0", "y0", "x1", "y1", "purpose", "project", "valid_from", "valid_until",
    "effective", "source", "note", "evidence_name", "evidence_sha256", "used_on", "destination", "content_sha256", "at",
    "actor", "command", "subjects", "outcome", "detail", "recorded_at", "recorded_by",
];

/// The report as RFC 4180 CSV (CRLF line ends, fields quoted where needed), by the `csv` crate.
fn csv(r: &AccessReport) -> Result<Vec<u8>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |section: &str, fields: Vec<(&str, String)>| {
        let mut cells = vec![String::new(); CSV_COLUMNS.len()];
        cells[0] = section.to_string();
        for (k, v) in fields {
            let i = CSV_COLUMNS.iter().position(|c| *c == k).expect("known CSV column");
            cells[i] = v;
        }
        rows.push(cells);
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let p = &r.person;
    row(
        "person",
        vec![
            ("id", p.id.0.to_string()),
            ("name", opt(&p.name)),
            ("email", opt(&p.email)),
            ("external", p.external.to_string()),
            ("created_at", p.created_at.clone()),
        ],
    );
    for (key, value) in information_items(&r.information) {
        row("information", vec![("name", key.to_string()), ("note", value)]);
    }
    for ph in &r.photos {
        for f in &ph.faces {
            row(
                "photo",
                vec![
                    ("photo_id", ph.photo_id.0.to_string()),
                    ("path", ph.path.clone()),
                    ("taken_at", opt(&ph.taken_at)),
                    ("file_present", ph.file_present.to_string()),
                    ("content_sha256", ph.content_sha256.clone().unwrap_or_default()),
                    ("status", status_text(ph.status).to_string()),
                    ("face_id", f.face_id.0.to_string()),
                    ("link", f.link.as_str().to_string()),
                    ("linked_by", f.linked_by.map(|l| l.as_str().to_string()).unwrap_or_default()),
                    ("similarity", f.similarity.map(|s| format!("{s:.4}")).unwrap_or_default()),
                    ("x0", format!("{:.1}", f.rect.x0)),
                    ("y0", format!("{:.1}", f.rect.y0)),
                    ("x1", format!("{:.1}", f.rect.x1)),
                    ("y1", format!("{:.1}", f.rect.y1)),
                ],
            );
        }
    }
    for c in &r.consents {
        let c0 = &c.record;
        row(
            "consent",
            vec![
                ("id", c0.id.to_string()),
                ("purpose", c0.purpose.clone()),
                ("project", opt(&c0.project)),
                ("valid_from", c0.valid_from.to_string()),
                ("valid_until", c0.valid_until.map(|d| d.to_string()).unwrap_or_default()),
                ("status", c.status.clone()),
                ("source", opt(&c0.source)),
                ("note", opt(&c0.note)),
                ("evidence_name", opt(&c0.evidence_name)),
                ("evidence_sha256", opt(&c0.evidence_sha256)),
                ("recorded_at", c0.recorded_at.clone()),
                ("recorded_by", c0.recorded_by.clone()),
            ],
        );
    }
    for v in &r.revocations {
        row(
            "revocation",
            vec![
                ("id", v.id.to_string()),
                ("purpose", v.purpose.clone().unwrap_or_else(|| "(all purposes)".into())),
                ("effective", v.effective.to_string()),
                ("note", opt(&v.note)),
                ("recorded_at", v.recorded_at.clone()),
                ("recorded_by", v.recorded_by.clone()),
            ],
        );
    }
    for u in &r.uses {
        row(
            "use",
            vec![
                ("id", u.id.to_string()),
                ("photo_id", u.photo_id.map(|p| p.0.to_string()).unwrap_or_default()),
                ("path", opt(&u.path)),
                ("content_sha256", u.content_sha256.clone()),
                ("purpose", u.purpose.clone()),
                ("project", opt(&u.project)),
                ("used_on", u.used_on.to_string()),
                ("destination", u.destination.clone()),
                ("actor", u.actor.clone()),
                ("recorded_at", u.recorded_at.clone()),
            ],
        );
    }
    for e in &r.audit {
        row(
            "audit",
            vec![
                ("id", e.id.to_string()),
                ("at", e.at.clone()),
                ("actor", e.actor.clone()),
                ("command", e.command.clone()),
                ("subjects", e.subjects.join(" ")),
                ("outcome", e.outcome.clone()),
                ("detail", opt(&e.detail)),
            ],
        );
    }
    let failed = |e: csv::Error| Error::Invalid(format!("cannot write the CSV report: {e}"));
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(failed)?;
    for cells in rows {
        w.write_record(&cells).map_err(failed)?;
    }
    w.into_inner().map_err(|e| Error::Invalid(format!("cannot write the CSV report: {e}")))
}

/// The Art. 15(1) information as (heading, text) pairs, for the CSV and the HTML.
fn information_items(i: &Information) -> Vec<(&'static str, String)> {
    let none = |v: &[String], empty: &str| if v.is_empty() { empty.to_string() } else { v.join("; ") };
    vec![
        ("Controller", i.controller.clone()),
        ("Purposes of the processing", i.purposes.join("; ")),
        ("Recipients (where photos showing you were used)", none(&i.recipients, "none recorded")),
        ("Storage period", i.storage_period.clone()),
        ("Source of the data", i.source.clone()),
        ("Your rights", i.rights.join("; ")),
    ]
}

// ---------------------------------------------------------------------------------------------
// HTML: one self-contained page, rendered by askama from templates/report/ (which escapes every
// value).

fn status_text(link: Link) -> &'static str {
    match link {
        Link::Confirmed => "confirmed",
        Link::Suggested => "suggested, not confirmed",
    }
}

fn linked_by_text(by: LinkedBy) -> &'static str {
    match by {
        LinkedBy::Human => "by a person",
        LinkedBy::Rule => "by the automatic confirmation rule",
        LinkedBy::Cluster => "by automatic matching",
    }
}

/// `templates/report/access.html`: the report and what the page shows beside it.
#[derive(askama::Template)]
#[template(path = "report/access.html")]
struct AccessPage<'a> {
    r: &'a AccessReport,
    /// The person's name, else `person N`.
    who: String,
    details: Vec<(&'static str, String)>,
    information: Vec<(&'static str, String)>,
    stored_per_face: &'static str,
    colours: Colours,
    photos: Vec<PhotoRow<'a>>,
}

/// The legend's colours, as CSS.
struct Colours {
    confirmed: String,
    suggested: String,
    cover: String,
}

struct PhotoRow<'a> {
    photo: &'a ReportPhoto,
    /// `confirmed` or `suggested`: the row's and the badge's CSS class.
    class: &'static str,
    status: &'static str,
    thumbnail: std::result::Result<Thumbnail, String>,
    /// One line of text per face of the person in the photo.
    faces: Vec<String>,
}

fn css_colour(rgb: [u8; 3]) -> String {
    format!("#{}", hex::encode(rgb))
}

/// One face of the person, as the photo table lists it.
fn face_text(f: &ReportFace) -> String {
    format!(
        "face {}: {}{}, box ({:.0}, {:.0})–({:.0}, {:.0}){}",
        f.face_id.0,
        status_text(f.link),
        f.linked_by.map(|b| format!(" ({})", linked_by_text(b))).unwrap_or_default(),
        f.rect.x0,
        f.rect.y0,
        f.rect.x1,
        f.rect.y1,
        f.similarity.map(|s| format!(", similarity {s:.3}")).unwrap_or_default()
    )
}

fn html(r: &AccessReport) -> Result<String> {
    // Thumbnails are the slow part (decoding full photos): one per photo, in parallel.
    let thumbnails: Vec<std::result::Result<Thumbnail, String>> = r.photos.par_iter().map(|p| thumbnail(p, &r.limits)).collect();
    let p = &r.person;
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let page = AccessPage {
        r,
        who: p.name.clone().unwrap_or_else(|| format!("person {}", p.id.0)),
        details: vec![
            ("Person id", p.id.0.to_string()),
            ("Name", opt(&p.name)),
            ("Email", opt(&p.email)),
            ("Known before any photo (external)", if p.external { "yes" } else { "no" }.into()),
            ("Record created", p.created_at.clone()),
            ("Confirmed faces", p.confirmed_faces.to_string()),
            ("Suggested faces (not confirmed)", p.suggested_faces.to_string()),
            ("Photos", p.photos.to_string()),
        ],
        information: information_items(&r.information),
        stored_per_face: STORED_PER_FACE,
        colours: Colours { confirmed: css_colour(CONFIRMED_RGB), suggested: css_colour(SUGGESTED_RGB), cover: css_colour(COVER_RGB) },
        photos: r
            .photos
            .iter()
            .zip(thumbnails)
            .map(|(photo, thumbnail)| PhotoRow {
                photo,
                class: if photo.status == Link::Confirmed { "confirmed" } else { "suggested" },
                status: status_text(photo.status),
                thumbnail,
                faces: photo.faces.iter().map(face_text).collect(),
            })
            .collect(),
    };
    askama::Template::render(&page).map_err(|e| Error::Invalid(format!("cannot render the HTML report: {e}")))
}

struct Thumbnail {
    data_uri: String,
    width: u32,
    height: u32,
    /// Shown under the thumbnail, e.g. when the file changed since it was indexed.
    warning: Option<String>,
}

/// The photo, upright, at most [`THUMB_MAX`] px on its long side, with this person's faces
/// boxed, as a JPEG `data:` URI; or why it cannot be shown.
fn thumbnail(photo: &ReportPhoto, limits: &crate::photo::Limits) -> std::result::Result<Thumbnail, String> {
    let bytes = std::fs::read(crate::paths::path(&photo.path)).map_err(|e| format!("The photo file can no longer be read ({e}); no thumbnail."))?;
    let img = crate::photo::decode(&bytes, limits).map(|d| d.rgb).map_err(|e| format!("The photo file can no longer be decoded ({e}); no thumbnail."))?;
    // The boxes belong to the content that was indexed; say so when the file changed since.
    let warning = photo
        .content_sha256
        .as_deref()
        .filter(|indexed| *indexed != hex::encode(Sha256::digest(&bytes)))
        .map(|_| "The file has changed since it was indexed; the marked box may not match it.".to_string());
    let (w, h) = img.dimensions();
    let scale = (THUMB_MAX as f32 / w.max(h) as f32).min(1.0);
    let (tw, th) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let mut thumb = if (tw, th) == (w, h) { img } else { image::imageops::thumbnail(&img, tw, th) };
    let (sx, sy) = (tw as f32 / w as f32, th as f32 / h as f32);
    let thickness = ((tw.max(th) as f32 / 100.0).round() as u32).max(2);
    // Other people's faces first, with a margin, so that none of them shows (Art. 15(4)).
    for o in &photo.others {
        let (mx, my) = (0.15 * o.width(), 0.15 * o.height());
        let r = Rect { x0: (o.x0 - mx) * sx, y0: (o.y0 - my) * sy, x1: (o.x1 + mx) * sx, y1: (o.y1 + my) * sy };
        draw_box(&mut thumb, &r, image::Rgb(COVER_RGB), u32::MAX);
    }
    for f in &photo.faces {
        let colour = if f.link == Link::Confirmed { CONFIRMED_RGB } else { SUGGESTED_RGB };
        let r = Rect { x0: f.rect.x0 * sx, y0: f.rect.y0 * sy, x1: f.rect.x1 * sx, y1: f.rect.y1 * sy };
        draw_box(&mut thumb, &r, image::Rgb(colour), thickness);
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&thumb)
        .map_err(|e| format!("The thumbnail could not be encoded ({e})."))?;
    Ok(Thumbnail { data_uri: format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(&jpeg)), width: tw, height: th, warning })
}

/// Draws the outline of `r` (clamped to the image), `thickness` px wide, inside the box (a
/// thickness past half the box fills it).
fn draw_box(img: &mut image::RgbImage, r: &Rect, colour: image::Rgb<u8>, thickness: u32) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let clamp = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max - 1);
    let (x0, y0, x1, y1) = (clamp(r.x0, w), clamp(r.y0, h), clamp(r.x1, w), clamp(r.y1, h));
    if x1 < x0 || y1 < y0 {
        return;
    }
    for y in y0..=y1 {
        for x in x0..=x1 {
            let edge = x - x0 < thickness || x1 - x < thickness || y - y0 < thickness || y1 - y < thickness;
            if edge {
                img.put_pixel(x, y, colour);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Writes `bytes` to `out` readable by the owner only: into a new temporary file beside it
/// (mode 0600), synced, then renamed over `out`.
fn write_private(out: &Path, bytes: &[u8]) -> Result<()> {
    let name = out.file_name().ok_or_else(|| Error::Invalid(format!("{} is not a file name", out.display())))?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if out.is_dir() {
        return Err(Error::Invalid(format!("{} is a folder; --out takes a file name", out.display())));
    }
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(out, e));
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person whose name, email and audit detail are markup: the page shows them as text (askama
    /// escapes), and the CSV gives every field back whole.
    #[test]
    fn markup_in_the_data_is_text_in_the_html_and_whole_in_the_csv() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("library.db")).unwrap();
        let name = "<script>alert(1)</script>";
        let email = r#""o'neil" & co <x@example.org>"#;
        let detail = "a, \"quoted\"\r\nand two lines";
        let a = store.add_person(Some(name), Some(email), true).unwrap();
        store.audit("alice", "person name", &[format!("person:{}", a.0)], "ok", Some(detail)).unwrap();
        let r = collect(&store, a, chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), &Notice::default()).unwrap();

        let html = html(&r).unwrap();
        assert!(!html.contains("<script") && !html.contains("<x@") && !html.contains("\"o'neil\""), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(html.contains("&#34;o&#39;neil&#34; &#38; co &#60;x@example.org&#62;"), "{html}");

        let csv = csv(&r).unwrap();
        let mut reader = ::csv::Reader::from_reader(csv.as_slice());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(header, CSV_COLUMNS);
        let col = |c: &str| CSV_COLUMNS.iter().position(|h| *h == c).unwrap();
        let records: Vec<::csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        let person: Vec<_> = records.iter().filter(|r| &r[0] == "person").collect();
        assert_eq!((person.len(), &person[0][col("name")], &person[0][col("email")]), (1, name, email));
        let audit: Vec<_> = records.iter().filter(|r| &r[0] == "audit").collect();
        assert_eq!((audit.len(), &audit[0][col("detail")]), (1, detail));
        assert!(csv.ends_with(b"\r\n"));
    }

    #[test]
    fn audit_subjects_naming_other_persons_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("library.db")).unwrap();
        let a = store.add_person(Some("Ada"), None, true).unwrap();
        let b = store.add_person(Some("Ben"), None, true).unwrap();
        let subjects = [format!("person:{}", a.0), format!("person:{}", b.0), "photo:3".to_string()];
        store.audit("alice", "person merge", &subjects, "ok", None).unwrap();
        store.audit("alice", "person name", &[format!("person:{}", b.0)], "ok", None).unwrap();
        let r = collect(&store, a, chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), &Notice::default()).unwrap();
        assert_eq!(r.audit.len(), 1);
        assert_eq!(r.audit[0].subjects, vec![format!("person:{}", a.0), OTHER_PERSON.to_string(), "photo:3".to_string()]);
        assert!(r.photos.is_empty() && r.consents.is_empty());
        let html = html(&r).unwrap();
        assert!(html.contains("Ada") && !html.contains("Ben") && html.contains("No photo in the library"));
        assert!(collect(&store, PersonId(b.0 + 100), chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), &Notice::default()).is_err());
    }

    #[test]
    fn boxes_are_clamped_and_drawn_inside() {
        let mut img = image::RgbImage::new(20, 20);
        draw_box(&mut img, &Rect { x0: -5.0, y0: 4.0, x1: 10.0, y1: 12.0 }, image::Rgb([255, 0, 255]), 2);
        assert_eq!(img.get_pixel(0, 8).0, [255, 0, 255]);
        assert_eq!(img.get_pixel(5, 4).0, [255, 0, 255]);
        assert_eq!(img.get_pixel(5, 5).0, [255, 0, 255]);
        assert_eq!(img.get_pixel(5, 6).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(10, 12).0, [255, 0, 255]);
        assert_eq!(img.get_pixel(11, 12).0, [0, 0, 0]);
    }
}
