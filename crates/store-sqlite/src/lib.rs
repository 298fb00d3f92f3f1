#![doc = include_str!("../README.md")]

mod assets;
mod audit;
mod identity;
mod instance;
mod jobs;
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
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use workvault_domain::ports::{Conflict, StoreError};

/// The SQLite migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// The SQLite implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("connections", &self.pool.state().connections).finish()
    }
}

/// Per-connection settings. `busy_timeout` comes first, so every later statement
/// waits for a lock instead of failing.
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, switches it to WAL (a property of
    /// the file) and runs pending migrations, on one connection before the pool opens.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        let url = path.to_str().ok_or_else(|| StoreError::Corrupt("database path is not UTF-8".into()))?;
        let mut setup = SqliteConnection::establish(url).map_err(unavailable)?;
        setup
            .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
            .map_err(StoreError::from_diesel)?;
        run_migrations(&mut setup)?;
        drop(setup);
        Self::build(url, 16)
    }

    /// A private in-memory database (tests). One connection, so every call sees the same data.
    pub fn in_memory() -> Result<Self, StoreError> {
        let store = Self::build(":memory:", 1)?;
        store.migrate()?;
        Ok(store)
    }

    fn build(url: &str, size: u32) -> Result<Self, StoreError> {
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas))
            // SQLite connections do not break; a check on checkout would be a statement per request.
            .test_on_check_out(false)
            .build(ConnectionManager::<SqliteConnection>::new(url))
            .map_err(unavailable)?;
        Ok(Self { pool })
    }

    /// Runs pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool.get().map_err(unavailable)?;
        run_migrations(&mut conn)
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, Db> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(unavailable)?;
            f(&mut conn).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?
    }

    /// Runs `f` in a write transaction that holds SQLite's write lock from its start.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, Db> + Send + 'static,
    {
        self.run(move |conn| conn.immediate_transaction(f)).await
    }

    /// Runs raw SQL against the database, outside every port (tests that tamper with
    /// rows behind the store's back, and operators' maintenance).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.run(move |conn| Ok(conn.batch_execute(&sql)?)).await
    }
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
