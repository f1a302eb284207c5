//! The person layer through the CLI: clustering at index time, human decisions that survive every
//! re-run, `person photos`, and `search --assign`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

fn indexed_samples() -> Lib {
    let lib = Lib::new();
    lib.index(&[&sample_images()], 0);
    lib
}

fn sample(name: &str) -> String {
    sample_images().join(name).canonicalize().unwrap().display().to_string()
}

/// Each person as the set of its photos' file names, sorted: a thread- and id-independent view.
fn partition(lib: &Lib) -> BTreeSet<Vec<String>> {
    let persons = lib.json(&["person", "list"], 0);
    persons["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let show = lib.json(&["person", "show", &p["id"].to_string()], 0);
            let mut faces: Vec<String> = show["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| format!("{} {:.0},{:.0}", f["path"].as_str().unwrap().rsplit('/').next().unwrap(), f["rect"]["x0"].as_f64().unwrap(), f["rect"]["y0"].as_f64().unwrap()))
                .collect();
            faces.sort();
            faces
        })
        .collect()
}

fn faces_of(show: &Value) -> Vec<&Value> {
    show["faces"].as_array().unwrap().iter().collect()
}

#[test]
fn indexing_groups_the_same_people_and_never_puts_two_faces_of_a_photo_in_one_person() {
    let lib = indexed_samples();
    let persons = lib.json(&["person", "list"], 0);
    let persons = persons["persons"].as_array().unwrap();
    // Eileen Collins, Grace Hopper, and most of the 29 people seen in both Solvay exposures.
    assert!(persons.len() >= 20, "{} persons", persons.len());
    let eileen = person_with_photo(&lib, "eileen_collins_nasa.png");
    assert_eq!(eileen, person_with_photo(&lib, "eileen_collins_nasa_exif_orientation6.jpg"));
    for p in persons {
        let show = lib.json(&["person", "show", &p["id"].to_string()], 0);
        let photos: Vec<&str> = faces_of(&show).iter().map(|f| f["path"].as_str().unwrap()).collect();
        let distinct: BTreeSet<&str> = photos.iter().copied().collect();
        assert_eq!(distinct.len(), photos.len(), "person {} has two faces in one photo: {photos:?}", p["id"]);
        for f in faces_of(&show) {
            assert_eq!(f["link"], "suggested");
            assert!(f["similarity"].as_f64().unwrap() >= 0.9, "suggestions carry their similarity: {f}");
        }
    }
    // Re-running on an unchanged library changes nothing.
    let before = partition(&lib);
    let again = lib.json(&["cluster", "--all"], 0);
    assert_eq!((again["faces_linked"].as_u64(), again["persons_created"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(partition(&lib), before);
}

#[test]
fn clustering_does_not_depend_on_the_number_of_threads() {
    let one = Lib::new();
    one.json(&["index", "-j", "1", sample_images().to_str().unwrap()], 0);
    let two = Lib::new();
    two.json(&["index", "-j", "2", sample_images().to_str().unwrap()], 0);
    assert_eq!(partition(&one), partition(&two));
}

#[test]
fn human_decisions_survive_reclustering_and_reindexing() {
    let lib = indexed_samples();
    let dir = lib.tmp.path().join("photos");
    let eileen = person_with_photo(&lib, "eileen_collins_nasa.png");
    lib.json(&["person", "name", &eileen.to_string(), "Eileen Collins", "--email", "ec@example.org"], 0);
    let show = lib.json(&["person", "show", &eileen.to_string()], 0);
    let faces: Vec<i64> = faces_of(&show).iter().map(|f| f["face_id"].as_i64().unwrap()).collect();
    assert_eq!(faces.len(), 2);
    // Confirm one face, split the other off into a person of its own, then recluster.
    lib.json(&["face", "confirm", &faces[0].to_string()], 0);
    let split = lib.json(&["person", "split", &eileen.to_string(), "--faces", &faces[1].to_string()], 0);
    let other = split["id"].as_i64().unwrap();
    lib.json(&["cluster", "--recluster"], 0);
    let show = lib.json(&["person", "show", &eileen.to_string()], 0);
    assert_eq!(show["person"]["name"], "Eileen Collins");
    let kept: Vec<(i64, &str)> = faces_of(&show).iter().map(|f| (f["face_id"].as_i64().unwrap(), f["link"].as_str().unwrap())).collect();
    assert_eq!(kept, vec![(faces[0], "confirmed")]);
    let split_show = lib.json(&["person", "show", &other.to_string()], 0);
    assert_eq!(faces_of(&split_show)[0]["face_id"].as_i64(), Some(faces[1]));

    // Merge them back by hand; a reject then unlinks a face for good.
    lib.json(&["person", "merge", &eileen.to_string(), &other.to_string()], 0);
    assert_eq!(lib.json(&["person", "show", &eileen.to_string()], 0)["faces"].as_array().unwrap().len(), 2);
    let missing = lib.run(&["person", "show", &other.to_string()]);
    assert_eq!(missing.status.code(), Some(1));
    lib.json(&["face", "reject", &faces[1].to_string()], 0);
    lib.json(&["cluster", "--all"], 0);
    let show = lib.json(&["person", "show", &eileen.to_string()], 0);
    assert_eq!(faces_of(&show).len(), 1, "a rejected face never comes back: {show}");

    // Re-indexing the photo under a changed file (same picture, new bytes) keeps the confirmation.
    std::fs::create_dir_all(&dir).unwrap();
    let confirmed_path = faces_of(&show)[0]["path"].as_str().unwrap().to_string();
    let copy_path = dir.join("eileen.png");
    std::fs::copy(&confirmed_path, &copy_path).unwrap();
    lib.index(&[&dir], 0);
    let id = lib.json(&["search", "--photo", copy_path.to_str().unwrap(), "--assign", &eileen.to_string()], 0)["assigned"].as_i64().unwrap();
    let mut bytes = std::fs::read(&copy_path).unwrap();
    bytes.extend_from_slice(b"trailing bytes change the hash, not the picture");
    std::fs::write(&copy_path, bytes).unwrap();
    let re = lib.index(&[&dir], 0);
    assert_eq!(re["changed"], 1, "{re}");
    let show = lib.json(&["person", "show", &eileen.to_string()], 0);
    let copy_face = faces_of(&show).into_iter().find(|f| f["path"].as_str().unwrap().ends_with("photos/eileen.png")).unwrap().clone();
    assert_eq!(copy_face["link"], "confirmed", "{show}");
    assert_ne!(copy_face["face_id"].as_i64(), Some(id), "the face row is new, the decision carried over");
}

#[test]
fn person_photos_lists_confirmed_photos_and_suggestions_apart() {
    let lib = indexed_samples();
    let added = lib.json(&["person", "add", "--name", "Visitor", "--external", "--email", "v@example.org"], 0);
    let visitor = added["id"].as_i64().unwrap();
    assert_eq!(added["external"], true);
    // A selfie that is not in the library: --assign indexes it and confirms its face.
    let dir = lib.tmp.path().join("request");
    std::fs::create_dir_all(&dir).unwrap();
    let selfie = copy(&sample_images().join("grace_hopper_exif_orientation6.jpg"), &dir, "selfie.jpg");
    let searched = lib.json(&["search", "--photo", selfie.to_str().unwrap(), "--assign", &visitor.to_string()], 0);
    assert!(searched["assigned"].as_i64().is_some(), "{searched}");

    let photos = lib.json(&["person", "photos", &visitor.to_string()], 0);
    let paths = |key: &str| -> Vec<String> {
        photos[key].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string()).collect()
    };
    assert_eq!(paths("confirmed"), vec!["selfie.jpg"]);
    let suggestions = paths("suggestions");
    assert!(suggestions.contains(&"grace_hopper.jpg".to_string()), "{photos}");
    assert!(suggestions.contains(&"grace_hopper_exif_orientation6.jpg".to_string()), "{photos}");
    assert!(suggestions.iter().all(|s| s.starts_with("grace_hopper")), "nobody else: {suggestions:?}");
    for s in photos["suggestions"].as_array().unwrap() {
        assert!(s["similarity"].as_f64().unwrap() >= 0.935 && s["rect"]["x1"].as_f64().is_some(), "{s}");
    }
    assert_eq!(photos["photos"].as_array().unwrap().len(), 1, "suggestions count only when asked");
    let all = lib.json(&["person", "photos", &visitor.to_string(), "--include-suggestions"], 0);
    assert_eq!(all["photos"].as_array().unwrap().len(), 3, "{all}");
    // Confirming a suggestion moves it to the confirmed list.
    let face = all["suggestions"][0]["face_id"].as_i64().unwrap();
    lib.json(&["face", "move", &face.to_string(), "--to", &visitor.to_string()], 0);
    let after = lib.json(&["person", "photos", &visitor.to_string()], 0);
    assert_eq!(after["confirmed"].as_array().unwrap().len(), 2, "{after}");
}

#[test]
fn bad_person_commands_fail_clearly_and_change_nothing() {
    let lib = indexed_samples();
    let before = partition(&lib);
    for args in [
        vec!["person", "name", "9999", "Nobody"],
        vec!["person", "merge", "1", "1"],
        vec!["person", "merge", "1", "9999"],
        vec!["face", "move", "999999", "--to", "1"],
        vec!["face", "confirm", "999999"],
        vec!["person", "photos", "9999"],
        vec!["search", "--photo", &sample("grace_hopper.jpg"), "--assign", "9999"],
    ] {
        let out = lib.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("9999") || stderr(&out).contains("itself"), "{args:?}: {}", stderr(&out));
    }
    // A split naming a face of another person is refused whole.
    let eileen = person_with_photo(&lib, "eileen_collins_nasa.png");
    let hopper = person_with_photo(&lib, "grace_hopper.jpg");
    let hopper_face = lib.json(&["person", "show", &hopper.to_string()], 0)["faces"][0]["face_id"].as_i64().unwrap();
    let out = lib.run(&["person", "split", &eileen.to_string(), "--faces", &hopper_face.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(partition(&lib), before);
}
