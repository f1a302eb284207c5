//! Helpers shared by the integration tests: running the real binary against a temporary
//! library, and finding the photo folders.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_images() -> PathBuf {
    repo().join("sample-images")
}

/// `../shared/faces` beside the repo, when present (accuracy tests skip without it).
pub fn shared_faces() -> Option<PathBuf> {
    let p = repo().join("../shared/faces");
    p.join("labels.tsv").is_file().then(|| p.canonicalize().expect("canonical shared/faces"))
}

/// A temporary library folder and the command to run facegate against it.
pub struct Lib {
    pub tmp: tempfile::TempDir,
}

impl Lib {
    pub fn new() -> Lib {
        Lib { tmp: tempfile::tempdir().expect("temp dir") }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("library")
    }

    pub fn db(&self) -> PathBuf {
        self.dir().join("library.db")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_facegate"));
        c.arg("--library").arg(self.dir());
        c.env_remove("FACEGATE_LIBRARY").env_remove("FACEGATE_MODELS").env_remove("ORT_DYLIB_PATH");
        c
    }

    /// Runs facegate with `args`; returns the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run facegate")
    }

    /// Runs `facegate ARGS --json` and parses stdout, asserting the exit code.
    pub fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let out = self.cmd().args(args).arg("--json").output().expect("run facegate");
        assert_eq!(
            out.status.code(),
            Some(code),
            "facegate {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    pub fn index(&self, paths: &[&Path], code: i32) -> serde_json::Value {
        let mut args = vec!["index"];
        let owned: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(owned.iter().map(String::as_str));
        self.json(&args, code)
    }

    pub fn sql_count(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.db()).expect("open db");
        conn.query_row(sql, [], |r| r.get(0)).expect("query")
    }

    pub fn sql_text(&self, sql: &str) -> String {
        let conn = rusqlite::Connection::open(self.db()).expect("open db");
        conn.query_row(sql, [], |r| r.get(0)).expect("query")
    }
}

/// The id of the person who has a face in the photo whose path ends with `file`.
pub fn person_with_photo(lib: &Lib, file: &str) -> i64 {
    for p in lib.json(&["person", "list"], 0)["persons"].as_array().unwrap() {
        let show = lib.json(&["person", "show", &p["id"].to_string()], 0);
        if show["faces"].as_array().unwrap().iter().any(|f| f["path"].as_str().unwrap().ends_with(file)) {
            return p["id"].as_i64().unwrap();
        }
    }
    panic!("no person has a face in {file}");
}

/// Copies `src` into `dir` under `name`.
pub fn copy(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    std::fs::copy(src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    dst
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
