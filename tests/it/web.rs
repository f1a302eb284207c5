//! `facegate serve` over HTTP, without a browser: the real server process on a free port over a
//! temporary library indexed from sample-images, users made with the CLI, requests with ureq (and
//! raw TCP where a client would tidy the request up). Roles, CSRF, lock-out, escaping, paths,
//! body limits, the API's gate answer and the thumbnail cache.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::schemas::Schemas;
use crate::users::{add_user, create_token};

pub const TODAY: &str = "2026-11-25";
const ADMIN_PASSWORD: &str = "admin password 1";
const VIEWER_PASSWORD: &str = "viewer password 1";
const EDITOR_PASSWORD: &str = "editor password 1";

/// A running `facegate serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on a free port and waits until it listens.
    pub fn start(lib: &Lib) -> Server {
        Server::start_with(lib, &[], None)
    }

    /// With `extra` arguments, and `tmp` as its temporary folder (`TMPDIR`) when given.
    pub fn start_with(lib: &Lib, extra: &[&str], tmp: Option<&Path>) -> Server {
        let mut cmd = lib.cmd();
        if let Some(dir) = tmp {
            cmd.env("TMPDIR", dir);
        }
        let mut child = cmd
            .args(["--now", TODAY, "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start facegate serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut server = Server { child, addr: String::new() };
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.split(" on http://").nth(1).or_else(|| line.split(" on https://").nth(1)) {
                server.addr = url.trim().to_string();
                break;
            }
        }
        assert!(!server.addr.is_empty(), "the server did not say where it listens");
        // Keep reading its log so that it never blocks on a full pipe; show it in the test output.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| eprintln!("[serve] {l}")));
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A library with two indexed photos (Grace Hopper, and the cameraman), the admin `ada`, the
/// viewer `vic` and the editor `ed`, and the purpose `social`.
fn library() -> (Lib, PathBuf) {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &photos, "hopper.jpg");
    copy(&sample_images().join("cameraman_cc0.png"), &photos, "cameraman.png");
    lib.index(&[&photos], 0);
    add_user(&lib, "ada", "admin", ADMIN_PASSWORD);
    add_user(&lib, "vic", "viewer", VIEWER_PASSWORD);
    add_user(&lib, "ed", "editor", EDITOR_PASSWORD);
    lib.json(&["purpose", "add", "social"], 0);
    (lib, photos.canonicalize().unwrap())
}

pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, Vec<String>>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A browser-like client: keeps cookies, follows no redirects.
pub struct Client {
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

impl Client {
    pub fn new() -> Client {
        let agent = ureq::Agent::config_builder().max_redirects(0).max_redirects_will_error(false).http_status_as_error(false).build().into();
        Client { agent, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, res: ureq::http::Response<ureq::Body>) -> Reply {
        let status = res.status().as_u16();
        let mut headers: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in res.headers() {
            headers.entry(k.as_str().to_string()).or_default().push(v.to_str().unwrap_or_default().to_string());
        }
        for c in headers.get("set-cookie").into_iter().flatten() {
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let body = res.into_body().with_config().limit(64 * 1024 * 1024).read_to_vec().unwrap();
        Reply { status, headers, body }
    }

    pub fn get(&mut self, url: &str) -> Reply {
        let res = self.agent.get(url).header("Cookie", self.cookie_header()).call().unwrap();
        self.keep(res)
    }

    pub fn post(&mut self, url: &str, form: &[(&str, &str)], origin: Option<&str>) -> Reply {
        let mut req = self.agent.post(url).header("Cookie", self.cookie_header());
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let res = req.send_form(form.iter().copied()).unwrap();
        self.keep(res)
    }

    /// Posts a multipart form with `fields` and the file `photo` named `name`.
    fn post_photo(&mut self, url: &str, fields: &[(&str, &str)], name: &str, photo: &[u8]) -> Reply {
        let (kind, body) = multipart(fields, name, photo);
        let res = self.agent.post(url).header("Cookie", self.cookie_header()).header("Content-Type", kind).send(&body[..]).unwrap();
        self.keep(res)
    }

    /// Loads the sign-in form and posts it.
    fn sign_in(&mut self, server: &Server, name: &str, password: &str) -> Reply {
        let form = self.get(&server.url("/login"));
        let csrf = hidden(&form.text(), "csrf");
        self.post(&server.url("/login"), &[("name", name), ("password", password), ("csrf", &csrf)], None)
    }

    /// The CSRF token of the signed-in session, from a page's sign-out form.
    pub fn csrf(&mut self, server: &Server) -> String {
        let page = self.get(&server.url("/persons"));
        assert_eq!(page.status, 200, "{}", page.text());
        hidden(&page.text(), "csrf")
    }
}

/// A multipart/form-data body of `fields` and the file field `photo` (named `name`): its
/// content type and bytes.
fn multipart(fields: &[(&str, &str)], name: &str, photo: &[u8]) -> (String, Vec<u8>) {
    let boundary = "facegate-test-7f3a9c0d";
    let mut body = Vec::new();
    for (k, v) in fields {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").unwrap();
    }
    write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").unwrap();
    body.extend_from_slice(photo);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The value of the first hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} field in:\n{html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

pub fn signed_in(server: &Server, name: &str, password: &str) -> Client {
    let mut c = Client::new();
    let r = c.sign_in(server, name, password);
    assert_eq!((r.status, r.header("location")), (303, Some("/persons")), "{}", r.text());
    c
}

pub fn audit(lib: &Lib) -> Vec<Value> {
    lib.json(&["audit", "log"], 0)["entries"].as_array().unwrap().clone()
}

fn denied(lib: &Lib, actor: &str, command: &str) -> bool {
    audit(lib).iter().any(|e| e["actor"] == actor && e["command"] == command && e["outcome"] == "denied")
}

fn face_ids(lib: &Lib) -> Vec<i64> {
    let conn = rusqlite::Connection::open(lib.db()).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM faces ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Sends `request` as it is (no client tidies the path) and returns the status and the reply.
fn raw(server: &Server, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn every_route_refuses_anonymous_users() {
    let (lib, _) = library();
    let server = Server::start(&lib);
    let mut anon = Client::new();
    for path in ["/", "/persons", "/users", "/faces/1/thumb", "/photos/1/preview", "/photos/1/original", "/search", "/search/0123abcd", "/search/0123abcd?face=1"] {
        let r = anon.get(&server.url(path));
        assert_eq!((r.status, r.header("location")), (303, Some("/login")), "GET {path}");
    }
    for path in ["/logout", "/users/disable", "/search/0123abcd/assign"] {
        let r = anon.post(&server.url(path), &[("name", "vic"), ("csrf", "x")], None);
        assert_eq!((r.status, r.header("location")), (303, Some("/login")), "POST {path}");
    }
    let photo = std::fs::read(sample_images().join("grace_hopper.jpg")).unwrap();
    let r = anon.post_photo(&server.url("/search?csrf=x"), &[], "q.jpg", &photo);
    assert_eq!((r.status, r.header("location")), (303, Some("/login")), "POST /search");
    let agent = &anon.agent;
    let api = [
        agent.get(&server.url("/api/v1/openapi.json")).call().unwrap(),
        agent.post(&server.url("/api/v1/check")).send_json(serde_json::json!({"photos": [], "purpose": "social"})).unwrap(),
        agent.get(&server.url("/api/v1/openapi.json")).header("Authorization", "Bearer fgt_not_a_token").call().unwrap(),
        agent.get(&server.url("/api/v1/persons/1/photos")).call().unwrap(),
        agent.get(&server.url("/api/v1/persons/1/consents")).call().unwrap(),
        agent.get(&server.url("/api/v1/consents")).call().unwrap(),
        agent.post(&server.url("/api/v1/search")).header("Content-Type", multipart(&[], "q.jpg", &photo).0).send(&multipart(&[], "q.jpg", &photo).1[..]).unwrap(),
        agent.post(&server.url("/api/v1/search")).header("Authorization", "Bearer fgt_not_a_token").send(&b""[..]).unwrap(),
    ];
    for res in api {
        let r = anon.keep(res);
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "sign_in_required");
    }
    // Only the sign-in form and the style sheet are public.
    assert_eq!(anon.get(&server.url("/login")).status, 200);
    assert_eq!(anon.get(&server.url("/static/style.css")).status, 200);
    assert_eq!(anon.get(&server.url("/no/such/page")).status, 404);
}

#[test]
fn roles_are_enforced_and_refusals_audited() {
    let (lib, photos) = library();
    let server = Server::start(&lib);
    let mut vic = signed_in(&server, "vic", VIEWER_PASSWORD);
    let csrf = vic.csrf(&server);
    let page = vic.get(&server.url("/persons"));
    assert!(page.text().contains("vic <span class=\"role\">viewer</span>"), "{}", page.text());

    let r = vic.post(&server.url("/users/disable"), &[("name", "ada"), ("csrf", &csrf)], None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("needs admin"), "{}", r.text());
    assert!(denied(&lib, "vic", "user disable"));
    assert_eq!(vic.get(&server.url("/users")).status, 403);
    assert!(denied(&lib, "vic", "user list"));
    assert_eq!(vic.get(&server.url("/photos/1/original")).status, 403);
    assert!(denied(&lib, "vic", "photo download"));
    let users = lib.json(&["user", "list"], 0);
    assert_eq!(users["users"][0]["disabled"], false, "the viewer's change did not happen");

    // An editor may download originals (audited), byte for byte the indexed file.
    let mut ed = signed_in(&server, "ed", EDITOR_PASSWORD);
    let original = ed.get(&server.url("/photos/1/original"));
    assert_eq!(original.status, 200);
    let path = lib.sql_text("SELECT path FROM photos WHERE id = 1");
    assert!(path.starts_with(photos.to_str().unwrap()));
    assert_eq!(original.body, std::fs::read(&path).unwrap());
    assert!(audit(&lib).iter().any(|e| e["actor"] == "ed" && e["command"] == "photo download" && e["outcome"] == "ok"));

    // The admin may disable the viewer, whose session ends at once.
    let mut ada = signed_in(&server, "ada", ADMIN_PASSWORD);
    let csrf = ada.csrf(&server);
    let r = ada.post(&server.url("/users/disable"), &[("name", "vic"), ("csrf", &csrf)], None);
    assert_eq!((r.status, r.header("location")), (303, Some("/users")), "{}", r.text());
    assert!(ada.get(&server.url("/users")).text().contains("disabled"));
    assert!(audit(&lib).iter().any(|e| e["actor"] == "ada" && e["command"] == "user disable" && e["outcome"] == "ok"));
    assert_eq!(vic.get(&server.url("/persons")).status, 303, "a disabled user's session has ended");
}

#[test]
fn changes_need_the_csrf_token_from_this_site() {
    let (lib, _) = library();
    let server = Server::start(&lib);
    let mut ada = signed_in(&server, "ada", ADMIN_PASSWORD);
    let csrf = ada.csrf(&server);
    let url = server.url("/users/disable");
    let none = ada.post(&url, &[("name", "vic")], None);
    assert_eq!(none.status, 403);
    assert!(none.text().contains("security token"), "{}", none.text());
    assert_eq!(ada.post(&url, &[("name", "vic"), ("csrf", "0000")], None).status, 403);
    let other = ada.post(&url, &[("name", "vic"), ("csrf", &csrf)], Some("http://evil.example"));
    assert_eq!(other.status, 403);
    assert!(other.text().contains("another site"), "{}", other.text());
    assert_eq!(lib.json(&["user", "list"], 0)["users"][1]["disabled"], false, "none of them disabled vic");
    // Signing out needs the token too.
    assert_eq!(ada.post(&server.url("/logout"), &[], None).status, 403);
    assert_eq!(ada.get(&server.url("/persons")).status, 200, "still signed in");
    // Signing in needs the form's own token (its cookie).
    let mut fresh = Client::new();
    let r = fresh.post(&server.url("/login"), &[("name", "ada"), ("password", ADMIN_PASSWORD), ("csrf", &csrf)], None);
    assert_eq!(r.status, 403);
    assert!(!fresh.cookies.contains_key("facegate_session"));

    // With the token, from this site: done.
    let origin = format!("http://{}", server.addr);
    let ok = ada.post(&url, &[("name", "vic"), ("csrf", &csrf)], Some(&origin));
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(lib.json(&["user", "list"], 0)["users"][1]["disabled"], true);

    // While another process holds the writer lock (an index run), changes answer 503 and
    // pages keep answering.
    let lock = std::fs::OpenOptions::new().write(true).open(lib.dir().join("lock")).unwrap();
    lock.try_lock().unwrap();
    let busy = ada.post(&url, &[("name", "ed"), ("csrf", &csrf)], None);
    assert_eq!(busy.status, 503);
    assert!(busy.text().contains("library busy, try again"), "{}", busy.text());
    assert_eq!(ada.get(&server.url("/persons")).status, 200);
    drop(lock);

    let out = ada.post(&server.url("/logout"), &[("csrf", &csrf)], None);
    assert_eq!((out.status, out.header("location")), (303, Some("/login")));
    assert_eq!(ada.get(&server.url("/persons")).status, 303, "signed out");
}

#[test]
fn five_wrong_passwords_lock_the_account() {
    let (lib, _) = library();
    let server = Server::start(&lib);
    let mut c = Client::new();
    for _ in 0..5 {
        let r = c.sign_in(&server, "vic", "not the password");
        assert_eq!(r.status, 401);
        assert!(r.text().contains("wrong user name or password"), "{}", r.text());
    }
    let locked = c.sign_in(&server, "vic", VIEWER_PASSWORD);
    assert_eq!(locked.status, 401);
    assert!(locked.text().contains("locked until"), "{}", locked.text());
    assert!(!c.cookies.contains_key("facegate_session"));
    assert!(lib.json(&["user", "list"], 0)["users"][1]["locked_until"].is_string());
    let entries = audit(&lib);
    assert_eq!(entries.iter().filter(|e| e["command"] == "sign-in" && e["outcome"] == "denied").count(), 6);
    assert!(entries.iter().any(|e| e["command"] == "lock-out" && e["actor"] == "vic"));
    // Others are not locked out with them.
    signed_in(&server, "ada", ADMIN_PASSWORD);
}

#[test]
fn names_come_back_escaped() {
    let (lib, _) = library();
    lib.json(&["person", "add", "--name", "<script>alert(1)</script>", "--email", "\"><img src=x onerror=alert(2)>@example.org"], 0);
    add_user(&lib, "<b>eve</b>", "viewer", "eve password 1");
    let server = Server::start(&lib);
    let mut eve = signed_in(&server, "<b>eve</b>", "eve password 1");
    let page = eve.get(&server.url("/persons")).text();
    for raw in ["<script>alert(1)", "<img src=x", "<b>eve"] {
        assert!(!page.contains(raw), "{raw} unescaped in {page}");
    }
    assert_eq!(unescape(between(&page, "<h2>", "</h2>")), "<script>alert(1)</script>");
    assert_eq!(unescape(between(&page, "<p class=\"email\">", "</p>")), "\"><img src=x onerror=alert(2)>@example.org");
    assert_eq!(unescape(between(&page, "<div class=\"who\">\n    <span>", " <span")), "<b>eve</b>");
    // Also in the sign-in form, refilled with the name tried.
    let mut c = Client::new();
    let r = c.sign_in(&server, "<script>x</script>", "wrong password!");
    assert!(!r.text().contains("<script>x"), "{}", r.text());
    assert_eq!(unescape(between(&r.text(), "autofocus value=\"", "\"")), "<script>x</script>");
}

#[test]
fn the_persons_page_filters_searches_and_pages() {
    let (lib, _) = library();
    lib.json(&["person", "add", "--name", "Ada Lovelace", "--email", "ada@example.org"], 0);
    lib.json(&["person", "add", "--name", "Ben 50%_off", "--external"], 0);
    let extra: Vec<String> = (0..50).map(|i| lib.json(&["person", "add", "--name", &format!("Extra {i:02}")], 0)["id"].to_string()).collect();
    // The two indexed faces become two unnamed persons (split off a named one).
    for face in face_ids(&lib) {
        lib.json(&["face", "move", &face.to_string(), "--to", &extra[0]], 0);
        lib.json(&["person", "split", &extra[0], "--faces", &face.to_string()], 0);
    }
    let unnamed = lib.json(&["person", "list"], 0)["persons"].as_array().unwrap().iter().filter(|p| p["name"].is_null()).count();
    assert_eq!(unnamed, 2);
    let server = Server::start(&lib);
    let mut vic = signed_in(&server, "vic", VIEWER_PASSWORD);
    let mut page = |path: &str| vic.get(&server.url(path)).text();
    let names = |html: String| -> Vec<String> { html.split("<h2>").skip(1).map(|h| unescape(&h[..h.find("</h2>").unwrap()])).collect() };
    assert_eq!(names(page("/persons?q=lovelace")), ["Ada Lovelace"]);
    assert_eq!(names(page("/persons?q=ADA%40EXAMPLE")), ["Ada Lovelace"], "email search, any case");
    assert_eq!(names(page("/persons?show=external")), ["Ben 50%_off"]);
    // The user's % and _ are text, not patterns.
    assert_eq!(names(page("/persons?q=%25")), ["Ben 50%_off"]);
    assert_eq!(names(page("/persons?q=_")), ["Ben 50%_off"]);
    let shown_unnamed = names(page("/persons?show=unnamed"));
    assert_eq!(shown_unnamed.len(), unnamed);
    assert!(shown_unnamed.iter().all(|n| n.starts_with("Person ")), "{shown_unnamed:?}");
    // 52 named persons: a page of 48 and a page of 4, with links between them that keep the filter.
    let first = page("/persons?show=named");
    assert_eq!(first.matches("<li class=\"card\">").count(), 48);
    assert!(first.contains("52 person(s), page 1 of 2") && unescape(&first).contains("href=\"/persons?show=named&page=1\""), "{first}");
    let second = names(page("/persons?show=named&page=1"));
    assert_eq!(second.len(), 4, "{second:?}");
    assert!(!names(page("/persons?show=named")).iter().any(|n| second.contains(n)), "a person on both pages");
    assert!(page("/persons?q=nobody-has-this").contains("No person matches."));
}

#[test]
fn undo_puts_back_only_what_the_users_own_confirmation_changed() {
    let (lib, photos) = library();
    copy(&sample_images().join("grace_hopper_exif_orientation6.jpg"), &photos, "hopper-turned.jpg");
    lib.index(&[&photos], 0);
    add_user(&lib, "eda", "editor", "other editor password");
    // Hopper's two faces as one person's suggestions, as clustering leaves them.
    let hopper = lib.json(&["person", "add", "--name", "Grace Hopper"], 0)["id"].as_i64().unwrap();
    let conn = rusqlite::Connection::open(lib.db()).unwrap();
    let n = conn
        .execute(
            "UPDATE faces SET person_id = ?1, link = 'suggested', similarity = 0.97, linked_by = 'cluster'
             WHERE photo_id IN (SELECT id FROM photos WHERE path LIKE '%hopper%')",
            [hopper],
        )
        .unwrap();
    assert_eq!(n, 2);
    drop(conn);
    let links = || -> Vec<String> {
        let shown = lib.json(&["person", "show", &hopper.to_string()], 0);
        shown["faces"].as_array().unwrap().iter().map(|f| f["link"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(links(), ["suggested", "suggested"]);

    let server = Server::start(&lib);
    let mut ed = signed_in(&server, "ed", EDITOR_PASSWORD);
    let csrf = ed.csrf(&server);
    let page = ed.post(&server.url(&format!("/persons/{hopper}/confirm-all")), &[("csrf", &csrf)], None);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(links(), ["confirmed", "confirmed"]);
    let undo = hidden(&page.text(), "undo");
    assert!(undo.len() >= 32 && !undo.contains('{'), "the page carries an id, not the state: {undo}");
    let undo_at = |person: i64| server.url(&format!("/persons/{person}/undo"));
    // A made-up id, another user's session and another person's page put nothing back.
    assert_eq!(ed.post(&undo_at(hopper), &[("csrf", &csrf), ("undo", "made-up")], None).status, 404);
    let mut eda = signed_in(&server, "eda", "other editor password");
    let eda_csrf = eda.csrf(&server);
    assert_eq!(eda.post(&undo_at(hopper), &[("csrf", &eda_csrf), ("undo", &undo)], None).status, 404);
    let other = lib.json(&["person", "add", "--name", "Somebody Else"], 0)["id"].as_i64().unwrap();
    assert_eq!(ed.post(&undo_at(other), &[("csrf", &csrf), ("undo", &undo)], None).status, 404);
    assert_eq!(links(), ["confirmed", "confirmed"]);
    // The user's own undo works, once.
    let undone = ed.post(&undo_at(hopper), &[("csrf", &csrf), ("undo", &undo)], None);
    assert_eq!(undone.status, 200, "{}", undone.text());
    assert!(undone.text().contains("2 face link(s) put back"), "{}", undone.text());
    assert_eq!(links(), ["suggested", "suggested"]);
    assert_eq!(ed.post(&undo_at(hopper), &[("csrf", &csrf), ("undo", &undo)], None).status, 404);
    assert!(audit(&lib).iter().any(|e| e["actor"] == "ed" && e["command"] == "face links undo" && e["outcome"] == "ok"));
}

#[test]
fn the_audit_page_filters_pages_and_verifies_on_request() {
    let (lib, _) = library();
    for i in 0..110 {
        lib.json(&["--actor", "clerk", "purpose", "add", &format!("purpose-{i:03}")], 0);
    }
    let grace = lib.json(&["person", "add", "--name", "Grace"], 0)["id"].as_i64().unwrap();
    lib.json(&["--actor", "clerk", "person", "name", &grace.to_string(), "Grace Hopper"], 0);
    let server = Server::start(&lib);
    let mut ada = signed_in(&server, "ada", ADMIN_PASSWORD);
    let mut page = |path: &str| {
        let r = ada.get(&server.url(path));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        unescape(&r.text())
    };
    let rows = |html: &str| html.matches("<tr><td>").count();
    let first = page("/audit?user=clerk");
    assert_eq!(rows(&first), 100);
    assert!(first.contains("href=\"/audit?user=clerk&page=1\""), "{first}");
    assert!(first.contains("Verify the chain") && !first.contains("Verified"), "verify runs on request only");
    // Newest first: the naming, then the last purpose.
    assert!(first.find("person name").unwrap() < first.find("purpose-109").unwrap());
    let second = page("/audit?user=clerk&page=1");
    assert_eq!(rows(&second), 11, "111 entries by clerk");
    assert!(second.contains("rel=\"prev\"") && !second.contains("rel=\"next\""));
    assert_eq!(rows(&page(&format!("/audit?person={grace}"))), 2, "added and named");
    assert_eq!(rows(&page("/audit?user=nobody")), 0);
    assert!(page("/audit?verify=1").contains("Verified: the chain of"));
    let conn = rusqlite::Connection::open(lib.db()).unwrap();
    conn.execute("UPDATE audit SET outcome = 'changed' WHERE id = 5", []).unwrap();
    drop(conn);
    assert!(page("/audit?verify=1").contains("The chain is broken at entry 5"));
}

/// The text of `html` after the first `start` up to the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start:?} in {html}")) + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

/// Undoes HTML escaping (named or numeric entities), to compare with what was stored.
fn unescape(s: &str) -> String {
    let mut out = s.to_string();
    for (entity, c) in [("&lt;", "<"), ("&#60;", "<"), ("&gt;", ">"), ("&#62;", ">"), ("&quot;", "\""), ("&#34;", "\""), ("&#39;", "'"), ("&#x27;", "'"), ("&amp;", "&"), ("&#38;", "&")] {
        out = out.replace(entity, c);
    }
    out
}

#[test]
fn paths_in_requests_cannot_read_files() {
    let (lib, _) = library();
    let server = Server::start(&lib);
    let ada = signed_in(&server, "ada", ADMIN_PASSWORD);
    let cookie = ada.cookie_header();
    let secret = lib.tmp.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT").unwrap();
    let abs = secret.display().to_string();
    let paths = [
        "/faces/../../etc/passwd".to_string(),
        "/faces/../../../../../../etc/passwd/thumb".to_string(),
        "/faces/%2e%2e%2f%2e%2e%2fetc%2fpasswd/thumb".to_string(),
        "/faces/1%2F..%2F..%2F..%2Fetc%2Fpasswd/thumb".to_string(),
        "/photos/..%2f..%2f..%2fetc%2fpasswd/preview".to_string(),
        format!("/photos/{abs}/original"),
        format!("/photos/{}/preview", abs.replace('/', "%2F")),
        "/static/../../../../etc/passwd".to_string(),
        "/static/..%2f..%2fCargo.toml".to_string(),
        "//etc/passwd".to_string(),
        "/photos/-1/preview".to_string(),
        "/faces/99999/thumb".to_string(),
    ];
    for path in &paths {
        let (status, reply) = raw(&server, &format!("GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n", server.addr));
        assert!(status >= 400, "{path}: {status}\n{reply}");
        assert!(!reply.contains("root:") && !reply.contains("TOP-SECRET") && !reply.contains("[package]"), "{path}: {reply}");
    }
    // The API does not read files the library does not hold either.
    let token = create_token(&lib, "vic");
    let r = Client::new().agent.post(&server.url("/api/v1/check")).header("Authorization", format!("Bearer {token}")).send_json(serde_json::json!({
        "photos": [{"path": abs}, {"path": "/etc/passwd"}], "purpose": "social"
    }));
    let answer: Value = r.unwrap().into_body().read_json().unwrap();
    for p in answer["photos"].as_array().unwrap() {
        assert_eq!(p["allowed"], false);
        assert!(p["reasons"][0].as_str().unwrap().contains("not in the library under this path"), "{p}");
    }
    assert!(!answer.to_string().contains("TOP-SECRET"));
}

#[test]
fn uploads_over_20_mb_are_refused() {
    let (lib, _) = library();
    let server = Server::start(&lib);
    let mut ada = signed_in(&server, "ada", ADMIN_PASSWORD);
    let csrf = ada.csrf(&server);
    let token = create_token(&lib, "ada");
    let size = 50 * 1024 * 1024;
    // A photo upload: the file part's header, then its bytes (the 'a's below).
    let (photo_form, photo_part) = multipart(&[], "huge.jpg", b"");
    let photo_start = photo_part[..photo_part.len() - "\r\n--facegate-test-7f3a9c0d--\r\n".len()].to_vec();
    let targets = [
        ("/users/disable".to_string(), format!("Cookie: {}\r\nContent-Type: application/x-www-form-urlencoded", ada.cookie_header()), false, vec![]),
        ("/api/v1/check".to_string(), format!("Authorization: Bearer {token}\r\nContent-Type: application/json"), true, vec![]),
        (format!("/search?csrf={csrf}"), format!("Cookie: {}\r\nContent-Type: {photo_form}", ada.cookie_header()), false, photo_start.clone()),
        ("/api/v1/search".to_string(), format!("Authorization: Bearer {token}\r\nContent-Type: {photo_form}"), true, photo_start),
    ];
    for (path, headers, json, start) in targets {
        // Announced by its length: refused before it is read.
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(s, "POST {path} HTTP/1.1\r\nHost: {}\r\n{headers}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n", server.addr).unwrap();
        let _ = s.write_all(&start);
        let _ = s.write_all(&vec![b'a'; 1024 * 1024]);
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 413"), "{path}: {reply}");
        assert!(reply.contains("larger than the limit of 20 MB"), "{path}: {reply}");
        if json {
            assert!(reply.contains("\"too_large\""), "{reply}");
        }

        // Streamed without a length: refused once 20 MB have come.
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(s, "POST {path} HTTP/1.1\r\nHost: {}\r\n{headers}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", server.addr).unwrap();
        let mut writer = s.try_clone().unwrap();
        let sending = std::thread::spawn(move || {
            if !start.is_empty() && write!(writer, "{:x}\r\n", start.len()).and_then(|_| writer.write_all(&start)).and_then(|_| writer.write_all(b"\r\n")).is_err() {
                return;
            }
            let chunk = vec![b'a'; 1024 * 1024];
            for _ in 0..50 {
                if write!(writer, "{:x}\r\n", chunk.len()).and_then(|_| writer.write_all(&chunk)).and_then(|_| writer.write_all(b"\r\n")).is_err() {
                    return;
                }
            }
            let _ = writer.write_all(b"0\r\n\r\n");
        });
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 413"), "{path} (chunked): {reply}");
        assert!(reply.contains("larger than the limit of 20 MB"), "{path} (chunked): {reply}");
        sending.join().unwrap();
    }
    assert_eq!(lib.json(&["user", "list"], 0)["users"][1]["disabled"], false);
}

/// The person with hopper.jpg's face, confirmed (clustering may have left the face to nobody).
fn grace(lib: &Lib) -> i64 {
    let face = lib.json(&["face", "list", "--unassigned"], 0)["faces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("hopper.jpg"))
        .map(|f| f["face_id"].as_i64().unwrap());
    let person = match face {
        Some(face) => {
            let p = lib.json(&["person", "add", "--name", "Grace"], 0)["id"].as_i64().unwrap();
            lib.json(&["face", "move", &face.to_string(), "--to", &p.to_string()], 0);
            p
        }
        None => person_with_photo(lib, "hopper.jpg"),
    };
    lib.json(&["person", "confirm", &person.to_string()], 0);
    lib.json(&["person", "name", &person.to_string(), "Grace"], 0);
    person
}

#[test]
fn the_api_answers_as_check_does() {
    let (lib, photos) = library();
    // Make Grace Hopper's photo allowed: a named, confirmed person with consent.
    let hopper = photos.join("hopper.jpg");
    let person = grace(&lib);
    lib.json(&["--now", TODAY, "consent", "grant", &person.to_string(), "--purpose", "social", "--no-expiry"], 0);
    let cameraman = photos.join("cameraman.png");
    let (h, c) = (hopper.to_str().unwrap(), cameraman.to_str().unwrap());

    let cli = lib.json(&["--now", TODAY, "check", h, c, "--purpose", "social"], 1);
    assert_eq!(cli["photos"][0]["allowed"], true, "{cli}");
    assert_eq!(cli["photos"][1]["allowed"], false, "{cli}");

    let server = Server::start(&lib);
    let token = create_token(&lib, "vic");
    let agent = Client::new().agent;
    let ask = |body: Value| -> (u16, Value) {
        let res = agent.post(&server.url("/api/v1/check")).header("Authorization", format!("Bearer {token}")).send_json(body).unwrap();
        let status = res.status().as_u16();
        (status, res.into_body().read_json().unwrap())
    };
    let (status, api) = ask(serde_json::json!({"photos": [{"path": h}, {"path": c}], "purpose": "Social", "on": TODAY}));
    assert_eq!(status, 200);
    assert_eq!(api, cli, "the API's answer is check's");

    // By content: the same decision as by path.
    let sha = lib.sql_text(&format!("SELECT content_hash FROM photos WHERE path = '{h}'"));
    let (_, by_hash) = ask(serde_json::json!({"photos": [{"sha256": sha.to_uppercase()}], "purpose": "social", "on": TODAY}));
    assert_eq!(by_hash["photos"][0], cli["photos"][0]);
    let (_, unknown) = ask(serde_json::json!({"photos": [{"sha256": "0".repeat(64)}], "purpose": "social"}));
    assert_eq!(unknown["photos"][0]["allowed"], false);

    // Bad requests get the JSON error, with the code.
    let (status, err) = ask(serde_json::json!({"photos": [{"path": h}], "purpose": "no-such-purpose"}));
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid")), "{err}");
    let (status, err) = ask(serde_json::json!({"photos": [{"path": h, "sha256": sha}], "purpose": "social"}));
    assert_eq!(status, 400, "{err}");
    let (status, err) = ask(serde_json::json!({"purpose": "social"}));
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid")), "{err}");
    assert!(audit(&lib).iter().any(|e| e["actor"] == "vic" && e["command"] == "check social"));

    // The OpenAPI document is generated from the code and describes the route.
    let doc: Value = agent.get(&server.url("/api/v1/openapi.json")).header("Authorization", format!("Bearer {token}")).call().unwrap().into_body().read_json().unwrap();
    assert!(doc["paths"]["/api/v1/check"]["post"].is_object(), "{doc}");
    assert!(doc["components"]["schemas"]["CheckRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[test]
fn thumbnails_are_made_once_and_kept_owner_only() {
    let (lib, _) = library();
    let server = Server::start(&lib);
    let face = face_ids(&lib)[0];
    let person = lib.json(&["person", "add", "--name", "Grace"], 0)["id"].as_i64().unwrap();
    lib.json(&["face", "move", &face.to_string(), "--to", &person.to_string()], 0);
    let mut vic = signed_in(&server, "vic", VIEWER_PASSWORD);
    let thumb = vic.get(&server.url(&format!("/faces/{face}/thumb")));
    assert_eq!((thumb.status, thumb.header("content-type")), (200, Some("image/jpeg")));
    let img = image::load_from_memory(&thumb.body).unwrap();
    assert!(img.width().max(img.height()) <= 160 && img.width() >= 40, "{}x{}", img.width(), img.height());
    let preview = vic.get(&server.url("/photos/1/preview"));
    assert_eq!(preview.status, 200);
    let img = image::load_from_memory(&preview.body).unwrap();
    assert!(img.width().max(img.height()) <= 1024);

    let dir = lib.dir().join("thumbs");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
    }
    // Served from the cache the second time: the same bytes, the file untouched.
    let before = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    assert_eq!(vic.get(&server.url(&format!("/faces/{face}/thumb"))).body, thumb.body);
    assert_eq!(std::fs::metadata(&files[0]).unwrap().modified().unwrap(), before);
    // The persons page shows a thumbnail for each person with a face.
    let page = vic.get(&server.url("/persons")).text();
    assert!(page.contains(&format!("<img src=\"/faces/{face}/thumb\"")), "{page}");
    assert_eq!(vic.get(&server.url("/faces/999999/thumb")).status, 404);
}

/// Where a program is on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|f| f.is_file()))
}

#[test]
fn serves_https_with_secure_cookies() {
    let (Some(openssl), Some(curl)) = (which("openssl"), which("curl")) else {
        eprintln!("skipped: needs openssl (to make a certificate) and curl (an HTTPS client)");
        return;
    };
    let (lib, _) = library();
    let (cert, key) = (lib.tmp.path().join("cert.pem"), lib.tmp.path().join("key.pem"));
    let made = std::process::Command::new(openssl)
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start_with(&lib, &["--tls-cert", c, "--tls-key", k], None);
    let fetched = std::process::Command::new(&curl).args(["-sk", "-i", &format!("https://{}/login", server.addr)]).output().unwrap();
    let reply = String::from_utf8_lossy(&fetched.stdout);
    assert!(reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/2 200"), "{reply}{}", stderr(&fetched));
    let cookie = reply.lines().find(|l| l.to_lowercase().starts_with("set-cookie: facegate_login=")).unwrap_or_else(|| panic!("{reply}"));
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let plain = std::process::Command::new(&curl).args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{}/login", server.addr)]).output().unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200", "no plain HTTP on the TLS port");

    // A key that is not one: a clear error naming the files, and no server.
    std::fs::write(&key, "not a key").unwrap();
    let out = lib.run(&["serve", "--listen", "127.0.0.1:0", "--tls-cert", c, "--tls-key", k]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("key.pem") && stderr(&out).contains("cannot load"), "{}", stderr(&out));
}

/// Every file under `dir`, at any depth.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every file under `dir` (relative paths), but the database's own (its WAL and shared memory
/// change with every audit entry).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let own = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().starts_with("library.db");
    all_files(dir).into_iter().filter(|p| !own(p)).map(|p| p.strip_prefix(dir).unwrap().to_path_buf()).collect()
}

/// Whether any file under `dir` holds `bytes` (a kept copy of an upload).
fn holds_copy(dir: &Path, bytes: &[u8]) -> bool {
    let needle = &bytes[bytes.len() / 2..bytes.len() / 2 + 64];
    all_files(dir).iter().any(|p| std::fs::read(p).unwrap().windows(needle.len()).any(|w| w == needle))
}

#[test]
fn search_by_photo_finds_the_person_keeps_nothing_and_lets_editors_assign() {
    let (lib, photos) = library();
    let tmp = lib.tmp.path().join("server-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let server = Server::start_with(&lib, &[], Some(&tmp));
    let query = std::fs::read(sample_images().join("grace_hopper_exif_orientation6.jpg")).unwrap();
    let hopper = photos.join("hopper.jpg");
    let hopper_id = lib.sql_count("SELECT id FROM photos WHERE path LIKE '%/hopper.jpg'");
    let before = files_under(&lib.dir());

    let mut vic = signed_in(&server, "vic", VIEWER_PASSWORD);
    let csrf = vic.csrf(&server);
    let page = vic.get(&server.url("/search"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains(&format!("action=\"/search?csrf={csrf}\" enctype=\"multipart/form-data\"")), "{}", page.text());
    assert_eq!(vic.post_photo(&server.url("/search"), &[], "selfie.jpg", &query).status, 403, "no CSRF token");
    let r = vic.post_photo(&server.url("/search?csrf=0000"), &[], "selfie.jpg", &query);
    assert_eq!(r.status, 403, "a wrong CSRF token");

    let started = Instant::now();
    let r = vic.post_photo(&server.url(&format!("/search?csrf={csrf}")), &[], "selfie.jpg", &query);
    let first_upload = started.elapsed();
    assert_eq!(r.status, 303, "{}", r.text());
    let at = r.header("location").unwrap().to_string();
    assert!(at.starts_with("/search/"), "{at}");
    let faces = vic.get(&server.url(&at));
    assert_eq!(faces.status, 200);
    assert!(faces.text().contains("Faces in selfie.jpg") && faces.text().contains("src=\"data:image/jpeg;base64,"), "{}", faces.text());
    assert!(faces.text().contains(&format!("href=\"{at}?face=1\"")), "{}", faces.text());
    let started = Instant::now();
    let found = vic.get(&server.url(&format!("{at}?face=1")));
    let pick = started.elapsed();
    assert_eq!(found.status, 200, "{}", found.text());
    let text = found.text();
    assert!(text.contains("1 photo(s) of this person"), "{text}");
    assert!(text.contains(&format!("href=\"/photos/{hopper_id}\"")) && text.contains(hopper.to_str().unwrap()), "{text}");
    assert!(!text.contains("cameraman"), "{text}");
    assert!(!text.contains("/assign"), "a viewer gets no assign form: {text}");
    // A second upload: the models are loaded already.
    let started = Instant::now();
    let again = vic.post_photo(&server.url(&format!("/search?csrf={csrf}")), &[], "selfie.jpg", &query);
    let second_upload = started.elapsed();
    assert_eq!(again.status, 303);
    eprintln!("search page: first upload {first_upload:?} (loads the models), second upload {second_upload:?}, picking a face {pick:?}");

    // Audited as the CLI's search: a read under the viewer, naming the photos found.
    let entries = audit(&lib);
    let search = entries.iter().rev().find(|e| e["actor"] == "vic" && e["command"] == "search").expect("the search is audited");
    assert_eq!(search["subjects"], serde_json::json!([format!("photo:{hopper_id}")]), "{search}");
    assert_eq!(search["outcome"], "1 photos");

    // A photo without a face, and a file that is not a photo: said so, nothing kept.
    let mut blank = Vec::new();
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])).write_to(&mut std::io::Cursor::new(&mut blank), image::ImageFormat::Png).unwrap();
    let r = vic.post_photo(&server.url(&format!("/search?csrf={csrf}")), &[], "wall.png", &blank);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("No face found in wall.png"), "{}", r.text());
    let r = vic.post_photo(&server.url(&format!("/search?csrf={csrf}")), &[], "notes.txt", b"not a photo at all");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("notes.txt"), "{}", r.text());

    // A viewer may not assign (403, audited); another user cannot open the upload.
    let r = vic.post(&server.url(&format!("{at}/assign")), &[("csrf", &csrf), ("face", "1"), ("person", "1")], None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(denied(&lib, "vic", "search assign"));
    let mut ed = signed_in(&server, "ed", EDITOR_PASSWORD);
    assert_eq!(ed.get(&server.url(&at)).status, 404, "another user's upload");

    // Nothing was left behind: the same files in the library, none holding the photo, and an
    // empty temporary folder.
    assert_eq!(files_under(&lib.dir()), before);
    assert!(!holds_copy(&lib.dir(), &query), "a copy of the upload in the library");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "the server's temporary folder");
    // Signing out drops the uploads.
    vic.post(&server.url("/logout"), &[("csrf", &csrf)], None);
    let mut vic = signed_in(&server, "vic", VIEWER_PASSWORD);
    assert_eq!(vic.get(&server.url(&at)).status, 404, "gone at sign-out");
    drop(vic);

    // An editor assigns the face to Grace: the library keeps the photo under uploads/, the face
    // is hers and confirmed, and the change is audited under the editor.
    let grace = grace(&lib);
    let ed_csrf = ed.csrf(&server);
    let r = ed.post_photo(&server.url(&format!("/search?csrf={ed_csrf}")), &[], "selfie.jpg", &query);
    let at = r.header("location").unwrap().to_string();
    let page = ed.get(&server.url(&format!("{at}?face=1"))).text();
    assert!(page.contains(&format!("action=\"{at}/assign\"")), "{page}");
    let r = ed.post(&server.url(&format!("{at}/assign")), &[("csrf", &ed_csrf), ("face", "1"), ("person", "grace")], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&format!("is now confirmed as person {grace} Grace")), "{}", r.text());
    let kept: Vec<PathBuf> = std::fs::read_dir(lib.dir().join("uploads")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), query);
    assert!(holds_copy(&lib.dir(), &query), "the check above would have seen a copy");
    assert_eq!(std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let shown = lib.json(&["person", "show", &grace.to_string()], 0);
    let kept_path = kept[0].canonicalize().unwrap().display().to_string();
    assert!(shown["faces"].as_array().unwrap().iter().any(|f| f["path"] == kept_path.as_str() && f["link"] == "confirmed"), "{shown}");
    assert!(audit(&lib).iter().any(|e| e["actor"] == "ed" && e["command"] == format!("face move to person:{grace}") && e["outcome"] == "ok"));
    assert!(r.text().contains(&kept_path), "the kept photo is among the matches now");
}

/// `POST /api/v1/search` with the multipart `fields` and the photo `name`.
fn api_search(server: &Server, token: &str, fields: &[(&str, &str)], name: &str, photo: &[u8]) -> (u16, Value) {
    let (kind, body) = multipart(fields, name, photo);
    let agent = Client::new().agent;
    let res = agent.post(&server.url("/api/v1/search")).header("Authorization", format!("Bearer {token}")).header("Content-Type", kind).send(&body[..]).unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().read_json().unwrap())
}

fn api_get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let agent = Client::new().agent;
    let res = agent.get(&server.url(path)).header("Authorization", format!("Bearer {token}")).call().unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().read_json().unwrap())
}

#[test]
fn the_api_searches_and_lists_as_the_cli_does() {
    let schemas = Schemas::load();
    let (lib, _) = library();
    let grace = grace(&lib).to_string();
    lib.json(&["--now", TODAY, "consent", "grant", &grace, "--purpose", "social", "--until", "2027-06-30"], 0);
    lib.json(&["--now", TODAY, "consent", "revoke", &grace, "--purpose", "social", "--date", "2027-01-01"], 0);
    // The query photo in a folder of its own, where the CLI runs, so that both name it selfie.jpg.
    let at = lib.tmp.path().join("query");
    std::fs::create_dir_all(&at).unwrap();
    let query = std::fs::read(copy(&sample_images().join("grace_hopper_exif_orientation6.jpg"), &at, "selfie.jpg")).unwrap();
    let cli = |args: &[&str]| -> Value {
        let out = lib.cmd().current_dir(&at).args(["--now", TODAY]).args(args).arg("--json").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let server = Server::start(&lib);
    let vic = create_token(&lib, "vic");

    let asked: [(&[(&str, &str)], &[&str]); 3] = [
        (&[], &[]),
        (&[("face", "1"), ("threshold", "0.5"), ("method", "index")], &["--face", "1", "--threshold", "0.5", "--method", "index"]),
        (&[("method", "exact"), ("threshold", "0.95")], &["--method", "exact", "--threshold", "0.95"]),
    ];
    for (fields, flags) in asked {
        let started = Instant::now();
        let (status, api) = api_search(&server, &vic, fields, "selfie.jpg", &query);
        eprintln!("POST /api/v1/search {fields:?}: {:?}", started.elapsed());
        assert_eq!(status, 200, "{api}");
        assert_eq!(api, cli(&[&["search", "--photo", "selfie.jpg"][..], flags].concat()), "the API's search is the CLI's");
        schemas.check("search", &["POST /api/v1/search"], &api);
    }
    let (_, found) = api_search(&server, &vic, &[], "selfie.jpg", &query);
    assert!(found["matches"][0]["path"].as_str().unwrap().ends_with("hopper.jpg"), "{found}");
    assert!(audit(&lib).iter().any(|e| e["actor"] == "vic" && e["command"] == "search"), "audited as the CLI's search");

    for (params, flags) in [("", &[][..]), ("?include_suggestions=true&method=exact", &["--include-suggestions", "--method", "exact"][..])] {
        let (status, api) = api_get(&server, &vic, &format!("/api/v1/persons/{grace}/photos{params}"));
        assert_eq!(status, 200, "{api}");
        assert_eq!(api, cli(&[&["person", "photos", &grace][..], flags].concat()));
        schemas.check("person-photos", &["GET /api/v1/persons/ID/photos"], &api);
    }
    let lists = [
        ("/api/v1/consents".to_string(), vec!["consent", "list"]),
        (format!("/api/v1/persons/{grace}/consents"), vec!["consent", "list", "--person", &grace]),
        ("/api/v1/consents?person=Grace&purpose=Social".to_string(), vec!["consent", "list", "--person", "Grace", "--purpose", "Social"]),
        (format!("/api/v1/persons/{grace}/consents?purpose=social"), vec!["consent", "list", "--person", &grace, "--purpose", "social"]),
    ];
    for (path, args) in &lists {
        let (status, api) = api_get(&server, &vic, path);
        assert_eq!(status, 200, "{path}: {api}");
        assert_eq!(api, cli(args), "{path}");
        assert_eq!(api["consents"].as_array().map(Vec::len), Some(1), "{path}: {api}");
        assert_eq!(api["revocations"].as_array().map(Vec::len), Some(1), "{path}: {api}");
        schemas.check("consent-list", &["GET", path], &api);
    }
    assert!(audit(&lib).iter().any(|e| e["actor"] == "vic" && e["command"] == "person photos"), "audited as the CLI's person photos");

    // Bad requests: a clear 400 each.
    let bad: [(&[(&str, &str)], &[u8], &str); 5] = [
        (&[("face", "7")], &query, "no face 7; the photo has 1 face(s)"),
        (&[("face", "one")], &query, "face: \"one\" is not a face number"),
        (&[("method", "fast")], &query, "method: \"fast\""),
        (&[], b"GIF89a but no more", "selfie.jpg"),
        (&[("assign", "Nobody")], &query, "not allowed"),
    ];
    for (fields, photo, says) in bad {
        let (status, err) = api_search(&server, &vic, fields, "selfie.jpg", photo);
        assert!(status == 400 || (status == 403 && says == "not allowed"), "{fields:?}: {status} {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{fields:?}: {err}");
    }
    let (status, err) = api_get(&server, &vic, "/api/v1/persons/Nobody/photos");
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid")), "{err}");

    // Assigning needs an editor's token: the viewer's is refused (403, audited) and nothing is
    // kept; the editor's assigns as `search --assign` does, and the library keeps the photo.
    let (status, err) = api_search(&server, &vic, &[("assign", &grace)], "selfie.jpg", &query);
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("denied")), "{err}");
    assert!(denied(&lib, "vic", "search assign"));
    assert!(!lib.dir().join("uploads").exists());
    let ed = create_token(&lib, "ed");
    let (status, assigned) = api_search(&server, &ed, &[("assign", &grace)], "selfie.jpg", &query);
    assert_eq!(status, 200, "{assigned}");
    assert!(assigned["assigned"].is_i64(), "{assigned}");
    schemas.check("search", &["POST /api/v1/search", "assign"], &assigned);
    assert_eq!(std::fs::read_dir(lib.dir().join("uploads")).unwrap().count(), 1);
    let face = assigned["assigned"].as_i64().unwrap();
    assert_eq!(lib.sql_count(&format!("SELECT person_id FROM faces WHERE id = {face} AND link = 'confirmed'")).to_string(), grace);

    // The OpenAPI document describes every route.
    let (_, doc) = api_get(&server, &vic, "/api/v1/openapi.json");
    for (path, method) in [("/api/v1/search", "post"), ("/api/v1/persons/{id}/photos", "get"), ("/api/v1/persons/{id}/consents", "get"), ("/api/v1/consents", "get")] {
        assert!(doc["paths"][path][method].is_object(), "{path}: {doc}");
    }
    let body = &doc["paths"]["/api/v1/search"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(body["properties"]["photo"]["format"], "binary", "{body}");
}
