//! Jobs and grants.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post, put};
use workvault_domain::service::{JobChange, NewJob};

use super::{Reply, created, id};
use crate::AppState;
use crate::dto::{CreateJob, GrantOut, JobOut, List, ListQuery, UpdateJob};
use crate::problem::Problem;
use crate::session::Caller;

/// Creates a job (Owner, Admin, Member).
#[utoipa::path(tag = "jobs", params(("ws" = String, Path)), request_body = CreateJob, responses(
    (status = 201, body = JobOut, headers(("Location" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/jobs")]
pub async fn create(state: Data<AppState>, caller: Caller, path: Path<String>, body: Json<CreateJob>) -> Reply {
    let ws = id(&path, "workspace")?;
    let b = body.into_inner();
    let new =
        NewJob { title: b.title, description: b.description, address: b.address, status: b.status.map(Into::into) };
    let job = state.app.create_job(&caller.ctx, ws, new).await?;
    Ok(created(format!("/api/v1/workspaces/{ws}/jobs/{}", job.id), &JobOut::from(job)))
}

/// The jobs the caller may see, newest first (a Restricted member's granted jobs only).
#[utoipa::path(tag = "jobs", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<JobOut>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.jobs(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, JobOut::from)))
}

/// One job.
#[utoipa::path(tag = "jobs", params(("ws" = String, Path), ("job" = String, Path)), responses(
    (status = 200, body = JobOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}")]
pub async fn show(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    Ok(HttpResponse::Ok().json(JobOut::from(state.app.job(&caller.ctx, ws, job).await?)))
}

/// Edits a job.
#[utoipa::path(tag = "jobs", params(("ws" = String, Path), ("job" = String, Path)), request_body = UpdateJob, responses(
    (status = 200, body = JobOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/workspaces/{ws}/jobs/{job}")]
pub async fn update(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<UpdateJob>,
) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    let b = body.into_inner();
    let change =
        JobChange { title: b.title, description: b.description, address: b.address, status: b.status.map(Into::into) };
    Ok(HttpResponse::Ok().json(JobOut::from(state.app.update_job(&caller.ctx, ws, job, change).await?)))
}

/// Moves a job to trash (Owner, Admin).
#[utoipa::path(tag = "jobs", params(("ws" = String, Path), ("job" = String, Path)), responses(
    (status = 204, description = "Moved to trash"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/jobs/{job}")]
pub async fn delete(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    state.app.delete_job(&caller.ctx, ws, job).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The grants on a job (Owner, Admin).
#[utoipa::path(tag = "grants", params(("ws" = String, Path), ("job" = String, Path)), responses(
    (status = 200, body = List<GrantOut>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}/grants")]
pub async fn grants(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    let all = state.app.grants(&caller.ctx, ws, job).await?;
    Ok(HttpResponse::Ok().json(List::all(all.into_iter().map(GrantOut::from).collect())))
}

/// Grants a Restricted member access to a job (Owner, Admin). Idempotent: 201 when
/// created, 200 when it existed.
#[utoipa::path(tag = "grants", params(("ws" = String, Path), ("job" = String, Path), ("user" = String, Path)), responses(
    (status = 201, body = GrantOut),
    (status = 200, body = GrantOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[put("/workspaces/{ws}/jobs/{job}/grants/{user}")]
pub async fn grant(state: Data<AppState>, caller: Caller, path: Path<(String, String, String)>) -> Reply {
    let (ws, job, user) = (id(&path.0, "workspace")?, id(&path.1, "job")?, id(&path.2, "user")?);
    let (grant, was_created) = state.app.grant_job(&caller.ctx, ws, job, user).await?;
    let out = GrantOut::from(grant);
    Ok(if was_created {
        created(format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{user}"), &out)
    } else {
        HttpResponse::Ok().json(out)
    })
}

/// Revokes a grant (Owner, Admin); effective on the member's very next request.
#[utoipa::path(tag = "grants", params(("ws" = String, Path), ("job" = String, Path), ("user" = String, Path)), responses(
    (status = 204, description = "Revoked"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/jobs/{job}/grants/{user}")]
pub async fn revoke(state: Data<AppState>, caller: Caller, path: Path<(String, String, String)>) -> Reply {
    let (ws, job, user) = (id(&path.0, "workspace")?, id(&path.1, "job")?, id(&path.2, "user")?);
    state.app.revoke_grant(&caller.ctx, ws, job, user).await?;
    Ok(HttpResponse::NoContent().finish())
}
