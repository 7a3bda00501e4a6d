//! Response bodies.

use serde::Serialize;
use utoipa::ToSchema;

/// The error body of every failed request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `OMS.xxxx` (or `APIGW.xxxx` for authentication and routing).
    #[schema(example = "OMS.0064")]
    pub error_code: String,
    /// What went wrong, naming the field when one is at fault.
    pub error_msg: String,
    /// `request parameter [field] invalid` for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
}

/// A bandwidth window as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BandwidthPolicyResp {
    /// `hh:mm`.
    pub start: String,
    /// `hh:mm`.
    pub end: String,
    /// Bytes/s.
    pub max_bandwidth: i64,
}

/// A list file as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListFileResp {
    /// Object key (or folder) of the list file(s).
    pub list_file_key: String,
    /// The bucket holding the list file(s), at the destination's endpoint.
    pub obs_bucket: String,
    /// Number of list files, as given.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub list_file_num: String,
}

/// `SrcNodeResp` / `TaskGroupSrcNodeResp`: the source, without credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SrcNodeResp {
    /// Source bucket ("" for a URL list).
    pub bucket: String,
    /// Source provider (`AWS`, `Aliyun`, ..., `URLSource`; upper case in task groups).
    pub cloud_type: String,
    /// Source region, which picks the provider's endpoint ("" for a URL list).
    pub region: String,
    /// Tencent APPID, as given ("" when not).
    pub app_id: String,
    /// Keys (`object` mode; a key ending in `/` is a folder) or prefixes (`prefix` mode); `[""]` is
    /// the whole bucket.
    pub object_key: Vec<String>,
    /// The object or URL list, for `list` and `url_list` tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_file: Option<ListFileResp>,
}

/// `DstNodeResp` / `TaskGroupDstNodeResp`: the destination, without credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DstNodeResp {
    /// The bucket objects are copied into.
    pub bucket: String,
    /// Destination region, as given at creation.
    pub region: String,
    /// Prefix put before every key.
    pub save_prefix: String,
}

/// `SourceCdnResp`: the CDN, without its key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceCdnResp {
    /// The CDN or custom domain objects are fetched from.
    pub domain: String,
    /// `http` or `https`.
    pub protocol: String,
    /// How requests to the CDN are signed (`NONE`, `ALIYUN_OSS_A`, ...).
    pub authentication_type: String,
}

/// `SmnInfo`: the notification outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SmnInfo {
    /// Whether the last notification (a webhook to the receivers configured for the topic)
    /// reached every receiver; false until one was sent.
    pub notify_result: bool,
    /// Why the last notification was not sent; empty once it was, or before any was due.
    pub notify_error_message: String,
    /// The topic, the last segment of the `topic_urn` given at creation; empty once a
    /// notification was sent (as OMS does).
    pub topic_name: String,
}

/// `ErrorReasonResp`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorReasonResp {
    /// A `TRF.xxxx` code.
    pub error_code: String,
    /// The reason, in one sentence.
    pub error_msg: String,
}

/// `FailedObjectRecordDto`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedObjectRecordDto {
    /// Whether retransmitting only the failed objects is possible.
    pub result: bool,
    /// Where the failed-object list was written.
    pub list_file_key: String,
    /// Why writing the list failed ("" when it did not).
    pub error_code: String,
}

/// `TaskResp` / `ShowTaskResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskResp {
    /// Task id (int64, up to 15 digits).
    pub id: i64,
    /// Name omsd generated at creation: `task_<id>`.
    pub name: String,
    /// `object`, `prefix`, `list` or `url_list`.
    pub task_type: String,
    /// `NORMAL_TASK`, `GROUP_TASK` or `SYNC_TASK`.
    pub group_type: String,
    /// The group that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// 0 initializing, 1 waiting, 2 running, 3 paused, 4 failed, 5 succeeded,
    /// 6 retrying, 7 pausing.
    pub status: i64,
    /// 0..1.
    pub progress: f64,
    /// Source, without credentials.
    pub src_node: SrcNodeResp,
    /// Destination, without credentials.
    pub dst_node: DstNodeResp,
    /// Description ("" when unset).
    pub description: String,
    /// Whether objects are written with SSE-KMS (`enable_kms` or `dst_node.crypto_type` KMS).
    pub enable_kms: bool,
    /// Whether user metadata is copied, as given at creation (Content-Type always is).
    pub enable_metadata_migration: bool,
    /// Whether archived source objects are restored first, as given at creation.
    pub enable_restore: bool,
    /// Whether failed objects are recorded for a retransmit, as given at creation.
    pub enable_failed_object_recording: bool,
    /// Whether the source is read as requester pays, as given at creation.
    pub enable_requester_pays: bool,
    /// Echo (seconds, as given at creation; 0 = unset).
    pub migrate_since: i64,
    /// Throttling windows, in the destination region's time zone (empty: unthrottled).
    pub bandwidth_policy: Vec<BandwidthPolicyResp>,
    /// The CDN objects are fetched through, when the task has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cdn: Option<SourceCdnResp>,
    /// Notification outcome, when a notification was configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smn_info: Option<SmnInfo>,
    /// What happens to an object already at the destination
    /// (`SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE`, ...).
    pub object_overwrite_mode: String,
    /// How a copied or existing object is checked (`size_last_modified`, `crc64`, `no_check`).
    pub consistency_check: String,
    /// Storage class written at the destination (`STANDARD`, `IA`, ...).
    pub dst_storage_policy: String,
    /// Scheduling priority: `HIGH`, `MEDIUM` or `LOW`.
    pub task_priority: String,
    /// `BUCKET`.
    pub obs_system: String,
    /// Start time, Unix ms (0 before the first start).
    pub start_time: i64,
    /// Time spent running, ms.
    pub total_time: i64,
    /// Estimated time left, ms.
    pub left_time: i64,
    /// Bytes/s.
    pub migrate_speed: i64,
    /// Objects listed at the source so far.
    pub total_num: i64,
    /// Objects copied to the destination.
    pub successful_num: i64,
    /// Objects that failed (see the failed-object list).
    pub failed_num: i64,
    /// Objects skipped (older than `migrate_since`, or already at the destination).
    pub skipped_num: i64,
    /// Bytes of the objects listed so far.
    pub total_size: i64,
    /// Bytes done (migrated or skipped).
    pub complete_size: i64,
    /// Bytes migrated (excluding skipped).
    pub real_size: i64,
    /// Whether the source listing is finished.
    pub is_query_over: bool,
    /// Why the task failed (a `TRF.xxxx` code), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReasonResp>,
    /// Failed-object record.
    pub failed_object_record: FailedObjectRecordDto,
    /// Error code of writing the success list ("" when fine).
    pub success_record_error_reason: String,
    /// Error code of writing the skip list ("" when fine).
    pub skip_record_error_reason: String,
    /// What omsd says beside the figures (an omsd extension, absent when there is nothing to
    /// say): a task that waits for a worker to take it over after its worker stopped renewing
    /// its lease, or one that completed without finding anything to copy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// An omsd extension: the task is a dry run (created with `dry_run: true`); absent
    /// otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// An omsd extension: a dry run's plan so far (shown by `GET` of the task; absent
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanResp>,
}

/// The objects of one kind a dry run found (an omsd extension).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanPartResp {
    /// Objects.
    pub num: i64,
    /// Their bytes.
    pub size: i64,
    /// The first of their keys, in key order (at most 10).
    pub first_keys: Vec<String>,
}

/// A dry run's plan (an omsd extension): what a run would copy, overwrite and skip, decided
/// exactly as a run decides, and how long the project's last runs' speed predicts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanResp {
    /// Objects a run would copy: not at the destination (or the overwrite mode does not look).
    pub copy: PlanPartResp,
    /// Objects a run would overwrite: at the destination, and the overwrite mode says so.
    pub overwrite: PlanPartResp,
    /// Objects a run would skip: older than `migrate_since`, or already at the destination.
    pub skip: PlanPartResp,
    /// Bytes per second the project's last completed runs (up to 5) moved; absent when there
    /// is none yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_speed: Option<i64>,
    /// Time, ms, the bytes to copy and overwrite take at `history_speed`; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_time: Option<i64>,
}

impl From<&crate::model::Plan> for PlanResp {
    fn from(plan: &crate::model::Plan) -> Self {
        let part = |p: &crate::model::PlanPart| PlanPartResp {
            num: p.num,
            size: p.size,
            first_keys: p.first_keys.clone(),
        };
        let bytes = plan.copy.size + plan.overwrite.size;
        Self {
            copy: part(&plan.copy),
            overwrite: part(&plan.overwrite),
            skip: part(&plan.skip),
            history_speed: plan.speed_bytes_per_sec,
            estimated_time: plan
                .speed_bytes_per_sec
                .filter(|s| *s > 0)
                .map(|s| bytes.saturating_mul(1000) / s),
        }
    }
}

/// A line of a task's verification manifest (an omsd extension): a copied object and what
/// proved it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestEntryResp {
    /// The source key (for a URL list, the line).
    pub key: String,
    /// Its size, bytes.
    pub size: i64,
    /// The source's entity tag of the version copied ("" when unknown).
    pub source_etag: String,
    /// The checksum that proved the bytes: `md5`, `crc64`, `multipart-etag`, `etag` or `size`.
    pub checksum: String,
    /// Its value, hex ("" for `size`).
    pub checksum_value: String,
    /// The destination's entity tag ("" when unknown).
    pub dst_etag: String,
    /// When it was copied, Unix ms.
    pub time: i64,
}

/// A task's verification manifest, one page (an omsd extension).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListManifestResponse {
    /// One page, in key order.
    pub objects: Vec<ManifestEntryResp>,
    /// Objects in the manifest (all pages).
    pub count: i64,
}

/// `ListTasksResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListTasksResponse {
    /// One page of tasks, newest first.
    pub tasks: Vec<TaskResp>,
    /// Number of tasks matching the filters (all pages).
    pub count: i64,
}

/// A failed object of a task (an omsd extension: OMS has it only as a file in the bucket).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedObjectResp {
    /// The source key (for a URL list, the line: `URL<TAB>name`).
    pub key: String,
    /// Its size in bytes, when known.
    pub size: i64,
    /// The per-object code (`GET_SRC_OBJ_META_FAILURE`, `UPLOAD_DST_OBJ_FAILURE`, ...).
    pub error_code: String,
    /// What happened, in one sentence naming the side at fault.
    pub error_msg: String,
    /// When, Unix ms.
    pub failed_time: i64,
}

/// The failed objects of a task, one page (an omsd extension).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListFailedObjectsResponse {
    /// One page, in key order.
    pub failed_objects: Vec<FailedObjectResp>,
    /// Number of failed objects recorded (all pages).
    pub count: i64,
}

/// `CreateTaskResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateTaskResponse {
    /// The new task's id.
    pub id: i64,
    /// Its generated name, `task_<id>`.
    pub task_name: String,
}

/// `CreateTaskGroupResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateTaskGroupResponse {
    /// The new group's id.
    pub group_id: String,
}

/// `TaskGroupResp` / `ShowTaskGroupResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskGroupResp {
    /// Group id (UUID).
    pub group_id: String,
    /// 0 waiting, 1 creating tasks, 2 monitoring, 3 paused, 4 creation failed, 5 failed,
    /// 6 completed, 7 pausing, 8 waiting for deletion, 9 deleted.
    pub status: i64,
    /// Why the group failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReasonResp>,
    /// Source, without credentials (cloud type in upper case).
    pub src_node: SrcNodeResp,
    /// Destination, without credentials.
    pub dst_node: DstNodeResp,
    /// Description ("" when unset).
    pub description: String,
    /// `PREFIX`, `LIST` or `URL_LIST`.
    pub task_type: String,
    /// Whether objects are written with SSE-KMS (`enable_kms` or `dst_node.crypto_type` KMS).
    pub enable_kms: bool,
    /// Whether user metadata is copied, as given at creation.
    pub enable_metadata_migration: bool,
    /// Whether failed objects are recorded for a retransmit, as given at creation.
    pub enable_failed_object_recording: bool,
    /// Whether archived source objects are restored first, as given at creation.
    pub enable_restore: bool,
    /// Whether the source is read as requester pays, as given at creation.
    pub enable_requester_pays: bool,
    /// Throttling windows, in the destination region's time zone, that every task of the group runs under (empty: unthrottled).
    pub bandwidth_policy: Vec<BandwidthPolicyResp>,
    /// Notification outcome, when a notification was configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smn_config: Option<SmnInfo>,
    /// The CDN objects are fetched through, when the group has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cdn: Option<SourceCdnResp>,
    /// Echo (seconds).
    pub migrate_since: i64,
    /// Bytes/s over the group's tasks.
    pub migrate_speed: i64,
    /// Time spent, ms.
    pub total_time: i64,
    /// Start time, Unix ms.
    pub start_time: i64,
    /// Tasks the group has created so far (its splitter adds more until the source is cut up).
    pub total_task_num: i64,
    /// Tasks created so far (the same number as `total_task_num` here).
    pub create_task_num: i64,
    /// Tasks that failed.
    pub failed_task_num: i64,
    /// Tasks that succeeded.
    pub complete_task_num: i64,
    /// Tasks paused (stopped).
    pub paused_task_num: i64,
    /// Tasks running now.
    pub executing_task_num: i64,
    /// Tasks waiting for a worker.
    pub waiting_task_num: i64,
    /// Objects found at the source (at least those assigned to tasks so far).
    pub total_num: i64,
    /// Objects already assigned to created tasks.
    pub create_complete_num: i64,
    /// Objects copied, over all the group's tasks.
    pub success_num: i64,
    /// Objects that failed, over all the group's tasks.
    pub fail_num: i64,
    /// Objects skipped (older than `migrate_since`, or already at the destination).
    pub skip_num: i64,
    /// Bytes of the objects found (at least those assigned to tasks so far).
    pub total_size: i64,
    /// Bytes already assigned to created tasks.
    pub create_complete_size: i64,
    /// Bytes done (migrated or skipped), over all the group's tasks.
    pub complete_size: i64,
    /// Failed-object record.
    pub failed_object_record: FailedObjectRecordDto,
    /// What happens to an object already at the destination, as given at creation.
    pub object_overwrite_mode: String,
    /// Storage class written at the destination, as given at creation.
    pub dst_storage_policy: String,
    /// How a copied or existing object is checked, as given at creation.
    pub consistency_check: String,
    /// `BUCKET`.
    pub obs_system: String,
    /// An omsd extension: the group is a dry run (each of its tasks is); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// An omsd extension: the plan over the group's tasks so far (shown by `GET` of the group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanResp>,
}

/// `ListTaskGroupResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListTaskGroupResponse {
    /// Number of groups matching the filters (all pages).
    pub count: i64,
    /// One page of groups, newest first.
    pub taskgroups: Vec<TaskGroupResp>,
}

/// A link of a version document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    /// Absolute URL of the version's root, e.g. `http://host:port/v2/`.
    pub href: String,
    /// `self`.
    pub rel: String,
}

/// One API version (`Version`, and the body of `GET /{version}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    /// `v2`.
    pub id: String,
    /// A single `self` link to the version's root.
    pub links: Vec<Link>,
    /// `CURRENT`, `SUPPORTED` or `DEPRECATED`.
    pub status: String,
    /// Last update, `yyyy-mm-ddThh:mm:ssZ`.
    pub updated: String,
}

/// `ListApiVersionsResponse`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListApiVersionsResponse {
    /// Every version served (only `v2`).
    pub versions: Vec<Version>,
}

/// The empty body of start, stop, delete and update calls.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct EmptyBody {}
