//! Photo use cases. A photo belongs to a job, so the job's permissions decide: seeing
//! a job's photos is `ViewJob`, uploading, trashing and restoring is `UpdateJob`, and
//! purging (for good) is `DeleteJob`. A grant on a job extends to its photos.

use std::ops::Range;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use super::{Ctx, Workvault};
use crate::blob::{BlobError, ByteStream};
use crate::error::{Error, field};
use crate::id::{JobId, PhotoId, TaskId, WorkspaceId};
use crate::images::{
    GeoPoint, LOCATION_HEAD_BYTES, PROCESS_KIND, PURGE_BLOBS_KIND, ProcessPayload, REAP_UPLOAD_AFTER_HOURS,
    REAP_UPLOAD_KIND, delete_blobs, variant_key,
};
use crate::page::{Page, PageRequest};
use crate::photo::{ImageType, Photo, PhotoStatus, SNIFF_LEN, Variant};
use crate::policy::{Action, ActorFacts, ResourceFacts, decide};
use crate::ports::{JobAccess, Standing};
use crate::queue::NewTask;
use crate::text::Name;

/// What a caller wants of a photo's bytes, decided once the photo is known (its size
/// and hash), in the same call that authorized the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Nothing: the caller has these bytes already (`If-None-Match`).
    Nothing,
    /// All of them.
    Whole,
    /// These.
    Range(Range<u64>),
    /// A range outside the content.
    Unsatisfiable,
}

/// A photo's bytes on their way out: the record, the stream (unless nothing was
/// wanted) and the range it holds.
#[derive(Debug)]
pub struct PhotoContent {
    /// The photo.
    pub photo: Photo,
    /// The bytes of `range`; `None` when nothing was wanted.
    pub body: Option<ByteStreamDebug>,
    /// Which bytes of the original the stream holds.
    pub range: Range<u64>,
}

/// A byte stream with a `Debug` that does not try to print it.
pub struct ByteStreamDebug(pub ByteStream);

impl std::fmt::Debug for ByteStreamDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ByteStream")
    }
}

/// Reads up to [`SNIFF_LEN`] leading bytes and gives back a stream that still yields
/// every byte, those first.
pub(super) async fn peek(mut body: ByteStream) -> Result<(Vec<u8>, ByteStream), BlobError> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut taken: Vec<Bytes> = Vec::new();
    while head.len() < SNIFF_LEN {
        match body.next().await {
            Some(piece) => {
                let piece = piece?;
                head.extend_from_slice(&piece[..piece.len().min(SNIFF_LEN - head.len())]);
                taken.push(piece);
            }
            None => break,
        }
    }
    let again = futures_util::stream::iter(taken.into_iter().map(Ok)).chain(body);
    Ok((head, Box::pin(again)))
}

/// Maps a blob store failure to the use cases' error.
pub(super) fn blob_error(e: BlobError) -> Error {
    match e {
        BlobError::TooLarge { limit } => Error::PayloadTooLarge(limit),
        BlobError::Body(why) => Error::BadBody(why),
        BlobError::BadRange => Error::RangeNotSatisfiable { size: 0 },
        BlobError::KeyDestroyed => Error::ContentDestroyed,
        other => Error::ContentUnavailable(other),
    }
}

impl Workvault {
    /// Reads one live photo and checks `action` on its job, in one store statement.
    async fn authorize_photo(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId, action: Action) -> Result<Photo, Error> {
        let (photo, access) = self.store.photo_for(ctx.user, ws, id).await?.ok_or(Error::NotFound)?;
        check(access, action)?;
        Ok(photo)
    }

    /// Streams an upload into a new photo of `job`. The type is told from the bytes;
    /// the size limit is enforced while streaming (no byte read past it); the row is
    /// written only once the blob is complete, so a failed upload leaves nothing.
    pub async fn upload_photo(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        file_name: Option<&str>,
        body: ByteStream,
    ) -> Result<Photo, Error> {
        let file_name = file_name.map(Name::parse).transpose().map_err(field("file_name"))?;
        self.authorize_job(ctx, ws, job, Action::UpdateJob).await?;
        let blobs = self.blobs()?;
        let (head, body) = peek(body).await.map_err(blob_error)?;
        if head.is_empty() {
            return Err(Error::EmptyBody);
        }
        let image_type = ImageType::sniff(&head).ok_or(Error::UnsupportedImage)?;
        let id = PhotoId::generate(&*self.clock, &*self.rng);
        let key = variant_key(ws, id, Variant::Original);
        // First the reaper, so that no crash from here on leaves an unreferenced blob.
        let started = self.now();
        let reap = NewTask {
            id: TaskId::generate(&*self.clock, &*self.rng),
            kind: REAP_UPLOAD_KIND.into(),
            payload: json!(ProcessPayload { workspace_id: ws, photo_id: id }).to_string(),
            run_at: started + chrono::Duration::hours(REAP_UPLOAD_AFTER_HOURS),
            max_attempts: 10,
            created_at: started,
        };
        self.store.enqueue(&reap).await?;
        let written = match blobs.put(&key, body, self.limits.max_upload_bytes).await {
            Ok(written) => written,
            Err(e) => {
                // The blob store left nothing behind: no reaping to do.
                self.cancel_reap(reap.id).await;
                return Err(blob_error(e));
            }
        };
        let now = self.now();
        let photo = Photo {
            id,
            workspace_id: ws,
            job_id: job,
            image_type,
            size: written.size,
            sha256: written.sha256,
            file_name,
            created_by: ctx.user,
            created_at: now,
            deleted_at: None,
            status: PhotoStatus::Processing,
            facts: None,
            large_size: None,
            thumb_size: None,
        };
        let details =
            json!({"job_id": job, "size": photo.size, "type": image_type.as_str(), "sha256": photo.sha256_hex()});
        let audit = self.audit(ctx, ws, "photo.uploaded", ("photo", id.to_string()), details);
        let process = NewTask {
            id: TaskId::generate(&*self.clock, &*self.rng),
            kind: PROCESS_KIND.into(),
            payload: json!(ProcessPayload { workspace_id: ws, photo_id: id }).to_string(),
            run_at: now,
            max_attempts: 5,
            created_at: now,
        };
        // The upload may have streamed for minutes: the row goes in only if the uploader
        // may still update the job, checked in the transaction that writes it.
        let standing = Standing { user: ctx.user, action: Action::UpdateJob };
        if let Err(e) = self.store.create_photo(&photo, &process, standing, audit).await {
            if let Err(cleanup) = blobs.delete(&key).await {
                tracing::warn!(error = %cleanup, blob = %key.name, "could not delete the blob of a photo whose row failed: the queued reaper will");
                return Err(e.into());
            }
            self.cancel_reap(reap.id).await;
            return Err(e.into());
        }
        self.cancel_reap(reap.id).await;
        Ok(photo)
    }

    /// Withdraws an upload's reaper once its outcome is settled (a failure to is
    /// harmless: the reaper finds the row, or nothing, and does nothing).
    pub(super) async fn cancel_reap(&self, task: TaskId) {
        if let Err(e) = self.store.cancel(task).await {
            tracing::debug!(error = %e, %task, "an upload's reaper stays queued");
        }
    }

    /// One photo's record.
    pub async fn photo(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId) -> Result<Photo, Error> {
        self.authorize_photo(ctx, ws, id, Action::ViewJob).await
    }

    /// A page of a job's photos, newest first.
    pub async fn photos(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        page: PageRequest,
    ) -> Result<Page<Photo>, Error> {
        self.authorize_job(ctx, ws, job, Action::ViewJob).await?;
        Ok(self.store.photos_of_job(ws, job, page).await?)
    }

    /// The bytes of a photo, or the part of them `want` picks once the photo is known:
    /// authorized in one store statement, then streamed and decrypted chunk by chunk.
    pub async fn photo_content(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: PhotoId,
        variant: Variant,
        want: impl FnOnce(&Photo) -> Want + Send,
    ) -> Result<PhotoContent, Error> {
        // The original may hold the location: only those who may see that get it.
        let action = if variant == Variant::Original { Action::ViewOriginal } else { Action::ViewJob };
        let photo = self.authorize_photo(ctx, ws, id, action).await?;
        let size = match (photo.status, photo.variant_size(variant)) {
            (_, Some(size)) => size,
            (PhotoStatus::Processing, None) => return Err(Error::VariantNotReady),
            (_, None) => return Err(Error::PhotoUnprocessable),
        };
        let range = match want(&photo) {
            Want::Nothing => return Ok(PhotoContent { photo, body: None, range: 0..0 }),
            Want::Whole => 0..size,
            Want::Range(r) if r.start < r.end && r.end <= size => r,
            Want::Range(_) | Want::Unsatisfiable => return Err(Error::RangeNotSatisfiable { size }),
        };
        let key = variant_key(ws, id, variant);
        let body = self.blobs()?.get(&key, size, range.clone()).await.map_err(blob_error)?;
        Ok(PhotoContent { photo, body: Some(ByteStreamDebug(body)), range })
    }

    /// The GPS location recorded in a photo's original, for an Owner or Admin of a
    /// workspace that shows locations (`show_photo_location`); `None` when the photo
    /// has none. Read from the encrypted original each time (never stored elsewhere)
    /// and audited, since it is personal data.
    pub async fn photo_location(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId) -> Result<Option<GeoPoint>, Error> {
        let photo = self.authorize_photo(ctx, ws, id, Action::ViewOriginal).await?;
        let (workspace, _) = self.store.workspace_for(ctx.user, ws).await?.ok_or(Error::NotFound)?;
        if !workspace.settings.show_photo_location {
            return Err(Error::LocationHidden);
        }
        if !photo.facts.is_some_and(|f| f.has_location) {
            return Ok(None);
        }
        let images = self.images.as_ref().ok_or(Error::PhotoUnprocessable)?;
        let len = photo.size.min(LOCATION_HEAD_BYTES);
        let key = variant_key(ws, id, Variant::Original);
        let body = self.blobs()?.get(&key, photo.size, 0..len).await.map_err(blob_error)?;
        let parts: Vec<Bytes> = body.try_collect().await.map_err(blob_error)?;
        let location = images.location(&parts.concat());
        let audit =
            self.audit(ctx, ws, "photo.location_viewed", ("photo", id.to_string()), json!({"job_id": photo.job_id}));
        self.store.record(audit).await?;
        Ok(location)
    }

    /// Moves a photo to trash (restorable).
    pub async fn trash_photo(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId) -> Result<(), Error> {
        let photo = self.authorize_photo(ctx, ws, id, Action::UpdateJob).await?;
        let audit = self.audit(ctx, ws, "photo.trashed", ("photo", id.to_string()), json!({"job_id": photo.job_id}));
        Ok(self.store.trash_photo(ws, id, self.now(), audit).await?)
    }

    async fn authorize_trashed(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId, action: Action) -> Result<Photo, Error> {
        let (photo, access) = self.store.trashed_photo(ctx.user, ws, id).await?.ok_or(Error::NotFound)?;
        check(access, action)?;
        Ok(photo)
    }

    /// Brings a photo back from trash.
    pub async fn restore_photo(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId) -> Result<Photo, Error> {
        let mut photo = self.authorize_trashed(ctx, ws, id, Action::UpdateJob).await?;
        let audit = self.audit(ctx, ws, "photo.restored", ("photo", id.to_string()), json!({"job_id": photo.job_id}));
        self.store.restore_photo(ws, id, audit).await?;
        photo.deleted_at = None;
        Ok(photo)
    }

    /// Deletes a trashed photo for good: its row, with a task enqueued in the same
    /// transaction that deletes its blobs (done here at once too; the task finishes
    /// the job if this is cut off).
    pub async fn purge_photo(&self, ctx: &Ctx, ws: WorkspaceId, id: PhotoId) -> Result<(), Error> {
        let photo = self.authorize_trashed(ctx, ws, id, Action::DeleteJob).await?;
        let blobs = self.blobs()?.clone();
        let now = self.now();
        let cleanup = NewTask {
            id: TaskId::generate(&*self.clock, &*self.rng),
            kind: PURGE_BLOBS_KIND.into(),
            payload: json!(ProcessPayload { workspace_id: ws, photo_id: id }).to_string(),
            run_at: now,
            max_attempts: 10,
            created_at: now,
        };
        let details = json!({"job_id": photo.job_id, "sha256": photo.sha256_hex()});
        let audit = self.audit(ctx, ws, "photo.purged", ("photo", id.to_string()), details);
        self.store.purge_photo(ws, id, &cleanup, audit).await?;
        if let Err(e) = delete_blobs(&*blobs, ws, id).await {
            tracing::warn!(error = %e, photo = %id, "could not delete a purged photo's blobs now; the queued task will");
        }
        Ok(())
    }
}

pub(super) fn check(access: JobAccess, action: Action) -> Result<(), Error> {
    decide(ActorFacts { role: Some(access.role) }, action, ResourceFacts::Job { granted: access.granted })
        .into_result()
        .map_err(Error::denied)
}
