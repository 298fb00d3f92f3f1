//! The public pages of share links (`/s/{token}`): the report, photo or gallery; the
//! password form; the photos and the download. The token is the permission, checked on
//! every request; pages are never cached or indexed, send no referrer, and run under a
//! strict CSP. Unknown, malformed and revoked links get the same page.

use std::net::IpAddr;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Data, Form, Path};
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use serde::Deserialize;
use workvault_domain::id::PhotoId;
use workvault_domain::photo::Variant;
use workvault_domain::service::{ShareRefusal, SharedPage};
use workvault_domain::share::{ShareLink, ShareTarget, Viewed};

use crate::AppState;
use crate::report::ReportPage;
use crate::report::pdf;

/// The cookie that carries a password link's unlock proof (scoped to the link's path).
pub const UNLOCK_COOKIE: &str = "wv_share";

#[derive(Template)]
#[template(path = "share_message.html")]
struct Message<'a> {
    heading: &'a str,
    message: &'a str,
}

/// Seconds a viewer waits before asking again for a photo still being prepared (the
/// worker makes its variants within about two seconds of the upload).
const PREPARING_RETRY_SECS: u32 = 2;

#[derive(Template)]
#[template(path = "share_preparing.html")]
struct Preparing {
    retry_after: u32,
}

#[derive(Template)]
#[template(path = "share_password.html")]
struct PasswordForm {
    action: String,
    wrong: bool,
}

/// The headers every public share response carries.
pub(crate) fn public(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::HeaderName::from_static("x-robots-tag"), HeaderValue::from_static("noindex, nofollow"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

pub(crate) fn page(status: StatusCode, body: &impl Template) -> HttpResponse {
    match body.render() {
        Ok(html) => public(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html)),
        Err(e) => {
            tracing::error!(error = %e, "share page template failed");
            HttpResponse::InternalServerError().content_type("text/plain").body("internal error")
        }
    }
}

/// The page for a link that shows nothing.
fn refused(refusal: ShareRefusal, action: String) -> HttpResponse {
    let (status, heading, message) = match refusal {
        ShareRefusal::Invalid => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "It may have been mistyped, or withdrawn by whoever shared it. Ask them for a new one.",
        ),
        ShareRefusal::Expired => {
            (StatusCode::GONE, "This link has expired", "Ask whoever shared it with you for a new one.")
        }
        ShareRefusal::Gone => (
            StatusCode::GONE,
            "This is no longer available",
            "What this link showed has been removed since it was shared.",
        ),
        ShareRefusal::Unprocessable => (
            StatusCode::CONFLICT,
            "This photo cannot be shown",
            "It could not be read as an image, so no copy of it could be prepared for sharing. It was not removed: \
             ask whoever shared it to upload it again in another format.",
        ),
        ShareRefusal::Preparing => {
            let mut res = page(StatusCode::SERVICE_UNAVAILABLE, &Preparing { retry_after: PREPARING_RETRY_SECS });
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(PREPARING_RETRY_SECS));
            return res;
        }
        ShareRefusal::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "This page cannot be shown right now. Try again in a moment.",
        ),
        ShareRefusal::PasswordNeeded { wrong } => {
            let status = if wrong { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
            return page(status, &PasswordForm { action, wrong });
        }
        ShareRefusal::TooManyAttempts { retry_after } => {
            let mut res = page(
                StatusCode::TOO_MANY_REQUESTS,
                &Message {
                    heading: "Too many attempts",
                    message: "Too many wrong passwords. Wait a few minutes, then try again.",
                },
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    };
    page(status, &Message { heading, message })
}

/// The viewer's network: an IPv4 /24 or an IPv6 /48, never the address.
pub fn network(addr: Option<IpAddr>) -> String {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        None => "unknown".into(),
    }
}

/// The browser family from a user agent, never the whole string.
pub fn browser_family(user_agent: &str) -> &'static str {
    let ua = user_agent;
    if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "other"
    }
}

/// Whether a user agent is a link-preview fetcher (chat apps and social sites that
/// unfurl a pasted link), by the names they give themselves.
pub fn is_link_preview(user_agent: &str) -> bool {
    const FETCHERS: [&str; 13] = [
        "Slackbot",
        "Slack-ImgProxy",
        "facebookexternalhit",
        "Facebot",
        "WhatsApp",
        "Twitterbot",
        "LinkedInBot",
        "Discordbot",
        "TelegramBot",
        "SkypeUriPreview",
        "MicrosoftPreview",
        "Pinterestbot",
        "redditbot",
    ];
    FETCHERS.iter().any(|name| user_agent.contains(name))
}

/// The viewer's network (behind a trusted proxy, the client's) and browser family.
fn viewer(state: &AppState, req: &HttpRequest) -> (String, &'static str) {
    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    (network(state.settings.client_ip(req)), browser_family(ua))
}

/// Records a view before anything is shown: a view that cannot be recorded is not
/// shown (503), so the workspace's record of who opened its links is complete.
async fn record(state: &AppState, req: &HttpRequest, link: &ShareLink, viewed: Viewed) -> Result<(), HttpResponse> {
    if !state.settings.record_share_views {
        return Ok(());
    }
    let (net, browser) = viewer(state, req);
    match state.app.record_share_view(link, viewed, &net, browser).await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "a share link view could not be recorded");
            Err(refused(ShareRefusal::Unavailable, String::new()))
        }
    }
}

/// What a request to a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// The page itself: shows the password form when locked; recorded as a view.
    Page,
    /// One of its images or its download: a plain 401 when locked.
    Part,
}

/// The link behind the path's token, open and unlocked, with what it shows (and, for
/// the page, its view recorded in the same trip to the store); or the response to give
/// instead: the password form on the page itself, a plain 401 for its parts.
async fn resolve(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    purpose: Purpose,
) -> Result<SharedPage, HttpResponse> {
    let action = format!("/s/{token}");
    let link = state.app.open_share(token).await.map_err(|r| refused(r, action.clone()))?;
    let proof = req.cookie(UNLOCK_COOKIE);
    if !state.app.unlocked(&link, proof.as_ref().map(|c| c.value())) {
        if purpose == Purpose::Part {
            let message = "Open the link's page and enter its password first.";
            return Err(page(StatusCode::UNAUTHORIZED, &Message { heading: "Password needed", message }));
        }
        return Err(refused(ShareRefusal::PasswordNeeded { wrong: false }, action));
    }
    let shared = if purpose == Purpose::Page && state.settings.record_share_views {
        let (net, browser) = viewer(state, req);
        state.app.view_shared_page(link, &net, browser).await
    } else {
        state.app.shared_page(link).await
    };
    shared.map_err(|r| refused(r, action))
}

/// A shared report, photo or gallery.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, content_type = "text/html", description = "The shared page, or the password form"),
    (status = 404, content_type = "text/html", description = "Unknown, malformed or revoked link (one page for all)"),
    (status = 409, content_type = "text/html", description = "The shared photo could not be read as an image: nothing to show (it was not removed)"),
    (status = 410, content_type = "text/html", description = "Expired link, or its content removed since"),
    (status = 503, content_type = "text/html", description = "The shared photo is still being prepared (`Retry-After`; the page reloads itself), or the view could not be recorded, so nothing is shown"),
))]
#[get("/s/{token}")]
pub async fn show(state: Data<AppState>, req: HttpRequest, path: Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if is_link_preview(ua) {
        // A chat app unfurling a pasted link: nothing of the content goes to its
        // servers, and no view is recorded (nobody saw anything). The same page for
        // every token, so it tells nothing about one either.
        let message = "Open this link in a browser to see what was shared.";
        return page(StatusCode::OK, &Message { heading: "Shared through Workvault", message });
    }
    let shared = match resolve(&state, &req, &token, Purpose::Page).await {
        Ok(shared) => shared,
        Err(res) => return res,
    };
    let base = format!("/s/{token}");
    let image_url = |id: PhotoId, variant: &str| format!("{base}/photos/{id}/{variant}");
    let download_url = shared.link.allow_download.then(|| format!("{base}/download"));
    public(ReportPage::new(&shared.view, image_url, download_url).without_capture_times().respond())
}

/// A password form that cannot be read (not a form, too long, no `password` field):
/// a readable page, not a problem document, since a browser sent it.
pub(crate) fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    let message = "The form could not be read. Go back to the link and try again.";
    let res = page(StatusCode::BAD_REQUEST, &Message { heading: "Form not understood", message });
    actix_web::error::InternalError::from_response(err, res).into()
}

/// The password form's answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Unlock {
    /// The link's password.
    password: String,
}

/// Checks a link's password (attempts limited per link and network, in the database);
/// the right one sets the unlock cookie and goes back to the page.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 303, description = "Unlocked; back to the page"),
    (status = 401, content_type = "text/html", description = "Wrong password: the form again"),
    (status = 429, content_type = "text/html", description = "Too many wrong passwords (`Retry-After`)"),
))]
#[post("/s/{token}")]
pub async fn unlock(state: Data<AppState>, req: HttpRequest, path: Path<String>, form: Form<Unlock>) -> HttpResponse {
    let token = path.into_inner();
    let action = format!("/s/{token}");
    let link: ShareLink = match state.app.open_share(&token).await {
        Ok(link) => link,
        Err(r) => return refused(r, action),
    };
    let (net, _) = viewer(&state, &req);
    match state.app.unlock_share(&link, &form.password, &net).await {
        Ok(proof) => {
            let cookie = Cookie::build(UNLOCK_COOKIE, proof)
                .path(action.clone())
                .http_only(true)
                .secure(state.settings.secure_cookies)
                .same_site(SameSite::Lax)
                .finish();
            public(HttpResponse::SeeOther().insert_header((header::LOCATION, action)).cookie(cookie).finish())
        }
        Err(r) => refused(r, action),
    }
}

/// A shared photo's stripped variant (`thumb` or `large`), for the page.
#[utoipa::path(tag = "pages", params(("token" = String, Path), ("photo" = String, Path), ("variant" = String, Path)), responses(
    (status = 200, content_type = "image/jpeg", description = "The image"),
    (status = 404, content_type = "text/html", description = "Not a link, or not a variant it shows"),
    (status = 409, content_type = "text/html", description = "The photo could not be read as an image: it has no variants (it was not removed)"),
    (status = 410, content_type = "text/html", description = "Not part of what the link shows, or removed since"),
    (status = 503, content_type = "text/html", description = "The photo's variants are still being made (`Retry-After`)"),
))]
#[get("/s/{token}/photos/{photo}/{variant}")]
pub async fn photo(state: Data<AppState>, req: HttpRequest, path: Path<(String, String, String)>) -> HttpResponse {
    let (token, photo, variant) = path.into_inner();
    let photo: String = photo;
    let shared = match resolve(&state, &req, &token, Purpose::Part).await {
        Ok(shared) => shared,
        Err(res) => return res,
    };
    let variant = match variant.as_str() {
        "thumb" => Variant::Thumb,
        "large" => Variant::Large,
        _ => return refused(ShareRefusal::Invalid, String::new()),
    };
    let Ok(id) = photo.parse::<PhotoId>() else { return refused(ShareRefusal::Invalid, String::new()) };
    match state.app.shared_photo(&shared, id, variant).await {
        Ok((size, body)) => public(image(size, body)),
        Err(r) => refused(r, String::new()),
    }
}

fn image(size: u64, body: workvault_domain::blob::ByteStream) -> HttpResponse {
    use futures_util::StreamExt;
    let stream = body.map(|piece| piece.map_err(|_| actix_web::error::ErrorInternalServerError("image stream failed")));
    HttpResponse::Ok().content_type("image/jpeg").no_chunking(size).streaming(stream)
}

/// The download, when the link allows it: a report or gallery as PDF, a photo as its
/// `large` variant. Recorded as a view.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, description = "The PDF or the image"),
    (status = 403, content_type = "text/html", description = "Downloads are off for this link"),
    (status = 409, content_type = "text/html", description = "The shared photo could not be read as an image: nothing to download (it was not removed)"),
    (status = 503, content_type = "text/html", description = "The shared photo is still being prepared (`Retry-After`), or the download could not be recorded, so nothing is sent"),
))]
#[get("/s/{token}/download")]
pub async fn download(state: Data<AppState>, req: HttpRequest, path: Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let shared = match resolve(&state, &req, &token, Purpose::Part).await {
        Ok(shared) => shared,
        Err(res) => return res,
    };
    if !shared.link.allow_download {
        let message = "Whoever shared this link did not allow downloads.";
        return page(StatusCode::FORBIDDEN, &Message { heading: "Downloads are off", message });
    }
    if let Err(res) = record(&state, &req, &shared.link, Viewed::Download).await {
        return res;
    }
    if let ShareTarget::Photo(id) = shared.link.target {
        return match state.app.shared_photo(&shared, id, Variant::Large).await {
            Ok((size, body)) => {
                let mut res = image(size, body);
                let name = format!("attachment; filename=\"photo-{id}.jpg\"");
                if let Ok(v) = HeaderValue::from_str(&name) {
                    res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                public(res)
            }
            Err(r) => refused(r, String::new()),
        };
    }
    public(pdf::respond(state.app.clone(), shared.view, false, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_are_kept_as_a_network_and_a_browser_family() {
        assert_eq!(network("203.0.113.77".parse().ok()), "203.0.113.0/24");
        assert_eq!(network("2001:db8:aa:bb::1".parse().ok()), "2001:db8:aa::/48");
        assert_eq!(network("::ffff:198.51.100.9".parse().ok()), "198.51.100.0/24", "mapped IPv4");
        assert_eq!(network(None), "unknown");
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
        assert_eq!(browser_family(chrome), "Chrome");
        assert_eq!(browser_family("Mozilla/5.0 ... Chrome/120 Safari/537.36 Edg/120.0"), "Edge");
        assert_eq!(browser_family("Mozilla/5.0 (Macintosh) Gecko/20100101 Firefox/128.0"), "Firefox");
        assert_eq!(browser_family("Mozilla/5.0 (iPhone) AppleWebKit Version/17.0 Mobile Safari/604.1"), "Safari");
        assert_eq!(browser_family("curl/8.5.0"), "other");
    }

    #[test]
    fn link_previews_are_told_from_browsers() {
        for preview in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        ] {
            assert!(is_link_preview(preview), "{preview}");
        }
        for browser in [
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
             Mobile/15E148 [LinkedInApp]",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/24.1 \
             Chrome/120.0 Safari/537.36",
        ] {
            assert!(!is_link_preview(browser), "{browser}");
        }
    }
}
