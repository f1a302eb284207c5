//! How a file's path is kept in the library and shown: as text that round-trips to the exact
//! bytes. Linux file names are bytes, not UTF-8; a lossy conversion made `\xff\xfe.jpg` and
//! `\xfe\xff.jpg` one row. The key is the path's bytes where they are valid UTF-8 and printable,
//! with a backslash written `\\`, and every other byte (invalid UTF-8, control characters)
//! written `\xNN`. So the key is also the escaped form printed to people (no raw control
//! characters reach a terminal), and [`path`] turns it back into the very same path.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The library key (and printed form) of a path.
pub fn key(path: &Path) -> String {
    let mut out = String::with_capacity(path.as_os_str().len());
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u8)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The path a key was made from. Text that [`key`] cannot have produced (a lone backslash, a bad
/// escape) is kept as it is, so a key never maps to no path.
pub fn path(key: &str) -> PathBuf {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'\\')) => Some((b'\\', 2)),
            (b'\\', Some(b'x')) => key.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok()).map(|b| (b, 4)),
            _ => None,
        };
        match escaped {
            Some((b, len)) => {
                out.push(b);
                i += len;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(bytes: &[u8]) -> PathBuf {
        PathBuf::from(std::ffi::OsString::from_vec(bytes.to_vec()))
    }

    #[test]
    fn non_utf8_names_get_distinct_keys_that_round_trip() {
        let a = raw(b"/photos/\xff\xfe.jpg");
        let b = raw(b"/photos/\xfe\xff.jpg");
        assert_eq!(key(&a), r"/photos/\xff\xfe.jpg");
        assert_eq!(key(&b), r"/photos/\xfe\xff.jpg");
        assert_eq!(path(&key(&a)), a);
        assert_eq!(path(&key(&b)), b);
    }

    #[test]
    fn text_that_looks_like_an_escape_stays_distinct_from_the_byte() {
        let literal = raw(br"/p/\xff.jpg"); // backslash, x, f, f
        let byte = raw(b"/p/\xff.jpg");
        assert_ne!(key(&literal), key(&byte));
        assert_eq!(key(&literal), r"/p/\\xff.jpg");
        assert_eq!(path(&key(&literal)), literal);
    }

    #[test]
    fn utf8_names_are_kept_as_they_are_and_control_characters_are_escaped() {
        assert_eq!(key(Path::new("/photos/Zoë/été 2019.jpg")), "/photos/Zoë/été 2019.jpg");
        let odd = raw(b"/p/line\nbreak\x1b[31m.jpg");
        assert_eq!(key(&odd), r"/p/line\x0abreak\x1b[31m.jpg");
        assert_eq!(path(&key(&odd)), odd);
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (1..=255u8).filter(|b| *b != b'/').collect();
        let p = raw(&[b"/x/".as_slice(), &all].concat());
        assert_eq!(path(&key(&p)), p);
        assert!(key(&p).chars().all(|c| !c.is_ascii_control()));
    }
}
