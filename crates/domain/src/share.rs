//! Share links: read-only, expiring, revocable public links to a report, a photo or a
//! job's gallery, optionally behind a password, every view recorded. The token is shown
//! once and kept only as its SHA-256; a link shows stripped variants only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditDraft;
use crate::id::{JobId, PhotoId, ReportId, ShareLinkId, ShareViewId, UserId, WorkspaceId};
use crate::model::Job;
use crate::page::{Page, PageRequest};
use crate::photo::Photo;
use crate::policy::{Action, ActorFacts, Decision, ResourceFacts, Role, decide};
use crate::ports::{JobAccess, StoreResult};
use crate::report::{Report, ReportEntry};
use crate::secret::TokenHash;

/// The most photos a job gallery link shows (newest first).
pub const GALLERY_LIMIT: u32 = 200;

/// What a link shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareTarget {
    /// A report of the link's job.
    Report(ReportId),
    /// One photo of the link's job.
    Photo(PhotoId),
    /// The job's gallery: its live photos.
    Job,
}

impl ShareTarget {
    /// The stable name of the kind (`report`, `photo`, `job`).
    pub const fn kind(&self) -> &'static str {
        match self {
            ShareTarget::Report(_) => "report",
            ShareTarget::Photo(_) => "photo",
            ShareTarget::Job => "job",
        }
    }
}

/// A share link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLink {
    /// Its id (not the token).
    pub id: ShareLinkId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The job whose content it shows.
    pub job_id: JobId,
    /// What it shows.
    pub target: ShareTarget,
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// The password's argon2id hash (PHC string), if one is set.
    pub password_hash: Option<String>,
    /// Whether the page offers a download (the report's PDF, the photo's `large`
    /// variant, the gallery as a PDF).
    pub allow_download: bool,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Where a link stands for the people it was given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// It opens.
    Active,
    /// Its maker may no longer share its job (removed from the workspace, demoted, or
    /// their grant on the job revoked): it opens nothing, and opens again only if they
    /// regain that authority.
    Suspended,
    /// Past its expiry.
    Expired,
    /// Revoked: for good.
    Revoked,
}

impl LinkState {
    /// The stable name (`active`, `suspended`, `expired`, `revoked`).
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkState::Active => "active",
            LinkState::Suspended => "suspended",
            LinkState::Expired => "expired",
            LinkState::Revoked => "revoked",
        }
    }
}

impl ShareLink {
    /// Its state at `now`, given its maker's current access facts on its job (`None`:
    /// no longer a member of the workspace). A link carries its maker's authority: it
    /// works only while the maker may still share its job, decided by the same policy
    /// as making a link.
    pub fn state(&self, now: DateTime<Utc>, maker: Option<JobAccess>) -> LinkState {
        let may_share = maker.is_some_and(|m| {
            decide(ActorFacts { role: Some(m.role) }, Action::ShareJob, ResourceFacts::Job { granted: m.granted })
                == Decision::Allow
        });
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if now >= self.expires_at {
            LinkState::Expired
        } else if !may_share {
            LinkState::Suspended
        } else {
            LinkState::Active
        }
    }
}

/// A link as listed for an actor: whether the actor holds a grant on its job (who may
/// manage it), and its maker's current access facts on the job (whether it works).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedLink {
    /// The link.
    pub link: ShareLink,
    /// Whether the listing actor holds a grant on the link's job.
    pub actor_granted: bool,
    /// The maker's access facts on the job; `None` when no longer a member.
    pub maker: Option<JobAccess>,
}

/// What was viewed through a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewed {
    /// The page.
    Page,
    /// The download.
    Download,
}

impl Viewed {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Viewed::Page => "page",
            Viewed::Download => "download",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Viewed::Page, Viewed::Download].into_iter().find(|v| v.as_str() == s)
    }
}

/// One recorded view: no more than this is kept (data minimisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareView {
    /// Its id.
    pub id: ShareViewId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The link.
    pub link_id: ShareLinkId,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub viewed: Viewed,
    /// The viewer's network, truncated (an IPv4 /24 or an IPv6 /48), never the address.
    pub network: String,
    /// The browser family (`Chrome`, `Firefox`, `Safari`, `Edge`, `other`…), never the
    /// whole user agent.
    pub browser: String,
}

/// One clock hour (UTC) of one kind of view of one link: the unit in which anonymous
/// views reach the audit log. Every view is kept in the link's views (until the
/// workspace's retention prunes it); the audit chain, which nothing prunes, gets one
/// `share_link.viewed` event per link, kind and hour: the hour's first view. So what
/// anonymous traffic can add to the chain is bounded by the links and the hours, not by
/// the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewHour {
    /// The link.
    pub link: ShareLinkId,
    /// Page or download.
    pub viewed: Viewed,
    /// The hour's first microsecond.
    pub start: DateTime<Utc>,
}

impl ViewHour {
    /// The hour a view falls in.
    pub fn of(view: &ShareView) -> Self {
        use chrono::DurationRound as _;
        let start = view.at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(view.at);
        Self { link: view.link_id, viewed: view.viewed, start }
    }

    /// The first microsecond after the hour.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::hours(1)
    }

    /// The distinct hours of a batch of views, in the order they first appear.
    pub fn of_batch<'a>(views: impl IntoIterator<Item = &'a (ShareView, AuditDraft)>) -> Vec<ViewHour> {
        let mut seen = std::collections::HashSet::new();
        views.into_iter().map(|(v, _)| ViewHour::of(v)).filter(|h| seen.insert(*h)).collect()
    }

    /// The audit events a batch of views appends: the event of the first view of each
    /// hour that has no view stored already (`stored`: the batch's hours that do).
    pub fn audited<'a>(
        views: impl IntoIterator<Item = &'a (ShareView, AuditDraft)>,
        stored: &std::collections::HashSet<ViewHour>,
    ) -> Vec<AuditDraft> {
        let mut seen = stored.clone();
        views.into_iter().filter(|(v, _)| seen.insert(ViewHour::of(v))).map(|(_, audit)| audit.clone()).collect()
    }
}

/// What a link's page shows, read without an actor (the link is the permission).
#[derive(Debug, Clone)]
pub enum Shared {
    /// A report with its entries in order.
    Report(Report, Vec<ReportEntry>),
    /// The job and the photos shown (one, for a photo link; the gallery for a job).
    Photos(Job, Vec<Photo>),
}

impl Shared {
    /// Whether a page shows anything: a photo link whose photo has no stripped variants
    /// (not processed yet, or its processing failed) shows nothing (the page says which:
    /// being prepared, or unreadable; never removed), and a page that shows nothing is
    /// not a view.
    pub fn shows_anything(&self, target: &ShareTarget) -> bool {
        match (self, target) {
            (Shared::Photos(_, photos), ShareTarget::Photo(_)) => photos.iter().any(Photo::is_showable),
            _ => true,
        }
    }
}

/// Share links and their views. Contract: a link is created only for a live target of
/// a live job of its workspace (`NotFound` otherwise); reads of what a link shows see
/// only live content; views are appended with their audit event in one transaction.
#[async_trait]
pub trait ShareStore: Send + Sync {
    /// Stores a new link, if its target is live (`NotFound` otherwise).
    async fn create_link(&self, link: &ShareLink, audit: AuditDraft) -> StoreResult<()>;
    /// A link with the actor's access facts on its job, in one statement.
    async fn link_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        link: ShareLinkId,
    ) -> StoreResult<Option<(ShareLink, JobAccess)>>;
    /// The actor's role and a page of the workspace's links (newest first), each with
    /// whether the actor holds a grant on its job and its maker's access facts on it, in
    /// one statement; `None` for a non-member. Links of trashed jobs are left out.
    async fn links_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<ListedLink>)>>;
    /// Revokes a live link; `NotFound` if there is none (or it was revoked).
    async fn revoke_link(
        &self,
        ws: WorkspaceId,
        link: ShareLinkId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// The link with this token hash, whatever its state (the caller tells them apart),
    /// with its maker's current access facts on its job (`None` when the maker is no
    /// longer a member), in one statement.
    async fn link_by_token(&self, token: &TokenHash) -> StoreResult<Option<(ShareLink, Option<JobAccess>)>>;
    /// What the link shows, if its job and target are live.
    async fn shared(&self, link: &ShareLink) -> StoreResult<Option<Shared>>;
    /// Records views with their audit events, all in one transaction (a batch of the
    /// views that arrived together: one commit for many). Of the audit events, only
    /// those [`ViewHour::audited`] keeps are appended: one per link, kind and hour.
    async fn record_views(&self, views: Vec<(ShareView, AuditDraft)>) -> StoreResult<()>;
    /// What the link shows (as [`Self::shared`]), with `view` recorded before the answer
    /// when there is something to show: a public page and its record in one trip to the
    /// store where the store can (SQLite: the read's thread joins the views' group
    /// commit), else in two.
    async fn shared_viewed(&self, link: &ShareLink, view: (ShareView, AuditDraft)) -> StoreResult<Option<Shared>> {
        let shared = self.shared(link).await?;
        if shared.as_ref().is_some_and(|s| s.shows_anything(&link.target)) {
            self.record_views(vec![view]).await?;
        }
        Ok(shared)
    }
    /// A page of a link's views, newest first.
    async fn views_of(&self, ws: WorkspaceId, link: ShareLinkId, page: PageRequest) -> StoreResult<Page<ShareView>>;
    /// Deletes every view older than its workspace's retention (its
    /// `share_view_retention_days`, else `default_days`) at `now`, and spent attempt
    /// counters (windows that started more than `default_days` ago).
    async fn prune_views(&self, now: DateTime<Utc>, default_days: u16) -> StoreResult<u64>;
    /// Counts one attempt under `key` in the window starting at `window`; returns the
    /// attempts counted in that window, this one included (fixed-window rate limits,
    /// kept in the database so every node sees the same count).
    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> StoreResult<u32>;
    /// Takes back one attempt counted under `key` in the window starting at `window`,
    /// for an attempt that turned out to be no guess (the right password). The count
    /// never goes below zero.
    async fn uncount_attempt(&self, key: &str, window: DateTime<Utc>) -> StoreResult<()>;
}
