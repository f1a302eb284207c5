//! The validity rules, as plain functions over consent records: is a person's consent for a
//! purpose (and project) valid on a date, and if not, why. Dates are inclusive at both ends.

use chrono::NaiveDate;
use serde::Serialize;

/// A consent record as the rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub id: i64,
    pub purpose: String,
    pub project: Option<String>,
    /// End date of the grant's project, if it has one.
    pub project_until: Option<NaiveDate>,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    /// When the grant was recorded (RFC 3339); a revocation cancels grants recorded before it.
    pub recorded_at: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Revocation {
    /// `None`: every purpose.
    pub purpose: Option<String>,
    pub effective: NaiveDate,
    pub recorded_at: String,
}

/// Why a face (and so its photo) may not be used.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    NoConsent,
    NotYetValid { from: NaiveDate },
    Expired { until: NaiveDate },
    Revoked { on: NaiveDate },
    OtherProject { project: String },
    ProjectEnded { until: NaiveDate },
    FaceNotIdentified,
    PossibleFace,
    IdentityOnlySuggested { person: i64, similarity: Option<f32> },
    PersonErased,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoConsent => write!(f, "no consent for the purpose"),
            Refusal::NotYetValid { from } => write!(f, "consent not yet valid (from {from})"),
            Refusal::Expired { until } => write!(f, "consent expired on {until}"),
            Refusal::Revoked { on } => write!(f, "consent revoked as of {on}"),
            Refusal::OtherProject { project } => write!(f, "consent only for project {project}"),
            Refusal::ProjectEnded { until } => write!(f, "the consent's project ended on {until}"),
            Refusal::FaceNotIdentified => write!(f, "face not identified"),
            Refusal::PossibleFace => write!(f, "possible face, not reviewed"),
            Refusal::IdentityOnlySuggested { person, similarity } => match similarity {
                Some(s) => write!(f, "identity only suggested (person {person}, similarity {s:.3}), not confirmed"),
                None => write!(f, "identity only suggested (person {person}), not confirmed"),
            },
            Refusal::PersonErased => write!(f, "person erased"),
        }
    }
}

/// A grant's last valid day: its own end or its project's, whichever comes first (`None`: no end).
pub fn last_day(g: &Grant) -> Option<NaiveDate> {
    match (g.until, g.project_until) {
        (Some(u), Some(p)) => Some(u.min(p)),
        (u, p) => u.or(p),
    }
}

/// The project's end, when a grant scoped to it would run past it (its own end later, or none):
/// the grant then ends with the project, which deserves a warning.
pub fn runs_past_project(until: Option<NaiveDate>, project_until: Option<NaiveDate>) -> Option<NaiveDate> {
    project_until.filter(|p| until.is_none_or(|u| u > *p))
}

/// The grant that makes the person's consent for `purpose` valid on `on` (for `project`, when
/// the use is for one), or the reason there is none. A grant scoped to a project counts only
/// for that project; an unscoped grant counts for every use.
pub fn valid_grant(
    grants: &[Grant],
    revocations: &[Revocation],
    purpose: &str,
    project: Option<&str>,
    on: NaiveDate,
) -> Result<i64, Refusal> {
    let mut refusals = Vec::new();
    for g in grants.iter().filter(|g| g.purpose == purpose) {
        let revoked = revocations
            .iter()
            .filter(|r| r.purpose.as_deref().is_none_or(|p| p == purpose))
            .filter(|r| r.effective <= on && g.recorded_at.as_str() <= r.recorded_at.as_str())
            .map(|r| r.effective)
            .min();
        let refusal = if let Some(on) = revoked {
            Some(Refusal::Revoked { on })
        } else if g.from > on {
            Some(Refusal::NotYetValid { from: g.from })
        } else if let Some(until) = g.until.filter(|u| *u < on) {
            Some(Refusal::Expired { until })
        } else if let Some(p) = g.project.as_deref().filter(|p| Some(*p) != project) {
            Some(Refusal::OtherProject { project: p.to_string() })
        } else {
            g.project_until.filter(|u| *u < on).map(|until| Refusal::ProjectEnded { until })
        };
        match refusal {
            None => return Ok(g.id),
            Some(r) => refusals.push(r),
        }
    }
    // The most telling reason: revocation, then expiry, then the rest.
    let rank = |r: &Refusal| match r {
        Refusal::Revoked { .. } => 0,
        Refusal::Expired { .. } => 1,
        Refusal::ProjectEnded { .. } => 2,
        Refusal::NotYetValid { .. } => 3,
        Refusal::OtherProject { .. } => 4,
        _ => 5,
    };
    Err(refusals.into_iter().min_by_key(rank).unwrap_or(Refusal::NoConsent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn grant(id: i64, purpose: &str, from: &str, until: Option<&str>) -> Grant {
        Grant {
            id,
            purpose: purpose.into(),
            project: None,
            project_until: None,
            from: d(from),
            until: until.map(d),
            recorded_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn revoke(purpose: Option<&str>, effective: &str, recorded_at: &str) -> Revocation {
        Revocation { purpose: purpose.map(String::from), effective: d(effective), recorded_at: recorded_at.into() }
    }

    #[test]
    fn from_and_until_are_inclusive() {
        let g = [grant(1, "print", "2026-03-01", Some("2026-03-31"))];
        assert_eq!(valid_grant(&g, &[], "print", None, d("2026-02-28")), Err(Refusal::NotYetValid { from: d("2026-03-01") }));
        assert_eq!(valid_grant(&g, &[], "print", None, d("2026-03-01")), Ok(1));
        assert_eq!(valid_grant(&g, &[], "print", None, d("2026-03-31")), Ok(1));
        assert_eq!(valid_grant(&g, &[], "print", None, d("2026-04-01")), Err(Refusal::Expired { until: d("2026-03-31") }));
        assert_eq!(valid_grant(&g, &[], "social-media", None, d("2026-03-15")), Err(Refusal::NoConsent));
        let open = [grant(2, "print", "2020-01-01", None)];
        assert_eq!(valid_grant(&open, &[], "print", None, d("2099-12-31")), Ok(2));
    }

    #[test]
    fn revoking_one_purpose_leaves_the_others_and_revoking_all_stops_all() {
        let g = [grant(1, "print", "2026-01-01", None), grant(2, "intranet", "2026-01-01", None)];
        let one = [revoke(Some("print"), "2026-06-01", "2026-05-20T10:00:00Z")];
        assert_eq!(valid_grant(&g, &one, "print", None, d("2026-05-31")), Ok(1), "not yet effective");
        assert_eq!(valid_grant(&g, &one, "print", None, d("2026-06-01")), Err(Refusal::Revoked { on: d("2026-06-01") }));
        assert_eq!(valid_grant(&g, &one, "intranet", None, d("2026-07-01")), Ok(2));
        let all = [revoke(None, "2026-06-01", "2026-05-20T10:00:00Z")];
        assert!(valid_grant(&g, &all, "intranet", None, d("2026-07-01")).is_err());
    }

    #[test]
    fn a_grant_recorded_after_a_revocation_is_valid_again() {
        let mut renewed = grant(3, "print", "2026-08-01", None);
        renewed.recorded_at = "2026-07-30T09:00:00Z".into();
        let g = [grant(1, "print", "2026-01-01", None), renewed];
        let r = [revoke(None, "2026-06-01", "2026-05-20T10:00:00Z")];
        assert_eq!(valid_grant(&g, &r, "print", None, d("2026-07-01")), Err(Refusal::Revoked { on: d("2026-06-01") }));
        assert_eq!(valid_grant(&g, &r, "print", None, d("2026-08-01")), Ok(3));
    }

    #[test]
    fn project_scope_and_project_end() {
        let mut g = grant(1, "print", "2026-01-01", None);
        g.project = Some("summer".into());
        g.project_until = Some(d("2026-09-30"));
        let g = [g];
        assert_eq!(valid_grant(&g, &[], "print", Some("summer"), d("2026-07-01")), Ok(1));
        assert_eq!(valid_grant(&g, &[], "print", None, d("2026-07-01")), Err(Refusal::OtherProject { project: "summer".into() }));
        assert_eq!(valid_grant(&g, &[], "print", Some("winter"), d("2026-07-01")), Err(Refusal::OtherProject { project: "summer".into() }));
        assert_eq!(valid_grant(&g, &[], "print", Some("summer"), d("2026-10-01")), Err(Refusal::ProjectEnded { until: d("2026-09-30") }));
        // An unscoped grant covers any project.
        let open = [grant(2, "print", "2026-01-01", None)];
        assert_eq!(valid_grant(&open, &[], "print", Some("summer"), d("2026-07-01")), Ok(2));
    }

    #[test]
    fn the_most_telling_reason_wins() {
        let g = [grant(1, "print", "2025-01-01", Some("2025-12-31")), grant(2, "print", "2027-01-01", None)];
        assert_eq!(valid_grant(&g, &[], "print", None, d("2026-06-01")), Err(Refusal::Expired { until: d("2025-12-31") }));
    }
}
