//! The issuer's signing keys (JWKS), cached in memory. Keys are public material, not
//! permissions: caching them is safe. A token naming a key id we do not hold triggers
//! one refetch, at most once per `refetch_interval`, so a key rotation at the issuer
//! works without a restart and a flood of made-up key ids cannot turn us into a
//! JWKS-fetching amplifier. Keys older than `max_age` are refetched on next use, so a
//! key the issuer withdrew stops being accepted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use openidconnect::core::CoreJsonWebKeySet;
use tokio::sync::{Mutex, RwLock};

use crate::http::{HttpError, IssuerClient};

/// One fetched key set, in the two shapes the verifiers need.
pub(crate) struct KeySet {
    /// For ID tokens (`openidconnect`).
    pub oidc: CoreJsonWebKeySet,
    /// For access tokens (`jsonwebtoken`): signing keys by key id. Symmetric (`oct`)
    /// keys and keys marked for encryption are never taken.
    pub by_kid: HashMap<String, DecodingKey>,
    /// When it was fetched.
    pub fetched_at: Instant,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("kids", &self.by_kid.keys().collect::<Vec<_>>()).finish()
    }
}

/// Why a key set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The JWKS endpoint failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The JWKS document is not a key set.
    #[error("the issuer's JWKS is not valid: {0}")]
    Invalid(String),
}

impl KeySet {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, JwksError> {
        let oidc: CoreJsonWebKeySet = serde_json::from_slice(body).map_err(|e| JwksError::Invalid(e.to_string()))?;
        let set: JwkSet = serde_json::from_slice(body).map_err(|e| JwksError::Invalid(e.to_string()))?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let asymmetric = !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_));
            let signing = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
            let (Some(kid), true, true) = (&jwk.common.key_id, asymmetric, signing) else { continue };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                by_kid.insert(kid.clone(), key);
            }
        }
        Ok(Self { oidc, by_kid, fetched_at: Instant::now() })
    }
}

/// The cache. Cheap to share behind an `Arc`.
pub(crate) struct Jwks {
    url: String,
    client: IssuerClient,
    current: RwLock<Arc<KeySet>>,
    refetch: Mutex<Option<Instant>>,
    refetch_interval: Duration,
    max_age: Duration,
    fetches: AtomicU64,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Jwks {
    /// Fetches the key set once; fails if the issuer's JWKS cannot be had.
    pub(crate) async fn fetch(
        url: String,
        client: IssuerClient,
        refetch_interval: Duration,
        max_age: Duration,
    ) -> Result<Self, JwksError> {
        let set = KeySet::parse(&client.get_bytes(&url).await?)?;
        Ok(Self {
            url,
            client,
            current: RwLock::new(Arc::new(set)),
            // The first unknown key id always refetches; the next ones wait out the interval.
            refetch: Mutex::new(None),
            refetch_interval,
            max_age,
            fetches: AtomicU64::new(1),
        })
    }

    /// How many times the JWKS was fetched (for tests and metrics).
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The current key set. Once it is older than `max_age`, one caller refreshes it
    /// while the others go on with the old set (nobody queues behind a slow issuer);
    /// a failed refresh keeps the old set and is logged.
    pub(crate) async fn current(&self) -> Arc<KeySet> {
        let set = self.current.read().await.clone();
        if set.fetched_at.elapsed() < self.max_age {
            return set;
        }
        let Ok(mut last) = self.refetch.try_lock() else { return set };
        *last = Some(Instant::now());
        self.fetch_now().await.unwrap_or(set)
    }

    /// A key set newer than `seen`, for a token naming a key `seen` lacks: the set
    /// another caller fetched meanwhile if there is one, else a fetch of our own if the
    /// last one is at least `refetch_interval` old. `None` when rate-limited or the
    /// fetch failed (the old set stays).
    pub(crate) async fn refetch(&self, seen: &Arc<KeySet>) -> Option<Arc<KeySet>> {
        let mut last = self.refetch.lock().await;
        let now = self.current.read().await.clone();
        if !Arc::ptr_eq(&now, seen) {
            return Some(now);
        }
        if last.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return None;
        }
        *last = Some(Instant::now());
        self.fetch_now().await
    }

    async fn fetch_now(&self) -> Option<Arc<KeySet>> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // A pooled connection the issuer closed (a restart, a load balancer) fails the
        // first try at once; one more try on a fresh connection.
        let body = match self.client.get_bytes(&self.url).await {
            Ok(body) => Ok(body),
            Err(_) => self.client.get_bytes(&self.url).await,
        };
        let fetched = match body {
            Ok(body) => KeySet::parse(&body),
            Err(e) => Err(e.into()),
        };
        match fetched {
            Ok(set) => {
                let set = Arc::new(set);
                *self.current.write().await = set.clone();
                tracing::info!(kids = ?set.by_kid.keys().collect::<Vec<_>>(), "fetched the issuer's signing keys");
                Some(set)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch the issuer's signing keys; keeping the old ones");
                None
            }
        }
    }
}
