//! Parsing the bucket helpers' requests (`/v2/{project_id}/objectstorage/buckets...`) into
//! what a connector needs: which cloud, where, with which keys. The keys serve one call.

use secrecy::SecretString;

use super::{
    SourceFields, check_source_credentials, non_empty, required_enum, required_secret, secret,
    secret_text, source_cdn,
};
use crate::ValidationError;
use crate::credentials::SourceCredentials;
use crate::spec::{CdnSpec, CloudType};
use crate::text::{check_len, check_no_xss};
use crate::wire::{
    CheckPrefixReq, CheckUrlSourceListFileFormatReq, HelperAccessReq, ListBucketsReq,
    ShowBucketRegionReq, ShowBucketReq, ShowCdnInfoReq,
};

type Result<T> = std::result::Result<T, ValidationError>;

/// The most objects one `ShowBucketObjects` page holds (and what `page_size` 0 means).
pub const MAX_PAGE_SIZE: i64 = 100;
/// The most keys one `ShowCdnInfo` compares.
pub const MAX_CDN_KEYS: usize = 100;
/// The longest key `ShowCdnInfo` compares.
pub const MAX_CDN_KEY_LEN: usize = 2048;

/// The cloud a helper reaches: a source cloud, or the destination (`HEC`, Huawei Cloud OBS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperCloud {
    /// A source cloud.
    Source(CloudType),
    /// The destination cloud.
    Destination,
}

impl HelperCloud {
    /// As OMS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source(cloud) => cloud.as_str(),
            Self::Destination => super::DESTINATION_CLOUD_TYPE,
        }
    }

    /// Whether the cloud is reached with an S3 access key pair at a region's endpoint.
    pub fn is_s3_compatible(self) -> bool {
        match self {
            Self::Source(cloud) => cloud.is_s3_compatible(),
            Self::Destination => true,
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        if raw.eq_ignore_ascii_case(super::DESTINATION_CLOUD_TYPE) {
            Some(Self::Destination)
        } else {
            CloudType::parse(raw).map(Self::Source)
        }
    }

    fn expected() -> String {
        format!(
            "{}, {}",
            CloudType::expected(),
            super::DESTINATION_CLOUD_TYPE
        )
    }
}

/// How a helper reaches a bucket's store: the cloud, the region (where the request names one)
/// and the keys of the request.
#[derive(Debug, Clone)]
pub struct StoreAccess {
    /// The cloud.
    pub cloud: HelperCloud,
    /// The region, for S3-compatible clouds (`None`: the request names none).
    pub region: Option<String>,
    /// Tencent APPID (empty: none).
    pub app_id: String,
    /// The keys.
    pub credentials: SourceCredentials,
}

impl StoreAccess {
    /// The bucket name the store knows: Tencent COS names carry the APPID.
    pub fn bucket_name(&self, bucket: &str) -> String {
        let suffix = format!("-{}", self.app_id);
        if self.cloud == HelperCloud::Source(CloudType::Tencent)
            && !self.app_id.is_empty()
            && !bucket.ends_with(&suffix)
        {
            format!("{bucket}{suffix}")
        } else {
            bucket.to_owned()
        }
    }
}

/// What a helper body names of its store: the shared fields, a temporary token where the body
/// takes one, and the region field where it has one (its name and value).
struct AccessFields {
    shared: HelperAccessReq,
    security_token: Option<SecretString>,
    region: Option<(&'static str, Option<String>)>,
}

impl AccessFields {
    /// Only the shared fields.
    fn of(shared: HelperAccessReq) -> Self {
        Self {
            shared,
            security_token: None,
            region: None,
        }
    }
}

const FIELDS: SourceFields = SourceFields {
    ak: "ak",
    sk: "sk",
    connection_string: "connection_string",
    json_auth_file: "json_auth_file",
};

fn access(fields: AccessFields) -> Result<StoreAccess> {
    let AccessFields {
        shared,
        security_token,
        region,
    } = fields;
    let cloud = required_enum(
        "cloud_type",
        shared.cloud_type.as_deref(),
        HelperCloud::parse,
        HelperCloud::expected,
    )?;
    if cloud == HelperCloud::Source(CloudType::UrlSource) {
        return Err(ValidationError::new(
            "cloud_type",
            "URLSource has no buckets: a URL list is read from the destination bucket",
        ));
    }
    let credentials = SourceCredentials {
        ak: secret("ak", shared.ak, 1, 100)?,
        sk: secret("sk", shared.sk, 1, 100)?,
        security_token: secret("security_token", security_token, 1, 16384)?,
        connection_string: secret_text("connection_string", shared.connection_string, 2048)?,
        json_auth_file: secret_text("json_auth_file", shared.json_auth_file, 65535)?,
    };
    let checked_as = match cloud {
        HelperCloud::Source(source) => source,
        // The destination takes an access key pair, like any S3-compatible cloud.
        HelperCloud::Destination => CloudType::HuaweiCloud,
    };
    check_source_credentials(checked_as, &credentials, FIELDS)?;
    let app_id = shared.app_id.unwrap_or_default();
    check_no_xss("app_id", &app_id, 0, 255)?;
    let region = match region {
        Some((field, raw)) => {
            let region = raw.unwrap_or_default();
            check_no_xss(field, &region, 0, 100)?;
            if region.is_empty() && cloud.is_s3_compatible() {
                return Err(ValidationError::new(field, "is required"));
            }
            non_empty(Some(&region)).map(str::to_owned)
        }
        None => None,
    };
    Ok(StoreAccess {
        cloud,
        region,
        app_id,
        credentials,
    })
}

fn bucket(field: &str, raw: Option<String>) -> Result<String> {
    let bucket = raw.unwrap_or_default();
    check_no_xss(field, &bucket, 1, 1024)?;
    Ok(bucket)
}

/// `ShowBucketList`.
pub fn list_buckets(req: ListBucketsReq) -> Result<StoreAccess> {
    access(AccessFields::of(req.access))
}

/// `ShowBucketRegion`: the access and the bucket.
pub fn bucket_region(req: ShowBucketRegionReq) -> Result<(StoreAccess, String)> {
    let access = access(AccessFields::of(req.access))?;
    Ok((access, bucket("bucket_name", req.bucket_name)?))
}

/// What `CheckPrefix` looks for.
#[derive(Debug, Clone)]
pub struct PrefixCheck {
    /// Where.
    pub access: StoreAccess,
    /// The bucket.
    pub bucket: String,
    /// The object key or prefix.
    pub name: String,
}

/// `CheckPrefix`.
pub fn check_prefix(req: CheckPrefixReq) -> Result<PrefixCheck> {
    let access = access(AccessFields {
        shared: req.access,
        security_token: req.security_token,
        region: Some(("data_center", req.data_center)),
    })?;
    let name = req.file_name.unwrap_or_default();
    check_len("file_name", &name, 1, super::MAX_KEY_LEN)?;
    Ok(PrefixCheck {
        access,
        bucket: bucket("bucket_name", req.bucket_name)?,
        name,
    })
}

/// One page of `ShowBucketObjects`.
#[derive(Debug, Clone)]
pub struct ObjectPage {
    /// Where.
    pub access: StoreAccess,
    /// The bucket.
    pub bucket: String,
    /// The key prefix listed (`""`: the whole bucket).
    pub prefix: String,
    /// List keys after this one (`None`: from the start).
    pub after: Option<String>,
    /// Objects per page, 1-100.
    pub page_size: i32,
}

/// `ShowBucketObjects`: `file_path` ends in `/`; `/` alone is the whole bucket.
pub fn bucket_objects(req: ShowBucketReq) -> Result<ObjectPage> {
    let access = access(AccessFields {
        shared: req.access,
        security_token: None,
        region: Some(("data_center", req.data_center)),
    })?;
    let path = req.file_path.unwrap_or_default();
    check_len("file_path", &path, 1, 1023)?;
    if !path.ends_with('/') {
        return Err(ValidationError::new(
            "file_path",
            "must end with '/' ('/' alone: the whole bucket)",
        ));
    }
    let prefix = if path == "/" { String::new() } else { path };
    let page_size = req
        .page_size
        .ok_or_else(|| ValidationError::new("page_size", "is required (0-100)"))?;
    if !(0..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ValidationError::new(
            "page_size",
            format!("must be between 0 and {MAX_PAGE_SIZE}, got {page_size}"),
        ));
    }
    let page_size = if page_size == 0 {
        MAX_PAGE_SIZE
    } else {
        page_size
    };
    let after = req.behind_filename.unwrap_or_default();
    check_len("behind_filename", &after, 0, super::MAX_KEY_LEN)?;
    Ok(ObjectPage {
        access,
        bucket: bucket("bucket_name", req.bucket_name)?,
        prefix,
        after: non_empty(Some(&after)).map(str::to_owned),
        page_size: i32::try_from(page_size).unwrap_or(100),
    })
}

/// What `ShowCdnInfo` compares.
#[derive(Debug, Clone)]
pub struct CdnCheck {
    /// The bucket behind the CDN.
    pub access: StoreAccess,
    /// The bucket.
    pub bucket: String,
    /// The CDN.
    pub cdn: CdnSpec,
    /// Its signing key.
    pub cdn_key: Option<SecretString>,
    /// The keys to compare.
    pub keys: Vec<String>,
}

/// `ShowCdnInfo`.
pub fn cdn_info(req: ShowCdnInfoReq) -> Result<CdnCheck> {
    let access = access(AccessFields {
        shared: HelperAccessReq {
            cloud_type: req.cloud_type,
            ak: Some(required_secret("ak", req.ak)?),
            sk: Some(required_secret("sk", req.sk)?),
            json_auth_file: None,
            connection_string: req.connection_string,
            app_id: req.app_id,
        },
        security_token: None,
        region: Some(("region", req.region)),
    })?;
    if !access.cloud.is_s3_compatible() {
        return Err(ValidationError::new(
            "cloud_type",
            "must be an S3-compatible cloud or HEC",
        ));
    }
    let keys = req.prefix.and_then(|p| p.keys).unwrap_or_default();
    if keys.is_empty() || keys.len() > MAX_CDN_KEYS {
        return Err(ValidationError::new(
            "prefix.keys",
            format!("must hold 1-{MAX_CDN_KEYS} keys, got {}", keys.len()),
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        check_len(&format!("prefix.keys[{i}]"), key, 1, MAX_CDN_KEY_LEN)?;
    }
    let cdn = req
        .source_cdn
        .ok_or_else(|| ValidationError::new("source_cdn", "is required"))?;
    let (cdn, cdn_key) = source_cdn(cdn)?;
    Ok(CdnCheck {
        access,
        bucket: bucket("bucket", req.bucket)?,
        cdn,
        cdn_key,
        keys,
    })
}

/// What `CheckUrlSourceListFileFormat` reads.
#[derive(Debug, Clone)]
pub struct ListFileCheck {
    /// The destination: its region and keys.
    pub access: StoreAccess,
    /// The bucket holding the list file.
    pub bucket: String,
    /// The list file, or a folder of list files (ending in `/`).
    pub key: String,
}

/// `CheckUrlSourceListFileFormat`.
pub fn url_list_file(req: CheckUrlSourceListFileFormatReq) -> Result<ListFileCheck> {
    let access = access(AccessFields {
        shared: HelperAccessReq {
            cloud_type: Some(super::DESTINATION_CLOUD_TYPE.to_owned()),
            ak: Some(required_secret("ak", req.ak)?),
            sk: Some(required_secret("sk", req.sk)?),
            json_auth_file: None,
            connection_string: None,
            app_id: None,
        },
        security_token: None,
        region: Some(("region", req.region)),
    })?;
    let key = req.list_file_key.unwrap_or_default();
    check_len("list_file_key", &key, 1, super::MAX_KEY_LEN)?;
    Ok(ListFileCheck {
        access,
        bucket: bucket("obs_bucket", req.obs_bucket)?,
        key,
    })
}
