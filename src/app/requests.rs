//! Consent asked for by link and answered online (a digital quitclaim).
//!
//! An editor asks one person, or everyone confirmed in a set of photos (an event), for some
//! purposes over a period ([`App::ask_consent`]). Each person gets a request with two secrets:
//! the **answer link** (single use, expiring) and the **withdrawal link** (never expires:
//! withdrawing must stay as easy as agreeing). Only their SHA-256 is stored; the withdrawal
//! secret is derived from the answer secret, so the page that takes the answer can show it.
//!
//! The public side ([`open`], [`answer`], [`withdraw`], [`own_face`]) acts for the data subject:
//! an answer becomes consent records (`source = web`) and revocations for what was refused, a
//! withdrawal becomes revocations, each with an evidence snapshot (what was shown, what was
//! answered, when, from which address) stored and hashed like a signed form; the audit trail
//! names the request and the snapshot's hash, never the person's name or address.

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{App, Grant, Permission};
use crate::app::users::{random_secret, secret_hash};
use crate::app::{Actor, Role};
use crate::consent::texts::{self, fill, Texts};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::store::{FaceId, NewRequest, PersonId, PhotoId, Purpose, RequestRow, Store};

/// Settings keys: what the message and the public page name as the one asking.
pub const ORGANISATION: &str = "organisation.name";
pub const CONTACT: &str = "organisation.contact";
/// The address people reach the server at (`https://photos.example.org`), for the links.
pub const PUBLIC_URL: &str = "public_url";

/// Longest period a request may offer, and longest life of an answer link.
pub const MAX_MONTHS: u32 = 120;
pub const MAX_LINK_DAYS: u32 = 90;
/// At most this many persons in one request, and photos shown to each.
pub const MAX_PERSONS: usize = 500;
pub const MAX_PHOTOS_SHOWN: usize = 12;

/// The organisation's settings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Organisation {
    pub name: Option<String>,
    pub contact: Option<String>,
    pub public_url: Option<String>,
}

/// What to ask, and of whom.
#[derive(Clone, Debug)]
pub struct Ask {
    pub persons: Vec<PersonId>,
    /// The photos concerned (an event): each person is shown their own face in those they are
    /// confirmed in. Empty: no photos are shown.
    pub photos: Vec<PhotoId>,
    pub purposes: Vec<String>,
    /// The period offered, from today; the person may choose a shorter one.
    pub months: u32,
    pub project: Option<String>,
    pub language: String,
    /// How long the answer link works.
    pub link_days: u32,
    /// The organisation as the message names it; the settings when not given.
    pub organisation: Option<String>,
    pub contact: Option<String>,
    /// Where the links point; the `public_url` setting when not given.
    pub link_base: Option<String>,
    /// The message's sender.
    pub sender: String,
}

/// One person's request, ready to hand over: its links and the message carrying them. The
/// secrets exist only here; the library keeps their hashes.
#[derive(Clone, Debug, Serialize)]
pub struct Issued {
    pub request: i64,
    pub person: PersonId,
    pub label: String,
    /// The person's address; `None` when the library has none (the message has no `To`).
    pub to: Option<String>,
    pub answer_link: String,
    pub withdraw_link: String,
    pub expires_at: String,
    #[serde(skip)]
    pub message: Vec<u8>,
}

/// A request as the editor's list shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RequestState {
    #[serde(flatten)]
    pub row: RequestRow,
    pub purpose_names: Vec<String>,
    /// "waiting", "answered", "expired" or "withdrawn".
    pub status: &'static str,
}

/// The secret of the withdrawal link that belongs to an answer secret.
fn withdraw_secret(answer_secret: &str) -> String {
    hex::encode(Sha256::digest(format!("facegate withdrawal link:{answer_secret}").as_bytes()))
}

fn link(base: &str, kind: &str, secret: &str) -> String {
    format!("{}/{kind}/{secret}", base.trim_end_matches('/'))
}

/// The request's last day of consent for a period of `months` from `from`.
pub fn period_end(from: NaiveDate, months: u32) -> NaiveDate {
    from.checked_add_months(Months::new(months)).map_or(NaiveDate::MAX, |d| d - Duration::days(1))
}

fn purpose_lines(purposes: &[Purpose]) -> String {
    purposes.iter().map(|p| format!("  - {}", plain_words(p))).collect::<Vec<_>>().join("\n")
}

/// A purpose in plain words: its description, with its name.
pub fn plain_words(p: &Purpose) -> String {
    match p.description.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(d) => format!("{d} ({})", p.name),
        None => p.name.clone(),
    }
}

impl App<'_> {
    pub fn organisation(&mut self) -> Result<Organisation> {
        self.require(Permission::View, "organisation show", &[])?;
        let s = self.store();
        Ok(Organisation { name: s.setting(ORGANISATION)?, contact: s.setting(CONTACT)?, public_url: s.setting(PUBLIC_URL)? })
    }

    /// Sets what is given (an empty value clears it).
    pub fn set_organisation(&mut self, name: Option<&str>, contact: Option<&str>, public_url: Option<&str>) -> Result<Organisation> {
        self.require(Permission::Administer, "organisation set", &[])?;
        if let Some(url) = public_url.filter(|u| !u.trim().is_empty()) {
            check_base(url)?;
        }
        for (key, value) in [(ORGANISATION, name), (CONTACT, contact), (PUBLIC_URL, public_url)] {
            if let Some(v) = value {
                self.library.store.set_setting(key, v)?;
                self.audit("organisation set", &[], "ok", Some(key))?;
            }
        }
        self.organisation()
    }

    /// Creates a request for each person, with its links and message. Everything is checked
    /// before anything is written.
    pub fn ask_consent(&mut self, ask: &Ask) -> Result<Vec<Issued>> {
        let subjects = super::subjects("person", ask.persons.iter().map(|p| p.0));
        self.require(Permission::RecordConsent, "consent request", &subjects)?;
        if ask.persons.is_empty() {
            return Err(Error::Invalid("choose at least one person to ask".into()));
        }
        if ask.persons.len() > MAX_PERSONS {
            return Err(Error::Invalid(format!("at most {MAX_PERSONS} persons in one request")));
        }
        let (names, purpose_ids) = self.purpose_ids(&ask.purposes)?;
        if names.is_empty() {
            return Err(Error::Invalid("a consent request needs at least one purpose".into()));
        }
        if !(1..=MAX_MONTHS).contains(&ask.months) {
            return Err(Error::Invalid(format!("the period must be 1 to {MAX_MONTHS} months, not {}", ask.months)));
        }
        if !(1..=MAX_LINK_DAYS).contains(&ask.link_days) {
            return Err(Error::Invalid(format!("the link must work for 1 to {MAX_LINK_DAYS} days, not {}", ask.link_days)));
        }
        let t = texts::texts(&ask.language)?;
        let project = ask.project.as_deref().filter(|p| !p.trim().is_empty()).map(|p| self.store().project_id(p)).transpose()?;
        let settings = Organisation { name: self.store().setting(ORGANISATION)?, contact: self.store().setting(CONTACT)?, public_url: self.store().setting(PUBLIC_URL)? };
        let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let organisation = given(&ask.organisation).or(settings.name).ok_or_else(|| {
            Error::Invalid("the organisation asking has no name yet: set it once with `facegate organisation --name NAME --contact ADDRESS` (admin)".into())
        })?;
        let contact = given(&ask.contact).or(settings.contact);
        let base = given(&ask.link_base).or(settings.public_url).ok_or_else(|| {
            Error::Invalid("the links need the address people reach this server at: set it with `facegate organisation --public-url https://…` (admin)".into())
        })?;
        check_base(&base)?;
        let persons = ask.persons.iter().map(|&p| self.store().person(p)).collect::<Result<Vec<_>>>()?;
        let purposes: Vec<Purpose> = self.store().purposes()?.into_iter().filter(|p| purpose_ids.contains(&p.id)).collect();
        let now = Utc::now();
        let expires_at = (now + Duration::days(ask.link_days as i64)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let created_at = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut issued = Vec::new();
        for p in persons {
            let shown: Vec<PhotoId> = if ask.photos.is_empty() {
                Vec::new()
            } else {
                let mut own: Vec<PhotoId> = self.store().own_faces(p.id, &ask.photos)?.into_iter().map(|(_, photo)| photo).collect();
                own.dedup();
                own.truncate(MAX_PHOTOS_SHOWN);
                own
            };
            let secret = random_secret();
            let withdraw = withdraw_secret(&secret);
            let id = self.library.store.add_consent_request(&NewRequest {
                person: p.id,
                answer_sha256: &secret_hash(&secret),
                withdraw_sha256: &secret_hash(&withdraw),
                purposes: &purpose_ids,
                project,
                from: self.today,
                months: ask.months,
                photos: &shown,
                language: t.code,
                organisation: &organisation,
                contact: contact.as_deref(),
                created_by: &self.actor.name,
                created_at: &created_at,
                expires_at: &expires_at,
            })?;
            let (answer_link, withdraw_link) = (link(&base, "c", &secret), link(&base, "w", &withdraw));
            let expires_day = expires_at[..10].to_string();
            let values = [
                ("organisation", organisation.as_str()),
                ("contact", contact.as_deref().unwrap_or_default()),
                ("purposes", &purpose_lines(&purposes)),
                ("months", &ask.months.to_string()),
                ("expires", &expires_day),
                ("answer_link", &answer_link),
                ("withdraw_link", &withdraw_link),
                ("name", p.name.as_deref().unwrap_or_default()),
            ];
            let message = request_message(t, &values, &ask.sender, p.name.as_deref(), p.email.as_deref())?;
            let detail = format!("purposes {}; {} months; link until {expires_at}", names.join(","), ask.months);
            self.audit("consent request", &[format!("person:{}", p.id.0), format!("request:{id}")], "ok", Some(&detail))?;
            issued.push(Issued { request: id, person: p.id, label: p.label(), to: p.email.clone(), answer_link, withdraw_link, expires_at: expires_at.clone(), message });
        }
        Ok(issued)
    }

    /// Sends a request's message (to the person's address) and audits the sending; a failure to
    /// send is audited and returned as the reason, not an error: the request stands.
    pub fn send_request(&mut self, mailer: &crate::mail::Mailer, issued: &Issued) -> Result<std::result::Result<(), String>> {
        let subjects = [format!("person:{}", issued.person.0), format!("request:{}", issued.request)];
        let Some(to) = issued.to.as_deref() else {
            return Ok(Err("the person has no e-mail address".into()));
        };
        let outcome = mailer.send(to, &issued.message);
        match &outcome {
            Ok(()) => self.audit("consent request sent", &subjects, "ok", Some("by SMTP"))?,
            // The server's words may quote the address: the trail never keeps it.
            Err(why) => self.audit("consent request sent", &subjects, "failed", Some(&why.replace(to, "<the person's address>")))?,
        }
        Ok(outcome)
    }

    /// The persons confirmed in `photos`, each with the photos they are in, and how many faces
    /// in them nobody has identified (they cannot be asked).
    pub fn persons_to_ask(&mut self, photos: &[PhotoId]) -> Result<(Vec<(crate::store::Person, Vec<PhotoId>)>, usize)> {
        self.require(Permission::View, "consent request", &[])?;
        let found = self.store().persons_in_photos(photos)?;
        let ids: Vec<PersonId> = found.iter().map(|(p, _)| *p).collect();
        let mut persons = self.store().persons_by_id(ids)?;
        let out = found.into_iter().filter_map(|(id, photos)| persons.remove(&id).map(|p| (p, photos))).collect();
        Ok((out, self.store().unidentified_faces_in(photos)?))
    }

    /// Requests, newest first (of one person, or the latest of all), with what became of them.
    pub fn consent_requests(&mut self, person: Option<PersonId>, limit: usize) -> Result<Vec<RequestState>> {
        let subject: Vec<String> = person.map(|p| format!("person:{}", p.0)).into_iter().collect();
        self.require(Permission::View, "consent request list", &subject)?;
        let purposes = self.store().purposes()?;
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let rows = self.store().consent_requests(person, limit)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let purpose_names = row.purposes.iter().filter_map(|id| purposes.iter().find(|p| p.id == *id).map(|p| p.name.clone())).collect();
                let status = if row.withdrawn_at.is_some() {
                    "withdrawn"
                } else if row.answered_at.is_some() {
                    "answered"
                } else if row.expires_at <= now {
                    "expired"
                } else {
                    "waiting"
                };
                RequestState { row, purpose_names, status }
            })
            .collect())
    }
}

/// A link base must be an absolute http(s) address.
fn check_base(url: &str) -> Result<()> {
    let url = url.trim();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
        return Err(Error::Invalid(format!("{url:?} is not an address people can open: give one like https://photos.example.org")));
    }
    Ok(())
}

/// The request message (RFC 5322) in the request's language.
fn request_message(t: &Texts, values: &[(&str, &str)], sender: &str, name: Option<&str>, email: Option<&str>) -> Result<Vec<u8>> {
    let greeting = match name.filter(|n| !n.trim().is_empty()) {
        Some(_) => fill(&t.mail.greeting, values),
        None => t.mail.greeting_unnamed.clone(),
    };
    let body = format!("{greeting}\n\n{}\n{}\n", fill(&t.mail.body, values), fill(&t.mail.signature, values).trim_end());
    let mut builder = mail_builder::MessageBuilder::new().from(sender).subject(fill(&t.mail.subject, values)).text_body(body);
    if let Some(email) = email {
        builder = builder.to((name.unwrap_or_default(), email));
    }
    builder.write_to_vec().map_err(|e| Error::Invalid(format!("building the message: {e}")))
}

// ---------------------------------------------------------------------------------------------
// The public side: what the person holding a link may see and do.

/// Where an answer link stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    Open,
    /// Answered on this day.
    Used(String),
    /// Worked until this day.
    Expired(String),
}

/// A request as its link opens it.
#[derive(Clone, Debug)]
pub struct Opened {
    pub request: RequestRow,
    pub state: LinkState,
    /// The request's purposes, in the library's order.
    pub purposes: Vec<Purpose>,
    /// The project the consent would be for.
    pub project: Option<String>,
    /// The person's own confirmed faces in the photos concerned.
    pub faces: Vec<FaceId>,
    /// The last day of the longest period offered.
    pub until: NaiveDate,
}

/// Which secret a link carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Answer,
    Withdrawal,
}

/// The request behind a link; `None` for a secret no request has (guessed, mistyped, erased).
pub fn open(store: &Store, kind: LinkKind, secret: &str, now: DateTime<Utc>) -> Result<Option<Opened>> {
    // A secret is 64 hex digits: anything else is refused without a lookup.
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(request) = store.consent_request_by_secret(kind == LinkKind::Withdrawal, &secret_hash(secret))? else { return Ok(None) };
    let state = match (&request.answered_at, kind) {
        (_, LinkKind::Withdrawal) => LinkState::Open,
        (Some(at), LinkKind::Answer) => LinkState::Used(at[..10.min(at.len())].to_string()),
        (None, LinkKind::Answer) if request.expires_at <= now.format("%Y-%m-%dT%H:%M:%SZ").to_string() => LinkState::Expired(request.expires_at[..10].to_string()),
        (None, LinkKind::Answer) => LinkState::Open,
    };
    let purposes = store.purposes()?.into_iter().filter(|p| request.purposes.contains(&p.id)).collect();
    let project = match request.project {
        Some(id) => store.projects()?.into_iter().find(|p| p.id == id).map(|p| p.name),
        None => None,
    };
    let faces = store.own_faces(request.person, &request.photos)?.into_iter().map(|(f, _)| f).collect();
    let until = period_end(request.valid_from, request.months);
    Ok(Some(Opened { request, state, purposes, project, faces, until }))
}

/// What the person answered on the page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Answer {
    /// Purpose names ticked.
    pub agree: Vec<String>,
    /// The period chosen, in months.
    pub months: u32,
    /// The name typed.
    pub name: String,
    /// The confirmation box.
    pub confirmed: bool,
    /// "I do not agree to any of this".
    pub refuse_all: bool,
}

/// Why an answer or a withdrawal was not taken (shown to the person in their language).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    NeedName,
    NeedConfirm,
    /// The period is longer than offered (or zero).
    BadPeriod,
    /// A purpose that is not the request's.
    BadPurpose,
    NothingChosen,
    /// The link was used or has expired meanwhile.
    Closed,
}

/// What an answer or a withdrawal recorded.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub request: i64,
    pub agreed: Vec<String>,
    pub refused: Vec<String>,
    pub until: Option<NaiveDate>,
    /// The evidence snapshot's sha256.
    pub evidence: String,
    /// The withdrawal link's path (`/w/…`), after an answer.
    pub withdraw_path: Option<String>,
}

/// The person behind a link, as the audit trail names them.
fn link_actor(request: i64) -> Actor {
    Actor { name: format!("consent link (request {request})"), role: Role::Editor }
}

/// The purposes of `wanted` that are the request's, spelled as the library spells them; a
/// problem when any is not.
fn chosen(opened: &Opened, wanted: &[String]) -> std::result::Result<Vec<String>, Problem> {
    wanted
        .iter()
        .map(|w| opened.purposes.iter().find(|p| p.name.eq_ignore_ascii_case(w.trim())).map(|p| p.name.clone()).ok_or(Problem::BadPurpose))
        .collect()
}

/// Stores the snapshot of what was shown and answered as evidence; returns its sha256.
fn snapshot(library: &Library, opened: &Opened, what: &str, shown_html: &str, answer: &serde_json::Value, client: &str) -> Result<String> {
    let snap = serde_json::json!({
        "what": what,
        "request": opened.request.id,
        "link": if what == "answer" { "answer" } else { "withdrawal" },
        "at": crate::store::now_precise(),
        "client_ip": client,
        "language": opened.request.language,
        "offered": {
            "organisation": opened.request.organisation,
            "contact": opened.request.contact,
            "purposes": opened.purposes.iter().map(|p| serde_json::json!({"name": p.name, "words": plain_words(p)})).collect::<Vec<_>>(),
            "project": opened.project,
            "from": opened.request.valid_from,
            "months": opened.request.months,
            "faces_shown": opened.faces.iter().map(|f| f.0).collect::<Vec<_>>(),
        },
        "answer": answer,
        "page_shown": shown_html,
    });
    let bytes = serde_json::to_vec_pretty(&snap)?;
    crate::consent::store_evidence_bytes(&library.dir, &bytes, std::path::Path::new(&format!("{what}.json")))
}

/// Takes an answer through the answer link `secret`: consent records for what was agreed,
/// revocations for what was refused, the snapshot, and the link used up. `shown_html` is the
/// page as it was shown; `client` the address it came from. Run it holding the writer lock.
pub fn answer(library: &mut Library, secret: &str, a: &Answer, shown_html: &str, client: &str, today: NaiveDate) -> Result<std::result::Result<Recorded, Problem>> {
    let Some(opened) = open(&library.store, LinkKind::Answer, secret, Utc::now())? else {
        return Err(Error::lookup("unknown_link", "no such consent request".to_string()));
    };
    if opened.state != LinkState::Open {
        return Ok(Err(Problem::Closed));
    }
    let agreed = if a.refuse_all { Vec::new() } else {
        match chosen(&opened, &a.agree) {
            Ok(v) => v,
            Err(p) => return Ok(Err(p)),
        }
    };
    if !a.refuse_all {
        if agreed.is_empty() {
            return Ok(Err(Problem::NothingChosen));
        }
        if a.months == 0 || a.months > opened.request.months {
            return Ok(Err(Problem::BadPeriod));
        }
        if a.name.trim().is_empty() || a.name.chars().count() > 200 {
            return Ok(Err(Problem::NeedName));
        }
        if !a.confirmed {
            return Ok(Err(Problem::NeedConfirm));
        }
    }
    let refused: Vec<String> = opened.purposes.iter().map(|p| p.name.clone()).filter(|p| !agreed.contains(p)).collect();
    let from = opened.request.valid_from.max(today);
    let until = (!agreed.is_empty()).then(|| period_end(from, a.months));
    let answer = serde_json::json!({ "agreed": agreed, "refused": refused, "months": (!agreed.is_empty()).then_some(a.months), "until": until, "name": a.name.trim(), "confirmed": a.confirmed });
    let evidence = snapshot(library, &opened, "answer", shown_html, &answer, client)?;
    let id = opened.request.id;
    let actor = link_actor(id);
    let mut app = App::new(&actor, library, today);
    let person = opened.request.person;
    if !agreed.is_empty() {
        app.grant(&Grant {
            person: Some(person),
            purposes: agreed.clone(),
            from: Some(from),
            until,
            project: opened.project.clone(),
            stored_evidence: Some((evidence.clone(), "answer.json".into())),
            source: Some("web".into()),
            note: Some(format!("answered online (request {id})")),
            ..Grant::default()
        })?;
    }
    if !refused.is_empty() {
        app.revoke(person, &refused, Some(today), Some(&format!("refused online (request {id})")))?;
    }
    if !app.library.store.mark_request_answered(id, &evidence, &crate::store::now_iso())? {
        return Ok(Err(Problem::Closed));
    }
    let detail = format!("evidence sha256 {evidence}; agreed: {}; refused: {}", list_or_none(&agreed), list_or_none(&refused));
    app.audit("consent answer", &[format!("person:{}", person.0), format!("request:{id}")], "ok", Some(&detail))?;
    Ok(Ok(Recorded { request: id, agreed, refused, until, evidence, withdraw_path: Some(format!("/w/{}", withdraw_secret(secret))) }))
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() { "none".into() } else { v.join(",") }
}

/// Withdraws consent for `purposes` (of the request's) through the withdrawal link, from today.
pub fn withdraw(library: &mut Library, secret: &str, purposes: &[String], shown_html: &str, client: &str, today: NaiveDate) -> Result<std::result::Result<Recorded, Problem>> {
    let Some(opened) = open(&library.store, LinkKind::Withdrawal, secret, Utc::now())? else {
        return Err(Error::lookup("unknown_link", "no such consent request".to_string()));
    };
    let names = match chosen(&opened, purposes) {
        Ok(v) if v.is_empty() => return Ok(Err(Problem::NothingChosen)),
        Ok(v) => v,
        Err(p) => return Ok(Err(p)),
    };
    let answer = serde_json::json!({ "withdrawn": names });
    let evidence = snapshot(library, &opened, "withdrawal", shown_html, &answer, client)?;
    let id = opened.request.id;
    let actor = link_actor(id);
    let mut app = App::new(&actor, library, today);
    app.revoke(opened.request.person, &names, Some(today), Some(&format!("withdrawn online (request {id})")))?;
    app.library.store.mark_request_withdrawn(id, &evidence, &crate::store::now_iso())?;
    let detail = format!("evidence sha256 {evidence}; withdrawn: {}", names.join(","));
    app.audit("consent withdraw", &[format!("person:{}", opened.request.person.0), format!("request:{id}")], "ok", Some(&detail))?;
    Ok(Ok(Recorded { request: id, agreed: Vec::new(), refused: names, until: None, evidence, withdraw_path: None }))
}

/// The purposes of the request the person has consent for today (for the withdrawal page).
pub fn in_force(store: &Store, opened: &Opened, today: NaiveDate) -> Result<Vec<String>> {
    let grants = store.grants_for(opened.request.person)?;
    let revocations = store.revocations_for(opened.request.person)?;
    Ok(opened
        .purposes
        .iter()
        .filter(|p| crate::consent::rules::valid_grant(&grants, &revocations, &p.name, opened.project.as_deref(), today).is_ok())
        .map(|p| p.name.clone())
        .collect())
}

/// The crop of the person's own face `face`, others painted over, while the answer link is
/// open; `None` for a face that is not theirs in the photos concerned.
pub fn own_face(store: &Store, secret: &str, face: FaceId) -> Result<Option<Vec<u8>>> {
    match open(store, LinkKind::Answer, secret, Utc::now())? {
        Some(o) if o.state == LinkState::Open && o.faces.contains(&face) => crate::thumbs::own_face(store, face),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_the_day_before_the_same_date_months_later() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(period_end(d("2026-12-02"), 12), d("2027-12-01"));
        assert_eq!(period_end(d("2027-01-31"), 1), d("2027-02-27"));
    }

    #[test]
    fn a_withdrawal_secret_is_tied_to_its_answer_secret_and_reveals_nothing_of_it() {
        let (a, b) = (random_secret(), random_secret());
        assert_eq!(withdraw_secret(&a), withdraw_secret(&a));
        assert_ne!(withdraw_secret(&a), withdraw_secret(&b));
        assert!(!withdraw_secret(&a).contains(&a[..16]));
        assert_eq!(withdraw_secret(&a).len(), 64);
    }

    #[test]
    fn link_bases_must_be_web_addresses() {
        assert!(check_base("https://photos.example.org").is_ok());
        assert!(check_base("http://127.0.0.1:8080/").is_ok());
        for bad in ["photos.example.org", "https://", "ftp://x", "https://a b"] {
            assert!(check_base(bad).is_err(), "{bad}");
        }
    }
}
