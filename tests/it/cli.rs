//! Issue 10 D: the CLI as people use it. A forgotten `--library`, persons by name, errors that
//! teach, one JSON convention, and the smaller things (summaries, tables, the request message).

use std::process::Output;

use serde_json::Value;

use crate::common::{copy, sample_images, stderr, Lib};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `args` and asserts the exit code; returns the output.
fn run(lib: &Lib, args: &[&str], code: i32) -> Output {
    let out = lib.run(args);
    assert_eq!(out.status.code(), Some(code), "facegate {args:?}\nstdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    out
}

/// A library with the purposes social (described) and print, and three persons: two called
/// Ada Lovelace (one with an email) and Ben.
fn people() -> (Lib, [i64; 3]) {
    let lib = Lib::new();
    lib.json(&["purpose", "add", "social", "--description", "posts on our social media accounts"], 0);
    lib.json(&["purpose", "add", "print"], 0);
    let add = |args: &[&str]| lib.json(&[&["person", "add"], args].concat(), 0)["id"].as_i64().unwrap();
    let ada = add(&["--name", "Ada Lovelace", "--email", "ada@example.org"]);
    let ada2 = add(&["--name", "Ada Lovelace"]);
    let ben = add(&["--name", "Ben"]);
    (lib, [ada, ada2, ben])
}

/// D1: without --library (and FACEGATE_LIBRARY), the first write command says where it made the
/// library; later ones do not.
#[test]
fn a_library_made_in_the_default_place_is_announced() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let facegate = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_facegate"))
            .args(args)
            .env_remove("FACEGATE_LIBRARY")
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", &data)
            .output()
            .unwrap()
    };
    let first = facegate(&["purpose", "add", "social"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let folder = data.join("facegate");
    assert!(stderr(&first).contains("created a new library") && stderr(&first).contains(&folder.display().to_string()), "{}", stderr(&first));
    assert!(folder.join("library.db").is_file());
    let second = facegate(&["purpose", "add", "print"]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(!stderr(&second).contains("created"), "{}", stderr(&second));
}

/// D2: a name or an email does wherever a person id is taken; two persons of one name are an
/// error listing both; names are printed with the ids.
#[test]
fn persons_are_taken_by_name_or_email_and_printed_with_their_names() {
    let (lib, [ada, ada2, ben]) = people();
    let out = run(&lib, &["consent", "grant", "ben", "--purpose", "social", "--no-expiry"], 0);
    assert!(stdout(&out).contains(&format!("person {ben} Ben")), "{}", stdout(&out));
    run(&lib, &["consent", "grant", "ADA@example.org", "--purpose", "print", "--no-expiry"], 0);
    let listed = lib.json(&["consent", "list", "--person", "Ben"], 0);
    let persons: Vec<i64> = listed["consents"].as_array().unwrap().iter().map(|c| c["person"].as_i64().unwrap()).collect();
    assert_eq!(persons, vec![ben]);
    let listed = lib.json(&["consent", "list", "--person", "ada@example.org"], 0);
    assert_eq!(listed["consents"][0]["person"].as_i64(), Some(ada));
    assert_eq!(lib.json(&["person", "show", "ada@example.org"], 0)["person"]["id"].as_i64(), Some(ada));
    let text = stdout(&run(&lib, &["consent", "list"], 0));
    assert!(text.contains(&format!("person {ada} Ada Lovelace")) && text.contains(&format!("person {ben} Ben")), "{text}");

    let ambiguous = run(&lib, &["person", "show", "Ada Lovelace"], 1);
    let err = stderr(&ambiguous);
    assert!(err.contains(&format!("person {ada} Ada Lovelace <ada@example.org>")) && err.contains(&format!("person {ada2} Ada Lovelace")), "{err}");
    let unknown = run(&lib, &["consent", "grant", "Nobody", "--purpose", "social", "--no-expiry"], 1);
    assert!(stderr(&unknown).contains("no person named \"Nobody\""), "{}", stderr(&unknown));
    // Ids still work, and nothing was recorded by the refused commands.
    assert_eq!(lib.json(&["person", "show", &ben.to_string()], 0)["person"]["name"], "Ben");
    assert_eq!(lib.json(&["consent", "list"], 0)["consents"].as_array().unwrap().len(), 2);
}

/// D3: a near miss suggests the purpose meant; purposes are not case-sensitive; dates say their
/// format; a person id swallowed by --purpose gets a hint.
#[test]
fn errors_teach_what_to_type() {
    let (lib, [_, _, ben]) = people();
    let b = ben.to_string();
    let typo = run(&lib, &["consent", "grant", &b, "--purpose", "socail", "--no-expiry"], 1);
    assert!(stderr(&typo).contains("did you mean \"social\"?") && !stderr(&typo).contains("purpose add"), "{}", stderr(&typo));
    // Any case finds the purpose; the stored spelling is kept.
    run(&lib, &["consent", "grant", &b, "--purpose", "Social", "--no-expiry"], 0);
    assert_eq!(lib.json(&["consent", "list", "--purpose", "SOCIAL"], 0)["consents"][0]["purpose"], "social");
    let twin = run(&lib, &["purpose", "add", "PRINT"], 1);
    assert!(stderr(&twin).contains("exists already"), "{}", stderr(&twin));
    let date = run(&lib, &["consent", "grant", &b, "--purpose", "print", "--until", "01/12/2026"], 2);
    assert!(stderr(&date).contains("YYYY-MM-DD"), "{}", stderr(&date));
    let swallowed = run(&lib, &["consent", "grant", "--purpose", "social", &b, "--no-expiry"], 2);
    assert!(stderr(&swallowed).contains(&format!("hint: --purpose takes several names, so \"{b}\" was read as a purpose")), "{}", stderr(&swallowed));
    assert_eq!(lib.json(&["purpose", "list"], 0)["purposes"].as_array().unwrap().len(), 2);
}

/// Every float in a JSON value has at most four decimals.
fn assert_rounded(v: &Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let text = n.to_string();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.trim_end_matches(|c: char| !c.is_ascii_digit()).len());
            assert!(decimals <= 4, "{text} has more than 4 decimals");
        }
        Value::Array(a) => a.iter().for_each(assert_rounded),
        Value::Object(o) => o.values().for_each(assert_rounded),
        _ => {}
    }
}

/// D4: every command prints one JSON object; errors too (on stdout, besides the stderr line);
/// one field name per concept; floats rounded alike; photos as objects.
#[test]
fn every_json_reply_is_one_object_and_errors_are_objects_too() {
    let (lib, [_, _, ben]) = people();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &photos, "grace.jpg");
    let summary = lib.index(&[&photos], 0);
    assert!(summary["seconds"].is_f64(), "{summary}");
    assert_rounded(&summary);
    lib.json(&["consent", "grant", &ben.to_string(), "--purpose", "social", "--from", "2026-01-01", "--until", "2026-12-31"], 0);
    let grace = photos.join("grace.jpg");
    let grace = grace.to_str().unwrap();
    for args in [
        &["status"][..],
        &["purpose", "list"],
        &["project", "list"],
        &["person", "list"],
        &["face", "list", "--unassigned"],
        &["consent", "list"],
        &["--now", "2026-12-20", "consent", "expiring"],
        &["usage", "--photo", grace],
        &["audit", "log"],
        &["audit", "verify"],
    ] {
        let out = lib.cmd().args(args).arg("--json").output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)));
        assert!(v.is_object(), "{args:?} printed {v}");
        assert_rounded(&v);
    }
    let listed = lib.json(&["--now", "2026-06-01", "consent", "list"], 0);
    let c = &listed["consents"][0];
    assert_eq!((c["status"].as_str(), c["valid"].as_bool()), (Some("valid"), Some(true)), "{listed}");
    assert!(c.get("status_today").is_none(), "{listed}");
    let faces = lib.json(&["face", "list", "--unassigned"], 0);
    assert_rounded(&faces);

    let out = lib.cmd().args(["person", "show", "9999", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(v["error"]["code"], "invalid", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("no person 9999"), "{v}");
    assert!(stderr(&out).contains("facegate: error: no person 9999"), "{}", stderr(&out));
    // The CLI's own errors have their own codes, usage errors too.
    let out = lib.cmd().args(["person", "show", "Nobody", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["error"]["code"], "unknown_person");
    let out = lib.cmd().args(["consent", "grant", "--json", "--purpose", "social", "4", "--no-expiry"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(v["error"]["code"], "usage", "{v}");
    // check reports its errors (exit 2) the same way.
    let out = lib.cmd().args(["check", grace, "--purpose", "socail", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(v["error"]["code"], "unknown_purpose", "{v}");
}

/// D4: photos are objects in `consent expiring`, not bare paths.
#[test]
fn expiring_consents_list_photos_as_objects() {
    let lib = Lib::new();
    lib.json(&["purpose", "add", "social"], 0);
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &photos, "grace.jpg");
    lib.index(&[&photos], 0);
    let face = lib.json(&["face", "list", "--unassigned"], 0)["faces"][0]["face_id"].as_i64();
    let grace = lib.json(&["person", "add", "--name", "Grace Hopper"], 0)["id"].as_i64().unwrap().to_string();
    if let Some(face) = face {
        lib.json(&["face", "move", &face.to_string(), "--to", "Grace Hopper"], 0);
    } else {
        // Clustering made her a person already: confirm that one instead.
        let p = lib.json(&["person", "list"], 0)["persons"][0]["id"].to_string();
        lib.json(&["person", "merge", &grace, &p], 0);
        lib.json(&["person", "confirm", &grace], 0);
    }
    lib.json(&["consent", "grant", "grace hopper", "--purpose", "social", "--from", "2026-01-01", "--until", "2026-12-31"], 0);
    let out = lib.cmd().args(["--now", "2026-12-20", "--json", "consent", "expiring"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let photo = &v["expiring"][0]["photos"][0];
    assert!(photo["path"].as_str().is_some_and(|p| p.ends_with("grace.jpg")), "{v}");
}

/// D5: the index summary names the persons, status does not count failed files as photos,
/// `usage` says when there is no use, tables stay aligned, and the request message uses the
/// purpose's description and the organisation's name.
#[test]
fn summaries_tables_and_messages_say_what_people_need() {
    let (lib, [ada, _, _]) = people();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &photos, "grace.jpg");
    std::fs::write(photos.join("broken.jpg"), b"not a jpeg at all").unwrap();
    let text = stdout(&run(&lib, &["index", photos.to_str().unwrap()], 2));
    assert!(text.contains("persons"), "{text}");
    let status = lib.json(&["status"], 0);
    assert_eq!((status["photos"].as_u64(), status["failed"].as_u64()), (Some(1), Some(1)), "{status}");
    let none = stdout(&run(&lib, &["usage", "--photo", photos.join("grace.jpg").to_str().unwrap()], 0));
    assert!(none.contains("no recorded use"), "{none}");

    lib.json(&["person", "add", "--name", "Maria Salomea Skłodowska-Curie, née Skłodowska (visiting)"], 0);
    let table = stdout(&run(&lib, &["person", "list"], 0));
    let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "columns misaligned:\n{table}");

    let eml = lib.tmp.path().join("request.eml");
    let a = ada.to_string();
    run(&lib, &["consent", "request", &a, "--purpose", "social", "--out", eml.to_str().unwrap(), "--organisation", "Example Museum", "--link-base", "https://consent.example.org"], 0);
    let message = std::fs::read_to_string(&eml).unwrap();
    assert!(message.contains("posts on our social media accounts") && message.contains("Example Museum"), "{message}");
}
