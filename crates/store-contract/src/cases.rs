//! The contract cases. Each takes a fresh, empty store.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use workvault_domain::Error;
use workvault_domain::audit::ChainReport;
use workvault_domain::id::{InviteId, JobId, WorkspaceId};
use workvault_domain::model::{Identity, SignInLink};
use workvault_domain::page::PageRequest;
use workvault_domain::policy::{DenyReason, Role};
use workvault_domain::ports::{Conflict, SignInCallback, Store, StoreError};
use workvault_domain::secret::Token;
use workvault_domain::service::{InviteRequest, JobChange, NewJob};
use workvault_domain::signin::LocalSignIn;
use workvault_domain::text::{Email, Name};

use crate::Fixture;

fn job(title: &str) -> NewJob {
    NewJob { title: title.into(), ..Default::default() }
}

/// A well-formed token no store has seen.
fn unknown_token() -> Token {
    Token::generate(&workvault_domain::testing::SeqRng::starting_at(u64::MAX / 2))
}

fn intact(report: &ChainReport) -> bool {
    report.is_intact()
}

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
    let draft = |ws| workvault_domain::audit::AuditDraft {
        workspace_id: ws,
        at: f.clock_now(),
        actor: workvault_domain::audit::AuditActor::System,
        action: "test".into(),
        target_kind: "job".into(),
        target_id: job_a.to_string(),
        details: serde_json::json!({}),
        request_id: None,
    };
    assert!(matches!(store.trash_job(b, job_a, f.clock_now(), draft(b)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.revoke_invite(b, invite_a.id, f.clock_now(), draft(b)).await, Err(StoreError::NotFound)));

    // A is untouched, and B's chain holds only B's events.
    assert!(f.app.job(&alice, a, job_a).await.is_ok());
    assert_eq!(f.audit_len(b).await, 1);
    assert_eq!(f.audit_len(a).await, 3);
}

impl Fixture {
    /// Now, on the fixture's clock.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        workvault_domain::ports::Clock::now(&*self.clock)
    }
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

/// Two users racing to accept one invite: exactly one joins.
pub async fn concurrent_accepts_of_one_invite_exactly_one_wins(store: Arc<dyn Store>) {
    let f = Fixture::new(store);
    let (owner, u1, u2) = (f.user("owner").await, f.user("u1").await, f.user("u2").await);
    let ws = f.workspace(&owner, "Race").await;
    for round in 0..5 {
        let (_, token) = f.app.create_invite(&owner, ws, InviteRequest::default()).await.expect("invite");
        let (a, b) = (f.app.clone(), f.app.clone());
        let (t1, t2) = (token.clone(), token.clone());
        let (c1, c2) = (Fixture::fresh_user_ctx(&f, round, 1).await, Fixture::fresh_user_ctx(&f, round, 2).await);
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

impl Fixture {
    async fn fresh_user_ctx(f: &Fixture, round: usize, n: usize) -> workvault_domain::Ctx {
        f.user(&format!("racer{round}x{n}")).await
    }
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

/// Many concurrent writers to one workspace: one linear chain, no fork, no gap.
pub async fn concurrent_writes_never_fork_the_audit_chain(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let alice = f.user("alice").await;
    let ws = f.workspace(&alice, "Busy").await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let app = f.app.clone();
            tokio::spawn(async move { app.create_job(&alice, ws, job(&format!("job {i}"))).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("create job");
    }
    let report = f.app.verify_audit_chain(ws).await.expect("verify");
    assert!(intact(&report), "{report:?}");
    assert_eq!(report.events, 25);
    let chain = store.audit_chain(ws, 0, 1000).await.expect("chain");
    let seqs: Vec<i64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>());
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
    assert!(matches!(f.app.update_workspace(&bob, ws, Some("Mine now")).await, Err(Error::Forbidden(_))));
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
        store.transfer_ownership(ws, alice.user, carol.user, draft.clone()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.transfer_ownership(ws, bob.user, alice.user, draft).await,
        Err(StoreError::Conflict(Conflict::NotOwner))
    ));

    assert_eq!(f.audit_len(ws).await, before, "no audit event for a failed use case");
    assert_eq!(store.members(ws, PageRequest::first()).await.expect("members").items, members_before);
    assert_eq!(f.role_of(ws, alice.user).await, Some(Role::Owner));
    assert_eq!(f.app.jobs(&alice, ws, PageRequest::first()).await.expect("jobs").items.len(), 1);
    assert!(f.app.invites(&alice, ws, PageRequest::first()).await.expect("invites").items.is_empty());
}

impl Fixture {
    fn store_draft(&self, ws: WorkspaceId) -> workvault_domain::audit::AuditDraft {
        workvault_domain::audit::AuditDraft {
            workspace_id: ws,
            at: self.clock_now(),
            actor: workvault_domain::audit::AuditActor::System,
            action: "test.write".into(),
            target_kind: "test".into(),
            target_id: "-".into(),
            details: serde_json::json!({}),
            request_id: None,
        }
    }
}

/// Each mutating use case appends exactly one event, with actor, action and target,
/// and the chain verifies.
pub async fn every_mutation_is_audited_in_a_verifiable_chain(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (alice, bob) = (f.user("alice").await, f.user("bob").await);
    let ws = f.workspace(&alice, "Audited").await;
    let mut expect = vec!["workspace.created"];
    f.app.update_workspace(&alice, ws, Some("Audited Ltd")).await.expect("rename");
    expect.push("workspace.renamed");
    let (invite, token) = f
        .app
        .create_invite(&alice, ws, InviteRequest { role: Some(Role::Restricted), ..Default::default() })
        .await
        .expect("invite");
    expect.push("invite.created");
    f.app.accept_invite(&bob, &token).await.expect("accept");
    expect.push("member.joined");
    let j = f.app.create_job(&alice, ws, job("Roof")).await.expect("job").id;
    expect.push("job.created");
    f.app
        .update_job(&alice, ws, j, JobChange { title: Some("Roof, north side".into()), ..Default::default() })
        .await
        .expect("update");
    expect.push("job.updated");
    let (_, created) = f.app.grant_job(&alice, ws, j, bob.user).await.expect("grant");
    assert!(created);
    expect.push("grant.created");
    let (_, again) = f.app.grant_job(&alice, ws, j, bob.user).await.expect("grant again");
    assert!(!again, "a repeated grant changes nothing and is not audited twice");
    f.app.revoke_grant(&alice, ws, j, bob.user).await.expect("revoke");
    expect.push("grant.revoked");
    f.app.change_role(&alice, ws, bob.user, Role::Member).await.expect("role");
    expect.push("member.role_changed");
    f.app.transfer_ownership(&alice, ws, bob.user).await.expect("transfer");
    expect.push("workspace.ownership_transferred");
    f.app.delete_job(&bob, ws, j).await.expect("delete");
    expect.push("job.trashed");
    let (i2, _) = f.app.create_invite(&bob, ws, InviteRequest::default()).await.expect("invite");
    expect.push("invite.created");
    f.app.revoke_invite(&bob, ws, i2.id).await.expect("revoke invite");
    expect.push("invite.revoked");
    f.app.remove_member(&bob, ws, alice.user).await.expect("remove");
    expect.push("member.removed");

    let chain = store.audit_chain(ws, 0, 1000).await.expect("chain");
    assert_eq!(chain.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), expect);
    let joined = &chain[3];
    assert_eq!(joined.actor, workvault_domain::audit::AuditActor::User(bob.user));
    assert_eq!(joined.target_id, bob.user.to_string());
    assert!(chain[2].details.contains(&invite.id.to_string()) || chain[2].target_id == invite.id.to_string());
    for e in &chain {
        assert!(!e.details.contains(token.expose()), "no secret in the audit log");
    }
    let report = f.app.verify_audit_chain(ws).await.expect("verify");
    assert!(report.is_intact() && report.events == expect.len() as u64, "{report:?}");
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

/// A local sign-in link signs in once, and not from its expiry on.
pub async fn sign_in_links_are_single_use_and_expire(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let provider = LocalSignIn::new(store.clone(), f.clock.clone());
    let (link, token) = f.app.issue_sign_in_link("Newcomer@Example.test").await.expect("link");
    assert_eq!(link.expires_at - link.created_at, Duration::minutes(15));
    let cb = |t: &Token| SignInCallback { code: t.clone(), state: None };
    let start = f.app.sign_in(&provider, &cb(&token), None).await.expect("first use signs in");
    assert_eq!(start.user.email.as_str(), "newcomer@example.test");
    assert!(matches!(f.app.sign_in(&provider, &cb(&token), None).await, Err(Error::SignInLinkUsed)));

    let (_, late) = f.app.issue_sign_in_link("late@example.test").await.expect("link");
    f.clock.advance(Duration::minutes(15));
    assert!(matches!(f.app.sign_in(&provider, &cb(&late), None).await, Err(Error::SignInLinkExpired)));
    let unknown = unknown_token();
    assert!(matches!(f.app.sign_in(&provider, &cb(&unknown), None).await, Err(Error::SignInLinkInvalid)));
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

fn new_task(f: &Fixture, kind: &str, max_attempts: i32) -> workvault_domain::queue::NewTask {
    use workvault_domain::ports::{Clock, Rng};
    let clock: &dyn Clock = &*f.clock;
    let rng: &dyn Rng = &workvault_domain::testing::SeqRng::starting_at(rand_seed());
    workvault_domain::queue::NewTask {
        id: workvault_domain::id::TaskId::generate(clock, rng),
        kind: kind.into(),
        payload: r#"{"n":1}"#.into(),
        run_at: f.clock_now(),
        max_attempts,
        created_at: f.clock_now(),
    }
}

fn rand_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1 << 48);
    NEXT.fetch_add(1 << 20, Ordering::Relaxed)
}

/// Workers racing for tasks: every task is run, and never by two workers at once.
pub async fn two_workers_never_hold_the_same_task(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    for _ in 0..30 {
        store.enqueue(&new_task(&f, "test.work", 3)).await.expect("enqueue");
    }
    let now = f.clock_now();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("worker-{w}");
                let mut ran = Vec::new();
                while let Some(task) = store.claim(&name, now, Duration::seconds(60)).await.expect("claim") {
                    ran.push(task.id);
                    store.complete(task.id, &name, now).await.expect("complete while holding the lease");
                }
                ran
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (30, 30), "each task ran exactly once");
    for id in all {
        let task = store.task(id).await.expect("read").expect("exists");
        assert_eq!((task.state, task.attempts), (workvault_domain::queue::TaskState::Done, 1));
    }
}

/// A worker that dies mid-task loses its lease: another takes the task once the lease
/// expires, and the dead worker's late completion is refused. Exactly one completion.
pub async fn an_expired_lease_is_taken_again_and_completes_once(store: Arc<dyn Store>) {
    use workvault_domain::queue::TaskState;
    let f = Fixture::new(store.clone());
    let task = new_task(&f, "test.crash", 3);
    store.enqueue(&task).await.expect("enqueue");
    let lease = Duration::seconds(30);
    let first = store.claim("doomed", f.clock_now(), lease).await.expect("claim").expect("due");
    assert_eq!((first.id, first.attempts, first.state), (task.id, 1, TaskState::Running));
    assert!(
        store.claim("rescuer", f.clock_now(), lease).await.expect("claim").is_none(),
        "leased tasks are not handed out"
    );
    f.clock.advance(lease - Duration::seconds(1));
    assert!(store.claim("rescuer", f.clock_now(), lease).await.expect("claim").is_none(), "the lease still holds");
    f.clock.advance(Duration::seconds(1));
    let again = store.claim("rescuer", f.clock_now(), lease).await.expect("claim").expect("lease expired");
    assert_eq!((again.id, again.attempts, again.locked_by.as_deref()), (task.id, 2, Some("rescuer")));
    let late = store.complete(task.id, "doomed", f.clock_now()).await;
    assert!(matches!(late, Err(StoreError::Conflict(Conflict::LeaseLost))), "{late:?}");
    let late_fail = store.fail(task.id, "doomed", "boom", f.clock_now(), f.clock_now()).await;
    assert!(matches!(late_fail, Err(StoreError::Conflict(Conflict::LeaseLost))), "{late_fail:?}");
    store.complete(task.id, "rescuer", f.clock_now()).await.expect("the holder completes");
    let done = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!((done.state, done.attempts), (TaskState::Done, 2));
    assert!(
        matches!(
            store.complete(task.id, "rescuer", f.clock_now()).await,
            Err(StoreError::Conflict(Conflict::LeaseLost))
        ),
        "completes once"
    );
}

/// Failed attempts back off, and the last one leaves the task dead; a crash on the last
/// attempt does too.
pub async fn failures_back_off_then_the_task_is_dead(store: Arc<dyn Store>) {
    use workvault_domain::queue::{TaskState, retry_at};
    let f = Fixture::new(store.clone());
    let task = new_task(&f, "test.flaky", 3);
    store.enqueue(&task).await.expect("enqueue");
    let lease = Duration::seconds(60);
    for attempt in 1..=3 {
        let claimed = store.claim("w", f.clock_now(), lease).await.expect("claim").expect("due");
        assert_eq!(claimed.attempts, attempt);
        let next = retry_at(f.clock_now(), attempt);
        let state = store.fail(task.id, "w", "it broke", f.clock_now(), next).await.expect("fail");
        if attempt < 3 {
            assert_eq!(state, TaskState::Ready);
            f.clock.set(next - Duration::microseconds(1));
            assert!(store.claim("w", f.clock_now(), lease).await.expect("claim").is_none(), "not before the backoff");
            f.clock.set(next);
        } else {
            assert_eq!(state, TaskState::Dead);
        }
    }
    let dead = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!((dead.state, dead.last_error.as_deref()), (TaskState::Dead, Some("it broke")));
    f.clock.advance(Duration::days(1));
    assert!(store.claim("w", f.clock_now(), lease).await.expect("claim").is_none(), "a dead task is never handed out");

    let crashy = new_task(&f, "test.crashy", 1);
    store.enqueue(&crashy).await.expect("enqueue");
    store.claim("w", f.clock_now(), lease).await.expect("claim").expect("due");
    f.clock.advance(lease);
    assert!(store.claim("w", f.clock_now(), lease).await.expect("claim").is_none());
    let t = store.task(crashy.id).await.expect("read").expect("exists");
    assert_eq!(t.state, TaskState::Dead, "a crash on the last attempt gives the task up");
}

/// Everything a store can hold, a little of each: for dump/restore and copies.
pub async fn populate(f: &Fixture) -> (WorkspaceId, Token) {
    let (alice, bob, carol) = (f.user("alice").await, f.user("bob").await, f.user("carol").await);
    let ws = f.workspace(&alice, "Everything").await;
    f.workspace(&bob, "Bob's").await;
    f.join(&alice, ws, &bob, Role::Restricted).await;
    f.join(&alice, ws, &carol, Role::Member).await;
    let jobs: Vec<_> = futures_lite_all(f, &alice, ws).await;
    f.app.grant_job(&alice, ws, jobs[0], bob.user).await.expect("grant");
    f.app.delete_job(&alice, ws, jobs[1]).await.expect("trash");
    f.app
        .create_invite(&alice, ws, InviteRequest { email: Some("dan@example.test".into()), ..Default::default() })
        .await
        .expect("invite");
    let (revoked, _) = f.app.create_invite(&alice, ws, InviteRequest::default()).await.expect("invite");
    f.app.revoke_invite(&alice, ws, revoked.id).await.expect("revoke");
    f.app.issue_sign_in_link("later@example.test").await.expect("link");
    let identity = Identity {
        issuer: "local".into(),
        subject: "carol@example.test".into(),
        email: Email::parse("carol@example.test").expect("email"),
    };
    let gone = f.app.open_session(&identity, None).await.expect("session");
    let session = f.app.authenticate(&gone.token).await.expect("auth").expect("live");
    f.app.sign_out(&session, None).await.expect("sign out");
    let live = f.app.open_session(&identity, None).await.expect("session");
    f.store.enqueue(&new_task(f, "test.copy", 5)).await.expect("enqueue");
    (ws, live.token)
}

async fn futures_lite_all(f: &Fixture, by: &workvault_domain::Ctx, ws: WorkspaceId) -> Vec<JobId> {
    let mut ids = Vec::new();
    for i in 0..5 {
        f.clock.advance(Duration::seconds(1));
        ids.push(f.app.create_job(by, ws, job(&format!("job {i}"))).await.expect("job").id);
    }
    ids
}

/// Every record of every kind, as dumped in one page per kind.
pub async fn dump_all(store: &dyn Store) -> Vec<workvault_domain::instance::Record> {
    let mut all = Vec::new();
    for kind in workvault_domain::instance::RecordKind::ALL {
        let (records, next) = store.dump(kind, None, 1_000_000).await.expect("dump");
        assert!(next.is_none());
        all.extend(records);
    }
    all
}

/// A copy through the ports alone reproduces every record (ids, times, hashes), keeps
/// every audit chain verifiable, keeps sessions working, and refuses a non-empty target.
pub async fn a_copy_reproduces_the_instance(from: Arc<dyn Store>, to: Arc<dyn Store>) {
    use workvault_domain::instance::{CopyError, copy_instance};
    let f = Fixture::new(from.clone());
    let (ws, token) = populate(&f).await;
    assert!(!from.is_empty().await.expect("read") && to.is_empty().await.expect("read"));
    let mut pages = 0;
    let report = copy_instance(&*from, &*to, &*to, 3, |_, _| pages += 1).await.expect("copy");
    assert!(pages > workvault_domain::instance::RecordKind::ALL.len(), "small batches page through every kind");
    assert_eq!(report.chains.len(), 2);
    assert!(report.chains.iter().all(|(_, c)| c.is_intact() && c.events > 0));
    assert_eq!(dump_all(&*to).await, dump_all(&*from).await, "every record arrives exactly as it was");

    // The copy is a working instance: sessions, roles and chains carry over.
    let g = Fixture::new(to.clone());
    g.clock.set(f.clock_now());
    let session = g.app.authenticate(&token).await.expect("auth").expect("the session survives the copy");
    let ctx = workvault_domain::Ctx { user: session.user_id, request_id: None };
    assert_eq!(g.app.jobs(&ctx, ws, PageRequest::first()).await.expect("jobs").items.len(), 4);
    g.app.create_job(&ctx, ws, job("after the move")).await.expect("writes continue the chain");
    assert!(g.app.verify_audit_chain(ws).await.expect("verify").is_intact());

    let again = copy_instance(&*from, &*to, &*to, 100, |_, _| {}).await;
    assert!(matches!(again, Err(CopyError::TargetNotEmpty)), "{again:?}");
}

/// Dump pages are complete and stable whatever their size; restore is all or nothing.
pub async fn dumps_page_completely_and_restores_are_atomic(store: Arc<dyn Store>) {
    use workvault_domain::instance::RecordKind;
    let f = Fixture::new(store.clone());
    populate(&f).await;
    for kind in RecordKind::ALL {
        let (whole, _) = store.dump(kind, None, 1_000_000).await.expect("dump");
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = store.dump(kind, after, 2).await.expect("dump");
            assert!(page.len() <= 2);
            paged.extend(page);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(paged, whole, "{}", kind.name());
    }
    // Restoring records that exist fails as a whole and writes nothing.
    let before = dump_all(&*store).await;
    let (users, _) = store.dump(RecordKind::User, None, 1).await.expect("dump");
    let mut batch = vec![workvault_domain::instance::Record::SignInLink(SignInLink {
        token_hash: unknown_token().hash(),
        email: Email::parse("new@example.test").expect("email"),
        created_at: f.clock_now(),
        expires_at: f.clock_now(),
        used_at: None,
    })];
    batch.extend(users);
    assert!(store.restore(&batch).await.is_err());
    assert_eq!(dump_all(&*store).await, before, "a failed restore leaves no row");
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

/// A member-management write checks the roles it was decided on at write time: a role
/// changed meanwhile (the actor's or the target's) refuses it and writes nothing.
pub async fn writes_decided_on_stale_roles_are_refused(store: Arc<dyn Store>) {
    use workvault_domain::ports::Decided;
    let f = Fixture::new(store.clone());
    let (owner, admin, target) = (f.user("owner").await, f.user("admin").await, f.user("target").await);
    let ws = f.workspace(&owner, "Stale").await;
    f.join(&owner, ws, &admin, Role::Admin).await;
    f.join(&owner, ws, &target, Role::Member).await;
    let before = f.audit_len(ws).await;
    let decided = Decided { actor: admin.user, actor_role: Role::Admin, target_role: Role::Member };

    // The target was promoted to Admin after the decision: out of the Admin's reach now.
    f.app.change_role(&owner, ws, target.user, Role::Admin).await.expect("promote");
    let r = store.change_role(ws, target.user, Role::Restricted, decided, f.store_draft(ws)).await;
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
    let r = store.change_role(ws, owner.user, Role::Member, on_owner, f.store_draft(ws)).await;
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

/// A worker runs due tasks with the handler of their kind; a task without a handler, or
/// whose handler fails, is retried with backoff and then dead. The credential clean-up
/// deletes only sessions and links that ended long enough ago, and schedules itself
/// once per hour however many nodes ask.
pub async fn workers_run_handlers_and_the_clean_up_keeps_what_is_live(store: Arc<dyn Store>) {
    use workvault_domain::queue::{PRUNE_AFTER, PRUNE_KIND, PruneCredentials, TaskHandler, TaskState, Turn, Worker};
    let f = Fixture::new(store.clone());
    let identity = Identity {
        issuer: "local".into(),
        subject: "p@example.test".into(),
        email: Email::parse("p@example.test").expect("email"),
    };
    let ended = f.app.open_session(&identity, None).await.expect("session");
    let session = f.app.authenticate(&ended.token).await.expect("auth").expect("live");
    f.app.sign_out(&session, None).await.expect("sign out");
    f.app.issue_sign_in_link("stale@example.test").await.expect("link");
    f.clock.advance(PRUNE_AFTER + Duration::hours(1));
    let live = f.app.open_session(&identity, None).await.expect("session");
    let (_, fresh_link) = f.app.issue_sign_in_link("fresh@example.test").await.expect("link");

    let prune = Arc::new(PruneCredentials::new(store.clone(), f.clock.clone()));
    prune.schedule(f.clock_now()).await.expect("schedule");
    prune.schedule(f.clock_now()).await.expect("scheduling twice is one task");
    let doomed = new_task(&f, "test.unknown_kind", 1);
    store.enqueue(&doomed).await.expect("enqueue");
    let handlers: Vec<Arc<dyn TaskHandler>> = vec![prune.clone()];
    let worker = Worker::new("w1", store.clone(), f.clock.clone(), handlers, Duration::seconds(60));

    assert_eq!(worker.turn().await.expect("turn"), Turn::Failed(doomed.id, TaskState::Dead), "no handler, one attempt");
    assert_eq!(worker.turn().await.expect("turn"), Turn::Idle, "the clean-up is not due before its hour");
    f.clock.advance(Duration::hours(1));
    assert!(matches!(worker.turn().await.expect("turn"), Turn::Completed(_)));
    assert_eq!(worker.turn().await.expect("turn"), Turn::Idle, "exactly one clean-up for the slot");

    let (sessions, _) = store.dump(workvault_domain::instance::RecordKind::Session, None, 100).await.expect("dump");
    assert_eq!(sessions.len(), 1, "the ended session went, the live one stayed");
    assert!(f.app.authenticate(&live.token).await.expect("auth").is_some());
    let (links, _) = store.dump(workvault_domain::instance::RecordKind::SignInLink, None, 100).await.expect("dump");
    assert_eq!(links.len(), 1);
    assert!(store.sign_in_link(&fresh_link.hash()).await.expect("read").is_some());
    // It scheduled the next hour.
    f.clock.advance(Duration::hours(1));
    assert!(matches!(worker.turn().await.expect("turn"), Turn::Completed(_)));
    let (tasks, _) = store.dump(workvault_domain::instance::RecordKind::Task, None, 100).await.expect("dump");
    let prunes = tasks
        .iter()
        .filter(|t| matches!(t, workvault_domain::instance::Record::Task(t) if t.kind == PRUNE_KIND))
        .count();
    assert_eq!(prunes, 3, "one per hour slot");
}
