//! Job photos: streamed upload, list, metadata, content (ranges, `ETag`), trash,
//! restore and purge.

use std::pin::pin;

use actix_multipart::{Field, Multipart};
use actix_web::http::header;
use actix_web::web::{Data, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, post};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::{Either, select};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workvault_domain::blob::{BlobError, ByteStream};
use workvault_domain::photo::{Photo, Variant};
use workvault_domain::service::Want;

use super::content::{Ranged, content_headers, not_modified, parse_range, streamed};
use super::{Reply, closing, created, id};
use crate::AppState;
use crate::dto::{List, ListQuery};
use crate::problem::{ApiError, EMPTY_BODY, INVALID_BODY, INVALID_QUERY, PAYLOAD_TOO_LARGE, Problem, UPLOADS_BUSY};
use crate::session::Caller;

/// A photo's record.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoOut {
    /// Photo id.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// The job it belongs to.
    pub job_id: String,
    /// `jpeg`, `png`, `heic` or `webp` (told from the bytes).
    #[serde(rename = "type")]
    pub image_type: String,
    /// The media type the content is served with.
    pub media_type: String,
    /// Bytes of the original.
    pub size: u64,
    /// SHA-256 of the original, hex (also the content's `ETag`).
    pub sha256: String,
    /// The file name the uploader gave.
    pub file_name: Option<String>,
    /// Uploader.
    pub created_by: String,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
    /// When it went to trash (`null` when live).
    pub deleted_at: Option<DateTime<Utc>>,
    /// `processing` (variants being made), `ready`, or `unprocessable` (not a readable
    /// image: only the original is kept).
    pub status: String,
    /// Width in pixels, orientation applied (once `ready`).
    pub width: Option<u32>,
    /// Height likewise.
    pub height: Option<u32>,
    /// When it was taken, camera local time (EXIF), if recorded. The location is never
    /// part of the record: it stays in the encrypted original, and Owners and Admins of
    /// a workspace that shows locations read it at `…/photos/{photo}/location`.
    pub taken_at: Option<chrono::NaiveDateTime>,
    /// Where the image is: the `large` variant (2048 px, orientation applied, every
    /// metadata stripped) once `ready`; `?variant=thumb` for 400 px; `?variant=original`
    /// for the bytes as uploaded (Owner and Admin only: they may hold the location).
    pub content_url: String,
}

impl From<Photo> for PhotoOut {
    fn from(p: Photo) -> Self {
        Self {
            content_url: format!("/api/v1/workspaces/{}/photos/{}/content", p.workspace_id, p.id),
            id: p.id.to_string(),
            workspace_id: p.workspace_id.to_string(),
            job_id: p.job_id.to_string(),
            image_type: p.image_type.as_str().to_owned(),
            media_type: p.image_type.mime().to_owned(),
            size: p.size,
            sha256: p.sha256_hex(),
            file_name: p.file_name.map(|n| n.to_string()),
            created_by: p.created_by.to_string(),
            created_at: p.created_at,
            deleted_at: p.deleted_at,
            status: p.status.as_str().to_owned(),
            width: p.facts.map(|f| f.width),
            height: p.facts.map(|f| f.height),
            taken_at: p.facts.and_then(|f| f.taken_at),
        }
    }
}

/// Upload options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name, kept for display (up to 200 characters).
    pub file_name: Option<String>,
}

/// Hands a body over to the upload as it arrives (at most a few pieces ahead),
/// stopping as soon as the upload stops reading.
pub(crate) async fn pump<S, E>(mut body: S, mut tx: futures_channel::mpsc::Sender<Result<Bytes, BlobError>>)
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| BlobError::Body(e.to_string()));
        let failed = piece.is_err();
        if tx.send(piece).await.is_err() || failed {
            return;
        }
    }
}

/// The answer when every upload slot of this node is taken: 503 `uploads_busy` with
/// `Retry-After`, closing the connection so the client stops sending.
pub(crate) fn uploads_busy() -> HttpResponse {
    let busy = ApiError::new(UPLOADS_BUSY, "too many uploads in progress on this server; retry in a few seconds");
    closing(busy.with_header("retry-after", crate::upload::BUSY_RETRY_AFTER_SECS.to_string()))
}

/// Largest form field read (and dropped) before the file part of a multipart upload.
const FORM_FIELD_LIMIT: usize = 64 * 1024;
/// Most form fields read (and dropped) before the file part.
const FORM_FIELDS_BEFORE_FILE: usize = 16;

/// The file part of a `multipart/form-data` body: the first part with a file name (or
/// named `file`). Parts before it are read and dropped (up to 64 KiB each).
async fn file_part(form: &mut Multipart) -> Result<Field, ApiError> {
    let bad = |detail: String| ApiError::new(INVALID_BODY, detail);
    let mut skipped = 0;
    loop {
        let Some(part) = form.next().await else {
            return Err(ApiError::new(EMPTY_BODY, "the form has no file part"));
        };
        skipped += 1;
        if skipped > FORM_FIELDS_BEFORE_FILE {
            return Err(bad(format!("more than {FORM_FIELDS_BEFORE_FILE} form fields before the file")));
        }
        let mut part = part.map_err(|e| bad(format!("the form is not valid: {e}")))?;
        let is_file =
            part.content_disposition().and_then(|c| c.get_filename()).is_some() || part.name() == Some("file");
        if is_file {
            return Ok(part);
        }
        let mut read = 0;
        while let Some(piece) = part.next().await {
            read += piece.map_err(|e| bad(format!("the form is not valid: {e}")))?.len();
            if read > FORM_FIELD_LIMIT {
                return Err(bad("a form field before the file is over 64 KiB".into()));
            }
        }
    }
}

/// Uploads a photo to a job: the raw image as the body (any `Content-Type` but
/// `multipart/form-data`: the type is told from the bytes), or a form with a file part.
/// Streamed: never held whole; refused past the size limit.
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("job" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The image bytes (JPEG, PNG, HEIC or WebP), or multipart/form-data with a file part"),
    responses(
        (status = 201, body = PhotoOut, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Empty or cut-off body, or a bad form"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`uploads_busy`: as many uploads as this server takes are in progress (`Retry-After`)"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
    ))]
#[post("/workspaces/{ws}/jobs/{job}/photos")]
pub async fn upload(
    state: Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: Path<(String, String)>,
    query: Query<UploadQuery>,
    payload: Payload,
) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    let Some(_slot) = state.settings.upload_slot() else { return Ok(uploads_busy()) };
    let payload = state.settings.idle_limited(payload);
    let limit = state.app.limits().max_upload_bytes;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(closing(ApiError::new(PAYLOAD_TOO_LARGE, format!("the upload must be at most {limit} bytes"))));
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let (tx, rx) = futures_channel::mpsc::channel(4);
    let mut file_name = query.into_inner().file_name;
    let pumping: futures_util::future::LocalBoxFuture<'static, ()> = if form {
        let mut form = Multipart::new(req.headers(), payload);
        let part = file_part(&mut form).await?;
        if file_name.is_none() {
            file_name = part.content_disposition().and_then(|c| c.get_filename()).map(str::to_owned);
        }
        // The part reads through the form: keep the form alive while it streams.
        Box::pin(async move {
            pump(part, tx).await;
            drop(form);
        })
    } else {
        Box::pin(pump(payload, tx))
    };
    let body: ByteStream = Box::pin(rx);
    let upload = pin!(state.app.upload_photo(&caller.ctx, ws, job, file_name.as_deref(), body));
    let photo = match select(upload, pumping).await {
        // Refused before the body was read to its end (too large, wrong type, not
        // found): answer at once and close the connection, so the client stops sending.
        Either::Left((Err(e), _)) => return Ok(closing(ApiError::from(e))),
        Either::Left((Ok(photo), _)) => photo,
        // The whole body was handed over: the upload finishes from its buffer.
        Either::Right(((), upload)) => upload.await?,
    };
    Ok(created(format!("/api/v1/workspaces/{ws}/photos/{}", photo.id), &PhotoOut::from(photo)))
}

/// A job's photos, newest first.
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("job" = String, Path), ListQuery), responses(
    (status = 200, body = List<PhotoOut>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/jobs/{job}/photos")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<(String, String)>, q: Query<ListQuery>) -> Reply {
    let (ws, job) = (id(&path.0, "workspace")?, id(&path.1, "job")?);
    let page = state.app.photos(&caller.ctx, ws, job, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, PhotoOut::from)))
}

/// One photo's record.
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("photo" = String, Path)), responses(
    (status = 200, body = PhotoOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/photos/{photo}")]
pub async fn show(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, photo) = (id(&path.0, "workspace")?, id(&path.1, "photo")?);
    Ok(HttpResponse::Ok().json(PhotoOut::from(state.app.photo(&caller.ctx, ws, photo).await?)))
}

/// Which bytes of a photo.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContentQuery {
    /// `large` (the default: 2048 px), `thumb` (400 px), both with orientation applied
    /// and every metadata stripped; or `original`, the bytes as uploaded (location
    /// included: Owner and Admin only).
    pub variant: Option<String>,
}

/// A photo's bytes, streamed and decrypted as they go: one `Range` (206), a strong
/// `ETag` (the SHA-256) with `If-None-Match` (304), `Cache-Control: private`.
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("photo" = String, Path), ContentQuery), responses(
    (status = 200, description = "The image", content_type = "image/*"),
    (status = 206, description = "The range asked for", content_type = "image/*"),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "The original, asked for by a Member or Restricted member"),
    (status = 304, description = "Not modified"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The variant is still being made"),
    (status = 410, body = Problem, content_type = "application/problem+json", description = "The workspace's key was destroyed"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "Not a readable image: only the original exists"),
    (status = 416, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/photos/{photo}/content")]
pub async fn content(
    state: Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: Path<(String, String)>,
    q: Query<ContentQuery>,
) -> Reply {
    let (ws, id_) = (id(&path.0, "workspace")?, id(&path.1, "photo")?);
    let variant = match q.variant.as_deref() {
        None => Variant::Large,
        Some(v) => Variant::parse(v)
            .ok_or_else(|| ApiError::new(INVALID_QUERY, "variant must be `original`, `large` or `thumb`"))?,
    };
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let inm = req.headers().get(header::IF_NONE_MATCH).cloned();
    // Authorized, and the photo read, in one statement; what to send is decided on it.
    let got = state
        .app
        .photo_content(&caller.ctx, ws, id_, variant, |photo| {
            let mut headers = header::HeaderMap::new();
            if let Some(v) = inm {
                headers.insert(header::IF_NONE_MATCH, v);
            }
            if not_modified(&headers, &etag_of(photo, variant)) {
                return Want::Nothing;
            }
            match parse_range(range.as_deref(), photo.variant_size(variant).unwrap_or(0)) {
                Ranged::Whole => Want::Whole,
                Ranged::Part(r) => Want::Range(r),
                Ranged::Unsatisfiable => Want::Unsatisfiable,
            }
        })
        .await?;
    let etag = etag_of(&got.photo, variant);
    let size = got.photo.variant_size(variant).unwrap_or(0);
    let media_type = if variant == Variant::Original { got.photo.image_type.mime() } else { "image/jpeg" };
    match got.body {
        None => {
            let mut res = HttpResponse::NotModified();
            content_headers(&mut res, &etag);
            Ok(res.finish())
        }
        Some(body) => Ok(streamed(&req, media_type, &etag, size, got.range, body.0)),
    }
}

/// The original's SHA-256; a variant's tag derives from it (variants are made from it,
/// deterministically).
fn etag_of(photo: &Photo, variant: Variant) -> String {
    match variant {
        Variant::Original => format!("\"{}\"", photo.sha256_hex()),
        other => format!("\"{}-{}\"", photo.sha256_hex(), other.as_str()),
    }
}

/// A place as recorded by the camera (WGS 84, decimal degrees).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceOut {
    /// Latitude, north positive.
    pub latitude: f64,
    /// Longitude, east positive.
    pub longitude: f64,
    /// Metres above sea level, if recorded.
    pub altitude: Option<f64>,
}

/// A photo's location.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationOut {
    /// Where it was taken; `null` when the original records no location.
    pub location: Option<PlaceOut>,
}

/// The GPS location recorded in a photo's original (Owner, Admin; only when the
/// workspace setting `show_photo_location` is on). Read from the encrypted original
/// each time and audited (`photo.location_viewed`).
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("photo" = String, Path)), responses(
    (status = 200, body = LocationOut),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "A Member or Restricted member, or `location_hidden` when the workspace does not show locations"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/photos/{photo}/location")]
pub async fn location(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, photo) = (id(&path.0, "workspace")?, id(&path.1, "photo")?);
    let found = state.app.photo_location(&caller.ctx, ws, photo).await?;
    let location = found.map(|p| PlaceOut { latitude: p.latitude, longitude: p.longitude, altitude: p.altitude });
    Ok(HttpResponse::Ok().json(LocationOut { location }))
}

/// Moves a photo to trash (restorable).
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("photo" = String, Path)), responses(
    (status = 204, description = "In trash"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/photos/{photo}")]
pub async fn trash(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, photo) = (id(&path.0, "workspace")?, id(&path.1, "photo")?);
    state.app.trash_photo(&caller.ctx, ws, photo).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Brings a photo back from trash.
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("photo" = String, Path)), responses(
    (status = 200, body = PhotoOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/photos/{photo}/restore")]
pub async fn restore(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, photo) = (id(&path.0, "workspace")?, id(&path.1, "photo")?);
    Ok(HttpResponse::Ok().json(PhotoOut::from(state.app.restore_photo(&caller.ctx, ws, photo).await?)))
}

/// Deletes a trashed photo for good: its bytes, then its record (Owner, Admin).
#[utoipa::path(tag = "photos", params(("ws" = String, Path), ("photo" = String, Path)), responses(
    (status = 204, description = "Gone for good"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such photo in trash"),
))]
#[post("/workspaces/{ws}/photos/{photo}/purge")]
pub async fn purge(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, photo) = (id(&path.0, "workspace")?, id(&path.1, "photo")?);
    state.app.purge_photo(&caller.ctx, ws, photo).await?;
    Ok(HttpResponse::NoContent().finish())
}
