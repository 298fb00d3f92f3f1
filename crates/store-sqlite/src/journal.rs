//! The view journal: share link views written ahead to a file, then to the database in
//! batches.
//!
//! A view is stored before its page is sent. Committing it to SQLite first, even with
//! the views queued beside it, made recording cost as much as the page itself
//! (`bench/share-view`: 0.53). Every commit writes its pages to the WAL and empties the
//! page cache of every reading connection, and a page had to wait for the writer thread.
//!
//! Here the reading thread that served the page appends its view to the journal, a file
//! beside the database (`<database>-views/`), and answers at once. That is one `write` to
//! the operating system, which keeps it as a commit under `synchronous = NORMAL` is kept:
//! it survives the process, not the machine. The writer thread moves the journal into
//! the database within [`FLUSH_EVERY`] (at once when [`WRITE_AT`] views wait), and
//! before any other write (so the audit chain keeps the order things happened in),
//! thousands of views to a transaction.
//!
//! Reads of views and of the audit log first ask the writer to empty the journal
//! ([`crate::SqliteStore`]'s `settle`), so a view is listed as soon as its page is sent.
//!
//! The journal is a sequence of segment files, `<uuid v7>.views`, each a JSON object per
//! line. The process that writes a segment holds an exclusive lock on it, taken before
//! the file has that name (it is made as `<uuid v7>.views-making`). The writer
//! seals the open segment (starts a new one), writes the sealed one's views, records
//! the segment's name in `view_journal` in the same transaction, then deletes the file.
//! A segment left by a process that stopped is written when the database is next
//! opened. Its name in `view_journal` means it was written already (the process stopped
//! between the commit and the delete), so no view is written twice.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use workvault_domain::audit::{AuditActor, AuditDraft};
use workvault_domain::ports::StoreError;
use workvault_domain::share::ShareView;

use crate::rows::{corrupt, id, micros, time};
use crate::share::ViewRow;

/// A view with its audit event.
pub(crate) type Entry = (ShareView, AuditDraft);

/// How long a view waits in the journal at most, unless the database refuses it. Reads
/// of views and of the audit log, and every other write, write the journal first, so
/// this bounds only how much a stopped process leaves to the next. Long, because each
/// transaction has a cost of its own (its commit, the pages it writes again, the
/// checkpoints they bring on): `bench/share-view` measured 0.80 at 50 ms, 0.85 at 1 s.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Views waiting in the journal past which the writer writes them at once: it bounds
/// how long one transaction of views holds the write lock (a write queued behind it
/// waits for it), about 100 ms on the 2-core bench machine.
pub(crate) const WRITE_AT: usize = 10_000;

/// The most views held in the journal and not yet in the database. Past it (the
/// database has refused writes for a while), new views are refused, and so are their
/// pages, until it takes them again.
const MAX_UNWRITTEN: usize = 50_000;

/// The file name ending of a segment.
const SEGMENT: &str = "views";

/// Added to a segment's name while it is made (before this process holds its lock).
const MAKING: &str = "-making";

/// How old a segment still being made must be to count as left by a process that
/// stopped while making it. It is empty: nothing is appended before it is named.
const MAKING_GIVEN_UP: Duration = Duration::from_secs(60);

/// What an append tells the writer thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Nothing: it has been told already.
    None,
    /// The journal was empty: write it within [`FLUSH_EVERY`].
    First,
    /// The journal holds [`WRITE_AT`] views: write it now.
    Full,
}

/// The journal of one database file.
pub(crate) struct Journal {
    dir: PathBuf,
    open: Mutex<Segment>,
    /// Views appended and not yet in the database (open and sealed segments).
    unwritten: AtomicUsize,
}

/// The segment views are appended to.
struct Segment {
    name: String,
    file: File,
    /// Its length after the last whole record.
    len: u64,
    /// Whether a record cut short may follow that length.
    torn: bool,
    entries: Vec<Entry>,
}

/// A segment no longer appended to, whose views are to be written to the database.
pub(crate) struct Sealed {
    pub(crate) name: String,
    path: PathBuf,
    /// Held open, so this process keeps its lock until the file is deleted.
    _file: File,
    pub(crate) entries: Vec<Entry>,
}

impl Journal {
    /// Opens the journal of the database file `db`, creating its folder if needed.
    /// Also returns the segments left by processes that have stopped (locked now by
    /// this one), oldest first, to be written before anything else.
    pub(crate) fn open(db: &Path) -> io::Result<(Self, Vec<Sealed>)> {
        let mut dir = db.as_os_str().to_owned();
        dir.push("-views");
        let dir = PathBuf::from(dir);
        crate::files::private_dir(&dir)?;
        // Made (and locked) before the folder is read: every segment named after it
        // was made after the reading (names sort by time). One named before it may be
        // still unnamed (`-making`) at the reading; it is empty, so no `view_journal`
        // row of its can be forgotten too early.
        let open = Segment::create(&dir)?;
        remove_abandoned(&dir);
        let left = left_behind(&dir)?;
        Ok((Self { dir, open: Mutex::new(open), unwritten: AtomicUsize::new(0) }, left))
    }

    /// The names of the segment files there were when this journal opened (every
    /// other process's and its own first one), and the name of that first one.
    pub(crate) fn segment_names(&self) -> io::Result<(Vec<String>, String)> {
        let names = segment_files(&self.dir)?.into_iter().map(|(name, _)| name).collect();
        Ok((names, self.lock().name.clone()))
    }

    /// Appends views, each in one line, with one `write`. Returns what the writer is to
    /// be told, if anything. A failed write leaves no part of a record behind.
    pub(crate) fn append(&self, entries: Vec<Entry>) -> io::Result<Notice> {
        let mut buf = Vec::with_capacity(entries.len() * 512);
        for entry in &entries {
            serde_json::to_writer(&mut buf, &Record::from_entry(entry))?;
            buf.push(b'\n');
        }
        let mut open = self.lock();
        let waiting = self.unwritten.load(Ordering::Acquire);
        if waiting + entries.len() > MAX_UNWRITTEN {
            return Err(io::Error::other(format!(
                "{waiting} share link views are waiting for the database; no more are taken until it writes them"
            )));
        }
        // Counted before the write, in one step: the writer, counting down what it
        // wrote, either sees these or leaves the count at zero for this append to see.
        let before = self.unwritten.fetch_add(entries.len(), Ordering::AcqRel);
        if open.torn {
            // After a record cut short that could not be cut off: a line of its own.
            buf.insert(0, b'\n');
        }
        if let Err(e) = open.file.write_all(&buf) {
            self.unwritten.fetch_sub(entries.len(), Ordering::AcqRel);
            // Cut a partly written record off, so the next starts on a line of its own
            // (or else start the next with a line break).
            open.torn = open.file.set_len(open.len).is_err();
            return Err(e);
        }
        open.len += buf.len() as u64;
        open.torn = false;
        let after = before + entries.len();
        open.entries.extend(entries);
        Ok(if before < WRITE_AT && after >= WRITE_AT {
            Notice::Full
        } else if before == 0 {
            Notice::First
        } else {
            Notice::None
        })
    }

    /// How many views are not yet in the database.
    pub(crate) fn unwritten(&self) -> usize {
        self.unwritten.load(Ordering::Acquire)
    }

    /// Starts a new segment and returns the one appended to so far, unless it is empty.
    pub(crate) fn seal(&self) -> io::Result<Option<Sealed>> {
        let mut open = self.lock();
        if open.entries.is_empty() {
            return Ok(None);
        }
        let next = Segment::create(&self.dir)?;
        let done = std::mem::replace(&mut *open, next);
        let path = self.dir.join(&done.name);
        Ok(Some(Sealed { name: done.name, path, _file: done.file, entries: done.entries }))
    }

    /// Deletes a segment whose views are in the database.
    pub(crate) fn written(&self, sealed: Sealed) -> io::Result<()> {
        self.unwritten.fetch_sub(sealed.entries.len(), Ordering::AcqRel);
        fs::remove_file(&sealed.path)
    }

    fn lock(&self) -> MutexGuard<'_, Segment> {
        // A panic while appending leaves at worst a record cut short on disk (skipped
        // when read back); the segment itself is still usable.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let open = self.lock();
        if open.entries.is_empty() {
            let _ = fs::remove_file(self.dir.join(&open.name));
        }
    }
}

impl Sealed {
    /// Deletes a left-behind segment whose views are in the database.
    pub(crate) fn remove(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}

impl Segment {
    /// Makes a segment, locked before it shows in the folder under a segment's name:
    /// another process opening the database could otherwise lock it first, take it for
    /// a stopped process's segment and delete it, and this one would fail to lock it.
    fn create(dir: &Path) -> io::Result<Self> {
        let name = format!("{}.{SEGMENT}", Uuid::now_v7().simple());
        let making = dir.join(format!("{name}{MAKING}"));
        let file = crate::files::private_file().append(true).create_new(true).open(&making)?;
        let named = file.try_lock().map_err(io::Error::from).and_then(|()| fs::rename(&making, dir.join(&name)));
        if let Err(e) = named {
            let _ = fs::remove_file(&making);
            return Err(e);
        }
        Ok(Self { name, file, len: 0, torn: false, entries: Vec::new() })
    }
}

/// Segment files in `dir`, oldest first.
fn segment_files(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.strip_suffix(SEGMENT).is_some_and(|stem| stem.ends_with('.')) {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Deletes the segments a stopped process left while making them (empty files).
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(MAKING) {
            continue;
        }
        let old = entry.metadata().and_then(|m| m.modified()).map(|at| at.elapsed().unwrap_or_default());
        if !old.is_ok_and(|old| old > MAKING_GIVEN_UP) {
            continue;
        }
        let unlocked = File::open(entry.path()).is_ok_and(|file| file.try_lock().is_ok());
        if unlocked && fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = ?name, "removed a journal segment a stopped process left unmade");
        }
    }
}

/// The segments no live process holds: read back whole. A line that does not read as
/// a view (a record cut short when the machine stopped) is skipped and reported.
fn left_behind(dir: &Path) -> io::Result<Vec<Sealed>> {
    let mut left = Vec::new();
    for (name, path) in segment_files(dir)? {
        let file = match File::open(&path) {
            Ok(file) => file,
            // Written and deleted by its process since the folder was read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => continue,
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        // A live process deletes a segment it wrote before it lets go of its lock: a
        // segment locked here and gone from the folder was written already.
        if !path.exists() {
            continue;
        }
        let (mut entries, mut unreadable) = (Vec::new(), 0usize);
        for line in BufReader::new(&file).split(b'\n') {
            let line = line?;
            let read = serde_json::from_slice::<Record>(&line)
                .map_err(|e| corrupt("journal record", &e.to_string()))
                .and_then(Record::into_entry);
            match read {
                Ok(entry) => entries.push(entry),
                Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
                Err(e) => {
                    unreadable += 1;
                    tracing::warn!(segment = %name, error = %e, "an unreadable share link view in the journal is skipped");
                }
            }
        }
        tracing::info!(segment = %name, views = entries.len(), unreadable, "share link views left in the journal");
        left.push(Sealed { name, path, _file: file, entries });
    }
    Ok(left)
}

/// A view and its audit event as a line of the journal. Its shape is kept: a journal
/// written by one version is read by the next.
#[derive(Serialize, Deserialize)]
struct Record {
    id: String,
    workspace_id: String,
    link_id: String,
    at: i64,
    viewed: String,
    network: String,
    browser: String,
    audit: AuditRecord,
}

#[derive(Serialize, Deserialize)]
struct AuditRecord {
    workspace_id: String,
    at: i64,
    actor: String,
    action: String,
    target_kind: String,
    target_id: String,
    details: serde_json::Value,
    request_id: Option<String>,
}

impl Record {
    fn from_entry((view, audit): &Entry) -> Self {
        let row = ViewRow::from_domain(view);
        Self {
            id: row.id,
            workspace_id: row.workspace_id,
            link_id: row.link_id,
            at: row.at,
            viewed: row.viewed,
            network: row.network,
            browser: row.browser,
            audit: AuditRecord {
                workspace_id: audit.workspace_id.to_string(),
                at: micros(audit.at),
                actor: audit.actor.encode(),
                action: audit.action.clone(),
                target_kind: audit.target_kind.clone(),
                target_id: audit.target_id.clone(),
                details: audit.details.clone(),
                request_id: audit.request_id.map(|r| r.to_string()),
            },
        }
    }

    fn into_entry(self) -> Result<Entry, StoreError> {
        let row = ViewRow {
            id: self.id,
            workspace_id: self.workspace_id,
            link_id: self.link_id,
            at: self.at,
            viewed: self.viewed,
            network: self.network,
            browser: self.browser,
        };
        let view = row.into_domain()?;
        let a = self.audit;
        let audit = AuditDraft {
            workspace_id: id(&a.workspace_id)?,
            at: time(a.at)?,
            actor: AuditActor::decode(&a.actor).ok_or_else(|| corrupt("actor", &a.actor))?,
            action: a.action,
            target_kind: a.target_kind,
            target_id: a.target_id,
            details: a.details,
            request_id: a.request_id.as_deref().map(id).transpose()?,
        };
        Ok((view, audit))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{SubsecRound, Utc};
    use serde_json::json;
    use workvault_domain::id::{ShareLinkId, ShareViewId, WorkspaceId};
    use workvault_domain::share::Viewed;

    use std::fs::OpenOptions;

    use super::*;

    fn entry(ws: WorkspaceId, link: ShareLinkId) -> Entry {
        let at = Utc::now().trunc_subsecs(6);
        let view = ShareView {
            id: ShareViewId::from_uuid(Uuid::now_v7()),
            workspace_id: ws,
            link_id: link,
            at,
            viewed: Viewed::Page,
            network: "203.0.113.0/24".into(),
            browser: "Firefox".into(),
        };
        let audit = AuditDraft {
            workspace_id: ws,
            at,
            actor: AuditActor::Anonymous,
            action: "share_link.viewed".into(),
            target_kind: "share_link".into(),
            target_id: link.to_string(),
            details: json!({"viewed": "page", "network": "203.0.113.0/24", "browser": "Firefox \"quoted\"\n"}),
            request_id: None,
        };
        (view, audit)
    }

    fn segments(dir: &Path) -> Vec<String> {
        segment_files(dir).unwrap().into_iter().map(|(name, _)| name).collect()
    }

    #[test]
    fn views_are_sealed_in_order_and_their_segment_deleted_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let (journal, left) = Journal::open(&db).unwrap();
        assert!(left.is_empty());
        let (ws, link) = (WorkspaceId::from_uuid(Uuid::now_v7()), ShareLinkId::from_uuid(Uuid::now_v7()));
        let (a, b, c) = (entry(ws, link), entry(ws, link), entry(ws, link));
        assert_eq!(journal.append(vec![a.clone()]).unwrap(), Notice::First, "the first view is news to the writer");
        assert_eq!(journal.append(vec![b.clone(), c.clone()]).unwrap(), Notice::None, "told already");
        assert_eq!(journal.unwritten(), 3);

        let sealed = journal.seal().unwrap().unwrap();
        assert_eq!(sealed.entries, vec![a, b, c]);
        let on_disk = fs::read_to_string(db.with_file_name("w.db-views").join(&sealed.name)).unwrap();
        assert_eq!(on_disk.lines().count(), 3, "one line a view");
        assert!(journal.seal().unwrap().is_none(), "nothing new to seal");
        assert_eq!(segments(&dir.path().join("w.db-views")).len(), 2, "the sealed segment and the open one");

        journal.written(sealed).unwrap();
        assert_eq!(journal.unwritten(), 0);
        assert_eq!(journal.append(vec![entry(ws, link)]).unwrap(), Notice::First, "empty again: told again");
        drop(journal);
        assert_eq!(segments(&dir.path().join("w.db-views")).len(), 1, "a segment with a view outlives its process");
    }

    #[test]
    fn a_stopped_process_leaves_its_views_to_the_next_and_a_live_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let (ws, link) = (WorkspaceId::from_uuid(Uuid::now_v7()), ShareLinkId::from_uuid(Uuid::now_v7()));
        let (first, _) = Journal::open(&db).unwrap();
        let views = vec![entry(ws, link), entry(ws, link)];
        first.append(views.clone()).unwrap();

        // While `first` lives, its segment is locked: another opener leaves it alone.
        let (second, left) = Journal::open(&db).unwrap();
        assert!(left.is_empty(), "a live process's segment is not taken");
        drop(second);

        // `first` stops without writing; a record cut short (the machine stopped mid-write)
        // and a blank line follow its two views.
        let path = db.with_file_name("w.db-views").join(&first.lock().name);
        drop(first);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"\n{\"id\":\"0193").unwrap();
        drop(file);

        let (third, left) = Journal::open(&db).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].entries, views, "read back whole, the cut record skipped");
        let sealed = left.into_iter().next().unwrap();
        sealed.remove().unwrap();
        assert!(!path.exists());
        drop(third);
        assert!(segments(&dir.path().join("w.db-views")).is_empty(), "an empty segment goes with its process");
    }

    #[test]
    fn a_segment_being_made_is_never_taken_by_another_opener() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let opener = || {
            for _ in 0..2000 {
                let (journal, left) = Journal::open(&db).unwrap();
                assert!(left.is_empty(), "another opener's new segment was taken for a stopped one");
                drop(journal);
            }
        };
        std::thread::scope(|s| {
            s.spawn(opener);
            s.spawn(opener);
        });
        assert!(segments(&dir.path().join("w.db-views")).is_empty(), "every empty segment went with its opener");
    }

    #[test]
    fn a_segment_left_unmade_is_removed_once_it_is_old() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let views = dir.path().join("w.db-views");
        fs::create_dir_all(&views).unwrap();
        let (old, new) = (views.join(format!("a.{SEGMENT}{MAKING}")), views.join(format!("b.{SEGMENT}{MAKING}")));
        File::create(&old).unwrap().set_modified(std::time::SystemTime::now() - 2 * MAKING_GIVEN_UP).unwrap();
        File::create(&new).unwrap();
        let (journal, left) = Journal::open(&db).unwrap();
        assert!(left.is_empty());
        assert!(!old.exists(), "left unmade long ago: removed");
        assert!(new.exists(), "possibly still being made by a live process: kept");
        drop(journal);
    }

    #[test]
    fn the_writer_is_told_at_once_when_the_journal_fills() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(&dir.path().join("w.db")).unwrap();
        let (ws, link) = (WorkspaceId::from_uuid(Uuid::now_v7()), ShareLinkId::from_uuid(Uuid::now_v7()));
        let many = |n: usize| (0..n).map(|_| entry(ws, link)).collect::<Vec<_>>();
        assert_eq!(journal.append(many(WRITE_AT - 2)).unwrap(), Notice::First);
        assert_eq!(journal.append(many(1)).unwrap(), Notice::None, "one short of full");
        assert_eq!(journal.append(many(2)).unwrap(), Notice::Full, "full: write now");
        assert_eq!(journal.append(many(1)).unwrap(), Notice::None, "told once");
        journal.written(journal.seal().unwrap().unwrap()).unwrap();
        assert_eq!(journal.append(many(WRITE_AT)).unwrap(), Notice::Full, "full from empty: write now, not later");
    }
}
