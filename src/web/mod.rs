//! `facegate serve`: the web app and the HTTP API over a library folder, on axum and tokio.
//! Pages are rendered on the server from askama templates (`templates/`, auto-escaped); the API
//! lives under `/api/v1` and takes `Authorization: Bearer TOKEN`.
//!
//! **The library while an `index` runs.** Reads open the database afresh for each request,
//! without the writer lock (SQLite's WAL lets them read while another process writes), so the app
//! keeps answering during an index run. A change takes the writer lock for its request only; when
//! another process holds it, the answer is 503 "library busy, try again". Sign-in and sessions
//! write to the database without the lock, as audit entries of reads do.
//!
//! **Security.** Every route but `/login`, the style sheet and the data subject's consent
//! pages (`/c/…`, `/w/…`, see [`public`]: no session, rate-limited) needs a signed-in user (pages
//! redirect to `/login`, the API answers 401). Sessions are random tokens kept server-side (as
//! hashes), in an HttpOnly, SameSite=Strict cookie (Secure under TLS). Every POST to a page must
//! carry the session's CSRF token (the `csrf` form field, or the `x-csrf-token` header, or `?csrf=`
//! for multipart forms) and may not come from another origin. Files are served by id only.
//!
//! **Adding a page.** 1. A use-case function in `app/` that takes the actor, checks the role and
//! audits. 2. A template in `templates/` that `{% extends "base.html" %}` and has a
//! `layout: Layout` field (from `page.layout("section")`). 3. A small handler in `pages.rs`:
//! extract `page: Page` first (it signs the user in), then path, query or form; call the use case
//! through `state.read(..)` (reads) or `state.write(..)` (changes: role checked before the writer
//! lock is taken); return `render(Template { .. })` or a redirect. Errors are `WebError`, turned
//! into a page or JSON in one place (`error.rs`). 4. A line in [`router`]. Forms carry
//! `<input type="hidden" name="csrf" value="{{ layout.csrf }}">`. An API route goes in `api.rs`
//! with `ApiUser` instead of `Page` and a `#[utoipa::path]` so that it is in the OpenAPI document.

mod api;
mod auth;
mod consents;
mod erase;
mod error;
mod held;
mod pages;
mod public;
mod requests;
mod search;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::{Actor, Permission};
use crate::error::{Error, Result};
use crate::library::{Access, Library, DB_FILE};
use crate::store::Store;
use crate::vision::{Device, FaceModels};
pub use auth::{ApiUser, Layout, Page};
pub use error::WebError;

/// The largest request body: uploads up to 20 MB.
pub const MAX_BODY: usize = 20 * 1024 * 1024;

pub struct Config {
    pub library: PathBuf,
    pub listen: SocketAddr,
    /// Certificate chain and private key (PEM) to serve HTTPS with.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Today, when fixed (`--now`), for the gate.
    pub today: Option<NaiveDate>,
    /// The models folder (`--models`) and where they run, for searches by photo.
    pub models: Option<PathBuf>,
    pub device: Device,
    /// SMTP settings, to send consent requests; without them the app offers `.eml` files.
    pub mail: Option<crate::mail::Mailer>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub library: PathBuf,
    /// The models folder (`--models`), for pages that search by face.
    pub models: Option<PathBuf>,
    pub device: Device,
    /// Cookies get `Secure` (served over TLS).
    pub secure: bool,
    pub today: Option<NaiveDate>,
    /// The detector and embedder, loaded by the first search by photo and kept for the
    /// server's life; one search uses them at a time.
    face_models: Mutex<Option<FaceModels>>,
    /// Query photos uploaded to the search page, in memory only.
    uploads: held::Held<search::Upload>,
    /// What "undo" on a person page puts back, for the user who confirmed.
    undos: held::Held<views::Undo>,
    /// Consent requests just made: their links and messages, for the page and the downloads.
    made: held::Held<requests::Made>,
    /// Requests per client address on the public pages.
    public_limiter: public::Limiter,
    pub mail: Option<crate::mail::Mailer>,
}

impl AppState {
    pub fn new(library: PathBuf, secure: bool, today: Option<NaiveDate>, models: Option<PathBuf>, device: Device, mail: Option<crate::mail::Mailer>) -> AppState {
        let uploads = held::Held::new(search::KEEP_FOR, search::MAX_UPLOADS);
        let undos = held::Held::new(views::UNDO_FOR, views::MAX_UNDOS);
        let made = held::Held::new(requests::KEEP_FOR, requests::MAX_KEPT);
        let public_limiter = public::limiter();
        AppState(Arc::new(Shared { library, models, device, secure, today, face_models: Mutex::new(None), uploads, undos, made, public_limiter, mail }))
    }

    /// Runs `f` with the face models, loading them on first use (blocking: call it from a
    /// blocking task, as inside [`AppState::app`]).
    pub fn with_face_models<T>(&self, f: impl FnOnce(&mut FaceModels) -> Result<T>) -> Result<T> {
        let mut held = self.0.face_models.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.is_none() {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            *held = Some(FaceModels::load(&self.manifest()?, self.0.device, threads)?);
        }
        f(held.as_mut().expect("loaded above"))
    }

    /// The model manifest (read on each use: it is a small file).
    pub fn manifest(&self) -> Result<crate::vision::Manifest> {
        crate::vision::Manifest::load(&crate::vision::runtime::find_models(self.0.models.as_deref())?)
    }

    /// Runs a use case on [`crate::app::App`] as `actor`: reads on the library opened without
    /// the writer lock ([`Access::Share`]); a change (`needs` beyond viewing) is refused (403, audited) before the writer
    /// lock is taken, then runs holding it.
    pub async fn app<T, F>(&self, actor: &Actor, needs: Permission, action: &'static str, f: F) -> Result<T, WebError>
    where
        F: FnOnce(&mut crate::app::App) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let today = self.today();
        let run = move |actor: Actor, library: &mut Library| f(&mut crate::app::App::new(&actor, library, today));
        if needs == Permission::View {
            let dir = self.0.library.clone();
            let actor = actor.clone();
            return blocking(move || run(actor, &mut Library::open(&dir, Access::Share)?)).await;
        }
        let who = actor.clone();
        self.write(actor, needs, action, move |library| run(who, library)).await
    }

    pub fn library(&self) -> &std::path::Path {
        &self.0.library
    }

    pub fn today(&self) -> NaiveDate {
        self.0.today.unwrap_or_else(|| chrono::Local::now().date_naive())
    }

    /// Runs `f` on a fresh read connection, off the async threads (SQLite blocks).
    pub async fn read<T, F>(&self, f: F) -> Result<T, WebError>
    where
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.0.library.join(DB_FILE);
        blocking(move || f(&mut Store::open(&db)?)).await
    }

    /// Runs a change: the role is checked first (a refusal is audited and answered 403 even while
    /// the library is busy), then `f` runs holding the writer lock (503 when another process holds
    /// it), after any erasure a crash left unfinished is completed.
    pub async fn write<T, F>(&self, actor: &Actor, needs: Permission, action: &'static str, f: F) -> Result<T, WebError>
    where
        F: FnOnce(&mut Library) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let dir = self.0.library.clone();
        let actor = actor.clone();
        blocking(move || {
            actor.require(&mut Store::open(&dir.join(DB_FILE))?, needs, action, &[])?;
            let mut library = Library::open(&dir, Access::Write)?;
            crate::gdpr::erase::finish_pending(&mut library)?;
            f(&mut library)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T, WebError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(outcome) => outcome.map_err(WebError::from),
        Err(e) => Err(WebError::Internal(format!("request task failed: {e}"))),
    }
}

/// Every route, with the layers that apply to all of them.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/persons", get(pages::persons))
        .route("/persons/{id}", get(views::person))
        .route("/persons/{id}/name", post(views::name_person))
        .route("/persons/{id}/confirm-all", post(views::confirm_all))
        .route("/persons/{id}/undo", post(views::undo))
        .route("/persons/{id}/faces", post(views::person_faces))
        .route("/persons/{id}/merge", post(views::merge))
        .route("/review", get(views::review))
        .route("/review/{face}", post(views::decide))
        .route("/photos/{id}", get(views::photo))
        .route("/search", get(search::form).post(search::upload))
        .route("/search/{id}", get(search::show))
        .route("/search/{id}/assign", post(search::assign))
        .route("/audit", get(views::audit))
        .route("/static/review.js", get(views::review_js))
        .route("/requests", get(requests::list).post(requests::create))
        .route("/requests/new", get(requests::new))
        .route("/requests/made/{id}/{file}", get(requests::message))
        .route("/organisation", post(requests::set_organisation))
        .route("/consents", get(consents::dashboard))
        .route("/consents/{id}/evidence", get(consents::evidence))
        .route("/purposes", get(consents::purposes).post(consents::add_purpose))
        .route("/projects", post(consents::add_project))
        .route("/persons/{id}/consents", get(consents::person))
        .route("/persons/{id}/consents/grant", post(consents::grant))
        .route("/persons/{id}/consents/revoke", post(consents::revoke))
        .route("/erase", get(erase::start))
        .route("/erase/{id}", get(erase::review).post(erase::execute))
        .route("/erase/{id}/faces", post(erase::decide))
        .route("/erasures/{id}", get(erase::done))
        .route("/erasures/{id}/{file}", get(erase::certificate_file))
        .route("/persons/{id}/{file}", get(erase::access_report))
        .route("/users", get(pages::users))
        .route("/users/disable", post(pages::disable_user))
        .route("/faces/{id}/thumb", get(pages::face_thumb))
        .route("/photos/{id}/preview", get(pages::photo_preview))
        .route("/photos/{id}/original", get(pages::photo_original))
        .route("/static/style.css", get(pages::style))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::check_forms));
    let api = Router::new()
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/check", post(api::check))
        .route("/api/v1/search", post(api::search))
        .route("/api/v1/persons/{id}/photos", get(api::person_photos))
        .route("/api/v1/persons/{id}/consents", get(api::person_consents))
        .route("/api/v1/consents", get(api::consents));
    // Outside the sign-in: no session, no CSRF token (the link's secret is the credential), a
    // rate limit per client address.
    let public = Router::new()
        .route("/c/{secret}", get(public::show).post(public::take))
        .route("/c/{secret}/faces/{face}", get(public::face))
        .route("/w/{secret}", get(public::withdraw_form).post(public::withdraw))
        .layer(axum::middleware::from_fn(auth::same_site_only))
        .layer(axum::middleware::from_fn_with_state(state.clone(), public::limit));
    let header = |name, value: &'static str| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    Router::new()
        .merge(pages)
        .merge(api)
        .merge(public)
        .fallback(|| async { WebError::NotFound("there is no such page".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        // Outside the body limit, so that its 413 becomes our page or JSON too.
        .layer(axum::middleware::from_fn(error::render))
        .layer(CompressionLayer::new())
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(header(header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"))
        .layer(header(header::CACHE_CONTROL, "no-store"))
        .with_state(state)
}

/// Serves until interrupted (Ctrl-C or SIGTERM), over HTTPS when given a certificate and key.
pub fn serve(config: Config) -> Result<()> {
    let db = config.library.join(DB_FILE);
    // A new library is made as `index` makes one (owner-only folder); an existing one is only
    // brought up to the current schema, without the writer lock, so an index run may go on.
    if db.exists() {
        Store::open(&db)?;
    } else {
        Library::open(&config.library, Access::Write)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Error::Invalid(format!("starting the server: {e}")))?;
    runtime.block_on(async {
        let failed = |what: &str, e: std::io::Error| Error::Invalid(format!("{what} {}: {e}", config.listen));
        let listener = std::net::TcpListener::bind(config.listen).map_err(|e| failed("cannot listen on", e))?;
        listener.set_nonblocking(true).map_err(|e| failed("listening on", e))?;
        let addr = listener.local_addr().map_err(|e| failed("listening on", e))?;
        let app = router(AppState::new(config.library.clone(), config.tls.is_some(), config.today, config.models.clone(), config.device, config.mail.clone()));
        // Handlers see the client's address (the public pages' rate limit, consent snapshots).
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let Some((cert, key)) = &config.tls else {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| failed("listening on", e))?;
            eprintln!("facegate: serving {} on http://{addr}", config.library.display());
            return axum::serve(listener, app).with_graceful_shutdown(shutdown()).await.map_err(|e| failed("serving on", e));
        };
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
            Error::Invalid(format!("--tls-cert {} / --tls-key {}: cannot load a PEM certificate chain and private key: {e}", cert.display(), key.display()))
        })?;
        let handle = axum_server::Handle::new();
        let stopping = handle.clone();
        tokio::spawn(async move {
            shutdown().await;
            stopping.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        });
        eprintln!("facegate: serving {} on https://{addr}", config.library.display());
        axum_server::from_tcp_rustls(listener, tls)
            .map_err(|e| failed("listening on", e))?
            .handle(handle)
            .serve(app)
            .await
            .map_err(|e| failed("serving on", e))
    })
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
