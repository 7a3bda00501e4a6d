//! Request bodies.

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

/// A bandwidth window (`BandwidthPolicyDto`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BandwidthPolicyDto {
    /// Window start, `hh:mm` (inclusive).
    #[schema(example = "22:00")]
    pub start: Option<String>,
    /// Window end, `hh:mm` (exclusive).
    #[schema(example = "06:00")]
    pub end: Option<String>,
    /// Cap inside the window in bytes/s: 1048576 (1 MB/s) to 209715200 (200 MB/s).
    #[schema(example = 10485760)]
    pub max_bandwidth: Option<i64>,
}

/// A list file (or, for task groups, a folder of list files) at the destination.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ListFile {
    /// Object key of the list file (a folder ending in `/` for task groups).
    pub list_file_key: Option<String>,
    /// Bucket holding it (in the destination's region).
    pub obs_bucket: Option<String>,
    /// Number of list files.
    pub list_file_num: Option<String>,
}

/// A CDN or custom domain to fetch source objects from (`SourceCdnReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SourceCdnReq {
    /// Domain name.
    pub domain: Option<String>,
    /// `http` or `https`.
    pub protocol: Option<String>,
    /// URL signing: `NONE`, `ALIYUN_OSS_A|B|C`, `TENCENT_COS_A|B|C|D`, ...
    pub authentication_type: Option<String>,
    /// Signing key; never returned.
    #[schema(value_type = Option<String>)]
    pub authentication_key: Option<SecretString>,
    /// `DEFAULT` (KMS is not available).
    pub crypto_type: Option<String>,
    /// KMS key id.
    pub kms_key_id: Option<String>,
}

/// SMN notification settings.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SmnConfig {
    /// SMN topic URN.
    pub topic_urn: Option<String>,
    /// `SUCCESS` and/or `FAILURE`.
    pub trigger_conditions: Option<Vec<String>>,
    /// `zh-cn` or `en-us`.
    pub language: Option<String>,
    /// Message template name.
    pub message_template_name: Option<String>,
}

/// The source of a task (`SrcNodeReq`) or task group (`TaskGroupSrcNode`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SrcNodeReq {
    /// Source cloud (default `Aliyun`).
    pub cloud_type: Option<String>,
    /// Source region.
    pub region: Option<String>,
    /// Source access key.
    #[schema(value_type = Option<String>)]
    pub ak: Option<SecretString>,
    /// Source secret key.
    #[schema(value_type = Option<String>)]
    pub sk: Option<SecretString>,
    /// Temporary security token.
    #[schema(value_type = Option<String>)]
    pub security_token: Option<SecretString>,
    /// Azure connection string.
    #[schema(value_type = Option<String>)]
    pub connection_string: Option<SecretString>,
    /// Google service-account JSON.
    #[schema(value_type = Option<String>)]
    pub json_auth_file: Option<SecretString>,
    /// Tencent APPID.
    pub app_id: Option<String>,
    /// Source bucket.
    pub bucket: Option<String>,
    /// Keys (object mode) or prefixes (prefix mode; `[""]` = the whole bucket).
    pub object_key: Option<Vec<String>>,
    /// List file (list and URL-list modes).
    pub list_file: Option<ListFile>,
    /// `DEFAULT` (KMS is not available).
    pub crypto_type: Option<String>,
    /// KMS key id.
    pub kms_key_id: Option<String>,
}

/// The destination of a task (`DstNodeReq`) or task group (`TaskGroupDstNode`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DstNodeReq {
    /// Destination access key.
    #[schema(value_type = Option<String>)]
    pub ak: Option<SecretString>,
    /// Destination secret key.
    #[schema(value_type = Option<String>)]
    pub sk: Option<SecretString>,
    /// Temporary security token.
    #[schema(value_type = Option<String>)]
    pub security_token: Option<SecretString>,
    /// Destination bucket.
    pub bucket: Option<String>,
    /// Destination region.
    pub region: Option<String>,
    /// Destination cloud (task groups): only `HEC`.
    pub cloud_type: Option<String>,
    /// Prefix put before every key.
    pub save_prefix: Option<String>,
    /// `DEFAULT` (KMS is not available).
    pub crypto_type: Option<String>,
    /// KMS key id.
    pub kms_key_id: Option<String>,
}

/// `POST /v2/{project_id}/tasks` (`CreateTaskReq`) and, with upper-case task types,
/// `POST /v2/{project_id}/taskgroups` (`CreateTaskGroupReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTaskReq {
    /// Tasks: `object` (default), `prefix`, `list`, `url_list`. Groups: `PREFIX` (default),
    /// `LIST`, `URL_LIST`.
    pub task_type: Option<String>,
    /// Source.
    pub src_node: Option<SrcNodeReq>,
    /// Destination.
    pub dst_node: Option<DstNodeReq>,
    /// KMS encryption at the destination (not available: must be false).
    pub enable_kms: Option<bool>,
    /// Free text, at most 255 characters without `^<>&"'\`.
    pub description: Option<String>,
    /// Migrate only objects modified after this Unix time, in seconds.
    pub migrate_since: Option<i64>,
    /// Up to 5 non-overlapping throttling windows.
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
    /// Download through this CDN domain.
    pub source_cdn: Option<SourceCdnReq>,
    /// Completion notification.
    pub smn_config: Option<SmnConfig>,
    /// Migrate user metadata.
    pub enable_metadata_migration: Option<bool>,
    /// Restore archived source objects first.
    pub enable_restore: Option<bool>,
    /// Record failed objects (default true).
    pub enable_failed_object_recording: Option<bool>,
    /// Same-name handling.
    pub object_overwrite_mode: Option<String>,
    /// Destination storage class.
    pub dst_storage_policy: Option<String>,
    /// Verification: `size_last_modified` (default), `crc64`, `no_check`.
    pub consistency_check: Option<String>,
    /// Requester pays on the source.
    pub enable_requester_pays: Option<bool>,
    /// `HIGH`, `MEDIUM` or `LOW` (tasks only).
    pub task_priority: Option<String>,
}

/// `POST .../tasks/{task_id}/start` (`StartTaskReq`), `PUT .../taskgroups/{group_id}/start`
/// (`StartTaskGroupReq`) and `PUT .../taskgroups/{group_id}/retry` (`RetryTaskGroupReq`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartTaskReq {
    /// Source access key (not needed for URL lists, Google or Azure).
    #[schema(value_type = Option<String>)]
    pub src_ak: Option<SecretString>,
    /// Source secret key.
    #[schema(value_type = Option<String>)]
    pub src_sk: Option<SecretString>,
    /// Source security token.
    #[schema(value_type = Option<String>)]
    pub src_security_token: Option<SecretString>,
    /// Azure connection string.
    #[schema(value_type = Option<String>)]
    pub connection_string: Option<SecretString>,
    /// Google service-account JSON.
    #[schema(value_type = Option<String>)]
    pub json_auth_file: Option<SecretString>,
    /// Destination access key (required).
    #[schema(value_type = Option<String>)]
    pub dst_ak: Option<SecretString>,
    /// Destination secret key (required).
    #[schema(value_type = Option<String>)]
    pub dst_sk: Option<SecretString>,
    /// Destination security token.
    #[schema(value_type = Option<String>)]
    pub dst_security_token: Option<SecretString>,
    /// CDN signing key.
    #[schema(value_type = Option<String>)]
    pub source_cdn_authentication_key: Option<SecretString>,
    /// Retransmit only the failed objects.
    pub migrate_failed_object: Option<bool>,
}

/// `PUT .../tasks/{task_id}/bandwidth-policy` and `PUT .../taskgroups/{group_id}/update`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateBandwidthPolicyReq {
    /// The new windows (an empty list removes throttling).
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
}

/// `POST .../tasks/batch-update`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchUpdateTasksReq {
    /// Update every task of this group (exclusive with `ids`).
    pub group_id: Option<String>,
    /// Update these tasks (exclusive with `group_id`).
    pub ids: Option<Vec<i64>>,
    /// The new windows.
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
    /// New priority; applied to waiting, paused and failed tasks.
    pub task_priority: Option<String>,
}
