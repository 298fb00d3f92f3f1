//! Invites, joins and ownership under concurrency.

use std::sync::Arc;

use chrono::Duration;
use workvault_domain::id::{UserId, WorkspaceId};
use workvault_domain::page::PageRequest;
use workvault_domain::policy::{DenyReason, Role};
use workvault_domain::ports::Store;
use workvault_domain::service::InviteRequest;
use workvault_domain::{Ctx, Error};

use super::*;
use crate::Fixture;

/// Two users racing to accept one invite: exactly one joins.
pub async fn concurrent_accepts_of_one_invite_exactly_one_wins(store: Arc<dyn Store>) {
    let f = Fixture::new(store);
    let (owner, u1, u2) = (f.user("owner").await, f.user("u1").await, f.user("u2").await);
    let ws = f.workspace(&owner, "Race").await;
    for round in 0..5 {
        let (_, token) = f.app.create_invite(&owner, ws, InviteRequest::default()).await.expect("invite");
        let (a, b) = (f.app.clone(), f.app.clone());
        let (t1, t2) = (token.clone(), token.clone());
        let (c1, c2) = (f.user(&format!("racer{round}x1")).await, f.user(&format!("racer{round}x2")).await);
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { a.accept_invite(&c1, &t1).await.map(|_| ()) }),
            tokio::spawn(async move { b.accept_invite(&c2, &t2).await.map(|_| ()) }),
        );
        let results = [r1.expect("task"), r2.expect("task")];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(Error::InviteUsed))), "{results:?}");
    }
    let _ = (u1, u2);
    let members = f.app.members(&owner, ws, PageRequest::first()).await.expect("members");
    assert_eq!(members.items.len(), 1 + 5);
}

/// One user racing through two invites to the same workspace: one membership.
pub async fn concurrent_joins_by_one_user_exactly_one_wins(store: Arc<dyn Store>) {
    let f = Fixture::new(store);
    let (owner, bob) = (f.user("owner").await, f.user("bob").await);
    let ws = f.workspace(&owner, "Race").await;
    let (_, t1) = f.app.create_invite(&owner, ws, InviteRequest::default()).await.expect("invite");
    let (_, t2) = f
        .app
        .create_invite(&owner, ws, InviteRequest { role: Some(Role::Restricted), ..Default::default() })
        .await
        .expect("invite");
    let before = f.audit_len(ws).await;
    let (a, b) = (f.app.clone(), f.app.clone());
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { a.accept_invite(&bob, &t1).await.map(|_| ()) }),
        tokio::spawn(async move { b.accept_invite(&bob, &t2).await.map(|_| ()) }),
    );
    let results = [r1.expect("task"), r2.expect("task")];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().any(|r| matches!(r, Err(Error::AlreadyMember))), "{results:?}");
    assert_eq!(f.audit_len(ws).await, before + 1, "only the winner is audited");
    // The loser's invite is still pending: the failed accept changed nothing.
    assert_eq!(f.app.invites(&owner, ws, PageRequest::first()).await.expect("invites").items.len(), 1);
}

/// Two concurrent transfers by the Owner: exactly one succeeds, and at every moment
/// the workspace has exactly one Owner.
pub async fn concurrent_ownership_transfers_leave_exactly_one_owner(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    for round in 0..5 {
        let ws = f.workspace(&owner, &format!("Transfer {round}")).await;
        let (b, c) = (f.user(&format!("b{round}")).await, f.user(&format!("c{round}")).await);
        f.join(&owner, ws, &b, Role::Admin).await;
        f.join(&owner, ws, &c, Role::Member).await;
        let (x, y) = (f.app.clone(), f.app.clone());
        let (to_b, to_c) = (b.user, c.user);
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { x.transfer_ownership(&owner, ws, to_b).await }),
            tokio::spawn(async move { y.transfer_ownership(&owner, ws, to_c).await }),
        );
        let results = [r1.expect("task"), r2.expect("task")];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(
            results.iter().all(|r| matches!(
                r,
                Ok(_) | Err(Error::NotOwner) | Err(Error::Forbidden(DenyReason::RoleInsufficient))
            ))
        );
        let members = store.members(ws, PageRequest::first()).await.expect("members").items;
        let owners: Vec<_> = members.iter().filter(|m| m.membership.role == Role::Owner).collect();
        assert_eq!(owners.len(), 1, "round {round}");
        assert_ne!(owners[0].membership.user_id, owner.user);
        assert_eq!(f.role_of(ws, owner.user).await, Some(Role::Admin));
    }
}

/// An invite admits once, never at or after its expiry, never after revocation.
pub async fn invites_are_single_use_and_expire_exactly_at_expiry(store: Arc<dyn Store>) {
    let f = Fixture::new(store);
    let (alice, bob, carol, dave) =
        (f.user("alice").await, f.user("bob").await, f.user("carol").await, f.user("dave").await);
    let ws = f.workspace(&alice, "Invites").await;
    let ttl = Duration::hours(2);
    let (_, token) = f
        .app
        .create_invite(&alice, ws, InviteRequest { expires_in: Some(ttl), ..Default::default() })
        .await
        .expect("invite");
    let (_, early) = f
        .app
        .create_invite(&alice, ws, InviteRequest { expires_in: Some(ttl), ..Default::default() })
        .await
        .expect("invite");
    f.clock.advance(ttl - Duration::microseconds(1));
    f.app.accept_invite(&dave, &early).await.expect("usable one microsecond before expiry");
    f.clock.advance(Duration::microseconds(1));
    assert!(matches!(f.app.accept_invite(&bob, &token).await, Err(Error::InviteExpired)));
    assert!(matches!(f.app.accept_invite(&carol, &early).await, Err(Error::InviteUsed)));

    let (revoked, rtoken) = f.app.create_invite(&alice, ws, InviteRequest::default()).await.expect("invite");
    f.app.revoke_invite(&alice, ws, revoked.id).await.expect("revoke");
    assert!(matches!(f.app.accept_invite(&bob, &rtoken).await, Err(Error::InviteRevoked)));
    assert!(matches!(f.app.revoke_invite(&alice, ws, revoked.id).await, Err(Error::NotFound)));

    let unknown = unknown_token();
    assert!(matches!(f.app.accept_invite(&bob, &unknown).await, Err(Error::NotFound)));

    let (_, for_carol) = f
        .app
        .create_invite(&alice, ws, InviteRequest { email: Some("carol@example.test".into()), ..Default::default() })
        .await
        .expect("invite");
    assert!(matches!(f.app.accept_invite(&bob, &for_carol).await, Err(Error::InviteEmailMismatch)));
    let (_, m) = f.app.accept_invite(&carol, &for_carol).await.expect("carol accepts");
    assert_eq!(m.role, Role::Member);
    assert_eq!(f.role_of(ws, bob.user).await, None);
}

/// An invite carries its creator's authority as it is now: once the creator is removed
/// (their pending invites are revoked) or demoted below the invited role, it admits nobody.
pub async fn invites_die_with_their_creators_authority(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, admin, demoted, joiner) =
        (f.user("owner").await, f.user("admin").await, f.user("demoted").await, f.user("joiner").await);
    let ws = f.workspace(&owner, "Authority").await;
    f.join(&owner, ws, &admin, Role::Admin).await;
    f.join(&owner, ws, &demoted, Role::Admin).await;
    let (_, from_admin) = f.app.create_invite(&admin, ws, InviteRequest::default()).await.expect("invite");
    let (_, from_demoted) = f.app.create_invite(&demoted, ws, InviteRequest::default()).await.expect("invite");
    assert_eq!(f.app.invites(&owner, ws, PageRequest::first()).await.expect("invites").items.len(), 2);

    f.app.remove_member(&owner, ws, admin.user).await.expect("remove");
    assert_eq!(
        f.app.invites(&owner, ws, PageRequest::first()).await.expect("invites").items.len(),
        1,
        "revoked with the member"
    );
    assert!(matches!(f.app.accept_invite(&joiner, &from_admin).await, Err(Error::InviteRevoked)));

    f.app.change_role(&owner, ws, demoted.user, Role::Member).await.expect("demote");
    assert!(matches!(f.app.accept_invite(&joiner, &from_demoted).await, Err(Error::InviteRevoked)));
    assert_eq!(f.role_of(ws, joiner.user).await, None);
}

/// The ids the last `action` event on `member` names in `key` (`grants_revoked`,
/// `invites_revoked`), sorted.
async fn ended_in_audit(f: &Fixture, ws: WorkspaceId, action: &str, member: UserId, key: &str) -> Vec<String> {
    let chain = f.store.audit_chain(ws, 0, 100_000).await.expect("audit chain");
    let event = chain
        .iter()
        .rev()
        .find(|e| e.action == action && e.target_id == member.to_string())
        .expect("the change is audited");
    let details: serde_json::Value = serde_json::from_str(&event.details).expect("details");
    let mut ids: Vec<String> =
        details[key].as_array().expect(key).iter().map(|v| v.as_str().expect("id").to_owned()).collect();
    ids.sort();
    ids
}

fn sorted(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids
}

/// A role given back revives nothing the role change ended: Restricted → Member →
/// Restricted leaves no grant; an Admin demoted and promoted again finds their pending
/// invites revoked; an Owner who hands over ownership and gets it back finds their
/// Admin invites revoked and keeps those an Admin may still make. The role change's
/// audit event names what it ended.
pub async fn a_role_round_trip_revives_no_grant_and_no_invite(store: Arc<dyn Store>) {
    let f = Fixture::new(store);
    let (owner, admin, worker) = (f.user("owner").await, f.user("admin").await, f.user("worker").await);
    let joiners = [f.user("j1").await, f.user("j2").await, f.user("j3").await, f.user("j4").await];
    let ws = f.workspace(&owner, "Round trip").await;
    f.join(&owner, ws, &admin, Role::Admin).await;
    f.join(&owner, ws, &worker, Role::Restricted).await;

    // Grants: Restricted → Member ends them; back to Restricted, none returns.
    let roof = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let gutter = f.app.create_job(&owner, ws, job("Gutter")).await.expect("job").id;
    for j in [roof, gutter] {
        f.app.grant_job(&owner, ws, j, worker.user).await.expect("grant");
    }
    f.app.job(&worker, ws, roof).await.expect("granted");
    f.app.change_role(&owner, ws, worker.user, Role::Member).await.expect("promote");
    let ended = ended_in_audit(&f, ws, "member.role_changed", worker.user, "grants_revoked").await;
    assert_eq!(ended, sorted([roof.to_string(), gutter.to_string()]), "the promotion names the grants it ended");
    f.app.change_role(&owner, ws, worker.user, Role::Restricted).await.expect("demote");
    assert!(ended_in_audit(&f, ws, "member.role_changed", worker.user, "grants_revoked").await.is_empty());
    for j in [roof, gutter] {
        assert!(matches!(f.app.job(&worker, ws, j).await, Err(Error::NotFound)), "no grant came back");
        assert!(f.app.grants(&owner, ws, j).await.expect("grants").is_empty());
    }

    // Invites: an Admin demoted and promoted again; their invites stay revoked.
    let invite = |by: Ctx, role: Role| {
        let app = f.app.clone();
        async move {
            let req = InviteRequest { role: Some(role), ..Default::default() };
            app.create_invite(&by, ws, req).await.expect("invite")
        }
    };
    let (as_member, member_token) = invite(admin, Role::Member).await;
    let (as_restricted, restricted_token) = invite(admin, Role::Restricted).await;
    f.app.change_role(&owner, ws, admin.user, Role::Member).await.expect("demote the admin");
    let ended = ended_in_audit(&f, ws, "member.role_changed", admin.user, "invites_revoked").await;
    assert_eq!(ended, sorted([as_member.id.to_string(), as_restricted.id.to_string()]));
    assert!(f.app.invites(&owner, ws, PageRequest::first()).await.expect("invites").items.is_empty());
    f.app.change_role(&owner, ws, admin.user, Role::Admin).await.expect("promote again");
    for (joiner, token) in joiners[..2].iter().zip([&member_token, &restricted_token]) {
        assert!(matches!(f.app.accept_invite(joiner, token).await, Err(Error::InviteRevoked)));
    }

    // The Owner hands ownership over and gets it back: the Admin invite is gone, the
    // Member invite (an Admin may make it) stays.
    let (as_admin, admin_token) = invite(owner, Role::Admin).await;
    let (_, kept_token) = invite(owner, Role::Member).await;
    f.app.transfer_ownership(&owner, ws, admin.user).await.expect("hand over");
    let ended = ended_in_audit(&f, ws, "workspace.ownership_transferred", admin.user, "invites_revoked").await;
    assert_eq!(ended, [as_admin.id.to_string()]);
    f.app.transfer_ownership(&admin, ws, owner.user).await.expect("hand back");
    assert!(matches!(f.app.accept_invite(&joiners[2], &admin_token).await, Err(Error::InviteRevoked)));
    assert_eq!(f.role_of(ws, joiners[2].user).await, None);
    let (_, joined) = f.app.accept_invite(&joiners[3], &kept_token).await.expect("the kept invite admits");
    assert_eq!(joined.role, Role::Member);
    assert!(f.app.verify_audit(&owner, ws).await.is_ok_and(|r| intact(&r)));
}
