//! What a worker does to a sync task while it copies its queued keys: the third user of the
//! one lease implementation ([`Leased`]). A claim takes a synchronizing task that has events
//! waiting and nobody holds (or whose holder's lease expired), and mirrors its owner and epoch
//! onto the task's hidden task, whose lease fences the transfer code's writes (saved multipart
//! uploads). Every outcome is recorded fenced: the event leaves the queue and the counters
//! grow in one transaction, so a key copied by a worker that lost its lease (or was killed) is
//! counted once, by the worker that records it.

use std::time::Duration;

use oms_core::credentials::CredentialSet;
use oms_core::ids::TaskId;
use oms_core::model::{FailureReason, Task};
use oms_core::sync::{SyncCounters, SyncStatus, SyncTaskId};
use oms_core::time::now_ms;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use crate::leases::{ClaimRule, Fenced as _, Holder, Leased, RowId as _};
use crate::rows::{self, StatusColumn as _};
use crate::sync::add_counters;
use crate::{Db, DbError, Lease};

/// A claimed sync task: only the holder of the current epoch may record its outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLease {
    /// The sync task.
    pub sync_task_id: SyncTaskId,
    /// The worker holding it.
    pub owner: String,
    /// The claim's epoch.
    pub epoch: i64,
}

/// What the holder of a [`SyncLease`] copies with.
#[derive(Debug)]
pub struct SyncRun {
    /// The hidden task the copies run as (its spec is the sync task's).
    pub task: Task,
    /// The lease on the hidden task, mirrored from the sync lease.
    pub task_lease: Lease,
    /// The keys, `None` when none are stored (the task was stopped meanwhile).
    pub credentials: Option<CredentialSet>,
}

/// A reconciliation pass that is due, and where it goes on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// The last source key the pass compared (`None`: the pass starts at the beginning).
    pub after: Option<String>,
}

/// A queued key as taken from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedKey {
    /// The key (decoded).
    pub key: String,
    /// Its version when taken: the event leaves the queue only if it is still this one.
    pub version: i64,
    /// Queued by an `ObjectRemoved` notification of a task that propagates deletions: the
    /// destination object goes if the source lacks it.
    pub removal: bool,
}

/// Sync tasks: a worker copies one's queued keys under its lease.
impl Leased for SyncLease {
    type Id = SyncTaskId;
    type Status = SyncStatus;
    type Renewal = SyncStatus;

    const TABLE: &'static str = "sync_tasks";
    const ID_COLUMN: &'static str = "sync_task_id";
    /// The task that waited longest since its last claim or change first.
    const CLAIM_ORDER: &'static str = "status_time";
    const RENEWAL_COLUMNS: &'static str = "status";
    /// Not backing off after failed runs, and events waiting or a reconciliation pass due
    /// (`{now}` is the database clock).
    const CLAIM_FILTER: &'static str = " and (retry_at is null or retry_at <= {now}) \
        and (exists (select 1 from sync_events e \
        where e.sync_task_id = sync_tasks.sync_task_id) or reconcile_due_at <= {now})";

    fn claimed(sync_task_id: SyncTaskId, owner: &str, epoch: i64) -> Self {
        Self {
            sync_task_id,
            owner: owner.to_owned(),
            epoch,
        }
    }

    fn holder(&self) -> Holder<'_, SyncTaskId> {
        Holder {
            id: self.sync_task_id,
            owner: &self.owner,
            epoch: self.epoch,
        }
    }

    /// Synchronizing tasks stay synchronizing while held: a claim takes one nobody holds.
    fn claim_rule() -> Result<ClaimRule<SyncStatus>, DbError> {
        Ok(ClaimRule {
            claimed: SyncStatus::Synchronizing,
            free: Vec::new(),
            held: vec![SyncStatus::Synchronizing],
        })
    }

    fn renewal(row: &AnyRow) -> Result<SyncStatus, DbError> {
        SyncStatus::read(row)
    }
}

impl Db {
    /// Claims a synchronizing sync task with events waiting that nobody holds, for `owner`
    /// for `duration`; tasks in `busy` (still being copied by the caller) are left alone.
    pub async fn claim_next_sync_task(
        &self,
        owner: &str,
        duration: Duration,
        busy: &[SyncTaskId],
    ) -> Result<Option<SyncLease>, DbError> {
        self.claim(owner, duration, busy).await
    }

    /// Extends the lease; returns the sync task's status, or [`DbError::LeaseLost`].
    pub async fn renew_sync_lease(
        &self,
        lease: &SyncLease,
        duration: Duration,
    ) -> Result<SyncStatus, DbError> {
        self.renew(lease, duration).await
    }

    /// Lets go of the sync task (its status stays; the credentials go if it was stopped),
    /// recording why its run stopped (`failure`, shown until a batch is recorded) or clearing
    /// that.
    pub async fn release_sync_task(
        &self,
        lease: &SyncLease,
        failure: Option<&FailureReason>,
    ) -> Result<SyncStatus, DbError> {
        self.end_claim(lease, Ok, failure, "").await
    }

    /// Mirrors the lease onto the hidden task and loads what the holder copies with.
    pub async fn load_sync_run(&self, lease: &SyncLease) -> Result<SyncRun, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select task_id from sync_tasks where {}",
            SyncLease::fence(1)
        )))
        .bind_fence(lease)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::LeaseLost)?;
        let task_id = TaskId::read(&row, "task_id")?;
        // Epochs only grow: an older holder cannot take the hidden task back.
        sqlx::query(
            "update tasks set lease_owner = $1, lease_epoch = $2 where id = $3 and lease_epoch < $2",
        )
        .bind(&lease.owner)
        .bind(lease.epoch)
        .bind(task_id.get())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {} from tasks where id = $1",
            rows::task_columns(self.backend)
        )))
        .bind(task_id.get())
        .fetch_one(&self.pool)
        .await?;
        Ok(SyncRun {
            task: rows::task(&row)?,
            task_lease: Lease {
                task_id,
                owner: lease.owner.clone(),
                epoch: lease.epoch,
            },
            credentials: self.load_credentials(lease.sync_task_id.into()).await?,
        })
    }

    /// Up to `limit` queued keys of the held sync task, oldest first, except those in `skip`
    /// (being copied by the holder already).
    pub async fn queued_sync_keys(
        &self,
        lease: &SyncLease,
        limit: i64,
    ) -> Result<Vec<QueuedKey>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select object_key, version, removal from sync_events where sync_task_id = $1 and exists \
             (select 1 from sync_tasks where {}) order by received_time, object_key limit $4",
            SyncLease::fence(1)
        )))
        .bind_fence(lease)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QueuedKey {
                    key: row.try_get("object_key")?,
                    version: row.try_get("version")?,
                    removal: row.try_get::<i64, _>("removal")? != 0,
                })
            })
            .collect()
    }

    /// Records what became of `done` keys: each leaves the queue unless it was posted again
    /// since it was taken, and `counters` are added to the current 5-minute bucket, in one
    /// transaction fenced by the lease ([`DbError::LeaseLost`]: nothing was recorded).
    pub async fn record_sync_outcomes(
        &self,
        lease: &SyncLease,
        done: &[QueuedKey],
        counters: &SyncCounters,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let mut tx = self.begin().await?;
        let now = now_ms();
        // Taking the row first serializes the holder's writes with a claim by another worker.
        // A recorded batch means the stores answer: the backoff and the error go.
        let held = sqlx::query(AssertSqlSafe(format!(
            "update sync_tasks set updated_time = $1, failed_runs = 0, retry_at = null, \
             error_code = null, error_msg = null where {}",
            SyncLease::fence(2)
        )))
        .bind(now)
        .bind_fence(lease)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if held != 1 {
            return Err(DbError::LeaseLost);
        }
        // In key order, as `add_sync_events` locks them (see there).
        let mut done: Vec<&QueuedKey> = done.iter().collect();
        done.sort_by(|a, b| a.key.cmp(&b.key));
        for queued in done {
            sqlx::query(
                "delete from sync_events where sync_task_id = $1 and object_key = $2 and version = $3",
            )
            .bind(lease.sync_task_id.to_string())
            .bind(&queued.key)
            .bind(queued.version)
            .execute(&mut *tx)
            .await?;
        }
        add_counters(&mut tx, lease.sync_task_id, now, counters).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The reconciliation pass of the held sync task, if one is due.
    pub async fn due_reconciliation(
        &self,
        lease: &SyncLease,
    ) -> Result<Option<Reconciliation>, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select reconcile_marker from sync_tasks where {} and reconcile_due_at <= {}",
            SyncLease::fence(1),
            self.backend.now_ms_sql()
        )))
        .bind_fence(lease)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Reconciliation {
                after: row.try_get("reconcile_marker")?,
            })
        })
        .transpose()
    }

    /// Records a step of the held sync task's reconciliation pass, fenced, in one transaction:
    /// `differing` keys are queued, the counters grow by `compared` and the keys queued, and the
    /// pass goes on after `next` — or, when `next` is `None`, ends: the next pass is due one
    /// interval from now ([`DbError::LeaseLost`]: nothing was recorded).
    pub async fn record_reconcile_step(
        &self,
        lease: &SyncLease,
        differing: &[String],
        compared: i64,
        next: Option<&str>,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let now = self.backend.now_ms_sql();
        let mut tx = self.begin().await?;
        let held = sqlx::query(AssertSqlSafe(format!(
            "update sync_tasks set reconcile_marker = $1, \
             reconcile_due_at = case when $1 is null \
                 then {now} + reconcile_interval_secs * 1000 else reconcile_due_at end, \
             last_reconcile_time = case when $1 is null then {now} else last_reconcile_time end \
             where {}",
            SyncLease::fence(2)
        )))
        .bind(next)
        .bind_fence(lease)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if held != 1 {
            return Err(DbError::LeaseLost);
        }
        let counters = SyncCounters {
            compared,
            reconciled: i64::try_from(differing.len()).unwrap_or(i64::MAX),
            ..SyncCounters::default()
        };
        crate::sync::queue_keys(&mut tx, lease.sync_task_id, differing, false, &counters).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts the held sync task's reconciliation off by `delay` (a store refused a listing):
    /// the pass goes on from where it was then.
    pub async fn postpone_reconciliation(
        &self,
        lease: &SyncLease,
        delay: Duration,
    ) -> Result<(), DbError> {
        self.set_after(lease, "reconcile_due_at", delay).await
    }

    /// Sets `column` of the held sync task (and `failed_runs` for `retry_at`, see
    /// [`Db::sync_run_failed`]) to `delay` from now on the database clock, fenced.
    async fn set_after(
        &self,
        lease: &SyncLease,
        column: &'static str,
        delay: Duration,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let also = if column == "retry_at" {
            ", failed_runs = failed_runs + 1"
        } else {
            ""
        };
        sqlx::query(AssertSqlSafe(format!(
            "update sync_tasks set {column} = {} + $1{also} where {}",
            self.backend.now_ms_sql(),
            SyncLease::fence(2)
        )))
        .bind(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
        .bind_fence(lease)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that a run of the held sync task stopped because a store refused it: the task
    /// is not claimed again before a delay that doubles with each failed run in a row, from 5
    /// seconds up to 10 minutes; returns the delay. (Why it failed is
    /// recorded when the lease is let go: [`Db::release_sync_task`].)
    pub async fn sync_run_failed(&self, lease: &SyncLease) -> Result<Duration, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select failed_runs from sync_tasks where {}",
            SyncLease::fence(1)
        )))
        .bind_fence(lease)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::LeaseLost)?;
        let failed_runs: i64 = row.try_get("failed_runs")?;
        let doublings = u32::try_from(failed_runs.clamp(0, 16)).unwrap_or(16);
        let delay = FIRST_RETRY_DELAY
            .saturating_mul(2_u32.saturating_pow(doublings))
            .min(MAX_RETRY_DELAY);
        self.set_after(lease, "retry_at", delay).await?;
        Ok(delay)
    }
}

/// The wait after a sync task's first failed run in a row.
pub(crate) const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// The longest wait between a sync task's failed runs (a store down for hours is asked every
/// ten minutes, not every second).
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
