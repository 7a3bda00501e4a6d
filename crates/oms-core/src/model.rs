//! The entities the repositories store and the API shows: tasks and task groups.

use crate::bandwidth::BandwidthPolicy;
use crate::credentials::CredentialSet;
use crate::ids::{GroupId, ProjectId, TaskId};
use crate::spec::{GroupType, MigrationSpec, TaskPriority};
use crate::status::{GroupStatus, TaskStatus};

/// Object and byte counters of a task (or the sums over a group's tasks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectCounters {
    /// Objects found at the source so far.
    pub total_num: i64,
    /// Objects copied to the destination.
    pub successful_num: i64,
    /// Objects that could not be copied.
    pub failed_num: i64,
    /// Objects not copied: older than `migrate_since`, or already at the destination.
    pub skipped_num: i64,
    /// Bytes of the objects found so far.
    pub total_size: i64,
    /// Bytes done (migrated or skipped).
    pub complete_size: i64,
    /// Bytes copied (`complete_size` without the skipped objects).
    pub real_size: i64,
}

/// Why a task or group failed: a `TRF.xxxx` code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReason {
    /// The `TRF.xxxx` code.
    pub code: String,
    /// The reason, in one sentence naming the side at fault.
    pub message: String,
}

/// A migration task as stored.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task's id: random, 15 digits, unique across projects.
    pub id: TaskId,
    /// The project that created it; only its callers see the task.
    pub project_id: ProjectId,
    /// The group that created it.
    pub group_id: Option<GroupId>,
    /// `GROUP_TASK` when a group created it, else `NORMAL_TASK`.
    pub group_type: GroupType,
    /// Name generated at creation: `task_<id>`.
    pub name: String,
    /// Where the task is in its life (`oms_core::status` checks every change).
    pub status: TaskStatus,
    /// Claim priority: workers take waiting tasks by priority, then by age.
    pub priority: TaskPriority,
    /// What it migrates, from where to where, as given at creation.
    pub spec: MigrationSpec,
    /// Throttling windows, in UTC; the batch update replaces them.
    pub bandwidth_policy: BandwidthPolicy,
    /// Object and byte counters, flushed by the recorder about once a second.
    pub counters: ObjectCounters,
    /// Fraction done, 0..1 (bytes done over bytes found).
    pub progress: f64,
    /// Current copy rate, bytes/s.
    pub migrate_speed_bytes_per_sec: i64,
    /// Estimated time left, ms, from the current rate.
    pub left_time_ms: i64,
    /// Time spent running, ms, over all runs.
    pub total_time_ms: i64,
    /// First start, Unix ms (0 before).
    pub start_time_ms: i64,
    /// Whether the source listing finished.
    pub is_query_over: bool,
    /// Why it failed (a `TRF.xxxx` code), when it did.
    pub failure: Option<FailureReason>,
    /// Where its failed-object list was written ("" when none).
    pub failed_list_key: String,
    /// Why its failed-object list could not be written (an error code; "" when it was, or
    /// none was due).
    pub failed_list_error: String,
    /// Why its success list could not be written (an error code; "" when it was, or none was
    /// due).
    pub success_list_error: String,
    /// Why its skip list could not be written (an error code; "" when it was, or none was
    /// due).
    pub skip_list_error: String,
    /// Objects checked by size and time instead of CRC64 (`consistency_check: crc64`) because
    /// no side reported one.
    pub crc64_unchecked_num: i64,
    /// Creation time, Unix ms.
    pub create_time_ms: i64,
    /// The outcome of its last notification (`None`: none was attempted).
    pub notified: Option<Notified>,
    /// When the lease of the worker running it expired, if it did and no worker took the task
    /// over yet (the worker died or lost the database): the task waits to be picked up again.
    pub lease_lapsed_at_ms: Option<i64>,
}

/// Task counts and object sums over a group's tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTaskStats {
    /// All the group's tasks, whatever their status.
    pub total: i64,
    /// Failed tasks.
    pub failed: i64,
    /// Succeeded tasks.
    pub completed: i64,
    /// Paused (stopped) tasks.
    pub paused: i64,
    /// Running, retrying or pausing tasks.
    pub executing: i64,
    /// Tasks waiting for a worker.
    pub waiting: i64,
    /// Object and byte counters summed over the tasks.
    pub objects: ObjectCounters,
    /// Sum of the tasks' copy rates, bytes/s.
    pub migrate_speed_bytes_per_sec: i64,
    /// Longest running time of a task, ms (tasks run side by side).
    pub total_time_ms: i64,
}

/// What became of a notification (a webhook standing in for SMN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    /// Every receiver of the topic accepted it (`smn_info.notify_result`).
    pub sent: bool,
    /// Why not, in one sentence; empty when it was sent (`notify_error_message`).
    pub error: String,
}

/// A task group as stored, with its tasks' aggregates.
#[derive(Debug, Clone)]
pub struct TaskGroup {
    /// The group's id (a random UUID).
    pub group_id: GroupId,
    /// The project that created it; only its callers see the group.
    pub project_id: ProjectId,
    /// Where the group is in its life (`oms_core::status` checks every change).
    pub status: GroupStatus,
    /// What it migrates, from where to where; every task it creates inherits it.
    pub spec: MigrationSpec,
    /// Throttling windows, applied to every task.
    pub bandwidth_policy: BandwidthPolicy,
    /// Why it failed (a `TRF.xxxx` code), when it did.
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
    /// The outcome of its last notification (`None`: none was attempted).
    pub notified: Option<Notified>,
}

/// A task or group to create: its spec, throttling, priority and credentials.
#[derive(Debug)]
pub struct NewMigration {
    /// What to migrate, from where to where.
    pub spec: MigrationSpec,
    /// Throttling windows, in UTC (empty: unthrottled).
    pub bandwidth_policy: BandwidthPolicy,
    /// Claim priority among waiting tasks.
    pub priority: TaskPriority,
    /// Keys for the source, the destination and the CDN, sealed before they are stored.
    pub credentials: CredentialSet,
}

/// A start, resume or retry request: fresh credentials and what to run.
#[derive(Debug)]
pub struct StartRequest {
    /// Keys for both sides, given again on every start (they replace the stored ones).
    pub credentials: CredentialSet,
    /// Retransmit only the failed objects.
    pub migrate_failed_objects: bool,
}

/// Which tasks a batch update applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSelector {
    /// These tasks, by id.
    Ids(Vec<TaskId>),
    /// Every task of this group.
    Group(GroupId),
}

/// A batch update of bandwidth policy and priority.
#[derive(Debug, Clone)]
pub struct BatchUpdate {
    /// The tasks it applies to.
    pub selector: TaskSelector,
    /// The new windows, replacing the old ones.
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
    /// The page of the matching tasks to return.
    pub page: Page,
}

/// Filters of `GET /taskgroups`.
#[derive(Debug, Clone)]
pub struct GroupFilter {
    /// Only groups in this status.
    pub status: Option<GroupStatus>,
    /// The page of the matching groups to return.
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
    /// Current copy rate, bytes/s.
    pub migrate_speed_bytes_per_sec: i64,
    /// Fraction done, 0..1.
    pub progress: f64,
    /// Estimated time left, ms, from the current rate.
    pub left_time_ms: i64,
    /// Time spent running, over all runs.
    pub total_time_ms: i64,
    /// Whether the source listing is finished.
    pub is_query_over: bool,
    /// Objects finished beyond the checkpoint (kept with it; see [`FinishedAhead`]).
    pub ahead: Vec<FinishedAhead>,
    /// Objects copied, skipped or planned since the last flush, for the success and skip
    /// lists, the verification manifest and a dry run's plan (empty when the task does not
    /// record).
    pub records: Vec<ObjectRecord>,
    /// Archived objects whose restore was asked for, passed by the checkpoint since the last
    /// flush: copied once restored, in a pass after the listing.
    pub restoring: Vec<ObjectRestore>,
    /// Keys of restored objects that the restores pass finished (copied or failed) since the
    /// last flush.
    pub restored: Vec<String>,
    /// A dry run's plan: what the checkpoint passed since the last flush, by kind.
    pub plan: Vec<PlanCount>,
    /// Objects of a `consistency_check: crc64` task checked by size and time instead, because
    /// no side reported a CRC64 (over every run).
    pub crc64_unchecked_num: i64,
}

/// An object a task copied or skipped, as its success or skip list names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// The key recorded for the object (its source key, or its URL-list line).
    pub key: String,
    /// Its size, bytes.
    pub size: i64,
    /// Copied (the success list), or skipped (the skip list).
    pub kind: RecordKind,
    /// When, Unix ms.
    pub at_ms: i64,
    /// How a copied object was proven (its line in the verification manifest).
    pub proof: Option<Proof>,
}

/// How a copied object was proven: a line of the verification manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proof {
    /// The source's entity tag of the version copied, when known.
    pub source_etag: Option<String>,
    /// The checksum that proved the bytes: `md5` (compared with the destination's entity tag,
    /// or sent as `Content-MD5` for the store to check), `crc64` (CRC-64/XZ, equal at both
    /// ends), `multipart-etag` (each part's MD5 checked, the destination's entity tag is theirs),
    /// `multipart-md5` (the S3 multipart tag of the MD5s of the parts sent, each checked by the
    /// destination, where its tags are not MD5s) or `etag` (copied within the store, the
    /// destination's tag is the source's), `size` where none could be (sizes and times only).
    pub checksum: String,
    /// Its value (hex; `multipart-md5`: `{tag}-{parts}@{part size}`), "" for `size`.
    pub value: String,
    /// The destination's entity tag, when known.
    pub dst_etag: Option<String>,
}

/// The objects of one kind a dry run found: how many, their bytes, and the first keys (in key
/// order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanPart {
    /// Objects.
    pub num: i64,
    /// Their bytes.
    pub size: i64,
    /// The first of their keys, in key order (at most [`PLAN_FIRST_KEYS`]).
    pub first_keys: Vec<String>,
}

/// How many keys of each kind a plan names.
pub const PLAN_FIRST_KEYS: i64 = 10;

/// What a dry run found: what a run would copy, overwrite and skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Objects a run would copy (not at the destination, or not looked for).
    pub copy: PlanPart,
    /// Objects a run would overwrite.
    pub overwrite: PlanPart,
    /// Objects a run would skip.
    pub skip: PlanPart,
    /// Bytes per second the project's last completed runs moved (`None`: no such run yet).
    pub speed_bytes_per_sec: Option<i64>,
}

/// The most objects a success or skip list names (OMS caps its lists at 100,000 objects).
/// The verification manifest is not capped: it names every copied object.
pub const RECORDS_PER_LIST: i64 = 100_000;

/// Which list an object goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Copied: the success list.
    Success,
    /// Skipped (older than `migrate_since`, or already at the destination): the skip list.
    Skip,
    /// A dry run would copy it (absent at the destination, or the decision does not look).
    PlanCopy,
    /// A dry run would overwrite it (at the destination, and the overwrite mode says so).
    PlanOverwrite,
}

impl RecordKind {
    /// The kinds with a list at the destination, in the order their lists are written.
    pub const ALL: [Self; 2] = [Self::Success, Self::Skip];
    /// Every kind: those of the lists, and those of a dry run's plan.
    pub const EVERY: [Self; 4] = [
        Self::Success,
        Self::Skip,
        Self::PlanCopy,
        Self::PlanOverwrite,
    ];

    /// The list's word in paths and names (`success_object_lists/…success_list.txt`).
    pub const fn word(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Skip => "skip",
            Self::PlanCopy => "copy",
            Self::PlanOverwrite => "overwrite",
        }
    }
}

/// An object finished beyond the checkpoint, while an object listed before it was still in
/// progress. Its outcome is kept with the checkpoint, so that a run resumed after a pause, a
/// shutdown or a crash counts it as it was (copied by this task, or skipped) rather than
/// copying it again or calling it skipped because it is now at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedAhead {
    /// The key recorded for the object (its source key, or its URL-list line).
    pub key: String,
    /// Its size, bytes.
    pub size: i64,
    /// True when this task copied it; false when it was skipped.
    pub copied: bool,
}

/// Objects of one kind a dry run planned (copy, overwrite or skip), and their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCount {
    /// `PlanCopy`, `PlanOverwrite` or `Skip`.
    pub kind: RecordKind,
    /// Objects.
    pub num: i64,
    /// Their bytes.
    pub size: i64,
}

/// An archived source object whose restore was asked for (`enable_restore`): the run goes on
/// with the rest and copies it once the restore is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRestore {
    /// The source key.
    pub key: String,
    /// Its size as listed.
    pub size: i64,
    /// When its restore was found asked for, Unix ms.
    pub requested_ms: i64,
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
    /// What happened, in one sentence naming the side at fault.
    pub message: String,
    /// When, Unix ms.
    pub failed_time_ms: i64,
}

/// A part of a saved multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPart {
    /// The entity tag the destination gave it (the completion names the part by it).
    pub etag: String,
    /// The CRC-64/XZ of its bytes, when computed as they were sent (`consistency_check:
    /// crc64`), so that a resumed upload still proves the whole object.
    pub crc64: Option<u64>,
    /// The MD5 (hex) of its bytes as sent, which the destination checked (Content-MD5) or
    /// whose entity tag it is; none for a part copied server-side.
    pub md5: Option<String>,
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
    /// The upload id the destination gave, to continue or abort it with.
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
    pub parts: Vec<(i32, SavedPart)>,
}

/// A multipart upload left behind by a deleted task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanUpload {
    /// The destination bucket.
    pub dst_bucket: String,
    /// The destination key.
    pub dst_key: String,
    /// The upload id the destination gave, to abort it with.
    pub upload_id: String,
}
