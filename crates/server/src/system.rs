//! The production clock and random source, and the master key file.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SubsecRound, Utc};
use workvault_domain::ports::{Clock, Offload, Rng};
use zeroize::Zeroizing;

/// The system clock, at microsecond precision (what the stores keep).
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Default)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&self, dest: &mut [u8]) {
        // The OS random source failing is not something to continue past.
        if let Err(e) = getrandom::fill(dest) {
            panic!("the operating system's random source failed: {e}");
        }
    }
}

/// Offloaded work (argon2id password hashing) on tokio's blocking threads, so a
/// password check holds up no request served by the same worker.
#[derive(Debug, Default)]
pub struct BlockingPool;

#[async_trait::async_trait]
impl Offload for BlockingPool {
    async fn run(&self, work: Box<dyn FnOnce() + Send>) {
        // A panic in `work` drops its answer: the caller sees the work as not done.
        let _ = tokio::task::spawn_blocking(work).await;
    }
}

/// Length of the master key.
pub const MASTER_KEY_BYTES: usize = 32;

/// A master key given as base64 (configuration or environment), if it is 32 bytes.
pub fn decode_master_key(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let key = Zeroizing::new(STANDARD.decode(text.trim()).ok()?);
    (key.len() == MASTER_KEY_BYTES).then_some(key)
}

/// Loads the master key (the key-encryption key that wraps per-workspace data keys),
/// generating it with mode 0600 on first start. Returns whether it was created.
pub fn master_key(path: &Path, rng: &dyn Rng) -> anyhow::Result<(Zeroizing<Vec<u8>>, bool)> {
    if path.exists() {
        check_mode(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        let key = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| anyhow::anyhow!("{} is not a base64 master key", path.display()))?,
        );
        anyhow::ensure!(key.len() == MASTER_KEY_BYTES, "{} must hold {MASTER_KEY_BYTES} bytes", path.display());
        return Ok((key, false));
    }
    let mut key = Zeroizing::new(vec![0u8; MASTER_KEY_BYTES]);
    rng.fill(&mut key);
    let encoded = Zeroizing::new(STANDARD.encode(&*key));
    write_private(path, encoded.as_bytes())?;
    Ok((key, true))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

#[cfg(unix)]
fn check_mode(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    anyhow::ensure!(mode & 0o077 == 0, "{} is readable by others (mode {mode:o}); run chmod 600 on it", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_key_is_generated_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("master.key");
        let (k1, created) = master_key(&path, &OsRng).expect("generate");
        assert!(created);
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        let (k2, created) = master_key(&path, &OsRng).expect("load");
        assert!(!created);
        assert_eq!(*k1, *k2);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(master_key(&path, &OsRng).is_err(), "a world-readable key is refused");
    }

    #[test]
    fn the_clock_has_microsecond_precision() {
        let t = SystemClock.now();
        assert_eq!(t.timestamp_subsec_nanos() % 1000, 0);
    }
}
