//! [`ObjectKeyring`]: the `Keyring` port over an object store of its own (by default
//! `<data_dir>/keyring`, or a bucket apart from the photos and the database), so it is
//! backed up apart and on a short retention: destroying a workspace's key reaches every
//! old backup of the database and the blobs.
//!
//! ```text
//! keys/<workspace>.key        "WVK1" ‖ nonce (12) ‖ AES-256-GCM(master, nonce, aad, data key) (48)
//! keys/<workspace>.destroyed  a tombstone: the key is gone for good and never remade
//! aad = "workvault data key v1" ‖ workspace id
//! ```
//!
//! A first use creates the key with a conditional put, so concurrent first uses on any
//! number of nodes agree on one key; reads never create one. Keys are not cached, and
//! the tombstone is checked on every use: a destroyed key stops working on every node
//! at once and is never remade. Rotation (`rewrap_all`) is run with the servers
//! stopped (`workvault keys rotate-master`).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use workvault_domain::blob::{BlobError, DataKey, Keyring};
use workvault_domain::id::WorkspaceId;
use workvault_domain::ports::Rng;
use zeroize::Zeroizing;

use crate::store::map_err;

const MAGIC: &[u8; 4] = b"WVK1";
const AAD: &[u8] = b"workvault data key v1";
const WRAPPED_LEN: usize = 4 + 12 + 32 + 16;

/// The key-encryption key (from `master.key` or the environment). Never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// From a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self::from_bytes)
    }

    fn cipher(&self) -> LessSafeKey {
        // A 32-byte key is what AES-256-GCM takes: this cannot fail.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.0.as_ref()).unwrap_or_else(|_| unreachable!()))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Data keys wrapped by the master key, kept in their own object store.
pub struct ObjectKeyring {
    store: Arc<dyn ObjectStore>,
    master: MasterKey,
    rng: Arc<dyn Rng>,
}

impl std::fmt::Debug for ObjectKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectKeyring({})", self.store)
    }
}

fn key_path(ws: WorkspaceId) -> Path {
    Path::from(format!("keys/{ws}.key"))
}

fn tombstone_path(ws: WorkspaceId) -> Path {
    Path::from(format!("keys/{ws}.destroyed"))
}

fn aad(ws: WorkspaceId) -> Vec<u8> {
    [AAD, ws.as_uuid().as_bytes()].concat()
}

impl ObjectKeyring {
    /// A keyring in `store`, wrapping with `master`.
    pub fn new(store: Arc<dyn ObjectStore>, master: MasterKey, rng: Arc<dyn Rng>) -> Self {
        Self { store, master, rng }
    }

    fn wrap(&self, master: &MasterKey, ws: WorkspaceId, key: &DataKey) -> Result<Vec<u8>, BlobError> {
        let mut nonce = [0u8; 12];
        self.rng.fill(&mut nonce);
        let mut sealed = Zeroizing::new(key.expose().to_vec());
        master
            .cipher()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(ws)), &mut *sealed)
            .map_err(|_| BlobError::Corrupt("could not wrap a data key".into()))?;
        Ok([MAGIC.as_slice(), &nonce, &sealed].concat())
    }

    fn unwrap(master: &MasterKey, ws: WorkspaceId, wrapped: &[u8]) -> Result<DataKey, BlobError> {
        if wrapped.len() != WRAPPED_LEN || &wrapped[..4] != MAGIC {
            return Err(BlobError::Corrupt(format!("the data key of workspace {ws} is not a wrapped key")));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&wrapped[4..16]);
        let mut plain = Zeroizing::new(wrapped[16..].to_vec());
        let len = master
            .cipher()
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad(ws)), &mut plain)
            .map_err(|_| {
                BlobError::Corrupt(format!("the data key of workspace {ws} does not open with this master key"))
            })?
            .len();
        plain.truncate(len);
        let bytes = <[u8; 32]>::try_from(plain.as_slice())
            .map_err(|_| BlobError::Corrupt("a data key is not 32 bytes".into()))?;
        Ok(DataKey::from_bytes(bytes))
    }

    async fn read(&self, ws: WorkspaceId) -> Result<Option<DataKey>, BlobError> {
        match self.store.get(&key_path(ws)).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(map_err)?;
                Self::unwrap(&self.master, ws, &bytes).map(Some)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn destroyed(&self, ws: WorkspaceId) -> Result<bool, BlobError> {
        match self.store.head(&tombstone_path(ws)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Wraps every data key again with `new` (master key rotation). The blobs are not
    /// touched: their keys do not change. Returns how many keys were rewrapped. Run it
    /// with the old master key configured, then switch to the new one. Resumable: a key
    /// already wrapped with `new` (a run cut off halfway) is left as it is.
    pub async fn rewrap_all(&self, new: &MasterKey) -> Result<u64, BlobError> {
        let listed: Vec<_> = self.store.list(Some(&Path::from("keys"))).try_collect().await.map_err(map_err)?;
        let mut n = 0;
        for meta in listed {
            let Some(ws) = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".key"))
                .and_then(|id| id.parse::<WorkspaceId>().ok())
            else {
                continue;
            };
            if self.destroyed(ws).await? {
                continue;
            }
            let bytes = match self.store.get(&meta.location).await {
                Ok(got) => got.bytes().await.map_err(map_err)?,
                Err(object_store::Error::NotFound { .. }) => continue, // destroyed meanwhile
                Err(e) => return Err(map_err(e)),
            };
            let key = match Self::unwrap(&self.master, ws, &bytes) {
                Ok(key) => key,
                Err(e) => match Self::unwrap(new, ws, &bytes) {
                    Ok(_) => continue,
                    Err(_) => return Err(e),
                },
            };
            let wrapped = self.wrap(new, ws, &key)?;
            self.store.put(&meta.location, PutPayload::from(wrapped)).await.map_err(map_err)?;
            n += 1;
        }
        Ok(n)
    }
}

#[async_trait]
impl Keyring for ObjectKeyring {
    async fn data_key(&self, ws: WorkspaceId) -> Result<DataKey, BlobError> {
        // The tombstone is checked on every use: once a key is destroyed, nothing
        // (a request racing the destruction included) brings a key back.
        if self.destroyed(ws).await? {
            return Err(BlobError::KeyDestroyed);
        }
        if let Some(key) = self.read(ws).await? {
            return Ok(key);
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        self.rng.fill(bytes.as_mut());
        let key = DataKey::from_bytes(*bytes);
        let wrapped = self.wrap(&self.master, ws, &key)?;
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        let key = match self.store.put_opts(&key_path(ws), PutPayload::from(wrapped), options).await {
            Ok(_) => key,
            // Another node (or task) created it first: use theirs.
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                self.read(ws).await?.ok_or(BlobError::KeyDestroyed)?
            }
            Err(e) => return Err(map_err(e)),
        };
        // Destroyed while we were making it: take the new key away again.
        if self.destroyed(ws).await? {
            let _ = self.store.delete(&key_path(ws)).await;
            return Err(BlobError::KeyDestroyed);
        }
        Ok(key)
    }

    async fn existing_key(&self, ws: WorkspaceId) -> Result<DataKey, BlobError> {
        if self.destroyed(ws).await? {
            return Err(BlobError::KeyDestroyed);
        }
        self.read(ws).await?.ok_or_else(|| {
            BlobError::Corrupt(format!("the keyring holds no key for workspace {ws} (is blobs.keyring_url right?)"))
        })
    }

    async fn destroy(&self, ws: WorkspaceId) -> Result<(), BlobError> {
        // The tombstone first: from then on every use is refused and no key is made;
        // then the key itself.
        self.store.put(&tombstone_path(ws), PutPayload::from_static(b"destroyed")).await.map_err(map_err)?;
        match self.store.delete(&key_path(ws)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }
}
