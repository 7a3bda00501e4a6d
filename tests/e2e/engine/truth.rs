//! What a task shows is true at every moment: saved parts of a paused object count as done
//! bytes, `complete_size` moves while a large part travels under a low bandwidth window, the
//! figures never go back across a restart or a worker killed and replaced, `complete_size`
//! never exceeds `total_size` (a retransmission of an object that grew included), a task
//! waiting for its lease to expire says so, and one that found nothing says that.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{MIB, Migration, SRC_BUCKET, random_bytes};
use crate::support::fixtures::with;
use crate::support::harness::Overrides;

/// The figures that never go back while a task is unfinished.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    total_num: i64,
    total_size: i64,
    complete_size: i64,
    progress: f64,
}

impl Figures {
    fn of(task: &Value) -> Self {
        let int = |field: &str| {
            task[field]
                .as_i64()
                .unwrap_or_else(|| panic!("{field}: {task:#}"))
        };
        Self {
            total_num: int("total_num"),
            total_size: int("total_size"),
            complete_size: int("complete_size"),
            progress: task["progress"].as_f64().unwrap(),
        }
    }
}

/// Every answer a test sees, checked against the one before.
#[derive(Default)]
struct Watch {
    last: Option<Figures>,
    samples: usize,
}

impl Watch {
    fn see(&mut self, task: &Value) -> Figures {
        let now = Figures::of(task);
        assert!(
            now.complete_size <= now.total_size,
            "complete_size above total_size: {task:#}"
        );
        if let Some(before) = self.last {
            assert!(
                now.total_num >= before.total_num
                    && now.total_size >= before.total_size
                    && now.complete_size >= before.complete_size
                    && now.progress >= before.progress,
                "went back: {before:?} then {now:?}"
            );
        }
        self.last = Some(now);
        self.samples += 1;
        now
    }
}

fn api_path(m: &Migration, id: i64, verb: &str) -> String {
    format!("/v2/{}/tasks/{id}/{verb}", m.oms.a.id)
}

#[tokio::test]
async fn saved_parts_count_and_nothing_goes_back_across_a_restart_and_a_pause() {
    let mut m = Migration::start().await;
    // One large object (5 parts of 5 MiB) and small ones after it in key order.
    let big = 25 * MIB;
    m.src
        .put(SRC_BUCKET, "t/a-big.bin", random_bytes(big), None, &[])
        .await;
    let small: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("t/b-{i:02}"), random_bytes(1000)))
        .collect();
    m.src.put_many(SRC_BUCKET, small).await;
    let total = i64::try_from(big + 20 * 1000).unwrap();
    m.dst.faults.part_delay_ms.store(700, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["t/"])).await;
    let mut watch = Watch::default();

    // Parts finish one by one; a restart while they do (a graceful one) loses nothing shown.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = watch.see(&m.task(id).await);
        if seen.complete_size >= i64::try_from(2 * 5 * MIB).unwrap() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no parts: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    m.oms.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while m.dst.calls.total("upload_part") < 4 && tokio::time::Instant::now() < deadline {
        watch.see(&m.task(id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Paused while the large object is unfinished: its saved parts stay counted.
    m.oms
        .signed_client(&m.oms.a)
        .post(&api_path(&m, id, "stop"), None)
        .await
        .ok();
    let paused = m.wait_for(id, 3, Duration::from_secs(30)).await;
    let at_pause = watch.see(&paused);
    assert!(
        at_pause.complete_size >= i64::try_from(2 * 5 * MIB).unwrap(),
        "the saved parts of the paused object: {paused:#}"
    );
    assert!(
        at_pause.progress > 0.0 && at_pause.progress < 1.0,
        "{paused:#}"
    );

    // Started again from another omsd process: from the same figures on, to exact ones.
    m.oms.restart().await;
    assert_eq!(
        Figures::of(&m.task(id).await),
        at_pause,
        "a restart kept them"
    );
    let api = m.oms.signed_client(&m.oms.a);
    m.dst.faults.part_delay_ms.store(200, Ordering::SeqCst);
    api.post(&api_path(&m, id, "start"), Some(&m.start_body()))
        .await
        .ok();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let done = loop {
        let task = m.task(id).await;
        watch.see(&task);
        if task["status"] == 5 {
            break task;
        }
        assert!(tokio::time::Instant::now() < deadline, "not done: {task:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        Figures::of(&done),
        Figures {
            total_num: 21,
            total_size: total,
            complete_size: total,
            progress: 1.0
        }
    );
    assert!(watch.samples > 10, "{} samples", watch.samples);
    m.assert_identical("t/", "").await;
    // Parts saved before the pause were not sent again: 5 parts, plus at most those cut by
    // the restart and the stop.
    assert!(
        m.dst.calls.count("upload_part", "t/a-big.bin") <= 5 + 2 * 2,
        "{} parts sent",
        m.dst.calls.count("upload_part", "t/a-big.bin")
    );
}

#[tokio::test]
async fn complete_size_moves_while_a_part_travels_under_a_low_bandwidth_window() {
    let m = Migration::start().await;
    m.src
        .put(
            SRC_BUCKET,
            "slow/big.bin",
            random_bytes(10 * MIB),
            None,
            &[],
        )
        .await;
    // 1 MiB/s all day: a 5 MiB part takes about 5 s.
    let body = with(
        m.task_body(&["slow/"]),
        "/bandwidth_policy",
        json!([{"start": "00:00", "end": "23:59", "max_bandwidth": MIB}]),
    );
    let id = m.create(&body).await;
    let mut watch = Watch::default();
    let mut moves = 0;
    let mut previous = 0;
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let seen = watch.see(&m.task(id).await);
        if seen.complete_size > previous {
            moves += 1;
            previous = seen.complete_size;
        }
    }
    // Four seconds of a 5 MiB part at 1 MiB/s: no part finished, yet the bytes show.
    assert_eq!(m.dst.calls.total("complete_multipart_upload"), 0);
    assert!(
        moves >= 4 && previous > 0 && previous < i64::try_from(5 * MIB).unwrap(),
        "complete_size moved {moves} times, to {previous}"
    );
    let api = m.oms.signed_client(&m.oms.a);
    api.post(&api_path(&m, id, "stop"), None).await.ok();
    let paused = m.wait_for(id, 3, Duration::from_secs(30)).await;
    watch.see(&paused);
}

#[tokio::test]
async fn a_task_whose_worker_died_says_it_waits_and_a_new_worker_goes_on_from_its_figures() {
    let m = Migration::start_overrides(Overrides {
        read_cache_ms: Some(0),
        ..Overrides::default()
    })
    .await;
    let objects: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("k/{i:04}"), random_bytes(1500)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    m.src
        .put(SRC_BUCKET, "k/0-big.bin", random_bytes(15 * MIB), None, &[])
        .await;
    m.dst.faults.part_delay_ms.store(1_500, Ordering::SeqCst);
    m.dst.faults.put_delay_ms.store(20, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["k/"])).await;
    let dir = tempfile::tempdir().unwrap();
    let mut worker = super::resume::spawn_worker_process(&m, dir.path());
    let mut watch = Watch::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let task = m.task(id).await;
        watch.see(&task);
        if task["successful_num"].as_i64().unwrap() >= 50 {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = worker.kill();
            panic!("the worker made no progress: {task:#}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.kill().unwrap();
    worker.wait().unwrap();

    // Until its lease (10 s here) expires the task shows running; then it says it waits, with
    // a speed of 0, and nothing moves.
    let waiting = crate::support::harness::eventually(Duration::from_secs(20), async || {
        let task = m.task(id).await;
        task["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().unwrap_or_default().contains("lease"))
        })
    })
    .await;
    assert!(waiting, "no warning: {:#}", m.task(id).await);
    let task = m.task(id).await;
    watch.see(&task);
    assert_eq!(task["status"], 2, "{task:#}");
    assert_eq!(task["migrate_speed"], 0, "{task:#}");
    assert_eq!(task["left_time"], 0, "{task:#}");
    let warning = task["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("stopped renewing its lease") && warning.contains("another worker"),
        "{warning}"
    );

    // A new worker takes it over: from the figures shown on, to the end.
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    m.dst.faults.put_delay_ms.store(0, Ordering::SeqCst);
    let stop = CancellationToken::new();
    let worker_b = tokio::spawn(m.oms.worker().await.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let done = loop {
        let task = m.task(id).await;
        watch.see(&task);
        if task["status"] == 5 {
            break task;
        }
        assert!(tokio::time::Instant::now() < deadline, "{task:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.cancel();
    worker_b.await.unwrap();
    assert!(done.get("warnings").is_none(), "{done:#}");
    assert_eq!(done["total_num"], 201);
    assert_eq!(done["successful_num"], 201, "{done:#}");
    m.assert_identical("k/", "").await;
}

#[tokio::test]
async fn a_retransmitted_object_that_grew_keeps_complete_size_within_total_size() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "grow/fine.bin", vec![1; 100], None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "grow/broken.bin", vec![2; 100], None, &[])
        .await;
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("grow/broken.bin".to_owned());
    let id = m.create(&m.task_body(&["grow/"])).await;
    let failed = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(failed["failed_num"], 1, "{failed:#}");

    // Mended, and 9 bytes longer when it is sent again.
    m.src.faults.broken_keys.lock().unwrap().clear();
    m.src
        .put(SRC_BUCKET, "grow/broken.bin", vec![3; 109], None, &[])
        .await;
    let api = m.oms.signed_client(&m.oms.a);
    let failed_only = with(m.start_body(), "/migrate_failed_object", json!(true));
    api.post(&api_path(&m, id, "start"), Some(&failed_only))
        .await
        .ok();
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            done["total_size"].as_i64(),
            done["complete_size"].as_i64(),
            done["successful_num"].as_i64(),
            done["failed_num"].as_i64()
        ),
        (Some(209), Some(209), Some(2), Some(0)),
        "{done:#}"
    );
    m.assert_identical("grow/", "").await;
}

#[tokio::test]
async fn a_selection_that_matches_nothing_says_so() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "present/a.bin", vec![1; 10], None, &[])
        .await;
    let id = m.create(&m.task_body(&["absent/"])).await;
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(done["total_num"], 0);
    let warnings = done["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("matched no objects")),
        "{done:#}"
    );
    // A task that copied something says nothing of the kind.
    let id = m.create(&m.task_body(&["present/"])).await;
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert!(done.get("warnings").is_none(), "{done:#}");
}

#[tokio::test]
async fn unknown_fields_are_named_in_the_answer_or_refused_when_strict() {
    let mut m = Migration::start_with(false).await;
    let api = m.oms.signed_client(&m.oms.a);
    let body = with(
        with(m.task_body(&["x/"]), "/dst_node/save_prefx", json!("p/")),
        "/descripton",
        json!("typo"),
    );
    let created = api
        .post(&format!("/v2/{}/tasks", m.oms.a.id), Some(&body))
        .await;
    let answer = created.ok();
    assert!(answer["id"].as_i64().is_some(), "{answer:#}");
    let warnings: Vec<&str> = answer["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("descripton"), "{warnings:?}");
    assert!(warnings[1].contains("dst_node.save_prefx"), "{warnings:?}");
    // Another body with a typo: done, and told.
    let update = json!({"ids": [answer["id"].as_i64().unwrap()], "task_priority": "LOW", "bandwidth_policy": [],
                        "task_priorty": "HIGH"});
    let updated = api
        .post(
            &format!("/v2/{}/tasks/batch-update", m.oms.a.id),
            Some(&update),
        )
        .await;
    assert!(
        updated.ok()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("task_priorty"),
        "{}",
        updated.text
    );

    // Strict: refused, naming the field, and nothing is created.
    m.oms
        .restart_with(Overrides {
            reject_unknown_fields: true,
            ..Overrides::default()
        })
        .await;
    let api = m.oms.signed_client(&m.oms.a);
    let before = api.get(&format!("/v2/{}/tasks", m.oms.a.id)).await.ok()["count"].clone();
    let refused = api
        .post(&format!("/v2/{}/tasks", m.oms.a.id), Some(&body))
        .await;
    refused.assert_error(400, "OMS.0064");
    assert!(refused.msg().contains("descripton"), "{}", refused.msg());
    let after = api.get(&format!("/v2/{}/tasks", m.oms.a.id)).await.ok()["count"].clone();
    assert_eq!(before, after);
}
