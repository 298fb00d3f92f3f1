//! The authorization matrix, generated from the policy table: every action × every
//! role × own/other workspace (× granted/not for job actions), each driven through its
//! HTTP route and checked against `policy::decide`. A refused request changes nothing.

use actix_web::http::Method;
use serde_json::{Value, json};
use workvault_domain::policy::{Action, ActorFacts, Decision, DenyReason, ResourceFacts, Role, decide};

use crate::harness::{User, test_app};

/// The route that performs `action`, and the facts the policy sees for it.
fn route(action: Action, w: &World, granted: bool) -> (Method, String, Option<Value>, ResourceFacts) {
    let ws = &w.ws;
    let job = &w.job;
    let member = ResourceFacts::Workspace;
    let on_job = ResourceFacts::Job { granted };
    match action {
        Action::ViewWorkspace => (Method::GET, format!("/api/v1/workspaces/{ws}"), None, member),
        Action::UpdateWorkspace => {
            (Method::PATCH, format!("/api/v1/workspaces/{ws}"), Some(json!({"name": "Renamed"})), member)
        }
        Action::ListMembers => (Method::GET, format!("/api/v1/workspaces/{ws}/members"), None, member),
        Action::InviteMember => (
            Method::POST,
            format!("/api/v1/workspaces/{ws}/invites"),
            Some(json!({"role": "restricted"})),
            ResourceFacts::Member { target: None, assigned: Some(Role::Restricted) },
        ),
        Action::ManageInvites => (Method::GET, format!("/api/v1/workspaces/{ws}/invites"), None, member),
        Action::ChangeRole => (
            Method::PATCH,
            format!("/api/v1/workspaces/{ws}/members/{}", w.target.id),
            Some(json!({"role": "restricted"})),
            ResourceFacts::Member { target: Some(Role::Member), assigned: Some(Role::Restricted) },
        ),
        Action::RemoveMember => (
            Method::DELETE,
            format!("/api/v1/workspaces/{ws}/members/{}", w.target.id),
            None,
            ResourceFacts::Member { target: Some(Role::Member), assigned: None },
        ),
        Action::TransferOwnership => {
            (Method::POST, format!("/api/v1/workspaces/{ws}/ownership"), Some(json!({"user_id": w.admin.id})), member)
        }
        Action::ViewAudit => (Method::GET, format!("/api/v1/workspaces/{ws}/audit"), None, member),
        Action::CreateJob => {
            (Method::POST, format!("/api/v1/workspaces/{ws}/jobs"), Some(json!({"title": "New"})), member)
        }
        Action::ListJobs => (Method::GET, format!("/api/v1/workspaces/{ws}/jobs"), None, member),
        Action::ViewJob => (Method::GET, format!("/api/v1/workspaces/{ws}/jobs/{job}"), None, on_job),
        Action::UpdateJob => {
            (Method::PATCH, format!("/api/v1/workspaces/{ws}/jobs/{job}"), Some(json!({"status": "completed"})), on_job)
        }
        Action::DeleteJob => (Method::DELETE, format!("/api/v1/workspaces/{ws}/jobs/{job}"), None, on_job),
        Action::ManageGrants => {
            (Method::PUT, format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", w.grantee.id), None, on_job)
        }
    }
}

/// One workspace with a member of every role, a job, a second Member to act on, a
/// Restricted member to grant; and a second workspace the outsider owns.
struct World {
    ws: String,
    job: String,
    owner: User,
    admin: User,
    member: User,
    restricted: User,
    target: User,
    grantee: User,
    outsider: User,
}

async fn world<S, B>(t: &crate::harness::TestApp<S>, granted: bool) -> World
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Matrix").await;
    let (admin, member, restricted, target, grantee, outsider) = (
        t.user("admin").await,
        t.user("member").await,
        t.user("restricted").await,
        t.user("target").await,
        t.user("grantee").await,
        t.user("outsider").await,
    );
    t.join(&ws, &owner, &admin, "admin").await;
    t.join(&ws, &owner, &member, "member").await;
    t.join(&ws, &owner, &restricted, "restricted").await;
    t.join(&ws, &owner, &target, "member").await;
    t.join(&ws, &owner, &grantee, "restricted").await;
    let job = t.job(&ws, &owner, "Roof").await;
    if granted {
        let r = t.put(&format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", restricted.id), &owner).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // The outsider is Owner of a workspace of their own: their role there gives nothing here.
    t.workspace(&outsider, "Elsewhere").await;
    World { ws, job, owner, admin, member, restricted, target, grantee, outsider }
}

fn expected_status(decision: Decision) -> Result<(), (u16, &'static str)> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Deny(DenyReason::NotMember | DenyReason::NotGranted) => Err((404, "not_found")),
        Decision::Deny(DenyReason::RoleInsufficient) => Err((403, "role_insufficient")),
        Decision::Deny(DenyReason::TargetOutOfReach) => Err((403, "target_out_of_reach")),
        Decision::Deny(DenyReason::RoleNotAssignable) => Err((403, "role_not_assignable")),
    }
}

#[actix_web::test]
async fn every_role_action_and_workspace_case_answers_as_the_policy_decides() {
    let mut cases = 0;
    for action in Action::ALL {
        let grant_cases: &[bool] = if action.is_job_scoped() { &[false, true] } else { &[false] };
        for &granted in grant_cases {
            for standing in [Some(Role::Owner), Some(Role::Admin), Some(Role::Member), Some(Role::Restricted), None] {
                // A fresh world per case: allowed actions change it.
                let t = test_app().await;
                let w = world(&t, granted).await;
                let actor = match standing {
                    Some(Role::Owner) => &w.owner,
                    Some(Role::Admin) => &w.admin,
                    Some(Role::Member) => &w.member,
                    Some(Role::Restricted) => &w.restricted,
                    None => &w.outsider,
                };
                // Only a Restricted actor's grant is in play; others are never granted.
                let actor_granted = granted && standing == Some(Role::Restricted);
                let (method, path, body, facts) = route(action, &w, actor_granted);
                let facts = match facts {
                    ResourceFacts::Job { .. } => ResourceFacts::Job { granted: actor_granted },
                    f => f,
                };
                let decision = decide(ActorFacts { role: standing }, action, facts);
                let before = t.snapshot(&w.ws).await;
                let r = t.call(method.clone(), &path, Some(actor), body).await;
                let case = format!(
                    "{action:?} as {standing:?} (granted: {granted}): {method} {path} → {} {}",
                    r.status, r.text
                );
                match expected_status(decision) {
                    Ok(()) => assert!((200..300).contains(&r.status), "expected success: {case}"),
                    Err((status, code)) => {
                        assert_eq!((r.status, r.code()), (status, Some(code)), "{case}");
                        assert_eq!(t.snapshot(&w.ws).await, before, "a refused request changed something: {case}");
                    }
                }
                cases += 1;
            }
        }
    }
    // 15 actions, 4 of them job-scoped and run granted and not, × 5 standings.
    assert_eq!(cases, (15 + 4) * 5);
}

#[actix_web::test]
async fn another_workspaces_ids_answer_not_found_even_for_its_owner_elsewhere() {
    // The Owner of workspace B mixes B's id with A's job id: still nothing.
    let t = test_app().await;
    let w = world(&t, false).await;
    let b = t.workspace(&w.outsider, "B").await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/workspaces/{b}/jobs/{}", w.job)),
        (Method::PATCH, format!("/api/v1/workspaces/{b}/jobs/{}", w.job)),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/jobs/{}", w.job)),
        (Method::PUT, format!("/api/v1/workspaces/{b}/jobs/{}/grants/{}", w.job, w.grantee.id)),
        (Method::PATCH, format!("/api/v1/workspaces/{b}/members/{}", w.member.id)),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/members/{}", w.member.id)),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"role": "member", "title": "x"}));
        let body = match (&method, path.contains("/members/")) {
            (&Method::PATCH, true) => Some(json!({"role": "restricted"})),
            (&Method::PATCH, false) => Some(json!({"title": "x"})),
            _ => body,
        };
        let r = t.call(method.clone(), &path, Some(&w.outsider), body).await;
        assert_eq!((r.status, r.code()), (404, Some("not_found")), "{method} {path}: {}", r.text);
    }
    let r = t.get(&format!("/api/v1/workspaces/{}/jobs/{}", w.ws, w.job), &w.owner).await;
    assert_eq!(r.status, 200);
}
