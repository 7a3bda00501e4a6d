//! Parsing requests into domain values: every rule of the OMS v2 API on request fields.
//!
//! Each function takes a wire request and returns a domain value or the first
//! [`ValidationError`], whose `field` is the JSON path of the offending field.

use secrecy::{ExposeSecret as _, SecretString};

use crate::ValidationError;
use crate::credentials::{CredentialSet, DestinationCredentials, SourceCredentials};
use crate::model::NewMigration;
use crate::spec::{
    CloudType, ConsistencyCheck, DestinationSpec, Kms, ListFileSpec, MigrationSpec, OverwriteMode,
    SmnLanguage, SmnSpec, SmnTrigger, SourceSpec, StoragePolicy, TaskKind, TaskPriority,
};
use crate::text::{DESCRIPTION_FORBIDDEN, check_chars, check_len, check_no_xss};
use crate::wire::{CreateTaskReq, DstNodeReq, ListFile, SmnConfig, SrcNodeReq};

/// The most keys or prefixes an object or prefix task may name (larger sets belong in a list file).
pub const MAX_OBJECT_KEYS: usize = 10_000;
/// The longest object key.
pub const MAX_KEY_LEN: usize = 1024;
/// The latest `migrate_since` accepted (9999-12-31T23:59:59Z, in seconds): larger values are
/// almost certainly milliseconds.
pub const MAX_MIGRATE_SINCE_SECS: i64 = 253_402_300_799;
/// The destination cloud type, the only one allowed.
pub const DESTINATION_CLOUD_TYPE: &str = "HEC";

mod catalogue;
mod cdn;
mod control;
mod credentials;

pub use catalogue::*;
use cdn::source_cdn;
pub use control::{bandwidth_policy, batch_update, start, update_bandwidth_policy};
use credentials::{SourceFields, check_source_credentials};

type Result<T> = std::result::Result<T, ValidationError>;

pub mod notification;
pub mod sync;

/// Whether the request creates a task or a task group (their rules differ a little).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Task,
    Group,
}

/// Parses `POST /v2/{project_id}/tasks`.
pub fn create_task(req: CreateTaskReq) -> Result<NewMigration> {
    create(req, Target::Task)
}

/// Parses `POST /v2/{project_id}/taskgroups`.
pub fn create_task_group(req: CreateTaskReq) -> Result<NewMigration> {
    create(req, Target::Group)
}

fn create(req: CreateTaskReq, target: Target) -> Result<NewMigration> {
    let kind = match non_empty(req.task_type.as_deref()) {
        None if target == Target::Task => TaskKind::Object,
        None => TaskKind::Prefix,
        Some(raw) => {
            let kind =
                TaskKind::parse(raw).filter(|k| target == Target::Task || *k != TaskKind::Object);
            kind.ok_or_else(|| {
                let expected = match target {
                    Target::Task => TaskKind::expected(),
                    Target::Group => "PREFIX, LIST, URL_LIST".to_owned(),
                };
                ValidationError::new(
                    "task_type",
                    format!("must be one of {expected}, got '{raw}'"),
                )
            })?
        }
    };
    let src = req
        .src_node
        .ok_or_else(|| ValidationError::new("src_node", "is required"))?;
    let dst = req
        .dst_node
        .ok_or_else(|| ValidationError::new("dst_node", "is required"))?;
    let (mut source, source_credentials) = source_node(src, kind)?;
    let default_crypto = dst
        .crypto_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("DEFAULT"));
    let (mut destination, destination_credentials) = destination_node(dst)?;
    // `enable_kms` (dropped from the SDKs in 2026-05) asks for SSE-KMS with the store's key.
    if req.enable_kms == Some(true) {
        if default_crypto {
            return Err(ValidationError::new(
                "enable_kms",
                "asks for KMS encryption, and dst_node.crypto_type DEFAULT for none: send one",
            ));
        }
        destination.kms.get_or_insert(Kms { key_id: None });
    }

    let mut cdn_key = None;
    // With a URL list, the CDN settings say how the listed URLs on that domain are signed.
    if let Some(cdn) = req.source_cdn {
        let (spec, key) = source_cdn(cdn)?;
        source.cdn = Some(spec);
        cdn_key = key;
    }

    let description = req.description.unwrap_or_default();
    check_len("description", &description, 0, 255)?;
    check_chars("description", &description, DESCRIPTION_FORBIDDEN)?;

    let migrate_since_secs = req.migrate_since.unwrap_or(0);
    if !(0..=MAX_MIGRATE_SINCE_SECS).contains(&migrate_since_secs) {
        return Err(ValidationError::new(
            "migrate_since",
            format!("must be a Unix time in seconds between 0 and {MAX_MIGRATE_SINCE_SECS}"),
        ));
    }

    let object_overwrite_mode = optional_enum(
        "object_overwrite_mode",
        req.object_overwrite_mode.as_deref(),
        OverwriteMode::parse,
        OverwriteMode::expected,
    )?
    .unwrap_or(OverwriteMode::SizeLastModified);
    let consistency_check = optional_enum(
        "consistency_check",
        req.consistency_check.as_deref(),
        ConsistencyCheck::parse_lenient,
        ConsistencyCheck::expected,
    )?
    .unwrap_or(ConsistencyCheck::SizeLastModified);
    if consistency_check == ConsistencyCheck::NoCheck && source.cloud_type != CloudType::UrlSource {
        return Err(ValidationError::new(
            "consistency_check",
            "no_check is only allowed for URLSource migrations",
        ));
    }
    if let Some(raw) = &req.dst_storage_policy {
        check_len("dst_storage_policy", raw, 0, 128)?;
    }
    let dst_storage_policy = optional_enum(
        "dst_storage_policy",
        req.dst_storage_policy.as_deref(),
        StoragePolicy::parse,
        StoragePolicy::expected,
    )?
    .unwrap_or(StoragePolicy::Standard);
    let priority = match target {
        Target::Task => optional_enum(
            "task_priority",
            req.task_priority.as_deref(),
            TaskPriority::parse,
            TaskPriority::expected,
        )?
        .unwrap_or(TaskPriority::Medium),
        Target::Group => TaskPriority::Medium,
    };
    let bandwidth_policy = bandwidth_policy(req.bandwidth_policy, "bandwidth_policy")?;
    let smn = req.smn_config.map(smn_config).transpose()?;

    Ok(NewMigration {
        spec: MigrationSpec {
            kind,
            source,
            destination,
            description,
            migrate_since_secs,
            object_overwrite_mode,
            consistency_check,
            dst_storage_policy,
            enable_metadata_migration: req.enable_metadata_migration.unwrap_or(false),
            enable_restore: req.enable_restore.unwrap_or(false),
            enable_failed_object_recording: req.enable_failed_object_recording.unwrap_or(true),
            enable_requester_pays: req.enable_requester_pays.unwrap_or(false),
            smn,
            dry_run: req.dry_run.unwrap_or(false),
        },
        bandwidth_policy,
        priority,
        credentials: CredentialSet {
            source: source_credentials,
            destination: destination_credentials,
            cdn_key,
        },
    })
}

fn source_node(src: SrcNodeReq, kind: TaskKind) -> Result<(SourceSpec, SourceCredentials)> {
    let cloud_type = match non_empty(src.cloud_type.as_deref()) {
        None => CloudType::Aliyun,
        Some(raw) => CloudType::parse(raw).ok_or_else(|| {
            ValidationError::new(
                "src_node.cloud_type",
                format!("must be one of {}, got '{raw}'", CloudType::expected()),
            )
        })?,
    };
    let url_list = kind == TaskKind::UrlList;
    if url_list != (cloud_type == CloudType::UrlSource) {
        return Err(ValidationError::new(
            "src_node.cloud_type",
            "must be URLSource exactly when task_type is url_list",
        ));
    }
    source_crypto(
        ["src_node.crypto_type", "src_node.kms_key_id"],
        src.crypto_type.as_deref(),
        src.kms_key_id.as_deref(),
    )?;

    let region = src.region.unwrap_or_default();
    check_no_xss("src_node.region", &region, 0, 100)?;
    let bucket = src.bucket.unwrap_or_default();
    check_no_xss("src_node.bucket", &bucket, 0, 1024)?;
    let app_id = src.app_id.unwrap_or_default();
    check_no_xss("src_node.app_id", &app_id, 0, 255)?;
    if !url_list {
        require_text("src_node.region", &region)?;
        require_text("src_node.bucket", &bucket)?;
    }
    if cloud_type == CloudType::Tencent {
        require_text("src_node.app_id", &app_id)?;
    }

    let credentials = SourceCredentials {
        ak: secret("src_node.ak", src.ak, 0, 100)?,
        sk: secret("src_node.sk", src.sk, 0, 100)?,
        security_token: secret("src_node.security_token", src.security_token, 0, 16_384)?,
        connection_string: secret_text("src_node.connection_string", src.connection_string, 2048)?,
        json_auth_file: secret_text("src_node.json_auth_file", src.json_auth_file, 65_535)?,
    };
    check_source_credentials(cloud_type, &credentials, SourceFields::NODE)?;

    let object_keys = src.object_key.unwrap_or_default();
    match kind {
        TaskKind::Object | TaskKind::Prefix => {
            if object_keys.is_empty() {
                let hint = if kind == TaskKind::Prefix {
                    " (use [\"\"] for the whole bucket)"
                } else {
                    ""
                };
                return Err(ValidationError::new(
                    "src_node.object_key",
                    format!("is required{hint}"),
                ));
            }
            if object_keys.len() > MAX_OBJECT_KEYS {
                return Err(ValidationError::new(
                    "src_node.object_key",
                    format!(
                        "at most {MAX_OBJECT_KEYS} entries are allowed; use a list task for more"
                    ),
                ));
            }
            // `[""]` is the whole bucket, for object tasks as for prefix tasks (the SDKs
            // document it, and the Terraform provider sends it for `object = [""]`).
            for (i, key) in object_keys.iter().enumerate() {
                check_len(&format!("src_node.object_key[{i}]"), key, 0, MAX_KEY_LEN)?;
            }
        }
        TaskKind::List | TaskKind::UrlList => {
            if !object_keys.is_empty() {
                return Err(ValidationError::new(
                    "src_node.object_key",
                    "must be empty for list migrations",
                ));
            }
        }
    }
    let list_file = match (kind, src.list_file) {
        (TaskKind::List | TaskKind::UrlList, Some(lf)) => Some(list_file(lf)?),
        (TaskKind::List | TaskKind::UrlList, None) => {
            return Err(ValidationError::new(
                "src_node.list_file",
                "is required for list migrations",
            ));
        }
        (_, Some(_)) => {
            return Err(ValidationError::new(
                "src_node.list_file",
                "is only allowed for list migrations",
            ));
        }
        (_, None) => None,
    };

    Ok((
        SourceSpec {
            cloud_type,
            region,
            bucket,
            app_id,
            object_keys,
            list_file,
            cdn: None,
        },
        credentials,
    ))
}

fn destination_node(dst: DstNodeReq) -> Result<(DestinationSpec, DestinationCredentials)> {
    if let Some(cloud) = non_empty(dst.cloud_type.as_deref())
        && !cloud.eq_ignore_ascii_case(DESTINATION_CLOUD_TYPE)
    {
        return Err(ValidationError::new(
            "dst_node.cloud_type",
            format!("must be {DESTINATION_CLOUD_TYPE}, got '{cloud}'"),
        ));
    }
    let kms = crypto(
        ["dst_node.crypto_type", "dst_node.kms_key_id"],
        dst.crypto_type.as_deref(),
        dst.kms_key_id.as_deref(),
    )?;
    let ak = required_secret("dst_node.ak", dst.ak)?;
    let sk = required_secret("dst_node.sk", dst.sk)?;
    let security_token = secret("dst_node.security_token", dst.security_token, 0, 16_384)?;
    let bucket = dst.bucket.unwrap_or_default();
    check_no_xss("dst_node.bucket", &bucket, 1, 1024)?;
    let region = dst.region.unwrap_or_default();
    check_no_xss("dst_node.region", &region, 1, 100)?;
    let save_prefix = dst.save_prefix.unwrap_or_default();
    check_len("dst_node.save_prefix", &save_prefix, 0, MAX_KEY_LEN)?;
    Ok((
        DestinationSpec {
            region,
            bucket,
            save_prefix,
            kms,
        },
        DestinationCredentials {
            ak,
            sk,
            security_token,
        },
    ))
}

fn list_file(lf: ListFile) -> Result<ListFileSpec> {
    let list_file_key = lf.list_file_key.unwrap_or_default();
    check_len(
        "src_node.list_file.list_file_key",
        &list_file_key,
        1,
        MAX_KEY_LEN,
    )?;
    let obs_bucket = lf.obs_bucket.unwrap_or_default();
    check_no_xss("src_node.list_file.obs_bucket", &obs_bucket, 1, 1024)?;
    let list_file_num = lf.list_file_num.unwrap_or_default();
    check_len(
        "src_node.list_file.list_file_num",
        &list_file_num,
        0,
        65_535,
    )?;
    Ok(ListFileSpec {
        list_file_key,
        obs_bucket,
        list_file_num,
    })
}

fn smn_config(smn: SmnConfig) -> Result<SmnSpec> {
    let topic_urn = smn.topic_urn.unwrap_or_default();
    check_no_xss("smn_config.topic_urn", &topic_urn, 1, 1024)?;
    let raw_triggers = smn.trigger_conditions.unwrap_or_default();
    if raw_triggers.is_empty() {
        return Err(ValidationError::new(
            "smn_config.trigger_conditions",
            "must name SUCCESS and/or FAILURE",
        ));
    }
    let mut trigger_conditions = Vec::new();
    for (i, raw) in raw_triggers.iter().enumerate() {
        let t = SmnTrigger::parse(raw).ok_or_else(|| {
            ValidationError::new(
                format!("smn_config.trigger_conditions[{i}]"),
                format!("must be one of {}, got '{raw}'", SmnTrigger::expected()),
            )
        })?;
        if !trigger_conditions.contains(&t) {
            trigger_conditions.push(t);
        }
    }
    let language = optional_enum(
        "smn_config.language",
        smn.language.as_deref(),
        SmnLanguage::parse,
        SmnLanguage::expected,
    )?;
    if let Some(name) = &smn.message_template_name {
        check_no_xss("smn_config.message_template_name", name, 0, 255)?;
    }
    Ok(SmnSpec {
        topic_urn,
        trigger_conditions,
        language,
        message_template_name: smn.message_template_name,
    })
}

/// The crypto fields of one side: `fields` are their names (`crypto_type`, `kms_key_id`) in
/// the body at hand. `None` for `DEFAULT` (or nothing): nothing is asked of the store; KMS with
/// its key (or the store's default key) otherwise.
pub(crate) fn crypto(
    fields: [&str; 2],
    crypto_type: Option<&str>,
    kms_key_id: Option<&str>,
) -> Result<Option<Kms>> {
    let [type_field, key_field] = fields;
    let kms = match non_empty(crypto_type) {
        None => false,
        Some(raw) => match raw.to_ascii_uppercase().as_str() {
            "DEFAULT" => false,
            "KMS" => true,
            _ => {
                return Err(ValidationError::new(
                    type_field,
                    format!("must be DEFAULT or KMS, got '{raw}'"),
                ));
            }
        },
    };
    let key_id = non_empty(kms_key_id).map(str::to_owned);
    if let Some(id) = &key_id {
        if !is_kms_key_id(id) {
            return Err(ValidationError::new(
                key_field,
                "must be a KMS key id: 36 characters, \
                 [0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}",
            ));
        }
        if !kms {
            return Err(ValidationError::new(
                key_field,
                format!("is only used with {type_field} KMS"),
            ));
        }
    }
    Ok(kms.then_some(Kms { key_id }))
}

/// Whether `id` has the form of a KMS key id (a lower-case UUID).
fn is_kms_key_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
}

/// The crypto fields of a CDN: a CDN serves objects already decrypted, and omsd has no KMS to
/// decrypt an encrypted authentication key with, so only `DEFAULT` is taken.
pub(crate) fn cdn_crypto(
    fields: [&str; 2],
    crypto_type: Option<&str>,
    kms_key_id: Option<&str>,
) -> Result<()> {
    match crypto(fields, crypto_type, kms_key_id)? {
        None => Ok(()),
        Some(_) => Err(ValidationError::new(
            fields[0],
            "KMS cannot be honoured for a CDN: it serves the objects decrypted, and this \
             installation has no KMS to decrypt an encrypted authentication key with; send the \
             key itself with DEFAULT",
        )),
    }
}

/// The crypto fields of a source: a store decrypts its SSE-KMS objects as they are read by
/// keys allowed to use the key, so `KMS` is taken and asks nothing more.
pub(crate) fn source_crypto(
    fields: [&str; 2],
    crypto_type: Option<&str>,
    kms_key_id: Option<&str>,
) -> Result<()> {
    crypto(fields, crypto_type, kms_key_id).map(drop)
}

fn non_empty(raw: Option<&str>) -> Option<&str> {
    raw.filter(|s| !s.is_empty())
}

fn require_text(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        Err(ValidationError::new(field, "is required"))
    } else {
        Ok(())
    }
}

fn optional_enum<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    expected: impl Fn() -> String,
) -> Result<Option<T>> {
    non_empty(raw)
        .map(|raw| {
            parse(raw).ok_or_else(|| {
                ValidationError::new(field, format!("must be one of {}, got '{raw}'", expected()))
            })
        })
        .transpose()
}

fn required_enum<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    expected: impl Fn() -> String,
) -> Result<T> {
    optional_enum(field, raw, parse, &expected)?
        .ok_or_else(|| ValidationError::new(field, format!("is required (one of {})", expected())))
}

/// An optional key-like secret: empty counts as absent; otherwise `min..=max` characters and
/// the anti-XSS pattern.
fn secret(
    field: &str,
    value: Option<SecretString>,
    min: usize,
    max: usize,
) -> Result<Option<SecretString>> {
    match value {
        Some(v) if !v.expose_secret().is_empty() => {
            check_no_xss(field, v.expose_secret(), min.max(1), max)?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}

/// A required key: 1–100 characters and the anti-XSS pattern.
fn required_secret(field: &str, value: Option<SecretString>) -> Result<SecretString> {
    secret(field, value, 1, 100)?.ok_or_else(|| ValidationError::new(field, "is required"))
}

/// An optional free-form secret (connection strings, key files): only a length limit.
fn secret_text(
    field: &str,
    value: Option<SecretString>,
    max: usize,
) -> Result<Option<SecretString>> {
    match value {
        Some(v) if !v.expose_secret().is_empty() => {
            check_len(field, v.expose_secret(), 1, max)?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests;
