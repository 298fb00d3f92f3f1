// The CLI prints its results (links, verification reports) on stdout: that is its interface.
#![allow(clippy::print_stdout)]

//! `workvault`: the server and its operator commands.

mod config;
mod system;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use actix_web::HttpServer;
use actix_web::web::Data;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use workvault_domain::Workvault;
use workvault_domain::id::WorkspaceId;
use workvault_domain::ports::Store;
use workvault_domain::signin::LocalSignIn;
use workvault_http::{AppState, HttpSettings};
use workvault_store_sqlite::SqliteStore;

use crate::config::{Config, Validated};
use crate::system::{OsRng, SystemClock};

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
    /// Check the configuration and print it.
    CheckConfig,
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

/// The opened instance: store and use cases.
struct Instance {
    store: Arc<SqliteStore>,
    app: Workvault,
    fresh: bool,
}

fn open(v: &Validated) -> anyhow::Result<Instance> {
    let dir = &v.config.data_dir;
    create_private_dir(dir)?;
    let rng = Arc::new(OsRng);
    let (_master_key, _) = system::master_key(&dir.join("master.key"), &*rng)?;
    let db = dir.join("workvault.db");
    let fresh = !db.exists();
    let store = Arc::new(SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?);
    let app = Workvault::new(store.clone() as Arc<dyn Store>, Arc::new(SystemClock), rng, v.config.lifetimes());
    Ok(Instance { store, app, fresh })
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating the data directory {}", dir.display()))
}

async fn run(command: Command, v: Validated) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(v).await,
        Command::Migrate => {
            let instance = open(&v)?;
            let ran = instance.store.migrate()?;
            println!("database is up to date ({ran} migrations applied now)");
            Ok(ExitCode::SUCCESS)
        }
        Command::SignInLink { email } => {
            let instance = open(&v)?;
            println!("{}", sign_in_url(&instance.app, &v, &email).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { workspace } } => {
            let ws: WorkspaceId =
                workspace.parse().map_err(|_| anyhow::anyhow!("`{workspace}` is not a workspace id"))?;
            let instance = open(&v)?;
            let report = instance.app.verify_audit_chain(ws).await?;
            match report.first_broken {
                None => {
                    println!("ok: the audit chain of workspace {ws} is intact ({} events)", report.events);
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    println!(
                        "broken: the audit chain of workspace {ws} breaks at event #{} ({}): {:?}",
                        b.seq, b.event_id, b.problem
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::CheckConfig => {
            println!("{}", toml::to_string_pretty(&v.config)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn sign_in_url(app: &Workvault, v: &Validated, email: &str) -> anyhow::Result<String> {
    let (_, token) = app.issue_sign_in_link(email).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = HttpSettings::for_url(v.public_url.clone());
    Ok(settings.link(&format!("/auth/link/{}", token.expose())))
}

async fn serve(v: Validated) -> anyhow::Result<ExitCode> {
    let instance = open(&v)?;
    let identity = Arc::new(LocalSignIn::new(instance.store.clone(), instance.app.clock().clone()));
    let state = Data::new(AppState {
        app: instance.app.clone(),
        identity,
        settings: HttpSettings::for_url(v.public_url.clone()),
    });
    let mut server = HttpServer::new(move || workvault_http::app(state.clone()))
        .bind(v.bind)
        .with_context(|| format!("binding {}", v.bind))?;
    if let Some(workers) = v.config.http.workers {
        server = server.workers(workers);
    }
    tracing::info!(bind = %v.bind, public_url = %v.public_url, data_dir = %v.config.data_dir.display(), "workvault listening");
    if instance.fresh {
        let url = sign_in_url(&instance.app, &v, &v.config.setup.first_user_email).await?;
        println!(
            "First start: sign in as {} with this link (single use, valid 15 minutes):",
            v.config.setup.first_user_email
        );
        println!("{url}");
        println!("More links: workvault sign-in-link --email you@example.com");
    }
    server.run().await?;
    Ok(ExitCode::SUCCESS)
}
