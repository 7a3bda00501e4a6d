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
mod digests;
mod integrity;
mod keeper;
mod lister;
mod listfile;
mod lists;
mod multipart;
mod notifier;
mod pages;
mod pipeline;
mod plan;
mod recorder;
mod retry;
mod run;
mod splitter;
mod streams;
mod sync;
mod transfer;

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use oms_db::Db;
use oms_storage::endpoints::EndpointRule;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::notifier::Webhook;
pub use crate::retry::RetryPolicy;

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
}

impl WorkerConfig {
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

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: "worker".into(),
            max_tasks: 4,
            object_concurrency: 32,
            part_concurrency: 4,
            part_size_bytes: 16 * 1024 * 1024,
            multipart_threshold_bytes: 64 * 1024 * 1024,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            flush_interval: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            list_page_size: 1000,
            endpoints: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(20),
            stop_grace: Duration::from_secs(2),
            group_task_max_objects: 100_000,
            group_task_max_bytes: 100 * 1024 * 1024 * 1024,
            guard: oms_storage::guard::Guard::default(),
            webhooks: Vec::new(),
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

    /// Claims and runs tasks (and splits task groups) until `shutdown` fires; then stops
    /// claiming, lets running tasks save their state and hand their leases back, and returns.
    /// Alongside, it moves task groups whose tasks have settled.
    pub async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(self.config.max_tasks.max(1)));
        let running_tasks = Running::default();
        let running_groups = Running::default();
        let running_syncs = Running::default();
        tracing::info!(worker = %self.config.worker_id, max_tasks = self.config.max_tasks, "worker started");
        tracker.spawn(settle_groups(
            self.db.clone(),
            self.config.poll_interval,
            shutdown.clone(),
        ));
        tracker.spawn(notifier::run(
            self.db.clone(),
            self.config.clone(),
            shutdown.clone(),
        ));
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            };
            // Groups first: splitting one gives work to many.
            match self
                .db
                .claim_next_group(
                    &self.config.worker_id,
                    self.config.lease,
                    &running_groups.ids(),
                )
                .await
            {
                Ok(Some(lease)) => {
                    keeper::lease_event("group", "claimed");
                    let (db, config, shutdown) =
                        (self.db.clone(), self.config.clone(), shutdown.clone());
                    let running = running_groups.enter(lease.group_id);
                    tracker.spawn(async move {
                        splitter::split_group(db, config, lease, shutdown).await;
                        drop((running, permit));
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a task group failed"),
            }
            // Then sync tasks with events waiting: their keys are what users wait for now.
            match self
                .db
                .claim_next_sync_task(
                    &self.config.worker_id,
                    self.config.lease,
                    &running_syncs.ids(),
                )
                .await
            {
                Ok(Some(lease)) => {
                    keeper::lease_event("sync", "claimed");
                    let (db, config, shutdown) =
                        (self.db.clone(), self.config.clone(), shutdown.clone());
                    let running = running_syncs.enter(lease.sync_task_id);
                    tracker.spawn(async move {
                        sync::run_sync_task(db, config, lease, shutdown).await;
                        drop((running, permit));
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a sync task failed"),
            }
            match self
                .db
                .claim_next_task(
                    &self.config.worker_id,
                    self.config.lease,
                    &running_tasks.ids(),
                )
                .await
            {
                Ok(Some(lease)) => {
                    keeper::lease_event("task", "claimed");
                    let (db, config, shutdown) =
                        (self.db.clone(), self.config.clone(), shutdown.clone());
                    let running = running_tasks.enter(lease.task_id);
                    tracker.spawn(async move {
                        run::run_task(db, config, lease, shutdown).await;
                        drop((running, permit));
                    });
                    continue;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "claiming a task failed");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = self.db.work_announced() => {}
            }
        }
        let (tasks, groups) = (
            running_tasks.ids().len() + running_syncs.ids().len(),
            running_groups.ids().len(),
        );
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
        tracker.close();
        tracker.wait().await;
        tracing::info!(worker = %self.config.worker_id, "worker stopped");
    }
}

/// The tasks (or groups) this worker is running. A run outlives its lease when its heartbeat is
/// late (a starved machine, a slow database); the worker must not claim that task again while
/// the first run still goes, or both would copy the same objects until the older one is fenced.
#[derive(Debug)]
struct Running<T>(Arc<Mutex<HashSet<T>>>);

impl<T> Default for Running<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Copy + Eq + Hash> Running<T> {
    fn ids(&self) -> Vec<T> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// Marks `id` running until the returned guard drops.
    fn enter(&self, id: T) -> RunningGuard<T> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
        RunningGuard {
            set: Arc::clone(&self.0),
            id,
        }
    }
}

/// Removes its id from [`Running`] when dropped.
struct RunningGuard<T: Eq + Hash> {
    set: Arc<Mutex<HashSet<T>>>,
    id: T,
}

impl<T: Eq + Hash> Drop for RunningGuard<T> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
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
