//! The blob store's contract on every backend: in memory, on local disk, and on a real
//! S3 server (moto, started by `scripts/test`; `WORKVAULT_TEST_S3_ENDPOINT`).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use workvault_blobs::crypto::CHUNK;
use workvault_blobs::store::blob_path;
use workvault_blobs::{EncryptedBlobs, MasterKey, ObjectKeyring, S3Settings, open_location};
use workvault_domain::blob::{BlobError, BlobKey, BlobStore, ByteStream, Keyring};
use workvault_domain::id::WorkspaceId;
use workvault_domain::testing::SeqRng;

struct Subject {
    blobs: EncryptedBlobs,
    keyring: Arc<ObjectKeyring>,
    keys: Arc<dyn ObjectStore>,
    objects: Arc<dyn ObjectStore>,
    _dir: tempfile::TempDir,
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn subject(objects: Arc<dyn ObjectStore>, keys: Arc<dyn ObjectStore>, dir: tempfile::TempDir) -> Subject {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rng = Arc::new(SeqRng::starting_at(seed()));
    let keyring = Arc::new(ObjectKeyring::new(keys.clone(), MasterKey::from_bytes([3; 32]), rng.clone()));
    let blobs = EncryptedBlobs::new(objects.clone(), keyring.clone(), rng);
    Subject { blobs, keyring, keys, objects, _dir: dir }
}

fn memory() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Settings::default();
    subject(
        open_location("memory://", dir.path(), &s3).unwrap(),
        open_location("memory://", dir.path(), &s3).unwrap(),
        dir,
    )
}

fn local() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Settings::default();
    let objects = open_location("", &dir.path().join("blobs"), &s3).unwrap();
    let keys = open_location(&format!("file://{}", dir.path().join("keyring").display()), dir.path(), &s3).unwrap();
    let mut s = subject(objects, keys, dir);
    let root = s._dir.path().join("blobs");
    s.blobs = s.blobs.with_local_root(root);
    s
}

#[tokio::test]
async fn on_local_disk_a_crashed_uploads_staging_file_is_swept() {
    let s = local();
    // What `object_store` leaves when the process dies mid-upload: a hidden staging file.
    let dir = s._dir.path().join(format!("blobs/tmp/{}", ws(9)));
    std::fs::create_dir_all(&dir).unwrap();
    let staged = dir.join("photo-x.0011223344556677#1");
    std::fs::write(&staged, b"half an upload").unwrap();
    assert_eq!(s.blobs.sweep_unfinished(chrono::Utc::now() - chrono::Duration::hours(1)).await.unwrap(), 0);
    assert!(staged.exists(), "a fresh one may still be written");
    assert_eq!(s.blobs.sweep_unfinished(chrono::Utc::now() + chrono::Duration::seconds(5)).await.unwrap(), 1);
    assert!(!staged.exists());
}

fn s3_settings() -> S3Settings {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: run the tests through scripts/test, which starts the S3 test server (moto)")
        })
    };
    S3Settings {
        endpoint: var("WORKVAULT_TEST_S3_ENDPOINT"),
        region: var("WORKVAULT_TEST_S3_REGION"),
        access_key_id: var("WORKVAULT_TEST_S3_ACCESS_KEY"),
        secret_access_key: var("WORKVAULT_TEST_S3_SECRET_KEY"),
        allow_http: true,
    }
}

/// A fresh prefix in the S3 test server's bucket (made by `scripts/peers/s3.sh`).
async fn s3() -> Subject {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = s3_settings();
    let bucket =
        std::env::var("WORKVAULT_TEST_S3_BUCKET").unwrap_or_else(|_| panic!("WORKVAULT_TEST_S3_BUCKET is not set"));
    let run = format!("run-{:x}", seed());
    let dir = tempfile::tempdir().unwrap();
    let objects = open_location(&format!("s3://{bucket}/{run}/blobs"), dir.path(), &s).unwrap();
    let keys = open_location(&format!("s3://{bucket}/{run}/keyring"), dir.path(), &s).unwrap();
    // The server checks signatures: a wrong secret is refused.
    let wrong = S3Settings { secret_access_key: "wrong".into(), ..s.clone() };
    let refused = open_location(&format!("s3://{bucket}/{run}/x"), dir.path(), &wrong).unwrap();
    assert!(refused.put(&Path::from("probe"), PutPayload::from_static(b"x")).await.is_err(), "SigV4 is checked");
    subject(objects, keys, dir)
}

/// A blob on local disk is private to the process's user whatever its umask (0022 in
/// the test run): the store's folder, the blob's folders and the staging folder 0700,
/// the blob 0600.
#[cfg(unix)]
#[tokio::test]
async fn on_local_disk_blobs_and_their_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = local();
    let k = key(7, "photo-a");
    s.blobs.put(&k, body(&data(100_000, 1), 4096), 1 << 20).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = s._dir.path().join("blobs");
    let file = root.join(blob_path(&k).as_ref());
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    let mut dirs = vec![root.clone(), root.join("tmp"), s._dir.path().join("keyring")];
    dirs.extend(file.ancestors().skip(1).take_while(|d| d.starts_with(&root)).map(|d| d.to_path_buf()));
    for dir in dirs {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
}

fn ws(n: u128) -> WorkspaceId {
    WorkspaceId::from_uuid(uuid::Uuid::from_u128(n))
}

fn key(w: u128, name: &str) -> BlobKey {
    BlobKey::new(ws(w), name).unwrap()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// The body in pieces of `piece` bytes.
fn body(bytes: &[u8], piece: usize) -> ByteStream {
    let pieces: Vec<Result<Bytes, BlobError>> =
        bytes.chunks(piece.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures_util::stream::iter(pieces))
}

async fn read(
    blobs: &EncryptedBlobs,
    k: &BlobKey,
    size: u64,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, BlobError> {
    let stream = blobs.get(k, size, range).await?;
    let parts: Vec<Bytes> = stream.try_collect().await?;
    Ok(parts.concat())
}

async fn round_trips_at_every_size_and_range(s: &Subject) {
    let sizes = [1usize, 100, CHUNK as usize - 1, CHUNK as usize, CHUNK as usize + 1, 3 * CHUNK as usize + 5];
    for (i, size) in sizes.into_iter().enumerate() {
        let plain = data(size, i as u8);
        let k = key(1, &format!("photo-{i}"));
        let written = s.blobs.put(&k, body(&plain, 7919), 10 << 20).await.unwrap();
        assert_eq!(written.size, size as u64);
        assert_eq!(written.sha256, <[u8; 32]>::from(Sha256::digest(&plain)));
        let n = size as u64;
        let mut ranges = vec![0..n, 0..1, n - 1..n, n / 2..n, 0..n / 2 + 1];
        if n > CHUNK + 10 {
            ranges.extend([CHUNK - 3..CHUNK + 3, CHUNK..2 * CHUNK, 5..n - 5]);
        }
        for r in ranges {
            let got = read(&s.blobs, &k, n, r.clone()).await.unwrap();
            assert_eq!(got, plain[r.start as usize..r.end as usize], "size {size}, range {r:?}");
        }
        assert!(matches!(s.blobs.get(&k, n, 0..n + 1).await, Err(BlobError::BadRange)));
    }
    // What is stored is not the plaintext.
    let plain = vec![b'A'; 4096];
    let k = key(1, "plain-check");
    s.blobs.put(&k, body(&plain, 4096), 1 << 20).await.unwrap();
    let stored = s.objects.get(&blob_path(&k)).await.unwrap().bytes().await.unwrap();
    assert!(!stored.windows(64).any(|w| w.iter().all(|b| *b == b'A')), "stored bytes are encrypted");
}

/// Over two 8 MiB parts: on local disk the staging file is written and flushed part by
/// part, elsewhere the multipart upload has several parts.
async fn a_blob_of_several_parts_round_trips(s: &Subject) {
    let plain = data(17 << 20, 3);
    let n = plain.len() as u64;
    let k = key(1, "several-parts");
    let written = s.blobs.put(&k, body(&plain, 64 * 1024 + 7), 32 << 20).await.unwrap();
    assert_eq!(written.size, n);
    assert_eq!(written.sha256, <[u8; 32]>::from(Sha256::digest(&plain)));
    assert_eq!(read(&s.blobs, &k, n, 0..n).await.unwrap(), plain);
    let across = (8 << 20) - 1000..(8 << 20) + CHUNK + 1000;
    assert_eq!(read(&s.blobs, &k, n, across.clone()).await.unwrap(), plain[across.start as usize..across.end as usize]);
    let leftovers: Vec<_> = s.objects.list(Some(&Path::from("tmp"))).try_collect().await.unwrap();
    assert!(leftovers.is_empty(), "no temporary object left: {leftovers:?}");
}

async fn oversized_and_broken_bodies_leave_nothing(s: &Subject) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let endless: ByteStream = Box::pin(futures_util::stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(Bytes::from(vec![0u8; 1024]))
    }));
    let k = key(2, "too-big");
    assert!(matches!(s.blobs.put(&k, endless, 10 * 1024).await, Err(BlobError::TooLarge { limit: 10240 })));
    assert_eq!(pulled.load(Ordering::Relaxed), 11, "not a byte read past the limit");
    assert!(matches!(read(&s.blobs, &k, 1, 0..1).await, Err(BlobError::NotFound)));

    let broken: ByteStream = Box::pin(
        futures_util::stream::iter(vec![Ok(Bytes::from(vec![1u8; 100_000]))])
            .chain(futures_util::stream::once(async { Err(BlobError::Body("connection reset".into())) })),
    );
    let k = key(2, "broken");
    assert!(matches!(s.blobs.put(&k, broken, 1 << 20).await, Err(BlobError::Body(_))));
    assert!(matches!(read(&s.blobs, &k, 1, 0..1).await, Err(BlobError::NotFound)));
    let leftovers: Vec<_> = s.objects.list(Some(&Path::from("tmp"))).try_collect().await.unwrap();
    assert!(leftovers.is_empty(), "no temporary object left: {leftovers:?}");
}

async fn tampering_is_detected(s: &Subject) {
    let plain = data(2 * CHUNK as usize + 100, 9);
    let n = plain.len() as u64;
    let k = key(3, "original");
    s.blobs.put(&k, body(&plain, 65_000), 1 << 20).await.unwrap();
    let stored = s.objects.get(&blob_path(&k)).await.unwrap().bytes().await.unwrap().to_vec();

    // One flipped bit in the second chunk: reading it fails; the first chunk still reads.
    let mut flipped = stored.clone();
    flipped[(20 + CHUNK + 16 + 10) as usize] ^= 0x01;
    s.objects.put(&blob_path(&k), PutPayload::from(flipped)).await.unwrap();
    assert!(matches!(read(&s.blobs, &k, n, 0..n).await, Err(BlobError::Corrupt(_))));
    assert_eq!(read(&s.blobs, &k, n, 0..100).await.unwrap(), plain[..100]);

    // Truncated after its second chunk (the last flag is missing): fails.
    let truncated = stored[..(20 + 2 * (CHUNK + 16)) as usize].to_vec();
    s.objects.put(&blob_path(&k), PutPayload::from(truncated)).await.unwrap();
    assert!(matches!(read(&s.blobs, &k, 2 * CHUNK, 0..2 * CHUNK).await, Err(BlobError::Corrupt(_))));
    assert!(matches!(read(&s.blobs, &k, n, 0..n).await, Err(BlobError::Corrupt(_))), "shorter than its record");

    // Two chunks swapped: fails.
    let (c0, c1) = ((20, 20 + CHUNK + 16), (20 + CHUNK + 16, 20 + 2 * (CHUNK + 16)));
    let mut swapped = stored.clone();
    swapped[c0.0 as usize..c0.1 as usize].copy_from_slice(&stored[c1.0 as usize..c1.1 as usize]);
    swapped[c1.0 as usize..c1.1 as usize].copy_from_slice(&stored[c0.0 as usize..c0.1 as usize]);
    s.objects.put(&blob_path(&k), PutPayload::from(swapped)).await.unwrap();
    assert!(matches!(read(&s.blobs, &k, n, 0..n).await, Err(BlobError::Corrupt(_))));
    s.objects.put(&blob_path(&k), PutPayload::from(stored.clone())).await.unwrap();

    // The same bytes under another name, or in another workspace: fail.
    for moved in [key(3, "copied"), key(4, "original")] {
        s.objects.put(&blob_path(&moved), PutPayload::from(stored.clone())).await.unwrap();
        assert!(matches!(read(&s.blobs, &moved, n, 0..n).await, Err(BlobError::Corrupt(_))), "{moved:?}");
    }
    assert_eq!(read(&s.blobs, &k, n, 0..n).await.unwrap(), plain, "the original is intact");
}

async fn destroying_a_key_shreds_the_workspace(s: &Subject) {
    let plain = data(1000, 1);
    let (a, b) = (key(5, "kept-until-shredded"), key(6, "other-workspace"));
    s.blobs.put(&a, body(&plain, 333), 1 << 20).await.unwrap();
    s.blobs.put(&b, body(&plain, 333), 1 << 20).await.unwrap();
    // A copy of the whole storage taken before (a backup) …
    let backup = s.objects.get(&blob_path(&a)).await.unwrap().bytes().await.unwrap();
    s.keyring.destroy(ws(5)).await.unwrap();
    s.keyring.destroy(ws(5)).await.unwrap();
    assert!(matches!(read(&s.blobs, &a, 1000, 0..1000).await, Err(BlobError::KeyDestroyed)));
    assert!(matches!(s.blobs.put(&key(5, "new"), body(&plain, 10), 1 << 20).await, Err(BlobError::KeyDestroyed)));
    assert!(matches!(s.keyring.data_key(ws(5)).await, Err(BlobError::KeyDestroyed)), "never remade");
    // … restored: still unreadable.
    s.objects.put(&blob_path(&a), PutPayload::from(backup)).await.unwrap();
    assert!(matches!(read(&s.blobs, &a, 1000, 0..1000).await, Err(BlobError::KeyDestroyed)));
    // Other workspaces are untouched.
    assert_eq!(read(&s.blobs, &b, 1000, 0..1000).await.unwrap(), plain);
}

async fn keys_are_made_once_and_rewrapped_without_touching_blobs(s: &Subject) {
    let w = ws(7);
    let (k1, k2) = tokio::join!(s.keyring.data_key(w), s.keyring.data_key(w));
    assert_eq!(k1.unwrap().expose(), k2.unwrap().expose(), "concurrent first uses agree on one key");
    let plain = data(5000, 2);
    let k = key(7, "before-rotation");
    s.blobs.put(&k, body(&plain, 999), 1 << 20).await.unwrap();
    let stored_before = s.objects.get(&blob_path(&k)).await.unwrap().bytes().await.unwrap();

    let new_master = MasterKey::from_bytes([4; 32]);
    let n = s.keyring.rewrap_all(&new_master).await.unwrap();
    assert!(n >= 1);
    assert_eq!(s.keyring.rewrap_all(&new_master).await.unwrap(), 0, "a rerun (after a cut-off run) resumes");
    let rng = Arc::new(SeqRng::starting_at(seed()));
    let rotated = Arc::new(ObjectKeyring::new(s.keys.clone(), new_master, rng.clone()));
    let blobs = EncryptedBlobs::new(s.objects.clone(), rotated, rng.clone());
    assert_eq!(read(&blobs, &k, 5000, 0..5000).await.unwrap(), plain);
    let stored_after = s.objects.get(&blob_path(&k)).await.unwrap().bytes().await.unwrap();
    assert_eq!(stored_before, stored_after, "no blob rewritten");
    let stale = Arc::new(ObjectKeyring::new(s.keys.clone(), MasterKey::from_bytes([3; 32]), rng));
    assert!(matches!(stale.data_key(w).await, Err(BlobError::Corrupt(_))), "the old master opens nothing");
}

async fn the_sweep_removes_only_old_unfinished_writes(s: &Subject) {
    let done = key(9, "complete");
    s.blobs.put(&done, body(&data(100, 1), 10), 1 << 20).await.unwrap();
    let left = Path::from(format!("tmp/{}/photo-x.0011223344556677", ws(9)));
    s.objects.put(&left, PutPayload::from_static(b"half an upload")).await.unwrap();
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(s.blobs.sweep_unfinished(an_hour_ago).await.unwrap(), 0, "a fresh upload may still be running");
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(s.blobs.sweep_unfinished(later).await.unwrap(), 1);
    assert!(matches!(s.objects.head(&left).await, Err(object_store::Error::NotFound { .. })));
    assert_eq!(read(&s.blobs, &done, 100, 0..100).await.unwrap(), data(100, 1), "complete blobs stay");
}

async fn the_contract(s: Subject) {
    the_sweep_removes_only_old_unfinished_writes(&s).await;
    round_trips_at_every_size_and_range(&s).await;
    a_blob_of_several_parts_round_trips(&s).await;
    oversized_and_broken_bodies_leave_nothing(&s).await;
    tampering_is_detected(&s).await;
    destroying_a_key_shreds_the_workspace(&s).await;
    keys_are_made_once_and_rewrapped_without_touching_blobs(&s).await;
    let k = key(8, "gone");
    s.blobs.put(&k, body(b"x", 1), 10).await.unwrap();
    s.blobs.delete(&k).await.unwrap();
    s.blobs.delete(&k).await.unwrap();
    assert!(matches!(read(&s.blobs, &k, 1, 0..1).await, Err(BlobError::NotFound)));
}

#[tokio::test]
async fn in_memory() {
    the_contract(memory()).await;
}

#[tokio::test]
async fn on_local_disk() {
    the_contract(local()).await;
}

#[tokio::test]
async fn on_a_real_s3_server() {
    the_contract(s3().await).await;
}

#[test]
fn storage_urls_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Settings::default();
    for bad in ["ftp://x/y", "s3://", "nonsense"] {
        assert!(open_location(bad, dir.path(), &s3).is_err(), "{bad}");
    }
    assert!(open_location("s3://bucket/prefix", dir.path(), &s3).is_ok());
}
