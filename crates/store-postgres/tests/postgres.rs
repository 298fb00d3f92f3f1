//! PostgreSQL specifics: the audit log is append-only and tamper-evident, failures are
//! never "not found", migrations go up, down and up to the same schema (pg_dump), the
//! diesel schema matches the database, every foreign key is indexed, and a database
//! migrated by a newer binary is refused.

use std::process::Command;

use diesel::prelude::*;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use workvault_domain::audit::ChainProblem;
use workvault_domain::ports::{JobStore, StoreError};
use workvault_domain::service::NewJob;
use workvault_store_contract::Fixture;
use workvault_store_postgres::testdb::TestDb;
use workvault_store_postgres::{MIGRATIONS, PgConfig, PgStore, schema};

async fn with_history(db: &TestDb) -> (Fixture, PgStore, workvault_domain::id::WorkspaceId, workvault_domain::Ctx) {
    let store = db.store().await;
    let f = Fixture::new(std::sync::Arc::new(store.clone()));
    let alice = f.user("alice").await;
    let ws = f.workspace(&alice, "Tamper").await;
    for i in 0..4 {
        f.app.create_job(&alice, ws, NewJob { title: format!("job {i}"), ..Default::default() }).await.expect("job");
    }
    (f, store, ws, alice)
}

#[tokio::test]
async fn audit_events_cannot_be_changed_through_sql() {
    let db = TestDb::new().await;
    let (_f, store, _, _) = with_history(&db).await;
    for sql in ["UPDATE audit_events SET details = '{}'", "DELETE FROM audit_events"] {
        let err = store.execute_raw(sql).await.expect_err("append-only");
        assert!(format!("{err:?}").contains("append-only"), "{err:?}");
    }
}

#[tokio::test]
async fn an_edit_behind_the_stores_back_is_found_by_verify() {
    let db = TestDb::new().await;
    let (f, store, ws, _) = with_history(&db).await;
    assert!(f.app.verify_audit_chain(ws).await.expect("verify").is_intact());
    store
        .execute_raw(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
             UPDATE audit_events SET details = '{{\"title\":\"forged\"}}' WHERE workspace_id = '{ws}' AND seq = 3;"
        ))
        .await
        .expect("tamper");
    let broken = f.app.verify_audit_chain(ws).await.expect("verify").first_broken.expect("the edit is found");
    assert_eq!((broken.seq, broken.problem), (3, ChainProblem::HashMismatch));
    store
        .execute_raw(&format!("DELETE FROM audit_events WHERE workspace_id = '{ws}' AND seq = 2;"))
        .await
        .expect("tamper");
    let broken = f.app.verify_audit_chain(ws).await.expect("verify").first_broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (3, ChainProblem::SequenceGap));
}

#[tokio::test]
async fn a_database_failure_is_never_reported_as_not_found() {
    let db = TestDb::new().await;
    let (f, store, ws, alice) = with_history(&db).await;
    let job = f.app.jobs(&alice, ws, Default::default()).await.expect("jobs").items[0].id;
    store.execute_raw("DROP TABLE grants").await.expect("break the schema");
    let read = store.job_for(alice.user, ws, job).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    let through_app = f.app.job(&alice, ws, job).await;
    assert!(matches!(through_app, Err(workvault_domain::Error::Unavailable(_))), "{through_app:?}");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut config = PgConfig::new(format!("postgres://nobody@127.0.0.1:{port}/nothing"));
    config.connect_timeout = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = PgStore::connect(&config).await.expect_err("nothing listens there");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// Runs a synchronous migration step on a thread of its own.
fn harness<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> T + Send + 'static,
) -> T {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut conn: AsyncConnectionWrapper<AsyncPgConnection> = Connection::establish(&url).expect("connect");
        f(&mut conn)
    })
    .join()
    .expect("migration thread")
}

fn pg_dump(url: &str) -> String {
    let out = Command::new("pg_dump")
        .args(["--schema-only", "--no-owner", "--no-privileges", "--exclude-table=__diesel_schema_migrations", url])
        .output()
        .expect("pg_dump must be installed (scripts/test installs the PostgreSQL client)");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    let keep = |l: &&str| !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict");
    String::from_utf8_lossy(&out.stdout).lines().filter(keep).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_to_the_same_schema() {
    let db = TestDb::empty().await;
    let empty = pg_dump(&db.url);
    harness(&db.url, |c| c.run_pending_migrations(MIGRATIONS).map(|v| v.len()).expect("up"));
    let first = pg_dump(&db.url);
    assert!(first.contains("CREATE TABLE public.users"), "{first}");
    harness(&db.url, |c| c.revert_all_migrations(MIGRATIONS).map(|v| v.len()).expect("down"));
    assert_eq!(pg_dump(&db.url), empty, "down removes everything up created");
    harness(&db.url, |c| c.run_pending_migrations(MIGRATIONS).map(|v| v.len()).expect("up again"));
    assert_eq!(pg_dump(&db.url), first);
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_binary_is_refused() {
    let db = TestDb::new().await;
    let store = db.store().await;
    assert_eq!(store.migrate().await.expect("nothing pending"), 0);
    store
        .execute_raw("INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')")
        .await
        .expect("insert");
    let err = store.migrate().await.expect_err("refused");
    assert!(err.to_string().contains("newer") || format!("{err:?}").contains("newer"), "{err:?}");
    // Connecting refuses it too, whether or not the server would migrate.
    let err = PgStore::connect(&PgConfig::new(db.url.clone())).await.expect_err("refused at connect");
    assert!(format!("{err:?}").contains("newer"), "{err:?}");
}

#[tokio::test]
async fn a_connection_error_names_the_problem() {
    let url = workvault_store_postgres::testdb::with_database(
        &workvault_store_postgres::testdb::server_url(),
        "no_such_database",
    );
    let err = PgStore::connect(&PgConfig::new(url)).await.expect_err("missing database");
    let text = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(text.contains("no_such_database") && text.contains("does not exist"), "{text}");
}

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

macro_rules! diesel_columns {
    ($($table:ident),*) => {{
        let mut all = Vec::new();
        $(
            let select = diesel::debug_query::<diesel::pg::Pg, _>(&schema::$table::table.select(schema::$table::all_columns)).to_string();
            let listed = select.split(" FROM ").next().unwrap_or_default().trim_start_matches("SELECT ");
            for c in listed.split(", ") {
                all.push((stringify!($table).to_owned(), c.rsplit('.').next().unwrap_or_default().trim_matches('"').to_owned()));
            }
        )*
        all
    }};
}

#[tokio::test]
async fn the_diesel_schema_matches_the_migrated_database() {
    let db = TestDb::new().await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connect");
    let mut theirs: Vec<(String, String)> = diesel::sql_query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, ordinal_position",
    )
    .load::<Column>(&mut conn)
    .await
    .expect("columns")
    .into_iter()
    .map(|c| (c.table_name, c.column_name))
    .collect();
    let mut ours = diesel_columns!(
        users,
        workspaces,
        memberships,
        jobs,
        grants,
        invites,
        sign_in_links,
        sessions,
        audit_events,
        audit_heads,
        tasks,
        auth_flows,
        photos,
        reports,
        report_items,
        share_links,
        share_views,
        rate_limits,
        asset_fields,
        assets,
        submit_links,
        tickets,
        ticket_replies,
        ticket_attachments
    );
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
    // And the queries diesel builds from schema.rs run against it (types included).
    let store = db.store().await;
    let f = Fixture::new(std::sync::Arc::new(store));
    let alice = f.user("alice").await;
    f.workspace(&alice, "Types").await;
}

#[tokio::test]
async fn every_foreign_key_has_an_index() {
    #[derive(QueryableByName)]
    struct Unindexed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        fk: String,
    }
    let db = TestDb::new().await;
    let mut conn = AsyncPgConnection::establish(&db.url).await.expect("connect");
    let missing: Vec<Unindexed> = diesel::sql_query(
        "SELECT c.conrelid::regclass::text || '.' || a.attname::text AS fk
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f'
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    )
    .load(&mut conn)
    .await
    .expect("foreign keys");
    assert!(
        missing.is_empty(),
        "foreign keys without an index: {:?}",
        missing.iter().map(|m| &m.fk).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn events_removed_from_the_end_are_found_against_the_head() {
    let db = TestDb::new().await;
    let (f, store, ws, _) = with_history(&db).await;
    store
        .execute_raw(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
             DELETE FROM audit_events WHERE workspace_id = '{ws}' AND seq >= 4;"
        ))
        .await
        .expect("tamper");
    let broken = f.app.verify_audit_chain(ws).await.expect("verify").first_broken.expect("the truncation is found");
    assert_eq!((broken.seq, broken.problem, broken.event_id), (4, ChainProblem::HeadMismatch, None));
}

#[tokio::test]
async fn a_failure_after_the_change_rolls_the_change_back() {
    let db = TestDb::new().await;
    let (f, store, ws, alice) = with_history(&db).await;
    let jobs_before = f.app.jobs(&alice, ws, Default::default()).await.expect("jobs").items.len();
    store
        .execute_raw(&format!("UPDATE audit_heads SET hash = '\\x00' WHERE workspace_id = '{ws}';"))
        .await
        .expect("corrupt");
    let r = f.app.create_job(&alice, ws, NewJob { title: "never".into(), ..Default::default() }).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(f.app.jobs(&alice, ws, Default::default()).await.expect("jobs").items.len(), jobs_before, "no job row");
}

#[tokio::test]
async fn tls_connections_verify_the_server_certificate() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let ca = std::env::var("WORKVAULT_TEST_PG_CA")
        .expect("WORKVAULT_TEST_PG_CA must name the test cluster's CA certificate: run scripts/test, which makes one");
    let db = TestDb::new().await;
    let verified = format!("{}?sslmode=verify-full&sslrootcert={ca}", db.url);
    let store = PgStore::connect(&PgConfig::new(verified)).await.expect("a verified TLS connection");
    assert_eq!(store.migrate().await.expect("migrations run over TLS too"), 0);
    workvault_domain::ports::Health::ping(&store).await.expect("ping");
    let mut admin = AsyncPgConnection::establish(&workvault_store_postgres::testdb::server_url()).await.expect("admin");
    let encrypted: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1 AND s.ssl",
    )
    .bind::<diesel::sql_types::Text, _>(&db.name)
    .get_result(&mut admin)
    .await
    .expect("pg_stat_ssl");
    assert!(encrypted.n > 0, "the pool's connections are encrypted");

    // TLS without a way to verify the server (its CA is not a public root) is refused.
    let unverifiable = format!("{}?sslmode=require", db.url);
    let err = PgStore::connect(&PgConfig::new(unverifiable)).await.expect_err("unknown issuer");
    let text = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(text.to_lowercase().contains("certificate") || text.contains("UnknownIssuer"), "{text}");
    let bad_mode = format!("{}?sslmode=sometimes", db.url);
    assert!(PgStore::connect(&PgConfig::new(bad_mode)).await.is_err());
}

/// Views arriving together share transactions (group commit): every one is stored, the
/// first of its link and hour with its audit event, in one unbroken chain, and a view of a link that is gone meanwhile
/// does not take the others' views down with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn views_arriving_together_are_all_stored_in_one_chain() {
    use workvault_domain::id::ShareLinkId;
    use workvault_domain::service::{NewShareLink, ShareRequest};
    use workvault_domain::share::{ShareLink, ShareStore, Viewed};

    let db = TestDb::new().await;
    let (f, store, ws, alice) = with_history(&db).await;
    let job = f.app.create_job(&alice, ws, NewJob { title: "Shared".into(), ..Default::default() }).await.expect("job");
    let new =
        NewShareLink { target: ShareRequest::Job(job.id), expires_at: None, password: None, allow_download: false };
    let (link, _) = f.app.create_share_link(&alice, ws, new).await.expect("link");
    let gone = ShareLink { id: ShareLinkId::from_uuid(uuid::Uuid::now_v7()), ..link.clone() };
    let before = f.app.verify_audit_chain(ws).await.expect("verify").events;

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..300 {
        let view = f.app.share_view(if i == 150 { &gone } else { &link }, Viewed::Page, "192.0.2.0/24", "Firefox");
        let store = store.clone();
        calls.spawn(async move { store.record_views(vec![view]).await });
    }
    while let Some(done) = calls.join_next().await {
        done.expect("task").expect("every view is stored, the gone link's too (its audit event)");
    }

    let mut listed = 0;
    let mut page = workvault_domain::page::PageRequest { limit: 100, after: None };
    loop {
        let views = f.app.share_views(&alice, ws, link.id, page).await.expect("views");
        listed += views.items.len();
        match views.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, 299, "every view of the live link");
    let chain = f.app.verify_audit_chain(ws).await.expect("verify");
    assert!(chain.is_intact(), "{chain:?}");
    assert_eq!(chain.events, before + 2, "one audit event per link and hour: the live link's and the gone one's");
}
