//! The audit log and its verification (Owner, Admin).

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get};

use super::{Reply, id};
use crate::AppState;
use crate::dto::{AuditEventOut, List, ListQuery, VerifyOut};
use crate::problem::Problem;
use crate::session::Caller;

/// The workspace's audit events, newest first.
#[utoipa::path(tag = "audit", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<AuditEventOut>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/audit")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.audit_events(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, AuditEventOut::from)))
}

/// Recomputes the workspace's hash chain from its first event.
#[utoipa::path(tag = "audit", params(("ws" = String, Path)), responses(
    (status = 200, body = VerifyOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/audit/verify")]
pub async fn verify(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    Ok(HttpResponse::Ok().json(VerifyOut::from(state.app.verify_audit(&caller.ctx, ws).await?)))
}
