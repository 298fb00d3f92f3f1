//! Photo processing: the [`ImageProcessor`] port (decoding, metadata, variants; the
//! adapter is `workvault-blobs`'s) and [`ProcessPhotos`], the queue task that runs it
//! for each upload. A photo that cannot be read as an image is kept exactly as
//! uploaded and marked `unprocessable`; it is never an error of the request that
//! uploaded it.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::blob::{BlobError, BlobKey, BlobStore};
use crate::id::{PhotoId, WorkspaceId};
use crate::photo::{ImageFacts, ImageType, PhotoStatus, Processed, Variant};
use crate::ports::Store;
use crate::queue::{Task, TaskHandler};

/// The derived images of one photo, metadata stripped, orientation applied (JPEG).
#[derive(Debug, Clone)]
pub struct Derived {
    /// What was read.
    pub facts: ImageFacts,
    /// The `large` variant.
    pub large: Bytes,
    /// The `thumb` variant.
    pub thumb: Bytes,
}

/// Why an image could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The bytes are not an image this processor reads (corrupt, truncated, a format
    /// without a decoder, or past the decoding limits).
    #[error("not a readable image: {0}")]
    Unreadable(String),
}

/// Decodes an original, reads its metadata and makes its variants.
#[async_trait]
pub trait ImageProcessor: Send + Sync {
    /// Processes the bytes of an original of `kind`.
    async fn process(&self, original: Bytes, kind: ImageType) -> Result<Derived, ImageError>;
    /// The GPS location recorded in an original's metadata, if any. `head` is the
    /// original, or its leading bytes when it is large (metadata comes first in the
    /// formats taken).
    fn location(&self, head: &[u8]) -> Option<GeoPoint>;
}

/// How many leading bytes of an original are read for its location.
pub const LOCATION_HEAD_BYTES: u64 = 4 * 1024 * 1024;

/// A place on Earth, as a camera recorded it (WGS 84, decimal degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, north positive.
    pub latitude: f64,
    /// Longitude, east positive.
    pub longitude: f64,
    /// Metres above sea level, if recorded.
    pub altitude: Option<f64>,
}

/// Largest original the worker decodes (it reads the file whole); larger ones are kept
/// as uploaded, without variants.
pub const MAX_PROCESS_BYTES: u64 = 128 * 1024 * 1024;

/// The task kind of photo processing.
pub const PROCESS_KIND: &str = "photos.process";

/// The payload of a processing task.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ProcessPayload {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The photo.
    pub photo_id: PhotoId,
}

/// The task kind that deletes a purged photo's blobs.
pub const PURGE_BLOBS_KIND: &str = "photos.purge_blobs";

/// Deletes every blob of a photo (variants first, then the original). Idempotent.
pub async fn delete_blobs(blobs: &dyn BlobStore, ws: WorkspaceId, id: PhotoId) -> Result<(), BlobError> {
    for variant in [Variant::Large, Variant::Thumb, Variant::Original] {
        blobs.delete(&variant_key(ws, id, variant)).await?;
    }
    Ok(())
}

/// Runs [`PURGE_BLOBS_KIND`] tasks.
pub struct PurgeBlobs {
    blobs: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for PurgeBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PurgeBlobs")
    }
}

impl PurgeBlobs {
    /// The handler over the blob store.
    pub fn new(blobs: Arc<dyn BlobStore>) -> Self {
        Self { blobs }
    }
}

#[async_trait]
impl TaskHandler for PurgeBlobs {
    fn kind(&self) -> &'static str {
        PURGE_BLOBS_KIND
    }

    async fn run(&self, task: &Task) -> Result<(), String> {
        let p: ProcessPayload =
            serde_json::from_str(&task.payload).map_err(|e| format!("bad purge task payload: {e}"))?;
        delete_blobs(&*self.blobs, p.workspace_id, p.photo_id).await.map_err(|e| e.to_string())
    }
}

/// The task kind that reaps the blob of an upload whose row was never written.
pub const REAP_UPLOAD_KIND: &str = "photos.reap_upload";

/// How long after an upload starts its reaping task runs: longer than any upload takes.
pub const REAP_UPLOAD_AFTER_HOURS: i64 = 6;

/// Runs [`REAP_UPLOAD_KIND`] tasks: enqueued before an upload's bytes are written, it
/// finds the photo's row (nothing to do) or deletes whatever blob the upload left. So a
/// crash between the blob's completion and the row's insert leaves no orphan, as a
/// crash before it leaves only a temporary object (swept).
pub struct ReapUploads {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for ReapUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReapUploads")
    }
}

impl ReapUploads {
    /// The handler over the store and the blob store.
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { store, blobs }
    }
}

#[async_trait]
impl TaskHandler for ReapUploads {
    fn kind(&self) -> &'static str {
        REAP_UPLOAD_KIND
    }

    async fn run(&self, task: &Task) -> Result<(), String> {
        let p: ProcessPayload =
            serde_json::from_str(&task.payload).map_err(|e| format!("bad reap task payload: {e}"))?;
        if self.store.photo_by_id(p.workspace_id, p.photo_id).await.map_err(|e| e.to_string())?.is_some() {
            return Ok(());
        }
        delete_blobs(&*self.blobs, p.workspace_id, p.photo_id).await.map_err(|e| e.to_string())
    }
}

/// The blob of a variant of a photo.
pub fn variant_key(ws: WorkspaceId, id: PhotoId, variant: Variant) -> BlobKey {
    match variant {
        Variant::Original => BlobKey { workspace: ws, name: format!("photo-{id}") },
        other => BlobKey { workspace: ws, name: format!("photo-{id}.{}", other.as_str()) },
    }
}

/// Runs [`PROCESS_KIND`] tasks: reads the original, makes the variants, records the
/// outcome. Idempotent: a rerun writes the same variants again.
pub struct ProcessPhotos {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    images: Arc<dyn ImageProcessor>,
    max_bytes: u64,
}

impl std::fmt::Debug for ProcessPhotos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessPhotos")
    }
}

fn one_piece(bytes: Bytes) -> crate::blob::ByteStream {
    Box::pin(futures_util::stream::iter([Ok::<_, BlobError>(bytes)]))
}

impl ProcessPhotos {
    /// The handler over its ports.
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>, images: Arc<dyn ImageProcessor>) -> Self {
        Self { store, blobs, images, max_bytes: MAX_PROCESS_BYTES }
    }

    /// Another limit on the originals it decodes.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    async fn process(&self, p: ProcessPayload) -> Result<(), String> {
        let (ws, id) = (p.workspace_id, p.photo_id);
        let Some(photo) = self.store.photo_by_id(ws, id).await.map_err(|e| e.to_string())? else {
            return Ok(()); // purged meanwhile: nothing to do
        };
        if photo.status != PhotoStatus::Processing {
            return Ok(());
        }
        if photo.size > self.max_bytes {
            // Decoding needs the whole file in memory: past this, it is kept as uploaded.
            tracing::info!(photo = %id, size = photo.size, "photo kept as uploaded: too large to make variants of");
            let kept = Processed::unprocessable();
            return match self.store.finish_photo(ws, id, &kept).await {
                Ok(()) | Err(crate::ports::StoreError::NotFound) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
        }
        let original = variant_key(ws, id, Variant::Original);
        let read = match self.blobs.get(&original, photo.size, 0..photo.size).await {
            Ok(stream) => stream.try_collect::<Vec<Bytes>>().await.map(|parts| Bytes::from(parts.concat())),
            Err(e) => Err(e),
        };
        let bytes = match read {
            Ok(b) => b,
            // The workspace's key is gone or the photo purged: nothing will ever read it.
            Err(BlobError::KeyDestroyed | BlobError::NotFound) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let outcome = match self.images.process(bytes, photo.image_type).await {
            Ok(derived) => {
                let limit = u64::MAX;
                let large = variant_key(ws, id, Variant::Large);
                let thumb = variant_key(ws, id, Variant::Thumb);
                let l = self.blobs.put(&large, one_piece(derived.large), limit).await.map_err(|e| e.to_string())?;
                let t = self.blobs.put(&thumb, one_piece(derived.thumb), limit).await.map_err(|e| e.to_string())?;
                Processed {
                    status: PhotoStatus::Ready,
                    facts: Some(derived.facts),
                    large_size: Some(l.size),
                    thumb_size: Some(t.size),
                }
            }
            Err(ImageError::Unreadable(why)) => {
                tracing::info!(photo = %id, reason = %why, "photo kept as uploaded: not a readable image");
                Processed::unprocessable()
            }
        };
        match self.store.finish_photo(ws, id, &outcome).await {
            Ok(()) => Ok(()),
            // Purged while we worked: take back the variants we wrote.
            Err(crate::ports::StoreError::NotFound) => {
                delete_blobs(&*self.blobs, ws, id).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

#[async_trait]
impl TaskHandler for ProcessPhotos {
    fn kind(&self) -> &'static str {
        PROCESS_KIND
    }

    async fn run(&self, task: &Task) -> Result<(), String> {
        let payload: ProcessPayload =
            serde_json::from_str(&task.payload).map_err(|e| format!("bad photo task payload: {e}"))?;
        match self.process(payload).await {
            // The last attempt failed too: the photo is kept as uploaded rather than
            // left `processing` for ever.
            Err(e) if task.attempts >= task.max_attempts => {
                tracing::warn!(error = %e, photo = %payload.photo_id, "processing failed for good; kept as uploaded");
                let gave_up = Processed::unprocessable();
                match self.store.finish_photo(payload.workspace_id, payload.photo_id, &gave_up).await {
                    Ok(()) | Err(crate::ports::StoreError::NotFound) => Ok(()),
                    Err(store) => Err(format!("{e}; and recording the failure: {store}")),
                }
            }
            other => other,
        }
    }
}
