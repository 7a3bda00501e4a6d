//! The bodies that steer existing tasks: bandwidth policies, batch updates, and a start
//! (resume) with its keys.

use super::{
    Result, SourceFields, cdn_crypto, check_source_credentials, crypto, optional_enum,
    required_secret, secret, secret_text, source_crypto,
};
use crate::ValidationError;
use crate::bandwidth::{
    BandwidthPolicy, BandwidthWindow, MAX_BANDWIDTH_BYTES_PER_SEC, MIN_BANDWIDTH_BYTES_PER_SEC,
    parse_hhmm,
};
use crate::credentials::{CredentialSet, DestinationCredentials, SourceCredentials};
use crate::ids::{GroupId, TaskId};
use crate::model::{BatchUpdate, StartRequest, TaskSelector};
use crate::spec::{CloudType, Kms, MigrationSpec, TaskPriority};
use crate::text::check_len;
use crate::wire::{
    BandwidthPolicyDto, BatchUpdateTasksReq, StartTaskReq, UpdateBandwidthPolicyReq,
};

/// Parses a bandwidth policy; `None` is the empty policy (no throttling).
pub fn bandwidth_policy(
    dtos: Option<Vec<BandwidthPolicyDto>>,
    field: &str,
) -> Result<BandwidthPolicy> {
    let dtos = dtos.unwrap_or_default();
    let mut windows = Vec::with_capacity(dtos.len());
    for (i, dto) in dtos.into_iter().enumerate() {
        let at = |name: &str| format!("{field}[{i}].{name}");
        let hhmm = |name: &str, raw: Option<String>| {
            let raw = raw.ok_or_else(|| ValidationError::new(at(name), "is required (hh:mm)"))?;
            parse_hhmm(&raw).ok_or_else(|| {
                ValidationError::new(
                    at(name),
                    format!("must be hh:mm between 00:00 and 23:59, got '{raw}'"),
                )
            })
        };
        let start_minute = hhmm("start", dto.start)?;
        let end_minute = hhmm("end", dto.end)?;
        if start_minute == end_minute {
            return Err(ValidationError::new(at("end"), "must differ from start"));
        }
        let max = dto
            .max_bandwidth
            .ok_or_else(|| ValidationError::new(at("max_bandwidth"), "is required (bytes/s)"))?;
        if !(MIN_BANDWIDTH_BYTES_PER_SEC..=MAX_BANDWIDTH_BYTES_PER_SEC).contains(&max) {
            return Err(ValidationError::new(
                at("max_bandwidth"),
                format!(
                    "must be between {MIN_BANDWIDTH_BYTES_PER_SEC} and {MAX_BANDWIDTH_BYTES_PER_SEC} bytes/s (1-200 MB/s), got {max}"
                ),
            ));
        }
        windows.push(BandwidthWindow {
            start_minute,
            end_minute,
            max_bandwidth_bytes_per_sec: max,
        });
    }
    BandwidthPolicy::new(windows, field)
}

/// Parses `PUT .../bandwidth-policy` and `PUT .../taskgroups/{id}/update`.
pub fn update_bandwidth_policy(req: UpdateBandwidthPolicyReq) -> Result<BandwidthPolicy> {
    let dtos = req.bandwidth_policy.ok_or_else(|| {
        ValidationError::new(
            "bandwidth_policy",
            "is required (an empty list removes throttling)",
        )
    })?;
    bandwidth_policy(Some(dtos), "bandwidth_policy")
}

/// Parses `POST .../tasks/batch-update`.
pub fn batch_update(req: BatchUpdateTasksReq) -> Result<BatchUpdate> {
    let selector = match (req.group_id, req.ids) {
        (Some(group), None) => {
            check_len("group_id", &group, 1, 36)?;
            TaskSelector::Group(
                GroupId::parse(&group)
                    .ok_or_else(|| ValidationError::new("group_id", "must be a UUID"))?,
            )
        }
        (None, Some(ids)) => {
            if ids.is_empty() || ids.len() > 1000 {
                return Err(ValidationError::new("ids", "must hold 1-1000 task ids"));
            }
            let ids = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    TaskId::new(*id).ok_or_else(|| {
                        ValidationError::new(
                            format!("ids[{i}]"),
                            "must be a task id (0-999999999999999)",
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            TaskSelector::Ids(ids)
        }
        (Some(_), Some(_)) => {
            return Err(ValidationError::new(
                "ids",
                "give either group_id or ids, not both",
            ));
        }
        (None, None) => return Err(ValidationError::new("ids", "give either group_id or ids")),
    };
    let dtos = req
        .bandwidth_policy
        .ok_or_else(|| ValidationError::new("bandwidth_policy", "is required"))?;
    let bandwidth_policy = bandwidth_policy(Some(dtos), "bandwidth_policy")?;
    let priority = optional_enum(
        "task_priority",
        req.task_priority.as_deref(),
        TaskPriority::parse,
        TaskPriority::expected,
    )?;
    Ok(BatchUpdate {
        selector,
        bandwidth_policy,
        priority,
    })
}

/// Parses a start (task), resume (group start) or retry (group retry) body against the spec of
/// what it starts: the destination keys are always required, the source credentials that its
/// kind of source needs, and the CDN key when its CDN signs URLs.
pub fn start(req: StartTaskReq, spec: &MigrationSpec) -> Result<StartRequest> {
    // The crypto fields follow the rules of creation; the destination's must be the task's
    // own (a start cannot change how its objects are written).
    source_crypto(
        ["src_crypto_type", "src_kms_key_id"],
        req.src_crypto_type.as_deref(),
        req.src_kms_key_id.as_deref(),
    )?;
    cdn_crypto(
        ["source_cdn_crypto_type", "source_cdn_kms_key_id"],
        req.source_cdn_crypto_type.as_deref(),
        req.source_cdn_kms_key_id.as_deref(),
    )?;
    let fields = ["dst_crypto_type", "dst_kms_key_id"];
    let kms = crypto(
        fields,
        req.dst_crypto_type.as_deref(),
        req.dst_kms_key_id.as_deref(),
    )?;
    let given = [&req.dst_crypto_type, &req.dst_kms_key_id]
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| !v.is_empty()));
    if given && kms != spec.destination.kms {
        let field = if kms.is_some() && spec.destination.kms.is_some() {
            fields[1]
        } else {
            fields[0]
        };
        let describe = |kms: &Option<Kms>| {
            kms.as_ref().map_or_else(
                || "no encryption of its own".to_owned(),
                ToString::to_string,
            )
        };
        return Err(ValidationError::new(
            field,
            format!(
                "asks for {}, but the task writes with {} (set when it was created); a start \
                 cannot change it: create another task",
                describe(&kms),
                describe(&spec.destination.kms)
            ),
        ));
    }
    let destination = DestinationCredentials {
        ak: required_secret("dst_ak", req.dst_ak)?,
        sk: required_secret("dst_sk", req.dst_sk)?,
        security_token: secret("dst_security_token", req.dst_security_token, 0, 16_384)?,
    };
    let cloud = spec.source.cloud_type;
    let mut source = SourceCredentials {
        ak: secret("src_ak", req.src_ak, 1, 100)?,
        sk: secret("src_sk", req.src_sk, 1, 100)?,
        security_token: secret("src_security_token", req.src_security_token, 0, 16_384)?,
        connection_string: secret_text("connection_string", req.connection_string, 2048)?,
        json_auth_file: secret_text("json_auth_file", req.json_auth_file, 65_535)?,
    };
    if cloud == CloudType::UrlSource {
        // Scripts often send one start body for every task; keys a URL list cannot use are
        // dropped rather than stored.
        source = SourceCredentials::default();
    }
    check_source_credentials(cloud, &source, SourceFields::START)?;

    let key = secret(
        "source_cdn_authentication_key",
        req.source_cdn_authentication_key,
        0,
        255,
    )?;
    let cdn_key = match &spec.source.cdn {
        Some(cdn) if cdn.authentication_type.needs_key() => Some(key.ok_or_else(|| {
            ValidationError::new(
                "source_cdn_authentication_key",
                format!(
                    "is required: the source CDN uses {}",
                    cdn.authentication_type
                ),
            )
        })?),
        _ => None,
    };
    Ok(StartRequest {
        credentials: CredentialSet {
            source,
            destination,
            cdn_key,
        },
        migrate_failed_objects: req.migrate_failed_object.unwrap_or(false),
    })
}
