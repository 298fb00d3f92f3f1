//! The audit chain: one event per change, never forked.

use std::sync::Arc;

use workvault_domain::policy::Role;
use workvault_domain::ports::Store;
use workvault_domain::service::{InviteRequest, JobChange};

use super::*;
use crate::Fixture;

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

/// Each mutating use case appends exactly one event, with actor, action and target,
/// and the chain verifies.
pub async fn every_mutation_is_audited_in_a_verifiable_chain(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (alice, bob) = (f.user("alice").await, f.user("bob").await);
    let ws = f.workspace(&alice, "Audited").await;
    let mut expect = vec!["workspace.created"];
    f.app.update_workspace(&alice, ws, rename("Audited Ltd")).await.expect("rename");
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
