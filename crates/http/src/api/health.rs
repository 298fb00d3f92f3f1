//! `/healthz` (the process is up) and `/readyz` (the store answers).

use actix_web::web::Data;
use actix_web::{HttpResponse, get};

use crate::AppState;
use crate::dto::HealthOut;

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, body = HealthOut)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthOut { status: "ok" })
}

/// The store is reachable.
#[utoipa::path(tag = "health", responses((status = 200, body = HealthOut), (status = 503, body = HealthOut)))]
#[get("/readyz")]
pub async fn readyz(state: Data<AppState>) -> HttpResponse {
    match state.app.store().ping().await {
        Ok(()) => HttpResponse::Ok().json(HealthOut { status: "ok" }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(HealthOut { status: "unavailable" })
        }
    }
}
