//! Deterministic [`Clock`] and [`Rng`] for tests (of this crate, of adapters and of
//! integrators): a clock that moves only when told, a counter-based byte source.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use sha2::{Digest, Sha256};

use crate::ports::{Clock, Rng};

/// A clock fixed at an instant until advanced.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Default for FixedClock {
    /// 2026-01-01T00:00:00Z.
    fn default() -> Self {
        Self::at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Distinct, reproducible bytes: SHA-256 of a counter. Not secret; tests only.
#[derive(Debug, Default)]
pub struct SeqRng(AtomicU64);

impl SeqRng {
    /// A source whose counter starts at `n`, so its bytes differ from a default one's.
    pub fn starting_at(n: u64) -> Self {
        Self(AtomicU64::new(n))
    }
}

impl Rng for SeqRng {
    fn fill(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            let block = Sha256::digest(n.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

/// Plaintext blobs in memory, for tests of the use cases over a store (the encrypted
/// adapter, `workvault-blobs`, runs its own contract on real storage).
#[derive(Debug, Default)]
pub struct MemoryBlobs(Mutex<std::collections::HashMap<crate::blob::BlobKey, bytes::Bytes>>);

impl MemoryBlobs {
    /// How many blobs it holds.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl crate::blob::BlobStore for MemoryBlobs {
    async fn put(
        &self,
        key: &crate::blob::BlobKey,
        mut body: crate::blob::ByteStream,
        limit: u64,
    ) -> Result<crate::blob::Written, crate::blob::BlobError> {
        use futures_util::StreamExt;
        let mut all = Vec::new();
        while let Some(piece) = body.next().await {
            all.extend_from_slice(&piece?);
            if all.len() as u64 > limit {
                return Err(crate::blob::BlobError::TooLarge { limit });
            }
        }
        let written = crate::blob::Written { size: all.len() as u64, sha256: Sha256::digest(&all).into() };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), all.into());
        Ok(written)
    }

    async fn get(
        &self,
        key: &crate::blob::BlobKey,
        _size: u64,
        range: std::ops::Range<u64>,
    ) -> Result<crate::blob::ByteStream, crate::blob::BlobError> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
        let all = all.ok_or(crate::blob::BlobError::NotFound)?;
        if range.end > all.len() as u64 || range.start > range.end {
            return Err(crate::blob::BlobError::BadRange);
        }
        let part = all.slice(range.start as usize..range.end as usize);
        Ok(Box::pin(futures_util::stream::iter([Ok(part)])))
    }

    async fn delete(&self, key: &crate::blob::BlobKey) -> Result<(), crate::blob::BlobError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        Ok(())
    }

    /// Writes here complete at once: nothing is ever left unfinished.
    async fn sweep_unfinished(&self, _before: DateTime<Utc>) -> Result<u64, crate::blob::BlobError> {
        Ok(0)
    }
}
