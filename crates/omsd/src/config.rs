//! Configuration: the embedded `config/default.toml`, then an optional file, then `OMS__...`
//! environment variables. Unknown keys are errors, reported with their path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// The defaults, and the list of every key omsd knows.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");
/// The prefix of configuration environment variables; `__` separates the path.
const ENV_PREFIX: &str = "OMS__";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not TOML.
    #[error("{origin} is not valid TOML: {message}")]
    Syntax {
        /// Which layer.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown or has the wrong type.
    #[error("configuration key {path}: {message}")]
    Key {
        /// The key's path (`server.listen`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[security]`.
    pub security: SecurityConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
    /// `[worker]`.
    pub worker: WorkerSection,
    /// `[[endpoints]]`.
    #[serde(default)]
    pub endpoints: Vec<oms_storage::endpoints::EndpointRule>,
    /// `[retention]`.
    pub retention: RetentionConfig,
    /// `[catalogue]`.
    pub catalogue: CatalogueConfig,
    /// `[log]`.
    pub log: LogConfig,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Request timeout.
    pub request_timeout_secs: u64,
    /// Grace period on shutdown.
    pub shutdown_timeout_secs: u64,
    /// How long an answer of a project GET may be reused while nothing was written in this
    /// process (0: never).
    pub read_cache_ms: u64,
}

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

/// `[security]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// The master key file.
    pub master_key_file: PathBuf,
    /// The master key itself (base64), usually from `OMS__SECURITY__MASTER_KEY`.
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// Whether URL sources, CDN domains and endpoints named in credentials may reach loopback,
    /// private, link-local and metadata addresses.
    #[serde(default)]
    pub allow_private_networks: bool,
}

/// `[auth]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Token lifetime.
    pub token_ttl_secs: u64,
    /// Allowed `X-Sdk-Date` skew.
    pub max_clock_skew_secs: u64,
    /// Where the first-start access key is kept.
    pub bootstrap_file: PathBuf,
    /// `[[auth.users]]`.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// `[[auth.access_keys]]`.
    #[serde(default)]
    pub access_keys: Vec<AccessKeyConfig>,
}

/// `[[auth.users]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name.
    pub name: String,
    /// Argon2 PHC hash.
    pub password_hash: String,
    /// Project.
    pub project_id: String,
}

/// `[[auth.access_keys]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyConfig {
    /// AK.
    pub access_key: String,
    /// SK.
    pub secret_key: SecretString,
    /// Project.
    pub project_id: String,
}

/// `[worker]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Run the engine in `omsd all`.
    pub enabled: bool,
    /// Tasks at once.
    pub max_tasks: usize,
    /// Objects at once per task.
    pub object_concurrency: usize,
    /// Parts at once per object.
    pub part_concurrency: usize,
    /// Part size.
    pub part_size_bytes: u64,
    /// Multipart threshold.
    pub multipart_threshold_bytes: u64,
    /// Lease duration.
    pub lease_ms: u64,
    /// Heartbeat.
    pub heartbeat_ms: u64,
    /// Idle poll.
    pub poll_interval_ms: u64,
    /// Progress flush.
    pub flush_interval_ms: u64,
    /// Attempts per store call.
    pub retry_max_attempts: u32,
    /// First backoff.
    pub retry_base_delay_ms: u64,
    /// Longest backoff.
    pub retry_max_delay_ms: u64,
    /// Keys per listing.
    pub list_page_size: i32,
    /// Connect timeout.
    pub connect_timeout_secs: u64,
    /// Read timeout.
    pub operation_timeout_secs: u64,
    /// Shutdown grace.
    pub shutdown_grace_secs: u64,
    /// Stop (pause) grace.
    pub stop_grace_ms: u64,
    /// Objects per task of a group.
    pub group_task_max_objects: i64,
    /// Bytes per task of a group.
    pub group_task_max_bytes: i64,
}

/// `[retention]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Waiting limit.
    pub waiting_expiry_secs: u64,
    /// Sweep period.
    pub sweep_interval_secs: u64,
}

/// `[catalogue]`: the bucket helpers (`/v2/{project_id}/objectstorage/...`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueConfig {
    /// How long one helper's calls to a store may take in all, in seconds.
    pub timeout_secs: u64,
    /// The largest list file `CheckUrlSourceListFileFormat` reads, in bytes.
    pub max_list_file_bytes: u64,
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Filter.
    pub level: String,
    /// Format.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_toml(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
}

/// Merges `overlay` into `base`: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `path` from an environment variable, typed like the value it replaces.
fn set_from_env(root: &mut toml::Table, path: &[String], raw: &str) -> Result<(), ConfigError> {
    let key_path = path.join(".");
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut table = root;
    for part in parents {
        let entry = table
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::Key {
                    path: key_path,
                    message: "is not a section".into(),
                });
            }
        };
    }
    let bad = |what: &str| ConfigError::Key {
        path: key_path.clone(),
        message: format!("expected {what}, got '{raw}'"),
    };
    let value = match table.get(last) {
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?)
        }
        Some(toml::Value::Boolean(_)) => {
            toml::Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?)
        }
        Some(toml::Value::Float(_)) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?)
        }
        _ => toml::Value::String(raw.to_owned()),
    };
    table.insert(last.clone(), value);
    Ok(())
}

/// Loads the configuration: defaults, then `file`, then the `OMS__` variables among `env`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut root = parse_toml(DEFAULT_TOML, "config/default.toml")?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        merge(&mut root, parse_toml(&text, &path.display().to_string())?);
    }
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (key, value) in vars {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        set_from_env(&mut root, &path, &value)?;
    }
    serde_path_to_error::deserialize(toml::Value::Table(root)).map_err(|e| ConfigError::Key {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let c = load(None, env(&[])).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://data/oms.db");
        assert_eq!(c.log.format, LogFormat::Text);
        assert!(c.auth.users.is_empty());
    }

    #[test]
    fn file_then_env_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oms.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"0.0.0.0:9000\"\n[[auth.access_keys]]\naccess_key = \"AK\"\nsecret_key = \"SK\"\nproject_id = \"p\"\n",
        )
        .unwrap();
        let c = load(
            Some(&file),
            env(&[
                ("OMS__SERVER__LISTEN", "127.0.0.1:9001"),
                ("OMS__DATABASE__MAX_CONNECTIONS", "4"),
                ("OMS__SECURITY__MASTER_KEY", "abc+/=="),
                ("OMS_CONFIG", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.database.max_connections, 4);
        assert!(c.security.master_key.is_some());
        assert_eq!(c.auth.access_keys.len(), 1);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = load(None, env(&[("OMS__SERVER__LISTEN_PORT", "1")])).unwrap_err();
        assert!(err.to_string().contains("server"), "{err}");
        assert!(err.to_string().contains("listen_port"), "{err}");
        let err = load(None, env(&[("OMS__NOPE__X", "1")])).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn typed_env_values_are_checked() {
        let err = load(None, env(&[("OMS__DATABASE__MAX_CONNECTIONS", "many")])).unwrap_err();
        assert!(
            err.to_string().contains("database.max_connections"),
            "{err}"
        );
    }
}
