//! Parsing the sync-task requests. A sync task copies like a whole-bucket prefix task, so its
//! create and start bodies are checked by the same rules as a task's (one set of rules), and the
//! fields the errors name are the sync bodies' own (`src_ak`, not `src_node.ak`).

use super::Result;
use crate::ValidationError;
use crate::model::StartRequest;
use crate::spec::{CloudType, ConsistencyCheck, MigrationSpec};
use crate::sync::{
    MAX_RECONCILE_INTERVAL_SECS, MIN_RECONCILE_INTERVAL_SECS, NewSyncTask, StatisticKind,
    StatisticsQuery,
};
use crate::wire::{
    CreateSyncTaskReq, CreateTaskReq, DstNodeReq, MAX_EVENT_KEYS, SrcNodeReq, StartSyncTaskReq,
    StartTaskReq, SyncObjectReq, sync_source_clouds,
};

/// The field of a sync body that a task body's field stands for.
fn sync_field(task_field: &str) -> String {
    match task_field {
        "src_node.app_id" => "app_id".to_owned(),
        "src_node.cloud_type" => "src_cloud_type".to_owned(),
        "src_node" | "dst_node" => "body".to_owned(),
        other => {
            if let Some(rest) = other.strip_prefix("src_node.") {
                format!("src_{rest}")
            } else if let Some(rest) = other.strip_prefix("dst_node.") {
                format!("dst_{rest}")
            } else {
                other.to_owned()
            }
        }
    }
}

fn renamed(e: ValidationError) -> ValidationError {
    ValidationError {
        field: sync_field(&e.field),
        reason: e.reason,
    }
}

/// Parses `POST /v2/{project_id}/sync-tasks`: the sync task copies whole-bucket, like a prefix
/// task over `[""]`, with the same rules on every field.
pub fn create_sync_task(req: CreateSyncTaskReq) -> Result<NewSyncTask> {
    if let Some(raw) = req.src_cloud_type.as_deref().filter(|s| !s.is_empty()) {
        let allowed = CloudType::parse(raw).filter(|c| sync_source_clouds().any(|s| s == *c));
        if allowed.is_none() {
            let expected: Vec<_> = sync_source_clouds().map(CloudType::as_str).collect();
            return Err(ValidationError::new(
                "src_cloud_type",
                format!("must be one of {}, got '{raw}'", expected.join(", ")),
            ));
        }
    }
    for (field, value) in [
        ("src_region", &req.src_region),
        ("src_bucket", &req.src_bucket),
    ] {
        if value.as_deref().is_none_or(str::is_empty) {
            return Err(ValidationError::new(field, "is required"));
        }
    }
    let reconcile_interval_secs = req.reconcile_interval;
    if let Some(secs) = reconcile_interval_secs
        && !(MIN_RECONCILE_INTERVAL_SECS..=MAX_RECONCILE_INTERVAL_SECS).contains(&secs)
    {
        return Err(ValidationError::new(
            "reconcile_interval",
            format!(
                "must be {MIN_RECONCILE_INTERVAL_SECS} to {MAX_RECONCILE_INTERVAL_SECS} seconds, \
                 got {secs}"
            ),
        ));
    }
    let transmission = req
        .consistency_check
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("transmission"));
    let task = CreateTaskReq {
        task_type: Some("prefix".to_owned()),
        src_node: Some(SrcNodeReq {
            cloud_type: req.src_cloud_type,
            region: req.src_region,
            ak: req.src_ak,
            sk: req.src_sk,
            security_token: None,
            connection_string: None,
            json_auth_file: None,
            app_id: req.app_id,
            bucket: req.src_bucket,
            object_key: Some(vec![String::new()]),
            list_file: None,
            crypto_type: req.src_crypto_type,
            kms_key_id: req.src_kms_key_id,
        }),
        dst_node: Some(DstNodeReq {
            ak: req.dst_ak,
            sk: req.dst_sk,
            security_token: None,
            bucket: req.dst_bucket,
            region: req.dst_region,
            cloud_type: None,
            save_prefix: None,
            crypto_type: req.dst_crypto_type,
            kms_key_id: req.dst_kms_key_id,
        }),
        enable_kms: req.enable_kms,
        description: req.description,
        migrate_since: None,
        bandwidth_policy: None,
        source_cdn: req.source_cdn,
        smn_config: None,
        enable_metadata_migration: req.enable_metadata_migration,
        enable_restore: req.enable_restore,
        enable_failed_object_recording: Some(true),
        object_overwrite_mode: None,
        dst_storage_policy: req.dst_storage_policy,
        consistency_check: if transmission {
            None
        } else {
            req.consistency_check
        },
        enable_requester_pays: None,
        dry_run: None,
        task_priority: None,
    };
    let mut new = super::create_task(task).map_err(renamed)?;
    if transmission {
        new.spec.consistency_check = ConsistencyCheck::NoCheck;
    }
    Ok(NewSyncTask {
        spec: new.spec,
        credentials: new.credentials,
        reconcile_interval_secs,
        propagate_deletions: req.propagate_deletions.unwrap_or(false),
    })
}

/// Parses `POST .../sync-tasks/{id}/start` against the task's spec: all four keys are
/// required, and the CDN key when its CDN signs URLs.
pub fn start_sync_task(req: StartSyncTaskReq, spec: &MigrationSpec) -> Result<StartRequest> {
    super::start(
        StartTaskReq {
            src_ak: req.src_ak,
            src_sk: req.src_sk,
            dst_ak: req.dst_ak,
            dst_sk: req.dst_sk,
            source_cdn_authentication_key: req.source_cdn_authentication_key,
            src_crypto_type: req.src_crypto_type,
            src_kms_key_id: req.src_kms_key_id,
            dst_crypto_type: req.dst_crypto_type,
            dst_kms_key_id: req.dst_kms_key_id,
            ..StartTaskReq::default()
        },
        spec,
    )
}

/// Parses an events body: 1-10 URL-encoded keys, each 1-1024 bytes once decoded. Nothing of a
/// body with one bad key is taken.
pub fn event_keys(req: SyncObjectReq) -> Result<Vec<String>> {
    let keys = req
        .object_keys
        .ok_or_else(|| ValidationError::new("object_keys", "is required"))?;
    if keys.is_empty() || keys.len() > MAX_EVENT_KEYS {
        return Err(ValidationError::new(
            "object_keys",
            format!("must hold 1 to {MAX_EVENT_KEYS} keys, got {}", keys.len()),
        ));
    }
    keys.iter()
        .enumerate()
        .map(|(i, raw)| {
            let field = format!("object_keys[{i}]");
            let key = percent_decode(raw, false).ok_or_else(|| {
                ValidationError::new(
                    &field,
                    "is not a URL-encoded UTF-8 key (a % must start a %XX escape)",
                )
            })?;
            check_key(&field, &key)?;
            Ok(key)
        })
        .collect()
}

/// An object key: 1-1024 bytes.
pub fn check_key(field: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.len() > super::MAX_KEY_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "must be 1 to {} bytes once decoded, got {}",
                super::MAX_KEY_LEN,
                key.len()
            ),
        ));
    }
    Ok(())
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in S3 event
/// notifications); `None` when an escape is malformed or the bytes are not UTF-8.
pub fn percent_decode(raw: &str, plus_is_space: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses the statistics query: `data_type` (a comma-separated list of `REQUEST`, `SUCCESS`,
/// `FAILURE`, `SKIP`, `SIZE`), `start_time` and `end_time` in ms, in order.
pub fn statistics(
    data_type: Option<&str>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
) -> Result<StatisticsQuery> {
    let raw = data_type
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ValidationError::new("data_type", "is required"))?;
    let mut kinds = Vec::new();
    for part in raw.split(',') {
        let kind = StatisticKind::parse(part).ok_or_else(|| {
            let expected: Vec<_> = StatisticKind::ALL.iter().map(|k| k.as_str()).collect();
            ValidationError::new(
                "data_type",
                format!(
                    "must be a comma-separated list of {}, got '{part}'",
                    expected.join(", ")
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let start_ms = start_ms.ok_or_else(|| ValidationError::new("start_time", "is required"))?;
    let end_ms = end_ms.ok_or_else(|| ValidationError::new("end_time", "is required"))?;
    if end_ms < start_ms {
        return Err(ValidationError::new(
            "end_time",
            "must not be before start_time",
        ));
    }
    Ok(StatisticsQuery {
        kinds,
        start_ms,
        end_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_decoded_and_plus_stays_a_plus() {
        let req = SyncObjectReq {
            object_keys: Some(vec!["a%20b%2Bc+d".into(), "%E4%B8%AD%2F%2Fx%25".into()]),
        };
        assert_eq!(
            event_keys(req).unwrap(),
            vec!["a b+c+d".to_owned(), "中//x%".to_owned()]
        );
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
    }

    #[test]
    fn bad_keys_name_their_field() {
        let bad = |keys: Vec<String>| {
            event_keys(SyncObjectReq {
                object_keys: Some(keys),
            })
            .unwrap_err()
            .field
        };
        assert_eq!(bad(vec![]), "object_keys");
        assert_eq!(bad(vec!["k".into(); 11]), "object_keys");
        assert_eq!(bad(vec!["k".into(), "x".repeat(1025)]), "object_keys[1]");
        assert_eq!(bad(vec!["%zz".into()]), "object_keys[0]");
        assert_eq!(bad(vec!["%FF".into()]), "object_keys[0]");
    }

    #[test]
    fn statistics_need_known_types_and_an_ordered_range() {
        let q = statistics(Some("SUCCESS,SIZE,SUCCESS"), Some(0), Some(10)).unwrap();
        assert_eq!(q.kinds, vec![StatisticKind::Success, StatisticKind::Size]);
        let field = |d, s, e| statistics(d, s, e).unwrap_err().field;
        assert_eq!(field(Some("BYTES"), Some(0), Some(1)), "data_type");
        assert_eq!(field(None, Some(0), Some(1)), "data_type");
        assert_eq!(field(Some("SKIP"), Some(5), Some(1)), "end_time");
        assert_eq!(field(Some("SKIP"), None, Some(1)), "start_time");
    }
}
