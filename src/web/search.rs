//! Search by photo (`/search`): a signed-in user uploads a photo, picks one of its faces and
//! sees every photo of that person; an editor may assign the face to a person. The upload is
//! held in memory only (a [`Held`](super::held::Held), for [`KEEP_FOR`], and gone at sign-out), never written to
//! disk, unless its face is assigned: then the library keeps it, as `search --assign` does.
//! The form is multipart, so its CSRF token travels in the URL (`?csrf=`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use serde::Deserialize;

use super::{AppState, Layout, Page, WebError, MAX_BODY};
use crate::app::{Permission, PhotoSearch, QuerySource};
use crate::query::{self, Method, QueryFace, SearchReport};
use crate::store::PersonId;
use crate::vision::Face;

/// How long an upload stays in memory after it came.
pub const KEEP_FOR: Duration = Duration::from_secs(15 * 60);
/// Uploads held at once (all users together); the oldest goes first.
pub const MAX_UPLOADS: usize = 16;

/// A query photo uploaded to the search page.
pub struct Upload {
    /// Its id in the holder, for links to it.
    id: String,
    /// The file name it came with.
    name: String,
    bytes: Arc<Vec<u8>>,
    faces: Vec<Face>,
    cards: Vec<FaceCard>,
    /// A small JPEG of the photo as a `data:` URL, and the photo's size (the boxes' frame).
    preview: String,
    size: (u32, u32),
}

/// A face of the query photo as the page shows it.
struct FaceCard {
    face: QueryFace,
    /// Its crop, as a `data:` URL.
    crop: String,
}


/// A multipart form with one file: the file's name and bytes, and the other fields.
pub struct UploadForm {
    pub name: String,
    pub bytes: Vec<u8>,
    pub fields: HashMap<String, String>,
}

/// A multipart form, read whole: the part of the file field, when there is one (its name as
/// sent, only the last part of a path, maybe empty; and its bytes), and every other field in
/// order (a name may repeat, as ticked checkboxes do).
pub struct MultipartForm {
    pub file: Option<(String, Vec<u8>)>,
    pub fields: Vec<(String, String)>,
}

impl MultipartForm {
    /// Reads the form, the file from field `file`. The body is read whole first (as the page's
    /// CSRF check does), so that going over the limit is always the 413 it is.
    pub async fn read(req: Request, file: &str) -> Result<MultipartForm, WebError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| WebError::TooLarge)?;
        let mut form = Multipart::from_request(Request::from_parts(parts, Body::from(body)), &()).await.map_err(|e| WebError::BadRequest(e.body_text()))?;
        let failed = |e: axum::extract::multipart::MultipartError| WebError::BadRequest(format!("reading the uploaded form: {}", e.body_text()));
        let (mut found, mut fields) = (None, Vec::new());
        while let Some(field) = form.next_field().await.map_err(failed)? {
            let key = field.name().unwrap_or_default().to_string();
            if key == file {
                // Only the last part of the name: some browsers send the whole path.
                let given = field.file_name().unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default().trim().to_string();
                found = Some((given, field.bytes().await.map_err(failed)?.to_vec()));
            } else {
                fields.push((key, field.text().await.map_err(failed)?));
            }
        }
        Ok(MultipartForm { file: found, fields })
    }
}

impl UploadForm {
    /// Reads the form, the file from field `file`; a form without it is a 400 that says so.
    pub async fn read(req: Request, file: &str) -> Result<UploadForm, WebError> {
        let form = MultipartForm::read(req, file).await?;
        let Some((name, bytes)) = form.file else {
            return Err(WebError::BadRequest(format!("the form has no photo: send the file as the multipart field \"{file}\"")));
        };
        let name = if name.is_empty() { "upload".to_string() } else { name };
        if bytes.is_empty() {
            return Err(WebError::BadRequest(format!("{name}: the uploaded file is empty")));
        }
        Ok(UploadForm { name, bytes, fields: form.fields.into_iter().collect() })
    }

    /// Field `key` parsed, or `None` when it is absent or blank.
    pub fn field<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, WebError> {
        match self.fields.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| WebError::BadRequest(format!("{key}: {v:?} is not {what}"))),
        }
    }
}

/// `exact` or `index`, as the CLI's `--method` takes it.
pub fn method(given: Option<&str>) -> Result<Method, WebError> {
    match given.map(str::trim) {
        None | Some("") | Some("exact") => Ok(Method::Exact),
        Some("index") => Ok(Method::Index),
        Some(other) => Err(WebError::BadRequest(format!("method: {other:?} is neither \"exact\" nor \"index\""))),
    }
}

/// Runs a search by photo on an upload as [`crate::app::App::search_photo`] does for the CLI,
/// with the server's models (a change when it assigns the face). Also returns the label of
/// the person assigned to.
pub async fn run(state: &AppState, actor: &crate::app::Actor, name: String, bytes: Arc<Vec<u8>>, ask: Ask) -> Result<(SearchReport, Option<String>), WebError> {
    let needs = if ask.assign.is_some() { Permission::EditPersons } else { Permission::View };
    let manifest = state.manifest()?;
    let st = state.clone();
    state
        .app(actor, needs, "search assign", move |app| {
            let source = QuerySource::Upload { name: &name, bytes: &bytes };
            let faces = match ask.faces {
                Some(faces) => faces,
                None => st.with_face_models(|models| app.query_photo(models, &bytes, &source.name()))?.faces,
            };
            let asked = PhotoSearch { source, face: ask.face, threshold: ask.threshold, method: ask.method, assign: ask.assign, device: st.0.device };
            let report = app.search_photo(&manifest, &faces, &asked)?;
            let label = asked.assign.as_deref().map(|p| app.person_id(p).map(|id| app.label_of(id))).transpose()?;
            Ok((report, label))
        })
        .await
}

/// What a search by photo is asked, beside the photo.
pub struct Ask {
    /// The photo's faces when they were found already (an upload held in memory).
    pub faces: Option<Vec<Face>>,
    pub face: Option<usize>,
    pub threshold: Option<f32>,
    pub method: Method,
    pub assign: Option<String>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Option<Layout>,
    csrf: String,
    editor: bool,
    upload: Option<Arc<Upload>>,
    chosen: Option<usize>,
    report: Option<SearchReport>,
    message: Option<String>,
    /// For a dpo: the persons the matched faces belong to (label, matches), to start an erasure.
    owners: Vec<(PersonId, String, usize)>,
}

impl SearchPage {
    fn is_chosen(&self, number: impl std::borrow::Borrow<usize>) -> bool {
        self.chosen == Some(*number.borrow())
    }
}

fn render(page: &Page, upload: Option<Arc<Upload>>, chosen: Option<usize>, report: Option<SearchReport>, message: Option<String>) -> Result<Html<String>, WebError> {
    render_with(page, upload, chosen, report, message, Vec::new())
}

fn render_with(page: &Page, upload: Option<Arc<Upload>>, chosen: Option<usize>, report: Option<SearchReport>, message: Option<String>, owners: Vec<(PersonId, String, usize)>) -> Result<Html<String>, WebError> {
    let editor = page.actor.may(Permission::EditPersons);
    let page = SearchPage { layout: page.layout("search"), csrf: page.csrf.clone(), editor, upload, chosen, report, message, owners };
    Ok(Html(page.render()?))
}

/// The persons the matched faces are linked to (confirmed or suggested), in the order of their
/// best match, with how many of the matches are theirs: where an erasure from a selfie starts.
/// Only for those who may erase.
async fn owners(state: &AppState, page: &Page, report: &SearchReport) -> Result<Vec<(PersonId, String, usize)>, WebError> {
    if !page.actor.may(Permission::Erase) {
        return Ok(Vec::new());
    }
    let faces: Vec<_> = report.matches.iter().map(|m| m.face_id).collect();
    state
        .read(move |store| {
            let mut owners: Vec<(PersonId, String, usize)> = Vec::new();
            for p in store.face_states_of(&faces)?.into_iter().filter_map(|f| f.person) {
                match owners.iter_mut().find(|o| o.0 == p) {
                    Some(o) => o.2 += 1,
                    None => owners.push((p, store.label_of(p), 1)),
                }
            }
            Ok(owners)
        })
        .await
}

fn data_url(jpeg: &[u8]) -> String {
    format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(jpeg))
}

pub async fn form(page: Page) -> Result<Html<String>, WebError> {
    render(&page, None, None, None, None)
}

/// The upload: its faces are found and shown (nothing is written), on the upload's own page.
pub async fn upload(State(state): State<AppState>, page: Page, form: Request) -> Result<Response, WebError> {
    let UploadForm { name, bytes, .. } = UploadForm::read(form, "photo").await?;
    let st = state.clone();
    let source = std::path::PathBuf::from(&name);
    let (faces, cards, preview, size, bytes) = state
        .app(&page.actor, Permission::View, "search", move |app| {
            let photo = st.with_face_models(|models| app.query_photo(models, &bytes, &source))?;
            let mut cards = Vec::new();
            for face in query::describe(&photo.faces) {
                let crop = crate::thumbs::face_crop(&photo.image, &face.rect)?.map(|j| data_url(&j)).unwrap_or_default();
                cards.push(FaceCard { face, crop });
            }
            let size = photo.image.dimensions();
            let (preview, _) = crate::thumbs::preview(photo.image)?;
            Ok((photo.faces, cards, data_url(&preview), size, Arc::new(bytes)))
        })
        .await?;
    if faces.is_empty() {
        let message = format!("No face found in {name}. Try a photo where the face is larger or better lit.");
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page, None, None, None, Some(message))?).into_response());
    }
    let id = super::held::Held::<Upload>::new_id();
    state.0.uploads.add(page.user, id.clone(), Upload { id: id.clone(), name, bytes, faces, cards, preview, size });
    Ok(Redirect::to(&format!("/search/{id}")).into_response())
}

fn held(state: &AppState, page: &Page, id: &str) -> Result<Arc<Upload>, WebError> {
    state.0.uploads.get(id, page.user).ok_or_else(|| WebError::NotFound("this search has ended (uploads are held for 15 minutes, until you sign out); upload the photo again".into()))
}

#[derive(Deserialize)]
pub struct Pick {
    face: Option<usize>,
}

/// An upload's faces, and with `?face=N` every photo of that face's person.
pub async fn show(State(state): State<AppState>, page: Page, Path(id): Path<String>, Query(pick): Query<Pick>) -> Result<Html<String>, WebError> {
    let upload = held(&state, &page, &id)?;
    let Some(face) = pick.face else { return render(&page, Some(upload), None, None, None) };
    let ask = Ask { faces: Some(upload.faces.clone()), face: Some(face), threshold: None, method: Method::Exact, assign: None };
    let (report, _) = run(&state, &page.actor, upload.name.clone(), upload.bytes.clone(), ask).await?;
    let owners = owners(&state, &page, &report).await?;
    render_with(&page, Some(upload), Some(face), Some(report), None, owners)
}

#[derive(Deserialize)]
pub struct AssignForm {
    face: usize,
    person: String,
}

/// Assigns a face of the upload to a person (editors and up): the library keeps the photo.
pub async fn assign(State(state): State<AppState>, page: Page, Path(id): Path<String>, Form(f): Form<AssignForm>) -> Result<Html<String>, WebError> {
    let upload = held(&state, &page, &id)?;
    let ask = Ask { faces: Some(upload.faces.clone()), face: Some(f.face), threshold: None, method: Method::Exact, assign: Some(f.person.clone()) };
    let (report, label) = run(&state, &page.actor, upload.name.clone(), upload.bytes.clone(), ask).await?;
    let assigned = report.assigned.map(|face| face.0).unwrap_or_default();
    let message = format!("Face {} is now confirmed as {} (library face {assigned}); the library keeps the photo.", f.face, label.unwrap_or_default());
    render(&page, Some(upload), Some(f.face), Some(report), Some(message))
}
