//! The documented shapes of `--json` (docs/json/, one JSON Schema per command) checked against the
//! real replies: a whole workflow of real CLI runs on a temporary library, each reply validated
//! against its command's schema. A schema that no run uses fails the test (no stale schemas), and
//! every reply is also mutated (each field renamed or left out, each value given another type)
//! to show that its schema would notice the drift.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{copy, repo, sample_images, stderr, Lib};

/// The base URI of every schema's `$id`: `.invalid` never resolves, and nothing is fetched (the
/// crate's resolvers are off; every document is in the registry).
const BASE: &str = "https://facegate.invalid/json/";
/// The file of shared definitions, which no reply validates against directly.
const COMMON: &str = "common";

pub struct Schemas {
    validators: BTreeMap<String, jsonschema::Validator>,
    used: RefCell<BTreeSet<String>>,
}

fn schema_dir() -> PathBuf {
    repo().join("docs/json")
}

/// Every docs/json/NAME.schema.json by NAME.
fn schema_files() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(schema_dir()).expect("docs/json") {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let name = file.strip_suffix(".schema.json").unwrap_or_else(|| panic!("docs/json/{file}: not NAME.schema.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.insert(name.to_string(), value);
    }
    out
}

impl Schemas {
    /// Compiles every schema, each checked against the 2020-12 meta-schema, with `$id`
    /// naming its own file.
    pub fn load() -> Schemas {
        let files = schema_files();
        assert!(files.contains_key(COMMON), "docs/json/{COMMON}.schema.json is missing");
        let mut registry = jsonschema::Registry::new();
        for (name, schema) in &files {
            jsonschema::meta::validate(schema).unwrap_or_else(|e| panic!("docs/json/{name}.schema.json is not a valid schema: {e}"));
            assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
            assert_eq!(schema["$id"], format!("{BASE}{name}.schema.json"), "{name}: $id must name the file");
            registry = registry.add(format!("{BASE}{name}.schema.json"), schema.clone()).expect("add to registry");
        }
        let registry = registry.prepare().expect("prepare registry");
        let validators = files
            .iter()
            .filter(|(name, _)| name.as_str() != COMMON)
            .map(|(name, schema)| {
                let v = jsonschema::options()
                    .offline()
                    .with_registry(&registry)
                    .should_validate_formats(true)
                    .build(schema)
                    .unwrap_or_else(|e| panic!("docs/json/{name}.schema.json does not compile: {e}"));
                (name.clone(), v)
            })
            .collect();
        Schemas { validators, used: RefCell::new(BTreeSet::new()) }
    }

    /// Asserts that `reply` fits schema `name`, and that renaming or leaving out any of its fields,
    /// or giving any value another type, would not.
    pub fn check(&self, name: &str, args: &[&str], reply: &Value) {
        let v = self.validators.get(name).unwrap_or_else(|| panic!("no docs/json/{name}.schema.json (for {args:?})"));
        let errors: Vec<String> = v.iter_errors(reply).map(|e| format!("  at {}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "facegate {args:?} --json does not fit docs/json/{name}.schema.json:\n{}\nreply: {reply:#}", errors.join("\n"));
        for (what, drifted) in mutations(reply) {
            assert!(!v.is_valid(&drifted), "docs/json/{name}.schema.json accepts the reply of {args:?} with {what}: it is not strict enough");
        }
        self.used.borrow_mut().insert(name.to_string());
    }
}

/// Each field renamed, each field left out, and each value replaced by one of another type, one
/// change at a time, with where it was made. Every field is always present and no object has free-form keys, so
/// a strict schema rejects each of them.
fn mutations(reply: &Value) -> Vec<(String, Value)> {
    fn walk(node: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, Change)>) {
        match node {
            Value::Object(map) => {
                for (key, value) in map {
                    out.push((at.clone(), Change::Rename(key.clone())));
                    out.push((at.clone(), Change::Remove(key.clone())));
                    at.push(key.clone());
                    out.push((at.clone(), Change::Retype));
                    walk(value, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    at.push(i.to_string());
                    out.push((at.clone(), Change::Retype));
                    walk(item, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    enum Change {
        Rename(String),
        Remove(String),
        Retype,
    }
    let mut changes = Vec::new();
    walk(reply, &mut Vec::new(), &mut changes);
    changes
        .into_iter()
        .map(|(at, change)| {
            let mut copy = reply.clone();
            let node = at.iter().fold(&mut copy, |n, k| match n {
                Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
                n => &mut n[k.as_str()],
            });
            let what = match change {
                Change::Rename(key) => {
                    let map = node.as_object_mut().unwrap();
                    let value = map.remove(&key).unwrap();
                    map.insert(format!("{key}_renamed"), value);
                    format!("field /{} renamed", [&at[..], &[key]].concat().join("/"))
                }
                Change::Remove(key) => {
                    node.as_object_mut().unwrap().remove(&key);
                    format!("field /{} missing", [&at[..], &[key]].concat().join("/"))
                }
                Change::Retype => {
                    *node = match node {
                        Value::String(_) => Value::from(7),
                        Value::Number(_) | Value::Bool(_) | Value::Array(_) => Value::from("7"),
                        Value::Null | Value::Object(_) => serde_json::json!({ "drift": true }),
                    };
                    format!("/{} of another type", at.join("/"))
                }
            };
            (what, copy)
        })
        .collect()
}

/// Runs `facegate ARGS --json` with `env`, asserts the exit code and that stdout is one JSON object, and
/// checks it against schema `name`.
fn run_with(lib: &Lib, schemas: &Schemas, name: &str, args: &[&str], code: i32, env: &[(&str, &str)]) -> Value {
    let out = lib.cmd().envs(env.iter().copied()).args(args).arg("--json").output().expect("run facegate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "facegate {args:?} --json\nstdout:\n{stdout}\nstderr:\n{}", stderr(&out));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("facegate {args:?} --json: not one JSON value ({e}):\n{stdout}"));
    assert!(reply.is_object(), "facegate {args:?} --json printed {reply}");
    schemas.check(name, args, &reply);
    reply
}

fn id(v: &Value) -> String {
    v.as_i64().unwrap_or_else(|| panic!("not an id: {v}")).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every command with `--json` output, run for real through a whole workflow (index, review,
/// consent, gate, export, access report, erasure, an interrupted erasure, a broken audit trail,
/// errors), each reply checked against its schema; then every schema must have been used.
#[test]
fn every_json_reply_fits_its_schema_and_every_schema_is_used() {
    let schemas = Schemas::load();
    let lib = Lib::new();
    let tmp = lib.tmp.path();
    let photos = tmp.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let grace = copy(&sample_images().join("grace_hopper.jpg"), &photos, "grace.jpg");
    let grace6 = copy(&sample_images().join("grace_hopper_exif_orientation6.jpg"), &photos, "grace6.jpg");
    let solvay = copy(&sample_images().join("solvay_1927_group_b.jpg"), &photos, "solvay.jpg");
    copy(&sample_images().join("cameraman_cc0.png"), &photos, "cameraman.png");
    copy(&sample_images().join("eileen_collins_nasa.png"), &photos, "eileen.png");
    std::fs::write(photos.join("broken.jpg"), b"not a jpeg at all").unwrap();
    // Today, unless a run says otherwise with --now.
    let r = |name: &str, args: &[&str], code: i32| run_with(&lib, &schemas, name, args, code, &[("FACEGATE_NOW", "2026-06-01")]);

    let summary = r("index", &["index", s(&photos)], 2);
    assert_eq!(summary["failures"].as_array().map(Vec::len), Some(1), "{summary}");
    r("index", &["index", s(&photos)], 2);
    r("status", &["status"], 0);

    // Persons: clustering made one of the two Grace Hopper photos' faces.
    let persons = r("person-list", &["person", "list"], 0);
    let grace_id = id(&persons["persons"][0]["id"]);
    let shown = r("person-show", &["person", "show", &grace_id], 0);
    assert!(!shown["faces"].as_array().unwrap().is_empty(), "{shown}");
    r("person-photos", &["person", "photos", &grace_id, "--include-suggestions"], 0);
    r("person-name", &["person", "name", &grace_id, "Grace Hopper", "--email", "grace@example.org"], 0);
    r("person-confirm", &["person", "confirm", &grace_id], 0);
    r("person-photos", &["person", "photos", "grace hopper"], 0);
    r("search", &["search", "--photo", s(&grace)], 0);
    let assigned = r("search", &["search", "--photo", s(&grace6), "--assign", &grace_id], 0);
    assert!(assigned["assigned"].is_i64(), "{assigned}");

    let ada = id(&r("person-add", &["person", "add", "--name", "Ada", "--email", "ada@example.org", "--external"], 0)["id"]);
    let ben = id(&r("person-add", &["person", "add", "--name", "Ben"], 0)["id"]);
    let unassigned = r("face-list", &["face", "list", "--unassigned"], 0);
    let faces_in = |file: &str| -> Vec<String> {
        let all = unassigned["faces"].as_array().unwrap().iter();
        all.filter(|f| f["path"].as_str().unwrap().ends_with(file)).map(|f| id(&f["face_id"])).collect()
    };
    let faces = faces_in("solvay.jpg");
    assert!(faces.len() >= 4, "{unassigned}");
    // Two persons with a photo of their own, for erasures that remove files.
    let solo = |file: &str, name: &str| {
        let person = id(&r("person-add", &["person", "add", "--name", name], 0)["id"]);
        r("face-move", &["face", "move", &faces_in(file)[0], "--to", &person], 0);
        person
    };
    let (eileen, cameraman) = (solo("eileen.png", "Eileen"), solo("cameraman.png", "Cameraman"));
    r("face-move", &["face", "move", &faces[0], "--to", &ada], 0);
    r("face-confirm", &["face", "confirm", &faces[0]], 0);
    r("face-reject", &["face", "reject", &faces[1], "--person", &ada], 0);
    r("face-move", &["face", "move", &faces[1], "--to", &ben], 0);
    r("face-move", &["face", "move", &faces[2], "--to", &ben], 0);
    let split = id(&r("person-split", &["person", "split", &ben, "--faces", &faces[2]], 0)["id"]);
    r("person-merge", &["person", "merge", &ben, &split], 0);
    r("face-dismiss", &["face", "dismiss", &faces[3]], 0);
    r("face-add", &["face", "add", s(&solvay), "--box", "10,10,60,70"], 0);
    r("cluster", &["cluster", "--all"], 0);

    // Consent.
    r("purpose-add", &["purpose", "add", "social", "--description", "posts on our accounts"], 0);
    r("purpose-add", &["purpose", "add", "print"], 0);
    r("purpose-list", &["purpose", "list"], 0);
    r("project-add", &["project", "add", "expo", "--until", "2026-12-31"], 0);
    r("project-add", &["project", "add", "open"], 0);
    r("project-list", &["project", "list"], 0);
    let form = tmp.join("form.pdf");
    std::fs::write(&form, b"%PDF-1.4 signed form").unwrap();
    let grant = ["consent", "grant", &grace_id, "--purpose", "social", "--from", "2026-01-01", "--until", "2026-06-20"];
    let extra = ["--project", "expo", "--evidence", s(&form), "--source", "paper", "--note", "signed at the door"];
    r("consent-grant", &[&grant[..], &extra[..]].concat(), 0);
    r("consent-grant", &["consent", "grant", &ada, "--purpose", "social", "print", "--no-expiry"], 0);
    r("consent-revoke", &["consent", "revoke", &ada, "--purpose", "social", "--date", "2026-05-01"], 0);
    r("consent-revoke", &["consent", "revoke", &ben], 0);
    r("consent-list", &["consent", "list"], 0);
    let expiring = r("consent-expiring", &["consent", "expiring", "--within", "30d"], 3);
    assert!(!expiring["expiring"][0]["photos"].as_array().unwrap().is_empty(), "{expiring}");
    r("consent-expiring", &["--now", "2027-06-01", "consent", "expiring"], 0);
    r("organisation", &["organisation"], 0);
    let org = r("organisation", &["organisation", "--name", "Example Museum", "--contact", "privacy@example.org", "--public-url", "https://consent.example.org"], 0);
    assert_eq!(org["name"], "Example Museum", "{org}");
    r("consent-request", &["consent", "request", &grace_id, "--purpose", "social", "--out", s(&tmp.join("request.eml"))], 0);

    // The gate: allowed, blocked, a copy matched by content, a file not in the library.
    let elsewhere = tmp.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let grace_copy = copy(&grace, &elsewhere, "copy.jpg");
    let check = ["check", s(&grace), s(&solvay), s(&grace_copy), s(&form), "--purpose", "social", "--project", "expo"];
    let decided = r("check", &check, 2);
    assert!(decided["photos"][2]["matched_by_content"].is_string(), "{decided}");
    r("check", &["check", s(&grace), "--purpose", "social", "--project", "expo"], 0);
    r("check", &["check", s(&solvay), "--purpose", "print", "--min-face-px", "40"], 1);
    let exported = r("export", &["export", "--purpose", "social", "--project", "expo", "--to", s(&tmp.join("out")), "--from", s(&photos)], 0);
    assert!(!exported["exported"].as_array().unwrap().is_empty() && !exported["withheld"].as_array().unwrap().is_empty(), "{exported}");
    r("export", &["export", "--purpose", "social", "--project", "expo", "--to", s(&tmp.join("out2")), "--person", &grace_id, "--link"], 0);
    r("usage", &["usage", "--person", &grace_id], 0);
    r("usage", &["usage", "--photo", s(&solvay)], 0);
    r("usage", &["usage"], 0);
    r("audit-log", &["audit", "log", "--person", &grace_id], 0);
    r("audit-verify", &["audit", "verify"], 0);
    r("report-access", &["report", "access", &grace_id, "--format", "json", "--out", s(&tmp.join("access.json"))], 0);

    // Erasure: a plan; erasures that keep, quarantine and delete files; one killed after its
    // transaction and finished by --resume.
    let plan = r("erase-dry-run", &["erase", &grace_id, "--reason", "request", "--delete-files", "--dry-run", "--include-suggestions"], 0);
    assert!(!plan["uses"].as_array().unwrap().is_empty(), "{plan}");
    let erase = |person: &str, files: &[&str]| r("erase", &[&["erase", person, "--reason", "request", "--yes", "--include-suggestions"], files].concat(), 0);
    let kept = erase(&ada, &["--keep-files"]);
    assert!(!kept["review"].as_array().unwrap().is_empty() && !kept["photos_kept_blocked"].as_array().unwrap().is_empty(), "{kept}");
    let moved = erase(&eileen, &["--quarantine", s(&tmp.join("quarantine"))]);
    assert_eq!(moved["files_quarantined"].as_array().map(Vec::len), Some(1), "{moved}");
    let deleted = erase(&cameraman, &["--delete-files"]);
    assert_eq!(deleted["files_deleted"].as_array().map(Vec::len), Some(1), "{deleted}");
    r("erase-resume", &["erase", "--resume"], 0);
    let killed = ["--now", "2026-06-01", "erase", &grace_id, "--reason", "request", "--delete-files", "--yes", "--include-suggestions"];
    let mut interrupted = false;
    for n in 1..200 {
        let out = lib.cmd().env("FACEGATE_CRASH_AT", n.to_string()).args(killed).output().unwrap();
        assert!(!out.status.success(), "the erasure ran to its end before any kill left it unfinished");
        if !r("status", &["status"], 0)["unfinished_erasures"].as_array().unwrap().is_empty() {
            interrupted = true;
            break;
        }
    }
    assert!(interrupted, "no crash point left the erasure unfinished");
    let resumed = r("erase-resume", &["erase", "--resume"], 0);
    assert_eq!(resumed["finished"][0]["files_deleted"].as_array().map(Vec::len), Some(2), "{resumed}");
    r("status", &["status"], 0);
    r("erase", &["erase", &ben, "--reason", "request", "--keep-files", "--yes", "--include-suggestions"], 0);

    // A broken audit trail names the first bad entry.
    let conn = rusqlite::Connection::open(lib.db()).unwrap();
    conn.execute("UPDATE audit SET outcome = 'changed' WHERE id = 2", []).unwrap();
    drop(conn);
    let broken = r("audit-verify", &["audit", "verify"], 1);
    assert!(broken["first_bad"]["id"].is_i64() && broken["first_bad"]["why"].is_string(), "{broken}");

    // Errors: the library's, the CLI's own, and argument errors.
    r("error", &["person", "show", "9999"], 1);
    r("error", &["person", "show", "Nobody"], 1);
    r("error", &["check", s(&grace), "--purpose", "socail"], 2);
    r("error", &["consent", "grant", "--purpose", "social", "4", "--no-expiry"], 2);

    let all: BTreeSet<String> = schema_files().into_keys().filter(|n| n != COMMON).collect();
    let used = schemas.used.borrow();
    let unused: Vec<&String> = all.difference(&used).collect();
    assert!(unused.is_empty(), "schemas no command run used (stale, or a command without a test run): {unused:?}");
}

/// Every definition in common.schema.json is referenced by some schema, so none is stale.
#[test]
fn every_shared_definition_is_referenced() {
    let files = schema_files();
    let texts: String = files.values().map(|v| v.to_string()).collect();
    let defs = files[COMMON]["$defs"].as_object().expect("common.schema.json has $defs");
    let unreferenced: Vec<&String> = defs
        .keys()
        .filter(|name| !texts.contains(&format!("common.schema.json#/$defs/{name}\"")) && !texts.contains(&format!("\"#/$defs/{name}\"")))
        .collect();
    assert!(unreferenced.is_empty(), "definitions in common.schema.json nothing references: {unreferenced:?}");
}
