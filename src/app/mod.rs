//! The application layer: what a user *does* (name a person, confirm faces, grant consent, check,
//! export, erase, report, read the audit trail), one function per use case, shared by the command
//! line (`cli/`) and the server (`web/`). Each function takes the acting user, checks the role,
//! does the work through the store, the index and the domain modules, and writes the audit entry
//! itself. The front ends only parse input and render output, so they cannot drift apart.
//!
//! A refusal is audited too (outcome `denied`), then returned as [`crate::Error::Denied`].

mod auth;
pub mod files;
pub mod gate;
pub mod overview;
pub mod users;

pub use auth::{Actor, Permission, Role};
