//! The application layer: what a user *does* (name a person, confirm faces, grant consent, check,
//! export, erase, report, read the audit trail), one method per use case on [`App`], shared by
//! the command line (`cli/`) and the server (`web/`). Each method checks the acting user's role,
//! does the work through the store, the index and the domain modules, and writes the audit entry
//! itself. The front ends only parse input and render output, so they cannot drift apart.
//!
//! A refusal is audited too (outcome `denied`), then returned as [`crate::Error::Denied`].
//! Warnings meant for the user (a person with no confirmed face, a grant that outlives its
//! project) are collected in [`App::warnings`]; each front end shows them its own way.

mod auth;
mod consent;
pub mod files;
pub mod gate;
pub mod gdpr;
pub mod overview;
mod persons;
mod photos;
pub mod requests;
mod review;
pub mod users;

use chrono::NaiveDate;

pub use auth::{Actor, Permission, Role};
pub use consent::{Capped, ConsentList, Dashboard, Evidence, ExpiringSoon, Grant, Granted, Listed, PastProject, SOURCES};
pub use gate::{Check, PhotoRef};
pub use photos::{PhotoSearch, QuerySource, UPLOADS_DIR};
pub use persons::{unconfirmed_hint, Changed, Confirmed, PersonDetail};
pub use review::{Candidate, PhotoFace, PhotoView, ReviewItem, ReviewQueue, Undecided};

use crate::error::{Error, Result};
use crate::library::Library;
use crate::store::{Person, PersonId, Store};

/// One user's work on one open library.
pub struct App<'a> {
    pub actor: &'a Actor,
    pub library: &'a mut Library,
    /// The day consent is judged on (the CLI's `--now`, else today).
    pub today: NaiveDate,
    /// What the user should be told beside the result.
    pub warnings: Vec<String>,
}

impl<'a> App<'a> {
    pub fn new(actor: &'a Actor, library: &'a mut Library, today: NaiveDate) -> App<'a> {
        App { actor, library, today, warnings: Vec::new() }
    }

    pub fn store(&self) -> &Store {
        &self.library.store
    }

    /// Checks the role (auditing a refusal) before an action.
    fn require(&mut self, p: Permission, action: &str, subjects: &[String]) -> Result<()> {
        self.actor.require(&mut self.library.store, p, action, subjects)
    }

    /// Checks the role for a page that shows no data of its own (a refusal is audited).
    pub fn require_role(&mut self, p: Permission, action: &str) -> Result<()> {
        self.require(p, action, &[])
    }

    /// Records a change.
    fn audit(&mut self, command: &str, subjects: &[String], outcome: &str, detail: Option<&str>) -> Result<()> {
        self.library.store.audit(&self.actor.name, command, subjects, outcome, detail)
    }

    /// Records that personal data was read. A library on read-only media cannot take the entry:
    /// the read goes on with a warning rather than failing.
    fn audit_read(&mut self, command: &str, subjects: &[String], outcome: &str) {
        if let Err(e) = self.library.store.audit(&self.actor.name, command, subjects, outcome, None) {
            self.warnings.push(format!("could not write the audit entry: {e}"));
        }
    }

    /// A person as people name one: an id, or a name or an email (not case-sensitive). More
    /// than one match is an error listing them.
    pub fn person_id(&self, given: &str) -> Result<PersonId> {
        resolve_person(self.store(), given)
    }

    /// A purpose as the library spells it (see [`purpose_name`]).
    pub fn purpose_name(&self, given: &str) -> Result<String> {
        purpose_name(self.store(), given)
    }

    /// The label of person `id`, falling back to the bare number when the lookup fails.
    pub fn label_of(&self, id: PersonId) -> String {
        self.store().label_of(id)
    }
}

/// See [`App::person_id`].
pub fn resolve_person(store: &Store, given: &str) -> Result<PersonId> {
    if let Ok(id) = given.trim().parse::<i64>() {
        return Ok(PersonId(id));
    }
    let wanted = given.trim().to_lowercase();
    let same = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim().to_lowercase() == wanted);
    let found: Vec<Person> = store.persons()?.into_iter().filter(|p| same(&p.name) || same(&p.email)).collect();
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(Error::lookup("unknown_person", format!("no person named {given:?} or with that email (`facegate person list` shows them)"))),
        many => {
            let listed: Vec<String> = many.iter().map(|p| format!("{}{}", p.label(), p.email.as_deref().map(|e| format!(" <{e}>")).unwrap_or_default())).collect();
            Err(Error::lookup("ambiguous_person", format!("{given:?} names {} persons: {}; give the id", many.len(), listed.join(", "))))
        }
    }
}



/// A purpose as the library spells it: names are not case-sensitive, and a near miss suggests
/// the name meant instead of offering to create a new purpose.
pub fn purpose_name(store: &Store, given: &str) -> Result<String> {
    let purposes = store.purposes()?;
    let wanted = given.trim().to_lowercase();
    if let Some(p) = purposes.iter().find(|p| p.name.to_lowercase() == wanted) {
        return Ok(p.name.clone());
    }
    let nearest = purposes
        .iter()
        .map(|p| (strsim::levenshtein(&p.name.to_lowercase(), &wanted), &p.name))
        .filter(|(d, _)| *d <= 2 && *d < wanted.chars().count())
        .min_by_key(|(d, _)| *d);
    let message = if let Some((_, name)) = nearest {
        format!("unknown purpose {given:?}; did you mean {name:?}?")
    } else if wanted.parse::<i64>().is_ok() {
        format!("unknown purpose {given:?}: a person id? --purpose takes several names, so put the person before --purpose")
    } else {
        let known: Vec<&str> = purposes.iter().map(|p| p.name.as_str()).collect();
        let known = if known.is_empty() { "none yet".to_string() } else { known.join(", ") };
        format!("unknown purpose {given:?} (known: {known}; add it with `facegate purpose add {given}`)")
    };
    Err(Error::lookup("unknown_purpose", message))
}

/// Audit subjects `kind:id` for a list of ids.
fn subjects<I: IntoIterator<Item = i64>>(kind: &str, ids: I) -> Vec<String> {
    ids.into_iter().map(|id| format!("{kind}:{id}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Access;

    #[test]
    fn a_refused_change_is_audited_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path(), Access::Write).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let admin = Actor::owner("ada");
        let bob = App::new(&admin, &mut library, today).add_person("Bob", None, false).unwrap();
        let viewer = Actor { name: "vic".into(), role: Role::Viewer };
        let mut app = App::new(&viewer, &mut library, today);
        let refused = app.name_person(bob.id, "Mallory", None);
        assert!(matches!(refused, Err(Error::Denied(_))), "{refused:?}");
        assert_eq!(app.persons().unwrap()[0].name.as_deref(), Some("Bob"));
        let last = library.store.audit_log(None, None).unwrap().pop().unwrap();
        assert_eq!((last.actor.as_str(), last.command.as_str(), last.outcome.as_str()), ("vic", "person name", "denied"));
        assert_eq!(last.subjects, vec![format!("person:{}", bob.id.0)]);
    }
}
