//! The HTTP API (`/api/v1`): JSON in the shapes of the CLI's `--json`, for the systems that
//! publish photos; each request acts as the user of its bearer token. The OpenAPI document is
//! generated from the handlers' `#[utoipa::path]` and the types' `ToSchema`.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{ApiUser, AppState, WebError};
use crate::app::{Permission, PhotoRef};

#[derive(OpenApi)]
#[openapi(
    info(title = "facegate", description = "Gate photo use on the consent of everyone in them. Every request needs `Authorization: Bearer TOKEN` (`facegate token create`)."),
    paths(check),
    components(schemas(CheckRequest, PhotoInput, ApiError, ApiErrorBody)),
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
