//! Ticket use cases on the team's side: open, list, read with the thread, change
//! status, priority and assignee, reply, export; and the workspace's submit link.
//! A Restricted member lists, reads and works only tickets assigned to them.

use serde_json::json;

use super::photos::{blob_error, peek};
use super::{Ctx, Workvault};
use crate::asset_csv::write_record;
use crate::blob::ByteStream;
use crate::error::{Error, field};
use crate::id::{AttachmentId, ReplyId, SubmitLinkId, TaskId, TicketId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::policy::{Action, ActorFacts, Decision, ResourceFacts, decide};
use crate::ports::Standing;
use crate::queue::NewTask;
use crate::secret::Token;
use crate::text::{Email, LongText, Name};
use crate::ticket::{
    AttachmentKind, MAX_ATTACHMENTS, REAP_ATTACHMENT_KIND, ReapAttachment, ReplyAuthor, SubmitLink, Ticket,
    TicketAttachment, TicketPriority, TicketReply, TicketStatus,
};

/// A ticket opened by a member.
#[derive(Debug, Clone, Default)]
pub struct NewTicket {
    /// Subject.
    pub subject: String,
    /// What it is about.
    pub body: String,
    /// Priority (`normal` when not given).
    pub priority: Option<TicketPriority>,
    /// The member to work it, by email.
    pub assignee_email: Option<String>,
    /// Who asked, if not a member: their name.
    pub requester_name: Option<String>,
    /// Who asked: their email.
    pub requester_email: Option<String>,
}

/// A change to a ticket; `None` leaves a field, `assignee_email: Some(None)` unassigns.
#[derive(Debug, Clone, Default)]
pub struct TicketChange {
    /// New status.
    pub status: Option<TicketStatus>,
    /// New priority.
    pub priority: Option<TicketPriority>,
    /// New assignee, by email.
    pub assignee_email: Option<Option<String>>,
}

/// Tickets read per export page.
const EXPORT_PAGE: u32 = 2000;

/// The columns of the tickets export, in order.
pub const TICKET_COLUMNS: [&str; 10] = [
    "id",
    "subject",
    "status",
    "priority",
    "assignee_email",
    "requester_name",
    "requester_email",
    "created_at",
    "updated_at",
    "body",
];

fn ticket_facts(ctx: &Ctx, t: &Ticket) -> ResourceFacts {
    ResourceFacts::Ticket { assigned: t.assignee == Some(ctx.user) }
}

fn check(role: crate::policy::Role, action: Action, facts: ResourceFacts) -> Result<(), Error> {
    decide(ActorFacts { role: Some(role) }, action, facts).into_result().map_err(Error::denied)
}

impl Workvault {
    async fn authorize_ticket(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: TicketId,
        action: Action,
    ) -> Result<Ticket, Error> {
        let (ticket, role) = self.store.ticket_for(ctx.user, ws, id).await?.ok_or(Error::NotFound)?;
        check(role, action, ticket_facts(ctx, &ticket))?;
        Ok(ticket)
    }

    /// Resolves an assignee's email to a member of `ws`.
    async fn assignee(&self, ws: WorkspaceId, email: &str) -> Result<(crate::id::UserId, Email), Error> {
        let email = Email::parse(email).map_err(field("assignee_email"))?;
        let members = self.member_emails(ws).await?;
        let user = *members
            .get(&email)
            .ok_or_else(|| Error::invalid("assignee_email", "is not a member of this workspace"))?;
        Ok((user, email))
    }

    /// Opens a ticket on the team's side.
    pub async fn create_ticket(&self, ctx: &Ctx, ws: WorkspaceId, new: NewTicket) -> Result<Ticket, Error> {
        let subject = Name::parse(&new.subject).map_err(field("subject"))?;
        let body = LongText::parse(&new.body).map_err(field("body"))?;
        let requester_name =
            new.requester_name.as_deref().map(Name::parse).transpose().map_err(field("requester_name"))?;
        let requester_email =
            new.requester_email.as_deref().map(Email::parse).transpose().map_err(field("requester_email"))?;
        self.authorize_workspace(ctx, ws, Action::CreateTicket).await?;
        let assigned = match new.assignee_email.as_deref() {
            Some(e) => Some(self.assignee(ws, e).await?),
            None => None,
        };
        let now = self.now();
        let ticket = Ticket {
            id: TicketId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            subject,
            body,
            status: TicketStatus::Open,
            priority: new.priority.unwrap_or(TicketPriority::Normal),
            assignee: assigned.as_ref().map(|(u, _)| *u),
            assignee_email: assigned.map(|(_, e)| e),
            requester_name,
            requester_email,
            created_by: Some(ctx.user),
            submit_link_id: None,
            track_hash: None,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(
            ctx,
            ws,
            "ticket.created",
            ("ticket", ticket.id.to_string()),
            json!({"subject": ticket.subject}),
        );
        self.store.create_ticket(&ticket, None, audit).await?;
        Ok(ticket)
    }

    /// The tickets the caller may see, newest first.
    pub async fn tickets(&self, ctx: &Ctx, ws: WorkspaceId, page: PageRequest) -> Result<Page<Ticket>, Error> {
        let (role, tickets) = self.store.tickets_for(ctx.user, ws, page).await?.ok_or(Error::NotFound)?;
        check(role, Action::ListTickets, ResourceFacts::Workspace)?;
        // The store filtered in SQL; the policy re-checks every row it returned.
        let Page { items, next } = tickets;
        let visible = |t: &Ticket| {
            decide(ActorFacts { role: Some(role) }, Action::ViewTicket, ticket_facts(ctx, t)) == Decision::Allow
        };
        Ok(Page { items: items.into_iter().filter(visible).collect(), next })
    }

    /// One ticket, its thread and its files.
    pub async fn ticket(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: TicketId,
    ) -> Result<(Ticket, Vec<TicketReply>, Vec<TicketAttachment>), Error> {
        let ticket = self.authorize_ticket(ctx, ws, id, Action::ViewTicket).await?;
        let replies = self.store.replies(ws, id).await?;
        let files = self.store.attachments(ws, id).await?;
        Ok((ticket, replies, files))
    }

    /// Stores a file's bytes for a ticket (its kind told from its first bytes), with a
    /// reaping task queued first; the row is the caller's to write, then
    /// [`Self::settle_attachment`] its to call whatever came of it.
    pub(super) async fn store_attachment(
        &self,
        ws: WorkspaceId,
        ticket: TicketId,
        by_requester: bool,
        file_name: Option<&str>,
        body: ByteStream,
    ) -> Result<(TicketAttachment, TaskId), Error> {
        let file_name =
            file_name.filter(|n| !n.trim().is_empty()).map(Name::parse).transpose().map_err(field("file_name"))?;
        let blobs = self.blobs()?;
        let (head, body) = peek(body).await.map_err(blob_error)?;
        if head.is_empty() {
            return Err(Error::EmptyBody);
        }
        let kind = AttachmentKind::sniff(&head).ok_or(Error::UnsupportedAttachment)?;
        let mut att = TicketAttachment {
            id: AttachmentId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            ticket_id: ticket,
            kind,
            file_name,
            size: 0,
            sha256: [0; 32],
            by_requester,
            created_at: self.now(),
        };
        let key = att.blob_key().ok_or(Error::NotFound)?;
        // First the reaper, so that nothing from here on leaves bytes no row points to.
        let started = self.now();
        let payload = ReapAttachment { workspace_id: ws, ticket_id: ticket, attachment_id: att.id };
        let reap = NewTask {
            id: TaskId::generate(&*self.clock, &*self.rng),
            kind: REAP_ATTACHMENT_KIND.into(),
            payload: json!(payload).to_string(),
            run_at: started + chrono::Duration::hours(crate::images::REAP_UPLOAD_AFTER_HOURS),
            max_attempts: 10,
            created_at: started,
        };
        self.store.enqueue(&reap).await?;
        match blobs.put(&key, body, self.limits.max_upload_bytes).await {
            Ok(written) => (att.size, att.sha256) = (written.size, written.sha256),
            Err(e) => {
                self.cancel_reap(reap.id).await;
                return Err(blob_error(e));
            }
        }
        Ok((att, reap.id))
    }

    /// After a file's row was written (`stored`) or not: deletes the bytes of one that
    /// was not, and withdraws the reaper when nothing is left for it.
    pub(super) async fn settle_attachment(&self, att: &TicketAttachment, reap: TaskId, stored: bool) {
        if !stored
            && let (Ok(blobs), Some(key)) = (self.blobs(), att.blob_key())
            && let Err(e) = blobs.delete(&key).await
        {
            tracing::warn!(error = %e, blob = %key.name, "could not delete the bytes of a file whose row failed: the queued reaper will");
            return;
        }
        self.cancel_reap(reap).await;
    }

    /// Attaches a file (a photo or a PDF) to a ticket as a member.
    pub async fn attach_to_ticket(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: TicketId,
        file_name: Option<&str>,
        body: ByteStream,
    ) -> Result<TicketAttachment, Error> {
        const FULL: &str = "this ticket holds as many files as it takes";
        self.authorize_ticket(ctx, ws, id, Action::WorkTicket).await?;
        // Refused early when full, without reading the body; the store checks again in
        // the inserting transaction, where concurrent attaches are counted.
        if self.store.attachments(ws, id).await?.len() >= MAX_ATTACHMENTS {
            return Err(Error::Conflict(FULL));
        }
        let (att, reap) = self.store_attachment(ws, id, false, file_name, body).await?;
        let details = json!({"attachment": att.id.to_string(), "kind": att.kind.as_str(), "size": att.size});
        let audit = self.audit(ctx, ws, "ticket.file_attached", ("ticket", id.to_string()), details);
        // Checked again where the row is written: the member may have lost the ticket
        // while the bytes streamed.
        let standing = Standing { user: ctx.user, action: Action::WorkTicket };
        let written = self.store.add_attachment(&att, standing, audit).await;
        self.settle_attachment(&att, reap, written.is_ok()).await;
        match written {
            Ok(()) => Ok(att),
            Err(crate::ports::StoreError::Conflict(crate::ports::Conflict::Full)) => Err(Error::Conflict(FULL)),
            Err(e) => Err(e.into()),
        }
    }

    /// A ticket's file and its bytes.
    pub async fn ticket_attachment(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: TicketId,
        attachment: AttachmentId,
    ) -> Result<(TicketAttachment, ByteStream), Error> {
        self.authorize_ticket(ctx, ws, id, Action::ViewTicket).await?;
        self.attachment_bytes(ws, id, attachment).await
    }

    /// An attachment of a ticket whose reading was authorized, and its bytes.
    pub(super) async fn attachment_bytes(
        &self,
        ws: WorkspaceId,
        id: TicketId,
        attachment: AttachmentId,
    ) -> Result<(TicketAttachment, ByteStream), Error> {
        let att =
            self.store.attachments(ws, id).await?.into_iter().find(|a| a.id == attachment).ok_or(Error::NotFound)?;
        let key = att.blob_key().ok_or(Error::NotFound)?;
        let body = self.blobs()?.get(&key, att.size, 0..att.size).await.map_err(blob_error)?;
        Ok((att, body))
    }

    /// Changes a ticket's status, priority or assignee.
    pub async fn update_ticket(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: TicketId,
        change: TicketChange,
    ) -> Result<Ticket, Error> {
        let (current, role) = self.store.ticket_for(ctx.user, ws, id).await?.ok_or(Error::NotFound)?;
        check(role, Action::WorkTicket, ticket_facts(ctx, &current))?;
        let mut next = current.clone();
        if let Some(assignee) = change.assignee_email {
            check(role, Action::AssignTicket, ticket_facts(ctx, &current))?;
            let assigned = match assignee.as_deref() {
                Some(e) => Some(self.assignee(ws, e).await?),
                None => None,
            };
            next.assignee = assigned.as_ref().map(|(u, _)| *u);
            next.assignee_email = assigned.map(|(_, e)| e);
        }
        next.status = change.status.unwrap_or(current.status);
        next.priority = change.priority.unwrap_or(current.priority);
        if next == current {
            return Ok(current);
        }
        next.updated_at = self.now();
        let details = json!({
            "status": next.status.as_str(),
            "priority": next.priority.as_str(),
            "assignee": next.assignee.map(|u| u.to_string()),
        });
        let audit = self.audit(ctx, ws, "ticket.updated", ("ticket", id.to_string()), details);
        self.store.update_ticket(&next, current.updated_at, audit).await?;
        Ok(next)
    }

    /// Replies on a ticket as a member.
    pub async fn reply_to_ticket(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: TicketId,
        body: &str,
    ) -> Result<TicketReply, Error> {
        let body = LongText::parse(body).map_err(field("body"))?;
        let (current, role) = self.store.ticket_for(ctx.user, ws, id).await?.ok_or(Error::NotFound)?;
        check(role, Action::WorkTicket, ticket_facts(ctx, &current))?;
        let now = self.now();
        let reply = TicketReply {
            id: ReplyId::generate(&*self.clock, &*self.rng),
            ticket_id: id,
            workspace_id: ws,
            author: ReplyAuthor::Staff(ctx.user),
            author_email: None,
            body,
            created_at: now,
        };
        let ticket = Ticket { updated_at: now, ..current.clone() };
        let audit = self.audit(ctx, ws, "ticket.replied", ("ticket", id.to_string()), json!({"by": "staff"}));
        self.store.add_reply(&reply, &ticket, current.updated_at, audit).await?;
        Ok(reply)
    }

    /// The workspace's submit links, newest first (tokens are never shown again).
    pub async fn submit_links(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<Vec<SubmitLink>, Error> {
        self.authorize_workspace(ctx, ws, Action::ManageSubmitLinks).await?;
        Ok(self.store.submit_links(ws).await?)
    }

    /// Makes the workspace's submit link, turning off the one before (a rotation: the
    /// old link stops working at once). The token is returned this once.
    pub async fn create_submit_link(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<(SubmitLink, Token), Error> {
        self.authorize_workspace(ctx, ws, Action::ManageSubmitLinks).await?;
        let token = Token::generate(&*self.rng);
        let link = SubmitLink {
            id: SubmitLinkId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            token_hash: token.hash(),
            created_by: ctx.user,
            created_at: self.now(),
            disabled_at: None,
        };
        let audit = self.audit(ctx, ws, "submit_link.created", ("submit_link", link.id.to_string()), json!({}));
        self.store.create_submit_link(&link, audit).await?;
        Ok((link, token))
    }

    /// Turns the workspace's submit link off.
    pub async fn disable_submit_links(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<(), Error> {
        self.authorize_workspace(ctx, ws, Action::ManageSubmitLinks).await?;
        let audit = self.audit(ctx, ws, "submit_link.disabled", ("workspace", ws.to_string()), json!({}));
        Ok(self.store.disable_submit_links(ws, self.now(), audit).await?)
    }

    /// Exports the workspace's tickets as CSV (id order), streamed page by page;
    /// audited before the first byte.
    pub async fn export_tickets(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<super::CsvExport, Error> {
        self.authorize_workspace(ctx, ws, Action::ExportRecords).await?;
        let details = json!({"columns": TICKET_COLUMNS.len()});
        self.store.record(self.audit(ctx, ws, "tickets.exported", ("workspace", ws.to_string()), details)).await?;
        let store = self.store.clone();
        let fetch = move |after| {
            let store = store.clone();
            async move { Ok(store.tickets_in_order(ws, after, EXPORT_PAGE).await?) }
        };
        let columns = TICKET_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        Ok(super::CsvExport::paged(columns, EXPORT_PAGE, fetch, |t: &Ticket| t.id, write_ticket))
    }
}

fn write_ticket(out: &mut Vec<u8>, t: &Ticket) {
    let id = t.id.to_string();
    let created = t.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let updated = t.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cells: [&str; 10] = [
        &id,
        t.subject.as_str(),
        t.status.as_str(),
        t.priority.as_str(),
        t.assignee_email.as_ref().map_or("", |e| e.as_str()),
        t.requester_name.as_ref().map_or("", |n| n.as_str()),
        t.requester_email.as_ref().map_or("", |e| e.as_str()),
        &created,
        &updated,
        t.body.as_str(),
    ];
    write_record(out, cells);
}
