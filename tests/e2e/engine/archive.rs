//! Archived sources on moto, which keeps `GLACIER` objects (a GET answers 403
//! InvalidObjectState), answers RestoreObject and shows the restore in HEAD's `x-amz-restore`:
//! with `enable_restore` each archived object is restored once, then copied byte for byte;
//! without it each fails saying to enable it.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use serde_json::{Value, json};

use super::{random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::s3::{bucket_md5s, client};

/// A prefix task from moto's `cold` bucket to its `warm-{tag}` bucket.
fn body(prefix: &str, tag: &str, restore: bool) -> Value {
    json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC", "sk": "secret",
                     "bucket": "cold", "object_key": [prefix]},
        "dst_node": {"ak": "MOTODST", "sk": "secret", "region": "moto-dst", "bucket": format!("warm-{tag}")},
        "enable_restore": restore,
    })
}

#[tokio::test]
async fn archived_objects_are_restored_then_copied_and_fail_without_enable_restore() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["cold", "warm-on", "warm-off"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    for (i, class) in [
        StorageClass::Glacier,
        StorageClass::DeepArchive,
        StorageClass::Standard,
    ]
    .into_iter()
    .enumerate()
    {
        s3.put_object()
            .bucket("cold")
            .key(format!("a/{i}"))
            .storage_class(class)
            .body(ByteStream::from(random_bytes(1_000 + i)))
            .send()
            .await
            .unwrap();
    }
    // moto refuses to read an archived object, as S3 does.
    assert!(
        s3.get_object()
            .bucket("cold")
            .key("a/0")
            .send()
            .await
            .is_err()
    );
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &moto.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;

    let id = oms.create_task(&body("a/", "off", false)).await;
    let task = oms.wait_task_end(id, Duration::from_secs(60)).await;
    assert_eq!(task["status"], 4, "{task:#}");
    assert_eq!(
        (&task["successful_num"], &task["failed_num"]),
        (&json!(1), &json!(2))
    );
    let api = oms.signed_client(&oms.a);
    let failed = api
        .get(&format!("/v2/{}/tasks/{id}/failed-objects", oms.a.id))
        .await;
    for object in failed.ok()["failed_objects"].as_array().unwrap() {
        let message = object["error_msg"].as_str().unwrap();
        assert!(message.contains("enable_restore: true"), "{message}");
        assert!(message.contains("archived"), "{message}");
    }

    let id = oms.create_task(&body("a/", "on", true)).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 3, "{task:#}");
    // Restored, the archived objects read back: every byte is compared.
    let source = bucket_md5s(&s3, "cold", "a/").await;
    let copied = bucket_md5s(&s3, "warm-on", "a/").await;
    assert_eq!(copied, source);
    for key in ["a/0", "a/1"] {
        let head = s3
            .head_object()
            .bucket("cold")
            .key(key)
            .send()
            .await
            .unwrap();
        assert!(
            head.restore()
                .is_some_and(|r| r.contains("ongoing-request=\"false\"")),
            "{key}: {:?}",
            head.restore()
        );
    }
}

/// A restore asked for before the run (by this task before a stop or a crash, or by someone
/// else) and still under way is waited for, not asked for again; an archived object with no
/// restore is asked for once. A proxy in front of moto (whose restores finish at once) says
/// "under way" to the first HEADs of `b/pending`, and counts the RestoreObject requests.
#[tokio::test]
async fn a_restore_under_way_is_waited_for_not_asked_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::support::proxy::{After, Before, Proxy, RequestHead};

    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["cold", "warm-pending"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    for key in ["b/pending", "b/fresh"] {
        s3.put_object()
            .bucket("cold")
            .key(key)
            .storage_class(StorageClass::Glacier)
            .body(ByteStream::from(random_bytes(2_000)))
            .send()
            .await
            .unwrap();
    }
    // Asked for before the task runs.
    s3.restore_object()
        .bucket("cold")
        .key("b/pending")
        .restore_request(aws_sdk_s3::types::RestoreRequest::builder().days(1).build())
        .send()
        .await
        .unwrap();

    let restores: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let before: Before = {
        let restores = Arc::clone(&restores);
        Arc::new(move |head: RequestHead| {
            let restores = Arc::clone(&restores);
            Box::pin(async move {
                if head.method == http::Method::POST
                    && head
                        .query
                        .split('&')
                        .any(|q| q == "restore" || q == "restore=")
                {
                    restores.lock().unwrap().push(head.path);
                }
            })
        })
    };
    let pending_heads = Arc::new(AtomicUsize::new(0));
    let after: After = {
        let pending_heads = Arc::clone(&pending_heads);
        Arc::new(
            move |head: &RequestHead, parts: &mut http::response::Parts| {
                if head.method == http::Method::HEAD
                    && head.path.ends_with("/b/pending")
                    && pending_heads.fetch_add(1, Ordering::SeqCst) < 2
                {
                    parts.headers.insert(
                        "x-amz-restore",
                        http::HeaderValue::from_static("ongoing-request=\"true\""),
                    );
                }
            },
        )
    };
    let proxy = Proxy::start(&moto.url, Some(before), Some(after)).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &proxy.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;

    let id = oms.create_task(&body("b/", "pending", true)).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 2, "{task:#}");
    assert_eq!(
        bucket_md5s(&s3, "warm-pending", "b/").await,
        bucket_md5s(&s3, "cold", "b/").await
    );
    // The pending restore was polled until done (two "under way", then done) ...
    assert!(pending_heads.load(Ordering::SeqCst) >= 3);
    // ... and only the object without one was asked for.
    assert_eq!(*restores.lock().unwrap(), vec!["/cold/b/fresh".to_owned()]);
}
