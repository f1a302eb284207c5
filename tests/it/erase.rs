//! Erasure through the CLI, under each file mode: a person seen alone and in both Solvay group
//! photographs is erased, then every byte of every file in the library folder is scanned for their
//! name, email and one raw embedding.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

pub const NAME: &str = "Zelda Quux-Erasable";
pub const EMAIL: &str = "zelda.quux@example.org";

pub struct Setup {
    pub lib: Lib,
    pub photos: PathBuf,
    pub person: String,
    /// A copy of the person's solo photo kept outside the library's folders.
    pub solo_copy: PathBuf,
    /// Raw bytes of one of the person's embeddings as stored before erasure.
    pub embedding: Vec<u8>,
}

/// A person alone in one photo (confirmed), suggested in both Solvay group photos, with a
/// consent for `print` and its evidence.
pub fn setup() -> Setup {
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

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under the library folder, read whole.
pub fn scan_library(dir: &Path, needles: &[(&str, &[u8])]) {
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
    // Erasing again says that it was done, and by which erasure.
    let again = s.lib.run(&["erase", &s.person, "--reason", "again", "--keep-files", "--yes"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains(&format!("was erased by erasure {}", report["erasure_id"])), "{}", stderr(&again));
    assert_eq!(report["photos_kept_blocked"].as_array().unwrap().len(), 3, "{report}");
    assert!(s.photos.join("solo.png").exists());
    check_erased(&s, &report);
    let out = s.lib.run(&["check", s.photos.join("solo.png").to_str().unwrap(), "--purpose", "print"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Every file of `src` copied into `dst` (a library folder, to run the same erasure many times).
fn copy_tree(src: &Path, dst: &Path) {
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let target = dst.join(entry.path().strip_prefix(src).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Issue 10 B: `erase --keep-files --yes` killed (SIGKILL, through `FACEGATE_CRASH_AT`) before
/// each of its writes in turn. After each kill the next commands (`status`, then a writer:
/// `index` or `erase --resume`; or the erase again when the kill came before its transaction)
/// must leave none of the person's name, email or embedding bytes in any file of the library,
/// exactly one certificate, and one audit entry for the erasure.
#[test]
fn erase_killed_at_every_write_is_finished_by_the_next_command() {
    killed_at_every_write("--keep-files");
}

/// The same with `--delete-files`: the solo photo's file, named in the job until it is gone, is
/// deleted by whichever command finishes the erasure.
#[test]
fn erase_deleting_files_killed_at_every_write_is_finished_by_the_next_command() {
    killed_at_every_write("--delete-files");
}

fn killed_at_every_write(mode: &str) {
    use std::os::unix::process::ExitStatusExt;
    let started = std::time::Instant::now();
    let s = setup();
    confirm_suggestions(&s);
    let person: i64 = s.person.parse().unwrap();
    let vectors: Vec<Vec<u8>> = {
        let conn = rusqlite::Connection::open(s.lib.db()).unwrap();
        let mut stmt = conn.prepare("SELECT e.vector FROM embeddings e JOIN faces f ON f.id = e.face_id WHERE f.person_id = ?1").unwrap();
        stmt.query_map([person], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(vectors.len(), 3, "the solo face and both group faces");
    // Pieces of 16 floats, so that a vector cut by a half-written file is found too.
    let mut needles: Vec<(String, Vec<u8>)> = vec![("the name".into(), NAME.as_bytes().to_vec()), ("the email".into(), EMAIL.as_bytes().to_vec())];
    for (i, v) in vectors.iter().enumerate() {
        needles.extend(v.chunks(64).enumerate().map(|(j, c)| (format!("bytes {}..{} of embedding {i}", 64 * j, 64 * j + 64), c.to_vec())));
    }
    let needles: Vec<(&str, &[u8])> = needles.iter().map(|(w, n)| (w.as_str(), n.as_slice())).collect();
    let erase = ["erase", s.person.as_str(), "--reason", "art. 17", mode, "--yes"];
    let solo = s.photos.join("solo.png");
    let photos = s.photos.to_str().unwrap();
    let mut killed = 0;
    for n in 1.. {
        let lib = Lib::new();
        copy_tree(&s.lib.dir(), &lib.dir());
        if !solo.exists() {
            std::fs::copy(&s.solo_copy, &solo).unwrap(); // deleted by the previous round
        }
        let out = lib.cmd().env("FACEGATE_CRASH_AT", n.to_string()).args(erase).output().unwrap();
        if out.status.success() {
            break;
        }
        assert_eq!(out.status.signal(), Some(9), "crash point {n}: {}", stderr(&out));
        killed += 1;
        eprintln!("{}", stderr(&out).trim());
        let status = lib.json(&["status"], 0);
        let unfinished = status["unfinished_erasures"].as_array().unwrap().len();
        let certified = lib.dir().join("certificates/erasure-1.json").exists();
        let erased = lib.sql_count(&format!("SELECT count(*) FROM persons WHERE id = {person}")) == 0;
        if erased && !certified {
            assert_eq!(unfinished, 1, "crash point {n}: status must report the unfinished erasure: {status}");
        }
        if lib.sql_count(&format!("SELECT count(*) FROM persons WHERE id = {person}")) == 1 {
            // Killed before the erasure's transaction committed: nothing happened; do it again.
            assert_eq!(unfinished, 0, "crash point {n}: {status}");
            assert!(!lib.dir().join("certificates").exists(), "crash point {n}: a certificate before the erasure");
            lib.json(&erase, 0);
        } else if n % 2 == 0 && mode == "--keep-files" {
            // (With --delete-files, an index run before the file is gone flags it as erased.)
            lib.index(&[Path::new(photos)], 0);
        } else {
            let resumed = lib.json(&["erase", "--resume"], 0);
            assert_eq!(resumed["finished"].as_array().unwrap().len(), unfinished, "crash point {n}: {resumed}");
        }
        scan_library(&lib.dir(), &needles);
        let certificates: Vec<String> = std::fs::read_dir(lib.dir().join("certificates"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut sorted = certificates.clone();
        sorted.sort();
        assert_eq!(sorted, ["erasure-1.json", "erasure-1.txt"], "crash point {n}");
        assert_eq!(lib.json(&["status"], 0)["unfinished_erasures"].as_array().unwrap().len(), 0, "crash point {n}");
        assert_eq!(lib.sql_count("SELECT count(*) FROM audit WHERE command = 'erase'"), 1, "crash point {n}");
        assert_eq!(lib.json(&["audit", "verify"], 0)["ok"], true, "crash point {n}");
        let certificate: Value = serde_json::from_slice(&std::fs::read(lib.dir().join("certificates/erasure-1.json")).unwrap()).unwrap();
        assert_eq!(certificate["faces_removed"], 3, "crash point {n}: {certificate}");
        assert!(certificate["index_points_after_rebuild"].as_u64().unwrap() > 0, "crash point {n}: {certificate}");
        assert_eq!(solo.exists(), mode == "--keep-files", "crash point {n}: the solo photo's file");
    }
    assert!(killed >= 15, "only {killed} write points");
    eprintln!("erase {mode} killed at {killed} write points, {:.1} s", started.elapsed().as_secs_f64());
}

/// Issue 10 C1: the erasure plan and the certificate list the uses recorded for the person's
/// photos (here an export of the solo photo), so the recipients can be told.
#[test]
fn erase_lists_recorded_uses_of_the_photos() {
    let s = setup();
    confirm_suggestions(&s);
    let social = s.lib.tmp.path().join("social-folder");
    let export = s.lib.json(&["export", "--purpose", "print", "--person", &s.person, "--to", social.to_str().unwrap()], 0);
    assert_eq!(export["exported"].as_array().unwrap().len(), 1, "{export}");
    let plan = s.lib.json(&["erase", &s.person, "--reason", "r", "--keep-files", "--dry-run"], 0);
    let uses = plan["uses"].as_array().unwrap();
    assert_eq!(uses.len(), 1, "{plan}");
    assert!(uses[0]["destination"].as_str().unwrap().contains("social-folder"), "{plan}");
    assert_eq!(uses[0]["purpose"], "print");
    assert!(uses[0]["actor"].is_string() && uses[0]["used_on"].is_string(), "{plan}");
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM erasures"), 0, "a dry run erases nothing");
    let text = String::from_utf8_lossy(&s.lib.run(&["erase", &s.person, "--reason", "r", "--keep-files", "--dry-run"]).stdout).into_owned();
    assert!(text.contains("1 recorded use") && text.contains("social-folder"), "{text}");
    let report = s.lib.json(&["erase", &s.person, "--reason", "r", "--keep-files", "--yes"], 0);
    let certificate: Value = serde_json::from_slice(&std::fs::read(report["certificate_json"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(certificate["uses"].as_array().unwrap().len(), 1, "{certificate}");
    let text = std::fs::read_to_string(report["certificate_text"].as_str().unwrap()).unwrap();
    assert!(text.contains("social-folder") && text.contains("Art. 17(2)"), "{text}");
}

/// Issue 10 C2: every suggestion `person photos` shows can be rejected for the person, whatever
/// the face's link, and `erase` waits on exactly the suggestions `person photos` lists.
#[test]
fn suggestions_are_rejected_for_a_person_and_erase_asks_about_the_same_ones() {
    let s = setup();
    let suggestions = |s: &Setup| -> Vec<i64> {
        let photos = s.lib.json(&["person", "photos", &s.person], 0);
        photos["suggestions"].as_array().unwrap().iter().map(|x| x["face_id"].as_i64().unwrap()).collect()
    };
    let asked = |s: &Setup| -> Vec<i64> {
        let out = s.lib.run(&["erase", &s.person, "--reason", "r", "--keep-files", "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("unreviewed suggestion"), "{err}");
        err.lines().filter_map(|l| l.trim().strip_prefix("face ")?.split(' ').next()?.parse().ok()).collect()
    };
    let all = suggestions(&s);
    assert_eq!(all.len(), 2, "both group photos");
    assert_eq!(asked(&s), all);
    let first = all[0].to_string();
    let out = s.lib.run(&["face", "reject", &first, "--person", &s.person]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(suggestions(&s), all[1..]);
    assert_eq!(asked(&s), all[1..]);
    // The rejection is audited and names the person.
    let log = s.lib.json(&["audit", "log"], 0);
    assert!(log["entries"].as_array().unwrap().iter().any(|e| e["command"] == format!("face reject for person:{}", s.person)), "{log}");
    s.lib.json(&["face", "reject", &all[1].to_string(), "--person", &s.person], 0);
    assert!(suggestions(&s).is_empty());
    let report = s.lib.json(&["erase", &s.person, "--reason", "r", "--keep-files", "--yes"], 0);
    assert_eq!(report["faces_removed"], 1, "only the confirmed solo face: {report}");
}

/// Issue 10 C5: `person show` tells confirmed from suggested, naming a person with no confirmed
/// face warns, and `person confirm` confirms every suggestion at once (audited).
#[test]
fn person_confirm_confirms_every_suggestion_and_unconfirmed_persons_are_visible() {
    let s = setup();
    let p = &s.person;
    let fresh = s.lib.json(&["person", "add", "--name", "Nobody Yet"], 0)["id"].to_string();
    let out = s.lib.run(&["person", "name", &fresh, "Nobody Yet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("no confirmed face"), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&s.lib.run(&["person", "show", p]).stdout).into_owned();
    assert!(shown.contains("1 confirmed face(s)"), "{shown}");
    let before = s.lib.json(&["person", "photos", p], 0);
    let suggested: Vec<i64> = before["suggestions"].as_array().unwrap().iter().map(|x| x["face_id"].as_i64().unwrap()).collect();
    assert_eq!(suggested.len(), 2);
    let confirmed = s.lib.json(&["person", "confirm", p], 0);
    let mut faces: Vec<i64> = confirmed["faces"].as_array().unwrap().iter().map(|f| f.as_i64().unwrap()).collect();
    faces.sort();
    let mut expected = suggested.clone();
    expected.sort();
    assert_eq!(faces, expected, "{confirmed}");
    assert_eq!(confirmed["person"]["confirmed_faces"], 3);
    assert!(s.lib.json(&["person", "photos", p], 0)["suggestions"].as_array().unwrap().is_empty());
    let log = s.lib.json(&["audit", "log", "--person", p], 0);
    assert!(log["entries"].as_array().unwrap().iter().any(|e| e["command"] == "person confirm"), "{log}");
    // And now the erasure goes ahead without --include-suggestions.
    s.lib.json(&["erase", p, "--reason", "r", "--keep-files", "--yes"], 0);
}
