//! Erasure through the CLI, under each file mode: a person seen alone and in both Solvay group
//! photographs is erased, then every byte of every file in the library folder is scanned for their
//! name, email and one raw embedding.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const NAME: &str = "Zelda Quux-Erasable";
const EMAIL: &str = "zelda.quux@example.org";

struct Setup {
    lib: Lib,
    photos: PathBuf,
    person: String,
    /// A copy of the person's solo photo kept outside the library's folders.
    solo_copy: PathBuf,
    /// Raw bytes of one of the person's embeddings as stored before erasure.
    embedding: Vec<u8>,
}

fn setup() -> Setup {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in ["solvay_1927_group_a.png", "solvay_1927_group_b.jpg", "grace_hopper.jpg"] {
        copy(&sample_images().join(f), &photos, f);
    }
    // The person alone: one face cut from group b, doubled.
    let img = image::open(sample_images().join("solvay_1927_group_b.jpg")).unwrap().to_rgb8();
    let part = image::imageops::crop_imm(&img, 595, 395, 80, 90).to_image();
    let solo = photos.join("solo.png");
    image::imageops::resize(&part, 160, 180, image::imageops::FilterType::CatmullRom).save(&solo).unwrap();
    let solo_copy = lib.tmp.path().join("solo-copy.png");
    std::fs::copy(&solo, &solo_copy).unwrap();
    lib.index(&[&photos], 0);

    let person = lib.json(&["person", "add", "--name", NAME, "--email", EMAIL], 0)["id"].to_string();
    lib.json(&["search", "--photo", solo.to_str().unwrap(), "--assign", &person], 0);
    let evidence = lib.tmp.path().join("quitclaim.txt");
    std::fs::write(&evidence, format!("I, {NAME}, agree.")).unwrap();
    lib.json(&["purpose", "add", "print"], 0);
    lib.json(&["consent", "grant", &person, "--purpose", "print", "--no-expiry", "--evidence", evidence.to_str().unwrap()], 0);
    let embedding: Vec<u8> = rusqlite::Connection::open(lib.db())
        .unwrap()
        .query_row("SELECT e.vector FROM embeddings e JOIN faces f ON f.id = e.face_id WHERE f.person_id = ?1", [person.parse::<i64>().unwrap()], |r| r.get(0))
        .unwrap();
    assert_eq!(embedding.len(), 512);
    Setup { lib, photos, person, solo_copy, embedding }
}

/// Confirms every suggestion of the person (here: their faces in the two group photos).
fn confirm_suggestions(s: &Setup) -> usize {
    let photos = s.lib.json(&["person", "photos", &s.person], 0);
    let suggestions = photos["suggestions"].as_array().unwrap();
    for sug in suggestions {
        s.lib.json(&["face", "move", &sug["face_id"].to_string(), "--to", &s.person], 0);
    }
    suggestions.len()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under the library folder, read whole.
fn scan_library(dir: &Path, needles: &[(&str, &[u8])]) {
    let mut files = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(entry.path()).unwrap();
        for (what, needle) in needles {
            assert!(!contains(&bytes, needle), "{what} found in {}", entry.path().display());
        }
    }
    assert!(files >= 4, "database, index files, certificates: {files} files scanned");
}

fn erase_in_mode(mode: &[&str]) -> (Setup, Value) {
    let s = setup();
    // Unreviewed suggestions stop the erasure.
    let out = s.lib.run(&["erase", &s.person, "--reason", "art. 17 request 2026-114", "--delete-files", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unreviewed suggestion"), "{}", stderr(&out));
    assert_eq!(confirm_suggestions(&s), 2, "the person is in both group photos");
    // Without --yes and without a terminal, nothing happens.
    let mut args = vec!["erase", s.person.as_str(), "--reason", "art. 17 request 2026-114"];
    args.extend_from_slice(mode);
    assert_eq!(s.lib.run(&args).status.code(), Some(1));
    args.push("--yes");
    let report = s.lib.json(&args, 0);
    (s, report)
}

fn check_erased(s: &Setup, report: &Value) {
    scan_library(&s.lib.dir(), &[("the name", NAME.as_bytes()), ("the email", EMAIL.as_bytes()), ("an embedding", &s.embedding)]);
    assert_eq!(report["faces_removed"], 3, "{report}");
    assert_eq!(report["consents_removed"], 1);
    assert_eq!(report["evidence_files_deleted"], 1);
    let kept = report["photos_kept_blocked"].as_array().unwrap().len();
    assert!(kept >= 2, "both group photos are kept and blocked: {report}");
    // Nothing of the person is found any more.
    assert_eq!(s.lib.run(&["person", "photos", &s.person]).status.code(), Some(1));
    let search = s.lib.json(&["search", "--photo", s.solo_copy.to_str().unwrap()], 0);
    assert_eq!(search["matches"].as_array().unwrap().len(), 0, "{search}");
    // The kept group photos are blocked for every purpose.
    let group = s.photos.join("solvay_1927_group_a.png");
    let out = s.lib.run(&["check", group.to_str().unwrap(), "--purpose", "print"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("erased"), "{}", String::from_utf8_lossy(&out.stdout));
    // Re-indexing never brings the face back.
    let faces_in_group = |lib: &Lib| lib.sql_count("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE '%solvay_1927_group_a.png'");
    let before = faces_in_group(&s.lib);
    std::fs::write(&group, [std::fs::read(&group).unwrap(), b"changed".to_vec()].concat()).unwrap();
    s.lib.index(&[&s.photos], 0);
    assert_eq!(faces_in_group(&s.lib), before, "the erased face is suppressed on re-index");
    let search = s.lib.json(&["search", "--photo", s.solo_copy.to_str().unwrap()], 0);
    assert_eq!(search["matches"].as_array().unwrap().len(), 0, "{search}");
    // The certificate exists and holds no personal data.
    let text = std::fs::read_to_string(report["certificate_text"].as_str().unwrap()).unwrap();
    assert!(text.contains("ERASURE CERTIFICATE") && !text.contains(NAME) && !text.contains(EMAIL));
    let audit = s.lib.json(&["audit", "verify"], 0);
    assert_eq!(audit["ok"], true, "{audit}");
    scan_library(&s.lib.dir(), &[("the name", NAME.as_bytes()), ("the email", EMAIL.as_bytes()), ("an embedding", &s.embedding)]);
}

#[test]
fn erase_deleting_files() {
    let (s, report) = erase_in_mode(&["--delete-files"]);
    assert_eq!(report["files_deleted"].as_array().unwrap().len(), 1, "{report}");
    assert!(!s.photos.join("solo.png").exists());
    check_erased(&s, &report);
    // The same file indexed again elsewhere is flagged, not indexed.
    let elsewhere = s.lib.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(&s.solo_copy, elsewhere.join("again.png")).unwrap();
    let out = s.lib.cmd().args(["index"]).arg(&elsewhere).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("erasure"), "{}", stderr(&out));
}

#[test]
fn erase_into_quarantine() {
    let s_dir;
    let (s, report) = {
        let q = tempfile::tempdir().unwrap();
        s_dir = q;
        let q = s_dir.path().join("quarantine");
        erase_in_mode(&["--quarantine", q.to_str().unwrap()])
    };
    assert_eq!(report["files_quarantined"].as_array().unwrap().len(), 1, "{report}");
    assert!(!s.photos.join("solo.png").exists());
    assert_eq!(std::fs::read_dir(s_dir.path().join("quarantine")).unwrap().count(), 1);
    check_erased(&s, &report);
}

#[test]
fn erase_keeping_files() {
    let (s, report) = erase_in_mode(&["--keep-files"]);
    assert_eq!(report["photos_kept_blocked"].as_array().unwrap().len(), 3, "{report}");
    assert!(s.photos.join("solo.png").exists());
    check_erased(&s, &report);
    let out = s.lib.run(&["check", s.photos.join("solo.png").to_str().unwrap(), "--purpose", "print"]);
    assert_eq!(out.status.code(), Some(1));
}
