//! The sync-task repository: what the API does to sync tasks (create, list, show, stop, start,
//! delete, events) and the counters it reads.
//!
//! A sync task owns a hidden task (`group_type` `SYNC_TASK`, never shown by the task API, never
//! claimed as a task): the copies run as that task, so that the worker's transfer code (saved
//! multipart uploads, fenced by the task's lease) serves sync tasks unchanged. Its credentials
//! are sealed only while it synchronizes; a stop erases them.

use oms_core::ErrorCode;
use oms_core::ids::{ProjectId, TaskId};
use oms_core::model::StartRequest;
use oms_core::spec::{GroupType, TaskPriority};
use oms_core::status::TaskStatus;
use oms_core::sync::{
    NewSyncTask, SyncCounters, SyncFilter, SyncStatus, SyncTask, SyncTaskId, SyncVerb, bucket_of,
    sync_transition,
};
use oms_core::time::now_ms;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::cas::{Cas, Contended, with_cas};
use crate::rows::{self, StatusColumn as _};
use crate::sealed::{self, CredentialOwner};
use crate::sql::Bind;
use crate::tasks::{TaskRow, insert_task_row};
use crate::{Db, DbError};

/// The sync-task columns [`sync_task`] reads.
const SYNC_COLUMNS: &str = "sync_task_id, project_id, status, spec, create_time, last_start_time, \
    reconcile_interval_secs, last_reconcile_time, propagate_deletions, error_code, error_msg";

/// The counter sums of `sync_statistics` rows, as `request_num, ...` (cast: PostgreSQL sums
/// bigints as numeric).
pub(crate) const COUNTER_SUMS: &str = "cast(coalesce(sum(request_num), 0) as bigint) as request_num, \
    cast(coalesce(sum(success_num), 0) as bigint) as success_num, \
    cast(coalesce(sum(failure_num), 0) as bigint) as failure_num, \
    cast(coalesce(sum(skip_num), 0) as bigint) as skip_num, \
    cast(coalesce(sum(size), 0) as bigint) as size, \
    cast(coalesce(sum(removed_num), 0) as bigint) as removed_num, \
    cast(coalesce(sum(deleted_num), 0) as bigint) as deleted_num, \
    cast(coalesce(sum(compared_num), 0) as bigint) as compared_num, \
    cast(coalesce(sum(reconciled_num), 0) as bigint) as reconciled_num";

fn sync_task(row: &AnyRow) -> Result<SyncTask, DbError> {
    let id: String = row.try_get("sync_task_id")?;
    let project: String = row.try_get("project_id")?;
    let spec: String = row.try_get("spec")?;
    Ok(SyncTask {
        id: SyncTaskId::parse(&id).ok_or(DbError::Corrupt {
            what: "sync task id",
            detail: id,
        })?,
        project_id: ProjectId::parse(&project).ok_or(DbError::Corrupt {
            what: "project id",
            detail: project,
        })?,
        status: SyncStatus::read(row)?,
        spec: rows::spec(&spec)?,
        create_time_ms: row.try_get("create_time")?,
        last_start_time_ms: row.try_get("last_start_time")?,
        reconcile_interval_secs: row.try_get("reconcile_interval_secs")?,
        last_reconcile_time_ms: row.try_get("last_reconcile_time")?,
        propagate_deletions: row.try_get::<i64, _>("propagate_deletions")? != 0,
        error: row
            .try_get::<Option<String>, _>("error_code")?
            .zip(row.try_get::<Option<String>, _>("error_msg")?),
    })
}

/// Reads the counters of a row of [`COUNTER_SUMS`] (or of `sync_statistics`).
pub(crate) fn counters(row: &AnyRow) -> Result<SyncCounters, DbError> {
    Ok(SyncCounters {
        request: row.try_get("request_num")?,
        success: row.try_get("success_num")?,
        failure: row.try_get("failure_num")?,
        skip: row.try_get("skip_num")?,
        size: row.try_get("size")?,
        removed: row.try_get("removed_num")?,
        deleted: row.try_get("deleted_num")?,
        compared: row.try_get("compared_num")?,
        reconciled: row.try_get("reconciled_num")?,
    })
}

/// Adds `counters` to the bucket of `at_ms` of `sync_task`: one row per task per 5 minutes.
pub(crate) async fn add_counters(
    conn: &mut AnyConnection,
    sync_task: SyncTaskId,
    at_ms: i64,
    c: &SyncCounters,
) -> Result<(), DbError> {
    sqlx::query(
        "insert into sync_statistics (sync_task_id, bucket_time, request_num, success_num, \
         failure_num, skip_num, size, removed_num, deleted_num, compared_num, reconciled_num) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         on conflict (sync_task_id, bucket_time) do update set \
         request_num = sync_statistics.request_num + excluded.request_num, \
         success_num = sync_statistics.success_num + excluded.success_num, \
         failure_num = sync_statistics.failure_num + excluded.failure_num, \
         skip_num = sync_statistics.skip_num + excluded.skip_num, \
         size = sync_statistics.size + excluded.size, \
         removed_num = sync_statistics.removed_num + excluded.removed_num, \
         deleted_num = sync_statistics.deleted_num + excluded.deleted_num, \
         compared_num = sync_statistics.compared_num + excluded.compared_num, \
         reconciled_num = sync_statistics.reconciled_num + excluded.reconciled_num",
    )
    .bind(sync_task.to_string())
    .bind(bucket_of(at_ms))
    .bind(c.request)
    .bind(c.success)
    .bind(c.failure)
    .bind(c.skip)
    .bind(c.size)
    .bind(c.removed)
    .bind(c.deleted)
    .bind(c.compared)
    .bind(c.reconciled)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues `keys` for sync task `id` (a key already waiting gets its version bumped, so that a
/// copy already under way does not take it off the queue; a removal, once queued, stays asked
/// for until the key is processed: notifications arrive in no set order, and the HEAD of the
/// source when the key is processed decides between copy and delete) and
/// adds `counters` to the current bucket, in the caller's transaction. `removal`: the keys come
/// from `ObjectRemoved` notifications of a task that propagates deletions.
pub(crate) async fn queue_keys(
    conn: &mut AnyConnection,
    id: SyncTaskId,
    keys: &[String],
    removal: bool,
    counters: &SyncCounters,
) -> Result<(), DbError> {
    let now = now_ms();
    // Rows are locked in key order, as the worker's recording does: two writers taking the
    // same keys in different orders would deadlock on PostgreSQL.
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    for key in sorted {
        sqlx::query(
            "insert into sync_events (sync_task_id, object_key, version, received_time, removal) \
             values ($1, $2, 1, $3, $4) on conflict (sync_task_id, object_key) \
             do update set version = sync_events.version + 1, \
             removal = case when excluded.removal = 1 then 1 else sync_events.removal end",
        )
        .bind(id.to_string())
        .bind(key)
        .bind(now)
        .bind(i64::from(removal))
        .execute(&mut *conn)
        .await?;
    }
    add_counters(conn, id, now, counters).await
}

/// Events (posted keys and notifications alike) are refused while the task is stopped (see the
/// README): OMS.0066.
pub(crate) fn accepts_events(status: SyncStatus) -> Result<(), DbError> {
    if status == SyncStatus::Synchronizing {
        return Ok(());
    }
    Err(DbError::Refused {
        code: ErrorCode::NotInProgress,
        message: "the sync task is stopped and accepts no events; start it with its keys first \
                  (keys queued before the stop are copied then)"
            .into(),
    })
}

impl Db {
    /// Creates a sync task, synchronizing at once, with its credentials sealed; returns it with
    /// its notification token (only the token's hash is kept). A reconciling task's first pass
    /// is due at once.
    pub async fn create_sync_task(
        &self,
        project: &ProjectId,
        new: &NewSyncTask,
    ) -> Result<(SyncTask, SecretString), DbError> {
        let token = crate::sync_intake::new_token()?;
        let _wake = self.wake_on_exit();
        let id = SyncTaskId::random();
        let now = now_ms();
        let mut tx = self.begin().await?;
        // Task ids are random: a collision is retried with another.
        let mut task_id = TaskId::random();
        for _ in 0..4 {
            let taken = sqlx::query("select 1 as one from tasks where id = $1")
                .bind(task_id.get())
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_none() {
                break;
            }
            task_id = TaskId::random();
        }
        let hidden = TaskRow {
            project,
            id: task_id,
            group_type: GroupType::Sync,
            // Never claimable as a task: the sync task's lease runs it.
            status: TaskStatus::Paused,
            priority: TaskPriority::Medium,
            spec: &new.spec,
            bandwidth_policy: &Default::default(),
        };
        insert_task_row(&mut tx, &hidden).await?;
        sqlx::query(
            "insert into sync_tasks (sync_task_id, project_id, task_id, status, spec, \
             last_start_time, create_time, updated_time, status_time, notify_token_hash, \
             reconcile_interval_secs, reconcile_due_at, propagate_deletions) \
             values ($1, $2, $3, $4, $5, $6, $6, $6, $6, $7, $8, $9, $10)",
        )
        .bind(id.to_string())
        .bind(project.as_str())
        .bind(task_id.get())
        .bind(SyncStatus::Synchronizing.code())
        .bind(rows::to_json(&new.spec))
        .bind(now)
        .bind(crate::sync_intake::token_hash(token.expose_secret()))
        .bind(new.reconcile_interval_secs)
        .bind(new.reconcile_interval_secs.map(|_| now))
        .bind(i64::from(new.propagate_deletions))
        .execute(&mut *tx)
        .await?;
        sealed::store(&mut tx, &self.sealer, id.into(), &new.credentials).await?;
        tx.commit().await?;
        Ok((self.get_sync_task(project, id).await?, token))
    }

    /// The sync task `id` of `project`.
    pub async fn get_sync_task(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
    ) -> Result<SyncTask, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {SYNC_COLUMNS} from sync_tasks where sync_task_id = $1 and project_id = $2"
        )))
        .bind(id.to_string())
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        sync_task(&row)
    }

    /// One page of `project`'s sync tasks, newest first, and the number of matches.
    pub async fn list_sync_tasks(
        &self,
        project: &ProjectId,
        filter: &SyncFilter,
    ) -> Result<(Vec<SyncTask>, i64), DbError> {
        let mut binds = vec![Bind::Text(project.to_string())];
        let mut clause = String::from(" where project_id = $1");
        if let Some(status) = filter.status {
            binds.push(Bind::Int(status.code()));
            clause.push_str(" and status = $2");
        }
        let (page, count) = self
            .fetch_page(
                SYNC_COLUMNS,
                "sync_tasks",
                &clause,
                "create_time desc, sync_task_id desc",
                binds,
                filter.page,
            )
            .await?;
        let tasks = page.iter().map(sync_task).collect::<Result<_, _>>()?;
        Ok((tasks, count))
    }

    /// The counters of sync task `id` from `from_ms` (inclusive) to `to_ms` (exclusive), by
    /// the 5-minute buckets starting in that range.
    pub async fn sync_counters(
        &self,
        id: SyncTaskId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<SyncCounters, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select {COUNTER_SUMS} from sync_statistics \
             where sync_task_id = $1 and bucket_time >= $2 and bucket_time < $3"
        )))
        .bind(id.to_string())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_one(&self.pool)
        .await?;
        counters(&row)
    }

    /// The 5-minute buckets of sync task `id` from `from_ms` to `to_ms` (both inclusive), in
    /// time order; buckets where nothing happened have no row.
    pub async fn sync_buckets(
        &self,
        id: SyncTaskId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, SyncCounters)>, DbError> {
        let rows = sqlx::query(
            "select bucket_time, request_num, success_num, failure_num, skip_num, size, \
             removed_num, deleted_num, compared_num, reconciled_num from sync_statistics where sync_task_id = $1 and bucket_time >= $2 \
             and bucket_time <= $3 order by bucket_time",
        )
        .bind(id.to_string())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("bucket_time")?, counters(row)?)))
            .collect()
    }

    /// The status of sync task `id` of `project`, read before a change.
    pub(crate) async fn sync_status(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
    ) -> Result<SyncStatus, DbError> {
        let row = sqlx::query(
            "select status from sync_tasks where sync_task_id = $1 and project_id = $2",
        )
        .bind(id.to_string())
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        SyncStatus::read(&row)
    }

    /// Moves sync task `id` by `verb` (stop or start) if its state machine allows, in one
    /// transaction with `then` (which erases or stores the credentials).
    async fn move_sync_task(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
        verb: SyncVerb,
        credentials: Option<&StartRequest>,
    ) -> Result<SyncStatus, DbError> {
        with_cas(Contended::Row("sync task"), || async move {
            let from = self.sync_status(project, id).await?;
            let to = sync_transition(from, verb)?;
            let now = now_ms();
            let started = if verb == SyncVerb::Start { now } else { 0 };
            let mut tx = self.begin().await?;
            let moved = sqlx::query(
                "update sync_tasks set status = $1, status_time = $2, updated_time = $2, \
                 last_start_time = case when $3 > 0 then $3 else last_start_time end, \
                 reconcile_due_at = case when $3 > 0 and reconcile_interval_secs is not null \
                 then $3 else reconcile_due_at end \
                 where sync_task_id = $4 and status = $5",
            )
            .bind(to.code())
            .bind(now)
            .bind(started)
            .bind(id.to_string())
            .bind(from.code())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                return Ok(Cas::Retry);
            }
            match credentials {
                Some(start) => {
                    sealed::store(&mut tx, &self.sealer, id.into(), &start.credentials).await?;
                }
                None => sealed::wipe(&mut tx, id.into(), &self.erasures).await?,
            }
            tx.commit().await?;
            Ok(Cas::Done(to))
        })
        .await
    }

    /// Stops a synchronizing sync task and erases its credentials (OMS.0066 when stopped).
    /// Events already queued stay queued for the next start; a worker copying its keys stops
    /// at its next heartbeat.
    pub async fn stop_sync_task(&self, project: &ProjectId, id: SyncTaskId) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        self.move_sync_task(project, id, SyncVerb::Stop, None)
            .await?;
        self.announce_stop();
        Ok(())
    }

    /// Starts a stopped sync task with fresh credentials (OMS.0065 when synchronizing).
    pub async fn start_sync_task(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
        start: &StartRequest,
    ) -> Result<(), DbError> {
        let _wake = self.wake_on_exit();
        self.move_sync_task(project, id, SyncVerb::Start, Some(start))
            .await?;
        Ok(())
    }

    /// Deletes a stopped sync task with its queue, counters and hidden task (OMS.0063 while it
    /// synchronizes). Multipart uploads it left go to the orphans, aborted later.
    pub async fn delete_sync_task(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        with_cas(Contended::Row("sync task"), || async move {
            let from = self.sync_status(project, id).await?;
            sync_transition(from, SyncVerb::Delete)?;
            let mut tx = self.begin().await?;
            let row = sqlx::query(
                "delete from sync_tasks where sync_task_id = $1 and status = $2 returning task_id",
            )
            .bind(id.to_string())
            .bind(from.code())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(Cas::Retry);
            };
            let task_id: i64 = row.try_get("task_id")?;
            for table in ["sync_events", "sync_statistics"] {
                sqlx::query(AssertSqlSafe(format!(
                    "delete from {table} where sync_task_id = $1"
                )))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            crate::runs::orphan_task_uploads(&mut tx, "t.id = $1", Bind::Int(task_id)).await?;
            sqlx::query("delete from tasks where id = $1")
                .bind(task_id)
                .execute(&mut *tx)
                .await?;
            sealed::wipe(&mut tx, CredentialOwner::SyncTask(id), &self.erasures).await?;
            tx.commit().await?;
            Ok(Cas::Done(()))
        })
        .await
    }

    /// Queues `keys` for sync task `id`, durably, and counts them as received. A key already
    /// waiting is not queued twice: its version is bumped, so a copy already under way does not
    /// take it off the queue. Refused while the task is stopped (see the README).
    pub async fn add_sync_events(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
        keys: &[String],
    ) -> Result<(), DbError> {
        let _wake = self.wake_on_exit();
        accepts_events(self.sync_status(project, id).await?)?;
        let received = SyncCounters {
            request: i64::try_from(keys.len()).unwrap_or(i64::MAX),
            ..SyncCounters::default()
        };
        let mut tx = self.begin().await?;
        queue_keys(&mut tx, id, keys, false, &received).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many keys of sync task `id` wait to be copied.
    pub async fn pending_sync_events(&self, id: SyncTaskId) -> Result<i64, DbError> {
        let row = sqlx::query("select count(*) as n from sync_events where sync_task_id = $1")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
