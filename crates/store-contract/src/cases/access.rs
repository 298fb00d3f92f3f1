//! Tenant isolation, NotFound versus empty, pagination, atomicity, and writes decided on facts that changed.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use workvault_domain::Error;
use workvault_domain::id::{InviteId, JobId, WorkspaceId};
use workvault_domain::model::Identity;
use workvault_domain::page::PageRequest;
use workvault_domain::policy::{DenyReason, Role};
use workvault_domain::ports::{Conflict, Store, StoreError};
use workvault_domain::service::{InviteRequest, JobChange};
use workvault_domain::text::{Email, Name};

use super::*;
use crate::Fixture;

/// Nothing of workspace A is reachable with workspace B's ids, through any port.
pub async fn tenant_isolation(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (alice, bob) = (f.user("alice").await, f.user("bob").await);
    let a = f.workspace(&alice, "A").await;
    let b = f.workspace(&bob, "B").await;
    let job_a = f.app.create_job(&alice, a, job("A's job")).await.expect("create job").id;
    let (invite_a, _) = f.app.create_invite(&alice, a, InviteRequest::default()).await.expect("invite");

    // Bob, Owner of B, reaches nothing of A: not with A's ids, not by mixing B's.
    assert!(store.workspace_for(bob.user, a).await.expect("read").is_none());
    assert!(store.job_for(bob.user, a, job_a).await.expect("read").is_none());
    assert!(store.job_for(bob.user, b, job_a).await.expect("read").is_none());
    assert!(store.job_for(alice.user, b, job_a).await.expect("read").is_none());
    assert!(store.jobs_for(bob.user, a, PageRequest::first()).await.expect("read").is_none());
    let b_jobs = store.jobs_for(bob.user, b, PageRequest::first()).await.expect("read").expect("member of B");
    assert!(b_jobs.1.items.is_empty());

    let not_found = |r: Result<(), Error>| matches!(r, Err(Error::NotFound));
    assert!(matches!(f.app.workspace(&bob, a).await, Err(Error::NotFound)));
    assert!(matches!(f.app.job(&bob, a, job_a).await, Err(Error::NotFound)));
    assert!(matches!(f.app.job(&bob, b, job_a).await, Err(Error::NotFound)));
    assert!(matches!(f.app.members(&bob, a, PageRequest::first()).await, Err(Error::NotFound)));
    assert!(matches!(f.app.audit_events(&bob, a, PageRequest::first()).await, Err(Error::NotFound)));
    assert!(matches!(
        f.app.update_job(&bob, b, job_a, JobChange { title: Some("x".into()), ..Default::default() }).await,
        Err(Error::NotFound)
    ));
    assert!(not_found(f.app.delete_job(&bob, b, job_a).await));
    assert!(not_found(f.app.delete_job(&bob, a, job_a).await));
    assert!(not_found(f.app.revoke_invite(&bob, b, invite_a.id).await));
    assert!(not_found(f.app.remove_member(&bob, a, alice.user).await));
    assert!(not_found(f.app.remove_member(&bob, b, alice.user).await));
    assert!(matches!(f.app.change_role(&bob, b, alice.user, Role::Member).await, Err(Error::NotFound)));
    assert!(matches!(f.app.grant_job(&bob, b, job_a, alice.user).await, Err(Error::NotFound)));
    // Store-level writes scoped by workspace refuse another workspace's ids.
    assert!(matches!(store.trash_job(b, job_a, f.clock_now(), f.store_draft(b)).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.revoke_invite(b, invite_a.id, f.clock_now(), f.store_draft(b)).await,
        Err(StoreError::NotFound)
    ));

    // A is untouched, and B's chain holds only B's events.
    assert!(f.app.job(&alice, a, job_a).await.is_ok());
    assert_eq!(f.audit_len(b).await, 1);
    assert_eq!(f.audit_len(a).await, 3);
}

/// A missing thing is `NotFound`; an empty list is an empty list, never an error.
pub async fn not_found_versus_empty(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    assert!(!store.has_users().await.expect("a fresh store answers"), "a fresh store has no users");
    let alice = f.user("alice").await;
    assert!(store.has_users().await.expect("read"));
    let ws = f.workspace(&alice, "Empty").await;
    let jobs = f.app.jobs(&alice, ws, PageRequest::first()).await.expect("empty list is fine");
    assert!(jobs.items.is_empty() && jobs.next.is_none());
    let invites = f.app.invites(&alice, ws, PageRequest::first()).await.expect("empty list is fine");
    assert!(invites.items.is_empty());
    let missing_job = JobId::from_uuid(uuid::Uuid::now_v7());
    assert!(store.job_for(alice.user, ws, missing_job).await.expect("a read, not an error").is_none());
    assert!(matches!(f.app.job(&alice, ws, missing_job).await, Err(Error::NotFound)));
    assert!(store.grants(ws, missing_job).await.expect("empty").is_empty());
    let missing_ws = WorkspaceId::from_uuid(uuid::Uuid::now_v7());
    assert!(matches!(f.app.jobs(&alice, missing_ws, PageRequest::first()).await, Err(Error::NotFound)));
    let stranger = f.user("stranger").await;
    assert!(matches!(f.app.change_role(&alice, ws, stranger.user, Role::Member).await, Err(Error::NotFound)));
    assert!(matches!(f.app.remove_member(&alice, ws, stranger.user).await, Err(Error::NotFound)));
    assert!(matches!(
        f.app.revoke_invite(&alice, ws, InviteId::from_uuid(uuid::Uuid::now_v7())).await,
        Err(Error::NotFound)
    ));
    let j = f.app.create_job(&alice, ws, job("j")).await.expect("job").id;
    assert!(matches!(f.app.revoke_grant(&alice, ws, j, stranger.user).await, Err(Error::NotFound)));
    assert!(store.user(stranger.user).await.expect("read").is_some());
    assert!(store.sign_in_link(&unknown_token().hash()).await.expect("read").is_none());
}

/// Keyset pages: newest first, ties broken by id, every item exactly once, and a
/// page boundary that does not move when rows are added before it.
pub async fn pagination_is_stable_and_complete(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let alice = f.user("alice").await;
    let ws = f.workspace(&alice, "Paging").await;
    let mut created = Vec::new();
    for i in 0..11 {
        // Pairs share a timestamp, so the id must break ties.
        if i % 2 == 0 {
            f.clock.advance(Duration::seconds(1));
        }
        created.push(f.app.create_job(&alice, ws, job(&format!("job {i}"))).await.expect("job"));
    }
    let mut expected = created.clone();
    expected.sort_by_key(|j| std::cmp::Reverse((j.created_at, j.id)));

    let mut seen = Vec::new();
    let mut page = PageRequest::new(Some(4), None).expect("limit");
    let mut sizes = Vec::new();
    loop {
        let p = f.app.jobs(&alice, ws, page).await.expect("page");
        sizes.push(p.items.len());
        seen.extend(p.items);
        match p.next {
            Some(next) => {
                page.after = Some(next);
                // A job created meanwhile is newer than every cursor: it does not shift pages.
                f.clock.advance(Duration::seconds(1));
                f.app.create_job(&alice, ws, job("late")).await.expect("job");
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![4, 4, 3]);
    assert_eq!(seen.iter().map(|j| j.id).collect::<Vec<_>>(), expected.iter().map(|j| j.id).collect::<Vec<_>>());

    // Members and the audit log page the same way.
    for i in 0..5 {
        let u = f.user(&format!("m{i}")).await;
        f.clock.advance(Duration::milliseconds(1));
        f.join(&alice, ws, &u, Role::Member).await;
    }
    let first = f.app.members(&alice, ws, PageRequest::new(Some(4), None).expect("limit")).await.expect("members");
    let rest = f.app.members(&alice, ws, PageRequest::new(Some(4), first.next).expect("limit")).await.expect("members");
    assert_eq!((first.items.len(), rest.items.len(), rest.next), (4, 2, None));
    let ids: HashSet<_> = first.items.iter().chain(&rest.items).map(|m| m.membership.user_id).collect();
    assert_eq!(ids.len(), 6);
    assert!(first.items[0].membership.created_at >= first.items[3].membership.created_at);

    for i in 0..4 {
        f.clock.advance(Duration::seconds(1));
        f.workspace(&alice, &format!("More {i}")).await;
    }
    let first = f.app.my_workspaces(&alice, PageRequest::new(Some(3), None).expect("limit")).await.expect("workspaces");
    let rest =
        f.app.my_workspaces(&alice, PageRequest::new(Some(3), first.next).expect("limit")).await.expect("workspaces");
    assert_eq!((first.items.len(), rest.items.len(), rest.next), (3, 2, None));
    assert_eq!(first.items[0].0.name.as_str(), "More 3", "newest first");
    assert_eq!(rest.items[1].0.id, ws);

    let total = f.audit_len(ws).await;
    let mut seqs = Vec::new();
    let mut page = PageRequest::new(Some(7), None).expect("limit");
    loop {
        let p = f.app.audit_events(&alice, ws, page).await.expect("audit page");
        seqs.extend(p.items.iter().map(|e| e.seq));
        match p.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seqs, (1..=total as i64).rev().collect::<Vec<_>>());
}

/// A refused or failed use case writes nothing: no row, no audit event.
pub async fn failed_use_cases_leave_no_row_and_no_audit_event(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (alice, bob, carol) = (f.user("alice").await, f.user("bob").await, f.user("carol").await);
    let ws = f.workspace(&alice, "Atomic").await;
    f.join(&alice, ws, &bob, Role::Member).await;
    let j = f.app.create_job(&alice, ws, job("j")).await.expect("job").id;
    let before = f.audit_len(ws).await;
    let members_before = store.members(ws, PageRequest::first()).await.expect("members").items;

    // Validation, policy and invariant refusals.
    assert!(matches!(f.app.create_job(&alice, ws, job("   ")).await, Err(Error::Invalid { field: "title", .. })));
    assert!(matches!(f.app.create_job(&alice, ws, job(&"x".repeat(201))).await, Err(Error::Invalid { .. })));
    assert!(matches!(f.app.update_workspace(&bob, ws, rename("Mine now")).await, Err(Error::Forbidden(_))));
    assert!(matches!(f.app.change_role(&alice, ws, alice.user, Role::Member).await, Err(Error::OwnerProtected)));
    assert!(matches!(f.app.remove_member(&alice, ws, alice.user).await, Err(Error::OwnerProtected)));
    assert!(matches!(f.app.transfer_ownership(&alice, ws, carol.user).await, Err(Error::NotFound)));
    assert!(matches!(f.app.grant_job(&alice, ws, j, bob.user).await, Err(Error::GrantNeedsRestricted)));
    assert!(matches!(f.app.delete_job(&bob, ws, j).await, Err(Error::Forbidden(_))));
    assert!(matches!(f.app.create_invite(&bob, ws, InviteRequest::default()).await, Err(Error::Forbidden(_))));
    assert!(matches!(
        f.app.create_invite(&alice, ws, InviteRequest { role: Some(Role::Owner), ..Default::default() }).await,
        Err(Error::Forbidden(DenyReason::RoleNotAssignable))
    ));
    assert!(matches!(
        f.app
            .create_invite(&alice, ws, InviteRequest { expires_in: Some(Duration::days(365)), ..Default::default() })
            .await,
        Err(Error::Invalid { field: "expires_in", .. })
    ));
    // Store-level: a transfer whose target is missing rolls back the demotion too.
    let draft = f.store_draft(ws);
    assert!(matches!(
        store.transfer_ownership(ws, alice.user, carol.user, f.clock_now(), draft.clone()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.transfer_ownership(ws, bob.user, alice.user, f.clock_now(), draft).await,
        Err(StoreError::Conflict(Conflict::NotOwner))
    ));

    assert_eq!(f.audit_len(ws).await, before, "no audit event for a failed use case");
    assert_eq!(store.members(ws, PageRequest::first()).await.expect("members").items, members_before);
    assert_eq!(f.role_of(ws, alice.user).await, Some(Role::Owner));
    assert_eq!(f.app.jobs(&alice, ws, PageRequest::first()).await.expect("jobs").items.len(), 1);
    assert!(f.app.invites(&alice, ws, PageRequest::first()).await.expect("invites").items.is_empty());
}

/// No permission lives in memory: a removed, demoted or ungranted member is refused on
/// the very next call.
pub async fn removal_and_demotion_take_effect_on_the_next_request(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (alice, bob) = (f.user("alice").await, f.user("bob").await);
    let ws = f.workspace(&alice, "Live").await;
    let j1 = f.app.create_job(&alice, ws, job("one")).await.expect("job").id;
    let j2 = f.app.create_job(&alice, ws, job("two")).await.expect("job").id;
    f.join(&alice, ws, &bob, Role::Member).await;
    assert!(f.app.job(&bob, ws, j1).await.is_ok());
    assert_eq!(f.app.jobs(&bob, ws, PageRequest::first()).await.expect("jobs").items.len(), 2);

    f.app.change_role(&alice, ws, bob.user, Role::Restricted).await.expect("demote");
    assert!(matches!(f.app.job(&bob, ws, j1).await, Err(Error::NotFound)));
    assert!(f.app.jobs(&bob, ws, PageRequest::first()).await.expect("jobs").items.is_empty());
    assert!(matches!(f.app.create_job(&bob, ws, job("x")).await, Err(Error::Forbidden(_))));

    f.app.grant_job(&alice, ws, j2, bob.user).await.expect("grant");
    assert!(f.app.job(&bob, ws, j2).await.is_ok());
    assert!(matches!(f.app.job(&bob, ws, j1).await, Err(Error::NotFound)));
    let visible = f.app.jobs(&bob, ws, PageRequest::first()).await.expect("jobs").items;
    assert_eq!(visible.iter().map(|j| j.id).collect::<Vec<_>>(), vec![j2]);

    f.app.revoke_grant(&alice, ws, j2, bob.user).await.expect("revoke");
    assert!(matches!(f.app.job(&bob, ws, j2).await, Err(Error::NotFound)));

    f.app.grant_job(&alice, ws, j2, bob.user).await.expect("grant again");
    let session = f
        .app
        .open_session(
            &Identity {
                issuer: "local".into(),
                subject: "bob@example.test".into(),
                email: Email::parse("bob@example.test").expect("email"),
            },
            None,
        )
        .await
        .expect("session");
    assert!(f.app.authenticate(&session.token).await.expect("auth").is_some());
    f.app.remove_member(&alice, ws, bob.user).await.expect("remove");
    assert!(matches!(f.app.job(&bob, ws, j2).await, Err(Error::NotFound)));
    assert!(matches!(f.app.workspace(&bob, ws).await, Err(Error::NotFound)));
    assert!(store.grants(ws, j2).await.expect("grants").is_empty(), "grants go with the membership");
    assert!(
        f.app.authenticate(&session.token).await.expect("auth").is_none(),
        "sessions are revoked with the membership"
    );
}

/// A member-management write checks the roles it was decided on at write time: a role
/// changed meanwhile (the actor's or the target's) refuses it and writes nothing.
pub async fn writes_decided_on_stale_roles_are_refused(store: Arc<dyn Store>) {
    use workvault_domain::ports::{Decided, RoleChange};
    let f = Fixture::new(store.clone());
    let (owner, admin, target) = (f.user("owner").await, f.user("admin").await, f.user("target").await);
    let ws = f.workspace(&owner, "Stale").await;
    f.join(&owner, ws, &admin, Role::Admin).await;
    f.join(&owner, ws, &target, Role::Member).await;
    let before = f.audit_len(ws).await;
    let decided = Decided { actor: admin.user, actor_role: Role::Admin, target_role: Role::Member };
    let to = |role: Role| RoleChange::to(role, f.clock_now());

    // The target was promoted to Admin after the decision: out of the Admin's reach now.
    f.app.change_role(&owner, ws, target.user, Role::Admin).await.expect("promote");
    let r = store.change_role(ws, target.user, to(Role::Restricted), decided, f.store_draft(ws)).await;
    assert!(matches!(r, Err(StoreError::Conflict(Conflict::Stale))), "{r:?}");
    let r = store.remove_member(ws, target.user, f.clock_now(), decided, f.store_draft(ws)).await;
    assert!(matches!(r, Err(StoreError::Conflict(Conflict::Stale))), "{r:?}");
    assert_eq!(f.role_of(ws, target.user).await, Some(Role::Admin));

    // The actor was demoted after the decision.
    f.app.change_role(&owner, ws, target.user, Role::Member).await.expect("back");
    f.app.change_role(&owner, ws, admin.user, Role::Member).await.expect("demote the actor");
    let r = store.remove_member(ws, target.user, f.clock_now(), decided, f.store_draft(ws)).await;
    assert!(matches!(r, Err(StoreError::Conflict(Conflict::Stale))), "{r:?}");
    assert_eq!(f.role_of(ws, target.user).await, Some(Role::Member));
    assert_eq!(f.audit_len(ws).await, before + 3, "only the owner's three changes were written");

    // The Owner is never touched this way, whatever was decided.
    let on_owner = Decided { actor: admin.user, actor_role: Role::Member, target_role: Role::Owner };
    let r = store.change_role(ws, owner.user, to(Role::Member), on_owner, f.store_draft(ws)).await;
    assert!(matches!(r, Err(StoreError::Conflict(Conflict::OwnerProtected))), "{r:?}");
}

/// Two edits of one job read at the same state: the second is refused, not lost.
pub async fn concurrent_job_edits_do_not_overwrite_each_other(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let alice = f.user("alice").await;
    let ws = f.workspace(&alice, "Edits").await;
    let job = f.app.create_job(&alice, ws, job("Roof")).await.expect("job");
    f.clock.advance(Duration::seconds(1));
    let first = workvault_domain::model::JobPatch {
        status: Some(workvault_domain::model::JobStatus::Completed),
        ..Default::default()
    }
    .apply(&job, f.clock_now());
    store.update_job(&first, job.updated_at, f.store_draft(ws)).await.expect("first edit");
    f.clock.advance(Duration::seconds(1));
    let second = workvault_domain::model::JobPatch { title: Name::parse("Roof, north").ok(), ..Default::default() }
        .apply(&job, f.clock_now());
    let r = store.update_job(&second, job.updated_at, f.store_draft(ws)).await;
    assert!(matches!(r, Err(StoreError::Conflict(Conflict::Stale))), "{r:?}");
    let now = f.app.job(&alice, ws, job.id).await.expect("read");
    assert_eq!((now.status, now.title.as_str()), (workvault_domain::model::JobStatus::Completed, "Roof"));
    // Through the use case, the second edit reads the new state and both changes stay.
    f.app
        .update_job(&alice, ws, job.id, JobChange { title: Some("Roof, north".into()), ..Default::default() })
        .await
        .expect("edit");
    let now = f.app.job(&alice, ws, job.id).await.expect("read");
    assert_eq!((now.status, now.title.as_str()), (workvault_domain::model::JobStatus::Completed, "Roof, north"));
}
