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
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O error, as the system words it.
        source: std::io::Error,
    },
    /// A file is not TOML.
    #[error("{origin} is not valid TOML: {message}")]
    Syntax {
        /// Which layer: `config/default.toml`, or the path of the operator's file.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown or has the wrong type.
    #[error("configuration key {path}: {message}")]
    Key {
        /// The key's path (`server.listen`).
        path: String,
        /// What is wrong with it, as the deserializer words it.
        message: String,
    },
    /// A key has a value omsd cannot work with.
    #[error("configuration key {path} = {value}: {message}")]
    Invalid {
        /// The key's path (`worker.part_size_bytes`).
        path: &'static str,
        /// The value it has.
        value: String,
        /// What it must be.
        message: String,
    },
}

/// The largest object S3 takes in one request (PutObject, CopyObject) and the largest part.
const MAX_SINGLE_REQUEST_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The smallest part S3 takes (but the last).
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// Refuses `value` of `path` unless `ok`, saying what it must be.
fn check<T: std::fmt::Display>(
    path: &'static str,
    value: T,
    ok: bool,
    must: &str,
) -> Result<(), ConfigError> {
    if ok {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        path,
        value: value.to_string(),
        message: format!("it must be {must}"),
    })
}

impl WorkerSection {
    /// Refuses values the engine cannot work with, naming the key (nothing is clamped
    /// silently).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "worker.max_tasks",
            self.max_tasks,
            self.max_tasks >= 1,
            "at least 1",
        )?;
        check(
            "worker.object_concurrency",
            self.object_concurrency,
            self.object_concurrency >= 1,
            "at least 1",
        )?;
        check(
            "worker.part_concurrency",
            self.part_concurrency,
            self.part_concurrency >= 1,
            "at least 1",
        )?;
        check(
            "worker.part_size_bytes",
            self.part_size_bytes,
            (MIN_PART_BYTES..=MAX_SINGLE_REQUEST_BYTES).contains(&self.part_size_bytes),
            "between 5 MiB (5242880) and 5 GiB (5368709120): S3 takes no smaller part but the last, and no larger one",
        )?;
        check(
            "worker.multipart_threshold_bytes",
            self.multipart_threshold_bytes,
            (1..=MAX_SINGLE_REQUEST_BYTES).contains(&self.multipart_threshold_bytes),
            "between 1 and 5 GiB (5368709120): S3 stores take no larger object in one request",
        )?;
        check(
            "worker.lease_ms",
            self.lease_ms,
            self.lease_ms >= 1000,
            "at least 1000",
        )?;
        check(
            "worker.heartbeat_ms",
            self.heartbeat_ms,
            self.heartbeat_ms >= 50 && self.heartbeat_ms * 2 <= self.lease_ms,
            "at least 50 and at most half of worker.lease_ms (a lease must survive a late heartbeat)",
        )?;
        check(
            "worker.poll_interval_ms",
            self.poll_interval_ms,
            self.poll_interval_ms >= 10,
            "at least 10",
        )?;
        check(
            "worker.flush_interval_ms",
            self.flush_interval_ms,
            self.flush_interval_ms >= 50,
            "at least 50",
        )?;
        check(
            "worker.retry_max_attempts",
            self.retry_max_attempts,
            self.retry_max_attempts >= 1,
            "at least 1 (the first attempt counts)",
        )?;
        check(
            "worker.retry_max_delay_ms",
            self.retry_max_delay_ms,
            self.retry_max_delay_ms >= self.retry_base_delay_ms,
            "at least worker.retry_base_delay_ms",
        )?;
        check(
            "worker.throttle_max_delay_ms",
            self.throttle_max_delay_ms,
            self.throttle_max_delay_ms >= self.throttle_base_delay_ms
                && self.throttle_base_delay_ms >= 1,
            "at least worker.throttle_base_delay_ms, which must be at least 1",
        )?;
        check(
            "worker.throttle_patience_secs",
            self.throttle_patience_secs,
            self.throttle_patience_secs >= 1,
            "at least 1",
        )?;
        check(
            "worker.list_page_size",
            self.list_page_size,
            (1..=1000).contains(&self.list_page_size),
            "between 1 and 1000 (S3 answers at most 1000 keys a page)",
        )?;
        check(
            "worker.list_lanes",
            self.list_lanes,
            (1..=64).contains(&self.list_lanes),
            "between 1 and 64",
        )?;
        check(
            "worker.manifest_part_objects",
            self.manifest_part_objects,
            (1..=1_000_000).contains(&self.manifest_part_objects),
            "between 1 and 1000000",
        )?;
        check(
            "worker.connect_timeout_secs",
            self.connect_timeout_secs,
            self.connect_timeout_secs >= 1,
            "at least 1",
        )?;
        check(
            "worker.operation_timeout_secs",
            self.operation_timeout_secs,
            self.operation_timeout_secs >= 1,
            "at least 1",
        )?;
        check(
            "worker.group_task_max_objects",
            self.group_task_max_objects,
            self.group_task_max_objects >= 1,
            "at least 1",
        )?;
        check(
            "worker.group_task_max_bytes",
            self.group_task_max_bytes,
            self.group_task_max_bytes >= 1,
            "at least 1",
        )?;
        check(
            "worker.restore_days",
            self.restore_days,
            (1..=365).contains(&self.restore_days),
            "between 1 and 365",
        )?;
        check(
            "worker.restore_tier",
            &self.restore_tier,
            oms_storage::RestoreTier::from_name(&self.restore_tier).is_some(),
            "Standard, Bulk or Expedited",
        )?;
        check(
            "worker.restore_wait_secs",
            self.restore_wait_secs,
            self.restore_wait_secs >= 1,
            "at least 1",
        )?;
        check(
            "worker.time_zone",
            &self.time_zone,
            jiff::tz::TimeZone::get(&self.time_zone).is_ok(),
            "an IANA time zone name such as UTC, Asia/Shanghai or Europe/Berlin",
        )
    }

    /// The time zone of `worker.time_zone` (checked by [`WorkerSection::validate`]; UTC if it
    /// was not).
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// Refuses an `[[endpoints]]` rule whose `time_zone` omsd cannot use: an unknown name, or one
/// on a source's rule (windows are read on the clocks of the destination's region, as OMS's
/// are on its own region's).
fn validate_endpoints(
    rules: &[oms_storage::catalogue::endpoints::EndpointRule],
) -> Result<(), ConfigError> {
    for rule in rules {
        let Some(zone) = &rule.time_zone else {
            continue;
        };
        check(
            "endpoints.time_zone",
            format!("{zone} (rule {} {})", rule.cloud_type, rule.region),
            rule.cloud_type
                .eq_ignore_ascii_case(oms_storage::catalogue::endpoints::DESTINATION_CLOUD),
            "set on the destination's rules only (cloud_type HEC): bandwidth windows are read on the clocks of the destination's region",
        )?;
        check(
            "endpoints.time_zone",
            zone,
            jiff::tz::TimeZone::get(zone).is_ok(),
            "an IANA time zone name such as UTC, Asia/Shanghai or Europe/Berlin",
        )?;
    }
    Ok(())
}

/// The whole configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: where and how the API listens.
    pub server: ServerConfig,
    /// `[database]`: the one database of the install.
    pub database: DatabaseConfig,
    /// `[security]`: the master key and the address guard.
    pub security: SecurityConfig,
    /// `[auth]`: tokens, signed requests, users and access keys.
    pub auth: AuthConfig,
    /// `[worker]`: the task engine's concurrency, sizes, leases, retries and timeouts.
    pub worker: WorkerSection,
    /// `[[endpoints]]`: where a `cloud_type` + region points (none: public endpoints).
    #[serde(default)]
    pub endpoints: Vec<oms_storage::catalogue::endpoints::EndpointRule>,
    /// `[retention]`: how long tasks may wait for a worker.
    pub retention: RetentionConfig,
    /// `[catalogue]`: limits of the bucket helper endpoints.
    pub catalogue: CatalogueConfig,
    /// `[log]`: log filter and format.
    pub log: LogConfig,
    /// `[metrics]`: where Prometheus metrics are served, if anywhere.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[notify]`: where notifications of tasks and groups are sent.
    #[serde(default)]
    pub notify: NotifyConfig,
}

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[[notify.webhooks]]`: the receivers, by the `smn_config.topic_urn` they receive.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// One `[[notify.webhooks]]` receiver.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The topic URN a task's or group's `smn_config.topic_urn` names (`*`: every topic).
    pub topic_urn: String,
    /// `project_id`: the only project whose events it receives (unset: the project its topic
    /// URN names — a task can only name its own project's topics — or, for `*`, every project).
    pub project_id: Option<String>,
    /// The URL the JSON body is POSTed to.
    pub url: String,
    /// The key of the body's HMAC-SHA256 signature (`X-OMS-Signature: sha256=<hex>`).
    pub secret: SecretString,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The address of this process's `GET /metrics` (Prometheus text format), apart from the
    /// API's; unset: no metrics are served. Each process of a fleet needs its own.
    pub listen: Option<SocketAddr>,
}

/// `[server]`: the HTTP API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `listen`: address and port the API binds (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `max_body_bytes`: largest request body, bytes (default 12 MiB, the Huawei gateway's limit).
    pub max_body_bytes: usize,
    /// `request_timeout_secs`: a request taking longer is answered with 503 (default 60 s).
    pub request_timeout_secs: u64,
    /// `shutdown_timeout_secs`: how long in-flight requests may finish on SIGINT/SIGTERM (default
    /// 30 s).
    pub shutdown_timeout_secs: u64,
    /// How long an answer of a project GET may be reused while nothing was written in this
    /// process (0: never).
    pub read_cache_ms: u64,
    /// `max_connections`: connections open at once; more are closed at once (default 512).
    pub max_connections: usize,
    /// `max_connections_per_client`: connections open at once from one client address, 0 for
    /// no limit of its own (default 128).
    pub max_connections_per_client: usize,
    /// `header_read_timeout_secs`: time for a request's headers from when the connection is
    /// ready for one; idle keep-alive connections close after it too (default 10).
    pub header_read_timeout_secs: u64,
    /// `body_timeout_secs`: time for a request's whole body from its first read (default 30).
    pub body_timeout_secs: u64,
    /// `tls_cert_file`: a PEM certificate chain; with `tls_key_file`, the API is served over
    /// HTTPS (both files are re-read when they change).
    pub tls_cert_file: Option<PathBuf>,
    /// `tls_key_file`: the PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// `max_waiting_tasks_per_project`: a task create is refused (429) while the project has
    /// this many tasks waiting for a worker; 0: no limit (default 1,500, as OMS).
    pub max_waiting_tasks_per_project: i64,
    /// `reject_unknown_fields`: refuse a body field the API does not have (400) instead of
    /// ignoring it with a warning in the answer.
    pub reject_unknown_fields: bool,
}

impl ServerConfig {
    /// Refuses values the server cannot work with, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "server.max_connections",
            self.max_connections,
            self.max_connections >= 1,
            "at least 1",
        )?;
        check(
            "server.header_read_timeout_secs",
            self.header_read_timeout_secs,
            self.header_read_timeout_secs >= 1,
            "at least 1",
        )?;
        check(
            "server.body_timeout_secs",
            self.body_timeout_secs,
            self.body_timeout_secs >= 1,
            "at least 1",
        )?;
        check(
            "server.tls_key_file",
            self.tls_key_file
                .as_ref()
                .map_or_else(|| "unset".to_owned(), |p| p.display().to_string()),
            self.tls_cert_file.is_some() == self.tls_key_file.is_some(),
            "set together with server.tls_cert_file (both or neither)",
        )
    }
}

/// `[database]`: where tasks, groups and sealed credentials are kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`.
    pub url: String,
    /// `max_connections`: pool size, not counting the 2 lease-renewal connections (default 16).
    pub max_connections: u32,
}

/// `[security]`: the master key and the networks user-chosen URLs may reach.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// `master_key_file`: the file holding the master key (32 bytes, base64), created with mode
    /// 0600 when missing (default `data/master.key`).
    pub master_key_file: PathBuf,
    /// The master key itself (base64), usually from `OMS__SECURITY__MASTER_KEY`.
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// Whether URL sources, CDN domains and endpoints named in credentials may reach loopback,
    /// private, link-local and metadata addresses (default false).
    #[serde(default)]
    pub allow_private_networks: bool,
}

/// `[auth]`: tokens, signed requests and who may use them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `token_ttl_secs`: how long an issued token is valid, seconds (default 86400).
    pub token_ttl_secs: u64,
    /// `max_clock_skew_secs`: how far a signed request's `X-Sdk-Date` may be from the clock,
    /// seconds (default 900).
    pub max_clock_skew_secs: u64,
    /// `bootstrap_file`: where the access key created on a first start without users or keys is
    /// kept.
    pub bootstrap_file: PathBuf,
    /// `[[auth.users]]`: who may get a token with a password (default none).
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// `[[auth.access_keys]]`: keys for signed (AK/SK) requests (default none).
    #[serde(default)]
    pub access_keys: Vec<AccessKeyConfig>,
}

/// `[[auth.users]]`: one user who may get a token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// `name`: the login name given to `POST /v3/auth/tokens`.
    pub name: String,
    /// `password_hash`: Argon2 PHC string, as `omsd hash-password` prints it.
    pub password_hash: String,
    /// `project_id`: the project the user's token is scoped to.
    pub project_id: String,
}

/// `[[auth.access_keys]]`: one key pair for signed requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyConfig {
    /// `access_key`: the AK a request's signature names.
    pub access_key: String,
    /// `secret_key`: the SK the signature is checked with.
    pub secret_key: SecretString,
    /// `project_id`: the only project the key may act on.
    pub project_id: String,
}

/// `[worker]`: the task engine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// `enabled`: whether `omsd all` runs the engine too (`omsd worker` always does; default true).
    pub enabled: bool,
    /// `max_tasks`: tasks this worker runs at once (default 4).
    pub max_tasks: usize,
    /// `max_running_tasks_per_project`: the most tasks of one project all workers run at once;
    /// 0: no cap (default; claims still go to the project running the fewest first).
    pub max_running_tasks_per_project: u32,
    /// `object_concurrency`: objects copied at once per task (default 32).
    pub object_concurrency: usize,
    /// `part_concurrency`: parts uploaded at once per multipart object (default 4).
    pub part_concurrency: usize,
    /// `part_size_bytes`: multipart part size, bytes, raised so an object needs at most 10,000
    /// parts (default 16 MiB).
    pub part_size_bytes: u64,
    /// `multipart_threshold_bytes`: objects at least this large are copied in parts (default 64
    /// MiB).
    pub multipart_threshold_bytes: u64,
    /// `lease_ms`: a claimed task is free for another worker this long after its last heartbeat
    /// (default 30 s).
    pub lease_ms: u64,
    /// `heartbeat_ms`: how often a running task renews its lease and reads its status (default 1
    /// s).
    pub heartbeat_ms: u64,
    /// `poll_interval_ms`: how often an idle worker looks for work (default 1 s).
    pub poll_interval_ms: u64,
    /// `flush_interval_ms`: how often a running task writes its progress (default 1 s).
    pub flush_interval_ms: u64,
    /// `retry_max_attempts`: attempts per object-store call, the first included (default 6).
    pub retry_max_attempts: u32,
    /// `retry_base_delay_ms`: the first backoff, doubled on each retry (default 200 ms).
    pub retry_base_delay_ms: u64,
    /// `retry_max_delay_ms`: the longest backoff (default 10 s).
    pub retry_max_delay_ms: u64,
    /// `throttle_base_delay_ms`: the first pause after a store throttled (429, 503 SlowDown),
    /// doubled for each throttling answer after (default 1 s).
    pub throttle_base_delay_ms: u64,
    /// `throttle_max_delay_ms`: the longest pause after a throttling answer, unless the store's
    /// `Retry-After` asks for more (default 30 s).
    pub throttle_max_delay_ms: u64,
    /// `throttle_patience_secs`: how long one request may keep being throttled before its
    /// object fails (default 15 minutes).
    pub throttle_patience_secs: u64,
    /// `list_page_size`: keys asked for per listing request (default 1000).
    pub list_page_size: i32,
    /// `list_lanes`: key ranges of one listing read side by side once it goes past its first
    /// page (default 16; 1 lists one page after another).
    pub list_lanes: usize,
    /// `manifest_part_objects`: objects per file of a task's verification manifest at the
    /// destination; a bigger manifest is written in several (default 100,000).
    pub manifest_part_objects: usize,
    /// `connect_timeout_secs`: connect timeout of store requests, seconds (default 10).
    pub connect_timeout_secs: u64,
    /// `operation_timeout_secs`: longest wait for any byte of a store's answer, seconds (default
    /// 120).
    pub operation_timeout_secs: u64,
    /// `shutdown_grace_secs`: on shutdown, how long transfers may run before they are cut (default
    /// 20).
    pub shutdown_grace_secs: u64,
    /// `stop_grace_ms`: on a stop, how long transfers may run before they are cut (default 2 s).
    pub stop_grace_ms: u64,
    /// `group_task_max_objects`: most objects per task a group creates (default 100,000).
    pub group_task_max_objects: i64,
    /// `group_task_max_bytes`: about the most bytes per task a group creates (default 100 GiB).
    pub group_task_max_bytes: i64,
    /// `restore_wait_secs`: how long a copy waits for the restore of an archived source object
    /// (`enable_restore`) before the object fails (default 48 h).
    pub restore_wait_secs: u64,
    /// `restore_days`: days a restored copy of an archived source object stays readable
    /// (default 3, as OMS).
    pub restore_days: i32,
    /// `restore_tier`: the retrieval tier restores ask for: `Standard` (default), `Bulk`
    /// (cheapest, slowest) or `Expedited`.
    pub restore_tier: String,
    /// `time_zone`: the IANA zone bandwidth windows and list times are read in, unless the
    /// destination region's `[[endpoints]]` rule names its own (default `UTC`).
    pub time_zone: String,
}

/// `[retention]`: the waiting-expiry rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// `waiting_expiry_secs`: a task or group waiting longer fails (TRF.0003) and its credentials
    /// are erased (default 30 days).
    pub waiting_expiry_secs: u64,
    /// `sweep_interval_secs`: how often that rule is applied, seconds (default 300).
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
    /// `level`: a tracing filter such as `info` or `oms_api=debug,info`; `RUST_LOG` wins (default
    /// `info`).
    pub level: String,
    /// `format`: `text` or `json` (default `text`).
    pub format: LogFormat,
}

/// `[log] format`: how each log line is written.
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
        // A list (`[[auth.access_keys]]`, `[[endpoints]]`) given in one variable as a TOML
        // array, so that secrets in it can come from the environment instead of a file.
        Some(toml::Value::Array(_)) | None if raw.trim_start().starts_with('[') => {
            let parsed: toml::Table = toml::from_str(&format!("v = {raw}"))
                .map_err(|_| bad("a TOML array such as [{key = \"value\"}]"))?;
            parsed
                .get("v")
                .cloned()
                .ok_or_else(|| bad("a TOML array"))?
        }
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
    let config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(root)).map_err(|e| {
            ConfigError::Key {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            }
        })?;
    config.server.validate()?;
    config.worker.validate()?;
    validate_endpoints(&config.endpoints)?;
    Ok(config)
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
    fn lists_come_from_one_variable_as_a_toml_array() {
        let c = load(
            None,
            env(&[(
                "OMS__AUTH__ACCESS_KEYS",
                r#"[{access_key = "AK", secret_key = "SK", project_id = "0123456789abcdef"}]"#,
            )]),
        )
        .unwrap();
        assert_eq!(c.auth.access_keys.len(), 1);
        assert_eq!(c.auth.access_keys[0].access_key, "AK");
        assert!(load(None, env(&[("OMS__AUTH__ACCESS_KEYS", "not an array")])).is_err());
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
    fn values_the_engine_cannot_use_are_refused_naming_the_key() {
        let err = load(
            None,
            env(&[("OMS__WORKER__MULTIPART_THRESHOLD_BYTES", "6442450944")]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("worker.multipart_threshold_bytes"), "{text}");
        assert!(text.contains("5 GiB"), "{text}");
        for (key, value) in [
            ("OMS__WORKER__PART_SIZE_BYTES", "1048576"),
            ("OMS__WORKER__OBJECT_CONCURRENCY", "0"),
            ("OMS__WORKER__LIST_PAGE_SIZE", "5000"),
            ("OMS__WORKER__HEARTBEAT_MS", "20000"),
            ("OMS__WORKER__RESTORE_TIER", "Glacial"),
            ("OMS__WORKER__RESTORE_DAYS", "0"),
            ("OMS__WORKER__MANIFEST_PART_OBJECTS", "0"),
        ] {
            let err = load(None, env(&[(key, value)])).unwrap_err();
            let name = key["OMS__".len()..].replace("__", ".").to_ascii_lowercase();
            assert!(err.to_string().contains(&name), "{err}");
        }
        assert!(
            load(
                None,
                env(&[("OMS__WORKER__MULTIPART_THRESHOLD_BYTES", "5368709120")])
            )
            .is_ok()
        );
    }

    #[test]
    fn time_zones_are_iana_names_and_only_on_the_destinations_rules() {
        let c = load(None, env(&[("OMS__WORKER__TIME_ZONE", "Asia/Shanghai")])).unwrap();
        assert_eq!(c.worker.time_zone().iana_name(), Some("Asia/Shanghai"));
        let err = load(None, env(&[("OMS__WORKER__TIME_ZONE", "Mars/Olympus")])).unwrap_err();
        assert!(err.to_string().contains("worker.time_zone"), "{err}");
        let rule = |cloud: &str, zone: &str| {
            format!(
                r#"[{{cloud_type = "{cloud}", region = "r1", url = "http://127.0.0.1:9000", time_zone = "{zone}"}}]"#
            )
        };
        let c = load(
            None,
            env(&[("OMS__ENDPOINTS", &rule("HEC", "Europe/Berlin"))]),
        )
        .unwrap();
        assert_eq!(c.endpoints[0].time_zone.as_deref(), Some("Europe/Berlin"));
        for (cloud, zone) in [("HEC", "Nowhere/Else"), ("AWS", "Europe/Berlin")] {
            let err = load(None, env(&[("OMS__ENDPOINTS", &rule(cloud, zone))])).unwrap_err();
            assert!(err.to_string().contains("endpoints.time_zone"), "{err}");
        }
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
