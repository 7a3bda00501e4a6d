//! What a task shows while it runs is true: finished parts count as done bytes, the speed is
//! what flows, a paused task keeps every counter it had, and objects a task copied before a
//! pause or a restart count as copied, not skipped, when it resumes.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oms_core::ids::TaskId;
use serde_json::Value;

use super::{DST_BUCKET, MIB, Migration, SRC_BUCKET, random_bytes};

/// Large objects first in listing order (they hold the checkpoint back while the small ones
/// after them finish), small ones after.
async fn seed(m: &Migration) -> (i64, i64) {
    let mut total = 0;
    for i in 0..3 {
        let size = 16 * MIB;
        m.src
            .put(
                SRC_BUCKET,
                &format!("c/a-big-{i}"),
                random_bytes(size),
                None,
                &[],
            )
            .await;
        total += size;
    }
    let small: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("c/b-small-{i:02}"), random_bytes(2000)))
        .collect();
    total += 30 * 2000;
    m.src.put_many(SRC_BUCKET, small).await;
    (33, i64::try_from(total).unwrap())
}

fn num(task: &Value, field: &str) -> i64 {
    task[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field}: {task:#}"))
}

#[tokio::test]
async fn parts_count_as_they_finish_and_a_paused_task_keeps_its_counters() {
    let m = Migration::start().await;
    let (objects, bytes) = seed(&m).await;
    m.dst.faults.part_delay_ms.store(1500, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["c/"])).await;

    // While no large object is complete, its finished parts are done bytes and the speed
    // follows what flows.
    let mut seen_parts = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let task = m.task(id).await;
        // Waiting (1) until a worker claims it, running (2) after; anything else ended it.
        assert!(
            task["status"] == 1 || task["status"] == 2,
            "the task ended before a sample: {task:#}"
        );
        let small_done = (num(&task, "successful_num") * 2000).min(30 * 2000);
        if num(&task, "complete_size") > small_done {
            assert!(num(&task, "migrate_speed") > 0, "{task:#}");
            assert!(task["progress"].as_f64().unwrap() < 1.0);
            seen_parts = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_parts, "finished parts never showed in complete_size");

    // Stop: the task pauses within seconds and keeps what it showed.
    let api = m.oms.signed_client(&m.oms.a);
    api.post(&format!("/v2/{}/tasks/{id}/stop", m.oms.a.id), None)
        .await
        .ok();
    let paused = m.wait_for(id, 3, Duration::from_secs(20)).await;
    assert!(num(&paused, "total_num") > 0, "{paused:#}");
    assert!(num(&paused, "total_size") > 0, "{paused:#}");
    assert!(num(&paused, "successful_num") > 0, "{paused:#}");
    assert!(num(&paused, "complete_size") > 0, "{paused:#}");
    assert!(paused["progress"].as_f64().unwrap() < 1.0, "{paused:#}");
    let copied_before = num(&paused, "successful_num");

    // Resumed: what this task copied before the pause counts as copied, not skipped.
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    api.post(
        &format!("/v2/{}/tasks/{id}/start", m.oms.a.id),
        Some(&m.start_body()),
    )
    .await
    .ok();
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            num(&done, "total_num"),
            num(&done, "successful_num"),
            num(&done, "skipped_num"),
            num(&done, "failed_num")
        ),
        (objects, objects, 0, 0),
        "copied before the pause: {copied_before}; {done:#}"
    );
    assert_eq!(num(&done, "total_size"), bytes);
    assert_eq!(num(&done, "complete_size"), bytes);
    assert_eq!(done["progress"].as_f64(), Some(1.0));
    m.assert_identical("c/", "").await;
    for i in 0..30 {
        assert_eq!(
            m.dst
                .calls
                .count("put_object", &format!("c/b-small-{i:02}")),
            1,
            "c/b-small-{i:02} copied twice"
        );
    }
}

#[tokio::test]
async fn a_restart_of_omsd_keeps_the_counters_and_the_objects_copied_before_it() {
    let mut m = Migration::start().await;
    let (objects, bytes) = seed(&m).await;
    m.dst.faults.part_delay_ms.store(500, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["c/"])).await;
    assert!(
        crate::support::harness::eventually(Duration::from_secs(30), async || {
            m.dst.calls.total("put_object") >= 30
        })
        .await,
        "the small objects were copied"
    );
    // A graceful shutdown (what SIGTERM does), a look at what it left, and a start again.
    m.oms.stop().await;
    let db = m.oms.db().await;
    let task_id = TaskId::new(id).unwrap();
    let written: BTreeSet<String> = m.dst.keys(DST_BUCKET, "c/").await.into_iter().collect();
    let mut large = Vec::new();
    for i in 0..3 {
        let key = format!("c/a-big-{i}");
        let saved = db
            .load_upload(task_id, &key)
            .await
            .unwrap()
            .map_or(0, |u| u.parts.len());
        let sent = m.dst.calls.count("upload_part", &key);
        large.push((key, saved, sent));
    }
    m.oms.start_again().await;
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    let done = m.wait_for(id, 5, Duration::from_secs(90)).await;
    assert_eq!(
        (
            num(&done, "total_num"),
            num(&done, "successful_num"),
            num(&done, "skipped_num")
        ),
        (objects, objects, 0),
        "{done:#}"
    );
    assert_eq!(num(&done, "total_size"), bytes);
    m.assert_identical("c/", "").await;
    // Nothing copied before the restart was sent again: each small object went once, each
    // large one continued its upload with the parts it had not saved (16 MiB: 4 parts).
    for i in 0..30 {
        let key = format!("c/b-small-{i:02}");
        assert_eq!(m.dst.calls.count("put_object", &key), 1, "{key}");
    }
    for (key, saved, sent) in large {
        assert_eq!(
            m.dst.calls.count("create_multipart_upload", &key),
            1,
            "{key}: one upload"
        );
        let after = m.dst.calls.count("upload_part", &key) - sent;
        let unfinished = if written.contains(&key) { 0 } else { 4 - saved };
        assert_eq!(
            after,
            u32::try_from(unfinished).unwrap(),
            "{key}: {saved} parts saved before the restart"
        );
    }
}

/// A stop takes effect within seconds whatever the bandwidth: the two parts in flight under a
/// 1 MiB/s window (10 MiB between them) are not waited for but cut after the stop grace period
/// (2 s by default: 2 MiB more), so the task pauses with no part finished, and sends them again
/// on resume.
#[tokio::test]
async fn a_stop_under_a_low_bandwidth_window_takes_effect_within_seconds() {
    let m = Migration::start().await;
    m.src
        .put(
            SRC_BUCKET,
            "slow/big.bin",
            random_bytes(24 * MIB),
            None,
            &[],
        )
        .await;
    let policy = serde_json::json!([
        {"start": "00:00", "end": "23:59", "max_bandwidth": MIB},
        {"start": "23:59", "end": "00:00", "max_bandwidth": MIB},
    ]);
    let body = crate::support::fixtures::with(m.task_body(&["slow/"]), "/bandwidth_policy", policy);
    let id = m.create(&body).await;
    assert!(
        crate::support::harness::eventually(Duration::from_secs(30), async || {
            m.task(id).await["complete_size"].as_i64() == Some(0)
                && m.src.calls.count("get_object", "slow/big.bin") >= 2
        })
        .await,
        "two parts are in flight"
    );
    let api = m.oms.signed_client(&m.oms.a);
    api.post(&format!("/v2/{}/tasks/{id}/stop", m.oms.a.id), None)
        .await
        .ok();
    // Paused with neither part finished (what it shows done is the bytes that were on their
    // way): they were cut, not waited for.
    let paused = m.wait_for(id, 3, Duration::from_secs(60)).await;
    assert!(
        paused["complete_size"].as_u64() < Some(5 * 1024 * 1024),
        "{paused:#}"
    );
    assert_eq!(
        m.dst
            .calls
            .count("complete_multipart_upload", "slow/big.bin"),
        0
    );
    let saved = m
        .oms
        .db()
        .await
        .load_upload(TaskId::new(id).unwrap(), "slow/big.bin")
        .await
        .unwrap()
        .map_or(0, |u| u.parts.len());
    assert_eq!(saved, 0, "no part finished before the stop took effect");
    // Resumed without the window: the object arrives whole.
    api.put(
        &format!("/v2/{}/tasks/{id}/bandwidth-policy", m.oms.a.id),
        Some(&serde_json::json!({"bandwidth_policy": []})),
    )
    .await
    .ok();
    api.post(
        &format!("/v2/{}/tasks/{id}/start", m.oms.a.id),
        Some(&m.start_body()),
    )
    .await
    .ok();
    m.wait_for(id, 5, Duration::from_secs(60)).await;
    m.assert_identical("slow/", "").await;
}
