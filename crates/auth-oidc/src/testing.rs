//! The test OpenID Connect provider (`tests/peers/oidc`, panva's `oidc-provider`), started
//! per test on its own port with its own signing keys, and driven headlessly: the
//! browser's part of a sign-in, tokens for API calls, key rotation, hand-made tokens
//! signed with the provider's own key. A test that needs it and cannot start it panics
//! with the command and the tail of its log; it never skips.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2_free::challenge;

/// The API audience the test provider issues access tokens for.
pub const API_AUDIENCE: &str = "https://api.workvault.test";
/// Both test clients' secret.
pub const CLIENT_SECRET: &str = "workvault-test-secret";

/// One running test provider. Stopped on drop.
#[derive(Debug)]
pub struct OidcPeer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    issuer: String,
    redirect_uris: String,
    post_logout_uris: String,
    access_token_ttl: u64,
}

/// Tokens from a code flow.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
}

fn peer_dir() -> PathBuf {
    std::env::var_os("WORKVAULT_TEST_OIDC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/oidc"))
}

/// Installs the provider's locked packages once per process if they are missing.
fn ensure_installed() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let dir = peer_dir();
        if dir.join("node_modules/oidc-provider").is_dir() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| panic!("the OIDC test provider needs Node.js and npm (`npm ci` in {dir:?}): {e}"));
        assert!(status.success(), "`npm ci` in {dir:?} failed: {status}");
    });
}

impl OidcPeer {
    /// Starts a provider on a free port whose clients accept these redirect URIs.
    pub fn start(redirect_uris: &[&str], post_logout_uris: &[&str]) -> Self {
        Self::start_with_ttl(redirect_uris, post_logout_uris, 3600)
    }

    /// Same, with access tokens of the `workvault` client living `ttl` seconds.
    pub fn start_with_ttl(redirect_uris: &[&str], post_logout_uris: &[&str], ttl: u64) -> Self {
        ensure_installed();
        let dir = tempfile::tempdir().unwrap();
        let mut peer = Self {
            dir,
            child: None,
            port: 0,
            issuer: String::new(),
            redirect_uris: redirect_uris.join(","),
            post_logout_uris: post_logout_uris.join(","),
            access_token_ttl: ttl,
        };
        peer.spawn();
        peer
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("provider.log")
    }

    /// The signing keys file (private JWKS).
    pub fn jwks_file(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    fn spawn(&mut self) {
        const READY_WITHIN_SECS: u64 = 60;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut child = Command::new("node")
            .arg(peer_dir().join("provider.mjs"))
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_JWKS_FILE", self.jwks_file())
            .env("OIDC_ACCESS_TOKEN_TTL", self.access_token_ttl.to_string())
            .env("OIDC_REDIRECT_URIS", &self.redirect_uris)
            .env("OIDC_POST_LOGOUT_URIS", &self.post_logout_uris)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the OIDC test provider (`node {:?}`): {e}", peer_dir().join("provider.mjs"))
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("ready ") {
                    let _ = tx.send(issuer.trim().to_owned());
                }
            }
        });
        // Generous: on two cores under the whole test suite, a cold Node start has been
        // seen to take over 20 s.
        match rx.recv_timeout(Duration::from_secs(READY_WITHIN_SECS)) {
            Ok(issuer) => {
                let port = issuer.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap();
                self.port = port;
                self.issuer = issuer;
                self.child = Some(child);
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "the OIDC test provider (`node provider.mjs` in {:?}, port {}) did not get ready in {READY_WITHIN_SECS} s; log tail:\n{}",
                    peer_dir(),
                    self.port,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
    }

    /// The issuer URL (`http://127.0.0.1:PORT`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Stops the provider (it answers nothing until `restart`).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same keys.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Puts a fresh signing key first (the old ones stay published) and restarts.
    pub fn rotate_keys(&mut self) {
        let status = Command::new("node")
            .arg(peer_dir().join("rotate.mjs"))
            .arg(self.jwks_file())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "rotate.mjs failed");
        self.restart();
    }

    /// The key id that signs now.
    pub fn signing_kid(&self) -> String {
        let jwks: Value = serde_json::from_slice(&std::fs::read(self.jwks_file()).unwrap()).unwrap();
        jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
    }

    /// A token made by hand and signed with the provider's own key (see `sign.mjs`):
    /// `header` may set `alg` (`RS256`, `none`, `HS256`…) and `kid`.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let out = Command::new("node")
            .arg(peer_dir().join("sign.mjs"))
            .arg(self.jwks_file())
            .arg(header.to_string())
            .arg(claims.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "sign.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn http() -> reqwest::Client {
        crate::http::builder(Duration::from_secs(10)).unwrap().cookie_store(true).build().unwrap()
    }

    /// Plays the browser at the provider: opens `authorization_url`, signs in as `user`
    /// (`alice`, `bob`; anyone else is refused with `access_denied`) and returns the URL
    /// the provider sends the browser back to (the callback, with `code` and `state`).
    pub async fn browser_sign_in(&self, authorization_url: &str, user: &str) -> String {
        let http = Self::http();
        let base = url::Url::parse(&self.issuer).unwrap();
        let mut next = url::Url::parse(authorization_url).unwrap();
        for _ in 0..8 {
            let res = http.get(next.clone()).send().await.unwrap();
            let status = res.status();
            if status.is_redirection() {
                let location = res.headers()["location"].to_str().unwrap().to_owned();
                let target = base.join(&location).unwrap();
                if target.origin() != base.origin() {
                    return target.to_string();
                }
                next = target;
                continue;
            }
            assert_eq!(status, 200, "unexpected answer from the provider at {next}");
            // The login form: post the user name to /interaction/<uid>/login.
            let login = format!("{}/login", next.as_str().trim_end_matches('/'));
            let res = http.post(&login).form(&[("login", user)]).send().await.unwrap();
            assert!(res.status().is_redirection(), "login form answered {}", res.status());
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let target = base.join(&location).unwrap();
            if target.origin() != base.origin() {
                return target.to_string();
            }
            next = target;
        }
        panic!("the provider did not send the browser back within 8 redirects");
    }

    /// Runs a whole code flow (with PKCE) as `client_id` for `user`, with `redirect_uri`,
    /// and returns the tokens: a real access token for the API and a real ID token.
    pub async fn tokens_for(&self, client_id: &str, user: &str, redirect_uri: &str) -> Tokens {
        let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let mut auth = url::Url::parse(&format!("{}/auth", self.issuer)).unwrap();
        auth.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", "test-state")
            .append_pair("nonce", "test-nonce")
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", API_AUDIENCE)
            .append_pair("login_hint", user);
        let back = url::Url::parse(&self.browser_sign_in(auth.as_str(), user).await).unwrap();
        let code = back.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code");
        let res = Self::http()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", &verifier),
                ("resource", API_AUDIENCE),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "token endpoint refused the code");
        let body: Value = res.json().await.unwrap();
        Tokens {
            access_token: body["access_token"].as_str().unwrap().to_owned(),
            id_token: body["id_token"].as_str().unwrap().to_owned(),
        }
    }

    /// An access token for the API from the client credentials grant (`sub` = client id).
    pub async fn client_credentials(&self, client_id: &str) -> String {
        let res = Self::http()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials"), ("resource", API_AUDIENCE), ("scope", "api:read")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "client_credentials refused");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The S256 PKCE challenge, computed by the provider's own Node.js (so the tests do
/// not lean on our code to check our code).
mod sha2_free {
    pub fn challenge(verifier: &str) -> String {
        let script = "const c=require('node:crypto');process.stdout.write(c.createHash('sha256').update(process.argv[1]).digest('base64url'))";
        let out = std::process::Command::new("node").args(["-e", script, verifier]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }
}
