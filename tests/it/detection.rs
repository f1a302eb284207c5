//! Doubt blocks: possible faces (the detector is unsure) block `check` and `export` until a person
//! identifies or dismisses them; faces the detector missed are added by hand. Both survive
//! re-indexing and are audited. The detector's confident threshold is raised in a copy of the
//! manifest so that real faces of the sample photos become possible faces: the real models, on
//! real photos, at a stricter setting.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const TODAY: &str = "2026-11-25";

/// A manifest in `dir` using the repo's model files, with the detector's `score_threshold` set to
/// `confident`.
fn manifest_with(dir: &Path, confident: &str) -> PathBuf {
    let models = repo().join("models");
    let text = std::fs::read_to_string(models.join("models.toml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once(" = ") {
            Some(("file", v)) => format!("file = \"{}\"", models.join(v.trim_matches('"')).display()),
            Some(("score_threshold", _)) => format!("score_threshold = {confident}"),
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("models.toml"), out).unwrap();
    dir.to_path_buf()
}

struct Setup {
    lib: Lib,
    photo: PathBuf,
    models: PathBuf,
}

impl Setup {
    fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--now", TODAY, "--models", self.models.to_str().unwrap()];
        all.extend_from_slice(args);
        self.lib.json(&all, code)
    }

    fn check(&self, code: i32) -> Value {
        let v = self.json(&["check", self.photo.to_str().unwrap(), "--purpose", "web"], code);
        v["photos"][0].clone()
    }

    fn faces(&self) -> Vec<(i64, String, f64)> {
        let conn = rusqlite::Connection::open(self.lib.db()).unwrap();
        let mut stmt = conn.prepare("SELECT id, origin, x0 FROM faces ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    }

    /// Indexes the photo again after a change of detection settings (a new pipeline id makes
    /// every photo be processed again).
    fn reindex_with(&mut self, confident: &str) {
        self.models = manifest_with(&self.lib.tmp.path().join(format!("models-{confident}")), confident);
        let summary = self.json(&["index", self.photo.parent().unwrap().to_str().unwrap()], 0);
        assert_eq!(summary["changed"], 1, "{summary}");
    }
}

/// The cameraman photo (one face, scoring about 0.998) in a library where faces need 0.9995 to be
/// confident: its face is a possible face.
fn setup() -> Setup {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let photo = copy(&sample_images().join("cameraman_cc0.png"), &photos, "cameraman.png");
    let models = manifest_with(&lib.tmp.path().join("models"), "0.9995");
    let s = Setup { lib, photo, models };
    s.json(&["index", photos.to_str().unwrap()], 0);
    s.json(&["purpose", "add", "web"], 0);
    s
}

#[test]
fn a_possible_face_blocks_check_and_export_until_identified() {
    let s = setup();
    let faces = s.faces();
    assert_eq!(faces.len(), 1, "{faces:?}");
    let (face, origin, _) = faces[0].clone();
    assert_eq!(origin, "possible");
    // Never clustered automatically, and shown as a possible face.
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM faces WHERE person_id IS NOT NULL"), 0);
    let listed = s.json(&["face", "list", "--unassigned"], 0);
    assert_eq!(listed["faces"][0]["origin"], "possible", "{listed}");

    // The person in it has consent, but nobody has said the possible face is theirs.
    let person = s.json(&["person", "add", "--name", "Camera Man"], 0)["id"].as_i64().unwrap().to_string();
    s.json(&["consent", "grant", &person, "--purpose", "web", "--no-expiry", "--source", "paper"], 0);
    let d = s.check(1);
    assert_eq!(d["allowed"], false);
    let reasons = d["reasons"].to_string();
    assert!(reasons.contains("possible face, not reviewed"), "{reasons}");
    let dest = s.lib.tmp.path().join("out");
    let report = s.json(&["export", "--purpose", "web", "--to", dest.to_str().unwrap(), "--from", s.photo.to_str().unwrap()], 0);
    assert_eq!(report["exported"].as_array().unwrap().len(), 0, "{report}");
    assert!(report["withheld"][0]["reasons"].to_string().contains("possible face"), "{report}");
    assert!(!dest.join("cameraman.png").exists());

    // Identified by a person: the gate treats it like any confirmed face.
    s.json(&["face", "move", &face.to_string(), "--to", &person], 0);
    assert_eq!(s.check(0)["allowed"], true);
}

#[test]
fn a_dismissed_face_stays_dismissed_when_the_photo_is_indexed_again() {
    let mut s = setup();
    let (face, _, _) = s.faces()[0].clone();
    let out = s.json(&["--actor", "reviewer", "face", "dismiss", &face.to_string()], 0);
    assert_eq!(out["faces"][0], face);
    assert!(s.faces().is_empty());
    let audit = s.lib.sql_text("SELECT actor || ' ' || command || ' ' || subjects FROM audit WHERE command = 'face dismiss'");
    assert!(audit.starts_with("reviewer face dismiss") && audit.contains(&format!("face:{face}")), "{audit}");
    // Another detection setting processes the photo again: the region stays empty, confident or not.
    s.reindex_with("0.5");
    assert!(s.faces().is_empty(), "{:?}", s.faces());
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM face_dismissals"), 1);
    // Dismissing a face that does not exist is an error that names it.
    let out = s.lib.run(&["--models", s.models.to_str().unwrap(), "face", "dismiss", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no face 999"), "{}", stderr(&out));
}

#[test]
fn a_face_added_by_hand_is_embedded_gated_audited_and_kept_across_indexing() {
    let mut s = setup();
    let (detected, _, _) = s.faces()[0].clone();
    // Someone in the background the detector did not see (here: a region of the tripod, which the
    // detector calls no face), drawn by hand.
    let added = s.json(&["--actor", "reviewer", "face", "add", s.photo.to_str().unwrap(), "--box", "60,120,140,200"], 0);
    let face = added["faces"][0].as_i64().unwrap();
    let faces = s.faces();
    assert_eq!(faces.len(), 2);
    assert!(faces.iter().any(|f| f.0 == face && f.1 == "manual"), "{faces:?}");
    assert_eq!(s.lib.sql_count(&format!("SELECT count(*) FROM embeddings WHERE face_id = {face}")), 1);
    let audit = s.lib.sql_text("SELECT actor || ' ' || subjects || ' ' || detail FROM audit WHERE command = 'face add'");
    assert!(audit.starts_with("reviewer") && audit.contains(&format!("face:{face}")) && audit.contains("box 60,120,140,200"), "{audit}");

    // It counts at the gate: unidentified, it blocks even when the detected face is allowed.
    let person = s.json(&["person", "add", "--name", "Camera Man"], 0)["id"].as_i64().unwrap().to_string();
    s.json(&["consent", "grant", &person, "--purpose", "web", "--no-expiry", "--source", "paper"], 0);
    s.json(&["face", "move", &detected.to_string(), "--to", &person], 0);
    let d = s.check(1);
    assert!(d["reasons"].to_string().contains(&format!("face {face} (unknown person): face not identified")), "{d}");
    let other = s.json(&["person", "add", "--name", "Bystander"], 0)["id"].as_i64().unwrap().to_string();
    s.json(&["face", "move", &face.to_string(), "--to", &other], 0);

    // Indexed again: the drawn face comes back, embedded anew, and keeps its person.
    s.reindex_with("0.5");
    let faces = s.faces();
    assert_eq!(faces.len(), 2, "{faces:?}");
    let manual: Vec<_> = faces.iter().filter(|f| f.1 == "manual").collect();
    assert_eq!(manual.len(), 1);
    assert!((manual[0].2 - 60.0).abs() < 0.5);
    let linked = s.lib.sql_text(&format!("SELECT person_id || ' ' || link FROM faces WHERE id = {}", manual[0].0));
    assert_eq!(linked, format!("{other} confirmed"));
    // Bad boxes are refused with the reason.
    for bad in ["10,10,5,50", "0,0,4,4", "a,b,c,d", "1,2,3"] {
        let out = s.lib.run(&["--models", s.models.to_str().unwrap(), "face", "add", s.photo.to_str().unwrap(), "--box", bad]);
        assert_ne!(out.status.code(), Some(0), "{bad}");
        assert!(stderr(&out).contains("box") || stderr(&out).contains("number"), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn erasing_the_person_of_a_face_drawn_by_hand_keeps_it_from_being_drawn_again() {
    let mut s = setup();
    let added = s.json(&["face", "add", s.photo.to_str().unwrap(), "--box", "60,120,140,200"], 0);
    let face = added["faces"][0].as_i64().unwrap().to_string();
    let person = s.json(&["person", "add", "--name", "Bystander"], 0)["id"].as_i64().unwrap().to_string();
    s.json(&["face", "move", &face, "--to", &person], 0);
    s.json(&["erase", &person, "--reason", "art. 17", "--keep-files", "--yes"], 0);
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM manual_faces"), 0);
    // The photo processed again: the drawn face does not come back, the detected one does.
    s.reindex_with("0.5");
    let faces = s.faces();
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert_eq!(faces[0].1, "detected");
}
