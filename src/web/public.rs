//! The pages outside the sign-in: the data subject's consent page (`/c/SECRET`, the single-use
//! answer link), the withdrawal page (`/w/SECRET`) and the person's own face crops on the
//! former. They carry no session: they never read the session cookie, never set one, and a
//! link's secret opens nothing but its own request. Every route here is rate-limited per client
//! address ([`limit`]). A used, expired or unknown link gets a clear page and records nothing.
//! The words come from `templates/texts/` in the request's language (`?lang=` may switch it).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use super::{AppState, WebError};
use crate::app::requests::{self, Answer, LinkKind, LinkState, Opened, Problem, Recorded};
use crate::consent::texts::{self, fill, PageTexts, Texts};
use crate::library::{Access, Library};
use crate::store::{FaceId, Store};

/// Requests one client address may make to the public pages: a burst of this many, then one
/// more each second.
const BURST: u32 = 40;

pub type Limiter = Arc<DefaultKeyedRateLimiter<IpAddr>>;

pub fn limiter() -> Limiter {
    let quota = Quota::per_second(NonZeroU32::new(1).expect("1 > 0")).allow_burst(NonZeroU32::new(BURST).expect("a burst > 0"));
    Arc::new(RateLimiter::keyed(quota))
}

/// Middleware on the public routes: 429 for a client over its rate. Keys of quiet clients are
/// dropped now and then, so the table cannot grow without end.
pub async fn limit(State(state): State<AppState>, ConnectInfo(client): ConnectInfo<SocketAddr>, req: Request, next: Next) -> Response {
    let limiter = &state.0.public_limiter;
    if limiter.len() > 10_000 {
        limiter.retain_recent();
    }
    if limiter.check_key(&client.ip()).is_err() {
        let t = texts::texts("en").expect("English texts");
        let page = MessagePage { lang: t.code, t: &t.page, title: t.page.too_many.clone(), lines: vec![], link: None };
        let html = page.render().unwrap_or_else(|_| t.page.too_many.clone());
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "60")], Html(html)).into_response();
    }
    let mut res = next.run(req).await;
    // The secret is in the address: never hand it on.
    res.headers_mut().insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    res
}

#[derive(Deserialize, Default)]
pub struct Lang {
    #[serde(default)]
    lang: Option<String>,
}

/// The texts to show: `?lang=` when it names a language, else the request's.
fn texts_for(lang: &Lang, request_language: &str) -> &'static Texts {
    lang.lang.as_deref().and_then(|l| texts::texts(l).ok()).or_else(|| texts::texts(request_language).ok()).unwrap_or_else(|| texts::texts("en").expect("English texts"))
}

#[derive(Template)]
#[template(path = "public/message.html")]
struct MessagePage<'a> {
    lang: &'a str,
    t: &'a PageTexts,
    title: String,
    lines: Vec<String>,
    /// A link to offer (the withdrawal link after an answer).
    link: Option<String>,
}

fn message(status: StatusCode, t: &Texts, title: &str, lines: Vec<String>, link: Option<String>) -> Result<Response, WebError> {
    let page = MessagePage { lang: t.code, t: &t.page, title: title.to_string(), lines, link };
    Ok((status, Html(page.render()?)).into_response())
}

/// The page for a link that opens no request (guessed, mistyped, or the person was erased).
fn unknown(lang: &Lang) -> Result<Response, WebError> {
    let t = texts_for(lang, "en");
    message(StatusCode::NOT_FOUND, t, &t.page.unknown_title, vec![t.page.unknown.clone()], None)
}

/// The page for a used or expired answer link.
fn closed(t: &Texts, o: &Opened) -> Result<Response, WebError> {
    let org = o.request.organisation.as_str();
    match &o.state {
        LinkState::Used(on) => message(StatusCode::GONE, t, &t.page.used_title, vec![fill(&t.page.used, &[("date", on)])], None),
        LinkState::Expired(on) => message(StatusCode::GONE, t, &t.page.expired_title, vec![fill(&t.page.expired, &[("date", on), ("organisation", org)])], None),
        LinkState::Open => unreachable!("an open link is not closed"),
    }
}

async fn opened(state: &AppState, kind: LinkKind, secret: String) -> Result<Option<Opened>, WebError> {
    state.read(move |s| requests::open(s, kind, &secret, Utc::now())).await
}

#[derive(Template)]
#[template(path = "public/answer.html")]
struct AnswerPage<'a> {
    lang: &'a str,
    t: &'a PageTexts,
    secret: &'a str,
    organisation: &'a str,
    contact: Option<&'a str>,
    intro: String,
    /// Name and plain words of each purpose.
    purposes: Vec<(String, String)>,
    period: String,
    /// Months the person may choose, each with its words; the longest is chosen to start with.
    choices: Vec<(u32, String)>,
    offered: u32,
    faces: Vec<i64>,
    problem: Option<String>,
}

fn answer_page(t: &Texts, secret: &str, o: &Opened, problem: Option<String>) -> Result<String, WebError> {
    let offered = o.request.months;
    let mut months: Vec<u32> = [1, 3, 6, 12, 24, 36, 60, 120].into_iter().filter(|m| *m < offered).collect();
    months.push(offered);
    let page = AnswerPage {
        lang: t.code,
        t: &t.page,
        secret,
        organisation: &o.request.organisation,
        contact: o.request.contact.as_deref(),
        intro: fill(&t.page.intro, &[("organisation", &o.request.organisation)]),
        purposes: o.purposes.iter().map(|p| (p.name.clone(), p.description.clone().filter(|d| !d.trim().is_empty()).unwrap_or_else(|| p.name.clone()))).collect(),
        period: fill(&t.page.period_offered, &[("from", &o.request.valid_from.to_string()), ("months", &offered.to_string())]),
        choices: months.into_iter().map(|m| (m, fill(&t.page.months, &[("n", &m.to_string())]))).collect(),
        offered,
        faces: o.faces.iter().map(|f| f.0).collect(),
        problem,
    };
    Ok(page.render()?)
}

/// GET `/c/SECRET`: the consent page.
pub async fn show(State(state): State<AppState>, Path(secret): Path<String>, Query(lang): Query<Lang>) -> Result<Response, WebError> {
    let Some(o) = opened(&state, LinkKind::Answer, secret.clone()).await? else { return unknown(&lang) };
    let t = texts_for(&lang, &o.request.language);
    if o.state != LinkState::Open {
        return closed(t, &o);
    }
    Ok(Html(answer_page(t, &secret, &o, None)?).into_response())
}

/// The fields of the consent form (`agree` may come several times).
fn parse_answer(body: &str) -> Answer {
    let mut a = Answer::default();
    for (k, v) in form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "agree" => a.agree.push(v.into_owned()),
            "months" => a.months = v.trim().parse().unwrap_or(0),
            "name" => a.name = v.into_owned(),
            "confirm" => a.confirmed = v == "yes",
            "refuse" => a.refuse_all = true,
            _ => {}
        }
    }
    a
}

fn problem_text(t: &Texts, p: &Problem, months: u32) -> String {
    match p {
        Problem::NeedName => t.page.need_name.clone(),
        Problem::NeedConfirm => t.page.need_confirm.clone(),
        Problem::BadPeriod => fill(&t.page.bad_period, &[("months", &months.to_string())]),
        Problem::BadPurpose => t.page.bad_purpose.clone(),
        Problem::NothingChosen => fill(&t.page.nothing_chosen, &[("refuse", &t.page.refuse)]),
        Problem::Closed => t.page.used_title.clone(),
    }
}

/// Runs `f` on the library holding the writer lock (a change), off the async threads.
async fn write<T: Send + 'static>(state: &AppState, f: impl FnOnce(&mut Library) -> crate::Result<T> + Send + 'static) -> Result<T, WebError> {
    let dir = state.library().to_path_buf();
    super::blocking(move || {
        let mut library = Library::open(&dir, Access::Write)?;
        crate::gdpr::erase::finish_pending(&mut library)?;
        f(&mut library)
    })
    .await
}

/// POST `/c/SECRET`: the answer. A bad answer shows the form again with what to fix and records
/// nothing; a good one is recorded with its snapshot, and the link is used up.
pub async fn take(State(state): State<AppState>, ConnectInfo(client): ConnectInfo<SocketAddr>, Path(secret): Path<String>, Query(lang): Query<Lang>, body: String) -> Result<Response, WebError> {
    let Some(o) = opened(&state, LinkKind::Answer, secret.clone()).await? else { return unknown(&lang) };
    let t = texts_for(&lang, &o.request.language);
    if o.state != LinkState::Open {
        return closed(t, &o);
    }
    let shown = answer_page(t, &secret, &o, None)?;
    let a = parse_answer(&body);
    let today = state.today();
    let s = secret.clone();
    let outcome = write(&state, move |lib| requests::answer(lib, &s, &a, &shown, &client.ip().to_string(), today)).await?;
    match outcome {
        Ok(r) => thanks(t, &r),
        Err(Problem::Closed) => {
            let o = opened(&state, LinkKind::Answer, secret).await?.ok_or_else(|| WebError::NotFound("no such request".into()))?;
            closed(t, &o)
        }
        Err(p) => {
            let html = answer_page(t, &secret, &o, Some(problem_text(t, &p, o.request.months)))?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
    }
}

fn thanks(t: &Texts, r: &Recorded) -> Result<Response, WebError> {
    let mut lines = Vec::new();
    if !r.agreed.is_empty() {
        let until = r.until.map(|u| u.to_string()).unwrap_or_default();
        lines.push(fill(&t.page.agreed, &[("purposes", &r.agreed.join(", ")), ("until", &until)]));
    }
    if !r.refused.is_empty() {
        lines.push(fill(&t.page.refused, &[("purposes", &r.refused.join(", "))]));
    }
    lines.push(t.page.keep_link.clone());
    message(StatusCode::OK, t, &t.page.thanks, lines, r.withdraw_path.clone())
}

#[derive(Template)]
#[template(path = "public/withdraw.html")]
struct WithdrawPage<'a> {
    lang: &'a str,
    t: &'a PageTexts,
    secret: &'a str,
    organisation: &'a str,
    contact: Option<&'a str>,
    /// Name, plain words, and whether the person's consent for it is in force today.
    purposes: Vec<(String, String, bool)>,
    problem: Option<String>,
}

fn withdraw_page(t: &Texts, secret: &str, o: &Opened, in_force: &[String], problem: Option<String>) -> Result<String, WebError> {
    let page = WithdrawPage {
        lang: t.code,
        t: &t.page,
        secret,
        organisation: &o.request.organisation,
        contact: o.request.contact.as_deref(),
        purposes: o
            .purposes
            .iter()
            .map(|p| (p.name.clone(), p.description.clone().filter(|d| !d.trim().is_empty()).unwrap_or_else(|| p.name.clone()), in_force.contains(&p.name)))
            .collect(),
        problem,
    };
    Ok(page.render()?)
}

async fn withdrawal(state: &AppState, secret: String) -> Result<Option<(Opened, Vec<String>)>, WebError> {
    let today = state.today();
    state
        .read(move |s| {
            let Some(o) = requests::open(s, LinkKind::Withdrawal, &secret, Utc::now())? else { return Ok(None) };
            let in_force = requests::in_force(s, &o, today)?;
            Ok(Some((o, in_force)))
        })
        .await
}

/// GET `/w/SECRET`: the withdrawal page.
pub async fn withdraw_form(State(state): State<AppState>, Path(secret): Path<String>, Query(lang): Query<Lang>) -> Result<Response, WebError> {
    let Some((o, in_force)) = withdrawal(&state, secret.clone()).await? else { return unknown(&lang) };
    let t = texts_for(&lang, &o.request.language);
    Ok(Html(withdraw_page(t, &secret, &o, &in_force, None)?).into_response())
}

/// POST `/w/SECRET`: withdraws the ticked purposes from today.
pub async fn withdraw(State(state): State<AppState>, ConnectInfo(client): ConnectInfo<SocketAddr>, Path(secret): Path<String>, Query(lang): Query<Lang>, body: String) -> Result<Response, WebError> {
    let Some((o, in_force)) = withdrawal(&state, secret.clone()).await? else { return unknown(&lang) };
    let t = texts_for(&lang, &o.request.language);
    let shown = withdraw_page(t, &secret, &o, &in_force, None)?;
    let purposes: Vec<String> = form_urlencoded::parse(body.as_bytes()).filter(|(k, _)| k == "purpose").map(|(_, v)| v.into_owned()).collect();
    let today = state.today();
    let s = secret.clone();
    match write(&state, move |lib| requests::withdraw(lib, &s, &purposes, &shown, &client.ip().to_string(), today)).await? {
        Ok(r) => message(StatusCode::OK, t, &t.page.withdraw_title, vec![fill(&t.page.withdrawn, &[("purposes", &r.refused.join(", "))])], None),
        Err(p) => {
            let html = withdraw_page(t, &secret, &o, &in_force, Some(problem_text(t, &p, o.request.months)))?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
    }
}

/// GET `/c/SECRET/faces/ID`: the person's own face, others painted over, while the link is open.
pub async fn face(State(state): State<AppState>, Path((secret, face)): Path<(String, i64)>) -> Result<Response, WebError> {
    let found = state.read(move |s: &mut Store| requests::own_face(s, &secret, FaceId(face))).await?;
    let bytes = found.ok_or_else(|| WebError::NotFound("there is no such picture".into()))?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response())
}
