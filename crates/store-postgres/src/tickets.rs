//! Tickets, replies and submit links on PostgreSQL. A staff read joins the actor's
//! membership (and the assignee's email) in one statement; a reply and the ticket's
//! new state are written together, compare-and-set on the ticket.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{AttachmentId, ReplyId, SubmitLinkId, TicketId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::{ResourceFacts, Role};
use workvault_domain::ports::{Conflict, Standing, StoreError, StoreResult};
use workvault_domain::secret::TokenHash;
use workvault_domain::text::{Email, LongText, Name};
use workvault_domain::ticket::{
    AttachmentKind, MAX_ATTACHMENTS, MAX_REPLIES, ReplyAuthor, SubmitLink, Ticket, TicketAttachment, TicketPriority,
    TicketReply, TicketStatus, TicketStore,
};

use crate::audit::append;
use crate::jobs::cursor_time;
use crate::members::role_in;
use crate::rows::{corrupt, digest, hash, role, text};
use crate::schema::{memberships, submit_links, ticket_attachments, ticket_replies, tickets, users, workspaces};
use crate::{Db, PgStore, read, write_tx};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tickets)]
pub(crate) struct TicketRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<Uuid>,
    pub requester_name: Option<String>,
    pub requester_email: Option<String>,
    pub created_by: Option<Uuid>,
    pub submit_link_id: Option<Uuid>,
    pub track_hash: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ticket_replies)]
pub(crate) struct ReplyRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub ticket_id: Uuid,
    pub author_id: Option<Uuid>,
    pub by_requester: bool,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = submit_links)]
pub(crate) struct SubmitLinkRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub token_hash: Vec<u8>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ticket_attachments)]
pub(crate) struct AttachmentRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub ticket_id: Uuid,
    pub kind: String,
    pub file_name: Option<String>,
    pub size: i64,
    pub sha256: Vec<u8>,
    pub by_requester: bool,
    pub created_at: DateTime<Utc>,
}

impl AttachmentRow {
    pub fn from_domain(a: &TicketAttachment) -> Self {
        Self {
            id: *a.id.as_uuid(),
            workspace_id: *a.workspace_id.as_uuid(),
            ticket_id: *a.ticket_id.as_uuid(),
            kind: a.kind.as_str().to_owned(),
            file_name: a.file_name.as_ref().map(|n| n.as_str().to_owned()),
            size: i64::try_from(a.size).unwrap_or(i64::MAX),
            sha256: a.sha256.to_vec(),
            by_requester: a.by_requester,
            created_at: a.created_at,
        }
    }

    pub fn into_domain(self) -> Result<TicketAttachment, StoreError> {
        Ok(TicketAttachment {
            id: AttachmentId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            ticket_id: TicketId::from_uuid(self.ticket_id),
            kind: AttachmentKind::parse(&self.kind).ok_or_else(|| corrupt("attachment kind", &self.kind))?,
            file_name: self.file_name.as_deref().map(|n| text("file name", n, Name::parse)).transpose()?,
            size: u64::try_from(self.size).map_err(|_| corrupt("attachment size", &self.size.to_string()))?,
            sha256: digest(&self.sha256)?,
            by_requester: self.by_requester,
            created_at: self.created_at,
        })
    }
}

impl TicketRow {
    pub fn from_domain(t: &Ticket) -> Self {
        Self {
            id: *t.id.as_uuid(),
            workspace_id: *t.workspace_id.as_uuid(),
            subject: t.subject.as_str().to_owned(),
            body: t.body.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            priority: t.priority.as_str().to_owned(),
            assignee_id: t.assignee.map(|u| *u.as_uuid()),
            requester_name: t.requester_name.as_ref().map(|n| n.as_str().to_owned()),
            requester_email: t.requester_email.as_ref().map(|e| e.as_str().to_owned()),
            created_by: t.created_by.map(|u| *u.as_uuid()),
            submit_link_id: t.submit_link_id.map(|l| *l.as_uuid()),
            track_hash: t.track_hash.map(|h| h.as_bytes().to_vec()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }

    pub fn into_domain(self, assignee_email: Option<String>) -> Result<Ticket, StoreError> {
        Ok(Ticket {
            id: TicketId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            subject: text("ticket subject", &self.subject, Name::parse)?,
            body: text("ticket body", &self.body, LongText::parse)?,
            status: TicketStatus::parse(&self.status).ok_or_else(|| corrupt("ticket status", &self.status))?,
            priority: TicketPriority::parse(&self.priority)
                .ok_or_else(|| corrupt("ticket priority", &self.priority))?,
            assignee: self.assignee_id.map(UserId::from_uuid),
            assignee_email: assignee_email.as_deref().map(|e| text("email", e, Email::parse)).transpose()?,
            requester_name: self
                .requester_name
                .as_deref()
                .map(|n| text("requester name", n, Name::parse))
                .transpose()?,
            requester_email: self
                .requester_email
                .as_deref()
                .map(|e| text("requester email", e, Email::parse))
                .transpose()?,
            created_by: self.created_by.map(UserId::from_uuid),
            submit_link_id: self.submit_link_id.map(SubmitLinkId::from_uuid),
            track_hash: self.track_hash.as_deref().map(hash).transpose()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl ReplyRow {
    pub fn from_domain(r: &TicketReply) -> Self {
        let (author_id, by_requester) = match r.author {
            ReplyAuthor::Staff(u) => (Some(*u.as_uuid()), false),
            ReplyAuthor::Requester => (None, true),
        };
        Self {
            id: *r.id.as_uuid(),
            workspace_id: *r.workspace_id.as_uuid(),
            ticket_id: *r.ticket_id.as_uuid(),
            author_id,
            by_requester,
            body: r.body.as_str().to_owned(),
            created_at: r.created_at,
        }
    }

    pub fn into_domain(self, author_email: Option<String>) -> Result<TicketReply, StoreError> {
        let author = match (self.by_requester, self.author_id) {
            (true, _) => ReplyAuthor::Requester,
            (false, Some(u)) => ReplyAuthor::Staff(UserId::from_uuid(u)),
            (false, None) => return Err(corrupt("reply author", &self.id.to_string())),
        };
        Ok(TicketReply {
            id: ReplyId::from_uuid(self.id),
            ticket_id: TicketId::from_uuid(self.ticket_id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            author,
            author_email: author_email.as_deref().map(|e| text("email", e, Email::parse)).transpose()?,
            body: text("reply body", &self.body, LongText::parse)?,
            created_at: self.created_at,
        })
    }
}

impl SubmitLinkRow {
    pub fn from_domain(l: &SubmitLink) -> Self {
        Self {
            id: *l.id.as_uuid(),
            workspace_id: *l.workspace_id.as_uuid(),
            token_hash: l.token_hash.as_bytes().to_vec(),
            created_by: *l.created_by.as_uuid(),
            created_at: l.created_at,
            disabled_at: l.disabled_at,
        }
    }

    pub fn into_domain(self) -> Result<SubmitLink, StoreError> {
        Ok(SubmitLink {
            id: SubmitLinkId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            token_hash: hash(&self.token_hash)?,
            created_by: UserId::from_uuid(self.created_by),
            created_at: self.created_at,
            disabled_at: self.disabled_at,
        })
    }
}

async fn stale_or_gone(c: &mut AsyncPgConnection, ticket: Uuid) -> Db {
    let exists = tickets::table.find(ticket).select(tickets::id).first::<Uuid>(c).await.optional();
    match exists {
        Ok(Some(_)) => Db(StoreError::Conflict(Conflict::Stale)),
        Ok(None) => Db(StoreError::NotFound),
        Err(e) => Db::from(e),
    }
}

#[async_trait]
impl TicketStore for PgStore {
    async fn create_submit_link(&self, link: &SubmitLink, audit: AuditDraft) -> StoreResult<()> {
        let row = SubmitLinkRow::from_domain(link);
        write_tx!(self, |c| {
            diesel::update(
                submit_links::table
                    .filter(submit_links::workspace_id.eq(row.workspace_id))
                    .filter(submit_links::disabled_at.is_null()),
            )
            .set(submit_links::disabled_at.eq(row.created_at))
            .execute(c)
            .await?;
            diesel::insert_into(submit_links::table).values(&row).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn disable_submit_links(&self, ws: WorkspaceId, at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(
                submit_links::table
                    .filter(submit_links::workspace_id.eq(*ws.as_uuid()))
                    .filter(submit_links::disabled_at.is_null()),
            )
            .set(submit_links::disabled_at.eq(at))
            .execute(c)
            .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn submit_links(&self, ws: WorkspaceId) -> StoreResult<Vec<SubmitLink>> {
        read!(self, |c| {
            let rows: Vec<SubmitLinkRow> = submit_links::table
                .filter(submit_links::workspace_id.eq(*ws.as_uuid()))
                .order((submit_links::created_at.desc(), submit_links::id.desc()))
                .limit(50)
                .select(SubmitLinkRow::as_select())
                .load(c)
                .await?;
            Ok(rows.into_iter().map(SubmitLinkRow::into_domain).collect::<Result<_, _>>()?)
        })
    }

    async fn submit_link_by_token(&self, token: &TokenHash) -> StoreResult<Option<(SubmitLink, Name)>> {
        let token = token.as_bytes().to_vec();
        read!(self, |c| {
            let found: Option<(SubmitLinkRow, String)> = submit_links::table
                .inner_join(workspaces::table.on(workspaces::id.eq(submit_links::workspace_id)))
                .filter(submit_links::token_hash.eq(token))
                .filter(submit_links::disabled_at.is_null())
                .select((SubmitLinkRow::as_select(), workspaces::name))
                .first(c)
                .await
                .optional()?;
            let Some((row, name)) = found else { return Ok(None) };
            Ok(Some((row.into_domain()?, text("workspace name", &name, Name::parse)?)))
        })
    }

    async fn create_ticket(
        &self,
        ticket: &Ticket,
        attachment: Option<&TicketAttachment>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let row = TicketRow::from_domain(ticket);
        let file = attachment.map(AttachmentRow::from_domain);
        write_tx!(self, |c| {
            diesel::insert_into(tickets::table).values(&row).execute(c).await?;
            if let Some(file) = &file {
                diesel::insert_into(ticket_attachments::table).values(file).execute(c).await?;
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn add_attachment(
        &self,
        attachment: &TicketAttachment,
        standing: Standing,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let row = AttachmentRow::from_domain(attachment);
        write_tx!(self, |c| {
            // The member attaching it may have lost the ticket while the bytes streamed:
            // their membership, then the ticket, stay locked until this commits (the
            // order a removal takes them in).
            let role = role_in(c, row.workspace_id, *standing.user.as_uuid()).await?;
            let found: Option<Option<Uuid>> = tickets::table
                .filter(tickets::id.eq(row.ticket_id))
                .filter(tickets::workspace_id.eq(row.workspace_id))
                .select(tickets::assignee_id)
                .for_update()
                .first(c)
                .await
                .optional()?;
            let Some(assignee) = found else { return Err(Db(StoreError::NotFound)) };
            let assigned = assignee.as_ref() == Some(standing.user.as_uuid());
            standing.check(role, ResourceFacts::Ticket { assigned })?;
            // Counted under the ticket's row lock: concurrent attaches wait here, so
            // the cap holds however many arrive at once.
            let held: i64 = ticket_attachments::table
                .filter(ticket_attachments::ticket_id.eq(row.ticket_id))
                .count()
                .get_result(c)
                .await?;
            if held >= MAX_ATTACHMENTS as i64 {
                return Err(Db(StoreError::Conflict(Conflict::Full)));
            }
            diesel::insert_into(ticket_attachments::table).values(&row).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn attachments(&self, ws: WorkspaceId, ticket: TicketId) -> StoreResult<Vec<TicketAttachment>> {
        read!(self, |c| {
            let rows: Vec<AttachmentRow> = ticket_attachments::table
                .filter(ticket_attachments::ticket_id.eq(*ticket.as_uuid()))
                .filter(ticket_attachments::workspace_id.eq(*ws.as_uuid()))
                .order((ticket_attachments::created_at, ticket_attachments::id))
                .select(AttachmentRow::as_select())
                .load(c)
                .await?;
            Ok(rows.into_iter().map(AttachmentRow::into_domain).collect::<Result<_, _>>()?)
        })
    }

    async fn ticket_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        ticket: TicketId,
    ) -> StoreResult<Option<(Ticket, Role)>> {
        read!(self, |c| {
            let found: Option<(TicketRow, Option<String>, String)> = tickets::table
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(tickets::workspace_id).and(memberships::user_id.eq(*actor.as_uuid())),
                ))
                .left_join(users::table.on(users::id.nullable().eq(tickets::assignee_id)))
                .filter(tickets::id.eq(*ticket.as_uuid()))
                .filter(tickets::workspace_id.eq(*ws.as_uuid()))
                .select((TicketRow::as_select(), users::email.nullable(), memberships::role))
                .first(c)
                .await
                .optional()?;
            let Some((row, email, r)) = found else { return Ok(None) };
            Ok(Some((row.into_domain(email)?, role(&r)?)))
        })
    }

    async fn tickets_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<Ticket>)>> {
        let (key, after) = match page.after {
            Some(after) => (cursor_time(after.key)?, after.id),
            None => (DateTime::<Utc>::MAX_UTC, Uuid::max()),
        };
        let me = *actor.as_uuid();
        read!(self, |c| {
            // The member's row, left-joined to the page of tickets they may see (a
            // Restricted member's: assigned to them), in one statement.
            let rows: Vec<(String, Option<TicketRow>, Option<String>)> = memberships::table
                .left_join(
                    tickets::table.on(tickets::workspace_id
                        .eq(memberships::workspace_id)
                        .and(tickets::created_at.lt(key).or(tickets::created_at.eq(key).and(tickets::id.lt(after))))
                        .and(memberships::role.ne(Role::Restricted.as_str()).or(tickets::assignee_id.eq(me)))),
                )
                .left_join(users::table.on(users::id.nullable().eq(tickets::assignee_id)))
                .filter(memberships::workspace_id.eq(*ws.as_uuid()))
                .filter(memberships::user_id.eq(me))
                .order((tickets::created_at.desc(), tickets::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((memberships::role, tickets::all_columns.nullable(), users::email.nullable()))
                .load(c)
                .await?;
            let Some((r, _, _)) = <[_]>::first(&rows) else { return Ok(None) };
            let r = role(r)?;
            let items = rows
                .into_iter()
                .filter_map(|(_, row, email)| row.map(|row| row.into_domain(email)))
                .collect::<Result<Vec<_>, _>>()?;
            let page = Page::from_rows(items, page.limit, |t| Cursor {
                key: t.created_at.timestamp_micros(),
                id: *t.id.as_uuid(),
            });
            Ok(Some((r, page)))
        })
    }

    async fn ticket_by_track(&self, track: &TokenHash) -> StoreResult<Option<Ticket>> {
        let track = track.as_bytes().to_vec();
        read!(self, |c| {
            let found: Option<(TicketRow, Option<String>)> = tickets::table
                .left_join(users::table.on(users::id.nullable().eq(tickets::assignee_id)))
                .filter(tickets::track_hash.eq(track))
                .select((TicketRow::as_select(), users::email.nullable()))
                .first(c)
                .await
                .optional()?;
            Ok(found.map(|(row, email)| row.into_domain(email)).transpose()?)
        })
    }

    async fn update_ticket(&self, ticket: &Ticket, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        let row = TicketRow::from_domain(ticket);
        write_tx!(self, |c| {
            let n = diesel::update(
                tickets::table
                    .filter(tickets::id.eq(row.id))
                    .filter(tickets::workspace_id.eq(row.workspace_id))
                    .filter(tickets::updated_at.eq(read_at)),
            )
            .set((
                tickets::status.eq(&row.status),
                tickets::priority.eq(&row.priority),
                tickets::assignee_id.eq(row.assignee_id),
                tickets::updated_at.eq(row.updated_at),
            ))
            .execute(c)
            .await?;
            if n == 0 {
                return Err(stale_or_gone(c, row.id).await);
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn add_reply(
        &self,
        reply: &TicketReply,
        ticket: &Ticket,
        read_at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let (reply, ticket) = (ReplyRow::from_domain(reply), TicketRow::from_domain(ticket));
        write_tx!(self, |c| {
            let n = diesel::update(
                tickets::table
                    .filter(tickets::id.eq(ticket.id))
                    .filter(tickets::workspace_id.eq(ticket.workspace_id))
                    .filter(tickets::updated_at.eq(read_at)),
            )
            .set((tickets::status.eq(&ticket.status), tickets::updated_at.eq(ticket.updated_at)))
            .execute(c)
            .await?;
            if n == 0 {
                return Err(stale_or_gone(c, ticket.id).await);
            }
            let count: i64 =
                ticket_replies::table.filter(ticket_replies::ticket_id.eq(ticket.id)).count().get_result(c).await?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_REPLIES {
                return Err(Db(StoreError::Conflict(Conflict::Full)));
            }
            diesel::insert_into(ticket_replies::table).values(&reply).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn replies(&self, ws: WorkspaceId, ticket: TicketId) -> StoreResult<Vec<TicketReply>> {
        read!(self, |c| {
            let rows: Vec<(ReplyRow, Option<String>)> = ticket_replies::table
                .left_join(users::table.on(users::id.nullable().eq(ticket_replies::author_id)))
                .filter(ticket_replies::ticket_id.eq(*ticket.as_uuid()))
                .filter(ticket_replies::workspace_id.eq(*ws.as_uuid()))
                .order((ticket_replies::created_at, ticket_replies::id))
                .limit(MAX_REPLIES as i64)
                .select((ReplyRow::as_select(), users::email.nullable()))
                .load(c)
                .await?;
            Ok(rows.into_iter().map(|(r, e)| r.into_domain(e)).collect::<Result<_, _>>()?)
        })
    }

    async fn tickets_in_order(&self, ws: WorkspaceId, after: Option<TicketId>, limit: u32) -> StoreResult<Vec<Ticket>> {
        let after = after.map(|a| *a.as_uuid()).unwrap_or(Uuid::nil());
        read!(self, |c| {
            let rows: Vec<(TicketRow, Option<String>)> = tickets::table
                .left_join(users::table.on(users::id.nullable().eq(tickets::assignee_id)))
                .filter(tickets::workspace_id.eq(*ws.as_uuid()))
                .filter(tickets::id.gt(after))
                .order(tickets::id)
                .limit(i64::from(limit))
                .select((TicketRow::as_select(), users::email.nullable()))
                .load(c)
                .await?;
            Ok(rows.into_iter().map(|(r, e)| r.into_domain(e)).collect::<Result<_, _>>()?)
        })
    }
}
