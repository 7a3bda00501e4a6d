//! The Huawei Cloud Terraform provider, replayed: its requests, its Go-style signatures, its
//! waits and its "is it gone" tests, as the provider's source states them, against omsd with a
//! worker moving real objects. The provider itself cannot run here (it is fetched from a
//! registry); what it sends and reads is what this file sends and reads.
//!
//! The signer below is written from the Go SDK's rules, independently of omsd's: it signs the
//! headers the request holds at signing time (`accept`, `user-agent`, `x-sdk-date`, and
//! `content-type` when there is a body), never `host`; the canonical URI ends in `/`; the query
//! is sorted and re-encoded and sent that way; `X-Project-Id` is added after signing.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use aws_lc_rs::{digest, hmac};
use reqwest::Method;
use serde_json::{Value, json};

use crate::engine::{DST_BUCKET, DST_REGION, MIB, Migration, SRC_BUCKET, SRC_REGION, random_bytes};
use crate::support::harness::{Reply, sdk_date};

/// The Go SDK's escaping: everything but `A-Z a-z 0-9 - _ . ~`.
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The provider's client: AK/SK of project A, signed the Go way.
struct Provider<'a> {
    m: &'a Migration,
    http: reqwest::Client,
}

impl<'a> Provider<'a> {
    fn new(m: &'a Migration) -> Self {
        Self {
            m,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request as the provider does: `path` under `/v2/{project_id}/`, `query` pairs,
    /// a JSON body with sorted keys, compact, ending in a newline.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let project = &self.m.oms.a;
        let path = format!("/v2/{}/{path}", project.id);
        let body = body.map(|b| {
            // serde_json's maps are sorted (BTreeMap): keys come out in order.
            let mut text = serde_json::to_string(b).unwrap();
            text.push('\n');
            text.into_bytes()
        });
        let mut pairs: Vec<(String, String)> =
            query.iter().map(|(k, v)| (escape(k), escape(v))).collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut uri = path.split('/').map(escape).collect::<Vec<_>>().join("/");
        if !uri.ends_with('/') {
            uri.push('/');
        }
        let date = sdk_date(SystemTime::now());
        let mut headers = vec![
            ("accept", "application/json".to_owned()),
            ("user-agent", "huaweicloud-usdk-go/3.0 terraform".to_owned()),
            ("x-sdk-date", date),
        ];
        if body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        headers.sort();
        let canonical_headers: String = headers
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        let signed = headers
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(";");
        let payload = hex::encode(digest::digest(
            &digest::SHA256,
            body.as_deref().unwrap_or_default(),
        ));
        let canonical = format!(
            "{}\n{uri}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload}",
            method.as_str()
        );
        let date = &headers.iter().find(|(k, _)| *k == "x-sdk-date").unwrap().1;
        let to_sign = format!(
            "SDK-HMAC-SHA256\n{date}\n{}",
            hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, project.sk.as_bytes());
        let signature = hex::encode(hmac::sign(&key, to_sign.as_bytes()));
        let mut url = format!("{}{path}", self.m.oms.base);
        if !canonical_query.is_empty() {
            url = format!("{url}?{canonical_query}");
        }
        let mut request = self.http.request(method, url);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        request = request
            .header(
                "authorization",
                format!(
                    "SDK-HMAC-SHA256 Access={}, SignedHeaders={signed}, Signature={signature}",
                    project.ak
                ),
            )
            // Added after signing, unsigned.
            .header("x-project-id", &project.id);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            headers,
        }
    }

    /// The provider's `retry.StateChangeConf`: refresh until a `target` state; a state in
    /// neither `pending` nor `target`, or a refresh error, ends the wait with an error (here, a
    /// panic naming it).
    async fn wait(&self, path: &str, pending: &[i64], target: &[i64]) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let reply = self.send(Method::GET, path, &[], None).await;
            assert_eq!(
                reply.status, 200,
                "refresh of {path} failed: {}",
                reply.text
            );
            let status = reply.body["status"]
                .as_i64()
                .unwrap_or_else(|| panic!("status is not a number: {}", reply.text));
            if target.contains(&status) {
                return reply.body;
            }
            assert!(
                pending.contains(&status),
                "unexpected state '{status}' of {path}, wanted {target:?}: {:#}",
                reply.body
            );
            assert!(tokio::time::Instant::now() < deadline, "{:#}", reply.body);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The provider's delete-then-"DELETED" wait for groups: gone means HTTP 404.
    async fn wait_gone(&self, path: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let reply = self.send(Method::GET, path, &[], None).await;
            if reply.status == 404 {
                assert_eq!(reply.code(), "OMS.1009", "{}", reply.text);
                return;
            }
            let status = reply.body["status"].as_i64().unwrap_or(-1);
            assert!(
                [8, 9].contains(&status) && tokio::time::Instant::now() < deadline,
                "not gone: {}",
                reply.text
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Asserts the JSON types the provider's `d.Set` and type assertions insist on.
fn assert_types(resource: &Value, strings: &[&str], bools: &[&str], numbers: &[&str]) {
    for field in strings {
        assert!(
            resource[field].is_string(),
            "{field} is not a string: {resource:#}"
        );
    }
    for field in bools {
        assert!(
            resource[field].is_boolean(),
            "{field} is not a bool: {resource:#}"
        );
    }
    for field in numbers {
        assert!(
            resource[field].is_number(),
            "{field} is not a number: {resource:#}"
        );
    }
}

fn bandwidth(mb: u64) -> Value {
    json!([{"max_bandwidth": mb * 1_048_576, "start": "00:00", "end": "23:59"}])
}

#[tokio::test]
async fn the_terraform_task_resource_lives_and_dies_as_the_provider_drives_it() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "tf/big.bin", random_bytes(20 * MIB), None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "tf/small.txt", random_bytes(1000), None, &[])
        .await;
    m.dst.faults.part_delay_ms.store(600, Ordering::SeqCst);
    let tf = Provider::new(&m);

    // Create: `object = [""]` (the whole bucket), `dst_node.security_token: null`.
    let body = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": m.src.ak, "sk": m.src.sk,
                     "bucket": SRC_BUCKET, "object_key": [""]},
        "dst_node": {"region": DST_REGION, "ak": m.dst.ak, "sk": m.dst.sk, "security_token": null,
                     "bucket": DST_BUCKET},
        "enable_kms": false,
        "enable_restore": false,
        "enable_failed_object_recording": true,
        "enable_metadata_migration": false,
        "enable_requester_pays": false,
        "description": "managed by terraform",
        "bandwidth_policy": bandwidth(100),
    });
    let created = tf.send(Method::POST, "tasks", &[], Some(&body)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["id"].as_i64().expect("id is a number");
    let path = format!("tasks/{id}");
    tf.wait(&path, &[0, 1], &[2, 5]).await;

    // Read.
    let task = tf.send(Method::GET, &path, &[], None).await.body;
    assert_types(
        &task,
        &["task_type", "description", "name"],
        &[
            "enable_kms",
            "enable_restore",
            "enable_failed_object_recording",
        ],
        &["status"],
    );
    assert!(
        task["bandwidth_policy"][0]["max_bandwidth"].is_number(),
        "{task:#}"
    );
    assert!(task["source_cdn"].is_null() || task["source_cdn"].is_object());
    assert!(task["migrate_since"].is_number() || task["migrate_since"].is_null());

    // Update the bandwidth policy; an empty one is sent as `{}`.
    let reply = tf
        .send(
            Method::PUT,
            &format!("{path}/bandwidth-policy"),
            &[],
            Some(&json!({"bandwidth_policy": bandwidth(50)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // start_task = false: stop (no body), then wait 0,7 → 3 only, while parts are in flight.
    assert!(
        crate::support::harness::eventually(Duration::from_secs(30), async || {
            m.dst.calls.count("upload_part", "tf/big.bin") >= 1
        })
        .await
    );
    let reply = tf
        .send(Method::POST, &format!("{path}/stop"), &[], None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    tf.wait(&path, &[0, 2, 7], &[3]).await;

    // start_task = true: start with the keys (null security tokens), wait 0,1 → 2,5.
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    let start = json!({"src_ak": m.src.ak, "src_sk": m.src.sk, "src_security_token": null,
                       "dst_ak": m.dst.ak, "dst_sk": m.dst.sk, "dst_security_token": null,
                       "source_cdn_authentication_key": null});
    let reply = tf
        .send(Method::POST, &format!("{path}/start"), &[], Some(&start))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    tf.wait(&path, &[0, 1, 2], &[5]).await;
    m.assert_identical("tf/", "").await;

    // The tasks data source pages with limit 100 and an offset.
    let listed = tf
        .send(
            Method::GET,
            "tasks",
            &[("limit", "100"), ("offset", "0")],
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert!(
        listed.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id)
    );

    // Delete, then Read finds it gone (400 OMS.1009 counts as gone for tasks).
    let reply = tf.send(Method::DELETE, &path, &[], None).await;
    assert!([200, 202, 204].contains(&reply.status), "{}", reply.text);
    let gone = tf.send(Method::GET, &path, &[], None).await;
    assert!(
        gone.status == 404 || (gone.status == 400 && gone.code() == "OMS.1009"),
        "{}",
        gone.text
    );
}

#[tokio::test]
async fn a_stop_that_lands_while_the_last_object_drains_ends_paused_and_a_start_completes() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "drain/one.txt", random_bytes(1000), None, &[])
        .await;
    m.dst.faults.put_delay_ms.store(1500, Ordering::SeqCst);
    let tf = Provider::new(&m);
    let id = m.create(&m.task_body(&["drain/"])).await;
    let path = format!("tasks/{id}");
    // The only object is being written when the stop comes: it finishes, and the task
    // pauses (the provider's stop-wait accepts 3 only).
    assert!(
        crate::support::harness::eventually(Duration::from_secs(30), async || {
            m.dst.calls.count("put_object", "drain/one.txt") >= 1
        })
        .await
    );
    let reply = tf
        .send(Method::POST, &format!("{path}/stop"), &[], None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    tf.wait(&path, &[0, 2, 7], &[3]).await;
    m.dst.faults.put_delay_ms.store(0, Ordering::SeqCst);
    let reply = tf
        .send(
            Method::POST,
            &format!("{path}/start"),
            &[],
            Some(&m.start_body()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let done = tf.wait(&path, &[0, 1, 2], &[5]).await;
    assert_eq!(done["successful_num"], 1, "{done:#}");
    assert_eq!(m.dst.calls.count("put_object", "drain/one.txt"), 1);
}

#[tokio::test]
async fn the_terraform_task_group_resource_lives_and_dies_as_the_provider_drives_it() {
    let m = Migration::start_custom(true, Some(20)).await;
    let objects: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("grp/{i:03}"), random_bytes(500)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    m.dst.faults.put_delay_ms.store(300, Ordering::SeqCst);
    let tf = Provider::new(&m);
    let body = json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": m.src.ak, "sk": m.src.sk,
                     "bucket": SRC_BUCKET, "object_key": ["grp/"]},
        "dst_node": {"region": DST_REGION, "ak": m.dst.ak, "sk": m.dst.sk, "cloud_type": "HEC",
                     "bucket": DST_BUCKET},
        "enable_failed_object_recording": true,
        "enable_kms": false,
        "enable_requester_pays": false,
        "enable_metadata_migration": false,
        "migrate_since": null,
        "bandwidth_policy": bandwidth(100),
    });
    let created = tf.send(Method::POST, "taskgroups", &[], Some(&body)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["group_id"]
        .as_str()
        .expect("group_id is a string")
        .to_owned();
    let path = format!("taskgroups/{id}");
    tf.wait(&path, &[0, 1], &[2, 6]).await;

    let group = tf.send(Method::GET, &path, &[], None).await.body;
    assert_types(
        &group,
        &[
            "task_type",
            "description",
            "object_overwrite_mode",
            "consistency_check",
        ],
        &[
            "enable_kms",
            "enable_requester_pays",
            "enable_failed_object_recording",
        ],
        &[
            "status",
            "total_time",
            "total_num",
            "success_num",
            "fail_num",
            "total_size",
            "complete_size",
        ],
    );

    let reply = tf
        .send(
            Method::PUT,
            &format!("{path}/update"),
            &[],
            Some(&json!({"bandwidth_policy": bandwidth(20)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // action = "stop": wait 7 → 3,6.
    let reply = tf
        .send(Method::PUT, &format!("{path}/stop"), &[], None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    tf.wait(&path, &[2, 7], &[3, 6]).await;

    // action = "start": keys again, wait 0,1 → 2,6; then to the end.
    m.dst.faults.put_delay_ms.store(0, Ordering::SeqCst);
    let start = json!({"src_ak": m.src.ak, "src_sk": m.src.sk, "dst_ak": m.dst.ak,
                       "dst_sk": m.dst.sk, "source_cdn_authentication_key": null});
    let reply = tf
        .send(Method::PUT, &format!("{path}/start"), &[], Some(&start))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    tf.wait(&path, &[0, 1, 2], &[6]).await;
    m.assert_identical("grp/", "").await;

    let listed = tf
        .send(
            Method::GET,
            "taskgroups",
            &[("limit", "100"), ("offset", "0")],
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let ids: BTreeSet<&str> = listed.body["taskgroups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["group_id"].as_str())
        .collect();
    assert!(ids.contains(id.as_str()));

    // Delete, then wait 8,9 → "DELETED", which means HTTP 404.
    let reply = tf.send(Method::DELETE, &path, &[], None).await;
    assert!([200, 202, 204].contains(&reply.status), "{}", reply.text);
    tf.wait_gone(&path).await;
    // A group that never existed is gone in the same way.
    tf.wait_gone("taskgroups/0b5e7c1a-7f43-4a8e-9d1c-000000000000")
        .await;
}

#[tokio::test]
async fn the_terraform_sync_task_resource_reads_every_field_with_its_type() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "tf-sync/a", random_bytes(100), None, &[])
        .await;
    let tf = Provider::new(&m);
    let body = json!({
        "src_cloud_type": "AWS", "src_region": SRC_REGION, "src_bucket": SRC_BUCKET,
        "src_ak": m.src.ak, "src_sk": m.src.sk,
        "dst_region": DST_REGION, "dst_bucket": DST_BUCKET, "dst_ak": m.dst.ak, "dst_sk": m.dst.sk,
        "description": "tf", "enable_kms": false, "enable_restore": false,
        "enable_metadata_migration": true, "app_id": "", "consistency_check": "size_last_modified",
    });
    let created = tf.send(Method::POST, "sync-tasks", &[], Some(&body)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["sync_task_id"].as_str().unwrap().to_owned();
    let now = oms_core::time::now_ms().to_string();
    let strings = [
        "status",
        "src_cloud_type",
        "src_region",
        "src_bucket",
        "dst_bucket",
        "description",
        "app_id",
        "object_overwrite_mode",
        "dst_storage_policy",
        "consistency_check",
    ];
    let bools = ["enable_kms", "enable_metadata_migration", "enable_restore"];
    let shown = tf
        .send(
            Method::GET,
            &format!("sync-tasks/{id}"),
            &[("query_time", now.as_str())],
            None,
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_types(
        &shown.body,
        &strings,
        &bools,
        &[
            "monthly_acceptance_request",
            "monthly_success_object",
            "monthly_failure_object",
            "monthly_skip_object",
            "monthly_size",
            "create_time",
            "last_start_time",
        ],
    );
    assert_eq!(shown.body["enable_kms"], false);
    let listed = tf
        .send(
            Method::GET,
            "sync-tasks",
            &[("limit", "100"), ("offset", "0")],
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let task = listed.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["sync_task_id"] == id.as_str())
        .unwrap()
        .clone();
    let mut with_region = strings.to_vec();
    with_region.push("dst_region");
    assert_types(
        &task,
        &with_region,
        &bools,
        &["create_time", "last_start_time"],
    );

    // Delete as the provider does: stop what synchronizes, then delete.
    let reply = tf
        .send(Method::POST, &format!("sync-tasks/{id}/stop"), &[], None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = tf
        .send(Method::DELETE, &format!("sync-tasks/{id}"), &[], None)
        .await;
    assert!([200, 204].contains(&reply.status), "{}", reply.text);
}
