// The CLI prints its results (links, verification reports) on stdout: that is its interface.
#![allow(clippy::print_stdout)]

//! `workvault`: the server and its operator commands.

mod config;
mod private;
mod system;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::web::Data;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use workvault_auth_oidc::OidcProvider;
use workvault_blobs::{EncryptedBlobs, MasterKey, ObjectKeyring, Variants, open_location};
use workvault_domain::blob::BlobStore;
use workvault_domain::id::WorkspaceId;
use workvault_domain::ports::IdentityProvider;
use workvault_domain::ports::Store;
use workvault_domain::signin::LocalSignIn;
use workvault_domain::{Limits, Workvault};
use workvault_http::client::TrustedProxies;
use workvault_http::{AppState, HttpSettings, UploadSlots};
use workvault_store_postgres::{PgConfig, PgStore};
use workvault_store_sqlite::SqliteStore;

use crate::config::{Config, StoreUrl, Validated};
use crate::private::create_private_dir;
use crate::system::{BlockingPool, OsRng, SystemClock};

/// mimalloc: a request's memory is made on one thread (an actix worker, a store
/// thread) and often freed on another, and glibc's allocator serialized those frees on
/// its arena locks (futex waits on every thread in `bench/share-view`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Workvault: jobs, photos, tickets and assets, with access decided on every request.
#[derive(Debug, Parser)]
#[command(name = "workvault", version, about)]
struct Cli {
    /// A TOML configuration file (see workvault.example.toml); the environment
    /// (WORKVAULT__SECTION__KEY) overrides it.
    #[arg(long, global = true, env = "WORKVAULT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the embedded default needs no configuration at all).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Print a single-use sign-in link (valid 15 minutes) for an email address.
    SignInLink {
        /// Who the link signs in (created on first use).
        #[arg(long)]
        email: String,
    },
    /// Audit log operations.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy a whole instance (every workspace, member, job, audit chain, session…) from
    /// one store to another, empty one, then verify every audit chain on the target.
    /// Written against the store ports only, so it works between any two stores.
    MigrateStore {
        /// The source: sqlite://PATH or postgres://…
        #[arg(long)]
        from: String,
        /// The empty target: sqlite://PATH or postgres://… (migrated first).
        #[arg(long)]
        to: String,
        /// Records per page.
        #[arg(long, default_value_t = 1000)]
        batch: u32,
    },
    /// Check the configuration and print it.
    CheckConfig,
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Rotate the master key: a new one is made and every workspace key rewrapped with
    /// it (no photo is touched). With the default key file, `master.key` is replaced;
    /// with `blobs.master_key`, the new key is written to `--new-key-file` to be
    /// configured next. Resumable if cut off.
    RotateMaster {
        /// Where to write the new key (base64); required when the key is configured.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify a workspace's hash chain from its first event; names the first broken link.
    Verify {
        /// The workspace id.
        #[arg(long)]
        workspace: String,
    },
}

fn main() -> ExitCode {
    // Before anything is made: whatever a library creates is private (`private`).
    #[cfg(unix)]
    private::restrict_umask();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()).and_then(Config::validate) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("workvault: invalid configuration:");
            for p in problems {
                eprintln!("  - {p}");
            }
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.config);
    // One TLS crypto stack for every client in the process (object storage, the
    // identity provider): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = actix_web::rt::System::new().block_on(run(cli.command, config));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("workvault: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if config.log.format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// The store the configuration names.
#[derive(Clone)]
enum Backend {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Backend {
    /// Opens the store `url` names: a one-line error naming the problem if it cannot.
    async fn open(url: &StoreUrl, config: &Config, migrate: bool) -> anyhow::Result<Self> {
        match url {
            StoreUrl::Sqlite(path) => {
                let store = SqliteStore::open(path).with_context(|| format!("opening {}", url.describe()))?;
                Ok(Backend::Sqlite(Arc::new(store)))
            }
            StoreUrl::Postgres(pg) => {
                let pg_config = PgConfig {
                    url: pg.clone(),
                    pool_size: config.store.pool_size,
                    connect_timeout: Duration::from_secs(config.store.connect_timeout_secs),
                };
                let store =
                    PgStore::connect(&pg_config).await.with_context(|| format!("cannot reach {}", url.describe()))?;
                if migrate {
                    store.migrate().await.with_context(|| format!("migrating {}", url.describe()))?;
                }
                Ok(Backend::Postgres(Arc::new(store)))
            }
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => s.clone(),
            Backend::Postgres(s) => s.clone(),
        }
    }

    async fn migrate(&self) -> anyhow::Result<usize> {
        Ok(match self {
            Backend::Sqlite(s) => s.migrate()?,
            Backend::Postgres(s) => s.migrate().await?,
        })
    }
}

/// The opened instance: store and use cases.
struct Instance {
    backend: Backend,
    app: Workvault,
}

async fn open(v: &Validated) -> anyhow::Result<Instance> {
    // The store first: an unreachable or too-new database stops here, before anything
    // is written to the data directory.
    if matches!(v.store, StoreUrl::Sqlite(_)) {
        create_private_dir(&v.config.data_dir)?;
    }
    let backend = Backend::open(&v.store, &v.config, v.config.store.migrate_on_start).await?;
    create_private_dir(&v.config.data_dir)?;
    let rng = Arc::new(OsRng);
    let blobs = open_blobs(v, rng.clone())?;
    let limits = Limits {
        max_upload_bytes: v.config.blobs.max_upload_mib * 1024 * 1024,
        max_import_bytes: v.config.records.max_import_mib * 1024 * 1024,
    };
    let app = Workvault::new(backend.store(), Arc::new(SystemClock), rng, v.config.lifetimes())
        .with_blobs(blobs, limits)
        .with_images(Arc::new(Variants))
        .with_offload(Arc::new(BlockingPool));
    Ok(Instance { backend, app })
}

/// The master key: from `blobs.master_key` (or its environment variable) when set,
/// else the file `<data_dir>/master.key`, made on first start.
fn load_master_key(v: &Validated, rng: &dyn workvault_domain::ports::Rng) -> anyhow::Result<MasterKey> {
    let configured = &v.config.blobs.master_key.0;
    let bytes = if configured.is_empty() {
        system::master_key(&v.config.data_dir.join("master.key"), rng)?.0
    } else {
        system::decode_master_key(configured).context("blobs.master_key")?
    };
    MasterKey::from_slice(&bytes).context("the master key must be 32 bytes")
}

/// `workvault keys rotate-master`: the new key is saved first (so a cut-off run can
/// resume with it), then every data key is rewrapped, then the key file is switched.
async fn rotate_master(v: &Validated, new_key_file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let rng = OsRng;
    let configured = !v.config.blobs.master_key.0.is_empty();
    let target = match (&new_key_file, configured) {
        (Some(path), _) => path.clone(),
        (None, true) => anyhow::bail!("blobs.master_key is configured: name --new-key-file to write the new key to"),
        (None, false) => v.config.data_dir.join("master.key.new"),
    };
    let (new, _) = system::master_key(&target, &rng)?;
    let new = MasterKey::from_slice(&new).context("the new master key must be 32 bytes")?;
    let keys = open_location(&v.config.blobs.keyring_url, &v.config.data_dir.join("keyring"), &v.config.blobs.s3())
        .context("blobs.keyring_url")?;
    let keyring = ObjectKeyring::new(keys, load_master_key(v, &rng)?, Arc::new(OsRng));
    let n = keyring.rewrap_all(&new).await.map_err(|e| anyhow::anyhow!("rewrapping the workspace keys: {e}"))?;
    if !configured && new_key_file.is_none() {
        std::fs::rename(&target, v.config.data_dir.join("master.key")).context("replacing master.key")?;
        println!("rewrapped {n} workspace keys; master.key replaced");
    } else {
        println!("rewrapped {n} workspace keys; now configure the key in {} and restart", target.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The encrypted photo storage and its keyring, as configured.
fn open_blobs(v: &Validated, rng: Arc<OsRng>) -> anyhow::Result<Arc<dyn BlobStore>> {
    let b = &v.config.blobs;
    let s3 = b.s3();
    let objects = open_location(&b.url, &v.config.data_dir.join("blobs"), &s3).context("blobs.url")?;
    let keys = open_location(&b.keyring_url, &v.config.data_dir.join("keyring"), &s3).context("blobs.keyring_url")?;
    let keyring = Arc::new(ObjectKeyring::new(keys, load_master_key(v, &*rng)?, rng.clone()));
    let blobs = EncryptedBlobs::new(objects, keyring, rng);
    let url = b.url.trim();
    Ok(Arc::new(match url.strip_prefix("file://") {
        Some(dir) => blobs.with_local_root(dir.into()),
        None if url.is_empty() => blobs.with_local_root(v.config.data_dir.join("blobs")),
        None => blobs,
    }))
}

async fn run(command: Command, v: Validated) -> anyhow::Result<ExitCode> {
    #[cfg(unix)]
    private::warn_if_open(&v.config.data_dir);
    match command {
        Command::Serve => serve(v).await,
        Command::Migrate => {
            let backend = Backend::open(&v.store, &v.config, false).await?;
            let ran = backend.migrate().await?;
            println!("{} is up to date ({ran} migrations applied now)", v.store.describe());
            Ok(ExitCode::SUCCESS)
        }
        Command::SignInLink { email } => {
            anyhow::ensure!(
                v.oidc.is_none(),
                "sign-in links are off: auth.provider is oidc; people sign in at {}",
                HttpSettings::for_url(v.public_url.clone()).link("/auth/login")
            );
            let instance = open(&v).await?;
            println!("{}", sign_in_url(&instance.app, &v, &email).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { workspace } } => {
            let ws: WorkspaceId =
                workspace.parse().map_err(|_| anyhow::anyhow!("`{workspace}` is not a workspace id"))?;
            let instance = open(&v).await?;
            let report = match instance.app.verify_audit_chain(ws).await {
                Ok(r) => r,
                Err(workvault_domain::Error::NotFound) => {
                    anyhow::bail!("workspace {ws} has no audit chain: no such workspace")
                }
                Err(e) => return Err(e.into()),
            };
            match report.first_broken {
                None => {
                    println!("ok: the audit chain of workspace {ws} is intact ({} events)", report.events);
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    let id = b.event_id.map_or_else(|| "missing".to_owned(), |id| id.to_string());
                    println!(
                        "broken: the audit chain of workspace {ws} breaks at event #{} ({id}): {:?}",
                        b.seq, b.problem
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::MigrateStore { from, to, batch } => migrate_store(&v, &from, &to, batch).await,
        Command::Keys { command: KeysCommand::RotateMaster { new_key_file } } => rotate_master(&v, new_key_file).await,
        Command::CheckConfig => {
            let mut shown = v.config.clone();
            shown.store.url = config::redact_url(&shown.store.url);
            if v.config.store.url.is_empty() {
                shown.store.url = String::new();
            }
            for secret in
                [&mut shown.auth.oidc.client_secret, &mut shown.blobs.master_key, &mut shown.blobs.s3_secret_access_key]
            {
                if !secret.0.is_empty() {
                    *secret = config::SecretString("[redacted]".into());
                }
            }
            println!("{}", toml::to_string_pretty(&shown)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn migrate_store(v: &Validated, from: &str, to: &str, batch: u32) -> anyhow::Result<ExitCode> {
    use workvault_domain::instance::copy_instance;
    anyhow::ensure!((1..=100_000).contains(&batch), "--batch must be between 1 and 100000");
    let parse = |flag: &str, url: &str| {
        anyhow::ensure!(!url.trim().is_empty(), "{flag} needs a store URL (sqlite://PATH or postgres://…)");
        StoreUrl::parse(url, &v.config.data_dir)
            .map_err(|e| anyhow::anyhow!("{flag}: {}", e.trim_start_matches("store.url: ")))
    };
    let (from_url, to_url) = (parse("--from", from)?, parse("--to", to)?);
    anyhow::ensure!(from_url != to_url, "--from and --to name the same store");
    if let StoreUrl::Sqlite(path) = &from_url {
        anyhow::ensure!(path.exists(), "--from: {} does not exist", path.display());
    }
    let source = Backend::open(&from_url, &v.config, false).await?.store();
    let target = Backend::open(&to_url, &v.config, true).await?.store();
    println!("copying {} → {}", from_url.describe(), to_url.describe());
    let report = copy_instance(&*source, &*target, batch, |kind, n| {
        tracing::debug!(kind = kind.name(), copied = n, "page copied");
    })
    .await?;
    for (kind, n) in &report.copied {
        println!("  {n:>9} {}", kind.name());
    }
    let events: u64 = report.chains.iter().map(|(_, c)| c.events).sum();
    println!("verified {} audit chains ({events} events) on {}", report.chains.len(), to_url.describe());
    Ok(ExitCode::SUCCESS)
}

/// Schedules the hourly clean-up and runs a worker on the queue until the server stops.
async fn start_worker(instance: &Instance, v: &Validated) -> anyhow::Result<()> {
    use workvault_domain::images::{ProcessPhotos, PurgeBlobs, ReapUploads};
    use workvault_domain::queue::{PruneCredentials, SweepUploads, TaskHandler, Turn, Worker};
    let store = instance.backend.store();
    let clock = instance.app.clock().clone();
    let retention = v.config.lifetimes().share_view_retention;
    let prune = Arc::new(PruneCredentials::new(store.clone(), clock.clone()).with_view_retention(retention));
    prune.schedule(clock.now()).await.context("scheduling the credential clean-up")?;
    let mut suffix = [0u8; 4];
    instance.app.rng().fill(&mut suffix);
    let name =
        format!("worker-{}-{:02x}{:02x}{:02x}{:02x}", std::process::id(), suffix[0], suffix[1], suffix[2], suffix[3]);
    let mut handlers: Vec<Arc<dyn TaskHandler>> = vec![prune];
    if let Some(blobs) = instance.app.blob_store() {
        let sweep = Arc::new(SweepUploads::new(store.clone(), blobs.clone(), clock.clone()));
        sweep.schedule(clock.now()).await.context("scheduling the sweep of unfinished uploads")?;
        handlers.push(sweep);
        handlers.push(Arc::new(ProcessPhotos::new(store.clone(), blobs.clone(), Arc::new(Variants))));
        handlers.push(Arc::new(PurgeBlobs::new(blobs.clone())));
        handlers.push(Arc::new(ReapUploads::new(store.clone(), blobs.clone())));
        handlers.push(Arc::new(workvault_domain::ticket::ReapAttachments::new(store.clone(), blobs.clone())));
    }
    let sleep: workvault_domain::queue::Sleep = Arc::new(|d| Box::pin(actix_web::rt::time::sleep(d)));
    let lease = chrono::Duration::seconds(v.config.worker.lease_secs);
    let worker = Worker::new(name.clone(), store, clock, handlers, lease, sleep);
    let poll = Duration::from_secs(v.config.worker.poll_secs);
    actix_web::rt::spawn(async move {
        tracing::info!(worker = %name, "background worker started");
        loop {
            match worker.turn().await {
                Ok(Turn::Idle) => actix_web::rt::time::sleep(poll).await,
                Ok(Turn::Completed(id)) => tracing::info!(task = %id, "task completed"),
                Ok(Turn::Failed(id, state)) => tracing::warn!(task = %id, state = state.as_str(), "task failed"),
                Ok(Turn::LeaseLost(id)) => tracing::warn!(task = %id, "task lease lost to another worker"),
                Err(e) => {
                    tracing::warn!(error = %e, "the queue is unavailable");
                    actix_web::rt::time::sleep(poll).await;
                }
            }
        }
    });
    Ok(())
}

async fn sign_in_url(app: &Workvault, v: &Validated, email: &str) -> anyhow::Result<String> {
    let (_, token) = app.issue_sign_in_link(email).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = HttpSettings::for_url(v.public_url.clone());
    Ok(settings.link(&format!("/auth/link/{}", token.expose())))
}

async fn serve(v: Validated) -> anyhow::Result<ExitCode> {
    let instance = open(&v).await?;
    let first_start = !instance.app.store().has_users().await.context("reading the store")?;
    let identity: Arc<dyn IdentityProvider> = match &v.oidc {
        Some(config) => Arc::new(OidcProvider::discover(config.clone()).await?),
        None => Arc::new(LocalSignIn::new(instance.backend.store(), instance.app.clock().clone())),
    };
    let state = Data::new(AppState {
        app: instance.app.clone(),
        identity,
        settings: HttpSettings::for_url(v.public_url.clone())
            .with_upload_slots(UploadSlots::new(v.config.blobs.max_concurrent_uploads))
            .with_public_upload_slots(UploadSlots::new(v.config.blobs.max_concurrent_public_uploads))
            .with_upload_idle_timeout(Duration::from_secs(v.config.blobs.upload_idle_timeout_secs))
            .with_record_share_views(v.config.sharing.record_views)
            .with_spool_dir(v.config.data_dir.join("spool"))
            .with_trusted_proxies(TrustedProxies::new(v.trusted_proxies.clone())),
    });
    if !v.config.sharing.record_views {
        tracing::warn!("sharing.record_views is off: views of share links are not recorded");
    }
    let mut server = HttpServer::new(move || workvault_http::app(state.clone()))
        .bind(v.bind)
        .with_context(|| format!("binding {}", v.bind))?;
    if let Some(workers) = v.config.http.workers {
        server = server.workers(workers);
    }
    tracing::info!(bind = %v.bind, public_url = %v.public_url, data_dir = %v.config.data_dir.display(), "workvault listening");
    if first_start && v.oidc.is_some() {
        let settings = HttpSettings::for_url(v.public_url.clone());
        println!("First start: sign in through the identity provider at {}", settings.link("/auth/login"));
    } else if first_start {
        let url = sign_in_url(&instance.app, &v, &v.config.setup.first_user_email).await?;
        println!(
            "First start: to sign in as {}, open this link and press Sign in (single use, valid 15 minutes):",
            v.config.setup.first_user_email
        );
        println!("{url}");
        println!("More links: workvault sign-in-link --email you@example.com");
    }
    if v.config.worker.enabled {
        start_worker(&instance, &v).await?;
    }
    server.run().await?;
    Ok(ExitCode::SUCCESS)
}
