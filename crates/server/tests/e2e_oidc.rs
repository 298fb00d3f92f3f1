//! End to end with OpenID Connect: the real `workvault` binary configured through the
//! environment (`auth.provider = "oidc"`) against the real test provider, driven over
//! HTTP on 127.0.0.1 like a browser and an API client would.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use workvault_auth_oidc::testing::{API_AUDIENCE, CLIENT_SECRET, OidcPeer};

const BIN: &str = env!("CARGO_BIN_EXE_workvault");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

fn workvault(dir: &Path, port: u16, issuer: &str) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("WORKVAULT__") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir)
        .env("WORKVAULT__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("WORKVAULT__LOG__LEVEL", "warn")
        .env("WORKVAULT__AUTH__PROVIDER", "oidc")
        .env("WORKVAULT__AUTH__OIDC__ISSUER", issuer)
        .env("WORKVAULT__AUTH__OIDC__CLIENT_ID", "workvault")
        .env("WORKVAULT__AUTH__OIDC__CLIENT_SECRET", CLIENT_SECRET)
        .env("WORKVAULT__AUTH__OIDC__AUDIENCE", API_AUDIENCE);
    cmd
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, port: u16, issuer: &str) -> Server {
    let child = workvault(dir, port, issuer).arg("serve").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("workvault serve exited with {status}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("workvault serve did not listen within 20 s");
}

fn browser() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn the_binary_signs_people_in_through_the_provider_and_takes_bearer_tokens() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let peer = OidcPeer::start(&[&format!("{base}/auth/callback")], &[&format!("{base}/")]);
    let dir = tempfile::tempdir().unwrap();
    let _server = serve(dir.path(), port, peer.issuer());
    let http = browser();

    let r = http.get(format!("{base}/auth/login?login_hint=alice")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to_provider = r.headers()["location"].to_str().unwrap().to_owned();
    let back = peer.browser_sign_in(&to_provider, "alice").await;
    assert!(back.starts_with(&format!("{base}/auth/callback?")), "{back}");
    let r = http.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let me = http.get(format!("{base}/api/v1/session")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alice@workvault.test");

    let token = peer.tokens_for("workvault", "bob", &format!("{base}/auth/callback")).await.access_token;
    let api = browser();
    let me = api.get(format!("{base}/api/v1/session")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "bob@workvault.test");
    let bad = api.get(format!("{base}/api/v1/session")).bearer_auth(format!("{token}x")).send().await.unwrap();
    assert_eq!(bad.status(), 401);

    // Sign-in links are refused by the CLI while OpenID Connect is on.
    let out = workvault(dir.path(), port, peer.issuer())
        .args(["sign-in-link", "--email", "x@example.test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sign-in links are off"), "{err}");
}

#[test]
fn an_unreachable_issuer_stops_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = workvault(dir.path(), free_port(), &dead).arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("discovery") && err.contains(&dead), "{err}");
    assert!(!err.contains(CLIENT_SECRET), "{err}");
}
