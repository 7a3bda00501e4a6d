//! The OMS daemon as a library: what `main` runs, and what the end-to-end tests start
//! in-process on 127.0.0.1:0.

pub mod bootstrap;
pub mod cli;
pub mod config;
mod exporter;
pub mod files;
pub mod serve;
pub mod summary;
pub mod telemetry;
pub mod token;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use oms_api::auth::{AccessKeyAccount, AuthSettings, Authenticator, UserAccount};
use oms_api::cache::ReadCache;
use oms_api::{ApiLimits, AppState, StoreCheck};
use oms_core::ids::ProjectId;
use oms_db::{Db, DbOptions, MasterKey, Sealer};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use oms_worker::{RetryPolicy, Worker, WorkerConfig};

use crate::config::{Config, RetentionConfig};

/// Which parts of omsd run in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The API and, when `worker.enabled`, a worker (the embedded default).
    All,
    /// Only the API, whatever `worker.enabled` says.
    Api,
    /// Only a worker (no listener).
    Worker,
}

/// A name for this worker: host, process and a random tag.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "omsd".to_owned());
    let tag: u32 = rand::random();
    format!("{host}-{}-{tag:08x}", std::process::id())
}

/// The worker's settings from `[worker]` and `[[endpoints]]`.
pub fn worker_config(config: &Config) -> WorkerConfig {
    let w = &config.worker;
    let ms = Duration::from_millis;
    WorkerConfig {
        worker_id: worker_id(),
        // `WorkerSection::validate` refused what the engine cannot work with when the
        // configuration was loaded.
        max_tasks: w.max_tasks,
        object_concurrency: w.object_concurrency,
        part_concurrency: w.part_concurrency,
        part_size_bytes: w.part_size_bytes,
        multipart_threshold_bytes: w.multipart_threshold_bytes,
        lease: ms(w.lease_ms),
        heartbeat: ms(w.heartbeat_ms),
        poll_interval: ms(w.poll_interval_ms),
        flush_interval: ms(w.flush_interval_ms),
        retry: RetryPolicy {
            max_attempts: w.retry_max_attempts,
            base_delay: ms(w.retry_base_delay_ms),
            max_delay: ms(w.retry_max_delay_ms),
            throttle_base_delay: ms(w.throttle_base_delay_ms),
            throttle_max_delay: ms(w.throttle_max_delay_ms),
            throttle_patience: Duration::from_secs(w.throttle_patience_secs),
        },
        list_page_size: w.list_page_size,
        list_lanes: w.list_lanes,
        manifest_part_objects: w.manifest_part_objects,
        endpoints: config.endpoints.clone(),
        connect_timeout: Duration::from_secs(w.connect_timeout_secs),
        operation_timeout: Duration::from_secs(w.operation_timeout_secs),
        shutdown_grace: Duration::from_secs(w.shutdown_grace_secs),
        stop_grace: ms(w.stop_grace_ms),
        group_task_max_objects: w.group_task_max_objects,
        group_task_max_bytes: w.group_task_max_bytes,
        guard: oms_storage::guard::Guard {
            allow_private_networks: config.security.allow_private_networks,
        },
        webhooks: config
            .notify
            .webhooks
            .iter()
            .map(|w| oms_worker::Webhook {
                topic_urn: w.topic_urn.clone(),
                project_id: w.project_id.clone(),
                url: w.url.clone(),
                secret: w.secret.clone(),
            })
            .collect(),
        time_zone: w.time_zone(),
        restore_wait: Duration::from_secs(w.restore_wait_secs),
        restore: oms_storage::RestoreRequest {
            days: w.restore_days,
            // Checked when the configuration was loaded.
            tier: oms_storage::RestoreTier::from_name(&w.restore_tier).unwrap_or_default(),
        },
        buckets_seen: Default::default(),
    }
}

/// The purpose label of the token-signing subkey.
const TOKEN_KEY_PURPOSE: &str = "oms/tokens/hs256/v1";

/// Loads the master key: `security.master_key` when set, else the key file (created with mode
/// 0600, in a folder of mode 0700, when missing).
pub fn load_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(encoded) = &config.security.master_key {
        return Ok(MasterKey::from_base64(encoded)?);
    }
    let path = &config.security.master_key_file;
    if let Some(db_file) = files::sqlite_file(&config.database.url)
        && files::absolute(path).parent() == files::absolute(&db_file).parent()
    {
        tracing::warn!(
            master_key_file = %path.display(),
            database = %db_file.display(),
            "the master key is kept beside the database: whoever copies that folder can open the sealed credentials; keep it elsewhere (security.master_key_file, or OMS__SECURITY__MASTER_KEY from a secret store)"
        );
    }
    if !path.exists() {
        files::create_private_folder_of(path)
            .with_context(|| format!("cannot create the folder of {}", path.display()))?;
    }
    let (key, created) = MasterKey::load_or_create(path)?;
    if created {
        tracing::info!(path = %path.display(), "created a new master key (mode 0600); back it up with the database");
    }
    Ok(key)
}

/// Connects to the database and applies pending migrations. A new SQLite file is created with
/// mode 0600 (in a folder of mode 0700).
pub async fn open_database(config: &Config, master: &MasterKey) -> anyhow::Result<Db> {
    files::create_private_database_file(&config.database.url)?;
    let options = DbOptions {
        max_connections: config.database.max_connections,
        max_running_tasks_per_project: (config.worker.max_running_tasks_per_project > 0)
            .then_some(config.worker.max_running_tasks_per_project),
        ..DbOptions::default()
    };
    let db = Db::connect(&config.database.url, &options, Sealer::new(master)?)
        .await
        .context("cannot open the database")?;
    db.migrate()
        .await
        .context("cannot apply the database migrations")?;
    Ok(db)
}

/// The token-signing key, derived from the master key.
pub fn token_signing_key(master: &MasterKey) -> SecretString {
    SecretString::from(hex::encode(master.derive(TOKEN_KEY_PURPOSE).as_ref()))
}

/// Users and access keys from the configuration, or the first-start key when there are none.
pub fn auth_settings(config: &Config, master: &MasterKey) -> anyhow::Result<AuthSettings> {
    let auth = &config.auth;
    let mut names = HashSet::new();
    let mut users = Vec::new();
    for (i, u) in auth.users.iter().enumerate() {
        let project_id = ProjectId::parse(&u.project_id)
            .with_context(|| format!("auth.users[{i}].project_id is not a valid project id"))?;
        anyhow::ensure!(
            !u.name.is_empty() && names.insert(u.name.clone()),
            "auth.users[{i}].name is empty or repeated"
        );
        anyhow::ensure!(
            oms_api::password::is_valid_hash(&u.password_hash),
            "auth.users[{i}].password_hash is not an argon2 hash (make one with `omsd hash-password`)"
        );
        users.push(UserAccount {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            project_id,
        });
    }
    let mut aks = HashSet::new();
    let mut access_keys = Vec::new();
    for (i, k) in auth.access_keys.iter().enumerate() {
        let project_id = ProjectId::parse(&k.project_id).with_context(|| {
            format!("auth.access_keys[{i}].project_id is not a valid project id")
        })?;
        anyhow::ensure!(
            !k.access_key.is_empty() && aks.insert(k.access_key.clone()),
            "auth.access_keys[{i}].access_key is empty or repeated"
        );
        access_keys.push(AccessKeyAccount {
            access_key: k.access_key.clone(),
            secret_key: k.secret_key.clone(),
            project_id,
        });
    }
    if users.is_empty() && access_keys.is_empty() {
        let (key, created) = bootstrap::load_or_create(&auth.bootstrap_file)?;
        if created {
            bootstrap::announce(&key, &auth.bootstrap_file);
        }
        tracing::info!(project.id = %key.project_id, "first-start project");
        access_keys.push(AccessKeyAccount {
            access_key: key.access_key,
            secret_key: key.secret_key,
            project_id: key.project_id,
        });
    }
    Ok(AuthSettings {
        users,
        access_keys,
        token_signing_key: token_signing_key(master),
        token_ttl: Duration::from_secs(auth.token_ttl_secs),
        max_clock_skew: Duration::from_secs(auth.max_clock_skew_secs),
        logins: oms_api::auth::logins::LoginLimits::default(),
    })
}

/// Connections the kernel queues for the API before they are accepted.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds `addr` without listening yet: the port is taken (so a busy one fails now), but
/// connections are refused until [`tokio::net::TcpSocket::listen`].
fn reserve(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's and tokio's own `bind` do on Unix: a restart may reuse a port whose old
    // connections are still in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// A built, bound, not yet running omsd.
#[derive(Debug)]
pub struct App {
    api: Option<(tokio::net::TcpListener, axum::Router)>,
    server_limits: serve::ServerLimits,
    tls: Option<Arc<serve::Tls>>,
    worker: Option<Worker>,
    metrics: Option<exporter::Exporter>,
    db: Db,
    retention: (Duration, Duration),
}

impl App {
    /// Reserves the API's address (for the API roles: a busy port fails the start before
    /// anything is created), opens (or, on a first start, creates) the keys, logs the start-up
    /// summary, opens the database, prepares authentication and the worker, and only then opens
    /// the port: whoever sees the port answer can use `omsd token` at once.
    pub async fn build(config: &Config, role: Role) -> anyhow::Result<Self> {
        let reserved = if role == Role::Worker {
            None
        } else {
            Some(
                reserve(config.server.listen)
                    .with_context(|| format!("cannot listen on {}", config.server.listen))?,
            )
        };
        let worker_settings = worker_config(config);
        let runs_worker = match role {
            Role::Worker => true,
            Role::All => config.worker.enabled,
            Role::Api => false,
        };
        let master = load_master_key(config)?;
        let auth = if role == Role::Worker {
            None
        } else {
            Some(Authenticator::new(auth_settings(config, &master)?))
        };
        let tls = match (&config.server.tls_cert_file, &config.server.tls_key_file) {
            (Some(cert), Some(key)) if role != Role::Worker => {
                Some(Arc::new(serve::Tls::load(cert, key)?))
            }
            _ => None,
        };
        let listen = reserved.as_ref().map(|s| s.local_addr()).transpose()?;
        if let Some(addr) = listen
            && tls.is_none()
            && !serve::is_loopback(&addr)
        {
            tracing::warn!(
                addr = %addr,
                "the API listens beyond this machine over plain HTTP: passwords, cloud keys and service-account JSON cross the network in clear; set server.tls_cert_file and server.tls_key_file, or put a TLS proxy in front"
            );
        }
        summary::log_startup(
            config,
            role,
            listen,
            runs_worker.then_some(&worker_settings),
        );
        let db = open_database(config, &master).await?;
        let metrics = match config.metrics.listen {
            Some(listen) => Some(exporter::Exporter::bind(listen).await?),
            None => None,
        };
        let listener = reserved
            .map(|socket| socket.listen(LISTEN_BACKLOG))
            .transpose()
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let api = match (listener, auth) {
            (Some(listener), Some(auth)) => {
                let state = AppState {
                    db: db.clone(),
                    auth: Arc::new(auth),
                    limits: ApiLimits {
                        max_body_bytes: config.server.max_body_bytes,
                        max_waiting_tasks_per_project: config.server.max_waiting_tasks_per_project,
                        reject_unknown_fields: config.server.reject_unknown_fields,
                    },
                    stores: Some(Arc::new(StoreCheck {
                        connect: worker_settings.connect_settings(),
                        timeout: Duration::from_secs(5),
                        helper_timeout: Duration::from_secs(config.catalogue.timeout_secs.max(1)),
                        max_list_file_bytes: config.catalogue.max_list_file_bytes,
                    })),
                    read_cache: (config.server.read_cache_ms > 0).then(|| {
                        Arc::new(ReadCache::new(Duration::from_millis(
                            config.server.read_cache_ms,
                        )))
                    }),
                };
                let router = oms_api::router(
                    state,
                    Duration::from_secs(config.server.request_timeout_secs),
                );
                Some((listener, router))
            }
            _ => None,
        };
        let worker = runs_worker.then(|| Worker::new(db.clone(), worker_settings));
        let RetentionConfig {
            waiting_expiry_secs,
            sweep_interval_secs,
        } = config.retention;
        let server_limits = serve::ServerLimits {
            max_connections: config.server.max_connections,
            max_connections_per_client: config.server.max_connections_per_client,
            header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
            body_timeout: Duration::from_secs(config.server.body_timeout_secs),
            drain_timeout: Duration::from_secs(config.server.shutdown_timeout_secs),
        };
        Ok(Self {
            api,
            server_limits,
            tls,
            worker,
            metrics,
            db,
            retention: (
                Duration::from_secs(waiting_expiry_secs),
                Duration::from_secs(sweep_interval_secs.max(1)),
            ),
        })
    }

    /// Where the API listens (useful with port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        let (listener, _) = self.api.as_ref().context("this omsd runs no API")?;
        Ok(listener.local_addr()?)
    }

    /// Serves until `shutdown` is cancelled: then the API drains in-flight requests (up to the
    /// configured timeout), the worker lets its tasks save their state and hands their leases
    /// back, and the database is closed.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let worker = self
            .worker
            .map(|w| tokio::spawn(w.run(shutdown.child_token())));
        let metrics = match self.metrics {
            Some(exporter) => {
                tracing::info!(addr = %exporter.local_addr()?, "metrics served at /metrics");
                Some(tokio::spawn({
                    let (db, shutdown) = (self.db.clone(), shutdown.child_token());
                    async move {
                        if let Err(e) = exporter.serve(db, shutdown).await {
                            tracing::warn!(error = %e, "the metrics server stopped");
                        }
                    }
                }))
            }
            None => None,
        };
        let sweeper = self.api.is_some().then(|| {
            tokio::spawn(sweep_waiting(
                self.db.clone(),
                self.retention,
                shutdown.child_token(),
            ))
        });
        let scrubber = tokio::spawn(scrub_erased(self.db.clone(), shutdown.child_token()));
        if let Some((listener, router)) = self.api {
            let scheme = if self.tls.is_some() { "https" } else { "http" };
            tracing::info!(addr = %listener.local_addr()?, scheme, backend = ?self.db.backend(), "omsd API listening");
            serve::serve(
                listener,
                router,
                self.server_limits,
                self.tls,
                shutdown.clone(),
            )
            .await
            .context("the API server failed")?;
            shutdown.cancel();
        } else {
            shutdown.cancelled().await;
        }
        for (name, handle) in [
            ("worker", worker),
            ("retention sweeper", sweeper),
            ("scrubber", Some(scrubber)),
            ("metrics server", metrics),
        ] {
            if let Some(handle) = handle
                && let Err(e) = handle.await
            {
                tracing::warn!(error = %e, "the {name} ended abnormally");
            }
        }
        self.db.close().await;
        tracing::info!("omsd stopped");
        Ok(())
    }
}

/// How often erased credentials are looked for, to clear what the database files keep of them.
const SCRUB_EVERY: Duration = Duration::from_secs(1);

/// Clears what the database's files keep of erased credentials, soon after each erasure
/// ([`Db::scrub_erased`]).
async fn scrub_erased(db: Db, shutdown: CancellationToken) {
    let mut last = 0;
    let mut ticks = tokio::time::interval(SCRUB_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = db.scrub_erased(&mut last).await {
            tracing::warn!(error = %e, "cannot clear erased credentials from the database files; will try again");
        }
    }
}

/// Fails what waited too long for a worker and erases its credentials, periodically.
async fn sweep_waiting(
    db: Db,
    (expiry, interval): (Duration, Duration),
    shutdown: CancellationToken,
) {
    let message = format!(
        "waited more than {} hours for a worker; its credentials were erased, start it again with them",
        expiry.as_secs() / 3600
    );
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let cutoff_ms =
            oms_core::time::now_ms() - i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX);
        match db.expire_waiting(cutoff_ms, &message).await {
            Ok((0, 0)) => {}
            Ok((tasks, groups)) => {
                tracing::info!(tasks, groups, "expired waiting tasks and groups");
            }
            Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
        }
    }
}
