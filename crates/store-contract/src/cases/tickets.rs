//! Tickets: members work them, a Restricted member sees only those assigned to them;
//! a submit link opens tickets for anyone, is rotated and turned off at once, refuses
//! spam and floods; a tracking token shows its one ticket and takes its requester's
//! replies; nothing else is reachable with either token.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use workvault_domain::Error;
use workvault_domain::page::PageRequest;
use workvault_domain::policy::Role;
use workvault_domain::ports::Store;
use workvault_domain::service::{NewTicket, PublicRefusal, SUBMITS_PER_NETWORK, SubmitForm, TicketChange};
use workvault_domain::ticket::{AttachmentKind, ReplyAuthor, TicketPriority, TicketStatus};

use crate::Fixture;

fn new(subject: &str, assignee: Option<&str>) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        body: "The printer in room 4 jams.".into(),
        assignee_email: assignee.map(str::to_owned),
        ..Default::default()
    }
}

/// A file sent along, as the adapter hands it over.
fn file(bytes: &'static [u8]) -> (Option<String>, workvault_domain::blob::ByteStream) {
    let pieces: Vec<Result<Bytes, workvault_domain::blob::BlobError>> = vec![Ok(Bytes::from_static(bytes))];
    (Some("plan.pdf".into()), Box::pin(futures_util::stream::iter(pieces)))
}

async fn bytes_of(body: workvault_domain::blob::ByteStream) -> Vec<u8> {
    let pieces: Vec<Bytes> = body.try_collect().await.expect("bytes");
    pieces.concat()
}

fn form(subject: &str) -> SubmitForm {
    SubmitForm {
        name: "Asha Rao".into(),
        email: "asha@customer.test".into(),
        subject: subject.into(),
        body: "The gate code stopped working.".into(),
        website: String::new(),
    }
}

/// Members open, list, read, reply and change tickets; a Restricted member sees and
/// works only the tickets assigned to them and cannot reassign; outsiders see nothing.
pub async fn tickets_are_worked_by_members_and_restricted_see_only_theirs(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, restricted, outsider) =
        (f.user("owner").await, f.user("member").await, f.user("restricted").await, f.user("outsider").await);
    let ws = f.workspace(&owner, "Helpdesk").await;
    f.workspace(&outsider, "Elsewhere").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;

    let theirs =
        f.app.create_ticket(&member, ws, new("Printer", Some("restricted@example.test"))).await.expect("ticket");
    let other = f.app.create_ticket(&member, ws, new("Wi-Fi", None)).await.expect("ticket");
    assert_eq!(theirs.assignee, Some(restricted.user));
    assert!(matches!(f.app.create_ticket(&restricted, ws, new("Mine", None)).await, Err(Error::Forbidden(_))));

    let listed = f.app.tickets(&restricted, ws, PageRequest::first()).await.expect("list");
    assert_eq!(listed.items.iter().map(|t| t.id).collect::<Vec<_>>(), [theirs.id], "assigned tickets only");
    assert_eq!(f.app.tickets(&member, ws, PageRequest::first()).await.expect("list").items.len(), 2);
    assert!(matches!(f.app.ticket(&restricted, ws, other.id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.ticket(&outsider, ws, theirs.id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.tickets(&outsider, ws, PageRequest::first()).await, Err(Error::NotFound)));

    f.clock.advance(chrono::Duration::seconds(1));
    f.app.reply_to_ticket(&restricted, ws, theirs.id, "Cleared the jam.").await.expect("assignee replies");
    let change = TicketChange { status: Some(TicketStatus::Resolved), ..Default::default() };
    let resolved = f.app.update_ticket(&restricted, ws, theirs.id, change).await.expect("assignee resolves");
    assert_eq!(resolved.status, TicketStatus::Resolved);
    let away = TicketChange { assignee_email: Some(None), ..Default::default() };
    assert!(matches!(f.app.update_ticket(&restricted, ws, theirs.id, away).await, Err(Error::Forbidden(_))));
    assert!(f.app.reply_to_ticket(&restricted, ws, other.id, "Not mine").await.is_err());

    let (read, thread, _) = f.app.ticket(&owner, ws, theirs.id).await.expect("read");
    assert_eq!(read.status, TicketStatus::Resolved);
    assert_eq!(thread.len(), 1);
    assert_eq!(thread[0].author, ReplyAuthor::Staff(restricted.user));
    assert_eq!(thread[0].author_email.as_ref().map(|e| e.as_str()), Some("restricted@example.test"));

    // A write decided on a stale read is refused; nothing is written.
    let stale = workvault_domain::ticket::Ticket { priority: TicketPriority::Urgent, ..theirs.clone() };
    let r = store.update_ticket(&stale, theirs.updated_at, f.store_draft(ws)).await;
    assert!(r.is_err(), "compare-and-set");
    let reassign = TicketChange {
        assignee_email: Some(Some("member@example.test".into())),
        priority: Some(TicketPriority::High),
        ..Default::default()
    };
    let moved = f.app.update_ticket(&owner, ws, theirs.id, reassign).await.expect("reassign");
    assert_eq!((moved.assignee, moved.priority), (Some(member.user), TicketPriority::High));
    assert!(matches!(f.app.ticket(&restricted, ws, theirs.id).await, Err(Error::NotFound)), "no longer theirs");
    let stranger = TicketChange { assignee_email: Some(Some("outsider@example.test".into())), ..Default::default() };
    assert!(matches!(
        f.app.update_ticket(&owner, ws, theirs.id, stranger).await,
        Err(Error::Invalid { field: "assignee_email", .. })
    ));

    // The export holds every ticket, escaped, in a stable column order.
    let out = f.app.export_tickets(&owner, ws).await.expect("export");
    let pieces: Vec<Bytes> = out.body.try_collect().await.expect("stream");
    let csv: String = pieces.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    assert!(csv.starts_with(
        "id,subject,status,priority,assignee_email,requester_name,requester_email,created_at,updated_at,body\r\n"
    ));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains(",Printer,resolved,high,member@example.test,"), "{csv}");
    assert!(matches!(f.app.export_tickets(&member, ws).await, Err(Error::Forbidden(_))));
}

/// A submit link opens tickets for anyone; its tracking token shows that one ticket
/// and takes replies; rotation and turning off end the old link at once; spam, bad
/// forms and floods store nothing.
pub async fn submit_links_open_tickets_and_tracking_tokens_reach_only_theirs(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member) = (f.user("owner").await, f.user("member").await);
    let ws = f.workspace(&owner, "Helpdesk").await;
    f.join(&owner, ws, &member, Role::Member).await;
    assert!(matches!(f.app.create_submit_link(&member, ws).await, Err(Error::Forbidden(_))));
    let (link, token) = f.app.create_submit_link(&owner, ws).await.expect("link");
    let (found, name) = f.app.submit_link(token.expose()).await.expect("live");
    assert_eq!((found.id, name.as_str()), (link.id, "Helpdesk"));

    let (ticket, track) = f
        .app
        .submit_ticket(token.expose(), form("Gate code"), "203.0.113.0/24", Some(file(b"%PDF-1.7 gate plan")))
        .await
        .expect("submit");
    assert_eq!(ticket.created_by, None);
    assert_eq!(ticket.requester_email.as_ref().map(|e| e.as_str()), Some("asha@customer.test"));
    let seen = f.app.tickets(&member, ws, PageRequest::first()).await.expect("list");
    assert_eq!(seen.items.len(), 1, "the team sees it");

    // The tracking token shows the ticket and its thread, staff emails left out.
    f.clock.advance(chrono::Duration::seconds(1));
    f.app.reply_to_ticket(&member, ws, ticket.id, "We reset it: 4321.").await.expect("reply");
    let change = TicketChange { status: Some(TicketStatus::Resolved), ..Default::default() };
    f.app.update_ticket(&member, ws, ticket.id, change).await.expect("resolve");
    let tracked = f.app.tracked_ticket(track.expose()).await.expect("tracked");
    assert_eq!(tracked.ticket.id, ticket.id);
    assert_eq!(tracked.replies.len(), 1);
    assert_eq!(tracked.replies[0].author_email, None, "the requester sees the team, not who");
    f.clock.advance(chrono::Duration::seconds(1));
    f.app.requester_reply(track.expose(), "Works now, thanks!", "203.0.113.0/24").await.expect("requester replies");
    let (again, thread, files) = f.app.ticket(&member, ws, ticket.id).await.expect("read");
    assert_eq!(again.status, TicketStatus::Open, "a requester's reply opens a resolved ticket again");
    assert_eq!(thread.last().map(|r| r.author), Some(ReplyAuthor::Requester));
    // The file sent with the form: listed for the team and the requester, bytes intact.
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].kind, files[0].by_requester, files[0].size), (AttachmentKind::Pdf, true, 18));
    let (_, body) = f.app.ticket_attachment(&member, ws, ticket.id, files[0].id).await.expect("file");
    assert_eq!(bytes_of(body).await, b"%PDF-1.7 gate plan");
    let tracked = f.app.tracked_ticket(track.expose()).await.expect("tracked");
    assert_eq!(tracked.attachments.iter().map(|a| a.id).collect::<Vec<_>>(), [files[0].id]);
    let (_, body) = f.app.tracked_attachment(track.expose(), files[0].id).await.expect("their file");
    assert_eq!(bytes_of(body).await, b"%PDF-1.7 gate plan");
    // A member attaches a photo; a file that is neither is refused and leaves nothing.
    let jpeg: &'static [u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    let (_, photo) = file(jpeg);
    let att = f.app.attach_to_ticket(&member, ws, ticket.id, Some("door.jpg"), photo).await.expect("attach");
    assert_eq!((att.kind, att.by_requester), (AttachmentKind::Jpeg, false));
    let (_, script) = file(b"#!/bin/sh\nrm -rf /\n");
    assert!(matches!(
        f.app.attach_to_ticket(&member, ws, ticket.id, Some("x.sh"), script).await,
        Err(Error::UnsupportedAttachment)
    ));
    assert_eq!(f.app.ticket(&member, ws, ticket.id).await.expect("read").2.len(), 2);
    let other = f.app.create_ticket(&member, ws, new("Other", None)).await.expect("ticket");
    assert!(matches!(f.app.ticket_attachment(&member, ws, other.id, att.id).await, Err(Error::NotFound)));
    let blobs_before = f.blobs.len();
    // Bytes whose row never came (a request dropped midway) are reaped; a file's are not.
    use workvault_domain::blob::BlobStore as _;
    use workvault_domain::queue::TaskHandler as _;
    let orphan = workvault_domain::id::AttachmentId::from_uuid(uuid::Uuid::now_v7());
    let key = workvault_domain::blob::BlobKey::new(ws, format!("ticket-{orphan}")).expect("key");
    let (_, bytes) = file(b"%PDF-1.7 lost");
    f.blobs.put(&key, bytes, 1 << 20).await.expect("put");
    let reaper = workvault_domain::ticket::ReapAttachments::new(store.clone(), f.blobs.clone());
    for (id, kept) in [(orphan, blobs_before), (att.id, blobs_before)] {
        let payload =
            workvault_domain::ticket::ReapAttachment { workspace_id: ws, ticket_id: ticket.id, attachment_id: id };
        let task = workvault_domain::queue::Task {
            payload: serde_json::to_string(&payload).expect("json"),
            ..super::queued_task(&f, workvault_domain::ticket::REAP_ATTACHMENT_KIND)
        };
        reaper.run(&task).await.expect("reap");
        assert_eq!(f.blobs.len(), kept, "{id}");
    }
    let close = TicketChange { status: Some(TicketStatus::Closed), ..Default::default() };
    f.app.update_ticket(&member, ws, ticket.id, close).await.expect("close");
    assert_eq!(f.app.requester_reply(track.expose(), "One more", "net").await, Err(PublicRefusal::Closed));

    // Tokens do not stand in for each other, nor for anything else.
    assert!(matches!(f.app.tracked_ticket(token.expose()).await, Err(PublicRefusal::Invalid)));
    assert!(matches!(f.app.submit_link(track.expose()).await, Err(PublicRefusal::Invalid)));
    assert!(matches!(f.app.tracked_ticket("not-a-token").await, Err(PublicRefusal::Invalid)));

    // Spam and bad forms store nothing; floods from one network are turned away.
    let before = f.app.tickets(&member, ws, PageRequest::first()).await.expect("list").items.len();
    let spam = SubmitForm { website: "http://spam.test".into(), ..form("Cheap pills") };
    assert!(matches!(
        f.app.submit_ticket(token.expose(), spam, "198.51.100.0/24", None).await,
        Err(PublicRefusal::Spam)
    ));
    let bad = SubmitForm { email: "not an email".into(), subject: " ".into(), ..form("x") };
    match f.app.submit_ticket(token.expose(), bad, "198.51.100.0/24", None).await {
        Err(PublicRefusal::Form(problems)) => {
            let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
            assert_eq!(fields, ["email", "subject"]);
        }
        other => panic!("expected form problems, got {other:?}"),
    }
    assert_eq!(f.app.tickets(&member, ws, PageRequest::first()).await.expect("list").items.len(), before);
    let flood = "192.0.2.0/24";
    for i in 0..SUBMITS_PER_NETWORK {
        f.app.submit_ticket(token.expose(), form(&format!("Flood {i}")), flood, None).await.expect("within the limit");
    }
    assert!(matches!(
        f.app.submit_ticket(token.expose(), form("One too many"), flood, None).await,
        Err(PublicRefusal::TooMany { retry_after }) if retry_after > 0
    ));

    // Rotation ends the old link at once; turning off ends the new one.
    let (_, rotated) = f.app.create_submit_link(&owner, ws).await.expect("rotate");
    assert!(matches!(
        f.app.submit_ticket(token.expose(), form("Old link"), "n", None).await,
        Err(PublicRefusal::Invalid)
    ));
    f.app.submit_ticket(rotated.expose(), form("New link"), "n", None).await.expect("new link works");
    assert_eq!(
        f.app.submit_links(&owner, ws).await.expect("links").iter().filter(|l| l.disabled_at.is_none()).count(),
        1
    );
    f.app.disable_submit_links(&owner, ws).await.expect("off");
    assert!(matches!(f.app.submit_link(rotated.expose()).await, Err(PublicRefusal::Invalid)));
    assert!(matches!(f.app.disable_submit_links(&owner, ws).await, Err(Error::NotFound)));
    // The tracking link of a ticket outlives its submit link.
    assert!(f.app.tracked_ticket(track.expose()).await.is_ok());
}

/// Thirty files attached to one ticket at once: exactly [`MAX_ATTACHMENTS`] are
/// stored, the others are refused as a conflict and leave no bytes behind.
///
/// [`MAX_ATTACHMENTS`]: workvault_domain::ticket::MAX_ATTACHMENTS
pub async fn a_ticket_takes_at_most_its_files_under_concurrent_attaches(store: Arc<dyn Store>) {
    use workvault_domain::ticket::MAX_ATTACHMENTS;
    let f = Fixture::new(store.clone());
    let (owner, member) = (f.user("owner").await, f.user("member").await);
    let ws = f.workspace(&owner, "Helpdesk").await;
    f.join(&owner, ws, &member, Role::Member).await;
    let ticket = f.app.create_ticket(&member, ws, new("Many files", None)).await.expect("ticket");
    let attaches = (0..30).map(|i| {
        let (_, body) = file(b"%PDF-1.7 one of many");
        let name = format!("plan-{i}.pdf");
        let app = f.app.clone();
        async move { app.attach_to_ticket(&member, ws, ticket.id, Some(&name), body).await }
    });
    let tasks: Vec<_> = attaches.map(tokio::spawn).collect();
    let (mut stored, mut refused) = (0, 0);
    for task in tasks {
        match task.await.expect("attach task") {
            Ok(_) => stored += 1,
            Err(Error::Conflict(_)) => refused += 1,
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    assert_eq!((stored, refused), (MAX_ATTACHMENTS, 30 - MAX_ATTACHMENTS));
    let files = f.app.ticket(&member, ws, ticket.id).await.expect("read").2;
    assert_eq!(files.len(), MAX_ATTACHMENTS, "the cap holds in the store");
    assert_eq!(f.blobs.len(), MAX_ATTACHMENTS, "refused files leave no bytes");
}
