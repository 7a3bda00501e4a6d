//! The entities the repositories store and the API shows: tasks and task groups.

use crate::bandwidth::BandwidthPolicy;
use crate::credentials::CredentialSet;
use crate::ids::{GroupId, ProjectId, TaskId};
use crate::spec::{GroupType, MigrationSpec, TaskPriority};
use crate::status::{GroupStatus, TaskStatus};

/// Object and byte counters of a task (or the sums over a group's tasks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectCounters {
    /// Objects found.
    pub total_num: i64,
    /// Objects migrated.
    pub successful_num: i64,
    /// Objects that failed.
    pub failed_num: i64,
    /// Objects skipped.
    pub skipped_num: i64,
    /// Bytes found.
    pub total_size: i64,
    /// Bytes done (migrated or skipped).
    pub complete_size: i64,
    /// Bytes migrated.
    pub real_size: i64,
}

/// Why a task or group failed: a `TRF.xxxx` code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReason {
    /// The `TRF.xxxx` code.
    pub code: String,
    /// The reason in words.
    pub message: String,
}

/// A migration task as stored.
#[derive(Debug, Clone)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Owner.
    pub project_id: ProjectId,
    /// The group that created it.
    pub group_id: Option<GroupId>,
    /// Where it comes from.
    pub group_type: GroupType,
    /// Generated name.
    pub name: String,
    /// Status.
    pub status: TaskStatus,
    /// Claim priority.
    pub priority: TaskPriority,
    /// What it migrates.
    pub spec: MigrationSpec,
    /// Throttling windows.
    pub bandwidth_policy: BandwidthPolicy,
    /// Progress counters.
    pub counters: ObjectCounters,
    /// 0..1.
    pub progress: f64,
    /// Bytes/s.
    pub migrate_speed_bytes_per_sec: i64,
    /// Estimated time left.
    pub left_time_ms: i64,
    /// Time spent running.
    pub total_time_ms: i64,
    /// First start, Unix ms (0 before).
    pub start_time_ms: i64,
    /// Whether the source listing finished.
    pub is_query_over: bool,
    /// Why it failed.
    pub failure: Option<FailureReason>,
    /// Where its failed-object list was written ("" when none).
    pub failed_list_key: String,
    /// Creation time, Unix ms.
    pub create_time_ms: i64,
}

/// Task counts and object sums over a group's tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTaskStats {
    /// Tasks.
    pub total: i64,
    /// Failed tasks.
    pub failed: i64,
    /// Completed tasks.
    pub completed: i64,
    /// Paused tasks.
    pub paused: i64,
    /// Running, retrying or pausing tasks.
    pub executing: i64,
    /// Waiting tasks.
    pub waiting: i64,
    /// Object sums.
    pub objects: ObjectCounters,
    /// Sum of the tasks' speeds.
    pub migrate_speed_bytes_per_sec: i64,
    /// Longest running time of a task.
    pub total_time_ms: i64,
}

/// A task group as stored, with its tasks' aggregates.
#[derive(Debug, Clone)]
pub struct TaskGroup {
    /// Id.
    pub group_id: GroupId,
    /// Owner.
    pub project_id: ProjectId,
    /// Status.
    pub status: GroupStatus,
    /// What it migrates.
    pub spec: MigrationSpec,
    /// Throttling windows, applied to every task.
    pub bandwidth_policy: BandwidthPolicy,
    /// Why it failed.
    pub failure: Option<FailureReason>,
    /// Objects assigned to tasks created so far.
    pub create_complete_num: i64,
    /// Bytes assigned to tasks created so far.
    pub create_complete_size: i64,
    /// First start, Unix ms (0 before).
    pub start_time_ms: i64,
    /// Creation time, Unix ms.
    pub create_time_ms: i64,
    /// Aggregates over its tasks.
    pub tasks: GroupTaskStats,
}

/// A task or group to create: its spec, throttling, priority and credentials.
#[derive(Debug)]
pub struct NewMigration {
    /// What to migrate.
    pub spec: MigrationSpec,
    /// Throttling windows.
    pub bandwidth_policy: BandwidthPolicy,
    /// Claim priority.
    pub priority: TaskPriority,
    /// Keys for both sides.
    pub credentials: CredentialSet,
}

/// A start, resume or retry request: fresh credentials and what to run.
#[derive(Debug)]
pub struct StartRequest {
    /// Keys for both sides.
    pub credentials: CredentialSet,
    /// Retransmit only the failed objects.
    pub migrate_failed_objects: bool,
}

/// Which tasks a batch update applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSelector {
    /// These ids.
    Ids(Vec<TaskId>),
    /// Every task of this group.
    Group(GroupId),
}

/// A batch update of bandwidth policy and priority.
#[derive(Debug, Clone)]
pub struct BatchUpdate {
    /// Which tasks.
    pub selector: TaskSelector,
    /// The new windows.
    pub bandwidth_policy: BandwidthPolicy,
    /// The new priority (only for waiting, paused and failed tasks).
    pub priority: Option<TaskPriority>,
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page size, 1–100.
    pub limit: i64,
    /// Number of items skipped.
    pub offset: i64,
}

/// Filters of `GET /tasks`.
#[derive(Debug, Clone)]
pub struct TaskFilter {
    /// Only tasks of this group.
    pub group_id: Option<GroupId>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks whose name contains this (case-insensitive).
    pub name_contains: Option<String>,
    /// The page.
    pub page: Page,
}

/// Filters of `GET /taskgroups`.
#[derive(Debug, Clone)]
pub struct GroupFilter {
    /// Only groups in this status.
    pub status: Option<GroupStatus>,
    /// The page.
    pub page: Page,
}

/// Where a run stands: what the recorder flushes about once a second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Counters to show (including work beyond the checkpoint).
    pub counters: ObjectCounters,
    /// The listing position below which everything is finished (a key, or a list-file line).
    pub checkpoint: Option<String>,
    /// The counters that hold at the checkpoint.
    pub checkpoint_counters: ObjectCounters,
    /// Bytes/s.
    pub migrate_speed_bytes_per_sec: i64,
    /// 0..1.
    pub progress: f64,
    /// Estimated time left.
    pub left_time_ms: i64,
    /// Time spent running, over all runs.
    pub total_time_ms: i64,
    /// Whether the source listing is finished.
    pub is_query_over: bool,
    /// Objects finished beyond the checkpoint (kept with it; see [`FinishedAhead`]).
    pub ahead: Vec<FinishedAhead>,
}

/// An object finished beyond the checkpoint, while an object listed before it was still in
/// progress. Its outcome is kept with the checkpoint, so that a run resumed after a pause, a
/// shutdown or a crash counts it as it was (copied by this task, or skipped) rather than
/// copying it again or calling it skipped because it is now at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedAhead {
    /// The key recorded for the object (its source key, or its URL-list line).
    pub key: String,
    /// Its size.
    pub size: i64,
    /// Copied (else skipped).
    pub copied: bool,
}

/// An object that failed, as recorded for retransmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The source key (or list entry).
    pub key: String,
    /// Its size, when known.
    pub size: i64,
    /// The per-object code (`UPLOAD_DST_OBJ_FAILURE`, ...).
    pub code: String,
    /// What happened.
    pub message: String,
    /// When, Unix ms.
    pub failed_time_ms: i64,
}

/// A multipart upload in progress, saved so that a resumed run continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedUpload {
    /// The source key.
    pub object_key: String,
    /// The destination bucket.
    pub dst_bucket: String,
    /// The destination key.
    pub dst_key: String,
    /// The upload id.
    pub upload_id: String,
    /// The part size it was started with.
    pub part_size: i64,
    /// The object size it was started for.
    pub object_size: i64,
    /// The source's modification time when it started.
    pub source_mtime_ms: i64,
    /// The source's entity tag when it started.
    pub source_etag: Option<String>,
    /// Parts already uploaded: (part number, entity tag).
    pub parts: Vec<(i32, String)>,
}

/// A multipart upload left behind by a deleted task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanUpload {
    /// The destination bucket.
    pub dst_bucket: String,
    /// The destination key.
    pub dst_key: String,
    /// The upload id.
    pub upload_id: String,
}
