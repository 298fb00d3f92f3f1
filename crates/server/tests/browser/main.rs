//! Browser: the real binary's pages in headless Chromium, driven through WebDriver
//! (chromedriver, started by `scripts/test` through `scripts/peers/chromium.sh`, which
//! exports `WORKVAULT_TEST_WEBDRIVER_URL`). Each test opens its own browser with a fresh
//! profile, signs in by opening the first-start link in it, and leaves a screenshot
//! under `target/test-output/browser/` (a `-failed` one too when it fails).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as WebDriver, ClientBuilder, Locator};
use futures_util::FutureExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use workvault_blobs::testing::camera_jpeg;

const BIN: &str = env!("CARGO_BIN_EXE_workvault");
const OWNER: &str = "browser.owner@workvault.test";

/// The flags of every test browser (see `docs/testing.md`); a fresh
/// `--user-data-dir` is added per session.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
];

// ---- the server: the real binary in a temp dir ----

struct Server {
    child: Child,
    link: String,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `workvault serve` in a fresh temp dir with `env` (and no other `WORKVAULT__`
/// setting), and reads the first-start sign-in link for [`OWNER`].
fn serve(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("WORKVAULT__") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir.path())
        .env("WORKVAULT__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("WORKVAULT__LOG__LEVEL", "warn")
        .env("WORKVAULT__SETUP__FIRST_USER_EMAIL", OWNER);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if line.contains("/auth/link/") {
                let _ = tx.send(line.trim().to_owned());
            }
        }
    });
    let link = rx.recv_timeout(Duration::from_secs(20)).expect("the first start prints a sign-in link");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "workvault serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, link, base: format!("http://127.0.0.1:{port}"), _dir: dir }
}

// ---- the browser harness ----

/// One Chromium session through the WebDriver at `WORKVAULT_TEST_WEBDRIVER_URL`, with a
/// profile of its own.
struct Browser {
    client: WebDriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens a headless Chromium; panics with instructions when no WebDriver is there.
    async fn open() -> Self {
        let url = std::env::var("WORKVAULT_TEST_WEBDRIVER_URL").unwrap_or_else(|_| {
            panic!(
                "WORKVAULT_TEST_WEBDRIVER_URL is not set: the browser tests need chromedriver. Run them through \
                 scripts/test, or: bash -c 'source scripts/peers/chromium.sh; peers_prepare_chromium; \
                 cargo test -p workvault --test browser; peers_stop_chromium'"
            )
        });
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({"binary": "/usr/bin/chromium", "args": args}));
        let client = ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "no Chromium session through the WebDriver at {url}: {e}. Is chromedriver running there \
                 (scripts/peers/chromium.sh, log in target/peers/chromium/chromedriver.log) and /usr/bin/chromium installed?"
            )
        });
        Self { client, _profile: profile }
    }

    /// Saves what the window shows as `target/test-output/browser/<name>.png` and
    /// returns the path.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs `js` in the page with `args` and returns its result.
    async fn js(&self, js: &str, args: Vec<Value>) -> Value {
        self.client.execute(js, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{js}"))
    }

    /// The visible text of the page.
    async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }
}

/// `<target dir>/test-output/browser`: Cargo's target dir (`CARGO_TARGET_DIR` when set)
/// is the parent of the integration-test scratch dir it names.
fn screenshot_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    target.join("test-output/browser")
}

/// Runs `test` in a fresh browser and closes it afterwards, also when the test fails
/// (then after a `<name>-failed.png` screenshot).
async fn in_browser(name: &str, test: impl AsyncFnOnce(&Browser)) {
    let _ = std::fs::remove_file(screenshot_dir().join(format!("{name}-failed.png")));
    let browser = Browser::open().await;
    let outcome = AssertUnwindSafe(test(&browser)).catch_unwind().await;
    if outcome.is_err() {
        let _ = AssertUnwindSafe(browser.screenshot(&format!("{name}-failed"))).catch_unwind().await;
    }
    let closed = browser.client.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.expect("the browser session closes");
}

/// Opens the sign-in link in the browser (the server sets the session cookie and sends
/// it home), and returns an HTTP client that carries the same session, for API set-up.
async fn sign_in(browser: &Browser, server: &Server) -> reqwest::Client {
    browser.client.goto(&server.link).await.unwrap();
    assert_eq!(browser.client.current_url().await.unwrap().as_str(), format!("{}/", server.base));
    let cookie = browser.client.get_named_cookie("wv_session").await.expect("the browser holds the session cookie");
    assert!(cookie.http_only().unwrap_or(false), "the session cookie is HttpOnly");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&format!("wv_session={}", cookie.value())).unwrap());
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

// ---- the tests ----

#[tokio::test]
async fn the_home_page_shows_who_is_signed_in() {
    let server = serve(&[]);
    in_browser("home-signed-in", async |browser| {
        sign_in(browser, &server).await;
        let who = browser.client.find(Locator::Css("main strong")).await.unwrap().text().await.unwrap();
        assert_eq!(who, OWNER);
        assert!(browser.text().await.contains(&format!("Signed in as {OWNER}.")));
        assert_eq!(browser.client.title().await.unwrap(), "Home · Workvault");
        browser.screenshot("home-signed-in").await;
    })
    .await;
}

#[tokio::test]
async fn a_report_page_shows_its_photos_in_a_real_browser() {
    let server = serve(&[("WORKVAULT__WORKER__POLL_SECS", "1")]);
    in_browser("report", async |browser| {
        let http = sign_in(browser, &server).await;
        let base = &server.base;
        let post = async |url: String, body: Value| -> Value {
            let res = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            res.json().await.unwrap()
        };
        let ws = post(format!("{base}/api/v1/workspaces"), json!({"name": "Harbour"})).await;
        let ws = ws["id"].as_str().unwrap();
        let job = post(format!("{base}/api/v1/workspaces/{ws}/jobs"), json!({"title": "Pier survey"})).await;
        let job = job["id"].as_str().unwrap();

        let mut photos = Vec::new();
        for _ in 0..2 {
            let res = http
                .post(format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/photos"))
                .body(camera_jpeg(2400, 1200))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            let up: Value = res.json().await.unwrap();
            photos.push(up["id"].as_str().unwrap().to_owned());
        }
        // The page shows processed photos only: wait for the worker's variants.
        let deadline = Instant::now() + Duration::from_secs(30);
        for id in &photos {
            loop {
                let meta: Value = http
                    .get(format!("{base}/api/v1/workspaces/{ws}/photos/{id}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if meta["status"] != "processing" {
                    assert_eq!(meta["status"], "ready", "{meta}");
                    break;
                }
                assert!(Instant::now() < deadline, "not processed within 30 s");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }

        let captions = ["North pier, east face", "South pier: cracked <coping> & rust"];
        let report = json!({
            "title": "Pier inspection",
            "notes": "Low tide, 09:30.\nBoth piers seen from the boat.",
            "items": [
                {"photo_id": photos[0], "caption": captions[0]},
                {"photo_id": photos[1], "caption": captions[1]},
            ],
        });
        let made = post(format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/reports"), report).await;
        let html_url = format!("{base}{}", made["html_url"].as_str().unwrap());
        let pdf_url = made["pdf_url"].as_str().unwrap();

        browser.client.goto(&html_url).await.unwrap();
        let title = browser.client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert_eq!(title, "Pier inspection");
        assert_eq!(browser.client.title().await.unwrap(), "Pier inspection · Workvault");
        let text = browser.text().await;
        assert!(text.contains("Low tide, 09:30."), "{text}");
        let mut shown = Vec::new();
        for caption in browser.client.find_all(Locator::Css("figcaption")).await.unwrap() {
            shown.push(caption.text().await.unwrap());
        }
        assert_eq!(shown, captions, "both captions, in order, as text (escaped, not markup)");

        // Every image loads. They are `loading="lazy"`: bring each into view, as a reader
        // scrolling down would, and wait for it.
        let count = browser.js("return document.images.length", vec![]).await;
        assert_eq!(count, 2);
        for i in 0..2 {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let loaded = browser
                    .js(
                        "const img = document.images[arguments[0]]; img.scrollIntoView(); \
                         return img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null",
                        vec![json!(i)],
                    )
                    .await;
                if let Some(size) = loaded.as_array() {
                    // The worker's stripped variants of an upright 1200 × 2400 photo.
                    assert!(
                        size[0].as_u64().unwrap() > 0 && size[1].as_u64() > size[0].as_u64(),
                        "image {i}: {size:?}"
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "image {i} did not load within 15 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        browser.js("window.scrollTo(0, 0)", vec![]).await;

        // The inline style applied: the CSP allows it by its hash.
        let max_width = browser.js("return getComputedStyle(document.querySelector('main')).maxWidth", vec![]).await;
        assert!(
            max_width.as_str().is_some_and(|w| w != "none"),
            "the report style did not apply: max-width {max_width}"
        );
        let download = browser.client.find(Locator::LinkText("Download PDF")).await.expect("a Download PDF link");
        let href = download.attr("href").await.unwrap().unwrap_or_default();
        assert_eq!(href, pdf_url);
        let pdf = http.get(format!("{base}{href}")).send().await.unwrap();
        assert_eq!(
            (pdf.status(), pdf.headers()["content-type"].to_str().unwrap()),
            (StatusCode::OK, "application/pdf")
        );
        let robots = browser.js("return document.querySelector('meta[name=robots]').content", vec![]).await;
        assert!(robots.as_str().is_some_and(|r| r.contains("noindex")), "robots: {robots}");

        let shot = browser.screenshot("report").await;
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a screenshot with something on it");
        browser.js("document.querySelectorAll('figcaption')[1].scrollIntoView({block: 'center'})", vec![]).await;
        browser.screenshot("report-caption").await;
    })
    .await;
}
