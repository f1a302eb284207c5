//! One error type for every handler, and one place that turns errors into responses: an HTML page
//! for the pages (a redirect to `/login` when nobody is signed in), `{"error": {"code",
//! "message"}}` for `/api`. A handler's error response carries its [`ErrorInfo`] as an extension
//! and [`render`], which knows the request's path, writes the body; it also gives axum's own
//! rejections (a bad id in a path, an unknown route, a body over the limit) the same form.

use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

#[derive(Debug)]
pub enum WebError {
    /// Nobody is signed in (or the session ended, or the API token is missing or wrong).
    SignInRequired,
    /// The role does not allow it (already audited by `Actor::require`).
    Denied(String),
    /// A change without the form's token, or from another origin.
    Csrf(String),
    NotFound(String),
    BadRequest(String),
    TooLarge,
    /// Another process holds the writer lock.
    Busy(String),
    Internal(String),
}

/// What [`render`] needs to write an error's body.
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl From<crate::Error> for WebError {
    fn from(e: crate::Error) -> WebError {
        use crate::Error as E;
        match e {
            E::Denied(m) => WebError::Denied(m),
            E::Busy(m) => WebError::Busy(m),
            E::Invalid(m) => WebError::BadRequest(m),
            E::Lookup { message, .. } => WebError::BadRequest(message),
            e @ (E::Io { .. } | E::BadPhoto { .. }) => WebError::NotFound(format!("not available: {e}")),
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> WebError {
        WebError::Internal(format!("template: {e}"))
    }
}

impl From<serde_json::Error> for WebError {
    fn from(e: serde_json::Error) -> WebError {
        WebError::Internal(format!("JSON: {e}"))
    }
}

impl WebError {
    fn info(self) -> ErrorInfo {
        let (status, code, message) = match self {
            WebError::SignInRequired => (StatusCode::UNAUTHORIZED, "sign_in_required", "sign in first".to_string()),
            WebError::Denied(m) => (StatusCode::FORBIDDEN, "denied", format!("not allowed: {m}")),
            WebError::Csrf(m) => (StatusCode::FORBIDDEN, "csrf", m),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid", m),
            WebError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", too_large()),
            WebError::Busy(m) => (StatusCode::SERVICE_UNAVAILABLE, "busy", format!("library busy, try again in a moment ({m})")),
            WebError::Internal(m) => {
                eprintln!("facegate serve: error: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error (the server's log has the details)".to_string())
            }
        };
        ErrorInfo { status, code, message }
    }
}

fn too_large() -> String {
    format!("the request is larger than the limit of {} MB", super::MAX_BODY / (1024 * 1024))
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let info = self.info();
        let mut res = (info.status, info.message.clone()).into_response();
        res.extensions_mut().insert(info);
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Option<super::Layout>,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// Middleware: writes the body of every error response, as a page or as JSON.
pub async fn render(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let info = match res.extensions().get::<ErrorInfo>() {
        Some(info) => info.clone(),
        // A page or JSON a handler wrote itself (the sign-in form after a wrong password) stays.
        None if (res.status().is_client_error() || res.status().is_server_error()) && !written_by_us(&res) => rejection(res).await,
        None => return res,
    };
    if api {
        let body = serde_json::json!({ "error": { "code": info.code, "message": info.message } });
        let mut res = (info.status, axum::Json(body)).into_response();
        if info.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        return res;
    }
    if info.status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    let page = ErrorPage { layout: None, status: info.status.as_u16(), reason: info.status.canonical_reason().unwrap_or("Error"), message: &info.message };
    match page.render() {
        Ok(html) => (info.status, Html(html)).into_response(),
        Err(_) => (info.status, info.message).into_response(),
    }
}

fn written_by_us(res: &Response) -> bool {
    let kind = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    kind.starts_with("text/html") || kind.starts_with("application/json")
}

/// The error info of a response axum or a layer made (plain text), from its status and text.
async fn rejection(res: Response) -> ErrorInfo {
    let status = res.status();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    };
    let text = axum::body::to_bytes(res.into_body(), 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::NOT_FOUND if text.is_empty() => "there is no such page".to_string(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text,
    };
    ErrorInfo { status, code, message }
}
