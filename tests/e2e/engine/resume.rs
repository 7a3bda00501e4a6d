//! Stops, resumes and crashes: nothing is lost, nothing is copied twice, and a multipart upload
//! continues where it stopped.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oms_core::ids::{ProjectId, TaskId};
use oms_db::CredentialOwner;
use tokio_util::sync::CancellationToken;

use super::{DST_BUCKET, DST_REGION, MIB, Migration, SRC_BUCKET, SRC_REGION, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::proxy::{Proxy, query_value, recorder};
use crate::support::s3::S3Server;

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
    m.dst.faults.part_delay_ms.store(1000, Ordering::SeqCst);
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
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
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

/// A worker in a process of its own: what [`spawn_worker_process`] runs (this test binary again,
/// with `--ignored --exact` and `OMS_E2E_CHILD_WORKER` naming its configuration file). It is no
/// test by itself, so it is ignored in every run of the suite.
#[tokio::test]
#[ignore = "a worker process that tests start (spawn_worker_process), not a test"]
async fn child_worker_process() {
    let path = std::env::var("OMS_E2E_CHILD_WORKER")
        .expect("OMS_E2E_CHILD_WORKER names the worker's configuration file");
    let config = omsd::config::load(Some(std::path::Path::new(&path)), Vec::new()).unwrap();
    let master = omsd::load_master_key(&config).unwrap();
    let db = omsd::open_database(&config, &master).await.unwrap();
    oms_worker::Worker::new(db, omsd::worker_config(&config))
        .run(CancellationToken::new())
        .await;
}

/// The checkpoint of task `id` as stored (the last key of the finished prefix of its listing).
async fn checkpoint_of(m: &Migration, id: i64) -> Option<String> {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&m.oms.db_url).await.unwrap();
    sqlx::query("select checkpoint from tasks where id = $1")
        .bind(id)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .try_get("checkpoint")
        .unwrap()
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
            "--ignored",
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

/// Worker A, another process, is killed (SIGKILL) mid-task: past its checkpoint (150 small
/// objects, all recorded), on the large object after them (one part saved, two more hanging),
/// and through some of the 150 small objects after that (some recorded, some written but not
/// recorded yet, some in flight). Worker B takes the task over once the lease lapses: it lists
/// the source from A's checkpoint, counts what A copied as copied, sends everything else
/// exactly once, and continues A's upload with only the parts A did not save.
#[tokio::test]
async fn a_worker_process_killed_mid_task_is_replaced_once_its_lease_expires() {
    let src = S3Server::start("src").await;
    let dst = S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    // The source's requests are recorded, to see where each worker's listing starts.
    let (record, seen) = recorder();
    let proxy = Proxy::start(&src.url, Some(record), None).await;
    // Worker A writes from another process: the API sees its progress once a cached answer is
    // a second old (omsd's default), not at once as with its own writes.
    let oms = TestServer::start_with(Overrides {
        worker: false,
        read_cache_ms: Some(1_000),
        endpoints: vec![
            rule("AWS", SRC_REGION, &proxy.url),
            rule("HEC", DST_REGION, &dst.url),
        ],
        ..Overrides::default()
    })
    .await;
    let m = Migration { oms, src, dst };
    let small = |half: &str, i: usize| format!("batch/{half}-small-{i:04}");
    let objects: Vec<(String, Vec<u8>)> = ["a", "z"]
        .iter()
        .flat_map(|half| (0..150).map(move |i| (small(half, i), random_bytes(2000))))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
    let large = "batch/m-large.bin";
    m.src
        .put(SRC_BUCKET, large, random_bytes(16 * MIB), None, &[])
        .await; // 4 parts
    // Its first part is stored; the others hang until A is dead. Small objects take a while,
    // so that A dies with some of them in flight.
    m.dst.faults.hold_parts_after.store(1, Ordering::SeqCst);
    m.dst.faults.put_delay_ms.store(250, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["batch/"])).await;

    let dir = tempfile::tempdir().unwrap();
    let mut worker_a = spawn_worker_process(&m, dir.path());
    // Watched in the database, not through the API's cached answers.
    let db = m.oms.db().await;
    let project = ProjectId::parse(&m.oms.a.id).unwrap();
    let task_id = TaskId::new(id).unwrap();
    let progressed = crate::support::harness::eventually(Duration::from_secs(60), async || {
        let copied = db
            .get_task(&project, task_id)
            .await
            .is_ok_and(|t| t.counters.successful_num >= 170);
        let saved = db
            .load_upload(task_id, large)
            .await
            .unwrap()
            .is_some_and(|u| !u.parts.is_empty());
        copied && saved
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

    // What A left: writes the store had received finish (or fail) before it is looked at.
    let settled = crate::support::harness::eventually(Duration::from_secs(10), async || {
        m.dst.faults.writes_in_flight.load(Ordering::SeqCst) == 0
    })
    .await;
    assert!(settled, "writes of the dead worker still in flight");
    let checkpoint = checkpoint_of(&m, id).await;
    assert_eq!(
        checkpoint.as_deref(),
        Some(small("a", 149).as_str()),
        "A's checkpoint is the last small object before the large one"
    );
    let written: BTreeSet<String> = m.dst.keys(DST_BUCKET, "batch/").await.into_iter().collect();
    assert!(!written.contains(large), "the large object is not complete");
    assert!(
        written.len() < 300,
        "A was killed before the end: {} written",
        written.len()
    );
    let sent_by_a: Vec<(String, u32)> = ["a", "z"]
        .iter()
        .flat_map(|half| (0..150).map(move |i| small(half, i)))
        .map(|key| {
            let n = m.dst.calls.count("put_object", &key);
            (key, n)
        })
        .collect();
    let upload = db.load_upload(task_id, large).await.unwrap();
    let parts_saved = upload.expect("A's upload is saved").parts.len();
    assert_eq!(parts_saved, 1, "one part was let through");
    let parts_sent_by_a = m.dst.calls.count("upload_part", large);
    let requests_by_a = seen.lock().unwrap().len();

    // Worker B claims it once the lease expires and finishes it.
    m.dst.faults.hold_parts_after.store(0, Ordering::SeqCst);
    m.dst.faults.put_delay_ms.store(0, Ordering::SeqCst);
    let stop_b = CancellationToken::new();
    let worker_b = tokio::spawn(m.oms.worker().await.run(stop_b.clone()));
    let done = m.wait_for(id, 5, Duration::from_secs(90)).await;
    stop_b.cancel();
    worker_b.await.unwrap();
    m.assert_identical("batch/", "").await;
    // Everything this task copied counts as copied, whichever worker recorded it.
    assert_eq!(
        (
            done["total_num"].as_i64(),
            done["successful_num"].as_i64(),
            done["skipped_num"].as_i64(),
            done["failed_num"].as_i64()
        ),
        (Some(301), Some(301), Some(0), Some(0)),
        "{} written by A; {done:#}",
        written.len()
    );
    // B listed the task's prefix from A's checkpoint, not from the start.
    let listings: Vec<Option<String>> = seen.lock().unwrap()[requests_by_a..]
        .iter()
        .filter(|h| query_value(&h.query, "prefix").as_deref() == Some("batch/"))
        .map(|h| query_value(&h.query, "start-after"))
        .collect();
    assert_eq!(listings.first(), Some(&checkpoint), "{listings:?}");
    // B sent what A had not written, once, and nothing A had written.
    for (key, before) in sent_by_a {
        let by_b = m.dst.calls.count("put_object", &key) - before;
        let expected = u32::from(!written.contains(&key));
        assert_eq!(by_b, expected, "{key}: sent {by_b} times by B");
    }
    assert_eq!(
        m.dst.calls.count("create_multipart_upload", large),
        1,
        "B continued A's upload"
    );
    assert_eq!(
        m.dst.calls.count("upload_part", large) - parts_sent_by_a,
        3,
        "B sent the three parts A had not saved"
    );
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
    m.dst.faults.part_delay_ms.store(500, Ordering::SeqCst);
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

    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
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
    m.dst.faults.part_delay_ms.store(700, Ordering::SeqCst);
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
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
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
    m.dst.faults.lost_completions.store(1, Ordering::SeqCst);
    let id = m.create(&m.task_body(&[""])).await;
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(done["successful_num"], 1);
    m.assert_identical("", "").await;
    assert_eq!(m.dst.calls.count("complete_multipart_upload", "big.bin"), 2);
    assert_eq!(m.dst.calls.count("create_multipart_upload", "big.bin"), 1);
    assert_eq!(m.dst.calls.count("upload_part", "big.bin"), 4);
}
