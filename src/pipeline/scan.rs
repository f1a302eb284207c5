//! Walking the folders given to `index`: which files are photos, which are images we cannot read
//! (reported), which are something else (skipped), and which folders could not be listed (their
//! photos must not be taken as deleted).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::{Error, Result};
use crate::paths::key;
use crate::photo::{classify, FileKind};

use super::Failure;

/// A photo file found on disk.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub path: PathBuf,
    /// The path as stored in the library (absolute).
    pub key: String,
    pub size: u64,
    pub mtime_ns: i64,
}

#[derive(Default, Debug)]
pub struct Scan {
    pub photos: Vec<Candidate>,
    pub failures: Vec<Failure>,
    pub skipped: usize,
    /// Library keys of the roots, and of folders inside them that could not be read.
    pub roots: Vec<String>,
    pub unreadable_dirs: Vec<String>,
}

/// Walks every root. A root that does not exist is an error for the whole run: taking it as empty
/// would drop every photo under it from the library.
pub fn scan(roots: &[PathBuf]) -> Result<Scan> {
    let mut out = Scan::default();
    for root in roots {
        let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
        out.roots.push(key(&root));
        for entry in walkdir::WalkDir::new(&root).follow_links(true).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    if path.is_dir() || e.loop_ancestor().is_some() || e.depth() == 0 {
                        out.unreadable_dirs.push(key(&path));
                    }
                    out.failures.push(Failure { path: key(&path), reason: format!("cannot read: {}", io_reason(&e)) });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            match classify(path, || read_head(path)) {
                FileKind::Other => out.skipped += 1,
                FileKind::UnsupportedImage(format) => out.failures.push(Failure {
                    path: key(path),
                    reason: format!("unsupported image format ({format}); convert it to JPEG, PNG, WebP or TIFF to index it"),
                }),
                FileKind::Photo => match entry.metadata() {
                    Ok(meta) => out.photos.push(Candidate {
                        path: path.to_path_buf(),
                        key: key(path),
                        size: meta.len(),
                        mtime_ns: meta
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_nanos() as i64),
                    }),
                    Err(e) => out.failures.push(Failure { path: key(path), reason: format!("cannot stat: {}", io_reason(&e)) }),
                },
            }
        }
    }
    Ok(out)
}

fn io_reason(e: &walkdir::Error) -> String {
    e.io_error().map_or_else(|| e.to_string(), |io| io.to_string())
}

fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; 32];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Whether `key` lies under the folder (or is the file) `root`.
pub fn is_under(key: &str, root: &str) -> bool {
    key == root || key.strip_prefix(root).is_some_and(|rest| rest.starts_with('/') || root.ends_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_means_inside_the_folder_not_a_sibling_with_the_same_prefix() {
        assert!(is_under("/photos/a.jpg", "/photos"));
        assert!(is_under("/photos/x/a.jpg", "/photos"));
        assert!(is_under("/a.jpg", "/"));
        assert!(is_under("/photos/a.jpg", "/photos/a.jpg"));
        assert!(!is_under("/photos2/a.jpg", "/photos"));
    }

    #[test]
    fn missing_root_is_an_error() {
        assert!(scan(&[PathBuf::from("/definitely/not/here")]).is_err());
    }
}
