//! The consent pages for editors (issue 12, part 1), in headless Chromium and over HTTP: a
//! person's consents with the signed form uploaded as evidence, the history, a withdrawal that
//! blocks the person's photos at once, the dashboard (what expires and the photos it will block,
//! grants past their project's end, persons in photos without consent), and purposes and
//! projects. Viewers see but change nothing; bad input is refused and records nothing.

use fantoccini::Locator;

use crate::browser::Browser;
use crate::common::*;
use crate::consent_link::identified;
use crate::web::{Server, TODAY};
use crate::webapp::{click, shot, sign_in, social_on_photo_page, submit, text, EDITOR_PASSWORD};

fn records(lib: &Lib) -> i64 {
    lib.sql_count("SELECT count(*) FROM consents") + lib.sql_count("SELECT count(*) FROM revocations")
}

#[tokio::test]
async fn an_editor_records_a_signed_consent_withdraws_it_and_the_dashboard_follows() {
    let Some(b) = Browser::start(1280, 1000).await else { return };
    let (lib, hopper, collins) = identified();
    let group = crate::webapp::photo_id(&lib, "group.jpg");
    // Collins consents to social until ten days after the servers' day; Hopper has nothing.
    lib.json(&["--now", TODAY, "consent", "grant", &collins.to_string(), "--purpose", "social", "--until", "2026-12-05"], 0);
    let server = Server::start(&lib);
    sign_in(&b, &server, "ed", EDITOR_PASSWORD).await;

    // The dashboard: Collins's consent ends within 30 days and will block her photos; Hopper is
    // in photos without any consent.
    b.client.goto(&server.url("/consents")).await.unwrap();
    let page = text(&b).await;
    assert!(page.contains("Expiring within 30 days (1)"), "{page}");
    let expiring = b.js("return [...document.querySelectorAll('#expiring-list tbody tr')].map(r => Number(r.dataset.person))").await;
    assert_eq!(expiring, serde_json::json!([collins]), "{page}");
    let blocks = b.js("return document.querySelector('#expiring-list td.blocks').textContent.trim()").await;
    assert!(blocks.as_str().unwrap().starts_with('2'), "collins.png and collins-turned.jpg (the group photo is blocked by Hopper anyway): {blocks}");
    let missing = b.js("return [...document.querySelectorAll('#unconsented-list tbody tr')].map(r => Number(r.dataset.person))").await;
    assert_eq!(missing, serde_json::json!([hopper]), "{page}");
    shot(&b, "consents-dashboard.png").await;

    // Hopper's consents: none; record one with the signed form.
    b.client.goto(&server.url(&format!("/persons/{hopper}/consents"))).await.unwrap();
    assert!(b.client.find(Locator::Css("#no-consent")).await.is_ok());
    let form = lib.tmp.path().join("quitclaim-hopper.pdf");
    std::fs::write(&form, b"%PDF-1.4 signed by Grace Hopper").unwrap();
    click(&b, "#grant-form input[name='purpose'][value='social']").await;
    b.client.find(Locator::Css("#grant-evidence")).await.unwrap().send_keys(form.to_str().unwrap()).await.unwrap();
    b.client.find(Locator::Css("#grant-note")).await.unwrap().send_keys("signed at the museum desk").await.unwrap();
    b.client.find(Locator::Css("#grant-source")).await.unwrap().select_by_value("paper").await.unwrap();
    submit(&b, "#grant").await;
    let page = text(&b).await;
    assert!(page.contains("Consent recorded: 1 record(s), social."), "{page}");
    let state = b.js("return document.querySelector('#consent-records tbody tr td.state').textContent").await;
    assert_eq!(state, "valid", "{page}");
    let evidence = b.js("return fetch(document.querySelector('a.evidence').href).then(r => r.text())").await;
    assert_eq!(evidence, "%PDF-1.4 signed by Grace Hopper", "the stored evidence is the uploaded form");
    let sha = lib.sql_text("SELECT evidence_sha256 FROM consents WHERE person_id = (SELECT id FROM persons WHERE name = 'Grace Hopper')");
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(b"%PDF-1.4 signed by Grace Hopper")));
    assert_eq!(social_on_photo_page(&b, &server, group).await, "allowed", "both have consent now");
    shot(&b, "consents-person.png").await;

    // She withdraws: the group photo is blocked at once, and the history shows both.
    b.client.goto(&server.url(&format!("/persons/{hopper}/consents"))).await.unwrap();
    click(&b, "#revoke-form input[name='purpose'][value='social']").await;
    b.client.find(Locator::Css("#revoke-note")).await.unwrap().send_keys("asked by phone").await.unwrap();
    submit(&b, "#revoke-button").await;
    let page = text(&b).await;
    assert!(page.contains("Consent withdrawn"), "{page}");
    let history = b.js("return [...document.querySelectorAll('#consent-history tbody tr')].map(r => r.cells[2].textContent)").await;
    let history: Vec<&str> = history.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history[0].starts_with("withdrew social") && history[1].starts_with("granted social"), "newest first: {history:?}");
    assert_eq!(social_on_photo_page(&b, &server, group).await, "BLOCKED");
    let audit = lib.json(&["audit", "log", "--person", &hopper.to_string()], 0);
    let by_ed: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter(|e| e["actor"] == "ed").map(|e| e["command"].as_str().unwrap()).collect();
    assert!(by_ed.contains(&"consent grant") && by_ed.contains(&"consent revoke"), "audited under the editor: {by_ed:?}");
    b.close().await;
}

#[test]
fn consent_pages_check_the_role_and_refuse_bad_input() {
    let (lib, hopper, _) = identified();
    lib.json(&["consent", "grant", &hopper.to_string(), "--purpose", "social", "--no-expiry"], 0);
    let server = Server::start(&lib);
    let before = records(&lib);
    let mut vic = crate::web::signed_in(&server, "vic", "viewer password 1");
    let csrf = vic.csrf(&server);
    // A viewer sees the pages, without the forms, and may not change or download anything.
    let page = vic.get(&server.url(&format!("/persons/{hopper}/consents")));
    assert_eq!(page.status, 200);
    assert!(!page.text().contains("grant-form") && !page.text().contains("revoke-form"));
    assert_eq!(vic.get(&server.url("/consents")).status, 200);
    assert_eq!(vic.post(&server.url(&format!("/persons/{hopper}/consents/revoke")), &[("csrf", &csrf), ("all", "1")], None).status, 403);
    assert_eq!(vic.post(&server.url("/purposes"), &[("csrf", &csrf), ("name", "billboard")], None).status, 403);
    assert_eq!(records(&lib), before);

    let mut ed = crate::web::signed_in(&server, "ed", EDITOR_PASSWORD);
    let csrf = ed.csrf(&server);
    // An editor may not add purposes (an admin's), and bad withdrawals are refused, recording nothing.
    assert_eq!(ed.post(&server.url("/purposes"), &[("csrf", &csrf), ("name", "billboard")], None).status, 403);
    for (form, says) in [
        (vec![("effective", "2026-12-01")], "tick the purposes"),
        (vec![("purpose", "billboard")], "billboard"),
        (vec![("all", "1"), ("effective", "1st of May")], "not a date"),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let r = ed.post(&server.url(&format!("/persons/{hopper}/consents/revoke")), &form, None);
        assert_eq!(r.status, 400, "{form:?}");
        assert!(r.text().contains(says), "{form:?}: {}", r.text());
    }
    assert_eq!(records(&lib), before, "nothing recorded");
    assert_eq!(ed.get(&server.url("/consents?within=lots")).status, 400);
    assert_eq!(ed.get(&server.url("/persons/999/consents")).status, 404);
    assert_eq!(ed.get(&server.url("/consents/999/evidence")).status, 404);
}
