//! `facegate index`: bad files, incremental runs, crash recovery, privacy of the library.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Sample photos (JPEG/PNG) in a stable order.
pub fn sample_photos() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sample_images())
        .expect("sample-images/")
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "jpeg" | "png")))
        .collect();
    v.sort();
    assert!(v.len() >= 3, "sample-images/ should hold photos");
    v
}

#[test]
fn bad_files_are_reported_by_path_and_the_batch_goes_on() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    let good = copy(&sample_photos()[0], &dir, "good.jpg");
    std::fs::write(dir.join("empty.jpg"), b"").unwrap();
    std::fs::write(dir.join("not-a-photo.jpg"), b"hello, this is text").unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.join("truncated.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(dir.join("phone.heic"), b"\0\0\0\x18ftypheic").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not an image, skipped").unwrap();

    let out = lib.cmd().args(["index", "--json"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for name in ["empty.jpg", "not-a-photo.jpg", "truncated.jpg", "phone.heic"] {
        assert!(err.contains(&format!("{}: ", dir.join(name).display())), "no report of {name} in:\n{err}");
    }
    assert!(err.contains("empty file"), "{err}");
    assert!(err.contains("unsupported image format (HEIC)"), "{err}");
    assert!(!err.contains("notes.txt"), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["failed"], 4, "{summary}");
    assert_eq!(summary["skipped"], 1);
    assert!(summary["faces"].as_u64().unwrap() >= 1, "the good photo was still indexed: {summary}");
    // The good photo has faces, the bad ones are recorded with their reason.
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE error IS NULL"), 1);
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE error IS NOT NULL"), 3);
}

#[test]
fn second_run_reprocesses_nothing_then_picks_up_new_changed_and_removed_files() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    let photos = sample_photos();
    let a = copy(&photos[0], &dir, "a.jpg");
    let b = copy(&photos[1], &dir, "b.jpg");
    let first = lib.index(&[&dir], 0);
    assert_eq!((first["new"].as_u64(), first["photos_seen"].as_u64()), (Some(2), Some(2)), "{first}");
    let faces = lib.sql_count("SELECT count(*) FROM faces");
    let max_face = lib.sql_count("SELECT max(id) FROM faces");

    let again = lib.index(&[&dir], 0);
    assert_eq!(again["unchanged"], 2, "{again}");
    assert_eq!((again["new"].as_u64(), again["changed"].as_u64(), again["faces"].as_u64()), (Some(0), Some(0), Some(0)));
    assert_eq!(lib.sql_count("SELECT max(id) FROM faces"), max_face, "no face was rewritten");

    // A touched file with the same bytes is still unchanged.
    let f = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5)).unwrap();
    drop(f);
    // b now holds another photo; c is new; a's twin disappears below.
    std::fs::copy(&photos[2], &b).unwrap();
    copy(&photos[0], &dir, "c.jpg");
    let third = lib.index(&[&dir], 0);
    assert_eq!(
        (third["new"].as_u64(), third["changed"].as_u64(), third["unchanged"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{third}"
    );
    let c_faces = lib.sql_count("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE '%/c.jpg'");
    assert!(c_faces > 0, "c.jpg should show a face");
    std::fs::remove_file(dir.join("c.jpg")).unwrap();
    let fourth = lib.index(&[&dir], 0);
    assert_eq!(fourth["removed"], 1, "{fourth}");
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos"), 2);
    assert!(faces > 0);
    // The removed photo's faces leave the index files in this run (compacted out, or, as here
    // where they are a third of the index, by a build from SQLite), not at some later rebuild.
    let index = &fourth["index"];
    let removed = match index["action"].as_str() {
        Some("compacted") => index["removed"].as_i64(),
        Some("rebuilt") => Some(c_faces),
        _ => None,
    };
    assert_eq!(removed, Some(c_faces), "{fourth}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(lib.dir().join("index/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["num_points"].as_i64(), Some(lib.sql_count("SELECT count(*) FROM faces")), "{meta}");
}

#[test]
fn a_missing_folder_is_fatal_and_removes_nothing() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    copy(&sample_photos()[0], &dir, "a.jpg");
    lib.index(&[&dir], 0);
    let out = lib.cmd().arg("index").arg(lib.tmp.path().join("nope")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos"), 1);
}

/// Writes `n` distinct copies of the sample photos (JPEG ignores bytes after its end marker, so a
/// counter appended to each copy changes the content hash, not the picture).
fn many_photos(dir: &std::path::Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let jpegs: Vec<_> = sample_photos().into_iter().filter(|p| p.extension().is_some_and(|e| e == "jpg")).collect();
    for i in 0..n {
        let mut bytes = std::fs::read(&jpegs[i % jpegs.len()]).unwrap();
        write!(bytes, "copy {i}").unwrap();
        std::fs::write(dir.join(format!("p{i:03}.jpg")), bytes).unwrap();
    }
}

#[test]
fn a_run_killed_with_sigkill_resumes_with_no_duplicate_and_no_lost_photo() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    let n = 48;
    many_photos(&dir, n);
    // Reference: the same photos indexed in one go.
    let clean = Lib::new();
    clean.index(&[&dir], 0);
    let expected_faces = clean.sql_count("SELECT count(*) FROM faces");

    let mut child = lib.cmd().args(["index", "--batch-size", "4", "-j", "1"]).arg(&dir)
        .stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    loop {
        let done = if lib.db().is_file() {
            rusqlite::Connection::open(lib.db())
                .and_then(|c| c.query_row("SELECT count(*) FROM photos", [], |r| r.get::<_, i64>(0)))
                .unwrap_or(0)
        } else {
            0
        };
        if done >= 8 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = lib.sql_count("SELECT count(*) FROM photos");
    assert!(partial >= 8 && partial < n as i64, "killed after {partial} of {n} photos");

    let resumed = lib.index(&[&dir], 0);
    assert_eq!(resumed["unchanged"].as_i64().unwrap() + resumed["new"].as_i64().unwrap(), n as i64, "{resumed}");
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos"), n as i64);
    assert_eq!(lib.sql_count("SELECT count(*) FROM faces"), expected_faces);
    assert_eq!(lib.sql_count("SELECT count(*) FROM embeddings"), expected_faces);
    assert_eq!(lib.sql_text("PRAGMA integrity_check"), "ok");
}

#[test]
fn the_library_is_readable_by_its_owner_only() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    copy(&sample_photos()[0], &dir, "a.jpg");
    lib.index(&[&dir], 0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&lib.dir()), 0o700);
    let mut files = 0;
    for entry in walkdir::WalkDir::new(lib.dir()).min_depth(1) {
        let entry = entry.unwrap();
        let expect = if entry.file_type().is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(entry.path()), expect, "{}", entry.path().display());
        files += entry.file_type().is_file() as usize;
    }
    assert!(files >= 3, "database, index files");
}
