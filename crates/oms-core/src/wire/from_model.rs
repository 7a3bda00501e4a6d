//! Entities to response bodies. Credentials are not part of the entities, so they cannot leak here.

use super::response::{
    BandwidthPolicyResp, DstNodeResp, ErrorReasonResp, FailedObjectRecordDto, ListFileResp,
    SmnInfo, SourceCdnResp, SrcNodeResp, TaskGroupResp, TaskResp,
};
use crate::bandwidth::BandwidthPolicy;
use crate::model::{FailureReason, Notified, Task, TaskGroup};
use crate::spec::{MigrationSpec, SmnSpec};

/// The one destination system this service writes to.
const OBS_SYSTEM: &str = "BUCKET";

fn src_node(spec: &MigrationSpec, upper_case_cloud: bool) -> SrcNodeResp {
    let src = &spec.source;
    let cloud = src.cloud_type.as_str();
    SrcNodeResp {
        bucket: src.bucket.clone(),
        cloud_type: if upper_case_cloud {
            cloud.to_ascii_uppercase()
        } else {
            cloud.to_owned()
        },
        region: src.region.clone(),
        app_id: src.app_id.clone(),
        object_key: src.object_keys.clone(),
        list_file: src.list_file.as_ref().map(|lf| ListFileResp {
            list_file_key: lf.list_file_key.clone(),
            obs_bucket: lf.obs_bucket.clone(),
            list_file_num: lf.list_file_num.clone(),
        }),
    }
}

fn dst_node(spec: &MigrationSpec) -> DstNodeResp {
    let dst = &spec.destination;
    DstNodeResp {
        bucket: dst.bucket.clone(),
        region: dst.region.clone(),
        save_prefix: dst.save_prefix.clone(),
    }
}

fn bandwidth(policy: &BandwidthPolicy) -> Vec<BandwidthPolicyResp> {
    policy
        .windows()
        .iter()
        .map(|w| BandwidthPolicyResp {
            start: w.start_hhmm(),
            end: w.end_hhmm(),
            max_bandwidth: w.max_bandwidth_bytes_per_sec,
        })
        .collect()
}

pub(super) fn cdn(spec: &MigrationSpec) -> Option<SourceCdnResp> {
    spec.source.cdn.as_ref().map(|c| SourceCdnResp {
        domain: c.domain.clone(),
        protocol: c.protocol.as_str().to_owned(),
        authentication_type: c.authentication_type.as_str().to_owned(),
    })
}

/// The notification settings with the outcome of the last notification (a webhook: SMN is not
/// reachable from a self-hosted install). `topic_name` is empty once it was sent, as OMS does.
fn smn(smn: Option<&SmnSpec>, notified: Option<&Notified>) -> Option<SmnInfo> {
    smn.map(|s| {
        let topic = s.topic_urn.rsplit(':').next().unwrap_or_default();
        let (sent, error) = notified.map_or((false, ""), |n| (n.sent, n.error.as_str()));
        SmnInfo {
            notify_result: sent,
            notify_error_message: error.to_owned(),
            topic_name: if sent {
                String::new()
            } else {
                topic.to_owned()
            },
        }
    })
}

fn reason(failure: Option<&FailureReason>) -> Option<ErrorReasonResp> {
    failure.map(|f| ErrorReasonResp {
        error_code: f.code.clone(),
        error_msg: f.message.clone(),
    })
}

impl From<&Task> for TaskResp {
    fn from(task: &Task) -> Self {
        let spec = &task.spec;
        let c = task.counters;
        let lapsed = task.lease_lapsed_at_ms.is_some();
        Self {
            id: task.id.get(),
            name: task.name.clone(),
            task_type: spec.kind.as_str().to_owned(),
            group_type: task.group_type.as_str().to_owned(),
            group_id: task.group_id.map(|g| g.to_string()),
            status: task.status.code(),
            // Only a completed task reads as done (a stop that landed as the last objects
            // drained leaves a paused task with every byte copied).
            progress: if task.status == crate::status::TaskStatus::Succeeded {
                task.progress
            } else {
                task.progress.min(0.999)
            },
            src_node: src_node(spec, false),
            dst_node: dst_node(spec),
            description: spec.description.clone(),
            enable_kms: spec.destination.kms.is_some(),
            enable_metadata_migration: spec.enable_metadata_migration,
            enable_restore: spec.enable_restore,
            enable_failed_object_recording: spec.enable_failed_object_recording,
            enable_requester_pays: spec.enable_requester_pays,
            migrate_since: spec.migrate_since_secs,
            bandwidth_policy: bandwidth(&task.bandwidth_policy),
            source_cdn: cdn(spec),
            smn_info: smn(spec.smn.as_ref(), task.notified.as_ref()),
            object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
            consistency_check: spec.consistency_check.as_str().to_owned(),
            dst_storage_policy: spec.dst_storage_policy.as_str().to_owned(),
            task_priority: task.priority.as_str().to_owned(),
            obs_system: OBS_SYSTEM.to_owned(),
            start_time: task.start_time_ms,
            total_time: task.total_time_ms,
            // A task whose worker stopped renewing its lease is not moving.
            left_time: if lapsed { 0 } else { task.left_time_ms },
            migrate_speed: if lapsed {
                0
            } else {
                task.migrate_speed_bytes_per_sec
            },
            total_num: c.total_num,
            successful_num: c.successful_num,
            failed_num: c.failed_num,
            skipped_num: c.skipped_num,
            total_size: c.total_size,
            complete_size: c.complete_size,
            real_size: c.real_size,
            is_query_over: task.is_query_over,
            error_reason: reason(task.failure.as_ref()),
            failed_object_record: FailedObjectRecordDto {
                // True only for a list that was written: one that could not be is told by
                // its error code.
                result: spec.enable_failed_object_recording
                    && c.failed_num > 0
                    && !task.failed_list_key.is_empty(),
                list_file_key: task.failed_list_key.clone(),
                error_code: task.failed_list_error.clone(),
            },
            success_record_error_reason: task.success_list_error.clone(),
            skip_record_error_reason: task.skip_list_error.clone(),
            warnings: task_warnings(task),
            dry_run: spec.dry_run,
            plan: None,
        }
    }
}

/// What a task's answer says beside its figures: that it waits for a worker to take it over,
/// that it completed without finding anything to copy, or that CRC64 could not be compared.
fn task_warnings(task: &Task) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(lapsed) = task.lease_lapsed_at_ms {
        let ago = (crate::time::now_ms() - lapsed).max(0) / 1000;
        warnings.push(format!(
            "the worker running this task stopped renewing its lease {ago} s ago (it stopped, or \
             lost the database): nothing is copied until another worker takes the task over"
        ));
    }
    if task.status == crate::status::TaskStatus::Succeeded && task.counters.total_num == 0 {
        warnings.push(
            "the source selection matched no objects: nothing was copied (check the bucket, the \
             prefixes or the list file)"
                .to_owned(),
        );
    }
    if task.crc64_unchecked_num > 0 {
        warnings.push(format!(
            "consistency_check crc64: {} objects were checked by size and time instead, because \
             neither the source nor the destination reported a CRC64 of them (Huawei OBS, Aliyun \
             OSS and Tencent COS report one)",
            task.crc64_unchecked_num
        ));
    }
    warnings
}

impl From<&TaskGroup> for TaskGroupResp {
    fn from(group: &TaskGroup) -> Self {
        let spec = &group.spec;
        let t = group.tasks;
        Self {
            group_id: group.group_id.to_string(),
            status: group.status.code(),
            error_reason: reason(group.failure.as_ref()),
            src_node: src_node(spec, true),
            dst_node: dst_node(spec),
            description: spec.description.clone(),
            task_type: spec.kind.group_str(),
            enable_kms: spec.destination.kms.is_some(),
            enable_metadata_migration: spec.enable_metadata_migration,
            enable_failed_object_recording: spec.enable_failed_object_recording,
            enable_restore: spec.enable_restore,
            enable_requester_pays: spec.enable_requester_pays,
            bandwidth_policy: bandwidth(&group.bandwidth_policy),
            smn_config: smn(spec.smn.as_ref(), group.notified.as_ref()),
            source_cdn: cdn(spec),
            migrate_since: spec.migrate_since_secs,
            migrate_speed: t.migrate_speed_bytes_per_sec,
            total_time: t.total_time_ms,
            start_time: group.start_time_ms,
            total_task_num: t.total,
            create_task_num: t.total,
            failed_task_num: t.failed,
            complete_task_num: t.completed,
            paused_task_num: t.paused,
            executing_task_num: t.executing,
            waiting_task_num: t.waiting,
            total_num: t.objects.total_num.max(group.create_complete_num),
            create_complete_num: group.create_complete_num,
            success_num: t.objects.successful_num,
            fail_num: t.objects.failed_num,
            skip_num: t.objects.skipped_num,
            total_size: t.objects.total_size.max(group.create_complete_size),
            create_complete_size: group.create_complete_size,
            complete_size: t.objects.complete_size,
            failed_object_record: FailedObjectRecordDto {
                result: spec.enable_failed_object_recording && t.objects.failed_num > 0,
                list_file_key: String::new(),
                error_code: String::new(),
            },
            object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
            dst_storage_policy: spec.dst_storage_policy.as_str().to_owned(),
            consistency_check: spec.consistency_check.as_str().to_owned(),
            obs_system: OBS_SYSTEM.to_owned(),
            dry_run: spec.dry_run,
            plan: None,
        }
    }
}
