//! The crate's error type. Library code returns [`Error`]; the CLI wraps it with `anyhow` context
//! and maps it to an exit code. Errors about a file always carry its path (escaped as
//! [`crate::paths::key`] shows paths).
//!
//! A variant either prints its cause or exposes it as `source()`, never both: the CLI prints the
//! whole chain (`{:#}`), and a cause in both places came out twice ("No such file or directory
//! (os error 2): No such file or directory (os error 2)"). Here every cause is printed in the
//! message and none is a `source`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {error}", crate::paths::key(path))]
    Io { path: PathBuf, error: std::io::Error },

    #[error("{}: {reason}", crate::paths::key(path))]
    BadPhoto { path: PathBuf, reason: String },

    #[error("ONNX Runtime library not found ({detail}). Run `scripts/setup.sh` from the facegate checkout, or point ORT_DYLIB_PATH at libonnxruntime.so 1.31")]
    RuntimeMissing { detail: String },

    #[error("ONNX Runtime: {0}")]
    Onnx(String),

    #[error("model {}: {reason}", path.display())]
    Model { path: PathBuf, reason: String },

    #[error("database: {0}")]
    Db(rusqlite::Error),

    #[error("library {} is damaged: {detail}", path.display())]
    DataCorruption { path: PathBuf, detail: String },

    #[error("{0}")]
    Invalid(String),

    /// Something the user named does not exist or is ambiguous; `code` names which
    /// (`unknown_person`, `ambiguous_person`, `unknown_purpose`).
    #[error("{message}")]
    Lookup { code: &'static str, message: String },

    /// The acting user's role does not allow the action (already audited as `denied`).
    #[error("not allowed: {0}")]
    Denied(String),

    /// Another process holds the library's writer lock (an `index` run, say); try again later.
    #[error("{0}")]
    Busy(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io { path: path.into(), error }
    }

    pub fn lookup(code: &'static str, message: impl Into<String>) -> Self {
        Error::Lookup { code, message: message.into() }
    }

    pub fn bad_photo(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadPhoto { path: path.into(), reason: reason.into() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e)
    }
}

/// ort's builder errors are not `Send + Sync`; keep only their message.
impl<T> From<ort::Error<T>> for Error {
    fn from(e: ort::Error<T>) -> Self {
        Error::Onnx(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI prints `{:#}` of the anyhow chain; no cause may appear in it twice.
    #[test]
    fn no_error_repeats_its_cause() {
        let gone = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let cases = [
            Error::io("/photos/missing", gone()),
            Error::Db(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(8), Some("attempt to write a readonly database".into()))),
            Error::bad_photo("/p/a.jpg", "truncated"),
        ];
        for e in cases {
            let cause = match &e {
                Error::Io { error, .. } => error.to_string(),
                Error::Db(d) => d.to_string(),
                other => other.to_string(),
            };
            let shown = format!("{:#}", anyhow::Error::from(e).context("opening the library"));
            assert_eq!(shown.matches(cause.as_str()).count(), 1, "{shown}");
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Invalid(format!("JSON: {e}"))
    }
}
