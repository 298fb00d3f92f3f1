//! Uploads outlived by their uploader's standing: a member removed, demoted, ungranted
//! or unassigned while the bytes stream stores nothing, and the bytes already sealed
//! are deleted. The store checks the standing again in the transaction that writes the
//! row.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use workvault_domain::audit::AuditActor;
use workvault_domain::blob::{BlobError, ByteStream};
use workvault_domain::id::{AttachmentId, JobId, PhotoId, WorkspaceId};
use workvault_domain::page::PageRequest;
use workvault_domain::photo::{ImageType, Photo, PhotoStatus};
use workvault_domain::policy::{Action, DenyReason, Role};
use workvault_domain::ports::{Standing, Store, StoreError};
use workvault_domain::service::{NewTicket, TicketChange};
use workvault_domain::ticket::{AttachmentKind, TicketAttachment};
use workvault_domain::{Ctx, Error};

use super::{job, jpeg, new_task};
use crate::Fixture;

const PDF: &[u8] = b"%PDF-1.7 the site plan, page one of three";

/// A body that yields the first bytes, then runs `meanwhile` (what befalls the uploader
/// while the bytes stream), then yields the rest: the upload was authorized before
/// `meanwhile`, and its row is written after.
fn body_with<F>(bytes: &[u8], meanwhile: F) -> ByteStream
where
    F: Future<Output = ()> + Send + 'static,
{
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    let (head, tail) = (Bytes::copy_from_slice(head), Bytes::copy_from_slice(tail));
    let first = futures_util::stream::iter([Ok::<_, BlobError>(head)]);
    let rest = futures_util::stream::once(async move {
        meanwhile.await;
        Ok(tail)
    });
    Box::pin(first.chain(rest))
}

async fn upload_while<F>(f: &Fixture, who: &Ctx, ws: WorkspaceId, j: JobId, meanwhile: F) -> Result<PhotoId, Error>
where
    F: Future<Output = ()> + Send + 'static,
{
    Ok(f.app.upload_photo(who, ws, j, Some("roof.jpg"), body_with(&jpeg(4000), meanwhile)).await?.id)
}

/// A photo row as the upload use case makes it, for writes through the port.
fn photo_of(f: &Fixture, ws: WorkspaceId, j: JobId, by: &Ctx, n: u128) -> Photo {
    Photo {
        id: PhotoId::from_uuid(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_5000 + n)),
        workspace_id: ws,
        job_id: j,
        image_type: ImageType::Jpeg,
        size: 4004,
        sha256: [7; 32],
        file_name: None,
        created_by: by.user,
        created_at: f.clock_now(),
        deleted_at: None,
        status: PhotoStatus::Processing,
        facts: None,
        large_size: None,
        thumb_size: None,
    }
}

/// Photos: the member removed, demoted below the job, ungranted, or the job trashed
/// while the bytes streamed: the upload is refused as the same request would be now
/// (not found), no row, no audit event of it, and the sealed bytes are deleted. The
/// port refuses such a row with `Denied` and the reason.
pub async fn an_upload_outlived_by_its_uploaders_standing_stores_nothing(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, restricted) = (f.user("owner").await, f.user("member").await, f.user("restricted").await);
    let leaver = f.user("leaver").await;
    let ws = f.workspace(&owner, "Standing").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.join(&owner, ws, &leaver, Role::Member).await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    f.app.grant_job(&owner, ws, j, restricted.user).await.expect("grant");

    // Nothing befalls them: both uploads are stored.
    upload_while(&f, &member, ws, j, async {}).await.expect("a member uploads");
    upload_while(&f, &restricted, ws, j, async {}).await.expect("a granted member uploads");
    let stored = |f: &Fixture| {
        let (f, owner) = (f.clone(), owner);
        async move { f.app.photos(&owner, ws, j, PageRequest::first()).await.expect("photos").items.len() }
    };
    assert_eq!(stored(&f).await, 2);

    // Each of these befalls the uploader (or the job) mid-upload; each refuses the row.
    type Meanwhile = Box<dyn Fn(Fixture) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>;
    let (o, m, r, l) = (owner, member, restricted, leaver);
    let cases: Vec<(&str, Ctx, Meanwhile)> = vec![
        (
            "grant revoked",
            r,
            Box::new(move |f| Box::pin(async move { f.app.revoke_grant(&o, ws, j, r.user).await.expect("revoke") })),
        ),
        (
            "demoted to Restricted",
            m,
            Box::new(move |f| {
                Box::pin(async move {
                    f.app.change_role(&o, ws, m.user, Role::Restricted).await.expect("demote");
                })
            }),
        ),
        (
            "removed",
            l,
            Box::new(move |f| Box::pin(async move { f.app.remove_member(&o, ws, l.user).await.expect("remove") })),
        ),
    ];
    for (what, who, meanwhile) in cases {
        let (blobs, events) = (f.blobs.len(), f.audit_len(ws).await);
        let r = upload_while(&f, &who, ws, j, meanwhile(f.clone())).await;
        assert!(matches!(r, Err(Error::NotFound)), "{what}: {r:?}");
        assert_eq!(f.blobs.len(), blobs, "{what}: the sealed bytes are deleted");
        assert_eq!(f.audit_len(ws).await, events + 1, "{what}: only the change itself is audited");
        assert_eq!(stored(&f).await, 2, "{what}: no row");
    }

    // The job went to trash mid-upload: not found either.
    let other = f.app.create_job(&owner, ws, job("Gutter")).await.expect("job").id;
    let app = f.app.clone();
    let r = upload_while(&f, &owner, ws, other, async move { app.delete_job(&owner, ws, other).await.expect("trash") })
        .await;
    assert!(matches!(r, Err(Error::NotFound)), "{r:?}");

    // Through the port: the row of a member who is gone, or who holds no grant, is refused.
    let draft = f.store_draft(ws);
    let process = new_task(&f, workvault_domain::images::PROCESS_KIND, 5);
    let standing = |who: &Ctx| Standing { user: who.user, action: Action::UpdateJob };
    let gone = store.create_photo(&photo_of(&f, ws, j, &leaver, 1), &process, standing(&leaver), draft.clone()).await;
    assert!(matches!(gone, Err(StoreError::Denied(DenyReason::NotMember))), "{gone:?}");
    // The demoted member holds no grant on the job.
    let ungranted =
        store.create_photo(&photo_of(&f, ws, j, &member, 2), &process, standing(&member), draft.clone()).await;
    assert!(matches!(ungranted, Err(StoreError::Denied(DenyReason::NotGranted))), "{ungranted:?}");
    let trashed = store.create_photo(&photo_of(&f, ws, other, &owner, 3), &process, standing(&owner), draft).await;
    assert!(matches!(trashed, Err(StoreError::NotFound)), "{trashed:?}");
    assert_eq!(stored(&f).await, 2);
}

/// Ticket files: the member removed, or a Restricted member's ticket handed to someone
/// else, while the bytes streamed: refused as not found, no file listed, no audit
/// event of it, the bytes deleted. The port refuses such a row with `Denied`.
pub async fn a_ticket_file_outlived_by_its_senders_standing_stores_nothing(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, restricted) = (f.user("owner").await, f.user("member").await, f.user("restricted").await);
    let ws = f.workspace(&owner, "Standing").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    let ticket = NewTicket {
        subject: "Gate".into(),
        body: "The gate code stopped working.".into(),
        assignee_email: Some("restricted@example.test".into()),
        ..Default::default()
    };
    let t = f.app.create_ticket(&owner, ws, ticket).await.expect("ticket").id;
    let attach = |who: Ctx, body: ByteStream| {
        let app = f.app.clone();
        async move { app.attach_to_ticket(&who, ws, t, Some("plan.pdf"), body).await }
    };
    let files = || async { f.app.ticket(&owner, ws, t).await.expect("ticket").2.len() };
    attach(restricted, body_with(PDF, async {})).await.expect("the assignee attaches");
    assert_eq!(files().await, 1);

    let app = f.app.clone();
    let away = async move {
        let change = TicketChange { assignee_email: Some(None), ..Default::default() };
        app.update_ticket(&owner, ws, t, change).await.expect("unassign");
    };
    let app = f.app.clone();
    let removed = async move { app.remove_member(&owner, ws, member.user).await.expect("remove") };
    for (what, who, body) in
        [("unassigned", restricted, body_with(PDF, away)), ("removed", member, body_with(PDF, removed))]
    {
        let (blobs, events) = (f.blobs.len(), f.audit_len(ws).await);
        let r = attach(who, body).await;
        assert!(matches!(r, Err(Error::NotFound)), "{what}: {r:?}");
        assert_eq!(f.blobs.len(), blobs, "{what}: the bytes are deleted");
        assert_eq!(f.audit_len(ws).await, events + 1, "{what}: only the change itself is audited");
        assert_eq!(files().await, 1, "{what}: no file");
    }

    let file = |n: u128| TicketAttachment {
        id: AttachmentId::from_uuid(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_6000 + n)),
        workspace_id: ws,
        ticket_id: t,
        kind: AttachmentKind::Pdf,
        file_name: None,
        size: PDF.len() as u64,
        sha256: [9; 32],
        by_requester: false,
        created_at: f.clock_now(),
    };
    let mut draft = f.store_draft(ws);
    draft.actor = AuditActor::User(member.user);
    let standing = |who: &Ctx| Standing { user: who.user, action: Action::WorkTicket };
    let gone = store.add_attachment(&file(1), standing(&member), draft.clone()).await;
    assert!(matches!(gone, Err(StoreError::Denied(DenyReason::NotMember))), "{gone:?}");
    let not_theirs = store.add_attachment(&file(2), standing(&restricted), draft.clone()).await;
    assert!(matches!(not_theirs, Err(StoreError::Denied(DenyReason::NotGranted))), "{not_theirs:?}");
    store.add_attachment(&file(3), standing(&owner), draft).await.expect("the Owner's file is stored");
    assert_eq!(files().await, 2);
}
