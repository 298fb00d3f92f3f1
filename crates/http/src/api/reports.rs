//! Photo reports of a job: create, list, read, edit (title, notes, the selection and
//! its order in one request), trash, restore, purge; the read-only HTML rendering and
//! the printable PDF.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workvault_domain::Error as DomainError;
use workvault_domain::id::{JobId, ReportId, WorkspaceId};
use workvault_domain::report::{Report, ReportItem};
use workvault_domain::service::{ItemInput, NewReport, ReportChange, ReportView};

use super::photos::PhotoOut;
use super::{Reply, created, id};
use crate::AppState;
use crate::dto::{List, ListQuery, present};
use crate::problem::{ApiError, Problem};
use crate::report::ReportPage;
use crate::report::pdf::respond as pdf_response;
use crate::session::Caller;

/// One photo of a report as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemIn {
    /// A photo of the report's job (live, not in trash).
    pub photo_id: String,
    /// What it shows (up to 2,000 characters).
    pub caption: Option<String>,
}

/// A new report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReport {
    /// Title (1 to 200 characters).
    pub title: String,
    /// Notes shown above the photos (up to 10,000 characters).
    pub notes: Option<String>,
    /// The photos, in order (at most 200, each once).
    #[serde(default)]
    pub items: Vec<ItemIn>,
}

/// A change; absent fields stay as they are. `items` is the whole new selection in its
/// new order: a reorder sends the same photos in another order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReport {
    /// New title.
    pub title: Option<String>,
    /// New notes; `null` clears them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// The new selection.
    pub items: Option<Vec<ItemIn>>,
}

/// One photo of a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOut {
    /// The photo.
    pub photo_id: String,
    /// Its caption.
    pub caption: Option<String>,
}

/// A report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportOut {
    /// Report id.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// The job whose photos it shows.
    pub job_id: String,
    /// Title.
    pub title: String,
    /// Notes.
    pub notes: Option<String>,
    /// The photos, in order.
    pub items: Vec<ItemOut>,
    /// Who made it.
    pub created_by: String,
    /// Made.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When it went to trash (`null` when live).
    pub deleted_at: Option<DateTime<Utc>>,
    /// The read-only HTML rendering.
    pub html_url: String,
    /// The printable PDF.
    pub pdf_url: String,
}

/// A report with the records of its photos, in order. A photo in trash keeps its
/// place (with `deleted_at` set) and is left out of the HTML and the PDF, as is one
/// still `processing`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportDetailOut {
    /// The report.
    #[serde(flatten)]
    pub report: ReportOut,
    /// Its photos' records, in the order of `items`.
    pub photos: Vec<PhotoOut>,
}

fn base(ws: WorkspaceId, job: JobId, report: ReportId) -> String {
    format!("/api/v1/workspaces/{ws}/jobs/{job}/reports/{report}")
}

impl From<Report> for ReportOut {
    fn from(r: Report) -> Self {
        let url = base(r.workspace_id, r.job_id, r.id);
        Self {
            html_url: format!("{url}/html"),
            pdf_url: format!("{url}/pdf"),
            id: r.id.to_string(),
            workspace_id: r.workspace_id.to_string(),
            job_id: r.job_id.to_string(),
            title: r.title.to_string(),
            notes: r.notes.map(|n| n.to_string()),
            items: r.items.into_iter().map(ItemOut::from).collect(),
            created_by: r.created_by.to_string(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        }
    }
}

impl From<ReportItem> for ItemOut {
    fn from(i: ReportItem) -> Self {
        Self { photo_id: i.photo_id.to_string(), caption: i.caption.map(|c| c.to_string()) }
    }
}

impl From<&ReportView> for ReportDetailOut {
    fn from(view: &ReportView) -> Self {
        Self {
            report: ReportOut::from(view.report().clone()),
            photos: view.entries().iter().map(|e| PhotoOut::from(e.photo.clone())).collect(),
        }
    }
}

/// The selection as sent; a malformed photo id is a bad field (422), not a bad path.
fn items(raw: Vec<ItemIn>) -> Result<Vec<ItemInput>, ApiError> {
    raw.into_iter()
        .map(|i| {
            let photo_id = i.photo_id.parse().map_err(|_| {
                let shown: String = i.photo_id.chars().take(64).collect();
                ApiError::from(DomainError::invalid("items", format!("`{shown}` is not a valid photo id")))
            })?;
            Ok(ItemInput { photo_id, caption: i.caption })
        })
        .collect()
}

type ReportPath = Path<(String, String, String)>;

fn ids(path: &ReportPath) -> Result<(WorkspaceId, JobId, ReportId), ApiError> {
    Ok((id(&path.0, "workspace")?, id(&path.1, "job")?, id(&path.2, "report")?))
}

/// Makes a report of the job's photos (as for editing the job: Owner, Admin, Member,
/// or a Restricted member granted the job).
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path)), request_body = CreateReport, responses(
    (status = 201, body = ReportDetailOut, headers(("Location" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "A bad title, notes or caption, or a photo that is not a live photo of this job"),
))]
#[post("/workspaces/{ws}/jobs/{job}/reports")]
pub async fn create(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<CreateReport>,
) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    let b = body.into_inner();
    let new = NewReport { title: b.title, notes: b.notes, items: items(b.items)? };
    let made = state.app.create_report(&caller.ctx, ws, job, new).await?;
    let view = state.app.report(&caller.ctx, ws, job, made.id).await?;
    Ok(created(base(ws, job, made.id), &ReportDetailOut::from(&view)))
}

/// The job's reports, newest first.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ListQuery), responses(
    (status = 200, body = List<ReportOut>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}/reports")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<(String, String)>, q: Query<ListQuery>) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    let page = state.app.reports(&caller.ctx, ws, job, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, ReportOut::from)))
}

/// One report with its photos' records: authorized and read in one statement.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path)), responses(
    (status = 200, body = ReportDetailOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}/reports/{report}")]
pub async fn show(state: Data<AppState>, caller: Caller, path: ReportPath) -> Reply {
    let (ws, job, report) = ids(&path)?;
    Ok(HttpResponse::Ok().json(ReportDetailOut::from(&state.app.report(&caller.ctx, ws, job, report).await?)))
}

/// Edits a report: title, notes, and the selection with its order and captions, all
/// at once or not at all. 409 if someone else changed it since it was read.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path)), request_body = UpdateReport, responses(
    (status = 200, body = ReportDetailOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/workspaces/{ws}/jobs/{job}/reports/{report}")]
pub async fn update(state: Data<AppState>, caller: Caller, path: ReportPath, body: Json<UpdateReport>) -> Reply {
    let (ws, job, report) = ids(&path)?;
    let b = body.into_inner();
    let change = ReportChange { title: b.title, notes: b.notes, items: b.items.map(items).transpose()? };
    let view = state.app.update_report(&caller.ctx, ws, job, report, change).await?;
    Ok(HttpResponse::Ok().json(ReportDetailOut::from(&view)))
}

/// Moves a report to trash (restorable); its photos stay.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path)), responses(
    (status = 204, description = "In trash"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/jobs/{job}/reports/{report}")]
pub async fn trash(state: Data<AppState>, caller: Caller, path: ReportPath) -> Reply {
    let (ws, job, report) = ids(&path)?;
    state.app.trash_report(&caller.ctx, ws, job, report).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Brings a report back from trash.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path)), responses(
    (status = 200, body = ReportDetailOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/jobs/{job}/reports/{report}/restore")]
pub async fn restore(state: Data<AppState>, caller: Caller, path: ReportPath) -> Reply {
    let (ws, job, report) = ids(&path)?;
    Ok(HttpResponse::Ok().json(ReportDetailOut::from(&state.app.restore_report(&caller.ctx, ws, job, report).await?)))
}

/// Deletes a trashed report for good (Owner, Admin); its photos stay.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path)), responses(
    (status = 204, description = "Gone for good"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such report in trash"),
))]
#[post("/workspaces/{ws}/jobs/{job}/reports/{report}/purge")]
pub async fn purge(state: Data<AppState>, caller: Caller, path: ReportPath) -> Reply {
    let (ws, job, report) = ids(&path)?;
    state.app.purge_report(&caller.ctx, ws, job, report).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The report as a read-only page: title, notes, its photos (stripped variants) with
/// their captions, and a link to the PDF.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path)), responses(
    (status = 200, description = "The page", content_type = "text/html"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}/reports/{report}/html")]
pub async fn html(state: Data<AppState>, caller: Caller, path: ReportPath) -> Reply {
    let (ws, job, report) = ids(&path)?;
    let view = state.app.report(&caller.ctx, ws, job, report).await?;
    let image = |photo, variant: &str| format!("/api/v1/workspaces/{ws}/photos/{photo}/content?variant={variant}");
    let pdf_url = format!("{}/pdf", base(ws, job, report));
    Ok(ReportPage::new(&view, image, Some(pdf_url)).respond())
}

/// Query of the PDF download.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PdfQuery {
    /// `true` to show it in the browser instead of downloading it.
    #[serde(default)]
    pub inline: bool,
}

/// The report as a printable PDF (A4): a title page with the notes, then one page per
/// photo, its `large` variant embedded, with its caption. Streamed while it is made.
#[utoipa::path(tag = "reports", params(("ws" = String, Path), ("job" = String, Path), ("report" = String, Path), PdfQuery), responses(
    (status = 200, description = "The PDF", content_type = "application/pdf"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}/reports/{report}/pdf")]
pub async fn pdf(state: Data<AppState>, caller: Caller, path: ReportPath, q: Query<PdfQuery>) -> Reply {
    let (ws, job, report) = ids(&path)?;
    let view = state.app.report(&caller.ctx, ws, job, report).await?;
    Ok(pdf_response(state.app.clone(), view, q.inline, true))
}
