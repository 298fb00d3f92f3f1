//! Asset CSV import and export over HTTP.
//!
//! The import reads the body once to check it, piece by piece, while copying it to an
//! unlinked spool file; only a file with no problem is read again and written, in one
//! transaction. Neither pass holds more than a record and a batch of rows in memory.

use std::path::Path as FsPath;

use actix_web::http::header;
use actix_web::web::{Data, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse, get, post};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};
use utoipa::ToSchema;
use workvault_domain::blob::{BlobError, ByteStream};

use super::{Reply, closing, csv_download, id};
use crate::AppState;
use crate::problem::{
    ApiError, BODY_INCOMPLETE, PAYLOAD_TOO_LARGE, Problem, STORE_UNAVAILABLE, UNSUPPORTED_MEDIA_TYPE,
};
use crate::session::Caller;

/// How to import.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Check the file and count what would change, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOut {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Rows read (the header aside).
    pub rows: u64,
    /// New assets.
    pub created: u64,
    /// Existing assets changed.
    pub updated: u64,
    /// Existing assets the file left as they were.
    pub unchanged: u64,
}

/// An unlinked temporary file: the body's copy between the check and the write.
struct Spool {
    file: BufWriter<tokio::fs::File>,
}

impl Spool {
    async fn create(dir: &FsPath, name: String) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join(name);
        let file = tokio::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).await?;
        // Gone from the directory at once: the open handle is the only way to it, and
        // nothing is left behind if the process dies.
        tokio::fs::remove_file(&path).await?;
        Ok(Self { file: BufWriter::with_capacity(1 << 20, file) })
    }

    async fn write(&mut self, piece: &[u8]) -> std::io::Result<()> {
        self.file.write_all(piece).await
    }

    /// The copy, from its start, in pieces of up to 256 KiB.
    async fn read_back(mut self) -> std::io::Result<ByteStream> {
        self.file.flush().await?;
        let mut file = self.file.into_inner();
        file.seek(std::io::SeekFrom::Start(0)).await?;
        let pieces = futures_util::stream::try_unfold(file, |mut file| async move {
            let mut buf = BytesMut::with_capacity(256 * 1024);
            let n = file.read_buf(&mut buf).await.map_err(|e| BlobError::Body(e.to_string()))?;
            Ok((n > 0).then(|| (buf.freeze(), file)))
        });
        Ok(Box::pin(pieces))
    }
}

fn spool_failed(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "the import spool failed");
    ApiError::new(STORE_UNAVAILABLE, "the import could not be staged on this server; nothing was written")
}

/// `text/csv`, with no charset or UTF-8.
fn is_csv(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let mut parts = value.split(';').map(|p| p.trim().to_ascii_lowercase());
    parts.next().as_deref() == Some("text/csv")
        && parts.all(|p| !p.starts_with("charset=") || matches!(p.as_str(), "charset=utf-8" | "charset=\"utf-8\""))
}

/// Imports assets from CSV (Owner, Admin), all or nothing.
///
/// Columns: `id, name, tag, serial, category, status, location, assignee_email,
/// purchase_date, cost, notes`, then `custom.<key>`; only `name` is required, header
/// names are matched case-insensitively, a UTF-8 BOM is dropped. A row with an `id`
/// updates that asset of the workspace (unchanged rows stay as they are, so the same
/// file imports twice to the same state); a row without one creates an asset. A file
/// with any problem changes nothing and answers 422 `csv_invalid` with `row_errors`
/// (`{row, column, code, message}`, at most 100) and `error_count`.
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = ImportOut),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "`csv_invalid`: nothing was written"),
    ))]
#[post("/workspaces/{ws}/assets/import")]
pub async fn import(
    state: Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: Path<String>,
    query: Query<ImportQuery>,
    mut payload: Payload,
) -> Reply {
    let ws = id(&path, "workspace")?;
    if !is_csv(&req) {
        return Ok(closing(ApiError::new(UNSUPPORTED_MEDIA_TYPE, "the body must be text/csv (UTF-8)")));
    }
    let limit = state.app.limits().max_import_bytes;
    let too_large = || ApiError::new(PAYLOAD_TOO_LARGE, format!("the file must be at most {limit} bytes"));
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(closing(too_large()));
    }
    let mut check = match state.app.begin_asset_import(&caller.ctx, ws).await {
        Ok(check) => check,
        Err(e) => return Ok(closing(e.into())),
    };
    let mut name = [0u8; 16];
    state.app.rng().fill(&mut name);
    let mut spool = Spool::create(&state.settings.spool_dir, format!(".import-{}", hex::encode(name)))
        .await
        .map_err(spool_failed)?;
    let mut read = 0_u64;
    while let Some(piece) = payload.next().await {
        let piece = piece.map_err(|e| ApiError::new(BODY_INCOMPLETE, format!("the body could not be read: {e}")))?;
        read += piece.len() as u64;
        if read > limit {
            return Ok(closing(too_large()));
        }
        check.check(&piece);
        spool.write(&piece).await.map_err(spool_failed)?;
    }
    check.check(&[]);
    let checked = check.finish()?;
    let body = spool.read_back().await.map_err(spool_failed)?;
    let counts = state.app.apply_asset_import(checked, body, query.dry_run).await?;
    Ok(HttpResponse::Ok().json(ImportOut {
        dry_run: query.dry_run,
        rows: counts.rows,
        created: counts.created,
        updated: counts.updated,
        unchanged: counts.unchanged,
    }))
}

/// Exports the live assets as CSV (Owner, Admin), streamed, in a stable column order
/// (the import's columns, then `custom.<key>` by key) and row order (creation); cells
/// that a spreadsheet would run as a formula are escaped with a leading `'`. The file
/// imports back unchanged.
#[utoipa::path(tag = "assets", params(("ws" = String, Path)), responses(
    (status = 200, description = "The CSV file", content_type = "text/csv"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/assets/export")]
pub async fn export(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    let out = state.app.export_assets(&caller.ctx, ws).await?;
    Ok(csv_download("assets", state.app.clock().now().date_naive(), out))
}
