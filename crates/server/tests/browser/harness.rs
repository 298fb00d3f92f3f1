//! The server, the browser and the API client the browser tests share.

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
use reqwest::header::{COOKIE, HeaderMap, HeaderValue, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use workvault_blobs::testing::camera_jpeg;

const BIN: &str = env!("CARGO_BIN_EXE_workvault");
pub const OWNER: &str = "browser.owner@workvault.test";

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

pub struct Server {
    child: Child,
    /// The first-start sign-in link for [`OWNER`] (single use).
    pub link: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
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
pub fn serve(env: &[(&str, &str)]) -> Server {
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
pub struct Browser {
    pub client: WebDriver,
    profile: tempfile::TempDir,
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
        // Downloads land in the profile, never in the user's home.
        let prefs = json!({
            "download.default_directory": profile.path().join("downloads"),
            "download.prompt_for_download": false,
        });
        caps.insert("goog:chromeOptions".into(), json!({"binary": "/usr/bin/chromium", "args": args, "prefs": prefs}));
        let client = ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "no Chromium session through the WebDriver at {url}: {e}. Is chromedriver running there \
                 (scripts/peers/chromium.sh, log in target/peers/chromium/chromedriver.log) and /usr/bin/chromium installed?"
            )
        });
        Self { client, profile }
    }

    /// Where this browser saves downloads.
    pub fn downloads(&self) -> PathBuf {
        self.profile.path().join("downloads")
    }

    /// Saves what the window shows as `target/test-output/browser/<name>.png` and
    /// returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs `js` in the page with `args` and returns its result.
    pub async fn js(&self, js: &str, args: Vec<Value>) -> Value {
        self.client.execute(js, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{js}"))
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    /// The text of the page's `h1`.
    pub async fn heading(&self) -> String {
        self.client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap()
    }

    /// The HTTP status the browser got for the page it shows (Navigation Timing).
    pub async fn status(&self) -> u16 {
        let status = self.js("return performance.getEntriesByType('navigation')[0].responseStatus", vec![]).await;
        u16::try_from(status.as_u64().unwrap_or_else(|| panic!("no navigation status: {status}"))).unwrap()
    }

    /// The page's robots meta.
    pub async fn robots(&self) -> String {
        let robots =
            self.js("const m = document.querySelector('meta[name=robots]'); return m && m.content", vec![]).await;
        robots.as_str().unwrap_or_default().to_owned()
    }

    /// The `figcaption`s of the page, in order, as text.
    pub async fn captions(&self) -> Vec<String> {
        let mut shown = Vec::new();
        for caption in self.client.find_all(Locator::Css("figcaption")).await.unwrap() {
            shown.push(caption.text().await.unwrap());
        }
        shown
    }

    /// Waits until each of the page's `count` images has loaded, and returns their
    /// natural sizes. They are `loading="lazy"`: each is brought into view, as a reader
    /// scrolling down would, and waited for (15 s each at most). Scrolls back up.
    pub async fn images_loaded(&self, count: usize) -> Vec<(u64, u64)> {
        assert_eq!(self.js("return document.images.length", vec![]).await, count, "images on the page");
        let mut sizes = Vec::new();
        for i in 0..count {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let loaded = self
                    .js(
                        "const img = document.images[arguments[0]]; img.scrollIntoView(); \
                         return img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null",
                        vec![json!(i)],
                    )
                    .await;
                if let Some(size) = loaded.as_array() {
                    sizes.push((size[0].as_u64().unwrap(), size[1].as_u64().unwrap()));
                    break;
                }
                assert!(Instant::now() < deadline, "image {i} did not load within 15 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.js("window.scrollTo(0, 0)", vec![]).await;
        sizes
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
pub async fn in_browser(name: &str, test: impl AsyncFnOnce(&Browser)) {
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

/// Opens the sign-in link in the browser and presses its one button (the server sets the
/// session cookie and sends it home), and returns an API client that carries the same
/// session, for set-up.
pub async fn sign_in(browser: &Browser, server: &Server) -> Api {
    browser.client.goto(&server.link).await.unwrap();
    assert_eq!(browser.client.current_url().await.unwrap().as_str(), server.link, "opening the link only asks");
    let button = browser.client.find(Locator::Css("form button[type=submit]")).await.unwrap();
    button.click().await.unwrap();
    browser.client.wait().for_url(&url::Url::parse(&format!("{}/", server.base)).unwrap()).await.unwrap();
    assert_eq!(browser.client.current_url().await.unwrap().as_str(), format!("{}/", server.base));
    let cookie = browser.client.get_named_cookie("wv_session").await.expect("the browser holds the session cookie");
    assert!(cookie.http_only().unwrap_or(false), "the session cookie is HttpOnly");
    Api::new(server, cookie.value())
}

/// Uses the sign-in link (its confirmation form's post) with the API client alone, so
/// the browser stays a stranger to the server (no session cookie, never signed in).
pub async fn sign_in_api(server: &Server) -> Api {
    let res = plain_client().post(&server.link).send().await.unwrap();
    assert_eq!(
        (res.status(), res.headers().get(LOCATION).and_then(|l| l.to_str().ok())),
        (StatusCode::SEE_OTHER, Some("/"))
    );
    let session = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok()?.strip_prefix("wv_session=")?.split(';').next())
        .next()
        .expect("the sign-in link sets the session cookie")
        .to_owned();
    Api::new(server, &session)
}

/// An HTTP client with no cookie and no redirects followed: a stranger's.
pub fn plain_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

// ---- the API, as the signed-in owner ----

/// The JSON API of a server, as the session it was made with.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    fn new(server: &Server, session: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(&format!("wv_session={session}")).unwrap());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().default_headers(headers).build().unwrap();
        Self { http, base: server.base.clone() }
    }

    /// `POST /api/v1{path}` with `body`, expecting 201; the created resource.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let res = self.http.post(format!("{}/api/v1{path}", self.base)).json(&body).send().await.unwrap();
        let status = res.status();
        let answer: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
        answer
    }

    /// `GET /api/v1{path}`, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        let res = self.http.get(format!("{}/api/v1{path}", self.base)).send().await.unwrap();
        let status = res.status();
        let answer: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {answer}");
        answer
    }

    /// `DELETE /api/v1{path}`, expecting 204.
    pub async fn delete(&self, path: &str) {
        let res = self.http.delete(format!("{}/api/v1{path}", self.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "DELETE {path}: {}", res.text().await.unwrap());
    }
}

/// A report of two worker-processed photos (sideways camera JPEGs, upright once
/// processed).
pub struct Report {
    pub ws: String,
    pub job: String,
    pub id: String,
    pub photos: Vec<String>,
    /// The made report, as the API answered.
    pub made: Value,
}

pub const TITLE: &str = "Pier inspection";
pub const NOTES: &str = "Low tide, 09:30.\nBoth piers seen from the boat.";
pub const CAPTIONS: [&str; 2] = ["North pier, east face", "South pier: cracked <coping> & rust"];

/// Makes a workspace, a job, two `w` × `h` sideways camera photos (waiting for the
/// worker's variants: a report shows processed photos only) and a report of them titled
/// [`TITLE`] with [`NOTES`] and [`CAPTIONS`]. The server needs
/// `WORKVAULT__WORKER__POLL_SECS=1`. The browser tests run at once, each with its own
/// server and worker, on a machine that may be busy: the wait is generous.
pub async fn report_of_two_photos(api: &Api, (w, h): (u32, u32)) -> Report {
    let ws = api.post("/workspaces", json!({"name": "Harbour"})).await["id"].as_str().unwrap().to_owned();
    let job = api.post(&format!("/workspaces/{ws}/jobs"), json!({"title": "Pier survey"})).await;
    let job = job["id"].as_str().unwrap().to_owned();
    let mut photos = Vec::new();
    for _ in 0..2 {
        let res = api
            .http
            .post(format!("{}/api/v1/workspaces/{ws}/jobs/{job}/photos", api.base))
            .body(camera_jpeg(w, h))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let up: Value = res.json().await.unwrap();
        photos.push(up["id"].as_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &photos {
        loop {
            let meta = api.get(&format!("/workspaces/{ws}/photos/{id}")).await;
            if meta["status"] != "processing" {
                assert_eq!(meta["status"], "ready", "{meta}");
                break;
            }
            assert!(Instant::now() < deadline, "not processed within 90 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let report = json!({
        "title": TITLE,
        "notes": NOTES,
        "items": [
            {"photo_id": photos[0], "caption": CAPTIONS[0]},
            {"photo_id": photos[1], "caption": CAPTIONS[1]},
        ],
    });
    let made = api.post(&format!("/workspaces/{ws}/jobs/{job}/reports"), report).await;
    Report { id: made["id"].as_str().unwrap().to_owned(), ws, job, photos, made }
}
