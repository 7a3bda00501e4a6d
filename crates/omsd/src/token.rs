//! `omsd token`: a token for `X-Auth-Token`, signed with the installation's master key, for a
//! project that installation serves. It reads the installation and never creates one: no key,
//! no data folder, nothing on standard output but the token.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use oms_api::auth::token::TokenIssuer;
use oms_core::ids::ProjectId;
use oms_db::MasterKey;
use secrecy::SecretString;

use crate::config::Config;
use crate::{bootstrap, files, token_signing_key};

/// The subject of a token when `--user` is not given: no configured user, but the operator who
/// holds the master key (the only subject possible on a first start, which has no users).
pub use oms_api::auth::token::OPERATOR_SUBJECT;

/// What `omsd token` is asked for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// `--project-id`.
    pub project_id: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--ttl-secs` (default: `auth.token_ttl_secs`).
    pub ttl_secs: Option<u64>,
}

/// The master key of an existing installation: `security.master_key`, else the key file, which
/// must exist.
pub fn existing_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(encoded) = &config.security.master_key {
        return MasterKey::from_base64(encoded).context("OMS__SECURITY__MASTER_KEY is not usable");
    }
    let path = &config.security.master_key_file;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            oms_db::crypto::warn_if_readable_by_others(path);
            MasterKey::from_base64(&SecretString::from(text))
                .with_context(|| format!("{} is not a master key file", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "no OMS installation found: the master key file {} does not exist and \
             OMS__SECURITY__MASTER_KEY is not set. Run this command in the folder omsd runs in \
             (relative paths of the configuration start there), with omsd's configuration \
             (--config or OMS_CONFIG)",
            files::absolute(path).display()
        ),
        Err(e) => anyhow::bail!("cannot read the master key file {}: {e}", path.display()),
    }
}

/// The projects of `[[auth.users]]` and `[[auth.access_keys]]`.
fn configured_projects(config: &Config) -> BTreeSet<&str> {
    let auth = &config.auth;
    auth.users
        .iter()
        .map(|u| u.project_id.as_str())
        .chain(auth.access_keys.iter().map(|k| k.project_id.as_str()))
        .collect()
}

fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

fn parse_project(raw: &str, origin: &str) -> anyhow::Result<ProjectId> {
    ProjectId::parse(raw).with_context(|| format!("{origin} '{raw}' is not a valid project id"))
}

/// The project and subject of the token: a configured user and their project, or a project
/// this installation serves (a configured one, or the first-start one while no users and no
/// access keys are configured) with [`OPERATOR_SUBJECT`].
fn scope(config: &Config, request: &TokenRequest) -> anyhow::Result<(ProjectId, String)> {
    let auth = &config.auth;
    if let Some(name) = &request.user {
        let Some(user) = auth.users.iter().find(|u| &u.name == name) else {
            if auth.users.is_empty() {
                anyhow::bail!(
                    "--user {name}: no users are configured ([[auth.users]]); leave --user out \
                     for a token of the operator"
                );
            }
            anyhow::bail!(
                "--user {name} is not a configured user (auth.users: {})",
                list(auth.users.iter().map(|u| u.name.as_str()))
            );
        };
        if let Some(project) = &request.project_id
            && project != &user.project_id
        {
            anyhow::bail!(
                "user {name} works in project {}, not {project}",
                user.project_id
            );
        }
        let project = parse_project(&user.project_id, "the project of auth.users")?;
        return Ok((project, name.clone()));
    }
    let configured = configured_projects(config);
    let project = if configured.is_empty() {
        let path = &auth.bootstrap_file;
        let key = bootstrap::load(path)?.with_context(|| {
            format!(
                "no users or access keys are configured and there is no first-start key at {}: \
                 start omsd once (it creates the key), from this folder and with this \
                 configuration",
                files::absolute(path).display()
            )
        })?;
        if let Some(project) = &request.project_id
            && project != key.project_id.as_str()
        {
            anyhow::bail!(
                "project {project} is not served here: no users or access keys are configured, \
                 and the first-start project is {}",
                key.project_id
            );
        }
        key.project_id
    } else {
        match &request.project_id {
            Some(project) if configured.contains(project.as_str()) => {
                parse_project(project, "--project-id")?
            }
            Some(project) => anyhow::bail!(
                "project {project} is not configured (the projects of auth.users and \
                 auth.access_keys: {})",
                list(configured)
            ),
            None => match configured.iter().collect::<Vec<_>>().as_slice() {
                [only] => parse_project(only, "the configured project")?,
                _ => anyhow::bail!(
                    "several projects are configured ({}); choose one with --project-id",
                    list(configured)
                ),
            },
        }
    };
    Ok((project, OPERATOR_SUBJECT.to_owned()))
}

/// A token for what `request` asks, or why there is none. Reads the configuration, the master
/// key and the first-start key file; creates nothing.
pub fn operator_token(config: &Config, request: &TokenRequest) -> anyhow::Result<String> {
    let master = existing_master_key(config)?;
    let (project, subject) = scope(config, request)?;
    let ttl = Duration::from_secs(request.ttl_secs.unwrap_or(config.auth.token_ttl_secs));
    let issuer = TokenIssuer::new(&token_signing_key(&master), ttl);
    // A user's token carries the stamp of the user's password: it stops working when the
    // password changes, as one from POST /v3/auth/tokens does.
    let stamp = config
        .auth
        .users
        .iter()
        .find(|u| u.name == subject)
        .map(|u| oms_api::auth::token::password_stamp(&u.password_hash));
    let token = issuer
        .issue(&subject, &project, stamp.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot sign the token: {e}"))?;
    Ok(token.token)
}
