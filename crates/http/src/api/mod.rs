//! The JSON API under `/api/v1`, plus `/healthz` and `/readyz`. Every handler is
//! registered through utoipa-actix-web, so a route cannot exist without its OpenAPI
//! entry.

pub mod asset_csv;
pub mod assets;
pub mod audit;
pub mod content;
pub mod health;
pub mod jobs;
pub mod members;
pub mod photos;
pub mod reports;
pub mod session;
pub mod share;
pub mod ticket_files;
pub mod tickets;
pub mod workspaces;

use std::str::FromStr;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;

use crate::problem::{ApiError, INVALID_ID};

/// Parses an id from the path, or answers `invalid_id`.
pub(crate) fn id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(INVALID_ID, format!("`{}` is not a valid {what} id", raw.chars().take(64).collect::<String>()))
    })
}

/// 201 with `Location` and the new state.
pub(crate) fn created(location: String, body: &impl Serialize) -> HttpResponse {
    HttpResponse::Created().insert_header((header::LOCATION, location)).json(body)
}

/// An error response that also closes the connection: the body was not read (refused
/// before its end), so the client should stop sending it.
pub(crate) fn closing(e: ApiError) -> HttpResponse {
    let mut res = HttpResponse::from_error(e);
    res.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    res
}

/// A CSV export, streamed as a dated attachment that is never cached. A store failure
/// midway cuts the connection: the status went out with the first byte.
pub(crate) fn csv_download(
    stem: &str,
    today: chrono::NaiveDate,
    export: workvault_domain::service::CsvExport,
) -> HttpResponse {
    use futures_util::StreamExt;
    let body = export.body.map(|piece| {
        piece.map_err(|e| {
            tracing::error!(error = %e, "a CSV export failed midway");
            actix_web::error::ErrorInternalServerError("export failed")
        })
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{stem}-{today}.csv\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body)
}

/// Shorthand for handler results.
pub(crate) type Reply = Result<HttpResponse, ApiError>;
