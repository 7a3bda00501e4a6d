//! `omsctl login`: checks credentials against omsd and writes them as a profile.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::Path;

use secrecy::SecretString;
use serde_json::json;

use crate::client::{Api, login_at};
use crate::config::{self, Credentials, Profile};
use crate::error::CtlError;
use crate::output::{self, Format};

/// `omsctl login` options.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("how").required(true).args(["access_key", "user", "token"]))]
pub struct LoginArgs {
    /// The project id (required with --access-key; a password or token login learns it).
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Sign requests with this access key; the secret key comes from OMSCTL_SECRET_KEY,
    /// --secret-stdin or a prompt.
    #[arg(long, value_name = "AK")]
    pub access_key: Option<String>,
    /// Log in as this user (a token is got for each run); the password comes from
    /// OMSCTL_PASSWORD, --secret-stdin or a prompt.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Use a token (from `omsd token` or POST /v3/auth/tokens); it comes from OMSCTL_TOKEN,
    /// --secret-stdin or a prompt.
    #[arg(long)]
    pub token: bool,
    /// Read the secret key, password or token from the first line of standard input.
    #[arg(long)]
    pub secret_stdin: bool,
}

fn secret(args: &LoginArgs, variable: &str, label: &str) -> Result<SecretString, CtlError> {
    let stdin_error = |source| CtlError::File {
        path: "standard input".into(),
        source,
    };
    if args.secret_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(stdin_error)?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Err(CtlError::usage(format!(
                "--secret-stdin: standard input holds no {label}"
            )));
        }
        return Ok(SecretString::from(line));
    }
    if let Some(value) = std::env::var(variable).ok().filter(|v| !v.is_empty()) {
        return Ok(SecretString::from(value));
    }
    if std::io::stdin().is_terminal() {
        let typed = rpassword::prompt_password(format!("{label}: ")).map_err(stdin_error)?;
        if !typed.is_empty() {
            return Ok(SecretString::from(typed));
        }
    }
    Err(CtlError::usage(format!(
        "no {label}: set {variable}, pass --secret-stdin, or run at a terminal to be asked"
    )))
}

/// Logs in with `args` at `endpoint`, checks the credentials with one API call, and writes
/// profile `name` into `path`.
pub async fn run(
    args: &LoginArgs,
    endpoint: Option<&str>,
    name: &str,
    path: &Path,
    format: Format,
) -> Result<(), CtlError> {
    let endpoint = endpoint
        .map(str::to_owned)
        .or_else(|| std::env::var("OMSCTL_ENDPOINT").ok())
        .ok_or_else(|| {
            CtlError::usage("omsctl login needs --endpoint http://HOST:PORT (or OMSCTL_ENDPOINT)")
        })?
        .trim_end_matches('/')
        .to_owned();
    let (credentials, project_id) = if let Some(access_key) = &args.access_key {
        let project = args.project.clone().ok_or_else(|| {
            CtlError::usage("--access-key needs --project (the key's project id)")
        })?;
        let secret_key = secret(args, "OMSCTL_SECRET_KEY", "Secret key")?;
        (
            Credentials::AccessKey {
                access_key: access_key.clone(),
                secret_key,
            },
            Some(project),
        )
    } else if let Some(user) = &args.user {
        let password = secret(args, "OMSCTL_PASSWORD", "Password")?;
        // Learn the project now, so that the profile names it.
        let issued = login_at(&endpoint, user, &password, args.project.as_deref()).await?;
        (
            Credentials::Password {
                user: user.clone(),
                password,
            },
            Some(issued.project_id),
        )
    } else {
        let token = secret(args, "OMSCTL_TOKEN", "Token")?;
        (Credentials::Token(token), args.project.clone())
    };
    let mut profile = Profile {
        endpoint: endpoint.clone(),
        project_id,
        credentials,
    };
    let api = Api::connect(&profile).await?;
    api.get("tasks?limit=1").await?;
    profile.project_id = Some(api.project_id().to_owned());
    config::save(path, name, &profile)?;
    let how = match &profile.credentials {
        Credentials::AccessKey { access_key, .. } => format!("access key {access_key}"),
        Credentials::Password { user, .. } => format!("user {user}"),
        Credentials::Token(_) => "a token".to_owned(),
    };
    let shown = json!({"profile": name, "path": path.display().to_string(),
        "endpoint": endpoint, "project_id": api.project_id()});
    output::emit(format, &shown, |_| {
        format!(
            "profile {name} saved in {} (mode 0600): omsd at {endpoint}, project {}, {how}",
            path.display(),
            api.project_id()
        )
    });
    Ok(())
}
