//! OpenAPI schemas of the request fields that `#[schema(...)]` attributes cannot state: the
//! values a field takes, listed from the same enumerations [`crate::parse`] accepts, and the
//! items of arrays. Used with `schema_with`.
//!
//! An optional field may be `null` or left out (the same as not given); the text fields whose
//! empty value means "the default" also list `""`. Values match ignoring ASCII case, as the
//! parser does; the lists give the spelling OMS documents.

use utoipa::openapi::schema::{
    Array, ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};

use crate::ids::TaskId;
use crate::parse::{DESTINATION_CLOUD_TYPE, MAX_KEY_LEN, MAX_OBJECT_KEYS};
use crate::spec::{
    CdnAuthType, CdnProtocol, CloudType, ConsistencyCheck, OverwriteMode, SmnLanguage, SmnTrigger,
    StoragePolicy, TaskPriority,
};

/// A string field taking one of `values`, in any ASCII letter case. An optional one (`empty`:
/// what leaving it out means) also takes `null` and `""`, the same as leaving it out.
pub(crate) fn one_of(
    description: &str,
    values: impl IntoIterator<Item = &'static str>,
    empty: Option<&str>,
) -> Object {
    let values = values.into_iter().map(serde_json::Value::from);
    let builder = ObjectBuilder::new();
    match empty {
        Some(meaning) => builder
            .description(Some(format!(
                "{description}. Any letter case; empty or null: {meaning}."
            )))
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .enum_values(Some(
                [serde_json::Value::Null, "".into()]
                    .into_iter()
                    .chain(values),
            ))
            .build(),
        None => builder
            .description(Some(format!("{description}. Any letter case.")))
            .schema_type(Type::String)
            .enum_values(Some(values))
            .build(),
    }
}

/// What an empty optional field means, for most fields.
pub(crate) const DEFAULT: Option<&str> = Some("the default");

/// `src_node.cloud_type`.
pub fn source_cloud_type() -> Object {
    one_of(
        "Source cloud (default `Aliyun`)",
        CloudType::ALL.iter().map(|c| c.as_str()),
        DEFAULT,
    )
}

/// `dst_node.cloud_type`.
pub fn destination_cloud_type() -> Object {
    one_of(
        "Destination cloud: only `HEC`",
        [DESTINATION_CLOUD_TYPE],
        DEFAULT,
    )
}

/// `cloud_type` of the bucket helpers: any source cloud, or `HEC` (the destination).
pub fn helper_cloud_type() -> Object {
    one_of(
        "The cloud of the bucket (`HEC`: the destination, Huawei Cloud OBS)",
        CloudType::ALL
            .iter()
            .map(|c| c.as_str())
            .chain([DESTINATION_CLOUD_TYPE]),
        None,
    )
}

/// `cloud_type` of `ShowCdnInfo`: an S3-compatible cloud or `HEC`.
pub fn cdn_cloud_type() -> Object {
    one_of(
        "The cloud of the bucket behind the CDN (an S3-compatible cloud, or `HEC`)",
        CloudType::ALL
            .iter()
            .filter(|c| c.is_s3_compatible())
            .map(|c| c.as_str())
            .chain([DESTINATION_CLOUD_TYPE]),
        None,
    )
}

/// `prefix.keys` of `ShowCdnInfo`.
pub fn cdn_keys() -> Array {
    ArrayBuilder::new()
        .description(Some("1-100 object keys of 1-2048 characters"))
        .schema_type(Type::Array)
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(2048)),
        )
        .min_items(Some(1))
        .max_items(Some(100))
        .build()
}

/// `crypto_type` of the nodes, the CDN and the start bodies.
pub fn crypto_type() -> Object {
    one_of(
        "Encryption: `DEFAULT` (none asked for) or `KMS` (SSE-KMS; at the destination every \
         object is written with it, a source's objects are decrypted by their store as they \
         are read, a CDN cannot take it)",
        ["DEFAULT", "KMS"],
        DEFAULT,
    )
}

/// The form of a KMS key id: 36 characters, a lower-case UUID.
pub const KMS_KEY_ID_PATTERN: &str =
    "^([0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12})?$";

/// `kms_key_id` of the nodes, the CDN and the start bodies.
pub fn kms_key_id() -> Object {
    ObjectBuilder::new()
        .description(Some(
            "KMS key id (36 characters, `[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}`), \
             with `crypto_type` `KMS` only; empty or null: the store's default KMS key",
        ))
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(KMS_KEY_ID_PATTERN))
        .build()
}

/// `object_overwrite_mode`.
pub fn overwrite_mode() -> Object {
    one_of(
        "Same-name handling (default `SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE`); \
         `CRC64_COMPARISON_OVERWRITE` compares the CRC64 both sides report (Huawei OBS, Aliyun \
         OSS, Tencent COS), else size and time",
        OverwriteMode::ALL.iter().map(|m| m.as_str()),
        DEFAULT,
    )
}

/// `consistency_check`, with `transmission` (the sync-task spelling of `no_check`).
pub fn consistency_check() -> Object {
    let values = ConsistencyCheck::ALL.iter().map(|c| c.as_str());
    one_of(
        "Verification (default `size_last_modified`); `no_check` and its sync-task spelling \
         `transmission` only for URL lists; `crc64` proves each copy by the CRC-64 of \
         the bytes sent against the one the source and the destination report (size and time \
         where neither reports one, said in the task's `warnings`)",
        values.chain(["transmission"]),
        DEFAULT,
    )
}

/// `dst_storage_policy`.
pub fn storage_policy() -> Object {
    one_of(
        "Destination storage class (default `STANDARD`)",
        StoragePolicy::ALL.iter().map(|p| p.as_str()),
        DEFAULT,
    )
}

/// `task_priority`.
pub fn task_priority() -> Object {
    one_of(
        "Scheduling priority (default `MEDIUM`)",
        TaskPriority::ALL.iter().map(|p| p.as_str()),
        DEFAULT,
    )
}

/// `task_priority` of a batch update.
pub fn new_task_priority() -> Object {
    one_of(
        "New priority of the waiting, paused and failed tasks",
        TaskPriority::ALL.iter().map(|p| p.as_str()),
        Some("priorities unchanged"),
    )
}

/// `source_cdn.protocol` (required).
pub fn cdn_protocol() -> Object {
    one_of(
        "The scheme to reach the domain with",
        CdnProtocol::ALL.iter().map(|p| p.as_str()),
        None,
    )
}

/// `source_cdn.authentication_type` (required): the types this installation can sign.
pub fn cdn_authentication_type() -> Object {
    let supported = CdnAuthType::ALL.iter().filter(|t| t.is_supported());
    one_of(
        "How URLs are signed (the types this installation can sign)",
        supported.map(|t| t.as_str()),
        None,
    )
}

/// `smn_config.language`.
pub fn smn_language() -> Object {
    one_of(
        "Message language",
        SmnLanguage::ALL.iter().map(|l| l.as_str()),
        DEFAULT,
    )
}

/// `smn_config.trigger_conditions` (required): one or more of `SUCCESS`, `FAILURE`.
pub fn smn_trigger_conditions() -> Array {
    ArrayBuilder::new()
        .description(Some("When to notify: one or more of `SUCCESS`, `FAILURE`"))
        .items(one_of(
            "A trigger",
            SmnTrigger::ALL.iter().map(|t| t.as_str()),
            None,
        ))
        .min_items(Some(1))
        .build()
}

/// `enable_kms`: SSE-KMS at the destination with the store's default key.
pub fn enable_kms() -> Object {
    ObjectBuilder::new()
        .description(Some(
            "SSE-KMS at the destination with the store's default KMS key, the same as \
             `dst_node.crypto_type` `KMS` without a key (removed from the SDKs in 2026-05, \
             still taken)",
        ))
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .build()
}

/// `src_node.object_key`: keys or prefixes of at most 1024 characters.
pub fn object_keys() -> Array {
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_KEY_LEN));
    ArrayBuilder::new()
        .description(Some(
            "Keys (object mode) or prefixes (prefix mode; `[\"\"]` = the whole bucket), at most \
             1024 characters each: 1-10000 of them in those modes, none in list modes",
        ))
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(key)
        .max_items(Some(MAX_OBJECT_KEYS))
        .build()
}

/// `ids` of a batch update: 1-1000 task ids.
pub fn task_ids() -> Array {
    let id = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(TaskId::MAX));
    ArrayBuilder::new()
        .description(Some(
            "Update these tasks: 1-1000 task ids (exclusive with `group_id`)",
        ))
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(id)
        .min_items(Some(1))
        .max_items(Some(1000))
        .build()
}
