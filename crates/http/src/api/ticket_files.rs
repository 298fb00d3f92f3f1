//! Files on tickets: a member attaches a photo or a PDF (raw body, streamed into the
//! blob store, sealed), and anyone who may read the ticket downloads it. Downloads are
//! always attachments, never rendered in the API's origin.

use std::pin::pin;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Data, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse, get, post};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workvault_domain::blob::{BlobError, ByteStream};
use workvault_domain::ticket::TicketAttachment;

use super::photos::{pump, uploads_busy};
use super::{Reply, closing, created, id};
use crate::AppState;
use crate::problem::{ApiError, PAYLOAD_TOO_LARGE, Problem};
use crate::session::Caller;

/// A file on a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentOut {
    /// Attachment id.
    pub id: String,
    /// `jpeg`, `png`, `heic`, `webp` or `pdf` (told from the bytes).
    pub kind: &'static str,
    /// The name it was sent with.
    pub file_name: Option<String>,
    /// Length in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// `staff` or `requester`.
    pub by: &'static str,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<TicketAttachment> for AttachmentOut {
    fn from(a: TicketAttachment) -> Self {
        AttachmentOut {
            id: a.id.to_string(),
            kind: a.kind.as_str(),
            file_name: a.file_name.map(String::from),
            size: a.size,
            sha256: hex::encode(a.sha256),
            by: if a.by_requester { "requester" } else { "staff" },
            created_at: a.created_at,
        }
    }
}

/// How an attachment is sent.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttachQuery {
    /// The file's name, for people.
    pub file_name: Option<String>,
}

/// The response of a file download: the bytes as an attachment, under a sandbox.
pub(crate) fn download(att: &TicketAttachment, body: ByteStream) -> HttpResponse {
    let name: String = att
        .file_name
        .as_ref()
        .map(|n| n.as_str().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect())
        .filter(|n: &String| !n.is_empty())
        .unwrap_or_else(|| format!("attachment-{}.{}", att.id, att.kind.as_str()));
    let body = body.map(|piece| piece.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string())));
    let mut res = HttpResponse::Ok()
        .content_type(att.kind.media_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::CONTENT_LENGTH, att.size))
        .streaming(body);
    res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    res
}

/// Attaches a file to a ticket (who may work it): a JPEG, PNG, HEIC or WebP photo or a
/// PDF, as the raw body, at most `blobs.max_upload_mib`; at most 20 per ticket (409
/// past that). Takes one of the node's upload slots; a body that sends nothing for
/// `blobs.upload_idle_timeout_secs` is cut off and nothing is stored.
#[utoipa::path(tag = "tickets", params(("ws" = String, Path), ("ticket" = String, Path), AttachQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = AttachmentOut),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The ticket holds 20 files already"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`uploads_busy`: as many uploads as this server takes are in progress (`Retry-After`)"),
    ))]
#[post("/workspaces/{ws}/tickets/{ticket}/attachments")]
pub async fn attach(
    state: Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: Path<(String, String)>,
    query: Query<AttachQuery>,
    payload: Payload,
) -> Reply {
    let (ws, ticket) = (id(&path.0, "workspace")?, id(&path.1, "ticket")?);
    let Some(_slot) = state.settings.upload_slot() else { return Ok(uploads_busy()) };
    let payload = state.settings.idle_limited(payload);
    let limit = state.app.limits().max_upload_bytes;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(closing(ApiError::new(PAYLOAD_TOO_LARGE, format!("the file must be at most {limit} bytes"))));
    }
    let (tx, rx) = futures_channel::mpsc::channel::<Result<bytes::Bytes, BlobError>>(4);
    let body: ByteStream = Box::pin(rx);
    let file_name = query.into_inner().file_name;
    let upload = pin!(state.app.attach_to_ticket(&caller.ctx, ws, ticket, file_name.as_deref(), body));
    let pumping = pin!(pump(payload, tx));
    let att = match select(upload, pumping).await {
        Either::Left((Err(e), _)) => return Ok(closing(ApiError::from(e))),
        Either::Left((Ok(att), _)) => att,
        Either::Right(((), upload)) => upload.await?,
    };
    Ok(created(format!("/api/v1/workspaces/{ws}/tickets/{ticket}/attachments/{}", att.id), &AttachmentOut::from(att)))
}

/// A file of a ticket (who may read the ticket), as an attachment.
#[utoipa::path(tag = "tickets", params(("ws" = String, Path), ("ticket" = String, Path), ("attachment" = String, Path)), responses(
    (status = 200, description = "The file", content_type = "application/octet-stream"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/tickets/{ticket}/attachments/{attachment}")]
pub async fn attachment(state: Data<AppState>, caller: Caller, path: Path<(String, String, String)>) -> Reply {
    let (ws, ticket, att) = (id(&path.0, "workspace")?, id(&path.1, "ticket")?, id(&path.2, "attachment")?);
    let (att, body) = state.app.ticket_attachment(&caller.ctx, ws, ticket, att).await?;
    Ok(download(&att, body))
}
