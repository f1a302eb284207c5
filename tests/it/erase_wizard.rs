//! The erasure wizard in the web app (issue 12, part 3), in headless Chromium: a dpo starts from
//! a selfie, finds the person through the search by photo, decides the suggestions in the
//! review, sees where copies went, erases and downloads the certificate. Afterwards the
//! person's crops and cached thumbnails are gone and no file of the library holds their name,
//! email or embedding. Also: the wizard, the certificate and the access report are a dpo's only.

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::Browser;
use crate::common::*;
use crate::erase::{scan_library, setup, EMAIL, NAME};
use crate::users::add_user;
use crate::web::{Client, Server};
use crate::webapp::{click, shot, sign_in, submit, text};

const DPO_PASSWORD: &str = "dpo password 12";

fn face_ids(lib: &Lib, person: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(lib.db()).unwrap();
    let mut stmt = conn.prepare(&format!("SELECT id FROM faces WHERE person_id = {person} ORDER BY id")).unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

async fn wait_for_images(b: &Browser, css: &str) {
    let loaded = format!("return Array.from(document.querySelectorAll('{css}')).every(i => i.complete && i.naturalWidth > 0)");
    for _ in 0..200 {
        if b.js(&loaded).await == true {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the images {css} did not load");
}

#[tokio::test]
async fn a_dpo_erases_a_person_from_a_selfie_to_the_certificate() {
    let Some(b) = Browser::start(1280, 1000).await else { return };
    let s = setup();
    add_user(&s.lib, "dana", "dpo", DPO_PASSWORD);
    // Copies went out before the request came: an export of the person's photos.
    let sent = s.lib.tmp.path().join("sent-to-the-printer");
    let export = s.lib.json(&["export", "--purpose", "print", "--person", &s.person, "--to", sent.to_str().unwrap()], 0);
    let exported = export["exported"].as_array().unwrap().len();
    assert!(exported >= 1, "{export}");
    let server = Server::start(&s.lib);

    // 1. From the selfie to the person.
    sign_in(&b, &server, "dana", DPO_PASSWORD).await;
    b.client.goto(&server.url("/erase")).await.unwrap();
    submit(&b, "#search-selfie").await;
    let selfie = s.solo_copy.canonicalize().unwrap();
    b.client.find(Locator::Css("#photo")).await.unwrap().send_keys(selfie.to_str().unwrap()).await.unwrap();
    submit(&b, "form.upload button").await;
    submit(&b, "a[data-face='1']").await;
    // The best match is the person's own photo; the group faces belong to an unnamed cluster.
    let owners = b.js("return [...document.querySelectorAll('#owners a.erase-person')].map(a => a.dataset.person)").await;
    assert_eq!(owners[0], serde_json::json!(s.person), "the best match's person comes first: {}", text(&b).await);
    submit(&b, "#owners a.erase-person").await;

    // 2. The review: the solo photo confirmed, the two group photos suggested.
    let review = text(&b).await;
    assert!(review.contains(&format!("Erase {NAME}")), "{review}");
    let suggested = b.js("return [...document.querySelectorAll('#suggestions-form li.face')].map(l => Number(l.dataset.face))").await;
    assert_eq!(suggested.as_array().unwrap().len(), 2, "one suggestion per group photo: {review}");
    wait_for_images(&b, "main img").await;
    shot(&b, "erase-review.png").await;
    // An erasure with suggestions undecided is refused, and nothing is erased.
    click(&b, "input[name='files'][value='delete']").await;
    b.client.find(Locator::Css("#reason")).await.unwrap().send_keys("erasure request of 2 December").await.unwrap();
    b.client.find(Locator::Css("#confirm")).await.unwrap().send_keys("erase").await.unwrap();
    submit(&b, "#erase").await;
    assert!(text(&b).await.contains("unreviewed suggestion"), "{}", text(&b).await);
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM erasures"), 0);
    b.client.back().await.unwrap();
    b.client.refresh().await.unwrap();
    // Both are them.
    for face in suggested.as_array().unwrap() {
        click(&b, &format!("#suggestions-form input[value='{face}']")).await;
    }
    submit(&b, "#suggestions-yes").await;
    let review = text(&b).await;
    assert!(review.contains("3 confirmed face(s)") && review.contains("0 suggestion(s) to decide"), "{review}");
    let faces = face_ids(&s.lib, &s.person);
    assert_eq!(faces.len(), 3, "the solo face and both group faces are confirmed now");
    // Where copies went: exactly the exports made before.
    let destinations = b.js("return [...document.querySelectorAll('#uses td.destination')].map(t => t.textContent)").await;
    let shown: Vec<&str> = destinations.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(shown.len(), exported, "{review}");
    assert!(shown.iter().all(|d| d.contains("sent-to-the-printer")), "{shown:?}");
    let uses = s.lib.json(&["erase", &s.person, "--reason", "r", "--keep-files", "--dry-run"], 0)["uses"].as_array().unwrap().len();
    assert_eq!(shown.len(), uses, "the same list as the command line's plan");
    // Each photo's fate: the solo photo deleted, the group photos kept (others in them).
    let planned = b.js("return [...document.querySelectorAll('#planned tbody tr td:last-child')].map(t => t.textContent)").await;
    let planned: Vec<&str> = planned.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(planned.iter().filter(|p| p.starts_with("delete")).count(), 1, "{planned:?}");
    assert_eq!(planned.iter().filter(|p| p.contains("other face")).count(), 2, "{planned:?}");
    // The crops were cached as the page showed them.
    wait_for_images(&b, "main img").await;
    let thumbs = s.lib.dir().join("thumbs");
    for f in &faces {
        assert!(thumbs.join(format!("face-{f}.jpg")).exists(), "face {f} was shown, so cached");
        let cached = b.js(&format!("return fetch('/faces/{f}/thumb', {{cache: 'only-if-cached', mode: 'same-origin'}}).then(r => r.status, e => 'none')")).await;
        assert_eq!(cached, 200, "face {f} is in the browser's cache too");
    }

    // 3. Erase, deleting the solo photo.
    click(&b, "input[name='files'][value='delete']").await;
    b.client.find(Locator::Css("#reason")).await.unwrap().send_keys("erasure request of 2 December").await.unwrap();
    b.client.find(Locator::Css("#confirm")).await.unwrap().send_keys("erase").await.unwrap();
    shot(&b, "erase-confirm.png").await;
    submit(&b, "#erase").await;
    let done = text(&b).await;
    assert!(done.contains("is done") && done.contains("ERASURE CERTIFICATE"), "{done}");
    assert!(done.contains("sent-to-the-printer"), "the certificate lists the copies: {done}");
    assert!(!done.contains(NAME) && !done.contains(EMAIL), "{done}");
    shot(&b, "erase-certificate.png").await;
    let txt = b.js("return fetch(document.querySelector('#certificate-txt').href).then(r => r.text())").await;
    assert!(txt.as_str().unwrap().contains("ERASURE CERTIFICATE"), "{txt}");
    let json = b.js("return fetch(document.querySelector('#certificate-json').href).then(r => r.json())").await;
    assert_eq!(json["faces_removed"], 3, "{json}");
    assert_eq!(json["actor"], "dana", "the erasure is the dpo's, signed in: {json}");

    // 4. Nothing of them is left: no crop, no cached thumbnail, no byte of their name, email
    // or embedding anywhere in the library.
    assert_eq!(s.lib.sql_count(&format!("SELECT count(*) FROM faces WHERE id IN ({})", faces.iter().map(i64::to_string).collect::<Vec<_>>().join(","))), 0);
    for f in &faces {
        assert!(!thumbs.join(format!("face-{f}.jpg")).exists(), "face {f}'s crop is gone");
    }
    for face in &faces {
        let crop = b.js(&format!("return fetch('/faces/{face}/thumb', {{cache: 'no-store'}}).then(r => r.status)")).await;
        assert_eq!(crop, 404, "face {face}: the server has no crop");
        // The certificate page told the browser to drop the crops it cached.
        let cached = b.js(&format!("return fetch('/faces/{face}/thumb', {{cache: 'only-if-cached', mode: 'same-origin'}}).then(r => r.status, e => 'none')")).await;
        assert_ne!(cached, 200, "face {face}: still in the browser's cache");
    }
    assert!(!s.photos.join("solo.png").exists(), "the photo showing only them is deleted");
    scan_library(&s.lib.dir(), &[("the name", NAME.as_bytes()), ("the email", EMAIL.as_bytes()), ("an embedding", &s.embedding)]);
    let audit = s.lib.json(&["audit", "log"], 0);
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["command"] == "erase" && e["actor"] == "dana"), "audited under the dpo: {audit}");
    assert_eq!(s.lib.json(&["audit", "verify"], 0)["ok"], true);
    b.close().await;
}

/// The wizard's routes, the certificate and the access report need a dpo; an editor is refused
/// and the refusal is audited. A dpo downloads the access report in the CLI's three formats.
#[test]
fn erasure_and_access_reports_are_a_dpos() {
    let s = setup();
    add_user(&s.lib, "dana", "dpo", DPO_PASSWORD);
    add_user(&s.lib, "ed", "editor", "editor password 1");
    let server = Server::start(&s.lib);
    let mut ed = crate::web::signed_in(&server, "ed", "editor password 1");
    let csrf = ed.csrf(&server);
    let p = &s.person;
    for path in ["/erase".to_string(), format!("/erase/{p}"), format!("/persons/{p}/report.json"), "/erasures/1".into()] {
        assert_eq!(ed.get(&server.url(&path)).status, 403, "{path}");
    }
    let r = ed.post(&server.url(&format!("/erase/{p}")), &[("csrf", &csrf), ("files", "delete"), ("reason", "r"), ("confirm", "erase"), ("include_suggestions", "1")], None);
    assert_eq!(r.status, 403);
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM erasures"), 0);
    assert!(s.lib.sql_count("SELECT count(*) FROM audit WHERE actor = 'ed' AND outcome = 'denied'") >= 5);

    let mut dana: Client = crate::web::signed_in(&server, "dana", DPO_PASSWORD);
    let csrf = dana.csrf(&server);
    let json = dana.get(&server.url(&format!("/persons/{p}/report.json")));
    assert_eq!((json.status, json.header("content-type")), (200, Some("application/json")));
    let report: Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(report["person"]["name"], NAME, "{report}");
    let cli = s.lib.tmp.path().join("report.json");
    s.lib.json(&["--now", crate::web::TODAY, "report", "access", p, "--format", "json", "--out", cli.to_str().unwrap()], 0);
    let cli: Value = serde_json::from_slice(&std::fs::read(&cli).unwrap()).unwrap();
    assert_eq!(report["photos"], cli["photos"], "the same report as the CLI's");
    assert_eq!(report["consents"], cli["consents"]);
    let csv = dana.get(&server.url(&format!("/persons/{p}/report.csv")));
    assert_eq!(csv.status, 200);
    assert!(csv.text().contains(EMAIL), "{}", csv.text());
    let html = dana.get(&server.url(&format!("/persons/{p}/report.html")));
    assert!(html.status == 200 && html.text().contains(NAME));
    assert!(html.header("content-disposition").unwrap().contains("attachment"));
    assert_eq!(dana.get(&server.url(&format!("/persons/{p}/report.pdf"))).status, 404);

    // Bad erasure forms are refused with a clear message and erase nothing.
    for (form, says) in [
        (vec![("files", "delete"), ("confirm", "erase")], "reason"),
        (vec![("files", "shred"), ("reason", "r"), ("confirm", "erase")], "delete, quarantine or keep"),
        (vec![("files", "delete"), ("reason", "r"), ("confirm", "yes")], "type the word erase"),
        (vec![("files", "delete"), ("reason", "r"), ("confirm", "erase")], "unreviewed suggestion"),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let r = dana.post(&server.url(&format!("/erase/{p}")), &form, None);
        assert_eq!(r.status, 400, "{form:?}");
        assert!(r.text().contains(says), "{form:?}: {}", r.text());
    }
    assert_eq!(s.lib.sql_count("SELECT count(*) FROM erasures"), 0);
    // Into quarantine, the undecided suggestions erased as theirs.
    let r = dana.post(&server.url(&format!("/erase/{p}")), &[("csrf", &csrf), ("files", "quarantine"), ("reason", "r"), ("confirm", "erase"), ("include_suggestions", "1")], None);
    assert_eq!(r.status, 303, "{}", r.text());
    let done = dana.get(&server.url(r.header("location").unwrap()));
    assert!(done.text().contains("ERASURE CERTIFICATE"), "{}", done.text());
    assert_eq!(done.header("clear-site-data"), Some("\"cache\""));
    let quarantine = s.lib.dir().join("quarantine");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&quarantine).unwrap().permissions().mode() & 0o777, 0o700, "owner-only");
    assert!(quarantine.join("solo.png").exists() || std::fs::read_dir(&quarantine).unwrap().count() == 1);
    assert_eq!(dana.get(&server.url(&format!("/erase/{p}"))).status, 400, "erased already");
    assert!(dana.get(&server.url(&format!("/erase/{p}"))).text().contains("was erased by erasure"));
    assert_eq!(dana.get(&server.url("/erasures/99")).status, 400);
}
