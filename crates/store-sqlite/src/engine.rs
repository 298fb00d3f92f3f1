//! The threads that own SQLite's connections.
//!
//! SQLite does its work on the calling thread, so every statement has to leave the
//! async runtime. Handing each one to tokio's blocking pool made the pool grow to one
//! thread per concurrent request, each waking and sleeping per statement: on two cores
//! the scheduler's own work outweighed SQLite's (`bench/share-view`). Here a few
//! long-lived threads, each holding one connection, take statements from one queue: a
//! busy thread takes the next without sleeping, and a request costs two wakes (there and
//! back) at most.
//!
//! Writes go to one writer thread with its own connection: SQLite admits one writer at
//! a time, so writes queued here never wait in SQLite's busy handler (which sleeps in
//! steps up to 100 ms) for each other. The writer also moves share link views from the
//! journal into the database (see `journal`): within `FLUSH_EVERY` of the first (at once
//! when `WRITE_AT` are waiting), before any other write, and when a read asks for it.
//!
//! A private in-memory database has one connection, so one thread does everything.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use diesel::sqlite::SqliteConnection;
use workvault_domain::ports::{StoreError, StoreResult};

use crate::journal::{FLUSH_EVERY, Journal, Notice, Sealed};
use crate::share::write_journalled;

/// A unit of work for a connection's thread.
pub(crate) type Job = Box<dyn FnOnce(&mut SqliteConnection) + Send>;

/// What the writer thread is given.
pub(crate) enum Work {
    /// A write (the journal is written first).
    Job(Job),
    /// The journal has news ([`Notice::First`] or [`Notice::Full`]).
    Journalled(Notice),
    /// Write the journal now, then say whether every view in it is in the database.
    Settle(Box<dyn FnOnce(StoreResult<()>) + Send>),
}

/// How long the writer waits before trying again when the database refused the journal.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Makes a connection for a thread (set by the store: open and configure).
pub(crate) type Connect = Arc<dyn Fn() -> Result<SqliteConnection, StoreError> + Send + Sync>;

/// The queues to the connection threads. Threads end when the last handle is dropped.
pub(crate) struct Engine {
    /// `None`: reads go to the writer (one connection).
    reads: Option<Sender<Job>>,
    writes: Sender<Work>,
    threads: usize,
    /// The view journal of a database file (none for an in-memory database).
    journal: Option<Arc<Journal>>,
    /// Joined on drop, so a dropped store has written its journal and closed.
    writer: Option<thread::JoinHandle<()>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop, which writes the journal first.
        drop(std::mem::replace(&mut self.writes, mpsc::channel().0));
        if let Some(writer) = self.writer.take()
            && writer.thread().id() != thread::current().id()
        {
            let _ = writer.join();
        }
    }
}

impl Engine {
    /// `readers` threads for reads plus one writer; with `readers == 0`, the writer's
    /// connection serves reads too (an in-memory database).
    pub(crate) fn start(connect: Connect, readers: usize, journal: Option<Arc<Journal>>) -> Result<Self, StoreError> {
        let (writes, write_queue) = mpsc::channel::<Work>();
        let writer = connect()?;
        let writer = spawn("sqlite-writer", {
            let connect = connect.clone();
            let flusher = journal.clone().map(|journal| Flusher { journal, forget: Vec::new(), refused: None });
            move || write_loop(writer, connect, write_queue, flusher)
        })?;
        let writer = Some(writer);
        if readers == 0 {
            return Ok(Self { reads: None, writes, threads: 1, journal, writer });
        }
        let (reads, read_queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(read_queue));
        for n in 0..readers {
            let conn = connect()?;
            let (connect, queue) = (connect.clone(), queue.clone());
            spawn(&format!("sqlite-read-{n}"), move || read_loop(conn, connect, &queue))?;
        }
        Ok(Self { reads: Some(reads), writes, threads: readers + 1, journal, writer })
    }

    /// How many threads hold a connection.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    pub(crate) fn read(&self, job: Job) -> Result<(), StoreError> {
        match &self.reads {
            Some(reads) => reads.send(job).map_err(|_| stopped()),
            None => self.write(job),
        }
    }

    pub(crate) fn write(&self, job: Job) -> Result<(), StoreError> {
        self.writes.send(Work::Job(job)).map_err(|_| stopped())
    }

    /// The view journal, if the database is a file.
    pub(crate) fn journal(&self) -> Option<&Journal> {
        self.journal.as_deref()
    }

    /// Tells the writer what an append to the journal made of it.
    pub(crate) fn journalled(&self, notice: Notice) {
        if notice != Notice::None {
            // A stopped writer is seen by the next write; the views wait in the journal.
            let _ = self.writes.send(Work::Journalled(notice));
        }
    }

    /// Asks the writer to write the journal now; `done` hears whether it did.
    pub(crate) fn settle(&self, done: Box<dyn FnOnce(StoreResult<()>) + Send>) -> Result<(), StoreError> {
        self.writes.send(Work::Settle(done)).map_err(|_| stopped())
    }
}

pub(crate) fn stopped() -> StoreError {
    StoreError::Unavailable("the database's threads have stopped".into())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<thread::JoinHandle<()>, StoreError> {
    thread::Builder::new().name(name.to_owned()).spawn(f).map_err(|e| StoreError::Unavailable(Box::new(e)))
}

/// Runs one job. A job that panics leaves its connection in an unknown state (perhaps
/// inside a transaction), so the connection is replaced; the job's caller sees its
/// reply dropped.
fn run_job(conn: &mut SqliteConnection, connect: &Connect, job: Job) {
    if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
        tracing::error!("a database job panicked; its connection is replaced");
        match connect() {
            Ok(fresh) => *conn = fresh,
            Err(e) => tracing::error!(error = %e, "a database connection could not be reopened"),
        }
    }
}

fn read_loop(mut conn: SqliteConnection, connect: Connect, queue: &Mutex<Receiver<Job>>) {
    loop {
        // One thread waits on the queue; the others wait for the lock, then their turn.
        let next = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => run_job(&mut conn, &connect, job),
            Err(_) => return,
        }
    }
}

fn write_loop(mut conn: SqliteConnection, connect: Connect, queue: Receiver<Work>, mut flusher: Option<Flusher>) {
    // When the journal is next to be written, if it has views.
    let mut due: Option<Instant> = None;
    loop {
        let next = match due {
            None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => queue.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        let work = match next {
            Ok(work) => work,
            Err(RecvTimeoutError::Timeout) => {
                due = flush(&mut conn, &connect, flusher.as_mut()).1;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Views the database refuses now stay in their files, written when it
                // is next opened (the failure is logged).
                let _ = flush(&mut conn, &connect, flusher.as_mut());
                return;
            }
        };
        match work {
            Work::Job(job) => {
                // Views appended before this write was asked for come first in the
                // audit chain, whether or not their notice has come round yet.
                if flusher.as_ref().is_some_and(|f| f.journal.unwritten() > 0) {
                    due = flush(&mut conn, &connect, flusher.as_mut()).1;
                }
                run_job(&mut conn, &connect, job);
            }
            Work::Journalled(Notice::Full) => {
                due = flush(&mut conn, &connect, flusher.as_mut()).1;
            }
            Work::Journalled(_) => {
                due.get_or_insert_with(|| Instant::now() + FLUSH_EVERY);
            }
            Work::Settle(done) => {
                let (written, next) = flush(&mut conn, &connect, flusher.as_mut());
                due = next;
                done(written);
            }
        }
    }
}

/// Writes the views journalled so far. Returns whether they are all in the database
/// (views appended meanwhile are not waited for), and when to write the journal next
/// (`None`: it is empty).
fn flush(
    conn: &mut SqliteConnection,
    connect: &Connect,
    flusher: Option<&mut Flusher>,
) -> (StoreResult<()>, Option<Instant>) {
    let Some(flusher) = flusher else { return (Ok(()), None) };
    match flusher.flush(conn, connect) {
        Ok(()) => (Ok(()), (flusher.journal.unwritten() > 0).then(|| Instant::now() + FLUSH_EVERY)),
        Err(e) => {
            tracing::error!(error = %e, "share link views could not be moved from the journal to the database");
            (Err(e), Some(Instant::now() + RETRY_AFTER))
        }
    }
}

/// Moves views from the journal into the database, on the writer's connection.
struct Flusher {
    journal: Arc<Journal>,
    /// Segments written and deleted, forgotten in `view_journal` with the next write.
    forget: Vec<String>,
    /// A segment the database refused, written before any newer one.
    refused: Option<Sealed>,
}

impl Flusher {
    /// Writes the views appended so far (not those appended meanwhile, so a busy
    /// journal never holds up the writes queued behind it).
    fn flush(&mut self, conn: &mut SqliteConnection, connect: &Connect) -> Result<(), StoreError> {
        if let Some(sealed) = self.refused.take() {
            self.write(conn, connect, sealed)?;
        }
        match self.journal.seal().map_err(|e| StoreError::Unavailable(Box::new(e)))? {
            Some(sealed) => self.write(conn, connect, sealed),
            None => Ok(()),
        }
    }

    /// Writes a sealed segment, or keeps it to try again (a panic included: the
    /// connection is replaced, the segment kept).
    fn write(&mut self, conn: &mut SqliteConnection, connect: &Connect, sealed: Sealed) -> Result<(), StoreError> {
        let forget = &self.forget;
        let written =
            match catch_unwind(AssertUnwindSafe(|| write_journalled(conn, &sealed.name, &sealed.entries, forget))) {
                Ok(written) => written.map_err(StoreError::from),
                Err(_) => {
                    tracing::error!("writing the share link views journal panicked; its connection is replaced");
                    if let Ok(fresh) = connect() {
                        *conn = fresh;
                    }
                    Err(StoreError::Unavailable("writing the share link views journal panicked".into()))
                }
            };
        if let Err(e) = written {
            self.refused = Some(sealed);
            return Err(e);
        }
        self.forget.clear();
        let name = sealed.name.clone();
        match self.journal.written(sealed) {
            Ok(()) => self.forget.push(name),
            // Still named in `view_journal`, so never written twice.
            Err(e) => tracing::warn!(segment = %name, error = %e, "a written journal segment could not be deleted"),
        }
        Ok(())
    }
}
