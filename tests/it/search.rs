//! `facegate search` through the CLI on a library built from sample-images/.

use std::sync::OnceLock;

use crate::common::*;

/// One library of sample-images/ shared by the search tests (indexing is the slow part).
fn library() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = Lib::new();
        let summary = lib.index(&[&sample_images()], 0);
        assert_eq!(summary["photos_seen"], 7, "{summary}");
        lib
    })
}

fn sample(name: &str) -> String {
    sample_images().join(name).canonicalize().unwrap().display().to_string()
}

fn matched_paths(report: &serde_json::Value) -> Vec<String> {
    report["matches"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_rotated_copy_finds_both_photos_of_the_person_and_nobody_else() {
    let report = library().json(&["search", "--photo", &sample("eileen_collins_nasa_exif_orientation6.jpg")], 0);
    let mut paths = matched_paths(&report);
    paths.sort();
    assert_eq!(paths, vec![sample("eileen_collins_nasa.png"), sample("eileen_collins_nasa_exif_orientation6.jpg")]);
    assert_eq!(report["threshold"].as_f64().unwrap() as f32, 0.935);
    let m = &report["matches"][0];
    assert!(m["similarity"].as_f64().unwrap() > 0.99, "{m}");
    let r = &m["rect"];
    assert!(r["x1"].as_f64().unwrap() > r["x0"].as_f64().unwrap(), "face box present: {m}");
}

#[test]
fn a_face_in_one_group_exposure_is_found_in_the_other() {
    // The 1927 Solvay photographs: the same 29 people in two exposures, all 29 found.
    for face in ["1", "5", "10"] {
        let report = library().json(&["search", "--photo", &sample("solvay_1927_group_b.jpg"), "--face", face], 0);
        assert_eq!(report["faces"].as_array().unwrap().len(), 29, "faces listed");
        let paths = matched_paths(&report);
        assert!(paths.contains(&sample("solvay_1927_group_a.png")), "face {face}: {paths:?}");
        assert!(paths.iter().all(|p| p.contains("solvay")), "face {face}: {paths:?}");
    }
}

#[test]
fn exact_and_index_searches_agree() {
    let photo = sample("solvay_1927_group_a.png");
    for face in ["2", "7"] {
        let by_index = library().json(&["search", "--photo", &photo, "--face", face, "--threshold", "0.8", "--method", "index"], 0);
        let exact = library().json(&["search", "--photo", &photo, "--face", face, "--threshold", "0.8", "--method", "exact"], 0);
        assert_eq!(matched_paths(&by_index), matched_paths(&exact));
        assert_eq!((exact["method"].as_str(), by_index["method"].as_str()), (Some("exact"), Some("index")));
    }
}

#[test]
fn a_missing_face_number_lists_the_faces() {
    let out = library().run(&["search", "--photo", &sample("grace_hopper.jpg"), "--face", "3"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no face 3") && err.contains("face 1:"), "{err}");
}

#[test]
fn a_photo_without_a_face_is_a_clear_error() {
    let lib = library();
    let blank = lib.tmp.path().join("blank.png");
    image::RgbImage::from_pixel(300, 200, image::Rgb([200, 200, 200])).save(&blank).unwrap();
    let out = lib.run(&["search", "--photo", blank.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no face found"), "{}", stderr(&out));
    let missing = lib.run(&["search", "--photo", "/nonexistent/photo.jpg"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/photo.jpg"), "{}", stderr(&missing));
}

#[test]
fn searching_without_a_library_says_how_to_make_one() {
    let lib = Lib::new();
    let out = lib.run(&["search", "--photo", &sample("grace_hopper.jpg")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("facegate index"), "{}", stderr(&out));
}

#[test]
fn cuda_on_a_cpu_only_runtime_fails_with_the_reason_instead_of_falling_back() {
    let lib = library();
    let cpu_runtime = repo().join("runtime/onnxruntime/libonnxruntime.so");
    let out = lib
        .cmd()
        .env("ORT_DYLIB_PATH", &cpu_runtime)
        .args(["--device", "cuda", "search", "--photo", &sample("grace_hopper.jpg")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CUDA"), "{}", stderr(&out));
}

#[test]
fn a_missing_runtime_names_the_command_that_fixes_it() {
    let out = library()
        .cmd()
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .args(["search", "--photo", &sample("grace_hopper.jpg")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("scripts/setup.sh"), "{}", stderr(&out));
}
