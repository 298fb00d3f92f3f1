//! Share links of a workspace: make one (the URL with its token is shown once), list,
//! revoke, and read a link's recorded views.

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workvault_domain::Error as DomainError;
use workvault_domain::service::{NewShareLink, ShareRequest};
use workvault_domain::share::{LinkState, ShareLink, ShareTarget, ShareView};

use super::{Reply, created, id};
use crate::AppState;
use crate::dto::{List, ListQuery};
use crate::problem::{ApiError, Problem};
use crate::session::Caller;

/// What a link shows.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A report (`id` is the report, `job_id` its job).
    Report,
    /// One photo (`id`).
    Photo,
    /// A job's gallery (`id` is the job).
    Job,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareLinkState {
    /// It opens.
    Active,
    /// Its maker may no longer share its job (removed, demoted, or their grant on the
    /// job revoked): it opens nothing until they may again.
    Suspended,
    /// Past `expires_at`.
    Expired,
    /// Revoked, for good.
    Revoked,
}

impl From<LinkState> for ShareLinkState {
    fn from(s: LinkState) -> Self {
        match s {
            LinkState::Active => ShareLinkState::Active,
            LinkState::Suspended => ShareLinkState::Suspended,
            LinkState::Expired => ShareLinkState::Expired,
            LinkState::Revoked => ShareLinkState::Revoked,
        }
    }
}

/// A new share link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShareLink {
    /// What it shows.
    pub target: TargetKind,
    /// The report, photo or job.
    pub id: String,
    /// The report's job (reports only).
    pub job_id: Option<String>,
    /// When it stops working (default: in 30 days; at most 365 days ahead).
    pub expires_at: Option<DateTime<Utc>>,
    /// A password viewers must give (8 to 200 characters), kept only as an argon2id hash.
    pub password: Option<String>,
    /// Whether the page offers a download (the report as PDF, the photo, the gallery as PDF).
    #[serde(default)]
    pub allow_download: bool,
}

/// A share link (its token is never shown again after creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareLinkOut {
    /// Link id.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// The job whose content it shows.
    pub job_id: String,
    /// `report`, `photo` or `job`.
    pub target: TargetKind,
    /// The report or photo id (`null` for a job gallery).
    pub target_id: Option<String>,
    /// Whether a password is needed.
    pub password: bool,
    /// Whether downloads are offered.
    pub allow_download: bool,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who made it. The link works only while they may share its job.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Where it stands now.
    pub state: ShareLinkState,
}

/// A new link, with its URL: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedShareLink {
    /// The link.
    #[serde(flatten)]
    pub link: ShareLinkOut,
    /// The public URL, token included. Not stored: copy it now.
    pub url: String,
}

impl ShareLinkOut {
    fn new(l: ShareLink, state: LinkState) -> Self {
        let (target, target_id) = match l.target {
            ShareTarget::Report(r) => (TargetKind::Report, Some(r.to_string())),
            ShareTarget::Photo(p) => (TargetKind::Photo, Some(p.to_string())),
            ShareTarget::Job => (TargetKind::Job, None),
        };
        Self {
            id: l.id.to_string(),
            workspace_id: l.workspace_id.to_string(),
            job_id: l.job_id.to_string(),
            target,
            target_id,
            password: l.password_hash.is_some(),
            allow_download: l.allow_download,
            expires_at: l.expires_at,
            revoked_at: l.revoked_at,
            created_by: l.created_by.to_string(),
            created_at: l.created_at,
            state: state.into(),
        }
    }
}

/// One recorded view: when, what, the viewer's network (IPv4 /24, IPv6 /48) and
/// browser family; nothing more is kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareViewOut {
    /// View id.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `page` or `download`.
    pub viewed: String,
    /// The viewer's network, truncated.
    pub network: String,
    /// The browser family.
    pub browser: String,
}

impl From<ShareView> for ShareViewOut {
    fn from(v: ShareView) -> Self {
        Self {
            id: v.id.to_string(),
            at: v.at,
            viewed: v.viewed.as_str().into(),
            network: v.network,
            browser: v.browser,
        }
    }
}

fn body_id<T: std::str::FromStr>(raw: &str, field: &'static str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::from(DomainError::invalid(field, format!("`{shown}` is not a valid id")))
    })
}

/// Makes a share link (as for sharing the job: Owner, Admin, Member, or a Restricted
/// member granted the job). The answer holds the URL with its token, shown this once.
#[utoipa::path(tag = "share-links", params(("ws" = String, Path)), request_body = CreateShareLink, responses(
    (status = 201, body = CreatedShareLink, headers(("Location" = String))),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such live target the caller may share"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/share-links")]
pub async fn create(state: Data<AppState>, caller: Caller, path: Path<String>, body: Json<CreateShareLink>) -> Reply {
    let ws = id(&path, "workspace")?;
    let b = body.into_inner();
    let target = match b.target {
        TargetKind::Report => {
            let job = b.job_id.as_deref().ok_or_else(|| {
                ApiError::from(DomainError::invalid("job_id", "is needed for a report: the report's job"))
            })?;
            ShareRequest::Report { job: body_id(job, "job_id")?, report: body_id(&b.id, "id")? }
        }
        TargetKind::Photo => ShareRequest::Photo(body_id(&b.id, "id")?),
        TargetKind::Job => ShareRequest::Job(body_id(&b.id, "id")?),
    };
    let new = NewShareLink { target, expires_at: b.expires_at, password: b.password, allow_download: b.allow_download };
    let (link, token) = state.app.create_share_link(&caller.ctx, ws, new).await?;
    let location = format!("/api/v1/workspaces/{ws}/share-links/{}", link.id);
    let url = state.settings.link(&format!("/s/{}", token.expose()));
    Ok(created(location, &CreatedShareLink { link: ShareLinkOut::new(link, LinkState::Active), url }))
}

/// The workspace's share links the caller may manage, newest first.
#[utoipa::path(tag = "share-links", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<ShareLinkOut>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/share-links")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.share_links(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, |(link, state)| ShareLinkOut::new(link, state))))
}

/// Revokes a share link: it stops working at once.
#[utoipa::path(tag = "share-links", params(("ws" = String, Path), ("link" = String, Path)), responses(
    (status = 204, description = "Revoked"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/share-links/{link}")]
pub async fn revoke(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, link) = (id(&path.0, "workspace")?, id(&path.1, "share link")?);
    state.app.revoke_share_link(&caller.ctx, ws, link).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A share link's recorded views, newest first.
#[utoipa::path(tag = "share-links", params(("ws" = String, Path), ("link" = String, Path), ListQuery), responses(
    (status = 200, body = List<ShareViewOut>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/share-links/{link}/views")]
pub async fn views(state: Data<AppState>, caller: Caller, path: Path<(String, String)>, q: Query<ListQuery>) -> Reply {
    let (ws, link) = (id(&path.0, "workspace")?, id(&path.1, "share link")?);
    let page = state.app.share_views(&caller.ctx, ws, link, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, ShareViewOut::from)))
}
