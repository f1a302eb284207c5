//! The consent pages: purposes and projects (`/purposes`), a person's consents with their state
//! today and their history, the grant form (multipart, with the signed form as evidence) and the
//! revoke form (`/persons/{id}/consents`), a record's evidence by id (`/consents/{id}/evidence`),
//! and the dashboard (`/consents`): what expires soon and the photos it will block, grants that
//! outlast their project, persons in photos without consent.
//!
//! Each handler reads its form, calls the use cases of `app/consent.rs` through
//! [`AppState::app`] (the role is checked before anything else, so a refused user learns nothing
//! about their input), and renders one template. A form refused for its input comes back as the
//! page with the message, status 400, and nothing recorded. The grant form is multipart (its
//! CSRF token in `?csrf=`); its evidence is staged in a temporary folder inside the library,
//! handed to [`crate::app::App::grant`] as the CLI's `--evidence` file is (stored under its
//! sha256), and the temporary folder is removed whatever happens.

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use chrono::NaiveDate;
use serde::Deserialize;

use super::search::MultipartForm;
use super::{AppState, Layout, Page, WebError};
use crate::app::{ConsentList, Dashboard, Grant, Permission, SOURCES};
use crate::error::{Error, Result};
use crate::store::{Person, PersonId, Project, Purpose};

/// Rows shown per list of the dashboard (each says how many there are in all).
const DASHBOARD_ROWS: usize = 50;
/// The dashboard's window when none is asked for.
const DEFAULT_WITHIN: i64 = 30;

fn page_with(status: StatusCode, t: impl Template) -> Result<Response, WebError> {
    Ok((status, Html(t.render()?)).into_response())
}

/// A form's outcome: done, refused for its input (the message, for the page), or an error
/// answered as such (denied, busy, …).
fn refused_input<T>(outcome: Result<T, WebError>) -> Result<Result<T, String>, WebError> {
    match outcome {
        Ok(done) => Ok(Ok(done)),
        Err(WebError::BadRequest(message)) => Ok(Err(message)),
        Err(e) => Err(e),
    }
}

/// A date field: `None` when blank; a clear error when not `YYYY-MM-DD`.
fn date_field(label: &str, value: &str) -> Result<Option<NaiveDate>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| Error::Invalid(format!("{label}: {value:?} is not a date (YYYY-MM-DD)")))
}

/// Blank becomes `None`.
fn text_field(value: &str) -> Option<String> {
    Some(value.trim()).filter(|v| !v.is_empty()).map(str::to_string)
}

// ---- Purposes and projects ----

#[derive(Template)]
#[template(path = "purposes.html")]
struct PurposesPage {
    layout: Option<Layout>,
    csrf: String,
    admin: bool,
    purposes: Vec<Purpose>,
    projects: Vec<Project>,
    message: Option<String>,
    error: Option<String>,
}

async fn purposes_page(state: &AppState, page: &Page, outcome: Result<String, String>) -> Result<Response, WebError> {
    let (purposes, projects) = state.app(&page.actor, Permission::View, "purpose list", |app| Ok((app.purposes()?, app.projects()?))).await?;
    let status = if outcome.is_err() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let (message, error) = match outcome {
        Ok(m) => (Some(m).filter(|m| !m.is_empty()), None),
        Err(e) => (None, Some(e)),
    };
    let admin = page.actor.may(Permission::Administer);
    page_with(status, PurposesPage { layout: page.layout("consents"), csrf: page.csrf.clone(), admin, purposes, projects, message, error })
}

pub async fn purposes(State(state): State<AppState>, page: Page) -> Result<Response, WebError> {
    purposes_page(&state, &page, Ok(String::new())).await
}

#[derive(Deserialize)]
pub struct PurposeForm {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn add_purpose(State(state): State<AppState>, page: Page, Form(f): Form<PurposeForm>) -> Result<Response, WebError> {
    let name = f.name.trim().to_string();
    let added = name.clone();
    let outcome = state.app(&page.actor, Permission::Administer, "purpose add", move |app| app.add_purpose(&name, text_field(&f.description).as_deref())).await;
    let outcome = refused_input(outcome)?.map(|_| format!("Purpose {added} added."));
    purposes_page(&state, &page, outcome).await
}

#[derive(Deserialize)]
pub struct ProjectForm {
    name: String,
    #[serde(default)]
    until: String,
}

pub async fn add_project(State(state): State<AppState>, page: Page, Form(f): Form<ProjectForm>) -> Result<Response, WebError> {
    let name = f.name.trim().to_string();
    let added = name.clone();
    let outcome = state.app(&page.actor, Permission::Administer, "project add", move |app| app.add_project(&name, date_field("end date", &f.until)?)).await;
    let outcome = refused_input(outcome)?.map(|_| format!("Project {added} added."));
    purposes_page(&state, &page, outcome).await
}

// ---- A person's consents ----

/// One line of a person's consent history: a grant (one record per purpose) or a revocation.
struct HistoryRow {
    at: String,
    by: String,
    what: String,
    source: Option<String>,
    note: Option<String>,
    /// The consent record whose evidence the link serves, and the name it came with.
    evidence: Option<(i64, String)>,
}

/// Grants and revocations in the order they were recorded, newest first.
fn history(list: &ConsentList) -> Vec<HistoryRow> {
    let mut rows: Vec<HistoryRow> = list
        .consents
        .iter()
        .map(|l| {
            let r = &l.record;
            let until = r.valid_until.map_or("with no end".to_string(), |u| format!("until {u}"));
            let project = r.project.as_deref().map(|p| format!(", project {p}")).unwrap_or_default();
            HistoryRow {
                at: r.recorded_at.clone(),
                by: r.recorded_by.clone(),
                what: format!("granted {} from {} {until}{project}", r.purpose, r.valid_from),
                source: r.source.clone(),
                note: r.note.clone(),
                evidence: r.evidence_sha256.as_ref().map(|_| (r.id, crate::paths::path(r.evidence_name.as_deref().unwrap_or_default()).to_string_lossy().into_owned())),
            }
        })
        .chain(list.revocations.iter().map(|r| HistoryRow {
            at: r.recorded_at.clone(),
            by: r.recorded_by.clone(),
            what: format!("withdrew {} from {}", r.purpose.as_deref().unwrap_or("all purposes"), r.effective),
            source: None,
            note: r.note.clone(),
            evidence: None,
        }))
        .collect();
    rows.sort_by(|a, b| b.at.cmp(&a.at));
    rows
}

#[derive(Template)]
#[template(path = "consent_person.html")]
struct PersonConsentsPage {
    layout: Option<Layout>,
    csrf: String,
    /// May record and withdraw consent (and download evidence).
    editor: bool,
    title: String,
    person: Person,
    list: ConsentList,
    history: Vec<HistoryRow>,
    purposes: Vec<Purpose>,
    projects: Vec<Project>,
    sources: Vec<&'static str>,
    today: NaiveDate,
    message: Option<String>,
    warnings: Vec<String>,
    error: Option<String>,
}

/// What a form did, for the page: a message and warnings, or why it was refused.
type Outcome = Result<(String, Vec<String>), String>;

async fn person_page(state: &AppState, page: &Page, id: i64, outcome: Outcome) -> Result<Response, WebError> {
    let (person, list, purposes, projects) = state
        .app(&page.actor, Permission::View, "consent list", move |app| {
            let person = app.store().person(PersonId(id)).map_err(|_| Error::lookup("unknown_person", format!("there is no person {id}")))?;
            Ok((person, app.consents(Some(PersonId(id)), None)?, app.purposes()?, app.projects()?))
        })
        .await
        .map_err(|e| match e {
            WebError::BadRequest(m) => WebError::NotFound(m),
            e => e,
        })?;
    let status = if outcome.is_err() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let (message, warnings, error) = match outcome {
        Ok((m, w)) => (Some(m).filter(|m| !m.is_empty()), w, None),
        Err(e) => (None, Vec::new(), Some(e)),
    };
    page_with(
        status,
        PersonConsentsPage {
            layout: page.layout("persons"),
            csrf: page.csrf.clone(),
            editor: page.actor.may(Permission::RecordConsent),
            title: person.label(),
            history: history(&list),
            today: list.today,
            person,
            list,
            purposes,
            projects,
            sources: SOURCES.iter().copied().filter(|s| *s != "web").collect(),
            message,
            warnings,
            error,
        },
    )
}

pub async fn person(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Response, WebError> {
    person_page(&state, &page, id, Ok((String::new(), Vec::new()))).await
}

/// The name an uploaded evidence file is staged (and so stored) under: the browser's name
/// without control characters, at most 120 characters (its end, which holds the extension),
/// `evidence` when nothing usable is left.
fn upload_name(given: &str) -> String {
    let clean: String = given.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    let kept: String = clean.chars().rev().take(120).collect::<Vec<_>>().into_iter().rev().collect();
    match kept.trim() {
        "" | "." | ".." => "evidence".to_string(),
        name => name.to_string(),
    }
}

/// The grant form: `purpose` (repeated), `from`, `until`, `project`, `source`, `note`, and the
/// file `evidence`.
pub async fn grant(State(state): State<AppState>, page: Page, Path(id): Path<i64>, req: Request) -> Result<Response, WebError> {
    let form = MultipartForm::read(req, "evidence").await?;
    let outcome = state
        .app(&page.actor, Permission::RecordConsent, "consent grant", move |app| {
            let field = |key: &str| form.fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str());
            let mut g = Grant {
                person: Some(PersonId(id)),
                purposes: form.fields.iter().filter(|(k, _)| k == "purpose").map(|(_, v)| v.trim().to_string()).collect(),
                from: date_field("from", field("from"))?,
                until: date_field("until", field("until"))?,
                project: text_field(field("project")),
                evidence: None,
                source: text_field(field("source")),
                note: text_field(field("note")),
                ..Grant::default()
            };
            // A file field sent without a file (nothing chosen) is no evidence.
            let upload = form.file.as_ref().filter(|(name, bytes)| !(name.is_empty() && bytes.is_empty()));
            let staged = match upload {
                None => None,
                Some((name, bytes)) => {
                    let name = upload_name(name);
                    if bytes.is_empty() {
                        return Err(Error::Invalid(format!("evidence: {name} is empty")));
                    }
                    let dir = tempfile::Builder::new().prefix(".evidence-upload-").tempdir_in(&app.library.dir).map_err(|e| Error::io(&app.library.dir, e))?;
                    let file = dir.path().join(&name);
                    std::fs::write(&file, bytes).map_err(|e| Error::io(&file, e))?;
                    g.evidence = Some(file);
                    Some(dir)
                }
            };
            let granted = app.grant(&g);
            drop(staged);
            let granted = granted?;
            let n = granted.consents.len();
            Ok((format!("Consent recorded: {n} record(s), {}.", g.purposes.join(", ")), std::mem::take(&mut app.warnings)))
        })
        .await;
    let outcome = refused_input(outcome)?;
    person_page(&state, &page, id, outcome).await
}

/// The revoke form: `purpose` (repeated) or `all`, `effective`, `note`.
pub async fn revoke(State(state): State<AppState>, page: Page, Path(id): Path<i64>, body: String) -> Result<Response, WebError> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let outcome = state
        .app(&page.actor, Permission::RecordConsent, "consent revoke", move |app| {
            let field = |key: &str| fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str());
            let all = !field("all").is_empty();
            let purposes: Vec<String> = if all { Vec::new() } else { fields.iter().filter(|(k, _)| k == "purpose").map(|(_, v)| v.trim().to_string()).collect() };
            if !all && purposes.is_empty() {
                return Err(Error::Invalid("tick the purposes to withdraw, or all purposes".into()));
            }
            let effective = date_field("effective", field("effective"))?;
            let (_, words) = app.revoke(PersonId(id), &purposes, effective, text_field(field("note")).as_deref())?;
            Ok((format!("Consent withdrawn: {words}."), std::mem::take(&mut app.warnings)))
        })
        .await;
    let outcome = refused_input(outcome)?;
    person_page(&state, &page, id, outcome).await
}

/// A record's evidence, by the record's id only (never a path from the request), as a download
/// (never shown inline: an uploaded file could be HTML). Editors and up, as recording consent:
/// a signed form holds a signature and contact details beyond what a viewer needs.
pub async fn evidence(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Response, WebError> {
    let found = state.app(&page.actor, Permission::View, "consent evidence", move |app| app.consent_evidence(id)).await.map_err(|e| match e {
        WebError::BadRequest(m) => WebError::NotFound(m),
        e => e,
    })?;
    // The stored name is SHA256[.EXT], EXT short and alphanumeric.
    let ext = found.file_name.split_once('.').map(|(_, e)| format!(".{e}")).unwrap_or_default();
    let disposition = format!("attachment; filename=\"consent-{}-evidence{ext}\"", found.consent);
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)], found.bytes).into_response())
}

// ---- The dashboard ----

#[derive(Template)]
#[template(path = "consents.html")]
struct DashboardPage {
    layout: Option<Layout>,
    d: Dashboard,
    page: usize,
    pages: usize,
}

impl DashboardPage {
    fn page_link(&self, page: usize) -> String {
        format!("/consents?within={}&page={page}", self.d.within)
    }
}

#[derive(Deserialize)]
pub struct DashboardQuery {
    within: Option<String>,
    #[serde(default)]
    page: usize,
}

pub async fn dashboard(State(state): State<AppState>, page: Page, Query(q): Query<DashboardQuery>) -> Result<Response, WebError> {
    let within = match q.within.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => DEFAULT_WITHIN,
        Some(w) => w.parse().map_err(|_| WebError::BadRequest(format!("within: {w:?} is not a number of days")))?,
    };
    let at = q.page;
    let d = state.app(&page.actor, Permission::View, "consent dashboard", move |app| app.consent_dashboard(within, DASHBOARD_ROWS, at * DASHBOARD_ROWS)).await?;
    let pages = d.unconsented.total.div_ceil(DASHBOARD_ROWS).max(1);
    page_with(StatusCode::OK, DashboardPage { layout: page.layout("consents"), d, page: q.page, pages })
}

#[cfg(test)]
mod tests {
    use super::upload_name;

    #[test]
    fn upload_names_stay_one_plain_file_name() {
        assert_eq!(upload_name("quitclaim.pdf"), "quitclaim.pdf");
        assert_eq!(upload_name(".."), "evidence");
        assert_eq!(upload_name(" \u{0}\n "), "evidence");
        assert_eq!(upload_name("a\u{7}b.pdf"), "ab.pdf");
        let long = format!("{}.pdf", "x".repeat(300));
        assert!(upload_name(&long).ends_with("x.pdf") && upload_name(&long).chars().count() == 120);
    }
}
