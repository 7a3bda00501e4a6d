//! Sync tasks fed by bucket notifications and healed by reconciliation: S3 event notification
//! documents posted as AWS S3, MinIO and SNS post them to the task's notification URL, with its
//! token, and reconciliation passes that find what changed at the source without any event.
//! Checked as a user would: the bytes at the destination, the counters, the HTTP and OMS codes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::{DST_BUCKET, Migration, SRC_BUCKET, random_bytes, rule};
use crate::support::harness::{Overrides, Reply, TestServer};
use crate::support::moto::Moto;
use crate::support::s3::{S3Server, client, md5_hex, object_bytes};
use crate::sync::{Sync, assert_copied, create_body, num};

/// URL-encodes a key as AWS S3 does in event notifications: `+` for a space, `%XX` for bytes
/// other than letters, digits, `/` and `-_.~`.
fn aws_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// One record as AWS S3 sends it (MinIO's differ in `eventName`'s `s3:` prefix and a few
/// fields OMS does not read).
fn record(event_name: &str, bucket: &str, key: &str) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-30T04:00:00.000Z", "eventName": event_name,
        "userIdentity": { "principalId": "AWS:EXAMPLE" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": { "x-amz-request-id": "C3D13FE58DE4C810" },
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "to-oms",
            "bucket": { "name": bucket, "ownerIdentity": { "principalId": "A3NL1KOZZKExample" },
                        "arn": format!("arn:aws:s3:::{bucket}") },
            "object": { "key": aws_encode(key), "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0055AED6DCD90281E5" }
        }
    })
}

/// Posts `body` to the sync task's notification URL with `Authorization: <authorization>`
/// (when given) and `query` appended to the path.
async fn notify(
    oms: &TestServer,
    sync: &Sync<'_>,
    authorization: Option<&str>,
    query: &str,
    body: Vec<u8>,
) -> Reply {
    let path = sync.created["notification_path"].as_str().unwrap();
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}{query}", oms.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    }
}

/// Posts the document `doc` with the sync task's token as a bearer token.
async fn with_token(oms: &TestServer, sync: &Sync<'_>, doc: &Value) -> Reply {
    let bearer = format!("Bearer {}", token(sync));
    notify(
        oms,
        sync,
        Some(&bearer),
        "",
        serde_json::to_vec(doc).unwrap(),
    )
    .await
}

fn token(sync: &Sync<'_>) -> String {
    let token = sync.created["notification_token"].as_str().unwrap();
    assert_eq!(token.len(), 64, "{:#}", sync.created);
    token.to_owned()
}

/// The sum of one counter's series over the last hour.
async fn series_sum(sync: &Sync<'_>, data_type: &str) -> i64 {
    let now = oms_core::time::now_ms();
    let reply = sync
        .api
        .get(&sync.path(&format!(
            "/statistics?data_type={data_type}&start_time={}&end_time={now}",
            now - 3_600_000
        )))
        .await;
    reply.ok()["statistic_datas"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["statistic_num"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn s3_event_notifications_as_stores_post_them_copy_the_objects_and_a_wrong_token_queues_nothing()
 {
    let m = Migration::start().await;
    let keys: Vec<String> = [
        "photos/a b+c.jpg",
        "photos/100%.png",
        "naïve/été ü.txt",
        "minio/plain.bin",
        "sns/wrapped.bin",
    ]
    .map(str::to_owned)
    .to_vec();
    let objects: Vec<(String, Vec<u8>)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), random_bytes(2000 + i * 100)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    let sync = Sync::create(&m.oms, &create_body(&m)).await;
    let token = token(&sync);
    let db = m.oms.db().await;
    let id = sync.typed_id();
    let aws = json!({ "Records": [
        record("ObjectCreated:Put", SRC_BUCKET, &keys[0]),
        record("ObjectCreated:CompleteMultipartUpload", SRC_BUCKET, &keys[1]),
        record("ObjectCreated:Copy", SRC_BUCKET, &keys[2]),
        record("ObjectRemoved:Delete", SRC_BUCKET, "photos/old one.jpg"),
        record("ObjectCreated:Put", "another-bucket", "not/ours.txt"),
    ]});
    let aws = serde_json::to_vec(&aws).unwrap();

    // No token, a wrong one (as a header or in the query), the right one under another scheme:
    // 401, nothing queued.
    for (authorization, query) in [
        (None, ""),
        (Some("Bearer wrong-token".to_owned()), ""),
        (None, "?token=wrong-token"),
        (Some(format!("Basic {token}")), ""),
    ] {
        let reply = notify(&m.oms, &sync, authorization.as_deref(), query, aws.clone()).await;
        reply.assert_error(401, "APIGW.0301");
        assert!(reply.msg().contains("notification token"), "{}", reply.text);
        assert!(!reply.text.contains(&token));
    }
    assert_eq!(db.pending_sync_events(id).await.unwrap(), 0);
    assert_eq!(num(&sync.show().await, "monthly_acceptance_request"), 0);

    // AWS S3's document, with the token as a bearer token (MinIO's `auth_token`).
    let bearer = format!("Bearer {token}");
    let reply = notify(&m.oms, &sync, Some(&bearer), "", aws.clone()).await;
    assert_eq!(
        reply.ok(),
        &json!({ "queued": 3, "removed": 1, "ignored": 1 })
    );
    // MinIO's event name form, with the token in the query (senders that set no headers).
    let minio = json!({ "EventName": "s3:ObjectCreated:Put", "Key": format!("{SRC_BUCKET}/{}", keys[3]),
        "Records": [record("s3:ObjectCreated:Put", SRC_BUCKET, &keys[3])] });
    let reply = notify(
        &m.oms,
        &sync,
        None,
        &format!("?token={token}"),
        serde_json::to_vec(&minio).unwrap(),
    )
    .await;
    assert_eq!(reply.ok()["queued"], 1);
    // AWS S3 through SNS: the envelope is unwrapped.
    let inner = json!({ "Records": [record("ObjectCreated:Put", SRC_BUCKET, &keys[4])] });
    let sns = json!({ "Type": "Notification", "MessageId": "22b80b92", "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": inner.to_string(), "Timestamp": "2026-11-30T04:00:00.000Z" });
    let reply = with_token(&m.oms, &sync, &sns).await;
    assert_eq!(reply.ok()["queued"], 1);
    // The test event a store sends when the notification is configured: 200, nothing queued.
    let test = json!({ "Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-30T04:00:00.000Z",
        "Bucket": SRC_BUCKET, "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw" });
    let reply = with_token(&m.oms, &sync, &test).await;
    assert_eq!(reply.ok()["queued"], 0);
    // Malformed documents: 400 naming what is wrong, nothing of them queued.
    let reply = notify(
        &m.oms,
        &sync,
        Some(&bearer),
        "",
        b"{\"Records\": [".to_vec(),
    )
    .await;
    reply.assert_error(400, "OMS.0064");
    let bad = json!({ "Records": [
        record("ObjectCreated:Put", SRC_BUCKET, "fine.txt"),
        record("ObjectCreated:Put", SRC_BUCKET, &"k".repeat(1025)),
    ]});
    let reply = with_token(&m.oms, &sync, &bad).await;
    reply.assert_error(400, "OMS.0064");
    assert!(
        reply.msg().contains("Records[1].s3.object.key"),
        "{}",
        reply.text
    );

    let shown = sync.drain(&db, Duration::from_secs(60)).await;
    assert_copied(&m, &keys).await;
    assert_eq!(num(&shown, "monthly_acceptance_request"), 5, "{shown:#}");
    assert_eq!(num(&shown, "monthly_success_object"), 5, "{shown:#}");
    assert_eq!(num(&shown, "monthly_failure_object"), 0, "{shown:#}");
    assert_eq!(series_sum(&sync, "REMOVED").await, 1);
    assert!(m.dst.keys(DST_BUCKET, "fine.txt").await.is_empty());

    // A stopped sync task refuses notifications as it refuses events.
    sync.api.post(&sync.path("/stop"), None).await.ok();
    let reply = notify(&m.oms, &sync, Some(&bearer), "", aws).await;
    reply.assert_error(400, "OMS.0066");
    assert_eq!(db.pending_sync_events(id).await.unwrap(), 0);
}

#[tokio::test]
async fn reconciliation_copies_what_changed_at_the_source_without_any_event() {
    let m = Migration::start().await;
    // The destination was in step once; since then `changed.dat` changed at the source and
    // `new.dat` appeared there, and no event said so. `dst-only.dat` is the destination's own.
    let same_bytes = random_bytes(3000);
    m.src
        .put(SRC_BUCKET, "same.dat", same_bytes.clone(), None, &[])
        .await;
    let same = m.src.md5s(SRC_BUCKET, "same.dat").await;
    let destination = [
        ("changed.dat", random_bytes(1000)),
        ("dst-only.dat", random_bytes(10)),
        ("same.dat", same_bytes),
    ];
    m.dst
        .put_many(
            DST_BUCKET,
            destination.map(|(k, b)| (k.to_owned(), b)).to_vec(),
        )
        .await;
    // Last-modified times have one-second resolution: the source's change is later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let changed = [
        ("changed.dat", random_bytes(1500)),
        ("new.dat", random_bytes(2500)),
    ];
    m.src
        .put_many(SRC_BUCKET, changed.map(|(k, b)| (k.to_owned(), b)).to_vec())
        .await;

    let mut body = create_body(&m);
    body["reconcile_interval"] = json!(59);
    let refused = m
        .oms
        .signed_client(&m.oms.a)
        .post(&format!("/v2/{}/sync-tasks", m.oms.a.id), Some(&body))
        .await;
    refused.assert_error(400, "OMS.0064");
    assert!(
        refused.msg().contains("reconcile_interval"),
        "{}",
        refused.text
    );
    body["reconcile_interval"] = json!(3600);
    let sync = Sync::create(&m.oms, &body).await;

    // The first pass is due at creation.
    let ended = crate::support::harness::eventually(Duration::from_secs(60), async || {
        sync.show().await.get("last_reconcile_time").is_some()
    })
    .await;
    assert!(
        ended,
        "no reconciliation pass ended: {:#}",
        sync.show().await
    );
    let shown = sync.drain(&m.oms.db().await, Duration::from_secs(60)).await;
    assert_eq!(shown["reconcile_interval"], 3600);
    let keys = ["changed.dat", "new.dat", "same.dat"].map(str::to_owned);
    let source = m.src.md5s(SRC_BUCKET, "").await;
    let copied = m.dst.md5s(DST_BUCKET, "").await;
    for key in &keys {
        assert_eq!(copied.get(key), source.get(key), "{key} differs");
    }
    assert_eq!(copied.get("same.dat"), same.get("same.dat"));
    assert!(
        copied.contains_key("dst-only.dat"),
        "reconciliation deleted at the destination"
    );
    assert_eq!(
        m.dst.calls.count("put_object", "same.dat"),
        1,
        "same.dat copied again"
    );
    assert_eq!(series_sum(&sync, "COMPARED").await, 3);
    assert_eq!(series_sum(&sync, "RECONCILED").await, 2);
    assert_eq!(num(&shown, "monthly_success_object"), 2, "{shown:#}");
    assert_eq!(num(&shown, "monthly_acceptance_request"), 0, "{shown:#}");
}

#[tokio::test]
async fn a_propagated_removal_deletes_only_what_the_source_no_longer_has() {
    let m = Migration::start().await;
    // `gone.txt` and `locked.txt` were deleted at the source; `back.txt` was deleted and
    // written again since. The destination refuses to delete `locked.txt`.
    let destination = [
        ("gone.txt", random_bytes(100)),
        ("back.txt", random_bytes(200)),
        ("kept.txt", random_bytes(300)),
        ("locked.txt", random_bytes(400)),
    ];
    let locked = md5_hex(&destination[3].1);
    m.dst
        .faults
        .refused_calls
        .lock()
        .unwrap()
        .insert(("delete_object", "locked.txt".to_owned()));
    m.dst
        .put_many(
            DST_BUCKET,
            destination.map(|(k, b)| (k.to_owned(), b)).to_vec(),
        )
        .await;
    m.src
        .put(SRC_BUCKET, "back.txt", random_bytes(250), None, &[])
        .await;
    let removals = json!({ "Records": [
        record("ObjectRemoved:Delete", SRC_BUCKET, "gone.txt"),
        record("ObjectRemoved:DeleteMarkerCreated", SRC_BUCKET, "back.txt"),
        record("ObjectRemoved:Delete", SRC_BUCKET, "locked.txt"),
    ]});
    let db = m.oms.db().await;

    // Without the opt-in, removals are counted and nothing is deleted.
    let plain = Sync::create(&m.oms, &create_body(&m)).await;
    let reply = with_token(&m.oms, &plain, &removals).await;
    assert_eq!(
        reply.ok(),
        &json!({ "queued": 0, "removed": 3, "ignored": 0 })
    );
    assert_eq!(db.pending_sync_events(plain.typed_id()).await.unwrap(), 0);
    assert_eq!(series_sum(&plain, "REMOVED").await, 3);
    assert!(plain.show().await.get("propagate_deletions").is_none());
    plain.api.post(&plain.path("/stop"), None).await.ok();

    // With it, the destination object goes only where the source, asked then, lacks it.
    let mut body = create_body(&m);
    body["propagate_deletions"] = json!(true);
    let sync = Sync::create(&m.oms, &body).await;
    // One sync task's token does not open another's URL.
    let foreign = format!("Bearer {}", token(&plain));
    let doc = serde_json::to_vec(&removals).unwrap();
    notify(&m.oms, &sync, Some(&foreign), "", doc)
        .await
        .assert_error(401, "APIGW.0301");
    let reply = with_token(&m.oms, &sync, &removals).await;
    assert_eq!(reply.ok()["removed"], 3);
    let shown = sync.drain(&db, Duration::from_secs(60)).await;
    assert_eq!(shown["propagate_deletions"], true);
    let source = m.src.md5s(SRC_BUCKET, "").await;
    let copied = m.dst.md5s(DST_BUCKET, "").await;
    assert!(!copied.contains_key("gone.txt"), "gone.txt not deleted");
    assert_eq!(
        copied.get("back.txt"),
        source.get("back.txt"),
        "back.txt lost"
    );
    assert!(copied.contains_key("kept.txt"));
    assert_eq!(m.dst.calls.count("delete_object", "back.txt"), 0);
    assert_eq!(series_sum(&sync, "DELETED").await, 1);
    assert_eq!(num(&shown, "monthly_success_object"), 1, "{shown:#}");
    assert_eq!(num(&shown, "monthly_acceptance_request"), 0, "{shown:#}");
    // The refused delete is a failure with its own code in the failed list; the object stays.
    assert_eq!(copied.get("locked.txt"), Some(&locked));
    assert_eq!(num(&shown, "monthly_failure_object"), 1, "{shown:#}");
    let lists = m
        .dst
        .keys(
            DST_BUCKET,
            &format!("oms/sync_task/{}/failed_object_lists/", sync.id),
        )
        .await;
    assert_eq!(lists.len(), 1, "{lists:?}");
    let list =
        String::from_utf8(object_bytes(&m.dst.client(), DST_BUCKET, &lists[0]).await).unwrap();
    let fields: Vec<&str> = list.trim_end().split('\t').collect();
    assert_eq!(
        (fields[0], fields[3]),
        ("DELETE_DST_OBJ_FAILURE", "locked.txt"),
        "{list}"
    );
}

#[tokio::test]
async fn a_sync_task_whose_destination_keeps_refusing_backs_off_and_says_why() {
    // A moto destination, whose bucket can go away after the sync task is created; the source
    // counts the calls it gets.
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let dst = client(&moto.url, "MOTODST", "secret");
    dst.create_bucket().bucket("gone-dst").send().await.unwrap();
    let src = S3Server::start("src").await;
    src.create_bucket(SRC_BUCKET).await;
    src.put(SRC_BUCKET, "k1", random_bytes(500), None, &[])
        .await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "back-src", &src.url),
            rule("HEC", "back-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;
    let sync = Sync::create(
        &oms,
        &json!({"src_cloud_type": "AWS", "src_region": "back-src", "src_bucket": SRC_BUCKET,
                "src_ak": src.ak, "src_sk": src.sk, "dst_region": "back-dst",
                "dst_bucket": "gone-dst", "dst_ak": "MOTODST", "dst_sk": "secret"}),
    )
    .await;
    dst.delete_bucket().bucket("gone-dst").send().await.unwrap();
    sync.events(&["k1".to_owned()]).await;

    // The run fails, says why, and the task waits instead of asking the stores in a loop.
    let failed = crate::support::harness::eventually(Duration::from_secs(30), async || {
        sync.show().await.get("error_reason").is_some()
    })
    .await;
    let shown = sync.show().await;
    assert!(failed, "no error shown: {shown:#}");
    assert_eq!(shown["error_reason"]["error_code"], "TRF.0058", "{shown:#}");
    assert!(
        shown["error_reason"]["error_msg"]
            .as_str()
            .unwrap()
            .contains("destination bucket does not exist"),
        "{shown:#}"
    );
    let heads = src.calls.count("head_object", "k1");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        src.calls.count("head_object", "k1") <= heads + 1,
        "the source was asked {} times in 3 s",
        src.calls.count("head_object", "k1") - heads
    );
    assert_eq!(
        oms.db()
            .await
            .pending_sync_events(sync.typed_id())
            .await
            .unwrap(),
        1
    );

    // Once the bucket is back, a later run copies the key and the error goes.
    dst.create_bucket().bucket("gone-dst").send().await.unwrap();
    let shown = sync.drain(&oms.db().await, Duration::from_secs(60)).await;
    assert_eq!(num(&shown, "monthly_success_object"), 1, "{shown:#}");
    assert!(shown.get("error_reason").is_none(), "{shown:#}");
}
