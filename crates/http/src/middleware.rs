//! The middleware every response passes through: a request id (in `X-Request-Id`, in
//! error bodies and in audit events), problem bodies rendered with that id, security
//! headers, `noindex` on the API, an access log that never prints a token, and the
//! refusal of request bodies the server would have to inflate.

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

/// The name every route gives a path segment that is a secret token.
const TOKEN_PARAM: &str = "token";

/// Path prefixes whose next segment is a secret token, for paths no route matched.
const TOKEN_PATHS: &[&str] = &["/auth/link/", "/invites/", "/api/v1/invites/", "/s/", "/t/new/", "/t/"];

/// Segments at least this long are redacted from paths no route matched (tokens are
/// 43 characters; no id or name in a route is this long).
const LONG_SEGMENT: usize = 32;

/// The path a log line shows. A matched request is logged by its route, with the
/// values of its parameters but `[redacted]` for a token, so no spelling of the path
/// (`/%73/<token>`, `/s/<token>/`) can bring a token into the log. A path no route
/// matched is percent-decoded, then its token prefixes and its long segments redacted.
pub fn logged_path(req: &actix_web::HttpRequest) -> String {
    let Some(pattern) = req.match_pattern() else { return redact_path(req.path()) };
    let info = req.match_info();
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        let name = rest[open + 1..open + close].split(':').next().unwrap_or("");
        if name == TOKEN_PARAM {
            out.push_str("[redacted]");
        } else {
            out.push_str(info.get(name).unwrap_or("?"));
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The path with every token segment replaced, safe for a log line (for paths no
/// route matched).
pub fn redact_path(raw: &str) -> String {
    let path = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let path = path.as_ref();
    let path = TOKEN_PATHS
        .iter()
        .find_map(|prefix| {
            let rest = path.strip_prefix(prefix)?;
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            Some(format!("{prefix}[redacted]{tail}"))
        })
        .unwrap_or_else(|| path.to_owned());
    path.split('/')
        .map(|segment| if segment.chars().count() >= LONG_SEGMENT { "[redacted]" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
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
    let is_api = req.path().starts_with("/api/");
    let hsts = state.as_ref().is_some_and(|s| s.settings.hsts);

    let res = match refuse_encoded_body(&req, is_api) {
        Some(refusal) => req.into_response(refusal),
        None => next.call(req).await?.map_into_boxed_body(),
    };
    let path = logged_path(res.request());
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

/// A request whose body is content-coded (`Content-Encoding` other than `identity`) is
/// refused with 415 before anything reads it: the server never inflates a body, so a
/// few kilobytes of gzip cannot become gigabytes in memory ahead of any size limit or
/// token check. A problem document on the API, a readable page elsewhere.
fn refuse_encoded_body(req: &ServiceRequest, is_api: bool) -> Option<actix_web::HttpResponse> {
    let mut codings = req.headers().get_all(header::CONTENT_ENCODING);
    let encoded = codings.any(|value| match value.to_str() {
        Ok(list) => list.split(',').map(str::trim).any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity")),
        Err(_) => true,
    });
    if !encoded {
        return None;
    }
    const WHY: &str = "Request bodies must not be content-coded: send them without Content-Encoding.";
    Some(if is_api {
        actix_web::HttpResponse::from_error(ApiError::new(p::UNSUPPORTED_MEDIA_TYPE, WHY))
    } else {
        crate::pages::message(actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "This request cannot be taken", WHY)
    })
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
    use super::{logged_path, redact_path};

    #[test]
    fn token_segments_never_reach_the_log() {
        assert_eq!(redact_path("/auth/link/abcdef"), "/auth/link/[redacted]");
        assert_eq!(redact_path("/api/v1/invites/abcdef/accept"), "/api/v1/invites/[redacted]/accept");
        assert_eq!(redact_path("/invites/abcdef"), "/invites/[redacted]");
        assert_eq!(redact_path("/api/v1/workspaces/x"), "/api/v1/workspaces/x");
        assert_eq!(redact_path("/t/new/abcdef"), "/t/new/[redacted]");
        assert_eq!(redact_path("/t/abcdef/replies"), "/t/[redacted]/replies");
        assert_eq!(redact_path("/s/abcdef/download"), "/s/[redacted]/download");
        let token = "A".repeat(43);
        assert_eq!(redact_path(&format!("/%73/{token}")), "/s/[redacted]", "percent-encoded prefix");
        assert_eq!(redact_path(&format!("//s/{token}/x")), "//s/[redacted]/x", "a long segment anywhere");
    }

    #[actix_web::test]
    async fn matched_routes_are_logged_by_their_pattern() {
        use actix_web::{App, HttpRequest, HttpResponse, test, web};
        let app = test::init_service(
            App::new()
                .route("/s/{token}/photos/{photo}", web::get().to(|r: HttpRequest| async move { logged_path(&r) }))
                .default_service(web::to(
                    |r: HttpRequest| async move { HttpResponse::NotFound().body(logged_path(&r)) },
                )),
        )
        .await;
        let token = "Zm9vYmFy".repeat(5);
        for uri in [format!("/s/{token}/photos/p1"), format!("/%73/{token}/photos/p1")] {
            let body = test::call_and_read_body(&app, test::TestRequest::get().uri(&uri).to_request()).await;
            assert_eq!(body, "/s/[redacted]/photos/p1", "{uri}");
        }
        let body =
            test::call_and_read_body(&app, test::TestRequest::get().uri(&format!("/%73/{token}")).to_request()).await;
        assert_eq!(body, "/s/[redacted]", "an unmatched spelling is decoded before it is redacted");
    }
}
