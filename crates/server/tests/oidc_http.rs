//! Sign-in through a real OpenID Connect provider (`tests/peers/oidc`), driven over HTTP
//! through the production app factory wired as the binary wires it (here, where every
//! adapter is known; the HTTP crate itself knows only the port): the browser's code + PKCE flow, the callback's
//! refusals, bearer tokens on the API, key rotation, sign-out at the provider.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use url::Url;
use workvault_auth_oidc::testing::{API_AUDIENCE, CLIENT_SECRET, OidcPeer};
use workvault_auth_oidc::{OidcConfig, OidcProvider};
use workvault_domain::ports::{IdentityStore, Store};
use workvault_domain::signin::LocalSignIn;
use workvault_domain::testing::{FixedClock, SeqRng};
use workvault_domain::{Lifetimes, Workvault};
use workvault_http::{AppState, HttpSettings};
use workvault_store_sqlite::SqliteStore;

/// Everything Workvault's crates log in this test binary, to check that no code,
/// state or token ever reaches a log line.
fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "workvault=trace,workvault_http=trace,workvault_auth_oidc=trace,workvault_domain=trace",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned()
}

const PUBLIC: &str = "http://127.0.0.1:8080";
const REDIRECT: &str = "http://127.0.0.1:8080/auth/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:8080/";

struct Reply {
    status: u16,
    headers: actix_web::http::header::HeaderMap,
    text: String,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }
    /// The value a `Set-Cookie` gives `name` (empty when it removes it).
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().into_iter().find_map(|c| {
            let first = c.split(';').next()?.to_owned();
            first.strip_prefix(&format!("{name}=")).map(str::to_owned)
        })
    }
    fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }
}

async fn send<S, B>(service: &S, req: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(service, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, headers, text, body }
}

struct Setup {
    store: Arc<SqliteStore>,
    provider: Arc<OidcProvider>,
}

async fn setup(peer: &OidcPeer, refetch: Duration) -> (Setup, Data<AppState>) {
    captured_logs();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let clock = Arc::new(FixedClock::at(chrono::Utc::now()));
    let app = Workvault::new(
        store.clone() as Arc<dyn Store>,
        clock,
        Arc::new(SeqRng::starting_at(seed())),
        Lifetimes::default(),
    );
    let mut config =
        OidcConfig::new(peer.issuer(), "workvault", CLIENT_SECRET, REDIRECT.parse().unwrap(), API_AUDIENCE);
    config.post_logout_redirect_url = Some(AFTER_LOGOUT.parse().unwrap());
    config.jwks_refetch_interval = refetch;
    let provider = Arc::new(OidcProvider::discover(config).await.unwrap());
    let settings = HttpSettings::for_url(Url::parse(PUBLIC).unwrap());
    let state = Data::new(AppState { app, identity: provider.clone(), settings });
    (Setup { store, provider }, state)
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn path_and_query(url: &str) -> String {
    let u = Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

/// `/auth/login` → the provider → the callback URL, and the binding cookie.
async fn to_provider_and_back<S, B>(service: &S, peer: &OidcPeer, user: &str) -> (String, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(service, TestRequest::get().uri(&format!("/auth/login?login_hint={user}"))).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/auth?", peer.issuer())), "{location}");
    let binding = r.cookie("wv_signin").expect("binding cookie");
    let flow_cookie = r.cookies().into_iter().find(|c| c.starts_with("wv_signin=")).unwrap();
    assert!(flow_cookie.contains("HttpOnly") && flow_cookie.contains("SameSite=Lax"), "{flow_cookie}");
    assert!(flow_cookie.contains("Path=/auth/callback"), "{flow_cookie}");
    let back = peer.browser_sign_in(&location, user).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    (back, binding)
}

fn callback(back: &str, binding: Option<&str>) -> TestRequest {
    let mut req = TestRequest::get().uri(&path_and_query(back));
    if let Some(b) = binding {
        req = req.insert_header(("cookie", format!("wv_signin={b}")));
    }
    req
}

async fn session_of<S, B>(service: &S, token: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(service, TestRequest::get().uri("/api/v1/session").insert_header(("cookie", format!("wv_session={token}"))))
        .await
}

#[actix_web::test]
async fn a_browser_signs_in_through_the_provider_and_the_answer_cannot_be_replayed() {
    let peer = OidcPeer::start(&[REDIRECT], &[AFTER_LOGOUT]);
    let (s, state) = setup(&peer, Duration::from_secs(30)).await;
    let service = test::init_service(workvault_http::app(state)).await;

    let (back, binding) = to_provider_and_back(&service, &peer, "alice").await;
    let r = send(&service, callback(&back, Some(&binding))).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/"));
    let session = r.cookie("wv_session").expect("session cookie");
    assert_eq!(r.cookie("wv_signin").as_deref(), Some(""), "the binding cookie is cleared");
    let me = session_of(&service, &session).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["user"]["email"], "alice@workvault.test");
    let user = s.store.user_by_identity(peer.issuer(), "alice").await.unwrap().expect("keyed by (issuer, sub)");
    assert_eq!(me.body["user"]["id"], user.id.to_string());

    // The same answer again (a replayed state): refused, readable, no session.
    let again = send(&service, callback(&back, Some(&binding))).await;
    assert_eq!(again.status, 401, "{}", again.text);
    assert!(again.text.contains("finished already"), "{}", again.text);
    assert!(again.header("content-type").unwrap().starts_with("text/html"));
    assert!(again.cookie("wv_session").is_none());
    let json = send(&service, callback(&back, Some(&binding)).insert_header(("accept", "application/json"))).await;
    assert_eq!((json.status, json.code()), (401, Some("sign_in_failed")), "{}", json.text);

    // Nothing secret reached a log line, though the requests were logged.
    let logs = logs_text();
    assert!(logs.contains("/auth/callback"), "the access log is captured");
    let code = Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    for secret in [code.as_str(), binding.as_str(), session.as_str()] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

#[actix_web::test]
async fn signing_in_again_rotates_the_session_and_signing_out_ends_it_at_the_provider_too() {
    let peer = OidcPeer::start(&[REDIRECT], &[AFTER_LOGOUT]);
    let (_s, state) = setup(&peer, Duration::from_secs(30)).await;
    let service = test::init_service(workvault_http::app(state)).await;
    let (back, binding) = to_provider_and_back(&service, &peer, "alice").await;
    let session = send(&service, callback(&back, Some(&binding))).await.cookie("wv_session").unwrap();

    // Signing in again from the same browser rotates the session: the old one ends.
    let (back, binding) = to_provider_and_back(&service, &peer, "alice").await;
    let cookie = format!("wv_signin={binding}; wv_session={session}");
    let r = send(&service, TestRequest::get().uri(&path_and_query(&back)).insert_header(("cookie", cookie))).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let fresh = r.cookie("wv_session").unwrap();
    assert_ne!(fresh, session);
    assert_eq!(session_of(&service, &session).await.status, 401, "the previous session ended at sign-in");
    assert_eq!(session_of(&service, &fresh).await.status, 200);

    // Sign-out ends the session, then a page (not a redirect, which the CSP's
    // form-action would stop after a form post) moves on to the provider's sign-out.
    let r = send(
        &service,
        TestRequest::post()
            .uri("/auth/logout")
            .insert_header(("cookie", format!("wv_session={fresh}")))
            .insert_header(("origin", PUBLIC)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let end = format!("{}/session/end?client_id=workvault&#38;post_logout_redirect_uri=", peer.issuer());
    assert!(r.text.contains(&format!("<meta http-equiv=\"refresh\" content=\"0; url={end}")), "{}", r.text);
    assert!(r.text.contains(&format!("<a href=\"{end}")), "{}", r.text);
    assert_eq!(r.cookie("wv_session").as_deref(), Some(""));
    assert_eq!(session_of(&service, &fresh).await.status, 401);
}

#[actix_web::test]
async fn callback_failures_end_on_a_readable_page_and_sign_nobody_in() {
    let mut peer = OidcPeer::start(&[REDIRECT], &[AFTER_LOGOUT]);
    let (s, state) = setup(&peer, Duration::from_secs(30)).await;
    let service = test::init_service(workvault_http::app(state)).await;

    // The provider refuses (unknown user → error=access_denied).
    let (back, binding) = to_provider_and_back(&service, &peer, "mallory").await;
    assert!(back.contains("error=access_denied"), "{back}");
    let r = send(&service, callback(&back, Some(&binding))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("access_denied") && r.text.contains("<html"), "{}", r.text);
    assert!(r.cookie("wv_session").is_none());

    // An answer without the binding cookie (another browser, or a login CSRF attempt).
    let (back, _) = to_provider_and_back(&service, &peer, "alice").await;
    let r = send(&service, callback(&back, None)).await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains("another browser"), "{}", r.text);

    // No code, no state, garbage state.
    for query in ["/auth/callback", "/auth/callback?state=abc&code=x", "/auth/callback?code=x"] {
        let r = send(&service, TestRequest::get().uri(query)).await;
        assert_eq!(r.status, 401, "{query}: {}", r.text);
        assert!(r.cookie("wv_session").is_none());
    }

    // The provider is down when the code is redeemed: a page for a browser, a problem
    // for an API client; neither shows the code.
    let (back, binding) = to_provider_and_back(&service, &peer, "bob").await;
    let (back2, binding2) = to_provider_and_back(&service, &peer, "bob").await;
    peer.stop();
    let r = send(&service, callback(&back, Some(&binding))).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.cookie("wv_session").is_none());
    let code = Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    assert!(!r.text.contains(&code), "no code in the page");
    let j = send(&service, callback(&back2, Some(&binding2)).insert_header(("accept", "application/json"))).await;
    assert_eq!((j.status, j.code()), (503, Some("identity_provider_unavailable")), "{}", j.text);

    // None of it made a user or a session.
    assert!(!IdentityStore::has_users(&*s.store).await.unwrap());

    // Sign-in links are off while OpenID Connect is on.
    let token = "A".repeat(43);
    for req in [TestRequest::get(), TestRequest::post()] {
        let r = send(&service, req.uri(&format!("/auth/link/{token}"))).await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

#[actix_web::test]
async fn api_clients_use_bearer_tokens_and_bad_ones_get_a_401_each() {
    let peer = OidcPeer::start(&[REDIRECT], &[AFTER_LOGOUT]);
    let (s, state) = setup(&peer, Duration::from_secs(30)).await;
    let service = test::init_service(workvault_http::app(state)).await;

    let tokens = peer.tokens_for("workvault", "alice", REDIRECT).await;
    let me =
        send(&service, TestRequest::get().uri("/api/v1/session").insert_header(bearer(&tokens.access_token))).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["user"]["email"], "alice@workvault.test");
    assert_eq!(me.body["expires_at"], Value::Null);
    // Writes need no cookie and no same-origin check with a bearer token.
    let ws = send(
        &service,
        TestRequest::post()
            .uri("/api/v1/workspaces")
            .insert_header(bearer(&tokens.access_token))
            .insert_header(("origin", "https://elsewhere.example"))
            .set_json(json!({"name": "Bearer works"})),
    )
    .await;
    assert_eq!(ws.status, 201, "{}", ws.text);
    let r =
        send(&service, TestRequest::delete().uri("/api/v1/session").insert_header(bearer(&tokens.access_token))).await;
    assert_eq!((r.status, r.code()), (409, Some("no_session")), "{}", r.text);

    let before = dump(&s).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |patch: Value| {
        let mut c = json!({"iss": peer.issuer(), "aud": API_AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300});
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let rs = json!({"alg": "RS256"});
    let real = peer.tokens_for("workvault", "alice", REDIRECT).await;
    let mut parts: Vec<String> = real.access_token.split('.').map(str::to_owned).collect();
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    signature[10] ^= 0x01;
    parts[2] = URL_SAFE_NO_PAD.encode(&signature);
    let tampered = parts.join(".");
    assert_ne!(tampered, real.access_token);
    let cases: Vec<(&str, String)> = vec![
        ("expired", peer.sign(&rs, &claims(json!({"exp": now - 600})))),
        ("wrong audience (an ID token)", real.id_token.clone()),
        ("wrong audience", peer.sign(&rs, &claims(json!({"aud": "https://other.api"})))),
        ("wrong issuer", peer.sign(&rs, &claims(json!({"iss": "https://evil.example/"})))),
        ("tampered signature", tampered),
        ("alg none", peer.sign(&json!({"alg": "none"}), &claims(json!({})))),
        ("unknown kid", peer.sign(&json!({"alg": "RS256", "kid": "k-unknown"}), &claims(json!({})))),
    ];
    for (name, token) in cases {
        let r = send(&service, TestRequest::get().uri("/api/v1/workspaces").insert_header(bearer(&token))).await;
        assert_eq!(r.status, 401, "{name}: {}", r.text);
        assert_eq!(r.code(), Some("invalid_token"), "{name}: {}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"), "{name}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer error=\"invalid_token\""), "{name}");
        let w = send(
            &service,
            TestRequest::post().uri("/api/v1/workspaces").insert_header(bearer(&token)).set_json(json!({"name": "x"})),
        )
        .await;
        assert_eq!(w.status, 401, "{name}");
    }
    assert_eq!(dump(&s).await, before, "refused tokens changed nothing");
    for secret in [real.access_token.as_str(), tokens.access_token.as_str()] {
        assert!(!logs_text().contains(secret), "a token reached the log");
    }
}

#[actix_web::test]
async fn keys_rotate_at_the_provider_without_restarting_workvault() {
    let mut peer = OidcPeer::start(&[REDIRECT], &[AFTER_LOGOUT]);
    let (s, state) = setup(&peer, Duration::from_secs(30)).await;
    let service = test::init_service(workvault_http::app(state)).await;
    let before = peer.tokens_for("workvault", "alice", REDIRECT).await;
    let r = send(&service, TestRequest::get().uri("/api/v1/session").insert_header(bearer(&before.access_token))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fetches = s.provider.jwks_fetches();
    peer.rotate_keys();
    let rotated = peer.tokens_for("workvault", "bob", REDIRECT).await;
    let r =
        send(&service, TestRequest::get().uri("/api/v1/session").insert_header(bearer(&rotated.access_token))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email"], "bob@workvault.test");
    assert!(s.provider.jwks_fetches() > fetches);
}

async fn dump(s: &Setup) -> String {
    use workvault_domain::instance::{InstanceStore, Record, RecordKind};
    let mut all = String::new();
    for kind in RecordKind::ALL {
        let (records, _) = s.store.dump(kind, None, 1_000_000).await.unwrap();
        for r in records {
            if !matches!(r, Record::Session(..)) {
                all.push_str(&format!("{r:?}\n"));
            }
        }
    }
    all
}

#[actix_web::test]
async fn with_sign_in_links_the_provider_routes_are_off() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let clock = Arc::new(FixedClock::default());
    let app = Workvault::new(
        store.clone() as Arc<dyn Store>,
        clock.clone(),
        Arc::new(SeqRng::default()),
        Lifetimes::default(),
    );
    let identity = Arc::new(LocalSignIn::new(store, clock));
    let settings = HttpSettings::for_url(Url::parse(PUBLIC).unwrap());
    let service = test::init_service(workvault_http::app(Data::new(AppState { app, identity, settings }))).await;
    let r = send(&service, TestRequest::get().uri("/auth/login")).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("sign-in links"), "{}", r.text);
    let r = send(&service, TestRequest::get().uri("/auth/login").insert_header(("accept", "application/json"))).await;
    assert_eq!(r.code(), Some("sign_in_method_off"));
    let r = send(&service, TestRequest::get().uri("/auth/callback?state=x&code=y")).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = send(&service, TestRequest::get().uri("/api/v1/session").insert_header(bearer("a.b.c"))).await;
    assert_eq!((r.status, r.code()), (401, Some("unauthenticated")), "{}", r.text);
}
