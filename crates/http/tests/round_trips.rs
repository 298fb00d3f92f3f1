//! One database round trip per authorized read: the statements each request sends are
//! counted (diesel instrumentation) on both stores. A request costs one statement to
//! read the session and one that returns the data together with the access facts.
//!
//! A binary of its own with a single test: the counter is process-wide.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};
use url::Url;
use workvault_domain::model::Identity;
use workvault_domain::ports::Store;
use workvault_domain::service::{InviteRequest, NewJob, NewReport};
use workvault_domain::signin::LocalSignIn;
use workvault_domain::testing::{FixedClock, SeqRng};
use workvault_domain::text::Email;
use workvault_domain::{Ctx, Lifetimes, Workvault};
use workvault_http::{AppState, HttpSettings};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if matches!(event, InstrumentationEvent::StartQuery { .. }) {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn counting() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(Counter))
}

async fn check(name: &str, store: Arc<dyn Store>) {
    let clock = Arc::new(FixedClock::default());
    let app = Workvault::new(store.clone(), clock.clone(), Arc::new(SeqRng::default()), Lifetimes::default());
    let settings = HttpSettings::for_url(Url::parse("http://127.0.0.1:8080").expect("url"));
    let state = Data::new(AppState { app: app.clone(), identity: Arc::new(LocalSignIn::new(store, clock)), settings });
    let service = test::init_service(workvault_http::app(state)).await;

    let sign_in = |who: &str| {
        let email = Email::parse(&format!("{who}@example.test")).expect("email");
        Identity { issuer: "local".into(), subject: email.to_string(), email }
    };
    let owner = app.open_session(&sign_in("owner"), None).await.expect("owner");
    let rita = app.open_session(&sign_in("rita"), None).await.expect("rita");
    let owner_ctx = Ctx { user: owner.user.id, request_id: None };
    let rita_ctx = Ctx { user: rita.user.id, request_id: None };
    let ws = app.create_workspace(&owner_ctx, "Counted").await.expect("workspace").0.id;
    let (_, invite) = app
        .create_invite(
            &owner_ctx,
            ws,
            InviteRequest { role: Some(workvault_domain::policy::Role::Restricted), ..Default::default() },
        )
        .await
        .expect("invite");
    app.accept_invite(&rita_ctx, &invite).await.expect("accept");
    let job =
        app.create_job(&owner_ctx, ws, NewJob { title: "Roof".into(), ..Default::default() }).await.expect("job").id;
    app.grant_job(&owner_ctx, ws, job, rita.user.id).await.expect("grant");
    let new = NewReport { title: "Survey".into(), ..Default::default() };
    let report = app.create_report(&owner_ctx, ws, job, new).await.expect("report").id;

    let cookie = format!("wv_session={}", rita.token.expose());
    let cases = [
        format!("/api/v1/workspaces/{ws}/jobs/{job}"),
        format!("/api/v1/workspaces/{ws}/jobs"),
        format!("/api/v1/workspaces/{ws}"),
        format!("/api/v1/workspaces/{ws}/jobs/{job}/reports/{report}"),
    ];
    for path in &cases {
        let get = || TestRequest::get().uri(path).insert_header(("cookie", cookie.clone())).to_request();
        // Warm the connection (prepared statements, type lookups) first.
        assert_eq!(test::call_service(&service, get()).await.status(), 200, "{name} {path}");
        let before = STATEMENTS.load(Ordering::SeqCst);
        let res = test::call_service(&service, get()).await;
        let sent = STATEMENTS.load(Ordering::SeqCst) - before;
        assert_eq!(res.status(), 200, "{name} {path}");
        assert_eq!(
            sent, 2,
            "{name}: GET {path} sent {sent} statements: 1 for the session, 1 for authorization and data"
        );
    }

    // The use cases alone: exactly one statement for an authorized read.
    app.job(&rita_ctx, ws, job).await.expect("warm");
    for (what, run) in [("job", 0), ("jobs", 1), ("workspace", 2), ("report", 3)] {
        let before = STATEMENTS.load(Ordering::SeqCst);
        match run {
            0 => drop(app.job(&rita_ctx, ws, job).await.expect("job")),
            1 => drop(app.jobs(&rita_ctx, ws, Default::default()).await.expect("jobs")),
            2 => drop(app.workspace(&rita_ctx, ws).await.expect("workspace")),
            _ => drop(app.report(&rita_ctx, ws, job, report).await.expect("report")),
        }
        let sent = STATEMENTS.load(Ordering::SeqCst) - before;
        assert_eq!(sent, 1, "{name}: the authorized read of a {what} sent {sent} statements");
    }
}

#[actix_web::test]
async fn an_authorized_read_is_one_statement_on_both_stores() {
    set_default_instrumentation(counting).expect("instrumentation");
    let sqlite = workvault_store_sqlite::SqliteStore::in_memory().expect("sqlite");
    check("sqlite", Arc::new(sqlite)).await;
    let db = workvault_store_postgres::testdb::TestDb::new().await;
    check("postgres", Arc::new(db.store().await)).await;
}
