//! The middleware every response passes through: a request id (in `X-Request-Id`, in
//! error bodies and in audit events), problem bodies rendered with that id, security
//! headers, `noindex` on the API, and an access log that never prints a token.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpMessage};
use workvault_domain::id::RequestId;

use crate::AppState;
use crate::problem::{self as p, ApiError};

/// The request id of the current request, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ReqId(pub RequestId);

/// Path prefixes whose next segment is a secret token, redacted in logs.
const TOKEN_PATHS: &[&str] = &["/auth/link/", "/invites/", "/api/v1/invites/", "/s/", "/t/new/", "/t/"];

/// The path with every token segment replaced, safe for a log line.
pub fn redact_path(path: &str) -> String {
    for prefix in TOKEN_PATHS {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}[redacted]{tail}");
        }
    }
    path.to_owned()
}

/// Request id, problem rendering, security headers and the access log.
pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<Data<AppState>>().cloned();
    let id = match &state {
        Some(s) => RequestId::generate(&**s.app.clock(), &**s.app.rng()),
        None => RequestId::from_uuid(uuid::Uuid::nil()),
    };
    req.extensions_mut().insert(ReqId(id));
    let method = req.method().clone();
    let path = redact_path(req.path());
    let is_api = req.path().starts_with("/api/");
    let hsts = state.as_ref().is_some_and(|s| s.settings.hsts);

    let res = next.call(req).await?.map_into_boxed_body();
    let mut res = render_problem(res, id);
    let status = res.status();
    let headers = res.headers_mut();
    set(headers, "x-request-id", &id.to_string());
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "permissions-policy", "camera=(), microphone=(), geolocation=()");
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(headers, "content-security-policy", &crate::pages::PAGE_CSP);
    }
    if is_api {
        set(headers, "x-robots-tag", "noindex, nofollow");
        if !headers.contains_key(header::CACHE_CONTROL) {
            set(headers, "cache-control", "no-store");
        }
    }
    if hsts {
        set(headers, "strict-transport-security", "max-age=63072000; includeSubDomains");
    }
    tracing::info!(
        target: "workvault::access",
        request_id = %id,
        method = %method,
        path = %path,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(res)
}

fn set(headers: &mut header::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Renders an [`ApiError`] with the request id; turns any other 5xx into a plain
/// `internal` problem (the cause was logged where it happened). A readable HTML page
/// a public page's extractor answered with stays as it is.
fn render_problem(res: ServiceResponse<BoxBody>, id: RequestId) -> ServiceResponse<BoxBody> {
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html && res.response().error().is_some_and(|e| e.as_error::<ApiError>().is_none()) {
        return res;
    }
    let api = res.response().error().map(|e| match e.as_error::<ApiError>() {
        Some(api) => api.clone(),
        None => {
            let status = e.as_response_error().status_code();
            let code = match status.as_u16() {
                401 => p::UNAUTHENTICATED,
                404 => p::NOT_FOUND,
                405 => p::METHOD_NOT_ALLOWED,
                413 => p::PAYLOAD_TOO_LARGE,
                415 => p::UNSUPPORTED_MEDIA_TYPE,
                s if s < 500 => p::INVALID_BODY,
                _ => p::INTERNAL,
            };
            if code == p::INTERNAL {
                tracing::error!(request_id = %id, error = %e, "unhandled error");
                ApiError::plain(code)
            } else {
                ApiError::new(code, e.to_string())
            }
        }
    });
    let Some(api) = api else { return res };
    let body = api.body(Some(id.to_string()));
    let mut res = res.map_body(|_, _| BoxBody::new(body));
    if let Ok(status) = actix_web::http::StatusCode::from_u16(api.code.status) {
        *res.response_mut().status_mut() = status;
    }
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res
}

#[cfg(test)]
mod tests {
    use super::redact_path;

    #[test]
    fn token_segments_never_reach_the_log() {
        assert_eq!(redact_path("/auth/link/abcdef"), "/auth/link/[redacted]");
        assert_eq!(redact_path("/api/v1/invites/abcdef/accept"), "/api/v1/invites/[redacted]/accept");
        assert_eq!(redact_path("/invites/abcdef"), "/invites/[redacted]");
        assert_eq!(redact_path("/api/v1/workspaces/x"), "/api/v1/workspaces/x");
        assert_eq!(redact_path("/t/new/abcdef"), "/t/new/[redacted]");
        assert_eq!(redact_path("/t/abcdef/replies"), "/t/[redacted]/replies");
        assert_eq!(redact_path("/s/abcdef/download"), "/s/[redacted]/download");
    }
}
