//! The write path of [`EncryptedBlobs::put`](crate::EncryptedBlobs), on two cores. The
//! async side only reads the body, counts it against the limit and hands its pieces
//! (`Bytes`, shared, never copied) in batches to two blocking threads: one hashes the
//! plaintext (SHA-256), the other frames it into 64 KiB chunks, seals each in place in a
//! part buffer (the one copy: from the body into that buffer) and writes whole parts.
//! On local disk a third thread writes the parts straight into the staging file, with
//! direct I/O where the filesystem allows, while the next part is sealed, so the
//! closing `fsync` has little left to write; elsewhere the parts go back to the async
//! side for the multipart upload.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use workvault_domain::blob::{BlobError, ByteStream};

use crate::crypto::{BlobCipher, CHUNK, HEADER, TAG};

/// Size of each part (S3's minimum is 5 MiB): a part is written once it holds this
/// much, so parts are whole sealed chunks, a little over 8 MiB.
pub(crate) const PART: usize = 8 * 1024 * 1024;
/// Plaintext handed to the threads at a time: the body's pieces in batches, so the
/// threads are woken a few thousand times per GiB, not once per piece.
const FEED_BYTES: usize = 256 * 1024;
/// Batches queued ahead of each thread (about 1 MiB of body per upload).
const FEEDS_QUEUED: usize = 4;

/// A batch of the body for the sealing thread, or the end of the body.
#[derive(Debug)]
enum Feed {
    Plain(Vec<Bytes>),
    End,
}

/// Where the sealing thread writes the sealed parts.
#[derive(Debug)]
pub(crate) enum Target {
    /// This new staging file on local disk.
    File(PathBuf),
    /// The async side, which puts them into a multipart upload.
    Parts(mpsc::Sender<Bytes>),
}

/// A staging file, removed when this is dropped unless [`Leftover::keep`] was called:
/// a failed or abandoned upload leaves nothing on disk.
#[derive(Debug)]
pub(crate) struct Leftover(Option<PathBuf>);

impl Leftover {
    /// The file is renamed to its blob: keep it.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Leftover {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %path.display(), "could not remove a failed upload's staging file; the sweeper will");
        }
    }
}

/// An upload under way: the threads that hash and seal, and the senders that feed them.
#[derive(Debug)]
pub(crate) struct Pipeline {
    hashing: JoinHandle<[u8; 32]>,
    sealing: JoinHandle<Result<Option<Leftover>, BlobError>>,
    hash: mpsc::Sender<Vec<Bytes>>,
    seal: mpsc::Sender<Feed>,
}

/// What a complete upload leaves: the plaintext's size and SHA-256, and on local disk
/// the staging file, synced to disk.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
    pub(crate) staged: Option<Leftover>,
}

impl Pipeline {
    /// Starts the hashing and sealing threads for a blob with this cipher and header.
    pub(crate) fn start(cipher: BlobCipher, header: [u8; HEADER as usize], target: Target) -> Self {
        let (hash, hash_rx) = mpsc::channel(FEEDS_QUEUED);
        let (seal, seal_rx) = mpsc::channel(FEEDS_QUEUED);
        let hashing = tokio::task::spawn_blocking(move || hash_all(hash_rx));
        let sealing = tokio::task::spawn_blocking(move || seal_all(cipher, header, seal_rx, target));
        Self { hashing, sealing, hash, seal }
    }

    /// Reads the body to its end and feeds it to the threads, refusing it at the first
    /// piece past `limit` (nothing after it is read); returns its size, or `None` when
    /// the sealing side stopped taking it (its own result says why). The senders are
    /// dropped when it returns, which tells the threads to stop.
    async fn feed(
        mut body: ByteStream,
        limit: u64,
        hash: mpsc::Sender<Vec<Bytes>>,
        seal: mpsc::Sender<Feed>,
    ) -> Result<Option<u64>, BlobError> {
        let mut size = 0u64;
        let mut batch = Vec::new();
        let mut batched = 0;
        while let Some(piece) = body.next().await {
            let piece = piece?;
            size += piece.len() as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            batched += piece.len();
            batch.push(piece);
            if batched >= FEED_BYTES {
                batched = 0;
                if !hand_over(&hash, &seal, std::mem::take(&mut batch)).await {
                    return Ok(None);
                }
            }
        }
        let fed = batch.is_empty() || hand_over(&hash, &seal, batch).await;
        Ok((fed && seal.send(Feed::End).await.is_ok()).then_some(size))
    }

    /// Runs the upload: the body fed to the threads while `write` (the async side of
    /// the writing, if any) runs alongside. On failure the threads stop and the staging
    /// file is gone before this returns; the error is the first cause: the body's own
    /// (too large, cut off), then the writer's, then the sealer's.
    pub(crate) async fn run(
        self,
        body: ByteStream,
        limit: u64,
        write: impl Future<Output = Result<(), BlobError>>,
    ) -> Result<Sealed, BlobError> {
        let Self { hashing, sealing, hash, seal } = self;
        let (fed, wrote) = futures_util::future::join(Self::feed(body, limit, hash, seal), write).await;
        let sealed = sealing.await.map_err(BlobError::unavailable);
        let size = fed?;
        wrote?;
        let staged = sealed??;
        let size = size.ok_or_else(|| BlobError::unavailable(std::io::Error::other("the sealing thread stopped")))?;
        let sha256 = hashing.await.map_err(BlobError::unavailable)?;
        Ok(Sealed { size, sha256, staged })
    }
}

/// Hands a batch to both threads; false if either is gone.
async fn hand_over(hash: &mpsc::Sender<Vec<Bytes>>, seal: &mpsc::Sender<Feed>, batch: Vec<Bytes>) -> bool {
    hash.send(batch.clone()).await.is_ok() && seal.send(Feed::Plain(batch)).await.is_ok()
}

/// The hashing thread: the SHA-256 of everything it is fed.
fn hash_all(mut feed: mpsc::Receiver<Vec<Bytes>>) -> [u8; 32] {
    let mut hash = Sha256::new();
    while let Some(batch) = feed.blocking_recv() {
        for piece in &batch {
            hash.update(piece);
        }
    }
    hash.finalize().into()
}

/// The sealing thread: the header, then the body in sealed chunks, written part by
/// part to `target`. Nothing is completed unless the end of the body arrives.
fn seal_all(
    cipher: BlobCipher,
    header: [u8; HEADER as usize],
    mut feed: mpsc::Receiver<Feed>,
    target: Target,
) -> Result<Option<Leftover>, BlobError> {
    let mut sink = match target {
        Target::File(path) => Sink::File(Staging::create(path).map_err(BlobError::unavailable)?),
        Target::Parts(parts) => Sink::Parts(parts),
    };
    let mut sealer = Sealer::new(cipher, &header, &mut sink)?;
    loop {
        match feed.blocking_recv() {
            Some(Feed::Plain(batch)) => {
                for piece in &batch {
                    sealer.push(piece, &mut sink)?;
                }
            }
            Some(Feed::End) => break,
            // The body failed or the upload was dropped: the feeder reports why.
            None => return Err(BlobError::Body("the upload stopped before the end of the body".into())),
        }
    }
    sealer.finish(&mut sink)?;
    sink.finish()
}

/// Frames plaintext into chunks and seals each in place in the part buffer.
struct Sealer {
    cipher: BlobCipher,
    part: Vec<u8>,
    /// Where the chunk being filled starts in `part`.
    open: usize,
    index: u64,
}

/// The part buffer's capacity: it is written once it reaches `PART`, after a whole
/// sealed chunk.
const PART_CAPACITY: usize = PART + (CHUNK + TAG) as usize + HEADER as usize;

impl Sealer {
    fn new(cipher: BlobCipher, header: &[u8], sink: &mut Sink) -> Result<Self, BlobError> {
        let mut part = sink.buffer()?;
        part.extend_from_slice(header);
        Ok(Self { cipher, open: part.len(), part, index: 0 })
    }

    fn push(&mut self, mut plain: &[u8], sink: &mut Sink) -> Result<(), BlobError> {
        while !plain.is_empty() {
            // A full chunk is sealed only once more follows: the last one carries the
            // last flag.
            if self.part.len() - self.open == CHUNK as usize {
                self.seal(false)?;
                if self.part.len() >= PART {
                    sink.write(&mut self.part, false)?;
                    self.open = self.part.len();
                }
            }
            let room = CHUNK as usize - (self.part.len() - self.open);
            let (now, rest) = plain.split_at(room.min(plain.len()));
            self.part.extend_from_slice(now);
            plain = rest;
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> Result<(), BlobError> {
        let tag = self.cipher.seal_in_place(self.index, last, &mut self.part[self.open..])?;
        self.part.extend_from_slice(&tag);
        self.open = self.part.len();
        self.index += 1;
        Ok(())
    }

    /// Seals the last chunk (empty for an empty body) and writes what is left.
    fn finish(mut self, sink: &mut Sink) -> Result<(), BlobError> {
        self.seal(true)?;
        sink.write(&mut self.part, true)
    }
}

/// Where the sealing thread's parts go.
enum Sink {
    File(Staging),
    Parts(mpsc::Sender<Bytes>),
}

impl Sink {
    /// An empty part buffer.
    fn buffer(&mut self) -> Result<Vec<u8>, BlobError> {
        match self {
            Sink::File(staging) => staging.spare(),
            Sink::Parts(_) => Ok(Vec::with_capacity(PART_CAPACITY)),
        }
    }

    /// Writes a part and leaves in `part` a buffer for the next.
    fn write(&mut self, part: &mut Vec<u8>, last: bool) -> Result<(), BlobError> {
        match self {
            Sink::File(staging) => staging.write(part, last),
            Sink::Parts(parts) => {
                let full = std::mem::replace(part, Vec::with_capacity(PART_CAPACITY));
                // A send fails only when the writer stopped: its error is reported.
                parts.blocking_send(Bytes::from(full)).map_err(|_| stopped("the writer"))
            }
        }
    }

    /// On local disk: the file written and synced, kept until renamed.
    fn finish(self) -> Result<Option<Leftover>, BlobError> {
        match self {
            Sink::File(mut staging) => {
                staging.writer_result()?;
                Ok(Some(staging.left))
            }
            Sink::Parts(_) => Ok(None),
        }
    }
}

fn stopped(what: &str) -> BlobError {
    BlobError::unavailable(std::io::Error::other(format!("{what} stopped")))
}

/// Alignment of direct writes: their buffers, lengths and file offsets (4 KiB covers
/// the logical block size of disks and filesystems).
const ALIGN: usize = 4096;

/// Part buffers per upload on local disk: one being filled, one being written.
const BUFFERS: usize = 2;

/// Where the data of a part buffer starts: the bytes before it pad it to `ALIGN`.
fn pad_of(buf: &[u8]) -> usize {
    (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN
}

/// A part for the writing thread: the buffer (data from `pad_of`), how many of its bytes
/// are the blob's (the last part is padded with zeros on direct writes), and whether it
/// is the last.
struct Part {
    buf: Vec<u8>,
    len: usize,
    last: bool,
}

/// A staging file on local disk, and the thread that writes it. The file is opened
/// for direct I/O where the filesystem allows (`O_DIRECT`, Linux): parts go from the
/// part buffers to the disk, with no page cache to fill and nothing left for the closing
/// `fsync` but the disk's own cache; elsewhere each part is written and synced
/// (`fdatasync`) while the next is sealed. Either way the write-back runs alongside the
/// upload, and two part buffers take turns.
struct Staging {
    writes: std::sync::mpsc::SyncSender<Part>,
    spares: std::sync::mpsc::Receiver<Vec<u8>>,
    made: usize,
    direct: bool,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    left: Leftover,
}

impl Staging {
    fn create(path: PathBuf) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::private_dir(dir)?;
        }
        let (file, direct) = open_staging(&path)?;
        Self::writing(path, file, direct)
    }

    /// Starts the writer of staging file `file` at `path`.
    fn writing(path: PathBuf, file: File, direct: bool) -> std::io::Result<Self> {
        let left = Leftover(Some(path));
        let (writes, to_write) = std::sync::mpsc::sync_channel(1);
        let (spare, spares) = std::sync::mpsc::sync_channel(BUFFERS);
        let writer = std::thread::Builder::new()
            .name("blob-write".into())
            .spawn(move || write_parts(file, direct, to_write, spare))?;
        Ok(Self { writes, spares, made: 0, direct, writer: Some(writer), left })
    }

    /// An empty part buffer: one the writer is done with, or a new one while there are
    /// fewer than `BUFFERS`.
    fn spare(&mut self) -> Result<Vec<u8>, BlobError> {
        let buf = match self.spares.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.made < BUFFERS => {
                self.made += 1;
                Vec::with_capacity(PART_CAPACITY + ALIGN)
            }
            Err(_) => match self.spares.recv() {
                Ok(buf) => buf,
                Err(_) => return Err(self.writer_failure()),
            },
        };
        let mut buf = buf;
        buf.clear();
        buf.resize(pad_of(&buf), 0);
        Ok(buf)
    }

    /// Hands `part` to the writer: whole `ALIGN` blocks of it, the rest carried over to
    /// the start of the next buffer, left in `part`; the last part whole (padded to
    /// `ALIGN` on direct writes, the file cut back to its length afterwards).
    fn write(&mut self, part: &mut Vec<u8>, last: bool) -> Result<(), BlobError> {
        let pad = pad_of(part);
        let data = part.len() - pad;
        let (next, len) = if last {
            if self.direct {
                part.resize(pad + data.next_multiple_of(ALIGN), 0);
            }
            (Vec::new(), data)
        } else {
            let whole = data / ALIGN * ALIGN;
            let mut next = self.spare()?;
            next.extend_from_slice(&part[pad + whole..]);
            part.truncate(pad + whole);
            (next, whole)
        };
        let buf = std::mem::replace(part, next);
        self.writes.send(Part { buf, len, last }).map_err(|_| self.writer_failure())
    }

    /// Why the writer stopped.
    fn writer_failure(&mut self) -> BlobError {
        match self.writer_result() {
            Err(e) => e,
            Ok(()) => stopped("the writer"),
        }
    }

    fn writer_result(&mut self) -> Result<(), BlobError> {
        let writer = self.writer.take().ok_or_else(|| stopped("the writer"))?;
        let written = writer.join().map_err(|_| std::io::Error::other("the writing thread panicked"));
        written.and_then(|r| r).map_err(BlobError::unavailable)
    }
}

/// Opens a new staging file (0600) for direct writes, or for buffered ones where the
/// filesystem refuses direct I/O.
fn open_staging(path: &std::path::Path) -> std::io::Result<(File, bool)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // The staging file becomes the blob: private to the server's user.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match options.clone().custom_flags(libc::O_DIRECT).open(path) {
            Ok(file) => return Ok((file, true)),
            // The file may have been made before the flag was refused.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                options.create_new(false).create(true).truncate(true);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((options.open(path)?, false))
}

/// The writing thread: each part written as it comes (and synced, when not direct),
/// then, after the last, the file cut to its length and synced (`fsync`).
fn write_parts(
    mut file: File,
    direct: bool,
    parts: std::sync::mpsc::Receiver<Part>,
    spares: std::sync::mpsc::SyncSender<Vec<u8>>,
) -> std::io::Result<()> {
    let mut size = 0u64;
    loop {
        let Ok(Part { buf, len, last }) = parts.recv() else {
            return Err(std::io::Error::other("the upload stopped before its last part"));
        };
        let pad = pad_of(&buf);
        file.write_all(&buf[pad..])?;
        size += len as u64;
        if last {
            if buf.len() - pad != len {
                file.set_len(size)?;
            }
            return file.sync_all();
        }
        if !direct {
            file.sync_data()?;
        }
        // The sealer may have stopped: then the buffer just goes.
        let _ = spares.try_send(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::chunks;
    use workvault_domain::blob::{BlobKey, DataKey};
    use workvault_domain::id::WorkspaceId;

    fn cipher() -> BlobCipher {
        let key = BlobKey::new(WorkspaceId::from_uuid(uuid::Uuid::from_u128(5)), "photo-p").expect("valid name");
        BlobCipher::new(&DataKey::from_bytes([7; 32]), &[1; 16], &key)
    }

    /// The format, framed the plain way: the header, then each 64 KiB chunk sealed on
    /// its own.
    fn reference(plain: &[u8]) -> Vec<u8> {
        let c = cipher();
        let mut out = BlobCipher::header(&[1; 16]).to_vec();
        let n = chunks(plain.len() as u64);
        for i in 0..n {
            let start = (i * CHUNK) as usize;
            let mut chunk = plain[start..(start + CHUNK as usize).min(plain.len())].to_vec();
            c.seal(i, i + 1 == n, &mut chunk).expect("seal");
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// What the sealing thread writes for `plain` fed in pieces of `piece` bytes.
    fn sealed(plain: &[u8], piece: usize) -> (Vec<u8>, Vec<usize>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let mut sink = Sink::Parts(tx);
        let mut sealer = Sealer::new(cipher(), &BlobCipher::header(&[1; 16]), &mut sink).expect("buffer");
        for p in plain.chunks(piece) {
            sealer.push(p, &mut sink).expect("push");
        }
        sealer.finish(&mut sink).expect("finish");
        drop(sink);
        let mut parts = Vec::new();
        while let Some(part) = rx.blocking_recv() {
            parts.push(part);
        }
        (parts.concat(), parts.iter().map(Bytes::len).collect())
    }

    #[test]
    fn staging_files_hold_the_format_written_directly_or_buffered() {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = CHUNK as usize;
        for (i, size) in [0, 1, ALIGN - 20, c + 1, PART + 3 * c + 5, 2 * PART + 4000].into_iter().enumerate() {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            for buffered in [false, true] {
                let path = dir.path().join(format!("tmp/ws/blob-{i}-{buffered}"));
                let mut staging = Staging::create(path.clone()).expect("staging file");
                if buffered {
                    drop(staging);
                    let file = File::create(&path).expect("file");
                    staging = Staging::writing(path.clone(), file, false).expect("staging file");
                }
                let mut sink = Sink::File(staging);
                let mut sealer = Sealer::new(cipher(), &BlobCipher::header(&[1; 16]), &mut sink).expect("buffer");
                for p in plain.chunks(7919) {
                    sealer.push(p, &mut sink).expect("push");
                }
                sealer.finish(&mut sink).expect("finish");
                let left = sink.finish().expect("written").expect("a staging file");
                let got = std::fs::read(&path).expect("read back");
                assert!(got == reference(&plain), "size {size}, buffered {buffered}: the file differs");
                drop(left);
                assert!(!path.exists(), "removed unless kept");
            }
        }
    }

    #[test]
    fn parts_are_the_format_framed_chunk_by_chunk_at_any_piece_size() {
        let c = CHUNK as usize;
        for size in [0, 1, c - 1, c, c + 1, 3 * c, PART - 1, PART, PART + c + 5, 2 * PART + 3 * c] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let want = reference(&plain);
            for piece in [1000, 7919, c, 1 << 20] {
                if size > 4 * c && piece < 7919 {
                    continue;
                }
                let (got, parts) = sealed(&plain, piece);
                assert!(got == want, "size {size}, pieces of {piece}: the sealed bytes differ");
                // Every part but the last is at least PART (S3's minimum is 5 MiB) and
                // whole sealed chunks.
                for (i, len) in parts.iter().enumerate().take(parts.len() - 1) {
                    assert!(*len >= PART && *len < PART_CAPACITY, "size {size}, part {i}: {len} bytes");
                    assert_eq!((len - if i == 0 { HEADER as usize } else { 0 }) % (c + TAG as usize), 0);
                }
            }
        }
    }
}
