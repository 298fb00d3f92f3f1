//! A production app over an in-memory SQLite store, with a fixed clock.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use serde_json::Value;
use url::Url;
use workvault_domain::images::{Derived, GeoPoint, ImageError, ImageProcessor};
use workvault_domain::instance::{InstanceStore, Record, RecordKind};
use workvault_domain::model::Identity;
use workvault_domain::photo::ImageType;
use workvault_domain::ports::Store;
use workvault_domain::signin::LocalSignIn;
use workvault_domain::testing::{FixedClock, MemoryBlobs, SeqRng};
use workvault_domain::text::Email;
use workvault_domain::{Lifetimes, Limits, Workvault};
use workvault_http::{AppState, HttpSettings};
use workvault_store_sqlite::SqliteStore;

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub cookie: String,
    /// The id of the session behind the cookie.
    pub session: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The problem `code`, if this is a problem response.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn str(&self, key: &str) -> String {
        self.body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
    }
}

pub struct TestApp<S> {
    pub service: S,
    pub app: Workvault,
    pub clock: Arc<FixedClock>,
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<MemoryBlobs>,
}

/// An image reader that finds the same place in every original (the real one reads
/// EXIF in `workvault-blobs` and end to end).
#[derive(Debug)]
pub struct FixedPlace;

pub const PLACE: GeoPoint = GeoPoint { latitude: 48.8584, longitude: 2.2945, altitude: Some(35.0) };

#[async_trait::async_trait]
impl ImageProcessor for FixedPlace {
    async fn process(&self, _: bytes::Bytes, _: ImageType) -> Result<Derived, ImageError> {
        Err(ImageError::Unreadable("not used over HTTP".into()))
    }

    fn location(&self, head: &[u8]) -> Option<GeoPoint> {
        head.starts_with(&[0xFF, 0xD8]).then_some(PLACE)
    }
}

pub async fn test_app()
-> TestApp<impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>> {
    test_app_with(HttpSettings::for_url(Url::parse("http://127.0.0.1:8080").expect("url"))).await
}

/// The app with these deployment settings.
pub async fn test_app_with(
    settings: HttpSettings,
) -> TestApp<impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>>
{
    let store = Arc::new(SqliteStore::in_memory().expect("sqlite"));
    let blobs = Arc::new(MemoryBlobs::default());
    let clock = Arc::new(FixedClock::default());
    let app = Workvault::new(
        store.clone() as Arc<dyn Store>,
        clock.clone(),
        Arc::new(SeqRng::starting_at(1 << 32)),
        Lifetimes::default(),
    )
    .with_blobs(blobs.clone(), Limits { max_upload_bytes: 1 << 20, max_import_bytes: 1 << 20 })
    .with_images(Arc::new(FixedPlace));
    let identity = Arc::new(LocalSignIn::new(store.clone(), clock.clone()));
    let state = Data::new(AppState { app: app.clone(), identity, settings });
    let service = test::init_service(workvault_http::app(state)).await;
    TestApp { service, app, clock, store, blobs }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Signs a user in directly through the use case and returns their cookie.
    pub async fn user(&self, name: &str) -> User {
        let email = format!("{name}@example.test");
        let identity =
            Identity { issuer: "local".into(), subject: email.clone(), email: Email::parse(&email).expect("email") };
        let start = self.app.open_session(&identity, None).await.expect("session");
        let session = self.app.authenticate(&start.token).await.expect("auth").expect("live session");
        User {
            id: start.user.id.to_string(),
            cookie: format!("wv_session={}", start.token.expose()),
            session: session.id.to_string(),
        }
    }

    /// Sends a request, as `user` if given, with a JSON body if given.
    pub async fn call(&self, method: Method, path: &str, user: Option<&User>, body: Option<Value>) -> Reply {
        let mut req = TestRequest::default().method(method).uri(path);
        if let Some(u) = user {
            req = req.insert_header(("cookie", u.cookie.clone()));
        }
        if let Some(b) = body {
            req = req.set_json(b);
        }
        self.send(req).await
    }

    /// Sends raw bytes (an upload), as `user`.
    pub async fn call_raw(&self, method: Method, path: &str, user: &User, body: Vec<u8>) -> Reply {
        self.call_typed(method, path, user, "application/octet-stream", body).await
    }

    /// Sends raw bytes of a media type, as `user`.
    pub async fn call_typed(&self, method: Method, path: &str, user: &User, kind: &str, body: Vec<u8>) -> Reply {
        let req = TestRequest::default()
            .method(method)
            .uri(path)
            .insert_header(("cookie", user.cookie.clone()))
            .insert_header(("content-type", kind.to_owned()))
            .set_payload(body);
        self.send(req).await
    }

    /// Creates an asset; returns its id.
    pub async fn asset(&self, ws: &str, by: &User, name: &str) -> String {
        let r = self.post(&format!("/api/v1/workspaces/{ws}/assets"), by, serde_json::json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.str("id")
    }

    /// Uploads a small JPEG to a job; returns the photo id.
    pub async fn photo(&self, ws: &str, by: &User, job: &str) -> String {
        let r = self.call_raw(Method::POST, &format!("/api/v1/workspaces/{ws}/jobs/{job}/photos"), by, jpeg(500)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.str("id")
    }

    /// Does what the image worker does for a photo (the real one runs end to end):
    /// stores its variants (`large` = the first 64 bytes, `thumb` = the first 16) and
    /// marks it ready.
    pub async fn process(&self, ws: &str, photo: &str) {
        let original = jpeg(500);
        self.process_with(ws, photo, &original[..64], &original[..16], (40, 30)).await;
    }

    /// Stores the given variants of a photo and marks it ready with that size.
    pub async fn process_with(&self, ws: &str, photo: &str, large: &[u8], thumb: &[u8], (width, height): (u32, u32)) {
        use workvault_domain::blob::BlobStore;
        use workvault_domain::images::variant_key;
        use workvault_domain::photo::{ImageFacts, PhotoStatus, PhotoStore, Processed, Variant};
        let (ws, id) = (ws.parse().expect("ws id"), photo.parse().expect("photo id"));
        for (variant, bytes) in [(Variant::Large, large), (Variant::Thumb, thumb)] {
            let body = Box::pin(futures_util::stream::iter([Ok(bytes::Bytes::copy_from_slice(bytes))]));
            self.blobs.put(&variant_key(ws, id, variant), body, u64::MAX).await.expect("variant");
        }
        let facts = ImageFacts { width, height, taken_at: None, has_location: true };
        let sizes = (Some(large.len() as u64), Some(thumb.len() as u64));
        let done =
            Processed { status: PhotoStatus::Ready, facts: Some(facts), large_size: sizes.0, thumb_size: sizes.1 };
        self.store.finish_photo(ws, id, &done).await.expect("finish");
    }

    pub async fn send(&self, req: TestRequest) -> Reply {
        self.send_request(req.to_request()).await
    }

    /// Sends a request whose body is `body`, streamed as it comes (it may stall).
    pub async fn send_streamed(
        &self,
        req: TestRequest,
        body: impl futures_util::Stream<Item = Result<bytes::Bytes, actix_web::error::PayloadError>> + 'static,
    ) -> Reply {
        let payload: actix_http::BoxedPayloadStream = Box::pin(body);
        let (req, _) = req.to_request().replace_payload(actix_http::Payload::Stream { payload });
        self.send_request(req).await
    }

    /// Sends a request as built.
    pub async fn send_request(&self, req: actix_http::Request) -> Reply {
        let res = test::call_service(&self.service, req).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text, bytes: bytes.to_vec() }
    }

    pub async fn get(&self, path: &str, user: &User) -> Reply {
        self.call(Method::GET, path, Some(user), None).await
    }
    pub async fn post(&self, path: &str, user: &User, body: Value) -> Reply {
        self.call(Method::POST, path, Some(user), Some(body)).await
    }
    pub async fn patch(&self, path: &str, user: &User, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(user), Some(body)).await
    }
    pub async fn delete(&self, path: &str, user: &User) -> Reply {
        self.call(Method::DELETE, path, Some(user), None).await
    }
    pub async fn put(&self, path: &str, user: &User) -> Reply {
        self.call(Method::PUT, path, Some(user), None).await
    }

    /// Creates a workspace owned by `owner`; returns its id.
    pub async fn workspace(&self, owner: &User, name: &str) -> String {
        let r = self.post("/api/v1/workspaces", owner, serde_json::json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.str("id")
    }

    /// Adds `who` to `ws` with `role` through an invite link and its accept endpoint.
    pub async fn join(&self, ws: &str, by: &User, who: &User, role: &str) {
        let r = self.post(&format!("/api/v1/workspaces/{ws}/invites"), by, serde_json::json!({"role": role})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let token = r.str("url").rsplit('/').next().unwrap_or_default().to_owned();
        let r = self.call(Method::POST, &format!("/api/v1/invites/{token}/accept"), Some(who), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// Creates a job; returns its id.
    pub async fn job(&self, ws: &str, by: &User, title: &str) -> String {
        let r = self.post(&format!("/api/v1/workspaces/{ws}/jobs"), by, serde_json::json!({"title": title})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.str("id")
    }

    /// A fingerprint of everything the store holds, every record of every kind: a
    /// refused request must leave it unchanged.
    pub async fn snapshot(&self, _ws: &str) -> String {
        let mut all = String::new();
        for kind in RecordKind::ALL {
            let (records, _) = self.store.dump(kind, None, 1_000_000).await.expect("dump");
            for r in records {
                match r {
                    // A request marks its session as seen; that is not a change it made.
                    Record::Session(s, revoked) => all.push_str(&format!("session {} revoked {revoked:?}\n", s.id)),
                    other => all.push_str(&format!("{other:?}\n")),
                }
            }
        }
        all
    }
}

/// A small "JPEG": the magic bytes, then `len` bytes of filler.
pub fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..len).map(|i| (i % 251) as u8));
    b
}
