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
