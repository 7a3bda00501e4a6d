//! Request bodies.

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::schema;

/// A bandwidth window (`BandwidthPolicyDto`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BandwidthPolicyDto {
    /// Window start, `hh:mm` (inclusive), 00:00 to 23:59.
    #[schema(value_type = String, required = true, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00")]
    pub start: Option<String>,
    /// Window end, `hh:mm` (exclusive), 00:00 to 23:59; not the start. A window whose end is
    /// earlier than its start runs over midnight; the windows of a policy may not overlap.
    #[schema(value_type = String, required = true, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "06:00")]
    pub end: Option<String>,
    /// Cap inside the window in bytes/s: 1048576 (1 MB/s) to 209715200 (200 MB/s).
    #[schema(value_type = i64, required = true, minimum = 1048576, maximum = 209715200, example = 10485760)]
    pub max_bandwidth: Option<i64>,
}

/// A list file (or, for task groups, a folder of list files) at the destination.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ListFile {
    /// Object key of the list file (a folder ending in `/` for task groups).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    pub list_file_key: Option<String>,
    /// Bucket holding it (in the destination's region).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub obs_bucket: Option<String>,
    /// Number of list files, as given: stored and echoed (a group reads every file in its folder).
    #[schema(max_length = 65535)]
    pub list_file_num: Option<String>,
}

/// A CDN or custom domain to fetch source objects from (`SourceCdnReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SourceCdnReq {
    /// Host name (3-255 characters; letters, digits, `-` and `.`; not all-numeric; not a
    /// Huawei Cloud service domain), optionally with `:port`.
    #[schema(value_type = String, required = true, min_length = 3, max_length = 255, pattern = "^(?![0-9.]*(:|$))(?!.*\\.([mM][yY][hH][uU][aA][wW][eE][iI][cC][lL][oO][uU][dD]|[mM][yY][hH][wW][cC][lL][oO][uU][dD][sS])\\.[cC][oO][mM](:|$))[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*(:(\\+?0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])))?$")]
    pub domain: Option<String>,
    /// `http` or `https`.
    #[schema(required = true, schema_with = schema::cdn_protocol)]
    pub protocol: Option<String>,
    /// URL signing: `NONE`, `ALIYUN_OSS_A|B|C`, `TENCENT_COS_A|B|C|D`.
    #[schema(required = true, schema_with = schema::cdn_authentication_type)]
    pub authentication_type: Option<String>,
    /// Signing key, required unless `authentication_type` is `NONE`; never returned.
    #[schema(value_type = Option<String>, max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub authentication_key: Option<SecretString>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub crypto_type: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub kms_key_id: Option<String>,
}

/// SMN notification settings.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SmnConfig {
    /// SMN topic URN (stored and echoed: omsd cannot send SMN notifications).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub topic_urn: Option<String>,
    /// `SUCCESS` and/or `FAILURE`.
    #[schema(required = true, schema_with = schema::smn_trigger_conditions)]
    pub trigger_conditions: Option<Vec<String>>,
    /// `zh-cn` or `en-us`.
    #[schema(schema_with = schema::smn_language)]
    pub language: Option<String>,
    /// Message template name.
    #[schema(max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub message_template_name: Option<String>,
}

/// The source of a task (`SrcNodeReq`) or task group (`TaskGroupSrcNode`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SrcNodeReq {
    /// Source cloud (default `Aliyun`).
    #[schema(schema_with = schema::source_cloud_type)]
    pub cloud_type: Option<String>,
    /// Source region (required unless the source is a URL list); omsd must know it, from its
    /// cloud's public regions or an `[[endpoints]]` rule.
    #[schema(max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub region: Option<String>,
    /// Source access key (required for S3-compatible clouds).
    #[schema(value_type = Option<String>, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub ak: Option<SecretString>,
    /// Source secret key (required for S3-compatible clouds).
    #[schema(value_type = Option<String>, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub sk: Option<SecretString>,
    /// Temporary security token.
    #[schema(value_type = Option<String>, max_length = 16384, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub security_token: Option<SecretString>,
    /// Azure connection string (required for Azure): `;`-separated `Key=Value` pairs naming an
    /// `AccountName`, a `BlobEndpoint` or `UseDevelopmentStorage`.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<SecretString>,
    /// Google service-account JSON (required for Google): an object with `client_email` and,
    /// unless `disable_oauth` is true, `private_key`.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<SecretString>,
    /// Tencent APPID (required for Tencent).
    #[schema(max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub app_id: Option<String>,
    /// Source bucket (required unless the source is a URL list).
    #[schema(max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub bucket: Option<String>,
    /// Keys (object mode) or prefixes (prefix mode; `[""]` = the whole bucket): 1-10000 of them
    /// in those modes, none in list modes.
    #[schema(schema_with = schema::object_keys)]
    pub object_key: Option<Vec<String>>,
    /// List file (list and URL-list modes only, where it is required).
    pub list_file: Option<ListFile>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub crypto_type: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub kms_key_id: Option<String>,
}

/// The destination of a task (`DstNodeReq`) or task group (`TaskGroupDstNode`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DstNodeReq {
    /// Destination access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub ak: Option<SecretString>,
    /// Destination secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub sk: Option<SecretString>,
    /// Temporary security token.
    #[schema(value_type = Option<String>, max_length = 16384, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub security_token: Option<SecretString>,
    /// Destination bucket objects are copied into.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub bucket: Option<String>,
    /// Destination region; omsd must know it, as a Huawei Cloud OBS region or from an
    /// `[[endpoints]]` rule with cloud type `HEC`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub region: Option<String>,
    /// Destination cloud: only `HEC`.
    #[schema(schema_with = schema::destination_cloud_type)]
    pub cloud_type: Option<String>,
    /// Prefix put before every key.
    #[schema(max_length = 1024)]
    pub save_prefix: Option<String>,
    /// `DEFAULT` or `KMS`.
    #[schema(schema_with = schema::crypto_type)]
    pub crypto_type: Option<String>,
    /// KMS key id, with crypto_type `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub kms_key_id: Option<String>,
}

/// `POST /v2/{project_id}/tasks` (`CreateTaskReq`) and, with upper-case task types,
/// `POST /v2/{project_id}/taskgroups` (`CreateTaskGroupReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTaskReq {
    /// Tasks: `object` (default), `prefix`, `list`, `url_list`. Groups: `PREFIX` (default),
    /// `LIST`, `URL_LIST`.
    pub task_type: Option<String>,
    /// Where objects come from, with the source's credentials.
    #[schema(value_type = SrcNodeReq, required = true)]
    pub src_node: Option<SrcNodeReq>,
    /// Where objects go, with the destination's credentials.
    #[schema(value_type = DstNodeReq, required = true)]
    pub dst_node: Option<DstNodeReq>,
    /// SSE-KMS at the destination with the store's default key.
    #[schema(schema_with = schema::enable_kms)]
    pub enable_kms: Option<bool>,
    /// Free text, at most 255 characters without `^<>&"'\\`.
    #[schema(max_length = 255, pattern = r#"^[^\^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub description: Option<String>,
    /// Migrate only objects modified after this Unix time, in seconds.
    #[schema(minimum = 0, maximum = 253_402_300_799_i64)]
    pub migrate_since: Option<i64>,
    /// Up to 5 non-overlapping throttling windows.
    #[schema(max_items = 5)]
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
    #[schema(schema_with = schema::overwrite_mode)]
    pub object_overwrite_mode: Option<String>,
    /// Destination storage class.
    #[schema(schema_with = schema::storage_policy)]
    pub dst_storage_policy: Option<String>,
    /// Verification: `size_last_modified` (default), `crc64`, `no_check` (URL lists only).
    #[schema(schema_with = schema::consistency_check)]
    pub consistency_check: Option<String>,
    /// Requester pays on the source.
    pub enable_requester_pays: Option<bool>,
    /// `HIGH`, `MEDIUM` or `LOW` (tasks only; task groups ignore it).
    pub task_priority: Option<String>,
    /// An omsd extension (not in OMS): list and compare exactly as a run would, write nothing
    /// at the destination, and report the plan in `plan`: what would be copied, overwritten
    /// and skipped, and how long the project's last runs' speed predicts.
    pub dry_run: Option<bool>,
}

/// `POST .../tasks/{task_id}/start` (`StartTaskReq`), `PUT .../taskgroups/{group_id}/start`
/// (`StartTaskGroupReq`) and `PUT .../taskgroups/{group_id}/retry` (`RetryTaskGroupReq`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartTaskReq {
    /// Source access key: required when the source is S3-compatible (not for URL lists, Google
    /// or Azure).
    #[schema(value_type = Option<String>, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_ak: Option<SecretString>,
    /// Source secret key: required when the source is S3-compatible.
    #[schema(value_type = Option<String>, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_sk: Option<SecretString>,
    /// Source security token.
    #[schema(value_type = Option<String>, max_length = 16384, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub src_security_token: Option<SecretString>,
    /// Azure connection string: required when the source is Azure (see `SrcNodeReq`).
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<SecretString>,
    /// Google service-account JSON: required when the source is Google (see `SrcNodeReq`).
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<SecretString>,
    /// Destination access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_ak: Option<SecretString>,
    /// Destination secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_sk: Option<SecretString>,
    /// Destination security token.
    #[schema(value_type = Option<String>, max_length = 16384, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub dst_security_token: Option<SecretString>,
    /// CDN signing key: required when the source CDN signs URLs.
    #[schema(value_type = Option<String>, max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub source_cdn_authentication_key: Option<SecretString>,
    /// Retransmit only the failed objects.
    pub migrate_failed_object: Option<bool>,
    /// `DEFAULT` or `KMS`, as `src_node.crypto_type` at creation.
    #[schema(schema_with = schema::crypto_type)]
    pub src_crypto_type: Option<String>,
    /// KMS key id, with `src_crypto_type` `KMS` only.
    #[schema(schema_with = schema::kms_key_id)]
    pub src_kms_key_id: Option<String>,
    /// `DEFAULT` or `KMS`, as `dst_node.crypto_type` at creation: when given, it must be what
    /// the task was created with.
    #[schema(schema_with = schema::crypto_type)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id, with `dst_crypto_type` `KMS` only: the task's own.
    #[schema(schema_with = schema::kms_key_id)]
    pub dst_kms_key_id: Option<String>,
    /// `DEFAULT` (a CDN cannot take `KMS`), as `source_cdn.crypto_type` at creation.
    #[schema(schema_with = schema::crypto_type)]
    pub source_cdn_crypto_type: Option<String>,
    /// KMS key id: a CDN cannot take one.
    #[schema(schema_with = schema::kms_key_id)]
    pub source_cdn_kms_key_id: Option<String>,
}

/// `PUT .../tasks/{task_id}/bandwidth-policy` and `PUT .../taskgroups/{group_id}/update`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateBandwidthPolicyReq {
    /// The new windows, at most 5, not overlapping (an empty list removes throttling).
    #[schema(value_type = Vec<BandwidthPolicyDto>, required = true, max_items = 5)]
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
}

/// `POST .../tasks/batch-update`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchUpdateTasksReq {
    /// Update every task of this group (exclusive with `ids`).
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub group_id: Option<String>,
    /// Update these tasks (exclusive with `group_id`).
    #[schema(schema_with = schema::task_ids)]
    pub ids: Option<Vec<i64>>,
    /// The new windows, at most 5, not overlapping (an empty list removes throttling).
    #[schema(value_type = Vec<BandwidthPolicyDto>, required = true, max_items = 5)]
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
    /// New priority; applied to waiting, paused and failed tasks.
    #[schema(schema_with = schema::new_task_priority)]
    pub task_priority: Option<String>,
}
