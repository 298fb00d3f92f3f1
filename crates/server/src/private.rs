//! Keeping the data directory private to the server's user.
//!
//! Where Workvault's own code makes a file or folder (the database, the view journal,
//! blobs and their folders, staging files, the master key) it gives the mode itself:
//! 0600 files, 0700 folders. Libraries make some too: `object_store` writes the keyring's
//! key files and tombstones with the process's umask. So the binary sets its umask to
//! 0077 first thing, and whatever any library makes is private too. A data directory
//! that already lets its group or others in is left as it is, with a warning at start.

use std::path::Path;

use anyhow::Context as _;

/// The umask the process runs with: nothing for group or others.
pub const UMASK: u32 = 0o077;

/// Sets the process's umask to [`UMASK`]; returns the one it replaced.
#[cfg(unix)]
pub fn restrict_umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
    old.as_raw_mode()
}

/// Whether a file mode lets the group or others in (read, write or search).
pub fn open_to_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Warns (once, at start) when the data directory lets its group or others in: a
/// directory made by an older version, or by hand.
#[cfg(unix)]
pub fn warn_if_open(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(dir) else { return };
    let mode = meta.permissions().mode() & 0o777;
    if open_to_others(mode) {
        tracing::warn!(
            path = %dir.display(),
            mode = format_args!("{mode:o}"),
            "the data directory is open to its group or others; run chmod 700 on it (files made from now on are 0600)"
        );
    }
}

/// Makes the data directory (0700) if it is not there.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating the data directory {}", dir.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_mode_open_to_the_group_or_others_is_told_apart() {
        for private in [0o700, 0o600, 0o500, 0o400, 0o000] {
            assert!(!open_to_others(private), "{private:o}");
        }
        for open in [0o755, 0o750, 0o711, 0o705, 0o740, 0o704, 0o770, 0o701, 0o720, 0o644] {
            assert!(open_to_others(open), "{open:o}");
        }
    }

    /// With the umask set, files and folders made with the library defaults (0666,
    /// 0777: what `object_store` asks for) come out 0600 and 0700.
    #[test]
    fn with_the_umask_set_files_made_with_default_modes_are_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = restrict_umask();
        let folder = dir.path().join("keys");
        let made = std::fs::create_dir(&folder).and_then(|()| std::fs::write(folder.join("a.key"), b"k"));
        let back = rustix::process::umask(rustix::fs::Mode::from_raw_mode(old));
        made.expect("made");
        assert_eq!(back.as_raw_mode(), UMASK);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join("a.key")), 0o600);
    }
}
