//! Share link use cases. Making, listing and revoking a job's links, and reading their
//! views, is `ShareJob` on the job (a Restricted member only for granted jobs). The
//! public side takes no actor: the token is the permission, checked on every request
//! (never cached), and what it shows is read fresh each time.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::reports::ReportView;
use super::{Ctx, Workvault};
use crate::audit::{AuditActor, AuditDraft};
use crate::blob::{BlobError, ByteStream};
use crate::error::Error;
use crate::id::{JobId, PhotoId, ReportId, ShareLinkId, ShareViewId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::photo::{Photo, PhotoStatus, Variant};
use crate::policy::{Action, ActorFacts, Decision, ResourceFacts, decide};
use crate::ports::StoreError;
use crate::report::{Report, ReportEntry, ReportItem};
use crate::secret::Token;
use crate::share::{LinkState, ShareLink, ShareTarget, ShareView, Shared, Viewed};

/// Wrong passwords allowed per link and network in [`ATTEMPT_WINDOW_MINUTES`].
pub const ATTEMPTS_PER_NETWORK: u32 = 5;
/// Wrong passwords allowed per link, from anywhere, in the same window.
pub const ATTEMPTS_PER_LINK: u32 = 50;
/// The rate-limit window for password attempts.
pub const ATTEMPT_WINDOW_MINUTES: i64 = 15;

/// What a link should show, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareRequest {
    /// A report of a job.
    Report {
        /// The job.
        job: JobId,
        /// The report.
        report: ReportId,
    },
    /// One photo.
    Photo(PhotoId),
    /// A job's gallery.
    Job(JobId),
}

/// A new link.
#[derive(Debug, Clone)]
pub struct NewShareLink {
    /// What it shows.
    pub target: ShareRequest,
    /// When it stops working; the default lifetime when `None`.
    pub expires_at: Option<DateTime<Utc>>,
    /// A password viewers must give (8 to 200 characters).
    pub password: Option<String>,
    /// Whether viewers may download.
    pub allow_download: bool,
}

/// Why a public link shows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareRefusal {
    /// Unknown, malformed or revoked: one answer for all, so tokens cannot be probed.
    Invalid,
    /// Past its expiry.
    Expired,
    /// What it showed is gone (trashed or purged since).
    Gone,
    /// The photo it shows was uploaded moments ago and its stripped variants are still
    /// being made: retry shortly (never told as [`Self::Gone`]).
    Preparing,
    /// The photo it shows could not be read as an image, so no stripped copy of it
    /// exists to show (it is kept as uploaded; it was not removed).
    Unprocessable,
    /// A password is needed (or the one given is wrong).
    PasswordNeeded {
        /// Whether a wrong one was just given.
        wrong: bool,
    },
    /// Too many wrong passwords: retry after this many seconds.
    TooManyAttempts {
        /// Seconds until the window ends.
        retry_after: i64,
    },
    /// The view could not be recorded, so the page is not shown (the workspace's record
    /// of who opened its links stays complete).
    Unavailable,
}

/// A link that may be shown, and what it shows, as a report view (a photo or a gallery
/// is shown as a report of its photos: one rendering for all three).
#[derive(Debug, Clone)]
pub struct SharedPage {
    /// The link.
    pub link: ShareLink,
    /// What it shows.
    pub view: ReportView,
}

/// The unlock proof of a password link: a digest only the server can compute (of the
/// stored password hash, the link and its token hash), given to the browser once the
/// password is right, so no unlock state is kept anywhere.
fn unlock_proof(link: &ShareLink, phc: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"workvault share unlock v1\0");
    h.update(phc.as_bytes());
    h.update([0]);
    h.update(link.id.as_uuid().as_bytes());
    h.update(link.token_hash.as_bytes());
    hex::encode(h.finalize())
}

impl Workvault {
    async fn authorize_link(&self, ctx: &Ctx, ws: WorkspaceId, id: ShareLinkId) -> Result<ShareLink, Error> {
        let (link, access) = self.store.link_for(ctx.user, ws, id).await?.ok_or(Error::NotFound)?;
        super::photos::check(access, Action::ShareJob)?;
        Ok(link)
    }

    /// Makes a share link; the token is returned once and kept only as its hash.
    pub async fn create_share_link(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        new: NewShareLink,
    ) -> Result<(ShareLink, Token), Error> {
        let now = self.now();
        let expires_at = new.expires_at.unwrap_or(now + self.lifetimes.share_link_default);
        if expires_at <= now {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        if expires_at > now + self.lifetimes.share_link_max {
            let days = self.lifetimes.share_link_max.num_days();
            return Err(Error::invalid("expires_at", format!("must be at most {days} days ahead")));
        }
        if let Some(p) = &new.password {
            check_password(p)?;
        }
        let (job, target) = match new.target {
            ShareRequest::Report { job, report } => {
                self.authorize_job(ctx, ws, job, Action::ShareJob).await?;
                (job, ShareTarget::Report(report))
            }
            ShareRequest::Photo(photo) => {
                let (p, access) = self.store.photo_for(ctx.user, ws, photo).await?.ok_or(Error::NotFound)?;
                super::photos::check(access, Action::ShareJob)?;
                (p.job_id, ShareTarget::Photo(photo))
            }
            ShareRequest::Job(job) => {
                self.authorize_job(ctx, ws, job, Action::ShareJob).await?;
                (job, ShareTarget::Job)
            }
        };
        // Hashed once the maker is known to be allowed (argon2id is the costly part).
        let password = match new.password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let token = Token::generate(&*self.rng);
        let link = ShareLink {
            id: ShareLinkId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            job_id: job,
            target,
            token_hash: token.hash(),
            password_hash: password,
            allow_download: new.allow_download,
            expires_at,
            revoked_at: None,
            created_by: ctx.user,
            created_at: now,
        };
        let details = json!({
            "job_id": job, "target": target.kind(), "expires_at": expires_at,
            "password": link.password_hash.is_some(), "allow_download": link.allow_download,
        });
        let audit = self.audit(ctx, ws, "share_link.created", ("share_link", link.id.to_string()), details);
        self.store.create_link(&link, audit).await?;
        Ok((link, token))
    }

    /// The links the actor may manage, newest first, each with its state (a link whose
    /// maker may no longer share its job is listed as suspended).
    pub async fn share_links(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> Result<Page<(ShareLink, LinkState)>, Error> {
        let (role, links) = self.store.links_for(ctx.user, ws, page).await?.ok_or(Error::NotFound)?;
        let actor = ActorFacts { role: Some(role) };
        let shows = |granted| decide(actor, Action::ShareJob, ResourceFacts::Job { granted }) == Decision::Allow;
        let now = self.now();
        let Page { items, next } = links;
        let items = items
            .into_iter()
            .filter(|l| shows(l.actor_granted))
            .map(|l| {
                let state = l.link.state(now, l.maker);
                (l.link, state)
            })
            .collect();
        Ok(Page { items, next })
    }

    /// Revokes a link at once.
    pub async fn revoke_share_link(&self, ctx: &Ctx, ws: WorkspaceId, id: ShareLinkId) -> Result<(), Error> {
        let link = self.authorize_link(ctx, ws, id).await?;
        let audit =
            self.audit(ctx, ws, "share_link.revoked", ("share_link", id.to_string()), json!({"job_id": link.job_id}));
        Ok(self.store.revoke_link(ws, id, self.now(), audit).await?)
    }

    /// A page of a link's recorded views, newest first.
    pub async fn share_views(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: ShareLinkId,
        page: PageRequest,
    ) -> Result<Page<ShareView>, Error> {
        self.authorize_link(ctx, ws, id).await?;
        Ok(self.store.views_of(ws, id, page).await?)
    }

    /// The link behind a presented token, if it may be shown at all (the password
    /// aside): unknown, malformed, revoked and suspended (its maker may no longer share
    /// its job) all answer [`ShareRefusal::Invalid`], so none can be told apart.
    pub async fn open_share(&self, token: &str) -> Result<ShareLink, ShareRefusal> {
        let token = Token::parse(token).ok_or(ShareRefusal::Invalid)?;
        let (link, maker) = match self.store.link_by_token(&token.hash()).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(ShareRefusal::Invalid),
            Err(e) => {
                tracing::warn!(error = %e, "a share link could not be read");
                return Err(ShareRefusal::Unavailable);
            }
        };
        match link.state(self.now(), maker) {
            LinkState::Active => Ok(link),
            LinkState::Expired => Err(ShareRefusal::Expired),
            LinkState::Revoked | LinkState::Suspended => Err(ShareRefusal::Invalid),
        }
    }

    /// Whether the browser's unlock proof (if any) opens this link.
    pub fn unlocked(&self, link: &ShareLink, proof: Option<&str>) -> bool {
        match (&link.password_hash, proof) {
            (None, _) => true,
            (Some(phc), Some(proof)) => unlock_proof(link, phc).as_bytes().ct_eq(proof.as_bytes()).into(),
            (Some(_), None) => false,
        }
    }

    /// Checks a password for a link, within the rate limits (counted in the store, per
    /// link and network and per link); returns the unlock proof to give the browser.
    pub async fn unlock_share(&self, link: &ShareLink, password: &str, network: &str) -> Result<String, ShareRefusal> {
        let Some(phc) = &link.password_hash else { return Ok(String::new()) };
        let now = self.now();
        let window_len = Duration::minutes(ATTEMPT_WINDOW_MINUTES);
        let window_secs = window_len.num_seconds();
        let start =
            DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(window_secs), 0).unwrap_or(now);
        let retry_after = (start + window_len - now).num_seconds().max(1);
        let keys = [
            (format!("share:{}:{network}", link.id), ATTEMPTS_PER_NETWORK),
            (format!("share:{}", link.id), ATTEMPTS_PER_LINK),
        ];
        for (key, max) in &keys {
            match self.store.count_attempt(key, start).await {
                Ok(n) if n > *max => return Err(ShareRefusal::TooManyAttempts { retry_after }),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "password attempts could not be counted; refused");
                    return Err(ShareRefusal::TooManyAttempts { retry_after });
                }
            }
        }
        let (stored, given) = (phc.clone(), Zeroizing::new(password.to_owned()));
        let verified = self.offloaded(move || {
            PasswordHash::new(&stored)
                .map(|parsed| Argon2::default().verify_password(given.as_bytes(), &parsed).is_ok())
                .ok()
        });
        match verified.await {
            None => Err(ShareRefusal::Unavailable),
            Some(None) => Err(ShareRefusal::Invalid),
            Some(Some(false)) => Err(ShareRefusal::PasswordNeeded { wrong: true }),
            Some(Some(true)) => {
                // The right password is no guess: it never counts towards a limit.
                // (Counted first and taken back, so parallel guesses cannot all pass
                // a count that has not moved yet.)
                for (key, _) in &keys {
                    if let Err(e) = self.store.uncount_attempt(key, start).await {
                        tracing::warn!(error = %e, "a right password's attempt could not be taken back");
                    }
                }
                Ok(unlock_proof(link, phc))
            }
        }
    }

    /// What an open (and unlocked) link shows, read fresh.
    pub async fn shared_page(&self, link: ShareLink) -> Result<SharedPage, ShareRefusal> {
        let shared = match self.store.shared(&link).await {
            Ok(Some(shared)) => shared,
            Ok(None) => return Err(ShareRefusal::Gone),
            Err(e) => {
                tracing::warn!(error = %e, "what a share link shows could not be read");
                return Err(ShareRefusal::Unavailable);
            }
        };
        self.page_of(link, shared)
    }

    /// Like [`Self::shared_page`], with the view of the page recorded before it is
    /// returned (read and recorded in one trip to the store where it can). A view that
    /// cannot be recorded refuses the page ([`ShareRefusal::Unavailable`]).
    pub async fn view_shared_page(
        &self,
        link: ShareLink,
        network: &str,
        browser: &str,
    ) -> Result<SharedPage, ShareRefusal> {
        let view = self.share_view(&link, Viewed::Page, network, browser);
        let shared = match self.store.shared_viewed(&link, view).await {
            Ok(Some(shared)) => shared,
            Ok(None) => return Err(ShareRefusal::Gone),
            Err(e) => {
                tracing::error!(error = %e, "a shared page could not be read or its view recorded");
                return Err(ShareRefusal::Unavailable);
            }
        };
        self.page_of(link, shared)
    }

    fn page_of(&self, link: ShareLink, shared: Shared) -> Result<SharedPage, ShareRefusal> {
        if let (Shared::Photos(_, photos), ShareTarget::Photo(_)) = (&shared, &link.target) {
            let photo = photos.first().ok_or(ShareRefusal::Gone)?;
            if let Some(refusal) = not_shown(photo) {
                return Err(refusal);
            }
        }
        let view = match shared {
            Shared::Report(report, entries) => ReportView::new(report, entries),
            Shared::Photos(job, photos) => {
                let report = Report {
                    id: ReportId::from_uuid(*link.id.as_uuid()),
                    workspace_id: link.workspace_id,
                    job_id: job.id,
                    title: job.title.clone(),
                    notes: None,
                    items: photos.iter().map(|p| ReportItem { photo_id: p.id, caption: None }).collect(),
                    created_by: link.created_by,
                    created_at: link.created_at,
                    updated_at: photos.iter().map(|p| p.created_at).max().unwrap_or(link.created_at),
                    deleted_at: None,
                };
                let entries = photos.into_iter().map(|photo| ReportEntry { photo, caption: None }).collect();
                ReportView::new(report, entries)
            }
        };
        Ok(SharedPage { link, view })
    }

    /// A stripped variant of a photo an open (and unlocked) link shows, for its page's
    /// images and its download. A photo of the link whose variants are still being made
    /// answers [`ShareRefusal::Preparing`], one that could not be read
    /// [`ShareRefusal::Unprocessable`]; one the link does not show (any longer)
    /// [`ShareRefusal::Gone`]; a storage failure [`ShareRefusal::Unavailable`].
    pub async fn shared_photo(
        &self,
        page: &SharedPage,
        photo: PhotoId,
        variant: Variant,
    ) -> Result<(u64, ByteStream), ShareRefusal> {
        let entry = page.view.entries().iter().find(|e| e.photo.id == photo).ok_or(ShareRefusal::Gone)?;
        if let Some(refusal) = not_shown(&entry.photo) {
            return Err(refusal);
        }
        match self.report_photo(&page.view, photo, variant).await {
            Ok(found) => Ok(found),
            Err(Error::NotFound | Error::ContentDestroyed | Error::ContentUnavailable(BlobError::NotFound)) => {
                Err(ShareRefusal::Gone)
            }
            Err(Error::VariantNotReady) => Err(ShareRefusal::Preparing),
            Err(Error::Invalid { .. }) => Err(ShareRefusal::Invalid),
            Err(e) => {
                tracing::error!(error = %e, "a shared photo could not be read");
                Err(ShareRefusal::Unavailable)
            }
        }
    }

    /// A view of a link as it is recorded: only the time, what, the truncated network
    /// and the browser family; with its audit event (`share_link.viewed`, appended only
    /// for the first view of its link, kind and hour: [`crate::share::ViewHour`]).
    pub fn share_view(
        &self,
        link: &ShareLink,
        viewed: Viewed,
        network: &str,
        browser: &str,
    ) -> (ShareView, AuditDraft) {
        let now = self.now();
        let view = ShareView {
            id: ShareViewId::generate(&*self.clock, &*self.rng),
            workspace_id: link.workspace_id,
            link_id: link.id,
            at: now,
            viewed,
            network: network.to_owned(),
            browser: browser.to_owned(),
        };
        let audit = AuditDraft {
            workspace_id: link.workspace_id,
            at: now,
            actor: AuditActor::Anonymous,
            action: "share_link.viewed".into(),
            target_kind: "share_link".into(),
            target_id: link.id.to_string(),
            details: json!({
                "viewed": viewed.as_str(), "network": network, "browser": browser,
                "hour": crate::share::ViewHour::of(&view).start,
            }),
            request_id: None,
        };
        (view, audit)
    }

    /// Records views (made by [`Self::share_view`]) in one transaction.
    pub async fn record_share_views(&self, views: Vec<(ShareView, AuditDraft)>) -> Result<(), Error> {
        if views.is_empty() {
            return Ok(());
        }
        Ok(self.store.record_views(views).await?)
    }

    /// Records one view of a link.
    pub async fn record_share_view(
        &self,
        link: &ShareLink,
        viewed: Viewed,
        network: &str,
        browser: &str,
    ) -> Result<(), Error> {
        self.record_share_views(vec![self.share_view(link, viewed, network, browser)]).await
    }
}

/// Why a photo a link reaches is not shown, if it is not: in trash ([`ShareRefusal::Gone`]),
/// its variants not made yet ([`ShareRefusal::Preparing`]), or none to make
/// ([`ShareRefusal::Unprocessable`]).
fn not_shown(photo: &Photo) -> Option<ShareRefusal> {
    if photo.is_showable() {
        None
    } else if photo.deleted_at.is_some() {
        Some(ShareRefusal::Gone)
    } else if photo.status == PhotoStatus::Processing {
        Some(ShareRefusal::Preparing)
    } else {
        Some(ShareRefusal::Unprocessable)
    }
}

/// A link password has 8 to 200 characters.
fn check_password(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if !(8..=200).contains(&n) {
        return Err(Error::invalid("password", "must be 8 to 200 characters"));
    }
    Ok(())
}

impl Workvault {
    /// Hashes a (checked) link password with argon2id (the crate's defaults: 19 MiB, 2
    /// passes), through the offload port.
    async fn hash_password(&self, password: String) -> Result<String, Error> {
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt);
        let password = Zeroizing::new(password);
        let hashed = self.offloaded(move || {
            let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        });
        match hashed.await {
            Some(Ok(phc)) => Ok(phc),
            Some(Err(e)) => Err(Error::invalid("password", e)),
            None => Err(Error::Unavailable(StoreError::Unavailable("the password could not be hashed".into()))),
        }
    }
}
