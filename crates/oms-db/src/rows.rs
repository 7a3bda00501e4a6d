//! Rows to entities.

use oms_core::bandwidth::BandwidthPolicy;
use oms_core::ids::{GroupId, ProjectId, TaskId};
use oms_core::model::{FailureReason, GroupTaskStats, Notified, ObjectCounters, Task, TaskGroup};
use oms_core::spec::{GroupType, MigrationSpec, TaskPriority};
use oms_core::status::{GroupStatus, TaskStatus};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::DbError;

/// The task columns [`task`] reads, in a `select` on `backend`; `lease_lapsed_at` is when the
/// lease of a held task expired on the database clock (0 while it is live, or nobody holds it).
pub(crate) fn task_columns(backend: crate::Backend) -> String {
    format!(
        "id, project_id, group_id, group_type, name, status, priority, spec, bandwidth_policy, \
         error_code, error_msg, total_num, successful_num, failed_num, skipped_num, total_size, \
         complete_size, real_size, progress, migrate_speed, left_time, total_time, is_query_over, \
         failed_list_key, failed_list_error, success_list_error, skip_list_error, crc64_unchecked_num, start_time, create_time, notify_result, notify_error, \
         case when lease_owner is not null and lease_expires_at < {now} then lease_expires_at \
         else 0 end as lease_lapsed_at",
        now = backend.now_ms_sql()
    )
}

/// The group columns [`group`] reads, in a `select`.
pub(crate) const GROUP_COLUMNS: &str = "group_id, project_id, status, spec, bandwidth_policy, error_code, \
    error_msg, create_complete_num, create_complete_size, start_time, create_time, notify_result, \
    notify_error";

/// The outcome of the last notification of a task or group row.
fn notified(row: &AnyRow) -> Result<Option<Notified>, DbError> {
    let sent: Option<i64> = row.try_get("notify_result")?;
    let error: Option<String> = row.try_get("notify_error")?;
    Ok(sent.map(|sent| Notified {
        sent: sent != 0,
        error: error.unwrap_or_default(),
    }))
}

fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> DbError {
    DbError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

/// A status stored as its OMS number in a `status` column (of tasks, task groups).
pub(crate) trait StatusColumn: Copy + Eq {
    /// Names it in errors about stored data.
    const WHAT: &'static str;

    /// Its OMS number, as the API shows it and the column stores it.
    fn code(self) -> i64;

    /// The status of an OMS number.
    fn from_code(code: i64) -> Option<Self>;

    /// Whether a row in this status keeps its credentials.
    fn needs_credentials(self) -> bool;

    /// Reads the `status` column of `row`.
    fn read(row: &AnyRow) -> Result<Self, DbError> {
        let code: i64 = row.try_get("status")?;
        Self::from_code(code).ok_or_else(|| corrupt(Self::WHAT, code))
    }
}

/// Implements [`StatusColumn`] for a status of `oms-core`, whose state machine gives it the
/// same three methods.
macro_rules! status_column {
    ($status:ty, $what:literal) => {
        impl StatusColumn for $status {
            const WHAT: &'static str = $what;

            fn code(self) -> i64 {
                Self::code(self)
            }

            fn from_code(code: i64) -> Option<Self> {
                Self::from_code(code)
            }

            fn needs_credentials(self) -> bool {
                Self::needs_credentials(self)
            }
        }
    };
}

status_column!(TaskStatus, "task status");
status_column!(GroupStatus, "group status");
status_column!(oms_core::sync::SyncStatus, "sync task status");

pub(crate) fn spec(raw: &str) -> Result<MigrationSpec, DbError> {
    serde_json::from_str(raw).map_err(|e| corrupt("spec", e))
}

pub(crate) fn policy(raw: &str) -> Result<BandwidthPolicy, DbError> {
    serde_json::from_str(raw).map_err(|e| corrupt("bandwidth policy", e))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing plain data structures (strings, numbers, enums) cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn failure(row: &AnyRow) -> Result<Option<FailureReason>, DbError> {
    let code: Option<String> = row.try_get("error_code")?;
    let message: Option<String> = row.try_get("error_msg")?;
    Ok(code.map(|code| FailureReason {
        code,
        message: message.unwrap_or_default(),
    }))
}

fn project(row: &AnyRow) -> Result<ProjectId, DbError> {
    let raw: String = row.try_get("project_id")?;
    ProjectId::parse(&raw).ok_or_else(|| corrupt("project id", raw))
}

/// The object counters of a task row, or their sums in a group aggregate (same column names).
fn counters(row: &AnyRow) -> Result<ObjectCounters, DbError> {
    Ok(ObjectCounters {
        total_num: row.try_get("total_num")?,
        successful_num: row.try_get("successful_num")?,
        failed_num: row.try_get("failed_num")?,
        skipped_num: row.try_get("skipped_num")?,
        total_size: row.try_get("total_size")?,
        complete_size: row.try_get("complete_size")?,
        real_size: row.try_get("real_size")?,
    })
}

pub(crate) fn task(row: &AnyRow) -> Result<Task, DbError> {
    let id: i64 = row.try_get("id")?;
    let group_id: Option<String> = row.try_get("group_id")?;
    let group_type: String = row.try_get("group_type")?;
    let priority: i64 = row.try_get("priority")?;
    let spec_json: String = row.try_get("spec")?;
    let policy_json: String = row.try_get("bandwidth_policy")?;
    Ok(Task {
        id: TaskId::new(id).ok_or_else(|| corrupt("task id", id))?,
        project_id: project(row)?,
        group_id: group_id
            .map(|g| GroupId::parse(&g).ok_or_else(|| corrupt("group id", g)))
            .transpose()?,
        group_type: GroupType::parse(&group_type)
            .ok_or_else(|| corrupt("group type", group_type))?,
        name: row.try_get("name")?,
        status: TaskStatus::read(row)?,
        priority: TaskPriority::from_rank(priority)
            .ok_or_else(|| corrupt("task priority", priority))?,
        spec: spec(&spec_json)?,
        bandwidth_policy: policy(&policy_json)?,
        counters: counters(row)?,
        progress: row.try_get("progress")?,
        migrate_speed_bytes_per_sec: row.try_get("migrate_speed")?,
        left_time_ms: row.try_get("left_time")?,
        total_time_ms: row.try_get("total_time")?,
        start_time_ms: row.try_get("start_time")?,
        is_query_over: row.try_get::<i64, _>("is_query_over")? != 0,
        failure: failure(row)?,
        failed_list_key: row.try_get("failed_list_key")?,
        failed_list_error: row.try_get("failed_list_error")?,
        success_list_error: row.try_get("success_list_error")?,
        skip_list_error: row.try_get("skip_list_error")?,
        crc64_unchecked_num: row.try_get("crc64_unchecked_num")?,
        create_time_ms: row.try_get("create_time")?,
        notified: notified(row)?,
        lease_lapsed_at_ms: Some(row.try_get::<i64, _>("lease_lapsed_at")?).filter(|t| *t > 0),
    })
}

pub(crate) fn group(row: &AnyRow, tasks: GroupTaskStats) -> Result<TaskGroup, DbError> {
    let group_id: String = row.try_get("group_id")?;
    let spec_json: String = row.try_get("spec")?;
    let policy_json: String = row.try_get("bandwidth_policy")?;
    Ok(TaskGroup {
        group_id: GroupId::parse(&group_id).ok_or_else(|| corrupt("group id", &group_id))?,
        project_id: project(row)?,
        status: GroupStatus::read(row)?,
        spec: spec(&spec_json)?,
        bandwidth_policy: policy(&policy_json)?,
        failure: failure(row)?,
        create_complete_num: row.try_get("create_complete_num")?,
        create_complete_size: row.try_get("create_complete_size")?,
        start_time_ms: row.try_get("start_time")?,
        create_time_ms: row.try_get("create_time")?,
        notified: notified(row)?,
        tasks,
    })
}

/// The aggregate select over a group's tasks that [`group_stats`] reads.
pub(crate) const GROUP_STATS_SELECT: &str = "select group_id, \
    count(*) as total, \
    cast(sum(case when status = 4 then 1 else 0 end) as bigint) as failed, \
    cast(sum(case when status = 5 then 1 else 0 end) as bigint) as completed, \
    cast(sum(case when status = 3 then 1 else 0 end) as bigint) as paused, \
    cast(sum(case when status in (2, 6, 7) then 1 else 0 end) as bigint) as executing, \
    cast(sum(case when status in (0, 1) then 1 else 0 end) as bigint) as waiting, \
    cast(sum(total_num) as bigint) as total_num, \
    cast(sum(successful_num) as bigint) as successful_num, \
    cast(sum(failed_num) as bigint) as failed_num, \
    cast(sum(skipped_num) as bigint) as skipped_num, \
    cast(sum(total_size) as bigint) as total_size, \
    cast(sum(complete_size) as bigint) as complete_size, \
    cast(sum(real_size) as bigint) as real_size, \
    cast(sum(migrate_speed) as bigint) as migrate_speed, \
    cast(max(total_time) as bigint) as total_time \
    from tasks";

pub(crate) fn group_stats(row: &AnyRow) -> Result<(String, GroupTaskStats), DbError> {
    Ok((
        row.try_get("group_id")?,
        GroupTaskStats {
            total: row.try_get("total")?,
            failed: row.try_get("failed")?,
            completed: row.try_get("completed")?,
            paused: row.try_get("paused")?,
            executing: row.try_get("executing")?,
            waiting: row.try_get("waiting")?,
            objects: counters(row)?,
            migrate_speed_bytes_per_sec: row.try_get("migrate_speed")?,
            total_time_ms: row.try_get("total_time")?,
        },
    ))
}

/// A row of `object_failures`, as listed.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FailureRow {
    object_key: String,
    size: i64,
    error_code: String,
    error_msg: String,
    failed_time: i64,
}

impl From<FailureRow> for oms_core::model::ObjectFailure {
    fn from(row: FailureRow) -> Self {
        Self {
            key: row.object_key,
            size: row.size,
            code: row.error_code,
            message: row.error_msg,
            failed_time_ms: row.failed_time,
        }
    }
}

/// Where a multipart upload is, as `orphan_uploads` and `multipart_uploads` keep it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UploadRow {
    dst_bucket: String,
    dst_key: String,
    upload_id: String,
}

impl From<UploadRow> for oms_core::model::OrphanUpload {
    fn from(row: UploadRow) -> Self {
        Self {
            dst_bucket: row.dst_bucket,
            dst_key: row.dst_key,
            upload_id: row.upload_id,
        }
    }
}
