//! Beyond OMS: a plan before the copy (`dry_run: true`) and a proof after it (the verification
//! manifest). A dry run lists and compares as a run does, writes nothing at the destination,
//! and its plan is what the real run then does; the manifest of a finished task names each
//! copied object with what proved it, and matches the destination object by object.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::groups::wait_group;
use super::{DST_BUCKET, MIB, Migration, SRC_BUCKET, random_bytes};
use crate::support::harness::Overrides;
use crate::support::s3::{crc64_xz, md5_hex, object_bytes};

/// Every object of the destination bucket (`oms/` included): key → (entity tag, size).
async fn everything(m: &Migration) -> BTreeMap<String, (String, i64)> {
    let client = m.dst.client();
    let mut all = BTreeMap::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(DST_BUCKET)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            all.insert(
                o.key().unwrap().to_owned(),
                (
                    o.e_tag().unwrap_or_default().to_owned(),
                    o.size().unwrap_or_default(),
                ),
            );
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return all;
        }
    }
}

fn keys(part: &Value) -> Vec<&str> {
    part["first_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_plans_exactly_what_the_run_then_does() {
    // Manifest files of 3 objects: the run's 4 copies fill two.
    let m = Migration::start_overrides(Overrides {
        worker: true,
        manifest_part_objects: Some(3),
        ..Overrides::default()
    })
    .await;
    let api = m.oms.signed_client(&m.oms.a);
    let p = m.oms.a.id.clone();
    // A finished run of the project: its speed predicts the plan's time.
    m.src
        .put_many(
            SRC_BUCKET,
            (0..3)
                .map(|i| (format!("warm/{i}"), random_bytes(200_000)))
                .collect(),
        )
        .await;
    let warm = m.create(&m.task_body(&["warm/"])).await;
    m.wait_for(warm, 5, Duration::from_secs(60)).await;

    // p/a is at the destination as it is (skipped), p/b another size (overwritten), the rest
    // absent (copied); p/big is copied in parts.
    let a = random_bytes(1_000);
    m.src.put(SRC_BUCKET, "p/a", a.clone(), None, &[]).await;
    m.src
        .put(SRC_BUCKET, "p/b", random_bytes(2_000), None, &[])
        .await;
    for (key, len) in [("p/c", 3_000), ("p/d", 4_000), ("p/big", 9 * MIB + 1)] {
        m.src
            .put(SRC_BUCKET, key, random_bytes(len), None, &[])
            .await;
    }
    m.dst.put(DST_BUCKET, "p/a", a, None, &[]).await;
    m.dst
        .put(DST_BUCKET, "p/b", random_bytes(10), None, &[])
        .await;
    let before = everything(&m).await;
    let writes_before = m.dst.faults.writes_in_flight_seen.lock().unwrap().len();

    let mut body = m.task_body(&["p/"]);
    body["dry_run"] = json!(true);
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["dry_run"], true, "{task:#}");
    let plan = &task["plan"];
    assert_eq!(plan["copy"]["num"], 3, "{plan:#}");
    assert_eq!(keys(&plan["copy"]), ["p/big", "p/c", "p/d"]);
    assert_eq!(plan["copy"]["size"], 3_000 + 4_000 + 9 * MIB + 1);
    assert_eq!(plan["overwrite"]["num"], 1, "{plan:#}");
    assert_eq!(keys(&plan["overwrite"]), ["p/b"]);
    assert_eq!(plan["overwrite"]["size"], 2_000);
    assert_eq!(plan["skip"]["num"], 1, "{plan:#}");
    assert_eq!(keys(&plan["skip"]), ["p/a"]);
    assert!(plan["history_speed"].as_i64().unwrap() > 0, "{plan:#}");
    assert!(plan["estimated_time"].as_i64().is_some(), "{plan:#}");
    assert_eq!(task["successful_num"], 0, "{task:#}");
    // Nothing was written: not an object, not a list.
    assert_eq!(everything(&m).await, before);
    assert_eq!(
        m.dst.faults.writes_in_flight_seen.lock().unwrap().len(),
        writes_before
    );
    // The plan is shown by GET only; a list of tasks does not carry it.
    let listed = api.get(&format!("/v2/{p}/tasks?limit=100")).await;
    let listed = listed.ok()["tasks"].as_array().unwrap().clone();
    let mine = listed.iter().find(|t| t["id"] == id).unwrap();
    assert!(mine.get("plan").is_none(), "{mine:#}");

    // The run does what the plan said.
    let id = m.create(&m.task_body(&["p/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 4, "{task:#}");
    assert_eq!(task["skipped_num"], 1, "{task:#}");
    assert!(task.get("plan").is_none(), "{task:#}");
    m.assert_identical("p/", "").await;

    // Its manifest names every copied object with what proved it, and matches the
    // destination object by object: size, entity tag, and the checksum of the bytes there.
    let manifest = api.get(&format!("/v2/{p}/tasks/{id}/manifest")).await;
    let manifest = manifest.ok().clone();
    assert_eq!(manifest["count"], 4, "{manifest:#}");
    let client = m.dst.client();
    let mut lines = Vec::new();
    for entry in manifest["objects"].as_array().unwrap() {
        let key = entry["key"].as_str().unwrap();
        let head = client
            .head_object()
            .bucket(DST_BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(entry["size"], head.content_length().unwrap(), "{entry}");
        assert_eq!(
            entry["dst_etag"].as_str().unwrap(),
            head.e_tag().unwrap().trim_matches('"'),
            "{entry}"
        );
        let bytes = object_bytes(&client, DST_BUCKET, key).await;
        let value = entry["checksum_value"].as_str().unwrap();
        match entry["checksum"].as_str().unwrap() {
            "md5" => assert_eq!(value, md5_hex(&bytes), "{entry}"),
            "crc64" => assert_eq!(value, format!("{:016x}", crc64_xz(&bytes)), "{entry}"),
            "multipart-etag" => assert_eq!(value, entry["dst_etag"], "{entry}"),
            other => panic!("{key} is proven by {other} only: {entry}"),
        }
        let source = m
            .src
            .client()
            .head_object()
            .bucket(SRC_BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            entry["source_etag"].as_str().unwrap(),
            source.e_tag().unwrap().trim_matches('"'),
            "{entry}"
        );
        lines.push(format!(
            "{key}\t{}\t{}\t{}\t{value}\t{}",
            entry["size"],
            entry["source_etag"].as_str().unwrap(),
            entry["checksum"].as_str().unwrap(),
            entry["dst_etag"].as_str().unwrap()
        ));
    }
    let keys: Vec<&str> = manifest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["p/b", "p/big", "p/c", "p/d"]);
    // The same lines are written beside the lists at the destination.
    let name = task["name"].as_str().unwrap();
    let prefix = format!("oms/task/{name}/verification_manifest/");
    let written: Vec<String> = everything(&m)
        .await
        .into_keys()
        .filter(|k| k.starts_with(&prefix))
        .collect();
    // In two files of at most 3 objects, each with the header: `{stamp}.manifest.txt`, then
    // `{stamp}.manifest.2.txt`.
    assert_eq!(written.len(), 2, "{written:?}");
    let first = written
        .iter()
        .find(|k| k.ends_with(".manifest.txt"))
        .unwrap();
    let second = first.replace(".manifest.txt", ".manifest.2.txt");
    assert!(written.contains(&second), "{written:?}");
    let mut written_lines = Vec::new();
    for (file, count) in [(first, 3), (&second, 1)] {
        let text = String::from_utf8(object_bytes(&client, DST_BUCKET, file).await).unwrap();
        let mut text_lines = text.lines();
        assert_eq!(
            text_lines.next(),
            Some("#key\tsize\tsource_etag\tchecksum\tchecksum_value\tdst_etag\ttime")
        );
        let of_file: Vec<String> = text_lines
            .map(|l| l.rsplit_once('\t').unwrap().0.to_owned())
            .collect();
        assert_eq!(of_file.len(), count, "{file}: {text}");
        written_lines.extend(of_file);
    }
    assert_eq!(written_lines, lines);
}

#[tokio::test]
async fn a_dry_run_group_plans_over_its_tasks_and_writes_nothing() {
    let m = Migration::start_custom(true, Some(4)).await;
    let api = m.oms.signed_client(&m.oms.a);
    let p = m.oms.a.id.clone();
    m.src
        .put_many(
            SRC_BUCKET,
            (0..10)
                .map(|i| (format!("g/{i:02}"), random_bytes(100 + i)))
                .collect(),
        )
        .await;
    m.dst
        .put(DST_BUCKET, "g/03", random_bytes(1), None, &[])
        .await;
    let before = everything(&m).await;
    m.dst.faults.writes_in_flight_seen.lock().unwrap().clear();
    m.dst.faults.served.store(0, Ordering::SeqCst);

    let mut body = m.task_body(&["g/"]);
    body["task_type"] = json!("PREFIX");
    body["dry_run"] = json!(true);
    let created = api.post(&format!("/v2/{p}/taskgroups"), Some(&body)).await;
    let id = created.ok()["group_id"].as_str().unwrap().to_owned();
    let group = wait_group(&m, &id, 6, Duration::from_secs(60)).await;
    assert_eq!(group["dry_run"], true, "{group:#}");
    assert!(group["total_task_num"].as_i64().unwrap() > 1, "{group:#}");
    let plan = &group["plan"];
    assert_eq!(plan["copy"]["num"], 9, "{plan:#}");
    assert_eq!(plan["overwrite"]["num"], 1, "{plan:#}");
    assert_eq!(keys(&plan["overwrite"]), ["g/03"]);
    assert_eq!(plan["skip"]["num"], 0, "{plan:#}");
    assert_eq!(keys(&plan["copy"]).len(), 9);
    assert_eq!(everything(&m).await, before);
    assert!(
        m.dst
            .faults
            .writes_in_flight_seen
            .lock()
            .unwrap()
            .is_empty()
    );
}

/// A plan counts every object but keeps the keys of only the first of each kind: 25 objects
/// to copy, and the database holds the 10 the plan names, not a row per object.
#[tokio::test]
async fn a_plan_counts_every_object_and_keeps_only_the_keys_it_names() {
    let m = Migration::start().await;
    m.src
        .put_many(
            SRC_BUCKET,
            (0..25)
                .map(|i| (format!("many/{i:02}"), random_bytes(1_000 + i)))
                .collect(),
        )
        .await;
    let mut body = m.task_body(&["many/"]);
    body["dry_run"] = json!(true);
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    let plan = &task["plan"];
    assert_eq!(plan["copy"]["num"], 25, "{plan:#}");
    assert_eq!(
        plan["copy"]["size"],
        (0..25).map(|i| 1_000 + i).sum::<i64>(),
        "{plan:#}"
    );
    let expected: Vec<String> = (0..10).map(|i| format!("many/{i:02}")).collect();
    assert_eq!(keys(&plan["copy"]), expected);
    let task_id = oms_core::ids::TaskId::new(id).unwrap();
    let db = m.oms.db().await;
    let rows = db
        .count_records(task_id, oms_core::model::RecordKind::PlanCopy)
        .await
        .unwrap();
    assert_eq!(rows, 10, "one row per key the plan names");
}
