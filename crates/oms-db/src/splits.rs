//! Task groups as workers see them: the splitter claims a waiting group and cuts its source
//! into tasks (by key or line ranges, never one row per object); the monitor moves groups to
//! their final or paused status as their tasks settle.

use std::time::Duration;

use oms_core::credentials::CredentialSet;
use oms_core::ids::{GroupId, TaskId};
use oms_core::model::{FailureReason, TaskGroup};
use oms_core::spec::{GroupType, MigrationSpec, TaskPriority};
use oms_core::status::{GroupEvent, GroupStatus, TaskStatus, group_transition};
use oms_core::time::now_ms;
use sqlx::{AssertSqlSafe, Row as _};

use crate::leases::{Fenced as _, GroupLease, Leased as _};
use crate::notify::{self, Trigger};
use crate::sealed::{self, CredentialOwner};
use crate::{Db, DbError, rows};

/// A group as its splitter needs it.
#[derive(Debug)]
pub struct GroupSplit {
    /// The group being split, as stored.
    pub group: TaskGroup,
    /// The last key (or `file\nline`) already given to a task.
    pub checkpoint: Option<String>,
    /// Tasks the splitter has created so far (the next one's number).
    pub tasks_created: i64,
    /// The group's credentials.
    pub credentials: Option<CredentialSet>,
}

/// A task the splitter cuts.
#[derive(Debug, Clone)]
pub struct NewGroupTask {
    /// What it migrates (the group's spec, or a list file of the group's folder).
    pub spec: MigrationSpec,
    /// Keys (or lines) after this one...
    pub range_start: Option<String>,
    /// ...up to this one (inclusive; `None`: to the end).
    pub range_end: Option<String>,
    /// Objects counted into it, for the group's `create_complete_num`.
    pub objects: i64,
    /// Bytes counted into it, for the group's `create_complete_size`.
    pub bytes: i64,
    /// The split checkpoint once it exists.
    pub checkpoint: String,
}

impl Db {
    /// Claims the oldest waiting group (or one whose splitter's lease expired), except those in
    /// `busy` (being split by the caller, see [`Db::claim_next_task`]).
    pub async fn claim_next_group(
        &self,
        owner: &str,
        lease: Duration,
        busy: &[GroupId],
    ) -> Result<Option<GroupLease>, DbError> {
        self.claim(owner, lease, busy).await
    }

    /// Loads what the splitter of `lease` needs.
    pub async fn load_group_split(&self, lease: &GroupLease) -> Result<GroupSplit, DbError> {
        let sql = format!(
            "select {}, split_checkpoint, split_tasks from task_groups where {}",
            rows::GROUP_COLUMNS,
            GroupLease::fence(1)
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind_fence(lease)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::LeaseLost)?;
        Ok(GroupSplit {
            group: rows::group(&row, oms_core::model::GroupTaskStats::default())?,
            checkpoint: row.try_get("split_checkpoint")?,
            tasks_created: row.try_get("split_tasks")?,
            credentials: self
                .load_credentials(CredentialOwner::Group(lease.group_id))
                .await?,
        })
    }

    /// Extends the splitter's lease; returns the group's status (pausing means: stop).
    pub async fn renew_group_lease(
        &self,
        lease: &GroupLease,
        duration: Duration,
    ) -> Result<GroupStatus, DbError> {
        self.renew(lease, duration).await
    }

    /// Creates one task of the group (waiting at once) and moves the split checkpoint.
    pub async fn add_group_task(
        &self,
        lease: &GroupLease,
        new: &NewGroupTask,
    ) -> Result<TaskId, DbError> {
        let _wake = self.wake_on_exit();
        for _ in 0..5 {
            let id = TaskId::random();
            let now = now_ms();
            let mut tx = self.begin().await?;
            // Write first (the task), then the fenced group update: see `save_upload`. A task cut
            // while the group is pausing starts paused.
            let result = sqlx::query(
                "insert into tasks (id, project_id, group_id, group_type, name, task_type, status, priority, spec, \
                 bandwidth_policy, range_start, range_end, create_time, updated_time, status_time) \
                 select $1, project_id, group_id, $2, $3, $4, case when status = $12 then $13 else $5 end, $6, $7, \
                 bandwidth_policy, $8, $9, $10, $10, $10 from task_groups where group_id = $11",
            )
            .bind(id.get())
            .bind(GroupType::Group.as_str())
            .bind(String::new())
            .bind(new.spec.kind.as_str())
            .bind(TaskStatus::Waiting.code())
            .bind(TaskPriority::Medium.rank())
            .bind(rows::to_json(&new.spec))
            .bind(new.range_start.clone())
            .bind(new.range_end.clone())
            .bind(now)
            .bind(lease.group_id.to_string())
            .bind(GroupStatus::Pausing.code())
            .bind(TaskStatus::Paused.code())
            .execute(&mut *tx)
            .await;
            if let Err(e) = result {
                let e = DbError::from(e);
                if e.is_unique_violation() {
                    continue;
                }
                return Err(e);
            }
            let sql = format!(
                "update task_groups set split_checkpoint = $1, split_tasks = split_tasks + 1, \
                 create_complete_num = create_complete_num + $2, create_complete_size = create_complete_size + $3, \
                 updated_time = $4 where {} returning split_tasks",
                GroupLease::fence(5)
            );
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(&new.checkpoint)
                .bind(new.objects)
                .bind(new.bytes)
                .bind(now)
                .bind_fence(lease)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(DbError::LeaseLost)?;
            let number: i64 = row.try_get("split_tasks")?;
            let name = format!("{}_{number:05}", &lease.group_id.to_string()[..8]);
            sqlx::query("update tasks set name = $1 where id = $2")
                .bind(name)
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(id);
        }
        Err(DbError::Contention { what: "task id" })
    }

    /// Ends the splitter's claim: `Some(SplitDone | SplitFailed)` moves the group by the state
    /// machine; `None` only lets go (the group was stopped while splitting).
    pub async fn finish_split(
        &self,
        lease: &GroupLease,
        event: Option<GroupEvent>,
        failure: Option<&FailureReason>,
    ) -> Result<GroupStatus, DbError> {
        let _wrote = self.wrote_on_exit();
        let decide = |from| match event {
            Some(event) => Ok(group_transition(from, event)?),
            None => Ok(from),
        };
        let split_done = if event == Some(GroupEvent::SplitDone) {
            ", split_done = 1"
        } else {
            ""
        };
        self.end_claim(lease, decide, failure, split_done).await
    }

    /// Moves groups whose tasks have settled: monitoring → completed or failed, pausing → paused
    /// (once nothing runs and no splitter holds it). Erases the credentials of groups that no
    /// longer need them. Returns how many groups moved.
    pub async fn settle_groups(&self) -> Result<usize, DbError> {
        let wrote = self.wrote_on_exit();
        let candidates = sqlx::query(
            "select group_id, status, split_done, lease_owner from task_groups where status in ($1, $2)",
        )
        .bind(GroupStatus::Monitoring.code())
        .bind(GroupStatus::Pausing.code())
        .fetch_all(&self.pool)
        .await?;
        // One aggregate query for every candidate, not one per group.
        let ids = candidates
            .iter()
            .map(|row| row.try_get::<String, _>("group_id"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut all_stats = self.group_stats(&ids).await?;
        let mut moved = 0;
        for row in candidates {
            let raw: String = row.try_get("group_id")?;
            let status: i64 = row.try_get("status")?;
            let (Some(id), Some(from)) = (GroupId::parse(&raw), GroupStatus::from_code(status))
            else {
                continue;
            };
            let split_done = row.try_get::<i64, _>("split_done")? != 0;
            let splitting = row.try_get::<Option<String>, _>("lease_owner")?.is_some();
            let stats = all_stats.remove(&raw).unwrap_or_default();
            let settled = stats.completed + stats.failed == stats.total;
            let event = match from {
                GroupStatus::Monitoring if split_done && settled && stats.failed == 0 => {
                    GroupEvent::AllTasksSucceeded
                }
                GroupStatus::Monitoring if split_done && settled => GroupEvent::SomeTasksFailed,
                GroupStatus::Pausing
                    if !splitting && stats.executing == 0 && stats.waiting == 0 =>
                {
                    GroupEvent::AllTasksPaused
                }
                _ => continue,
            };
            let to = group_transition(from, event)?;
            let mut tx = self.begin().await?;
            let updated = sqlx::query(
                "update task_groups set status = $1, status_time = $2, updated_time = $2 where group_id = $3 and status = $4",
            )
            .bind(to.code())
            .bind(now_ms())
            .bind(id.to_string())
            .bind(from.code())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated != 1 {
                continue;
            }
            if event == GroupEvent::SomeTasksFailed {
                sqlx::query("update task_groups set error_code = 'TRF.0004', error_msg = $1 where group_id = $2")
                    .bind(format!("{} of {} tasks failed; retry the group", stats.failed, stats.total))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            if !to.needs_credentials() {
                sealed::wipe(&mut tx, CredentialOwner::Group(id), &self.erasures).await?;
                sealed::wipe_idle_group_tasks(&mut tx, id, &self.erasures).await?;
            }
            let trigger = match to {
                GroupStatus::Completed => Some(Trigger::Success),
                GroupStatus::Failed => Some(Trigger::Failure),
                _ => None,
            };
            if let Some(trigger) = trigger {
                notify::enqueue_group(&mut tx, id, trigger).await?;
            }
            tx.commit().await?;
            moved += 1;
        }
        if moved == 0 {
            wrote.nothing_written();
        }
        Ok(moved)
    }
}
