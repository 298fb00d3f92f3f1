//! The authorization matrix, generated from the policy table: every action × every
//! role × own/other workspace (× granted/not for job actions, × target and assigned
//! role for member changes), each driven through every HTTP route of the action and
//! checked against `policy::decide`. A refused request changes nothing in the store.

use actix_web::http::Method;
use serde_json::{Value, json};
use workvault_domain::policy::{Action, ActorFacts, Decision, DenyReason, ResourceFacts, Role, decide};

use crate::harness::{User, test_app};

/// One request that performs an action, and the facts the policy sees for it.
struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Raw bytes instead of JSON (an upload), and their media type.
    raw: Option<(Vec<u8>, &'static str)>,
    facts: ResourceFacts,
}

fn route(method: Method, path: String, body: Option<Value>, facts: ResourceFacts) -> Route {
    Route { method, path, body, raw: None, facts }
}

fn upload(path: String, facts: ResourceFacts) -> Route {
    Route { method: Method::POST, path, body: None, raw: Some((crate::harness::jpeg(100), "image/jpeg")), facts }
}

fn csv(path: String, body: &str) -> Route {
    Route {
        method: Method::POST,
        path,
        body: None,
        raw: Some((body.as_bytes().to_vec(), "text/csv")),
        facts: ResourceFacts::Workspace,
    }
}

/// A case's variable part: a grant for the actor, or a target member and a role handed out.
#[derive(Debug, Clone, Copy)]
struct Variant {
    granted: bool,
    target: Role,
    assigned: Role,
}

fn variants(action: Action) -> Vec<Variant> {
    let base = Variant { granted: false, target: Role::Member, assigned: Role::Restricted };
    match action {
        a if a.is_job_scoped() || a.is_ticket_scoped() => vec![base, Variant { granted: true, ..base }],
        Action::ChangeRole => [Role::Owner, Role::Admin, Role::Member, Role::Restricted]
            .into_iter()
            .flat_map(|target| {
                [Role::Admin, Role::Member, Role::Restricted]
                    .into_iter()
                    .filter(move |assigned| *assigned != target)
                    .map(move |assigned| Variant { target, assigned, ..base })
            })
            .collect(),
        Action::RemoveMember | Action::ManageSessions => [Role::Owner, Role::Admin, Role::Member, Role::Restricted]
            .into_iter()
            .map(|target| Variant { target, ..base })
            .collect(),
        Action::InviteMember => [Role::Admin, Role::Member, Role::Restricted]
            .into_iter()
            .map(|assigned| Variant { assigned, ..base })
            .collect(),
        _ => vec![base],
    }
}

/// Every route that performs `action` in world `w`.
fn routes(action: Action, w: &World, v: Variant) -> Vec<Route> {
    let (ws, job) = (&w.ws, &w.job);
    let whole = ResourceFacts::Workspace;
    let on_job = ResourceFacts::Job { granted: v.granted };
    let on_ticket = ResourceFacts::Ticket { assigned: v.granted };
    let target = w.member_with(v.target);
    let api = |p: &str| format!("/api/v1/workspaces/{ws}{p}");
    match action {
        Action::ViewWorkspace => vec![route(Method::GET, api(""), None, whole)],
        Action::UpdateWorkspace => vec![
            route(Method::PATCH, api(""), Some(json!({"name": "Renamed"})), whole),
            route(Method::POST, api("/asset-fields"), Some(json!({"key": "room", "label": "Room"})), whole),
            route(Method::DELETE, api("/asset-fields/warranty"), None, whole),
        ],
        Action::ListMembers => vec![route(Method::GET, api("/members"), None, whole)],
        Action::InviteMember => vec![route(
            Method::POST,
            api("/invites"),
            Some(json!({"role": v.assigned.as_str()})),
            ResourceFacts::Member { target: None, assigned: Some(v.assigned) },
        )],
        Action::ManageInvites => vec![
            route(Method::GET, api("/invites"), None, whole),
            route(Method::DELETE, api(&format!("/invites/{}", w.invite)), None, whole),
        ],
        Action::ChangeRole => vec![route(
            Method::PATCH,
            api(&format!("/members/{}", target.id)),
            Some(json!({"role": v.assigned.as_str()})),
            ResourceFacts::Member { target: Some(v.target), assigned: Some(v.assigned) },
        )],
        Action::RemoveMember => vec![route(
            Method::DELETE,
            api(&format!("/members/{}", target.id)),
            None,
            ResourceFacts::Member { target: Some(v.target), assigned: None },
        )],
        Action::ManageSessions => {
            let facts = ResourceFacts::Member { target: Some(v.target), assigned: None };
            vec![
                route(Method::GET, api(&format!("/members/{}/sessions", target.id)), None, facts),
                route(Method::DELETE, api(&format!("/members/{}/sessions/{}", target.id, target.session)), None, facts),
            ]
        }
        Action::TransferOwnership => {
            vec![route(Method::POST, api("/ownership"), Some(json!({"user_id": w.admin.id})), whole)]
        }
        Action::ViewAudit => {
            vec![route(Method::GET, api("/audit"), None, whole), route(Method::GET, api("/audit/verify"), None, whole)]
        }
        Action::CreateJob => vec![route(Method::POST, api("/jobs"), Some(json!({"title": "New"})), whole)],
        Action::ListJobs => vec![route(Method::GET, api("/jobs"), None, whole)],
        Action::ViewJob => vec![
            route(Method::GET, api(&format!("/jobs/{job}")), None, on_job),
            route(Method::GET, api(&format!("/jobs/{job}/photos")), None, on_job),
            route(Method::GET, api(&format!("/photos/{}", w.photo)), None, on_job),
            route(Method::GET, api(&format!("/photos/{}/content", w.photo)), None, on_job),
            route(Method::GET, api(&format!("/photos/{}/content?variant=thumb", w.photo)), None, on_job),
            route(Method::GET, api(&format!("/jobs/{job}/reports")), None, on_job),
            route(Method::GET, api(&format!("/jobs/{job}/reports/{}", w.report)), None, on_job),
            route(Method::GET, api(&format!("/jobs/{job}/reports/{}/html", w.report)), None, on_job),
            route(Method::GET, api(&format!("/jobs/{job}/reports/{}/pdf", w.report)), None, on_job),
        ],
        Action::ViewOriginal => {
            vec![
                route(Method::GET, api(&format!("/photos/{}/content?variant=original", w.photo)), None, on_job),
                route(Method::GET, api(&format!("/photos/{}/location", w.photo)), None, on_job),
            ]
        }
        Action::UpdateJob => vec![
            route(Method::PATCH, api(&format!("/jobs/{job}")), Some(json!({"status": "completed"})), on_job),
            upload(api(&format!("/jobs/{job}/photos")), on_job),
            route(Method::DELETE, api(&format!("/photos/{}", w.photo)), None, on_job),
            route(Method::POST, api(&format!("/photos/{}/restore", w.trashed_photo)), None, on_job),
            route(
                Method::POST,
                api(&format!("/jobs/{job}/reports")),
                Some(json!({"title": "New", "items": [{"photo_id": w.photo, "caption": "Before"}]})),
                on_job,
            ),
            route(
                Method::PATCH,
                api(&format!("/jobs/{job}/reports/{}", w.report)),
                Some(json!({"title": "Renamed", "items": []})),
                on_job,
            ),
            route(Method::DELETE, api(&format!("/jobs/{job}/reports/{}", w.report)), None, on_job),
            route(Method::POST, api(&format!("/jobs/{job}/reports/{}/restore", w.trashed_report)), None, on_job),
        ],
        Action::DeleteJob => vec![
            route(Method::DELETE, api(&format!("/jobs/{job}")), None, on_job),
            route(Method::POST, api(&format!("/photos/{}/purge", w.trashed_photo)), None, on_job),
            route(Method::POST, api(&format!("/jobs/{job}/reports/{}/purge", w.trashed_report)), None, on_job),
        ],
        Action::ShareJob => vec![
            route(Method::POST, api("/share-links"), Some(json!({"target": "job", "id": job})), on_job),
            route(
                Method::POST,
                api("/share-links"),
                Some(json!({"target": "report", "id": w.report, "job_id": job, "password": "long enough"})),
                on_job,
            ),
            route(Method::POST, api("/share-links"), Some(json!({"target": "photo", "id": w.photo})), on_job),
            route(Method::DELETE, api(&format!("/share-links/{}", w.link)), None, on_job),
            route(Method::GET, api(&format!("/share-links/{}/views", w.link)), None, on_job),
        ],
        Action::ViewAssets => vec![
            route(Method::GET, api("/assets"), None, whole),
            route(Method::GET, api(&format!("/assets/{}", w.asset)), None, whole),
            route(Method::GET, api("/asset-fields"), None, whole),
        ],
        Action::EditAssets => vec![
            route(Method::POST, api("/assets"), Some(json!({"name": "Drill"})), whole),
            route(Method::PATCH, api(&format!("/assets/{}", w.asset)), Some(json!({"location": "Van 2"})), whole),
        ],
        Action::DeleteAssets => vec![
            route(Method::DELETE, api(&format!("/assets/{}", w.asset)), None, whole),
            route(Method::POST, api(&format!("/assets/{}/restore", w.trashed_asset)), None, whole),
            route(Method::POST, api(&format!("/assets/{}/purge", w.trashed_asset)), None, whole),
        ],
        Action::ImportAssets => vec![
            csv(api("/assets/import"), "name,tag\r\nImported,T-1\r\n"),
            csv(api("/assets/import"), &format!("id,name\r\n{},Renamed\r\n", w.asset)),
        ],
        Action::ExportRecords => vec![
            route(Method::GET, api("/assets/export"), None, whole),
            route(Method::GET, api("/tickets/export"), None, whole),
        ],
        Action::ListTickets => vec![route(Method::GET, api("/tickets"), None, whole)],
        Action::CreateTicket => {
            vec![route(Method::POST, api("/tickets"), Some(json!({"subject": "Printer", "body": "Jams"})), whole)]
        }
        Action::ViewTicket => vec![
            route(Method::GET, api(&format!("/tickets/{}", w.ticket)), None, on_ticket),
            route(Method::GET, api(&format!("/tickets/{}/attachments/{}", w.ticket, w.attachment)), None, on_ticket),
        ],
        Action::WorkTicket => vec![
            route(Method::PATCH, api(&format!("/tickets/{}", w.ticket)), Some(json!({"status": "pending"})), on_ticket),
            route(
                Method::POST,
                api(&format!("/tickets/{}/replies", w.ticket)),
                Some(json!({"body": "On it"})),
                on_ticket,
            ),
            upload(api(&format!("/tickets/{}/attachments", w.ticket)), on_ticket),
        ],
        Action::AssignTicket => vec![route(
            Method::PATCH,
            api(&format!("/tickets/{}", w.ticket)),
            Some(json!({"assignee_email": "member2@example.test"})),
            on_ticket,
        )],
        Action::ManageSubmitLinks => vec![
            route(Method::GET, api("/submit-links"), None, whole),
            route(Method::POST, api("/submit-links"), None, whole),
            route(Method::DELETE, api("/submit-links"), None, whole),
        ],
        Action::ManageGrants => vec![
            route(Method::GET, api(&format!("/jobs/{job}/grants")), None, on_job),
            route(Method::PUT, api(&format!("/jobs/{job}/grants/{}", w.grantee.id)), None, on_job),
            route(Method::DELETE, api(&format!("/jobs/{job}/grants/{}", w.grantee.id)), None, on_job),
        ],
    }
}

/// One workspace with a member of every role (and a second one of each to act on), a
/// job the grantee holds a grant on, a pending invite; and a second workspace the
/// outsider owns.
struct World {
    ws: String,
    job: String,
    /// A photo of the job, and one in trash.
    photo: String,
    trashed_photo: String,
    /// A report of the job's photo, and one in trash.
    report: String,
    trashed_report: String,
    /// A share link of the job.
    link: String,
    /// An asset, and one in trash.
    asset: String,
    /// A ticket, assigned to the Restricted actor when the case grants, and a file on it.
    ticket: String,
    attachment: String,
    trashed_asset: String,
    invite: String,
    owner: User,
    admin: User,
    member: User,
    restricted: User,
    admin2: User,
    member2: User,
    grantee: User,
    outsider: User,
}

impl World {
    /// A member of `role` other than the actors.
    fn member_with(&self, role: Role) -> &User {
        match role {
            Role::Owner => &self.owner,
            Role::Admin => &self.admin2,
            Role::Member => &self.member2,
            Role::Restricted => &self.grantee,
        }
    }
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
    let mut users = Vec::new();
    for (name, role) in [
        ("admin", "admin"),
        ("member", "member"),
        ("restricted", "restricted"),
        ("admin2", "admin"),
        ("member2", "member"),
        ("grantee", "restricted"),
    ] {
        let u = t.user(name).await;
        t.join(&ws, &owner, &u, role).await;
        users.push(u);
    }
    let outsider = t.user("outsider").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let [admin, member, restricted, admin2, member2, grantee] =
        <[User; 6]>::try_from(users).unwrap_or_else(|_| unreachable!());
    for (who, give) in [(&grantee, true), (&restricted, granted)] {
        if give {
            let r = t.put(&format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", who.id), &owner).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &owner, json!({"role": "member"})).await;
    let invite = r.str("id");
    let photo = t.photo(&ws, &owner, &job).await;
    t.process(&ws, &photo).await;
    // Locations shown, so that only the role decides who reads one.
    let settings = json!({"settings": {"show_photo_location": true}});
    let r = t.call(Method::PATCH, &format!("/api/v1/workspaces/{ws}"), Some(&owner), Some(settings)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let trashed_photo = t.photo(&ws, &owner, &job).await;
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/photos/{trashed_photo}"), &owner).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let reports = format!("/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let body = json!({"title": "Survey", "notes": "Roof", "items": [{"photo_id": photo, "caption": "North side"}]});
    let report = t.post(&reports, &owner, body).await.str("id");
    let trashed_report = t.post(&reports, &owner, json!({"title": "Old"})).await.str("id");
    let r = t.delete(&format!("{reports}/{trashed_report}"), &owner).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = t.post(&format!("/api/v1/workspaces/{ws}/share-links"), &owner, json!({"target": "job", "id": job})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let link = r.str("id");
    let asset = t.asset(&ws, &owner, "Ladder").await;
    let trashed_asset = t.asset(&ws, &owner, "Old ladder").await;
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/assets/{trashed_asset}"), &owner).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let field = json!({"key": "warranty", "label": "Warranty"});
    let r = t.post(&format!("/api/v1/workspaces/{ws}/asset-fields"), &owner, field).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let assignee = if granted { "restricted@example.test" } else { "member2@example.test" };
    let body = json!({"subject": "Printer", "body": "Jams", "assignee_email": assignee});
    let r = t.post(&format!("/api/v1/workspaces/{ws}/tickets"), &owner, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ticket = r.str("id");
    let files = format!("/api/v1/workspaces/{ws}/tickets/{ticket}/attachments");
    let r = t.call_typed(Method::POST, &files, &owner, "image/jpeg", crate::harness::jpeg(200)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let attachment = r.str("id");
    let r = t.call(Method::POST, &format!("/api/v1/workspaces/{ws}/submit-links"), Some(&owner), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The outsider is Owner of a workspace of their own: their role there gives nothing here.
    t.workspace(&outsider, "Elsewhere").await;
    World {
        ws,
        job,
        photo,
        trashed_photo,
        report,
        trashed_report,
        link,
        asset,
        trashed_asset,
        ticket,
        attachment,
        invite,
        owner,
        admin,
        member,
        restricted,
        admin2,
        member2,
        grantee,
        outsider,
    }
}

fn expected(decision: Decision, facts: ResourceFacts) -> Result<(), (u16, &'static str)> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Deny(DenyReason::NotMember | DenyReason::NotGranted) => Err((404, "not_found")),
        Decision::Deny(DenyReason::RoleInsufficient) => Err((403, "role_insufficient")),
        Decision::Deny(DenyReason::TargetOutOfReach) => match facts {
            ResourceFacts::Member { target: Some(Role::Owner), .. } => Err((409, "owner_protected")),
            _ => Err((403, "target_out_of_reach")),
        },
        Decision::Deny(DenyReason::RoleNotAssignable) => Err((403, "role_not_assignable")),
    }
}

#[actix_web::test]
async fn every_role_action_and_workspace_case_answers_as_the_policy_decides() {
    let (mut cases, mut requests) = (0, 0);
    for action in Action::ALL {
        for variant in variants(action) {
            for standing in [Some(Role::Owner), Some(Role::Admin), Some(Role::Member), Some(Role::Restricted), None] {
                // Only a Restricted actor's grant is in play; others are never granted.
                let actor_granted = variant.granted && standing == Some(Role::Restricted);
                let v = Variant { granted: actor_granted, ..variant };
                // A fresh world per route: allowed requests change it.
                let n = routes(action, &world(&test_app().await, false).await, v).len();
                for i in 0..n {
                    let t = test_app().await;
                    let w = world(&t, actor_granted).await;
                    let actor = match standing {
                        Some(Role::Owner) => &w.owner,
                        Some(Role::Admin) => &w.admin,
                        Some(Role::Member) => &w.member,
                        Some(Role::Restricted) => &w.restricted,
                        None => &w.outsider,
                    };
                    let r = routes(action, &w, v).swap_remove(i);
                    let decision = decide(ActorFacts { role: standing }, action, r.facts);
                    let before = t.snapshot(&w.ws).await;
                    let res = match r.raw {
                        Some((raw, kind)) => t.call_typed(r.method.clone(), &r.path, actor, kind, raw).await,
                        None => t.call(r.method.clone(), &r.path, Some(actor), r.body).await,
                    };
                    let case = format!(
                        "{action:?} as {standing:?} ({v:?}): {} {} → {} {}",
                        r.method, r.path, res.status, res.text
                    );
                    match expected(decision, r.facts) {
                        Ok(()) => assert!((200..300).contains(&res.status), "expected success: {case}"),
                        Err((status, code)) => {
                            assert_eq!((res.status, res.code()), (status, Some(code)), "{case}");
                            assert_eq!(t.snapshot(&w.ws).await, before, "a refused request changed something: {case}");
                        }
                    }
                    requests += 1;
                }
                cases += 1;
            }
        }
    }
    // 5 standings × (17 plain actions + (6 job + 2 ticket actions) × 2 + 3 invited roles + 9 target × new-role
    // pairs + 4 removal targets + 4 session-management targets).
    assert_eq!(cases, 5 * (17 + 8 * 2 + 3 + 9 + 4 + 4));
    assert!(requests > cases);
}

#[actix_web::test]
async fn another_workspaces_ids_answer_not_found_even_for_its_owner_elsewhere() {
    // The Owner of workspace B mixes B's id with A's job id: still nothing.
    let t = test_app().await;
    let w = world(&t, false).await;
    let b = t.workspace(&w.outsider, "B").await;
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/workspaces/{b}/jobs/{}", w.job), None),
        (Method::PATCH, format!("/api/v1/workspaces/{b}/jobs/{}", w.job), Some(json!({"title": "x"}))),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/jobs/{}", w.job), None),
        (Method::PUT, format!("/api/v1/workspaces/{b}/jobs/{}/grants/{}", w.job, w.grantee.id), None),
        (Method::PATCH, format!("/api/v1/workspaces/{b}/members/{}", w.member.id), Some(json!({"role": "restricted"}))),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/members/{}", w.member.id), None),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/invites/{}", w.invite), None),
        (Method::GET, format!("/api/v1/workspaces/{b}/photos/{}", w.photo), None),
        (Method::GET, format!("/api/v1/workspaces/{b}/photos/{}/content", w.photo), None),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/photos/{}", w.photo), None),
        (Method::GET, format!("/api/v1/workspaces/{b}/jobs/{}/photos", w.job), None),
        (Method::POST, format!("/api/v1/workspaces/{b}/photos/{}/purge", w.trashed_photo), None),
        (Method::GET, format!("/api/v1/workspaces/{b}/jobs/{}/reports/{}", w.job, w.report), None),
        (Method::GET, format!("/api/v1/workspaces/{b}/jobs/{}/reports/{}/pdf", w.job, w.report), None),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{b}/jobs/{}/reports/{}", w.job, w.report),
            Some(json!({"title": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/jobs/{}/reports/{}", w.job, w.report), None),
        (
            Method::POST,
            format!("/api/v1/workspaces/{b}/jobs/{}/reports", w.job),
            Some(json!({"title": "x", "items": [{"photo_id": w.photo}]})),
        ),
        (Method::POST, format!("/api/v1/workspaces/{b}/share-links"), Some(json!({"target": "job", "id": w.job}))),
        (Method::POST, format!("/api/v1/workspaces/{b}/share-links"), Some(json!({"target": "photo", "id": w.photo}))),
        (Method::DELETE, format!("/api/v1/workspaces/{b}/share-links/{}", w.link), None),
        (Method::GET, format!("/api/v1/workspaces/{b}/share-links/{}/views", w.link), None),
    ] {
        let before = t.snapshot(&w.ws).await;
        let r = t.call(method.clone(), &path, Some(&w.outsider), body).await;
        assert_eq!((r.status, r.code()), (404, Some("not_found")), "{method} {path}: {}", r.text);
        assert_eq!(t.snapshot(&w.ws).await, before);
    }
    let r = t.get(&format!("/api/v1/workspaces/{}/jobs/{}", w.ws, w.job), &w.owner).await;
    assert_eq!(r.status, 200);
}
