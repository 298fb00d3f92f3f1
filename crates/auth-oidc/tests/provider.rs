//! The adapter against a real OpenID Connect provider (`tests/peers/oidc`): discovery,
//! the code flow with PKCE, ID token checks, bearer token checks, key rotation, sign-out.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use workvault_auth_oidc::testing::{API_AUDIENCE, CLIENT_SECRET, OidcPeer};
use workvault_auth_oidc::{OidcConfig, OidcError, OidcProvider};
use workvault_domain::identity::{AuthFlow, AuthorizationRequest, IdentityError, IdentityProvider, SignInCallback};
use workvault_domain::ports::Rng;
use workvault_domain::secret::Token;
use workvault_domain::testing::SeqRng;
use zeroize::Zeroizing;

const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/";

fn peer() -> OidcPeer {
    OidcPeer::start(&[REDIRECT], &[AFTER_LOGOUT])
}

fn config(peer: &OidcPeer) -> OidcConfig {
    let mut c = OidcConfig::new(peer.issuer(), "workvault", CLIENT_SECRET, REDIRECT.parse().unwrap(), API_AUDIENCE);
    c.post_logout_redirect_url = Some(AFTER_LOGOUT.parse().unwrap());
    c.leeway = Duration::from_secs(1);
    c.jwks_refetch_interval = Duration::from_secs(60);
    c
}

async fn provider(peer: &OidcPeer) -> OidcProvider {
    OidcProvider::discover(config(peer)).await.unwrap()
}

fn rng() -> SeqRng {
    SeqRng::starting_at(rand_seed())
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

struct Started {
    state: Token,
    flow: AuthFlow,
    url: String,
}

fn start(provider: &OidcProvider, rng: &dyn Rng, hint: Option<&str>) -> Started {
    let state = Token::generate(rng);
    let now = chrono::Utc::now();
    let flow = AuthFlow {
        state_hash: state.hash(),
        nonce: Token::generate(rng),
        pkce_verifier: Token::generate(rng),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(10),
    };
    let url = provider
        .authorization_url(&AuthorizationRequest {
            state: &state,
            nonce: &flow.nonce,
            pkce_verifier: &flow.pkce_verifier,
            login_hint: hint,
        })
        .unwrap();
    Started { state, flow, url }
}

fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn code_callback(code: &str, flow: &AuthFlow) -> SignInCallback {
    SignInCallback::Code { code: Zeroizing::new(code.to_owned()), flow: flow.clone() }
}

fn rejected(e: IdentityError) -> String {
    match e {
        IdentityError::Rejected(why) => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn code_flow_with_pkce_signs_in_the_provider_user() {
    let peer = peer();
    let provider = provider(&peer).await;
    assert_eq!(provider.issuer(), peer.issuer());
    let started = start(&provider, &rng(), Some("alice"));
    assert_eq!(query(&started.url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(&started.url, "state").as_deref(), Some(started.state.expose()));
    assert_eq!(query(&started.url, "nonce").as_deref(), Some(started.flow.nonce.expose()));
    assert!(query(&started.url, "code_verifier").is_none(), "the verifier never leaves the server");
    assert_ne!(query(&started.url, "code_challenge").as_deref(), Some(started.flow.pkce_verifier.expose()));

    let back = peer.browser_sign_in(&started.url, "alice").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some(started.state.expose()));
    let code = query(&back, "code").unwrap();
    let identity = provider.complete(&code_callback(&code, &started.flow)).await.unwrap();
    assert_eq!(identity.issuer, peer.issuer());
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.email.as_str(), "alice@workvault.test");

    // The code is single use at the provider.
    let again = rejected(provider.complete(&code_callback(&code, &started.flow)).await.unwrap_err());
    assert!(again.contains("invalid_grant"), "{again}");
}

#[tokio::test]
async fn a_wrong_nonce_or_verifier_is_refused() {
    let peer = peer();
    let provider = provider(&peer).await;
    let rng = rng();

    let started = start(&provider, &rng, Some("bob"));
    let code = query(&peer.browser_sign_in(&started.url, "bob").await, "code").unwrap();
    let mut other_nonce = started.flow.clone();
    other_nonce.nonce = Token::generate(&rng);
    let why = rejected(provider.complete(&code_callback(&code, &other_nonce)).await.unwrap_err());
    assert!(why.contains("nonce"), "{why}");

    let started = start(&provider, &rng, Some("bob"));
    let code = query(&peer.browser_sign_in(&started.url, "bob").await, "code").unwrap();
    let mut other_verifier = started.flow.clone();
    other_verifier.pkce_verifier = Token::generate(&rng);
    let why = rejected(provider.complete(&code_callback(&code, &other_verifier)).await.unwrap_err());
    assert!(why.contains("invalid_grant"), "{why}");

    let link = SignInCallback::Link(Token::generate(&rng));
    assert!(matches!(provider.complete(&link).await, Err(IdentityError::Unsupported(_))));
}

#[tokio::test]
async fn an_unknown_user_comes_back_refused() {
    let peer = peer();
    let provider = provider(&peer).await;
    let started = start(&provider, &rng(), None);
    let back = peer.browser_sign_in(&started.url, "mallory").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert!(query(&back, "code").is_none());
}

#[tokio::test]
async fn bearer_access_tokens_from_the_provider_are_accepted() {
    let peer = peer();
    let provider = provider(&peer).await;
    let tokens = peer.tokens_for("workvault", "alice", REDIRECT).await;
    let who = provider.verify_bearer(&tokens.access_token).await.unwrap();
    assert_eq!((who.issuer.as_str(), who.subject.as_str()), (peer.issuer(), "alice"));
    assert_eq!(who.email.unwrap().as_str(), "alice@workvault.test");

    let machine = peer.client_credentials("workvault").await;
    let who = provider.verify_bearer(&machine).await.unwrap();
    assert_eq!(who.subject, "workvault");
    assert_eq!(who.email, None);
}

/// `base` with `patch` applied (a `null` removes the claim).
fn patched(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn claims(peer: &OidcPeer, patch: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let base = json!({
        "iss": peer.issuer(), "aud": API_AUDIENCE, "sub": "alice",
        "iat": now, "exp": now + 300, "email": "alice@workvault.test",
    });
    patched(base, patch)
}

#[tokio::test]
async fn bearer_tokens_are_refused_for_each_failed_check() {
    let peer = peer();
    let provider = provider(&peer).await;
    let rs256 = json!({"alg": "RS256", "typ": "at+jwt"});

    // A hand-made token signed with the provider's own key passes: the cases below
    // each break one thing.
    let good = peer.sign(&rs256, &claims(&peer, json!({})));
    provider.verify_bearer(&good).await.unwrap();

    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", peer.sign(&rs256, &claims(&peer, json!({"exp": now - 120}))), "expired"),
        ("not yet valid", peer.sign(&rs256, &claims(&peer, json!({"nbf": now + 120}))), "not valid yet"),
        ("wrong audience", peer.sign(&rs256, &claims(&peer, json!({"aud": "https://other.api"}))), "audience"),
        ("no audience", peer.sign(&rs256, &claims(&peer, json!({"aud": null}))), "aud"),
        ("wrong issuer", peer.sign(&rs256, &claims(&peer, json!({"iss": "http://127.0.0.1:1"}))), "issuer"),
        ("no expiry", peer.sign(&rs256, &claims(&peer, json!({"exp": null}))), "exp"),
        ("alg none", peer.sign(&json!({"alg": "none"}), &claims(&peer, json!({}))), "alg none"),
        ("HS256 keyed with the public key", peer.sign(&json!({"alg": "HS256"}), &claims(&peer, json!({}))), "HS256"),
        ("not a JWT", "not-a-token".to_owned(), "not a signed JWT"),
    ];
    for (name, token, expect) in cases {
        let why = rejected(provider.verify_bearer(&token).await.unwrap_err());
        assert!(why.contains(expect), "{name}: {why}");
    }

    // Tampered: a real token with its payload changed (sub alice → bob).
    let real = peer.tokens_for("workvault", "alice", REDIRECT).await.access_token;
    let parts: Vec<&str> = real.split('.').collect();
    let payload = base64_decode(parts[1]);
    let forged = String::from_utf8(payload).unwrap().replace("\"sub\":\"alice\"", "\"sub\":\"bob\"");
    let tampered = format!("{}.{}.{}", parts[0], base64_encode(forged.as_bytes()), parts[2]);
    assert_ne!(tampered, real);
    let why = rejected(provider.verify_bearer(&tampered).await.unwrap_err());
    assert!(why.contains("signature"), "{why}");

    // Made to look like an access token otherwise, a token with a nonce (an ID token)
    // or an ID token's typ is refused; an unverified email makes no account.
    let with_nonce = peer.sign(&rs256, &claims(&peer, json!({"nonce": "n"})));
    assert!(rejected(provider.verify_bearer(&with_nonce).await.unwrap_err()).contains("ID token"));
    let id_typ = peer.sign(&json!({"alg": "RS256", "typ": "id_token+jwt"}), &claims(&peer, json!({})));
    assert!(rejected(provider.verify_bearer(&id_typ).await.unwrap_err()).contains("typ"));
    let unverified = peer.sign(&rs256, &claims(&peer, json!({"email_verified": false})));
    assert_eq!(provider.verify_bearer(&unverified).await.unwrap().email, None);
    let unknown = peer.sign(&rs256, &claims(&peer, json!({})));
    assert_eq!(provider.verify_bearer(&unknown).await.unwrap().email, None, "email_verified absent: not vouched for");
    let verified = peer.sign(&rs256, &claims(&peer, json!({"email_verified": true})));
    assert!(provider.verify_bearer(&verified).await.unwrap().email.is_some());

    // An ID token is not an access token: its audience is the client, not the API.
    let id_token = peer.tokens_for("workvault", "alice", REDIRECT).await.id_token;
    let why = rejected(provider.verify_bearer(&id_token).await.unwrap_err());
    assert!(why.contains("audience"), "{why}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[tokio::test]
async fn a_real_token_is_refused_once_it_expires() {
    let peer = peer();
    let provider = provider(&peer).await;
    let mut lenient = config(&peer);
    lenient.leeway = Duration::from_secs(120);
    let lenient = OidcProvider::discover(lenient).await.unwrap();
    // The `workvault-expiring` client's tokens live 2 s; leeway is 1 s here (and 120 s
    // on `lenient`, which shows that nothing but its age is wrong with the token).
    let token = peer.client_credentials("workvault-expiring").await;
    let claims: Value = serde_json::from_slice(&base64_decode(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 2);
    // Times are whole seconds: a token is good through `exp + leeway`, so wait past
    // iat + 2 + 1 by a full second.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    lenient.verify_bearer(&token).await.unwrap();
    let why = rejected(provider.verify_bearer(&token).await.unwrap_err());
    assert!(why.contains("expired"), "{why}");
}

#[tokio::test]
async fn an_unknown_key_id_refetches_once_then_is_refused() {
    let peer = peer();
    let provider = provider(&peer).await;
    assert_eq!(provider.jwks_fetches(), 1);
    let forged = peer.sign(&json!({"alg": "RS256", "kid": "k-not-published"}), &claims(&peer, json!({})));
    let why = rejected(provider.verify_bearer(&forged).await.unwrap_err());
    assert!(why.contains("does not publish"), "{why}");
    assert_eq!(provider.jwks_fetches(), 2, "one refetch for the unknown kid");
    // Within the refetch interval, more unknown kids cost no fetch.
    for _ in 0..5 {
        assert!(provider.verify_bearer(&forged).await.is_err());
    }
    assert_eq!(provider.jwks_fetches(), 2, "refetches are rate-limited");
}

#[tokio::test]
async fn keys_rotate_at_the_issuer_without_a_restart_here() {
    let mut peer = peer();
    // The usual rate limit (60 s here): the first unknown key id still refetches at once.
    let provider = Arc::new(provider(&peer).await);
    let before = peer.tokens_for("workvault", "alice", REDIRECT).await;
    provider.verify_bearer(&before.access_token).await.unwrap();
    let old_kid = peer.signing_kid();

    peer.rotate_keys();
    let new_kid = peer.signing_kid();
    assert_ne!(old_kid, new_kid);
    let after = peer.tokens_for("workvault", "bob", REDIRECT).await;
    let header: Value = serde_json::from_slice(&base64_decode(after.access_token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["kid"], new_kid, "the provider signs with the new key");
    // Many requests with the new key at once: all accepted, one fetch between them.
    let checks: Vec<_> = (0..8)
        .map(|_| {
            let (p, t) = (provider.clone(), after.access_token.clone());
            tokio::spawn(async move { p.verify_bearer(&t).await })
        })
        .collect();
    for check in checks {
        assert_eq!(check.await.unwrap().unwrap().subject, "bob");
    }
    assert_eq!(provider.jwks_fetches(), 2);
    // Tokens signed before the rotation stay valid (the old key is still published).
    provider.verify_bearer(&before.access_token).await.unwrap();

    // A sign-in whose ID token carries the new kid works too.
    let started = start(&provider, &rng(), Some("alice"));
    let code = query(&peer.browser_sign_in(&started.url, "alice").await, "code").unwrap();
    let identity = provider.complete(&code_callback(&code, &started.flow)).await.unwrap();
    assert_eq!(identity.subject, "alice");
}

#[tokio::test]
async fn sign_out_goes_to_the_end_session_endpoint() {
    let peer = peer();
    let provider = provider(&peer).await;
    let url = provider.end_session_url().expect("the provider publishes end_session_endpoint");
    assert!(url.starts_with(&format!("{}/session/end?", peer.issuer())), "{url}");
    assert_eq!(query(&url, "client_id").as_deref(), Some("workvault"));
    assert_eq!(query(&url, "post_logout_redirect_uri").as_deref(), Some(AFTER_LOGOUT));
}

#[tokio::test]
async fn a_provider_that_is_down_is_named_and_signs_nobody_in() {
    let mut peer = peer();
    let provider = provider(&peer).await;
    let started = start(&provider, &rng(), Some("alice"));
    let code = query(&peer.browser_sign_in(&started.url, "alice").await, "code").unwrap();
    peer.stop();
    let err = provider.complete(&code_callback(&code, &started.flow)).await.unwrap_err();
    assert!(matches!(err, IdentityError::Unavailable(_)), "{err:?}");

    let err = OidcProvider::discover(config(&peer)).await.unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err:?}");
    assert!(err.to_string().contains(peer.issuer()), "{err}");
}

#[tokio::test]
async fn a_configuration_naming_another_issuer_is_refused_at_discovery() {
    let peer = peer();
    let mut cfg = config(&peer);
    cfg.issuer = format!("{}/", peer.issuer());
    let err = OidcProvider::discover(cfg).await.unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let mut cfg = config(&peer);
    cfg.algorithms = vec!["HS256".into()];
    assert!(matches!(OidcProvider::discover(cfg).await, Err(OidcError::Config(_))));
}

fn id_claims(peer: &OidcPeer, patch: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let base = json!({
        "iss": peer.issuer(), "aud": "workvault", "sub": "alice", "iat": now, "exp": now + 300,
        "nonce": "the-nonce", "email": "alice@workvault.test", "email_verified": true,
    });
    patched(base, patch)
}

#[tokio::test]
async fn id_tokens_are_refused_for_each_failed_check() {
    let peer = peer();
    let provider = provider(&peer).await;
    let rs256 = json!({"alg": "RS256"});
    let good = peer.sign(&rs256, &id_claims(&peer, json!({})));
    let me = provider.check_id_token(&good, "the-nonce").await.unwrap();
    assert_eq!((me.subject.as_str(), me.email.as_str()), ("alice", "alice@workvault.test"));

    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("wrong nonce", good.clone(), "another-nonce", "nonce"),
        (
            "wrong audience",
            peer.sign(&rs256, &id_claims(&peer, json!({"aud": "other-client"}))),
            "the-nonce",
            "audience",
        ),
        (
            "wrong issuer",
            peer.sign(&rs256, &id_claims(&peer, json!({"iss": "http://127.0.0.1:1"}))),
            "the-nonce",
            "issuer",
        ),
        ("expired", peer.sign(&rs256, &id_claims(&peer, json!({"exp": now - 120}))), "the-nonce", "expired"),
        (
            "issued in the future",
            peer.sign(&rs256, &id_claims(&peer, json!({"iat": now + 600}))),
            "the-nonce",
            "future",
        ),
        ("alg none", peer.sign(&json!({"alg": "none"}), &id_claims(&peer, json!({}))), "the-nonce", "not"),
        (
            "HS256 keyed with the public key",
            peer.sign(&json!({"alg": "HS256"}), &id_claims(&peer, json!({}))),
            "the-nonce",
            "algorithm",
        ),
        (
            "unverified email",
            peer.sign(&rs256, &id_claims(&peer, json!({"email_verified": false}))),
            "the-nonce",
            "verified",
        ),
        ("no email", peer.sign(&rs256, &id_claims(&peer, json!({"email": null}))), "the-nonce", "email"),
    ];
    for (name, token, nonce, expect) in cases {
        let why = rejected(provider.check_id_token(&token, nonce).await.unwrap_err());
        assert!(why.contains(expect), "{name}: {why}");
    }
    // A key id the issuer does not publish: one refetch, then refused.
    let fetches = provider.jwks_fetches();
    let unknown = peer.sign(&json!({"alg": "RS256", "kid": "k-nowhere"}), &id_claims(&peer, json!({})));
    let why = rejected(provider.check_id_token(&unknown, "the-nonce").await.unwrap_err());
    assert!(why.contains("does not publish"), "{why}");
    assert_eq!(provider.jwks_fetches(), fetches + 1);
}

#[tokio::test]
async fn an_id_token_signed_with_a_rotated_key_refetches_the_keys() {
    let mut peer = peer();
    let provider = provider(&peer).await;
    peer.rotate_keys();
    let token = peer.sign(&json!({"alg": "RS256"}), &id_claims(&peer, json!({})));
    provider.check_id_token(&token, "the-nonce").await.unwrap();
    assert_eq!(provider.jwks_fetches(), 2);
}
