//! Consent requests by link, for editors (`/requests`): ask one person or everyone confirmed in
//! some photos (an event) for purposes over a period; the page that follows shows each person's
//! links and offers the messages as `.eml` files, or says they were sent when the server has
//! SMTP settings. The links' secrets exist only on that page and in the messages: the server
//! keeps them in memory for [`KEEP_FOR`] (for the downloads), the library only their hashes.
//! Admins set the organisation's name, contact and public address here too.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::held::Held;
use super::{AppState, Layout, Page, WebError};
use crate::app::requests::{Ask, Issued, Organisation, RequestState};
use crate::app::Permission;
use crate::consent::texts::LANGUAGES;
use crate::store::{Person, PersonId, PhotoId, Project, Purpose};

/// How long the links and messages of a new request stay downloadable, and how many such
/// pages are kept at once (all users together).
pub const KEEP_FOR: Duration = Duration::from_secs(60 * 60);
pub const MAX_KEPT: usize = 32;

/// What the server keeps of a request just made, for its page and the `.eml` downloads.
pub struct Made {
    pub issued: Vec<Issued>,
    /// Whether each message was sent, and if not why (`None`: no SMTP settings).
    pub sent: Vec<Option<Result<(), String>>>,
}

fn render(t: impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(t.render()?))
}

/// Fields that may come several times in a query or form.
fn values(data: &str, key: &str) -> Vec<String> {
    form_urlencoded::parse(data.as_bytes()).filter(|(k, _)| k == key).map(|(_, v)| v.into_owned()).collect()
}

fn value(data: &str, key: &str) -> Option<String> {
    values(data, key).into_iter().next().filter(|v| !v.trim().is_empty())
}

fn ids<T>(data: &str, key: &str, what: &str, make: fn(i64) -> T) -> Result<Vec<T>, WebError> {
    values(data, key).iter().filter(|v| !v.trim().is_empty()).map(|v| v.trim().parse().map(make).map_err(|_| WebError::BadRequest(format!("not a {what} id: {v:?}")))).collect()
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    layout: Option<Layout>,
    csrf: String,
    admin: bool,
    organisation: Organisation,
    requests: Vec<RequestState>,
    labels: Vec<String>,
}

/// GET `/requests`: the latest requests and what became of them; the organisation's settings.
pub async fn list(State(state): State<AppState>, page: Page) -> Result<Html<String>, WebError> {
    let (organisation, requests, labels) = state
        .app(&page.actor, Permission::View, "consent request list", |app| {
            let requests = app.consent_requests(None, 200)?;
            let labels = requests.iter().map(|r| app.label_of(r.row.person)).collect();
            Ok((app.organisation()?, requests, labels))
        })
        .await?;
    render(RequestsPage { layout: page.layout("requests"), csrf: page.csrf.clone(), admin: page.actor.may(Permission::Administer), organisation, requests, labels })
}

/// POST `/organisation` (admin): the name, contact and public address.
pub async fn set_organisation(State(state): State<AppState>, page: Page, body: String) -> Result<Redirect, WebError> {
    let (name, contact, url) = (values(&body, "name").pop(), values(&body, "contact").pop(), values(&body, "public_url").pop());
    state.app(&page.actor, Permission::Administer, "organisation set", move |app| app.set_organisation(name.as_deref(), contact.as_deref(), url.as_deref())).await?;
    Ok(Redirect::to("/requests"))
}

#[derive(Template)]
#[template(path = "request_new.html")]
struct NewPage {
    layout: Option<Layout>,
    csrf: String,
    /// Each person with the number of photos (of those chosen) they are confirmed in.
    persons: Vec<(Person, usize)>,
    photos: Vec<i64>,
    unidentified: usize,
    purposes: Vec<Purpose>,
    projects: Vec<Project>,
    languages: Vec<(&'static str, String)>,
    organisation: Organisation,
    message: Option<String>,
}

/// GET `/requests/new?person=ID` or `?photo=ID&photo=…`: the form.
pub async fn new(State(state): State<AppState>, page: Page, uri: axum::http::Uri) -> Result<Html<String>, WebError> {
    let query = uri.query().unwrap_or_default().to_string();
    new_form(&state, &page, &query, None).await
}

async fn new_form(state: &AppState, page: &Page, query: &str, message: Option<String>) -> Result<Html<String>, WebError> {
    let persons = ids(query, "person", "person", PersonId)?;
    let photos = ids(query, "photo", "photo", PhotoId)?;
    let (chosen, unidentified, purposes, projects, organisation) = state
        .app(&page.actor, Permission::View, "consent request", move |app| {
            let (mut chosen, unidentified) = app.persons_to_ask(&photos)?;
            for p in persons {
                if !chosen.iter().any(|(c, _)| c.id == p) {
                    chosen.push((app.store().person(p)?, Vec::new()));
                }
            }
            Ok((chosen, unidentified, app.purposes()?, app.projects()?, app.organisation()?))
        })
        .await?;
    let languages = LANGUAGES.iter().map(|(code, _)| (*code, crate::consent::texts::texts(code).map(|t| t.language_name.clone()).unwrap_or_default())).collect();
    render(NewPage {
        layout: page.layout("requests"),
        csrf: page.csrf.clone(),
        persons: chosen.into_iter().map(|(p, photos)| (p, photos.len())).collect(),
        photos: ids(query, "photo", "photo", PhotoId)?.into_iter().map(|p| p.0).collect(),
        unidentified,
        purposes,
        projects,
        languages,
        organisation,
        message,
    })
}

#[derive(Template)]
#[template(path = "request_made.html")]
struct MadePage {
    layout: Option<Layout>,
    id: String,
    made: Arc<Made>,
    warnings: Vec<String>,
}

/// POST `/requests`: makes the requests, sends them when the server has SMTP settings, and
/// shows each person's links. Bad input shows the form again, with why, and records nothing.
pub async fn create(State(state): State<AppState>, page: Page, headers: HeaderMap, body: String) -> Result<Response, WebError> {
    let number = |key: &str, default: u32| -> Result<u32, WebError> {
        value(&body, key).map_or(Ok(default), |v| v.trim().parse().map_err(|_| WebError::BadRequest(format!("{key}: not a whole number: {v:?}"))))
    };
    let ask = Ask {
        persons: ids(&body, "person", "person", PersonId)?,
        photos: ids(&body, "photo", "photo", PhotoId)?,
        purposes: values(&body, "purpose"),
        months: number("months", 12)?,
        project: value(&body, "project"),
        language: value(&body, "language").unwrap_or_else(|| "en".into()),
        link_days: number("link_days", 30)?,
        organisation: None,
        contact: None,
        link_base: None,
        sender: state.0.mail.as_ref().map_or_else(|| "privacy@localhost".to_string(), |m| m.from.clone()),
    };
    // Links point at the public address when it is set, else at the address this page was
    // reached at (said on the page).
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let scheme = if state.0.secure { "https" } else { "http" };
    let fallback = format!("{scheme}://{host}");
    let mail = state.0.mail.clone();
    let outcome = state
        .app(&page.actor, Permission::RecordConsent, "consent request", move |app| {
            let mut ask = ask;
            if app.store().setting(crate::app::requests::PUBLIC_URL)?.is_none() {
                app.warnings.push(format!("the links point at {fallback}, the address this page was opened at; an admin can set the public address on the requests page"));
                ask.link_base = Some(fallback);
            }
            let issued = app.ask_consent(&ask)?;
            let sent = issued.iter().map(|i| mail.as_ref().map(|m| app.send_request(m, i)).transpose()).collect::<crate::Result<Vec<_>>>()?;
            Ok((Made { issued, sent }, std::mem::take(&mut app.warnings)))
        })
        .await;
    let (made, warnings) = match outcome {
        Ok(v) => v,
        Err(WebError::BadRequest(why)) => {
            let query = body.clone();
            let html = new_form(&state, &page, &query, Some(why)).await?;
            return Ok((axum::http::StatusCode::BAD_REQUEST, html).into_response());
        }
        Err(e) => return Err(e),
    };
    let id = Held::<Made>::new_id();
    let made = state.0.made.add(page.user, id.clone(), made);
    Ok(render(MadePage { layout: page.layout("requests"), id, made, warnings })?.into_response())
}

/// GET `/requests/made/{id}/{request}.eml`: one message of a request just made.
pub async fn message(State(state): State<AppState>, page: Page, Path((id, file)): Path<(String, String)>) -> Result<Response, WebError> {
    let gone = || WebError::NotFound("this message is no longer kept (an hour after the request, or after signing out); make a new request".into());
    let made = state.0.made.get(&id, page.user).ok_or_else(gone)?;
    let request: i64 = file.strip_suffix(".eml").and_then(|n| n.parse().ok()).ok_or_else(|| WebError::NotFound("there is no such message".into()))?;
    let issued = made.issued.iter().find(|i| i.request == request).ok_or_else(gone)?;
    let disposition = format!("attachment; filename=\"consent-request-{request}.eml\"");
    Ok(([(header::CONTENT_TYPE, "message/rfc822".to_string()), (header::CONTENT_DISPOSITION, disposition)], issued.message.clone()).into_response())
}
