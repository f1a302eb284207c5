//! The data subject's rights and the trail: access reports, erasure (plan, execute, resume) and
//! reading the audit trail.

use std::path::Path;

use super::{App, Permission};
use crate::error::{Error, Result};
use crate::gdpr::erase::{self, Options, Plan, Report};
use crate::gdpr::report::{self, Format, Notice, ReportSummary};
use crate::query::{self, Method, PersonPhoto, PersonPhotos};
use crate::store::{AuditEntry, AuditQuery, FaceId, PersonId, Verification};
use crate::vision::Manifest;

/// How far below the match threshold a face still counts as a near miss in the erasure review:
/// not this person by the model's judgement, but close enough for a human to look.
pub const NEAR_MISS_MARGIN: f32 = 0.05;
/// Near misses shown at most, the closest first.
pub const MAX_NEAR_MISSES: usize = 60;

/// What the erasure wizard shows before anything is erased: the person's photos as erasure
/// finds them (confirmed and suggested), the near misses below the threshold, and the plan
/// (every candidate photo with what would happen to its file, and every recorded use).
pub struct ErasureReview {
    pub found: PersonPhotos,
    pub near_misses: Vec<PersonPhoto>,
    pub plan: Plan,
}

impl App<'_> {
    /// Writes the person's access report (Art. 15) to `out`.
    pub fn access_report(&mut self, person: PersonId, format: Format, out: &Path, notice: &Notice) -> Result<ReportSummary> {
        let subject = [format!("person:{}", person.0)];
        self.require(Permission::Erase, "report access", &subject)?;
        let summary = report::access_report(self.library, person, format, out, self.today, notice)?;
        self.audit("report access", &subject, "ok", Some(&format!("{format:?}")))?;
        Ok(summary)
    }

    /// The person's access report as bytes, for a download; audited like a written one.
    pub fn access_report_bytes(&mut self, person: PersonId, format: Format, notice: &Notice) -> Result<(Vec<u8>, ReportSummary)> {
        let subject = [format!("person:{}", person.0)];
        self.require(Permission::Erase, "report access", &subject)?;
        let made = report::render(self.library, person, format, self.today, notice)?;
        self.audit("report access", &subject, "ok", Some(&format!("{format:?}, downloaded")))?;
        Ok(made)
    }

    /// What erasing `opts.person` would do: every photo, and every recorded use of them. A
    /// person erased already is named with the erasure that did it.
    pub fn erase_plan(&mut self, manifest: &Manifest, opts: &mut Options) -> Result<Plan> {
        let subject = [format!("person:{}", opts.person.0)];
        self.require(Permission::Erase, "erase", &subject)?;
        opts.actor = self.actor.name.clone();
        if let Err(e) = self.store().person(opts.person) {
            // Already erased (perhaps by a run that was interrupted and finished since): say by which.
            let done = self.store().audit_log(Some(&subject[0]), None)?.into_iter().rev().find(|a| a.command == "erase");
            if let Some(erasure) = done.and_then(|a| a.subjects.into_iter().find(|s| s.starts_with("erasure:"))) {
                let id = erasure.trim_start_matches("erasure:");
                return Err(Error::Invalid(format!(
                    "person {} was erased by erasure {id} (certificate erasure-{id}.txt in {})",
                    opts.person.0,
                    opts.certificate_dir.display()
                )));
            }
            return Err(e);
        }
        erase::plan(self.library, manifest, opts)
    }

    /// The erasure review of `opts.person` (the plan as if the suggestions were confirmed; the
    /// erasure itself waits until they are decided or included). Audited as a read.
    pub fn erasure_review(&mut self, manifest: &Manifest, opts: &mut Options) -> Result<ErasureReview> {
        let mut wide = opts.clone();
        wide.include_suggestions = true;
        let plan = self.erase_plan(manifest, &mut wide)?;
        let found = query::person_review(self.library, manifest, opts.person)?;
        let low = manifest.embedder.match_threshold - NEAR_MISS_MARGIN;
        let listed: std::collections::HashSet<FaceId> = found.confirmed.iter().chain(&found.suggestions).map(|p| p.face_id).collect();
        let mut near_misses: Vec<PersonPhoto> = query::person_photos(self.library, manifest, opts.person, low, Method::Exact)?
            .suggestions
            .into_iter()
            .filter(|p| !listed.contains(&p.face_id))
            .collect();
        near_misses.sort_by(|a, b| b.similarity.unwrap_or(0.0).total_cmp(&a.similarity.unwrap_or(0.0)));
        near_misses.truncate(MAX_NEAR_MISSES);
        let detail = format!("{} photos, {} suggested, {} near misses", plan.photos.len(), found.suggestions.len(), near_misses.len());
        self.audit_read("erase review", &[format!("person:{}", opts.person.0)], &detail);
        Ok(ErasureReview { found, near_misses, plan })
    }

    /// Records that a plan was looked at without erasing (`erase --dry-run`).
    pub fn erase_previewed(&mut self, plan: &Plan, person: PersonId) {
        self.audit_read("erase --dry-run", &[format!("person:{}", person.0)], &format!("{} photos", plan.photos.len()));
    }

    /// Erases as planned; the job audits itself and writes the certificate.
    pub fn erase(&mut self, manifest: &Manifest, plan: &Plan, opts: &Options) -> Result<Report> {
        self.require(Permission::Erase, "erase", &[format!("person:{}", opts.person.0)])?;
        let mut opts = opts.clone();
        opts.actor = self.actor.name.clone();
        // Cached crops and previews are copies of the person's face: gone before the rows go
        // (a failed erasure only loses a cache), and again after, for any made meanwhile.
        let (faces, photos): (Vec<_>, Vec<_>) = (plan.face_ids(), plan.photos.iter().map(|p| p.photo_id).collect());
        crate::thumbs::forget(&self.library.dir, &faces, &photos)?;
        let report = erase::execute(self.library, manifest, plan, &opts)?;
        crate::thumbs::forget(&self.library.dir, &faces, &photos)?;
        Ok(report)
    }

    /// The certificate of erasure `id` from `dir`: its text and its JSON.
    pub fn erasure_certificate(&mut self, id: i64, dir: &Path) -> Result<(String, String)> {
        self.require(Permission::Erase, "erase certificate", &[format!("erasure:{id}")])?;
        let read = |ext: &str| {
            let path = dir.join(format!("erasure-{id}.{ext}"));
            std::fs::read_to_string(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::lookup("unknown_erasure", format!("no certificate of erasure {id} in {}", dir.display())),
                _ => Error::io(&path, e),
            })
        };
        Ok((read("txt")?, read("json")?))
    }

    /// Finishes every erasure a crash interrupted.
    pub fn resume_erasures(&mut self) -> Result<Vec<Report>> {
        self.require(Permission::Erase, "erase --resume", &[])?;
        erase::finish_pending(self.library)
    }

    /// The audit trail, of one person or from a time.
    pub fn audit_log(&mut self, person: Option<PersonId>, since: Option<&str>) -> Result<Vec<AuditEntry>> {
        self.require(Permission::ReadAudit, "audit log", &[])?;
        let subject = person.map(|p| format!("person:{}", p.0));
        self.store().audit_log(subject.as_deref(), since)
    }

    /// One page of the trail, newest first (the audit page), and whether there are older entries.
    pub fn audit_page(&mut self, user: Option<&str>, person: Option<PersonId>, since: Option<&str>, offset: usize, limit: usize) -> Result<(Vec<AuditEntry>, bool)> {
        self.require(Permission::ReadAudit, "audit log", &[])?;
        let subject = person.map(|p| format!("person:{}", p.0));
        self.store().audit_page(&AuditQuery { actor: user, subject: subject.as_deref(), since }, offset, limit)
    }

    pub fn audit_verify(&mut self) -> Result<Verification> {
        self.require(Permission::ReadAudit, "audit verify", &[])?;
        self.store().audit_verify()
    }
}
