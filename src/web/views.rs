//! The review pages: a person, the review queue, a photo and the audit trail. Each handler
//! extracts the signed-in user and its input, calls one `App` use case through
//! [`AppState::app`], and renders one template.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

use super::{AppState, Layout, Page, WebError};
use crate::app::overview::{self, PersonCard};
use crate::app::{Permission, PhotoView, ReviewItem, ReviewQueue, Undecided};
use crate::store::{AuditEntry, FaceId, FaceState, Person, PersonFace, PersonFilter, PersonId, PersonQuery, PhotoId, Verification};

/// Faces per page of a person; persons offered for a merge; faces per page of the queue.
const FACES_PER_PAGE: usize = 60;
const MERGE_CHOICES: usize = 24;
const QUEUE_PAGE: usize = 12;

fn render(t: impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(t.render()?))
}

pub async fn review_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "private, max-age=3600")], include_str!("review.js"))
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    layout: Option<Layout>,
    csrf: String,
    editor: bool,
    dpo: bool,
    title: String,
    person: Person,
    faces: Vec<PersonFace>,
    total_faces: usize,
    page: usize,
    pages: Vec<usize>,
    others: Vec<PersonCard>,
    merge_q: String,
    message: Option<String>,
    /// The id of what "confirm all" changed, for the undo button.
    undo: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PersonPageQuery {
    #[serde(default)]
    page: usize,
    #[serde(default)]
    merge_q: String,
}

async fn person_page(state: &AppState, page: &Page, id: i64, q: PersonPageQuery, message: Option<String>, undo: Option<String>) -> Result<Html<String>, WebError> {
    let actor = page.actor.clone();
    let wanted = q.merge_q.clone();
    let (detail, cards) = state
        .app(&page.actor, Permission::View, "person show", move |app| {
            let detail = app.person_detail(PersonId(id))?;
            // One more than shown, in case this person is among them.
            let choices = PersonQuery { filter: PersonFilter::All, text: Some(&wanted), offset: 0, limit: MERGE_CHOICES + 1 };
            let (cards, _) = overview::persons(&mut app.library.store, &actor, &choices)?;
            Ok((detail, cards))
        })
        .await?;
    let others = cards.into_iter().filter(|c| c.id.0 != id).take(MERGE_CHOICES).collect();
    let total_faces = detail.faces.len();
    let pages: Vec<usize> = (0..total_faces.div_ceil(FACES_PER_PAGE)).collect();
    let faces = detail.faces.into_iter().skip(q.page * FACES_PER_PAGE).take(FACES_PER_PAGE).collect();
    let p = detail.person;
    render(PersonPage {
        layout: page.layout("persons"),
        csrf: page.csrf.clone(),
        editor: page.actor.may(Permission::EditPersons),
        dpo: page.actor.may(Permission::Erase),
        title: p.name.clone().unwrap_or_else(|| format!("Person {}", p.id.0)),
        person: p,
        faces,
        total_faces,
        page: q.page,
        pages,
        others,
        merge_q: q.merge_q,
        message,
        undo,
    })
}

pub async fn person(State(state): State<AppState>, page: Page, Path(id): Path<i64>, Query(q): Query<PersonPageQuery>) -> Result<Html<String>, WebError> {
    person_page(&state, &page, id, q, None, None).await
}

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
    #[serde(default)]
    email: String,
    external: Option<String>,
}

pub async fn name_person(State(state): State<AppState>, page: Page, Path(id): Path<i64>, Form(f): Form<NameForm>) -> Result<Redirect, WebError> {
    state
        .app(&page.actor, Permission::EditPersons, "person name", move |app| {
            let email = Some(f.email.trim()).filter(|e| !e.is_empty());
            app.name_person(PersonId(id), f.name.trim(), email)?;
            app.mark_external(PersonId(id), f.external.is_some())
        })
        .await?;
    Ok(Redirect::to(&format!("/persons/{id}")))
}

pub async fn confirm_all(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Html<String>, WebError> {
    let manifest = state.manifest()?;
    let confirmed = state.app(&page.actor, Permission::EditPersons, "person confirm", move |app| app.confirm_suggestions(&manifest, PersonId(id))).await?;
    let message = format!("{} suggested face(s) confirmed.", confirmed.faces.len());
    let undo = super::held::Held::<Undo>::new_id();
    state.0.undos.add(page.user, undo.clone(), Undo { person: PersonId(id), before: confirmed.before });
    person_page(&state, &page, id, PersonPageQuery::default(), Some(message), Some(undo)).await
}

/// How long "undo" stays offered after "confirm all", and how many are held (all users together).
pub const UNDO_FOR: std::time::Duration = std::time::Duration::from_secs(15 * 60);
pub const MAX_UNDOS: usize = 64;

/// The links "confirm all" changed on a person's page, as they were before: kept by the server,
/// so that an undo can only put back what the user's own confirmation changed.
pub struct Undo {
    person: PersonId,
    before: Vec<FaceState>,
}

#[derive(Deserialize)]
pub struct UndoForm {
    undo: String,
}

pub async fn undo(State(state): State<AppState>, page: Page, Path(id): Path<i64>, Form(f): Form<UndoForm>) -> Result<Html<String>, WebError> {
    let held = state.0.undos.take_if(&f.undo, page.user, |u| u.person == PersonId(id));
    let held = held.ok_or_else(|| WebError::NotFound("nothing to undo: an undo works once, for 15 minutes, on the page that offered it".into()))?;
    let changed = state.app(&page.actor, Permission::EditPersons, "face links undo", move |app| app.restore_links(&held.before)).await?;
    person_page(&state, &page, id, PersonPageQuery::default(), Some(changed.message), None).await
}

/// The person page's face form: `face` repeated, `action`, and `to` for a move.
pub async fn person_faces(State(state): State<AppState>, page: Page, Path(id): Path<i64>, body: String) -> Result<Html<String>, WebError> {
    let message = change_faces(&state, &page, PersonId(id), &body).await?;
    person_page(&state, &page, id, PersonPageQuery::default(), Some(message), None).await
}

/// Applies a face form (`face` repeated, `action`: confirm, reject, split, or move with `to`)
/// for `person`'s page, as the person page and the erasure review send it; what it did, in words.
pub async fn change_faces(state: &AppState, page: &Page, person: PersonId, body: &str) -> Result<String, WebError> {
    let mut faces = Vec::new();
    let (mut action, mut to) = (String::new(), String::new());
    for (k, v) in form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "face" => faces.push(FaceId(v.parse().map_err(|_| WebError::BadRequest(format!("not a face id: {v}")))?)),
            "action" => action = v.into_owned(),
            "to" => to = v.into_owned(),
            _ => {}
        }
    }
    if faces.is_empty() {
        return Ok("Select some faces first.".into());
    }
    state
        .app(&page.actor, Permission::EditPersons, "face change", move |app| {
            Ok(match action.as_str() {
                "confirm" => app.confirm_faces(&faces)?.message,
                "reject" => app.reject_faces(&faces, Some(person))?.message,
                "split" => format!("split off as new person {}", app.split_person(person, &faces)?.id.0),
                "move" => {
                    let to = app.person_id(&to)?;
                    app.move_faces(&faces, to)?.message
                }
                other => return Err(crate::Error::Invalid(format!("unknown action {other:?}"))),
            })
        })
        .await
}

#[derive(Deserialize)]
pub struct MergeForm {
    from: i64,
}

pub async fn merge(State(state): State<AppState>, page: Page, Path(id): Path<i64>, Form(f): Form<MergeForm>) -> Result<Html<String>, WebError> {
    let (_, moved) = state.app(&page.actor, Permission::EditPersons, "person merge", move |app| app.merge_persons(PersonId(id), PersonId(f.from))).await?;
    person_page(&state, &page, id, PersonPageQuery::default(), Some(format!("Merged person {} into this one ({moved} faces moved).", f.from)), None).await
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    layout: Option<Layout>,
    csrf: String,
    editor: bool,
    queue: ReviewQueue,
    offset: usize,
    covers: std::collections::HashMap<PersonId, FaceId>,
    message: Option<String>,
}

impl ReviewPage {
    fn why(&self, item: &ReviewItem) -> String {
        match (item.why, &item.suggested) {
            (Undecided::Suggested, Some(p)) => format!("suggested as {}", p.name.clone().unwrap_or_else(|| format!("person {}", p.id.0))),
            (Undecided::Suggested, None) => "suggested".into(),
            (Undecided::Possible, _) => "possible face (the detector was unsure)".into(),
            (Undecided::Unidentified, _) => "unidentified".into(),
        }
    }

    fn cover(&self, p: &PersonId) -> Option<FaceId> {
        self.covers.get(p).copied()
    }
}

#[derive(Deserialize, Default)]
pub struct Offset {
    #[serde(default)]
    offset: usize,
}

async fn review_page(state: &AppState, page: &Page, offset: usize, message: Option<String>) -> Result<Html<String>, WebError> {
    let manifest = state.manifest()?;
    let (queue, covers) = state
        .app(&page.actor, Permission::View, "review queue", move |app| {
            let queue = app.review_queue(&manifest, offset, QUEUE_PAGE)?;
            let shown = queue.items.iter().flat_map(|i| i.suggested.iter().chain(i.candidates.iter().map(|c| &c.person)).map(|p| p.id));
            let covers = app.store().cover_faces(&shown.collect::<Vec<_>>())?;
            Ok((queue, covers))
        })
        .await?;
    render(ReviewPage { layout: page.layout("review"), csrf: page.csrf.clone(), editor: page.actor.may(Permission::EditPersons), queue, offset, covers, message })
}

pub async fn review(State(state): State<AppState>, page: Page, Query(q): Query<Offset>) -> Result<Html<String>, WebError> {
    review_page(&state, &page, q.offset, None).await
}

#[derive(Deserialize)]
pub struct Decision {
    person: Option<i64>,
    action: Option<String>,
    #[serde(default)]
    offset: usize,
}

/// One decision about a face of the queue: this is person X, a new person, not a face, skip.
pub async fn decide(State(state): State<AppState>, page: Page, Path(face): Path<i64>, Form(d): Form<Decision>) -> Result<Html<String>, WebError> {
    let face = FaceId(face);
    if d.action.as_deref() == Some("skip") {
        return review_page(&state, &page, d.offset + 1, None).await;
    }
    let message = state
        .app(&page.actor, Permission::EditPersons, "face review", move |app| {
            Ok(match (d.person, d.action.as_deref()) {
                (Some(p), _) => app.move_faces(&[face], PersonId(p))?.message,
                (None, Some("new")) => {
                    let person = app.new_person_from(face)?;
                    format!("face {} is now new person {}", face.0, person.id.0)
                }
                (None, Some("dismiss")) => app.dismiss_faces(&[face])?.message,
                _ => return Err(crate::Error::Invalid("choose a person, new person, not a face or skip".into())),
            })
        })
        .await?;
    review_page(&state, &page, d.offset, Some(message)).await
}

#[derive(Template)]
#[template(path = "photo.html")]
struct PhotoPage {
    layout: Option<Layout>,
    view: PhotoView,
    download: bool,
}

pub async fn photo(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> Result<Html<String>, WebError> {
    let view = state.app(&page.actor, Permission::View, "photo show", move |app| app.photo_view(PhotoId(id))).await?;
    render(PhotoPage { layout: page.layout("persons"), view, download: page.actor.may(Permission::Download) })
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Option<Layout>,
    /// The chain check, when asked for (it reads the whole trail).
    verification: Option<Verification>,
    filter: AuditFilter,
    entries: Vec<AuditEntry>,
    /// Whether older entries pass the filter too.
    more: bool,
}

impl AuditPage {
    /// The link to another page of the same filter (`verify` as asked).
    fn link(&self, page: usize, verify: bool) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [("user", &self.filter.user), ("person", &self.filter.person), ("since", &self.filter.since)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                query.append_pair(key, v);
            }
        }
        if page > 0 {
            query.append_pair("page", &page.to_string());
        }
        if verify {
            query.append_pair("verify", "1");
        }
        format!("/audit?{}", query.finish())
    }

    fn newer(&self) -> String {
        self.link(self.filter.page.saturating_sub(1), false)
    }

    fn older(&self) -> String {
        self.link(self.filter.page + 1, false)
    }

    fn verify_link(&self) -> String {
        self.link(self.filter.page, true)
    }
}

/// Entries on one page of the audit trail.
const AUDIT_PAGE: usize = 100;

#[derive(Deserialize, Default, Clone)]
pub struct AuditFilter {
    user: Option<String>,
    person: Option<String>,
    since: Option<String>,
    #[serde(default)]
    page: usize,
    #[serde(default)]
    verify: Option<String>,
}

pub async fn audit(State(state): State<AppState>, page: Page, Query(filter): Query<AuditFilter>) -> Result<Html<String>, WebError> {
    let f = filter.clone();
    let (verification, (entries, more)) = state
        .app(&page.actor, Permission::View, "audit log", move |app| {
            let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
            let person = given(&f.person).map(|p| app.person_id(&p)).transpose()?;
            let (user, since) = (given(&f.user), given(&f.since));
            let entries = app.audit_page(user.as_deref(), person, since.as_deref(), f.page * AUDIT_PAGE, AUDIT_PAGE)?;
            let verification = if f.verify.is_some() { Some(app.audit_verify()?) } else { None };
            Ok((verification, entries))
        })
        .await?;
    render(AuditPage { layout: page.layout("audit"), verification, filter, entries, more })
}
