//! The OMS task engine ("the worker crate").
//!
//! A [`Worker`] claims waiting tasks from the database (leases with owner, epoch and expiry on
//! the database clock), and runs each through a pipeline of plain async stages over bounded
//! channels — lister → checker → transfer pool → recorder — that copies the objects between
//! real stores through `oms-storage` connectors. Progress is flushed about once a second in one
//! fenced write; multipart uploads are saved part by part; a stop, a shutdown or a crash loses
//! nothing: the next run continues from the checkpoint and the saved uploads.

mod checker;
mod control;
mod copy;
mod crc;
mod digests;
mod jobs;
mod keeper;
mod lister;
mod listfile;
mod lists;
mod notifier;
mod pages;
mod pipeline;
mod plan;
mod recorder;
mod retry;
mod run;
mod seen;
mod splitter;
mod streams;
mod sync;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use oms_db::Db;
use oms_storage::catalogue::endpoints::EndpointRule;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::notifier::Webhook;
pub use crate::retry::RetryPolicy;
pub use crate::seen::BucketsSeen;

/// How a worker runs tasks.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases and logs.
    pub worker_id: String,
    /// Tasks this worker runs at once (claims stop at this many).
    pub max_tasks: usize,
    /// Objects copied at once per task.
    pub object_concurrency: usize,
    /// Parts uploaded at once per multipart object.
    pub part_concurrency: usize,
    /// Part size of multipart uploads (raised for objects that would need over 10,000 parts).
    pub part_size_bytes: u64,
    /// Objects at least this large go multipart.
    pub multipart_threshold_bytes: u64,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How often the lease is renewed (and the task's status and bandwidth policy read).
    pub heartbeat: Duration,
    /// How often an idle worker looks for work.
    pub poll_interval: Duration,
    /// How often progress is written.
    pub flush_interval: Duration,
    /// Retries of object-store calls.
    pub retry: RetryPolicy,
    /// Keys per listing request.
    pub list_page_size: i32,
    /// Key ranges of one listing read side by side.
    pub list_lanes: usize,
    /// Objects per file of a verification manifest.
    pub manifest_part_objects: usize,
    /// The operator's endpoints.
    pub endpoints: Vec<EndpointRule>,
    /// Connect timeout of store requests.
    pub connect_timeout: Duration,
    /// Read timeout of store requests.
    pub operation_timeout: Duration,
    /// On shutdown, how long in-flight transfers may take before they are cut.
    pub shutdown_grace: Duration,
    /// On a stop (pause), how long in-flight transfers may take before they are cut (a cut
    /// part or object is sent again on resume; finished parts are kept).
    pub stop_grace: Duration,
    /// A task of a group gets at most this many objects...
    pub group_task_max_objects: i64,
    /// ...and at most about this many bytes.
    pub group_task_max_bytes: i64,
    /// Which addresses URL sources, CDN domains and endpoints in credentials may reach.
    pub guard: oms_storage::guard::Guard,
    /// Where notifications of tasks and groups go (`[[notify.webhooks]]`).
    pub webhooks: Vec<Webhook>,
    /// How long a copy waits for the restore of an archived source object (`enable_restore`)
    /// before the object fails.
    pub restore_wait: Duration,
    /// What a restore of an archived source object asks for (`worker.restore_days`,
    /// `worker.restore_tier`).
    pub restore: oms_storage::RestoreRequest,
    /// The clocks bandwidth windows and list times are read on (`worker.time_zone`), unless
    /// the destination region's `[[endpoints]]` rule names its own.
    pub time_zone: jiff::tz::TimeZone,
    /// What this worker learnt of buckets in the last minute (shared by its clones; start
    /// with `Default::default()`).
    pub buckets_seen: Arc<BucketsSeen>,
}

impl WorkerConfig {
    /// The time zone of tasks into the destination region `region`: its `[[endpoints]]` rule's
    /// (checked when the configuration was loaded), else [`WorkerConfig::time_zone`].
    pub fn time_zone_of(&self, region: &str) -> jiff::tz::TimeZone {
        oms_storage::catalogue::endpoints::destination_time_zone(&self.endpoints, region)
            .and_then(|name| match jiff::tz::TimeZone::get(name) {
                Ok(zone) => Some(zone),
                Err(e) => {
                    tracing::warn!(zone = name, error = %e, "unknown time zone; using worker.time_zone");
                    None
                }
            })
            .unwrap_or_else(|| self.time_zone.clone())
    }

    /// What connectors of this worker are built with.
    pub fn connect_settings(&self) -> oms_storage::connect::ConnectSettings {
        oms_storage::connect::ConnectSettings {
            endpoints: self.endpoints.clone(),
            connect_timeout: self.connect_timeout,
            operation_timeout: self.operation_timeout,
            guard: self.guard,
            // Every object and every part of each, plus the listings and HEADs beside them.
            max_requests_in_flight: self.object_concurrency * self.part_concurrency.max(1) + 4,
        }
    }
}

/// A worker: claims tasks and runs them.
#[derive(Debug, Clone)]
pub struct Worker {
    db: Db,
    config: Arc<WorkerConfig>,
}

impl Worker {
    /// A worker over `db`.
    pub fn new(db: Db, config: WorkerConfig) -> Self {
        Self {
            db,
            config: Arc::new(config),
        }
    }

    /// Claims and runs work until `shutdown` fires — task groups to split, sync tasks with
    /// keys waiting, tasks (`jobs::kinds`, in that order) — then stops claiming, lets running
    /// work save its state and hand its leases back, and returns. Alongside, it moves task
    /// groups whose tasks have settled, and delivers notifications.
    pub async fn run(self, shutdown: CancellationToken) {
        let shared = jobs::Shared {
            db: self.db.clone(),
            config: self.config.clone(),
            tracker: TaskTracker::new(),
            shutdown: shutdown.clone(),
        };
        let slots = Arc::new(Semaphore::new(self.config.max_tasks.max(1)));
        let kinds = jobs::kinds();
        tracing::info!(worker = %self.config.worker_id, max_tasks = self.config.max_tasks, "worker started");
        shared.tracker.spawn(settle_groups(
            self.db.clone(),
            self.config.poll_interval,
            shutdown.clone(),
        ));
        shared.tracker.spawn(notifier::run(
            self.db.clone(),
            self.config.clone(),
            shutdown.clone(),
        ));
        'claiming: loop {
            let mut slot = tokio::select! {
                () = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => match slot { Ok(s) => s, Err(_) => break },
            };
            for kind in &kinds {
                match kind.try_start(&shared, slot).await {
                    jobs::Claim::Started => continue 'claiming,
                    jobs::Claim::Nothing(back) => slot = back,
                }
            }
            drop(slot);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = self.db.work_announced() => {}
            }
        }
        let count = |name| {
            kinds
                .iter()
                .filter(|k| k.name() == name)
                .map(|k| k.running())
                .sum::<usize>()
        };
        let (tasks, groups) = (count("task") + count("sync"), count("group"));
        if tasks + groups > 0 {
            tracing::info!(
                worker = %self.config.worker_id,
                tasks,
                groups,
                grace_secs = self.config.shutdown_grace.as_secs(),
                "shutting down: waiting up to {}s for {tasks} running tasks to finish or save their transfers, and {groups} group splits to stop",
                self.config.shutdown_grace.as_secs()
            );
        }
        shared.tracker.close();
        shared.tracker.wait().await;
        tracing::info!(worker = %self.config.worker_id, "worker stopped");
    }
}

/// Moves groups whose tasks settled, every `interval`.
async fn settle_groups(db: Db, interval: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(e) = db.settle_groups().await {
            tracing::warn!(error = %e, "settling task groups failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
