//! End to end: photos through the real binary, on the embedded default (local disk)
//! and on a real S3 server (moto, started by `scripts/test`), encrypted at rest.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use workvault_blobs::testing::camera_jpeg;

const BIN: &str = env!("CARGO_BIN_EXE_workvault");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

struct Server {
    child: Child,
    link: String,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workvault(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("WORKVAULT__") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir).env("WORKVAULT__LOG__LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts `workvault serve` in `dir` with `env`, and reads the first-start sign-in link.
fn serve(dir: &Path, env: &[(&str, String)]) -> Server {
    let port = free_port();
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("WORKVAULT__") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir)
        .env("WORKVAULT__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("WORKVAULT__LOG__LEVEL", "warn")
        .env("WORKVAULT__BLOBS__MAX_UPLOAD_MIB", "2");
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
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "workvault serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, link, base }
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..len).map(|i| (i % 251) as u8));
    b
}

/// Signs in through the first-start link and makes a workspace and a job; returns the
/// signed-in client, the workspace id and the job id.
async fn signed_in_with_a_job(server: &Server) -> (Client, String, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = &server.base;
    assert_eq!(http.post(&server.link).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let post = |url: String, body: Value| {
        let http = http.clone();
        async move {
            let created: Value = http.post(url).json(&body).send().await.unwrap().json().await.unwrap();
            created["id"].as_str().unwrap().to_owned()
        }
    };
    let ws = post(format!("{base}/api/v1/workspaces"), json!({"name": "Site"})).await;
    let job = post(format!("{base}/api/v1/workspaces/{ws}/jobs"), json!({"title": "Roof"})).await;
    (http, ws, job)
}

/// Signs in, makes a workspace and a job, uploads a photo and reads it back whole and
/// in part; returns the workspace id, the photo id and the bytes.
async fn photo_round_trip(server: &Server) -> (String, String, Vec<u8>) {
    let (http, ws, job) = signed_in_with_a_job(server).await;
    let (base, job) = (&server.base, job.as_str());

    // 300 KiB in 7 KiB pieces, streamed (chunked, no Content-Length).
    let bytes = jpeg(300 * 1024);
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(7 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
    let res = http.post(format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/photos")).body(body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let photo: Value = res.json().await.unwrap();
    assert_eq!(photo["sha256"], hex::encode(Sha256::digest(&bytes)));
    let id = photo["id"].as_str().unwrap().to_owned();
    let content = format!("{base}/api/v1/workspaces/{ws}/photos/{id}/content?variant=original");
    let got = http.get(&content).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
    let part = http.get(&content).header("range", "bytes=100000-200000").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100_000..=200_000]);

    // Over the configured limit (2 MiB): refused, nothing kept.
    let big = jpeg(3 * 1024 * 1024);
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let res = http
        .post(format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/photos"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)))
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let list: Value = http
        .get(format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/photos"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    (ws, id, bytes)
}

#[tokio::test]
async fn the_worker_makes_upright_stripped_variants() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[("WORKVAULT__WORKER__POLL_SECS", "1".into())]);
    let (http, ws, job) = signed_in_with_a_job(&server).await;
    let (base, job) = (&server.base, job.as_str());
    let original = camera_jpeg(2400, 1200);
    let up: Value = http
        .post(format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/photos"))
        .body(original.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = up["id"].as_str().unwrap().to_owned();
    assert_eq!(up["status"], "processing");
    let meta_url = format!("{base}/api/v1/workspaces/{ws}/photos/{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let meta = loop {
        let meta: Value = http.get(&meta_url).send().await.unwrap().json().await.unwrap();
        if meta["status"] != "processing" {
            break meta;
        }
        assert!(Instant::now() < deadline, "not processed within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(meta["status"], "ready", "{meta}");
    assert_eq!((meta["width"].as_u64(), meta["height"].as_u64()), (Some(1200), Some(2400)), "turned upright");
    assert_eq!(meta["taken_at"], "2025-07-14T09:30:00");
    assert!(!meta.to_string().contains("location") && !meta.to_string().contains("gps"), "{meta}");
    for (variant, dims) in [("large", (1024, 2048)), ("thumb", (200, 400))] {
        let res = http.get(format!("{meta_url}/content?variant={variant}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let bytes = res.bytes().await.unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), dims, "{variant}");
        assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{variant} carries no EXIF, so no location");
    }
    let back = http.get(format!("{meta_url}/content?variant=original")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(back.as_ref(), original.as_slice(), "the original is kept exactly");

    // A report of it: the PDF embeds the worker's large variant, decrypted from disk,
    // and a real PDF reader (poppler) reads it back.
    let reports = format!("{base}/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let body = serde_json::json!({"title": "Survey", "items": [{"photo_id": id, "caption": "North roof"}]});
    let made: Value = http.post(&reports).json(&body).send().await.unwrap().json().await.unwrap();
    let pdf_url = format!("{base}{}", made["pdf_url"].as_str().unwrap());
    let pdf = http.get(&pdf_url).send().await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await.unwrap();
    let large = http.get(format!("{meta_url}/content?variant=large")).send().await.unwrap().bytes().await.unwrap();
    assert!(pdf.windows(large.len()).any(|w| w == large.as_ref()), "the large variant is embedded as stored");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let images = Command::new("pdfimages").arg("-list").arg(&path).output().expect("poppler-utils");
    let listed = String::from_utf8_lossy(&images.stdout);
    let row: Vec<&str> = listed.lines().nth(2).unwrap_or_default().split_whitespace().collect();
    assert_eq!((row[3], row[4], row[8]), ("1024", "2048", "jpeg"), "{listed}");
    let text = Command::new("pdftotext").arg(&path).arg("-").output().expect("poppler-utils");
    assert!(String::from_utf8_lossy(&text.stdout).contains("North roof"));

    // The location stays in the original: hidden until the workspace shows it, then read
    // from the decrypted original's EXIF.
    let location_url = format!("{meta_url}/location");
    let hidden = http.get(&location_url).send().await.unwrap();
    assert_eq!(hidden.status(), StatusCode::FORBIDDEN);
    let on = serde_json::json!({"settings": {"show_photo_location": true}});
    let res = http.patch(format!("{base}/api/v1/workspaces/{ws}")).json(&on).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let shown: Value = http.get(&location_url).send().await.unwrap().json().await.unwrap();
    let latitude = shown["location"]["latitude"].as_f64().unwrap();
    let longitude = shown["location"]["longitude"].as_f64().unwrap();
    assert!((latitude - 12.970094).abs() < 1e-5 && (longitude - 77.598888).abs() < 1e-5, "{shown}");
    assert_eq!(shown["location"]["altitude"], 920.0);
}

#[tokio::test]
async fn photos_are_encrypted_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let (ws, id, bytes) = photo_round_trip(&server).await;
    let data = dir.path().join("workvault-data");
    let stored = std::fs::read(data.join(format!("blobs/ws/{ws}/photo-{id}"))).unwrap();
    assert!(stored.len() > bytes.len(), "sealed: header and tags added");
    for at in [0, 1000, 150_000, bytes.len() - 64] {
        let sample = &bytes[at..at + 64];
        assert!(!stored.windows(64).any(|w| w == sample), "plaintext at {at} found on disk");
    }
    assert!(data.join(format!("keyring/keys/{ws}.key")).exists(), "the workspace key is in the keyring");
    let content = format!("{}/api/v1/workspaces/{ws}/photos/{id}/content?variant=original", server.base);

    // Master key rotation: stop, rotate, start; the photo reads back, no blob rewritten.
    drop(server);
    let key_before = std::fs::read(data.join("master.key")).unwrap();
    let out = workvault(dir.path(), &[]).args(["keys", "rotate-master"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rewrapped 1 workspace keys"));
    assert_ne!(std::fs::read(data.join("master.key")).unwrap(), key_before);
    assert_eq!(std::fs::read(data.join(format!("blobs/ws/{ws}/photo-{id}"))).unwrap(), stored, "no blob rewritten");
    let port = free_port();
    let mut again = workvault(dir.path(), &[("WORKVAULT__HTTP__BIND", format!("127.0.0.1:{port}"))])
        .arg("serve")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let link = workvault(dir.path(), &[]).args(["sign-in-link", "--email", "owner@workvault.local"]).output().unwrap();
    let link = String::from_utf8(link.stdout).unwrap().trim().replace(":8080", &format!(":{port}"));
    let http = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }
    http.post(&link).send().await.unwrap();
    let content = content.replace(&base_of(&content), &format!("http://127.0.0.1:{port}"));
    let got = http.get(&content).send().await.unwrap().bytes().await.unwrap();
    let _ = again.kill();
    let _ = again.wait();
    assert_eq!(got.as_ref(), bytes.as_slice(), "readable with the new master key");
    assert_eq!(files_under(&data.join("blobs/tmp")), 0, "no temporary blob left (the refused upload included)");
}

/// Everything the server makes in a fresh data directory (the database and its
/// `-wal`, `-shm` and view journal, the master key, the keyring's key, the blob, their
/// folders) is private to its user: folders 0700, files 0600. A data directory that
/// lets others in is named in a warning at start.
#[cfg(unix)]
#[tokio::test]
async fn a_fresh_data_directory_lets_no_one_else_in() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let (ws, id, _) = photo_round_trip(&server).await;
    let data = dir.path().join("workvault-data");
    let mut made = Vec::new();
    walk(&data, &mut made);
    for must in [
        "workvault.db".to_owned(),
        "workvault.db-wal".into(),
        "workvault.db-shm".into(),
        "workvault.db-views".into(),
        "master.key".into(),
        format!("keyring/keys/{ws}.key"),
        format!("blobs/ws/{ws}/photo-{id}"),
    ] {
        assert!(made.contains(&data.join(&must)), "{must} is made: {made:?}");
    }
    for path in std::iter::once(data.clone()).chain(made) {
        let meta = std::fs::metadata(&path).unwrap();
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(meta.permissions().mode() & 0o777, want, "{}", path.display());
    }
    drop(server);

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = workvault(dir.path(), &[]).args(["sign-in-link", "--email", "owner@workvault.local"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the data directory is open to its group or others"), "{err}");
    assert!(err.contains("755") && err.contains("workvault-data"), "path and mode named: {err}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = workvault(dir.path(), &[]).args(["sign-in-link", "--email", "owner@workvault.local"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("data directory"), "no warning once it is 0700");
}

/// Every file and folder below `dir`.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[tokio::test]
async fn photos_are_stored_on_a_real_s3_server() {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run through scripts/test (it starts moto)"))
    };
    let run = format!("e2e-{}", std::process::id());
    let bucket = var("WORKVAULT_TEST_S3_BUCKET");
    let env = [
        ("WORKVAULT__BLOBS__URL", format!("s3://{bucket}/{run}/blobs")),
        ("WORKVAULT__BLOBS__KEYRING_URL", format!("s3://{bucket}/{run}/keyring")),
        ("WORKVAULT__BLOBS__S3_ENDPOINT", var("WORKVAULT_TEST_S3_ENDPOINT")),
        ("WORKVAULT__BLOBS__S3_REGION", var("WORKVAULT_TEST_S3_REGION")),
        ("WORKVAULT__BLOBS__S3_ACCESS_KEY_ID", var("WORKVAULT_TEST_S3_ACCESS_KEY")),
        ("WORKVAULT__BLOBS__S3_SECRET_ACCESS_KEY", var("WORKVAULT_TEST_S3_SECRET_KEY")),
        ("WORKVAULT__BLOBS__S3_ALLOW_HTTP", "true".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &env);
    photo_round_trip(&server).await;
    assert!(!dir.path().join("workvault-data/blobs").exists(), "nothing on local disk");
}

/// Regular files below `dir` (0 if it does not exist).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(Result::ok).map(|e| if e.path().is_dir() { files_under(&e.path()) } else { 1 }).sum()
}

fn base_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}://{}", u.scheme(), u.authority())
}
