//! Redirect sign-in (OpenID Connect): `GET /auth/login` sends the browser to the
//! provider, `GET /auth/callback` finishes the sign-in and opens a session.
//!
//! The flow (`state`, `nonce`, PKCE verifier) lives in the store, so any node can finish
//! it, and is taken out on the first answer (a replayed `state` finds nothing). A
//! short-lived cookie holding the `state` binds the answer to the browser that started
//! the sign-in (login CSRF). Every failure ends on a readable page (or problem+json for
//! API clients), creates no session, and no code or token reaches a log line.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::web::{Data, Query};
use actix_web::{HttpRequest, HttpResponse, get};
use serde::Deserialize;
use workvault_domain::AuthorizationReply;
use zeroize::Zeroizing;

use crate::AppState;
use crate::pages::refuse;
use crate::session::{request_id, signed_in};

/// The cookie binding a redirect sign-in to the browser that started it.
pub const FLOW_COOKIE: &str = "wv_signin";
const CALLBACK_PATH: &str = "/auth/callback";

fn flow_cookie(state: &AppState, value: &str, max_age_secs: i64) -> Cookie<'static> {
    // SameSite=Lax: the provider sends the browser back with a top-level GET, which
    // carries Lax cookies.
    Cookie::build(FLOW_COOKIE, value.to_owned())
        .path(CALLBACK_PATH)
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

fn clear_flow_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = flow_cookie(state, "", 0);
    c.make_removal();
    c
}

/// `GET /auth/login` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LoginQuery {
    /// Passed to the provider as `login_hint` (an email or user name it may pre-fill).
    pub login_hint: Option<String>,
}

/// Starts a sign-in through the OpenID Connect provider.
#[utoipa::path(tag = "pages", params(LoginQuery), responses(
    (status = 303, description = "To the identity provider; a short-lived cookie binds this browser to the sign-in"),
    (status = 404, content_type = "text/html", description = "This server signs in with sign-in links"),
    (status = 503, content_type = "text/html", description = "The store failed"),
))]
#[get("/auth/login")]
pub async fn login(state: Data<AppState>, req: HttpRequest, query: Query<LoginQuery>) -> HttpResponse {
    match state.app.begin_sign_in(&*state.identity, query.login_hint.as_deref()).await {
        Ok(start) => {
            let max_age = (start.expires_at - state.app.clock().now()).num_seconds().max(1);
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, start.url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(flow_cookie(&state, start.state.expose(), max_age))
                .finish()
        }
        Err(e) => refuse(&req, e),
    }
}

/// What the provider sends the browser back with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    /// The `state` sent with the authorization request.
    pub state: Option<String>,
    /// The authorization code, on success.
    pub code: Option<String>,
    /// The provider's error code, on refusal (`access_denied`, …).
    pub error: Option<String>,
    /// The provider's explanation of the error (not shown: it is the provider's text).
    pub error_description: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
}

/// Finishes a sign-in: checks the answer, opens a session (a fresh session id; any
/// session this browser had is ended) and goes home.
#[utoipa::path(tag = "pages", params(CallbackQuery), responses(
    (status = 303, description = "Signed in; session cookie set"),
    (status = 401, content_type = "text/html", description = "The sign-in did not complete or was refused"),
    (status = 503, content_type = "text/html", description = "The identity provider cannot be reached"),
))]
#[get("/auth/callback")]
pub async fn callback(state: Data<AppState>, req: HttpRequest, query: Query<CallbackQuery>) -> HttpResponse {
    let query = query.into_inner();
    let reply = AuthorizationReply {
        state: query.state,
        code: query.code.map(Zeroizing::new),
        error: query.error,
        issuer: query.iss,
    };
    let bound = req.cookie(FLOW_COOKIE).map(|c| c.value().to_owned());
    let result = state.app.finish_sign_in(&*state.identity, &reply, bound.as_deref(), request_id(&req)).await;
    let start = match result {
        Ok(start) => start,
        Err(e) => {
            tracing::info!(reason = %e, "sign-in refused");
            let mut page = refuse(&req, e);
            let _ = page.add_cookie(&clear_flow_cookie(&state));
            return page;
        }
    };
    signed_in(&state, &req, &start).await.cookie(clear_flow_cookie(&state)).finish()
}
