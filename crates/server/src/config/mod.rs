//! Configuration: defaults, then a TOML file (`--config`), then the environment
//! (`WORKVAULT__SECTION__KEY`). Validated at start, every problem reported at once.
//! `workvault.example.toml` at the repository root documents every key and is parsed
//! by a test.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;
use workvault_auth_oidc::OidcConfig;

mod auth;
mod blobs;

pub use auth::{AuthConfig, OidcSection, SecretString};
pub use blobs::BlobsConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded default keeps its files (database, master key).
    pub data_dir: PathBuf,
    /// HTTP listener and public address.
    pub http: HttpConfig,
    /// The database.
    pub store: StoreConfig,
    /// Identity provider.
    pub auth: AuthConfig,
    /// Link and session lifetimes.
    pub sessions: SessionConfig,
    /// Photo storage, keyring and master key.
    pub blobs: BlobsConfig,
    /// Share links.
    pub sharing: SharingConfig,
    /// Records (assets, tickets): imports and exports.
    pub records: RecordsConfig,
    /// Background workers.
    pub worker: WorkerConfig,
    /// First-start setup.
    pub setup: SetupConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on.
    pub bind: String,
    /// The URL users reach the server at (links start with it). Default: `http://<bind>`.
    pub public_url: Option<String>,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Networks (CIDR) of the reverse proxies in front of the server. Only a request
    /// from one of them has its client address read from `Forwarded` /
    /// `X-Forwarded-For`; every other request's client is its TCP peer.
    pub trusted_proxies: Vec<String>,
}

/// `[sharing]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharingConfig {
    /// A share link's lifetime when its maker names none, in days.
    pub default_days: i64,
    /// The longest lifetime a share link may have, in days.
    pub max_days: i64,
    /// How long share link views are kept, in days.
    pub view_retention_days: i64,
    /// Whether views of share links are recorded. Off only to measure what recording
    /// costs (`bench/share-view`): the start logs a warning, since the workspace then
    /// cannot see who opened its links.
    pub record_views: bool,
}

/// `[records]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    /// Largest CSV import, in MiB. The body is copied to `<data_dir>/spool` while it is
    /// checked, and read again to be written: never held in memory.
    pub max_import_mib: u64,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Empty: the embedded SQLite file `<data_dir>/workvault.db`. `sqlite://PATH`: a
    /// SQLite file elsewhere. `postgres://user:password@host:port/db`: PostgreSQL.
    pub url: String,
    /// Most connections to PostgreSQL.
    pub pool_size: u32,
    /// Seconds a request waits for a database connection before answering 503.
    pub connect_timeout_secs: u64,
    /// Run pending migrations on start (PostgreSQL; the embedded file always migrates).
    pub migrate_on_start: bool,
}

/// Which store a `store.url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl StoreUrl {
    /// Parses a store URL; empty means the embedded file under `data_dir`.
    pub fn parse(url: &str, data_dir: &Path) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(StoreUrl::Sqlite(data_dir.join("workvault.db")));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "store.url: `sqlite://` needs a file path, e.g. sqlite:///var/lib/workvault/workvault.db".into()
                );
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let parsed = Url::parse(url).map_err(|e| format!("store.url: not a valid PostgreSQL URL ({e})"))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("store.url: the PostgreSQL URL names no host".into());
            }
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        Err(format!("store.url: `{}` must be empty, sqlite://PATH or postgres://…", redact_url(url)))
    }

    /// The URL without its password, for messages.
    pub fn describe(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            StoreUrl::Postgres(u) => redact_url(u),
        }
    }
}

/// A URL with any password (in the user part or as a `password`/`passfile` query
/// parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else { return "[unparseable URL]".into() };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    let secret = |k: &str| matches!(k.to_ascii_lowercase().as_str(), "password" | "passfile" | "sslpassword");
    if u.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// `[sessions]`, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Hard session lifetime.
    pub absolute_secs: i64,
    /// Idle timeout.
    pub idle_secs: i64,
    /// Sign-in link lifetime.
    pub sign_in_link_secs: i64,
    /// How long a redirect sign-in (OpenID Connect) may take, start to callback.
    pub sign_in_flow_secs: i64,
    /// Default invite lifetime.
    pub invite_default_secs: i64,
    /// Longest invite lifetime.
    pub invite_max_secs: i64,
}

/// `[worker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Run a background worker inside `serve`.
    pub enabled: bool,
    /// Seconds between looks at the queue when it is idle.
    pub poll_secs: u64,
    /// Seconds a claimed task is leased before another worker may take it over.
    pub lease_secs: i64,
}

/// `[setup]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupConfig {
    /// Who the sign-in link printed on first start is for.
    pub first_user_email: String,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `workvault=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("workvault-data"),
            http: HttpConfig {
                bind: "127.0.0.1:8080".into(),
                public_url: None,
                workers: None,
                trusted_proxies: Vec::new(),
            },
            store: StoreConfig { url: String::new(), pool_size: 16, connect_timeout_secs: 5, migrate_on_start: true },
            auth: AuthConfig { provider: "local".into(), oidc: OidcSection::default() },
            sessions: SessionConfig {
                sign_in_flow_secs: 10 * 60,
                absolute_secs: 30 * 24 * 3600,
                idle_secs: 7 * 24 * 3600,
                sign_in_link_secs: 15 * 60,
                invite_default_secs: 7 * 24 * 3600,
                invite_max_secs: 30 * 24 * 3600,
            },
            blobs: BlobsConfig::default(),
            sharing: SharingConfig { default_days: 30, max_days: 365, view_retention_days: 180, record_views: true },
            records: RecordsConfig { max_import_mib: 512 },
            worker: WorkerConfig { enabled: true, poll_secs: 2, lease_secs: 300 },
            setup: SetupConfig { first_user_email: "owner@workvault.local".into() },
            log: LogConfig { format: "pretty".into(), level: "info".into() },
        }
    }
}

/// The checked values the server runs with.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The configuration as given.
    pub config: Config,
    /// Parsed `http.bind`.
    pub bind: SocketAddr,
    /// Parsed (or derived) `http.public_url`.
    pub public_url: Url,
    /// Parsed `store.url`.
    pub store: StoreUrl,
    /// The OpenID Connect adapter's configuration when `auth.provider = "oidc"`.
    pub oidc: Option<OidcConfig>,
    /// Parsed `http.trusted_proxies`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Config {
    /// Layers defaults, the file (if any) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Vec<String>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(vec![format!("config file {} does not exist", file.display())]);
            }
            fig = fig.merge(Toml::file(file));
        }
        fig = fig.merge(Env::prefixed("WORKVAULT__").split("__").lowercase(true));
        fig.extract().map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    /// Checks every value and reports every problem at once.
    pub fn validate(self) -> Result<Validated, Vec<String>> {
        let mut problems = Vec::new();
        let bind: Option<SocketAddr> = match self.http.bind.parse() {
            Ok(b) => Some(b),
            Err(_) => {
                problems.push(format!("http.bind: `{}` is not an address like 127.0.0.1:8080", self.http.bind));
                None
            }
        };
        let public = match (&self.http.public_url, bind) {
            (Some(u), _) => Url::parse(u).map_err(|e| format!("http.public_url: `{u}` is not a URL ({e})")),
            (None, Some(b)) => Url::parse(&format!("http://{b}")).map_err(|e| format!("http.public_url: {e}")),
            (None, None) => Err("http.public_url: cannot be derived from an invalid http.bind".into()),
        };
        let public_url = match public.and_then(|u| check_public_url(&u).map(|()| u)) {
            Ok(u) => Some(u),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        // Plain HTTP (no Secure cookies) only when nothing but this machine can connect.
        if let (Some(u), Some(b)) = (&public_url, bind)
            && u.scheme() == "http"
            && !b.ip().is_loopback()
        {
            problems.push(format!(
                "http.bind: `{b}` is reachable from the network, so http.public_url must be https (cookies must be Secure)"
            ));
        }
        let store = match StoreUrl::parse(&self.store.url, &self.data_dir) {
            Ok(s) => Some(s),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        if self.store.pool_size == 0 {
            problems.push("store.pool_size: must be at least 1".into());
        }
        if self.store.connect_timeout_secs == 0 {
            problems.push("store.connect_timeout_secs: must be at least 1".into());
        }
        if !(1..=3600).contains(&self.worker.poll_secs) {
            problems.push("worker.poll_secs: must be between 1 and 3600".into());
        }
        if !(10..=86_400).contains(&self.worker.lease_secs) {
            problems.push("worker.lease_secs: must be between 10 and 86400".into());
        }
        if !(1..=4096).contains(&self.records.max_import_mib) {
            problems.push("records.max_import_mib: must be between 1 and 4096".into());
        }
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".into());
        }
        let sharing = &self.sharing;
        if !(1..=3650).contains(&sharing.max_days) || !(1..=sharing.max_days).contains(&sharing.default_days) {
            problems.push("sharing: need 1 <= default_days <= max_days <= 3650".into());
        }
        if !(1..=3650).contains(&sharing.view_retention_days) {
            problems.push("sharing.view_retention_days: must be between 1 and 3650".into());
        }
        if self.http.workers == Some(0) {
            problems.push("http.workers: must be at least 1".into());
        }
        let oidc = self.auth.validate(public_url.as_ref(), &mut problems);
        self.blobs.validate(&mut problems);
        let s = &self.sessions;
        const TEN_YEARS: i64 = 10 * 366 * 24 * 3600;
        for (key, value) in [
            ("sessions.absolute_secs", s.absolute_secs),
            ("sessions.idle_secs", s.idle_secs),
            ("sessions.sign_in_link_secs", s.sign_in_link_secs),
            ("sessions.sign_in_flow_secs", s.sign_in_flow_secs),
            ("sessions.invite_default_secs", s.invite_default_secs),
            ("sessions.invite_max_secs", s.invite_max_secs),
        ] {
            if !(1..=TEN_YEARS).contains(&value) {
                problems.push(format!("{key}: must be between 1 and {TEN_YEARS} seconds"));
            }
        }
        if s.idle_secs > s.absolute_secs {
            problems.push("sessions.idle_secs: must not exceed sessions.absolute_secs".into());
        }
        if s.invite_default_secs > s.invite_max_secs {
            problems.push("sessions.invite_default_secs: must not exceed sessions.invite_max_secs".into());
        }
        if workvault_domain::text::Email::parse(&self.setup.first_user_email).is_err() {
            problems.push(format!("setup.first_user_email: `{}` is not an email address", self.setup.first_user_email));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            problems.push(format!("log.format: `{}` must be `pretty` or `json`", self.log.format));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            problems.push(format!("log.level: `{}` is not a tracing filter", self.log.level));
        }
        let trusted_proxies = parse_networks(&self.http.trusted_proxies, &mut problems);
        match (bind, public_url, store, problems.is_empty()) {
            (Some(bind), Some(public_url), Some(store), true) => {
                Ok(Validated { config: self, bind, public_url, store, oidc, trusted_proxies })
            }
            _ => Err(problems),
        }
    }

    /// The lifetimes the use cases run with.
    pub fn lifetimes(&self) -> workvault_domain::Lifetimes {
        let s = &self.sessions;
        let secs = chrono::Duration::seconds;
        workvault_domain::Lifetimes {
            invite_default: secs(s.invite_default_secs),
            invite_max: secs(s.invite_max_secs),
            sign_in_link: secs(s.sign_in_link_secs),
            session_absolute: secs(s.absolute_secs),
            session_idle: secs(s.idle_secs),
            sign_in_flow: secs(s.sign_in_flow_secs),
            share_link_default: chrono::Duration::days(self.sharing.default_days),
            share_link_max: chrono::Duration::days(self.sharing.max_days),
            share_view_retention: chrono::Duration::days(self.sharing.view_retention_days),
        }
    }
}

/// Plain HTTP is allowed on loopback only: elsewhere cookies must be `Secure`.
fn check_public_url(u: &Url) -> Result<(), String> {
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!("http.public_url: `{u}` must be https (plain http is for loopback only)"))
            }
        }
        other => Err(format!("http.public_url: scheme `{other}` must be https or http")),
    }
}

/// `http.trusted_proxies`: each entry a network (`10.0.0.0/8`, `fd00::/8`) or a single
/// address (`192.0.2.7`, taken as /32 or /128).
fn parse_networks(entries: &[String], problems: &mut Vec<String>) -> Vec<ipnet::IpNet> {
    entries
        .iter()
        .filter_map(|entry| {
            let parsed = entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc());
            match parsed {
                Ok(net) => Some(net),
                Err(_) => {
                    problems.push(format!("http.trusted_proxies: `{entry}` is not a network like 10.0.0.0/8"));
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let v = Config::default().validate().expect("defaults are valid");
        assert_eq!(v.public_url.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut c = Config::default();
        c.http.bind = "nowhere".into();
        c.http.public_url = Some("http://example.com".into());
        c.log.format = "xml".into();
        c.sessions.idle_secs = -1;
        c.setup.first_user_email = "nobody".into();
        let problems = c.validate().expect_err("invalid");
        for key in ["http.bind", "http.public_url", "log.format", "sessions.idle_secs", "setup.first_user_email"] {
            assert!(problems.iter().any(|p| p.starts_with(key)), "{key} missing from {problems:#?}");
        }
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let mut c = Config::default();
        c.http.trusted_proxies = vec!["10.0.0.0/8".into(), "192.0.2.7".into(), "fd00::1/8".into()];
        let v = c.clone().validate().expect("valid");
        let shown: Vec<String> = v.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]);
        c.http.trusted_proxies = vec!["10.0.0.0/33".into(), "proxy.local".into()];
        let problems = c.validate().expect_err("invalid");
        assert_eq!(problems.iter().filter(|p| p.starts_with("http.trusted_proxies")).count(), 2, "{problems:#?}");
    }

    #[test]
    fn store_urls_name_their_store_and_never_print_passwords() {
        let dir = Path::new("data");
        assert_eq!(StoreUrl::parse("", dir), Ok(StoreUrl::Sqlite(dir.join("workvault.db"))));
        assert_eq!(StoreUrl::parse("sqlite:///tmp/x.db", dir), Ok(StoreUrl::Sqlite("/tmp/x.db".into())));
        let pg = StoreUrl::parse("postgres://wv:s3cret@db:5432/wv", dir).expect("postgres");
        assert!(matches!(pg, StoreUrl::Postgres(_)));
        assert!(!pg.describe().contains("s3cret"));
        let in_query = StoreUrl::parse("postgres://wv@db/wv?sslmode=require&password=s3cret", dir).expect("postgres");
        assert!(!in_query.describe().contains("s3cret") && in_query.describe().contains("sslmode=require"));
        for bad in ["mysql://db/x", "postgres://", "sqlite://", "postgres://wv:s3cret@/x"] {
            let err = StoreUrl::parse(bad, dir).expect_err(bad);
            assert!(err.starts_with("store.url") && !err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn plain_http_needs_a_loopback_bind() {
        let mut c = Config::default();
        c.http.bind = "0.0.0.0:8080".into();
        c.http.public_url = Some("http://127.0.0.1:8080".into());
        let problems = c.clone().validate().expect_err("plain http on the network");
        assert!(problems.iter().any(|p| p.starts_with("http.bind")), "{problems:?}");
        c.http.public_url = Some("https://vault.example.com".into());
        c.validate().expect("https behind a proxy is fine");
    }

    #[test]
    fn upload_admission_is_bounded() {
        let mut c = Config::default();
        c.blobs.max_concurrent_uploads = 4;
        c.blobs.max_concurrent_public_uploads = 5;
        c.blobs.upload_idle_timeout_secs = 0;
        let problems = c.clone().validate().expect_err("out of range");
        assert!(problems.iter().any(|p| p.starts_with("blobs.max_concurrent_public_uploads")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("blobs.upload_idle_timeout_secs")), "{problems:?}");
        c.blobs.max_concurrent_public_uploads = 4;
        c.blobs.upload_idle_timeout_secs = 5;
        c.validate().expect("a public pool as large as the node's, a short timeout");
    }

    #[test]
    fn lifetimes_are_bounded() {
        let mut c = Config::default();
        c.sessions.absolute_secs = i64::MAX;
        c.sessions.invite_max_secs = 0;
        let problems = c.validate().expect_err("out of range");
        assert!(problems.iter().any(|p| p.starts_with("sessions.absolute_secs")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("sessions.invite_max_secs")), "{problems:?}");
    }

    #[test]
    fn https_is_required_off_loopback() {
        for (url, ok) in [
            ("https://vault.example.com", true),
            ("http://127.0.0.1:9000", true),
            ("http://localhost:9000", true),
            ("http://[::1]:9000", true),
            ("http://vault.example.com", false),
            ("ftp://vault.example.com", false),
        ] {
            let u = Url::parse(url).expect("url");
            assert_eq!(check_public_url(&u).is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn oidc_needs_its_issuer_client_and_audience_and_never_prints_the_secret() {
        let mut c = Config::default();
        c.auth.provider = "oidc".into();
        let problems = c.clone().validate().expect_err("nothing configured");
        for key in ["issuer", "client_id", "client_secret", "audience"] {
            assert!(problems.iter().any(|p| p.starts_with("auth.oidc") && p.contains(key)), "{key}: {problems:?}");
        }
        c.auth.oidc.issuer = "https://tenant.eu.auth0.com/".into();
        c.auth.oidc.client_id = "abc".into();
        c.auth.oidc.client_secret = SecretString("s3cret-value".into());
        c.auth.oidc.audience = "https://api.example".into();
        assert!(!format!("{c:?}").contains("s3cret-value"));
        let v = c.clone().validate().expect("valid");
        let oidc = v.oidc.expect("oidc config");
        assert_eq!(oidc.redirect_url.as_str(), "http://127.0.0.1:8080/auth/callback");
        assert_eq!(oidc.post_logout_redirect_url.expect("default").as_str(), "http://127.0.0.1:8080/");
        c.auth.oidc.algorithms = vec!["HS256".into()];
        let problems = c.clone().validate().expect_err("HS256");
        assert!(problems.iter().any(|p| p.contains("HS256")), "{problems:?}");
        c.auth.provider = "ldap".into();
        assert!(c.validate().expect_err("unknown").iter().any(|p| p.starts_with("auth.provider")));
    }

    #[test]
    fn the_example_config_parses_and_equals_the_defaults_it_documents() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../workvault.example.toml");
        let text = std::fs::read_to_string(example).expect("example config");
        let parsed: Config = toml::from_str(&text).expect("example parses");
        let mut expected = Config::default();
        expected.http.public_url = parsed.http.public_url.clone();
        expected.http.workers = parsed.http.workers;
        assert_eq!(parsed, expected, "the example documents the real defaults");
        parsed.validate().expect("the example is valid");
    }
}
