//! A report rendered for reading: the HTML page (server-side, the same template for
//! members and, later, for share links: only the image and download addresses differ)
//! and the printable PDF ([`pdf`]). Both show the stripped variants only.

mod fonts;
pub(crate) mod pdf;

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use askama::Template;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use workvault_domain::id::PhotoId;
use workvault_domain::service::ReportView;

/// The page's only style sheet, inline, allowed by its hash in the CSP (no
/// `unsafe-inline`, no other origin).
const CSS: &str = "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d1d1f;background:#fff}\
main{max-width:60rem;margin:0 auto;padding:2rem 1rem}\
h1{font-size:1.8rem;margin:0 0 .25rem}\
.facts,.taken,.left-out{color:#666;font-size:.9rem}\
.notes{white-space:pre-wrap;margin:1.5rem 0}\
figure{margin:2rem 0;break-inside:avoid}\
img{display:block;max-width:100%;height:auto;border-radius:4px}\
figcaption{white-space:pre-wrap;margin-top:.5rem}\
.download{display:inline-block;padding:.4rem .9rem;border:1px solid #1d1d1f;border-radius:4px;color:inherit;text-decoration:none}\
@media print{.download{display:none}main{padding:0}}";

/// The CSP of a rendered report: images from this origin, the style by hash, nothing else.
pub(crate) static REPORT_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; img-src 'self'; style-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
});

/// One photo on the page.
pub(crate) struct Figure {
    thumb: String,
    large: String,
    width: u32,
    height: u32,
    alt: String,
    caption: Option<String>,
    taken: Option<String>,
}

/// The report page.
#[derive(Template)]
#[template(path = "report.html")]
pub(crate) struct ReportPage {
    css: &'static str,
    title: String,
    notes: Option<String>,
    updated: String,
    updated_iso: String,
    figures: Vec<Figure>,
    left_out: usize,
    pdf_url: Option<String>,
}

impl ReportPage {
    /// The page of `view`, its images at `image(photo, variant)` and its PDF at `pdf_url`
    /// (none when downloads are off).
    pub(crate) fn new(view: &ReportView, image: impl Fn(PhotoId, &str) -> String, pdf_url: Option<String>) -> Self {
        let report = view.report();
        let figures: Vec<Figure> = view
            .showable()
            .enumerate()
            .map(|(i, entry)| {
                let facts = entry.photo.facts.unwrap_or_default();
                let caption = entry.caption.as_ref().map(|c| c.to_string());
                Figure {
                    thumb: image(entry.photo.id, "thumb"),
                    large: image(entry.photo.id, "large"),
                    width: facts.width.max(1),
                    height: facts.height.max(1),
                    alt: caption.clone().unwrap_or_else(|| format!("Photo {}", i + 1)),
                    caption,
                    taken: facts.taken_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()),
                }
            })
            .collect();
        Self {
            css: CSS,
            title: report.title.to_string(),
            notes: report.notes.as_ref().map(|n| n.to_string()),
            updated: report.updated_at.format("%Y-%m-%d").to_string(),
            updated_iso: report.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            left_out: view.entries().len() - figures.len(),
            figures,
            pdf_url,
        }
    }

    /// The same page without the photos' capture times (for link holders: when a photo
    /// was taken is metadata of the original, kept inside the workspace).
    pub(crate) fn without_capture_times(mut self) -> Self {
        for figure in &mut self.figures {
            figure.taken = None;
        }
        self
    }

    /// The page as a response: never cached, never indexed, under the report CSP.
    pub(crate) fn respond(&self) -> HttpResponse {
        match self.render() {
            Ok(body) => HttpResponse::build(StatusCode::OK)
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "private, no-store"))
                .insert_header((header::CONTENT_SECURITY_POLICY, REPORT_CSP.as_str()))
                .insert_header(("x-robots-tag", "noindex, nofollow"))
                .body(body),
            Err(e) => {
                tracing::error!(error = %e, "report template failed");
                HttpResponse::InternalServerError().content_type("text/plain").body("internal error")
            }
        }
    }
}
