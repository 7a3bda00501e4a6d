//! Faults: throttling and server errors are retried; a permanently failing object fails the
//! task with TRF.0004 and a failed list, and a retry of just the failed objects completes it;
//! wrong keys and missing buckets fail fast, naming the side; bytes damaged on the way into the
//! destination are caught by their MD5 and sent again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::{DST_BUCKET, MIB, Migration, SRC_BUCKET, random_bytes};
use crate::support::fixtures::with;

#[tokio::test]
async fn throttling_is_retried_and_a_broken_object_is_retransmitted_alone() {
    let m = Migration::start().await;
    let objects: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("data/{i:03}.bin"), random_bytes(1500)))
        .collect();
    let keys: Vec<String> = objects.iter().map(|(k, _)| k.clone()).collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    // Every fifth key answers 503 SlowDown twice per operation, on both sides.
    for server in [&m.src, &m.dst] {
        server.faults.flaky_attempts.store(2, Ordering::SeqCst);
        server
            .faults
            .flaky_keys
            .lock()
            .unwrap()
            .extend(keys.iter().step_by(5).cloned());
    }
    let id = m.create(&m.task_body(&["data/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(120)).await;
    assert_eq!(
        (task["successful_num"].as_i64(), task["failed_num"].as_i64()),
        (Some(200), Some(0))
    );
    m.assert_identical("data/", "").await;
    // Two throttled attempts at each side, then success: a retry redoes the whole GET → PUT.
    assert_eq!(m.dst.calls.count("put_object", "data/000.bin"), 3);
    assert!(m.src.calls.count("get_object", "data/000.bin") >= 3);

    // A key whose every read fails: the task fails with TRF.0004 and a failed list.
    m.src
        .put(SRC_BUCKET, "more/broken.bin", random_bytes(100), None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "more/fine.bin", random_bytes(100), None, &[])
        .await;
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("more/broken.bin".into());
    let id = m.create(&m.task_body(&["more/"])).await;
    let failed = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(failed["error_reason"]["error_code"], "TRF.0004");
    assert_eq!(
        (
            failed["successful_num"].as_i64(),
            failed["failed_num"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let list_key = failed["failed_object_record"]["list_file_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        list_key.starts_with(&format!(
            "oms/task/{}/failed_object_lists/",
            failed["name"].as_str().unwrap()
        )),
        "{list_key}"
    );
    assert_eq!(failed["failed_object_record"]["result"], true);
    let list = m
        .dst
        .client()
        .get_object()
        .bucket(DST_BUCKET)
        .key(&list_key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    let list = String::from_utf8(list.to_vec()).unwrap();
    assert!(
        list.starts_with("GET_SRC_OBJ_FAILURE\t")
            && list.contains("more%2Fbroken%2Ebin\tmore/broken.bin\t"),
        "{list}"
    );
    // One readable sentence: the side, the operation, bucket and key, the store's answer.
    let message = list.trim_end().split('\t').nth(4).unwrap();
    assert!(
        message.starts_with("source: GetObject of source/more/broken.bin at http://127.0.0.1:")
            && message.ends_with("this key is broken (HTTP 500 InternalError)"),
        "{message}"
    );
    super::assert_readable(message);
    // The same, through the API, without reading the bucket.
    let api = m.oms.signed_client(&m.oms.a);
    let failed_objects = format!("/v2/{}/tasks/{id}/failed-objects", m.oms.a.id);
    let page = api.get(&format!("{failed_objects}?limit=10")).await;
    assert_eq!(page.ok()["count"], 1, "{}", page.text);
    let first = &page.body["failed_objects"][0];
    assert_eq!(first["key"], "more/broken.bin");
    assert_eq!(first["error_code"], "GET_SRC_OBJ_FAILURE");
    assert_eq!(first["error_msg"], message);
    assert!(first["failed_time"].as_i64().unwrap() > 0);
    api.get(&format!("{failed_objects}?limit=0"))
        .await
        .assert_error(400, "OMS.0064");

    // The fault is gone; retransmit only the failed objects.
    m.src.faults.broken_keys.lock().unwrap().clear();
    let failed_only = with(m.start_body(), "/migrate_failed_object", json!(true));
    api.post(
        &format!("/v2/{}/tasks/{id}/start", m.oms.a.id),
        Some(&failed_only),
    )
    .await
    .ok();
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            done["successful_num"].as_i64(),
            done["failed_num"].as_i64(),
            done["total_num"].as_i64()
        ),
        (Some(2), Some(0), Some(2))
    );
    // The counters add up, and the earlier failed list is no longer pointed at.
    assert_eq!(
        (done["total_size"].as_i64(), done["complete_size"].as_i64()),
        (Some(200), Some(200)),
        "{done:#}"
    );
    assert_eq!(done["failed_object_record"]["result"], false, "{done:#}");
    assert_eq!(
        done["failed_object_record"]["list_file_key"], "",
        "{done:#}"
    );
    assert_eq!(m.dst.calls.count("put_object", "more/broken.bin"), 1);
    assert_eq!(
        m.dst.calls.count("put_object", "more/fine.bin"),
        1,
        "the object that had succeeded was not copied again"
    );
    m.assert_identical("more/", "").await;
}

#[tokio::test]
async fn wrong_keys_and_missing_buckets_fail_fast_naming_the_side() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "x.txt", b"x".to_vec(), None, &[])
        .await;
    let cases = [
        (
            with(m.task_body(&[""]), "/src_node/sk", json!("wrong")),
            "TRF.0151",
            "source",
        ),
        (
            with(m.task_body(&[""]), "/dst_node/sk", json!("wrong")),
            "TRF.0057",
            "destination",
        ),
        (
            with(
                m.task_body(&[""]),
                "/src_node/bucket",
                json!("no-such-source"),
            ),
            "TRF.0155",
            "source",
        ),
        (
            with(
                m.task_body(&[""]),
                "/dst_node/bucket",
                json!("no-such-dest"),
            ),
            "TRF.0058",
            "destination",
        ),
    ];
    for (body, code, side) in cases {
        let id = m.create(&body).await;
        let task = m.wait_for(id, 4, Duration::from_secs(30)).await;
        assert_eq!(task["error_reason"]["error_code"], code, "{task:#}");
        assert!(
            task["error_reason"]["error_msg"]
                .as_str()
                .unwrap()
                .contains(side),
            "{task:#}"
        );
    }
    let health = m
        .oms
        .client(crate::support::harness::Auth::None)
        .get("/readyz")
        .await;
    assert_eq!(health.ok()["status"], "ok");
}

#[tokio::test]
async fn connections_reset_mid_request_are_retried_without_losing_objects() {
    let src = crate::support::s3::S3Server::start("src").await;
    let dst = crate::support::s3::S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    // Every connection to the destination dies (RST) after 25 kB from the worker (about seven
    // small PUTs), in the middle of a request.
    let proxy = crate::support::s3::ResetProxy::start(&dst.url, 25_000).await;
    let endpoints = vec![
        super::rule("AWS", super::SRC_REGION, &src.url),
        super::rule("HEC", super::DST_REGION, &proxy.url),
    ];
    let oms = crate::support::harness::TestServer::start_with(crate::support::harness::Overrides {
        worker: true,
        endpoints,
        ..crate::support::harness::Overrides::default()
    })
    .await;
    let m = Migration { oms, src, dst };
    let objects: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| (format!("r/{i:03}"), random_bytes(3000)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    let id = m.create(&m.task_body(&["r/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(120)).await;
    assert_eq!(
        (task["successful_num"].as_i64(), task["failed_num"].as_i64()),
        (Some(150), Some(0)),
        "{task:#}"
    );
    assert!(
        proxy.resets.load(Ordering::SeqCst) >= 3,
        "the proxy should have reset connections"
    );
    m.assert_identical("r/", "").await;
}

/// The destination stores damaged bytes for three writes. Every write is checked: a part by the
/// MD5 the worker computes of what it sent, a small object by its source's MD5, each against the
/// ETag the destination reports. So each damaged write is sent again, once, and nothing damaged
/// stays.
#[tokio::test]
async fn bytes_damaged_on_the_way_in_are_caught_by_their_md5_and_sent_again() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "big.bin", random_bytes(16 * MIB), None, &[])
        .await; // 4 parts
    m.src
        .put(SRC_BUCKET, "small.txt", random_bytes(1000), None, &[])
        .await;
    m.dst.faults.garbled_writes.store(3, Ordering::SeqCst);
    let id = m.create(&m.task_body(&[""])).await;
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(done["successful_num"], 2);
    assert_eq!(done["failed_num"], 0);
    m.assert_identical("", "").await;
    assert_eq!(m.dst.faults.garbled_writes.load(Ordering::SeqCst), 0);
    let writes =
        m.dst.calls.count("upload_part", "big.bin") + m.dst.calls.count("put_object", "small.txt");
    assert_eq!(writes, 4 + 1 + 3, "each damaged write sent again once");
}
