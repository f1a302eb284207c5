//! facegate: index the faces in a photo archive, find every photo of a person, and (later issues)
//! gate each photo's use on the consent of everyone in it. See ARCHITECTURE.md for the tour.

pub mod ann;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod consent;
pub mod crash;
pub mod error;
pub mod gdpr;
pub mod jpeg;
pub mod json;
pub mod library;
pub mod mail;
pub mod paths;
pub mod photo;
pub mod pipeline;
pub mod query;
pub mod review;
pub mod store;
pub mod thumbs;
pub mod vision;
pub mod web;

pub use error::{Error, Result};
