//! Throwaway databases for tests: the migrations run once per test process into a
//! template database, and each test gets its own clone (`CREATE DATABASE … TEMPLATE`),
//! so tests run in parallel without sharing rows. The server comes from
//! `WORKVAULT_TEST_PG_URL` (set by `scripts/test`, which starts PostgreSQL); a test
//! that cannot reach it fails loudly.

use std::sync::OnceLock;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

use crate::{PgConfig, PgStore};

/// The environment variable naming the test server (an admin URL, e.g.
/// `postgres://postgres@127.0.0.1:55432/postgres`).
pub const ENV: &str = "WORKVAULT_TEST_PG_URL";

/// The admin URL of the test server; panics with instructions when it is not set.
pub fn server_url() -> String {
    std::env::var(ENV).unwrap_or_else(|_| {
        panic!(
            "{ENV} is not set: PostgreSQL tests need a server where this user may CREATE DATABASE. \
             Run scripts/test (it starts a throwaway cluster), or set {ENV}=postgres://user@host:port/postgres"
        )
    })
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn admin() -> AsyncPgConnection {
    let url = server_url();
    AsyncPgConnection::establish(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the PostgreSQL test server named by {ENV}: {e}"))
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) -> Result<(), diesel::result::Error> {
    diesel::sql_query(sql).execute(conn).await.map(|_| ())
}

static TEMPLATE: OnceLock<OnceCell<String>> = OnceLock::new();

#[derive(diesel::QueryableByName)]
struct DbName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

/// This machine and boot (the first 8 hex digits of the kernel's boot id): with the
/// process id in every name, it tells which databases a finished process left behind.
fn boot() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.chars().filter(char::is_ascii_hexdigit).take(8).collect())
        .unwrap_or_else(|_| "00000000".into())
}

/// A database name for this process: `wv_<kind>_<boot>_<pid>_<random>`.
fn db_name(kind: &str) -> String {
    format!("wv_{kind}_{}_{}_{}", boot(), std::process::id(), uuid::Uuid::new_v4().simple())
}

/// Drops databases left by test processes of this machine and boot that have ended
/// (killed before their own clean-up ran); databases of other machines sharing the
/// server are left alone.
async fn drop_leftovers(conn: &mut AsyncPgConnection) {
    let mine = format!("^wv_(tpl|t|e)_{}_[0-9]+_", boot());
    let Ok(names) = diesel::sql_query("SELECT datname FROM pg_database WHERE datname ~ $1")
        .bind::<diesel::sql_types::Text, _>(mine)
        .load::<DbName>(conn)
        .await
    else {
        return;
    };
    for DbName { datname } in names {
        let pid = datname.split('_').nth(3).unwrap_or_default();
        if std::path::Path::new("/proc").join(pid).exists() {
            continue;
        }
        let _ = exec(conn, &format!("ALTER DATABASE {datname} IS_TEMPLATE false")).await;
        let _ = exec(conn, &format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).await;
    }
}

/// The template database of this process, migrated once.
async fn template() -> String {
    TEMPLATE
        .get_or_init(OnceCell::new)
        .get_or_init(|| async {
            let name = db_name("tpl");
            let mut conn = admin().await;
            drop_leftovers(&mut conn).await;
            exec(&mut conn, &format!("CREATE DATABASE {name}")).await.expect("create the template database");
            let store = PgStore::connect(&PgConfig::new(with_database(&server_url(), &name)))
                .await
                .expect("connect to the template");
            store.migrate().await.expect("migrate the template");
            drop(store);
            exec(&mut conn, &format!("ALTER DATABASE {name} IS_TEMPLATE true ALLOW_CONNECTIONS false"))
                .await
                .expect("mark the template");
            name
        })
        .await
        .clone()
}

/// A fresh, migrated database for one test, dropped (with its connections) when this
/// value is dropped.
#[derive(Debug)]
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// A URL to it.
    pub url: String,
}

impl TestDb {
    /// Clones the migrated template.
    pub async fn new() -> Self {
        Self::clone_of(&template().await).await
    }

    /// An empty database without any migration (for migration tests).
    pub async fn empty() -> Self {
        let name = db_name("e");
        exec(&mut admin().await, &format!("CREATE DATABASE {name}")).await.expect("create database");
        Self { url: with_database(&server_url(), &name), name }
    }

    async fn clone_of(template: &str) -> Self {
        let name = db_name("t");
        let mut conn = admin().await;
        let mut attempt = 0;
        loop {
            match exec(&mut conn, &format!("CREATE DATABASE {name} TEMPLATE {template}")).await {
                Ok(()) => break,
                Err(e) if attempt < 20 && e.to_string().contains("being accessed by other users") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cloning the template database: {e}"),
            }
        }
        Self { url: with_database(&server_url(), &name), name }
    }

    /// A store on this database.
    pub async fn store(&self) -> PgStore {
        PgStore::connect(&PgConfig::new(self.url.clone())).await.expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropping needs a connection of its own; a thread with a private runtime works
        // whatever runtime (or none) the test ran on.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&server_url()).await {
                    let _ = exec(&mut conn, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
    }
}
