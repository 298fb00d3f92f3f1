//! TLS to PostgreSQL (managed services require it), with rustls. libpq's `sslmode`
//! and `sslrootcert` URL parameters choose it; whenever TLS is on, the server's
//! certificate is verified (against the public web roots, or the `sslrootcert` CA
//! file), `require` included: an encrypted connection to an unverified server is not
//! offered.

use std::sync::Arc;

use diesel::ConnectionResult;
use diesel::result::ConnectionError;
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_postgres_rustls::MakeRustlsConnect;
use workvault_domain::ports::StoreError;

/// How to connect: the URL tokio-postgres gets, and the TLS connector if any.
#[derive(Clone)]
pub(crate) struct Connect {
    url: String,
    tls: Option<MakeRustlsConnect>,
}

impl Connect {
    /// Reads `sslmode` (`disable`, `prefer`: plain; `require`, `verify-ca`,
    /// `verify-full`: TLS, verified) and `sslrootcert` from the URL.
    pub(crate) fn from_url(url: &str) -> Result<Self, StoreError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = "prefer".to_owned();
        let mut root = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = v.to_owned(),
                Some(("sslrootcert", v)) => root = Some(v.to_owned()),
                _ => rest.push(pair.to_owned()),
            }
        }
        let bad = |m: String| StoreError::Corrupt(m);
        let tls = match mode.as_str() {
            "disable" | "prefer" | "allow" => None,
            "require" | "verify-ca" | "verify-full" => Some(tls_config(root.as_deref())?),
            other => {
                return Err(bad(format!(
                    "store.url: sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                )));
            }
        };
        if tls.is_some() {
            rest.push("sslmode=require".into());
        } else if mode == "disable" {
            rest.push("sslmode=disable".into());
        }
        let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
        Ok(Self { url, tls })
    }

    /// Opens one connection.
    pub(crate) fn establish(&self) -> BoxFuture<'static, ConnectionResult<AsyncPgConnection>> {
        let this = self.clone();
        async move {
            match this.tls {
                None => {
                    use diesel_async::AsyncConnection;
                    AsyncPgConnection::establish(&this.url).await
                }
                Some(tls) => {
                    let (client, connection) = tokio_postgres::connect(&this.url, tls)
                        .await
                        .map_err(|e| ConnectionError::BadConnection(chain(&e)))?;
                    AsyncPgConnection::try_from_client_and_connection(client, connection).await
                }
            }
        }
        .boxed()
    }
}

/// An error with its causes, one line (the TLS reason sits in the source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn tls_config(root: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|e| StoreError::Corrupt(format!("store.url: sslrootcert {path}: {e}")))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| StoreError::Corrupt(format!("store.url: sslrootcert {path}: {e}")))?;
                roots.add(cert).map_err(|e| StoreError::Corrupt(format!("store.url: sslrootcert {path}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(StoreError::Corrupt(format!("store.url: sslrootcert {path} holds no certificate")));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Corrupt(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
