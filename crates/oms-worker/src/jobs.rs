//! The kinds of leased work a worker claims — task groups to split, sync tasks with keys
//! waiting, tasks to run — and the one way each is claimed, started and handed back. A kind is
//! one [`Job`] impl; the worker's loop ([`crate::Worker::run`]) walks [`kinds`] in order of
//! priority, so a fourth kind of work is one impl and one line there.

use std::collections::HashSet;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use oms_db::{Db, DbError, GroupLease, Lease, SyncLease};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{WorkerConfig, keeper, run, splitter, sync};

/// A kind of leased work.
pub(crate) trait Job: Send + Sync + 'static {
    /// A claimed item's lease.
    type Lease: Send + 'static;
    /// A claimed item's id.
    type Id: Copy + Eq + Hash + Send + Sync + 'static;
    /// Its name in logs and metrics (`group`, `sync`, `task`).
    const KIND: &'static str;

    /// The id of what `lease` holds.
    fn id(lease: &Self::Lease) -> Self::Id;

    /// Claims the next item nobody holds (none of `busy`, which this worker still runs).
    fn claim(
        db: &Db,
        config: &WorkerConfig,
        busy: &[Self::Id],
    ) -> impl Future<Output = Result<Option<Self::Lease>, DbError>> + Send;

    /// Runs a claimed item to its end (or until `shutdown`), handing its lease back.
    fn run(
        db: Db,
        config: Arc<WorkerConfig>,
        lease: Self::Lease,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// Task groups: splitting one gives work to many, so they come first.
pub(crate) struct Groups;

impl Job for Groups {
    type Lease = GroupLease;
    type Id = oms_core::ids::GroupId;
    const KIND: &'static str = "group";

    fn id(lease: &GroupLease) -> Self::Id {
        lease.group_id
    }

    async fn claim(
        db: &Db,
        config: &WorkerConfig,
        busy: &[Self::Id],
    ) -> Result<Option<GroupLease>, DbError> {
        db.claim_next_group(&config.worker_id, config.lease, busy)
            .await
    }

    async fn run(
        db: Db,
        config: Arc<WorkerConfig>,
        lease: GroupLease,
        shutdown: CancellationToken,
    ) {
        splitter::split_group(db, config, lease, shutdown).await;
    }
}

/// Sync tasks with keys waiting: their keys are what users wait for now.
pub(crate) struct Syncs;

impl Job for Syncs {
    type Lease = SyncLease;
    type Id = oms_core::sync::SyncTaskId;
    const KIND: &'static str = "sync";

    fn id(lease: &SyncLease) -> Self::Id {
        lease.sync_task_id
    }

    async fn claim(
        db: &Db,
        config: &WorkerConfig,
        busy: &[Self::Id],
    ) -> Result<Option<SyncLease>, DbError> {
        db.claim_next_sync_task(&config.worker_id, config.lease, busy)
            .await
    }

    async fn run(db: Db, config: Arc<WorkerConfig>, lease: SyncLease, shutdown: CancellationToken) {
        sync::run_sync_task(db, config, lease, shutdown).await;
    }
}

/// Migration tasks.
pub(crate) struct Tasks;

impl Job for Tasks {
    type Lease = Lease;
    type Id = oms_core::ids::TaskId;
    const KIND: &'static str = "task";

    fn id(lease: &Lease) -> Self::Id {
        lease.task_id
    }

    async fn claim(
        db: &Db,
        config: &WorkerConfig,
        busy: &[Self::Id],
    ) -> Result<Option<Lease>, DbError> {
        db.claim_next_task(&config.worker_id, config.lease, busy)
            .await
    }

    async fn run(db: Db, config: Arc<WorkerConfig>, lease: Lease, shutdown: CancellationToken) {
        run::run_task(db, config, lease, shutdown).await;
    }
}

/// What a worker's runs share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) db: Db,
    pub(crate) config: Arc<WorkerConfig>,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
}

/// The outcome of trying to claim one kind of work.
pub(crate) enum Claim {
    /// Something was claimed and started; it holds the slot until it ends.
    Started,
    /// Nothing to claim (or the claim failed, logged): the slot is given back.
    Nothing(OwnedSemaphorePermit),
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One kind of work, with what of it this worker runs now. A run outlives its lease when its
/// heartbeat is late (a starved machine, a slow database); the worker must not claim that item
/// again while the first run still goes, or both would work on it until the older one is
/// fenced.
pub(crate) trait Kind: Send + Sync {
    /// Its name (`group`, `sync`, `task`).
    fn name(&self) -> &'static str;
    /// How many this worker runs now.
    fn running(&self) -> usize;
    /// Claims one and starts it in `shared.tracker`, holding `slot` until it ends.
    fn try_start<'a>(&'a self, shared: &'a Shared, slot: OwnedSemaphorePermit) -> Boxed<'a, Claim>;
}

/// A [`Kind`] of the [`Job`] `J`.
struct Of<J: Job> {
    running: Arc<Mutex<HashSet<J::Id>>>,
}

impl<J: Job> Of<J> {
    fn ids(&self) -> Vec<J::Id> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }
}

/// Takes its id out of the running set when dropped.
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

impl<J: Job> Kind for Of<J> {
    fn name(&self) -> &'static str {
        J::KIND
    }

    fn running(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn try_start<'a>(&'a self, shared: &'a Shared, slot: OwnedSemaphorePermit) -> Boxed<'a, Claim> {
        Box::pin(async move {
            let lease = match J::claim(&shared.db, &shared.config, &self.ids()).await {
                Ok(Some(lease)) => lease,
                Ok(None) => return Claim::Nothing(slot),
                Err(e) => {
                    tracing::warn!(error = %e, kind = J::KIND, "claiming work failed");
                    return Claim::Nothing(slot);
                }
            };
            keeper::lease_event(J::KIND, "claimed");
            let id = J::id(&lease);
            self.running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id);
            let guard = RunningGuard {
                set: Arc::clone(&self.running),
                id,
            };
            let (db, config, shutdown) = (
                shared.db.clone(),
                shared.config.clone(),
                shared.shutdown.clone(),
            );
            shared.tracker.spawn(async move {
                J::run(db, config, lease, shutdown).await;
                drop((guard, slot));
            });
            Claim::Started
        })
    }
}

/// Every kind of work, in the order a free slot is offered to them.
pub(crate) fn kinds() -> Vec<Box<dyn Kind>> {
    fn of<J: Job>() -> Box<dyn Kind> {
        Box::new(Of::<J> {
            running: Arc::default(),
        })
    }
    vec![of::<Groups>(), of::<Syncs>(), of::<Tasks>()]
}
