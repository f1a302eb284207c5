//! Consent asked for by link and answered online: an editor asks the two people of a group
//! photo in a real browser, each answers through their own link as the person would (no
//! session), the gate follows every answer and the withdrawal; and, over plain HTTP, what the
//! public pages must never do (take a link twice, outlive it, open for a guess, show anyone
//! else, lean on a session, record bad input).

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::Browser;
use crate::common::*;
use crate::web::{audit, Client, Server, TODAY};
use crate::webapp::{click, library, photo_id, shot, sign_in, social_on_photo_page, submit, text, EDITOR_PASSWORD};

const HOPPER_EMAIL: &str = "grace.hopper@example.org";
const COLLINS_EMAIL: &str = "eileen.collins@example.org";

/// The web app's library with Hopper and Collins made by hand and every face of theirs
/// confirmed (in the group photo: Hopper on the left), the organisation set, and the purposes
/// social and print. Returns the library and the two person ids.
pub fn identified() -> (Lib, i64, i64) {
    let lib = library();
    let add = |name: &str, email: &str| lib.json(&["person", "add", "--name", name, "--email", email], 0)["id"].as_i64().unwrap();
    let (hopper, collins) = (add("Grace Hopper", HOPPER_EMAIL), add("Eileen Collins", COLLINS_EMAIL));
    let faces_of = |file: &str| -> Vec<i64> {
        let conn = rusqlite::Connection::open(lib.db()).unwrap();
        let mut stmt = conn.prepare("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE ?1 ORDER BY f.x0").unwrap();
        stmt.query_map([format!("%/{file}")], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let group = faces_of("group.jpg");
    assert_eq!(group.len(), 2, "two faces in the group photo");
    for (file, who) in [("hopper.jpg", hopper), ("hopper-turned.jpg", hopper), ("collins.png", collins), ("collins-turned.jpg", collins)] {
        for f in faces_of(file) {
            lib.json(&["face", "move", &f.to_string(), "--to", &who.to_string()], 0);
        }
    }
    lib.json(&["face", "move", &group[0].to_string(), "--to", &hopper.to_string()], 0);
    lib.json(&["face", "move", &group[1].to_string(), "--to", &collins.to_string()], 0);
    lib.json(&["purpose", "add", "print", "--description", "the annual report in print"], 0);
    lib.json(&["organisation", "--name", "Example Museum", "--contact", "privacy@museum.example"], 0);
    (lib, hopper, collins)
}

fn check_social(lib: &Lib, photo: &str) -> (bool, String) {
    let out = lib.run(&["--now", TODAY, "--json", "check", "--purpose", "social", photo]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["photos"][0]["allowed"] == true, v["photos"][0].to_string())
}

/// The answer link and the withdrawal link of each person on the page after "Make the request".
async fn links_on_page(b: &Browser) -> Vec<(i64, String, String)> {
    let rows = b.js("return [...document.querySelectorAll('table.made tbody tr')].map(r => [Number(r.dataset.person), r.querySelector('a.answer-link').href, r.querySelector('a.withdraw-link').href])").await;
    rows.as_array().unwrap().iter().map(|r| (r[0].as_i64().unwrap(), r[1].as_str().unwrap().to_string(), r[2].as_str().unwrap().to_string())).collect()
}

/// Opens `link` as the person: no cookies of the app's users.
async fn as_the_person(b: &Browser, link: &str) {
    b.client.delete_all_cookies().await.unwrap();
    b.client.goto(link).await.unwrap();
}

/// The evidence snapshot of a request's answer (or withdrawal), checked against its file name
/// (its sha256) and the audit entry that names it.
fn snapshot(lib: &Lib, request: i64, column: &str) -> Value {
    let sha = lib.sql_text(&format!("SELECT {column} FROM consent_requests WHERE id = {request}"));
    let file = lib.dir().join("evidence").join(format!("{sha}.json"));
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), sha, "the snapshot is stored under its hash");
    let entry = audit(lib).into_iter().find(|e| e["subjects"].as_array().unwrap().iter().any(|s| s == &format!("request:{request}")) && e["detail"].as_str().unwrap_or_default().contains(&sha));
    assert!(entry.is_some(), "the audit trail names snapshot {sha} of request {request}");
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn two_people_of_a_group_photo_answer_their_links_and_the_gate_follows_every_answer() {
    let Some(b) = Browser::start(1280, 900).await else { return };
    let (lib, hopper, collins) = identified();
    let server = Server::start(&lib);
    let group = photo_id(&lib, "group.jpg");
    let group_path = lib.sql_text(&format!("SELECT path FROM photos WHERE id = {group}"));

    // 1. The editor asks both people of the group photo, from the photo page.
    sign_in(&b, &server, "ed", EDITOR_PASSWORD).await;
    b.client.goto(&server.url(&format!("/photos/{group}"))).await.unwrap();
    click(&b, "#ask-consent").await;
    let form = text(&b).await;
    assert!(form.contains("Grace Hopper") && form.contains("Eileen Collins"), "{form}");
    click(&b, "input[name='purpose'][value='social']").await;
    let months = b.client.find(Locator::Css("#months")).await.unwrap();
    months.clear().await.unwrap();
    months.send_keys("24").await.unwrap();
    shot(&b, "request-new.png").await;
    submit(&b, "#make-request").await;
    let links = links_on_page(&b).await;
    shot(&b, "request-made.png").await;
    assert_eq!(links.len(), 2, "{}", text(&b).await);
    let link_of = |p: i64| links.iter().find(|l| l.0 == p).cloned().unwrap();
    let (_, hopper_answer, hopper_withdraw) = link_of(hopper);
    let (_, collins_answer, _) = link_of(collins);
    // The .eml offered for Hopper is addressed to her and carries her link.
    let eml_href = b.js(&format!("return document.querySelector('tr[data-person=\"{hopper}\"] a[href$=\".eml\"]').href")).await;
    let eml = b.js(&format!("return fetch({eml_href}).then(r => r.text())")).await;
    let eml = eml.as_str().unwrap().replace("=\r\n", "").replace("=\n", "");
    assert!(eml.contains(HOPPER_EMAIL) && eml.contains(hopper_answer.rsplit('/').next().unwrap()), "{eml}");

    // 2. Hopper agrees to social for 12 months; her page shows her own face only.
    as_the_person(&b, &hopper_answer).await;
    let page = text(&b).await;
    assert!(page.contains("Example Museum") && page.contains("privacy@museum.example"), "{page}");
    assert!(!page.contains("Hopper") && !page.contains("Collins"), "no names on the public page: {page}");
    let shown: Vec<i64> = b.js("return [...document.querySelectorAll('ul.own-faces img')].map(i => Number(i.src.split('/').pop()))").await.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let hers: Vec<i64> = {
        let conn = rusqlite::Connection::open(lib.db()).unwrap();
        let mut stmt = conn.prepare(&format!("SELECT id FROM faces WHERE photo_id = {group} AND person_id = {hopper}")).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(shown, hers, "her face in the group photo, nobody else's");
    let loaded = b.js("return [...document.querySelectorAll('ul.own-faces img')].every(i => i.complete && i.naturalWidth > 0)").await;
    assert_eq!(loaded, true, "the crops load");
    shot(&b, "consent-page.png").await;
    click(&b, "input[name='agree'][value='social']").await;
    b.client.find(Locator::Css("#months option[value='12']")).await.unwrap().click().await.unwrap();
    b.client.find(Locator::Css("#name")).await.unwrap().send_keys("Grace Brewster Hopper").await.unwrap();
    click(&b, "#confirm").await;
    submit(&b, "#send").await;
    let thanks = text(&b).await;
    assert!(thanks.contains(&format!("You agreed to: social, until {}", until(12))), "{thanks}");
    let offered = b.js("return document.querySelector('#withdraw-link').href").await;
    assert_eq!(offered.as_str().unwrap(), hopper_withdraw, "the thank-you page offers her withdrawal link");

    // Collins refuses.
    as_the_person(&b, &collins_answer).await;
    submit(&b, "#refuse").await;
    assert!(text(&b).await.contains("You did not agree to: social"), "{}", text(&b).await);
    // A link works once.
    b.client.goto(&collins_answer).await.unwrap();
    assert!(text(&b).await.contains("This link has been used"), "{}", text(&b).await);

    // 3. The group photo stays blocked for social because of the refusal.
    let (allowed, why) = check_social(&lib, &group_path);
    assert!(!allowed, "{why}");
    assert!(why.contains("Eileen Collins") && !why.contains("Grace Hopper"), "blocked by Collins only: {why}");

    // 4. The refusing person is replaced by one who consents: the face was Sally Ride's, who
    // says yes through her own link.
    let sally = lib.json(&["person", "add", "--name", "Sally Ride", "--email", "sally.ride@example.org"], 0)["id"].as_i64().unwrap();
    let base = server.url("");
    let asked = lib.json(&["--now", TODAY, "consent", "request", &sally.to_string(), "--purpose", "social", "--out", lib.tmp.path().join("sally.eml").to_str().unwrap(), "--link-base", &base], 0);
    as_the_person(&b, asked["answer_link"].as_str().unwrap()).await;
    click(&b, "input[name='agree'][value='social']").await;
    b.client.find(Locator::Css("#name")).await.unwrap().send_keys("Sally Ride").await.unwrap();
    click(&b, "#confirm").await;
    submit(&b, "#send").await;
    assert!(text(&b).await.contains("You agreed to: social"), "{}", text(&b).await);
    let collins_face = lib.sql_count(&format!("SELECT id FROM faces WHERE photo_id = {group} AND person_id = {collins}"));
    lib.json(&["face", "move", &collins_face.to_string(), "--to", &sally.to_string()], 0);
    let (allowed, why) = check_social(&lib, &group_path);
    assert!(allowed, "{why}");
    sign_in(&b, &server, "ed", EDITOR_PASSWORD).await;
    assert_eq!(social_on_photo_page(&b, &server, group).await, "allowed");

    // 5. Hopper withdraws through her link: blocked at once.
    as_the_person(&b, &hopper_withdraw).await;
    let checked = b.js("return document.querySelector(\"input[name='purpose'][value='social']\").checked").await;
    assert_eq!(checked, true, "her consent in force is ticked to withdraw");
    shot(&b, "withdraw-page.png").await;
    submit(&b, "#withdraw").await;
    assert!(text(&b).await.contains("withdrawn for: social"), "{}", text(&b).await);
    let (allowed, why) = check_social(&lib, &group_path);
    assert!(!allowed && why.contains("revoked"), "{why}");

    // 6. Each answer's snapshot is in the library, under its hash, which the audit trail names.
    let request_of = |p: i64| lib.sql_count(&format!("SELECT max(id) FROM consent_requests WHERE person_id = {p}"));
    let agreed = snapshot(&lib, request_of(hopper), "answer_evidence");
    assert_eq!(agreed["answer"]["agreed"], serde_json::json!(["social"]));
    assert_eq!(agreed["answer"]["name"], "Grace Brewster Hopper");
    assert_eq!(agreed["answer"]["until"], until(12));
    assert_eq!(agreed["client_ip"], "127.0.0.1");
    assert!(agreed["page_shown"].as_str().unwrap().contains("posts on our social media accounts") || agreed["page_shown"].as_str().unwrap().contains("social"));
    let refused = snapshot(&lib, request_of(collins), "answer_evidence");
    assert_eq!(refused["answer"]["refused"], serde_json::json!(["social"]));
    assert_eq!(snapshot(&lib, request_of(sally), "answer_evidence")["answer"]["agreed"], serde_json::json!(["social"]));
    assert_eq!(snapshot(&lib, request_of(hopper), "withdraw_evidence")["answer"]["withdrawn"], serde_json::json!(["social"]));
    let consents = lib.json(&["consent", "list", "--person", &hopper.to_string()], 0);
    assert_eq!(consents["consents"][0]["source"], "web", "{consents}");
    assert_eq!(lib.json(&["audit", "verify"], 0)["ok"], true);
    b.close().await;
}

// ---- plain HTTP -------------------------------------------------------------------------------

/// A request for `person` made with the CLI, pointing at `server`: its answer and withdrawal
/// links.
fn ask(lib: &Lib, server: &Server, person: i64, extra: &[&str]) -> (String, String) {
    let out = lib.tmp.path().join(format!("request-{person}.eml"));
    let (id, base) = (person.to_string(), server.url(""));
    let args = [&["--now", TODAY, "consent", "request", &id, "--purpose", "social", "print", "--out", out.to_str().unwrap(), "--link-base", &base][..], extra].concat();
    let v = lib.json(&args, 0);
    (v["answer_link"].as_str().unwrap().to_string(), v["withdraw_link"].as_str().unwrap().to_string())
}

/// The last day of a consent given on the test servers' day for `months` months.
fn until(months: u32) -> String {
    let today: chrono::NaiveDate = TODAY.parse().unwrap();
    (today.checked_add_months(chrono::Months::new(months)).unwrap() - chrono::Duration::days(1)).to_string()
}

fn consents(lib: &Lib) -> i64 {
    lib.sql_count("SELECT count(*) FROM consents") + lib.sql_count("SELECT count(*) FROM revocations")
}

fn evidence_files(lib: &Lib) -> usize {
    std::fs::read_dir(lib.dir().join("evidence")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_link_works_once_expires_and_a_guess_opens_nothing() {
    let (lib, hopper, collins) = identified();
    let server = Server::start(&lib);
    let (answer, _) = ask(&lib, &server, hopper, &[]);
    let mut person = Client::new();
    let form = [("agree", "social"), ("months", "6"), ("name", "G. Hopper"), ("confirm", "yes")];
    let first = person.post(&answer, &form, None);
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(first.header("set-cookie").is_none(), "a public page sets no cookie");
    let after = consents(&lib);
    let again = person.post(&answer, &form, None);
    assert_eq!(again.status, 410, "{}", again.text());
    assert!(again.text().contains("This link has been used"));
    assert_eq!(person.get(&answer).status, 410);
    assert_eq!(consents(&lib), after, "a used link records nothing");

    // Expired: the link's time has passed (set back in the library, as if 31 days had gone by).
    let (late, late_withdraw) = ask(&lib, &server, collins, &["--link-days", "30"]);
    let conn = rusqlite::Connection::open(lib.db()).unwrap();
    conn.execute("UPDATE consent_requests SET expires_at = '2026-01-01T00:00:00Z' WHERE person_id = ?1", [collins]).unwrap();
    let before = (consents(&lib), evidence_files(&lib));
    let expired = person.post(&late, &form, None);
    assert_eq!(expired.status, 410);
    assert!(expired.text().contains("This link has expired") && expired.text().contains("2026-01-01"), "{}", expired.text());
    assert_eq!((consents(&lib), evidence_files(&lib)), before, "an expired link records nothing");
    // Withdrawal never expires.
    assert_eq!(person.get(&late_withdraw).status, 200);

    // Guessed, mistyped or malformed secrets: the same "not valid" page, nothing recorded.
    let entries = audit(&lib).len();
    let base = server.url("");
    let guessed = format!("{:064x}", 0xfaceu32);
    for path in [format!("/c/{guessed}"), format!("/w/{guessed}"), "/c/short".into(), format!("/c/{}", "z".repeat(64)), format!("{}X", &answer[base.len()..])] {
        let r = person.get(&server.url(&path));
        assert_eq!(r.status, 404, "{path}");
        assert!(r.text().contains("This link is not valid"), "{path}: {}", r.text());
        assert_eq!(person.post(&server.url(&path), &form, None).status, 404, "{path}");
    }
    assert_eq!(audit(&lib).len(), entries, "a guess is not even audited as a change");
    assert_eq!((consents(&lib), evidence_files(&lib)), before);
}

#[test]
fn the_public_page_shows_only_the_persons_own_face_and_no_names() {
    let (lib, hopper, collins) = identified();
    let server = Server::start(&lib);
    let group = photo_id(&lib, "group.jpg");
    // Asked about the group photo (as the web form does): the photos are shown.
    let mut ed = crate::web::signed_in(&server, "ed", EDITOR_PASSWORD);
    let csrf = ed.csrf(&server);
    let made = ed.post(&server.url("/requests"), &[("csrf", &csrf), ("person", &hopper.to_string()), ("photo", &group.to_string()), ("purpose", "social"), ("months", "12")], None);
    assert_eq!(made.status, 200, "{}", made.text());
    let html = made.text();
    let at = html.find("class=\"answer-link\" href=\"").unwrap() + 26;
    let answer = html[at..at + html[at..].find('"').unwrap()].to_string();
    let mut person = Client::new();
    let page = person.get(&answer);
    assert_eq!(page.status, 200);
    let text = page.text();
    for name in ["Hopper", "Collins", "Grace", "Eileen", HOPPER_EMAIL, COLLINS_EMAIL] {
        assert!(!text.contains(name), "{name} on the public page");
    }
    let face = |p: i64| lib.sql_count(&format!("SELECT id FROM faces WHERE photo_id = {group} AND person_id = {p}"));
    let (own, other) = (face(hopper), face(collins));
    assert!(text.contains(&format!("/faces/{own}\"")) && !text.contains(&format!("/faces/{other}\"")), "{text}");
    let crop = person.get(&format!("{answer}/faces/{own}"));
    assert_eq!((crop.status, crop.header("content-type")), (200, Some("image/jpeg")));
    image::load_from_memory(&crop.body).expect("a JPEG");
    // Another person's face, through this link: refused, as is any face once the link is used.
    assert_eq!(person.get(&format!("{answer}/faces/{other}")).status, 404);
    let another_photo = lib.sql_count(&format!("SELECT min(id) FROM faces WHERE person_id = {hopper} AND photo_id != {group}"));
    assert_eq!(person.get(&format!("{answer}/faces/{another_photo}")).status, 404, "only the photos the request is about");
    // The page in Dutch and German, on request.
    assert!(person.get(&format!("{answer}?lang=nl")).text().contains("Uw toestemming voor het gebruik van foto&#39;s"));
    assert!(person.get(&format!("{answer}?lang=de")).text().contains("Ihre Einwilligung zur Nutzung von Fotos"));
}

#[test]
fn public_routes_carry_no_session_and_open_no_signed_in_route() {
    let (lib, hopper, _) = identified();
    let server = Server::start(&lib);
    let (answer, withdraw) = ask(&lib, &server, hopper, &[]);
    let secret = answer.rsplit('/').next().unwrap().to_string();
    // A signed-in user's cookie changes nothing on a public page, and the page sets none.
    let mut ed = crate::web::signed_in(&server, "ed", EDITOR_PASSWORD);
    for link in [&answer, &withdraw] {
        let r = ed.get(link);
        assert_eq!(r.status, 200);
        assert!(r.header("set-cookie").is_none(), "{link}");
        assert!(!r.text().contains("Sign out") && !r.text().contains("/logout"), "no signed-in layout on {link}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    // The link's secret is no key to anything else: not as a session cookie, not as an API token.
    let agent: ureq::Agent = ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
    let as_cookie = agent.get(&server.url("/persons")).header("Cookie", format!("facegate_session={secret}")).call().unwrap();
    assert_eq!((as_cookie.status().as_u16(), as_cookie.headers().get("location").unwrap().to_str().unwrap()), (303, "/login"));
    let as_token = agent.get(&server.url(&format!("/api/v1/persons/{hopper}/consents"))).header("Authorization", format!("Bearer {secret}")).call().unwrap();
    assert_eq!(as_token.status().as_u16(), 401);
    // Paths under a link lead nowhere else.
    for path in [format!("/c/{secret}/../persons"), format!("/c/{secret}/persons"), format!("/w/{secret}/faces/1")] {
        let r = agent.get(&server.url(&path)).call().unwrap();
        assert!(matches!(r.status().as_u16(), 303 | 404), "{path}: {}", r.status());
    }
    // A change from another site is refused.
    let mut person = Client::new();
    let cross = person.post(&answer, &[("refuse", "yes")], Some("http://evil.example"));
    assert_eq!(cross.status, 403);
    assert_eq!(lib.sql_count("SELECT count(*) FROM consent_requests WHERE answered_at IS NOT NULL"), 0);
}

#[test]
fn bad_answers_are_refused_with_a_clear_message_and_record_nothing() {
    let (lib, hopper, _) = identified();
    let server = Server::start(&lib);
    let (answer, withdraw) = ask(&lib, &server, hopper, &["--months", "12"]);
    let before = (consents(&lib), evidence_files(&lib), audit(&lib).len());
    let mut person = Client::new();
    for (form, says) in [
        (vec![("agree", "social"), ("months", "12"), ("confirm", "yes")], "Please type your name."),
        (vec![("agree", "social"), ("months", "12"), ("name", "   "), ("confirm", "yes")], "Please type your name."),
        (vec![("agree", "social"), ("months", "12"), ("name", "G")], "Please tick the box to confirm."),
        (vec![("agree", "social"), ("months", "13"), ("name", "G"), ("confirm", "yes")], "at most 12 months"),
        (vec![("agree", "social"), ("months", "soon"), ("name", "G"), ("confirm", "yes")], "at most 12 months"),
        (vec![("agree", "billboard"), ("months", "6"), ("name", "G"), ("confirm", "yes")], "not part of this request"),
        (vec![("months", "6"), ("name", "G"), ("confirm", "yes")], "Tick the purposes you agree to"),
    ] {
        let r = person.post(&answer, &form, None);
        assert_eq!(r.status, 400, "{form:?}");
        assert!(r.text().contains(says), "{form:?}: {}", r.text());
        assert!(r.text().contains("<form"), "the form again, to fix it");
    }
    let r = person.post(&withdraw, &[], None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Tick the purposes"), "{}", r.text());
    assert_eq!(person.post(&withdraw, &[("purpose", "billboard")], None).status, 400);
    assert_eq!((consents(&lib), evidence_files(&lib), audit(&lib).len()), before, "nothing recorded");
    // The link still works after the mistakes: a good answer goes through.
    let ok = person.post(&answer, &[("agree", "print"), ("months", "3"), ("name", "G"), ("confirm", "yes")], None);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.text().contains(&format!("You agreed to: print, until {}", until(3))) && ok.text().contains("You did not agree to: social"), "{}", ok.text());
}

#[test]
fn requests_need_an_editor_and_the_public_pages_are_rate_limited() {
    let (lib, hopper, _) = identified();
    let server = Server::start(&lib);
    let mut vic = crate::web::signed_in(&server, "vic", "viewer password 1");
    let csrf = vic.csrf(&server);
    let r = vic.post(&server.url("/requests"), &[("csrf", &csrf), ("person", &hopper.to_string()), ("purpose", "social")], None);
    assert_eq!(r.status, 403);
    assert!(crate::web::audit(&lib).iter().any(|e| e["actor"] == "vic" && e["command"] == "consent request" && e["outcome"] == "denied"));
    assert_eq!(lib.sql_count("SELECT count(*) FROM consent_requests"), 0);
    // An editor's bad request: the form again with why, nothing made.
    let mut ed = crate::web::signed_in(&server, "ed", EDITOR_PASSWORD);
    let csrf = ed.csrf(&server);
    for (form, says) in [
        (vec![("person", hopper.to_string()), ("months", "12".into())], "at least one purpose"),
        (vec![("person", hopper.to_string()), ("purpose", "social".into()), ("months", "500".into())], "1 to 120 months"),
        (vec![("purpose", "social".into())], "at least one person"),
        (vec![("person", "99999".into()), ("purpose", "social".into())], "no person 99999"),
    ] {
        let mut fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.push(("csrf", &csrf));
        let r = ed.post(&server.url("/requests"), &fields, None);
        assert_eq!(r.status, 400, "{form:?}: {}", r.text());
        assert!(r.text().contains(says), "{form:?}: {}", r.text());
    }
    assert_eq!(lib.sql_count("SELECT count(*) FROM consent_requests"), 0);
    // A client hammering the public pages is slowed down.
    let mut statuses = Vec::new();
    let mut person = Client::new();
    for _ in 0..60 {
        statuses.push(person.get(&server.url(&format!("/c/{:064x}", 1))).status);
    }
    assert!(statuses.contains(&429) && statuses[..20].iter().all(|s| *s == 404), "{statuses:?}");
}

#[test]
fn erasing_a_person_erases_their_requests_and_the_answers_they_typed() {
    let (lib, hopper, _) = identified();
    let server = Server::start(&lib);
    let (answer, _) = ask(&lib, &server, hopper, &[]);
    let mut person = Client::new();
    let typed = "Amazing Grace Brewster";
    let r = person.post(&answer, &[("agree", "social"), ("months", "6"), ("name", typed), ("confirm", "yes")], None);
    assert_eq!(r.status, 200);
    drop(server);
    let out = lib.run(&["erase", &hopper.to_string(), "--reason", "art. 17", "--keep-files", "--include-suggestions", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lib.sql_count("SELECT count(*) FROM consent_requests"), 0);
    crate::erase::scan_library(&lib.dir(), &[("the typed name", typed.as_bytes()), ("the e-mail", HOPPER_EMAIL.as_bytes())]);
}

/// A mail server for one test: speaks just enough SMTP (no TLS, no authentication) to take
/// messages, and hands each one's envelope recipient and data over the channel. A refused
/// recipient (`refuse`) gets 550, as a real server says "no such user".
fn smtp_sink(refuse: &'static str) -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { return };
            let mut input = BufReader::new(out.try_clone().unwrap());
            let _ = out.write_all(b"220 sink ESMTP\r\n");
            let (mut to, mut line) = (String::new(), String::new());
            loop {
                line.clear();
                if input.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let command = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if command.starts_with("RCPT TO") {
                    to = line.trim_end()[8..].trim_matches(|c| c == '<' || c == '>' || c == ' ').to_string();
                    if to == refuse { b"550 no such user\r\n" } else { b"250 ok\r\n" }
                } else if command == "DATA" {
                    let _ = out.write_all(b"354 go on\r\n");
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if input.read_line(&mut line).unwrap_or(0) == 0 || line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    let _ = tx.send((to.clone(), data));
                    b"250 queued\r\n"
                } else if command == "QUIT" {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = out.write_all(reply);
            }
        }
    });
    (addr, rx)
}

/// With SMTP settings the requests are sent, each sending audited (a refused address too, with
/// the address itself left out of the trail), and the page says what happened to each.
#[test]
fn with_smtp_settings_requests_are_sent_and_each_sending_is_audited() {
    let (lib, hopper, collins) = identified();
    let (smtp, received) = smtp_sink(COLLINS_EMAIL);
    let url = format!("smtp://{smtp}");
    let server = Server::start_with(&lib, &["--smtp-url", &url, "--mail-from", "privacy@museum.example"], None);
    let mut ed = crate::web::signed_in(&server, "ed", EDITOR_PASSWORD);
    let csrf = ed.csrf(&server);
    let form = [("csrf", csrf.as_str()), ("person", &hopper.to_string()), ("person", &collins.to_string()), ("purpose", "social"), ("months", "12")];
    let r = ed.post(&server.url("/requests"), &form, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let (to, data) = received.recv_timeout(std::time::Duration::from_secs(30)).expect("a message reached the mail server");
    assert_eq!(to, HOPPER_EMAIL);
    let body = data.replace("=\r\n", "");
    assert!(body.contains("From: ") && body.contains("privacy@museum.example") && body.lines().any(|l| l.starts_with("To: ") && l.contains(HOPPER_EMAIL)), "{body}");
    let link = lib.sql_count(&format!("SELECT count(*) FROM consent_requests WHERE person_id = {hopper}"));
    assert_eq!(link, 1);
    assert!(body.contains("/c/") && body.contains("/w/"), "the message carries both links: {body}");
    assert!(received.try_recv().is_err(), "Collins's address was refused, so nothing else arrived");
    let page = r.text();
    assert!(page.contains("sent") && page.contains("no such user"), "the page says what happened to each: {page}");
    let sendings: Vec<Value> = audit(&lib).into_iter().filter(|e| e["command"] == "consent request sent").collect();
    assert_eq!(sendings.len(), 2, "{sendings:?}");
    assert!(sendings.iter().all(|e| e["actor"] == "ed"));
    assert!(sendings.iter().any(|e| e["outcome"] == "ok") && sendings.iter().any(|e| e["outcome"] == "failed"), "{sendings:?}");
    assert!(!serde_json::to_string(&sendings).unwrap().contains(COLLINS_EMAIL), "no address in the trail: {sendings:?}");
}
