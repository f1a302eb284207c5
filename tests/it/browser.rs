//! A real headless Chromium driven over WebDriver, for tests of pages as a person sees them:
//! Debian's `chromium` and `chromium-driver` (`scripts/setup.sh --web-tests` installs them), one
//! `chromedriver` per test on a free localhost port, and a fantoccini session over plain HTTP.
//!
//! Where the browser is not installed the tests skip with a line saying so, except under CI (the
//! `CI` variable set), where a missing browser fails them: CI installs it, so its absence there
//! is a broken set-up, not a reason to pass.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process and one browser session in it. [`Browser::close`] ends the session,
/// then chromedriver; dropping it (a test that panicked) ends chromedriver and the Chromium it
/// started, which share a process group of their own.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
    /// chromedriver's log, kept for the message when something fails.
    log: PathBuf,
}

/// What the browser's console said, as chromedriver reports it.
#[derive(Debug)]
pub struct ConsoleEntry {
    pub level: String,
    pub message: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose viewport is `width` × `height` CSS
    /// pixels. Returns `None`, after printing why, when the browser is not installed and `CI` is
    /// not set; panics when `CI` is set and it is missing, or when it is there but fails to start.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        if let Some(missing) = [CHROMEDRIVER, CHROMIUM].into_iter().find(|p| !Path::new(p).exists()) {
            let why = format!("{missing} is not installed (scripts/setup.sh --web-tests installs Debian's chromium and chromium-driver)");
            if std::env::var_os("CI").is_some() {
                panic!("CI is set and {why}");
            }
            eprintln!("skipping the browser test: {why}");
            return None;
        }
        let port = free_port();
        let log = std::env::temp_dir().join(format!("facegate-chromedriver-{}-{port}.log", std::process::id()));
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = driver.try_wait().unwrap() {
                panic!("{CHROMEDRIVER} exited with {status} before listening on port {port}\n{}", log_tail(&log));
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("{CHROMEDRIVER} did not listen on port {port} within 20 s\n{}", log_tail(&log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", format!("--window-size={width},{height}")],
            },
            // Lets `console` read what the page logged (chromedriver's log endpoint).
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match fantoccini::ClientBuilder::new(connector).capabilities(capabilities).connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("no browser session from {CHROMEDRIVER}: {e}\n{}", log_tail(&log));
            }
        };
        let browser = Browser { client, driver, log };
        browser.set_viewport(width, height).await;
        Some(browser)
    }

    /// Resizes the window so that the page's viewport (`innerWidth` × `innerHeight`) is exactly
    /// `width` × `height`: the window size a WebDriver sets includes the browser's own frame.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.expect("set the window size");
        let (w, h) = self.viewport().await;
        if (w, h) != (width, height) {
            let (dw, dh) = (width as i64 - w as i64, height as i64 - h as i64);
            self.client.set_window_size((width as i64 + dw) as u32, (height as i64 + dh) as u32).await.expect("set the window size");
        }
        assert_eq!(self.viewport().await, (width, height), "the viewport could not be set to {width}x{height}");
    }

    /// The viewport: `window.innerWidth` × `window.innerHeight`.
    pub async fn viewport(&self) -> (u32, u32) {
        let v = self.js("return [window.innerWidth, window.innerHeight]").await;
        (v[0].as_u64().unwrap() as u32, v[1].as_u64().unwrap() as u32)
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Opens a file in the browser (a `file://` URL).
    pub async fn open_file(&self, path: &Path) {
        let path = path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let url = url::Url::from_file_path(&path).expect("an absolute path");
        self.client.goto(url.as_str()).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Saves a PNG screenshot of the viewport to `path` (creating its folder).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Everything the console received since the last call (chromedriver hands each entry out
    /// once): errors, warnings, failed loads and Content-Security-Policy violations included.
    pub async fn console(&self) -> Vec<ConsoleEntry> {
        let entries = self.client.issue_cmd(BrowserLog).await.expect("the browser's console log");
        entries
            .as_array()
            .expect("a list of log entries")
            .iter()
            .map(|e| ConsoleEntry { level: e["level"].as_str().unwrap_or_default().to_string(), message: e["message"].as_str().unwrap_or_default().to_string() })
            .collect()
    }

    /// Ends the browser session (Chromium quits), then chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        client.close().await.unwrap_or_else(|e| panic!("closing the session: {e}\n{}", log_tail(&self.log)));
        self.stop_driver();
    }

    /// Ends chromedriver and whatever is left of the browser: SIGTERM to their process group
    /// (killing chromedriver alone would leave its Chromium running).
    fn stop_driver(&mut self) {
        if self.driver.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on the group that `spawn` created for chromedriver.
            unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGTERM) };
            let _ = self.driver.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop_driver();
    }
}

/// chromedriver's `POST /session/{id}/se/log` with `{"type": "browser"}`: the console entries
/// (fantoccini has no call for it).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// A localhost port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port").local_addr().unwrap().port()
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("chromedriver log ({}), last lines:\n{}", log.display(), lines[lines.len().saturating_sub(30)..].join("\n"))
}
