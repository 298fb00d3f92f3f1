//! Helpdesk tickets: the record, its thread of replies, and the public submit links a
//! workspace hands out so anyone can open a ticket without an account. A ticket opened
//! through a link carries a tracking token (kept only as its hash) that shows its
//! requester that one ticket and lets them reply.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditDraft;
use crate::id::{AttachmentId, ReplyId, SubmitLinkId, TicketId, UserId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::policy::Role;
use crate::ports::{Standing, StoreResult};
use crate::secret::TokenHash;
use crate::text::{Email, LongText, Name};

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            /// Every value.
            pub const ALL: &[$name] = &[$($name::$variant),*];

            /// The stable name (API, CSV, stores).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Parses a stable name, ignoring case.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }
        }
    };
}

named_enum! {
    /// Where a ticket stands.
    TicketStatus {
        /// Waiting for the team.
        Open = "open",
        /// Waiting for the requester.
        Pending = "pending",
        /// Answered; a requester's reply opens it again.
        Resolved = "resolved",
        /// Done; nobody replies any more.
        Closed = "closed",
    }
}

named_enum! {
    /// How urgent a ticket is.
    TicketPriority {
        /// Low.
        Low = "low",
        /// Normal (the default).
        Normal = "normal",
        /// High.
        High = "high",
        /// Urgent.
        Urgent = "urgent",
    }
}

named_enum! {
    /// What an attached file is, told from its first bytes (never from its name).
    AttachmentKind {
        /// A JPEG photo.
        Jpeg = "jpeg",
        /// A PNG image.
        Png = "png",
        /// A HEIC / HEIF photo.
        Heic = "heic",
        /// A WebP image.
        Webp = "webp",
        /// A PDF document.
        Pdf = "pdf",
    }
}

impl AttachmentKind {
    /// Tells the kind from the first bytes (at least 32 when the file is that long).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        use crate::photo::ImageType;
        if head.starts_with(b"%PDF-") {
            return Some(AttachmentKind::Pdf);
        }
        ImageType::sniff(head).map(|t| match t {
            ImageType::Jpeg => AttachmentKind::Jpeg,
            ImageType::Png => AttachmentKind::Png,
            ImageType::Heic => AttachmentKind::Heic,
            ImageType::Webp => AttachmentKind::Webp,
        })
    }

    /// The media type it is served as.
    pub const fn media_type(self) -> &'static str {
        match self {
            AttachmentKind::Jpeg => "image/jpeg",
            AttachmentKind::Png => "image/png",
            AttachmentKind::Heic => "image/heic",
            AttachmentKind::Webp => "image/webp",
            AttachmentKind::Pdf => "application/pdf",
        }
    }
}

/// A file attached to a ticket (a photo of the problem, a PDF), its bytes sealed in the
/// blob store under `ticket-<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketAttachment {
    /// Its id.
    pub id: AttachmentId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// What it is.
    pub kind: AttachmentKind,
    /// The name it was sent with.
    pub file_name: Option<Name>,
    /// Its length in bytes.
    pub size: u64,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// Whether the requester sent it (through the submit form), not a member.
    pub by_requester: bool,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl TicketAttachment {
    /// Where its bytes are.
    pub fn blob_key(&self) -> Option<crate::blob::BlobKey> {
        crate::blob::BlobKey::new(self.workspace_id, format!("ticket-{}", self.id))
    }
}

/// The most files one ticket holds.
pub const MAX_ATTACHMENTS: usize = 20;

/// Who wrote a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAuthor {
    /// A member of the workspace.
    Staff(UserId),
    /// The ticket's requester, through the tracking link.
    Requester,
}

/// A helpdesk ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Its id.
    pub id: TicketId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Subject.
    pub subject: Name,
    /// What the requester (or the member who opened it) wrote first.
    pub body: LongText,
    /// Status.
    pub status: TicketStatus,
    /// Priority.
    pub priority: TicketPriority,
    /// The member working it.
    pub assignee: Option<UserId>,
    /// The assignee's email, as read.
    pub assignee_email: Option<Email>,
    /// Who asked: their name.
    pub requester_name: Option<Name>,
    /// Who asked: their email (answers go there in a later version; shown to members).
    pub requester_email: Option<Email>,
    /// The member who opened it; `None` when it came through a submit link.
    pub created_by: Option<UserId>,
    /// The submit link it came through.
    pub submit_link_id: Option<SubmitLinkId>,
    /// The hash of its tracking token (tickets from a submit link only).
    pub track_hash: Option<TokenHash>,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last changed (a reply changes it too).
    pub updated_at: DateTime<Utc>,
}

/// A reply on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketReply {
    /// Its id.
    pub id: ReplyId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Who wrote it.
    pub author: ReplyAuthor,
    /// A staff author's email, as read.
    pub author_email: Option<Email>,
    /// What they wrote.
    pub body: LongText,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A public submit link of a workspace (`/t/new/{token}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitLink {
    /// Its id.
    pub id: SubmitLinkId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The hash of its token.
    pub token_hash: TokenHash,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was rotated away or turned off.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// The most replies a thread shows (and takes).
pub const MAX_REPLIES: usize = 500;

/// Tickets, replies and submit links. Contract: staff reads take the actor and return
/// the actor's role with the rows in one statement; a Restricted member's list holds
/// only tickets assigned to them; public reads go by token hash and never reach
/// anything but their own link's workspace and their own ticket.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Stores a new submit link and turns off every other live link of its workspace
    /// (a rotation), in one transaction.
    async fn create_submit_link(&self, link: &SubmitLink, audit: AuditDraft) -> StoreResult<()>;
    /// Turns off the workspace's live submit links; `NotFound` if there was none.
    async fn disable_submit_links(&self, ws: WorkspaceId, at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()>;
    /// The workspace's submit links, newest first (at most 50).
    async fn submit_links(&self, ws: WorkspaceId) -> StoreResult<Vec<SubmitLink>>;
    /// The live submit link with this token hash, and its workspace's name.
    async fn submit_link_by_token(&self, hash: &TokenHash) -> StoreResult<Option<(SubmitLink, Name)>>;
    /// Stores a new ticket (and the file sent with it, whose bytes are stored already).
    async fn create_ticket(
        &self,
        ticket: &Ticket,
        attachment: Option<&TicketAttachment>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// Records a file attached to a ticket of `attachment.workspace_id` (its bytes are
    /// stored already); `NotFound` if the ticket is not there; `StoreError::Denied`
    /// if the member attaching it has lost the `standing` on the ticket meanwhile;
    /// `Conflict::Full` if it holds [`MAX_ATTACHMENTS`] files already. The count is read
    /// in the inserting transaction, under the ticket row's lock where the engine has
    /// several writers, so concurrent attaches never pass the cap (contract test
    /// `a_ticket_takes_at_most_its_files_under_concurrent_attaches`).
    async fn add_attachment(
        &self,
        attachment: &TicketAttachment,
        standing: Standing,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// A ticket's files, oldest first.
    async fn attachments(&self, ws: WorkspaceId, ticket: TicketId) -> StoreResult<Vec<TicketAttachment>>;
    /// The ticket with the actor's role; `None` if it is not in `ws` or the actor is not
    /// a member there.
    async fn ticket_for(&self, actor: UserId, ws: WorkspaceId, ticket: TicketId)
    -> StoreResult<Option<(Ticket, Role)>>;
    /// The actor's role and a page of the tickets they may see (a Restricted member's:
    /// those assigned to them), newest first; `None` if the actor is not a member.
    async fn tickets_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<Ticket>)>>;
    /// The ticket whose tracking token has this hash.
    async fn ticket_by_track(&self, hash: &TokenHash) -> StoreResult<Option<Ticket>>;
    /// Writes a ticket's new state, only if unchanged since `read_at`: `Conflict(Stale)`.
    async fn update_ticket(&self, ticket: &Ticket, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()>;
    /// Adds a reply and writes the ticket's new state (its `updated_at`, and the status
    /// a reply moves it to) in one transaction, only if the ticket is unchanged since
    /// `read_at`.
    async fn add_reply(
        &self,
        reply: &TicketReply,
        ticket: &Ticket,
        read_at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// A ticket's replies, oldest first (at most [`MAX_REPLIES`]).
    async fn replies(&self, ws: WorkspaceId, ticket: TicketId) -> StoreResult<Vec<TicketReply>>;
    /// Up to `limit` tickets in id order after `after` (export pages).
    async fn tickets_in_order(&self, ws: WorkspaceId, after: Option<TicketId>, limit: u32) -> StoreResult<Vec<Ticket>>;
}

/// The task kind that reaps the bytes of a ticket file whose row was never written.
pub const REAP_ATTACHMENT_KIND: &str = "tickets.reap_attachment";

/// What a [`REAP_ATTACHMENT_KIND`] task names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapAttachment {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The file.
    pub attachment_id: AttachmentId,
}

/// Runs [`REAP_ATTACHMENT_KIND`] tasks: enqueued before a file's bytes are written, it
/// finds the file's row (nothing to do) or deletes the bytes. So a request dropped or a
/// process stopped between the bytes and the row leaves nothing behind.
pub struct ReapAttachments {
    store: std::sync::Arc<dyn crate::ports::Store>,
    blobs: std::sync::Arc<dyn crate::blob::BlobStore>,
}

impl std::fmt::Debug for ReapAttachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReapAttachments")
    }
}

impl ReapAttachments {
    /// The handler over the store and the blob store.
    pub fn new(
        store: std::sync::Arc<dyn crate::ports::Store>,
        blobs: std::sync::Arc<dyn crate::blob::BlobStore>,
    ) -> Self {
        Self { store, blobs }
    }
}

#[async_trait]
impl crate::queue::TaskHandler for ReapAttachments {
    fn kind(&self) -> &'static str {
        REAP_ATTACHMENT_KIND
    }

    async fn run(&self, task: &crate::queue::Task) -> Result<(), String> {
        let p: ReapAttachment =
            serde_json::from_str(&task.payload).map_err(|e| format!("bad reap task payload: {e}"))?;
        let files = self.store.attachments(p.workspace_id, p.ticket_id).await.map_err(|e| e.to_string())?;
        if files.iter().any(|a| a.id == p.attachment_id) {
            return Ok(());
        }
        let Some(key) = crate::blob::BlobKey::new(p.workspace_id, format!("ticket-{}", p.attachment_id)) else {
            return Ok(());
        };
        match self.blobs.delete(&key).await {
            Ok(()) | Err(crate::blob::BlobError::NotFound) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
