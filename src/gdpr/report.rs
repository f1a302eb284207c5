//! `facegate report access PERSON`: everything the library holds about a person.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::library::Library;
use crate::store::PersonId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Json,
    Csv,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct ReportSummary {
    pub person: PersonId,
    pub photos: usize,
    pub consents: usize,
    pub uses: usize,
    pub audit_entries: usize,
    pub out: String,
}

/// Writes the access report for `person` to `out`.
pub fn access_report(_library: &Library, person: PersonId, _format: Format, out: &Path) -> Result<ReportSummary> {
    Err(crate::Error::Invalid(format!("access report for person {} to {} is not written yet", person.0, out.display())))
}
