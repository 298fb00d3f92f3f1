//! The few server-rendered pages: home, the sign-in link and its confirmation, the
//! invite page, sign-out. They answer HTML (never problem JSON), carry `noindex`, and a bad
//! link gets a readable page that changes nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse, get, post};
use askama::Template;
use workvault_domain::Error as DomainError;
use workvault_domain::ports::{SignInCallback, SignInMethod};
use workvault_domain::secret::Token;

use actix_web::ResponseError;

use crate::AppState;
use crate::problem::{ApiError, UNAUTHENTICATED};
use crate::session::{Caller, SESSION_COOKIE, check_same_origin, clear_session_cookie, request_id, signed_in};

/// The style of every page built on `base.html` that brings none of its own (sign-in,
/// invites, messages, share link passwords and refusals, ticket forms), inline and
/// allowed by its hash in [`PAGE_CSP`]: no `unsafe-inline`, no other origin.
pub const PAGE_CSS: &str = "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d1d1f;background:#f5f5f7}\
main{max-width:40rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #dedee3;border-radius:8px}\
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .75rem}\
p{margin:.5rem 0}\
a{color:#0b57d0}\
[role=alert]{color:#b3261e;font-weight:600}\
form{display:grid;gap:.5rem;margin-top:1.25rem}\
label{font-weight:600}\
input,textarea,select{font:inherit;padding:.5rem .6rem;border:1px solid #8e8e93;border-radius:4px}\
button{font:inherit;justify-self:start;padding:.5rem 1.2rem;border:0;border-radius:4px;background:#1d1d1f;color:#fff;cursor:pointer}\
@media (max-width:40rem){main{margin:0;border:0;border-radius:0}}";

/// The CSP of every response that sets none of its own: no script, no frame, forms to
/// this origin only, and [`PAGE_CSS`] by its hash.
pub static PAGE_CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(PAGE_CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
});

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    signed_in: Option<String>,
    redirect_sign_in: bool,
    workspaces: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    heading: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "sign_in_link.html")]
struct ConfirmSignIn;

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut<'a> {
    provider_url: &'a str,
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    signed_in: bool,
}

pub(crate) fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("x-robots-tag", "noindex, nofollow"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            HttpResponse::InternalServerError().content_type(ContentType::plaintext()).body("internal error")
        }
    }
}

pub(crate) fn message(status: StatusCode, heading: &str, text: &str) -> HttpResponse {
    html(status, &Message { heading, message: text })
}

/// The page for a domain error on a public page: the API's status and wording (one
/// mapping for both), readable, and nothing internal.
fn error_page(e: DomainError) -> HttpResponse {
    let api = ApiError::from(e);
    message(api.status_code(), api.code.title, &api.detail)
}

/// Whether the client asked for JSON rather than a page (`Accept` names JSON, not HTML).
fn wants_json(req: &HttpRequest) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("json") && !accept.contains("text/html")
}

/// A readable page for browsers, a problem document for API clients.
pub(crate) fn refuse(req: &HttpRequest, e: DomainError) -> HttpResponse {
    if wants_json(req) { HttpResponse::from_error(ApiError::from(e)) } else { error_page(e) }
}

pub(crate) async fn current_session(state: &AppState, req: &HttpRequest) -> Option<workvault_domain::model::Session> {
    let token = Token::parse(req.cookie(SESSION_COOKIE)?.value())?;
    state.app.authenticate(&token).await.ok().flatten()
}

/// Home: who is signed in, and their workspaces.
#[utoipa::path(tag = "pages", responses((status = 200, content_type = "text/html", description = "Home page")))]
#[get("/")]
pub async fn home(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    let redirect_sign_in = state.identity.method() == SignInMethod::Redirect;
    let Some(session) = current_session(&state, &req).await else {
        return html(StatusCode::OK, &Home { signed_in: None, redirect_sign_in, workspaces: Vec::new() });
    };
    let ctx = workvault_domain::Ctx { user: session.user_id, request_id: request_id(&req) };
    let (user, workspaces) =
        match (state.app.user(session.user_id).await, state.app.my_workspaces(&ctx, Default::default()).await) {
            (Ok(u), Ok(w)) => (u, w),
            (Err(e), _) | (_, Err(e)) => return error_page(e),
        };
    let workspaces = workspaces.items.into_iter().map(|(w, r)| (w.name.to_string(), r.as_str())).collect();
    html(StatusCode::OK, &Home { signed_in: Some(user.email.to_string()), redirect_sign_in, workspaces })
}

/// A local sign-in link: a page that asks to sign in, with one button. Opening the link
/// uses nothing up (mail scanners and link previews fetch it too); a link that cannot
/// be used (unknown, expired or used: one page for all) is told here already.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, content_type = "text/html", description = "The confirmation page: one button that signs in"),
    (status = 404, content_type = "text/html", description = "Sign-in links are off (OpenID Connect is on)"),
    (status = 410, content_type = "text/html", description = "`sign_in_link_unusable`: unknown, expired or used (one page for all)"),
))]
#[get("/auth/link/{token}")]
pub async fn sign_in_link(state: Data<AppState>, req: HttpRequest, path: Path<String>) -> HttpResponse {
    let Some(code) = Token::parse(&path) else {
        return refuse(&req, DomainError::SignInLinkInvalid);
    };
    match state.app.check_sign_in_link(&*state.identity, &code).await {
        Ok(()) => html(StatusCode::OK, &ConfirmSignIn),
        Err(e) => refuse(&req, e),
    }
}

/// Signs in with a local sign-in link, from its confirmation page (a same-origin form
/// post): uses the link up, ends the session this browser had, sets the new session's
/// cookie and goes home.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses(
    (status = 303, description = "Signed in; session cookie set, the browser's previous session ended"),
    (status = 403, content_type = "text/html", description = "A cross-site request"),
    (status = 404, content_type = "text/html", description = "Sign-in links are off (OpenID Connect is on)"),
    (status = 410, content_type = "text/html", description = "`sign_in_link_unusable`: unknown, expired or used (one page for all)"),
))]
#[post("/auth/link/{token}")]
pub async fn use_sign_in_link(state: Data<AppState>, req: HttpRequest, path: Path<String>) -> HttpResponse {
    if let Err(e) = check_same_origin(&req, &state) {
        return message(StatusCode::FORBIDDEN, "Request refused", &e.detail);
    }
    let Some(code) = Token::parse(&path) else {
        return refuse(&req, DomainError::SignInLinkInvalid);
    };
    let callback = SignInCallback::Link(code);
    match state.app.sign_in(&*state.identity, &callback, request_id(&req)).await {
        Ok(start) => signed_in(&state, &req, &start).await.finish(),
        Err(e) => refuse(&req, e),
    }
}

/// Signs out of the browser session, then goes to the identity provider's sign-out
/// (OpenID Connect: a page that moves on to it) or home.
#[utoipa::path(tag = "pages", responses(
    (status = 303, description = "Signed out; back home"),
    (status = 200, content_type = "text/html", description = "Signed out; the page moves on to the identity provider's sign-out"),
))]
#[post("/auth/logout")]
pub async fn logout(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = check_same_origin(&req, &state) {
        return message(StatusCode::FORBIDDEN, "Request refused", &e.detail);
    }
    if let Some(session) = current_session(&state, &req).await
        && let Err(e) = state.app.sign_out(&session, request_id(&req)).await
    {
        return error_page(e);
    }
    // With OpenID Connect, end the provider's session too (RP-initiated logout), so the
    // next sign-in asks who is there instead of signing the same person in silently.
    // A page that moves on by itself, not a redirect: browsers hold a redirect after a
    // form post to the CSP's `form-action 'self'`, which would stop it.
    match state.identity.end_session_url() {
        Some(provider_url) => {
            let mut page = html(StatusCode::OK, &SignedOut { provider_url: &provider_url });
            let _ = page.add_cookie(&clear_session_cookie(&state));
            page
        }
        None => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .cookie(clear_session_cookie(&state))
            .finish(),
    }
}

/// The invite page: an accept button for a signed-in visitor.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses((status = 200, content_type = "text/html", description = "Invite page")))]
#[get("/invites/{token}")]
pub async fn invite(state: Data<AppState>, req: HttpRequest, path: Path<String>) -> HttpResponse {
    if Token::parse(&path).is_none() {
        return error_page(DomainError::NotFound);
    }
    let signed_in = current_session(&state, &req).await.is_some();
    html(StatusCode::OK, &InvitePage { signed_in })
}

/// Accepts the invite from the invite page, then goes home.
#[utoipa::path(tag = "pages", params(("token" = String, Path)), responses((status = 303, description = "Joined")))]
#[post("/invites/{token}")]
pub async fn accept_invite(
    state: Data<AppState>,
    caller: Result<Caller, ApiError>,
    path: Path<String>,
) -> HttpResponse {
    let caller = match caller {
        Ok(c) => c,
        Err(e) if e.code == UNAUTHENTICATED => {
            return message(StatusCode::UNAUTHORIZED, "Sign in first", "Sign in, then open the invitation link again.");
        }
        Err(e) => return message(e.status_code(), "Request refused", &e.detail),
    };
    let Some(token) = Token::parse(&path) else {
        return error_page(DomainError::NotFound);
    };
    match state.app.accept_invite(&caller.ctx, &token).await {
        Ok(_) => HttpResponse::SeeOther().insert_header((header::LOCATION, "/")).finish(),
        Err(e) => error_page(e),
    }
}
