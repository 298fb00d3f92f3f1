//! Serving stored bytes: one `Range` (RFC 9110 §14), a strong `ETag` from the content
//! hash with `If-None-Match`, `Cache-Control: private`, and the body streamed as the
//! blob store decrypts it.

use std::ops::Range;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use workvault_domain::blob::ByteStream;

/// What a `Range` header asks of content of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No usable range: the whole content (no header, another unit, several ranges, or
    /// a malformed header, which RFC 9110 says to ignore).
    Whole,
    /// One satisfiable range.
    Part(Range<u64>),
    /// A well-formed range outside the content: 416.
    Unsatisfiable,
}

/// Parses a `Range` header value for content of `size` bytes.
pub fn parse_range(value: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Whole };
    let num =
        |s: &str| if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse::<u64>().ok() };
    match (first.trim(), last.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => Ranged::Unsatisfiable,
            Some(n) if size > 0 => Ranged::Part(size.saturating_sub(n)..size),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Whole,
        },
        (start, end) => match (num(start), end) {
            (Some(s), _) if s >= size => Ranged::Unsatisfiable,
            (Some(s), "") => Ranged::Part(s..size),
            (Some(s), e) => match num(e) {
                Some(e) if e >= s => Ranged::Part(s..e.saturating_add(1).min(size)),
                _ => Ranged::Whole,
            },
            (None, _) => Ranged::Whole,
        },
    }
}

/// Whether `If-None-Match` names this entity tag (or `*`).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').map(str::trim).any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
    })
}

/// The headers every answer about this content carries.
pub fn content_headers(res: &mut actix_web::HttpResponseBuilder, etag: &str) {
    res.insert_header((header::ETAG, etag.to_owned()))
        .insert_header((header::CACHE_CONTROL, "private"))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
}

/// The response for `range` of content of `size` bytes, streamed from `body`.
pub fn streamed(
    req: &HttpRequest,
    media_type: &str,
    etag: &str,
    size: u64,
    range: Range<u64>,
    body: ByteStream,
) -> HttpResponse {
    let whole = range.start == 0 && range.end == size;
    let mut res = HttpResponse::build(if whole { StatusCode::OK } else { StatusCode::PARTIAL_CONTENT });
    content_headers(&mut res, etag);
    res.insert_header((header::CONTENT_TYPE, media_type.to_owned()));
    res.insert_header((header::CONTENT_DISPOSITION, "inline"));
    if !whole {
        res.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{size}", range.start, range.end - 1)));
    }
    let path = crate::middleware::logged_path(req);
    let stream = body.map(move |piece| {
        piece.map_err(|e| {
            // Headers are gone already: the connection is cut, so a client never takes
            // a truncated or tampered body for the real one.
            tracing::error!(error = %e, %path, "content stream failed");
            actix_web::error::ErrorInternalServerError("content stream failed")
        })
    });
    res.no_chunking(range.end - range.start).streaming(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let p = |v: &str| parse_range(Some(v), 1000);
        assert_eq!(parse_range(None, 1000), Ranged::Whole);
        assert_eq!(p("bytes=0-99"), Ranged::Part(0..100));
        assert_eq!(p("bytes=500-"), Ranged::Part(500..1000));
        assert_eq!(p("bytes=-100"), Ranged::Part(900..1000));
        assert_eq!(p("bytes=-5000"), Ranged::Part(0..1000));
        assert_eq!(p("bytes=900-5000"), Ranged::Part(900..1000));
        assert_eq!(p("bytes=999-999"), Ranged::Part(999..1000));
        assert_eq!(p("bytes=1000-"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=5000-6000"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranged::Unsatisfiable);
        for ignored in ["items=0-1", "bytes=0-1,5-6", "bytes=5-1", "bytes=a-b", "bytes=", "bytes=-", "bytes=+1-2"] {
            assert_eq!(p(ignored), Ranged::Whole, "{ignored}");
        }
        assert_eq!(parse_range(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn if_none_match_names_the_tag_or_a_star() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"abc\""));
        h.insert(header::IF_NONE_MATCH, header::HeaderValue::from_static("\"x\", \"abc\""));
        assert!(not_modified(&h, "\"abc\""));
        h.insert(header::IF_NONE_MATCH, header::HeaderValue::from_static("W/\"abc\""));
        assert!(not_modified(&h, "\"abc\""));
        h.insert(header::IF_NONE_MATCH, header::HeaderValue::from_static("*"));
        assert!(not_modified(&h, "\"zzz\""));
    }
}
