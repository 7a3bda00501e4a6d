//! The command line: global options, the commands, and the run that maps every outcome to
//! the documented exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::client::Api;
use crate::commands::Ctx;
use crate::commands::bucket::{self, BucketCommand};
use crate::commands::group::{self, GroupCommand};
use crate::commands::login::{self, LoginArgs};
use crate::commands::sync::{self, SyncCommand};
use crate::commands::task::{self, TaskCommand};
use crate::config;
use crate::error::CtlError;
use crate::output::{self, Format};

const AFTER_HELP: &str = "\
Exit codes:
  0  done (a watched task or group completed)
  1  the task or group failed, or paused before it completed
  2  bad usage (options, profile, missing keys)
  3  an API or network error (the OMS code and message are printed)

Keys of the stores are never options: set OMSCTL_SRC_AK, OMSCTL_SRC_SK, OMSCTL_DST_AK,
OMSCTL_DST_SK (OMSCTL_SRC_CONNECTION_STRING, OMSCTL_SRC_JSON_AUTH_FILE, OMSCTL_CDN_KEY), give
--keys-file, or type them when asked (without echo).

Example:
  omsctl login --endpoint http://127.0.0.1:8080 --user admin
  omsctl group create --src-cloud AWS --src-region eu-west-1 --src-bucket photos \\
      --dst-region cn-north-4 --dst-bucket backup --watch";

/// omsctl: run OMS migrations (tasks, task groups, sync tasks) from the command line.
#[derive(Debug, Parser)]
#[command(name = "omsctl", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The profile to use (see omsctl login).
    #[arg(long, env = "OMSCTL_PROFILE", global = true, default_value = config::DEFAULT_PROFILE)]
    profile: String,
    /// The profiles file (default: ~/.config/omsctl/config.toml).
    #[arg(long, env = "OMSCTL_CONFIG", global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// omsd's address, over the profile's (http://HOST:PORT).
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// How results are printed.
    #[arg(long, short = 'o', value_enum, global = true, default_value = "text")]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check credentials against omsd and save them as a profile.
    #[command(
        after_help = "Examples:\n  omsctl login --endpoint http://127.0.0.1:8080 --user admin\n  OMSCTL_SECRET_KEY=... omsctl login --endpoint http://127.0.0.1:8080 --project P --access-key AK\n  omsd token | omsctl login --endpoint http://127.0.0.1:8080 --token --secret-stdin"
    )]
    Login(LoginArgs),
    /// List the profiles of the profiles file.
    #[command(after_help = "Example:\n  omsctl profiles")]
    Profiles,
    /// Migration tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Task groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Sync tasks.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Bucket helpers: buckets, objects, regions.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// The regions omsd knows, per cloud.
    #[command(after_help = "Example:\n  omsctl regions --cloud AWS")]
    Regions {
        /// Only this cloud's.
        #[arg(long)]
        cloud: Option<String>,
    },
    /// The clouds omsd migrates from (or to, with --dest).
    #[command(after_help = "Example:\n  omsctl clouds")]
    Clouds {
        /// The destination clouds.
        #[arg(long)]
        dest: bool,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  omsctl completions bash > /etc/bash_completion.d/omsctl")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Parses the command line, runs it, and returns the exit code (errors on standard error, one
/// line each).
pub fn main() -> ExitCode {
    quiet_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version exit 0; usage errors exit 2 (clap's own codes).
        Err(e) => e.exit(),
    };
    let format = cli.output;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            return report(
                &CtlError::File {
                    path: "the async runtime".into(),
                    source,
                },
                format,
            );
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, format),
    }
}

/// A panic (a bug) is told in one line, like every other failure, not as a stack trace.
#[expect(
    clippy::print_stderr,
    reason = "a command's failure is told on standard error"
)]
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("omsctl: internal error: {}", what.replace('\n', " "));
    }));
}

#[expect(
    clippy::print_stderr,
    reason = "a command's failure is told on standard error"
)]
fn report(error: &CtlError, format: Format) -> ExitCode {
    match format {
        Format::Json => eprintln!("{}", error.to_json()),
        Format::Text => eprintln!("omsctl: {error}"),
    }
    error.exit_code()
}

async fn run(cli: Cli) -> Result<(), CtlError> {
    let path = config::config_path(cli.config.as_deref());
    let command = match cli.command {
        Command::Login(args) => {
            return login::run(
                &args,
                cli.endpoint.as_deref(),
                &cli.profile,
                &path,
                cli.output,
            )
            .await;
        }
        Command::Profiles => {
            let names = config::profile_names(&path)?;
            output::emit(cli.output, &serde_json::json!(names), |_| names.join("\n"));
            return Ok(());
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "omsctl", &mut script);
            output::line(String::from_utf8_lossy(&script).trim_end());
            return Ok(());
        }
        other => other,
    };
    let profile = config::resolve(&path, &cli.profile, cli.endpoint.as_deref())?;
    let ctx = Ctx {
        api: Api::connect(&profile).await?,
        format: cli.output,
    };
    match command {
        Command::Task(command) => task::run(&ctx, command).await,
        Command::Group(command) => group::run(&ctx, command).await,
        Command::Sync(command) => sync::run(&ctx, command).await,
        Command::Bucket(command) => bucket::run(&ctx, command).await,
        Command::Regions { cloud } => bucket::regions(&ctx, cloud.as_deref()).await,
        Command::Clouds { dest } => bucket::clouds(&ctx, dest).await,
        Command::Login(_) | Command::Profiles | Command::Completions { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn walk(command: &clap::Command, path: &str) {
            let name = format!("{path} {}", command.get_name());
            if command.has_subcommands() {
                for sub in command.get_subcommands() {
                    if sub.get_name() != "help" {
                        walk(sub, &name);
                    }
                }
            } else {
                let help = command
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(help.contains("Example"), "{name} has no example");
            }
        }
        walk(&Cli::command(), "");
    }
}
