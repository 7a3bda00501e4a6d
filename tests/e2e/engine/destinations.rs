//! Destinations with the features production buckets have: default SSE-KMS encryption (entity
//! tags that are not MD5s), Object Lock with a default retention (every write needs
//! Content-MD5), and a bucket that refuses the failed-object list. Every object is proven
//! byte for byte, and what the task says of its lists is true.

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule,
};
use serde_json::json;

use super::{DST_BUCKET, MIB, Migration, SRC_BUCKET, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::s3::{bucket_md5s, client, md5_hex, object_bytes};

/// Objects of every copy path's kind under `prefix`: small ones (their MD5 known from the
/// source's entity tag), one stored in parts at the source (its MD5 unknown until read) and one
/// large enough to be copied in parts.
async fn put_mixed(m: &Migration, prefix: &str) {
    let small: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| (format!("{prefix}small-{i:02}"), random_bytes(3_000 + i)))
        .collect();
    m.src.put_many(SRC_BUCKET, small).await;
    m.src
        .put(
            SRC_BUCKET,
            &format!("{prefix}large"),
            random_bytes(11 * MIB + 5),
            None,
            &[],
        )
        .await;
    // Uploaded in two parts: its entity tag is "...-2", no MD5.
    let key = format!("{prefix}in-parts");
    let s3 = m.src.client();
    let upload = s3
        .create_multipart_upload()
        .bucket(SRC_BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 * MIB), (2, MIB / 2)] {
        let part = s3
            .upload_part()
            .bucket(SRC_BUCKET)
            .key(&key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(random_bytes(len)))
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(SRC_BUCKET)
        .key(&key)
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_kms_destination_gets_every_object_proven_by_content_md5() {
    let m = Migration::start().await;
    m.dst.faults.kms.store(true, Ordering::SeqCst);

    // The bucket does not say it encrypts: its first answers tell, and what they could not
    // prove is sent again with Content-MD5. Some bodies are damaged on the way in.
    put_mixed(&m, "quiet/").await;
    m.dst.faults.garbled_writes.store(3, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["quiet/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(120)).await;
    assert_eq!(task["successful_num"], 14, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    assert_eq!(m.dst.faults.garbled_writes.load(Ordering::SeqCst), 0);
    m.assert_identical("quiet/", "").await;
}

#[tokio::test]
async fn a_kms_destination_that_says_so_gets_content_md5_from_the_first_write() {
    // On a fresh worker: one that read this bucket's settings in the last minute keeps that
    // answer (oms-worker's seen.rs), and a change since is told by the first answers instead.
    let m = Migration::start().await;
    m.dst.faults.kms.store(true, Ordering::SeqCst);
    // The bucket says so (GetBucketEncryption): every write carries Content-MD5 from the start.
    m.dst.faults.kms_advertised.store(true, Ordering::SeqCst);
    m.dst.faults.writes_without_md5.store(0, Ordering::SeqCst);
    put_mixed(&m, "told/").await;
    m.dst.faults.garbled_writes.store(3, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["told/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(120)).await;
    assert_eq!(task["successful_num"], 14, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    assert_eq!(m.dst.faults.writes_without_md5.load(Ordering::SeqCst), 0);
    m.assert_identical("told/", "").await;
}

#[tokio::test]
async fn a_failed_list_that_cannot_be_written_is_reported_as_not_written() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "l/fine", random_bytes(10), None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "l/broken", random_bytes(10), None, &[])
        .await;
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("l/broken".into());
    *m.dst.faults.refused_write_prefix.lock().unwrap() = Some("oms/".into());
    let id = m.create(&m.task_body(&["l/"])).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0004", "{task:#}");
    let record = &task["failed_object_record"];
    assert_eq!(record["result"], false, "{task:#}");
    assert_eq!(record["list_file_key"], "", "{task:#}");
    assert_eq!(record["error_code"], "AccessDenied", "{task:#}");
    let message = task["error_reason"]["error_msg"].as_str().unwrap();
    assert!(message.contains("could not be written"), "{message}");
    assert!(!message.contains("see the failed object list"), "{message}");
    // The success list (l/fine) could not be written either, and the task says so.
    assert_eq!(
        task["success_record_error_reason"], "AccessDenied",
        "{task:#}"
    );
    assert_eq!(task["skip_record_error_reason"], "", "{task:#}");
    assert!(m.dst.keys(DST_BUCKET, "oms/").await.is_empty());
}

#[tokio::test]
async fn an_object_lock_destination_takes_every_write_and_the_failed_list() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    s3.create_bucket().bucket("lock-src").send().await.unwrap();
    s3.create_bucket()
        .bucket("lock-dst")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket("lock-dst")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // The rule holds: a plain write is refused.
    let refused = s3
        .put_object()
        .bucket("lock-dst")
        .key("probe")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert!(refused.is_err(), "moto took a write without Content-MD5");
    let mut keys = Vec::new();
    for (i, size) in [10, 2_000, 70_000, 9 * MIB + 3].into_iter().enumerate() {
        let key = format!("locked/{i}");
        s3.put_object()
            .bucket("lock-src")
            .key(&key)
            .body(ByteStream::from(random_bytes(size)))
            .send()
            .await
            .unwrap();
        keys.push(key);
    }
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &moto.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;
    // One key that does not exist at the source fails, so a failed list is written too.
    let mut named = keys.clone();
    named.push("locked/missing".to_owned());
    let body = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC", "sk": "secret",
                     "bucket": "lock-src", "object_key": named},
        "dst_node": {"ak": "MOTODST", "sk": "secret", "region": "moto-dst", "bucket": "lock-dst"},
    });
    let id = oms.create_task(&body).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 4, "{task:#}");
    assert_eq!(task["successful_num"], 4, "{task:#}");
    assert_eq!(task["failed_num"], 1, "{task:#}");
    let record = &task["failed_object_record"];
    assert_eq!(record["result"], true, "{task:#}");
    assert_eq!(record["error_code"], "", "{task:#}");
    let list_key = record["list_file_key"].as_str().unwrap();
    let list = String::from_utf8(object_bytes(&s3, "lock-dst", list_key).await).unwrap();
    assert!(list.contains("locked/missing"), "{list}");

    let source = bucket_md5s(&s3, "lock-src", "locked/").await;
    let copied = bucket_md5s(&s3, "lock-dst", "locked/").await;
    assert_eq!(copied, source);
    assert_eq!(copied.len(), 4);
    assert_ne!(copied["locked/0"], md5_hex(b""));
}
