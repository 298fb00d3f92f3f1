//! Workspaces: create, list mine, read, rename.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, get, patch, post};

use workvault_domain::service::WorkspaceChange;

use super::{Reply, created, id};
use crate::AppState;
use crate::dto::{CreateWorkspace, List, ListQuery, UpdateWorkspace, WorkspaceOut};
use crate::problem::Problem;
use crate::session::Caller;

/// Creates a workspace; the caller becomes its Owner.
#[utoipa::path(tag = "workspaces", request_body = CreateWorkspace, responses(
    (status = 201, body = WorkspaceOut, headers(("Location" = String))),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces")]
pub async fn create(state: Data<AppState>, caller: Caller, body: Json<CreateWorkspace>) -> Reply {
    let out = WorkspaceOut::new(state.app.create_workspace(&caller.ctx, &body.name).await?);
    Ok(created(format!("/api/v1/workspaces/{}", out.id), &out))
}

/// The caller's workspaces, newest first.
#[utoipa::path(tag = "workspaces", params(ListQuery), responses((status = 200, body = List<WorkspaceOut>)))]
#[get("/workspaces")]
pub async fn list(state: Data<AppState>, caller: Caller, q: Query<ListQuery>) -> Reply {
    let page = state.app.my_workspaces(&caller.ctx, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, WorkspaceOut::new)))
}

/// One workspace, with the caller's role.
#[utoipa::path(tag = "workspaces", params(("ws" = String, Path, description = "Workspace id")), responses(
    (status = 200, body = WorkspaceOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}")]
pub async fn show(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    Ok(HttpResponse::Ok().json(WorkspaceOut::new(state.app.workspace(&caller.ctx, ws).await?)))
}

/// Renames a workspace or changes its settings (Owner, Admin).
#[utoipa::path(tag = "workspaces", params(("ws" = String, Path, description = "Workspace id")), request_body = UpdateWorkspace, responses(
    (status = 200, body = WorkspaceOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/workspaces/{ws}")]
pub async fn update(state: Data<AppState>, caller: Caller, path: Path<String>, body: Json<UpdateWorkspace>) -> Reply {
    let ws = id(&path, "workspace")?;
    let b = body.into_inner();
    let settings = b.settings.unwrap_or_default();
    let change = WorkspaceChange {
        name: b.name,
        show_photo_location: settings.show_photo_location,
        share_view_retention_days: settings.share_view_retention_days,
    };
    let out = state.app.update_workspace(&caller.ctx, ws, change).await?;
    Ok(HttpResponse::Ok().json(WorkspaceOut::new(out)))
}
