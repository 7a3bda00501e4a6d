//! `omsd`: the OMS daemon and its operator commands.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use oms_api::auth::token::TokenIssuer;
use oms_core::ids::ProjectId;
use omsd::{App, config};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// OMS: a self-hosted object migration service, wire-compatible with Huawei Cloud OMS API v2.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A configuration file layered over the defaults (`OMS__SECTION__KEY` variables win over it).
    #[arg(long, env = "OMS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and a worker in one process (the default).
    All,
    /// Run only the API.
    Api,
    /// Run only a worker (the task engine), for nodes sharing a PostgreSQL database.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a token for the X-Auth-Token header.
    Token {
        /// The project (default: the only configured project, or the first-start one).
        #[arg(long)]
        project_id: Option<String>,
        /// The user name recorded in the token.
        #[arg(long, default_value = "operator")]
        user: String,
        /// Validity in seconds (default: auth.token_ttl_secs).
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
    /// Read a password from standard input and print its argon2 hash for [[auth.users]].
    HashPassword,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command.unwrap_or(Command::All) {
        Command::All => serve(&config, omsd::Role::All).await,
        Command::Api => serve(&config, omsd::Role::Api).await,
        Command::Worker => serve(&config, omsd::Role::Worker).await,
        Command::Migrate => {
            omsd::telemetry::init(&config.log)?;
            let master = omsd::load_master_key(&config)?;
            let db = omsd::open_database(&config, &master).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Token {
            project_id,
            user,
            ttl_secs,
        } => print_token(&config, project_id, &user, ttl_secs),
        Command::HashPassword => hash_password(),
    }
}

async fn serve(config: &config::Config, role: omsd::Role) -> anyhow::Result<()> {
    omsd::telemetry::init(&config.log)?;
    let app = App::build(config, role).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run(shutdown).await
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("signal received");
    shutdown.cancel();
}

#[expect(clippy::print_stdout, reason = "the token is the command's output")]
fn print_token(
    config: &config::Config,
    project: Option<String>,
    user: &str,
    ttl_secs: Option<u64>,
) -> anyhow::Result<()> {
    let master = omsd::load_master_key(config)?;
    let project = match project {
        Some(p) => p,
        None => default_project(config)?,
    };
    let project = ProjectId::parse(&project).context("--project-id is not a valid project id")?;
    let ttl = Duration::from_secs(ttl_secs.unwrap_or(config.auth.token_ttl_secs));
    let issuer = TokenIssuer::new(&omsd::token_signing_key(&master), ttl);
    let token = issuer
        .issue(user, &project)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", token.token);
    Ok(())
}

/// The project of `omsd token` when none is given.
fn default_project(config: &config::Config) -> anyhow::Result<String> {
    let mut projects: Vec<&str> = config
        .auth
        .users
        .iter()
        .map(|u| u.project_id.as_str())
        .chain(
            config
                .auth
                .access_keys
                .iter()
                .map(|k| k.project_id.as_str()),
        )
        .collect();
    projects.sort_unstable();
    projects.dedup();
    match projects.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => {
            let (key, created) = omsd::bootstrap::load_or_create(&config.auth.bootstrap_file)?;
            if created {
                omsd::bootstrap::announce(&key, &config.auth.bootstrap_file);
            }
            Ok(key.project_id.to_string())
        }
        _ => anyhow::bail!("several projects are configured; choose one with --project-id"),
    }
}

#[expect(clippy::print_stdout, reason = "the hash is the command's output")]
fn hash_password() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let password = input.strip_suffix('\n').unwrap_or(&input);
    let password = password.strip_suffix('\r').unwrap_or(password);
    anyhow::ensure!(
        !password.is_empty(),
        "the password is empty (pipe it on standard input)"
    );
    let hash = oms_api::password::hash(&SecretString::from(password.to_owned()))
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("{hash}");
    Ok(())
}
