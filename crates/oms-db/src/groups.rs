//! The task-group repository. A group's counters are aggregates of its tasks, computed on read.

use std::collections::HashMap;

use oms_core::bandwidth::BandwidthPolicy;
use oms_core::ids::{GroupId, ProjectId};
use oms_core::model::{GroupFilter, GroupTaskStats, NewMigration, StartRequest, TaskGroup};
use oms_core::spec::MigrationSpec;
use oms_core::status::{
    GroupEvent, GroupStatus, TaskEvent, TaskStatus, TaskTransition, group_transition,
    task_transition,
};
use oms_core::time::now_ms;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::cas::{Cas, Contended, with_cas};
use crate::notify::{self, Trigger};
use crate::rows::StatusColumn as _;
use crate::sealed::{self, CredentialOwner};
use crate::sql::{Bind, placeholders, query_with};
use crate::tasks::{EXPIRED_CODE, check_failed_only};
use crate::{Db, DbError, rows};

/// A group's status and spec, as read before a change.
struct Current {
    status: GroupStatus,
    split_done: bool,
    spec: MigrationSpec,
}

/// Moves group `id` from `from` to `to` if it is still in `from`; false when it was not.
async fn cas_group_status(
    conn: &mut AnyConnection,
    id: GroupId,
    from: GroupStatus,
    to: GroupStatus,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "update task_groups set status = $1, status_time = $2, updated_time = $2 where group_id = $3 and status = $4",
    )
    .bind(to.code())
    .bind(now_ms())
    .bind(id.to_string())
    .bind(from.code())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Applies `event` to the tasks of `group` that are in one of `from`, each moving where the task
/// state machine sends it (statuses the event does not apply to are left alone).
async fn apply_to_group_tasks(
    conn: &mut AnyConnection,
    group: GroupId,
    event: TaskEvent,
    from: &[TaskStatus],
) -> Result<u64, DbError> {
    let mut moved = 0;
    for &status in from {
        let Ok(TaskTransition::To(to)) = task_transition(status, event) else {
            continue;
        };
        if to == status {
            continue;
        }
        moved += sqlx::query(
            "update tasks set status = $1, status_time = $2, updated_time = $2 \
             where group_id = $3 and status = $4",
        )
        .bind(to.code())
        .bind(now_ms())
        .bind(group.to_string())
        .bind(status.code())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(moved)
}

async fn count_active_tasks(conn: &mut AnyConnection, group: GroupId) -> Result<i64, DbError> {
    let active = [
        TaskStatus::Running,
        TaskStatus::Retrying,
        TaskStatus::Pausing,
    ]
    .map(|s| s.code().to_string())
    .join(", ");
    let sql =
        format!("select count(*) as n from tasks where group_id = $1 and status in ({active})");
    Ok(sqlx::query(AssertSqlSafe(sql))
        .bind(group.to_string())
        .fetch_one(conn)
        .await?
        .try_get("n")?)
}

impl Db {
    /// Creates a waiting group with its credentials sealed; returns it.
    pub async fn create_group(
        &self,
        project: &ProjectId,
        new: &NewMigration,
    ) -> Result<TaskGroup, DbError> {
        let _wake = self.wake_on_exit();
        let id = GroupId::random();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into task_groups (group_id, project_id, status, task_type, spec, bandwidth_policy, \
             create_time, updated_time, status_time) values ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
        )
        .bind(id.to_string())
        .bind(project.as_str())
        .bind(GroupStatus::Waiting.code())
        .bind(new.spec.kind.group_str())
        .bind(rows::to_json(&new.spec))
        .bind(rows::to_json(&new.bandwidth_policy))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sealed::store(
            &mut tx,
            &self.sealer,
            CredentialOwner::Group(id),
            &new.credentials,
        )
        .await?;
        tx.commit().await?;
        self.get_group(project, id).await
    }

    /// The group `id` of `project`, with its tasks' aggregates.
    pub async fn get_group(&self, project: &ProjectId, id: GroupId) -> Result<TaskGroup, DbError> {
        let sql = format!(
            "select {} from task_groups where group_id = $1 and project_id = $2 and status <> $3",
            rows::GROUP_COLUMNS
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(project.as_str())
            .bind(GroupStatus::Deleted.code())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        let mut stats = self.group_stats(&[id.to_string()]).await?;
        rows::group(&row, stats.remove(&id.to_string()).unwrap_or_default())
    }

    /// One page of `project`'s groups, newest first, and the number of matches.
    pub async fn list_groups(
        &self,
        project: &ProjectId,
        filter: &GroupFilter,
    ) -> Result<(Vec<TaskGroup>, i64), DbError> {
        let mut binds = vec![
            Bind::Text(project.to_string()),
            Bind::Int(GroupStatus::Deleted.code()),
        ];
        let mut clause = String::from(" where project_id = $1 and status <> $2");
        if let Some(status) = filter.status {
            binds.push(Bind::Int(status.code()));
            clause.push_str(&format!(" and status = ${}", binds.len()));
        }
        let (page, count) = self
            .fetch_page(
                rows::GROUP_COLUMNS,
                "task_groups",
                &clause,
                "create_time desc, group_id desc",
                binds,
                filter.page,
            )
            .await?;
        let ids = page
            .iter()
            .map(|r| r.try_get("group_id"))
            .collect::<Result<Vec<String>, _>>()?;
        let mut stats = self.group_stats(&ids).await?;
        let groups = page
            .iter()
            .zip(&ids)
            .map(|(row, id)| rows::group(row, stats.remove(id).unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((groups, count))
    }

    /// The aggregates of the tasks of each group in `ids`.
    pub(crate) async fn group_stats(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, GroupTaskStats>, DbError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let binds = ids.iter().cloned().map(Bind::Text).collect::<Vec<_>>();
        let sql = format!(
            "{} where group_id in ({}) group by group_id",
            rows::GROUP_STATS_SELECT,
            placeholders(1, ids.len())
        );
        query_with(sql, &binds)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::group_stats)
            .collect()
    }

    async fn current_group(&self, project: &ProjectId, id: GroupId) -> Result<Current, DbError> {
        let row = sqlx::query(
            "select status, split_done, spec from task_groups where group_id = $1 and project_id = $2 and status <> $3",
        )
        .bind(id.to_string())
        .bind(project.as_str())
        .bind(GroupStatus::Deleted.code())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        let spec: String = row.try_get("spec")?;
        Ok(Current {
            status: GroupStatus::read(&row)?,
            split_done: row.try_get::<i64, _>("split_done")? != 0,
            spec: rows::spec(&spec)?,
        })
    }

    /// Pauses a group: waiting tasks pause at once, running ones through pausing; the group is
    /// paused when none runs any more. Returns the group's new status.
    pub async fn stop_group(
        &self,
        project: &ProjectId,
        id: GroupId,
    ) -> Result<GroupStatus, DbError> {
        let _wrote = self.wrote_on_exit();
        with_cas(Contended::Row("task group"), || async move {
            let current = self.current_group(project, id).await?;
            // Refuse early (paused, failed, completed) before touching any task.
            group_transition(
                current.status,
                GroupEvent::Stop {
                    tasks_active: false,
                },
            )?;
            let mut tx = self.begin().await?;
            apply_to_group_tasks(&mut tx, id, TaskEvent::Stop, &TaskStatus::ALL).await?;
            // A splitting group is held by its splitter until it notices the stop.
            let tasks_active = current.status == GroupStatus::CreatingTasks
                || count_active_tasks(&mut tx, id).await? > 0;
            let to = group_transition(current.status, GroupEvent::Stop { tasks_active })?;
            if to != current.status && !cas_group_status(&mut tx, id, current.status, to).await? {
                return Ok(Cas::Retry);
            }
            sealed::wipe_idle_group_tasks(&mut tx, id, &self.erasures).await?;
            if !to.needs_credentials() {
                sealed::wipe(&mut tx, CredentialOwner::Group(id), &self.erasures).await?;
            }
            tx.commit().await?;
            self.announce_stop();
            Ok(Cas::Done(to))
        })
        .await
    }

    /// Resumes a paused group with fresh credentials: it splits again where it stopped, or its
    /// paused tasks wait for workers again.
    pub async fn resume_group(
        &self,
        project: &ProjectId,
        id: GroupId,
        start: &StartRequest,
    ) -> Result<(), DbError> {
        let _wake = self.wake_on_exit();
        with_cas(Contended::Row("task group"), || async move {
            let current = self.current_group(project, id).await?;
            let to = group_transition(
                current.status,
                GroupEvent::Resume {
                    split_done: current.split_done,
                },
            )?;
            let mut tx = self.begin().await?;
            if !cas_group_status(&mut tx, id, current.status, to).await? {
                return Ok(Cas::Retry);
            }
            apply_to_group_tasks(&mut tx, id, TaskEvent::Start, &[TaskStatus::Paused]).await?;
            sealed::store(
                &mut tx,
                &self.sealer,
                CredentialOwner::Group(id),
                &start.credentials,
            )
            .await?;
            tx.commit().await?;
            Ok(Cas::Done(()))
        })
        .await
    }

    /// Runs a failed group again with fresh credentials: its failed tasks (all their objects, or
    /// only the failed ones) and its paused tasks wait for workers again.
    pub async fn retry_group(
        &self,
        project: &ProjectId,
        id: GroupId,
        start: &StartRequest,
    ) -> Result<(), DbError> {
        let _wake = self.wake_on_exit();
        with_cas(Contended::Row("task group"), || async move {
            let current = self.current_group(project, id).await?;
            let to = group_transition(current.status, GroupEvent::Retry)?;
            if start.migrate_failed_objects {
                check_failed_only(TaskStatus::Failed, &current.spec)?;
            }
            let mut tx = self.begin().await?;
            if !cas_group_status(&mut tx, id, current.status, to).await? {
                return Ok(Cas::Retry);
            }
            sqlx::query(
                "update task_groups set error_code = null, error_msg = null where group_id = $1",
            )
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            // Failed tasks run again (all their objects, or only the failed ones); paused ones resume.
            sqlx::query(
                "update tasks set failed_objects_only = $1, error_code = null, error_msg = null \
                 where group_id = $2 and status = $3",
            )
            .bind(i64::from(start.migrate_failed_objects))
            .bind(id.to_string())
            .bind(TaskStatus::Failed.code())
            .execute(&mut *tx)
            .await?;
            if !start.migrate_failed_objects {
                let failed = format!("group_id = $1 and status = {}", TaskStatus::Failed.code());
                crate::tasks::reset_for_full_run(&mut tx, &failed, Bind::Text(id.to_string()))
                    .await?;
            }
            let restart = [TaskStatus::Failed, TaskStatus::Paused];
            apply_to_group_tasks(&mut tx, id, TaskEvent::Start, &restart).await?;
            sealed::store(
                &mut tx,
                &self.sealer,
                CredentialOwner::Group(id),
                &start.credentials,
            )
            .await?;
            tx.commit().await?;
            Ok(Cas::Done(()))
        })
        .await
    }

    /// Deletes a group that nothing runs, with its tasks and credentials.
    pub async fn delete_group(&self, project: &ProjectId, id: GroupId) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        with_cas(Contended::Row("task group"), || async move {
            let current = self.current_group(project, id).await?;
            let to = group_transition(current.status, GroupEvent::Delete)?;
            let mut tx = self.begin().await?;
            if !cas_group_status(&mut tx, id, current.status, to).await? {
                return Ok(Cas::Retry);
            }
            if count_active_tasks(&mut tx, id).await? > 0 {
                tx.rollback().await?;
                return Err(oms_core::TransitionError::RunningCannotDelete(
                    oms_core::error::Subject::TaskGroup,
                )
                .into());
            }
            let erased = sqlx::query(
                "delete from credentials where owner_kind = 'task' and owner_id in \
                 (select cast(id as text) from tasks where group_id = $1)",
            )
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            sealed::erased(erased.rows_affected(), &self.erasures);
            sealed::wipe(&mut tx, CredentialOwner::Group(id), &self.erasures).await?;
            crate::runs::orphan_task_uploads(
                &mut tx,
                "t.group_id = $1",
                Bind::Text(id.to_string()),
            )
            .await?;
            sqlx::query("delete from tasks where group_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("delete from task_groups where group_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Cas::Done(()))
        })
        .await
    }

    /// Replaces the bandwidth policy of a group and of every task it has.
    pub async fn set_group_bandwidth(
        &self,
        project: &ProjectId,
        id: GroupId,
        policy: &BandwidthPolicy,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let current = self.current_group(project, id).await?;
        group_transition(current.status, GroupEvent::Update)?;
        let json = rows::to_json(policy);
        let now = now_ms();
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "update task_groups set bandwidth_policy = $1, updated_time = $2 where group_id = $3 and project_id = $4",
        )
        .bind(&json)
        .bind(now)
        .bind(id.to_string())
        .bind(project.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        sqlx::query(
            "update tasks set bandwidth_policy = $1, updated_time = $2 where group_id = $3",
        )
        .bind(&json)
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn expire_waiting_groups(
        &self,
        cutoff_ms: i64,
        message: &str,
    ) -> Result<u64, DbError> {
        let wrote = self.wrote_on_exit();
        let stale: Vec<String> =
            sqlx::query("select group_id from task_groups where status = $1 and status_time < $2")
                .bind(GroupStatus::Waiting.code())
                .bind(cutoff_ms)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("group_id"))
                .collect::<Result<_, _>>()?;
        let mut expired = 0;
        for raw in stale {
            let Some(id) = GroupId::parse(&raw) else {
                continue;
            };
            let to = group_transition(GroupStatus::Waiting, GroupEvent::ExpireWaiting)?;
            let mut tx = self.begin().await?;
            if !cas_group_status(&mut tx, id, GroupStatus::Waiting, to).await? {
                continue;
            }
            sqlx::query(
                "update task_groups set error_code = $1, error_msg = $2 where group_id = $3",
            )
            .bind(EXPIRED_CODE)
            .bind(message)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            sealed::wipe(&mut tx, CredentialOwner::Group(id), &self.erasures).await?;
            notify::enqueue_group(&mut tx, id, Trigger::Failure).await?;
            tx.commit().await?;
            expired += 1;
        }
        if expired == 0 {
            wrote.nothing_written();
        }
        Ok(expired)
    }
}
