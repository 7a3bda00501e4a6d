//! Task groups end to end on S3 sources: split into tasks by key ranges, followed, stopped,
//! resumed with keys (the seed scenario), and failed when their keys are wrong.

use std::sync::atomic::Ordering;
use std::time::Duration;

use oms_core::ids::{GroupId, TaskId};
use oms_db::CredentialOwner;
use serde_json::{Value, json};

use super::{DST_BUCKET, Migration, SRC_BUCKET, random_bytes};
use crate::support::fixtures::with;
use crate::support::harness::Overrides;

fn group_body(m: &Migration, prefixes: &[&str]) -> Value {
    let mut body = m.task_body(prefixes);
    body["task_type"] = json!("PREFIX");
    body
}

pub(super) async fn group(m: &Migration, id: &str) -> Value {
    let api = m.oms.signed_client(&m.oms.a);
    api.get(&format!("/v2/{}/taskgroups/{id}", m.oms.a.id))
        .await
        .ok()
        .clone()
}

pub(super) async fn tasks_of(m: &Migration, id: &str) -> Vec<Value> {
    let api = m.oms.signed_client(&m.oms.a);
    let mut all = Vec::new();
    loop {
        let page = api
            .get(&format!(
                "/v2/{}/tasks?group_id={id}&limit=100&offset={}",
                m.oms.a.id,
                all.len()
            ))
            .await;
        let tasks = page.ok()["tasks"].as_array().unwrap().clone();
        if tasks.is_empty() {
            return all;
        }
        all.extend(tasks);
    }
}

pub(super) async fn wait_group(m: &Migration, id: &str, status: i64, timeout: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let g = group(m, id).await;
        if g["status"] == status {
            return g;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group did not reach status {status}: {g:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_seed_scenario_a_group_is_stopped_while_its_tasks_run_and_resumed_with_keys() {
    let m = Migration::start_custom(true, Some(500)).await;
    let objects: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| (format!("seed/{i:05}"), random_bytes(1500)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    m.dst.faults.put_delay_ms.store(150, Ordering::SeqCst);
    let api = m.oms.signed_client(&m.oms.a);
    let p = &m.oms.a.id;
    let created = api
        .post(
            &format!("/v2/{p}/taskgroups"),
            Some(&group_body(&m, &["seed/"])),
        )
        .await;
    let id = created.ok()["group_id"].as_str().unwrap().to_owned();

    // Stop once its tasks are copying.
    let running = crate::support::harness::eventually(Duration::from_secs(60), async || {
        tasks_of(&m, &id)
            .await
            .iter()
            .any(|t| t["successful_num"].as_i64().unwrap_or(0) > 0)
    })
    .await;
    assert!(running, "no task of the group made progress");
    api.put(&format!("/v2/{p}/taskgroups/{id}/stop"), None)
        .await
        .ok();
    let paused = wait_group(&m, &id, 3, Duration::from_secs(60)).await;
    let tasks = tasks_of(&m, &id).await;
    // Tasks that finished before the stop stay completed; none runs or waits any more.
    assert!(
        tasks.iter().all(|t| t["status"] == 3 || t["status"] == 5),
        "every task paused or completed: {tasks:#?}"
    );
    assert!(
        tasks.iter().any(|t| t["status"] == 3),
        "the stop caught tasks mid-way: {tasks:#?}"
    );
    assert!(
        tasks
            .iter()
            .all(|t| t["group_type"] == "GROUP_TASK" && t["group_id"] == id.as_str())
    );
    let db = m.oms.db().await;
    let group_id = GroupId::parse(&id).unwrap();
    assert!(
        db.load_credentials(CredentialOwner::Group(group_id))
            .await
            .unwrap()
            .is_none(),
        "paused: no keys kept"
    );
    for t in &tasks {
        let task = TaskId::new(t["id"].as_i64().unwrap()).unwrap();
        assert!(
            db.load_credentials(CredentialOwner::Task(task))
                .await
                .unwrap()
                .is_none()
        );
    }
    let done_before = paused["success_num"].as_i64().unwrap();
    assert!(done_before < 2000, "stopped before the end");

    // Resume with the keys; it completes.
    m.dst.faults.put_delay_ms.store(0, Ordering::SeqCst);
    api.put(
        &format!("/v2/{p}/taskgroups/{id}/start"),
        Some(&m.start_body()),
    )
    .await
    .ok();
    let done = wait_group(&m, &id, 6, Duration::from_secs(120)).await;
    m.assert_identical("seed/", "").await;
    let tasks = tasks_of(&m, &id).await;
    assert!(tasks.len() >= 4, "split into {} tasks", tasks.len());
    assert!(tasks.iter().all(|t| t["status"] == 5));
    let sum = |field: &str| {
        tasks
            .iter()
            .map(|t| t[field].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(
        done["total_task_num"].as_i64(),
        Some(i64::try_from(tasks.len()).unwrap())
    );
    assert_eq!(done["complete_task_num"], done["total_task_num"]);
    assert_eq!(done["total_num"].as_i64(), Some(sum("total_num")));
    assert_eq!(done["success_num"].as_i64(), Some(sum("successful_num")));
    assert_eq!(done["skip_num"].as_i64(), Some(sum("skipped_num")));
    assert_eq!(done["complete_size"].as_i64(), Some(sum("complete_size")));
    assert_eq!(done["total_num"], 2000);
    assert_eq!(done["create_complete_num"], 2000);
    for i in 0..2000 {
        assert_eq!(
            m.dst.calls.count("put_object", &format!("seed/{i:05}")),
            1,
            "seed/{i:05} copied twice"
        );
    }
    assert!(
        db.load_credentials(CredentialOwner::Group(group_id))
            .await
            .unwrap()
            .is_none(),
        "completed: keys erased"
    );
}

#[tokio::test]
async fn an_empty_group_completes_and_a_group_with_wrong_keys_fails_to_split() {
    let m = Migration::start_custom(true, Some(10)).await;
    let api = m.oms.signed_client(&m.oms.a);
    let p = &m.oms.a.id;
    let empty = api
        .post(
            &format!("/v2/{p}/taskgroups"),
            Some(&group_body(&m, &["nothing/"])),
        )
        .await;
    let empty = empty.ok()["group_id"].as_str().unwrap().to_owned();
    let g = wait_group(&m, &empty, 6, Duration::from_secs(30)).await;
    assert_eq!(g["total_task_num"], 0);

    m.src
        .put(SRC_BUCKET, "x/1", random_bytes(10), None, &[])
        .await;
    let wrong = with(group_body(&m, &["x/"]), "/src_node/sk", json!("wrong"));
    let wrong = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&wrong))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = wait_group(&m, &wrong, 4, Duration::from_secs(30)).await;
    assert_eq!(g["error_reason"]["error_code"], "TRF.0151");

    // Retried with the right keys, it splits and completes.
    api.put(
        &format!("/v2/{p}/taskgroups/{wrong}/retry"),
        Some(&m.start_body()),
    )
    .await
    .ok();
    wait_group(&m, &wrong, 6, Duration::from_secs(30)).await;
    assert_eq!(m.dst.keys(DST_BUCKET, "x/").await, ["x/1"]);
    m.assert_identical("x/", "").await;
}

#[tokio::test]
async fn resuming_with_keys_a_store_refuses_is_a_400_naming_the_side_and_changes_nothing() {
    let m = Migration::start_custom(false, None).await;
    let api = m.oms.signed_client(&m.oms.a);
    let p = &m.oms.a.id;
    let id = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&group_body(&m, &[""])))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.put(&format!("/v2/{p}/taskgroups/{id}/stop"), None)
        .await
        .ok();
    for (pointer, field, side) in [
        ("/src_sk", "src_ak", "source"),
        ("/dst_sk", "dst_ak", "destination"),
    ] {
        let body = with(m.start_body(), pointer, json!("not-the-secret"));
        let reply = api
            .put(&format!("/v2/{p}/taskgroups/{id}/start"), Some(&body))
            .await;
        reply.assert_error(400, "OMS.0064");
        assert!(
            reply.msg().contains(field) && reply.msg().contains(side),
            "{}",
            reply.msg()
        );
        assert_eq!(group(&m, &id).await["status"], 3);
    }
    let missing_bucket = with(
        group_body(&m, &[""]),
        "/dst_node/bucket",
        json!("no-such-bucket"),
    );
    let other = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&missing_bucket))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.put(&format!("/v2/{p}/taskgroups/{other}/stop"), None)
        .await
        .ok();
    let reply = api
        .put(
            &format!("/v2/{p}/taskgroups/{other}/start"),
            Some(&m.start_body()),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("no-such-bucket"), "{}", reply.msg());

    api.put(
        &format!("/v2/{p}/taskgroups/{id}/start"),
        Some(&m.start_body()),
    )
    .await
    .ok();
    assert_eq!(group(&m, &id).await["status"], 0);
}

#[tokio::test]
async fn a_list_group_splits_its_files_by_lines_and_retries_only_the_failed_objects() {
    let m = Migration::start_custom(true, Some(8)).await;
    let keys: Vec<String> = (0..60).map(|i| format!("listed/{i:02} file.bin")).collect();
    m.src
        .put_many(
            SRC_BUCKET,
            keys.iter()
                .map(|k| (k.clone(), random_bytes(700)))
                .collect(),
        )
        .await;
    // Three list files of 20 URL-encoded keys each, in a folder at the destination.
    for (n, chunk) in keys.chunks(20).enumerate() {
        let text: String = chunk
            .iter()
            .map(|k| format!("{}\n", k.replace(' ', "%20")))
            .collect();
        m.dst
            .put(
                DST_BUCKET,
                &format!("lists/part-{n}.txt"),
                text.into_bytes(),
                Some("text/plain"),
                &[],
            )
            .await;
    }
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("listed/33 file.bin".into());
    let body = json!({
        "task_type": "LIST",
        "src_node": {"cloud_type": "AWS", "region": super::SRC_REGION, "ak": m.src.ak, "sk": m.src.sk, "bucket": SRC_BUCKET,
                     "list_file": {"list_file_key": "lists/", "obs_bucket": DST_BUCKET}},
        "dst_node": {"ak": m.dst.ak, "sk": m.dst.sk, "region": super::DST_REGION, "bucket": DST_BUCKET},
    });
    let api = m.oms.signed_client(&m.oms.a);
    let p = &m.oms.a.id;
    let id = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&body))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_group(&m, &id, 5, Duration::from_secs(120)).await;
    assert_eq!(failed["error_reason"]["error_code"], "TRF.0004");
    let tasks = tasks_of(&m, &id).await;
    assert_eq!(tasks.len(), 9, "3 files of 20 lines cut 8 by 8");
    assert!(tasks.iter().all(|t| t["task_type"] == "list"));
    assert_eq!(
        (failed["success_num"].as_i64(), failed["fail_num"].as_i64()),
        (Some(59), Some(1))
    );
    assert_eq!(failed["failed_task_num"], 1);

    m.src.faults.broken_keys.lock().unwrap().clear();
    let retry = with(m.start_body(), "/migrate_failed_object", json!(true));
    api.put(&format!("/v2/{p}/taskgroups/{id}/retry"), Some(&retry))
        .await
        .ok();
    let done = wait_group(&m, &id, 6, Duration::from_secs(60)).await;
    assert_eq!(
        (
            done["success_num"].as_i64(),
            done["fail_num"].as_i64(),
            done["total_num"].as_i64()
        ),
        (Some(60), Some(0), Some(60))
    );
    m.assert_identical("listed/", "").await;
    for key in &keys {
        assert_eq!(
            m.dst.calls.count("put_object", key),
            1,
            "{key} was copied more than once"
        );
    }
}

/// `worker.group_task_max_bytes` cuts a PREFIX group by bytes: 10 objects of 1000 bytes with
/// at most 3000 bytes a task are 4 tasks (3, 3, 3 and 1 objects), whatever the object limit.
#[tokio::test]
async fn a_prefix_group_is_cut_into_tasks_by_bytes() {
    let m = Migration::start_overrides(Overrides {
        worker: true,
        group_task_max_bytes: Some(3000),
        ..Overrides::default()
    })
    .await;
    let objects: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("bytes/{i:02}"), random_bytes(1000)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    let api = m.oms.signed_client(&m.oms.a);
    let created = api
        .post(
            &format!("/v2/{}/taskgroups", m.oms.a.id),
            Some(&group_body(&m, &["bytes/"])),
        )
        .await;
    let id = created.ok()["group_id"].as_str().unwrap().to_owned();
    let done = wait_group(&m, &id, 6, Duration::from_secs(60)).await;
    assert_eq!(
        (
            done["total_num"].as_i64(),
            done["success_num"].as_i64(),
            done["total_size"].as_i64(),
            done["total_task_num"].as_i64()
        ),
        (Some(10), Some(10), Some(10_000), Some(4)),
        "{done:#}"
    );
    let mut cut: Vec<(i64, i64)> = tasks_of(&m, &id)
        .await
        .iter()
        .map(|t| {
            (
                t["total_num"].as_i64().unwrap(),
                t["total_size"].as_i64().unwrap(),
            )
        })
        .collect();
    cut.sort_unstable();
    assert_eq!(cut, [(1, 1000), (3, 3000), (3, 3000), (3, 3000)]);
    m.assert_identical("bytes/", "").await;
}
