//! Who is calling: the server-side session behind the cookie, read from the store on
//! every request (no permission or session is cached in memory), and the cross-site
//! check for unsafe methods.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::LOCATION;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder};
use workvault_domain::Ctx;
use workvault_domain::SessionStart;
use workvault_domain::model::Session;
use workvault_domain::secret::Token;

use crate::AppState;
use crate::middleware::ReqId;
use crate::problem::{ApiError, CROSS_SITE_REQUEST, UNAUTHENTICATED};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wv_session";

/// A signed-in caller: their context for the use cases and, for a browser, their session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Actor and request id.
    pub ctx: Ctx,
    /// The live session behind the cookie; `None` for a bearer token (API clients).
    pub session: Option<Session>,
}

/// The request id, for handlers that have no caller.
pub fn request_id(req: &HttpRequest) -> Option<workvault_domain::id::RequestId> {
    req.extensions().get::<ReqId>().map(|r| r.0)
}

/// The session cookie for a freshly opened session.
pub fn session_cookie(state: &AppState, token: &Token, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.expose().to_owned())
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

/// The answer to a finished sign-in, whichever way it came (a sign-in link, the
/// identity provider's callback): the session this browser had before, if any, ends
/// now (rotation: no session fixed or left behind outlives a sign-in), and the browser
/// goes home with the new session's cookie.
pub(crate) async fn signed_in(state: &AppState, req: &HttpRequest, start: &SessionStart) -> HttpResponseBuilder {
    if let Some(old) = crate::pages::current_session(state, req).await
        && let Err(e) = state.app.sign_out(&old, request_id(req)).await
    {
        tracing::warn!(error = %e, "could not end the previous session at sign-in");
    }
    let max_age = (start.expires_at - state.app.clock().now()).num_seconds();
    let mut res = HttpResponse::SeeOther();
    res.insert_header((LOCATION, "/")).cookie(session_cookie(state, &start.token, max_age));
    res
}

/// A cookie that removes the session cookie.
pub fn clear_session_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .finish();
    c.make_removal();
    c
}

/// Refuses an unsafe method sent with a cookie from another site: `Sec-Fetch-Site`
/// must be `same-origin` or `none` when present, and `Origin` must be ours when present.
pub fn check_same_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // A browser that sends `Sec-Fetch-Site` (which pages cannot set) is believed on it
    // alone: under `Referrer-Policy: no-referrer` the same browser sends `Origin: null`
    // with a form posted from our own page. Older browsers are judged by `Origin`.
    if let Some(site) = header("sec-fetch-site") {
        if matches!(site, "same-origin" | "none") {
            return Ok(());
        }
        return Err(ApiError::new(CROSS_SITE_REQUEST, format!("refused a {site} request made with a session cookie")));
    }
    if let Some(origin) = header("origin")
        && origin != state.settings.origin()
    {
        return Err(ApiError::new(CROSS_SITE_REQUEST, "the Origin of this request is not this server"));
    }
    Ok(())
}

async fn authenticate(req: HttpRequest) -> Result<Caller, ApiError> {
    let state = req.app_data::<Data<AppState>>().cloned().ok_or_else(|| ApiError::plain(crate::problem::INTERNAL))?;
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        // A bearer token is not sent by browsers on their own, so it needs no
        // cross-site check; it is verified (and its user read) on every request.
        let token = bearer_token(value)?;
        let user = state.app.authenticate_bearer(&*state.identity, token).await?;
        return Ok(Caller { ctx: Ctx { user, request_id: request_id(&req) }, session: None });
    }
    let cookie =
        req.cookie(SESSION_COOKIE).ok_or_else(|| ApiError::new(UNAUTHENTICATED, "no session: sign in first"))?;
    let token = Token::parse(cookie.value())
        .ok_or_else(|| ApiError::new(UNAUTHENTICATED, "the session cookie is not valid"))?;
    check_same_origin(&req, &state)?;
    let session = state
        .app
        .authenticate(&token)
        .await?
        .ok_or_else(|| ApiError::new(UNAUTHENTICATED, "the session has ended: sign in again"))?;
    Ok(Caller { ctx: Ctx { user: session.user_id, request_id: request_id(&req) }, session: Some(session) })
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is
/// case-insensitive, RFC 9110 §11.1).
fn bearer_token(value: &actix_web::http::header::HeaderValue) -> Result<&str, ApiError> {
    let value = value.to_str().map_err(|_| ApiError::new(UNAUTHENTICATED, "the Authorization header is not valid"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::new(UNAUTHENTICATED, "the Authorization header must be `Bearer <access token>`")),
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
