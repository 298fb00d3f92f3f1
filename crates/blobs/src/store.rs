//! [`EncryptedBlobs`]: the `BlobStore` port over any `object_store` backend, sealing
//! every blob with its workspace's data key (format in [`crate::crypto`]).
//!
//! A write streams: the body is counted against the limit, hashed (SHA-256 of the
//! plaintext) and sealed chunk by chunk on two threads (the private `upload` module), and
//! written under a temporary name: a staging file on local disk (synced before it is
//! renamed), a multipart upload elsewhere; only a complete blob is renamed to its key.
//! A read streams too: the header gives the salt, then only the sealed chunks covering
//! the range are fetched and opened.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::sync::mpsc;
use workvault_domain::blob::{BlobError, BlobKey, BlobStore, ByteStream, Keyring, Written};
use workvault_domain::ports::Rng;

use crate::crypto::{BlobCipher, CHUNK, HEADER, TAG, chunk_offset, chunks, sealed_len};
use crate::upload::{PART, Pipeline, Target};

/// Parts in flight at once per upload: memory per upload stays near `PART × (this + 1)`.
const PARTS_IN_FLIGHT: usize = 2;

/// Encrypted blobs over an object store.
pub struct EncryptedBlobs {
    store: Arc<dyn ObjectStore>,
    keyring: Arc<dyn Keyring>,
    rng: Arc<dyn Rng>,
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for EncryptedBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedBlobs({})", self.store)
    }
}

pub(crate) fn map_err(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::unavailable(other),
    }
}

/// The object path of a blob.
pub fn blob_path(key: &BlobKey) -> Path {
    Path::from(format!("ws/{}/{}", key.workspace, key.name))
}

impl EncryptedBlobs {
    /// Blobs in `store`, sealed with keys from `keyring`.
    pub fn new(store: Arc<dyn ObjectStore>, keyring: Arc<dyn Keyring>, rng: Arc<dyn Rng>) -> Self {
        Self { store, keyring, rng, local_root: None }
    }

    /// For a store on local disk, its directory: uploads then write their staging file
    /// there themselves (`tmp/…`, in whole parts, flushed as it grows), and the sweep
    /// also removes the staging files an upload cut off by a crash leaves
    /// (`object_store` hides its own).
    pub fn with_local_root(mut self, root: std::path::PathBuf) -> Self {
        self.local_root = Some(root);
        self
    }

    /// The underlying object store (for the sweeper and tests).
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn temp_path(&self, key: &BlobKey) -> Path {
        let mut r = [0u8; 8];
        self.rng.fill(&mut r);
        Path::from(format!("tmp/{}/{}.{}", key.workspace, key.name, hex(&r)))
    }

    /// Writes a blob as a multipart upload under `temp`, then renames it to `path`.
    async fn put_multipart(
        &self,
        cipher: BlobCipher,
        header: [u8; HEADER as usize],
        body: ByteStream,
        limit: u64,
        temp: &Path,
        path: &Path,
    ) -> Result<Written, BlobError> {
        let upload = self.store.put_multipart(temp).await.map_err(map_err)?;
        let mut upload = WriteMultipart::new_with_chunk_size(upload, PART);
        // One sealed part waits here while the upload has its parts in flight.
        let (parts, mut sealed_parts) = mpsc::channel::<Bytes>(1);
        let pipeline = Pipeline::start(cipher, header, Target::Parts(parts));
        let write = async {
            while let Some(part) = sealed_parts.recv().await {
                upload.put(part);
                upload.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(map_err)?;
            }
            Ok(())
        };
        let sealed = match pipeline.run(body, limit, write).await {
            Ok(sealed) => sealed,
            Err(e) => {
                if let Err(abort) = upload.abort().await {
                    tracing::warn!(error = %abort, "could not abort a failed upload; the sweeper will remove it");
                }
                return Err(e);
            }
        };
        upload.finish().await.map_err(map_err)?;
        if let Err(e) = self.store.rename(temp, path).await {
            let _ = self.store.delete(temp).await;
            return Err(map_err(e));
        }
        Ok(Written { size: sealed.size, sha256: sealed.sha256 })
    }
}

/// Deletes the files below `dir` last modified before `cutoff`; returns how many.
fn sweep_dir(dir: &std::path::Path, cutoff: std::time::SystemTime) -> std::io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            removed += sweep_dir(&entry.path(), cutoff)?;
        } else if meta.modified()? < cutoff {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl BlobStore for EncryptedBlobs {
    async fn put(&self, key: &BlobKey, body: ByteStream, limit: u64) -> Result<Written, BlobError> {
        let dek = self.keyring.data_key(key.workspace).await?;
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt);
        let cipher = BlobCipher::new(&dek, &salt, key);
        let header = BlobCipher::header(&salt);
        let temp = self.temp_path(key);
        let path = blob_path(key);
        let Some(root) = &self.local_root else {
            return self.put_multipart(cipher, header, body, limit, &temp, &path).await;
        };
        // On local disk the sealing thread writes the staging file itself, under the
        // name the store knows it by.
        let pipeline = Pipeline::start(cipher, header, Target::File(root.join(temp.as_ref())));
        let sealed = pipeline.run(body, limit, async { Ok(()) }).await?;
        // The blob's folders are made 0700 here: the store would make them with the
        // process's umask.
        if let Some(dir) = root.join(path.as_ref()).parent() {
            crate::private_dir(dir).map_err(BlobError::unavailable)?;
        }
        self.store.rename(&temp, &path).await.map_err(map_err)?;
        if let Some(staged) = sealed.staged {
            staged.keep();
        }
        Ok(Written { size: sealed.size, sha256: sealed.sha256 })
    }

    async fn get(&self, key: &BlobKey, size: u64, range: Range<u64>) -> Result<ByteStream, BlobError> {
        if range.start > range.end || range.end > size {
            return Err(BlobError::BadRange);
        }
        let dek = self.keyring.existing_key(key.workspace).await?;
        let path = blob_path(key);
        let header = self.store.get_range(&path, 0..HEADER).await.map_err(map_err)?;
        let cipher = BlobCipher::new(&dek, &BlobCipher::salt_of(&header)?, key);
        let total = chunks(size);
        let first = range.start / CHUNK;
        let last = if range.is_empty() { first } else { (range.end - 1) / CHUNK };
        let frames = Frames { next: first, last, total, size, range };
        Ok(open_stream(self.store.clone(), path, cipher, frames))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&blob_path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Deletes temporary objects (`tmp/…`) last modified before `before`. (On S3, parts
    /// of multipart uploads that were never completed are not objects: a bucket
    /// lifecycle rule `AbortIncompleteMultipartUpload` removes those.)
    async fn sweep_unfinished(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, BlobError> {
        let mut removed = match &self.local_root {
            Some(root) => {
                let tmp = root.join("tmp");
                let cutoff = std::time::SystemTime::from(before);
                tokio::task::spawn_blocking(move || sweep_dir(&tmp, cutoff))
                    .await
                    .map_err(BlobError::unavailable)?
                    .map_err(BlobError::unavailable)?
            }
            None => 0,
        };
        let mut listed = self.store.list(Some(&Path::from("tmp")));
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(map_err)?;
            if meta.last_modified < before {
                match self.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
                    Err(e) => return Err(map_err(e)),
                }
            }
        }
        Ok(removed)
    }
}

/// Which sealed chunks a read opens, and which plaintext bytes of them it keeps.
struct Frames {
    next: u64,
    last: u64,
    total: u64,
    size: u64,
    range: Range<u64>,
}

impl Frames {
    /// The sealed length of chunk `i`.
    fn sealed(&self, i: u64) -> usize {
        let plain = if i + 1 == self.total { self.size - i * CHUNK } else { CHUNK };
        (plain + TAG) as usize
    }
}

/// Sealed chunks fetched per read (about 2 MiB): few requests on object storage, few
/// hand-offs to the blocking pool on local disk, bounded memory per download.
const BATCH: u64 = 32;

/// Fetches the sealed chunks in batches, opens each, and yields the part of the range
/// it holds.
fn open_stream(store: Arc<dyn ObjectStore>, path: Path, cipher: BlobCipher, frames: Frames) -> ByteStream {
    let state = (store, path, Bytes::new(), cipher, frames);
    Box::pin(futures_util::stream::try_unfold(state, |(store, path, mut buf, cipher, mut f)| async move {
        if f.next > f.last || f.range.is_empty() {
            return Ok(None);
        }
        let want = f.sealed(f.next);
        if buf.is_empty() {
            let end = chunk_offset((f.next + BATCH).min(f.last + 1)).min(sealed_len(f.size));
            // A bounded range past the object's end returns what there is: a stored blob
            // shorter than its record is corrupt.
            let start = chunk_offset(f.next);
            let options = GetOptions::new().with_range(Some(GetRange::Bounded(start..end)));
            buf = store.get_opts(&path, options).await.map_err(map_err)?.bytes().await.map_err(map_err)?;
            if (buf.len() as u64) < end - start {
                return Err(BlobError::Corrupt("the stored blob is shorter than its record".into()));
            }
        }
        if buf.len() < want {
            return Err(BlobError::Corrupt("the stored blob is shorter than its record".into()));
        }
        let mut chunk = buf.split_to(want).to_vec();
        let i = f.next;
        cipher.open(i, i + 1 == f.total, &mut chunk)?;
        let chunk_start = i * CHUNK;
        let from = f.range.start.max(chunk_start) - chunk_start;
        let to = f.range.end.min(chunk_start + chunk.len() as u64) - chunk_start;
        f.next += 1;
        let out = Bytes::from(chunk).slice(from as usize..to as usize);
        Ok(Some((out, (store, path, buf, cipher, f))))
    }))
}
