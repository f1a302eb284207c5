//! Integration tests: the real `facegate` binary, the real ONNX models, real photos and real
//! SQLite files in temporary libraries. Accuracy tests on `../shared/faces` skip when it is absent.
//! Browser tests (a real headless Chromium, `browser.rs`) skip where it is not installed, except
//! under CI.

mod accuracy;
mod browser;
mod cli;
mod common;
mod consent;
mod consent_link;
mod consent_pages;
mod detection;
mod erase;
mod erase_wizard;
mod hostile;
mod index;
mod malformed;
mod persons;
mod report;
mod schemas;
mod search;
mod users;
mod web;
mod webapp;
