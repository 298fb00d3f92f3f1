//! Job photos: the record, the image types we take (told from the bytes, never from a
//! header a client sent), and the store port. The bytes themselves live in the
//! [`BlobStore`](crate::blob::BlobStore), encrypted with the workspace's key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditDraft;
use crate::id::{JobId, PhotoId, UserId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::ports::{JobAccess, Standing, StoreResult};
use crate::queue::NewTask;
use crate::text::Name;

/// The image types Workvault keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageType {
    /// JPEG (most cameras and phones).
    Jpeg,
    /// PNG (screenshots, drawings).
    Png,
    /// HEIC / HEIF (iPhones).
    Heic,
    /// WebP.
    Webp,
}

/// How many leading bytes [`ImageType::sniff`] needs at most.
pub const SNIFF_LEN: usize = 32;

impl ImageType {
    /// Every type.
    pub const ALL: [ImageType; 4] = [ImageType::Jpeg, ImageType::Png, ImageType::Heic, ImageType::Webp];

    /// The stable name used in the API and the stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpeg",
            ImageType::Png => "png",
            ImageType::Heic => "heic",
            ImageType::Webp => "webp",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The media type served with it.
    pub const fn mime(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Heic => "image/heic",
            ImageType::Webp => "image/webp",
        }
    }

    /// The type the leading bytes of a file show (magic numbers), if it is one we take.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        match head {
            [0xFF, 0xD8, 0xFF, ..] => Some(ImageType::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageType::Png),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(ImageType::Webp),
            // ISO base media file: a `ftyp` box whose major brand (or a compatible one
            // in the first 32 bytes) is a HEIF brand.
            [_, _, _, _, b'f', b't', b'y', b'p', rest @ ..] => {
                const HEIF: [&[u8; 4]; 7] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1"];
                const AVIF: [&[u8; 4]; 2] = [b"avif", b"avis"];
                let brands: Vec<&[u8]> = rest.chunks_exact(4).collect();
                // AVIF shares the `mif1` brand; it is not HEIC.
                let avif = brands.iter().any(|b| AVIF.iter().any(|a| *b == *a));
                let heif = brands.iter().any(|b| HEIF.iter().any(|h| *b == *h));
                (heif && !avif).then_some(ImageType::Heic)
            }
            _ => None,
        }
    }
}

/// Where a photo's processing (reading its metadata, making its variants) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoStatus {
    /// Uploaded; the worker has not made its variants yet.
    Processing,
    /// Variants made, metadata read.
    Ready,
    /// The bytes could not be read as an image (corrupt, or a format without a decoder
    /// here): kept exactly as uploaded, without variants.
    Unprocessable,
}

impl PhotoStatus {
    /// The stable name used in the API and the stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            PhotoStatus::Processing => "processing",
            PhotoStatus::Ready => "ready",
            PhotoStatus::Unprocessable => "unprocessable",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [PhotoStatus::Processing, PhotoStatus::Ready, PhotoStatus::Unprocessable].into_iter().find(|v| v.as_str() == s)
    }
}

/// Which bytes of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// As uploaded (location and all metadata included; never shared).
    Original,
    /// At most 2048 px on its longest side, orientation applied, all metadata stripped.
    Large,
    /// At most 400 px, likewise.
    Thumb,
}

impl Variant {
    /// The stable name used in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Large => "large",
            Variant::Thumb => "thumb",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Variant::Original, Variant::Large, Variant::Thumb].into_iter().find(|v| v.as_str() == s)
    }

    /// The longest side of a derived variant, in pixels.
    pub const fn max_side(self) -> Option<u32> {
        match self {
            Variant::Original => None,
            Variant::Large => Some(2048),
            Variant::Thumb => Some(400),
        }
    }
}

/// What the worker learnt of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImageFacts {
    /// Width once the EXIF orientation is applied.
    pub width: u32,
    /// Height likewise.
    pub height: u32,
    /// When it was taken (EXIF `DateTimeOriginal`, camera local time), if recorded.
    pub taken_at: Option<chrono::NaiveDateTime>,
    /// Whether the original carries a GPS location (kept only there, encrypted; never
    /// shown by the API).
    pub has_location: bool,
}

/// The outcome of processing, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    /// `Ready` or `Unprocessable`.
    pub status: PhotoStatus,
    /// What was read (`Ready` only).
    pub facts: Option<ImageFacts>,
    /// Bytes of the `large` variant (`Ready` only).
    pub large_size: Option<u64>,
    /// Bytes of the `thumb` variant (`Ready` only).
    pub thumb_size: Option<u64>,
}

impl Processed {
    /// Kept as uploaded, without variants.
    pub const fn unprocessable() -> Self {
        Processed { status: PhotoStatus::Unprocessable, facts: None, large_size: None, thumb_size: None }
    }
}

/// A photo of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Its id (also the name of its blob).
    pub id: PhotoId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The job it belongs to.
    pub job_id: JobId,
    /// What the bytes are.
    pub image_type: ImageType,
    /// Bytes of the original.
    pub size: u64,
    /// SHA-256 of the original (its `ETag`).
    pub sha256: [u8; 32],
    /// The file name the uploader gave, if any.
    pub file_name: Option<Name>,
    /// Who uploaded it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it went to trash.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Processing.
    pub status: PhotoStatus,
    /// What processing read, once `Ready`.
    pub facts: Option<ImageFacts>,
    /// Bytes of the `large` variant, once `Ready`.
    pub large_size: Option<u64>,
    /// Bytes of the `thumb` variant, once `Ready`.
    pub thumb_size: Option<u64>,
}

impl Photo {
    /// The size of a variant's bytes, if it exists.
    pub fn variant_size(&self, variant: Variant) -> Option<u64> {
        match variant {
            Variant::Original => Some(self.size),
            Variant::Large => self.large_size,
            Variant::Thumb => self.thumb_size,
        }
    }

    /// Whether it may be shown (in a report, or through a link): live, with its
    /// stripped variants made.
    pub fn is_showable(&self) -> bool {
        self.deleted_at.is_none() && self.large_size.is_some() && self.thumb_size.is_some()
    }

    /// The SHA-256 in lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Photos. Contract: reads take the actor and return the access facts of the photo's
/// job with the row, in one statement; a trashed photo, or a photo of a trashed job,
/// is not found (except by `trashed_photo`, for restore and purge).
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// Stores a new photo (its blob is already complete) and enqueues its processing,
    /// in one transaction, only if the uploader still has the `standing` on the
    /// photo's live job (`StoreError::Denied` if not; `NotFound` if the job is gone):
    /// a member removed, demoted or ungranted while the bytes streamed stores nothing
    /// (contract: `an_upload_outlived_by_its_uploaders_standing_stores_nothing`).
    async fn create_photo(
        &self,
        photo: &Photo,
        process: &NewTask,
        standing: Standing,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// A photo by id, live or trashed, for the worker (no actor: never for requests).
    async fn photo_by_id(&self, ws: WorkspaceId, photo: PhotoId) -> StoreResult<Option<Photo>>;
    /// Records the outcome of processing; `NotFound` if the photo is gone (purged).
    async fn finish_photo(&self, ws: WorkspaceId, photo: PhotoId, outcome: &Processed) -> StoreResult<()>;
    /// The live photo with the actor's access facts on its job; `None` if the photo is
    /// not in `ws`, trashed, or the actor is not a member there.
    async fn photo_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        photo: PhotoId,
    ) -> StoreResult<Option<(Photo, JobAccess)>>;
    /// A page of a job's live photos, newest first.
    async fn photos_of_job(&self, ws: WorkspaceId, job: JobId, page: PageRequest) -> StoreResult<Page<Photo>>;
    /// Moves a live photo to trash; `NotFound` if there is none.
    async fn trash_photo(
        &self,
        ws: WorkspaceId,
        photo: PhotoId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// A trashed photo with the actor's access facts on its job.
    async fn trashed_photo(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        photo: PhotoId,
    ) -> StoreResult<Option<(Photo, JobAccess)>>;
    /// Brings a trashed photo back; `NotFound` if it is not in trash.
    async fn restore_photo(&self, ws: WorkspaceId, photo: PhotoId, audit: AuditDraft) -> StoreResult<()>;
    /// Deletes a trashed photo's row for good and enqueues the deletion of its blobs, in
    /// one transaction; `NotFound` if it is not in trash. (Row first: once it is gone
    /// nothing can restore or process the photo, and the task removes every blob.)
    async fn purge_photo(
        &self,
        ws: WorkspaceId,
        photo: PhotoId,
        cleanup: &NewTask,
        audit: AuditDraft,
    ) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_told_by_their_bytes() {
        assert_eq!(ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(ImageType::Jpeg));
        assert_eq!(ImageType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(ImageType::Png));
        assert_eq!(ImageType::sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(ImageType::Webp));
        assert_eq!(ImageType::sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), Some(ImageType::Heic));
        assert_eq!(ImageType::sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1heic"), Some(ImageType::Heic));
        // Not ours: a video in the same container, GIF, PDF, text, a lying prefix, empty.
        assert_eq!(ImageType::sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2"), None);
        assert_eq!(ImageType::sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1"), None, "AVIF is not HEIC");
        for other in [&b"GIF89a......"[..], b"%PDF-1.7", b"hello", b"\xFF\xD8", b"RIFF\0\0\0\0WAVE", b""] {
            assert_eq!(ImageType::sniff(other), None, "{other:?}");
        }
        for t in ImageType::ALL {
            assert_eq!(ImageType::parse(t.as_str()), Some(t));
            assert!(t.mime().starts_with("image/"));
        }
    }
}
