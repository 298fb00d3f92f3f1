//! Photo bytes: the [`BlobStore`] and [`Keyring`] ports. Blobs are streamed, never held
//! whole, and encrypted by the adapter with the workspace's data key (see
//! `workvault-blobs`); the domain sees plaintext streams and domain errors only.

use std::fmt;
use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use zeroize::Zeroizing;

use crate::id::WorkspaceId;

/// A stream of bytes in, or out of, a blob.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// Where one blob lives: its workspace (whose key encrypts it) and its name inside it
/// (a photo id, with a variant suffix for derived images).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey {
    /// The workspace the blob belongs to.
    pub workspace: WorkspaceId,
    /// Its name in the workspace: `[0-9a-z-]` and `.` only.
    pub name: String,
}

impl BlobKey {
    /// A key for `name` in `workspace`; `None` for a name with other characters.
    pub fn new(workspace: WorkspaceId, name: impl Into<String>) -> Option<Self> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 100
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        ok.then_some(Self { workspace, name })
    }
}

/// What a completed write stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Plaintext length.
    pub size: u64,
    /// SHA-256 of the plaintext, computed while streaming.
    pub sha256: [u8; 32],
}

/// A blob store's failure.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under that key.
    #[error("blob not found")]
    NotFound,
    /// The body went past the limit; nothing was kept, and reading stopped at the first
    /// piece past it.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body could not be read to its end (the client went away, a truncated
    /// upload); nothing was kept.
    #[error("the body could not be read: {0}")]
    Body(String),
    /// The stored bytes do not authenticate (tampered, truncated, moved or swapped).
    #[error("the stored blob does not authenticate: {0}")]
    Corrupt(String),
    /// The workspace's data key was destroyed: its blobs can never be read again.
    #[error("the workspace's data key was destroyed")]
    KeyDestroyed,
    /// The range asked for is not inside the blob.
    #[error("range not satisfiable")]
    BadRange,
    /// The storage or the keyring failed; nothing is known to have changed.
    #[error("blob storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BlobError {
    /// Wraps any storage failure.
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        BlobError::Unavailable(Box::new(e))
    }
}

/// Encrypted blob storage. Contract (enforced by `workvault-blobs`'s tests on local
/// disk, memory and S3): a blob becomes visible under its key only once completely
/// written; a failed or oversized write leaves nothing; reads return exactly the bytes
/// written for any range; a changed stored byte fails the read (`Corrupt`); once the
/// workspace's key is destroyed every read fails (`KeyDestroyed`).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Streams `body` into a new blob under `key`, refusing more than `limit` bytes.
    async fn put(&self, key: &BlobKey, body: ByteStream, limit: u64) -> Result<Written, BlobError>;
    /// Streams the plaintext bytes `range` of the blob, whose plaintext length is `size`.
    async fn get(&self, key: &BlobKey, size: u64, range: Range<u64>) -> Result<ByteStream, BlobError>;
    /// Deletes the blob; deleting a missing blob succeeds (purges are idempotent).
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
    /// Removes what unfinished writes (a crash, a cut connection) left behind that was
    /// last touched before `before`; returns how many objects went. Complete blobs are
    /// never touched.
    async fn sweep_unfinished(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, BlobError>;
}

/// A workspace's data key (256 bits). Never printed; wiped on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Wraps key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// The per-workspace data keys, wrapped by the master key and kept apart from the
/// database (so destroying a key reaches old database backups too).
#[async_trait]
pub trait Keyring: Send + Sync {
    /// The workspace's data key, created on first use; concurrent first uses agree on
    /// one key. `KeyDestroyed` once it was destroyed (a destroyed key is never remade).
    async fn data_key(&self, ws: WorkspaceId) -> Result<DataKey, BlobError>;
    /// The workspace's data key for reading: never creates one. `KeyDestroyed` once
    /// destroyed; `Corrupt` when the keyring has none (a misconfigured keyring).
    async fn existing_key(&self, ws: WorkspaceId) -> Result<DataKey, BlobError>;
    /// Destroys the workspace's data key for good (crypto-shredding). Idempotent.
    async fn destroy(&self, ws: WorkspaceId) -> Result<(), BlobError>;
}

/// The part of `0..size` a client's range asks for, if satisfiable.
pub fn clamp_range(size: u64, range: Range<u64>) -> Option<Range<u64>> {
    (range.start < range.end && range.end <= size).then_some(range)
}
