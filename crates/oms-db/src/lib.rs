//! Persistence for OMS: task groups, tasks and sealed credentials, on SQLite or PostgreSQL.
//!
//! One code path serves both databases through sqlx's `Any` driver: ids are text or int64,
//! times int64 Unix milliseconds, booleans 0/1, specs JSON text. Every status write goes
//! through the state machines of `oms-core` and is applied conditionally on the status it was
//! computed from ("compare and set"), so racing writers (an API call and a worker) cannot both
//! win. Credentials are sealed here ([`crypto`]) and never stored in clear.

mod cas;
pub mod crypto;
mod error;
mod gauges;
mod groups;
mod leases;
mod notify;
mod privacy;
mod rows;
mod runs;
pub mod sealed;
mod splits;
mod sql;
mod sync;
mod sync_intake;
mod sync_runs;
mod tasks;
#[cfg(feature = "test-support")]
pub mod testing;

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor as _};

pub use crate::crypto::{MasterKey, Sealer};
pub use crate::error::DbError;
pub use crate::gauges::{PoolUse, StatusCounts};
pub use crate::leases::{GroupLease, Lease};
pub use crate::notify::{Delivery, Notification, Subject, Trigger};
pub use crate::privacy::PrivacyAcceptance;
pub use crate::runs::{LeaseState, TaskRun};
pub use crate::sealed::CredentialOwner;
pub use crate::splits::{GroupSplit, NewGroupTask};
pub use crate::sync_intake::NotificationTarget;
pub use crate::sync_runs::{QueuedKey, Reconciliation, SyncLease, SyncRun};

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file, created on first start: the default, for one node.
    Sqlite,
    /// For production and multi-node installs.
    Postgres,
}

/// How the connection pools behave: their size and how long a query waits.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The most connections in the pool.
    pub max_connections: u32,
    /// How long a query waits for a SQLite write lock before failing.
    pub sqlite_busy_timeout: Duration,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
    /// The most tasks of one project the workers run at once (`None`: no cap; claims still
    /// go to the project running the fewest first).
    pub max_running_tasks_per_project: Option<u32>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_busy_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            max_running_tasks_per_project: None,
        }
    }
}

/// The database: a connection pool and the sealer for credentials. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// Lease renewals only: a heartbeat must not wait behind a saturated pool (copies recording
    /// progress, API reads), or the lease lapses while its run is still going.
    heartbeats: AnyPool,
    backend: Backend,
    sealer: Arc<Sealer>,
    /// Rung when work may have become claimable (a task or group created, started, resumed
    /// or retried, a group's task cut), so that a worker in this process claims it at once
    /// instead of at its next poll.
    work: Arc<tokio::sync::Notify>,
    /// Rung when a task or group was asked to stop, so that a worker in this process notices
    /// at once instead of at its next heartbeat.
    stops: Arc<tokio::sync::Notify>,
    /// Writes finished on this database by this process (see [`write_counter`]).
    writes: Arc<AtomicU64>,
    /// [`DbOptions::max_running_tasks_per_project`].
    running_cap_per_project: Option<u32>,
    /// Credentials erased through this pool so far (see [`Db::scrub_erased`]).
    erasures: Arc<AtomicU64>,
}

/// How many writes to tasks and groups this process has finished, per database (by its URL),
/// on any [`Db`] connected to it. A reader that caches what it read (the API's response cache)
/// keeps its copy only while this number stands still. Per database rather than per `Db`, so
/// that a second `Db` on the same database in this process (a worker of its own, a test's
/// direct connection) retires those copies too; per database rather than per process, so that
/// writes to another database (the tests run many installs in one process) do not.
fn write_counter(url: &str) -> Arc<AtomicU64> {
    static COUNTERS: LazyLock<Mutex<HashMap<String, Arc<AtomicU64>>>> =
        LazyLock::new(Mutex::default);
    let mut counters = COUNTERS.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(counters.entry(url.to_owned()).or_default())
}

/// Counts a write when dropped, after the write's statements have finished, and rings
/// [`Db::work`] if asked to: at the end of an operation that may have made work claimable,
/// whatever its outcome (a needless ring only costs one claim query, a needless count one cache
/// refill).
struct AfterWrite<'a> {
    writes: &'a AtomicU64,
    work: Option<&'a tokio::sync::Notify>,
}

impl AfterWrite<'_> {
    /// The operation turned out to change nothing (a claim that found no work, a settling pass
    /// that moved no group, a retention sweep that expired nothing): nothing to count, so cached
    /// reads stay valid. These run at every worker poll, or on a timer.
    fn nothing_written(self) {
        std::mem::forget(self);
    }
}

impl Drop for AfterWrite<'_> {
    fn drop(&mut self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let Some(work) = self.work {
            work.notify_one();
        }
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path/to/file.db` or `postgres://...`). For SQLite the file
    /// and its folder are created when missing, and WAL mode is switched on.
    pub async fn connect(url: &str, options: &DbOptions, sealer: Sealer) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let connect_options = AnyConnectOptions::from_str(&url)
            .map_err(|e| DbError::Config(format!("invalid database url: {e}")))?;
        let pool = pool_options(backend, options, options.max_connections)
            .connect_with(connect_options.clone())
            .await?;
        // Connected on first use: an API-only process never renews a lease.
        let heartbeats = pool_options(backend, options, HEARTBEAT_CONNECTIONS)
            .connect_lazy_with(connect_options);
        Ok(Self {
            writes: write_counter(&url),
            running_cap_per_project: options.max_running_tasks_per_project,
            erasures: Arc::new(AtomicU64::new(0)),
            pool,
            heartbeats,
            backend,
            sealer: Arc::new(sealer),
            work: Arc::new(tokio::sync::Notify::new()),
            stops: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Waits until work may have become claimable in this process: a task or group created,
    /// started, resumed or retried, or a group's task cut.
    pub async fn work_announced(&self) {
        self.work.notified().await;
    }

    /// Waits until a task or group was asked to stop through this process.
    pub async fn stop_announced(&self) {
        self.stops.notified().await;
    }

    /// Tells whoever waits in [`Db::stop_announced`] that a stop was asked for.
    fn announce_stop(&self) {
        self.stops.notify_waiters();
    }

    /// Counts a write and rings [`Db::work`] when the returned guard drops.
    fn wake_on_exit(&self) -> AfterWrite<'_> {
        AfterWrite {
            writes: &self.writes,
            work: Some(&self.work),
        }
    }

    /// Counts a write when the returned guard drops.
    fn wrote_on_exit(&self) -> AfterWrite<'_> {
        AfterWrite {
            writes: &self.writes,
            work: None,
        }
    }

    /// The number of writes to tasks and groups this process has finished on this database so
    /// far, counted per database URL by every `Db` of the process. Read it before reading the
    /// data: a cached copy of what was read afterwards is current while this number has not
    /// moved, as far as this process's writes go (other processes are not counted).
    pub fn writes_seen(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Applies the embedded migrations of this backend that have not run yet: every file of
    /// `migrations/sqlite` or `migrations/postgres`, embedded at build time (a new file is never
    /// skipped).
    pub async fn migrate(&self) -> Result<(), DbError> {
        static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`, waiting out the busy timeout): a deferred transaction that reads first and
    /// writes after another connection committed is refused at once with `SQLITE_BUSY`, which
    /// no timeout waits for.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, DbError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Makes erased credentials unrecoverable from the database's files, when any were erased
    /// since the call that set `last` (`last`: the erasures seen so far, updated). On SQLite,
    /// deleted rows are overwritten (`secure_delete`), but the write-ahead log still holds the
    /// page images from before the delete: a `TRUNCATE` checkpoint copies the pages back and
    /// empties it. On PostgreSQL, a deleted row stays in its page as a dead tuple until
    /// `VACUUM`, which is run on the credentials table. Returns whether it ran.
    pub async fn scrub_erased(&self, last: &mut u64) -> Result<bool, DbError> {
        let now = self.erasures.load(Ordering::SeqCst);
        if now == *last {
            return Ok(false);
        }
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA wal_checkpoint(TRUNCATE)",
            Backend::Postgres => "VACUUM credentials",
        };
        sqlx::query(sql).execute(&self.pool).await?;
        *last = now;
        Ok(true)
    }

    /// Closes every connection (after the in-flight queries).
    pub async fn close(&self) {
        self.pool.close().await;
        self.heartbeats.close().await;
    }
}

/// Connections kept for lease renewals alone.
const HEARTBEAT_CONNECTIONS: u32 = 2;

/// A pool's options: its size, the acquire timeout, and SQLite's pragmas on every connection.
fn pool_options(backend: Backend, options: &DbOptions, max_connections: u32) -> AnyPoolOptions {
    let busy_timeout_ms = options.sqlite_busy_timeout.as_millis();
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(options.acquire_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the one writer; the busy timeout makes a
                    // writer wait for the lock instead of failing at once.
                    // secure_delete overwrites what a delete frees (sealed credentials must
                    // not stay readable in a free page); see `Db::scrub_erased` for the WAL.
                    let pragmas = format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_timeout_ms}; \
                         PRAGMA secure_delete = ON;"
                    );
                    conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
                }
                Ok(())
            })
        })
}

/// Recognizes the backend and, for SQLite, makes sure the file can be created.
fn normalize_url(url: &str) -> Result<(Backend, String), DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(DbError::Config(format!(
            "database url must start with sqlite:// or postgres://, got '{}'",
            url.split(':').next().unwrap_or_default()
        )));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(DbError::Config(
            "an in-memory SQLite database would lose everything on restart".into(),
        ));
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbError::Config(format!("cannot create the folder of {path}: {e}")))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else {
        format!("mode=rwc&{query}")
    };
    Ok((
        Backend::Sqlite,
        format!("sqlite://{path}?{}", query.trim_end_matches('&')),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every migration has its twin in the other dialect (migrations/README.md).
    #[test]
    fn migrations_come_in_pairs() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let names = |dialect: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(root.join(dialect))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            names.sort();
            names
        };
        let sqlite = names("sqlite");
        assert!(sqlite.len() >= 8, "{sqlite:?}");
        assert_eq!(sqlite, names("postgres"));
    }

    #[test]
    fn urls_are_recognized() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/oms.db");
        let (backend, url) = normalize_url(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert!(url.ends_with("oms.db?mode=rwc"), "{url}");
        assert!(file.parent().unwrap().is_dir());
        assert_eq!(
            normalize_url("postgres://u@h/db").unwrap().0,
            Backend::Postgres
        );
        assert!(normalize_url("mysql://x").is_err());
        assert!(normalize_url("sqlite::memory:").is_err());
    }
}
