//! The data subject's rights in the web app (dpo and up): the erasure wizard and the access
//! report download.
//!
//! The wizard starts from a person (their page, or a name on `/erase`) or from a selfie (the
//! search page's matches name the persons they belong to). Its review shows every candidate
//! photo: confirmed faces, suggestions to decide (this person, or not), and near misses below
//! the threshold to look at; what would happen to each file; and where copies went (every
//! recorded export and API use of the photos, to follow up under Art. 17(2) and 19). The erasure
//! runs as `facegate erase` does (the same plan, job and certificate), and ends on the
//! certificate's page, with its downloads. Photos go to the library's `quarantine/` folder when
//! quarantined.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, Layout, Page, WebError};
use crate::app::gdpr::ErasureReview;
use crate::app::overview::{self, PersonCard};
use crate::app::Permission;
use crate::gdpr::erase::{Files, Options};
use crate::gdpr::report::{Format, Notice};
use crate::store::{PersonFilter, PersonId, PersonQuery};

/// Persons listed when looking one up by name on `/erase`.
const FOUND_AT_MOST: usize = 24;
/// What the dpo types to confirm an erasure, as on the command line.
const CONFIRM_WORD: &str = "erase";

fn render(t: impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(t.render()?))
}

fn certificate_dir(state: &AppState) -> std::path::PathBuf {
    state.library().join("certificates")
}

fn options(state: &AppState, person: PersonId, files: Files, reason: String, include_suggestions: bool) -> Options {
    Options { person, reason, files, include_suggestions, actor: String::new(), certificate_dir: certificate_dir(state) }
}

#[derive(Template)]
#[template(path = "erase_start.html")]
struct StartPage {
    layout: Option<Layout>,
    q: String,
    found: Vec<PersonCard>,
}

#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    q: String,
}

/// GET `/erase`: find the person by name or email, or go to the search by photo.
pub async fn start(State(state): State<AppState>, page: Page, Query(q): Query<StartQuery>) -> Result<Html<String>, WebError> {
    let actor = page.actor.clone();
    let text = q.q.trim().to_string();
    let found = state
        .app(&page.actor, Permission::View, "erase", move |app| {
            app.require_role(Permission::Erase, "erase")?;
            if text.is_empty() {
                return Ok(Vec::new());
            }
            let query = PersonQuery { filter: PersonFilter::All, text: Some(&text), offset: 0, limit: FOUND_AT_MOST };
            Ok(overview::persons(&mut app.library.store, &actor, &query)?.0)
        })
        .await?;
    render(StartPage { layout: page.layout("erase"), q: q.q, found })
}

#[derive(Template)]
#[template(path = "erase.html")]
struct ReviewPage {
    layout: Option<Layout>,
    csrf: String,
    title: String,
    review: ErasureReview,
    message: Option<String>,
    confirm_word: &'static str,
}

async fn review_page(state: &AppState, page: &Page, person: PersonId, message: Option<String>) -> Result<Html<String>, WebError> {
    let manifest = state.manifest()?;
    let mut opts = options(state, person, Files::Delete, String::new(), false);
    let review = state.app(&page.actor, Permission::View, "erase review", move |app| app.erasure_review(&manifest, &mut opts)).await?;
    let p = &review.found.person;
    let title = format!("Erase {}", p.name.clone().unwrap_or_else(|| format!("person {}", p.id.0)));
    render(ReviewPage { layout: page.layout("erase"), csrf: page.csrf.clone(), title, review, message, confirm_word: CONFIRM_WORD })
}

/// GET `/erase/{person}`: the review.
pub async fn review(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Html<String>, WebError> {
    review_page(&state, &page, PersonId(id), None).await
}

/// POST `/erase/{person}/faces`: decides suggestions and near misses (this person, or not),
/// then shows the review again.
pub async fn decide(State(state): State<AppState>, page: Page, Path(id): Path<i64>, body: String) -> Result<Html<String>, WebError> {
    // Only a dpo reaches the review, so only a dpo decides from it (an editor decides on the
    // person's page).
    state.app(&page.actor, Permission::View, "erase review", |app| app.require_role(Permission::Erase, "erase review")).await?;
    let message = super::views::change_faces(&state, &page, PersonId(id), &body).await?;
    review_page(&state, &page, PersonId(id), Some(message)).await
}

/// POST `/erase/{person}`: erases, then shows the certificate. Needs a reason, what to do with
/// the files, and the confirmation word; a suggestion still undecided stops it unless the dpo
/// ticked to erase those as the person's too.
pub async fn execute(State(state): State<AppState>, page: Page, Path(id): Path<i64>, body: String) -> Result<Response, WebError> {
    let field = |key: &str| form_urlencoded::parse(body.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty());
    let person = PersonId(id);
    let Some(reason) = field("reason") else {
        return Err(WebError::BadRequest("give the reason for the erasure (an erasure request of date, a court order...)".into()));
    };
    let files = match field("files").as_deref() {
        Some("delete") => Files::Delete,
        Some("quarantine") => Files::Quarantine(state.library().join("quarantine")),
        Some("keep") => Files::Keep,
        other => return Err(WebError::BadRequest(format!("files: choose delete, quarantine or keep (not {other:?})"))),
    };
    if field("confirm").as_deref() != Some(CONFIRM_WORD) {
        return Err(WebError::BadRequest(format!("type the word {CONFIRM_WORD} in the confirmation box to erase; nothing was erased")));
    }
    let mut opts = options(&state, person, files, reason, field("include_suggestions").is_some());
    let manifest = state.manifest()?;
    let report = state
        .app(&page.actor, Permission::Erase, "erase", move |app| {
            let plan = app.erase_plan(&manifest, &mut opts)?;
            app.erase(&manifest, &plan, &opts)
        })
        .await?;
    Ok(Redirect::to(&format!("/erasures/{}", report.erasure_id)).into_response())
}

#[derive(Template)]
#[template(path = "erasure.html")]
struct CertificatePage {
    layout: Option<Layout>,
    id: i64,
    text: String,
}

async fn certificate(state: &AppState, page: &Page, id: i64) -> Result<(String, String), WebError> {
    let dir = certificate_dir(state);
    state.app(&page.actor, Permission::View, "erase certificate", move |app| app.erasure_certificate(id, &dir)).await
}

/// GET `/erasures/{id}`: the certificate, with its downloads. The browser is told to drop its
/// cache of this site: it may hold the erased person's face crops.
pub async fn done(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Response, WebError> {
    let (text, _) = certificate(&state, &page, id).await?;
    let html = render(CertificatePage { layout: page.layout("erase"), id, text })?;
    Ok(([(header::HeaderName::from_static("clear-site-data"), "\"cache\"")], html).into_response())
}

/// GET `/erasures/{id}/{file}`: `certificate.txt` or `certificate.json`.
pub async fn certificate_file(State(state): State<AppState>, page: Page, Path((id, file)): Path<(i64, String)>) -> Result<Response, WebError> {
    let (text, json) = certificate(&state, &page, id).await?;
    let (body, kind, ext) = match file.as_str() {
        "certificate.txt" => (text, "text/plain; charset=utf-8", "txt"),
        "certificate.json" => (json, "application/json", "json"),
        _ => return Err(WebError::NotFound(format!("no {file} here: certificate.txt or certificate.json"))),
    };
    Ok(download(body.into_bytes(), kind, &format!("erasure-{id}.{ext}")))
}

fn download(body: Vec<u8>, kind: &str, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition), (header::CACHE_CONTROL, "no-store".to_string())], body).into_response()
}

/// GET `/persons/{id}/report.{html,json,csv}`: the access report (Art. 15), as the CLI writes
/// it; the controller named in it is the organisation set on the requests page.
pub async fn access_report(State(state): State<AppState>, page: Page, Path((id, file)): Path<(i64, String)>) -> Result<Response, WebError> {
    let (format, kind) = match file.as_str() {
        "report.html" => (Format::Html, "text/html; charset=utf-8"),
        "report.json" => (Format::Json, "application/json"),
        "report.csv" => (Format::Csv, "text/csv; charset=utf-8"),
        _ => return Err(WebError::NotFound(format!("no {file} here: report.html, report.json or report.csv"))),
    };
    let (bytes, _) = state
        .app(&page.actor, Permission::View, "report access", move |app| {
            let org = app.organisation()?;
            let controller = org.name.map(|n| org.contact.map_or(n.clone(), |c| format!("{n}, {c}")));
            app.access_report_bytes(PersonId(id), format, &Notice { controller, storage_period: None })
        })
        .await?;
    Ok(download(bytes, kind, &format!("access-report-person-{id}.{}", file.trim_start_matches("report."))))
}
