//! What a task or task group migrates, and how: the spec stored with it (never any secret).

use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as OMS writes it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            /// Parses the OMS spelling, ignoring ASCII case.
            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(raw))
            }

            /// The accepted values, for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// A source cloud (`src_node.cloud_type`).
    CloudType {
        /// Amazon S3.
        Aws => "AWS",
        /// Azure Blob Storage.
        Azure => "Azure",
        /// Alibaba Cloud OSS (the OMS default).
        Aliyun => "Aliyun",
        /// Tencent Cloud COS.
        Tencent => "Tencent",
        /// Huawei Cloud OBS.
        HuaweiCloud => "HuaweiCloud",
        /// QingCloud QingStor.
        QingCloud => "QingCloud",
        /// Kingsoft Cloud KS3.
        KingsoftCloud => "KingsoftCloud",
        /// Baidu BOS.
        Baidu => "Baidu",
        /// Qiniu Kodo.
        Qiniu => "Qiniu",
        /// Google Cloud Storage.
        Google => "Google",
        /// HTTP/HTTPS URLs from a URL list.
        UrlSource => "URLSource",
        /// UCloud US3.
        UCloud => "UCloud",
    }
}

/// Whether `class` (a storage class as a store names it through its S3 API) is an archive
/// class, whose objects must be restored before they can be read: S3's `GLACIER` and
/// `DEEP_ARCHIVE`, Huawei OBS's `COLD`, Tencent COS's `ARCHIVE` and `DEEP_ARCHIVE`, Aliyun OSS's
/// `Archive`, `ColdArchive` and `DeepColdArchive`. (`GLACIER_IR` is read at once.)
pub fn is_archive_class(class: &str) -> bool {
    const ARCHIVED: [&str; 6] = [
        "GLACIER",
        "DEEP_ARCHIVE",
        "ARCHIVE",
        "COLD",
        "COLDARCHIVE",
        "DEEPCOLDARCHIVE",
    ];
    ARCHIVED.iter().any(|a| a.eq_ignore_ascii_case(class))
}

impl CloudType {
    /// Whether the source speaks the S3 protocol with an access key pair.
    pub const fn is_s3_compatible(self) -> bool {
        !matches!(self, Self::Azure | Self::Google | Self::UrlSource)
    }
}

wire_enum! {
    /// How a task selects its source objects.
    TaskKind {
        /// Listed keys; keys ending in `/` are folders.
        Object => "object",
        /// Everything under the listed prefixes (`[""]` = the whole bucket).
        Prefix => "prefix",
        /// Keys read from a list file.
        List => "list",
        /// URLs read from a URL-list file.
        UrlList => "url_list",
    }
}

impl TaskKind {
    /// The upper-case spelling task groups use (`PREFIX`, `LIST`, `URL_LIST`).
    pub fn group_str(self) -> String {
        self.as_str().to_ascii_uppercase()
    }
}

wire_enum! {
    /// What to do with an object that already exists at the destination.
    OverwriteMode {
        /// Skip it without comparing.
        NoOverwrite => "NO_OVERWRITE",
        /// Overwrite when the size differs or the source is newer (the default).
        SizeLastModified => "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE",
        /// Overwrite when the CRC64s both sides report differ (as `SizeLastModified` when a
        /// side reports none).
        Crc64 => "CRC64_COMPARISON_OVERWRITE",
        /// Always overwrite.
        FullOverwrite => "FULL_OVERWRITE",
    }
}

wire_enum! {
    /// How a migrated object is verified.
    ConsistencyCheck {
        /// Same size and a destination at least as new (the default).
        SizeLastModified => "size_last_modified",
        /// The CRC-64 of the bytes sent against the ones the source and the destination report
        /// (size and time where neither reports one).
        Crc64 => "crc64",
        /// No comparison beyond a complete transfer (URL sources only).
        NoCheck => "no_check",
    }
}

impl ConsistencyCheck {
    /// Parses a value, accepting `transmission` (the sync-task spelling of `no_check`).
    pub fn parse_lenient(raw: &str) -> Option<Self> {
        if raw.eq_ignore_ascii_case("transmission") {
            Some(Self::NoCheck)
        } else {
            Self::parse(raw)
        }
    }
}

wire_enum! {
    /// The destination storage class.
    StoragePolicy {
        /// Standard (the default).
        Standard => "STANDARD",
        /// Infrequent access (written as S3's `STANDARD_IA`).
        InfrequentAccess => "IA",
        /// Archive (written as S3's `GLACIER`).
        Archive => "ARCHIVE",
        /// Deep archive (written as S3's `DEEP_ARCHIVE`).
        DeepArchive => "DEEP_ARCHIVE",
        /// Map each source object's class to the nearest destination class.
        SourceMapping => "SRC_STORAGE_MAPPING",
    }
}

wire_enum! {
    /// The order in which workers claim waiting tasks.
    TaskPriority {
        /// Claimed first.
        High => "HIGH",
        /// The default, and what a group creates its tasks with.
        Medium => "MEDIUM",
        /// Claimed last.
        Low => "LOW",
    }
}

impl TaskPriority {
    /// The sort rank: lower is claimed first.
    pub const fn rank(self) -> i64 {
        match self {
            Self::High => 0,
            Self::Medium => 1,
            Self::Low => 2,
        }
    }

    /// The priority with sort rank `rank`.
    pub fn from_rank(rank: i64) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.rank() == rank)
    }
}

wire_enum! {
    /// How URLs to a CDN domain are signed.
    CdnAuthType {
        /// Public: no signature.
        None => "NONE",
        /// Qiniu's private URL signature (not documented; not supported here).
        QiniuPrivate => "QINIU_PRIVATE_AUTHENTICATION",
        /// Aliyun CDN type A (`?auth_key=`).
        AliyunOssA => "ALIYUN_OSS_A",
        /// Aliyun CDN type B (`/<ts>/<md5>/path`).
        AliyunOssB => "ALIYUN_OSS_B",
        /// Aliyun CDN type C (`/<md5>/<hexts>/path`).
        AliyunOssC => "ALIYUN_OSS_C",
        /// Kingsoft's private URL signature (not documented; not supported here).
        KsyunPrivate => "KSYUN_PRIVATE_AUTHENTICATION",
        /// Azure SAS tokens (not supported here).
        AzureSasToken => "AZURE_SAS_TOKEN",
        /// Tencent CDN TypeA (`?sign=`).
        TencentCosA => "TENCENT_COS_A",
        /// Tencent CDN TypeB (`/<yyyymmddhhmm>/<md5>/path`, Beijing time).
        TencentCosB => "TENCENT_COS_B",
        /// Tencent CDN TypeC (`/<md5>/<hexts>/path`).
        TencentCosC => "TENCENT_COS_C",
        /// Tencent CDN TypeD (`?sign=<md5>&t=<ts>`).
        TencentCosD => "TENCENT_COS_D",
    }
}

impl CdnAuthType {
    /// Whether URLs are signed with a key the user supplies.
    pub const fn needs_key(self) -> bool {
        !matches!(self, Self::None | Self::QiniuPrivate | Self::KsyunPrivate)
    }

    /// Whether this installation can sign URLs of this type.
    pub const fn is_supported(self) -> bool {
        !matches!(
            self,
            Self::QiniuPrivate | Self::KsyunPrivate | Self::AzureSasToken
        )
    }
}

wire_enum! {
    /// The scheme used to reach a CDN domain.
    CdnProtocol {
        /// Plain HTTP (`http://domain/key`).
        Http => "http",
        /// HTTPS (`https://domain/key`).
        Https => "https",
    }
}

wire_enum! {
    /// Where a task comes from.
    GroupType {
        /// Created on its own.
        Normal => "NORMAL_TASK",
        /// Created by a task group.
        Group => "GROUP_TASK",
        /// Created by a sync task.
        Sync => "SYNC_TASK",
    }
}

wire_enum! {
    /// When an SMN notification is sent.
    SmnTrigger {
        /// When the migration succeeds.
        Success => "SUCCESS",
        /// When the migration fails.
        Failure => "FAILURE",
    }
}

wire_enum! {
    /// The language of an SMN notification.
    SmnLanguage {
        /// Simplified Chinese (`zh-cn`).
        ZhCn => "zh-cn",
        /// English (`en-us`).
        EnUs => "en-us",
    }
}

/// The source side of a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// The source provider; it decides the connector and the endpoint.
    pub cloud_type: CloudType,
    /// The bucket's region ("" for URL lists).
    pub region: String,
    /// The bucket ("" for URL lists).
    pub bucket: String,
    /// Tencent's APPID ("" elsewhere).
    pub app_id: String,
    /// Object keys (object mode) or prefixes (prefix mode).
    pub object_keys: Vec<String>,
    /// The list file (list and URL-list modes).
    pub list_file: Option<ListFileSpec>,
    /// A CDN domain to download through (its key is a credential).
    pub cdn: Option<CdnSpec>,
}

/// Where a list file (or, for groups, a folder of list files) lives: at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFileSpec {
    /// The object key (a folder for task groups).
    pub list_file_key: String,
    /// The bucket holding it.
    pub obs_bucket: String,
    /// The number of list files, as given ("" when not given).
    pub list_file_num: String,
}

/// A CDN or custom domain to fetch source objects from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdnSpec {
    /// The host name objects are fetched from: `<protocol>://<domain>/<key>`.
    pub domain: String,
    /// `http` or `https`.
    pub protocol: CdnProtocol,
    /// How URLs are signed; the key is a credential, stored sealed.
    pub authentication_type: CdnAuthType,
}

/// The destination side of a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationSpec {
    /// The destination region.
    pub region: String,
    /// The destination bucket.
    pub bucket: String,
    /// Prefix put before every key ("" for none).
    pub save_prefix: String,
    /// Server-side encryption every written object gets (`enable_kms`, `dst_node.crypto_type:
    /// KMS`); `None`: the bucket's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<Kms>,
}

/// SSE-KMS at the destination: the store encrypts each object with a KMS key and says so in
/// its answer (`x-amz-server-side-encryption: aws:kms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kms {
    /// The key (`kms_key_id`); `None`: the store's own default KMS key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl Kms {
    /// Whether a key id a store answered (a bare id, or an ARN ending in `key/{id}`) names
    /// this key; any key does when none was given.
    pub fn is_key(&self, answered: Option<&str>) -> bool {
        match (&self.key_id, answered) {
            (None, _) => true,
            (Some(wanted), Some(answered)) => {
                answered == wanted || answered.ends_with(&format!("/{wanted}"))
            }
            (Some(_), None) => false,
        }
    }
}

impl std::fmt::Display for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key_id {
            Some(id) => write!(f, "SSE-KMS with key {id}"),
            None => f.write_str("SSE-KMS with the store's default key"),
        }
    }
}

/// An SMN notification request. SMN is not reachable from a self-hosted install: the worker
/// sends a signed webhook to the receivers the operator configured for `topic_urn` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmnSpec {
    /// The SMN topic URN, as given (its last segment is echoed as `topic_name`).
    pub topic_urn: String,
    /// When OMS would notify: on success, on failure, or both.
    pub trigger_conditions: Vec<SmnTrigger>,
    /// The message language, when given.
    pub language: Option<SmnLanguage>,
    /// A message template name.
    pub message_template_name: Option<String>,
}

/// The project segment of an SMN topic URN (`urn:smn:<region>:<project_id>:<topic>`), when it
/// is one.
pub fn topic_project(topic_urn: &str) -> Option<&str> {
    let parts: Vec<&str> = topic_urn.split(':').collect();
    match parts.as_slice() {
        ["urn", "smn", region, project, topic]
            if !region.is_empty() && !project.is_empty() && !topic.is_empty() =>
        {
            Some(project)
        }
        _ => None,
    }
}

/// Everything about a migration that does not change while it runs: source, destination and
/// options. Shared by tasks and task groups (a group's tasks inherit its spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationSpec {
    /// How source objects are selected.
    pub kind: TaskKind,
    /// Where objects come from.
    pub source: SourceSpec,
    /// Where objects go (an S3-compatible bucket).
    pub destination: DestinationSpec,
    /// Free text ("" when unset).
    pub description: String,
    /// Only objects modified after this Unix time (seconds) are migrated; 0 = all.
    pub migrate_since_secs: i64,
    /// Same-name handling.
    pub object_overwrite_mode: OverwriteMode,
    /// How a copied or already-present object is checked against its source.
    pub consistency_check: ConsistencyCheck,
    /// Destination storage class.
    pub dst_storage_policy: StoragePolicy,
    /// Migrate user metadata (Content-Type always migrates).
    pub enable_metadata_migration: bool,
    /// Restore archived source objects before copying.
    pub enable_restore: bool,
    /// Record failed objects, so that they can be retried alone.
    pub enable_failed_object_recording: bool,
    /// The requester pays on the source side.
    pub enable_requester_pays: bool,
    /// Notification settings.
    pub smn: Option<SmnSpec>,
    /// An omsd extension: list and compare as a run would, write nothing, and report the plan
    /// (what would be copied, overwritten and skipped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}
