//! The crate's error type. Library code returns [`Error`]; the CLI wraps it with `anyhow` context
//! and maps it to an exit code. Errors about a file always carry its path.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path}: {reason}")]
    BadPhoto { path: PathBuf, reason: String },

    #[error("ONNX Runtime library not found ({detail}). Run `scripts/setup.sh` from the facegate checkout, or point ORT_DYLIB_PATH at libonnxruntime.so 1.31")]
    RuntimeMissing { detail: String },

    #[error("ONNX Runtime: {0}")]
    Onnx(String),

    #[error("model {path}: {reason}")]
    Model { path: PathBuf, reason: String },

    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),

    #[error("library {path} is damaged: {detail}")]
    DataCorruption { path: PathBuf, detail: String },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn bad_photo(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadPhoto { path: path.into(), reason: reason.into() }
    }
}

/// ort's builder errors are not `Send + Sync`; keep only their message.
impl<T> From<ort::Error<T>> for Error {
    fn from(e: ort::Error<T>) -> Self {
        Error::Onnx(e.to_string())
    }
}
