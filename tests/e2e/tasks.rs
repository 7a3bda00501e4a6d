//! Migration tasks through the API: lifecycle, listing, state rules.

use std::time::Duration;

use oms_core::ids::TaskId;
use oms_core::status::TaskEvent;
use serde_json::json;

use crate::support::fixtures::{group_body, start_body, task_body, with, without};
use crate::support::harness::{Api, Overrides, TestServer};

#[tokio::test]
async fn a_created_task_waits_and_shows_its_spec_without_secrets() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;

    let created = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await;
    let id = created.ok()["id"].as_i64().unwrap();
    assert_eq!(id.to_string().len(), 15);
    let name = created.body["task_name"].as_str().unwrap().to_owned();

    let task = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    let t = task.ok();
    assert_eq!(t["id"], id);
    assert_eq!(t["name"], name.as_str());
    assert_eq!(t["status"], 1);
    assert_eq!(t["task_type"], "prefix");
    assert_eq!(t["group_type"], "NORMAL_TASK");
    assert_eq!(
        t["src_node"],
        json!({"bucket": "source-bucket", "cloud_type": "AWS", "region": "us-east-1", "app_id": "", "object_key": [""]})
    );
    assert_eq!(
        t["dst_node"],
        json!({"bucket": "dest-bucket", "region": "cn-north-4", "save_prefix": "migrated/"})
    );
    assert_eq!(t["description"], "nightly copy");
    assert_eq!(t["enable_metadata_migration"], true);
    assert_eq!(t["enable_failed_object_recording"], true);
    assert_eq!(t["task_priority"], "HIGH");
    assert_eq!(
        t["object_overwrite_mode"],
        "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE"
    );
    assert_eq!(t["consistency_check"], "size_last_modified");
    assert_eq!(
        t["bandwidth_policy"],
        json!([{"start": "08:00", "end": "20:00", "max_bandwidth": 10_485_760}])
    );
    assert_eq!(
        (t["total_num"].as_i64(), t["progress"].as_f64()),
        (Some(0), Some(0.0))
    );
    assert!(
        !task.text.contains("SRC-SK")
            && !task.text.contains("DST-SK")
            && !task.text.contains("SRC-AK")
    );
}

#[tokio::test]
async fn stop_and_start_follow_the_task_state_machine() {
    let server = TestServer::start().await;
    let api = server.token_client(&server.a);
    let p = &server.a.id;
    let id = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let status = async || {
        api.get(&format!("/v2/{p}/tasks/{id}")).await.ok()["status"]
            .as_i64()
            .unwrap()
    };

    // A waiting task has no worker, so it pauses at once.
    api.post(&format!("/v2/{p}/tasks/{id}/stop"), None)
        .await
        .ok();
    assert_eq!(status().await, 3);
    api.post(&format!("/v2/{p}/tasks/{id}/stop"), None)
        .await
        .assert_error(400, "OMS.0066");

    // Start needs the destination keys; a refused start changes nothing.
    let reply = api
        .post(
            &format!("/v2/{p}/tasks/{id}/start"),
            Some(&without(start_body(), "/dst_sk")),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("dst_sk"), "{}", reply.msg());
    assert_eq!(status().await, 3);

    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .ok();
    assert_eq!(status().await, 1);
    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .assert_error(400, "OMS.0065");
}

#[tokio::test]
async fn running_and_completed_tasks_refuse_what_they_cannot_do() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let id = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let db = server.db().await;

    // A worker claims it: deleting a running task is refused, stopping moves it to pausing.
    let lease = db
        .claim_next_task("worker-1", Duration::from_secs(60), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.task_id, TaskId::new(id).unwrap());
    assert_eq!(
        api.get(&format!("/v2/{p}/tasks/{id}")).await.ok()["status"],
        2
    );
    api.delete(&format!("/v2/{p}/tasks/{id}"))
        .await
        .assert_error(400, "OMS.0063");
    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .assert_error(400, "OMS.0065");
    api.post(&format!("/v2/{p}/tasks/{id}/stop"), None)
        .await
        .ok();
    assert_eq!(
        api.get(&format!("/v2/{p}/tasks/{id}")).await.ok()["status"],
        7
    );
    api.delete(&format!("/v2/{p}/tasks/{id}"))
        .await
        .assert_error(400, "OMS.0063");

    // The worker saves its state: paused; start again, claim, and this time it completes.
    db.finish_task(&lease, TaskEvent::PauseReached, None)
        .await
        .unwrap();
    assert_eq!(
        api.get(&format!("/v2/{p}/tasks/{id}")).await.ok()["status"],
        3
    );
    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .ok();
    let lease = db
        .claim_next_task("worker-2", Duration::from_secs(60), &[])
        .await
        .unwrap()
        .unwrap();
    db.finish_task(&lease, TaskEvent::Succeed, None)
        .await
        .unwrap();
    let done = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(done.ok()["status"], 5);
    assert!(done.body["start_time"].as_i64().unwrap() > 0);

    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .assert_error(400, "OMS.0070");
    api.post(&format!("/v2/{p}/tasks/{id}/stop"), None)
        .await
        .assert_error(400, "OMS.0070");
    api.delete(&format!("/v2/{p}/tasks/{id}")).await.ok();
    api.get(&format!("/v2/{p}/tasks/{id}"))
        .await
        .assert_error(400, "OMS.1009");
    api.delete(&format!("/v2/{p}/tasks/{id}"))
        .await
        .assert_error(400, "OMS.1009");
}

#[tokio::test]
async fn retransmitting_failed_objects_needs_a_failed_task() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let id = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    api.post(&format!("/v2/{p}/tasks/{id}/stop"), None)
        .await
        .ok();
    let failed_only = with(start_body(), "/migrate_failed_object", json!(true));
    let reply = api
        .post(&format!("/v2/{p}/tasks/{id}/start"), Some(&failed_only))
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("failed"), "{}", reply.msg());

    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .ok();
    let db = server.db().await;
    let lease = db
        .claim_next_task("w", Duration::from_secs(60), &[])
        .await
        .unwrap()
        .unwrap();
    let reason = oms_core::model::FailureReason {
        code: "TRF.0004".into(),
        message: "some objects failed".into(),
    };
    db.finish_task(&lease, TaskEvent::Fail, Some(&reason))
        .await
        .unwrap();
    let failed = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(failed.ok()["status"], 4);
    assert_eq!(
        failed.body["error_reason"],
        json!({"error_code": "TRF.0004", "error_msg": "some objects failed"})
    );

    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&failed_only))
        .await
        .ok();
    let restarted = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(restarted.ok()["status"], 1);
    assert!(restarted.body.get("error_reason").is_none());
}

#[tokio::test]
async fn listing_filters_pages_and_counts() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            api.post(&format!("/v2/{p}/tasks"), Some(&task_body()))
                .await
                .ok()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    api.post(&format!("/v2/{p}/tasks/{}/stop", ids[0]), None)
        .await
        .ok();
    api.post(&format!("/v2/{p}/tasks/{}/stop", ids[1]), None)
        .await
        .ok();

    let all = api.get(&format!("/v2/{p}/tasks")).await;
    assert_eq!(all.ok()["count"], 5);
    let listed: Vec<i64> = all.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let page = api.get(&format!("/v2/{p}/tasks?limit=2&offset=1")).await;
    assert_eq!(page.ok()["count"], 5);
    let page_ids: Vec<i64> = page.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page_ids, newest_first[1..3]);

    let paused = api.get(&format!("/v2/{p}/tasks?status=3")).await;
    assert_eq!(paused.ok()["count"], 2);
    assert!(
        paused.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == 3)
    );

    let name = format!("{}", ids[3]);
    let by_name = api
        .get(&format!("/v2/{p}/tasks?task_name={}", &name[5..12]))
        .await;
    assert_eq!(by_name.ok()["count"], 1);
    assert_eq!(by_name.body["tasks"][0]["id"], ids[3]);

    let none = api
        .get(&format!(
            "/v2/{p}/tasks?group_id=157ece42-3270-4824-a3d2-f0187a03ca01"
        ))
        .await;
    assert_eq!(none.ok()["count"], 0);
    assert_eq!(none.body["tasks"], json!([]));
}

#[tokio::test]
async fn bandwidth_policy_and_batch_updates_apply() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let first = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let second = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();

    let night = json!({"bandwidth_policy": [{"start": "22:00", "end": "06:00", "max_bandwidth": 104_857_600}]});
    api.put(
        &format!("/v2/{p}/tasks/{first}/bandwidth-policy"),
        Some(&night),
    )
    .await
    .ok();
    let shown = api.get(&format!("/v2/{p}/tasks/{first}")).await;
    assert_eq!(shown.ok()["bandwidth_policy"], night["bandwidth_policy"]);

    let overlapping = json!({"bandwidth_policy": [
        {"start": "01:00", "end": "05:00", "max_bandwidth": 1_048_576},
        {"start": "04:00", "end": "07:00", "max_bandwidth": 1_048_576}]});
    let reply = api
        .put(
            &format!("/v2/{p}/tasks/{first}/bandwidth-policy"),
            Some(&overlapping),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(
        reply.msg().contains("bandwidth_policy[1]"),
        "{}",
        reply.msg()
    );

    let batch = json!({"ids": [first, second], "bandwidth_policy": [], "task_priority": "LOW"});
    api.post(&format!("/v2/{p}/tasks/batch-update"), Some(&batch))
        .await
        .ok();
    for id in [first, second] {
        let t = api.get(&format!("/v2/{p}/tasks/{id}")).await;
        assert_eq!(t.ok()["bandwidth_policy"], json!([]));
        assert_eq!(t.body["task_priority"], "LOW");
    }

    let missing = json!({"ids": [first, 123_456_789_012_345_i64], "bandwidth_policy": []});
    let reply = api
        .post(&format!("/v2/{p}/tasks/batch-update"), Some(&missing))
        .await;
    reply.assert_error(400, "OMS.1009");
    assert!(reply.msg().contains("123456789012345"), "{}", reply.msg());
}

#[tokio::test]
async fn a_batch_update_selecting_no_tasks_names_the_field_it_does_not_know() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let path = format!("/v2/{}/tasks/batch-update", server.a.id);
    let id = server.create_task(&task_body()).await;

    let misspelt = json!({"task_ids": [id], "bandwidth_policy": []});
    let reply = api.post(&path, Some(&misspelt)).await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("task_ids"), "{}", reply.text);
    assert_eq!(
        reply.body["error_detail"],
        "request parameter [task_ids] invalid"
    );

    let no_selector = json!({"bandwidth_policy": []});
    let reply = api.post(&path, Some(&no_selector)).await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("group_id or ids"), "{}", reply.text);

    let wrong_type = json!({"ids": "1,2", "bandwidth_policy": []});
    let reply = api.post(&path, Some(&wrong_type)).await;
    reply.assert_error(400, "OMS.0064");
    assert_eq!(
        reply.body["error_detail"],
        "request parameter [ids] invalid"
    );

    // Beside a selector, unknown fields are ignored as in every request (SDKs send newer ones).
    let newer = json!({"ids": [id], "bandwidth_policy": [], "newer_field": 1});
    api.post(&path, Some(&newer)).await.ok();
}

#[tokio::test]
async fn every_task_kind_is_accepted_with_its_own_rules() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let list_file = json!({"list_file_key": "lists/objects.txt", "obs_bucket": "dest-bucket"});
    let bodies = [
        with(
            with(task_body(), "/task_type", json!("object")),
            "/src_node/object_key",
            json!(["a.txt", "photos/"]),
        ),
        with(
            without(
                with(task_body(), "/task_type", json!("list")),
                "/src_node/object_key",
            ),
            "/src_node/list_file",
            list_file.clone(),
        ),
        json!({
            "task_type": "url_list",
            "src_node": {"cloud_type": "URLSource", "list_file": list_file},
            "dst_node": {"ak": "DST-AK", "sk": "DST-SK", "region": "cn-north-4", "bucket": "dest-bucket"},
            "source_cdn": null,
        }),
        with(
            task_body(),
            "/source_cdn",
            json!({"domain": "cdn.example.com", "protocol": "https",
            "authentication_type": "ALIYUN_OSS_A", "authentication_key": "CDN-KEY"}),
        ),
    ];
    for body in bodies {
        let id = api.post(&format!("/v2/{p}/tasks"), Some(&body)).await.ok()["id"]
            .as_i64()
            .unwrap();
        let shown = api.get(&format!("/v2/{p}/tasks/{id}")).await;
        assert_eq!(shown.ok()["task_type"], body["task_type"]);
        assert!(!shown.text.contains("CDN-KEY"));
    }
}

/// The task's name as shown by the task and by the list (two answers, cached apart).
async fn names(api: &Api<'_>, p: &str, id: i64) -> [String; 2] {
    let one = api.get(&format!("/v2/{p}/tasks/{id}")).await.ok()["name"].clone();
    let listed = api.get(&format!("/v2/{p}/tasks?limit=100")).await.ok()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .map(|t| t["name"].clone())
        .unwrap();
    [one, listed].map(|n| n.as_str().unwrap().to_owned())
}

/// What another process writes (simulated by changing the database behind omsd's back) is not
/// shown while the cached answer is younger than `read_cache_ms` (an hour here), and is once it
/// is older (300 ms after a restart with that); what omsd itself writes shows at once.
#[tokio::test]
async fn answers_are_reused_until_omsd_writes_or_they_age() {
    use sqlx::Connection as _;
    let mut server = TestServer::start().await;
    let p = server.a.id.clone();
    sqlx::any::install_default_drivers();
    let mut other = sqlx::AnyConnection::connect(&server.db_url).await.unwrap();
    let rename = async |conn: &mut sqlx::AnyConnection, id: i64, to: &str| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update tasks set name = '{to}' where id = {id}"
        )))
        .execute(conn)
        .await
        .unwrap();
    };
    let id = {
        let api = server.token_client(&server.a);
        let create = async || {
            api.post(&format!("/v2/{p}/tasks"), Some(&task_body()))
                .await
                .ok()["id"]
                .as_i64()
                .unwrap()
        };
        let id = create().await;
        let [original, _] = names(&api, &p, id).await;
        rename(&mut other, id, "renamed-elsewhere").await;
        assert_eq!(
            names(&api, &p, id).await,
            [original.clone(), original],
            "a write of another process is not seen while the answer is cached"
        );
        create().await;
        assert_eq!(
            names(&api, &p, id).await,
            ["renamed-elsewhere"; 2],
            "a write of omsd's own retires every cached answer at once"
        );
        id
    };

    server
        .restart_with(Overrides {
            read_cache_ms: Some(300),
            ..Overrides::default()
        })
        .await;
    let api = server.token_client(&server.a);
    assert_eq!(names(&api, &p, id).await, ["renamed-elsewhere"; 2]);
    rename(&mut other, id, "renamed-again").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        names(&api, &p, id).await,
        ["renamed-again"; 2],
        "but once the cached answer is older than read_cache_ms"
    );
}

/// A task or group whose lease lapsed is claimed again, but not by a worker that says it is
/// still running it (its heartbeat was late): that would start a second run beside the first.
#[tokio::test]
async fn a_lapsed_lease_is_claimed_again_but_not_by_the_worker_still_running_it() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let id = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let group = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&group_body()))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = server.db().await;
    let short = Duration::from_millis(50);
    let task_lease = db.claim_next_task("w", short, &[]).await.unwrap().unwrap();
    assert_eq!(task_lease.task_id.get(), id);
    let group_lease = db.claim_next_group("w", short, &[]).await.unwrap().unwrap();
    assert_eq!(group_lease.group_id.to_string(), group);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let long = Duration::from_secs(60);
    assert!(
        db.claim_next_task("w", long, &[task_lease.task_id])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.claim_next_group("w", long, &[group_lease.group_id])
            .await
            .unwrap()
            .is_none()
    );
    // The first run's late heartbeat still lands: nobody took the lease over.
    db.renew_lease(&task_lease, long).await.unwrap();
    assert!(db.claim_next_task("w", long, &[]).await.unwrap().is_none());

    // Another worker (or this one, once the run is over) takes a lapsed lease over and fences
    // the old holder out.
    let group_again = db.claim_next_group("w2", long, &[]).await.unwrap().unwrap();
    assert_eq!(group_again.epoch, group_lease.epoch + 1);
    assert!(matches!(
        db.renew_group_lease(&group_lease, long).await,
        Err(oms_db::DbError::LeaseLost)
    ));
}
