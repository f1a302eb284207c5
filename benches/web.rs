//! Speed of `facegate serve` over a large library: the persons page (first page, a far page, a
//! search), a person with 1,000 confirmed faces (first and a later page of faces), the review
//! queue, a photo page, and a face thumbnail made once and then served from the cache. The real
//! server process answers real HTTP requests on loopback; each figure is the time from sending a
//! request to having read the whole reply, over a kept-alive connection.
//!
//!     scripts/bench_web.sh                         # builds a 100k-face library once, then this
//!     cargo bench --bench web -- LIBRARY_DIR       # over any library
//!
//! The library is one the scale benchmark kept (`FACEGATE_BENCH_KEEP=DIR cargo bench --bench
//! persons_scale`): synthetic photos, clustered, with a person of 1,000 confirmed faces. Its
//! photo files do not exist, so for the thumbnail the bench writes one real 4000x3000 JPEG and
//! points the cover photo of the largest person at it (path, size, time and hash, as an index
//! run would record them). The bench adds the user `bench-viewer` when missing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const USER: &str = "bench-viewer";
const PASSWORD: &str = "bench viewer password";
const RUNS: usize = 15;
const TARGET_PAGE_MS: f64 = 150.0;
const TARGET_THUMB_MS: f64 = 5.0;

fn main() {
    let dir = std::env::args().skip(1).find(|a| !a.starts_with("--")).map(PathBuf::from).expect("usage: cargo bench --bench web -- LIBRARY_DIR");
    assert!(dir.join("library.db").exists(), "{} holds no library", dir.display());
    let bin = env!("CARGO_BIN_EXE_facegate");
    let facegate = |args: &[&str]| {
        let out = Command::new(bin).arg("--library").arg(&dir).args(args).output().expect("run facegate");
        assert!(out.status.success(), "facegate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let status = facegate(&["--json", "status"]);
    println!("\n=== web: {} over {} ===", serde_json::to_string(&status["faces"]).unwrap(), dir.display());
    add_viewer(bin, &dir);
    let persons = facegate(&["--json", "person", "list"]);
    let persons = persons["persons"].as_array().unwrap();
    let big = persons.iter().max_by_key(|p| p["confirmed_faces"].as_u64()).unwrap();
    let (big_id, big_faces) = (big["id"].as_i64().unwrap(), big["confirmed_faces"].as_u64().unwrap());
    println!("  {} persons; person {big_id} has {big_faces} confirmed faces", persons.len());
    let (cover, photo) = make_cover_photo_real(&dir, big_id);

    let server = Server::start(bin, &dir);
    let mut client = Client::signed_in(&server);
    let pages = [
        ("persons page", "/persons".to_string(), TARGET_PAGE_MS),
        ("persons page 100", "/persons?page=100".to_string(), TARGET_PAGE_MS),
        ("persons search", "/persons?show=unnamed&q=nobody".to_string(), TARGET_PAGE_MS),
        ("person, 1,000 faces", format!("/persons/{big_id}"), TARGET_PAGE_MS),
        ("person, 1,000 faces, page 10", format!("/persons/{big_id}?page=10"), TARGET_PAGE_MS),
        ("review queue", "/review".to_string(), TARGET_PAGE_MS),
        ("photo page", format!("/photos/{photo}"), TARGET_PAGE_MS),
    ];
    let (first, bytes) = client.timed(&server.url(&format!("/faces/{cover}/thumb")));
    println!("  {:<32} {:>9.1} ms  ({bytes} bytes; made from the 12 MP photo)", "face thumbnail, first", ms(first));
    let mut rows: Vec<(String, Vec<Duration>, f64)> = pages.iter().map(|(name, path, target)| (name.to_string(), vec![], *target)).collect();
    rows.push(("face thumbnail, cached".into(), vec![], TARGET_THUMB_MS));
    // Rounds over all pages, so a slow moment of the machine spreads over them all.
    for _ in 0..RUNS {
        for (row, (_, path, _)) in rows.iter_mut().zip(&pages) {
            row.1.push(client.timed(&server.url(path)).0);
        }
        rows.last_mut().unwrap().1.push(client.timed(&server.url(&format!("/faces/{cover}/thumb"))).0);
    }
    println!("  {:<32} {:>9} {:>9} {:>9}  target", "request", "p50", "min", "max");
    for (name, mut times, target) in rows {
        times.sort();
        let p50 = ms(times[times.len() / 2]);
        let verdict = if p50 <= target { "ok" } else { "OVER" };
        println!("  {name:<32} {p50:>6.1} ms {:>6.1} ms {:>6.1} ms  <= {target} ms {verdict}", ms(times[0]), ms(*times.last().unwrap()));
    }
    println!("  server peak RSS: {} MiB", server.peak_rss_kib() / 1024);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn add_viewer(bin: &str, dir: &Path) {
    let listed = Command::new(bin).arg("--library").arg(dir).args(["--json", "user", "list"]).output().unwrap();
    if String::from_utf8_lossy(&listed.stdout).contains(&format!("\"{USER}\"")) {
        return;
    }
    let mut child = Command::new(bin)
        .arg("--library")
        .arg(dir)
        .args(["--actor", "owner", "user", "add", USER, "--role", "viewer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "user add");
}

/// Points the photo of person `person`'s first face at a real 4000x3000 JPEG, recorded as an
/// index run records a file. Returns that face and photo.
fn make_cover_photo_real(dir: &Path, person: i64) -> (i64, i64) {
    let conn = rusqlite::Connection::open(dir.join("library.db")).unwrap();
    let (face, photo): (i64, i64) = conn
        .query_row("SELECT id, photo_id FROM faces WHERE person_id = ?1 AND link = 'confirmed' ORDER BY id LIMIT 1", [person], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let file = dir.join("bench-photo.jpg");
    if !file.exists() {
        let img = image::RgbImage::from_fn(4000, 3000, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]));
        img.save(&file).unwrap();
    }
    let bytes = std::fs::read(&file).unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    let mtime_ns = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    conn.execute(
        "UPDATE photos SET path = ?2, size = ?3, mtime_ns = ?4, content_hash = ?5 WHERE id = ?1",
        rusqlite::params![photo, file.canonicalize().unwrap().to_str().unwrap(), meta.len() as i64, mtime_ns, hex::encode(Sha256::digest(&bytes))],
    )
    .unwrap();
    // A thumbnail left by an earlier run would make the first request a cached one.
    let _ = std::fs::remove_file(dir.join("thumbs").join(format!("face-{face}.jpg")));
    (face, photo)
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(bin: &str, dir: &Path) -> Server {
        let mut child = Command::new(bin)
            .arg("--library")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start facegate serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = lines.by_ref().map_while(Result::ok).find_map(|l| l.split(" on http://").nth(1).map(|a| a.trim().to_string())).expect("the server's address");
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| eprintln!("[serve] {l}")));
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that keeps its cookies (the session) and its connection.
struct Client {
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

impl Client {
    fn signed_in(server: &Server) -> Client {
        let agent = ureq::Agent::config_builder().max_redirects(0).max_redirects_will_error(false).http_status_as_error(false).build().into();
        let mut c = Client { agent, cookies: HashMap::new() };
        let form = c.get(&server.url("/login")).1;
        let at = form.find("name=\"csrf\" value=\"").expect("the sign-in form's token") + 19;
        let csrf = form[at..at + form[at..].find('"').unwrap()].to_string();
        let res = c.agent.post(server.url("/login")).header("Cookie", c.cookie_header()).send_form([("name", USER), ("password", PASSWORD), ("csrf", &csrf)]).unwrap();
        assert_eq!(res.status().as_u16(), 303, "sign-in failed");
        c.keep(res);
        c
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, res: ureq::http::Response<ureq::Body>) -> (u16, Vec<u8>) {
        for c in res.headers().get_all("set-cookie") {
            if let Some((name, value)) = c.to_str().unwrap_or_default().split(';').next().and_then(|kv| kv.split_once('=')) {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let status = res.status().as_u16();
        (status, res.into_body().with_config().limit(64 << 20).read_to_vec().unwrap())
    }

    fn get(&mut self, url: &str) -> (u16, String) {
        let res = self.agent.get(url).header("Cookie", self.cookie_header()).call().unwrap();
        let (status, body) = self.keep(res);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The time to fetch `url` whole, and its size; panics unless it answers 200.
    fn timed(&mut self, url: &str) -> (Duration, usize) {
        let t = Instant::now();
        let res = self.agent.get(url).header("Cookie", self.cookie_header()).call().unwrap();
        let (status, body) = self.keep(res);
        let took = t.elapsed();
        assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
        (took, body.len())
    }
}
