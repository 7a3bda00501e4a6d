//! Claiming tasks with leases: an owner, an epoch (incremented on every claim) and an expiry on
//! the database clock. Every write a worker makes is fenced with `owner = ? and epoch = ?`; zero
//! rows means the lease was lost and the work must stop.

use std::time::Duration;

use oms_core::ids::TaskId;
use oms_core::model::FailureReason;
use oms_core::status::{TaskEvent, TaskStatus, TaskTransition, task_transition};
use sqlx::{AssertSqlSafe, Row as _};

use crate::sealed::{self, CredentialOwner};
use crate::tasks::{Bind, placeholders, query_with};
use crate::{Backend, Db, DbError};

/// A claimed task: only the holder of the current epoch may write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The task.
    pub task_id: TaskId,
    /// The worker holding it.
    pub owner: String,
    /// The claim's epoch.
    pub epoch: i64,
}

impl Backend {
    /// The database clock in Unix milliseconds, as SQL.
    pub(crate) const fn now_ms_sql(self) -> &'static str {
        match self {
            Self::Sqlite => "cast((julianday('now') - 2440587.5) * 86400000.0 as integer)",
            Self::Postgres => "cast(extract(epoch from clock_timestamp()) * 1000 as bigint)",
        }
    }

    /// Row locking for a claim's sub-select (SQLite has one writer and needs none).
    pub(crate) const fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " for update skip locked",
        }
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A claim's exclusion of the ids its caller is still running: ` and {column} not in ($first,
/// ...)` for `n` ids, nothing for none.
pub(crate) fn excluding(column: &str, first: usize, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" and {column} not in ({})", placeholders(first, n))
    }
}

impl Db {
    /// Claims the next runnable task (waiting, or running under an expired lease), highest
    /// priority and oldest first, for `owner` for `lease`. Tasks in `busy` (those the caller is
    /// still running, whose lease may have lapsed while its heartbeat was late) are left alone:
    /// claiming one again would start a second run beside the first.
    pub async fn claim_next_task(
        &self,
        owner: &str,
        lease: Duration,
        busy: &[TaskId],
    ) -> Result<Option<Lease>, DbError> {
        let wrote = self.wrote_on_exit();
        let now = self.backend.now_ms_sql();
        // The statuses a claim applies to, by the state machine; held ones (running, retrying)
        // only once their lease expired.
        let claimable = |held: bool| {
            TaskStatus::ALL
                .into_iter()
                .filter(|s| s.is_active() == held)
                .filter(|s| task_transition(*s, TaskEvent::Claim).is_ok())
                .map(|s| s.code().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let TaskTransition::To(claimed) = task_transition(TaskStatus::Waiting, TaskEvent::Claim)?
        else {
            return Err(DbError::LeaseLost);
        };
        let sql = format!(
            "update tasks set status = {claimed}, lease_owner = $1, lease_epoch = lease_epoch + 1, \
             lease_expires_at = {now} + $2, \
             start_time = case when start_time = 0 then {now} else start_time end, \
             status_time = {now}, updated_time = {now} \
             where id = (select id from tasks where (status in ({free}) \
                 or (status in ({held}) and lease_expires_at < {now})){busy} \
                 order by priority, create_time limit 1{lock}) \
             returning id, lease_epoch",
            claimed = claimed.code(),
            free = claimable(false),
            held = claimable(true),
            lock = self.backend.skip_locked(),
            busy = excluding("id", 3, busy.len()),
        );
        let binds: Vec<Bind> = [Bind::Text(owner.to_owned()), Bind::Int(duration_ms(lease))]
            .into_iter()
            .chain(busy.iter().map(|id| Bind::Int(id.get())))
            .collect();
        let row = query_with(sql, &binds).fetch_optional(&self.pool).await?;
        let Some(row) = row else {
            wrote.nothing_written();
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        Ok(Some(Lease {
            task_id: TaskId::new(id).ok_or(DbError::Corrupt {
                what: "task id",
                detail: id.to_string(),
            })?,
            owner: owner.to_owned(),
            epoch: row.try_get("lease_epoch")?,
        }))
    }

    /// Ends the holder's run of a task by `event` (succeed, fail, pause reached, release), with
    /// a failure reason when it failed; returns the new status. Credentials are erased when the
    /// new status no longer needs them.
    pub async fn finish_task(
        &self,
        lease: &Lease,
        event: TaskEvent,
        failure: Option<&FailureReason>,
    ) -> Result<TaskStatus, DbError> {
        // A slot frees up: the worker may claim the next task at once.
        let _wake = self.wake_on_exit();
        // The status can change between the read and the update (a stop arriving as the run
        // ends): the update then matches nothing, and the transition is decided again.
        let mut attempts = 0;
        let (to, mut tx) = loop {
            attempts += 1;
            let row = sqlx::query(
                "select status from tasks where id = $1 and lease_owner = $2 and lease_epoch = $3",
            )
            .bind(lease.task_id.get())
            .bind(&lease.owner)
            .bind(lease.epoch)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::LeaseLost)?;
            let code: i64 = row.try_get("status")?;
            let from = TaskStatus::from_code(code).ok_or(DbError::Corrupt {
                what: "task status",
                detail: code.to_string(),
            })?;
            let TaskTransition::To(to) = task_transition(from, event)? else {
                return Err(DbError::LeaseLost);
            };
            let now = self.backend.now_ms_sql();
            let mut tx = self.pool.begin().await?;
            let sql = format!(
                "update tasks set status = $1, lease_owner = null, lease_expires_at = null, error_code = $2, \
                 error_msg = $3, status_time = {now}, updated_time = {now} \
                 where id = $4 and lease_owner = $5 and lease_epoch = $6 and status = $7"
            );
            let updated = sqlx::query(AssertSqlSafe(sql))
                .bind(to.code())
                .bind(failure.map(|f| f.code.clone()))
                .bind(failure.map(|f| f.message.clone()))
                .bind(lease.task_id.get())
                .bind(&lease.owner)
                .bind(lease.epoch)
                .bind(from.code())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 1 {
                break (to, tx);
            }
            drop(tx);
            if attempts >= 5 {
                return Err(DbError::LeaseLost);
            }
        };
        if !to.needs_credentials() {
            sealed::wipe(&mut tx, CredentialOwner::Task(lease.task_id)).await?;
        }
        tx.commit().await?;
        Ok(to)
    }
}
