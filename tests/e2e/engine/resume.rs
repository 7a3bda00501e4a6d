//! Stops, resumes and crashes: nothing is lost, nothing is copied twice, and a multipart upload
//! continues where it stopped.

use std::time::Duration;

use oms_core::ids::{ProjectId, TaskId};
use oms_db::CredentialOwner;
use tokio_util::sync::CancellationToken;

use super::{MIB, Migration, SRC_BUCKET, random_bytes};
use crate::support::harness::Overrides;

#[tokio::test]
async fn a_task_stopped_mid_upload_resumes_the_same_upload_without_resending_parts() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "video.bin", random_bytes(46 * MIB), None, &[])
        .await; // 10 parts
    for i in 0..20 {
        m.src
            .put(
                SRC_BUCKET,
                &format!("notes/{i}.txt"),
                random_bytes(500),
                None,
                &[],
            )
            .await;
    }
    m.dst
        .faults
        .part_delay_ms
        .store(1000, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&[""])).await;
    let task_id = TaskId::new(id).unwrap();
    let db = m.oms.db().await;

    let (paused, upload) = m.stop_once_a_part_is_saved(id, "video.bin").await;
    let api = m.oms.signed_client(&m.oms.a);
    let parts_before = upload.parts.len();
    assert!(
        (1..10).contains(&parts_before),
        "{parts_before} parts saved"
    );
    assert_eq!(
        m.dst.calls.count("upload_part", "video.bin"),
        u32::try_from(parts_before).unwrap()
    );
    assert!(
        db.load_credentials(CredentialOwner::Task(task_id))
            .await
            .unwrap()
            .is_none(),
        "paused: keys erased"
    );
    assert!(paused["successful_num"].as_i64().unwrap() < 21);

    // Start again with the keys: the same upload continues; no part goes twice.
    m.dst
        .faults
        .part_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    api.post(
        &format!("/v2/{}/tasks/{id}/start", m.oms.a.id),
        Some(&m.start_body()),
    )
    .await
    .ok();
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(m.dst.calls.count("create_multipart_upload", "video.bin"), 1);
    assert_eq!(m.dst.calls.count("upload_part", "video.bin"), 10);
    m.assert_identical("", "").await;
    assert_eq!(done["total_num"], 21);
    assert_eq!(
        done["successful_num"].as_i64().unwrap() + done["skipped_num"].as_i64().unwrap(),
        21
    );
    assert_eq!(done["failed_num"], 0);
    for i in 0..20 {
        assert_eq!(
            m.dst.calls.count("put_object", &format!("notes/{i}.txt")),
            1,
            "notes/{i}.txt copied twice"
        );
    }
    assert!(
        db.load_upload(task_id, "video.bin")
            .await
            .unwrap()
            .is_none(),
        "the finished upload is forgotten"
    );
}

/// Runs a worker when started as a child process by a test (`OMS_E2E_CHILD_WORKER` names its
/// configuration file); does nothing when run as a test itself.
#[tokio::test]
async fn child_worker_process() {
    let Ok(path) = std::env::var("OMS_E2E_CHILD_WORKER") else {
        return;
    };
    let config = omsd::config::load(Some(std::path::Path::new(&path)), Vec::new()).unwrap();
    let master = omsd::load_master_key(&config).unwrap();
    let db = omsd::open_database(&config, &master).await.unwrap();
    oms_worker::Worker::new(db, omsd::worker_config(&config))
        .run(CancellationToken::new())
        .await;
}

/// Starts a worker of `m`'s install in another process.
pub(crate) fn spawn_worker_process(m: &Migration, dir: &std::path::Path) -> std::process::Child {
    let c = m.oms.config();
    let mut toml = format!(
        "[database]\nurl = \"{}\"\n[security]\nmaster_key_file = \"{}\"\n[worker]\nlease_ms = {}\nheartbeat_ms = {}\n\
         poll_interval_ms = {}\nflush_interval_ms = {}\npart_size_bytes = {}\nmultipart_threshold_bytes = {}\n\
         object_concurrency = {}\npart_concurrency = {}\nretry_base_delay_ms = {}\nretry_max_delay_ms = {}\n",
        c.database.url,
        c.security.master_key_file.display(),
        c.worker.lease_ms,
        c.worker.heartbeat_ms,
        c.worker.poll_interval_ms,
        c.worker.flush_interval_ms,
        c.worker.part_size_bytes,
        c.worker.multipart_threshold_bytes,
        c.worker.object_concurrency,
        c.worker.part_concurrency,
        c.worker.retry_base_delay_ms,
        c.worker.retry_max_delay_ms,
    );
    for e in &c.endpoints {
        toml.push_str(&format!(
            "[[endpoints]]\ncloud_type = \"{}\"\nregion = \"{}\"\nurl = \"{}\"\npath_style = {}\n",
            e.cloud_type, e.region, e.url, e.path_style
        ));
    }
    let path = dir.join("child-worker.toml");
    std::fs::write(&path, toml).unwrap();
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "engine::resume::child_worker_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("OMS_E2E_CHILD_WORKER", &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_worker_process_killed_mid_task_is_replaced_once_its_lease_expires() {
    // Worker A writes from another process: the API sees its progress once a cached answer is
    // a second old (omsd's default), not at once as with its own writes.
    let m = Migration::start_overrides(Overrides {
        read_cache_ms: Some(1_000),
        ..Overrides::default()
    })
    .await;
    let objects: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("batch/{i:04}"), random_bytes(2000)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    // The large object comes first in key order, so the checkpoint cannot pass it.
    m.src
        .put(
            SRC_BUCKET,
            "batch/0-large.bin",
            random_bytes(16 * MIB),
            None,
            &[],
        )
        .await;
    // Slow enough parts that worker A is still on the large object when the test sees its
    // progress.
    m.dst
        .faults
        .part_delay_ms
        .store(1_500, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&["batch/"])).await;

    // Worker A is another process, killed (SIGKILL) mid-task: nothing of it runs any more.
    let dir = tempfile::tempdir().unwrap();
    let mut worker_a = spawn_worker_process(&m, dir.path());
    // Watched in the database, not through the API's cached answers, so that A is caught while
    // it is still on the large object.
    let db = m.oms.db().await;
    let project = ProjectId::parse(&m.oms.a.id).unwrap();
    let task_id = TaskId::new(id).unwrap();
    let progressed = crate::support::harness::eventually(Duration::from_secs(60), async || {
        db.get_task(&project, task_id)
            .await
            .is_ok_and(|t| t.counters.successful_num >= 100)
    })
    .await;
    if !progressed {
        let _ = worker_a.kill();
    }
    assert!(progressed, "worker A made no progress");
    worker_a.kill().unwrap();
    worker_a.wait().unwrap();
    assert_eq!(
        m.task(id).await["status"],
        2,
        "the dead worker still holds the task"
    );

    // Worker B claims it once the lease expires and finishes it.
    m.dst
        .faults
        .part_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let stop_b = CancellationToken::new();
    let worker_b = tokio::spawn(m.oms.worker().await.run(stop_b.clone()));
    let done = m.wait_for(id, 5, Duration::from_secs(90)).await;
    stop_b.cancel();
    worker_b.await.unwrap();
    m.assert_identical("batch/", "").await;
    assert_eq!(done["total_num"], 301);
    assert_eq!(
        done["successful_num"].as_i64().unwrap() + done["skipped_num"].as_i64().unwrap(),
        301
    );
    assert_eq!(done["failed_num"], 0);
    assert_eq!(m.dst.keys(super::DST_BUCKET, "").await.len(), 301);
}

#[tokio::test]
async fn a_worker_shutting_down_hands_its_task_back_for_another_to_resume_at_once() {
    let m = Migration::start_with(false).await;
    let objects: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("docs/{i:03}"), random_bytes(1000)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    m.src
        .put(
            SRC_BUCKET,
            "docs/zz-large.bin",
            random_bytes(16 * MIB),
            None,
            &[],
        )
        .await;
    m.dst
        .faults
        .part_delay_ms
        .store(500, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&["docs/"])).await;

    let stop_a = CancellationToken::new();
    let worker_a = tokio::spawn(m.oms.worker().await.run(stop_a.clone()));
    let started = crate::support::harness::eventually(Duration::from_secs(30), async || {
        m.dst.calls.count("upload_part", "docs/zz-large.bin") > 0
    })
    .await;
    assert!(started, "worker A never reached the large object");
    stop_a.cancel();
    worker_a.await.unwrap();
    // Handed back, not left to expire: waiting again, with its keys, at once.
    let task = m.task(id).await;
    assert_eq!(task["status"], 1, "{task:#}");
    let owner = CredentialOwner::Task(TaskId::new(id).unwrap());
    assert!(
        m.oms
            .db()
            .await
            .load_credentials(owner)
            .await
            .unwrap()
            .is_some()
    );

    m.dst
        .faults
        .part_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let stop_b = CancellationToken::new();
    let worker_b = tokio::spawn(m.oms.worker().await.run(stop_b.clone()));
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    stop_b.cancel();
    worker_b.await.unwrap();
    m.assert_identical("docs/", "").await;
    assert_eq!(done["total_num"], 101);
    assert_eq!(
        m.dst
            .calls
            .count("create_multipart_upload", "docs/zz-large.bin"),
        1
    );
    assert_eq!(
        m.dst.calls.count("upload_part", "docs/zz-large.bin"),
        4,
        "no part was sent twice"
    );
}

#[tokio::test]
async fn uploads_left_by_a_deleted_task_are_aborted_by_the_next_task_there() {
    let m = Migration::start().await;
    m.src
        .put(
            SRC_BUCKET,
            "big/movie.bin",
            random_bytes(26 * MIB),
            None,
            &[],
        )
        .await;
    m.dst
        .faults
        .part_delay_ms
        .store(700, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&["big/"])).await;
    let db = m.oms.db().await;
    let task_id = TaskId::new(id).unwrap();
    let saved = crate::support::harness::eventually(Duration::from_secs(30), async || {
        db.load_upload(task_id, "big/movie.bin")
            .await
            .unwrap()
            .is_some_and(|u| !u.parts.is_empty())
    })
    .await;
    assert!(saved);
    let api = m.oms.signed_client(&m.oms.a);
    api.post(&format!("/v2/{}/tasks/{id}/stop", m.oms.a.id), None)
        .await
        .ok();
    m.wait_for(id, 3, Duration::from_secs(30)).await;
    api.delete(&format!("/v2/{}/tasks/{id}", m.oms.a.id))
        .await
        .ok();
    assert_eq!(
        m.dst.calls.count("abort_multipart_upload", "big/movie.bin"),
        0,
        "no keys to abort with yet"
    );

    // The next task writing to that bucket has destination keys: it aborts the leftover upload.
    m.dst
        .faults
        .part_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    m.src
        .put(SRC_BUCKET, "small/one.txt", random_bytes(10), None, &[])
        .await;
    let next = m.create(&m.task_body(&["small/"])).await;
    m.wait_for(next, 5, Duration::from_secs(30)).await;
    assert_eq!(
        m.dst.calls.count("abort_multipart_upload", "big/movie.bin"),
        1
    );
}

/// The store completes an upload but its answer is lost: the retry finds no upload, and the
/// object is recognized at the destination by its multipart entity tag instead of failing (or
/// being sent again).
#[tokio::test]
async fn a_completion_whose_answer_was_lost_is_recognized_at_the_destination() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "big.bin", random_bytes(16 * MIB), None, &[])
        .await; // 4 parts
    m.dst
        .faults
        .lost_completions
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&[""])).await;
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(done["successful_num"], 1);
    m.assert_identical("", "").await;
    assert_eq!(m.dst.calls.count("complete_multipart_upload", "big.bin"), 2);
    assert_eq!(m.dst.calls.count("create_multipart_upload", "big.bin"), 1);
    assert_eq!(m.dst.calls.count("upload_part", "big.bin"), 4);
}
