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
//! steps up to 100 ms) for each other. Share link views queued one after another are
//! written together, many to a transaction (group commit; see `share::record`).
//!
//! A private in-memory database has one connection, so one thread does everything.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use diesel::sqlite::SqliteConnection;
use workvault_domain::ports::StoreError;

use crate::share::{Pending, write_batch};

/// A unit of work for a connection's thread.
pub(crate) type Job = Box<dyn FnOnce(&mut SqliteConnection) + Send>;

/// What the writer thread is given.
pub(crate) enum Work {
    /// A write, run alone.
    Job(Job),
    /// Share link views: those queued one after another are written together.
    Views(Pending),
}

/// The most views written in one transaction.
const VIEW_BATCH: usize = 512;

/// Makes a connection for a thread (set by the store: open and configure).
pub(crate) type Connect = Arc<dyn Fn() -> Result<SqliteConnection, StoreError> + Send + Sync>;

/// The queues to the connection threads. Threads end when the last handle is dropped.
pub(crate) struct Engine {
    /// `None`: reads go to the writer (one connection).
    reads: Option<Sender<Job>>,
    writes: Sender<Work>,
    threads: usize,
}

impl Engine {
    /// `readers` threads for reads plus one writer; with `readers == 0`, the writer's
    /// connection serves reads too (an in-memory database).
    pub(crate) fn start(connect: Connect, readers: usize) -> Result<Self, StoreError> {
        let (writes, write_queue) = mpsc::channel::<Work>();
        let writer = connect()?;
        spawn("sqlite-writer", {
            let connect = connect.clone();
            move || write_loop(writer, connect, write_queue)
        })?;
        if readers == 0 {
            return Ok(Self { reads: None, writes, threads: 1 });
        }
        let (reads, read_queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(read_queue));
        for n in 0..readers {
            let conn = connect()?;
            let (connect, queue) = (connect.clone(), queue.clone());
            spawn(&format!("sqlite-read-{n}"), move || read_loop(conn, connect, &queue))?;
        }
        Ok(Self { reads: Some(reads), writes, threads: readers + 1 })
    }

    /// Whether reads have threads of their own (a database file), apart from the writer.
    pub(crate) fn has_readers(&self) -> bool {
        self.reads.is_some()
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

    /// Queues views for the writer; gives them back if it has stopped.
    pub(crate) fn record_views(&self, pending: Pending) -> Result<(), Pending> {
        self.writes.send(Work::Views(pending)).map_err(|e| match e.0 {
            Work::Views(pending) => pending,
            Work::Job(_) => unreachable!("sent views"),
        })
    }
}

pub(crate) fn stopped() -> StoreError {
    StoreError::Unavailable("the database's threads have stopped".into())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    thread::Builder::new().name(name.to_owned()).spawn(f).map(drop).map_err(|e| StoreError::Unavailable(Box::new(e)))
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

fn write_loop(mut conn: SqliteConnection, connect: Connect, queue: Receiver<Work>) {
    let mut held: Option<Work> = None;
    loop {
        let work = match held.take() {
            Some(work) => work,
            None => match queue.recv() {
                Ok(work) => work,
                Err(_) => return,
            },
        };
        match work {
            Work::Job(job) => run_job(&mut conn, &connect, job),
            Work::Views(first) => {
                // Every view already waiting, up to the next other write.
                let mut count = first.0.len();
                let mut batch = vec![first];
                while count < VIEW_BATCH {
                    match queue.try_recv() {
                        Ok(Work::Views(next)) => {
                            count += next.0.len();
                            batch.push(next);
                        }
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                run_job(&mut conn, &connect, Box::new(move |c| write_batch(c, batch)));
            }
        }
    }
}
