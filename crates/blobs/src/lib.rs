#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod crypto;
pub mod images;
pub mod keyring;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod upload;

use std::path::Path as FsPath;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

pub use images::Variants;
pub use keyring::{MasterKey, ObjectKeyring};
pub use store::EncryptedBlobs;

/// Makes `dir` and any missing parents, each 0700 (a folder already there is left as it
/// is): blobs and keys on local disk are private to the server's user.
pub(crate) fn private_dir(dir: &FsPath) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Why a storage location could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocationError(pub String);

/// Credentials and endpoint for S3-compatible storage (AWS, MinIO, Ceph, moto…).
#[derive(Clone, Default)]
pub struct S3Settings {
    /// Endpoint URL for non-AWS servers (`http://127.0.0.1:9000`); empty for AWS.
    pub endpoint: String,
    /// Region (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Access key id; empty to take credentials from the environment / instance role.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allow plain http (a loopback or private test server only).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// Opens a storage location by URL:
/// - empty or `file://PATH` (relative paths allowed): a directory on local disk,
///   created (0700) if missing — the embedded default;
/// - `memory://`: in memory (tests);
/// - `s3://BUCKET[/PREFIX]`: S3 or any S3-compatible server, with `s3`;
/// - `gs://BUCKET[/PREFIX]` and `az://CONTAINER[/PREFIX]`: Google Cloud Storage and
///   Azure Blob Storage, configured from their usual environment variables.
pub fn open_location(url: &str, default_dir: &FsPath, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, LocationError> {
    let url = url.trim();
    if url.is_empty() || url.starts_with("file://") {
        let dir = if url.is_empty() { default_dir.to_path_buf() } else { url.trim_start_matches("file://").into() };
        private_dir(&dir).map_err(|e| LocationError(format!("cannot create the directory {}: {e}", dir.display())))?;
        // fsync on: a key or a blob acknowledged is on disk, as the database row is.
        let local = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| LocationError(format!("cannot use the directory {}: {e}", dir.display())))?
            .with_fsync(true);
        return Ok(Arc::new(local));
    }
    if url == "memory://" {
        return Ok(Arc::new(InMemory::new()));
    }
    let parsed = url::Url::parse(url).map_err(|e| LocationError(format!("`{url}` is not a storage URL ({e})")))?;
    let bucket = parsed.host_str().unwrap_or_default();
    if bucket.is_empty() {
        return Err(LocationError(format!("`{url}` names no bucket")));
    }
    match parsed.scheme() {
        "s3" => cloud::s3(bucket, parsed.path(), s3),
        "gs" => cloud::gcs(bucket, parsed.path()),
        "az" => cloud::azure(bucket, parsed.path()),
        other => Err(LocationError(format!(
            "storage scheme `{other}` is not known (use file://, s3://, gs://, az:// or memory://)"
        ))),
    }
}

mod cloud {
    use std::sync::Arc;

    use object_store::ObjectStore;
    use object_store::aws::AmazonS3Builder;
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;
    use object_store::prefix::PrefixStore;

    use super::{LocationError, S3Settings};

    pub(super) fn s3(bucket: &str, prefix: &str, s: &S3Settings) -> Result<Arc<dyn ObjectStore>, LocationError> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if !s.region.is_empty() {
            b = b.with_region(&s.region);
        }
        if !s.endpoint.is_empty() {
            // S3-compatible servers: path-style requests to the given endpoint.
            b = b.with_endpoint(&s.endpoint).with_virtual_hosted_style_request(false);
        }
        if !s.access_key_id.is_empty() {
            b = b.with_access_key_id(&s.access_key_id).with_secret_access_key(&s.secret_access_key);
        }
        let store = b.with_allow_http(s.allow_http).build().map_err(|e| LocationError(format!("S3: {e}")))?;
        Ok(with_prefix(Arc::new(store), prefix))
    }

    pub(super) fn gcs(bucket: &str, prefix: &str) -> Result<Arc<dyn ObjectStore>, LocationError> {
        let store = GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| LocationError(format!("Google Cloud Storage: {e}")))?;
        Ok(with_prefix(Arc::new(store), prefix))
    }

    pub(super) fn azure(container: &str, prefix: &str) -> Result<Arc<dyn ObjectStore>, LocationError> {
        let store = MicrosoftAzureBuilder::from_env()
            .with_container_name(container)
            .build()
            .map_err(|e| LocationError(format!("Azure Blob Storage: {e}")))?;
        Ok(with_prefix(Arc::new(store), prefix))
    }

    fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Arc<dyn ObjectStore> {
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() { store } else { Arc::new(PrefixStore::new(store, prefix)) }
    }
}
