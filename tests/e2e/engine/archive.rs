//! Archived sources on moto, which keeps `GLACIER` objects (a GET answers 403
//! InvalidObjectState), answers RestoreObject and shows the restore in HEAD's `x-amz-restore`:
//! with `enable_restore` each archived object is restored once, then copied byte for byte;
//! without it each fails saying to enable it. Restores under way do not hold the copies up:
//! the others are copied meanwhile, and a pause finds the restores again.

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
        restore_days: Some(7),
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
        let restore = head.restore().unwrap_or_default();
        assert!(
            restore.contains("ongoing-request=\"false\""),
            "{key}: {restore}"
        );
        // Kept for worker.restore_days (7 here): the store's expiry date says so.
        let expiry = restore
            .split("expiry-date=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{key}: no expiry date in {restore}"));
        let expiry = jiff::fmt::rfc2822::parse(expiry)
            .unwrap_or_else(|e| panic!("{key}: {expiry}: {e}"))
            .timestamp();
        let days = (expiry.as_second() - jiff::Timestamp::now().as_second()) as f64 / 86_400.0;
        assert!(
            (6.0..=8.0).contains(&days),
            "{key}: kept {days} days ({restore})"
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

    use crate::support::proxy::{After, Proxy, RequestHead};

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

    let (before, restores) = counting_restores();
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

/// A proxy hook that notes the path of every RestoreObject request, and the paths noted.
fn counting_restores() -> (
    crate::support::proxy::Before,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::sync::{Arc, Mutex};

    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let noted = Arc::clone(&asked);
    let before: crate::support::proxy::Before =
        Arc::new(move |head: crate::support::proxy::RequestHead| {
            let noted = Arc::clone(&noted);
            Box::pin(async move {
                if head.method == http::Method::POST
                    && head
                        .query
                        .split('&')
                        .any(|q| q == "restore" || q == "restore=")
                {
                    noted.lock().unwrap().push(head.path);
                }
            })
        });
    (before, asked)
}

/// Paths of objects whose restores are done, as the proxy of [`holding_proxy`] shows them
/// (`"*"`: all).
type Released = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A proxy in front of moto (whose restores finish at once) that counts the RestoreObject
/// requests and says "under way" to the HEADs of the keys under `prefix` whose restore was
/// asked for, until they are released.
async fn holding_proxy(
    moto: &Moto,
    prefix: &'static str,
) -> (
    crate::support::proxy::Proxy,
    Released,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::sync::Arc;

    use crate::support::proxy::{After, Proxy, RequestHead};

    let (before, asked) = counting_restores();
    let released: Released = Arc::default();
    let after: After = {
        let (released, asked) = (Arc::clone(&released), Arc::clone(&asked));
        Arc::new(
            move |head: &RequestHead, parts: &mut http::response::Parts| {
                let done = released.lock().unwrap();
                if head.method == http::Method::HEAD
                    && head.path.contains(prefix)
                    && !done.iter().any(|p| p == "*" || *p == head.path)
                    && asked.lock().unwrap().contains(&head.path)
                {
                    parts.headers.insert(
                        "x-amz-restore",
                        http::HeaderValue::from_static("ongoing-request=\"true\""),
                    );
                }
            },
        )
    };
    (
        Proxy::start(&moto.url, Some(before), Some(after)).await,
        released,
        asked,
    )
}

/// Six archived objects first in key order, ten others after them, four copies at a time: while
/// the restores run, the ten are copied (a copy slot waiting on each restore would have held
/// all four); the task shows them and waits, below 100 %. Then two restores end out of order
/// (the last object's; the one before it is deleted at the source, so it fails) and the task
/// is paused: both are counted exactly once, the failure kept for the failed list. Resumed, it
/// asks for no restore again, and once the others are done they are copied, byte for byte.
#[tokio::test]
async fn restores_under_way_do_not_hold_up_the_other_objects_and_survive_a_pause() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["cold", "warm-deferred"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let archived: Vec<String> = (0..6).map(|i| format!("c/a-archived-{i}")).collect();
    for key in &archived {
        s3.put_object()
            .bucket("cold")
            .key(key)
            .storage_class(StorageClass::Glacier)
            .body(ByteStream::from(random_bytes(3_000)))
            .send()
            .await
            .unwrap();
    }
    for i in 0..10 {
        s3.put_object()
            .bucket("cold")
            .key(format!("c/b-standard-{i}"))
            .body(ByteStream::from(random_bytes(5_000)))
            .send()
            .await
            .unwrap();
    }
    let (proxy, released, asked) = holding_proxy(&moto, "/c/a-archived-").await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        object_concurrency: Some(4),
        endpoints: vec![
            rule("AWS", "moto-src", &proxy.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;
    let api = oms.signed_client(&oms.a);
    let p = oms.a.id.clone();
    let show = async |id: i64| api.get(&format!("/v2/{p}/tasks/{id}")).await.body;
    let id = oms.create_task(&body("c/", "deferred", true)).await;

    // The ten are copied while the six restores are under way.
    let waiting = crate::support::harness::eventually(Duration::from_secs(60), async || {
        show(id).await["successful_num"] == 10
    })
    .await;
    let task = show(id).await;
    assert!(waiting, "the other objects were held up: {task:#}");
    assert_eq!(task["status"], 2, "{task:#}");
    assert_eq!(task["total_num"], 16, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    assert!(task["progress"].as_f64().unwrap() < 1.0, "{task:#}");
    let asked_once = |asked: &std::sync::Mutex<Vec<String>>| {
        let mut paths = asked.lock().unwrap().clone();
        paths.sort();
        paths
    };
    let expected: Vec<String> = archived.iter().map(|k| format!("/cold/{k}")).collect();
    assert_eq!(asked_once(&asked), expected, "each restore asked for once");
    assert_eq!(
        bucket_md5s(&s3, "warm-deferred", "c/").await.len(),
        10,
        "only the ten are there yet"
    );

    // The last restore ends and the one before fails, ahead of the four before them; then a
    // pause: each is counted once, the failure is kept.
    released
        .lock()
        .unwrap()
        .push("/cold/c/a-archived-5".to_owned());
    s3.delete_object()
        .bucket("cold")
        .key("c/a-archived-4")
        .send()
        .await
        .unwrap();
    let out_of_order = crate::support::harness::eventually(Duration::from_secs(60), async || {
        let task = show(id).await;
        task["successful_num"] == 11 && task["failed_num"] == 1
    })
    .await;
    assert!(out_of_order, "{:#}", show(id).await);
    api.post(&format!("/v2/{p}/tasks/{id}/stop"), None)
        .await
        .ok();
    let paused = oms.wait_task_end(id, Duration::from_secs(60)).await;
    assert_eq!(paused["status"], 3, "{paused:#}");
    assert_eq!(
        (
            &paused["successful_num"],
            &paused["failed_num"],
            &paused["total_num"]
        ),
        (&json!(11), &json!(1), &json!(16)),
        "{paused:#}"
    );
    api.post(
        &format!("/v2/{p}/tasks/{id}/start"),
        Some(&json!({"src_ak": "MOTOSRC", "src_sk": "secret",
                     "dst_ak": "MOTODST", "dst_sk": "secret"})),
    )
    .await
    .ok();
    let running = crate::support::harness::eventually(Duration::from_secs(30), async || {
        show(id).await["status"] == 2
    })
    .await;
    assert!(running, "the task did not run again");
    tokio::time::sleep(Duration::from_secs(2)).await;
    released.lock().unwrap().push("*".to_owned());

    // Everything else is copied; the deleted object is the one failure, and its reason.
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 4, "{task:#}");
    assert_eq!(
        (
            &task["successful_num"],
            &task["failed_num"],
            &task["total_num"]
        ),
        (&json!(15), &json!(1), &json!(16)),
        "{task:#}"
    );
    let failed = api.get(&format!("/v2/{p}/tasks/{id}/failed-objects")).await;
    let failed = failed.ok()["failed_objects"].as_array().unwrap().clone();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["key"], "c/a-archived-4");
    assert_eq!(
        bucket_md5s(&s3, "warm-deferred", "c/").await,
        bucket_md5s(&s3, "cold", "c/").await
    );
    assert_eq!(asked_once(&asked), expected, "no restore asked for again");
}
