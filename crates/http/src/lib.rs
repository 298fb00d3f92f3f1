#![doc = include_str!("../README.md")]

pub mod api;
pub mod client;
pub mod dto;
pub mod middleware;
pub mod pages;
pub mod problem;
mod report;
pub mod session;
pub mod share_pages;
pub mod signin;
pub mod ticket_pages;
pub mod upload;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web::{self, Data};
use actix_web::{App, HttpRequest, HttpResponse, middleware::from_fn};
use url::Url;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::scope::scope;
use workvault_domain::Workvault;
use workvault_domain::ports::IdentityProvider;

use crate::problem::{ApiError, METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND};
pub use crate::upload::{UploadSlot, UploadSlots};

/// Largest JSON body the API reads.
pub const JSON_LIMIT: usize = 64 * 1024;

/// What the HTTP layer needs to know of its deployment.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The URL users reach this server at; links it prints start with it.
    pub public_url: Url,
    /// Whether cookies carry `Secure` (false only on plain-HTTP loopback).
    pub secure_cookies: bool,
    /// Whether to send `Strict-Transport-Security`.
    pub hsts: bool,
    /// Uploads (photos, ticket files) this node takes at once; more answer 503 with
    /// `Retry-After`.
    pub upload_slots: UploadSlots,
    /// Of those, the uploads through the public ticket form this node takes at once.
    pub public_upload_slots: UploadSlots,
    /// How long an upload's body may send nothing before it is cut off.
    pub upload_idle_timeout: std::time::Duration,
    /// Whether views of share links are recorded (off only to measure its cost).
    pub record_share_views: bool,
    /// Where CSV imports keep their copy of the body between the check and the write
    /// (unlinked files: nothing is left behind, even by a crash).
    pub spool_dir: std::path::PathBuf,
    /// The reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: client::TrustedProxies,
}

impl HttpSettings {
    /// Settings for a public URL: `Secure` cookies and HSTS unless it is plain HTTP
    /// (which the server's config allows on loopback only); 32 concurrent uploads, 8 of
    /// them public, each cut off after 30 s without a byte.
    pub fn for_url(public_url: Url) -> Self {
        let https = public_url.scheme() == "https";
        Self {
            public_url,
            secure_cookies: https,
            hsts: https,
            upload_slots: UploadSlots::new(32),
            public_upload_slots: UploadSlots::new(8),
            upload_idle_timeout: std::time::Duration::from_secs(30),
            record_share_views: true,
            spool_dir: std::env::temp_dir(),
            trusted_proxies: client::TrustedProxies::default(),
        }
    }

    /// The same with at most `slots` concurrent uploads.
    pub fn with_upload_slots(mut self, slots: UploadSlots) -> Self {
        self.upload_slots = slots;
        self
    }

    /// The same with at most `slots` concurrent uploads through the public form.
    pub fn with_public_upload_slots(mut self, slots: UploadSlots) -> Self {
        self.public_upload_slots = slots;
        self
    }

    /// The same with uploads cut off after `idle` without a byte.
    pub fn with_upload_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.upload_idle_timeout = idle;
        self
    }

    /// The same with share link views recorded or not.
    pub fn with_record_share_views(mut self, record: bool) -> Self {
        self.record_share_views = record;
        self
    }

    /// The same with CSV import copies kept under `dir`.
    pub fn with_spool_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.spool_dir = dir;
        self
    }

    /// The same with these reverse proxies trusted to name the client.
    pub fn with_trusted_proxies(mut self, proxies: client::TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The client's address: the TCP peer, or what a trusted proxy says it is.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<std::net::IpAddr> {
        self.trusted_proxies.client(req)
    }

    /// The `Origin` browsers send for pages of this server.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// An absolute link to `path` on this server.
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

/// Everything a request handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub app: Workvault,
    /// The active identity provider (local sign-in links, or OIDC).
    pub identity: Arc<dyn IdentityProvider>,
    /// Deployment settings.
    pub settings: HttpSettings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("issuer", &self.identity.issuer()).field("settings", &self.settings).finish()
    }
}

/// The OpenAPI document's fixed parts; paths are collected from the registered services.
#[derive(OpenApi)]
#[openapi(
    info(title = "Workvault API", description = "Jobs, photos, tickets and assets, with access decided on every request."),
    tags(
        (name = "session"), (name = "workspaces"), (name = "members"), (name = "invites"),
        (name = "jobs"), (name = "grants"), (name = "photos"), (name = "reports"), (name = "share-links"), (name = "assets"), (name = "tickets"), (name = "audit"), (name = "health"), (name = "pages"),
    )
)]
struct ApiDoc;

/// Every documented route. Registered through utoipa-actix-web, so a route cannot
/// exist without its OpenAPI entry.
fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(api::health::healthz)
        .service(api::health::readyz)
        .service(pages::home)
        .service(pages::sign_in_link)
        .service(pages::use_sign_in_link)
        .service(pages::logout)
        .service(signin::login)
        .service(signin::callback)
        .service(pages::invite)
        .service(pages::accept_invite)
        .service(share_pages::show)
        .service(share_pages::unlock)
        .service(share_pages::photo)
        .service(share_pages::download)
        .service(ticket_pages::new_form)
        .service(ticket_pages::submit)
        .service(ticket_pages::tracking)
        .service(ticket_pages::requester_reply)
        .service(ticket_pages::tracked_file)
        .service(
            scope("/api/v1")
                .service(api::session::show)
                .service(api::session::sign_out)
                .service(api::workspaces::create)
                .service(api::workspaces::list)
                .service(api::workspaces::show)
                .service(api::workspaces::update)
                .service(api::members::list)
                .service(api::members::update)
                .service(api::members::remove)
                .service(api::members::sessions)
                .service(api::members::revoke_session)
                .service(api::members::transfer)
                .service(api::members::create_invite)
                .service(api::members::list_invites)
                .service(api::members::revoke_invite)
                .service(api::members::accept)
                .service(api::jobs::create)
                .service(api::jobs::list)
                .service(api::jobs::show)
                .service(api::jobs::update)
                .service(api::jobs::delete)
                .service(api::jobs::grants)
                .service(api::jobs::grant)
                .service(api::jobs::revoke)
                .service(api::photos::upload)
                .service(api::photos::list)
                .service(api::photos::show)
                .service(api::photos::content)
                .service(api::photos::location)
                .service(api::photos::trash)
                .service(api::photos::restore)
                .service(api::photos::purge)
                .service(api::reports::create)
                .service(api::reports::list)
                .service(api::reports::show)
                .service(api::reports::update)
                .service(api::reports::trash)
                .service(api::reports::restore)
                .service(api::reports::purge)
                .service(api::reports::html)
                .service(api::reports::pdf)
                .service(api::share::create)
                .service(api::share::list)
                .service(api::share::revoke)
                .service(api::share::views)
                .service(api::assets::create)
                .service(api::assets::list)
                .service(api::asset_csv::export)
                .service(api::asset_csv::import)
                .service(api::assets::show)
                .service(api::assets::update)
                .service(api::assets::trash)
                .service(api::assets::restore)
                .service(api::assets::purge)
                .service(api::assets::fields)
                .service(api::assets::create_field)
                .service(api::assets::delete_field)
                .service(api::tickets::create)
                .service(api::tickets::list)
                .service(api::tickets::export)
                .service(api::tickets::show)
                .service(api::tickets::update)
                .service(api::tickets::reply)
                .service(api::ticket_files::attach)
                .service(api::ticket_files::attachment)
                .service(api::tickets::submit_links)
                .service(api::tickets::create_submit_link)
                .service(api::tickets::disable_submit_links)
                .service(api::audit::list)
                .service(api::audit::verify),
        );
}

/// The OpenAPI document: the fixed parts of [`ApiDoc`] plus every registered route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts();
    doc.paths.paths.insert(
        "/api/v1/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("meta")
                .summary(Some("This OpenAPI document"))
                .response("200", utoipa::openapi::Response::new("The OpenAPI document")),
        ),
    );
    doc
}

/// The production application: every route, extractor configuration and middleware.
pub fn app(
    state: Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let doc = Arc::new(openapi());
    App::new()
        .app_data(state)
        .app_data(web::JsonConfig::default().limit(JSON_LIMIT).error_handler(problem::json_error))
        .app_data(web::QueryConfig::default().error_handler(problem::query_error))
        .app_data(web::FormConfig::default().limit(4096).error_handler(share_pages::form_error))
        .app_data(web::PathConfig::default().error_handler(problem::path_error))
        // Before the `/api/v1` scope, which would otherwise take this path.
        .route(
            "/api/v1/openapi.json",
            web::get().to(move || {
                let doc = doc.clone();
                async move { HttpResponse::Ok().json(&*doc) }
            }),
        )
        .into_utoipa_app()
        .configure(routes)
        .default_service(web::to(unmatched))
        .into_app()
        .wrap(from_fn(middleware::envelope))
}

/// No route matched: 405 when the path exists under another method, else 404.
async fn unmatched(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.resource_map().has_resource(req.path()) {
        Err(ApiError::new(METHOD_NOT_ALLOWED, format!("{} is not allowed here", req.method())))
    } else {
        Err(ApiError::new(ROUTE_NOT_FOUND, format!("no endpoint at {}", req.path())))
    }
}
