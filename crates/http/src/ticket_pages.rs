//! The public ticket pages: the submit form a workspace hands out (`/t/new/{token}`)
//! and the tracking page of one ticket (`/t/{track_token}`), where its requester reads
//! the thread and replies. The token is the only permission. Pages carry the share
//! pages' headers (no-store, noindex, no-referrer) and the strict default CSP; unknown,
//! malformed, rotated and turned-off tokens all get the same page.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use std::pin::pin;

use actix_multipart::{Field, Multipart};
use actix_web::web::{Bytes, Data, Path, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use serde::Deserialize;
use workvault_domain::blob::ByteStream;
use workvault_domain::service::{PublicRefusal, SubmitForm};
use workvault_domain::ticket::{ReplyAuthor, TicketStatus};

use crate::AppState;
use crate::api::photos::pump;
use crate::share_pages::{network, page, public};

#[derive(Template)]
#[template(path = "share_message.html")]
struct Message<'a> {
    heading: &'a str,
    message: &'a str,
}

#[derive(Debug, Default, Deserialize)]
struct FormIn {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    website: String,
}

#[derive(Template)]
#[template(path = "ticket_new.html")]
struct NewPage {
    workspace: String,
    action: String,
    form: FormIn,
    problems: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "ticket_sent.html")]
struct SentPage {
    track_url: String,
}

struct FileView {
    href: String,
    name: String,
    size: String,
}

struct ReplyView {
    by_requester: bool,
    at: String,
    body: Vec<String>,
}

#[derive(Template)]
#[template(path = "ticket_track.html")]
struct TrackPage {
    subject: String,
    status: &'static str,
    body: Vec<String>,
    replies: Vec<ReplyView>,
    files: Vec<FileView>,
    closed: bool,
    action: String,
    problem: Option<String>,
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// The page for a refusal.
fn refused(refusal: PublicRefusal) -> HttpResponse {
    let (status, heading, message) = match refusal {
        PublicRefusal::Invalid => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "It may have been mistyped, replaced by a newer one, or turned off. Ask whoever gave it to you.",
        ),
        PublicRefusal::TooMany { retry_after } => {
            let mut res = page(
                StatusCode::TOO_MANY_REQUESTS,
                &Message { heading: "Too many requests", message: "Please wait a few minutes, then try again." },
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
        PublicRefusal::Spam => {
            (StatusCode::BAD_REQUEST, "Your request could not be sent", "Please fill in the visible fields only.")
        }
        PublicRefusal::Closed => (
            StatusCode::CONFLICT,
            "This request is closed",
            "It takes no more replies. To ask something new, use the form you first wrote from.",
        ),
        PublicRefusal::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "Something went wrong", "Nothing was sent. Please try again shortly.")
        }
        PublicRefusal::Form(_) => (StatusCode::BAD_REQUEST, "Please check the form", "Some fields are not valid."),
        PublicRefusal::FileTooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "The file is too large",
            "Attach a smaller photo or PDF, or send the form without a file. Nothing was sent.",
        ),
        PublicRefusal::File(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The file could not be taken",
            "Attach a photo (JPEG, PNG, HEIC, WebP) or a PDF, or send the form without a file. Nothing was sent.",
        ),
    };
    page(status, &Message { heading, message })
}

/// Every slot for public uploads is taken: 503 with `Retry-After`, closing the
/// connection so the browser stops sending.
fn busy() -> HttpResponse {
    let mut res = page(
        StatusCode::SERVICE_UNAVAILABLE,
        &Message {
            heading: "We are receiving many requests right now",
            message: "Nothing was sent. Please wait a few seconds, then send the form again.",
        },
    );
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(crate::upload::BUSY_RETRY_AFTER_SECS));
    res.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
    res
}

fn bad_form() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        &Message { heading: "The form could not be read", message: "Please go back and send it again." },
    )
}

/// The submit form of a workspace.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, content_type = "text/html", description = "The form"),
    (status = 404, content_type = "text/html", description = "Unknown, rotated or turned-off link"),
))]
#[get("/t/new/{token}")]
pub async fn new_form(state: Data<AppState>, path: Path<String>) -> HttpResponse {
    let token = path.into_inner();
    match state.app.submit_link(&token).await {
        Ok((_, workspace)) => page(
            StatusCode::OK,
            &NewPage {
                workspace: workspace.into(),
                action: format!("/t/new/{token}"),
                form: FormIn::default(),
                problems: vec![],
            },
        ),
        Err(r) => refused(r),
    }
}

/// The largest text field of the form, and how many fields come before the file.
const FIELD_LIMIT: usize = 64 * 1024;
const FIELDS_BEFORE_FILE: usize = 8;
/// The largest urlencoded form.
const FORM_LIMIT: usize = 256 * 1024;

/// Reads an urlencoded form whole (it holds text only).
async fn read_form(mut payload: crate::upload::IdleTimeout<Payload>) -> Option<FormIn> {
    let mut body = Vec::new();
    while let Some(piece) = payload.next().await {
        body.extend_from_slice(&piece.ok()?);
        if body.len() > FORM_LIMIT {
            return None;
        }
    }
    serde_urlencoded::from_bytes(&body).ok()
}

/// Reads a multipart form's text fields up to its file part, if any.
async fn read_multipart(form: &mut Multipart) -> Result<(FormIn, Option<Field>), ()> {
    let mut fields = FormIn::default();
    for _ in 0..=FIELDS_BEFORE_FILE {
        let Some(part) = form.next().await else { return Ok((fields, None)) };
        let mut part = part.map_err(|_| ())?;
        let name = part.name().unwrap_or_default().to_owned();
        let has_file = part.content_disposition().and_then(|c| c.get_filename()).is_some_and(|n| !n.is_empty());
        if name == "attachment" && has_file {
            return Ok((fields, Some(part)));
        }
        let mut value = Vec::new();
        while let Some(piece) = part.next().await {
            value.extend_from_slice(&piece.map_err(|_| ())?);
            if value.len() > FIELD_LIMIT {
                return Err(());
            }
        }
        let value = String::from_utf8(value).map_err(|_| ())?;
        match name.as_str() {
            "name" => fields.name = value,
            "email" => fields.email = value,
            "subject" => fields.subject = value,
            "body" => fields.body = value,
            "website" => fields.website = value,
            _ => {}
        }
    }
    Err(())
}

/// Sends the form (urlencoded, or multipart with an optional photo or PDF): a ticket,
/// and a page with its tracking link. A multipart form holds one of the node's public
/// upload slots while it is read; a body that sends nothing for
/// `blobs.upload_idle_timeout_secs` is cut off and nothing is stored.
#[utoipa::path(tag = "pages", params(("token" = String, Path)),
    request_body(content = String, content_type = "multipart/form-data", description = "name, email, subject, body, an optional `attachment` file (a photo or PDF, last), and the hidden `website`, which must stay empty; `application/x-www-form-urlencoded` without the file is taken too"),
    responses(
    (status = 201, content_type = "text/html", description = "Sent: the tracking link, shown once"),
    (status = 400, content_type = "text/html", description = "The form again, with its problems (or a filled honeypot)"),
    (status = 404, content_type = "text/html", description = "Unknown, rotated or turned-off link"),
    (status = 415, content_type = "text/html", description = "The file is not a photo or a PDF; nothing was sent"),
    (status = 429, content_type = "text/html", description = "Too many requests from this network or to this link (`Retry-After`)"),
    (status = 503, content_type = "text/html", description = "As many forms with files as this server takes are being received (`Retry-After`); nothing was sent"),
))]
#[post("/t/new/{token}")]
pub async fn submit(state: Data<AppState>, req: HttpRequest, path: Path<String>, payload: Payload) -> HttpResponse {
    let token = path.into_inner();
    let net = network(state.settings.client_ip(&req));
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let payload = state.settings.idle_limited(payload);
    // A multipart form may carry a file into the blob store: it holds a public upload
    // slot while it is read.
    let _slot = if multipart {
        let Some(slot) = state.settings.public_upload_slot() else { return busy() };
        Some(slot)
    } else {
        None
    };
    let outcome = if multipart {
        let mut parts = Multipart::new(req.headers(), payload);
        let Ok((form, file)) = read_multipart(&mut parts).await else { return bad_form() };
        let input = submitted(&form);
        match file {
            None => (form, state.app.submit_ticket(&token, input, &net, None).await),
            Some(part) => {
                let name = part.content_disposition().and_then(|c| c.get_filename()).map(str::to_owned);
                let (tx, rx) = futures_channel::mpsc::channel(4);
                let body: ByteStream = Box::pin(rx);
                let sending = pin!(state.app.submit_ticket(&token, input, &net, Some((name, body))));
                let pumping = pin!(async move {
                    pump(part, tx).await;
                    drop(parts);
                });
                let done = match select(sending, pumping).await {
                    Either::Left((done, _)) => done,
                    Either::Right(((), sending)) => sending.await,
                };
                (form, done)
            }
        }
    } else {
        let Some(form) = read_form(payload).await else { return bad_form() };
        let input = submitted(&form);
        (form, state.app.submit_ticket(&token, input, &net, None).await)
    };
    match outcome {
        (_, Ok((_, tracking_token))) => {
            let track_url = state.settings.link(&format!("/t/{}", tracking_token.expose()));
            page(StatusCode::CREATED, &SentPage { track_url })
        }
        (form, Err(PublicRefusal::Form(problems))) => {
            let workspace = match state.app.submit_link(&token).await {
                Ok((_, name)) => name.into(),
                Err(r) => return refused(r),
            };
            let action = format!("/t/new/{token}");
            let form = FormIn { website: String::new(), ..form };
            page(StatusCode::BAD_REQUEST, &NewPage { workspace, action, form, problems })
        }
        (_, Err(r)) => refused(r),
    }
}

fn submitted(form: &FormIn) -> SubmitForm {
    SubmitForm {
        name: form.name.clone(),
        email: form.email.clone(),
        subject: form.subject.clone(),
        body: form.body.clone(),
        website: form.website.clone(),
    }
}

async fn track_page(state: &AppState, token: &str, status: StatusCode, problem: Option<String>) -> HttpResponse {
    let tracked = match state.app.tracked_ticket(token).await {
        Ok(t) => t,
        Err(r) => return refused(r),
    };
    let t = tracked.ticket;
    let replies = tracked
        .replies
        .iter()
        .map(|r| ReplyView {
            by_requester: r.author == ReplyAuthor::Requester,
            at: r.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            body: lines(r.body.as_str()),
        })
        .collect();
    let files = tracked
        .attachments
        .iter()
        .map(|a| FileView {
            href: format!("/t/{token}/attachments/{}", a.id),
            name: a.file_name.as_ref().map_or_else(|| format!("{} file", a.kind.as_str()), |n| n.as_str().to_owned()),
            size: format!("{} KiB", a.size.div_ceil(1024)),
        })
        .collect();
    page(
        status,
        &TrackPage {
            files,
            subject: t.subject.as_str().to_owned(),
            status: t.status.as_str(),
            body: lines(t.body.as_str()),
            replies,
            closed: t.status == TicketStatus::Closed,
            action: format!("/t/{token}/replies"),
            problem,
        },
    )
}

/// One ticket as its requester sees it: the thread and a reply form.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, content_type = "text/html", description = "The ticket and its thread"),
    (status = 404, content_type = "text/html", description = "Unknown tracking link"),
))]
#[get("/t/{token}")]
pub async fn tracking(state: Data<AppState>, path: Path<String>) -> HttpResponse {
    track_page(&state, &path.into_inner(), StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
struct ReplyIn {
    #[serde(default)]
    body: String,
}

/// The requester's reply; back to the ticket.
#[utoipa::path(tag = "pages", params(("token" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "body"),
    responses(
    (status = 303, description = "Sent; back to the ticket"),
    (status = 400, content_type = "text/html", description = "An empty or too long reply: the page again"),
    (status = 404, content_type = "text/html", description = "Unknown tracking link"),
    (status = 409, content_type = "text/html", description = "The ticket is closed"),
    (status = 429, content_type = "text/html", description = "Too many replies (`Retry-After`)"),
))]
#[post("/t/{token}/replies")]
pub async fn requester_reply(state: Data<AppState>, req: HttpRequest, path: Path<String>, body: Bytes) -> HttpResponse {
    let token = path.into_inner();
    let Ok(form) = serde_urlencoded::from_bytes::<ReplyIn>(&body) else { return bad_form() };
    let net = network(state.settings.client_ip(&req));
    match state.app.requester_reply(&token, &form.body, &net).await {
        Ok(()) => public(HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/t/{token}"))).finish()),
        Err(PublicRefusal::Form(problems)) => {
            let problem = problems.into_iter().next().map(|(_, m)| format!("Your reply {m}."));
            track_page(&state, &token, StatusCode::BAD_REQUEST, problem).await
        }
        Err(r) => refused(r),
    }
}

/// A file of the ticket behind a tracking link, as an attachment.
#[utoipa::path(tag = "pages", params(("token" = String, Path), ("attachment" = String, Path)), responses(
    (status = 200, description = "The file", content_type = "application/octet-stream"),
    (status = 404, content_type = "text/html", description = "Unknown tracking link, or not one of its files"),
))]
#[get("/t/{token}/attachments/{attachment}")]
pub async fn tracked_file(state: Data<AppState>, path: Path<(String, String)>) -> HttpResponse {
    let (token, attachment) = path.into_inner();
    let Ok(attachment) = attachment.parse() else { return refused(PublicRefusal::Invalid) };
    match state.app.tracked_attachment(&token, attachment).await {
        Ok((att, body)) => public(crate::api::ticket_files::download(&att, body)),
        Err(r) => refused(r),
    }
}
