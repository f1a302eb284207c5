//! Users and API tokens through the CLI: `user add/list/passwd/disable`, `token create/list/revoke`
//! on a real library; passwords come on standard input, as a script would give them.

use std::io::Write;
use std::process::{Output, Stdio};

use sha2::{Digest, Sha256};

use crate::common::*;

/// Runs facegate with `input` on standard input.
pub fn run_with_stdin(lib: &Lib, args: &[&str], input: &str) -> Output {
    let mut child = lib.cmd().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run facegate");
    // A command may end before it reads its input (a refusal): a broken pipe is not a failure,
    // the exit status and output say what happened.
    if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing to facegate's input: {e}");
    }
    child.wait_with_output().unwrap()
}

/// Adds a user with `password`, asserting success.
pub fn add_user(lib: &Lib, name: &str, role: &str, password: &str) {
    let out = run_with_stdin(lib, &["--actor", "owner", "user", "add", name, "--role", role], &format!("{password}\n"));
    assert!(out.status.success(), "user add {name}: {}", stderr(&out));
}

/// `token create` for `user`: the secret.
pub fn create_token(lib: &Lib, user: &str) -> String {
    let t = lib.json(&["token", "create", "--user", user, "--label", "tests"], 0);
    t["token"].as_str().unwrap().to_string()
}

/// Whether any file of the library folder (database, WAL, …) contains `needle`.
fn library_holds(lib: &Lib, needle: &[u8]) -> bool {
    std::fs::read_dir(lib.dir()).unwrap().any(|e| {
        let path = e.unwrap().path();
        path.is_file() && std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle)
    })
}

fn users(lib: &Lib) -> Vec<serde_json::Value> {
    lib.json(&["user", "list"], 0)["users"].as_array().unwrap().clone()
}

#[test]
fn users_are_added_listed_given_new_passwords_and_disabled() {
    let lib = Lib::new();
    add_user(&lib, "ada", "admin", "correct horse battery");
    add_user(&lib, "Vic", "viewer", "another long one");

    let list = users(&lib);
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["name"].as_str(), list[0]["role"].as_str(), list[0]["disabled"].as_bool()), (Some("ada"), Some("admin"), Some(false)));
    assert_eq!(list[1]["role"], "viewer");
    let printed = lib.run(&["user", "list"]);
    assert!(String::from_utf8_lossy(&printed.stdout).contains("Vic"));
    assert!(!serde_json::to_string(&list).unwrap().contains("argon2"), "no hash is listed");

    let hash = lib.sql_text("SELECT password_hash FROM users WHERE name = 'ada'");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!library_holds(&lib, b"correct horse"), "the password is not in the library");

    // Refused: a short password, a taken name (whatever its case), an unknown role.
    let short = run_with_stdin(&lib, &["user", "add", "bob", "--role", "editor"], "short\n");
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("at least 10 characters"), "{}", stderr(&short));
    let taken = run_with_stdin(&lib, &["user", "add", "ADA", "--role", "editor"], "long enough pass\n");
    assert!(stderr(&taken).contains("exists already"), "{}", stderr(&taken));
    assert_eq!(run_with_stdin(&lib, &["user", "add", "bob", "--role", "root"], "long enough pass\n").status.code(), Some(2));
    assert_eq!(users(&lib).len(), 2);

    let out = run_with_stdin(&lib, &["--actor", "owner", "user", "passwd", "vic"], "a new long password\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(lib.sql_text("SELECT password_hash FROM users WHERE name = 'Vic'"), lib.sql_text("SELECT password_hash FROM users WHERE name = 'ada'"));
    let unknown = run_with_stdin(&lib, &["user", "passwd", "nobody"], "a new long password\n");
    assert!(stderr(&unknown).contains("no user named"), "{}", stderr(&unknown));

    let disabled = lib.json(&["--actor", "owner", "user", "disable", "Vic"], 0);
    assert_eq!(disabled["disabled"], true);
    assert_eq!(users(&lib)[1]["disabled"], true);

    let log = lib.json(&["audit", "log"], 0);
    let mine: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["command"].as_str().unwrap().starts_with("user "))
        .map(|e| (e["actor"].as_str().unwrap().to_string(), e["command"].as_str().unwrap().to_string()))
        .collect();
    let owner = |c: &str| ("owner".to_string(), c.to_string());
    assert_eq!(mine, [owner("user add"), owner("user add"), owner("user passwd"), owner("user disable")]);
}

#[test]
fn tokens_are_shown_once_and_stored_as_hashes() {
    let lib = Lib::new();
    add_user(&lib, "cms", "viewer", "correct horse battery");
    let printed = lib.run(&["token", "create", "--user", "cms"]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let text = String::from_utf8_lossy(&printed.stdout).into_owned();
    let secret = text.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("fgt_") && secret.len() == 4 + 64, "{text}");

    let second = create_token(&lib, "cms");
    assert_ne!(second, secret);
    let stored = lib.sql_text("SELECT token_sha256 FROM api_tokens WHERE id = 1");
    assert_eq!(stored, hex::encode(Sha256::digest(secret.as_bytes())));
    assert!(!library_holds(&lib, secret.as_bytes()), "the secret is not in the library");

    let list = lib.json(&["token", "list"], 0);
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!((tokens[1]["user"].as_str(), tokens[1]["label"].as_str()), (Some("cms"), Some("tests")));
    assert!(!list.to_string().contains(&secret[4..]), "the listing holds no secret");

    lib.json(&["token", "revoke", "1"], 0);
    assert!(lib.json(&["token", "list"], 0)["tokens"][0]["revoked_at"].is_string());
    let again = lib.run(&["token", "revoke", "1"]);
    assert_eq!(again.status.code(), Some(1), "revoking twice is an error");
    let nobody = lib.run(&["token", "create", "--user", "nobody"]);
    assert!(stderr(&nobody).contains("no user named"), "{}", stderr(&nobody));
}
