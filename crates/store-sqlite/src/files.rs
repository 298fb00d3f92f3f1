//! Files and folders private to the server's user: the database file, which SQLite's
//! `-wal` and `-shm` files copy their mode from, and the view journal's folder and
//! segments. Folders are made 0700 and files 0600 whatever the process's umask
//! (elsewhere than on Unix, with the platform's defaults).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of the folders made.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of the files made.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Makes `dir` and any missing parents, each 0700 (a folder already there is left as
/// it is).
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Options that make a file 0600 when they create it.
pub(crate) fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Makes the database file 0600 if it is not there yet, before SQLite opens it: SQLite
/// would make it 0644, and gives its `-wal` and `-shm` files the database file's mode.
pub(crate) fn create_database(path: &Path) -> io::Result<File> {
    private_file().write(true).create(true).truncate(false).open(path)
}
