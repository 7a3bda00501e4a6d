//! What a worker reads and writes while it runs a task: its claim, run state, lease renewals,
//! progress flushes, failed objects, saved multipart uploads and the end of its run. Every
//! write is fenced by the lease (owner and epoch, see [`crate::leases`]): a worker that lost
//! its lease changes nothing.

use std::time::Duration;

use oms_core::bandwidth::BandwidthPolicy;
use oms_core::credentials::CredentialSet;
use oms_core::ids::{ProjectId, TaskId};
use oms_core::model::{
    FailureReason, FinishedAhead, ObjectCounters, ObjectFailure, ObjectRecord, ObjectRestore,
    OrphanUpload, PLAN_FIRST_KEYS, Plan, Progress, Proof, RecordKind, SavedPart, SavedUpload, Task,
    TaskSelector,
};
use oms_core::status::{TaskEvent, TaskStatus, TaskTransition, task_transition};
use oms_core::time::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row as _};

use crate::leases::{Fenced as _, Lease, Leased as _};
use crate::rows::{FailureRow, UploadRow};
use crate::sealed::CredentialOwner;
use crate::sql::Bind;
use crate::{Backend, Db, DbError, rows};

/// The most failed objects recorded per task (as OMS).
pub(crate) const MAX_FAILURES_PER_TASK: i64 = 100_000;
/// The most records one statement writes (a flush holds what finished since the last one).
const RECORDS_PER_STATEMENT: usize = 5000;

/// Records as JSON arrays for [`Db::records_select`], at most [`RECORDS_PER_STATEMENT`] in
/// each, one per key (the last wins: PostgreSQL refuses an upsert that meets a row twice).
fn records_json<'a>(records: impl Iterator<Item = &'a ObjectRecord>) -> Vec<String> {
    /// One record as the statements read it (`json_each` / `jsonb_to_recordset`).
    #[derive(serde::Serialize)]
    struct Row<'r> {
        k: &'r str,
        s: i64,
        t: i64,
        e: Option<&'r str>,
        c: Option<&'r str>,
        v: Option<&'r str>,
        d: Option<&'r str>,
    }
    let mut by_key: std::collections::HashMap<&str, &ObjectRecord> = Default::default();
    let mut order = Vec::new();
    for r in records {
        if by_key.insert(r.key.as_str(), r).is_none() {
            order.push(r.key.as_str());
        }
    }
    order
        .chunks(RECORDS_PER_STATEMENT)
        .map(|keys| {
            let rows: Vec<Row<'_>> = keys
                .iter()
                .filter_map(|k| by_key.get(k))
                .map(|r| {
                    let proof = r.proof.as_ref();
                    Row {
                        k: &r.key,
                        s: r.size,
                        t: r.at_ms,
                        e: proof.and_then(|p| p.source_etag.as_deref()),
                        c: proof.map(|p| p.checksum.as_str()),
                        v: proof.map(|p| p.value.as_str()),
                        d: proof.and_then(|p| p.dst_etag.as_deref()),
                    }
                })
                .collect();
            // Plain strings and numbers: serialising them cannot fail.
            serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
        })
        .collect()
}

/// A [`RecordKind`] as the `kind` column stores it.
const fn kind_code(kind: RecordKind) -> i64 {
    match kind {
        RecordKind::Success => 0,
        RecordKind::Skip => 1,
        RecordKind::PlanCopy => 2,
        RecordKind::PlanOverwrite => 3,
    }
}

/// A task as its worker needs it.
#[derive(Debug)]
pub struct TaskRun {
    /// The task as stored.
    pub task: Task,
    /// Where the previous run stopped.
    pub checkpoint: Option<String>,
    /// The counters that held at the checkpoint.
    pub checkpoint_counters: ObjectCounters,
    /// Objects the previous run finished beyond its checkpoint.
    pub ahead: Vec<FinishedAhead>,
    /// Whether this run retransmits only the failed objects.
    pub failed_objects_only: bool,
    /// The part of the source this task owns (group tasks): keys in `[start, end)`.
    pub range: (Option<String>, Option<String>),
    /// The credentials: the task's own, else its group's.
    pub credentials: Option<CredentialSet>,
}

/// What a lease renewal learns.
#[derive(Debug, Clone)]
pub struct LeaseState {
    /// The task's status (pausing means: stop).
    pub status: TaskStatus,
    /// The current bandwidth policy (it may change while the task runs).
    pub bandwidth_policy: BandwidthPolicy,
}

/// The checkpoint's counters, and the objects finished beyond it, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointState {
    total_num: i64,
    successful_num: i64,
    failed_num: i64,
    skipped_num: i64,
    total_size: i64,
    complete_size: i64,
    real_size: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ahead: Vec<AheadState>,
}

/// A [`FinishedAhead`], as stored.
#[derive(Debug, Serialize, Deserialize)]
struct AheadState {
    key: String,
    size: i64,
    copied: bool,
}

impl CheckpointState {
    fn new(c: ObjectCounters, ahead: &[FinishedAhead]) -> Self {
        Self {
            total_num: c.total_num,
            successful_num: c.successful_num,
            failed_num: c.failed_num,
            skipped_num: c.skipped_num,
            total_size: c.total_size,
            complete_size: c.complete_size,
            real_size: c.real_size,
            ahead: ahead
                .iter()
                .map(|a| AheadState {
                    key: a.key.clone(),
                    size: a.size,
                    copied: a.copied,
                })
                .collect(),
        }
    }

    fn into_parts(self) -> (ObjectCounters, Vec<FinishedAhead>) {
        let counters = ObjectCounters {
            total_num: self.total_num,
            successful_num: self.successful_num,
            failed_num: self.failed_num,
            skipped_num: self.skipped_num,
            total_size: self.total_size,
            complete_size: self.complete_size,
            real_size: self.real_size,
        };
        let ahead = self
            .ahead
            .into_iter()
            .map(|a| FinishedAhead {
                key: a.key,
                size: a.size,
                copied: a.copied,
            })
            .collect();
        (counters, ahead)
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
        self.claim(owner, lease, busy).await
    }

    /// Extends the lease by `duration` on the database clock; returns the task's status and
    /// bandwidth policy, or [`DbError::LeaseLost`].
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        duration: Duration,
    ) -> Result<LeaseState, DbError> {
        self.renew(lease, duration).await
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
        let decide = |from| match task_transition(from, event)? {
            TaskTransition::To(to) => Ok(to),
            TaskTransition::Remove => Err(DbError::LeaseLost),
        };
        self.end_claim(lease, decide, failure, "").await
    }

    /// Loads what the holder of `lease` needs to run its task.
    pub async fn load_run(&self, lease: &Lease) -> Result<TaskRun, DbError> {
        let sql = format!(
            "select {}, checkpoint, checkpoint_state, failed_objects_only, range_start, range_end from tasks where {}",
            rows::task_columns(self.backend),
            Lease::fence(1)
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind_fence(lease)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::LeaseLost)?;
        let task = rows::task(&row)?;
        let state: Option<String> = row.try_get("checkpoint_state")?;
        let (checkpoint_counters, ahead) = match state {
            Some(json) => serde_json::from_str::<CheckpointState>(&json)
                .map_err(|e| DbError::Corrupt {
                    what: "checkpoint",
                    detail: e.to_string(),
                })?
                .into_parts(),
            None => (ObjectCounters::default(), Vec::new()),
        };
        let mut credentials = self
            .load_credentials(CredentialOwner::Task(task.id))
            .await?;
        if credentials.is_none()
            && let Some(group) = task.group_id
        {
            credentials = self.load_credentials(CredentialOwner::Group(group)).await?;
        }
        Ok(TaskRun {
            checkpoint: row.try_get("checkpoint")?,
            checkpoint_counters,
            ahead,
            failed_objects_only: row.try_get::<i64, _>("failed_objects_only")? != 0,
            range: (row.try_get("range_start")?, row.try_get("range_end")?),
            credentials,
            task,
        })
    }

    /// Writes progress, new failures and resolved failures in one fenced transaction.
    pub async fn record_progress(
        &self,
        lease: &Lease,
        progress: &Progress,
        failures: &[ObjectFailure],
        resolved: &[String],
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let c = progress.counters;
        let mut tx = self.begin().await?;
        let sql = format!(
            "update tasks set total_num = $1, successful_num = $2, failed_num = $3, skipped_num = $4, \
             total_size = $5, complete_size = $6, real_size = $7, progress = $8, migrate_speed = $9, \
             left_time = $10, total_time = $11, is_query_over = $12, checkpoint = $13, checkpoint_state = $14, \
             updated_time = $15, crc64_unchecked_num = $16 where {}",
            Lease::fence(17)
        );
        let updated = sqlx::query(AssertSqlSafe(sql))
            .bind(c.total_num)
            .bind(c.successful_num)
            .bind(c.failed_num)
            .bind(c.skipped_num)
            .bind(c.total_size)
            .bind(c.complete_size)
            .bind(c.real_size)
            .bind(progress.progress)
            .bind(progress.migrate_speed_bytes_per_sec)
            .bind(progress.left_time_ms)
            .bind(progress.total_time_ms)
            .bind(i64::from(progress.is_query_over))
            .bind(progress.checkpoint.clone())
            .bind(rows::to_json(&CheckpointState::new(
                progress.checkpoint_counters,
                &progress.ahead,
            )))
            .bind(now_ms())
            .bind(progress.crc64_unchecked_num)
            .bind_fence(lease)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated != 1 {
            return Err(DbError::LeaseLost);
        }
        self.delete_keys(&mut tx, "object_failures", lease.task_id, resolved)
            .await?;
        if !failures.is_empty() {
            let recorded: i64 =
                sqlx::query("select count(*) as n from object_failures where task_id = $1")
                    .bind(lease.task_id.get())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            let room = usize::try_from(MAX_FAILURES_PER_TASK - recorded).unwrap_or(0);
            for f in failures.iter().take(room) {
                sqlx::query(
                    "insert into object_failures (task_id, object_key, size, error_code, error_msg, failed_time) \
                     values ($1, $2, $3, $4, $5, $6) on conflict (task_id, object_key) do update set \
                     size = excluded.size, error_code = excluded.error_code, error_msg = excluded.error_msg, \
                     failed_time = excluded.failed_time",
                )
                .bind(lease.task_id.get())
                .bind(&f.key)
                .bind(f.size)
                .bind(&f.code)
                .bind(&f.message)
                .bind(f.failed_time_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        for restoring in progress.restoring.chunks(RECORDS_PER_STATEMENT) {
            let rows: Vec<serde_json::Value> = restoring
                .iter()
                .map(|r| serde_json::json!({"k": r.key, "s": r.size, "t": r.requested_ms}))
                .collect();
            let sql = format!(
                "insert into object_restores (task_id, object_key, size, requested_time) {} \
                 on conflict (task_id, object_key) do nothing",
                self.restores_select()
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(lease.task_id.get())
                .bind(serde_json::Value::Array(rows).to_string())
                .execute(&mut *tx)
                .await?;
        }
        self.delete_keys(
            &mut tx,
            "object_restores",
            lease.task_id,
            &progress.restored,
        )
        .await?;
        for count in &progress.plan {
            sqlx::query(
                "insert into task_plans (task_id, kind, num, size) values ($1, $2, $3, $4) \
                 on conflict (task_id, kind) do update set num = task_plans.num + excluded.num, \
                 size = task_plans.size + excluded.size",
            )
            .bind(lease.task_id.get())
            .bind(kind_code(count.kind))
            .bind(count.num)
            .bind(count.size)
            .execute(&mut *tx)
            .await?;
        }
        for kind in RecordKind::EVERY {
            let of_kind = records_json(progress.records.iter().filter(|r| r.kind == kind));
            for chunk in of_kind {
                let sql = format!(
                    "insert into object_records (task_id, object_key, kind, size, record_time, \
                     source_etag, checksum, checksum_value, dst_etag) {} \
                     on conflict (task_id, object_key) do update set \
                     kind = excluded.kind, size = excluded.size, record_time = excluded.record_time, \
                     source_etag = excluded.source_etag, checksum = excluded.checksum, \
                     checksum_value = excluded.checksum_value, dst_etag = excluded.dst_etag",
                    self.records_select()
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(lease.task_id.get())
                    .bind(kind_code(kind))
                    .bind(chunk)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The rows of a batch of records: `$1` the task, `$2` the kind, `$3` a JSON array of
    /// objects (`k` key, `s` size, `t` time, `e` source tag, `c` checksum, `v` its value, `d`
    /// destination tag). One statement per batch: a statement per object cost more CPU than
    /// the rest of a re-check of unchanged objects.
    fn records_select(&self) -> &'static str {
        match self.backend {
            // `where true`: SQLite's parser needs it before an upsert's `on conflict`.
            Backend::Sqlite => {
                "select $1, json_extract(value, '$.k'), $2, json_extract(value, '$.s'), \
                 json_extract(value, '$.t'), json_extract(value, '$.e'), json_extract(value, '$.c'), \
                 json_extract(value, '$.v'), json_extract(value, '$.d') from json_each($3) where true"
            }
            Backend::Postgres => {
                "select $1, r.k, $2, r.s, r.t, r.e, r.c, r.v, r.d from \
                 jsonb_to_recordset(cast($3 as jsonb)) as r(k text, s bigint, t bigint, e text, \
                 c text, v text, d text)"
            }
        }
    }

    /// The rows of a batch of awaited restores: `$1` the task, `$2` a JSON array of objects
    /// (`k` key, `s` size, `t` when asked for).
    fn restores_select(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => {
                "select $1, json_extract(value, '$.k'), json_extract(value, '$.s'), \
                 json_extract(value, '$.t') from json_each($2) where true"
            }
            Backend::Postgres => {
                "select $1, r.k, r.s, r.t from \
                 jsonb_to_recordset(cast($2 as jsonb)) as r(k text, s bigint, t bigint)"
            }
        }
    }

    /// Deletes the rows of `task` with `keys` from `table` (`object_failures`,
    /// `object_restores`), a statement per [`RECORDS_PER_STATEMENT`] keys (a JSON array).
    async fn delete_keys(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        table: &'static str,
        task: TaskId,
        keys: &[String],
    ) -> Result<(), DbError> {
        let keys_select = match self.backend {
            Backend::Sqlite => "select value from json_each($2)",
            Backend::Postgres => "select jsonb_array_elements_text(cast($2 as jsonb))",
        };
        for keys in keys.chunks(RECORDS_PER_STATEMENT) {
            let sql =
                format!("delete from {table} where task_id = $1 and object_key in ({keys_select})");
            sqlx::query(AssertSqlSafe(sql))
                .bind(task.get())
                .bind(serde_json::Value::from(keys).to_string())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Up to `limit` recorded objects of `kind` of `task` with keys after `after`, in key
    /// order.
    pub async fn list_records(
        &self,
        task: TaskId,
        kind: RecordKind,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ObjectRecord>, DbError> {
        let rows = sqlx::query(
            "select object_key, size, record_time, source_etag, checksum, checksum_value, dst_etag \
             from object_records \
             where task_id = $1 and kind = $2 and object_key > $3 order by object_key limit $4",
        )
        .bind(task.get())
        .bind(kind_code(kind))
        .bind(after.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let checksum: Option<String> = r.try_get("checksum")?;
                let proof = match checksum {
                    Some(checksum) => Some(Proof {
                        source_etag: r.try_get("source_etag")?,
                        checksum,
                        value: r
                            .try_get::<Option<String>, _>("checksum_value")?
                            .unwrap_or_default(),
                        dst_etag: r.try_get("dst_etag")?,
                    }),
                    None => None,
                };
                Ok(ObjectRecord {
                    key: r.try_get("object_key")?,
                    size: r.try_get("size")?,
                    kind,
                    at_ms: r.try_get("record_time")?,
                    proof,
                })
            })
            .collect()
    }

    /// Up to `limit` archived objects of `task` whose restores are awaited, with keys after
    /// `after`, in key order.
    pub async fn list_restores(
        &self,
        task: TaskId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ObjectRestore>, DbError> {
        let rows = sqlx::query(
            "select object_key, size, requested_time from object_restores \
             where task_id = $1 and object_key > $2 order by object_key limit $3",
        )
        .bind(task.get())
        .bind(after.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ObjectRestore {
                    key: r.try_get("object_key")?,
                    size: r.try_get("size")?,
                    requested_ms: r.try_get("requested_time")?,
                })
            })
            .collect()
    }

    /// How many archived objects of `task` wait for their restores.
    pub async fn count_restores(&self, task: TaskId) -> Result<i64, DbError> {
        Ok(
            sqlx::query("select count(*) as n from object_restores where task_id = $1")
                .bind(task.get())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Whether `task` recorded any object of `kind` (without counting them: a task may hold
    /// millions of records).
    pub async fn has_records(&self, task: TaskId, kind: RecordKind) -> Result<bool, DbError> {
        Ok(sqlx::query(
            "select 1 as one from object_records where task_id = $1 and kind = $2 limit 1",
        )
        .bind(task.get())
        .bind(kind_code(kind))
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// How many objects of `kind` `task` recorded.
    pub async fn count_records(&self, task: TaskId, kind: RecordKind) -> Result<i64, DbError> {
        Ok(
            sqlx::query(
                "select count(*) as n from object_records where task_id = $1 and kind = $2",
            )
            .bind(task.get())
            .bind(kind_code(kind))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?,
        )
    }

    /// The plan of a dry run over `tasks` (one task, or every task of a group): what they would
    /// copy, overwrite and skip, and the speed of the project's last completed runs.
    pub async fn plan(&self, project: &ProjectId, tasks: &TaskSelector) -> Result<Plan, DbError> {
        let (filter, id) = match tasks {
            TaskSelector::Group(group) => (
                "task_id in (select id from tasks where group_id = $1)",
                group.to_string(),
            ),
            TaskSelector::Ids(ids) => (
                "task_id = cast($1 as bigint)",
                ids.first().map(|t| t.get().to_string()).unwrap_or_default(),
            ),
        };
        let mut plan = Plan::default();
        for (kind, part) in [
            (RecordKind::PlanCopy, &mut plan.copy),
            (RecordKind::PlanOverwrite, &mut plan.overwrite),
            (RecordKind::Skip, &mut plan.skip),
        ] {
            let sql = format!(
                "select cast(coalesce(sum(num), 0) as bigint) as n, \
                 cast(coalesce(sum(size), 0) as bigint) as s from task_plans \
                 where {filter} and kind = $2"
            );
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(&id)
                .bind(kind_code(kind))
                .fetch_one(&self.pool)
                .await?;
            part.num = row.try_get("n")?;
            part.size = row.try_get("s")?;
            let sql = format!(
                "select object_key from object_records where {filter} and kind = $2 \
                 order by object_key limit $3"
            );
            part.first_keys = sqlx::query(AssertSqlSafe(sql))
                .bind(&id)
                .bind(kind_code(kind))
                .bind(PLAN_FIRST_KEYS)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("object_key"))
                .collect::<Result<_, _>>()?;
        }
        // The bytes the project's last (up to 5) completed runs moved, over the time they ran.
        let row = sqlx::query(
            "select cast(coalesce(sum(real_size), 0) as bigint) as b, \
             cast(coalesce(sum(total_time), 0) as bigint) as t from \
             (select real_size, total_time from tasks where project_id = $1 and status = $2 \
              and real_size > 0 and total_time > 0 order by updated_time desc limit 5) as recent",
        )
        .bind(project.as_str())
        .bind(TaskStatus::Succeeded.code())
        .fetch_one(&self.pool)
        .await?;
        let (bytes, ms): (i64, i64) = (row.try_get("b")?, row.try_get("t")?);
        plan.speed_bytes_per_sec = (ms > 0).then(|| bytes.saturating_mul(1000) / ms);
        Ok(plan)
    }

    /// Records why the success or skip list (`kind`) could not be written, or "" when it was.
    pub async fn set_record_list_error(
        &self,
        lease: &Lease,
        kind: RecordKind,
        error: &str,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let column = match kind {
            RecordKind::Success => "success_list_error",
            RecordKind::Skip => "skip_list_error",
            // A plan has no list at the destination.
            RecordKind::PlanCopy | RecordKind::PlanOverwrite => return Ok(()),
        };
        let sql = format!("update tasks set {column} = $1 where {}", Lease::fence(2));
        sqlx::query(AssertSqlSafe(sql))
            .bind(error)
            .bind_fence(lease)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records where the failed-object list was written ("": there is none now), or, with an
    /// `error` code, that it could not be written.
    pub async fn set_failed_list(
        &self,
        lease: &Lease,
        key: &str,
        error: &str,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let sql = format!(
            "update tasks set failed_list_key = $1, failed_list_error = $2 where {}",
            Lease::fence(3)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(key)
            .bind(error)
            .bind_fence(lease)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One page of the recorded failures of task `id` of `project`, in key order (`limit` from
    /// `offset`), and how many there are; [`DbError::NotFound`] for no such task of the project.
    pub async fn failures_page(
        &self,
        project: &ProjectId,
        id: TaskId,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<ObjectFailure>), DbError> {
        let exists = sqlx::query("select 1 as one from tasks where id = $1 and project_id = $2")
            .bind(id.get())
            .bind(project.as_str())
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        let count: i64 =
            sqlx::query("select count(*) as n from object_failures where task_id = $1")
                .bind(id.get())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        let rows: Vec<FailureRow> = sqlx::query_as(
            "select object_key, size, error_code, error_msg, failed_time from object_failures \
             where task_id = $1 order by object_key limit $2 offset $3",
        )
        .bind(id.get())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((count, rows.into_iter().map(ObjectFailure::from).collect()))
    }

    /// One page of the verification manifest of a task of `project` (its copied objects
    /// recorded with their proof), in key order, and how many there are; `NotFound` when the
    /// task is not the project's.
    pub async fn manifest_page(
        &self,
        project: &ProjectId,
        id: TaskId,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<ObjectRecord>), DbError> {
        let exists = sqlx::query("select 1 as one from tasks where id = $1 and project_id = $2")
            .bind(id.get())
            .bind(project.as_str())
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        let count: i64 = sqlx::query(
            "select count(*) as n from object_records \
             where task_id = $1 and kind = $2 and checksum is not null",
        )
        .bind(id.get())
        .bind(kind_code(RecordKind::Success))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(
            "select object_key, size, record_time, source_etag, checksum, checksum_value, dst_etag \
             from object_records where task_id = $1 and kind = $2 and checksum is not null \
             order by object_key limit $3 offset $4",
        )
        .bind(id.get())
        .bind(kind_code(RecordKind::Success))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let records = rows
            .iter()
            .map(|r| {
                Ok(ObjectRecord {
                    key: r.try_get("object_key")?,
                    size: r.try_get("size")?,
                    kind: RecordKind::Success,
                    at_ms: r.try_get("record_time")?,
                    proof: Some(Proof {
                        source_etag: r.try_get("source_etag")?,
                        checksum: r.try_get("checksum")?,
                        value: r
                            .try_get::<Option<String>, _>("checksum_value")?
                            .unwrap_or_default(),
                        dst_etag: r.try_get("dst_etag")?,
                    }),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((count, records))
    }

    /// Up to `limit` recorded failures of `task` with keys after `after`, in key order.
    pub async fn list_failures(
        &self,
        task: TaskId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ObjectFailure>, DbError> {
        let rows: Vec<FailureRow> = sqlx::query_as(
            "select object_key, size, error_code, error_msg, failed_time from object_failures \
             where task_id = $1 and object_key > $2 order by object_key limit $3",
        )
        .bind(task.get())
        .bind(after.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ObjectFailure::from).collect())
    }

    /// Saves a multipart upload just started (replacing an older one for the same object).
    ///
    /// Every statement carries the lease fence itself: a transaction that read first and wrote
    /// later could not take SQLite's write lock while another connection writes.
    pub async fn save_upload(&self, lease: &Lease, upload: &SavedUpload) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        let held = format!("exists (select 1 from tasks where {})", Lease::fence(3));
        sqlx::query(AssertSqlSafe(format!(
            "delete from multipart_uploads where task_id = $1 and object_key = $2 and {held}"
        )))
        .bind(lease.task_id.get())
        .bind(&upload.object_key)
        .bind_fence(lease)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "insert into multipart_uploads (task_id, object_key, dst_bucket, dst_key, upload_id, part_size, \
             object_size, source_mtime, source_etag, created_time) \
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 where exists (select 1 from tasks where {})",
            Lease::fence(11)
        )))
        .bind(lease.task_id.get())
        .bind(&upload.object_key)
        .bind(&upload.dst_bucket)
        .bind(&upload.dst_key)
        .bind(&upload.upload_id)
        .bind(upload.part_size)
        .bind(upload.object_size)
        .bind(upload.source_mtime_ms)
        .bind(upload.source_etag.clone())
        .bind(now_ms())
        .bind_fence(lease)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted != 1 {
            return Err(DbError::LeaseLost);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Saves a completed part of a saved upload.
    pub async fn save_part(
        &self,
        lease: &Lease,
        object_key: &str,
        part_number: i32,
        part: &SavedPart,
    ) -> Result<(), DbError> {
        let sql = format!(
            "insert into multipart_parts (task_id, object_key, part_number, etag, crc64, md5) \
             select $1, $2, $3, $4, $5, $6 where exists (select 1 from tasks where {}) \
             on conflict (task_id, object_key, part_number) do update set etag = excluded.etag, \
             crc64 = excluded.crc64, md5 = excluded.md5",
            Lease::fence(7)
        );
        let inserted = sqlx::query(AssertSqlSafe(sql))
            .bind(lease.task_id.get())
            .bind(object_key)
            .bind(i64::from(part_number))
            .bind(&part.etag)
            .bind(part.crc64.map(|c| c.to_string()))
            .bind(part.md5.clone())
            .bind_fence(lease)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if inserted == 0 {
            Err(DbError::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// The saved upload of `object_key`, with its parts.
    pub async fn load_upload(
        &self,
        task: TaskId,
        object_key: &str,
    ) -> Result<Option<SavedUpload>, DbError> {
        let row = sqlx::query(
            "select dst_bucket, dst_key, upload_id, part_size, object_size, source_mtime, source_etag \
             from multipart_uploads where task_id = $1 and object_key = $2",
        )
        .bind(task.get())
        .bind(object_key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let parts = sqlx::query(
            "select part_number, etag, crc64, md5 from multipart_parts where task_id = $1 and object_key = $2 order by part_number",
        )
        .bind(task.get())
        .bind(object_key)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let number = i32::try_from(r.try_get::<i64, _>("part_number")?).unwrap_or(0);
            let crc64: Option<String> = r.try_get("crc64")?;
            Ok((
                number,
                SavedPart {
                    etag: r.try_get("etag")?,
                    // A value that does not read is no CRC: the object is then checked by the
                    // sides' own reports.
                    crc64: crc64.and_then(|c| c.parse().ok()),
                    md5: r.try_get("md5")?,
                },
            ))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Some(SavedUpload {
            object_key: object_key.to_owned(),
            dst_bucket: row.try_get("dst_bucket")?,
            dst_key: row.try_get("dst_key")?,
            upload_id: row.try_get("upload_id")?,
            part_size: row.try_get("part_size")?,
            object_size: row.try_get("object_size")?,
            source_mtime_ms: row.try_get("source_mtime")?,
            source_etag: row.try_get("source_etag")?,
            parts,
        }))
    }

    /// Forgets the saved upload of `object_key` (completed or aborted).
    pub async fn delete_upload(&self, task: TaskId, object_key: &str) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from multipart_parts where task_id = $1 and object_key = $2")
            .bind(task.get())
            .bind(object_key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from multipart_uploads where task_id = $1 and object_key = $2")
            .bind(task.get())
            .bind(object_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The saved uploads of `task`: (source key, where the upload is).
    pub async fn task_uploads(&self, task: TaskId) -> Result<Vec<(String, OrphanUpload)>, DbError> {
        let rows = sqlx::query(
            "select object_key, dst_bucket, dst_key, upload_id from multipart_uploads \
             where task_id = $1 order by object_key",
        )
        .bind(task.get())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("object_key")?,
                    OrphanUpload {
                        dst_bucket: r.try_get("dst_bucket")?,
                        dst_key: r.try_get("dst_key")?,
                        upload_id: r.try_get("upload_id")?,
                    },
                ))
            })
            .collect()
    }

    /// Uploads of deleted tasks of `project` left in `bucket`.
    pub async fn orphan_uploads(
        &self,
        project: &ProjectId,
        bucket: &str,
        limit: i64,
    ) -> Result<Vec<OrphanUpload>, DbError> {
        let rows: Vec<UploadRow> = sqlx::query_as(
            "select dst_bucket, dst_key, upload_id from orphan_uploads \
             where project_id = $1 and dst_bucket = $2 limit $3",
        )
        .bind(project.as_str())
        .bind(bucket)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(OrphanUpload::from).collect())
    }

    /// Forgets an orphan upload (aborted).
    pub async fn forget_orphan_upload(&self, upload: &OrphanUpload) -> Result<(), DbError> {
        sqlx::query(
            "delete from orphan_uploads where dst_bucket = $1 and dst_key = $2 and upload_id = $3",
        )
        .bind(&upload.dst_bucket)
        .bind(&upload.dst_key)
        .bind(&upload.upload_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Moves the saved uploads of the tasks matched by `task_filter` (a `where` on `tasks`, with
/// `$1` bound to `filter_value`) to the orphans, before those tasks are deleted.
pub(crate) async fn orphan_task_uploads(
    conn: &mut sqlx::AnyConnection,
    task_filter: &str,
    filter_value: Bind,
) -> Result<(), DbError> {
    let sql = format!(
        "insert into orphan_uploads (project_id, dst_bucket, dst_key, upload_id, created_time) \
         select t.project_id, u.dst_bucket, u.dst_key, u.upload_id, u.created_time \
         from multipart_uploads u join tasks t on t.id = u.task_id where {task_filter} \
         on conflict (dst_bucket, dst_key, upload_id) do nothing"
    );
    filter_value
        .bind_to(sqlx::query(AssertSqlSafe(sql)))
        .execute(conn)
        .await?;
    Ok(())
}
