//! The task repository.

use oms_core::bandwidth::BandwidthPolicy;
use oms_core::ids::{ProjectId, TaskId};
use oms_core::model::{BatchUpdate, NewMigration, StartRequest, Task, TaskFilter, TaskSelector};
use oms_core::spec::{GroupType, MigrationSpec, TaskPriority};
use oms_core::status::{TaskEvent, TaskStatus, TaskTransition, task_transition};
use oms_core::time::now_ms;
use oms_core::{ErrorCode, TransitionError};
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::cas::{Cas, Contended, with_cas};
use crate::notify::{self, Trigger};
use crate::rows::StatusColumn as _;
use crate::sealed::{self, CredentialOwner};
use crate::sql::{Bind, placeholders, query_with};
use crate::{Db, DbError, rows};

/// The tasks the task API shows: not the hidden task a sync task copies as (it is reached
/// through its sync task only).
pub(crate) const VISIBLE: &str = "group_type <> 'SYNC_TASK'";

/// How often a new task id is drawn when it collides with an existing one.
const MAX_ID_ATTEMPTS: usize = 5;

/// A task row to insert (not of a group).
pub(crate) struct TaskRow<'a> {
    pub(crate) project: &'a ProjectId,
    pub(crate) id: TaskId,
    pub(crate) group_type: GroupType,
    pub(crate) status: TaskStatus,
    pub(crate) priority: TaskPriority,
    pub(crate) spec: &'a MigrationSpec,
    pub(crate) bandwidth_policy: &'a BandwidthPolicy,
}

/// Inserts `row`, named `task_{id}`.
pub(crate) async fn insert_task_row(
    conn: &mut AnyConnection,
    row: &TaskRow<'_>,
) -> Result<(), DbError> {
    let now = now_ms();
    sqlx::query(
        "insert into tasks (id, project_id, group_id, group_type, name, task_type, status, priority, spec, \
         bandwidth_policy, create_time, updated_time, status_time) \
         values ($1, $2, null, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)",
    )
    .bind(row.id.get())
    .bind(row.project.as_str())
    .bind(row.group_type.as_str())
    .bind(format!("task_{}", row.id))
    .bind(row.spec.kind.as_str())
    .bind(row.status.code())
    .bind(row.priority.rank())
    .bind(rows::to_json(row.spec))
    .bind(rows::to_json(row.bandwidth_policy))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The status and spec of a task, as read before a change.
struct Current {
    status: TaskStatus,
    group_type: GroupType,
    spec: MigrationSpec,
}

/// Moves task `id` from `from` to `to` if it is still in `from`; false when it was not.
pub(crate) async fn cas_task_status(
    conn: &mut AnyConnection,
    id: TaskId,
    from: TaskStatus,
    to: TaskStatus,
) -> Result<bool, DbError> {
    let now = now_ms();
    let done = sqlx::query(
        "update tasks set status = $1, status_time = $2, updated_time = $2 where id = $3 and status = $4",
    )
    .bind(to.code())
    .bind(now)
    .bind(id.get())
    .bind(from.code())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Db {
    /// How many tasks of `project` wait for a worker (status 1).
    pub async fn count_waiting_tasks(&self, project: &ProjectId) -> Result<i64, DbError> {
        let row =
            sqlx::query("select count(*) as n from tasks where project_id = $1 and status = $2")
                .bind(project.as_str())
                .bind(TaskStatus::Waiting.code())
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// Creates a waiting task with its credentials sealed; returns it.
    pub async fn create_task(
        &self,
        project: &ProjectId,
        new: &NewMigration,
    ) -> Result<Task, DbError> {
        for _ in 0..MAX_ID_ATTEMPTS {
            let _wake = self.wake_on_exit();
            let id = TaskId::random();
            match self.insert_task(project, id, new).await {
                Err(e) if e.is_unique_violation() => {}
                Err(e) => return Err(e),
                Ok(()) => return self.get_task(project, id).await,
            }
        }
        Err(DbError::Contention { what: "task id" })
    }

    async fn insert_task(
        &self,
        project: &ProjectId,
        id: TaskId,
        new: &NewMigration,
    ) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let row = TaskRow {
            project,
            id,
            group_type: GroupType::Normal,
            status: TaskStatus::Waiting,
            priority: new.priority,
            spec: &new.spec,
            bandwidth_policy: &new.bandwidth_policy,
        };
        insert_task_row(&mut tx, &row).await?;
        sealed::store(
            &mut tx,
            &self.sealer,
            CredentialOwner::Task(id),
            &new.credentials,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The task `id` of `project`.
    pub async fn get_task(&self, project: &ProjectId, id: TaskId) -> Result<Task, DbError> {
        let sql = format!(
            "select {} from tasks where id = $1 and project_id = $2 and {VISIBLE}",
            rows::task_columns(self.backend)
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
            .bind(project.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        rows::task(&row)
    }

    /// One page of `project`'s tasks matching `filter`, newest first, and the number of matches.
    pub async fn list_tasks(
        &self,
        project: &ProjectId,
        filter: &TaskFilter,
    ) -> Result<(Vec<Task>, i64), DbError> {
        let mut binds = vec![Bind::Text(project.to_string())];
        let mut clause = format!(" where project_id = $1 and {VISIBLE}");
        if let Some(group) = filter.group_id {
            binds.push(Bind::Text(group.to_string()));
            clause.push_str(&format!(" and group_id = ${}", binds.len()));
        }
        if let Some(status) = filter.status {
            binds.push(Bind::Int(status.code()));
            clause.push_str(&format!(" and status = ${}", binds.len()));
        }
        if let Some(name) = &filter.name_contains {
            binds.push(Bind::Text(format!(
                "%{}%",
                escape_like(&name.to_lowercase())
            )));
            clause.push_str(&format!(
                " and lower(name) like ${} escape '\\'",
                binds.len()
            ));
        }
        let (page, count) = self
            .fetch_page(
                &rows::task_columns(self.backend),
                "tasks",
                &clause,
                "create_time desc, id desc",
                binds,
                filter.page,
            )
            .await?;
        let tasks = page.iter().map(rows::task).collect::<Result<Vec<_>, _>>()?;
        Ok((tasks, count))
    }

    async fn current_task(&self, project: &ProjectId, id: TaskId) -> Result<Current, DbError> {
        let row = sqlx::query(
            AssertSqlSafe(format!("select status, group_type, spec from tasks where id = $1 and project_id = $2 and {VISIBLE}")),
        )
        .bind(id.get())
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        let group_type: String = row.try_get("group_type")?;
        let spec: String = row.try_get("spec")?;
        Ok(Current {
            status: TaskStatus::read(&row)?,
            group_type: GroupType::parse(&group_type).ok_or(DbError::Corrupt {
                what: "group type",
                detail: group_type,
            })?,
            spec: rows::spec(&spec)?,
        })
    }

    /// Starts a paused or failed task again with fresh credentials.
    pub async fn start_task(
        &self,
        project: &ProjectId,
        id: TaskId,
        start: &StartRequest,
    ) -> Result<(), DbError> {
        with_cas(Contended::Row("task"), || async move {
            let _wake = self.wake_on_exit();
            let current = self.current_task(project, id).await?;
            let to = status_after(current.status, TaskEvent::Start)?;
            if start.migrate_failed_objects {
                check_failed_only(current.status, &current.spec)?;
            }
            let mut tx = self.begin().await?;
            let moved = sqlx::query(
                "update tasks set status = $1, status_time = $2, updated_time = $2, failed_objects_only = $3, \
                 error_code = null, error_msg = null where id = $4 and status = $5",
            )
            .bind(to.code())
            .bind(now_ms())
            .bind(i64::from(start.migrate_failed_objects))
            .bind(id.get())
            .bind(current.status.code())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                return Ok(Cas::Retry);
            }
            if current.status == TaskStatus::Failed && !start.migrate_failed_objects {
                reset_for_full_run(&mut tx, "id = $1", Bind::Int(id.get())).await?;
            }
            sealed::store(
                &mut tx,
                &self.sealer,
                CredentialOwner::Task(id),
                &start.credentials,
            )
            .await?;
            tx.commit().await?;
            Ok(Cas::Done(()))
        })
        .await
    }

    /// Pauses a task: at once when nobody runs it, else through pausing. Returns the new status.
    pub async fn stop_task(&self, project: &ProjectId, id: TaskId) -> Result<TaskStatus, DbError> {
        let _wrote = self.wrote_on_exit();
        with_cas(Contended::Row("task"), || async move {
            let current = self.current_task(project, id).await?;
            let to = status_after(current.status, TaskEvent::Stop)?;
            if to == current.status {
                return Ok(Cas::Done(to));
            }
            let mut tx = self.begin().await?;
            if !cas_task_status(&mut tx, id, current.status, to).await? {
                return Ok(Cas::Retry);
            }
            if !to.needs_credentials() {
                sealed::wipe(&mut tx, CredentialOwner::Task(id), &self.erasures).await?;
            }
            tx.commit().await?;
            self.announce_stop();
            Ok(Cas::Done(to))
        })
        .await
    }

    /// Deletes a task that is not running, with everything it owns.
    pub async fn delete_task(&self, project: &ProjectId, id: TaskId) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        with_cas(Contended::Row("task"), || async move {
            let current = self.current_task(project, id).await?;
            if current.group_type == GroupType::Group {
                return Err(DbError::Refused {
                    code: ErrorCode::InvalidParameter,
                    message: "a task of a task group is deleted with its group".into(),
                });
            }
            if task_transition(current.status, TaskEvent::Delete)? != TaskTransition::Remove {
                return Err(illegal(current.status, "delete"));
            }
            let mut tx = self.begin().await?;
            crate::runs::orphan_task_uploads(&mut tx, "t.id = $1", Bind::Int(id.get())).await?;
            let deleted = sqlx::query("delete from tasks where id = $1 and status = $2")
                .bind(id.get())
                .bind(current.status.code())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted != 1 {
                return Ok(Cas::Retry);
            }
            sealed::wipe(&mut tx, CredentialOwner::Task(id), &self.erasures).await?;
            tx.commit().await?;
            Ok(Cas::Done(()))
        })
        .await
    }

    /// Replaces a task's bandwidth policy (a running task picks it up live).
    pub async fn set_task_bandwidth(
        &self,
        project: &ProjectId,
        id: TaskId,
        policy: &BandwidthPolicy,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let updated = sqlx::query(
            "update tasks set bandwidth_policy = $1, updated_time = $2 where id = $3 and project_id = $4",
        )
        .bind(rows::to_json(policy))
        .bind(now_ms())
        .bind(id.get())
        .bind(project.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            Err(DbError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Applies a batch update; returns how many tasks it selected.
    pub async fn batch_update_tasks(
        &self,
        project: &ProjectId,
        update: &BatchUpdate,
    ) -> Result<u64, DbError> {
        let _wake = self.wake_on_exit();
        let mut binds = vec![Bind::Text(project.to_string())];
        let selection = match &update.selector {
            TaskSelector::Ids(ids) => {
                binds.extend(ids.iter().map(|id| Bind::Int(id.get())));
                let clause = format!(
                    "project_id = $1 and {VISIBLE} and id in ({})",
                    placeholders(2, ids.len())
                );
                let found: Vec<i64> =
                    query_with(format!("select id from tasks where {clause}"), &binds)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|r| r.try_get("id"))
                        .collect::<Result<_, _>>()?;
                if let Some(missing) = ids.iter().find(|id| !found.contains(&id.get())) {
                    return Err(DbError::Refused {
                        code: ErrorCode::NotFound,
                        message: format!("task {missing} does not exist"),
                    });
                }
                clause
            }
            TaskSelector::Group(group) => {
                let exists = sqlx::query(
                    "select 1 as one from task_groups where group_id = $1 and project_id = $2",
                )
                .bind(group.to_string())
                .bind(project.as_str())
                .fetch_optional(&self.pool)
                .await?;
                if exists.is_none() {
                    return Err(DbError::NotFound);
                }
                binds.push(Bind::Text(group.to_string()));
                "project_id = $1 and group_id = $2".to_owned()
            }
        };
        let n = binds.len();
        let mut tx = self.begin().await?;
        let mut policy_binds = binds.clone();
        policy_binds.push(Bind::Text(rows::to_json(&update.bandwidth_policy)));
        policy_binds.push(Bind::Int(now_ms()));
        let selected = query_with(
            format!(
                "update tasks set bandwidth_policy = ${}, updated_time = ${} where {selection}",
                n + 1,
                n + 2
            ),
            &policy_binds,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let Some(priority) = update.priority {
            let mut priority_binds = binds;
            priority_binds.push(Bind::Int(priority.rank()));
            let changeable = [
                TaskStatus::Initializing,
                TaskStatus::Waiting,
                TaskStatus::Paused,
                TaskStatus::Failed,
            ]
            .map(|s| s.code().to_string())
            .join(", ");
            query_with(
                format!("update tasks set priority = ${} where {selection} and status in ({changeable})", n + 1),
                &priority_binds,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(selected)
    }

    /// Fails tasks and groups that have waited since before `cutoff_ms`, erases their
    /// credentials (OMS's 30-day rule) and queues their FAILURE notifications. Returns how many tasks and groups were expired.
    pub async fn expire_waiting(
        &self,
        cutoff_ms: i64,
        message: &str,
    ) -> Result<(u64, u64), DbError> {
        let wrote = self.wrote_on_exit();
        let waiting = [TaskStatus::Initializing, TaskStatus::Waiting]
            .map(|s| s.code().to_string())
            .join(", ");
        let stale: Vec<(i64, i64)> = sqlx::query(AssertSqlSafe(format!(
            "select id, status from tasks where status in ({waiting}) and status_time < $1"
        )))
        .bind(cutoff_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("status")?)))
        .collect::<Result<_, DbError>>()?;
        let mut tasks = 0;
        for (id, status) in stale {
            let (Some(id), Some(from)) = (TaskId::new(id), TaskStatus::from_code(status)) else {
                continue;
            };
            let to = status_after(from, TaskEvent::ExpireWaiting)?;
            let mut tx = self.begin().await?;
            if !cas_task_status(&mut tx, id, from, to).await? {
                continue;
            }
            sqlx::query("update tasks set error_code = $1, error_msg = $2 where id = $3")
                .bind(EXPIRED_CODE)
                .bind(message)
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            sealed::wipe(&mut tx, CredentialOwner::Task(id), &self.erasures).await?;
            // A task failed by the sweep notifies as one a worker failed.
            notify::enqueue_task(&mut tx, id, Trigger::Failure).await?;
            tx.commit().await?;
            tasks += 1;
        }
        // The sweep runs at start-up and then every few minutes; one that expired nothing
        // must not retire the API's cached answers.
        if tasks == 0 {
            wrote.nothing_written();
        }
        let groups = self.expire_waiting_groups(cutoff_ms, message).await?;
        Ok((tasks, groups))
    }
}

/// Prepares failed tasks (matched by `filter` on `tasks`, `$1` bound to `value`) for a full
/// run: from the start of the listing, with zero counters and no failure, list or restore
/// records. Objects
/// already migrated are then found at the destination and counted as skipped, as OMS does.
pub(crate) async fn reset_for_full_run(
    conn: &mut AnyConnection,
    filter: &str,
    value: Bind,
) -> Result<(), DbError> {
    // Restores asked for stay under way at the source: the full run finds them again by HEAD
    // and waits for them without asking again.
    for table in [
        "object_failures",
        "object_records",
        "object_restores",
        "task_plans",
    ] {
        let delete =
            format!("delete from {table} where task_id in (select id from tasks where {filter})");
        value
            .clone()
            .bind_to(sqlx::query(AssertSqlSafe(delete)))
            .execute(&mut *conn)
            .await?;
    }
    let reset = format!(
        "update tasks set checkpoint = null, checkpoint_state = null, total_num = 0, successful_num = 0, \
         failed_num = 0, skipped_num = 0, total_size = 0, complete_size = 0, real_size = 0, progress = 0, \
         migrate_speed = 0, left_time = 0, is_query_over = 0, failed_list_key = '', failed_list_error = '', \
         success_list_error = '', skip_list_error = '', crc64_unchecked_num = 0, start_time = 0 where {filter}"
    );
    value
        .bind_to(sqlx::query(AssertSqlSafe(reset)))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Waiting for execution timed out.
pub(crate) const EXPIRED_CODE: &str = oms_core::error::FailureCode::WaitTimedOut.as_str();

/// The status a verb leads to, for verbs that never remove the task.
fn status_after(from: TaskStatus, event: TaskEvent) -> Result<TaskStatus, DbError> {
    match task_transition(from, event)? {
        TaskTransition::To(to) => Ok(to),
        TaskTransition::Remove => Err(illegal(from, "remove")),
    }
}

fn illegal(from: TaskStatus, event: &'static str) -> DbError {
    DbError::Transition(TransitionError::Illegal {
        subject: oms_core::error::Subject::Task,
        from: from.code(),
        event,
    })
}

/// Retransmitting only the failed objects needs a failed task that recorded them.
pub(crate) fn check_failed_only(status: TaskStatus, spec: &MigrationSpec) -> Result<(), DbError> {
    if !spec.enable_failed_object_recording {
        return Err(DbError::Refused {
            code: ErrorCode::InvalidParameter,
            message: "migrate_failed_object needs enable_failed_object_recording, which is off for this migration".into(),
        });
    }
    if status != TaskStatus::Failed {
        return Err(DbError::Refused {
            code: ErrorCode::InvalidParameter,
            message: "migrate_failed_object applies only to a failed task".into(),
        });
    }
    Ok(())
}

/// Escapes `%`, `_` and `\` for a `like ... escape '\'` pattern.
fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
