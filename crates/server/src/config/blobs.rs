//! `[blobs]`: where photo bytes and the keyring live, the upload limit, and the master
//! key.

use serde::{Deserialize, Serialize};
use workvault_blobs::S3Settings;

use super::SecretString;

/// `[blobs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsConfig {
    /// Where photo bytes go: empty (`<data_dir>/blobs`), `file://PATH`, `s3://BUCKET[/PREFIX]`,
    /// `gs://BUCKET` or `az://CONTAINER`.
    pub url: String,
    /// Where the wrapped per-workspace keys go, apart from the photos and the database:
    /// empty (`<data_dir>/keyring`) or any URL `url` takes.
    pub keyring_url: String,
    /// Largest photo upload, in MiB.
    pub max_upload_mib: u64,
    /// Photo uploads one node takes at once (each holds up to about 17 MiB of sealed
    /// parts in memory); more are answered 503 `uploads_busy` with `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// Of those, the uploads through the public ticket form (anyone with the submit
    /// link) one node takes at once: a smaller pool of their own, so anonymous senders
    /// never hold every slot; more are answered 503 with `Retry-After`.
    pub max_concurrent_public_uploads: usize,
    /// Seconds an upload's body may send nothing before it is cut off (nothing is
    /// stored, its slot is given back).
    pub upload_idle_timeout_secs: u64,
    /// The master key (base64 of 32 bytes). Empty: the file `<data_dir>/master.key`,
    /// made on first start.
    pub master_key: SecretString,
    /// S3-compatible servers: endpoint URL (empty for AWS itself).
    pub s3_endpoint: String,
    /// S3 region.
    pub s3_region: String,
    /// S3 access key id (empty: the usual AWS environment / instance role).
    pub s3_access_key_id: String,
    /// S3 secret access key.
    pub s3_secret_access_key: SecretString,
    /// Allow plain-http S3 endpoints (a private or loopback server only).
    pub s3_allow_http: bool,
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            keyring_url: String::new(),
            max_upload_mib: 50,
            max_concurrent_uploads: 32,
            max_concurrent_public_uploads: 8,
            upload_idle_timeout_secs: 30,
            master_key: SecretString::default(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: SecretString::default(),
            s3_allow_http: false,
        }
    }
}

impl BlobsConfig {
    /// The S3 settings for `workvault_blobs::open_location`.
    pub fn s3(&self) -> S3Settings {
        S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.0.clone(),
            allow_http: self.s3_allow_http,
        }
    }

    /// Every problem with the section.
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        // 5 GiB: the largest object S3 copies in one request (an upload is renamed).
        if !(1..=5 * 1024).contains(&self.max_upload_mib) {
            problems.push("blobs.max_upload_mib: must be between 1 and 5120".into());
        }
        if !(1..=1024).contains(&self.max_concurrent_uploads) {
            problems.push("blobs.max_concurrent_uploads: must be between 1 and 1024".into());
        }
        if !(1..=self.max_concurrent_uploads.max(1)).contains(&self.max_concurrent_public_uploads) {
            problems
                .push("blobs.max_concurrent_public_uploads: must be between 1 and blobs.max_concurrent_uploads".into());
        }
        if !(1..=3600).contains(&self.upload_idle_timeout_secs) {
            problems.push("blobs.upload_idle_timeout_secs: must be between 1 and 3600".into());
        }
        for (key, url) in [("blobs.url", &self.url), ("blobs.keyring_url", &self.keyring_url)] {
            let u = url.trim();
            let known =
                u.is_empty() || ["file://", "s3://", "gs://", "az://", "memory://"].iter().any(|s| u.starts_with(s));
            if !known {
                problems.push(format!(
                    "{key}: `{u}` must be empty, file://PATH, s3://BUCKET, gs://BUCKET or az://CONTAINER"
                ));
            }
        }
        if !self.url.trim().is_empty() && self.url.trim() == self.keyring_url.trim() {
            problems.push("blobs.keyring_url: must not be the photos' own location (keys are kept apart)".into());
        }
        if !self.master_key.0.is_empty() && crate::system::decode_master_key(&self.master_key.0).is_none() {
            problems.push("blobs.master_key: must be the base64 of 32 bytes".into());
        }
        if !self.s3_endpoint.is_empty() && url::Url::parse(&self.s3_endpoint).is_err() {
            problems.push(format!("blobs.s3_endpoint: `{}` is not a URL", self.s3_endpoint));
        }
    }
}
