//! `consistency_check: crc64` and `CRC64_COMPARISON_OVERWRITE` against stores that report an
//! object's CRC-64/XZ as Huawei OBS, Aliyun OSS and Tencent COS do (an s3s-fs wrapper adds the
//! header, computed independently of the engine): every copy path is proven by it, a multipart
//! upload resumed by a later run still is (its parts' CRCs are kept with them and combined), a
//! store that lies fails the object, and a task whose stores report none says so.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::{DST_BUCKET, MIB, Migration, SAME_STORE_REGION, SRC_BUCKET, random_bytes};
use crate::support::s3::{crc64_xz, md5_hex};

/// A prefix task over `prefix` checked by CRC64.
fn crc_body(m: &Migration, prefix: &str) -> Value {
    let mut body = m.task_body(&[prefix]);
    body["consistency_check"] = json!("crc64");
    body
}

/// Both stores report CRC64: the source as Aliyun OSS, the destination as Huawei OBS.
fn report_crc64(m: &Migration) {
    *m.src.faults.crc64_header.lock().unwrap() = Some("x-oss-hash-crc64ecma");
    *m.dst.faults.crc64_header.lock().unwrap() = Some("x-obs-hash-crc64ecma");
}

/// A small object and one copied in three parts under `prefix`.
async fn put_pair(m: &Migration, prefix: &str) {
    m.src
        .put_many(
            SRC_BUCKET,
            vec![
                (format!("{prefix}small"), random_bytes(3_000)),
                (format!("{prefix}large"), random_bytes(11 * MIB + 7)),
            ],
        )
        .await;
}

#[test]
fn the_test_stores_crc_is_crc64_xz() {
    assert_eq!(crc64_xz(b"123456789"), 0x995D_C9BB_DF19_39FA);
}

#[tokio::test]
async fn stores_that_report_crc64_prove_single_and_multipart_copies() {
    let m = Migration::start().await;
    report_crc64(&m);
    put_pair(&m, "crc/").await;
    let id = m.create(&crc_body(&m, "crc/")).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 2, "{task:#}");
    assert!(task.get("warnings").is_none(), "{task:#}");
    m.assert_identical("crc/", "").await;
}

#[tokio::test]
async fn a_destination_that_lies_about_its_crc64_fails_every_object() {
    let m = Migration::start().await;
    report_crc64(&m);
    m.dst.faults.crc64_lies.store(true, Ordering::SeqCst);
    put_pair(&m, "lie/").await;
    let id = m.create(&crc_body(&m, "lie/")).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0004", "{task:#}");
    assert_eq!(task["failed_num"], 2, "{task:#}");
    let api = m.oms.signed_client(&m.oms.a);
    let failed = api
        .get(&format!("/v2/{}/tasks/{id}/failed-objects", m.oms.a.id))
        .await;
    let objects = failed.ok()["failed_objects"].as_array().unwrap().clone();
    assert_eq!(objects.len(), 2, "{objects:?}");
    for object in objects {
        assert_eq!(object["error_code"], "UPLOAD_DST_OBJ_FAILURE", "{object}");
        let message = object["error_msg"].as_str().unwrap();
        assert!(message.contains("CRC64 mismatch"), "{message}");
        assert!(message.contains("the destination reports"), "{message}");
    }

    // Without the CRC64 check the same store's MD5s are right: the objects are copied.
    let mut body = m.task_body(&["lie/"]);
    body["object_overwrite_mode"] = json!("FULL_OVERWRITE");
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 2, "{task:#}");
}

#[tokio::test]
async fn a_source_whose_crc64_disagrees_with_its_bytes_fails_the_object() {
    let m = Migration::start().await;
    report_crc64(&m);
    m.src.faults.crc64_lies.store(true, Ordering::SeqCst);
    put_pair(&m, "src-lie/").await;
    let id = m.create(&crc_body(&m, "src-lie/")).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["failed_num"], 2, "{task:#}");
    assert!(m.dst.keys(DST_BUCKET, "src-lie/").await.len() <= 2);
}

#[tokio::test]
async fn stores_that_report_no_crc64_are_checked_by_size_and_time_and_the_task_says_so() {
    let m = Migration::start().await;
    put_pair(&m, "none/").await;
    let id = m.create(&crc_body(&m, "none/")).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 2, "{task:#}");
    let warnings = task["warnings"].as_array().expect("a warning").clone();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("crc64: 2 objects were checked by size and time")),
        "{warnings:?}"
    );
    m.assert_identical("none/", "").await;
}

#[tokio::test]
async fn a_multipart_upload_resumed_by_a_later_run_is_still_proven_by_crc64() {
    let m = Migration::start().await;
    report_crc64(&m);
    m.src
        .put(SRC_BUCKET, "resume/big", random_bytes(21 * MIB), None, &[])
        .await; // 5 parts
    m.dst.faults.part_delay_ms.store(800, Ordering::SeqCst);
    let id = m.create(&crc_body(&m, "resume/")).await;
    let (_, upload) = m.stop_once_a_part_is_saved(id, "resume/big").await;
    assert!(upload.parts.len() < 5, "{} parts", upload.parts.len());
    assert!(
        upload.parts.iter().all(|(_, p)| p.crc64.is_some()),
        "every saved part keeps its CRC64"
    );
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    // Parts in flight at the stop may have reached the store unsaved: counted from here.
    let sent_before = m.dst.calls.count("upload_part", "resume/big");
    let api = m.oms.signed_client(&m.oms.a);
    api.post(
        &format!("/v2/{}/tasks/{id}/start", m.oms.a.id),
        Some(&m.start_body()),
    )
    .await
    .ok();
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1, "{task:#}");
    assert!(task.get("warnings").is_none(), "{task:#}");
    // The resumed run sent only the parts not saved.
    assert_eq!(
        m.dst.calls.count("upload_part", "resume/big") - sent_before,
        u32::try_from(5 - upload.parts.len()).unwrap()
    );
    m.assert_identical("resume/", "").await;
}

#[tokio::test]
async fn a_server_side_copy_is_proven_by_the_crc64_of_both_sides() {
    let m = Migration::start().await;
    *m.src.faults.crc64_header.lock().unwrap() = Some("x-cos-hash-crc64ecma");
    m.src
        .put(SRC_BUCKET, "same/a", random_bytes(2_000), None, &[])
        .await;
    m.src.create_bucket("copies").await;
    let mut body = crc_body(&m, "same/");
    body["dst_node"] =
        json!({"ak": m.src.ak, "sk": m.src.sk, "region": SAME_STORE_REGION, "bucket": "copies"});
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1, "{task:#}");
    assert!(task.get("warnings").is_none(), "{task:#}");
    assert!(m.src.calls.count("copy_object", "same/a") >= 1);
}

#[tokio::test]
async fn crc64_overwrite_mode_replaces_a_same_size_newer_object_whose_crc_differs() {
    let m = Migration::start().await;
    report_crc64(&m);
    let source = random_bytes(1_000);
    let stale = random_bytes(1_000);
    m.src
        .put_many(SRC_BUCKET, vec![("ow/a".into(), source.clone())])
        .await;
    // Written after the source, same size: size and time would keep it.
    m.dst
        .put_many(DST_BUCKET, vec![("ow/a".into(), stale)])
        .await;
    m.dst
        .put_many(DST_BUCKET, vec![("ow/b".into(), random_bytes(10))])
        .await;
    m.src
        .put_many(SRC_BUCKET, vec![("ow/b".into(), random_bytes(10))])
        .await;
    let same = random_bytes(500);
    m.src
        .put_many(SRC_BUCKET, vec![("ow/c".into(), same.clone())])
        .await;
    m.dst
        .put_many(DST_BUCKET, vec![("ow/c".into(), same)])
        .await;
    let mut body = m.task_body(&["ow/"]);
    body["object_overwrite_mode"] = json!("CRC64_COMPARISON_OVERWRITE");
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    // a: its CRC differs, copied; b: the source is newer, copied; c: same CRC, skipped.
    assert_eq!(
        (&task["successful_num"], &task["skipped_num"]),
        (&json!(2), &json!(1)),
        "{task:#}"
    );
    assert_eq!(
        m.dst.md5s(DST_BUCKET, "ow/a").await["ow/a"],
        md5_hex(&source)
    );
    m.assert_identical("ow/", "").await;
}
