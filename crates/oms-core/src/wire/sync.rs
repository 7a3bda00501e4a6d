//! The wire types of sync tasks (`/v2/{project_id}/sync-tasks`), with the JSON names of the
//! official SDK's models (`CreateSyncTaskReq`, `SyncTaskInfo`, `ShowSyncTaskResponse`, ...).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

use super::from_model::cdn;
use super::request::SourceCdnReq;
use super::response::{ErrorReasonResp, SourceCdnResp};
use super::schema::{self, DEFAULT, one_of};
use crate::parse::MAX_KEY_LEN;
use crate::spec::CloudType;
use crate::sync::{SyncCounters, SyncTask};

/// The most keys one `events` call may carry.
pub const MAX_EVENT_KEYS: usize = 10;

/// The source clouds of a sync task: those reached with an access key pair.
pub fn sync_source_clouds() -> impl Iterator<Item = CloudType> {
    CloudType::ALL
        .iter()
        .copied()
        .filter(|c| c.is_s3_compatible())
}

/// `src_cloud_type` of a sync task.
pub fn sync_source_cloud_type() -> Object {
    one_of(
        "Source cloud (default `Aliyun`): an S3-compatible cloud (sync tasks take an access key \
         pair, so not Azure, Google or URL lists)",
        sync_source_clouds().map(CloudType::as_str),
        DEFAULT,
    )
}

/// `consistency_check` of a sync task.
pub fn sync_consistency_check() -> Object {
    one_of(
        "Verification: `size_last_modified` (default), `crc64`, or `transmission` (only a \
         complete transfer)",
        ["size_last_modified", "crc64", "transmission"],
        DEFAULT,
    )
}

/// `object_keys` of an events call.
pub fn event_keys() -> Array {
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(3 * MAX_KEY_LEN));
    ArrayBuilder::new()
        .description(Some(
            "1-10 URL-encoded object keys (percent-encoding, UTF-8; `+` stays a plus sign). \
             Decoded, each is 1-1024 bytes.",
        ))
        .schema_type(SchemaType::from_iter([Type::Array]))
        .items(key)
        .min_items(Some(1))
        .max_items(Some(MAX_EVENT_KEYS))
        .build()
}

/// `POST /v2/{project_id}/sync-tasks` (`CreateSyncTaskReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSyncTaskReq {
    /// Source cloud.
    #[schema(schema_with = sync_source_cloud_type)]
    pub src_cloud_type: Option<String>,
    /// Source region; omsd must know it (its cloud's public regions or an `[[endpoints]]` rule).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_region: Option<String>,
    /// Source bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_bucket: Option<String>,
    /// Source access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_ak: Option<SecretString>,
    /// Source secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_sk: Option<SecretString>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub src_crypto_type: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub src_kms_key_id: Option<String>,
    /// Destination access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_ak: Option<SecretString>,
    /// Destination secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_sk: Option<SecretString>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub dst_kms_key_id: Option<String>,
    /// Destination region.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_region: Option<String>,
    /// Destination bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_bucket: Option<String>,
    /// Free text, at most 255 characters without `^<>&"'\\`.
    #[schema(max_length = 255, pattern = r#"^[^\^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub description: Option<String>,
    /// Copy user metadata.
    pub enable_metadata_migration: Option<bool>,
    /// Restore archived source objects first.
    pub enable_restore: Option<bool>,
    /// SSE-KMS at the destination with the store's default key.
    #[schema(schema_with = schema::enable_kms)]
    pub enable_kms: Option<bool>,
    /// Destination storage class.
    #[schema(schema_with = schema::storage_policy)]
    pub dst_storage_policy: Option<String>,
    /// Tencent APPID (required for Tencent).
    #[schema(max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub app_id: Option<String>,
    /// Download through this CDN domain.
    pub source_cdn: Option<SourceCdnReq>,
    /// Verification.
    #[schema(schema_with = sync_consistency_check)]
    pub consistency_check: Option<String>,
    /// Self-hosting extension: seconds between reconciliation passes (60 to 2592000), each of
    /// which compares the source and destination listings and queues the keys that differ, so
    /// that a lost event heals by itself. Absent: no reconciliation.
    #[schema(minimum = 60, maximum = 2_592_000)]
    pub reconcile_interval: Option<i64>,
    /// Self-hosting extension (default false): an `ObjectRemoved:*` notification deletes the
    /// object at the destination — only if the source, asked when the key is processed, no
    /// longer has it (a re-created object is copied instead). Without it, removals are
    /// counted (REMOVED) and ignored.
    pub propagate_deletions: Option<bool>,
}

/// The answer to a create.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateSyncTaskResponse {
    /// The new sync task, `SYNCHRONIZING` already.
    pub sync_task_id: String,
    /// Self-hosting extension: the secret that authenticates the bucket notifications posted to
    /// `notification_path` (as `Authorization: Bearer <token>` or `?token=<token>`). Shown
    /// only in this answer; omsd keeps only its hash.
    pub notification_token: String,
    /// Self-hosting extension: the path (on omsd's address) where the source bucket posts its
    /// S3 event notifications.
    pub notification_path: String,
}

/// `POST .../sync-tasks/{sync_task_id}/start` (`StartSyncTaskReq`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartSyncTaskReq {
    /// Source access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_ak: Option<SecretString>,
    /// Source secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_sk: Option<SecretString>,
    /// Destination access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_ak: Option<SecretString>,
    /// Destination secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_sk: Option<SecretString>,
    /// CDN signing key: required when the source CDN signs URLs.
    #[schema(value_type = Option<String>, max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub source_cdn_authentication_key: Option<SecretString>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub src_crypto_type: Option<String>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub src_kms_key_id: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub dst_kms_key_id: Option<String>,
}

/// `POST .../sync-tasks/{sync_task_id}/events` (`SyncObjectReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SyncObjectReq {
    /// The keys that changed at the source.
    #[schema(required = true, schema_with = event_keys)]
    pub object_keys: Option<Vec<String>>,
}

/// The answer to a bucket notification (a self-hosting extension).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct NotificationAccepted {
    /// Keys of `ObjectCreated:*` records queued for copying (counted as REQUEST).
    pub queued: usize,
    /// `ObjectRemoved:*` records, counted as REMOVED; queued only when the sync task
    /// propagates deletions, ignored otherwise.
    pub removed: usize,
    /// Records for another bucket or of another kind, ignored.
    pub ignored: usize,
}

/// An S3 event notification document, as AWS S3, MinIO, Ceph RGW and Huawei OBS post it (only
/// the fields OMS reads; any others are ignored). An SNS envelope
/// (`{"Type":"Notification","Message":"<this document as a string>"}`) is accepted too.
#[derive(Debug, Deserialize, ToSchema)]
pub struct S3EventNotification {
    /// The records, 1 to 1000.
    #[serde(rename = "Records")]
    #[schema(max_items = 1000)]
    pub records: Option<Vec<S3EventRecord>>,
}

/// One record of an [`S3EventNotification`].
#[derive(Debug, Deserialize, ToSchema)]
pub struct S3EventRecord {
    /// `ObjectCreated:*` (copied) or `ObjectRemoved:*` (counted; deleted at the destination
    /// only by tasks that propagate deletions), with or without the `s3:` prefix; other kinds
    /// are ignored.
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    /// The bucket and object (`obs` instead of `s3` in OBS's own format is accepted too).
    pub s3: Option<S3EventEntity>,
}

/// The bucket and object of a record.
#[derive(Debug, Deserialize, ToSchema)]
pub struct S3EventEntity {
    /// `{"name": "<bucket>"}`: records for another bucket than the task's source are ignored.
    #[schema(value_type = Object)]
    pub bucket: Option<serde_json::Value>,
    /// `{"key": "<URL-encoded key>"}`: `+` is a space, `%XX` a byte (UTF-8); 1-1024 bytes
    /// once decoded.
    #[schema(value_type = Object)]
    pub object: Option<serde_json::Value>,
}

/// `SyncTaskInfo`: a sync task in a list (without credentials, which are never returned).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncTaskInfo {
    /// Id.
    pub sync_task_id: String,
    /// Source cloud.
    pub src_cloud_type: String,
    /// Source region.
    pub src_region: String,
    /// Source bucket.
    pub src_bucket: String,
    /// Creation, Unix ms.
    pub create_time: i64,
    /// Last start, Unix ms.
    pub last_start_time: i64,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Destination region.
    pub dst_region: String,
    /// Free text.
    pub description: String,
    /// `SYNCHRONIZING` or `STOPPED`.
    pub status: String,
    /// Destination KMS encryption (OMS's field until 2026-05, which the Terraform provider
    /// still reads): whether objects are written with SSE-KMS.
    pub enable_kms: bool,
    /// Copies user metadata.
    pub enable_metadata_migration: bool,
    /// Restores archived objects first.
    pub enable_restore: bool,
    /// Tencent APPID.
    pub app_id: String,
    /// The CDN, without its key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cdn: Option<SourceCdnResp>,
    /// Same-name handling.
    pub object_overwrite_mode: String,
    /// Destination storage class.
    pub dst_storage_policy: String,
    /// Verification.
    pub consistency_check: String,
    /// Self-hosting extension: seconds between reconciliation passes (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile_interval: Option<i64>,
    /// Self-hosting extension: when the last reconciliation pass ended, Unix ms (absent: none
    /// has yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reconcile_time: Option<i64>,
    /// Self-hosting extension: present (true) when `ObjectRemoved` notifications delete at the
    /// destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagate_deletions: Option<bool>,
    /// Self-hosting extension: why the last run stopped (a store refused it: a missing bucket,
    /// denied keys...), present while the task waits to try again; the first batch copied
    /// clears it. The wait doubles with each such run in a row, from 5 seconds to 10 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReasonResp>,
}

/// `GET .../sync-tasks`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListSyncTasksResponse {
    /// One page, newest first.
    pub tasks: Vec<SyncTaskInfo>,
    /// How many sync tasks match, on every page.
    pub count: i64,
}

/// `GET .../sync-tasks/{sync_task_id}?query_time`: the task and the counters of the month
/// (UTC) holding `query_time`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowSyncTaskResponse {
    /// The task.
    #[serde(flatten)]
    pub task: SyncTaskInfo,
    /// Keys received by `events` (each key of each call).
    pub monthly_acceptance_request: i64,
    /// Keys copied.
    pub monthly_success_object: i64,
    /// Keys that failed after retries.
    pub monthly_failure_object: i64,
    /// Keys skipped (gone from the source, or already the same at the destination).
    pub monthly_skip_object: i64,
    /// Bytes copied.
    pub monthly_size: i64,
}

/// One point of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatisticData {
    /// The start of the interval, Unix ms.
    pub time_stamp: i64,
    /// The counter over the interval.
    pub statistic_num: i64,
}

/// One counter's series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatisticTypeData {
    /// `REQUEST`, `SUCCESS`, `FAILURE`, `SKIP` or `SIZE`; or one of the self-hosting
    /// extensions `REMOVED`, `DELETED`, `COMPARED`, `RECONCILED`.
    pub data_type: String,
    /// The intervals of the range where something happened, in time order.
    pub data: Vec<StatisticData>,
}

/// `GET .../sync-tasks/{sync_task_id}/statistics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListSyncTaskStatisticResponse {
    /// The task.
    pub sync_task_id: String,
    /// `FIVE_MINUTES` (ranges up to 24 hours) or `ONE_HOUR` (longer ranges).
    pub statistic_time_type: String,
    /// One series per asked counter.
    pub statistic_datas: Vec<StatisticTypeData>,
}

impl From<&SyncTask> for SyncTaskInfo {
    fn from(task: &SyncTask) -> Self {
        let spec = &task.spec;
        Self {
            sync_task_id: task.id.to_string(),
            src_cloud_type: spec.source.cloud_type.as_str().to_owned(),
            src_region: spec.source.region.clone(),
            src_bucket: spec.source.bucket.clone(),
            create_time: task.create_time_ms,
            last_start_time: task.last_start_time_ms,
            dst_bucket: spec.destination.bucket.clone(),
            dst_region: spec.destination.region.clone(),
            description: spec.description.clone(),
            status: task.status.as_str().to_owned(),
            enable_kms: spec.destination.kms.is_some(),
            enable_metadata_migration: spec.enable_metadata_migration,
            enable_restore: spec.enable_restore,
            app_id: spec.source.app_id.clone(),
            source_cdn: cdn(spec),
            object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
            dst_storage_policy: spec.dst_storage_policy.as_str().to_owned(),
            consistency_check: match spec.consistency_check {
                crate::spec::ConsistencyCheck::NoCheck => "transmission".to_owned(),
                other => other.as_str().to_owned(),
            },
            reconcile_interval: task.reconcile_interval_secs,
            last_reconcile_time: task.last_reconcile_time_ms,
            propagate_deletions: task.propagate_deletions.then_some(true),
            error_reason: task
                .error
                .as_ref()
                .map(|(error_code, error_msg)| ErrorReasonResp {
                    error_code: error_code.clone(),
                    error_msg: error_msg.clone(),
                }),
        }
    }
}

impl ShowSyncTaskResponse {
    /// The task with the counters of a month.
    pub fn new(task: &SyncTask, month: &SyncCounters) -> Self {
        Self {
            task: SyncTaskInfo::from(task),
            monthly_acceptance_request: month.request,
            monthly_success_object: month.success,
            monthly_failure_object: month.failure,
            monthly_skip_object: month.skip,
            monthly_size: month.size,
        }
    }
}
