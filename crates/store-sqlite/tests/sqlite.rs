//! SQLite specifics: the audit log is append-only and tamper-evident, failures are
//! never reported as "not found", migrations go up, down and up again, and the diesel
//! schema matches the migrated database.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_migrations::MigrationHarness;
use workvault_domain::audit::ChainProblem;
use workvault_domain::instance::InstanceStore;
use workvault_domain::ports::{JobStore, StoreError};
use workvault_domain::service::NewJob;
use workvault_store_contract::Fixture;
use workvault_store_sqlite::{MIGRATIONS, SqliteStore, schema};

async fn fixture_with_history() -> (Fixture, Arc<SqliteStore>, workvault_domain::id::WorkspaceId, workvault_domain::Ctx)
{
    let store = Arc::new(SqliteStore::in_memory().expect("sqlite"));
    let f = Fixture::new(store.clone());
    let alice = f.user("alice").await;
    let ws = f.workspace(&alice, "Tamper").await;
    for i in 0..4 {
        f.app.create_job(&alice, ws, NewJob { title: format!("job {i}"), ..Default::default() }).await.expect("job");
    }
    (f, store, ws, alice)
}

#[tokio::test]
async fn audit_events_cannot_be_changed_through_sql() {
    let (_f, store, _ws, _) = fixture_with_history().await;
    let update = store.execute_raw("UPDATE audit_events SET details = '{}'").await;
    let delete = store.execute_raw("DELETE FROM audit_events").await;
    for r in [update, delete] {
        let err = r.expect_err("append-only");
        assert!(err.to_string().contains("unavailable") || matches!(err, StoreError::Unavailable(_)), "{err}");
    }
}

#[tokio::test]
async fn an_edit_behind_the_stores_back_is_found_by_verify() {
    let (f, store, ws, _) = fixture_with_history().await;
    assert!(f.app.verify_audit_chain(ws).await.expect("verify").is_intact());
    // Someone with file access drops the guard and edits event 3.
    store
        .execute_raw(&format!(
            "DROP TRIGGER audit_events_no_update;
             UPDATE audit_events SET details = '{{\"title\":\"forged\"}}' WHERE workspace_id = '{ws}' AND seq = 3;"
        ))
        .await
        .expect("tamper");
    let report = f.app.verify_audit_chain(ws).await.expect("verify");
    let broken = report.first_broken.expect("the edit is found");
    assert_eq!((broken.seq, broken.problem), (3, ChainProblem::HashMismatch));

    // Deleting an event is found too.
    store
        .execute_raw(&format!(
            "DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE workspace_id = '{ws}' AND seq = 2;"
        ))
        .await
        .expect("tamper");
    let broken = f.app.verify_audit_chain(ws).await.expect("verify").first_broken.expect("broken");
    assert_eq!((broken.seq, broken.problem), (3, ChainProblem::SequenceGap));
}

#[tokio::test]
async fn a_database_failure_is_never_reported_as_not_found() {
    let (f, store, ws, alice) = fixture_with_history().await;
    let job = f.app.jobs(&alice, ws, Default::default()).await.expect("jobs").items[0].id;
    store.execute_raw("PRAGMA foreign_keys = OFF; DROP TABLE grants;").await.expect("break the schema");
    let read = store.job_for(alice.user, ws, job).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    let through_app = f.app.job(&alice, ws, job).await;
    assert!(matches!(through_app, Err(workvault_domain::Error::Unavailable(_))), "{through_app:?}");
}

#[tokio::test]
async fn a_file_database_runs_in_wal_mode_with_foreign_keys_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/dir/workvault.db");
    let _store = SqliteStore::open(&path).expect("open creates the directories");
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("connect");
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn).expect("pragma");
    assert_eq!(mode.journal_mode, "wal");
    // Reopening runs no migration twice.
    assert_eq!(SqliteStore::open(&path).expect("reopen").migrate().expect("migrate"), 0);
}

/// Everything a fresh open makes is private to the process's user, whatever its umask
/// (0022 in the test run: a plain file would be 0644): the folders 0700, the database
/// and SQLite's `-wal` and `-shm` files 0600, the view journal's folder 0700 and its
/// segment 0600.
#[cfg(unix)]
#[tokio::test]
async fn a_fresh_database_and_what_sqlite_makes_beside_it_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data/workvault.db");
    let _store = SqliteStore::open(&path).expect("open");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("made").permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("data")), 0o700, "the folder made for it");
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("data/workvault.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let views = dir.path().join("data/workvault.db-views");
    assert_eq!(mode(&views), 0o700);
    let segments: Vec<_> = std::fs::read_dir(&views).expect("journal").map(|e| e.expect("entry").path()).collect();
    assert!(!segments.is_empty(), "the open segment is there");
    for segment in segments {
        assert_eq!(mode(&segment), 0o600, "{}", segment.display());
    }
}

/// The bundled SQLite is built with the query planner stability guarantee
/// (`.cargo/config.toml`); without it every statement with a LIMIT is planned again on
/// each run, which cost more than half the reads' time in `bench/share-view`.
#[test]
fn sqlite_is_built_with_a_stable_query_planner() {
    let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
    assert!(workvault_store_sqlite::planner_is_stable(&mut conn).expect("compile options"));
}

#[test]
fn sqlite_is_built_with_a_page_cache_per_connection() {
    let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
    assert!(workvault_store_sqlite::page_caches_are_private(&mut conn).expect("compile options"));
}

/// Many reads and writes at once through the connection threads: every write lands,
/// every read sees a consistent state, and no call waits on another forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_threads_serve_many_calls_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("workvault.db")).expect("open"));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        calls.spawn(async move {
            if i % 4 == 0 {
                store
                    .execute_raw(&format!("INSERT INTO rate_limits (key, window_start, count) VALUES ('k{i}', 0, 1)"))
                    .await
            } else {
                store.dump(workvault_domain::instance::RecordKind::User, None, 10).await.map(drop)
            }
        });
    }
    while let Some(result) = calls.join_next().await {
        result.expect("task").expect("call");
    }
    let mut conn =
        SqliteConnection::establish(dir.path().join("workvault.db").to_str().expect("utf-8")).expect("connect");
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count: Count = diesel::sql_query("SELECT count(*) AS n FROM rate_limits").get_result(&mut conn).expect("count");
    assert_eq!(count.n, 50);
}

#[test]
fn migrations_go_up_down_and_up_again_to_the_same_schema() {
    let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
    conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
    conn.run_pending_migrations(MIGRATIONS).expect("up");
    let first = dump_schema(&mut conn);
    assert!(first.contains("CREATE TABLE users"), "{first}");
    conn.revert_all_migrations(MIGRATIONS).expect("down");
    assert_eq!(dump_schema(&mut conn), "", "down removes everything up created");
    conn.run_pending_migrations(MIGRATIONS).expect("up again");
    assert_eq!(dump_schema(&mut conn), first);
}

/// Each migration's `down` gives back exactly the schema before its `up` (names that a
/// rebuild's `RENAME` leaves quoted compared unquoted).
#[test]
fn each_migration_down_restores_the_schema_before_it() {
    let count = MigrationSource::<Sqlite>::migrations(&MIGRATIONS).expect("migrations").len();
    assert!(count >= 13, "{count} migrations");
    let schema = |conn: &mut SqliteConnection| dump_schema(conn).replace('"', "");
    for k in 0..count {
        let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
        conn.batch_execute("PRAGMA foreign_keys = ON").expect("pragma");
        for _ in 0..k {
            conn.run_next_migration(MIGRATIONS).expect("up");
        }
        let before = schema(&mut conn);
        let name = conn.run_next_migration(MIGRATIONS).expect("up").to_string();
        assert_ne!(schema(&mut conn), before, "{name} changes the schema");
        conn.revert_last_migration(MIGRATIONS).expect("down");
        assert_eq!(schema(&mut conn), before, "{name} down");
    }
}

#[derive(QueryableByName)]
struct SqlRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    sql: String,
}

fn dump_schema(conn: &mut SqliteConnection) -> String {
    let rows: Vec<SqlRow> = diesel::sql_query(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '__diesel%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )
    .load(conn)
    .expect("schema");
    rows.into_iter().map(|r| r.sql).collect::<Vec<_>>().join(";\n")
}

#[derive(QueryableByName, Debug, PartialEq)]
struct ColumnInfo {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

macro_rules! check_tables {
    ($conn:expr, $($table:ident),*) => {{
        let mut checked = Vec::new();
        $(
            let select = diesel::debug_query::<Sqlite, _>(&schema::$table::table.select(schema::$table::all_columns)).to_string();
            let listed = select.split(" FROM ").next().unwrap_or_default().trim_start_matches("SELECT ");
            let ours: Vec<String> = listed.split(", ").map(|c| c.rsplit('.').next().unwrap_or_default().trim_matches('`').to_owned()).collect();
            let theirs: Vec<ColumnInfo> = diesel::sql_query(format!("PRAGMA table_info({})", stringify!($table))).load($conn).expect("table info");
            assert_eq!(ours, theirs.iter().map(|c| c.name.clone()).collect::<Vec<_>>(), "columns of {}", stringify!($table));
            // The query diesel builds runs against the migrated table.
            diesel::sql_query(format!("{select} LIMIT 0")).execute($conn).expect(stringify!($table));
            checked.push(stringify!($table));
        )*
        checked
    }};
}

#[test]
fn the_diesel_schema_matches_the_migrated_database() {
    let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
    conn.run_pending_migrations(MIGRATIONS).expect("up");
    let checked = check_tables!(
        &mut conn,
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
        ticket_attachments,
        view_journal
    );
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let tables: Vec<Name> = diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY name")
        .load(&mut conn)
        .expect("tables");
    let mut all: Vec<String> = tables.into_iter().map(|t| t.name).collect();
    let mut ours: Vec<String> = checked.into_iter().map(str::to_owned).collect();
    all.sort();
    ours.sort();
    assert_eq!(ours, all, "every table is in schema.rs");
}

#[test]
fn every_foreign_key_has_an_index() {
    let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
    conn.run_pending_migrations(MIGRATIONS).expect("up");
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = diesel::sql_types::Text)]
        tbl: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        col: String,
    }
    let fks: Vec<Fk> = diesel::sql_query(
        "SELECT m.name AS tbl, f.\"from\" AS col FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND f.seq = 0",
    )
    .load(&mut conn)
    .expect("foreign keys");
    assert!(!fks.is_empty());
    for fk in fks {
        #[derive(QueryableByName)]
        struct Lead {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            n: i32,
        }
        let lead: Lead = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM pragma_index_list('{t}') il, pragma_index_info(il.name) ii WHERE ii.seqno = 0 AND ii.name = '{c}'",
            t = fk.tbl,
            c = fk.col
        ))
        .get_result(&mut conn)
        .expect("index info");
        assert!(lead.n > 0, "foreign key {}.{} has no index leading with it", fk.tbl, fk.col);
    }
}

#[tokio::test]
async fn events_removed_from_the_end_are_found_against_the_head() {
    let (f, store, ws, _) = fixture_with_history().await;
    store
        .execute_raw(&format!(
            "DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE workspace_id = '{ws}' AND seq >= 4;"
        ))
        .await
        .expect("tamper");
    let broken = f.app.verify_audit_chain(ws).await.expect("verify").first_broken.expect("the truncation is found");
    assert_eq!((broken.seq, broken.problem, broken.event_id), (4, ChainProblem::HeadMismatch, None));
    store.execute_raw(&format!("DELETE FROM audit_events WHERE workspace_id = '{ws}';")).await.expect("tamper");
    assert!(!f.app.verify_audit_chain(ws).await.expect("verify").is_intact(), "an emptied chain is broken");
}

#[tokio::test]
async fn a_failure_after_the_change_rolls_the_change_back() {
    let (f, store, ws, alice) = fixture_with_history().await;
    let jobs_before = f.app.jobs(&alice, ws, Default::default()).await.expect("jobs").items.len();
    // The audit append fails after the job row was inserted: a corrupt chain head.
    store
        .execute_raw(&format!("UPDATE audit_heads SET hash = X'00' WHERE workspace_id = '{ws}';"))
        .await
        .expect("corrupt");
    let r = f.app.create_job(&alice, ws, NewJob { title: "never".into(), ..Default::default() }).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(f.app.jobs(&alice, ws, Default::default()).await.expect("jobs").items.len(), jobs_before, "no job row");
}

/// One journal line, as a process writes it before the page is sent.
fn journal_line(ws: &str, link: &str, network: &str) -> String {
    let (id, at) = (uuid::Uuid::now_v7(), chrono::Utc::now().timestamp_micros());
    serde_json::json!({
        "id": id.to_string(), "workspace_id": ws, "link_id": link, "at": at, "viewed": "page",
        "network": network, "browser": "Firefox",
        "audit": {
            "workspace_id": ws, "at": at, "actor": "anonymous", "action": "share_link.viewed",
            "target_kind": "share_link", "target_id": link,
            "details": {"viewed": "page", "network": network, "browser": "Firefox"}, "request_id": null
        }
    })
    .to_string()
        + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_left_in_the_journal_are_written_once_when_the_database_opens() {
    use workvault_domain::page::PageRequest;
    use workvault_domain::service::{NewShareLink, ShareRequest};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.db");
    let journal = dir.path().join("w.db-views");
    let (owner, ws, link) = {
        let f = Fixture::new(Arc::new(SqliteStore::open(&path).expect("open")));
        let owner = f.user("owner").await;
        let ws = f.workspace(&owner, "Journal").await;
        let job =
            f.app.create_job(&owner, ws, NewJob { title: "Roof".into(), ..Default::default() }).await.expect("job");
        let new =
            NewShareLink { target: ShareRequest::Job(job.id), expires_at: None, password: None, allow_download: false };
        let (link, _) = f.app.create_share_link(&owner, ws, new).await.expect("link");
        (owner, ws, link.id)
    };
    let (w, l) = (ws.to_string(), link.to_string());

    // A process stopped with two views in its journal, the second cut short by the machine
    // stopping. Another stopped between writing a segment and deleting its file.
    let left = journal.join(format!("{}.views", uuid::Uuid::now_v7().simple()));
    let cut = journal_line(&w, &l, "198.51.100.0/24");
    std::fs::write(&left, journal_line(&w, &l, "203.0.113.0/24") + &cut + &cut[..cut.len() / 2]).expect("segment");
    let written = format!("{}.views", uuid::Uuid::now_v7().simple());
    std::fs::write(journal.join(&written), journal_line(&w, &l, "192.0.2.0/24")).expect("segment");
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("sqlite");
    conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; INSERT INTO view_journal (segment) VALUES ('{written}')"))
        .expect("written");
    drop(conn);

    for _ in 0..2 {
        let store = Arc::new(SqliteStore::open(&path).expect("open"));
        let f = Fixture::new(store.clone());
        let views =
            f.app.share_views(&owner, ws, link, PageRequest { limit: 10, after: None }).await.expect("views").items;
        let mut networks: Vec<&str> = views.iter().map(|v| v.network.as_str()).collect();
        networks.sort_unstable();
        assert_eq!(
            networks,
            ["198.51.100.0/24", "203.0.113.0/24"],
            "each left view once, the cut one and the written segment's not"
        );
        let chain = workvault_domain::ports::AuditStore::audit_chain(&*store, ws, 0, 100).await.expect("chain");
        let hours: std::collections::HashSet<_> =
            views.iter().map(workvault_domain::share::ViewHour::of).map(|h| h.start).collect();
        assert_eq!(chain.iter().filter(|e| e.action == "share_link.viewed").count(), hours.len(), "one an hour");
        assert!(f.app.verify_audit(&owner, ws).await.expect("verify").is_intact());
        let files: Vec<_> =
            std::fs::read_dir(&journal).expect("journal").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(files.len(), 1, "only the open store's own segment is left: {files:?}");
    }
}

/// Reads of views and of the audit log wait for the views journalled before them, and
/// never fail because more views arrive while they wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_settle_the_journal_while_views_keep_coming() {
    use workvault_domain::page::PageRequest;
    use workvault_domain::ports::AuditStore;
    use workvault_domain::service::{NewShareLink, ShareRequest};
    use workvault_domain::share::Viewed;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("w.db")).expect("open"));
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Busy").await;
    let job = f.app.create_job(&owner, ws, NewJob { title: "Roof".into(), ..Default::default() }).await.expect("job");
    let new =
        NewShareLink { target: ShareRequest::Job(job.id), expires_at: None, password: None, allow_download: false };
    let (link, _) = f.app.create_share_link(&owner, ws, new).await.expect("link");

    let viewers: Vec<_> = (0..3)
        .map(|_| {
            let (app, link) = (f.app.clone(), link.clone());
            tokio::spawn(async move {
                for _ in 0..400 {
                    let view = app.share_view(&link, Viewed::Page, "192.0.2.0/24", "Firefox");
                    app.record_share_views(vec![view]).await.expect("journalled");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut reads = 0;
    while reads < 50 || viewers.iter().any(|v| !v.is_finished()) {
        store.audit_head(ws).await.expect("the head, with the views before it");
        reads += 1;
    }
    for viewer in viewers {
        viewer.await.expect("viewer");
    }
    let recorded = 3 * 400;
    let (seq, _) = store.audit_head(ws).await.expect("head").expect("a chain");
    let chain = store.audit_chain(ws, 0, 100_000).await.expect("chain");
    assert_eq!(chain.len() as i64, seq);
    assert_eq!(chain.iter().filter(|e| e.action == "share_link.viewed").count(), 1, "one event for the hour");
    assert!(f.app.verify_audit(&owner, ws).await.expect("verify").is_intact());
    let mut listed = 0;
    let mut after = None;
    loop {
        let page = f.app.share_views(&owner, ws, link.id, PageRequest { limit: 500, after }).await.expect("views");
        listed += page.items.len();
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    assert_eq!(listed, recorded, "every view once");
}
