//! The consent gate through the CLI: the five-person event from the issue, on a real group photo
//! (a crop of five faces from the 1927 Solvay photograph in sample-images/), with persons linked by
//! confirmed faces; gated export; expiry alerts; consent requests; bad input.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const TODAY: &str = "2026-11-25";

/// Crops a region of a sample photo, doubles it, and saves it as PNG.
fn crop(sample: &str, (x, y, w, h): (u32, u32, u32, u32), out: &Path) {
    let img = image::open(sample_images().join(sample)).unwrap().to_rgb8();
    let part = image::imageops::crop_imm(&img, x, y, w, h).to_image();
    image::imageops::resize(&part, w * 2, h * 2, image::imageops::FilterType::CatmullRom).save(out).unwrap();
}

struct Event {
    lib: Lib,
    photo: PathBuf,
    /// Ada, Ben, Cy, Dee, Eve: person ids, left to right in the photo.
    persons: Vec<i64>,
}

impl Event {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--now", TODAY];
        all.extend_from_slice(args);
        self.lib.run(&all)
    }

    fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--now", TODAY];
        all.extend_from_slice(args);
        self.lib.json(&all, code)
    }

    /// `check` on the event photo: (exit code, reason per person for the blocking faces).
    fn check(&self, purpose: &str, extra: &[&str]) -> (i32, Vec<(i64, String)>) {
        let mut args = vec!["--now", TODAY, "--json", "check", self.photo.to_str().unwrap(), "--purpose", purpose];
        args.extend_from_slice(extra);
        let out = self.lib.run(&args);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
        let faces = report["photos"][0]["faces"].as_array().unwrap();
        assert_eq!(faces.len(), 5);
        let mut reasons: Vec<(i64, String)> = faces
            .iter()
            .map(|f| (f["person"].as_i64().unwrap(), f["refusal"]["reason"].as_str().unwrap_or("allowed").to_string()))
            .collect();
        reasons.sort();
        (out.status.code().unwrap(), reasons)
    }
}

/// A library holding the event photo, five persons confirmed on its faces, and their consents.
fn event() -> Event {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let photo = photos.join("event.png");
    crop("solvay_1927_group_b.jpg", (585, 385, 330, 145), &photo);
    lib.index(&[&photos], 0);
    let faces = lib.json(&["face", "list", "--unassigned"], 0);
    let mut faces: Vec<(f64, i64)> =
        faces["faces"].as_array().unwrap().iter().map(|f| (f["rect"]["x0"].as_f64().unwrap(), f["face_id"].as_i64().unwrap())).collect();
    assert_eq!(faces.len(), 5, "the event photo shows five people: {faces:?}");
    faces.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ev = Event { lib, photo, persons: vec![] };
    let mut persons = vec![];
    for ((_, face), name) in faces.iter().zip(["Ada", "Ben", "Cy", "Dee", "Eve"]) {
        let email = format!("{}@example.org", name.to_lowercase());
        let p = ev.json(&["person", "add", "--name", name, "--email", &email], 0)["id"].as_i64().unwrap();
        ev.json(&["face", "move", &face.to_string(), "--to", &p.to_string()], 0);
        persons.push(p);
    }
    for purpose in ["intranet", "social-media", "print"] {
        ev.json(&["purpose", "add", purpose], 0);
    }
    let id = |i: usize| persons[i].to_string();
    // Ada: blanket consent for internal use. Ben and Cy: social media for 24 months.
    ev.json(&["consent", "grant", &id(0), "--purpose", "intranet", "--no-expiry", "--source", "paper"], 0);
    for who in [1, 2] {
        ev.json(&["consent", "grant", &id(who), "--purpose", "social-media", "--from", "2025-06-01", "--until", "2027-05-31", "--source", "web"], 0);
    }
    // Dee: everything, then revoked everything last month. Eve: never asked.
    ev.json(&["consent", "grant", &id(3), "--purpose", "intranet", "social-media", "print", "--from", "2025-01-01", "--no-expiry"], 0);
    ev.json(&["consent", "revoke", &id(3), "--date", "2026-10-20"], 0);
    Event { persons, ..ev }
}

#[test]
fn the_five_person_event_is_decided_and_explained_per_face() {
    let ev = event();
    let p = &ev.persons;
    let (code, reasons) = ev.check("intranet", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        reasons,
        vec![
            (p[0], "allowed".into()),
            (p[1], "no_consent".into()),
            (p[2], "no_consent".into()),
            (p[3], "revoked".into()),
            (p[4], "no_consent".into())
        ]
    );
    let (_, reasons) = ev.check("social-media", &[]);
    assert_eq!(
        reasons,
        vec![
            (p[0], "no_consent".into()),
            (p[1], "allowed".into()),
            (p[2], "allowed".into()),
            (p[3], "revoked".into()),
            (p[4], "no_consent".into())
        ]
    );
    let (_, reasons) = ev.check("print", &[]);
    assert_eq!(reasons.iter().filter(|r| r.1 == "allowed").count(), 0);
    // Before Dee's revocation her consent held.
    let (_, reasons) = ev.check("print", &["--on", "2026-10-19"]);
    assert_eq!(reasons[3], (p[3], "allowed".into()));
    // Across the expiry of Ben's and Cy's consent.
    let (_, reasons) = ev.check("social-media", &["--on", "2027-05-31"]);
    assert_eq!((reasons[1].1.as_str(), reasons[2].1.as_str()), ("allowed", "allowed"));
    let (_, reasons) = ev.check("social-media", &["--on", "2027-06-01"]);
    assert_eq!((reasons[1].1.as_str(), reasons[2].1.as_str()), ("expired", "expired"));
    // The text output names each blocking face and why.
    let out = ev.run(&["check", ev.photo.to_str().unwrap(), "--purpose", "intranet"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BLOCKED") && text.contains("consent revoked as of 2026-10-20") && text.contains("no consent for the purpose"), "{text}");
    // People are named where they have a name, not only numbered.
    assert!(text.contains(&format!("(person {} Dee): consent revoked", p[3])), "{text}");
}

#[test]
fn when_everyone_consents_the_photo_is_allowed_and_a_revocation_blocks_it_at_once() {
    let ev = event();
    for (i, p) in ev.persons.iter().enumerate() {
        if i != 0 && i != 3 {
            ev.json(&["consent", "grant", &p.to_string(), "--purpose", "intranet", "--no-expiry"], 0);
        }
    }
    // Dee consents again after her revocation: the new record counts.
    ev.json(&["consent", "grant", &ev.persons[3].to_string(), "--purpose", "intranet", "--until", "2027-12-31"], 0);
    let (code, reasons) = ev.check("intranet", &[]);
    assert_eq!(code, 0, "{reasons:?}");
    ev.json(&["consent", "revoke", &ev.persons[1].to_string(), "--purpose", "intranet"], 0);
    let (code, reasons) = ev.check("intranet", &[]);
    assert_eq!(code, 1);
    assert_eq!(reasons[1].1, "revoked");
    // Revoking one purpose left the others: Ben's social-media consent still holds.
    assert_eq!(ev.check("social-media", &[]).1[1].1, "allowed");
}

#[test]
fn unidentified_and_merely_suggested_faces_block() {
    let ev = event();
    let solo_dir = ev.lib.tmp.path().join("solo");
    std::fs::create_dir_all(&solo_dir).unwrap();
    // The leftmost person of the event (Ada) alone, cut from the same photograph.
    let solo = solo_dir.join("ada.png");
    crop("solvay_1927_group_b.jpg", (595, 395, 80, 90), &solo);
    ev.lib.index(&[&solo_dir], 0);
    let out = ev.lib.run(&["--now", TODAY, "--json", "check", solo.to_str().unwrap(), "--purpose", "intranet"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let face = &report["photos"][0]["faces"][0];
    assert_eq!(out.status.code(), Some(1));
    let reason = face["refusal"]["reason"].as_str().unwrap();
    assert!(reason == "identity_only_suggested" || reason == "face_not_identified", "{face}");
    // A human confirms: allowed under Ada's blanket consent.
    let face_id = face["face_id"].as_i64().unwrap().to_string();
    ev.json(&["face", "move", &face_id, "--to", &ev.persons[0].to_string()], 0);
    let out = ev.lib.run(&["--now", TODAY, "check", solo.to_str().unwrap(), "--purpose", "intranet"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // A file changed since indexing is blocked until indexed again.
    let mut bytes = std::fs::read(&solo).unwrap();
    bytes.extend_from_slice(b"x");
    std::fs::write(&solo, bytes).unwrap();
    let out = ev.lib.run(&["--now", TODAY, "check", solo.to_str().unwrap(), "--purpose", "intranet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("changed on disk"));
    // A photo not in the library, or an unknown purpose, is an error (exit 2).
    let other = ev.lib.tmp.path().join("not-indexed.jpg");
    std::fs::copy(sample_images().join("grace_hopper.jpg"), &other).unwrap();
    assert_eq!(ev.lib.run(&["check", other.to_str().unwrap(), "--purpose", "intranet"]).status.code(), Some(2));
    assert_eq!(ev.lib.run(&["check", ev.photo.to_str().unwrap(), "--purpose", "billboard"]).status.code(), Some(2));
}

#[test]
fn gated_export_copies_only_allowed_photos_and_explains_the_rest() {
    let ev = event();
    let solo_dir = ev.lib.tmp.path().join("photos");
    let solo = solo_dir.join("ada.png");
    crop("solvay_1927_group_b.jpg", (595, 395, 80, 90), &solo);
    ev.lib.index(&[&solo_dir], 0);
    ev.json(&["search", "--photo", solo.to_str().unwrap(), "--assign", &ev.persons[0].to_string()], 0);
    let dest = ev.lib.tmp.path().join("out");
    let report = ev.json(&["--actor", "press-office", "export", "--purpose", "intranet", "--to", dest.to_str().unwrap(), "--from", solo_dir.to_str().unwrap()], 0);
    let exported: Vec<&str> = report["exported"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(exported.len(), 1, "{report}");
    assert!(exported[0].ends_with("ada.png"));
    assert!(dest.join("ada.png").is_file());
    assert!(!dest.join("event.png").exists());
    let withheld = &report["withheld"][0];
    assert!(withheld["path"].as_str().unwrap().ends_with("event.png"));
    assert!(withheld["reasons"].as_array().unwrap().len() >= 4, "{withheld}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(dest.join("facegate-manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["withheld"].as_array().unwrap().len(), 1);
    // The CSV manifest says the same as the JSON one, field by field.
    let mut csv = csv::Reader::from_path(dest.join("facegate-manifest.csv")).unwrap();
    assert_eq!(csv.headers().unwrap(), vec!["status", "photo_id", "path", "exported_as", "reason"]);
    let rows: Vec<Vec<String>> = csv.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let mut expected: Vec<Vec<String>> = manifest["exported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| vec!["exported".into(), e["photo_id"].to_string(), text(&e["path"]), text(&e["file"]), String::new()])
        .collect();
    let reasons: Vec<String> = withheld["reasons"].as_array().unwrap().iter().map(text).collect();
    expected.push(vec!["withheld".into(), withheld["photo_id"].to_string(), text(&withheld["path"]), String::new(), reasons.join("; ")]);
    assert_eq!(rows, expected);
    assert!(rows[1][4].contains("revoked"), "{rows:?}");
    // The usage log says which photo was used for what, when, where and by whom.
    let usage = ev.lib.json(&["usage", "--photo", solo.to_str().unwrap()], 0);
    let u = &usage["uses"][0];
    assert_eq!((u["purpose"].as_str(), u["used_on"].as_str(), u["actor"].as_str()), (Some("intranet"), Some(TODAY), Some("press-office")));
    assert_eq!(u["destination"].as_str(), Some(dest.to_str().unwrap()));
    let by_person = ev.lib.json(&["usage", "--person", &ev.persons[0].to_string()], 0);
    assert_eq!(by_person["uses"].as_array().unwrap().len(), 1);
    assert_eq!(ev.lib.json(&["usage", "--person", &ev.persons[4].to_string()], 0)["uses"].as_array().unwrap().len(), 0);
}

#[test]
fn expiring_consents_are_listed_with_the_photos_they_will_block() {
    let ev = event();
    let none = ev.lib.run(&["--now", TODAY, "consent", "expiring", "--within", "30d"]);
    assert_eq!(none.status.code(), Some(0));
    let out = ev.lib.run(&["--now", "2027-05-10", "--json", "consent", "expiring", "--within", "30d"]);
    assert_eq!(out.status.code(), Some(3), "a distinct exit code for cron");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let people: Vec<i64> = listed["expiring"].as_array().unwrap().iter().map(|e| e["consent"]["person"].as_i64().unwrap()).collect();
    assert_eq!(people, vec![ev.persons[1], ev.persons[2]]);
    // The event photo is blocked anyway (Eve never consented): it is not counted (issue 10 C4).
    assert_eq!(listed["expiring"][0]["photos"].as_array().unwrap().len(), 0, "{listed}");
    // Renewed before the end: no longer listed.
    ev.json(&["consent", "grant", &ev.persons[1].to_string(), "--purpose", "social-media", "--from", "2027-06-01", "--until", "2029-05-31"], 0);
    let out = ev.lib.run(&["--now", "2027-05-10", "--json", "consent", "expiring", "--within", "30d"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["expiring"].as_array().unwrap().len(), 1);
}

#[test]
fn consent_requests_are_rfc5322_messages_to_the_person() {
    let ev = event();
    let eml = ev.lib.tmp.path().join("request.eml");
    let ask = ["consent", "request", &ev.persons[4].to_string(), "--purpose", "print", "social-media", "--out", eml.to_str().unwrap(), "--from", "privacy@example.org"];
    // Without the organisation's name the message could not say who asks: refused, nothing written.
    let out = ev.run(&ask);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("facegate organisation --name"), "{}", stderr(&out));
    assert!(!eml.exists());
    ev.json(&["organisation", "--name", "Example Museum", "--contact", "privacy@example.org", "--public-url", "https://consent.example.org/"], 0);
    let made = ev.json(&ask, 0);
    let text = std::fs::read_to_string(&eml).unwrap();
    for header in ["From: ", "To: ", "Subject: ", "Date: ", "Message-ID: ", "MIME-Version: 1.0"] {
        assert!(text.lines().any(|l| l.starts_with(header)), "{header} missing:\n{text}");
    }
    assert!(text.contains("eve@example.org") && text.contains("privacy@example.org"), "{text}");
    // The links in the reply are the ones the person gets; quoted-printable may wrap them, so
    // compare with soft line breaks undone.
    let body = text.replace("=\r\n", "").replace("=\n", "");
    let answer = made["answer_link"].as_str().unwrap();
    assert!(answer.starts_with("https://consent.example.org/c/") && body.contains(answer), "{made}\n{text}");
    assert!(body.contains(made["withdraw_link"].as_str().unwrap()), "{text}");
}

#[test]
fn bad_consent_input_is_refused_and_nothing_is_written() {
    let ev = event();
    let before = ev.lib.json(&["consent", "list"], 0)["consents"].as_array().unwrap().len();
    let p = ev.persons[4].to_string();
    let missing = ev.lib.tmp.path().join("no-such-form.pdf");
    for (args, needle) in [
        (vec!["consent", "grant", "9999", "--purpose", "print", "--no-expiry"], "no person 9999"),
        (vec!["consent", "grant", &p, "--purpose", "billboard", "--no-expiry"], "unknown purpose"),
        (vec!["consent", "grant", &p, "--purpose", "print", "--from", "2026-05-01", "--until", "2026-04-01"], "before"),
        (vec!["consent", "grant", &p, "--purpose", "print", "--no-expiry", "--evidence", missing.to_str().unwrap()], "no-such-form.pdf"),
        (vec!["consent", "grant", &p, "--purpose", "print", "--no-expiry", "--project", "nope"], "unknown project"),
        (vec!["consent", "revoke", "9999"], "no person 9999"),
    ] {
        let out = ev.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // Missing --until/--no-expiry is a usage error.
    assert_eq!(ev.run(&["consent", "grant", &p, "--purpose", "print"]).status.code(), Some(2));
    assert_eq!(ev.lib.json(&["consent", "list"], 0)["consents"].as_array().unwrap().len(), before);
    assert!(!ev.lib.dir().join("evidence").exists(), "no evidence stored");
    // A good grant with evidence stores the file by hash.
    let form = ev.lib.tmp.path().join("form.pdf");
    std::fs::write(&form, b"%PDF-1.4 signed quitclaim").unwrap();
    ev.json(&["consent", "grant", &p, "--purpose", "print", "--no-expiry", "--evidence", form.to_str().unwrap()], 0);
    let listed = ev.lib.json(&["consent", "list", "--person", &p], 0);
    let sha = listed["consents"][0]["evidence_sha256"].as_str().unwrap().to_string();
    // Stored by hash, keeping its extension (issue 10 D5).
    assert_eq!(std::fs::read(ev.lib.dir().join("evidence").join(format!("{sha}.pdf"))).unwrap(), b"%PDF-1.4 signed quitclaim");
}

#[test]
fn every_change_is_in_a_hash_chained_audit_trail_that_detects_tampering() {
    let ev = event();
    let verify = ev.lib.json(&["audit", "verify"], 0);
    assert_eq!(verify["ok"], true);
    let log = ev.lib.json(&["audit", "log", "--person", &ev.persons[3].to_string()], 0);
    let commands: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["command"].as_str().unwrap()).collect();
    assert!(commands.contains(&"consent grant") && commands.contains(&"consent revoke"), "{commands:?}");
    // Tamper with copies of the library: edit an entry, delete one, swap two.
    let swap = "UPDATE audit SET id = 100 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 4; UPDATE audit SET id = 4 WHERE id = 100;";
    for (i, (sql, first_bad)) in [("UPDATE audit SET outcome = 'denied' WHERE id = 3", 3), ("DELETE FROM audit WHERE id = 2", 3), (swap, 2)].into_iter().enumerate() {
        let copy = ev.lib.tmp.path().join(format!("tampered-{i}"));
        std::fs::create_dir_all(&copy).unwrap();
        let conn = rusqlite::Connection::open(ev.lib.db()).unwrap();
        conn.execute("VACUUM INTO ?1", [copy.join("library.db").to_str().unwrap()]).unwrap();
        drop(conn);
        rusqlite::Connection::open(copy.join("library.db")).unwrap().execute_batch(sql).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_facegate"))
            .args(["--json", "--library", copy.to_str().unwrap(), "audit", "verify"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["first_bad"]["id"], first_bad, "{sql}: {v}");
    }
}

/// Issue 10 C4: a grant until 2027-12-31 on a project ending 2027-04-30 expires in April; only
/// photos the end will block are counted (the solo photo, not the event photo that is blocked
/// anyway); a grant running past its project's end is warned about at `consent grant` and listed.
#[test]
fn expiring_consents_end_with_their_project_and_count_only_photos_they_block() {
    let ev = event();
    let ada = ev.persons[0].to_string();
    let solo_dir = ev.lib.tmp.path().join("solo");
    std::fs::create_dir_all(&solo_dir).unwrap();
    let solo = solo_dir.join("ada.png");
    crop("solvay_1927_group_b.jpg", (595, 395, 80, 90), &solo);
    ev.json(&["search", "--photo", solo.to_str().unwrap(), "--assign", &ada], 0);
    ev.json(&["project", "add", "expo", "--until", "2027-04-30"], 0);
    let out = ev.run(&["consent", "grant", &ada, "--purpose", "print", "--project", "expo", "--until", "2027-12-31"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning") && stderr(&out).contains("2027-04-30"), "{}", stderr(&out));
    let out = ev.lib.run(&["--now", "2027-04-15", "--json", "consent", "expiring", "--within", "30d"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let print: Vec<&Value> = listed["expiring"].as_array().unwrap().iter().filter(|e| e["consent"]["purpose"] == "print").collect();
    assert_eq!(print.len(), 1, "{listed}");
    assert_eq!(print[0]["ends"], "2027-04-30");
    assert_eq!(print[0]["ends_with_project"], "2027-04-30");
    let photos: Vec<&str> = print[0]["photos"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(photos.len(), 1, "{photos:?}");
    assert!(photos[0].ends_with("ada.png"), "the event photo is blocked anyway: {photos:?}");
    let text = String::from_utf8_lossy(&ev.lib.run(&["--now", "2027-04-15", "consent", "expiring", "--within", "30d"]).stdout).into_owned();
    assert!(text.contains("expires 2027-04-30") && text.contains("ends with project expo"), "{text}");
}

/// Issue 10 C5: consent for a person with no confirmed face is recorded, with a warning.
#[test]
fn consent_for_a_person_with_no_confirmed_face_warns() {
    let ev = event();
    let nobody = ev.json(&["person", "add", "--name", "Fay"], 0)["id"].to_string();
    let out = ev.run(&["consent", "grant", &nobody, "--purpose", "print", "--no-expiry"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no confirmed face") && stderr(&out).contains("person confirm"), "{}", stderr(&out));
    let out = ev.run(&["consent", "grant", &ev.persons[0].to_string(), "--purpose", "print", "--no-expiry"]);
    assert!(!stderr(&out).contains("warning"), "Ada has a confirmed face: {}", stderr(&out));
}

/// Issue 10 C6: a byte-identical copy under another path is decided as the indexed photo, and
/// the decision says so; a different file is still "not in the library".
#[test]
fn check_matches_a_copy_by_content() {
    let ev = event();
    let elsewhere = ev.lib.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let copy = elsewhere.join("copy-of-event.png");
    std::fs::copy(&ev.photo, &copy).unwrap();
    let out = ev.run(&["--json", "check", copy.to_str().unwrap(), "--purpose", "social-media"]);
    assert_eq!(out.status.code(), Some(1), "blocked as the original is, not an error: {}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["photos"][0];
    assert!(d["matched_by_content"].as_str().unwrap().ends_with("event.png"), "{d}");
    assert_eq!(d["faces"].as_array().unwrap().len(), 5, "{d}");
    assert!(d["error"].is_null(), "{d}");
    let text = String::from_utf8_lossy(&ev.run(&["check", copy.to_str().unwrap(), "--purpose", "social-media"]).stdout).into_owned();
    assert!(text.contains("matched by content"), "{text}");
    let other = elsewhere.join("other.png");
    std::fs::write(&other, [std::fs::read(&ev.photo).unwrap(), b"x".to_vec()].concat()).unwrap();
    let out = ev.run(&["check", other.to_str().unwrap(), "--purpose", "social-media"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not in the library"));
}
