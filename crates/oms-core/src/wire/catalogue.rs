//! Bodies of the bucket and catalogue helpers (`/v2/{project_id}/objectstorage/...` and
//! `/privacy-agreements`): what a console asks before it creates a task. Credentials in these
//! requests serve the one call and are dropped.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::SourceCdnReq;
use super::schema;

/// The store a bucket helper reaches and the keys it is reached with: the fields every
/// account- or bucket-level helper body has (flattened into each: on the wire they are fields
/// of the body itself).
#[derive(Debug, Deserialize, ToSchema)]
pub struct HelperAccessReq {
    /// The cloud (`HEC`: the destination, Huawei Cloud OBS).
    #[schema(required = true, schema_with = schema::helper_cloud_type)]
    pub cloud_type: Option<String>,
    /// Access key (S3-compatible clouds).
    #[schema(value_type = Option<String>, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub ak: Option<SecretString>,
    /// Secret key (S3-compatible clouds).
    #[schema(value_type = Option<String>, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub sk: Option<SecretString>,
    /// Google service-account JSON (Google).
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<SecretString>,
    /// Azure connection string (Azure).
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<SecretString>,
    /// Tencent APPID.
    #[schema(max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub app_id: Option<String>,
}

/// `POST .../objectstorage/buckets` (`ListBucketsReq`): the buckets the keys see.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ListBucketsReq {
    /// The cloud and the keys.
    #[serde(flatten)]
    pub access: HelperAccessReq,
}

/// `POST .../objectstorage/buckets/regions` (`ShowBucketRegionReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowBucketRegionReq {
    /// The cloud and the keys.
    #[serde(flatten)]
    pub access: HelperAccessReq,
    /// The bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub bucket_name: Option<String>,
}

/// `POST .../objectstorage/buckets/prefix` (`CheckPrefixReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckPrefixReq {
    /// The cloud and the keys.
    #[serde(flatten)]
    pub access: HelperAccessReq,
    /// The bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub bucket_name: Option<String>,
    /// The object key or prefix to look for.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    pub file_name: Option<String>,
    /// The bucket's region: required (not empty) for S3-compatible clouds and HEC; ignored for
    /// Azure and Google.
    #[schema(value_type = String, required = true, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub data_center: Option<String>,
    /// Temporary security token.
    #[schema(value_type = Option<String>, max_length = 16384, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub security_token: Option<SecretString>,
}

/// `POST .../objectstorage/buckets/objects` (`ShowBucketReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowBucketReq {
    /// The cloud and the keys.
    #[serde(flatten)]
    pub access: HelperAccessReq,
    /// The folder to list, ending in `/` (`/` alone: the whole bucket). Every object whose key
    /// starts with it is listed, at any depth.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1023, pattern = "/$")]
    pub file_path: Option<String>,
    /// The bucket's region: required (not empty) for S3-compatible clouds and HEC; ignored for
    /// Azure and Google.
    #[schema(value_type = String, required = true, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub data_center: Option<String>,
    /// Objects per page, 0-100 (0: 100).
    #[schema(value_type = i64, required = true, minimum = 0, maximum = 100)]
    pub page_size: Option<i64>,
    /// The last name of the previous page (`next_marker`); empty for the first page.
    #[schema(value_type = String, required = true, max_length = 1024)]
    pub behind_filename: Option<String>,
    /// The bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub bucket_name: Option<String>,
}

/// The keys `ShowCdnInfo` compares (`PrefixKeyInfo`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct PrefixKeyInfo {
    /// Up to 100 object keys of at most 2048 characters.
    #[schema(required = true, schema_with = schema::cdn_keys)]
    pub keys: Option<Vec<String>>,
}

/// `POST .../objectstorage/buckets/cdn-info` (`ShowCdnInfoReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowCdnInfoReq {
    /// Access key of the bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub ak: Option<SecretString>,
    /// Secret key of the bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub sk: Option<SecretString>,
    /// Azure connection string (Azure).
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<SecretString>,
    /// The cloud of the bucket (not Google).
    #[schema(required = true, schema_with = schema::cdn_cloud_type)]
    pub cloud_type: Option<String>,
    /// The bucket's region.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub region: Option<String>,
    /// Tencent APPID.
    #[schema(max_length = 255, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub app_id: Option<String>,
    /// The bucket.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub bucket: Option<String>,
    /// The keys to compare.
    #[schema(value_type = PrefixKeyInfo, required = true)]
    pub prefix: Option<PrefixKeyInfo>,
    /// The CDN domain and how its URLs are signed.
    #[schema(value_type = SourceCdnReq, required = true)]
    pub source_cdn: Option<SourceCdnReq>,
}

/// `POST .../objectstorage/buckets/url-source-list-file` (`CheckUrlSourceListFileFormatReq`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckUrlSourceListFileFormatReq {
    /// The destination bucket holding the list file.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub obs_bucket: Option<String>,
    /// The list file's key (`.txt`), or a folder of list files ending in `/`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1024)]
    pub list_file_key: Option<String>,
    /// Destination access key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub ak: Option<SecretString>,
    /// Destination secret key.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub sk: Option<SecretString>,
    /// The destination region.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100, pattern = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#)]
    pub region: Option<String>,
}

/// One object of `ShowBucketObjects` (`ShowBucketRecord`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowBucketRecord {
    /// The object's full key.
    pub name: String,
    /// Its size in bytes, as a string (`--` when the store does not tell).
    pub size: String,
}

/// The answer of `ShowBucketObjects`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowBucketObjectsResponse {
    /// Whether more objects follow.
    pub next_page: bool,
    /// The `behind_filename` of the next page (the last name of this one).
    pub next_marker: String,
    /// The objects, in key order.
    pub records: Vec<ShowBucketRecord>,
}

/// The answer of `ShowBucketRegion`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowBucketRegionResponse {
    /// The region as the store reports it.
    pub id: String,
    /// Its name (from omsd's catalogue, else the region itself).
    pub name: String,
    /// Whether omsd can migrate from it (an `[[endpoints]]` rule or a known public endpoint).
    pub support: bool,
}

/// The answer of `CheckPrefix`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckPrefixResponse {
    /// Whether an object of that name, or objects under that prefix, exist.
    pub exist: bool,
}

/// One compared key of `ShowCdnInfo` (`CheckedKey`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckedKey {
    /// The key.
    pub key: String,
    /// Whether the bucket and the CDN answer with the same entity tag.
    pub is_etag_matching: bool,
    /// Whether the object exists in the bucket.
    pub is_object_existing: bool,
}

/// The answer of `ShowCdnInfo`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowCdnInfoResponse {
    /// Whether the CDN serves what the bucket holds: every key that exists in the bucket has
    /// the same entity tag through the CDN.
    pub is_same_cloud_type: bool,
    /// Whether every key that exists in the bucket could be fetched through the CDN.
    pub is_download_available: bool,
    /// Per key.
    pub checked_keys: Vec<CheckedKey>,
}

/// A region of a cloud (`RegionInfo`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegionInfo {
    /// The cloud.
    pub cloud_type: String,
    /// The region code.
    pub value: String,
    /// Its name.
    pub description: String,
}

/// The regions of one cloud (`ShowRegionInfoResp`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowRegionInfoResp {
    /// The cloud (`AWS`, `Aliyun`, ..., `HEC`).
    pub service_name: String,
    /// Its regions: omsd's catalogue, then those of `[[endpoints]]` rules.
    pub region_list: Vec<RegionInfo>,
}
