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
pub mod testdb;
mod tickets;
mod tls;
mod views;
mod workspaces;

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use workvault_domain::ports::{Conflict, StoreError};

/// The PostgreSQL migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// How to reach the database.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database` (libpq URL syntax).
    pub url: String,
    /// Most connections the pool opens.
    pub pool_size: u32,
    /// How long a request waits for a connection before the store is `Unavailable`.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PgConfig {
    /// Never prints the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl PgConfig {
    /// A config with the default pool (16 connections, 5 s to get one).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), pool_size: 16, connect_timeout: Duration::from_secs(5) }
    }
}

/// The PostgreSQL implementation of every store port.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    url: String,
    /// Share link views waiting for their transaction (group commit).
    views: std::sync::Arc<views::ViewQueue>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("connections", &self.pool.state().connections).finish()
    }
}

type Conn<'a> = PooledConnection<'a, AsyncPgConnection>;

impl PgStore {
    /// Opens the pool and checks the database answers. Does not migrate: call
    /// [`PgStore::migrate`] (the server does, on start, when configured to).
    pub async fn connect(config: &PgConfig) -> Result<Self, StoreError> {
        // One direct connection first: the pool retries quietly and would report only a
        // timeout; this names the problem (refused, bad password, missing database).
        let connect = tls::Connect::from_url(&config.url)?;
        let mut first = tokio::time::timeout(config.connect_timeout, connect.establish())
            .await
            .map_err(|_| StoreError::Unavailable("no answer from the database within the connect timeout".into()))?
            .map_err(unavailable)?;
        check_not_newer_async(&mut first).await?;
        drop(first);
        let mut manager_config = ManagerConfig::default();
        // A broken connection is detected by the failing query and dropped; checking
        // every checkout would cost a round trip per request.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |_url| connect.establish());
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&config.url, manager_config);
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(config.connect_timeout)
            .test_on_check_out(false)
            .build(manager)
            .await
            .map_err(unavailable)?;
        let store = Self { pool, url: config.url.clone(), views: Default::default() };
        {
            use workvault_domain::ports::Health;
            store.ping().await?;
        }
        Ok(store)
    }

    /// Runs pending migrations; returns how many ran. Refuses a database migrated by a
    /// newer binary.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let connect = tls::Connect::from_url(&self.url)?;
        // The migration harness is synchronous; it runs on a thread of its own with a
        // private runtime (one worker drives the connection while the harness blocks),
        // whatever runtime the caller uses.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let result: Result<usize, StoreError> = (|| {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(unavailable)?;
                let _inside = rt.enter();
                let conn = rt.block_on(connect.establish()).map_err(unavailable)?;
                let mut conn: AsyncConnectionWrapper<AsyncPgConnection> = AsyncConnectionWrapper::from(conn);
                // Nodes starting together take turns; the lock ends with the session.
                diesel::RunQueryDsl::execute(diesel::sql_query("SELECT pg_advisory_lock(7261960)"), &mut conn)
                    .map_err(unavailable)?;
                check_not_newer(&mut conn)?;
                let ran = conn.run_pending_migrations(MIGRATIONS).map_err(StoreError::Unavailable)?;
                Ok(ran.len())
            })();
            let _ = tx.send(result);
        });
        let ran = rx.await.map_err(unavailable)??;
        if ran > 0 {
            tracing::info!(count = ran, "applied postgres migrations");
        }
        Ok(ran)
    }

    /// Runs raw SQL outside every port (tests that tamper with rows behind the store's
    /// back, and operators' maintenance).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        use diesel_async::SimpleAsyncConnection;
        let mut conn = self.conn().await?;
        conn.batch_execute(sql).await.map_err(|e| StoreError::from(Db::from(e)))
    }

    async fn conn(&self) -> Result<Conn<'_>, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }
}

/// Refuses to touch a database that holds migrations this binary does not know.
fn check_not_newer(conn: &mut impl MigrationHarness<diesel::pg::Pg>) -> Result<(), StoreError> {
    use diesel::migration::MigrationSource;
    let known: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(StoreError::Unavailable)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied = conn.applied_migrations().map_err(StoreError::Unavailable)?;
    if let Some(unknown) = applied.iter().map(|v| v.to_string()).find(|v| !known.contains(v)) {
        return Err(StoreError::Corrupt(format!(
            "the database has migration {unknown}, which this binary does not know: it was migrated by a newer version"
        )));
    }
    Ok(())
}

/// The same check on an async connection, at connect time: a binary never serves a
/// database migrated by a newer one, whether or not it migrates on start.
async fn check_not_newer_async(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    use diesel::migration::MigrationSource;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
    }
    let table: Exists = diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present")
        .get_result(conn)
        .await
        .map_err(unavailable)?;
    if !table.present {
        return Ok(());
    }
    let applied: Vec<Applied> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load(conn).await.map_err(unavailable)?;
    let known: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(StoreError::Unavailable)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    if let Some(unknown) = applied.into_iter().map(|a| a.version).find(|v| !known.contains(v)) {
        return Err(StoreError::Corrupt(format!(
            "the database has migration {unknown}, which this binary does not know: it was migrated by a newer version"
        )));
    }
    Ok(())
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// The error inside store closures: `?` takes both diesel and store errors, and a
/// transaction rolls back on either.
#[derive(Debug)]
pub(crate) struct Db(pub(crate) StoreError);

impl From<DieselError> for Db {
    /// A missing row is `NotFound`, a unique violation a `Conflict`, anything else
    /// (connection loss, timeouts, schema) `Unavailable`: a failure is never "not found".
    fn from(e: DieselError) -> Self {
        Db(match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict(Conflict::Duplicate)
            }
            other => unavailable(other),
        })
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

/// Runs `body` in a transaction on a pooled connection; rolls back on any error.
macro_rules! write_tx {
    ($store:expr, |$c:ident| $body:expr) => {{
        use diesel_async::AsyncConnection as _;
        let mut conn = $store.conn().await?;
        let r: Result<_, $crate::Db> = conn.transaction(async move |$c| $body).await;
        r.map_err(workvault_domain::ports::StoreError::from)
    }};
}
pub(crate) use write_tx;

/// Shorthand for reads: a pooled connection, errors mapped.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut conn = $store.conn().await?;
        let $c = &mut *conn;
        let r: Result<_, $crate::Db> = async { $body }.await;
        r.map_err(workvault_domain::ports::StoreError::from)
    }};
}
pub(crate) use read;
