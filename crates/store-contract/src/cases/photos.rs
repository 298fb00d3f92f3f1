//! Photos: access follows the job (grants included), tenants stay apart, uploads are
//! checked and a failed one leaves nothing, trash / restore / purge, paging.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use workvault_domain::Error;
use workvault_domain::blob::{BlobError, ByteStream};
use workvault_domain::id::{JobId, PhotoId, WorkspaceId};
use workvault_domain::images::{Derived, ImageError, ImageProcessor, PROCESS_KIND, ProcessPhotos};
use workvault_domain::page::PageRequest;
use workvault_domain::photo::{ImageFacts, ImageType, PhotoStatus, Variant};
use workvault_domain::policy::Role;
use workvault_domain::ports::Store;
use workvault_domain::queue::TaskHandler;
use workvault_domain::service::Want;
use workvault_domain::{Ctx, Workvault};

use super::job;
use crate::Fixture;

/// A small "JPEG": the magic bytes, then `len` bytes of filler.
pub fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..len).map(|i| (i % 251) as u8));
    b
}

fn body(bytes: &[u8]) -> ByteStream {
    let pieces: Vec<Result<Bytes, BlobError>> = bytes.chunks(3).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures_util::stream::iter(pieces))
}

pub(crate) async fn upload(
    app: &Workvault,
    who: &Ctx,
    ws: WorkspaceId,
    job: JobId,
    bytes: &[u8],
) -> Result<PhotoId, Error> {
    Ok(app.upload_photo(who, ws, job, Some("site.jpg"), body(bytes)).await?.id)
}

async fn content(
    app: &Workvault,
    who: &Ctx,
    ws: WorkspaceId,
    id: PhotoId,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let c = app.photo_content(who, ws, id, Variant::Original, want(range)).await.expect("content");
    let parts: Vec<Bytes> = c.body.expect("a body").0.try_collect().await.expect("stream");
    parts.concat()
}

fn want(range: Option<std::ops::Range<u64>>) -> impl FnOnce(&workvault_domain::photo::Photo) -> Want + Send {
    move |_| range.map_or(Want::Whole, Want::Range)
}

/// Seeing a job's photos is `ViewJob`, uploading `UpdateJob`: a Restricted member
/// needs a grant; nobody reaches another workspace's photo.
pub async fn photos_follow_their_job_and_stay_in_their_workspace(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, restricted, outsider) = (f.user("owner").await, f.user("restricted").await, f.user("outsider").await);
    let ws = f.workspace(&owner, "Photos").await;
    let other_ws = f.workspace(&outsider, "Elsewhere").await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;

    let bytes = jpeg(1000);
    let id = upload(&f.app, &owner, ws, j, &bytes).await.expect("upload");
    let photo = f.app.photo(&owner, ws, id).await.expect("metadata");
    assert_eq!((photo.image_type, photo.size, photo.job_id), (ImageType::Jpeg, 1004, j));
    assert_eq!(photo.file_name.as_ref().map(|n| n.to_string()).as_deref(), Some("site.jpg"));
    assert_eq!(content(&f.app, &owner, ws, id, None).await, bytes);
    assert_eq!(content(&f.app, &owner, ws, id, Some(10..20)).await, bytes[10..20]);
    let outside = f.app.photo_content(&owner, ws, id, Variant::Original, want(Some(0..1005))).await;
    assert!(matches!(outside, Err(Error::RangeNotSatisfiable { size: 1004 })));
    let nothing = f
        .app
        .photo_content(&owner, ws, id, Variant::Original, |p| if p.size == 1004 { Want::Nothing } else { Want::Whole })
        .await;
    assert!(nothing.expect("read").body.is_none(), "nothing wanted, nothing opened");

    // A Restricted member without a grant: as if nothing were there.
    assert!(matches!(f.app.photo(&restricted, ws, id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.photos(&restricted, ws, j, PageRequest::default()).await, Err(Error::NotFound)));
    assert!(matches!(upload(&f.app, &restricted, ws, j, &bytes).await, Err(Error::NotFound)));
    f.app.grant_job(&owner, ws, j, restricted.user).await.expect("grant");
    assert_eq!(f.app.photo(&restricted, ws, id).await.expect("granted").id, id);
    upload(&f.app, &restricted, ws, j, &bytes).await.expect("a granted member uploads");

    // Another tenant: not with its own workspace id, not with the photo's.
    assert!(matches!(f.app.photo(&outsider, ws, id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.photo(&outsider, other_ws, id).await, Err(Error::NotFound)));
    assert!(matches!(
        f.app.photo_content(&outsider, other_ws, id, Variant::Original, want(None)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(f.app.trash_photo(&outsider, other_ws, id).await, Err(Error::NotFound)));
    assert!(matches!(upload(&f.app, &outsider, other_ws, j, &bytes).await, Err(Error::NotFound)));
    assert_eq!(f.app.photos(&owner, ws, j, PageRequest::default()).await.expect("list").items.len(), 2);
}

/// An upload of the wrong type, empty, too large or cut off is refused and leaves no
/// row, no blob and no audit event.
pub async fn bad_uploads_leave_nothing(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Uploads").await;
    let j = f.app.create_job(&owner, ws, job("Kitchen")).await.expect("job").id;
    let before = f.audit_len(ws).await;

    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    assert!(matches!(upload(&f.app, &owner, ws, j, &gif).await, Err(Error::UnsupportedImage)));
    assert!(matches!(upload(&f.app, &owner, ws, j, b"").await, Err(Error::EmptyBody)));
    assert!(matches!(upload(&f.app, &owner, ws, j, &jpeg(1 << 20)).await, Err(Error::PayloadTooLarge(1_048_576))));
    let cut: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from(jpeg(100))),
        Err(BlobError::Body("connection reset".into())),
    ]));
    assert!(matches!(f.app.upload_photo(&owner, ws, j, None, cut).await, Err(Error::BadBody(_))));
    let long_name = "n".repeat(300);
    let named = f.app.upload_photo(&owner, ws, j, Some(&long_name), body(&jpeg(10))).await;
    assert!(matches!(named, Err(Error::Invalid { field: "file_name", .. })));

    assert!(f.app.photos(&owner, ws, j, PageRequest::default()).await.expect("list").items.is_empty());
    assert!(f.blobs.is_empty(), "no blob kept");
    assert_eq!(f.audit_len(ws).await, before, "no audit event");
}

/// Trash hides a photo (and a trashed job hides its photos); restore brings it back;
/// purge (Admin and up) deletes row and blob, and only from trash.
pub async fn photos_go_to_trash_come_back_and_purge_for_good(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member) = (f.user("owner").await, f.user("member").await);
    let ws = f.workspace(&owner, "Trash").await;
    f.join(&owner, ws, &member, Role::Member).await;
    let j = f.app.create_job(&owner, ws, job("Garden")).await.expect("job").id;
    let id = upload(&f.app, &member, ws, j, &jpeg(50)).await.expect("upload");

    assert!(matches!(f.app.purge_photo(&owner, ws, id).await, Err(Error::NotFound)), "only from trash");
    f.app.trash_photo(&member, ws, id).await.expect("trash");
    assert!(matches!(f.app.photo(&owner, ws, id).await, Err(Error::NotFound)));
    assert!(f.app.photos(&owner, ws, j, PageRequest::default()).await.expect("list").items.is_empty());
    assert!(matches!(f.app.trash_photo(&member, ws, id).await, Err(Error::NotFound)));
    let back = f.app.restore_photo(&member, ws, id).await.expect("restore");
    assert_eq!(back.deleted_at, None);
    assert_eq!(f.app.photo(&owner, ws, id).await.expect("back").id, id);

    f.app.trash_photo(&member, ws, id).await.expect("trash");
    assert!(matches!(f.app.purge_photo(&member, ws, id).await, Err(Error::Forbidden(_))), "members do not purge");
    assert_eq!(f.blobs.len(), 1);
    f.app.purge_photo(&owner, ws, id).await.expect("purge");
    assert!(f.blobs.is_empty(), "the blob went");
    // The row went with a queued task that deletes the blobs (again: idempotent).
    let mut purges = Vec::new();
    while let Some(t) = f.store.claim("w", f.clock_now(), chrono::Duration::minutes(5)).await.expect("claim") {
        if t.kind == workvault_domain::images::PURGE_BLOBS_KIND {
            purges.push(t);
        }
    }
    assert_eq!(purges.len(), 1);
    let blobs: Arc<dyn workvault_domain::blob::BlobStore> = f.blobs.clone();
    workvault_domain::images::PurgeBlobs::new(blobs).run(&purges[0]).await.expect("idempotent");
    assert!(matches!(f.app.purge_photo(&owner, ws, id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.restore_photo(&owner, ws, id).await, Err(Error::NotFound)));

    // A trashed job hides its photos.
    let kept = upload(&f.app, &member, ws, j, &jpeg(50)).await.expect("upload");
    f.app.delete_job(&owner, ws, j).await.expect("trash the job");
    assert!(matches!(f.app.photo(&owner, ws, kept).await, Err(Error::NotFound)));

    let actions: Vec<String> = f
        .store
        .audit_chain(ws, 0, 1000)
        .await
        .expect("chain")
        .into_iter()
        .filter(|e| e.action.starts_with("photo."))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["photo.uploaded", "photo.trashed", "photo.restored", "photo.trashed", "photo.purged", "photo.uploaded"]
    );
}

/// A job's photos page newest first, stable and complete.
pub async fn photo_pages_are_stable_and_complete(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Pages").await;
    let j = f.app.create_job(&owner, ws, job("Many")).await.expect("job").id;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(upload(&f.app, &owner, ws, j, &jpeg(10)).await.expect("upload"));
        f.clock.advance(chrono::Duration::seconds(1));
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = PageRequest::new(Some(2), cursor).expect("page");
        let got = f.app.photos(&owner, ws, j, page).await.expect("list");
        seen.extend(got.items.iter().map(|p| p.id));
        match got.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

/// A stand-in for the image processor (the real one runs on real images in
/// `workvault-blobs`): fixed variants, or a refusal.
#[derive(Debug)]
pub(crate) struct Stub(pub bool);

#[async_trait::async_trait]
impl ImageProcessor for Stub {
    async fn process(&self, original: Bytes, _kind: ImageType) -> Result<Derived, ImageError> {
        if !self.0 {
            return Err(ImageError::Unreadable("corrupt".into()));
        }
        let taken_at = chrono::NaiveDate::from_ymd_opt(2025, 7, 14).and_then(|d| d.and_hms_opt(9, 30, 0));
        let facts = ImageFacts { width: 100, height: 50, taken_at, has_location: true };
        Ok(Derived { facts, large: original.slice(0..8), thumb: original.slice(0..4) })
    }

    fn location(&self, head: &[u8]) -> Option<workvault_domain::images::GeoPoint> {
        // The stand-in's "location": the first two bytes after the magic, as degrees.
        let (lat, lon) = (*head.get(4)?, *head.get(5)?);
        Some(workvault_domain::images::GeoPoint { latitude: f64::from(lat), longitude: f64::from(lon), altitude: None })
    }
}

/// The worker processes each upload once: variants and facts on success, kept as
/// uploaded (`unprocessable`) on failure; variants are refused until then; purge takes
/// the variants too.
pub async fn uploads_are_processed_by_the_worker(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Processing").await;
    let j = f.app.create_job(&owner, ws, job("Deck")).await.expect("job").id;
    let good = upload(&f.app, &owner, ws, j, &jpeg(100)).await.expect("upload");
    let bad = upload(&f.app, &owner, ws, j, &jpeg(100)).await.expect("upload");
    let photo = f.app.photo(&owner, ws, good).await.expect("photo");
    assert_eq!((photo.status, photo.facts), (PhotoStatus::Processing, None));
    let early = f.app.photo_content(&owner, ws, good, Variant::Large, want(None)).await;
    assert!(matches!(early, Err(Error::VariantNotReady)));

    // Each upload enqueued its processing in the same transaction.
    let mut tasks = Vec::new();
    while let Some(t) = f.store.claim("w", f.clock_now(), chrono::Duration::minutes(5)).await.expect("claim") {
        tasks.push(t);
    }
    assert_eq!(tasks.iter().filter(|t| t.kind == PROCESS_KIND).count(), 2);
    let blobs: Arc<dyn workvault_domain::blob::BlobStore> = f.blobs.clone();
    let works = ProcessPhotos::new(store.clone(), blobs.clone(), Arc::new(Stub(true)));
    let fails = ProcessPhotos::new(store.clone(), blobs, Arc::new(Stub(false)));
    for t in &tasks {
        let handler = if t.payload.contains(&good.to_string()) { &works } else { &fails };
        handler.run(t).await.expect("processed");
        handler.run(t).await.expect("a rerun changes nothing");
    }
    let ready = f.app.photo(&owner, ws, good).await.expect("photo");
    assert_eq!(ready.status, PhotoStatus::Ready);
    let facts = ready.facts.expect("facts");
    assert_eq!((facts.width, facts.height, facts.has_location), (100, 50, true));
    assert_eq!(facts.taken_at.map(|t| t.to_string()).as_deref(), Some("2025-07-14 09:30:00"));
    assert_eq!((ready.large_size, ready.thumb_size), (Some(8), Some(4)));
    let large = f.app.photo_content(&owner, ws, good, Variant::Large, want(None)).await.expect("large");
    let parts: Vec<Bytes> = large.body.expect("body").0.try_collect().await.expect("stream");
    assert_eq!(parts.concat(), jpeg(100)[..8]);

    // An original over the decoding limit is kept as uploaded, never read whole.
    let huge = upload(&f.app, &owner, ws, j, &jpeg(100)).await.expect("upload");
    let task = f.store.claim("w", f.clock_now(), chrono::Duration::minutes(5)).await.expect("claim").expect("queued");
    let never = ProcessPhotos::new(store.clone(), f.blobs.clone(), Arc::new(Stub(true))).with_max_bytes(10);
    never.run(&task).await.expect("kept");
    assert_eq!(f.app.photo(&owner, ws, huge).await.expect("photo").status, PhotoStatus::Unprocessable);
    let kept = f.app.photo(&owner, ws, bad).await.expect("photo");
    assert_eq!((kept.status, kept.large_size), (PhotoStatus::Unprocessable, None));
    let refused = f.app.photo_content(&owner, ws, bad, Variant::Thumb, want(None)).await;
    assert!(matches!(refused, Err(Error::PhotoUnprocessable)));
    assert_eq!(content(&f.app, &owner, ws, bad, None).await, jpeg(100), "the original is kept as uploaded");

    assert_eq!(f.blobs.len(), 5, "three originals and two variants");
    f.app.trash_photo(&owner, ws, good).await.expect("trash");
    f.app.purge_photo(&owner, ws, good).await.expect("purge");
    assert_eq!(f.blobs.len(), 2, "the purge took the variants too");
}

/// A photo's location is read from its original only for Owners and Admins of a
/// workspace that shows locations; each read is audited; the setting is kept.
pub async fn photo_locations_follow_the_workspace_setting(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let app = f.app.clone().with_images(Arc::new(Stub(true)));
    let (owner, admin, member) = (f.user("owner").await, f.user("admin").await, f.user("member").await);
    let ws = f.workspace(&owner, "Places").await;
    f.join(&owner, ws, &admin, Role::Admin).await;
    f.join(&owner, ws, &member, Role::Member).await;
    let j = app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let id = upload(&app, &owner, ws, j, &jpeg(100)).await.expect("upload");
    let blobs: Arc<dyn workvault_domain::blob::BlobStore> = f.blobs.clone();
    let task = f.store.claim("w", f.clock_now(), chrono::Duration::minutes(5)).await.expect("claim").expect("queued");
    ProcessPhotos::new(store.clone(), blobs, Arc::new(Stub(true))).run(&task).await.expect("processed");

    assert!(matches!(app.photo_location(&owner, ws, id).await, Err(Error::LocationHidden)));
    let on = workvault_domain::service::WorkspaceChange { show_photo_location: Some(true), ..Default::default() };
    let (changed, _) = app.update_workspace(&admin, ws, on).await.expect("admin turns it on");
    assert!(changed.settings.show_photo_location);
    assert!(app.workspace(&member, ws).await.expect("read").0.settings.show_photo_location, "stored");
    let before = f.audit_len(ws).await;
    for who in [&owner, &admin] {
        let place = app.photo_location(who, ws, id).await.expect("shown").expect("recorded");
        // The stand-in reads bytes 4 and 5 of the original: 0 and 1.
        assert_eq!((place.latitude, place.longitude), (0.0, 1.0));
    }
    assert_eq!(f.audit_len(ws).await, before + 2, "each read audited");
    assert!(matches!(app.photo_location(&member, ws, id).await, Err(Error::Forbidden(_))));
    let chain = f.store.audit_chain(ws, 0, 1000).await.expect("chain");
    assert!(chain.iter().any(|e| e.action == "workspace.updated"));
    assert_eq!(chain.iter().filter(|e| e.action == "photo.location_viewed").count(), 2);
}

/// An upload queues its reaper before its bytes are written and withdraws it once the
/// outcome is settled; a crash between the blob and the row leaves the reaper, which
/// deletes the orphan blob (and leaves a photo that has its row alone).
pub async fn an_upload_cut_off_before_its_row_leaves_no_orphan_blob(store: Arc<dyn Store>) {
    use workvault_domain::blob::BlobStore;
    use workvault_domain::images::{REAP_UPLOAD_AFTER_HOURS, REAP_UPLOAD_KIND, ReapUploads};
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Reaping").await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let kept = upload(&f.app, &owner, ws, j, &jpeg(100)).await.expect("upload");
    assert!(upload(&f.app, &owner, ws, j, &jpeg(2 << 20)).await.is_err(), "over the limit");
    let later = f.clock_now() + chrono::Duration::hours(REAP_UPLOAD_AFTER_HOURS + 1);
    let mut queued = Vec::new();
    while let Some(t) = f.store.claim("w", later, chrono::Duration::minutes(5)).await.expect("claim") {
        queued.push(t.kind);
    }
    assert!(!queued.iter().any(|k| k == REAP_UPLOAD_KIND), "settled uploads withdraw their reaper: {queued:?}");

    // A crash after the blob was complete and before its row: the blob and the reaper stay.
    let orphan = PhotoId::from_uuid(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
    let blobs: Arc<dyn BlobStore> = f.blobs.clone();
    let bytes = Box::pin(futures_util::stream::iter([Ok(Bytes::from(jpeg(10)))]));
    let key = workvault_domain::images::variant_key(ws, orphan, Variant::Original);
    blobs.put(&key, bytes, 1 << 20).await.expect("blob");
    let reaper = |photo: PhotoId| workvault_domain::queue::NewTask {
        id: workvault_domain::id::TaskId::from_uuid(uuid::Uuid::from_u128(photo.as_uuid().as_u128() ^ 1)),
        kind: REAP_UPLOAD_KIND.into(),
        payload: serde_json::json!({"workspace_id": ws, "photo_id": photo}).to_string(),
        run_at: f.clock_now(),
        max_attempts: 3,
        created_at: f.clock_now(),
    };
    f.store.enqueue(&reaper(orphan)).await.expect("reaper");
    f.store.enqueue(&reaper(kept)).await.expect("reaper of a photo that has its row");
    let handler = ReapUploads::new(store.clone(), blobs.clone());
    let before = f.blobs.len();
    while let Some(t) = f.store.claim("w", later, chrono::Duration::minutes(5)).await.expect("claim") {
        handler.run(&t).await.expect("reaped");
        handler.run(&t).await.expect("a rerun changes nothing");
    }
    assert_eq!(f.blobs.len(), before - 1, "the orphan, and only it, is gone");
    assert!(f.app.photo(&owner, ws, kept).await.is_ok());
    let read = f.app.photo_content(&owner, ws, kept, Variant::Original, want(None)).await;
    assert!(read.is_ok(), "the kept photo's bytes stay");
}
