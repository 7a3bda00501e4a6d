//! Stops, resumes and crashes: nothing is lost, nothing is copied twice, and a multipart upload
//! continues where it stopped.

use std::time::Duration;

use oms_core::ids::TaskId;
use oms_db::CredentialOwner;
use tokio_util::sync::CancellationToken;

use super::{Migration, SRC_BUCKET, random_bytes};

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_task_stopped_mid_upload_resumes_the_same_upload_without_resending_parts() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "video.bin", random_bytes(26 * MIB), None, &[])
        .await; // 6 parts
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
        .store(700, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&[""])).await;
    let task_id = TaskId::new(id).unwrap();
    let db = m.oms.db().await;

    // Stop once some parts are saved.
    let saved = crate::harness::eventually(Duration::from_secs(30), async || {
        db.load_upload(task_id, "video.bin")
            .await
            .unwrap()
            .is_some_and(|u| !u.parts.is_empty())
    })
    .await;
    assert!(saved, "no part was saved");
    let api = m.oms.signed_client(&m.oms.a);
    api.post(&format!("/v2/{}/tasks/{id}/stop", m.oms.a.id), None)
        .await
        .ok();
    let paused = m.wait_for(id, 3, Duration::from_secs(30)).await;
    let upload = db
        .load_upload(task_id, "video.bin")
        .await
        .unwrap()
        .expect("the upload is saved");
    let parts_before = upload.parts.len();
    assert!((1..6).contains(&parts_before), "{parts_before} parts saved");
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
    assert_eq!(m.dst.calls.count("upload_part", "video.bin"), 6);
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

#[tokio::test]
async fn a_worker_that_dies_mid_task_is_replaced_once_its_lease_expires() {
    let m = Migration::start_with(false).await;
    let objects: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("batch/{i:04}"), random_bytes(2000)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    m.src
        .put(
            SRC_BUCKET,
            "batch/0-large.bin",
            random_bytes(16 * MIB),
            None,
            &[],
        )
        .await;
    m.dst
        .faults
        .part_delay_ms
        .store(400, std::sync::atomic::Ordering::SeqCst);
    let id = m.create(&m.task_body(&["batch/"])).await;

    // Worker A runs in its own runtime, which is dropped mid-task: no graceful anything.
    let worker = m.oms.worker().await;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.spawn(worker.run(CancellationToken::new()));
    let progressed = crate::harness::eventually(Duration::from_secs(30), async || {
        m.task(id).await["successful_num"].as_i64().unwrap_or(0) >= 100
    })
    .await;
    assert!(progressed, "worker A made no progress");
    runtime.shutdown_background();
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
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
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
