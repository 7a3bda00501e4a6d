//! The task engine end to end: tasks created through the API move objects between two real S3
//! servers (s3s-fs on 127.0.0.1), and the tests check what a user would: the bytes at the
//! destination, the counters, the statuses, and the requests the servers saw.

mod archive;
pub(crate) mod azure;
mod counters;
mod crc64;
mod destinations;
mod failures;
mod faults;
mod folders;
mod google;
mod groups;
mod headers;
mod keys;
mod kms;
mod listing;
mod modes;
mod plans;
mod records;
pub(crate) mod resume;
mod throttling;
mod truth;
mod untrusted;
mod uploads;
mod urls;

use std::collections::BTreeMap;
use std::time::Duration;

use oms_storage::catalogue::endpoints::EndpointRule;
use rand::Rng as _;
use serde_json::{Value, json};

use crate::support::harness::{Overrides, TestServer};
use crate::support::s3::S3Server;

/// The source bucket.
pub const SRC_BUCKET: &str = "source";
/// A mebibyte.
pub const MIB: usize = 1024 * 1024;
/// The destination bucket.
pub const DST_BUCKET: &str = "dest";
/// The region the operator maps to the source server.
pub const SRC_REGION: &str = "local-src";
/// The region the operator maps to the destination server.
pub const DST_REGION: &str = "local-dst";
/// A destination region the operator maps to the source server.
pub const SAME_STORE_REGION: &str = "same-store";

/// omsd with a worker, and two S3 servers with a bucket each.
pub struct Migration {
    pub oms: TestServer,
    pub src: S3Server,
    pub dst: S3Server,
}

pub fn rule(cloud: &str, region: &str, url: &str) -> EndpointRule {
    EndpointRule {
        cloud_type: cloud.into(),
        region: region.into(),
        url: url.into(),
        path_style: true,
        time_zone: None,
    }
}

impl Migration {
    /// Starts both servers and omsd with its worker.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts both servers and omsd, with or without its in-process worker.
    pub async fn start_with(worker: bool) -> Self {
        Self::start_custom(worker, None).await
    }

    /// Starts both servers and omsd, with or without its worker, with groups cut into tasks of
    /// at most `group_task_max_objects`.
    pub async fn start_custom(worker: bool, group_task_max_objects: Option<i64>) -> Self {
        Self::start_overrides(Overrides {
            worker,
            group_task_max_objects,
            ..Overrides::default()
        })
        .await
    }

    /// Starts both servers and omsd with `overrides` (their endpoints are set here).
    pub async fn start_overrides(overrides: Overrides) -> Self {
        let src = S3Server::start("src").await;
        let dst = S3Server::start("dst").await;
        src.create_bucket(SRC_BUCKET).await;
        dst.create_bucket(DST_BUCKET).await;
        let endpoints = vec![
            rule("AWS", SRC_REGION, &src.url),
            rule("HEC", DST_REGION, &dst.url),
            // A destination on the source's own server, for server-side copies.
            rule("HEC", SAME_STORE_REGION, &src.url),
        ];
        let oms = TestServer::start_with(Overrides {
            endpoints,
            ..overrides
        })
        .await;
        Self { oms, src, dst }
    }

    /// A prefix task over `prefixes`, with both servers' keys.
    pub fn task_body(&self, prefixes: &[&str]) -> Value {
        json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": self.src.ak, "sk": self.src.sk,
                         "bucket": SRC_BUCKET, "object_key": prefixes},
            "dst_node": {"ak": self.dst.ak, "sk": self.dst.sk, "region": DST_REGION, "bucket": DST_BUCKET},
        })
    }

    /// The start body with both servers' keys.
    pub fn start_body(&self) -> Value {
        json!({"src_ak": self.src.ak, "src_sk": self.src.sk, "dst_ak": self.dst.ak, "dst_sk": self.dst.sk})
    }

    /// Creates a task; returns its id.
    pub async fn create(&self, body: &Value) -> i64 {
        let api = self.oms.signed_client(&self.oms.a);
        api.post(&format!("/v2/{}/tasks", self.oms.a.id), Some(body))
            .await
            .ok()["id"]
            .as_i64()
            .unwrap()
    }

    /// The task as the API shows it.
    pub async fn task(&self, id: i64) -> Value {
        let api = self.oms.signed_client(&self.oms.a);
        api.get(&format!("/v2/{}/tasks/{id}", self.oms.a.id))
            .await
            .ok()
            .clone()
    }

    /// Waits until the task has `status` (panics with the task after `timeout`).
    pub async fn wait_for(&self, id: i64, status: i64, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.task(id).await;
            if task["status"] == status {
                return task;
            }
            // Completed (5) and failed (4) are final: waiting longer for the other is pointless.
            let ended = task["status"] == 4 || task["status"] == 5;
            assert!(
                !ended || status == 3,
                "task ended with status {} instead of {status}: {task:#}",
                task["status"]
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "task did not reach status {status}: {task:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops task `id` once a part of the multipart upload of `key` is saved, and waits until
    /// it is paused; returns the paused task and the upload as saved.
    pub async fn stop_once_a_part_is_saved(
        &self,
        id: i64,
        key: &str,
    ) -> (Value, oms_core::model::SavedUpload) {
        let task_id = oms_core::ids::TaskId::new(id).unwrap();
        let db = self.oms.db().await;
        let saved = crate::support::harness::eventually(Duration::from_secs(30), async || {
            db.load_upload(task_id, key)
                .await
                .unwrap()
                .is_some_and(|u| !u.parts.is_empty())
        })
        .await;
        assert!(saved, "no part was saved");
        let api = self.oms.signed_client(&self.oms.a);
        api.post(&format!("/v2/{}/tasks/{id}/stop", self.oms.a.id), None)
            .await
            .ok();
        let paused = self.wait_for(id, 3, Duration::from_secs(30)).await;
        let upload = db.load_upload(task_id, key).await.unwrap();
        (paused, upload.expect("the upload is saved"))
    }

    /// The failed-object list of a failed task, as text.
    pub async fn failed_list(&self, task: &Value) -> String {
        let key = task["failed_object_record"]["list_file_key"]
            .as_str()
            .unwrap_or_else(|| panic!("no failed list: {task:#}"));
        let body = self
            .dst
            .client()
            .get_object()
            .bucket(DST_BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// Asserts that the destination holds exactly the source's objects under `prefix`, byte for
    /// byte, with `save_prefix` before each key.
    pub async fn assert_identical(&self, prefix: &str, save_prefix: &str) {
        let source = self.src.md5s(SRC_BUCKET, prefix).await;
        let expected: BTreeMap<String, String> = source
            .into_iter()
            .map(|(k, v)| (format!("{save_prefix}{k}"), v))
            .collect();
        let copied = self
            .dst
            .md5s(DST_BUCKET, &format!("{save_prefix}{prefix}"))
            .await;
        assert_eq!(copied.len(), expected.len(), "object count differs");
        assert_eq!(copied, expected, "destination bytes differ from the source");
    }
}

/// Messages an operator reads: one sentence, never a client library's debug output.
pub fn assert_readable(message: &str) {
    for dump in [
        "ServiceError",
        "Response {",
        "raw:",
        "extensions",
        "request_id",
        "RequestId",
        "<?xml",
        "DispatchFailure",
    ] {
        assert!(!message.contains(dump), "'{dump}' in: {message}");
    }
    assert!(!message.contains('\n'), "more than one line: {message}");
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; n];
    rand::rng().fill(&mut bytes[..]);
    bytes
}
