//! The HTTP API (`/api/v1`): JSON in the shapes of the CLI's `--json`, for the systems that
//! publish photos; each request acts as the user of its bearer token. The OpenAPI document is
//! generated from the handlers' `#[utoipa::path]` and the types' `ToSchema`.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::search::{self, Ask, UploadForm};
use super::{ApiUser, AppState, WebError};
use crate::app::{Permission, PhotoRef};

#[derive(OpenApi)]
#[openapi(
    info(title = "facegate", description = "Gate photo use on the consent of everyone in them. Every request needs `Authorization: Bearer TOKEN` (`facegate token create`)."),
    paths(check, search, person_photos, person_consents, consents),
    components(schemas(CheckRequest, PhotoInput, SearchUpload, ApiError, ApiErrorBody)),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The error every API call answers with when it fails.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ApiError {
    error: ApiErrorBody,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct ApiErrorBody {
    /// `sign_in_required`, `denied`, `invalid`, `not_found`, `too_large`, `busy`, `internal`.
    code: String,
    message: String,
}

pub async fn openapi(_user: ApiUser) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A photo: the path it was indexed under, or the SHA-256 of its content (for a copy).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoInput {
    /// The photo's path as the library holds it (`facegate person show` prints it). Files the
    /// library does not hold under that path are not read: give their `sha256` instead.
    path: Option<String>,
    /// The SHA-256 of the file's content, as 64 hexadecimal digits.
    sha256: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    photos: Vec<PhotoInput>,
    /// A purpose's name (not case-sensitive).
    purpose: String,
    /// Decide for a use in this project.
    project: Option<String>,
    /// Decide as of this day, YYYY-MM-DD (default: today).
    #[schema(value_type = Option<String>, format = Date)]
    on: Option<NaiveDate>,
    /// Do not count faces smaller than this many pixels (default 0: every face counts).
    #[serde(default)]
    min_face_px: f32,
}

/// May these photos be used for the purpose? The answer is what `facegate check --json` prints
/// for the same photos: `{"purpose", "project", "on", "photos": [...]}`, a decision per photo
/// with the reasons and each face's decision.
#[utoipa::path(
    post,
    path = "/api/v1/check",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The gate's decision per photo, as `facegate check --json` prints it", body = Object),
        (status = 400, description = "An unknown purpose or project, or a malformed photo", body = ApiError),
        (status = 401, description = "No valid bearer token", body = ApiError),
        (status = 413, description = "The request is larger than 20 MB", body = ApiError),
    )
)]
pub async fn check(State(state): State<AppState>, user: ApiUser, Json(req): Json<CheckRequest>) -> Result<Json<Value>, WebError> {
    let photos = req.photos.into_iter().map(photo_ref).collect::<Result<Vec<_>, _>>()?;
    let answer = state
        .app(&user.actor, Permission::View, "check", move |app| {
            let using = app.use_for(&req.purpose, req.project.as_deref(), req.on, req.min_face_px)?;
            app.check(&photos, using)
        })
        .await?;
    Ok(Json(crate::json::to_value(&answer)?))
}

fn photo_ref(p: PhotoInput) -> Result<PhotoRef, WebError> {
    match (p.path, p.sha256) {
        (Some(path), None) => Ok(PhotoRef::LibraryPath(path)),
        (None, Some(sha)) => Ok(PhotoRef::Sha256(sha)),
        _ => Err(WebError::BadRequest("each photo needs either \"path\" or \"sha256\"".into())),
    }
}

/// The multipart form of a search by photo.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SearchUpload {
    /// The query photo (JPEG, PNG, WebP, TIFF, GIF or BMP). It is read in memory and not kept,
    /// unless `assign` is given. Its file name is the reply's `query.path`.
    #[schema(value_type = String, format = Binary)]
    photo: Vec<u8>,
    /// Which face of the photo, counting from 1 by size (default: the largest).
    face: Option<u32>,
    /// Cosine similarity at or above which a face counts as the person (default: the
    /// embedder's calibrated threshold).
    threshold: Option<f32>,
    /// `exact` (every stored face; the default) or `index` (the HNSW index).
    method: Option<String>,
    /// Link the query face to this person (an id, a name or an email), confirmed; the library
    /// then keeps the photo. Needs an editor's token.
    assign: Option<String>,
}

/// Every photo of the person in a photo: the answer is what `facegate search --photo FILE
/// --json` prints for the same photo and options (`query.path` is the upload's file name):
/// the photo's faces, the one searched with, and each matching library photo with its best
/// face and similarity. The search is audited as the CLI's is.
#[utoipa::path(
    post,
    path = "/api/v1/search",
    request_body(content = inline(SearchUpload), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The search, as `facegate search --json` prints it", body = Object),
        (status = 400, description = "Not a photo, no face in it, no such face, or a bad field", body = ApiError),
        (status = 401, description = "No valid bearer token", body = ApiError),
        (status = 403, description = "`assign` with a token of a role below editor (audited)", body = ApiError),
        (status = 413, description = "The request is larger than 20 MB", body = ApiError),
    )
)]
pub async fn search(State(state): State<AppState>, user: ApiUser, form: Request) -> Result<Json<Value>, WebError> {
    let form = UploadForm::read(form, "photo").await?;
    let ask = Ask {
        faces: None,
        face: form.field("face", "a face number")?,
        threshold: form.field("threshold", "a number")?,
        method: search::method(form.fields.get("method").map(String::as_str))?,
        assign: form.field::<String>("assign", "a person")?,
    };
    let (report, _) = search::run(&state, &user.actor, form.name, Arc::new(form.bytes), ask).await?;
    Ok(Json(crate::json::to_value(&report)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhotosQuery {
    /// Count suggestions as the person's photos too (the `photos` list).
    #[serde(default)]
    include_suggestions: bool,
    /// Minimum cosine similarity for search matches (default: the calibrated threshold).
    threshold: Option<f32>,
    /// `exact` (the default) or `index`.
    method: Option<String>,
}

/// Every photo of a person, confirmed ones and suggestions, as `facegate person photos ID
/// --json` prints it (with `include_suggestions`, `--include-suggestions`).
#[utoipa::path(
    get,
    path = "/api/v1/persons/{id}/photos",
    params(("id" = String, Path, description = "A person id (or a name or an email, as the CLI takes)"), PhotosQuery),
    responses(
        (status = 200, description = "The person's photos, as `facegate person photos --json` prints them", body = Object),
        (status = 400, description = "No such person, or a bad parameter", body = ApiError),
        (status = 401, description = "No valid bearer token", body = ApiError),
    )
)]
pub async fn person_photos(State(state): State<AppState>, user: ApiUser, Path(id): Path<String>, Query(q): Query<PhotosQuery>) -> Result<Json<Value>, WebError> {
    let manifest = state.manifest()?;
    let method = search::method(q.method.as_deref())?;
    let found = state
        .app(&user.actor, Permission::View, "person photos", move |app| {
            let person = app.person_id(&id)?;
            Ok(app.person_photos(&manifest, person, q.threshold, method)?.report(q.include_suggestions))
        })
        .await?;
    Ok(Json(crate::json::to_value(&found)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentsQuery {
    /// Only this person's records (an id, a name or an email).
    person: Option<String>,
    /// Only records for this purpose.
    purpose: Option<String>,
}

/// Consent records, each with its state today, and revocations: what `facegate consent list
/// --json` prints (with `person` and `purpose` as `--person` and `--purpose`).
#[utoipa::path(
    get,
    path = "/api/v1/consents",
    params(ConsentsQuery),
    responses(
        (status = 200, description = "`{today, consents, revocations}`, as `facegate consent list --json` prints it", body = Object),
        (status = 400, description = "No such person or purpose", body = ApiError),
        (status = 401, description = "No valid bearer token", body = ApiError),
    )
)]
pub async fn consents(State(state): State<AppState>, user: ApiUser, Query(q): Query<ConsentsQuery>) -> Result<Json<Value>, WebError> {
    consent_list(&state, &user, q).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurposeQuery {
    /// Only records for this purpose.
    purpose: Option<String>,
}

/// A person's consent records and revocations, as `facegate consent list --person ID --json`
/// prints them.
#[utoipa::path(
    get,
    path = "/api/v1/persons/{id}/consents",
    params(("id" = String, Path, description = "A person id (or a name or an email, as the CLI takes)"), PurposeQuery),
    responses(
        (status = 200, description = "`{today, consents, revocations}`, as `facegate consent list --person ID --json` prints it", body = Object),
        (status = 400, description = "No such person or purpose", body = ApiError),
        (status = 401, description = "No valid bearer token", body = ApiError),
    )
)]
pub async fn person_consents(State(state): State<AppState>, user: ApiUser, Path(id): Path<String>, Query(q): Query<PurposeQuery>) -> Result<Json<Value>, WebError> {
    consent_list(&state, &user, ConsentsQuery { person: Some(id), purpose: q.purpose }).await
}

async fn consent_list(state: &AppState, user: &ApiUser, q: ConsentsQuery) -> Result<Json<Value>, WebError> {
    let list = state
        .app(&user.actor, Permission::View, "consent list", move |app| {
            let person = q.person.as_deref().map(|p| app.person_id(p)).transpose()?;
            app.consents(person, q.purpose.as_deref())
        })
        .await?;
    Ok(Json(crate::json::to_value(&list)?))
}
