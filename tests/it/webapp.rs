//! The web app in a real headless Chromium: an editor signs in, names a clustered person by
//! clicking, confirms their faces, splits one off and merges it back by thumbnail, sees a group
//! photo go from blocked to allowed once consent is recorded; a viewer can change nothing. The
//! screenshots land in target/tmp/browser/ (and in `FACEGATE_SCREENSHOTS`, e.g. docs/, when set).

use std::path::PathBuf;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::common::*;
use crate::users::add_user;
use crate::web::{Server, TODAY};

pub const EDITOR_PASSWORD: &str = "editor password 1";
const VIEWER_PASSWORD: &str = "viewer password 1";

/// Hopper (two photos), Collins (two photos) and a group photo of both, made side by side.
pub fn library() -> Lib {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let s = sample_images();
    copy(&s.join("grace_hopper.jpg"), &photos, "hopper.jpg");
    copy(&s.join("grace_hopper_exif_orientation6.jpg"), &photos, "hopper-turned.jpg");
    copy(&s.join("eileen_collins_nasa.png"), &photos, "collins.png");
    copy(&s.join("eileen_collins_nasa_exif_orientation6.jpg"), &photos, "collins-turned.jpg");
    let a = image::open(s.join("grace_hopper.jpg")).unwrap().to_rgb8();
    let b = image::open(s.join("eileen_collins_nasa.png")).unwrap().to_rgb8();
    let h = a.height().min(b.height());
    let a = image::imageops::resize(&a, a.width() * h / a.height(), h, image::imageops::FilterType::Triangle);
    let b = image::imageops::resize(&b, b.width() * h / b.height(), h, image::imageops::FilterType::Triangle);
    let mut group = image::RgbImage::new(a.width() + b.width(), h);
    image::imageops::replace(&mut group, &a, 0, 0);
    image::imageops::replace(&mut group, &b, a.width() as i64, 0);
    group.save(photos.join("group.jpg")).unwrap();
    lib.index(&[&photos], 0);
    add_user(&lib, "ed", "editor", EDITOR_PASSWORD);
    add_user(&lib, "vic", "viewer", VIEWER_PASSWORD);
    lib.json(&["purpose", "add", "social"], 0);
    lib
}

pub async fn sign_in(b: &Browser, server: &Server, name: &str, password: &str) {
    b.client.goto(&server.url("/login")).await.unwrap();
    b.client.find(Locator::Css("#name")).await.unwrap().send_keys(name).await.unwrap();
    b.client.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    submit(b, "form[action='/login'] button").await;
    let url = b.client.current_url().await.unwrap();
    assert!(url.path().starts_with("/persons"), "signed in as {name}, at {url}");
}

pub async fn text(b: &Browser) -> String {
    b.client.find(Locator::Css("main")).await.unwrap().text().await.unwrap()
}

pub async fn click(b: &Browser, css: &str) {
    b.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

/// Clicks a button that submits a form and waits until the next page has loaded.
pub async fn submit(b: &Browser, css: &str) {
    b.js("window.facegateOldPage = true; return null").await;
    click(b, css).await;
    for _ in 0..200 {
        let done = b.js("return window.facegateOldPage === undefined && document.readyState === 'complete'").await;
        if done == true {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no new page after clicking {css}");
}

pub async fn shot(b: &Browser, name: &str) {
    let mut dirs = vec![repo().join("target/tmp/browser")];
    dirs.extend(std::env::var_os("FACEGATE_SCREENSHOTS").map(PathBuf::from));
    for d in dirs {
        b.screenshot(&d.join(name)).await;
    }
}

/// The gate's word for `social` on the photo page.
pub async fn social_on_photo_page(b: &Browser, server: &Server, photo: i64) -> String {
    b.client.goto(&server.url(&format!("/photos/{photo}"))).await.unwrap();
    let row = b.client.find(Locator::XPath("//table[@class='gate']//tr[th='social']/td[1]")).await.unwrap();
    row.text().await.unwrap()
}

pub fn photo_id(lib: &Lib, file: &str) -> i64 {
    lib.sql_count(&format!("SELECT id FROM photos WHERE path LIKE '%/{file}'"))
}

#[tokio::test]
async fn an_editor_names_confirms_merges_and_unblocks_a_group_photo_and_a_viewer_changes_nothing() {
    let Some(b) = Browser::start(1280, 900).await else { return };
    let lib = library();
    let server = Server::start(&lib);
    let hopper = person_with_photo(&lib, "hopper.jpg");
    let collins = person_with_photo(&lib, "collins.png");
    assert_ne!(hopper, collins);
    let group = photo_id(&lib, "group.jpg");

    sign_in(&b, &server, "ed", EDITOR_PASSWORD).await;
    shot(&b, "persons.png").await;
    // Name Hopper by clicking through from the persons grid.
    click(&b, &format!("a[href='/persons/{hopper}']")).await;
    let name = b.client.find(Locator::Css("#name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Grace Hopper").await.unwrap();
    submit(&b, "form[action$='/name'] button").await;
    assert!(text(&b).await.contains("Grace Hopper"));
    let shown = lib.json(&["person", "show", &hopper.to_string()], 0);
    assert_eq!(shown["person"]["name"], "Grace Hopper");
    // Confirm her faces: every face of hers ends up confirmed (clustering may have confirmed some).
    if b.client.find(Locator::Css("form[action$='/confirm-all'] button")).await.is_ok() {
        submit(&b, "form[action$='/confirm-all'] button").await;
        assert!(text(&b).await.contains("suggested face(s) confirmed"));
    }
    let faces: Vec<i64> = shown["faces"].as_array().unwrap().iter().map(|f| f["face_id"].as_i64().unwrap()).collect();
    for f in &faces {
        click(&b, &format!("input[name='face'][value='{f}']")).await;
    }
    submit(&b, "button[name='action'][value='confirm']").await;
    let shown = lib.json(&["person", "show", &hopper.to_string()], 0);
    assert!(shown["faces"].as_array().unwrap().iter().all(|f| f["link"] == "confirmed"), "{shown}");
    assert!(shown["faces"].as_array().unwrap().len() >= 3, "Hopper is in three photos: {shown}");
    shot(&b, "person.png").await;

    // Split one of Collins' faces off, then merge that person back, picked by thumbnail.
    let collins_faces = lib.json(&["person", "show", &collins.to_string()], 0)["faces"].clone();
    let one = collins_faces[0]["face_id"].as_i64().unwrap();
    b.client.goto(&server.url(&format!("/persons/{collins}"))).await.unwrap();
    click(&b, &format!("input[name='face'][value='{one}']")).await;
    submit(&b, "button[name='action'][value='split']").await;
    let split_off = lib.sql_count(&format!("SELECT person_id FROM faces WHERE id = {one}"));
    assert_ne!(split_off, collins, "{}", text(&b).await);
    click(&b, &format!("input[name='from'][value='{split_off}']")).await;
    submit(&b, "form[action$='/merge'] button[type='submit']").await;
    assert!(text(&b).await.contains(&format!("Merged person {split_off}")));
    assert_eq!(lib.sql_count(&format!("SELECT person_id FROM faces WHERE id = {one}")), collins);
    // Name her and confirm all her faces in one click.
    let name = b.client.find(Locator::Css("#name")).await.unwrap();
    name.send_keys("Eileen Collins").await.unwrap();
    submit(&b, "form[action$='/name'] button").await;
    let shown = lib.json(&["person", "show", &collins.to_string()], 0);
    for f in shown["faces"].as_array().unwrap().iter().filter(|f| f["link"] != "confirmed") {
        click(&b, &format!("input[name='face'][value='{}']", f["face_id"])).await;
    }
    if shown["faces"].as_array().unwrap().iter().any(|f| f["link"] != "confirmed") {
        submit(&b, "button[name='action'][value='confirm']").await;
    }

    // The group photo: blocked for social until both are identified and have consented. A face
    // clustering left open is decided in the review queue: the candidate when it is offered, else
    // a new person merged into Collins by thumbnail.
    assert_eq!(social_on_photo_page(&b, &server, group).await, "BLOCKED");
    shot(&b, "photo.png").await;
    let open = format!("FROM faces WHERE photo_id = {group} AND (person_id IS NULL OR link = 'suggested')");
    while lib.sql_count(&format!("SELECT count(*) {open}")) > 0 {
        let f = lib.sql_count(&format!("SELECT min(id) {open}"));
        b.client.goto(&server.url("/review")).await.unwrap();
        shot(&b, "review.png").await;
        let candidate = format!("li.item[data-face='{f}'] button[name='person'][value='{collins}']");
        if b.client.find(Locator::Css(&candidate)).await.is_ok() {
            submit(&b, &candidate).await;
        } else {
            submit(&b, &format!("li.item[data-face='{f}'] button[value='new']")).await;
            let new = lib.sql_count(&format!("SELECT person_id FROM faces WHERE id = {f}"));
            b.client.goto(&server.url(&format!("/persons/{collins}"))).await.unwrap();
            click(&b, &format!("input[name='from'][value='{new}']")).await;
            submit(&b, "form[action$='/merge'] button[type='submit']").await;
        }
        assert_eq!(lib.sql_count(&format!("SELECT person_id FROM faces WHERE id = {f} AND link = 'confirmed'")), collins);
    }
    for p in [hopper, collins] {
        lib.json(&["--now", TODAY, "consent", "grant", &p.to_string(), "--purpose", "social", "--until", "2027-12-31"], 0);
    }
    let group_path = lib.sql_text(&format!("SELECT path FROM photos WHERE id = {group}"));
    let said = social_on_photo_page(&b, &server, group).await;
    assert_eq!(said, "allowed", "{}", lib.json(&["--now", TODAY, "check", "--purpose", "social", &group_path], 1));
    let check = lib.json(&["--now", TODAY, "check", "--purpose", "social", &group_path], 0);
    assert_eq!(check["photos"][0]["allowed"], true);
    b.client.goto(&server.url("/review")).await.unwrap();
    assert!(text(&b).await.contains("faces wait"));
    shot(&b, "review.png").await;
    b.client.goto(&server.url("/audit")).await.unwrap();
    assert!(text(&b).await.contains("may not"), "an editor may not read the audit trail");

    // Search by photo: upload a photo of Hopper from outside the library, pick her face, and
    // see every photo of her, the group photo too.
    b.client.goto(&server.url("/search")).await.unwrap();
    let query = sample_images().join("grace_hopper.jpg").canonicalize().unwrap();
    b.client.find(Locator::Css("#photo")).await.unwrap().send_keys(query.to_str().unwrap()).await.unwrap();
    submit(&b, "form.upload button").await;
    assert!(text(&b).await.contains("Faces in grace_hopper.jpg"), "{}", text(&b).await);
    submit(&b, "a[data-face='1']").await;
    let found = text(&b).await;
    for file in ["hopper.jpg", "hopper-turned.jpg", "group.jpg"] {
        assert!(found.contains(&format!("/photos/{file}")), "{file} among the matches: {found}");
    }
    assert!(found.contains("3 photo(s) of this person") && !found.contains("collins"), "{found}");
    let loaded = "return Array.from(document.querySelectorAll('ol.matches img, ol.query-faces img')).every(i => i.complete && i.naturalWidth > 0)";
    for _ in 0..100 {
        if b.js(loaded).await == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(b.js(loaded).await, true, "the crops and thumbnails decode");
    shot(&b, "search.png").await;
    submit(&b, "ol.matches a.path").await;
    assert!(b.client.current_url().await.unwrap().path().starts_with("/photos/"), "a match links to its photo page");
    // On a tablet held upright, an editor's pages fit the width: nothing scrolls sideways.
    b.set_viewport(820, 1180).await;
    for path in ["/persons".to_string(), format!("/persons/{hopper}"), "/review".into(), format!("/photos/{group}"), "/search".into()] {
        b.client.goto(&server.url(&path)).await.unwrap();
        let widths = b.js("return [document.documentElement.scrollWidth, window.innerWidth]").await;
        let (page, window) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(window >= 800 && page <= window, "{path} is wider than a tablet: {widths}");
    }
    b.set_viewport(1280, 900).await;
    b.client.goto(&server.url("/persons")).await.unwrap();
    submit(&b, "form[action='/logout'] button").await;

    // A viewer sees the person but no form to change them, and a forged change is refused.
    sign_in(&b, &server, "vic", VIEWER_PASSWORD).await;
    b.client.goto(&server.url(&format!("/persons/{hopper}"))).await.unwrap();
    assert!(text(&b).await.contains("Grace Hopper"));
    assert!(b.client.find(Locator::Css("form[action$='/name']")).await.is_err(), "a viewer gets no name form");
    assert!(b.client.find(Locator::Css("input[name='face']")).await.is_err(), "a viewer cannot select faces");
    let csrf = b.js("return document.querySelector(\"form[action='/logout'] input[name='csrf']\").value").await;
    let status = b
        .js(&format!(
            "return fetch('/persons/{hopper}/name', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: 'csrf={}&name=Mallory'}}).then(r => r.status)",
            csrf.as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 403);
    assert_eq!(lib.json(&["person", "show", &hopper.to_string()], 0)["person"]["name"], "Grace Hopper");
    let denied = lib.sql_count("SELECT count(*) FROM audit WHERE actor = 'vic' AND outcome = 'denied'");
    assert!(denied >= 1);
    let console = b.console().await;
    assert!(console.iter().all(|c| c.level != "SEVERE" || c.message.contains("403")), "{console:?}");
    b.close().await;
}
