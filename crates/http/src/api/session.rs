//! `GET|DELETE /api/v1/session`.

use actix_web::web::Data;
use actix_web::{HttpResponse, delete, get};
use workvault_domain::page::PageRequest;

use super::Reply;
use crate::AppState;
use crate::dto::{SessionOut, UserOut, WorkspaceOut};
use crate::problem::{ApiError, NO_SESSION, Problem};
use crate::session::{Caller, clear_session_cookie};

/// Who is signed in, and their workspaces.
#[utoipa::path(tag = "session", responses(
    (status = 200, body = SessionOut),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/session")]
pub async fn show(state: Data<AppState>, caller: Caller) -> Reply {
    let user = state.app.user(caller.ctx.user).await?;
    let max = PageRequest::new(Some(workvault_domain::page::MAX_LIMIT), None).unwrap_or_default();
    let workspaces = state.app.my_workspaces(&caller.ctx, max).await?.items;
    Ok(HttpResponse::Ok().json(SessionOut {
        user: UserOut::from(&user),
        workspaces: workspaces.into_iter().map(WorkspaceOut::new).collect(),
        expires_at: caller.session.as_ref().map(|s| s.expires_at),
    }))
}

/// Signs out: the server-side session is revoked at once.
#[utoipa::path(tag = "session", responses(
    (status = 204, description = "Signed out"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "Called with a bearer token"),
))]
#[delete("/session")]
pub async fn sign_out(state: Data<AppState>, caller: Caller) -> Reply {
    let Some(session) = &caller.session else {
        return Err(ApiError::new(
            NO_SESSION,
            "a bearer token has no session here to end: revoke it at the identity provider",
        ));
    };
    state.app.sign_out(session, caller.ctx.request_id).await?;
    Ok(HttpResponse::NoContent().cookie(clear_session_cookie(&state)).finish())
}
