//! Redirect sign-ins (OpenID Connect) as the store keeps them: flows taken once,
//! expiring, bound to the browser; users found by `(issuer, subject)` for bearer tokens.
//! The provider here is a stand-in for the port (the real one is tested against a real
//! OpenID Connect provider in `workvault-auth-oidc` and the HTTP tests): it vouches for
//! whoever presents the code `good`, and checks that the flow handed over is the one
//! the sign-in started with.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use workvault_domain::identity::{
    AuthFlow, AuthorizationRequest, BearerIdentity, IdentityError, IdentityProvider, SignInCallback, SignInMethod,
};
use workvault_domain::model::Identity;
use workvault_domain::ports::{Conflict, Store, StoreError};
use workvault_domain::secret::Token;
use workvault_domain::text::Email;
use workvault_domain::{AuthorizationReply, Error};
use zeroize::Zeroizing;

use super::unknown_token;
use crate::Fixture;

const ISSUER: &str = "https://issuer.example/";

/// The stand-in provider: the URL carries state and nonce so the test can read them back.
#[derive(Debug)]
struct Stand;

#[async_trait]
impl IdentityProvider for Stand {
    fn issuer(&self) -> &str {
        ISSUER
    }
    fn method(&self) -> SignInMethod {
        SignInMethod::Redirect
    }
    fn authorization_url(&self, r: &AuthorizationRequest<'_>) -> Result<String, IdentityError> {
        Ok(format!("{ISSUER}auth?state={}&nonce={}", r.state.expose(), r.nonce.expose()))
    }
    async fn complete(&self, callback: &SignInCallback) -> Result<Identity, IdentityError> {
        let SignInCallback::Code { code, flow } = callback else { return Err(IdentityError::Unsupported("links")) };
        if code.as_str() != "good" {
            return Err(IdentityError::Rejected("the provider refused the code (invalid_grant)".into()));
        }
        Ok(Identity {
            issuer: ISSUER.into(),
            subject: format!("sub-{}", &flow.nonce.expose()[..8]),
            email: Email::parse("redirect@example.test").expect("email"),
        })
    }
    async fn verify_bearer(&self, token: &str) -> Result<BearerIdentity, IdentityError> {
        let (subject, email) = token.split_once(':').ok_or_else(|| IdentityError::Rejected("bad".into()))?;
        Ok(BearerIdentity {
            issuer: ISSUER.into(),
            subject: subject.into(),
            email: (!email.is_empty()).then(|| Email::parse(email).expect("email")),
        })
    }
    fn end_session_url(&self) -> Option<String> {
        None
    }
}

fn state_of(url: &str) -> String {
    url.split("state=").nth(1).and_then(|s| s.split('&').next()).expect("state in url").to_owned()
}

fn reply(state: &str, code: &str) -> AuthorizationReply {
    AuthorizationReply {
        state: Some(state.to_owned()),
        code: Some(Zeroizing::new(code.to_owned())),
        ..Default::default()
    }
}

fn failed(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::SignInFailed(why)) => why,
        other => panic!("expected SignInFailed, got {other:?}"),
    }
}

/// A redirect sign-in is finished once, only by the browser that started it, only
/// before the flow expires, and a refusal from the provider signs nobody in.
pub async fn redirect_sign_ins_are_single_use_bound_and_expiring(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let p = Stand;

    let started = f.app.begin_sign_in(&p, Some("hint")).await.expect("start");
    let state = state_of(&started.url);
    assert_eq!(state, started.state.expose());
    // Another browser (no cookie, or another flow's cookie) cannot finish it…
    let other = f.app.begin_sign_in(&p, None).await.expect("start");
    assert!(failed(f.app.finish_sign_in(&p, &reply(&state, "good"), None, None).await).contains("another browser"));
    let wrong = other.state.expose().to_owned();
    assert!(
        failed(f.app.finish_sign_in(&p, &reply(&state, "good"), Some(&wrong), None).await).contains("another browser")
    );
    // …and trying did not use it up: the right browser finishes it, once.
    let start = f.app.finish_sign_in(&p, &reply(&state, "good"), Some(&state), None).await.expect("signed in");
    assert_eq!(start.user.issuer, ISSUER);
    assert!(f.app.authenticate(&start.token).await.expect("auth").is_some());
    let replay = f.app.finish_sign_in(&p, &reply(&state, "good"), Some(&state), None).await;
    assert!(failed(replay).contains("finished already"));

    // A refusal (error=access_denied) or a bad code uses the flow up and signs nobody in.
    let denied = f.app.begin_sign_in(&p, None).await.expect("start");
    let s = denied.state.expose().to_owned();
    let r = AuthorizationReply { state: Some(s.clone()), error: Some("access_denied".into()), ..Default::default() };
    assert!(
        matches!(f.app.finish_sign_in(&p, &r, Some(&s), None).await, Err(Error::SignInDenied(c)) if c == "access_denied")
    );
    assert!(failed(f.app.finish_sign_in(&p, &reply(&s, "good"), Some(&s), None).await).contains("finished already"));
    let bad = f.app.begin_sign_in(&p, None).await.expect("start");
    let s = bad.state.expose().to_owned();
    assert!(failed(f.app.finish_sign_in(&p, &reply(&s, "bad"), Some(&s), None).await).contains("invalid_grant"));
    // An answer naming another issuer (mix-up) is refused.
    let mixed = f.app.begin_sign_in(&p, None).await.expect("start");
    let s = mixed.state.expose().to_owned();
    let r = AuthorizationReply { issuer: Some("https://evil.example/".into()), ..reply(&s, "good") };
    assert!(failed(f.app.finish_sign_in(&p, &r, Some(&s), None).await).contains("another issuer"));
    // Malformed, missing and unknown states.
    for state in [None, Some("short".to_owned()), Some(unknown_token().expose().to_owned())] {
        let r = AuthorizationReply { state: state.clone(), ..reply("", "good") };
        assert!(f.app.finish_sign_in(&p, &r, state.as_deref(), None).await.is_err());
    }
    // A missing code.
    let nocode = f.app.begin_sign_in(&p, None).await.expect("start");
    let s = nocode.state.expose().to_owned();
    let r = AuthorizationReply { state: Some(s.clone()), ..Default::default() };
    assert!(failed(f.app.finish_sign_in(&p, &r, Some(&s), None).await).contains("no code"));

    // A flow expires exactly at its expiry.
    let late = f.app.begin_sign_in(&p, None).await.expect("start");
    let s = late.state.expose().to_owned();
    f.clock.advance(f.app.lifetimes().sign_in_flow);
    assert!(failed(f.app.finish_sign_in(&p, &reply(&s, "good"), Some(&s), None).await).contains("expired"));
}

/// Flows are taken out of the store at once; a taken or expired flow is gone; a
/// duplicate state conflicts; the clean-up deletes flows nobody finished.
pub async fn auth_flows_are_taken_once(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let now = f.clock_now();
    let rng = workvault_domain::testing::SeqRng::starting_at(7 << 40);
    let flow = |state: &Token| AuthFlow {
        state_hash: state.hash(),
        nonce: Token::generate(&rng),
        pkce_verifier: Token::generate(&rng),
        created_at: now,
        expires_at: now + Duration::minutes(10),
    };
    let s1 = Token::generate(&rng);
    let f1 = flow(&s1);
    store.create_auth_flow(&f1).await.expect("create");
    assert!(matches!(store.create_auth_flow(&f1).await, Err(StoreError::Conflict(Conflict::Duplicate))));
    let taken = store.take_auth_flow(&s1.hash(), now).await.expect("take").expect("there");
    assert_eq!(taken.nonce.expose(), f1.nonce.expose());
    assert_eq!(taken.pkce_verifier.expose(), f1.pkce_verifier.expose());
    assert_eq!((taken.created_at, taken.expires_at), (f1.created_at, f1.expires_at));
    assert!(store.take_auth_flow(&s1.hash(), now).await.expect("take").is_none(), "taken once");

    // Two racing takes of one flow: exactly one gets it.
    let s2 = Token::generate(&rng);
    store.create_auth_flow(&flow(&s2)).await.expect("create");
    let (a, b) = (store.clone(), store.clone());
    let (h1, h2) = (s2.hash(), s2.hash());
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { a.take_auth_flow(&h1, now).await }),
        tokio::spawn(async move { b.take_auth_flow(&h2, now).await }),
    );
    let got = [r1.expect("task").expect("take"), r2.expect("task").expect("take")];
    assert_eq!(got.iter().filter(|g| g.is_some()).count(), 1);

    // Expired: not handed out, and gone.
    let s3 = Token::generate(&rng);
    store.create_auth_flow(&flow(&s3)).await.expect("create");
    assert!(store.take_auth_flow(&s3.hash(), now + Duration::minutes(10)).await.expect("take").is_none());
    assert!(store.take_auth_flow(&s3.hash(), now).await.expect("take").is_none(), "an expired take deletes it");

    // The clean-up keeps live flows and deletes an unfinished one once it ended.
    let (s4, s5) = (Token::generate(&rng), Token::generate(&rng));
    store.create_auth_flow(&flow(&s4)).await.expect("create");
    store.create_auth_flow(&flow(&s5)).await.expect("create");
    store.prune_credentials(now).await.expect("prune");
    assert!(store.take_auth_flow(&s5.hash(), now).await.expect("take").is_some(), "a live flow survives the clean-up");
    let pruned = store.prune_credentials(now + Duration::minutes(11)).await.expect("prune");
    assert!(pruned >= 1, "the unfinished flow went");
    assert!(store.take_auth_flow(&s4.hash(), now).await.expect("take").is_none());
}

/// Bearer tokens map to users by `(issuer, subject)` with one read; someone new is
/// created on first use only when the token carries an email.
pub async fn bearer_users_are_found_by_issuer_and_subject(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let p = Stand;
    assert!(matches!(f.app.authenticate_bearer(&p, "nobody:").await, Err(Error::AccountUnknown)));
    assert!(store.user_by_identity(ISSUER, "nobody").await.expect("read").is_none());
    let created = f.app.authenticate_bearer(&p, "api-user:api@example.test").await.expect("created on first use");
    let again = f.app.authenticate_bearer(&p, "api-user:").await.expect("found without email");
    assert_eq!(created, again);
    let user = store.user_by_identity(ISSUER, "api-user").await.expect("read").expect("there");
    assert_eq!((user.id, user.email.as_str()), (created, "api@example.test"));
    assert!(store.user_by_identity("https://other.example/", "api-user").await.expect("read").is_none());
    assert!(store.user_by_identity(ISSUER, "api-user2").await.expect("read").is_none());
    // A refusal from the provider is a rejected token, not an unknown account.
    assert!(matches!(f.app.authenticate_bearer(&p, "garbage").await, Err(Error::TokenRejected(_))));
}
