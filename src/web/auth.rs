//! Who is asking: the session cookie for pages ([`Page`]), the bearer token for the API
//! ([`ApiUser`]); the sign-in and sign-out pages; and the check every change to a page passes
//! ([`check_forms`]): same origin, and the session's CSRF token.

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;

use super::{AppState, WebError, MAX_BODY};
use crate::app::users::{self, random_secret};
use crate::app::Actor;
use crate::store::UserId;

pub const SESSION_COOKIE: &str = "facegate_session";
/// Holds the sign-in form's token until there is a session (double submit).
const LOGIN_COOKIE: &str = "facegate_login";

/// A signed-in user on a page: who they are and their session's form token.
#[derive(Clone, Debug)]
pub struct Page {
    pub user: UserId,
    pub actor: Actor,
    pub csrf: String,
}

/// What the base layout shows: the user, their role, the sign-out form's token, where they are.
#[derive(Clone, Debug)]
pub struct Layout {
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub section: &'static str,
}

impl Page {
    pub fn layout(&self, section: &'static str) -> Option<Layout> {
        Some(Layout { user: self.actor.name.clone(), role: self.actor.role.as_str(), csrf: self.csrf.clone(), section })
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Page, WebError> {
        // check_forms found it already for a change.
        if let Some(page) = parts.extensions.get::<Page>() {
            return Ok(page.clone());
        }
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::SignInRequired)?;
        let live = state.read(move |s| users::session(s, &token, Utc::now())).await?.ok_or(WebError::SignInRequired)?;
        Ok(Page { user: live.signed_in.user, actor: live.signed_in.actor, csrf: live.csrf_token })
    }
}

/// The user of an API request's bearer token.
#[derive(Clone, Debug)]
pub struct ApiUser {
    pub user: UserId,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ApiUser, WebError> {
        let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = auth.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()).ok_or(WebError::SignInRequired)?.to_string();
        let who = state.read(move |s| users::token_user(s, &token, Utc::now())).await?.ok_or(WebError::SignInRequired)?;
        Ok(ApiUser { user: who.user, actor: who.actor })
    }
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(name: &str, value: &str, path: &str, secure: bool, max_age: Option<i64>) -> (header::HeaderName, String) {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    let secure = if secure { "; Secure" } else { "" };
    (header::SET_COOKIE, format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}{secure}"))
}

/// Equal, in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware on the pages: a request that changes something (any method but GET, HEAD and
/// OPTIONS) must come from this site and carry the session's CSRF token (for `/login`, the
/// sign-in form's token). The signed-in user it finds is handed on to the handler's [`Page`].
pub async fn check_forms(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, WebError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.run(req).await);
    }
    same_origin(req.headers())?;
    let (mut parts, body) = req.into_parts();
    let expected = if parts.uri.path() == "/login" {
        cookie(&parts.headers, LOGIN_COOKIE).ok_or_else(|| WebError::Csrf("the sign-in form has expired; load it again".into()))?
    } else {
        let page = Page::from_request_parts(&mut parts, &state).await?;
        let token = page.csrf.clone();
        parts.extensions.insert(page);
        token
    };
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| WebError::TooLarge)?;
    let given = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| field(parts.uri.query().unwrap_or_default().as_bytes(), "csrf"))
        .or_else(|| is_form(&parts.headers).then(|| field(&bytes, "csrf")).flatten());
    if !given.is_some_and(|g| same_secret(&g, &expected)) {
        return Err(WebError::Csrf("the form's security token is missing or wrong; reload the page and try again".into()));
    }
    Ok(next.run(Request::from_parts(parts, Body::from(bytes))).await)
}

/// Middleware on the public pages: a change must not come from another site (they have no
/// session and so no CSRF token; the link's secret stands in for it).
pub async fn same_site_only(req: Request, next: Next) -> Result<Response, WebError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        same_origin(req.headers())?;
    }
    Ok(next.run(req).await)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

/// The value of `name` in URL-encoded `data`.
fn field(data: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(data).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Refuses a request a browser says comes from another site. A browser that sends
/// `Sec-Fetch-Site` is believed (only `same-origin` and `none` pass): under
/// `Referrer-Policy: no-referrer`, as on the public pages, its `Origin` is `null`. Without it,
/// `Origin`, when sent, must be this host.
fn same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let cross = || WebError::Csrf("a change from another site was refused".into());
    if let Some(site) = text("sec-fetch-site") {
        return if matches!(site, "same-origin" | "none") { Ok(()) } else { Err(cross()) };
    }
    match text("origin") {
        None => Ok(()),
        Some(origin) => {
            let host = origin.split_once("://").map(|(_, h)| h.trim_end_matches('/'));
            if host.is_some() && host == text("host") {
                Ok(())
            } else {
                Err(cross())
            }
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Option<Layout>,
    csrf: String,
    name: String,
    message: Option<String>,
}

/// The sign-in form (or, for a signed-in user, the persons page).
pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if state.read(move |s| users::session(s, &token, Utc::now())).await?.is_some() {
            return Ok(Redirect::to("/persons").into_response());
        }
    }
    let csrf = random_secret();
    let page = LoginPage { layout: None, csrf: csrf.clone(), name: String::new(), message: None };
    Ok(([set_cookie(LOGIN_COOKIE, &csrf, "/login", state.0.secure, None)], Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub struct SignIn {
    name: String,
    password: String,
    csrf: String,
}

/// Signs in: a session cookie and on to the persons page, or the form again with why not.
pub async fn login(State(state): State<AppState>, Form(form): Form<SignIn>) -> Result<Response, WebError> {
    let SignIn { name, password, csrf } = form;
    let tried = name.clone();
    match state.read(move |s| users::sign_in(s, &name, &password, Utc::now())).await {
        Ok(new) => {
            let secure = state.0.secure;
            let cookies = [set_cookie(SESSION_COOKIE, &new.token, "/", secure, None), set_cookie(LOGIN_COOKIE, "", "/login", secure, Some(0))];
            // Two cookies: appended, not inserted (a second insert would replace the first).
            Ok((axum::response::AppendHeaders(cookies), Redirect::to("/persons")).into_response())
        }
        Err(WebError::Denied(message)) => {
            let page = LoginPage { layout: None, csrf, name: tried, message: Some(message) };
            Ok((StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Signs out: the session ends, its cookie goes, and so do what the server held for the user
/// (search uploads, undos).
pub async fn logout(State(state): State<AppState>, page: Page, headers: HeaderMap) -> Result<Response, WebError> {
    state.0.uploads.forget(page.user);
    state.0.undos.forget(page.user);
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.read(move |s| users::sign_out(s, &token, Utc::now())).await?;
    }
    Ok(([set_cookie(SESSION_COOKIE, "", "/", state.0.secure, Some(0))], Redirect::to("/login")).into_response())
}
