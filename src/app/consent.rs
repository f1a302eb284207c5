//! Purposes, projects, consent records, the gate (`check`), gated export and
//! the usage log.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

use super::{subjects, App, Permission};
use crate::consent::{self, rules::valid_grant, ExportReport, Expiring, Use};
use crate::error::{Error, Result};
use crate::store::{ConsentRow, NewGrant, PersonId, PhotoId, Project, Purpose, RevocationRow, Usage};

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

impl App<'_> {
    pub fn add_purpose(&mut self, name: &str, description: Option<&str>) -> Result<i64> {
        self.require(Permission::Administer, "purpose add", &[])?;
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
        let mut listed = Vec::new();
        for record in store.consent_rows(person, purpose_id)? {
            let grants = store.grants_for(record.person)?;
            let revocations = store.revocations_for(record.person)?;
            let single: Vec<_> = grants.into_iter().filter(|g| g.id == record.id).collect();
            let status = valid_grant(&single, &revocations, &record.purpose, record.project.as_deref(), self.today);
            listed.push(Listed { valid: status.is_ok(), status: status.err().map_or("valid".into(), |r| r.to_string()), record });
        }
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
