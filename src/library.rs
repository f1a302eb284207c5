//! A facegate library folder: the SQLite database (source of truth), the HNSW index beside it,
//! and a lock file that keeps two writers apart. The folder and everything in it are readable by
//! the owner only (face embeddings are biometric data).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::Store;

pub const DB_FILE: &str = "library.db";
pub const INDEX_DIR: &str = "index";
const LOCK_FILE: &str = "lock";

pub struct Library {
    pub dir: PathBuf,
    pub store: Store,
    /// Held for writers; readers take it when free so they may refresh the index cache.
    lock: Option<File>,
}

/// Whether the caller will change the library (takes the writer lock) or only read it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Write,
    Read,
    /// Reading without ever taking the writer lock, not even when it is free: for the server,
    /// whose requests must never make an `index` run that starts at that moment fail as busy.
    /// The index cache is used as it is (faces stored since are scanned from SQLite).
    Share,
}

impl Library {
    /// The default location: `$FACEGATE_LIBRARY`, else `$XDG_DATA_HOME/facegate`, else
    /// `~/.local/share/facegate`.
    pub fn default_dir() -> PathBuf {
        if let Some(p) = std::env::var_os("FACEGATE_LIBRARY") {
            return PathBuf::from(p);
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        data.join("facegate")
    }

    /// Opens the library in `dir`. Writers create it when missing and hold an exclusive lock;
    /// readers need it to exist.
    pub fn open(dir: &Path, access: Access) -> Result<Library> {
        if access != Access::Write && !dir.join(DB_FILE).is_file() {
            return Err(Error::Invalid(format!(
                "no facegate library in {} (run `facegate index PATH` first, or pass --library)",
                dir.display()
            )));
        }
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io(dir, e))?;
        }
        let path = dir.join(LOCK_FILE);
        let (lock, read_only) = match access {
            Access::Share => (None, false),
            Access::Write | Access::Read => {
                let opened = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path);
                Self::lock(dir, &path, opened, access)?
            }
        };
        let db = dir.join(DB_FILE);
        let store = if read_only { Store::open_read_only(&db)? } else { Store::open(&db)? };
        if access == Access::Write {
            // SQLite creates files with the process umask (set to 077 in main); make sure of the
            // database itself in case it was created by other means.
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).map_err(|e| Error::io(&db, e))?;
        }
        Ok(Library { dir: dir.to_path_buf(), store, lock })
    }

    /// The writer lock when this process may hold it (a reader takes it only when it is free),
    /// and whether the library is read-only here.
    fn lock(dir: &Path, path: &Path, opened: std::io::Result<File>, access: Access) -> Result<(Option<File>, bool)> {
        Ok(match (opened, access) {
            (Ok(file), _) => match (file.try_lock(), access) {
                (Ok(()), _) => (Some(file), false),
                (Err(_), Access::Write) => {
                    return Err(Error::Busy(format!("library {} is in use by another facegate process", dir.display())))
                }
                (Err(_), _) => (None, false),
            },
            // A library on read-only media, or whose files are read-only: readers need no lock,
            // and open the database without writing to it.
            (Err(e), Access::Read) if is_read_only(&e) => (None, true),
            (Err(e), _) => return Err(Error::io(path, e)),
        })
    }

    /// Whether this process holds the writer lock (never, for a library it cannot write).
    pub fn is_writable(&self) -> bool {
        self.lock.is_some()
    }

    pub fn index_dir(&self) -> PathBuf {
        self.dir.join(INDEX_DIR)
    }
}

/// Whether an error opening a file for writing means that the library cannot be written here.
fn is_read_only(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's read never stands in a writer's way; a plain reader that found the lock free
    /// holds it until it is done.
    #[test]
    fn a_shared_reader_never_holds_the_writer_lock() {
        let dir = tempfile::tempdir().unwrap();
        drop(Library::open(dir.path(), Access::Write).unwrap());
        let shared = Library::open(dir.path(), Access::Share).unwrap();
        assert!(!shared.is_writable());
        let writer = Library::open(dir.path(), Access::Write).expect("a writer opens beside a shared reader");
        drop(writer);
        let reader = Library::open(dir.path(), Access::Read).unwrap();
        assert!(matches!(Library::open(dir.path(), Access::Write), Err(Error::Busy(_))));
        drop((reader, shared));
    }
}
