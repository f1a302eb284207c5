//! The pages: each handler extracts the signed-in user and its input, calls one use case, and
//! renders one template. Images are served by numeric id only.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{AppState, Layout, Page, WebError};
use crate::app::overview::{self, PersonCard};
use crate::app::{files, users, Permission};
use crate::store::{FaceId, PersonFilter, PersonQuery, PhotoId, User};

fn render(t: impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(t.render()?))
}

pub async fn home(_page: Page) -> Redirect {
    Redirect::to("/persons")
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "private, max-age=3600")], include_str!("style.css"))
}

/// Persons on one page of the grid.
const PERSONS_PER_PAGE: usize = 48;

#[derive(Template)]
#[template(path = "persons.html")]
struct PersonsPage {
    layout: Option<Layout>,
    persons: Vec<PersonCard>,
    /// How many persons pass the filter and search, over all pages.
    total: usize,
    show: PersonFilter,
    q: String,
    page: usize,
    pages: usize,
}

impl PersonsPage {
    /// "Person 12" for a person nobody has named yet.
    fn label(&self, p: &PersonCard) -> String {
        p.name.clone().unwrap_or_else(|| format!("Person {}", p.id.0))
    }

    /// The link to another page of the same filter and search.
    fn page_link(&self, page: usize) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if self.show != PersonFilter::All {
            query.append_pair("show", self.show.as_str());
        }
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        query.append_pair("page", &page.to_string());
        format!("/persons?{}", query.finish())
    }
}

#[derive(Deserialize, Default)]
pub struct PersonsQuery {
    #[serde(default)]
    show: PersonFilter,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
}

pub async fn persons(State(state): State<AppState>, page: Page, Query(q): Query<PersonsQuery>) -> Result<Html<String>, WebError> {
    let actor = page.actor.clone();
    let (show, text, at) = (q.show, q.q.clone(), q.page);
    let (persons, total) = state
        .read(move |s| overview::persons(s, &actor, &PersonQuery { filter: show, text: Some(&text), offset: at * PERSONS_PER_PAGE, limit: PERSONS_PER_PAGE }))
        .await?;
    let pages = total.div_ceil(PERSONS_PER_PAGE).max(1);
    render(PersonsPage { layout: page.layout("persons"), persons, total, show: q.show, q: q.q, page: q.page, pages })
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Option<Layout>,
    users: Vec<User>,
}

pub async fn users(State(state): State<AppState>, page: Page) -> Result<Html<String>, WebError> {
    let actor = page.actor.clone();
    let users = state.read(move |s| users::list_users(s, &actor)).await?;
    render(UsersPage { layout: page.layout("users"), users })
}

#[derive(Deserialize)]
pub struct UserName {
    name: String,
}

pub async fn disable_user(State(state): State<AppState>, page: Page, Form(form): Form<UserName>) -> Result<Redirect, WebError> {
    let actor = page.actor.clone();
    state.write(&page.actor, Permission::Administer, "user disable", move |lib| users::disable_user(&mut lib.store, &actor, &form.name)).await?;
    Ok(Redirect::to("/users"))
}

fn jpeg(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=3600")], bytes).into_response()
}

pub async fn face_thumb(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Response, WebError> {
    let dir = state.library().to_path_buf();
    let found = state.read(move |s| files::face_thumb(&dir, s, &page.actor, FaceId(id))).await?;
    found.map(jpeg).ok_or_else(|| WebError::NotFound(format!("there is no face {id}")))
}

pub async fn photo_preview(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Response, WebError> {
    let dir = state.library().to_path_buf();
    let found = state.read(move |s| files::photo_preview(&dir, s, &page.actor, PhotoId(id))).await?;
    found.map(jpeg).ok_or_else(|| WebError::NotFound(format!("there is no photo {id}")))
}

pub async fn photo_original(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Response, WebError> {
    let found = state.read(move |s| files::original(s, &page.actor, PhotoId(id))).await?;
    let (bytes, ext) = found.ok_or_else(|| WebError::NotFound(format!("there is no photo {id}")))?;
    let kind = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "bmp" => "image/bmp",
        _ => "application/octet-stream",
    };
    let disposition = format!("attachment; filename=\"photo-{id}.{ext}\"");
    Ok(([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}
