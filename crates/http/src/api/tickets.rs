//! Helpdesk tickets: open, list, read with the thread, change, reply, export; and the
//! workspace's public submit link (create or rotate, list, turn off).

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workvault_domain::id::TicketId;
use workvault_domain::service::{NewTicket, TicketChange};
use workvault_domain::ticket::{ReplyAuthor, SubmitLink, Ticket, TicketPriority, TicketReply, TicketStatus};

use super::{Reply, created, csv_download, id};
use crate::AppState;
use crate::dto::{List, ListQuery, present};
use crate::problem::Problem;
use crate::session::Caller;

/// A ticket's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusDto {
    /// Waiting for the team.
    Open,
    /// Waiting for the requester.
    Pending,
    /// Answered (a requester's reply opens it again).
    Resolved,
    /// Done: no more replies.
    Closed,
}

/// A ticket's priority.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriorityDto {
    /// Low.
    Low,
    /// Normal.
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

macro_rules! mirror {
    ($dto:ident, $domain:ident, $($v:ident),*) => {
        impl From<$dto> for $domain {
            fn from(d: $dto) -> Self { match d { $($dto::$v => $domain::$v),* } }
        }
        impl From<$domain> for $dto {
            fn from(d: $domain) -> Self { match d { $($domain::$v => $dto::$v),* } }
        }
    };
}
mirror!(StatusDto, TicketStatus, Open, Pending, Resolved, Closed);
mirror!(PriorityDto, TicketPriority, Low, Normal, High, Urgent);

/// A ticket opened by a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// Subject (1 to 200 characters).
    pub subject: String,
    /// What it is about (up to 10,000 characters).
    pub body: String,
    /// Priority (`normal` when not given).
    pub priority: Option<PriorityDto>,
    /// The member to work it, by email.
    pub assignee_email: Option<String>,
    /// Who asked, when not a member.
    pub requester_name: Option<String>,
    /// Their email.
    pub requester_email: Option<String>,
}

/// A change; absent fields stay. `assignee_email: null` unassigns.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// New status.
    pub status: Option<StatusDto>,
    /// New priority.
    pub priority: Option<PriorityDto>,
    /// New assignee (a member's email), or `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assignee_email: Option<Option<String>>,
}

/// A reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReply {
    /// What to say (up to 10,000 characters).
    pub body: String,
}

/// A ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketOut {
    /// Ticket id.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Subject.
    pub subject: String,
    /// The first message.
    pub body: String,
    /// Status.
    pub status: StatusDto,
    /// Priority.
    pub priority: PriorityDto,
    /// The member working it.
    pub assignee_id: Option<String>,
    /// Their email.
    pub assignee_email: Option<String>,
    /// Who asked.
    pub requester_name: Option<String>,
    /// Their email.
    pub requester_email: Option<String>,
    /// `member` (opened through the API) or `submit_link` (opened by anyone through the
    /// workspace's public form).
    pub source: &'static str,
    /// The member who opened it.
    pub created_by: Option<String>,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Ticket> for TicketOut {
    fn from(t: Ticket) -> Self {
        TicketOut {
            id: t.id.to_string(),
            workspace_id: t.workspace_id.to_string(),
            subject: t.subject.into(),
            body: t.body.into(),
            status: t.status.into(),
            priority: t.priority.into(),
            assignee_id: t.assignee.map(|u| u.to_string()),
            assignee_email: t.assignee_email.map(String::from),
            requester_name: t.requester_name.map(String::from),
            requester_email: t.requester_email.map(String::from),
            source: if t.submit_link_id.is_some() || t.track_hash.is_some() { "submit_link" } else { "member" },
            created_by: t.created_by.map(|u| u.to_string()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A reply on a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyOut {
    /// Reply id.
    pub id: String,
    /// `staff` or `requester`.
    pub author: &'static str,
    /// A staff author's id.
    pub author_id: Option<String>,
    /// A staff author's email.
    pub author_email: Option<String>,
    /// What they wrote.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<TicketReply> for ReplyOut {
    fn from(r: TicketReply) -> Self {
        let (author, author_id) = match r.author {
            ReplyAuthor::Staff(u) => ("staff", Some(u.to_string())),
            ReplyAuthor::Requester => ("requester", None),
        };
        ReplyOut {
            id: r.id.to_string(),
            author,
            author_id,
            author_email: r.author_email.map(String::from),
            body: r.body.into(),
            created_at: r.created_at,
        }
    }
}

/// A ticket with its thread.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketThread {
    /// The ticket.
    #[serde(flatten)]
    pub ticket: TicketOut,
    /// Its replies, oldest first.
    pub replies: Vec<ReplyOut>,
    /// Its files, oldest first.
    pub attachments: Vec<super::ticket_files::AttachmentOut>,
}

/// A submit link (its token is shown only when it is made).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitLinkOut {
    /// Link id.
    pub id: String,
    /// Whether it works (the newest, not turned off).
    pub active: bool,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// Rotated away or turned off at.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The public form's address, with its token: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl From<SubmitLink> for SubmitLinkOut {
    fn from(l: SubmitLink) -> Self {
        SubmitLinkOut {
            id: l.id.to_string(),
            active: l.disabled_at.is_none(),
            created_at: l.created_at,
            disabled_at: l.disabled_at,
            url: None,
        }
    }
}

/// The submit links.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitLinksOut {
    /// Newest first.
    pub items: Vec<SubmitLinkOut>,
}

fn ticket_id(raw: &str) -> Result<TicketId, crate::problem::ApiError> {
    id(raw, "ticket")
}

/// Opens a ticket (Owner, Admin, Member).
#[utoipa::path(tag = "tickets", params(("ws" = String, Path)), request_body = CreateTicket, responses(
    (status = 201, body = TicketOut, headers(("Location" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/tickets")]
pub async fn create(state: Data<AppState>, caller: Caller, path: Path<String>, body: Json<CreateTicket>) -> Reply {
    let ws = id(&path, "workspace")?;
    let b = body.into_inner();
    let new = NewTicket {
        subject: b.subject,
        body: b.body,
        priority: b.priority.map(Into::into),
        assignee_email: b.assignee_email,
        requester_name: b.requester_name,
        requester_email: b.requester_email,
    };
    let t = state.app.create_ticket(&caller.ctx, ws, new).await?;
    Ok(created(format!("/api/v1/workspaces/{ws}/tickets/{}", t.id), &TicketOut::from(t)))
}

/// The tickets the caller may see, newest first (a Restricted member's: those assigned
/// to them).
#[utoipa::path(tag = "tickets", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<TicketOut>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/tickets")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.tickets(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, TicketOut::from)))
}

/// One ticket with its thread.
#[utoipa::path(tag = "tickets", params(("ws" = String, Path), ("ticket" = String, Path)), responses(
    (status = 200, body = TicketThread),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/tickets/{ticket}")]
pub async fn show(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, t) = (id(&path.0, "workspace")?, ticket_id(&path.1)?);
    let (ticket, replies, files) = state.app.ticket(&caller.ctx, ws, t).await?;
    let replies = replies.into_iter().map(ReplyOut::from).collect();
    let attachments = files.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(TicketThread { ticket: ticket.into(), replies, attachments }))
}

/// Changes a ticket's status, priority or assignee (assigning: Owner, Admin, Member).
#[utoipa::path(tag = "tickets", params(("ws" = String, Path), ("ticket" = String, Path)), request_body = UpdateTicket, responses(
    (status = 200, body = TicketOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/workspaces/{ws}/tickets/{ticket}")]
pub async fn update(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<UpdateTicket>,
) -> Reply {
    let (ws, t) = (id(&path.0, "workspace")?, ticket_id(&path.1)?);
    let b = body.into_inner();
    let change = TicketChange {
        status: b.status.map(Into::into),
        priority: b.priority.map(Into::into),
        assignee_email: b.assignee_email,
    };
    Ok(HttpResponse::Ok().json(TicketOut::from(state.app.update_ticket(&caller.ctx, ws, t, change).await?)))
}

/// Replies on a ticket as a member.
#[utoipa::path(tag = "tickets", params(("ws" = String, Path), ("ticket" = String, Path)), request_body = CreateReply, responses(
    (status = 201, body = ReplyOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/tickets/{ticket}/replies")]
pub async fn reply(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
    body: Json<CreateReply>,
) -> Reply {
    let (ws, t) = (id(&path.0, "workspace")?, ticket_id(&path.1)?);
    let r = state.app.reply_to_ticket(&caller.ctx, ws, t, &body.body).await?;
    Ok(created(format!("/api/v1/workspaces/{ws}/tickets/{t}"), &ReplyOut::from(r)))
}

/// Exports the tickets as CSV (Owner, Admin), streamed in id order: `id, subject,
/// status, priority, assignee_email, requester_name, requester_email, created_at,
/// updated_at, body`, formula cells escaped with a leading `'`.
#[utoipa::path(tag = "tickets", params(("ws" = String, Path)), responses(
    (status = 200, description = "The CSV file", content_type = "text/csv"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/tickets/export")]
pub async fn export(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    let out = state.app.export_tickets(&caller.ctx, ws).await?;
    Ok(csv_download("tickets", state.app.clock().now().date_naive(), out))
}

/// The workspace's submit links, newest first (Owner, Admin).
#[utoipa::path(tag = "tickets", params(("ws" = String, Path)), responses(
    (status = 200, body = SubmitLinksOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/submit-links")]
pub async fn submit_links(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    let items = state.app.submit_links(&caller.ctx, ws).await?.into_iter().map(SubmitLinkOut::from).collect();
    Ok(HttpResponse::Ok().json(SubmitLinksOut { items }))
}

/// Makes the workspace's public submit link, turning the previous one off at once (a
/// rotation). The answer holds its `url`, shown this once (Owner, Admin).
#[utoipa::path(tag = "tickets", params(("ws" = String, Path)), responses(
    (status = 201, body = SubmitLinkOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/submit-links")]
pub async fn create_submit_link(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    let (link, token) = state.app.create_submit_link(&caller.ctx, ws).await?;
    let url = state.settings.link(&format!("/t/new/{}", token.expose()));
    let out = SubmitLinkOut { url: Some(url), ..SubmitLinkOut::from(link) };
    Ok(created(format!("/api/v1/workspaces/{ws}/submit-links"), &out))
}

/// Turns the workspace's submit link off (Owner, Admin); its tickets and their
/// tracking links stay.
#[utoipa::path(tag = "tickets", params(("ws" = String, Path)), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No link is on"),
))]
#[delete("/workspaces/{ws}/submit-links")]
pub async fn disable_submit_links(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    state.app.disable_submit_links(&caller.ctx, ws).await?;
    Ok(HttpResponse::NoContent().finish())
}
