//! The success and skip lists: with recording on, a task (and each task of a group) writes the
//! objects it copied and the objects it skipped beside its failed list, one line each (time,
//! key, size); a list the destination refuses is reported in `success_record_error_reason` /
//! `skip_record_error_reason`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::groups::{tasks_of, wait_group};
use super::{DST_BUCKET, Migration, SRC_BUCKET, random_bytes};
use crate::support::s3::object_bytes;

/// The keys of the one list under `prefix` at the destination, checking each line's shape:
/// an RFC 3339 time, the key, and its size as the source holds it.
async fn list_keys(m: &Migration, prefix: &str, sizes: &[(String, usize)]) -> BTreeSet<String> {
    let lists = m.dst.keys(DST_BUCKET, prefix).await;
    assert_eq!(lists.len(), 1, "one list under {prefix}: {lists:?}");
    let text = object_bytes(&m.dst.client(), DST_BUCKET, &lists[0]).await;
    let text = String::from_utf8(text).unwrap();
    let keys: Vec<&str> = text.lines().filter_map(|l| l.split('\t').nth(1)).collect();
    assert!(keys.is_sorted(), "a list goes in key order: {text}");
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert!(
                jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%:z", fields[0]).is_ok(),
                "{line}"
            );
            let size = sizes.iter().find(|(k, _)| k == fields[1]).map(|(_, s)| *s);
            assert_eq!(Some(fields[2].parse().unwrap()), size, "{line}");
            fields[1].to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_task_lists_what_it_copied_and_what_it_skipped_beside_its_failed_list() {
    let m = Migration::start().await;
    // Two keys whose byte order (B before a, as S3 lists them) is not a locale's.
    let names = |i: usize| match i {
        0 => "rec/a.bin".to_owned(),
        1 => "rec/B.bin".to_owned(),
        i => format!("rec/{i}.bin"),
    };
    let objects: Vec<(String, Vec<u8>)> =
        (0..6).map(|i| (names(i), random_bytes(100 + i))).collect();
    let sizes: Vec<(String, usize)> = objects.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    m.src.put_many(SRC_BUCKET, objects.clone()).await;
    // Two are at the destination already, the same: they are skipped.
    m.dst.put_many(DST_BUCKET, objects[..2].to_vec()).await;
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("rec/5.bin".into());
    let id = m.create(&m.task_body(&["rec/"])).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(
        (
            &task["successful_num"],
            &task["skipped_num"],
            &task["failed_num"]
        ),
        (&json!(3), &json!(2), &json!(1)),
        "{task:#}"
    );
    assert_eq!(task["success_record_error_reason"], "", "{task:#}");
    assert_eq!(task["skip_record_error_reason"], "", "{task:#}");
    let name = task["name"].as_str().unwrap();
    let copied = list_keys(
        &m,
        &format!("oms/task/{name}/success_object_lists/"),
        &sizes,
    )
    .await;
    let skipped = list_keys(&m, &format!("oms/task/{name}/skip_object_lists/"), &sizes).await;
    assert_eq!(
        copied,
        BTreeSet::from(["rec/2.bin", "rec/3.bin", "rec/4.bin"].map(String::from))
    );
    assert_eq!(
        skipped,
        BTreeSet::from(["rec/B.bin", "rec/a.bin"].map(String::from))
    );
    assert!(m.failed_list(&task).await.contains("rec/5.bin"));

    // The failed object is retransmitted: the success list of the task names it now.
    m.src.faults.broken_keys.lock().unwrap().clear();
    let api = m.oms.signed_client(&m.oms.a);
    let mut body = m.start_body();
    body["migrate_failed_object"] = json!(true);
    api.post(&format!("/v2/{}/tasks/{id}/start", m.oms.a.id), Some(&body))
        .await
        .ok();
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 4, "{task:#}");
    let lists = m
        .dst
        .keys(
            DST_BUCKET,
            &format!("oms/task/{name}/success_object_lists/"),
        )
        .await;
    assert_eq!(lists.len(), 2, "{lists:?}");
    let latest = object_bytes(&m.dst.client(), DST_BUCKET, lists.last().unwrap()).await;
    let latest = String::from_utf8(latest).unwrap();
    assert_eq!(latest.lines().count(), 4, "{latest}");
    assert!(latest.contains("\trec/5.bin\t105"), "{latest}");
    // Its skip list names what the first run skipped (this run skipped nothing new), read
    // back from the database in the same byte order.
    let lists = m
        .dst
        .keys(DST_BUCKET, &format!("oms/task/{name}/skip_object_lists/"))
        .await;
    assert_eq!(lists.len(), 2, "{lists:?}");
    let latest = object_bytes(&m.dst.client(), DST_BUCKET, lists.last().unwrap()).await;
    let latest = String::from_utf8(latest).unwrap();
    let skipped: Vec<&str> = latest
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    assert_eq!(skipped, ["rec/B.bin", "rec/a.bin"], "{latest}");
    m.assert_identical("rec/", "").await;
}

#[tokio::test]
async fn without_recording_no_list_is_written_and_a_refused_list_is_reported() {
    let m = Migration::start().await;
    m.src
        .put_many(SRC_BUCKET, vec![("off/a".into(), random_bytes(10))])
        .await;
    let mut body = m.task_body(&["off/"]);
    body["enable_failed_object_recording"] = json!(false);
    let id = m.create(&body).await;
    m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert!(m.dst.keys(DST_BUCKET, "oms/").await.is_empty());

    // The destination refuses everything under oms/: the objects are copied, and the task
    // says that neither list could be written.
    let same = random_bytes(10);
    m.src
        .put_many(
            SRC_BUCKET,
            vec![
                ("on/a".into(), random_bytes(10)),
                ("on/b".into(), same.clone()),
            ],
        )
        .await;
    m.dst
        .put_many(DST_BUCKET, vec![("on/b".into(), same)])
        .await;
    *m.dst.faults.refused_write_prefix.lock().unwrap() = Some("oms/".into());
    let id = m.create(&m.task_body(&["on/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (&task["successful_num"], &task["skipped_num"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(
        task["success_record_error_reason"], "AccessDenied",
        "{task:#}"
    );
    assert_eq!(task["skip_record_error_reason"], "AccessDenied", "{task:#}");
    assert!(m.dst.keys(DST_BUCKET, "oms/").await.is_empty());
}

#[tokio::test]
async fn each_task_of_a_group_writes_its_success_list_under_the_group() {
    let m = Migration::start_custom(true, Some(2)).await;
    let objects: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("grp/{i}"), random_bytes(50 + i)))
        .collect();
    let sizes: Vec<(String, usize)> = objects.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    let mut body = m.task_body(&["grp/"]);
    body["task_type"] = json!("PREFIX");
    let api = m.oms.signed_client(&m.oms.a);
    let group = api
        .post(&format!("/v2/{}/taskgroups", m.oms.a.id), Some(&body))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_group(&m, &group, 6, Duration::from_secs(60)).await;
    let tasks = tasks_of(&m, &group).await;
    assert_eq!(tasks.len(), 3);
    let mut all = BTreeSet::new();
    for task in &tasks {
        let name = task["name"].as_str().unwrap();
        let prefix = format!("oms/task_group/{group}/success_object_lists/{name}/");
        let keys = list_keys(&m, &prefix, &sizes).await;
        assert_eq!(keys.len() as i64, task["successful_num"].as_i64().unwrap());
        all.extend(keys);
    }
    assert_eq!(all.len(), 5, "{all:?}");
}
