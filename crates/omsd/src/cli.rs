//! The `omsd` command line: the daemon's roles and the operator commands. `main.rs` is only
//! [`main`], so that the end-to-end tests build and drive the very same program.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};
use tokio_util::sync::CancellationToken;

use crate::token::TokenRequest;
use crate::{App, Role, config};

/// OMS: a self-hosted object migration service, wire-compatible with Huawei Cloud OMS API v2.
#[derive(Debug, Parser)]
#[command(name = "omsd", version, about)]
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
    /// Run only the API (no worker), for nodes sharing a PostgreSQL database.
    Api,
    /// Run only a worker (the task engine), for nodes sharing a PostgreSQL database.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a token for the X-Auth-Token header (only the token, on standard output). Reads
    /// the installation of the current folder and configuration; creates nothing.
    Token {
        /// The project: one of auth.users / auth.access_keys, or the first-start project while
        /// none are configured (default: the only such project, or --user's).
        #[arg(long)]
        project_id: Option<String>,
        /// A configured user (auth.users) recorded in the token; its project is the token's
        /// (default: the subject "operator", no user).
        #[arg(long)]
        user: Option<String>,
        /// Validity in seconds (default: auth.token_ttl_secs).
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
    /// Print the argon2 hash of a password for [[auth.users]]: asked for without echo at a
    /// terminal, else read from standard input.
    HashPassword,
}

/// Runs the command line and returns the process's exit code; errors go to standard error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

#[expect(
    clippy::print_stderr,
    reason = "a command's failure is told on standard error"
)]
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("Error: {error:#}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command.unwrap_or(Command::All) {
        Command::All => serve(&config, Role::All).await,
        Command::Api => serve(&config, Role::Api).await,
        Command::Worker => serve(&config, Role::Worker).await,
        Command::Migrate => {
            crate::telemetry::init(&config.log)?;
            let master = crate::load_master_key(&config)?;
            let db = crate::open_database(&config, &master).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Token {
            project_id,
            user,
            ttl_secs,
        } => {
            let token = crate::token::operator_token(
                &config,
                &TokenRequest {
                    project_id,
                    user,
                    ttl_secs,
                },
            )?;
            print_line(&token)
        }
        Command::HashPassword => hash_password(),
    }
}

async fn serve(config: &config::Config, role: Role) -> anyhow::Result<()> {
    crate::telemetry::init(&config.log)?;
    let app = App::build(config, role).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run(shutdown).await
}

/// The next SIGINT or SIGTERM.
async fn signal() {
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
}

/// A first signal shuts down gracefully (running tasks save their transfers and hand their
/// leases back); a second one exits at once: nothing is lost either way, a task whose lease
/// was not handed back is resumed when the lease lapses (`worker.lease_ms`).
async fn stop_on_signal(shutdown: CancellationToken) {
    signal().await;
    tracing::info!("signal received: shutting down gracefully; send it again to exit at once");
    shutdown.cancel();
    signal().await;
    tracing::warn!(
        "second signal: exiting now; tasks still running are resumed from their checkpoints once their leases lapse"
    );
    std::process::exit(130);
}

/// Writes the command's one result line on standard output.
fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// The password to hash: asked for twice without echo at a terminal (prompts on standard
/// error), else standard input up to its end, less one line ending (scripts pipe it).
fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let ask = |prompt: &str| -> anyhow::Result<SecretString> {
            let mut err = std::io::stderr().lock();
            write!(err, "{prompt}").and_then(|()| err.flush())?;
            drop(err);
            rpassword::read_password()
                .map(SecretString::from)
                .context("cannot read the password from the terminal")
        };
        let password = ask("Password: ")?;
        anyhow::ensure!(
            !password.expose_secret().is_empty(),
            "the password is empty"
        );
        let again = ask("Password again: ")?;
        anyhow::ensure!(
            password.expose_secret() == again.expose_secret(),
            "the passwords differ; nothing was hashed"
        );
        return Ok(password);
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let input = SecretString::from(input);
    let text = input.expose_secret();
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    anyhow::ensure!(
        !text.is_empty(),
        "the password is empty (type it at a terminal, or pipe it on standard input)"
    );
    Ok(SecretString::from(text.to_owned()))
}

fn hash_password() -> anyhow::Result<()> {
    let password = read_password()?;
    let hash = oms_api::password::hash(&password).map_err(|e| anyhow::anyhow!(e))?;
    print_line(&hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
