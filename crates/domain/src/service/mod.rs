//! The use cases: the application services the HTTP layer and the CLI call. Each takes
//! the actor, asks the store for the resource together with the access facts, lets
//! the pure [`policy`](crate::policy) decide, and writes the change with its audit event
//! in one store call.

mod asset_import;
mod assets;
mod auth;
mod jobs;
mod members;
mod photos;
mod reports;
mod share;
mod ticket_public;
mod tickets;
mod workspaces;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::audit::{AuditActor, AuditDraft};
use crate::blob::BlobStore;
use crate::error::Error;
use crate::id::{RequestId, UserId, WorkspaceId};
use crate::images::ImageProcessor;
use crate::ports::{Clock, Inline, Offload, Rng, Store};

pub use asset_import::{AssetImport, CheckedImport, CsvExport};
pub use assets::AssetInput;
pub use auth::{AuthorizationReply, SessionStart, SignInRedirect};
pub use jobs::{JobChange, NewJob};
pub use members::InviteRequest;
pub use photos::{ByteStreamDebug, PhotoContent, Want};
pub use reports::{ItemInput, NewReport, ReportChange, ReportView};
pub use share::{NewShareLink, ShareRefusal, ShareRequest, SharedPage};
pub use ticket_public::{
    PublicRefusal, REPLIES_PER_TICKET, SUBMITS_PER_LINK, SUBMITS_PER_NETWORK, SubmitForm, TrackedTicket, WINDOW_MINUTES,
};
pub use tickets::{NewTicket, TICKET_COLUMNS, TicketChange};
pub use workspaces::WorkspaceChange;

/// Lifetimes of links and sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Default invite lifetime.
    pub invite_default: Duration,
    /// Longest invite lifetime a caller may ask for.
    pub invite_max: Duration,
    /// Sign-in link lifetime.
    pub sign_in_link: Duration,
    /// Hard session lifetime.
    pub session_absolute: Duration,
    /// Session idle timeout.
    pub session_idle: Duration,
    /// How long a redirect sign-in may take, from `/auth/login` to the callback.
    pub sign_in_flow: Duration,
    /// A share link's lifetime when its maker names none.
    pub share_link_default: Duration,
    /// The longest lifetime a share link may have.
    pub share_link_max: Duration,
    /// How long a share link's recorded views are kept.
    pub share_view_retention: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            invite_default: Duration::days(7),
            invite_max: Duration::days(30),
            sign_in_link: Duration::minutes(15),
            session_absolute: Duration::days(30),
            session_idle: Duration::days(7),
            sign_in_flow: Duration::minutes(10),
            share_link_default: Duration::days(30),
            share_link_max: Duration::days(365),
            share_view_retention: Duration::days(180),
        }
    }
}

/// Limits on what clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest photo upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest CSV import, in bytes.
    pub max_import_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_upload_bytes: 50 * 1024 * 1024, max_import_bytes: 512 * 1024 * 1024 }
    }
}

/// Who is asking, and in which request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// The signed-in user.
    pub user: UserId,
    /// The request, for the audit log.
    pub request_id: Option<RequestId>,
}

/// The application: ports in, use cases out. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Workvault {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    lifetimes: Lifetimes,
    blobs: Option<Arc<dyn BlobStore>>,
    images: Option<Arc<dyn ImageProcessor>>,
    limits: Limits,
    offload: Arc<dyn Offload>,
}

impl std::fmt::Debug for dyn ImageProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn ImageProcessor")
    }
}

impl std::fmt::Debug for dyn BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn BlobStore")
    }
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Store")
    }
}

impl Workvault {
    /// Wires the use cases to their ports.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rng: Arc<dyn Rng>, lifetimes: Lifetimes) -> Self {
        Self {
            store,
            clock,
            rng,
            lifetimes,
            blobs: None,
            images: None,
            limits: Limits::default(),
            offload: Arc::new(Inline),
        }
    }

    /// Runs password hashing through `offload` (by default it runs on the calling
    /// thread; a server hands it to its blocking threads).
    pub fn with_offload(mut self, offload: Arc<dyn Offload>) -> Self {
        self.offload = offload;
        self
    }

    /// Runs `work` through the offload port; `None` if it was dropped unrun.
    pub(crate) async fn offloaded<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.offload.run(Box::new(move || drop(tx.send(work())))).await;
        rx.await.ok()
    }

    /// Adds the photo storage and the upload limits.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>, limits: Limits) -> Self {
        self.blobs = Some(blobs);
        self.limits = limits;
        self
    }

    /// Adds the image reader (for a photo's location, when a workspace shows it).
    pub fn with_images(mut self, images: Arc<dyn ImageProcessor>) -> Self {
        self.images = Some(images);
        self
    }

    /// The photo storage, if configured (for the sweep of unfinished uploads).
    pub fn blob_store(&self) -> Option<&Arc<dyn BlobStore>> {
        self.blobs.as_ref()
    }

    /// The upload limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn blobs(&self) -> Result<&Arc<dyn BlobStore>, Error> {
        self.blobs
            .as_ref()
            .ok_or(Error::ContentUnavailable(crate::blob::BlobError::Unavailable("no blob store is configured".into())))
    }

    /// The store (for health checks and adapters that need it).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The random source.
    pub fn rng(&self) -> &Arc<dyn Rng> {
        &self.rng
    }

    /// The configured lifetimes.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn audit(&self, ctx: &Ctx, ws: WorkspaceId, action: &str, target: (&str, String), details: Value) -> AuditDraft {
        AuditDraft {
            workspace_id: ws,
            at: self.now(),
            actor: AuditActor::User(ctx.user),
            action: action.to_owned(),
            target_kind: target.0.to_owned(),
            target_id: target.1,
            details,
            request_id: ctx.request_id,
        }
    }
}
