//! The public side of tickets: the submit page a workspace hands out
//! (`/t/new/{token}`) and the tracking page of one ticket (`/t/{track_token}`). The
//! token is the only permission; it reaches its own workspace's form, or its own
//! ticket, and nothing else. Submits are limited per link and per network in the
//! database, and a filled honeypot field is refused.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;

use super::Workvault;
use crate::Error;
use crate::audit::{AuditActor, AuditDraft};
use crate::blob::ByteStream;
use crate::id::{AttachmentId, ReplyId, TicketId};
use crate::secret::Token;
use crate::text::{Email, LongText, Name};
use crate::ticket::{ReplyAuthor, SubmitLink, Ticket, TicketPriority, TicketReply, TicketStatus};

/// Submits one network may make through one link per window.
pub const SUBMITS_PER_NETWORK: u32 = 5;
/// Submits one link takes per window, from everyone.
pub const SUBMITS_PER_LINK: u32 = 100;
/// Requester replies one ticket takes per window.
pub const REPLIES_PER_TICKET: u32 = 20;
/// The rate limits' window, in minutes.
pub const WINDOW_MINUTES: i64 = 15;

/// Why a public ticket page shows nothing (or refuses a submit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicRefusal {
    /// Unknown, malformed, rotated or turned off: one answer for all.
    Invalid,
    /// Too many submits or replies: retry after this many seconds.
    TooMany {
        /// Seconds until the window ends.
        retry_after: i64,
    },
    /// The form has problems: `(field, message)` each; nothing was stored.
    Form(Vec<(&'static str, String)>),
    /// The hidden field a person never fills was filled: nothing was stored.
    Spam,
    /// The ticket is closed: no more replies.
    Closed,
    /// The attached file was refused (not a photo or PDF, empty, cut off); nothing was
    /// stored.
    File(String),
    /// The attached file is larger than this many bytes; nothing was stored.
    FileTooLarge(u64),
    /// The store failed; nothing is known to have been stored.
    Unavailable,
}

/// What someone typed into the submit form.
#[derive(Debug, Clone, Default)]
pub struct SubmitForm {
    /// Their name.
    pub name: String,
    /// Their email.
    pub email: String,
    /// Subject.
    pub subject: String,
    /// What they need.
    pub body: String,
    /// The honeypot: a field hidden from people; bots fill it.
    pub website: String,
}

/// A ticket as its requester sees it through the tracking link.
#[derive(Debug, Clone)]
pub struct TrackedTicket {
    /// The ticket.
    pub ticket: Ticket,
    /// Its thread, oldest first (staff replies show no email).
    pub replies: Vec<TicketReply>,
    /// Its files, oldest first.
    pub attachments: Vec<crate::ticket::TicketAttachment>,
}

fn unavailable(e: impl std::fmt::Display) -> PublicRefusal {
    tracing::warn!(error = %e, "a public ticket page could not reach the store");
    PublicRefusal::Unavailable
}

impl Workvault {
    /// The live submit link with this token, and the name of its workspace.
    pub async fn submit_link(&self, presented: &str) -> Result<(SubmitLink, Name), PublicRefusal> {
        let token = Token::parse(presented).ok_or(PublicRefusal::Invalid)?;
        self.store.submit_link_by_token(&token.hash()).await.map_err(unavailable)?.ok_or(PublicRefusal::Invalid)
    }

    /// Counts one attempt under each key; refuses past its limit.
    async fn limit(&self, keys: &[(String, u32)]) -> Result<(), PublicRefusal> {
        let now = self.now();
        let window = Duration::minutes(WINDOW_MINUTES);
        let start: DateTime<Utc> = now.duration_trunc(window).unwrap_or(now);
        let retry_after = (start + window - now).num_seconds().max(1);
        for (key, max) in keys {
            let n = self.store.count_attempt(key, start).await.map_err(unavailable)?;
            if n > *max {
                return Err(PublicRefusal::TooMany { retry_after });
            }
        }
        Ok(())
    }

    /// Opens a ticket through a submit link, with the file sent along if any (a photo
    /// or a PDF; its bytes are read only once the form is valid and within the limits).
    /// Returns the ticket and its tracking token, shown this once.
    pub async fn submit_ticket(
        &self,
        presented: &str,
        form: SubmitForm,
        network: &str,
        file: Option<(Option<String>, ByteStream)>,
    ) -> Result<(Ticket, Token), PublicRefusal> {
        let (link, _) = self.submit_link(presented).await?;
        if !form.website.trim().is_empty() {
            return Err(PublicRefusal::Spam);
        }
        self.limit(&[
            (format!("submit:{}:{network}", link.id), SUBMITS_PER_NETWORK),
            (format!("submit:{}", link.id), SUBMITS_PER_LINK),
        ])
        .await?;
        let mut problems = Vec::new();
        fn take<T>(
            problems: &mut Vec<(&'static str, String)>,
            name: &'static str,
            r: Result<T, crate::text::TextError>,
        ) -> Option<T> {
            r.map_err(|e| problems.push((name, e.to_string()))).ok()
        }
        let requester_name = take(&mut problems, "name", Name::parse(&form.name));
        let requester_email = take(&mut problems, "email", Email::parse(&form.email));
        let subject = take(&mut problems, "subject", Name::parse(&form.subject));
        let body = take(&mut problems, "body", LongText::parse(&form.body));
        let (Some(requester_name), Some(requester_email), Some(subject), Some(body)) =
            (requester_name, requester_email, subject, body)
        else {
            return Err(PublicRefusal::Form(problems));
        };
        let track = Token::generate(&*self.rng);
        let now = self.now();
        let ticket = Ticket {
            id: TicketId::generate(&*self.clock, &*self.rng),
            workspace_id: link.workspace_id,
            subject,
            body,
            status: TicketStatus::Open,
            priority: TicketPriority::Normal,
            assignee: None,
            assignee_email: None,
            requester_name: Some(requester_name),
            requester_email: Some(requester_email),
            created_by: None,
            submit_link_id: Some(link.id),
            track_hash: Some(track.hash()),
            created_at: now,
            updated_at: now,
        };
        let audit = AuditDraft {
            workspace_id: link.workspace_id,
            at: now,
            actor: AuditActor::Anonymous,
            action: "ticket.submitted".into(),
            target_kind: "ticket".into(),
            target_id: ticket.id.to_string(),
            details: json!({"submit_link": link.id.to_string(), "network": network}),
            request_id: None,
        };
        let attachment = match file {
            Some((name, body)) => {
                let stored = self.store_attachment(ticket.workspace_id, ticket.id, true, name.as_deref(), body).await;
                Some(stored.map_err(|e| match e {
                    Error::Unavailable(_) | Error::ContentUnavailable(_) => unavailable(e),
                    Error::PayloadTooLarge(limit) => PublicRefusal::FileTooLarge(limit),
                    other => PublicRefusal::File(other.to_string()),
                })?)
            }
            None => None,
        };
        let written = self.store.create_ticket(&ticket, attachment.as_ref().map(|(a, _)| a), audit).await;
        if let Some((att, reap)) = &attachment {
            self.settle_attachment(att, *reap, written.is_ok()).await;
        }
        written.map_err(unavailable)?;
        Ok((ticket, track))
    }

    /// The ticket behind a tracking token, with its thread.
    pub async fn tracked_ticket(&self, presented: &str) -> Result<TrackedTicket, PublicRefusal> {
        let token = Token::parse(presented).ok_or(PublicRefusal::Invalid)?;
        let ticket =
            self.store.ticket_by_track(&token.hash()).await.map_err(unavailable)?.ok_or(PublicRefusal::Invalid)?;
        let mut replies = self.store.replies(ticket.workspace_id, ticket.id).await.map_err(unavailable)?;
        // The requester sees who answered only as "the team".
        for r in &mut replies {
            r.author_email = None;
        }
        let attachments = self.store.attachments(ticket.workspace_id, ticket.id).await.map_err(unavailable)?;
        Ok(TrackedTicket { ticket, replies, attachments })
    }

    /// A file of the ticket behind a tracking token, and its bytes.
    pub async fn tracked_attachment(
        &self,
        presented: &str,
        attachment: AttachmentId,
    ) -> Result<(crate::ticket::TicketAttachment, ByteStream), PublicRefusal> {
        let token = Token::parse(presented).ok_or(PublicRefusal::Invalid)?;
        let ticket =
            self.store.ticket_by_track(&token.hash()).await.map_err(unavailable)?.ok_or(PublicRefusal::Invalid)?;
        self.attachment_bytes(ticket.workspace_id, ticket.id, attachment).await.map_err(|e| match e {
            Error::NotFound => PublicRefusal::Invalid,
            other => unavailable(other),
        })
    }

    /// The requester's reply through the tracking link. A resolved or pending ticket
    /// opens again; a closed one takes no more replies.
    pub async fn requester_reply(&self, presented: &str, body: &str, network: &str) -> Result<(), PublicRefusal> {
        let tracked = self.tracked_ticket(presented).await?;
        let current = tracked.ticket;
        if current.status == TicketStatus::Closed {
            return Err(PublicRefusal::Closed);
        }
        self.limit(&[(format!("reply:{}", current.id), REPLIES_PER_TICKET)]).await?;
        let body = LongText::parse(body).map_err(|e| PublicRefusal::Form(vec![("body", e.to_string())]))?;
        let now = self.now();
        let reply = TicketReply {
            id: ReplyId::generate(&*self.clock, &*self.rng),
            ticket_id: current.id,
            workspace_id: current.workspace_id,
            author: ReplyAuthor::Requester,
            author_email: None,
            body,
            created_at: now,
        };
        let ticket = Ticket { status: TicketStatus::Open, updated_at: now, ..current.clone() };
        let audit = AuditDraft {
            workspace_id: current.workspace_id,
            at: now,
            actor: AuditActor::Anonymous,
            action: "ticket.replied".into(),
            target_kind: "ticket".into(),
            target_id: current.id.to_string(),
            details: json!({"by": "requester", "network": network}),
            request_id: None,
        };
        match self.store.add_reply(&reply, &ticket, current.updated_at, audit).await {
            Ok(()) => Ok(()),
            Err(crate::ports::StoreError::Conflict(crate::ports::Conflict::Full)) => Err(PublicRefusal::Closed),
            Err(e) => Err(unavailable(e)),
        }
    }
}
