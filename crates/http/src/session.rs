//! Who is calling: the server-side session behind the cookie, read from the store on
//! every request (no permission or session is cached in memory), and the cross-site
//! check for unsafe methods.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use workvault_domain::Ctx;
use workvault_domain::model::Session;
use workvault_domain::secret::Token;

use crate::AppState;
use crate::middleware::ReqId;
use crate::problem::{ApiError, CROSS_SITE_REQUEST, UNAUTHENTICATED};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wv_session";

/// A signed-in caller: their context for the use cases and their session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Actor and request id.
    pub ctx: Ctx,
    /// The live session.
    pub session: Session,
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
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
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
    if req.headers().contains_key(actix_web::http::header::AUTHORIZATION) {
        return Err(ApiError::new(
            UNAUTHENTICATED,
            "bearer tokens are accepted when an OpenID Connect provider is configured; this server signs in with links",
        ));
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
    Ok(Caller { ctx: Ctx { user: session.user_id, request_id: request_id(&req) }, session })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
