//! A whole instance as records, and copying one store into another through the ports
//! alone (`workvault migrate-store`): any store that implements [`InstanceStore`] can
//! be a source or a target, a third party's too.

use chrono::{DateTime, Utc};

use crate::audit::{AuditEvent, ChainReport};
use crate::id::WorkspaceId;
use crate::model::{Grant, Invite, Job, Membership, Session, SignInLink, User, Workspace};
use crate::ports::{StoreError, StoreResult};
use crate::queue::Task;

/// The kinds of record, in an order where every record's references come before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Users.
    User,
    /// Workspaces.
    Workspace,
    /// Memberships.
    Membership,
    /// Jobs, trashed ones included.
    Job,
    /// Photo records, trashed ones included (their bytes stay in the blob store).
    Photo,
    /// Reports with their items, trashed ones included.
    Report,
    /// Share links, revoked and expired ones included.
    ShareLink,
    /// Recorded views of share links.
    ShareView,
    /// Custom asset fields.
    AssetField,
    /// Assets, trashed ones included.
    Asset,
    /// Ticket submit links, turned-off ones included.
    SubmitLink,
    /// Tickets.
    Ticket,
    /// Replies on tickets.
    TicketReply,
    /// Files attached to tickets (their bytes stay in the blob store).
    TicketAttachment,
    /// Grants.
    Grant,
    /// Invites.
    Invite,
    /// Sessions, revoked ones included.
    Session,
    /// Sign-in links.
    SignInLink,
    /// Audit events, hashes as stored.
    AuditEvent,
    /// Background tasks.
    Task,
}

impl RecordKind {
    /// Every kind, referenced kinds first.
    pub const ALL: [RecordKind; 20] = [
        RecordKind::User,
        RecordKind::Workspace,
        RecordKind::Membership,
        RecordKind::Job,
        RecordKind::Photo,
        RecordKind::Report,
        RecordKind::ShareLink,
        RecordKind::ShareView,
        RecordKind::AssetField,
        RecordKind::Asset,
        RecordKind::SubmitLink,
        RecordKind::Ticket,
        RecordKind::TicketReply,
        RecordKind::TicketAttachment,
        RecordKind::Grant,
        RecordKind::Invite,
        RecordKind::Session,
        RecordKind::SignInLink,
        RecordKind::AuditEvent,
        RecordKind::Task,
    ];

    /// A plural name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            RecordKind::User => "users",
            RecordKind::Workspace => "workspaces",
            RecordKind::Membership => "memberships",
            RecordKind::Job => "jobs",
            RecordKind::Photo => "photos",
            RecordKind::Report => "reports",
            RecordKind::ShareLink => "share links",
            RecordKind::ShareView => "share link views",
            RecordKind::AssetField => "custom asset fields",
            RecordKind::Asset => "assets",
            RecordKind::SubmitLink => "ticket submit links",
            RecordKind::Ticket => "tickets",
            RecordKind::TicketReply => "ticket replies",
            RecordKind::TicketAttachment => "ticket attachments",
            RecordKind::Grant => "grants",
            RecordKind::Invite => "invites",
            RecordKind::Session => "sessions",
            RecordKind::SignInLink => "sign-in links",
            RecordKind::AuditEvent => "audit events",
            RecordKind::Task => "tasks",
        }
    }
}

/// One stored record, exactly as kept (ids, times, hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A user.
    User(User),
    /// A workspace.
    Workspace(Workspace),
    /// A membership.
    Membership(Membership),
    /// A job and, if trashed, when.
    Job(Job, Option<DateTime<Utc>>),
    /// A photo record (trashed or not).
    Photo(crate::photo::Photo),
    /// A report with its items (trashed or not).
    Report(crate::report::Report),
    /// A share link.
    ShareLink(crate::share::ShareLink),
    /// A view of a share link.
    ShareView(crate::share::ShareView),
    /// A custom asset field.
    AssetField(crate::asset::AssetField),
    /// An asset (trashed or not; `assignee_email` is not part of the record and left out).
    Asset(crate::asset::Asset),
    /// A ticket submit link.
    SubmitLink(crate::ticket::SubmitLink),
    /// A ticket (`assignee_email` is not part of the record and left out).
    Ticket(crate::ticket::Ticket),
    /// A reply on a ticket (`author_email` left out).
    TicketReply(crate::ticket::TicketReply),
    /// A file attached to a ticket.
    TicketAttachment(crate::ticket::TicketAttachment),
    /// A grant.
    Grant(Grant),
    /// An invite.
    Invite(Invite),
    /// A session and, if revoked, when.
    Session(Session, Option<DateTime<Utc>>),
    /// A sign-in link.
    SignInLink(SignInLink),
    /// An audit event.
    AuditEvent(AuditEvent),
    /// A background task.
    Task(Task),
}

/// A page of records and where the next one starts.
pub type RecordPage = (Vec<Record>, Option<String>);

/// Bulk access to every record of an instance. Contract: `dump` pages are stable and
/// complete (keyset on the primary key); `restore` writes records exactly as given, all
/// or nothing, and keeps each audit chain's head at its last event.
#[async_trait::async_trait]
pub trait InstanceStore: Send + Sync {
    /// Up to `limit` records of `kind` after `after` (an opaque cursor from a previous page).
    async fn dump(&self, kind: RecordKind, after: Option<String>, limit: u32) -> StoreResult<RecordPage>;
    /// Writes records as they are, in one transaction.
    async fn restore(&self, records: &[Record]) -> StoreResult<()>;
    /// Whether the store holds no record at all.
    async fn is_empty(&self) -> StoreResult<bool>;
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Records copied, per kind, in copy order.
    pub copied: Vec<(RecordKind, u64)>,
    /// Every workspace's audit chain, verified on the target.
    pub chains: Vec<(WorkspaceId, ChainReport)>,
}

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target already holds data; nothing was written.
    #[error("the target store is not empty")]
    TargetNotEmpty,
    /// A chain did not verify on the target.
    #[error("the audit chain of workspace {0} does not verify on the target")]
    ChainBroken(WorkspaceId),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies every record from `from` into the empty `to`, in pages of `batch`, then
/// verifies every workspace's audit chain on `to`, up to the same head as on `from`.
/// The source must not change meanwhile (stop the server first). `progress` hears
/// each page.
pub async fn copy_instance(
    from: &dyn crate::ports::Store,
    to: &dyn crate::ports::Store,
    batch: u32,
    mut progress: impl FnMut(RecordKind, u64) + Send,
) -> Result<CopyReport, CopyError> {
    if !to.is_empty().await? {
        return Err(CopyError::TargetNotEmpty);
    }
    let mut report = CopyReport::default();
    let mut workspaces = Vec::new();
    for kind in RecordKind::ALL {
        let mut after = None;
        let mut count = 0u64;
        loop {
            let (records, next) = from.dump(kind, after, batch).await?;
            for r in &records {
                if let Record::Workspace(w) = r {
                    workspaces.push(w.id);
                }
            }
            count += records.len() as u64;
            to.restore(&records).await?;
            progress(kind, count);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        report.copied.push((kind, count));
    }
    for ws in workspaces {
        let chain = crate::audit::verify_stored_chain(to, ws).await?;
        let same_head = from.audit_head(ws).await? == to.audit_head(ws).await?;
        let Some(chain) = chain.filter(|c| c.is_intact() && same_head) else {
            return Err(CopyError::ChainBroken(ws));
        };
        report.chains.push((ws, chain));
    }
    Ok(report)
}
