//! Members, ownership and invites.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post};
use chrono::Duration;
use workvault_domain::secret::Token;
use workvault_domain::service::InviteRequest;

use super::{Reply, created, id};
use crate::AppState;
use crate::dto::{
    CreateInvite, InviteCreated, InviteOut, Joined, List, ListQuery, MemberOut, SessionInfoOut, TransferOwnership,
    UpdateMember, WorkspaceOut,
};
use crate::problem::{ApiError, NOT_FOUND, Problem};
use crate::session::Caller;

/// The members of a workspace, newest first (Owner, Admin, Member).
#[utoipa::path(tag = "members", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<MemberOut>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/members")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.members(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, MemberOut::from)))
}

/// Changes a member's role; effective on their very next request.
#[utoipa::path(tag = "members", params(("ws" = String, Path), ("user" = String, Path)), request_body = UpdateMember, responses(
    (status = 200, body = MemberOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/workspaces/{ws}/members/{user}")]
pub async fn update(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<UpdateMember>,
) -> Reply {
    let (ws, user) = (id(&path.0, "workspace")?, id(&path.1, "user")?);
    let member = state.app.change_role(&caller.ctx, ws, user, body.role.into()).await?;
    Ok(HttpResponse::Ok().json(MemberOut::from(member)))
}

/// Removes a member: their grants go, their sessions end.
#[utoipa::path(tag = "members", params(("ws" = String, Path), ("user" = String, Path)), responses(
    (status = 204, description = "Removed"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/members/{user}")]
pub async fn remove(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, user) = (id(&path.0, "workspace")?, id(&path.1, "user")?);
    state.app.remove_member(&caller.ctx, ws, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A member's live sessions (Owner, Admin; an Admin only for members below Admin).
#[utoipa::path(tag = "members", params(("ws" = String, Path), ("user" = String, Path)), responses(
    (status = 200, body = List<SessionInfoOut>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/members/{user}/sessions")]
pub async fn sessions(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, user) = (id(&path.0, "workspace")?, id(&path.1, "user")?);
    let all = state.app.member_sessions(&caller.ctx, ws, user).await?;
    Ok(HttpResponse::Ok().json(List::all(all.into_iter().map(SessionInfoOut::from).collect())))
}

/// Signs a member out of one session, at once (audited).
#[utoipa::path(tag = "members", params(("ws" = String, Path), ("user" = String, Path), ("session" = String, Path)), responses(
    (status = 204, description = "Revoked"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/members/{user}/sessions/{session}")]
pub async fn revoke_session(state: Data<AppState>, caller: Caller, path: Path<(String, String, String)>) -> Reply {
    let (ws, user, session) = (id(&path.0, "workspace")?, id(&path.1, "user")?, id(&path.2, "session")?);
    state.app.revoke_member_session(&caller.ctx, ws, user, session).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hands ownership to another member (Owner only); the caller becomes an Admin.
#[utoipa::path(tag = "members", params(("ws" = String, Path)), request_body = TransferOwnership, responses(
    (status = 200, body = WorkspaceOut, description = "The workspace with the caller's new role"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/ownership")]
pub async fn transfer(
    state: Data<AppState>,
    caller: Caller,
    path: Path<String>,
    body: Json<TransferOwnership>,
) -> Reply {
    let ws = id(&path, "workspace")?;
    let to = id(&body.user_id, "user")?;
    Ok(HttpResponse::Ok().json(WorkspaceOut::new(state.app.transfer_ownership(&caller.ctx, ws, to).await?)))
}

/// Creates a single-use, expiring invite link (Owner, Admin). The link is shown once.
#[utoipa::path(tag = "invites", params(("ws" = String, Path)), request_body = CreateInvite, responses(
    (status = 201, body = InviteCreated),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/invites")]
pub async fn create_invite(
    state: Data<AppState>,
    caller: Caller,
    path: Path<String>,
    body: Json<CreateInvite>,
) -> Reply {
    let ws = id(&path, "workspace")?;
    let body = body.into_inner();
    let req = InviteRequest {
        role: body.role.map(Into::into),
        expires_in: body.expires_in.map(|s| Duration::try_seconds(s).unwrap_or(Duration::MAX)),
        email: body.email,
    };
    let (invite, token) = state.app.create_invite(&caller.ctx, ws, req).await?;
    let out = InviteCreated {
        invite: InviteOut::from(&invite),
        url: state.settings.link(&format!("/invites/{}", token.expose())),
    };
    Ok(created(format!("/api/v1/workspaces/{ws}/invites/{}", invite.id), &out))
}

/// Pending invites (Owner, Admin).
#[utoipa::path(tag = "invites", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<InviteOut>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/invites")]
pub async fn list_invites(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.invites(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, |i| InviteOut::from(&i))))
}

/// Revokes a pending invite (Owner, Admin).
#[utoipa::path(tag = "invites", params(("ws" = String, Path), ("id" = String, Path)), responses(
    (status = 204, description = "Revoked"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/invites/{id}")]
pub async fn revoke_invite(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, invite) = (id(&path.0, "workspace")?, id(&path.1, "invite")?);
    state.app.revoke_invite(&caller.ctx, ws, invite).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts an invite for the signed-in user.
#[utoipa::path(tag = "invites", params(("token" = String, Path, description = "The invite token from the link")), responses(
    (status = 200, body = Joined),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 410, body = Problem, content_type = "application/problem+json"),
))]
#[post("/invites/{token}/accept")]
pub async fn accept(state: Data<AppState>, caller: Caller, path: Path<String>, _req: HttpRequest) -> Reply {
    let token = Token::parse(&path).ok_or_else(|| ApiError::new(NOT_FOUND, "no such invite"))?;
    let (ws, membership) = state.app.accept_invite(&caller.ctx, &token).await?;
    Ok(HttpResponse::Ok().json(Joined { workspace: WorkspaceOut::new((ws, membership.role)) }))
}
