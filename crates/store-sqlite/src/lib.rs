#![doc = include_str!("../README.md")]

mod assets;
mod audit;
mod engine;
mod files;
mod identity;
mod instance;
mod jobs;
mod journal;
mod members;
mod photos;
mod queue;
mod reports;
mod rows;
pub mod schema;
mod share;
mod tickets;
mod workspaces;

use std::path::Path;
use std::sync::Arc;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::oneshot;
use workvault_domain::ports::{Conflict, StoreError};

use crate::engine::{Connect, Engine, stopped};

/// The SQLite migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The SQLite implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    engine: Arc<Engine>,
    /// Opens another connection to the same file; `None` for an in-memory database,
    /// which has only the one.
    connect: Option<Connect>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("threads", &self.engine.threads()).finish()
    }
}

/// Per-connection settings. `busy_timeout` comes first, so every later statement
/// waits for a lock instead of failing.
const PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

fn connect_to(url: &str) -> Result<SqliteConnection, StoreError> {
    let mut conn = SqliteConnection::establish(url).map_err(unavailable)?;
    conn.batch_execute(PRAGMAS).map_err(StoreError::from_diesel)?;
    Ok(conn)
}

/// How many threads read a database file: as many as there are cores (at least two,
/// at most eight), so reads never wait behind one slow read and never outnumber the
/// cores by much.
fn readers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, switches it to WAL (a property of
    /// the file) and runs pending migrations, on one connection before the others open.
    /// What it creates is private to the process's user: folders 0700, the database
    /// file 0600 (and so its `-wal` and `-shm` files, and the view journal's segments).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            files::private_dir(dir).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        files::create_database(path).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let url = path.to_str().ok_or_else(|| StoreError::Corrupt("database path is not UTF-8".into()))?;
        let mut setup = SqliteConnection::establish(url).map_err(unavailable)?;
        setup
            .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
            .map_err(StoreError::from_diesel)?;
        run_migrations(&mut setup)?;
        if !planner_is_stable(&mut setup)? {
            tracing::warn!(
                "this SQLite was built without SQLITE_ENABLE_QPSG: every statement with a LIMIT is planned again \
                 on each run (build with LIBSQLITE3_FLAGS=-DSQLITE_ENABLE_QPSG, as .cargo/config.toml does)"
            );
        }
        if !page_caches_are_private(&mut setup)? {
            tracing::warn!(
                "this SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT: every connection shares one page \
                 cache behind one mutex (build with LIBSQLITE3_FLAGS=-USQLITE_ENABLE_MEMORY_MANAGEMENT, as \
                 .cargo/config.toml does)"
            );
        }
        let journal = open_journal(path, &mut setup)?;
        drop(setup);
        let url = url.to_owned();
        let connect: Connect = Arc::new(move || connect_to(&url));
        let engine = Engine::start(connect.clone(), readers(), Some(journal))?;
        Ok(Self { engine: Arc::new(engine), connect: Some(connect) })
    }

    /// A private in-memory database (tests). One connection, so every call sees the same data.
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Arc::new(std::sync::Mutex::new(Some(connect_to(":memory:")?)));
        // The engine asks for its one connection once (and again only after a job
        // panicked, which an in-memory database cannot survive).
        let connect: Connect = Arc::new(move || {
            conn.lock()
                .ok()
                .and_then(|mut c| c.take())
                .ok_or_else(|| StoreError::Corrupt("the in-memory database is lost".into()))
        });
        let engine = Arc::new(Engine::start(connect, 0, None)?);
        let store = Self { engine, connect: None };
        store.migrate()?;
        Ok(store)
    }

    /// Runs pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.engine.write(Box::new(move |c| {
            let _ = tx.send(run_migrations(c));
        }))?;
        rx.recv().map_err(|_| stopped())?
    }

    /// Waits until every share link view journalled so far is in the database, so a
    /// read of views or of the audit log sees each view whose page was sent.
    async fn settle(&self) -> Result<(), StoreError> {
        if self.engine.journal().is_none_or(|j| j.unwritten() == 0) {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.engine.settle(Box::new(move |written| drop(tx.send(written))))?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `f` on a reading thread's connection.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, Db> + Send + 'static,
    {
        self.on_thread(Thread::Reader, move |c| f(c).map_err(StoreError::from)).await
    }

    /// Runs `f` on the writer's connection in a write transaction that holds SQLite's
    /// write lock from its start.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, Db> + Send + 'static,
    {
        self.on_thread(Thread::Writer, move |c| c.immediate_transaction(f).map_err(StoreError::from)).await
    }

    /// Runs `f`, which waits for input while it holds its transaction (an import), on a
    /// connection of its own on the blocking pool, so it holds up no other statement but
    /// the writes SQLite makes wait for it. An in-memory database has one connection,
    /// so there it runs on the writer's.
    async fn run_long<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, Db> + Send + 'static,
    {
        let Some(connect) = self.connect.clone() else {
            return self.on_thread(Thread::Writer, move |c| f(c).map_err(StoreError::from)).await;
        };
        // Its audit event goes after the views journalled before it.
        self.settle().await?;
        tokio::task::spawn_blocking(move || f(&mut connect()?).map_err(StoreError::from))
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?
    }

    /// Runs raw SQL against the database, outside every port (tests that tamper with
    /// rows behind the store's back, and operators' maintenance).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.on_thread(Thread::Writer, move |c| c.batch_execute(&sql).map_err(StoreError::from_diesel)).await
    }

    /// Hands `f` to one of the connection threads and waits for its answer.
    async fn on_thread<T, F>(&self, thread: Thread, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: engine::Job = Box::new(move |c| drop(tx.send(f(c))));
        match thread {
            Thread::Reader => self.engine.read(job)?,
            Thread::Writer => self.engine.write(job)?,
        }
        rx.await.map_err(|_| stopped())?
    }
}

/// Which of the store's threads runs a job.
#[derive(Debug, Clone, Copy)]
enum Thread {
    Reader,
    Writer,
}

/// Whether SQLite was built with its query planner stability guarantee (see
/// `.cargo/config.toml`): without it, SQLite 3.4x plans a statement with a bound LIMIT
/// again on every run, and diesel binds every LIMIT.
pub fn planner_is_stable(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    Ok(compile_options(conn)?.iter().any(|o| o == "ENABLE_QPSG"))
}

/// Whether each connection has a page cache of its own (SQLite built without
/// `SQLITE_ENABLE_MEMORY_MANAGEMENT`, see `.cargo/config.toml`), rather than one for
/// the whole process behind one mutex that every thread waits on.
pub fn page_caches_are_private(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    Ok(!compile_options(conn)?.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"))
}

fn compile_options(conn: &mut SqliteConnection) -> Result<Vec<String>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Option_ {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }
    let options: Vec<Option_> = diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA compile_options"), conn)
        .map_err(StoreError::from_diesel)?;
    Ok(options.into_iter().map(|o| o.compile_options).collect())
}

/// Opens the database's view journal and writes the views a stopped process left in
/// it, before any other connection opens.
fn open_journal(path: &Path, setup: &mut SqliteConnection) -> Result<Arc<journal::Journal>, StoreError> {
    let (journal, left) = journal::Journal::open(path).map_err(unavailable)?;
    for sealed in left {
        share::write_journalled(setup, &sealed.name, &sealed.entries, &[])?;
        tracing::info!(segment = %sealed.name, views = sealed.entries.len(), "wrote share link views left in the journal");
        sealed.remove().map_err(unavailable)?;
    }
    // Segments whose files were gone when the journal opened need no remembering
    // (those of other live processes were still there, or are newer than the reading).
    let (present, opened) = journal.segment_names().map_err(unavailable)?;
    share::forget_segments_older_than(setup, &opened, &present)?;
    Ok(Arc::new(journal))
}

fn run_migrations(conn: &mut SqliteConnection) -> Result<usize, StoreError> {
    let ran = conn.run_pending_migrations(MIGRATIONS).map_err(StoreError::Unavailable)?;
    if !ran.is_empty() {
        tracing::info!(count = ran.len(), "applied sqlite migrations");
    }
    Ok(ran.len())
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Maps diesel's errors at the boundary: a missing row is `NotFound`, a unique
/// violation a `Conflict`, anything else (I/O, locks, schema) `Unavailable`. A failure
/// is never reported as "not found".
trait FromDiesel {
    fn from_diesel(e: DieselError) -> StoreError;
}

impl FromDiesel for StoreError {
    fn from_diesel(e: DieselError) -> StoreError {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict(Conflict::Duplicate)
            }
            other => unavailable(other),
        }
    }
}

/// The error inside store closures: `?` takes both diesel and store errors, and a
/// transaction rolls back on either.
#[derive(Debug)]
pub(crate) struct Db(pub(crate) StoreError);

impl From<DieselError> for Db {
    fn from(e: DieselError) -> Self {
        Db(StoreError::from_diesel(e))
    }
}

impl From<StoreError> for Db {
    fn from(e: StoreError) -> Self {
        Db(e)
    }
}

impl From<Db> for StoreError {
    fn from(d: Db) -> Self {
        d.0
    }
}
