//! Sync tasks end to end: created through the API, told about changed keys by `events`, and
//! copied by workers between real S3 servers. The tests check what a user would: the bytes at
//! the destination, the monthly counters and series, the statuses, and the OMS errors.

use std::collections::BTreeMap;
use std::time::Duration;

use oms_core::sync::SyncTaskId;
use oms_db::Db;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::engine::{
    DST_BUCKET, DST_REGION, Migration, SRC_BUCKET, SRC_REGION, random_bytes, rule,
};
use crate::support::harness::{Api, Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::s3::{bucket_md5s, client};

/// Percent-encodes every byte but ASCII letters and digits, as an event function would.
pub fn encode(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A sync task of a project, through its API.
pub struct Sync<'a> {
    pub api: Api<'a>,
    pub project: String,
    pub id: String,
    /// The create call's answer (with the notification token).
    pub created: Value,
}

impl<'a> Sync<'a> {
    /// Creates a sync task from `body`.
    pub async fn create(oms: &'a TestServer, body: &Value) -> Self {
        let api = oms.signed_client(&oms.a);
        let project = oms.a.id.clone();
        let reply = api
            .post(&format!("/v2/{project}/sync-tasks"), Some(body))
            .await;
        let created = reply.ok().clone();
        let id = created["sync_task_id"].as_str().unwrap().to_owned();
        Self {
            api,
            project,
            id,
            created,
        }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/v2/{}/sync-tasks/{}{rest}", self.project, self.id)
    }

    /// Posts `keys` (raw; encoded here), in calls of 10.
    pub async fn events(&self, keys: &[String]) {
        for chunk in keys.chunks(10) {
            let encoded: Vec<String> = chunk.iter().map(|k| encode(k)).collect();
            self.api
                .post(
                    &self.path("/events"),
                    Some(&json!({ "object_keys": encoded })),
                )
                .await
                .ok();
        }
    }

    /// The task with this month's counters.
    pub async fn show(&self) -> Value {
        let now = oms_core::time::now_ms();
        self.api
            .get(&self.path(&format!("?query_time={now}")))
            .await
            .ok()
            .clone()
    }

    pub fn typed_id(&self) -> SyncTaskId {
        SyncTaskId::parse(&self.id).unwrap()
    }

    /// Waits until no event waits (watched in the database), then for the counters to show it.
    pub async fn drain(&self, db: &Db, timeout: Duration) -> Value {
        let id = self.typed_id();
        let drained = crate::support::harness::eventually(timeout, async || {
            db.pending_sync_events(id).await.unwrap() == 0
        })
        .await;
        assert!(drained, "keys still queued: {:#}", self.show().await);
        self.show().await
    }
}

/// The body creating a sync task between the servers of `m`.
pub fn create_body(m: &Migration) -> Value {
    json!({
        "src_cloud_type": "AWS", "src_region": SRC_REGION, "src_bucket": SRC_BUCKET,
        "src_ak": m.src.ak, "src_sk": m.src.sk,
        "dst_region": DST_REGION, "dst_bucket": DST_BUCKET, "dst_ak": m.dst.ak, "dst_sk": m.dst.sk,
        "description": "keep dest current",
    })
}

pub fn num(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("no {field}: {v:#}"))
}

/// Asserts that the destination holds `keys` byte for byte as the source does.
pub async fn assert_copied(m: &Migration, keys: &[String]) {
    let source = m.src.md5s(SRC_BUCKET, "").await;
    let copied = m.dst.md5s(DST_BUCKET, "").await;
    let expected: BTreeMap<_, _> = keys
        .iter()
        .map(|k| (k.clone(), source[k].clone()))
        .collect();
    let copied: BTreeMap<_, _> = copied
        .into_iter()
        .filter(|(k, _)| !k.starts_with("oms/"))
        .collect();
    assert_eq!(copied, expected, "destination bytes differ from the source");
}

#[tokio::test]
async fn a_sync_task_copies_the_keys_its_events_name_and_counts_them() {
    let m = Migration::start().await;
    let objects: Vec<(String, Vec<u8>)> = (0..120)
        .map(|i| (format!("live/{i:03}.dat"), random_bytes(1000 + i)))
        .collect();
    let total_bytes: i64 = objects.iter().map(|(_, b)| b.len() as i64).sum();
    m.src.put_many(SRC_BUCKET, objects.clone()).await;
    let sync = Sync::create(&m.oms, &create_body(&m)).await;

    let listed = sync
        .api
        .get(&format!(
            "/v2/{}/sync-tasks?status=SYNCHRONIZING",
            sync.project
        ))
        .await;
    assert_eq!(listed.ok()["count"], 1);
    assert_eq!(listed.ok()["tasks"][0]["sync_task_id"], sync.id.as_str());
    assert_eq!(listed.ok()["tasks"][0]["status"], "SYNCHRONIZING");
    assert!(!listed.text.contains(&m.src.sk) && !listed.text.contains(&m.dst.sk));

    // Every key once, a third of them again, and 5 keys the source does not have.
    let keys: Vec<String> = objects.iter().map(|(k, _)| k.clone()).collect();
    let mut sent = keys.clone();
    sent.extend(keys.iter().step_by(3).cloned());
    sent.extend((0..5).map(|i| format!("gone/{i}")));
    sync.events(&sent).await;

    let db = m.oms.db().await;
    let shown = sync.drain(&db, Duration::from_secs(60)).await;
    assert_copied(&m, &keys).await;
    assert_eq!(num(&shown, "monthly_acceptance_request"), sent.len() as i64);
    assert_eq!(num(&shown, "monthly_success_object"), 120, "{shown:#}");
    assert_eq!(num(&shown, "monthly_failure_object"), 0);
    assert!(num(&shown, "monthly_skip_object") >= 5, "{shown:#}");
    assert!(num(&shown, "monthly_skip_object") <= 5 + 40, "{shown:#}");
    assert_eq!(num(&shown, "monthly_size"), total_bytes);
    for (key, _) in &objects {
        assert_eq!(
            m.dst.calls.count("put_object", key),
            1,
            "{key} copied twice"
        );
    }
    assert!(m.dst.keys(DST_BUCKET, "gone/").await.is_empty());
    let skips = m
        .dst
        .keys(
            DST_BUCKET,
            &format!("oms/sync_task/{}/skip_object_lists/", sync.id),
        )
        .await;
    assert!(!skips.is_empty(), "no skip list written");

    // The series add up to the month: one hour of 5-minute points.
    let now = oms_core::time::now_ms();
    let stats = sync
        .api
        .get(&sync.path(&format!(
            "/statistics?data_type=REQUEST,SUCCESS,SIZE&start_time={}&end_time={now}",
            now - 3_600_000
        )))
        .await;
    let stats = stats.ok();
    assert_eq!(stats["statistic_time_type"], "FIVE_MINUTES");
    let sum = |i: usize| -> i64 {
        stats["statistic_datas"][i]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["statistic_num"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(stats["statistic_datas"][0]["data_type"], "REQUEST");
    assert_eq!(sum(0), sent.len() as i64);
    assert_eq!(sum(1), 120);
    assert_eq!(sum(2), total_bytes);
    let daily = sync
        .api
        .get(&sync.path(&format!(
            "/statistics?data_type=SUCCESS&start_time={}&end_time={now}",
            now - 7 * 86_400_000
        )))
        .await;
    assert_eq!(daily.ok()["statistic_time_type"], "ONE_HOUR");

    // A synchronizing task cannot be deleted; a stopped one takes no events and forgets its
    // keys; a start needs them again.
    sync.api
        .delete(&sync.path(""))
        .await
        .assert_error(400, "OMS.0063");
    sync.api.post(&sync.path("/stop"), None).await.ok();
    let owner = oms_db::CredentialOwner::SyncTask(sync.typed_id());
    assert!(db.load_credentials(owner).await.unwrap().is_none());
    let refused = sync
        .api
        .post(
            &sync.path("/events"),
            Some(&json!({"object_keys": ["live%2F000.dat"]})),
        )
        .await;
    refused.assert_error(400, "OMS.0066");
    assert!(refused.msg().contains("stopped"), "{}", refused.msg());
    sync.api
        .post(&sync.path("/stop"), None)
        .await
        .assert_error(400, "OMS.0066");
    sync.api
        .post(
            &sync.path("/start"),
            Some(&json!({"dst_ak": m.dst.ak, "dst_sk": m.dst.sk})),
        )
        .await
        .assert_error(400, "OMS.0064");
    sync.api
        .post(&sync.path("/start"), Some(&m.start_body()))
        .await
        .ok();
    assert_eq!(sync.show().await["status"], "SYNCHRONIZING");

    // A changed object is copied again after the start.
    let changed = random_bytes(3000);
    m.src
        .put(SRC_BUCKET, "live/000.dat", changed, None, &[])
        .await;
    sync.events(&["live/000.dat".to_owned()]).await;
    let shown = sync.drain(&db, Duration::from_secs(60)).await;
    assert_eq!(num(&shown, "monthly_success_object"), 121);
    assert_copied(&m, &keys).await;

    sync.api.post(&sync.path("/stop"), None).await.ok();
    sync.api.delete(&sync.path("")).await.ok();
    sync.api
        .get(&sync.path("?query_time=0"))
        .await
        .assert_error(404, "OMS.1009");
}

#[tokio::test]
async fn keys_with_spaces_plus_percent_non_ascii_and_double_slashes_round_trip() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let src = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["sync-src", "sync-dst"] {
        src.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let keys = [
        "a b.txt",
        "plus+sign.txt",
        "100%.txt",
        "中文/ключ.bin",
        "double//slash",
        "trailing space ",
        "x%2Fnot-a-slash",
    ];
    for key in keys {
        src.put_object()
            .bucket("sync-src")
            .key(key)
            .body(random_bytes(100 + key.len()).into())
            .send()
            .await
            .unwrap();
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
    let sync = Sync::create(
        &oms,
        &json!({"src_cloud_type": "AWS", "src_region": "moto-src", "src_bucket": "sync-src",
                "src_ak": "MOTOSRC", "src_sk": "secret", "dst_region": "moto-dst",
                "dst_bucket": "sync-dst", "dst_ak": "MOTODST", "dst_sk": "secret"}),
    )
    .await;
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sync.events(&keys).await;
    let shown = sync.drain(&oms.db().await, Duration::from_secs(60)).await;
    assert_eq!(
        num(&shown, "monthly_success_object"),
        keys.len() as i64,
        "{shown:#}"
    );
    // Every key arrived under its exact name with its bytes (and nothing else arrived).
    let dst = client(&moto.url, "MOTODST", "secret");
    assert_eq!(
        bucket_md5s(&dst, "sync-dst", "").await,
        bucket_md5s(&src, "sync-src", "").await
    );
}

#[tokio::test]
async fn bad_sync_requests_get_oms_errors_naming_the_field_and_queue_nothing() {
    let m = Migration::start_with(false).await;
    let sync = Sync::create(&m.oms, &create_body(&m)).await;
    let events = |keys: Value| {
        let body = json!({ "object_keys": keys });
        let path = sync.path("/events");
        let api = &sync.api;
        async move { api.post(&path, Some(&body)).await }
    };
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
    let cases = [
        (json!(eleven), "object_keys"),
        (json!([]), "object_keys"),
        (json!(["ok", "x".repeat(1025)]), "object_keys[1]"),
        (json!(["%zz"]), "object_keys[0]"),
        (Value::Null, "object_keys"),
    ];
    for (keys, field) in cases {
        let reply = events(keys).await;
        reply.assert_error(400, "OMS.0064");
        assert_eq!(
            reply.body["error_detail"],
            format!("request parameter [{field}] invalid"),
            "{}",
            reply.text
        );
    }
    let db = m.oms.db().await;
    assert_eq!(db.pending_sync_events(sync.typed_id()).await.unwrap(), 0);

    let get = |rest: &str| {
        let path = sync.path(rest);
        let api = &sync.api;
        async move { api.get(&path).await }
    };
    get("").await.assert_error(400, "OMS.0064");
    get("?query_time=soon").await.assert_error(400, "OMS.1010");
    get("?query_time=-1").await.assert_error(400, "OMS.0064");
    get("/statistics?data_type=BYTES&start_time=0&end_time=1")
        .await
        .assert_error(400, "OMS.0064");
    get("/statistics?data_type=SUCCESS&start_time=5&end_time=1")
        .await
        .assert_error(400, "OMS.0064");
    get("/statistics?data_type=SUCCESS&start_time=0")
        .await
        .assert_error(400, "OMS.0064");
    let shown = sync.show().await;
    assert_eq!(num(&shown, "monthly_acceptance_request"), 0);

    sync.api
        .delete(&sync.path(""))
        .await
        .assert_error(400, "OMS.0063");
    let other = format!("/v2/{}/sync-tasks/{}", m.oms.a.id, uuid::Uuid::new_v4());
    sync.api
        .get(&format!("{other}?query_time=0"))
        .await
        .assert_error(404, "OMS.1009");
    sync.api
        .get(&format!(
            "/v2/{}/sync-tasks/not-a-uuid?query_time=0",
            m.oms.a.id
        ))
        .await
        .assert_error(400, "OMS.1010");
    // Another project's caller is refused; its own project does not see the task.
    let b = m.oms.signed_client(&m.oms.b);
    b.get(&format!(
        "/v2/{}/sync-tasks/{}?query_time=0",
        m.oms.b.id, sync.id
    ))
    .await
    .assert_error(404, "OMS.1009");
    let mut body = create_body(&m);
    body["src_cloud_type"] = json!("Google");
    let reply = sync
        .api
        .post(&format!("/v2/{}/sync-tasks", m.oms.a.id), Some(&body))
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("src_cloud_type"), "{}", reply.msg());
    body["src_cloud_type"] = json!("AWS");
    body["src_region"] = json!("nowhere-1");
    let reply = sync
        .api
        .post(&format!("/v2/{}/sync-tasks", m.oms.a.id), Some(&body))
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("src_region"), "{}", reply.msg());
    body.as_object_mut().unwrap().remove("dst_sk");
    let reply = sync
        .api
        .post(&format!("/v2/{}/sync-tasks", m.oms.a.id), Some(&body))
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("dst_sk"), "{}", reply.msg());
}

#[tokio::test]
async fn a_worker_killed_with_2000_keys_queued_leaves_them_to_another_none_lost_none_counted_twice()
{
    let m = Migration::start_overrides(Overrides {
        read_cache_ms: Some(1_000),
        ..Overrides::default()
    })
    .await;
    let objects: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| (format!("many/{i:04}"), random_bytes(200)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects.clone()).await;
    // Slow destination writes: worker A is still copying when it is killed.
    m.dst
        .faults
        .put_delay_ms
        .store(50, std::sync::atomic::Ordering::SeqCst);
    let sync = Sync::create(&m.oms, &create_body(&m)).await;
    let keys: Vec<String> = objects.iter().map(|(k, _)| k.clone()).collect();
    sync.events(&keys).await;

    let dir = tempfile::tempdir().unwrap();
    let mut worker_a = crate::engine::resume::spawn_worker_process(&m, dir.path());
    let db = m.oms.db().await;
    let id = sync.typed_id();
    let progressed = crate::support::harness::eventually(Duration::from_secs(120), async || {
        db.sync_counters(id, 0, i64::MAX)
            .await
            .is_ok_and(|c| c.success >= 100)
    })
    .await;
    let _ = worker_a.kill();
    worker_a.wait().unwrap();
    assert!(progressed, "worker A made no progress");
    assert!(
        db.pending_sync_events(id).await.unwrap() > 0,
        "A finished before it was killed"
    );

    m.dst
        .faults
        .put_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let stop_b = CancellationToken::new();
    let worker_b = tokio::spawn(m.oms.worker().await.run(stop_b.clone()));
    sync.drain(&db, Duration::from_secs(180)).await;
    stop_b.cancel();
    worker_b.await.unwrap();
    let counters = db.sync_counters(id, 0, i64::MAX).await.unwrap();
    assert_eq!(counters.request, 2000);
    assert_eq!(counters.failure, 0);
    assert_eq!(counters.success + counters.skip, 2000, "{counters:?}");
    assert_copied(&m, &keys).await;
}
