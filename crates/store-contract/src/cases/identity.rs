//! Users, sign-in links and sessions.

use std::sync::Arc;

use workvault_domain::policy::Role;

use chrono::Duration;
use workvault_domain::Error;
use workvault_domain::model::{Identity, SignInLink};
use workvault_domain::ports::{Conflict, SignInCallback, Store, StoreError};
use workvault_domain::secret::Token;
use workvault_domain::signin::LocalSignIn;
use workvault_domain::text::Email;

use super::*;
use crate::Fixture;

/// A local sign-in link signs in once, and not from its expiry on; checking it (for its
/// confirmation page) uses nothing up.
pub async fn sign_in_links_are_single_use_and_expire(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let provider = LocalSignIn::new(store.clone(), f.clock.clone());
    let (link, token) = f.app.issue_sign_in_link("Newcomer@Example.test").await.expect("link");
    assert_eq!(link.expires_at - link.created_at, Duration::minutes(15));
    let cb = |t: &Token| SignInCallback::Link(t.clone());
    // Checking a link (its confirmation page) uses nothing up, however often.
    for _ in 0..2 {
        f.app.check_sign_in_link(&provider, &token).await.expect("usable");
    }
    assert!(store.sign_in_link(&token.hash()).await.expect("read").expect("stored").used_at.is_none());
    let start = f.app.sign_in(&provider, &cb(&token), None).await.expect("first use signs in");
    assert_eq!(start.user.email.as_str(), "newcomer@example.test");
    assert!(matches!(f.app.sign_in(&provider, &cb(&token), None).await, Err(Error::SignInLinkUsed)));
    assert!(matches!(f.app.check_sign_in_link(&provider, &token).await, Err(Error::SignInLinkUsed)));

    let (_, late) = f.app.issue_sign_in_link("late@example.test").await.expect("link");
    f.clock.advance(Duration::minutes(15));
    assert!(matches!(f.app.sign_in(&provider, &cb(&late), None).await, Err(Error::SignInLinkExpired)));
    assert!(matches!(f.app.check_sign_in_link(&provider, &late).await, Err(Error::SignInLinkExpired)));
    let unknown = unknown_token();
    assert!(matches!(f.app.sign_in(&provider, &cb(&unknown), None).await, Err(Error::SignInLinkInvalid)));
    assert!(matches!(f.app.check_sign_in_link(&provider, &unknown).await, Err(Error::SignInLinkInvalid)));
    // The same person signing in again is the same user.
    let (_, again) = f.app.issue_sign_in_link("newcomer@example.test").await.expect("link");
    let second = f.app.sign_in(&provider, &cb(&again), None).await.expect("sign in");
    assert_eq!(second.user.id, start.user.id);
    // A stored link is found only by its hash, and consuming one twice conflicts.
    let stored: Option<SignInLink> = store.sign_in_link(&again.hash()).await.expect("read");
    assert!(stored.expect("stored").used_at.is_some());
    assert!(matches!(
        store.consume_sign_in_link(&again.hash(), f.clock_now()).await,
        Err(StoreError::Conflict(Conflict::LinkNotPending))
    ));
}

/// Sessions end at their hard expiry, after idling, and when revoked.
pub async fn sessions_expire_idle_and_absolute_and_are_revocable(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let identity = Identity {
        issuer: "local".into(),
        subject: "s@example.test".into(),
        email: Email::parse("s@example.test").expect("email"),
    };
    let lt = f.app.lifetimes();

    let idle = f.app.open_session(&identity, None).await.expect("session");
    f.clock.advance(lt.session_idle - Duration::seconds(1));
    assert!(f.app.authenticate(&idle.token).await.expect("auth").is_some(), "activity just inside the idle window");
    f.clock.advance(lt.session_idle);
    assert!(f.app.authenticate(&idle.token).await.expect("auth").is_none(), "idle too long");

    let busy = f.app.open_session(&identity, None).await.expect("session");
    let mut elapsed = Duration::zero();
    while elapsed + lt.session_idle / 2 < lt.session_absolute {
        f.clock.advance(lt.session_idle / 2);
        elapsed += lt.session_idle / 2;
        assert!(f.app.authenticate(&busy.token).await.expect("auth").is_some());
    }
    f.clock.advance(lt.session_absolute - elapsed);
    assert!(f.app.authenticate(&busy.token).await.expect("auth").is_none(), "hard expiry, however active");

    let revoked = f.app.open_session(&identity, None).await.expect("session");
    let session = f.app.authenticate(&revoked.token).await.expect("auth").expect("live");
    f.app.sign_out(&session, None).await.expect("sign out");
    assert!(f.app.authenticate(&revoked.token).await.expect("auth").is_none());
    assert!(matches!(f.app.sign_out(&session, None).await, Err(Error::NotFound)));
}

/// Users are keyed by `(issuer, subject)`: the same email at two issuers is two users,
/// and a new email for the same subject updates the user.
pub async fn users_are_keyed_by_issuer_and_subject(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let email = Email::parse("same@example.test").expect("email");
    let local = Identity { issuer: "local".into(), subject: "same@example.test".into(), email: email.clone() };
    let oidc = Identity { issuer: "https://tenant.auth0.com/".into(), subject: "auth0|123".into(), email };
    let a = f.app.open_session(&local, None).await.expect("local").user;
    let b = f.app.open_session(&oidc, None).await.expect("oidc").user;
    assert_ne!(a.id, b.id);
    let moved = Identity { email: Email::parse("new@example.test").expect("email"), ..oidc.clone() };
    let b2 = f.app.open_session(&moved, None).await.expect("oidc again").user;
    assert_eq!(b2.id, b.id);
    assert_eq!(b2.email.as_str(), "new@example.test");
    // Concurrent first sign-ins of one identity make one user.
    let fresh = Identity {
        issuer: "local".into(),
        subject: "race@example.test".into(),
        email: Email::parse("race@example.test").expect("email"),
    };
    let (x, y) = (f.app.clone(), f.app.clone());
    let (f1, f2) = (fresh.clone(), fresh);
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { x.open_session(&f1, None).await }),
        tokio::spawn(async move { y.open_session(&f2, None).await }),
    );
    let (u1, u2) = (r1.expect("task").expect("sign in").user, r2.expect("task").expect("sign in").user);
    assert_eq!(u1.id, u2.id);
}

/// An Owner or Admin lists a member's live sessions and signs one out at once; the
/// other sessions stay, another user's session id is not found, and it is audited.
pub async fn member_sessions_are_listed_and_revoked_one_by_one(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (alice, bob, carol) = (f.user("alice").await, f.user("bob").await, f.user("carol").await);
    let ws = f.workspace(&alice, "Sessions").await;
    f.join(&alice, ws, &bob, Role::Member).await;
    f.join(&alice, ws, &carol, Role::Member).await;
    let identity = Identity {
        issuer: "local".into(),
        subject: "bob@example.test".into(),
        email: Email::parse("bob@example.test").expect("email"),
    };
    let phone = f.app.open_session(&identity, None).await.expect("session");
    f.clock.advance(Duration::seconds(1));
    let laptop = f.app.open_session(&identity, None).await.expect("session");
    let mut before = f.app.member_sessions(&alice, ws, bob.user).await.expect("list");
    assert_eq!(before.len(), 3, "the fixture's session and two more");
    let laptop_id = f.app.authenticate(&laptop.token).await.expect("auth").expect("live").id;
    assert_eq!(before.remove(0).id, laptop_id, "newest first");

    let events = f.audit_len(ws).await;
    f.app.revoke_member_session(&alice, ws, bob.user, laptop_id).await.expect("revoke");
    assert_eq!(f.audit_len(ws).await, events + 1, "audited");
    assert!(f.app.authenticate(&laptop.token).await.expect("auth").is_none(), "signed out at once");
    assert!(f.app.authenticate(&phone.token).await.expect("auth").is_some(), "the other sessions stay");
    assert_eq!(f.app.member_sessions(&alice, ws, bob.user).await.expect("list").len(), 2);
    assert!(matches!(f.app.revoke_member_session(&alice, ws, bob.user, laptop_id).await, Err(Error::NotFound)));
    let carols = f.app.member_sessions(&alice, ws, carol.user).await.expect("list")[0].id;
    assert!(
        matches!(f.app.revoke_member_session(&alice, ws, bob.user, carols).await, Err(Error::NotFound)),
        "not bob's"
    );
    assert!(matches!(f.app.member_sessions(&carol, ws, bob.user).await, Err(Error::Forbidden(_))), "members may not");
    assert!(matches!(f.app.member_sessions(&bob, ws, alice.user).await, Err(Error::Forbidden(_))));
    assert_eq!(f.audit_len(ws).await, events + 1, "refusals write nothing");
}
