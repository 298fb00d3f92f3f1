//! When PostgreSQL goes away mid-run, requests answer 503 `store_unavailable`, `/readyz`
//! fails, and the server recovers by itself when the database returns. A TCP proxy in
//! front of the test cluster is cut and restored.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use url::Url;
use workvault_domain::model::Identity;
use workvault_domain::ports::Store;
use workvault_domain::signin::LocalSignIn;
use workvault_domain::testing::{FixedClock, SeqRng};
use workvault_domain::text::Email;
use workvault_domain::{Ctx, Lifetimes, Workvault};
use workvault_http::{AppState, HttpSettings};
use workvault_store_postgres::testdb::TestDb;
use workvault_store_postgres::{PgConfig, PgStore};

#[derive(Default)]
struct Links {
    cut: bool,
    open: Vec<AbortHandle>,
}

/// A TCP proxy that can drop every connection and refuse new ones.
struct Proxy {
    addr: SocketAddr,
    links: Arc<Mutex<Links>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let links = Arc::new(Mutex::new(Links::default()));
        let shared = links.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if shared.lock().expect("lock").cut {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                shared.lock().expect("lock").open.push(task.abort_handle());
            }
        });
        Self { addr, links }
    }

    fn cut(&self) {
        let mut links = self.links.lock().expect("lock");
        links.cut = true;
        for l in links.open.drain(..) {
            l.abort();
        }
    }

    fn restore(&self) {
        self.links.lock().expect("lock").cut = false;
    }
}

fn upstream(url: &str) -> SocketAddr {
    let u = Url::parse(url).expect("test database url");
    let host = u.host_str().expect("host");
    format!("{host}:{}", u.port().unwrap_or(5432)).parse().expect("the test server is named by an IP address")
}

#[actix_web::test]
async fn a_lost_database_answers_503_and_the_server_recovers_by_itself() {
    let db = TestDb::new().await;
    let proxy = Proxy::start(upstream(&db.url)).await;
    let mut through = Url::parse(&db.url).expect("url");
    through.set_port(Some(proxy.addr.port())).expect("port");
    let mut config = PgConfig::new(through.to_string());
    config.connect_timeout = Duration::from_secs(1);
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&config).await.expect("connect through the proxy"));

    let clock = Arc::new(FixedClock::default());
    let app = Workvault::new(store.clone(), clock.clone(), Arc::new(SeqRng::default()), Lifetimes::default());
    let settings = HttpSettings::for_url(Url::parse("http://127.0.0.1:8080").expect("url"));
    let state = Data::new(AppState { app: app.clone(), identity: Arc::new(LocalSignIn::new(store, clock)), settings });
    let service = test::init_service(workvault_http::app(state)).await;

    let email = Email::parse("owner@example.test").expect("email");
    let owner = app
        .open_session(&Identity { issuer: "local".into(), subject: email.to_string(), email }, None)
        .await
        .expect("session");
    let ctx = Ctx { user: owner.user.id, request_id: None };
    let ws = app.create_workspace(&ctx, "Resilient").await.expect("workspace").0.id;
    let cookie = format!("wv_session={}", owner.token.expose());
    let read = || {
        TestRequest::get()
            .uri(&format!("/api/v1/workspaces/{ws}"))
            .insert_header(("cookie", cookie.clone()))
            .to_request()
    };
    let ready = || TestRequest::get().uri("/readyz").to_request();

    assert_eq!(test::call_service(&service, read()).await.status(), 200);
    assert_eq!(test::call_service(&service, ready()).await.status(), 200);

    proxy.cut();
    let res = test::call_service(&service, read()).await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["code"], "store_unavailable", "{body}");
    assert!(!body.to_string().contains("proxy") && !body.to_string().contains("127.0.0.1"), "nothing internal: {body}");
    assert_eq!(test::call_service(&service, ready()).await.status(), 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = test::call_service(&service, read()).await.status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery within 15 s (last status {status})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(test::call_service(&service, ready()).await.status(), 200);
}
