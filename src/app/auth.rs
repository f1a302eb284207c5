//! Who is acting and what their role lets them do. The roles nest: each one may do everything
//! the one before it may, and more. Downloading original photos is a permission of its own,
//! granted per role (the default: editors and up).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Store;

/// A user's role, from least to most trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees photos and persons, searches.
    Viewer,
    /// Also names, confirms, merges and moves faces, and records consent.
    Editor,
    /// Also erases, writes access reports and reads the audit trail.
    Dpo,
    /// Also manages users and purposes.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Dpo => "dpo",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Editor, Role::Dpo, Role::Admin].into_iter().find(|r| r.as_str() == s.trim().to_lowercase())
    }

    /// Whether this role may do `p`.
    pub fn allows(self, p: Permission) -> bool {
        self >= p.least_role()
    }
}

/// What an action needs. Each maps to the least role that has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See persons, faces, photos (as thumbnails), gate answers; search.
    View,
    /// Download or view an original photo at full size.
    Download,
    /// Name, confirm, reject, merge, split and move faces; add and dismiss faces; cluster.
    EditPersons,
    /// Record consent: grants, revocations, evidence, requests; export gated photos.
    RecordConsent,
    /// Erase a person, write access reports.
    Erase,
    /// Read and verify the audit trail, the usage log.
    ReadAudit,
    /// Add purposes and projects; manage users and tokens; index.
    Administer,
}

impl Permission {
    pub fn least_role(self) -> Role {
        match self {
            Permission::View => Role::Viewer,
            Permission::Download | Permission::EditPersons | Permission::RecordConsent => Role::Editor,
            Permission::Erase | Permission::ReadAudit => Role::Dpo,
            Permission::Administer => Role::Admin,
        }
    }
}

/// The acting user: the name recorded in the audit trail, and their role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// Whoever runs the command line on the library's own files: they could change the database
    /// by hand anyway, so they act as an admin under their OS (or `--actor`) name.
    pub fn owner(name: impl Into<String>) -> Actor {
        Actor { name: name.into(), role: Role::Admin }
    }

    pub fn may(&self, p: Permission) -> bool {
        self.role.allows(p)
    }

    /// Ok when the role allows `p`; otherwise the refusal is audited under `action` and the
    /// error says what was refused and which role it needs.
    pub fn require(&self, store: &mut Store, p: Permission, action: &str, subjects: &[String]) -> Result<()> {
        if self.may(p) {
            return Ok(());
        }
        let detail = format!("role {} may not {action} (needs {})", self.role.as_str(), p.least_role().as_str());
        store.audit(&self.name, action, subjects, "denied", Some(&detail))?;
        Err(Error::Denied(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Viewer.allows(Permission::View));
        assert!(!Role::Viewer.allows(Permission::EditPersons));
        assert!(!Role::Viewer.allows(Permission::Download));
        assert!(Role::Editor.allows(Permission::RecordConsent));
        assert!(!Role::Editor.allows(Permission::Erase));
        assert!(!Role::Dpo.allows(Permission::Administer));
        assert!(Role::Admin.allows(Permission::Erase));
        assert_eq!(Role::parse(" DPO "), Some(Role::Dpo));
        assert_eq!(Role::parse("root"), None);
    }
}
