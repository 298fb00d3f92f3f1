//! End to end: the real `workvault` binary in a temporary directory, with no
//! configuration, driven over HTTP on 127.0.0.1 and through its CLI.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use workvault_store_postgres::testdb::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_workvault");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Which store the binary runs on: the embedded default, or a PostgreSQL database.
#[derive(Clone, Copy)]
enum Backend<'a> {
    Embedded,
    Postgres(&'a TestDb),
}

fn workvault(dir: &Path, port: u16, backend: Backend<'_>) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("WORKVAULT__") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir).env("WORKVAULT__HTTP__BIND", format!("127.0.0.1:{port}")).env("WORKVAULT__LOG__LEVEL", "warn");
    if let Backend::Postgres(db) = backend {
        cmd.env("WORKVAULT__STORE__URL", &db.url);
    }
    cmd
}

/// The server process; killed when dropped.
struct Server {
    child: Child,
    stdout: mpsc::Receiver<String>,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path, port: u16, backend: Backend<'_>) -> Self {
        let mut child = workvault(dir, port, backend)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start workvault serve");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, stdout: rx, base: format!("http://127.0.0.1:{port}") };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("workvault serve exited with {status}: {err}");
            }
            if std::net::TcpStream::connect(self.base.trim_start_matches("http://")).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("workvault serve did not listen on {} within 15 s", self.base);
    }

    /// The next stdout line holding a sign-in link.
    fn printed_link(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains("/auth/link/") => return Some(line.trim().to_owned()),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    }
}

fn cli(dir: &Path, port: u16, backend: Backend<'_>, args: &[&str]) -> (i32, String, String) {
    let out = workvault(dir, port, backend).args(args).output().expect("run workvault");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn browser() -> Client {
    // reqwest is built without a default TLS provider (the binary hands its own rustls
    // config to the clients it makes); the tests speak plain HTTP but must name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn json(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_newcomer_runs_the_server_and_manages_a_team_end_to_end() {
    team_flow(Backend::Embedded).await;
}

#[tokio::test]
async fn the_same_on_postgresql() {
    let db = TestDb::empty().await;
    team_flow(Backend::Postgres(&db)).await;
}

async fn tamper(backend: Backend<'_>, data: &Path, sql: &str) {
    match backend {
        Backend::Embedded => {
            let store = workvault_store_sqlite::SqliteStore::open(&data.join("workvault.db")).expect("open db");
            store.execute_raw(&format!("DROP TRIGGER audit_events_no_update; {sql}")).await.expect("tamper");
        }
        Backend::Postgres(db) => {
            let store = db.store().await;
            store
                .execute_raw(&format!("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update; {sql}"))
                .await
                .expect("tamper");
        }
    }
}

async fn team_flow(backend: Backend<'_>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = Server::start(dir.path(), port, backend);
    let base = server.base.clone();
    let link = server.printed_link().expect("first start prints a sign-in link");
    assert!(link.starts_with(&format!("{base}/auth/link/")), "{link}");

    // The data directory holds the database (embedded) and a private master key.
    let data: PathBuf = dir.path().join("workvault-data");
    assert_eq!(data.join("workvault.db").exists(), matches!(backend, Backend::Embedded));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key")).expect("master key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The owner signs in through the printed link.
    let owner = browser();
    let res = owner.get(&link).send().await.expect("open link");
    assert_eq!(res.status(), StatusCode::OK, "opening the link only asks to sign in");
    let res = owner.post(&link).send().await.expect("sign in");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, session) = json(owner.get(format!("{base}/api/v1/session")).send().await.expect("session")).await;
    assert_eq!((status, session["user"]["email"].as_str()), (StatusCode::OK, Some("owner@workvault.local")));
    assert_eq!(owner.post(&link).send().await.expect("reuse").status(), StatusCode::GONE, "the link is single-use");

    // A workspace and an invite.
    let (status, ws) = json(
        owner.post(format!("{base}/api/v1/workspaces")).json(&json!({"name": "Acme"})).send().await.expect("create"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let ws = ws["id"].as_str().expect("id").to_owned();
    let (status, invite) = json(
        owner
            .post(format!("{base}/api/v1/workspaces/{ws}/invites"))
            .json(&json!({"role": "member"}))
            .send()
            .await
            .expect("invite"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = invite["url"].as_str().and_then(|u| u.rsplit('/').next()).expect("invite url").to_owned();

    // A second person gets a sign-in link from the CLI while the server runs.
    let (code, out, err) = cli(dir.path(), port, backend, &["sign-in-link", "--email", "bob@example.test"]);
    assert_eq!(code, 0, "{err}");
    let bob_link = out.trim().to_owned();
    assert!(bob_link.starts_with(&format!("{base}/auth/link/")));
    let bob = browser();
    assert_eq!(bob.post(&bob_link).send().await.expect("bob signs in").status(), StatusCode::SEE_OTHER);
    let (status, joined) =
        json(bob.post(format!("{base}/api/v1/invites/{token}/accept")).send().await.expect("accept")).await;
    assert_eq!((status, joined["workspace"]["role"].as_str()), (StatusCode::OK, Some("member")));
    let bob_id = json(bob.get(format!("{base}/api/v1/session")).send().await.expect("session")).await.1["user"]["id"]
        .as_str()
        .expect("bob id")
        .to_owned();

    // Two jobs; bob is restricted, then granted one of them.
    let mut jobs = Vec::new();
    for title in ["Roof", "Gutter"] {
        let (status, job) = json(
            owner
                .post(format!("{base}/api/v1/workspaces/{ws}/jobs"))
                .json(&json!({"title": title}))
                .send()
                .await
                .expect("job"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        jobs.push(job["id"].as_str().expect("job id").to_owned());
    }
    let job_url = |j: &str| format!("{base}/api/v1/workspaces/{ws}/jobs/{j}");
    assert_eq!(bob.get(job_url(&jobs[0])).send().await.expect("read").status(), StatusCode::OK);
    let res = owner
        .patch(format!("{base}/api/v1/workspaces/{ws}/members/{bob_id}"))
        .json(&json!({"role": "restricted"}))
        .send()
        .await
        .expect("restrict");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        bob.get(job_url(&jobs[0])).send().await.expect("read").status(),
        StatusCode::NOT_FOUND,
        "restricted at once"
    );
    let res = owner
        .put(format!("{base}/api/v1/workspaces/{ws}/jobs/{}/grants/{bob_id}", jobs[0]))
        .send()
        .await
        .expect("grant");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(bob.get(job_url(&jobs[0])).send().await.expect("read").status(), StatusCode::OK);
    assert_eq!(bob.get(job_url(&jobs[1])).send().await.expect("read").status(), StatusCode::NOT_FOUND);
    let (_, list) = json(bob.get(format!("{base}/api/v1/workspaces/{ws}/jobs")).send().await.expect("list")).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    // Removed: refused on the very next request.
    let res = owner.delete(format!("{base}/api/v1/workspaces/{ws}/members/{bob_id}")).send().await.expect("remove");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (status, problem) = json(bob.get(job_url(&jobs[0])).send().await.expect("read")).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));

    // The audit chain verifies over the API and from the CLI.
    let (_, verify) =
        json(owner.get(format!("{base}/api/v1/workspaces/{ws}/audit/verify")).send().await.expect("verify")).await;
    assert_eq!(verify["intact"], true, "{verify}");
    let events = verify["events"].as_u64().expect("events");
    assert!(events >= 8, "{verify}");
    let (code, out, err) = cli(dir.path(), port, backend, &["audit", "verify", "--workspace", &ws]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("intact ({events} events)")), "{out}");

    // Someone edits the database file behind the server's back: verify names the link.
    drop(server);
    tamper(
        backend,
        &data,
        &format!("UPDATE audit_events SET actor = 'system' WHERE workspace_id = '{ws}' AND seq = 4;"),
    )
    .await;
    let (code, out, _) = cli(dir.path(), port, backend, &["audit", "verify", "--workspace", &ws]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("breaks at event #4") && out.contains("HashMismatch"), "{out}");

    // A second start on the same data prints no first-start link and keeps the data.
    let again = Server::start(dir.path(), port, backend);
    assert!(again.printed_link().is_none());
    let (status, _) = json(owner.get(format!("{base}/api/v1/workspaces/{ws}")).send().await.expect("read")).await;
    assert_eq!(status, StatusCode::OK, "sessions live in the database and survive a restart");
}

#[test]
fn a_bad_configuration_is_refused_with_every_problem_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .env("WORKVAULT__HTTP__BIND", "nowhere")
        .env("WORKVAULT__LOG__FORMAT", "xml")
        .env("WORKVAULT__SETUP__FIRST_USER_EMAIL", "nobody")
        .arg("serve")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for key in ["http.bind", "log.format", "setup.first_user_email"] {
        assert!(err.contains(key), "{key} missing: {err}");
    }
    assert!(!dir.path().join("workvault-data").exists(), "nothing is created on a bad configuration");
}

#[test]
fn cli_failures_exit_non_zero_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    for args in [&["sign-in-link", "--email", "not-an-email"][..], &["audit", "verify", "--workspace", "nope"][..]] {
        let (code, _, err) = cli(dir.path(), port, Backend::Embedded, args);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("workvault: "), "{err}");
    }
    let (code, out, _) = cli(dir.path(), port, Backend::Embedded, &["--help"]);
    assert_eq!(code, 0);
    for sub in ["serve", "migrate", "sign-in-link", "audit"] {
        assert!(out.contains(sub), "{sub} missing from --help");
    }
    let (code, out, _) = cli(dir.path(), port, Backend::Embedded, &["migrate"]);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "{out}");
}

#[test]
fn a_wrong_or_unreachable_store_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let closed = free_port();
    for (url, expect) in [
        ("mysql://db/x".to_owned(), "store.url"),
        (
            format!("postgres://nobody:s3cret@127.0.0.1:{closed}/nothing"),
            "cannot reach postgres://nobody:***@127.0.0.1",
        ),
    ] {
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .env("WORKVAULT__STORE__URL", &url)
            .env("WORKVAULT__STORE__CONNECT_TIMEOUT_SECS", "2")
            .arg("serve")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}");
        assert!(err.contains(expect), "{url}: {err}");
        assert!(!err.contains("s3cret"), "the password never reaches the output: {err}");
        assert!(!dir.path().join("workvault-data").exists(), "nothing is written: {url}");
    }
}

#[tokio::test]
async fn an_instance_moves_from_sqlite_to_postgresql_and_back() {
    use workvault_store_contract::dump_all;

    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = Server::start(dir.path(), port, Backend::Embedded);
    let base = server.base.clone();
    let owner = browser();
    let link = server.printed_link().expect("first start link");
    assert_eq!(owner.post(&link).send().await.expect("sign in").status(), StatusCode::SEE_OTHER);
    let (_, ws) = json(
        owner.post(format!("{base}/api/v1/workspaces")).json(&json!({"name": "Moving"})).send().await.expect("ws"),
    )
    .await;
    let ws = ws["id"].as_str().expect("id").to_owned();
    for title in ["Roof", "Gutter", "Fence"] {
        let res = owner
            .post(format!("{base}/api/v1/workspaces/{ws}/jobs"))
            .json(&json!({"title": title}))
            .send()
            .await
            .expect("job");
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = owner
        .post(format!("{base}/api/v1/workspaces/{ws}/invites"))
        .json(&json!({"role": "restricted"}))
        .send()
        .await
        .expect("invite");
    assert_eq!(res.status(), StatusCode::CREATED);
    drop(server);

    let sqlite = dir.path().join("workvault-data/workvault.db");
    let db = TestDb::empty().await;
    let from = format!("sqlite://{}", sqlite.display());
    let (code, out, err) =
        cli(dir.path(), port, Backend::Embedded, &["migrate-store", "--from", &from, "--to", &db.url, "--batch", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified 1 audit chains"), "{out}");
    let on_sqlite = workvault_store_sqlite::SqliteStore::open(&sqlite).expect("sqlite");
    let on_pg = db.store().await;
    assert_eq!(dump_all(&on_pg).await, dump_all(&on_sqlite).await, "every record arrives as it was");

    // The server runs on PostgreSQL now; the owner's browser session came along.
    let server = Server::start(dir.path(), port, Backend::Postgres(&db));
    assert!(server.printed_link().is_none(), "not a first start");
    let (status, jobs) =
        json(owner.get(format!("{base}/api/v1/workspaces/{ws}/jobs")).send().await.expect("jobs")).await;
    assert_eq!((status, jobs["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(3)));
    let (_, verify) =
        json(owner.get(format!("{base}/api/v1/workspaces/{ws}/audit/verify")).send().await.expect("verify")).await;
    assert_eq!(verify["intact"], true, "{verify}");
    let res = owner
        .post(format!("{base}/api/v1/workspaces/{ws}/jobs"))
        .json(&json!({"title": "After the move"}))
        .send()
        .await
        .expect("job");
    assert_eq!(res.status(), StatusCode::CREATED);
    drop(server);

    // A second copy into the now non-empty target is refused, and changes nothing.
    let before = dump_all(&on_pg).await;
    let (code, _, err) = cli(dir.path(), port, Backend::Embedded, &["migrate-store", "--from", &from, "--to", &db.url]);
    assert_ne!(code, 0);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(dump_all(&on_pg).await, before);

    // And back to a new SQLite file.
    let back = dir.path().join("back/workvault.db");
    let to = format!("sqlite://{}", back.display());
    let (code, out, err) = cli(dir.path(), port, Backend::Embedded, &["migrate-store", "--from", &db.url, "--to", &to]);
    assert_eq!(code, 0, "{out}{err}");
    let on_back = workvault_store_sqlite::SqliteStore::open(&back).expect("sqlite");
    assert_eq!(dump_all(&on_back).await, dump_all(&on_pg).await);
}

/// A view is kept before its page is sent: the pages sent just before the process is
/// killed (SIGKILL, nothing flushed on the way out) all have their views, with their
/// audit events, once the server is back.
#[tokio::test]
async fn the_views_of_pages_sent_survive_the_server_being_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = Server::start(dir.path(), port, Backend::Embedded);
    let base = server.base.clone();
    let owner = browser();
    owner.post(server.printed_link().expect("sign-in link")).send().await.expect("sign in");
    let post = |path: String, body: Value| {
        let (owner, base) = (owner.clone(), base.clone());
        async move { json(owner.post(format!("{base}{path}")).json(&body).send().await.expect("post")).await.1 }
    };
    let ws = post("/api/v1/workspaces".into(), json!({"name": "Acme"})).await["id"].as_str().expect("ws").to_owned();
    let job = post(format!("/api/v1/workspaces/{ws}/jobs"), json!({"title": "Roof"})).await["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let shared = post(format!("/api/v1/workspaces/{ws}/share-links"), json!({"target": "job", "id": job})).await;
    let link = shared["id"].as_str().unwrap_or_else(|| panic!("a link: {shared}")).to_owned();
    let url = shared["url"].as_str().expect("url").to_owned();

    let viewer = browser();
    for _ in 0..40 {
        assert_eq!(viewer.get(&url).send().await.expect("page").status(), StatusCode::OK);
    }
    drop(server);
    let journal = dir.path().join("workvault-data/workvault.db-views");
    let left: u64 =
        std::fs::read_dir(&journal).expect("journal").map(|e| e.expect("entry").metadata().expect("len").len()).sum();
    eprintln!("{left} bytes of views were in the journal when the server was killed");

    let server = Server::start(dir.path(), port, Backend::Embedded);
    let (code, out, err) =
        cli(dir.path(), port, Backend::Embedded, &["sign-in-link", "--email", "owner@workvault.local"]);
    assert_eq!(code, 0, "{err}");
    let owner = browser();
    owner.post(out.trim()).send().await.expect("sign in again");
    let (status, views) = json(
        owner
            .get(format!("{}/api/v1/workspaces/{ws}/share-links/{link}/views?limit=100", server.base))
            .send()
            .await
            .expect("views"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{views}");
    assert_eq!(views["items"].as_array().expect("items").len(), 40, "every page sent has its view");
    let (_, verify) =
        json(owner.get(format!("{}/api/v1/workspaces/{ws}/audit/verify", server.base)).send().await.expect("verify"))
            .await;
    assert_eq!(verify["intact"], true, "{verify}");
    let (_, audit) =
        json(owner.get(format!("{}/api/v1/workspaces/{ws}/audit?limit=100", server.base)).send().await.expect("audit"))
            .await;
    let viewed =
        audit["items"].as_array().expect("events").iter().filter(|e| e["action"] == "share_link.viewed").count();
    let hours: std::collections::HashSet<String> = views["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|v| v["at"].as_str().map(|at| at[..13].to_owned()))
        .collect();
    assert_eq!(viewed, hours.len(), "and an audit event for each hour they fall in");
}

/// The resident memory of a process, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's /proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB")
}

/// A gzip body of about 250 KB that inflates to 256 MiB of zeros.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).expect("compress");
    }
    gz.finish().expect("gzip")
}

#[tokio::test]
async fn compressed_request_bodies_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let server = Server::start(dir.path(), port, Backend::Embedded);
    let base = server.base.clone();
    let client = browser();
    let bomb = gzip_bomb();
    assert!(bomb.len() < 300 * 1024, "the bomb is small on the wire: {} bytes", bomb.len());

    // Warm the server up, then note where its memory stands.
    for _ in 0..20 {
        client.get(format!("{base}/healthz")).send().await.expect("health");
    }
    let before = resident_kib(server.child.id());

    // 16 bombs at once at an anonymous route with a made-up token.
    let sends = (0..16).map(|_| {
        let (client, body) = (client.clone(), bomb.clone());
        let url = format!("{base}/t/{}/replies", "A".repeat(43));
        async move {
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-encoding", "gzip")
                .body(body)
                .send()
                .await
        }
    });
    // The server may answer before a body is sent whole and close the connection: a
    // send cut off that way has no answer to check.
    for res in futures_util::future::join_all(sends).await.into_iter().flatten() {
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(res.text().await.unwrap_or_default().contains("Content-Encoding"), "a readable page says why");
    }
    let after = resident_kib(server.child.id());
    assert!(after < before + 50 * 1024, "resident memory grew from {before} KiB to {after} KiB");

    // The API answers a problem document; an identity body is taken as before.
    let res = client
        .post(format!("{base}/api/v1/workspaces"))
        .header("content-type", "application/json")
        .header("content-encoding", "deflate, identity")
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .expect("api");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, problem) = json(res).await;
    assert_eq!(problem["code"], "unsupported_media_type", "{problem}");
    let res = client
        .post(format!("{base}/t/{}/replies", "A".repeat(43)))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-encoding", "identity")
        .body("body=hello")
        .send()
        .await
        .expect("identity");
    assert_ne!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "identity is no coding");
}
