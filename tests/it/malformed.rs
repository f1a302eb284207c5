//! Hostile and broken files, odd file names, and the library's edges (issue 10, part A), through
//! the real binary. The hostile files are made by `hostile.rs`, a few dozen bytes each.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::*;
use crate::hostile;

/// Runs `cmd` to the end; returns (exit code, stdout, stderr, peak resident memory in bytes),
/// the memory from the kernel's accounting of that one child (`wait4`, which also reaps it).
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command) -> (i32, String, String, u64) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn facegate");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let stderr = reader.join().unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, whose pid std gave us; `usage` is a plain C struct.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    (code, stdout, stderr, usage.ru_maxrss as u64 * 1024)
}

fn raw_name(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Regression (issue 10 A1, A2, A5): a 74-byte PNG claiming 100000×100000 aborted the whole run
/// (`memory allocation of 30000000000 bytes failed`); a JPEG and a GIF claiming 65535² grew to
/// 8 and 4 GiB; truncated JPEGs were indexed as photos with no face and allowed by `check`; two
/// decode reasons ended in a newline.
#[test]
fn hostile_and_truncated_files_are_failures_with_reasons_and_memory_stays_bounded() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &dir, "good.jpg");
    std::fs::write(dir.join("claims-100000x100000.png"), hostile::png_claiming(100_000, 100_000)).unwrap();
    std::fs::write(dir.join("claims-65535x65535.gif"), hostile::gif_claiming(65535, 65535)).unwrap();
    std::fs::write(dir.join("claims-65500x65500.jpg"), hostile::jpeg_claiming(65500, 65500)).unwrap();
    std::fs::write(dir.join("claims-60000x60000.bmp"), hostile::bmp_claiming(60000, 60000)).unwrap();
    std::fs::write(dir.join("claims-16000x16000.webp"), hostile::webp_claiming(16000, 16000)).unwrap();
    let jpeg = std::fs::read(sample_images().join("solvay_1927_group_b.jpg")).unwrap();
    std::fs::write(dir.join("cut-after-header.jpg"), hostile::jpeg_cut_after_header(&jpeg)).unwrap();
    std::fs::write(dir.join("cut-after-1k.jpg"), &jpeg[..1024]).unwrap();
    std::fs::write(dir.join("cut-in-the-middle.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(dir.join("cut-inside-the-headers.jpg"), &jpeg[..100]).unwrap();

    let mut cmd = lib.cmd();
    cmd.args(["index", "--json", "-j", "2"]).arg(&dir);
    let (code, stdout, err, peak) = run_measured(cmd);
    assert_eq!(code, 2, "{err}");
    // Two model sets and the runtime take about 300 MB; a decoded hostile header took gigabytes.
    assert!(peak < 1 << 30, "peak memory {} MiB", peak >> 20);
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    let failures: Vec<(String, String)> = summary["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), f["reason"].as_str().unwrap().to_string()))
        .collect();
    let reason = |name: &str| failures.iter().find(|f| f.0 == name).map(|f| f.1.clone()).unwrap_or_else(|| panic!("no failure for {name}: {failures:?}"));
    let claims = ["claims-100000x100000.png", "claims-65535x65535.gif", "claims-65500x65500.jpg", "claims-60000x60000.bmp", "claims-16000x16000.webp"];
    for name in claims {
        assert!(reason(name).contains("over the limit of 120.0 megapixels"), "{name}: {}", reason(name));
    }
    for name in ["cut-after-header.jpg", "cut-after-1k.jpg", "cut-in-the-middle.jpg"] {
        assert!(reason(name).starts_with("truncated"), "{name}: {}", reason(name));
    }
    assert!(reason("cut-inside-the-headers.jpg").starts_with("cannot decode"));
    assert_eq!(failures.len(), 9, "{failures:?}");
    for (name, r) in &failures {
        assert!(!r.contains('\n') && r.trim_end() == r, "{name}: {r:?}");
        assert!(err.contains(&format!("{}: {r}\n", dir.join(name).display())), "stderr names {name}:\n{err}");
    }
    assert_eq!(summary["new"], 1, "{summary}");
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE error IS NULL"), 1);
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE needs_pixels >= 16000 * 16000"), 5);
    // Partly decoded photos are stored (their faces kept) and marked.
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE error LIKE 'truncated%' AND pipeline IS NOT NULL"), 3);

    // The gate blocks a truncated photo like any photo that was not indexed whole.
    lib.json(&["purpose", "add", "social"], 0);
    let out = lib.cmd().args(["--json", "check", "--purpose", "social"]).arg(dir.join("cut-in-the-middle.jpg")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons = decision["photos"][0]["reasons"].to_string();
    assert!(reasons.contains("could not be indexed (truncated"), "{decision}");

    // A second run reads none of them again.
    let again = lib.index(&[&dir], 2);
    assert_eq!(again["failed"], 9, "{again}");
    assert!(again["failures"].as_array().unwrap().iter().all(|f| f["reason"].as_str().unwrap().ends_with("(unchanged since an earlier run)")));
}

/// Regression: a JPEG whose image data was overwritten inside (64 bytes, the length kept) was
/// decoded without an error and indexed as a good photo. It is a failure now, its faces kept
/// like a truncated photo's, and the gate blocks it; the intact copy beside it is fine.
#[test]
fn a_jpeg_damaged_inside_is_a_failure_and_blocked_at_the_gate() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    let good = std::fs::read(sample_images().join("solvay_1927_group_b.jpg")).unwrap();
    std::fs::write(dir.join("intact.jpg"), &good).unwrap();
    std::fs::write(dir.join("damaged.jpg"), hostile::jpeg_overwritten_inside(&good, 64)).unwrap();
    let summary = lib.index(&[&dir], 2);
    let failures = summary["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{summary}");
    assert!(failures[0]["path"].as_str().unwrap().ends_with("damaged.jpg"), "{summary}");
    let reason = failures[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("corrupt: the JPEG's image data is damaged inside (scan 1: "), "{reason}");
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE error IS NULL AND path LIKE '%/intact.jpg'"), 1);
    // Stored with the faces found, and marked, as a truncated photo is.
    assert_eq!(lib.sql_count("SELECT count(*) FROM photos WHERE error LIKE 'corrupt%' AND pipeline IS NOT NULL"), 1);
    assert!(lib.sql_count("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE '%/damaged.jpg'") > 0);

    lib.json(&["purpose", "add", "social"], 0);
    let out = lib.cmd().args(["--json", "check", "--purpose", "social"]).arg(dir.join("damaged.jpg")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(decision["photos"][0]["reasons"].to_string().contains("could not be indexed (corrupt: the JPEG's image data is damaged inside"), "{decision}");
}

/// Every JPEG of `../shared/faces` and `../shared/wider-dev` (skipped without them) decodes
/// without being called damaged, and each with 256 bytes overwritten inside is noticed (by the
/// decoder failing or the check of its data). The check cannot see every change (a flipped bit in
/// a coefficient leaves a well-formed file), so the bar is 98 % of the damaged copies; 99.8 %
/// were noticed when this was written.
#[test]
fn the_team_jpegs_are_not_called_damaged_and_damage_inside_them_is_noticed() {
    let Some(faces) = shared_faces() else {
        eprintln!("skipped: ../shared/faces is absent");
        return;
    };
    let roots = [faces.clone(), faces.join("../wider-dev")];
    let jpegs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| walkdir::WalkDir::new(r).into_iter().filter_map(Result::ok))
        .map(|e| e.into_path())
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["jpg", "jpeg"].contains(&e.to_lowercase().as_str())))
        .collect();
    let limits = facegate::photo::Limits::default();
    let (mut checked, mut damaged, mut noticed) = (0, 0, 0);
    for path in &jpegs {
        let bytes = std::fs::read(path).unwrap();
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            continue; // not a JPEG inside (one of them is a WebP)
        }
        let decoded = facegate::photo::decode(&bytes, &limits).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(decoded.damage, None, "{} is called damaged", path.display());
        checked += 1;
        if bytes.len() < 4096 {
            continue;
        }
        damaged += 1;
        let copy = hostile::jpeg_overwritten_inside(&bytes, 256);
        if facegate::photo::decode(&copy, &limits).map_or(true, |d| d.damage.is_some()) {
            noticed += 1;
        } else {
            eprintln!("not noticed: {} with 256 bytes overwritten inside", path.display());
        }
    }
    eprintln!("{checked} JPEGs decoded, none called damaged; {noticed} of {damaged} damaged copies noticed");
    assert!(checked > 400, "only {checked} JPEGs found under ../shared");
    assert!(noticed * 100 >= damaged * 98, "{noticed} of {damaged} damaged copies noticed");
}

/// A photo over a lower limit is refused without being decoded; raising the limit (kept as the
/// library's setting) indexes it on the next run, although the file did not change.
#[test]
fn the_photo_limit_is_a_library_setting_and_raising_it_retries_what_it_stopped() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    copy(&sample_images().join("solvay_1927_group_b.jpg"), &dir, "group.jpg"); // 1280×881
    let first = lib.json(&["index", dir.to_str().unwrap(), "--max-megapixels", "1"], 2);
    assert!(first["failures"][0]["reason"].as_str().unwrap().contains("image is 1280×881 (1.1 megapixels), over the limit of 1.0 megapixels"), "{first}");
    // The setting stays: a run without the option keeps the limit (and does not read the file).
    let second = lib.index(&[&dir], 2);
    assert!(second["failures"][0]["reason"].as_str().unwrap().ends_with("(unchanged since an earlier run)"), "{second}");
    let third = lib.json(&["index", dir.to_str().unwrap(), "--max-megapixels", "2"], 0);
    assert_eq!((third["changed"].as_u64(), third["failed"].as_u64()), (Some(1), Some(0)), "{third}");
    assert!(lib.sql_count("SELECT count(*) FROM faces") > 10);
    assert!(lib.sql_text("SELECT outcome FROM audit WHERE command = 'index' ORDER BY id DESC LIMIT 1").contains("photo limit set to 2 megapixels"));
}

/// Regression (issue 10 A3): `\xff\xfe.jpg` and `\xfe\xff.jpg`, two different people, became one
/// row `��.jpg` that flipped between them on every run, and `check` said "file unavailable".
#[test]
fn non_utf8_file_names_are_distinct_rows_shown_escaped_and_checked_by_their_real_path() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    let a = dir.join(raw_name(b"\xff\xfe.jpg"));
    let b = dir.join(raw_name(b"\xfe\xff.jpg"));
    std::fs::copy(sample_images().join("grace_hopper.jpg"), &a).unwrap();
    std::fs::copy(sample_images().join("eileen_collins_nasa_exif_orientation6.jpg"), &b).unwrap();
    let first = lib.index(&[&dir], 0);
    assert_eq!(first["new"], 2, "{first}");
    let shown = |bytes: &str| format!("{}/{bytes}", dir.display());
    let rows = || {
        let conn = rusqlite::Connection::open(lib.db()).unwrap();
        let mut stmt = conn.prepare("SELECT path, content_hash FROM photos ORDER BY path").unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap().map(Result::unwrap).collect::<Vec<_>>()
    };
    let before = rows();
    assert_eq!(before.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), [shown(r"\xfe\xff.jpg"), shown(r"\xff\xfe.jpg")]);
    assert_ne!(before[0].1, before[1].1);
    let again = lib.index(&[&dir], 0);
    assert_eq!((again["unchanged"].as_u64(), again["removed"].as_u64()), (Some(2), Some(0)), "{again}");
    assert_eq!(rows(), before, "stable across runs");

    lib.json(&["purpose", "add", "social"], 0);
    for (file, key) in [(&a, shown(r"\xff\xfe.jpg")), (&b, shown(r"\xfe\xff.jpg"))] {
        let out = lib.cmd().args(["--json", "check", "--purpose", "social"]).arg(file).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "blocked (the face is not identified): {}", stderr(&out));
        let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
        let photo = &decision["photos"][0];
        assert_eq!(photo["path"].as_str(), Some(key.as_str()));
        assert!(photo["photo_id"].is_i64(), "found in the library: {photo}");
        let reasons = photo["reasons"].to_string();
        assert!(reasons.contains("face not identified") && !reasons.contains("unavailable"), "{reasons}");
    }
}

/// Regression (issue 10 A4): an index run whose photos have no face, or one that removes the last
/// photo with a face, failed with `cannot write index ... unexpected error`.
#[test]
fn a_library_with_no_face_can_be_indexed() {
    let lib = Lib::new();
    let blank = lib.tmp.path().join("blank");
    std::fs::create_dir(&blank).unwrap();
    std::fs::write(blank.join("grey.png"), hostile::png(&image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128])))).unwrap();
    let first = lib.index(&[&blank], 0);
    assert_eq!((first["new"].as_u64(), first["faces"].as_u64()), (Some(1), Some(0)), "{first}");

    let faces = lib.tmp.path().join("faces");
    std::fs::create_dir(&faces).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &faces, "a.jpg");
    lib.index(&[&faces], 0);
    assert_eq!(lib.sql_count("SELECT count(*) FROM faces"), 1);
    std::fs::remove_file(faces.join("a.jpg")).unwrap();
    let removed = lib.index(&[&faces], 0);
    assert_eq!(removed["removed"], 1, "{removed}");
    assert_eq!(lib.sql_count("SELECT count(*) FROM faces"), 0);
    let meta: Value = serde_json::from_slice(&std::fs::read(lib.dir().join("index/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["num_points"], 0, "{meta}");
    lib.json(&["status"], 0);
}

/// Regression (issue 10 A5): a read-only library could not even run `status`
/// (`lock: Permission denied`). Read-only files: as root (which ignores permission bits) the
/// commands run as `nobody` over a library that user owns.
#[test]
fn a_read_only_library_serves_read_commands() {
    let lib = Lib::new();
    let dir = lib.tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    let photo = copy(&sample_images().join("grace_hopper.jpg"), &dir, "a.jpg");
    lib.index(&[&dir], 0);
    lib.json(&["purpose", "add", "social"], 0);
    let root = unsafe { libc::geteuid() } == 0;
    let nobody = 65534;
    if root {
        std::fs::set_permissions(lib.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for entry in walkdir::WalkDir::new(lib.dir()) {
            std::os::unix::fs::chown(entry.unwrap().path(), Some(nobody), Some(nobody)).unwrap();
        }
    }
    let set_writable = |writable: bool| {
        for entry in walkdir::WalkDir::new(lib.dir()) {
            let entry = entry.unwrap();
            let mode = match (entry.file_type().is_dir(), writable) {
                (true, true) => 0o700,
                (true, false) => 0o500,
                (false, true) => 0o600,
                (false, false) => 0o400,
            };
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    set_writable(false);
    let photo = photo.to_str().unwrap();
    let checks: [(&[&str], i32); 6] = [
        (&["status"], 0),
        (&["person", "list"], 0),
        (&["face", "list", "--unassigned"], 0),
        (&["audit", "verify"], 0),
        (&["consent", "list"], 0),
        (&["check", photo, "--purpose", "social"], 1), // blocked: the face is not identified
    ];
    for (args, code) in checks {
        let mut cmd = lib.cmd();
        if root {
            std::os::unix::process::CommandExt::uid(&mut cmd, nobody);
            std::os::unix::process::CommandExt::gid(&mut cmd, nobody);
        }
        let out = cmd.args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        match args[0] {
            "status" => assert!(text.contains("1 photos, 1 faces"), "{text}"),
            "check" => assert!(text.contains("face not identified"), "{text}"),
            _ => {}
        }
    }
    // Nothing was created or changed in the library folder.
    let names: Vec<_> = std::fs::read_dir(lib.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!names.iter().any(|n| n.to_string_lossy().ends_with("-shm") || n.to_string_lossy().ends_with("-wal")), "{names:?}");
    set_writable(true);
}

/// Regression (issue 10 A5): errors printed their cause twice ("No such file or directory
/// (os error 2): No such file or directory (os error 2)").
#[test]
fn errors_print_their_cause_once() {
    let lib = Lib::new();
    let missing = lib.tmp.path().join("missing");
    let cases: Vec<Vec<OsString>> = vec![
        vec!["index".into(), missing.clone().into()],
        vec!["person".into(), "add".into(), "--name".into(), "A".into()],
        vec!["purpose".into(), "add".into(), "social".into()],
        vec!["consent".into(), "grant".into(), "1".into(), "--purpose".into(), "social".into(), "--no-expiry".into(), "--evidence".into(), missing.join("form.pdf").into()],
        vec!["report".into(), "access".into(), "1".into(), "--format".into(), "json".into(), "--out".into(), missing.join("r.json").into()],
    ];
    let mut errors = 0;
    for args in cases {
        let out = lib.cmd().args(&args).output().unwrap();
        let err = stderr(&out);
        if out.status.success() {
            continue;
        }
        errors += 1;
        let cause = "No such file or directory";
        assert_eq!(err.matches(cause).count(), 1, "{args:?}: {err}");
        assert!(err.contains(&missing.display().to_string()), "names the file: {err}");
    }
    assert_eq!(errors, 3);
}

/// Issue 10 A6: ONNX Runtime 1.29+ starts its telemetry when it loads and wrote a device id and an
/// event store under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, although facegate disabled
/// telemetry events through the API. It skips that under CI, so the variables it looks at are
/// removed here.
#[test]
fn onnx_runtime_writes_nothing_under_home() {
    let lib = Lib::new();
    let home = lib.tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let mut cmd = lib.cmd();
    cmd.env("HOME", &home);
    for var in [
        "XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY", "ORT_RUNNING_UNIT_TESTS", "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI",
        "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR",
        "BITBUCKET_BUILD_NUMBER", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.arg("index").arg(sample_images().join("grace_hopper.jpg")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written: Vec<PathBuf> = walkdir::WalkDir::new(&home).min_depth(1).into_iter().map(|e| e.unwrap().into_path()).collect();
    assert!(written.is_empty(), "written under HOME: {written:?}");
    assert!(!Path::new(&home).join(".cache/Microsoft").exists());
}
