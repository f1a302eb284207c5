//! Purposes, projects, consent records, the gate (`check`), gated export and
//! the usage log.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

use super::{subjects, App, Permission};
use crate::consent::{self, rules::valid_grant, ExportReport, Expiring, Use};
use crate::error::{Error, Result};
use crate::store::{ConsentRow, NewGrant, PersonId, PhotoId, Project, Purpose, RevocationRow, Store, Unconsented, Usage};

/// A consent to record.
#[derive(Clone, Debug, Default)]
pub struct Grant {
    pub person: Option<PersonId>,
    pub purposes: Vec<String>,
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub project: Option<String>,
    /// The signed form, stored under its sha256.
    pub evidence: Option<PathBuf>,
    /// Evidence stored already (its sha256 and name): the snapshot of a consent given online.
    pub stored_evidence: Option<(String, String)>,
    pub source: Option<String>,
    pub note: Option<String>,
}

/// The consent records written by a grant.
#[derive(Serialize)]
pub struct Granted {
    pub consents: Vec<i64>,
}

/// A consent record as listed, with its state today.
#[derive(Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub record: ConsentRow,
    /// Whether this record is in force today.
    pub valid: bool,
    /// "valid", or why not, today.
    pub status: String,
}

/// Consent records and revocations, as `facegate consent list --json` prints them and the API
/// answers.
#[derive(Serialize)]
pub struct ConsentList {
    /// The day each record's state is judged on.
    pub today: NaiveDate,
    pub consents: Vec<Listed>,
    pub revocations: Vec<RevocationRow>,
}

/// Where a consent came from, as the database allows.
pub const SOURCES: [&str; 4] = ["paper", "email", "web", "other"];

impl App<'_> {
    pub fn add_purpose(&mut self, name: &str, description: Option<&str>) -> Result<i64> {
        self.require(Permission::Administer, "purpose add", &[])?;
        if name.trim().is_empty() {
            return Err(Error::Invalid("a purpose needs a name".into()));
        }
        if let Some(same) = self.store().purposes()?.into_iter().find(|p| p.name.to_lowercase() == name.to_lowercase()) {
            return Err(Error::Invalid(format!("purpose {:?} exists already (names are not case-sensitive)", same.name)));
        }
        let id = self.library.store.add_purpose(name, description)?;
        self.audit("purpose add", &[format!("purpose:{id}")], "ok", Some(name))?;
        Ok(id)
    }

    pub fn purposes(&mut self) -> Result<Vec<Purpose>> {
        self.require(Permission::View, "purpose list", &[])?;
        self.store().purposes()
    }

    pub fn add_project(&mut self, name: &str, until: Option<NaiveDate>) -> Result<i64> {
        self.require(Permission::Administer, "project add", &[])?;
        if name.trim().is_empty() {
            return Err(Error::Invalid("a project needs a name".into()));
        }
        let id = self.library.store.add_project(name, until)?;
        self.audit("project add", &[format!("project:{id}")], "ok", Some(name))?;
        Ok(id)
    }

    pub fn projects(&mut self) -> Result<Vec<Project>> {
        self.require(Permission::View, "project list", &[])?;
        self.store().projects()
    }

    /// The purposes as the library spells them, and their ids.
    pub(super) fn purpose_ids(&self, given: &[String]) -> Result<(Vec<String>, Vec<i64>)> {
        let names = given.iter().map(|p| self.purpose_name(p)).collect::<Result<Vec<_>>>()?;
        let ids = names.iter().map(|p| self.store().purpose_id(p)).collect::<Result<Vec<_>>>()?;
        Ok((names, ids))
    }

    /// What a use is, with the purpose spelled as the library spells it.
    pub fn use_for(&self, purpose: &str, project: Option<&str>, on: Option<NaiveDate>, min_face_px: f32) -> Result<Use> {
        Ok(Use { purpose: self.purpose_name(purpose)?, project: project.map(str::to_string), on: on.unwrap_or(self.today), min_face_px })
    }

    /// Records a consent (one record per purpose). Everything is checked before the evidence is
    /// stored and the records written.
    pub fn grant(&mut self, g: &Grant) -> Result<Granted> {
        let person = g.person.ok_or_else(|| Error::Invalid("a consent needs a person".into()))?;
        let subject = [format!("person:{}", person.0)];
        self.require(Permission::RecordConsent, "consent grant", &subject)?;
        let p = self.store().person(person)?;
        let (purposes, purpose_ids) = self.purpose_ids(&g.purposes)?;
        if purposes.is_empty() {
            return Err(Error::Invalid("a consent needs at least one purpose".into()));
        }
        let project_id = g.project.as_deref().map(|p| self.store().project_id(p)).transpose()?;
        let from = g.from.unwrap_or(self.today);
        if let Some(source) = g.source.as_deref().filter(|s| !SOURCES.contains(s)) {
            return Err(Error::Invalid(format!("unknown source {source:?} (one of {})", SOURCES.join(", "))));
        }
        if let Some(until) = g.until.filter(|u| *u < from) {
            return Err(Error::Invalid(format!("--until {until} is before --from {from}")));
        }
        let evidence = g.evidence.as_deref().map(|f| consent::store_evidence(&self.library.dir, f)).transpose()?.or(g.stored_evidence.clone());
        if let Some(project) = &g.project {
            let until_project = self.store().projects()?.into_iter().find(|p| &p.name == project).and_then(|p| p.until);
            if let Some(end) = consent::rules::runs_past_project(g.until, until_project) {
                let own = g.until.map_or("has no end".to_string(), |u| format!("runs until {u}"));
                self.warnings.push(format!("the consent {own}, past the end of project {project} ({end}); it ends with the project on {end}"));
            }
        }
        self.warn_if_unconfirmed(&p);
        let grant = NewGrant {
            person,
            purposes: purpose_ids,
            project: project_id,
            from,
            until: g.until,
            source: g.source.clone(),
            note: g.note.clone(),
            evidence,
        };
        let ids = self.library.store.grant(&grant, &self.actor.name)?;
        let all = [subject.to_vec(), subjects("consent", ids.iter().copied())].concat();
        let detail = format!("purposes {} from {from} until {}", purposes.join(","), g.until.map_or("no expiry".into(), |u| u.to_string()));
        self.audit("consent grant", &all, "ok", Some(&detail))?;
        Ok(Granted { consents: ids })
    }

    /// Withdraws consent from `effective` (today when not given) for some purposes, or all
    /// when `purposes` is empty. Returns the revocation ids and what was revoked, in words.
    pub fn revoke(&mut self, person: PersonId, purposes: &[String], effective: Option<NaiveDate>, note: Option<&str>) -> Result<(Vec<i64>, String)> {
        let subject = [format!("person:{}", person.0)];
        self.require(Permission::RecordConsent, "consent revoke", &subject)?;
        self.store().person(person)?;
        let (purposes, purpose_ids) = self.purpose_ids(purposes)?;
        let effective = effective.unwrap_or(self.today);
        let scope = (!purposes.is_empty()).then_some(purpose_ids.as_slice());
        let ids = self.library.store.revoke(person, scope, effective, note, &self.actor.name)?;
        let what = if purposes.is_empty() { "all purposes".to_string() } else { purposes.join(",") };
        let words = format!("{what} from {effective}");
        self.audit("consent revoke", &subject, "ok", Some(&words))?;
        Ok((ids, words))
    }

    /// Consent records (of a person, for a purpose) with their state today, and revocations.
    pub fn consents(&mut self, person: Option<PersonId>, purpose: Option<&str>) -> Result<ConsentList> {
        let subject: Vec<String> = person.map(|p| format!("person:{}", p.0)).into_iter().collect();
        self.require(Permission::View, "consent list", &subject)?;
        let purpose_id = purpose.map(|p| self.purpose_name(p).and_then(|p| self.store().purpose_id(&p))).transpose()?;
        let store = self.store();
        let listed = store.consent_rows(person, purpose_id)?.into_iter().map(|record| listed(store, record, self.today)).collect::<Result<_>>()?;
        let revocations = store.revocation_rows(person)?;
        Ok(ConsentList { today: self.today, consents: listed, revocations })
    }

    /// Consents that end within `days`, with the photos each will block.
    pub fn expiring(&mut self, days: i64) -> Result<Vec<Expiring>> {
        self.require(Permission::View, "consent expiring", &[])?;
        consent::expiring(self.store(), self.today, days)
    }

    /// The library's photos under any of `roots` (paths as given).
    pub fn photos_under(&self, roots: &[PathBuf]) -> Result<Vec<PhotoId>> {
        let roots = roots.iter().map(|p| p.canonicalize().map(|c| crate::paths::key(&c)).map_err(|e| Error::io(p, e))).collect::<Result<Vec<_>>>()?;
        let all = self.store().photo_paths()?;
        Ok(all.into_iter().filter(|(_, path)| roots.iter().any(|r| crate::pipeline::scan::is_under(path, r))).map(|(id, _)| id).collect())
    }

    /// The photos with a confirmed face of the person.
    pub fn confirmed_photos(&self, person: PersonId) -> Result<Vec<PhotoId>> {
        self.store().person(person)?;
        self.store().confirmed_photos(person)
    }

    /// Copies the allowed photos to `dest` with a manifest, records each use, withholds the rest.
    pub fn export(&mut self, photos: &[PhotoId], using: &Use, dest: &Path, link: bool) -> Result<ExportReport> {
        self.require(Permission::RecordConsent, "export", &[])?;
        let report = consent::export(&mut self.library.store, photos, using, dest, link, &self.actor.name)?;
        let exported = subjects("photo", report.exported.iter().map(|e| e.photo_id.0));
        let outcome = format!("{} exported, {} withheld", report.exported.len(), report.withheld.len());
        self.audit("export", &exported, &outcome, Some(&using.purpose))?;
        Ok(report)
    }

    /// Recorded uses (exports) of a person's photos, of one photo, or of all.
    pub fn usage(&mut self, person: Option<PersonId>, photo: Option<&Path>) -> Result<Vec<Usage>> {
        self.require(Permission::ReadAudit, "usage", &[])?;
        let photo_id = match photo {
            Some(p) => {
                let key = crate::paths::key(&p.canonicalize().map_err(|e| Error::io(p, e))?);
                Some(self.store().gate_photo(&key)?.ok_or_else(|| Error::Invalid(format!("{key} is not in the library")))?.id)
            }
            None => None,
        };
        let rows = self.store().usage(person, photo_id)?;
        let subject = person.map(|p| vec![format!("person:{}", p.0)]).or(photo_id.map(|p| vec![format!("photo:{}", p.0)])).unwrap_or_default();
        self.audit_read("usage", &subject, &format!("{} uses", rows.len()));
        Ok(rows)
    }
}

/// A consent record with its state on `today`, judged on its own (not whether another record
/// covers the same purpose).
fn listed(store: &Store, record: ConsentRow, today: NaiveDate) -> Result<Listed> {
    let grants = store.grants_for(record.person)?;
    let revocations = store.revocations_for(record.person)?;
    let single: Vec<_> = grants.into_iter().filter(|g| g.id == record.id).collect();
    let status = valid_grant(&single, &revocations, &record.purpose, record.project.as_deref(), today);
    Ok(Listed { valid: status.is_ok(), status: status.err().map_or("valid".into(), |r| r.to_string()), record })
}

/// A consent that ends soon, with the photos it will block (id and path).
#[derive(Serialize)]
pub struct ExpiringSoon {
    #[serde(flatten)]
    pub expiring: Expiring,
    pub photo_ids: Vec<PhotoId>,
}

/// A grant scoped to a project that says it runs longer than the project (or has no end): it
/// ends with the project.
#[derive(Serialize)]
pub struct PastProject {
    #[serde(flatten)]
    pub listed: Listed,
    pub project_until: NaiveDate,
}

/// Some of a list, and how many there are in all.
#[derive(Serialize)]
pub struct Capped<T> {
    pub items: Vec<T>,
    pub total: usize,
}

/// The consent dashboard.
#[derive(Serialize)]
pub struct Dashboard {
    pub today: NaiveDate,
    pub within: i64,
    pub expiring: Capped<ExpiringSoon>,
    pub past_project: Capped<PastProject>,
    pub unconsented: Capped<Unconsented>,
}

/// The stored evidence of a consent record: its bytes and the name it was stored under
/// (`SHA256.EXT`).
pub struct Evidence {
    pub consent: i64,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl App<'_> {
    /// Grants that run past the end of their project, for projects that end today or later
    /// (at most `limit`, project end first), with their state today.
    pub fn past_project_end(&mut self, limit: usize) -> Result<Capped<PastProject>> {
        self.require(Permission::View, "consent past project", &[])?;
        let store = self.store();
        let ends: std::collections::HashMap<String, Option<NaiveDate>> = store.projects()?.into_iter().map(|p| (p.name, p.until)).collect();
        let mut found = Vec::new();
        for record in store.consent_rows_of_projects_ending_from(self.today)? {
            let project_until = record.project.as_ref().and_then(|p| ends.get(p).copied().flatten());
            if let Some(end) = consent::rules::runs_past_project(record.valid_until, project_until) {
                found.push((record, end));
            }
        }
        found.sort_by_key(|(r, end)| (*end, r.id));
        let total = found.len();
        let items = found.into_iter().take(limit).map(|(r, end)| Ok(PastProject { listed: listed(store, r, self.today)?, project_until: end })).collect::<Result<_>>()?;
        Ok(Capped { items, total })
    }

    /// Persons shown in photos (a confirmed face) with no consent record in force today, most
    /// photos first: `limit` of them from `offset`, and how many in all.
    pub fn unconsented(&mut self, offset: usize, limit: usize) -> Result<Capped<Unconsented>> {
        self.require(Permission::View, "consent missing", &[])?;
        let (items, total) = self.store().unconsented_persons(self.today, offset, limit)?;
        Ok(Capped { items, total })
    }

    /// Consents ending within `within` days (the first `limit`, soonest first) with the photos
    /// each will block, grants that outlast their project, and persons in photos without consent
    /// (`limit` of them from `offset`).
    pub fn consent_dashboard(&mut self, within: i64, limit: usize, offset: usize) -> Result<Dashboard> {
        if !(0..=3660).contains(&within) {
            return Err(Error::Invalid(format!("within: {within} days is not between 0 and 3660")));
        }
        let mut expiring = self.expiring(within)?;
        expiring.sort_by_key(|e| (e.ends, e.consent.id));
        let total = expiring.len();
        let store = self.store();
        let mut items = Vec::new();
        for e in expiring.into_iter().take(limit) {
            let photo_ids = e.photos.iter().map(|p| store.gate_photo(p).map(|g| g.map(|g| g.id))).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect();
            items.push(ExpiringSoon { expiring: e, photo_ids });
        }
        let past_project = self.past_project_end(limit)?;
        let unconsented = self.unconsented(offset, limit)?;
        Ok(Dashboard { today: self.today, within, expiring: Capped { items, total }, past_project, unconsented })
    }

    /// The signed form stored with consent record `id` (editors and up: it holds more personal
    /// data than the record itself, a signature and contact details). The read is audited.
    pub fn consent_evidence(&mut self, id: i64) -> Result<Evidence> {
        let subject = [format!("consent:{id}")];
        self.require(Permission::RecordConsent, "consent evidence", &subject)?;
        let record = self.store().consent_row(id)?.ok_or_else(|| Error::lookup("unknown_consent", format!("no consent record {id}")))?;
        let sha = record.evidence_sha256.ok_or_else(|| Error::lookup("no_evidence", format!("consent record {id} has no evidence")))?;
        let file = consent::evidence_files(&self.library.dir, &sha).into_iter().next();
        let file = file.ok_or_else(|| Error::lookup("no_evidence", format!("the evidence of consent record {id} ({sha}) is not in the library's evidence folder")))?;
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.audit_read("consent evidence", &[format!("person:{}", record.person.0), subject[0].clone()], "ok");
        Ok(Evidence { consent: id, file_name, bytes })
    }
}
