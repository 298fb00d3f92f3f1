//! The HTTP client the adapter talks to the issuer with: reqwest over rustls (ring, the
//! Mozilla roots), no redirects followed (the OpenID Connect library's advice against
//! SSRF), and a timeout on every request. It is handed to `openidconnect` as its
//! `AsyncHttpClient`, so one reqwest (and one rustls) serves the whole binary.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// Why a request to the issuer failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The request failed (connection, timeout, TLS).
    #[error("request to the identity provider failed: {0}")]
    Request(String),
}

/// A cheap-to-clone client for the issuer's endpoints.
#[derive(Debug, Clone)]
pub struct IssuerClient {
    inner: reqwest::Client,
}

impl IssuerClient {
    /// A client with this timeout per request.
    pub fn new(timeout: Duration) -> Result<Self, HttpError> {
        let inner = builder(timeout)?.build().map_err(|e| HttpError::Build(e.to_string()))?;
        Ok(Self { inner })
    }

    /// A GET returning the body, failing on a non-2xx status.
    pub async fn get_bytes(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        let res = self.inner.get(url).send().await.map_err(|e| HttpError::Request(describe(&e)))?;
        let status = res.status();
        if !status.is_success() {
            return Err(HttpError::Request(format!("{url} answered {status}")));
        }
        Ok(res.bytes().await.map_err(|e| HttpError::Request(describe(&e)))?.to_vec())
    }

    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self.inner.request(parts.method, parts.uri.to_string()).body(body);
        for (name, value) in &parts.headers {
            req = req.header(name, value);
        }
        let res = req.send().await.map_err(|e| HttpError::Request(describe(&e)))?;
        let mut out = http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            out = out.header(name, value);
        }
        let body = res.bytes().await.map_err(|e| HttpError::Request(describe(&e)))?;
        out.body(body.to_vec()).map_err(|e| HttpError::Request(e.to_string()))
    }
}

/// A reqwest client builder over rustls (ring, Mozilla roots) that follows no redirects.
pub(crate) fn builder(timeout: Duration) -> Result<reqwest::ClientBuilder, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Build(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout))
}

/// A reqwest error without the URL's query (which may hold a code).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    match e.url() {
        Some(url) => format!("{kind}: {}://{}{}", url.scheme(), url.authority(), url.path()),
        None => kind.to_owned(),
    }
}

impl<'c> AsyncHttpClient<'c> for IssuerClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}
