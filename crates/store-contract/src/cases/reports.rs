//! Reports: access follows the job, a selection holds live photos of that job only and
//! is written whole or not at all, edits and reorders keep their order, concurrent
//! edits do not overwrite each other, photos leaving trash or being purged show in
//! the report, and reports go to trash and come back.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use workvault_domain::Error;
use workvault_domain::id::{JobId, PhotoId, WorkspaceId};
use workvault_domain::images::{PROCESS_KIND, ProcessPhotos};
use workvault_domain::page::PageRequest;
use workvault_domain::photo::Variant;
use workvault_domain::policy::Role;
use workvault_domain::ports::{Conflict, Store, StoreError};
use workvault_domain::queue::TaskHandler;
use workvault_domain::report::MAX_ITEMS;
use workvault_domain::service::{ItemInput, NewReport, ReportChange};
use workvault_domain::{Ctx, Workvault};

use super::job;
use super::photos::{Stub, jpeg, upload};
use crate::Fixture;

fn items(photos: &[PhotoId]) -> Vec<ItemInput> {
    photos.iter().map(|&photo_id| ItemInput { photo_id, caption: Some(format!("caption of {photo_id}")) }).collect()
}

fn report(title: &str, photos: &[PhotoId]) -> NewReport {
    NewReport { title: title.into(), notes: Some("Found on site.\nFixed the same day.".into()), items: items(photos) }
}

async fn photos(app: &Workvault, who: &Ctx, ws: WorkspaceId, job: JobId, n: usize) -> Vec<PhotoId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(upload(app, who, ws, job, &jpeg(100 + i)).await.expect("upload"));
    }
    ids
}

fn order(view: &workvault_domain::service::ReportView) -> Vec<PhotoId> {
    view.entries().iter().map(|e| e.photo.id).collect()
}

/// Reading a report is `ViewJob`, making one `UpdateJob`: a Restricted member needs a
/// grant; nobody reaches another workspace's report or puts another job's photo in one.
pub async fn reports_follow_their_job_and_hold_only_its_photos(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, restricted, outsider) = (f.user("owner").await, f.user("restricted").await, f.user("outsider").await);
    let ws = f.workspace(&owner, "Reports").await;
    let other_ws = f.workspace(&outsider, "Elsewhere").await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    let (j, k) = (
        f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id,
        f.app.create_job(&owner, ws, job("Deck")).await.expect("job").id,
    );
    let mine = photos(&f.app, &owner, ws, j, 3).await;
    let other_job = photos(&f.app, &owner, ws, k, 1).await;
    let their_job = f.app.create_job(&outsider, other_ws, job("Theirs")).await.expect("job").id;
    let theirs = photos(&f.app, &outsider, other_ws, their_job, 1).await;

    let made = f.app.create_report(&owner, ws, j, report("Survey", &[mine[2], mine[0]])).await.expect("create");
    let view = f.app.report(&owner, ws, j, made.id).await.expect("read");
    assert_eq!(order(&view), [mine[2], mine[0]], "in the order given");
    assert_eq!(view.report().items.len(), 2);
    assert_eq!(view.entries()[0].caption.as_ref().map(|c| c.to_string()), Some(format!("caption of {}", mine[2])));
    assert_eq!(
        view.report().notes.as_ref().map(|n| n.to_string()).as_deref(),
        Some("Found on site.\nFixed the same day.")
    );
    assert_eq!(view.report(), &made, "read back exactly as made");

    // Not through another job, another workspace, or by a non-member.
    assert!(matches!(f.app.report(&owner, ws, k, made.id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.report(&owner, other_ws, j, made.id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.report(&outsider, ws, j, made.id).await, Err(Error::NotFound)));
    // A Restricted member: nothing without a grant, then read and edit with one.
    assert!(matches!(f.app.report(&restricted, ws, j, made.id).await, Err(Error::NotFound)));
    let denied = f.app.create_report(&restricted, ws, j, report("Mine", &[])).await;
    assert!(matches!(denied, Err(Error::NotFound)));
    f.app.grant_job(&owner, ws, j, restricted.user).await.expect("grant");
    assert_eq!(order(&f.app.report(&restricted, ws, j, made.id).await.expect("granted")), [mine[2], mine[0]]);
    f.app.create_report(&restricted, ws, j, report("Mine", &[mine[1]])).await.expect("granted create");

    // A selection with any photo but a live one of this job changes nothing.
    let before = f.audit_len(ws).await;
    let trashed = mine[1];
    f.app.trash_photo(&owner, ws, trashed).await.expect("trash photo");
    let before_trash = before + 1;
    for bad in [other_job[0], theirs[0], trashed, PhotoId::from_uuid(uuid::Uuid::max())] {
        let refused = f.app.create_report(&owner, ws, j, report("Bad", &[mine[0], bad])).await;
        assert!(matches!(refused, Err(Error::Invalid { field: "items", .. })), "{bad}: {refused:?}");
    }
    let twice = f.app.create_report(&owner, ws, j, report("Twice", &[mine[0], mine[0]])).await;
    assert!(matches!(twice, Err(Error::Invalid { field: "items", .. })), "{twice:?}");
    let too_many: Vec<PhotoId> =
        (0..=MAX_ITEMS).map(|i| PhotoId::from_uuid(uuid::Uuid::from_u128(i as u128 + 1))).collect();
    let refused = f.app.create_report(&owner, ws, j, report("Long", &too_many)).await;
    assert!(matches!(refused, Err(Error::Invalid { field: "items", .. })));
    let untitled = f.app.create_report(&owner, ws, j, report("  ", &[])).await;
    assert!(matches!(untitled, Err(Error::Invalid { field: "title", .. })));
    assert_eq!(f.audit_len(ws).await, before_trash, "no refused report was written");
    let listed = f.app.reports(&owner, ws, j, PageRequest::default()).await.expect("list");
    assert_eq!(listed.items.len(), 2, "only the two good reports");
}

/// Edits replace the selection whole and keep its order; an edit decided on a report
/// that changed meanwhile is refused; trashed photos stay in place but are not shown,
/// purged ones leave the report; only stripped variants of shown photos are served.
pub async fn reports_are_edited_whole_and_show_only_live_photos(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member) = (f.user("owner").await, f.user("member").await);
    let ws = f.workspace(&owner, "Edits").await;
    f.join(&owner, ws, &member, Role::Member).await;
    let j = f.app.create_job(&owner, ws, job("Kitchen")).await.expect("job").id;
    let p = photos(&f.app, &owner, ws, j, 4).await;
    // Make the variants of every photo.
    let blobs: Arc<dyn workvault_domain::blob::BlobStore> = f.blobs.clone();
    let worker = ProcessPhotos::new(store.clone(), blobs, Arc::new(Stub(true)));
    while let Some(t) = f.store.claim("w", f.clock_now(), chrono::Duration::minutes(5)).await.expect("claim") {
        assert_eq!(t.kind, PROCESS_KIND);
        worker.run(&t).await.expect("processed");
    }
    let made = f.app.create_report(&member, ws, j, report("Before", &p[..3])).await.expect("create");

    f.clock.advance(chrono::Duration::seconds(1));
    let reordered = ReportChange { items: Some(items(&[p[3], p[1], p[0]])), ..Default::default() };
    let view = f.app.update_report(&member, ws, j, made.id, reordered).await.expect("reorder");
    assert_eq!(order(&view), [p[3], p[1], p[0]]);
    assert_eq!(view.report().title.to_string(), "Before", "untouched fields stay");
    assert!(view.report().updated_at > made.updated_at);
    let renamed = ReportChange { title: Some("After".into()), notes: Some(None), ..Default::default() };
    let view = f.app.update_report(&member, ws, j, made.id, renamed).await.expect("rename");
    assert_eq!((view.report().title.to_string().as_str(), view.report().notes.is_none()), ("After", true));
    assert_eq!(order(&view), [p[3], p[1], p[0]], "items untouched by a title edit");
    let same = f.app.report(&member, ws, j, made.id).await.expect("read");
    assert_eq!(same.report(), view.report());

    // A write decided on an older state is refused and changes nothing.
    let mut stale = made.clone();
    stale.items.reverse();
    let refused = f.store.update_report(&stale, made.updated_at, true, f.store_draft(ws)).await;
    assert!(matches!(refused, Err(StoreError::Conflict(Conflict::Stale))), "{refused:?}");
    assert_eq!(order(&f.app.report(&member, ws, j, made.id).await.expect("read")), [p[3], p[1], p[0]]);
    // A bad selection in an edit changes nothing either, title included.
    let bad = ReportChange { title: Some("Bad".into()), items: Some(items(&[p[0], p[0]])), ..Default::default() };
    assert!(f.app.update_report(&member, ws, j, made.id, bad).await.is_err());
    assert_eq!(f.app.report(&member, ws, j, made.id).await.expect("read").report().title.to_string(), "After");

    // Variants of shown photos only; never the original.
    let view = f.app.report(&member, ws, j, made.id).await.expect("read");
    let (size, body) = f.app.report_photo(&view, p[1], Variant::Thumb).await.expect("thumb");
    let bytes: Vec<Bytes> = body.try_collect().await.expect("stream");
    assert_eq!((size, bytes.concat()), (4, jpeg(101)[..4].to_vec()));
    assert!(matches!(f.app.report_photo(&view, p[1], Variant::Original).await, Err(Error::Invalid { .. })));
    assert!(matches!(f.app.report_photo(&view, p[2], Variant::Large).await, Err(Error::NotFound)), "not in it");

    // Trash keeps the photo's place (restoring brings it back); purge removes it.
    f.app.trash_photo(&owner, ws, p[1]).await.expect("trash");
    let view = f.app.report(&member, ws, j, made.id).await.expect("read");
    assert_eq!(order(&view), [p[3], p[1], p[0]]);
    assert_eq!(view.showable().map(|e| e.photo.id).collect::<Vec<_>>(), [p[3], p[0]]);
    assert!(matches!(f.app.report_photo(&view, p[1], Variant::Large).await, Err(Error::NotFound)));
    f.app.restore_photo(&owner, ws, p[1]).await.expect("restore");
    assert_eq!(f.app.report(&member, ws, j, made.id).await.expect("read").showable().count(), 3);
    f.app.trash_photo(&owner, ws, p[1]).await.expect("trash");
    f.app.purge_photo(&owner, ws, p[1]).await.expect("purge");
    let view = f.app.report(&member, ws, j, made.id).await.expect("read");
    assert_eq!(order(&view), [p[3], p[0]], "a purged photo leaves every report");
    assert_eq!(view.report().items.iter().map(|i| i.photo_id).collect::<Vec<_>>(), [p[3], p[0]]);
}

/// Trash hides a report, restore brings it back, purge (Admin and up) deletes it, from
/// trash only; lists page completely; every step is audited.
pub async fn reports_go_to_trash_come_back_and_purge_for_good(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member) = (f.user("owner").await, f.user("member").await);
    let ws = f.workspace(&owner, "Trash").await;
    f.join(&owner, ws, &member, Role::Member).await;
    let j = f.app.create_job(&owner, ws, job("Garage")).await.expect("job").id;
    let p = photos(&f.app, &owner, ws, j, 2).await;
    let mut made = Vec::new();
    for i in 0..5 {
        f.clock.advance(chrono::Duration::seconds(1));
        made.push(f.app.create_report(&member, ws, j, report(&format!("R{i}"), &p)).await.expect("create").id);
    }
    // Newest first, page by page.
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let got = f.app.reports(&member, ws, j, PageRequest { limit: 2, after: cursor }).await.expect("list");
        assert!(got.items.iter().all(|r| r.items.len() == 2), "listed with their items");
        seen.extend(got.items.iter().map(|r| r.id));
        match got.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, made.iter().rev().copied().collect::<Vec<_>>());

    let id = made[0];
    assert!(matches!(f.app.purge_report(&owner, ws, j, id).await, Err(Error::NotFound)), "only from trash");
    f.app.trash_report(&member, ws, j, id).await.expect("trash");
    assert!(matches!(f.app.report(&member, ws, j, id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.trash_report(&member, ws, j, id).await, Err(Error::NotFound)));
    let listed = f.app.reports(&member, ws, j, PageRequest::default()).await.expect("list");
    assert!(!listed.items.iter().any(|r| r.id == id));
    let back = f.app.restore_report(&member, ws, j, id).await.expect("restore");
    assert_eq!((back.report().deleted_at, back.entries().len()), (None, 2));
    f.app.trash_report(&member, ws, j, id).await.expect("trash");
    assert!(matches!(f.app.purge_report(&member, ws, j, id).await, Err(Error::Forbidden(_))), "members do not purge");
    f.app.purge_report(&owner, ws, j, id).await.expect("purge");
    assert!(matches!(f.app.restore_report(&owner, ws, j, id).await, Err(Error::NotFound)));
    assert_eq!(
        f.app.photos(&owner, ws, j, PageRequest::default()).await.expect("photos").items.len(),
        2,
        "photos stay"
    );

    // A trashed job takes its reports out of reach.
    f.app.delete_job(&owner, ws, j).await.expect("trash job");
    assert!(matches!(f.app.report(&owner, ws, j, made[1]).await, Err(Error::NotFound)));

    let chain = f.store.audit_chain(ws, 0, 1000).await.expect("chain");
    let actions: Vec<&str> = chain.iter().map(|e| e.action.as_str()).filter(|a| a.starts_with("report.")).collect();
    let mut expected = vec!["report.created"; 5];
    expected.extend(["report.trashed", "report.restored", "report.trashed", "report.purged"]);
    assert_eq!(actions, expected);
}
