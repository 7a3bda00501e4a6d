//! The start-up summary: what this omsd runs with, logged before it creates or opens anything,
//! so that an operator sees where its data is, what it serves and who may call it, and sees
//! every setting that weakens a default as a warning.

use std::net::SocketAddr;

use oms_worker::WorkerConfig;

use crate::Role;
use crate::config::Config;
use crate::files;

/// `url` without what may be secret: the user information (`user:password@`) and query
/// parameters naming a password (`?password=`, `sslpassword=`).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (before_query, query) = rest
        .split_once('?')
        .map_or((rest, None), |(b, q)| (b, Some(q)));
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let mut out = if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    };
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && !key.to_ascii_lowercase().contains("pass")
        })
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

/// Whether no users and no access keys are configured, so the first-start key is in effect.
pub fn first_start_key_in_effect(config: &Config) -> bool {
    config.auth.users.is_empty() && config.auth.access_keys.is_empty()
}

/// Logs the summary at info level, and a warning for each opt-out.
pub fn log_startup(
    config: &Config,
    role: Role,
    listen: Option<SocketAddr>,
    worker: Option<&WorkerConfig>,
) {
    let role_name = match role {
        Role::All => "all",
        Role::Api => "api",
        Role::Worker => "worker",
    };
    tracing::info!(
        role = role_name,
        version = env!("CARGO_PKG_VERSION"),
        "omsd starting"
    );
    if let Some(addr) = listen {
        tracing::info!(listen = %addr, "API address");
    }
    log_storage(config);
    match worker {
        Some(w) => tracing::info!(
            max_tasks = w.max_tasks,
            object_concurrency = w.object_concurrency,
            part_concurrency = w.part_concurrency,
            part_size_bytes = w.part_size_bytes,
            multipart_threshold_bytes = w.multipart_threshold_bytes,
            time_zone = w.time_zone.iana_name().unwrap_or("UTC"),
            "worker on"
        ),
        None if role == Role::All => tracing::warn!(
            "worker.enabled = false: no worker runs in this process; tasks wait until a worker \
             (`omsd worker` on this database, or `omsd` with worker.enabled = true) runs"
        ),
        None => tracing::info!("worker off (omsd api): tasks run on the workers of this database"),
    }
    if config.endpoints.is_empty() {
        tracing::info!("endpoint rules: none, each cloud's public endpoint is used");
    }
    for rule in &config.endpoints {
        tracing::info!(
            cloud_type = %rule.cloud_type,
            region = %rule.region,
            url = %redact_url(&rule.url),
            path_style = rule.path_style,
            time_zone = rule.time_zone.as_deref().unwrap_or(""),
            "endpoint rule"
        );
    }
    if listen.is_some() {
        log_auth(config);
    }
    if config.security.allow_private_networks {
        tracing::warn!(
            "security.allow_private_networks = true: URL sources, CDN domains and endpoints \
             named in requests may reach loopback, private, link-local and cloud-metadata \
             addresses"
        );
    }
}

/// Where the database and the master key are.
fn log_storage(config: &Config) {
    let url = &config.database.url;
    match files::sqlite_file(url) {
        Some(file) => tracing::info!(
            kind = "sqlite",
            location = %files::absolute(&file).display(),
            "database"
        ),
        None => {
            let kind = if url.starts_with("postgres") {
                "postgres"
            } else {
                "other"
            };
            tracing::info!(kind, location = %redact_url(url), "database");
        }
    }
    if config.security.master_key.is_some() {
        tracing::info!(source = "OMS__SECURITY__MASTER_KEY", "master key");
    } else {
        let path = files::absolute(&config.security.master_key_file);
        tracing::info!(source = "file", path = %path.display(), "master key");
    }
}

/// Who may call the API.
fn log_auth(config: &Config) {
    let auth = &config.auth;
    let bootstrap_file = files::absolute(&auth.bootstrap_file);
    let first_start = first_start_key_in_effect(config);
    tracing::info!(
        users = auth.users.len(),
        access_keys = auth.access_keys.len(),
        first_start_key = first_start,
        "authentication"
    );
    if first_start {
        tracing::info!(
            path = %bootstrap_file.display(),
            "no users or access keys are configured: the first-start access key is in effect"
        );
    } else if bootstrap_file.exists() {
        tracing::warn!(
            path = %bootstrap_file.display(),
            "users or access keys are configured, so the first-start access key kept in this \
             file is no longer accepted (nor are tokens for its project from `omsd token`)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_secrets() {
        assert_eq!(
            redact_url("postgres://oms:s3cret@db.internal:5432/oms?sslmode=require"),
            "postgres://db.internal:5432/oms?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/oms?user=oms&password=s3cret&sslpassword=x"),
            "postgres://db/oms?user=oms"
        );
        assert_eq!(redact_url("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(
            redact_url("postgresql://a@b@host/db"),
            "postgresql://host/db"
        );
    }
}
