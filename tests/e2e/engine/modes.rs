//! Whole migrations: every object arrives byte-identical with exact counters, and each option
//! (overwrite modes, migrate_since, save_prefix, list and object tasks, server-side copy,
//! bandwidth windows) does what it says.

use std::time::Duration;

use serde_json::json;

use super::{DST_BUCKET, DST_REGION, MIB, Migration, SRC_BUCKET, random_bytes};
use crate::support::fixtures::with;
use crate::support::s3::md5_hex;

#[tokio::test]
async fn a_prefix_task_copies_a_bucket_byte_identical_with_exact_counters() {
    let m = Migration::start().await;
    let small: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|i| {
            (
                format!("small/{i:05}.bin"),
                random_bytes(1 + (i * 37) % 4096),
            )
        })
        .collect();
    let mut expected_bytes: usize = small.iter().map(|(_, b)| b.len()).sum();
    m.src.put_many(SRC_BUCKET, small).await;
    for i in 0..3 {
        let body = random_bytes(11 * MIB + i * 1000);
        expected_bytes += body.len();
        m.src
            .put(
                SRC_BUCKET,
                &format!("large/{i}.bin"),
                body,
                Some("application/octet-stream"),
                &[],
            )
            .await;
    }
    let photo = random_bytes(2000);
    expected_bytes += photo.len();
    m.src
        .put(
            SRC_BUCKET,
            "meta/photo.jpg",
            photo,
            Some("image/jpeg"),
            &[("owner", "alice")],
        )
        .await;

    let body = with(
        m.task_body(&[""]),
        "/enable_metadata_migration",
        json!(true),
    );
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(180)).await;

    m.assert_identical("", "").await;
    let total = i64::try_from(expected_bytes).unwrap();
    assert_eq!(task["total_num"], 1004, "{task:#}");
    assert_eq!(task["successful_num"], 1004, "{task:#}");
    assert_eq!(
        (task["failed_num"].as_i64(), task["skipped_num"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        (
            task["total_size"].as_i64(),
            task["complete_size"].as_i64(),
            task["real_size"].as_i64()
        ),
        (Some(total), Some(total), Some(total))
    );
    assert_eq!(task["progress"], 1.0);
    assert_eq!(task["is_query_over"], true);
    assert!(task.get("error_reason").is_none());
    assert!(task["start_time"].as_i64().unwrap() > 0);

    // The large objects went multipart (3 parts of 5 MiB each), the small ones in one PUT.
    assert_eq!(m.dst.calls.total("create_multipart_upload"), 3);
    assert_eq!(m.dst.calls.total("upload_part"), 9);
    // And the task's success list and verification manifest.
    assert_eq!(m.dst.calls.total("put_object"), 1001 + 2);
    let (content_type, metadata) = m.dst.headers(DST_BUCKET, "meta/photo.jpg").await;
    assert_eq!(content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(metadata.get("owner").map(String::as_str), Some("alice"));

    // A second task over the same bucket finds everything there: all skipped, nothing written,
    // and the destination was listed rather than asked object by object.
    let heads_before = m.dst.calls.total("head_object");
    let again = m.create(&m.task_body(&[""])).await;
    let task = m.wait_for(again, 5, Duration::from_secs(120)).await;
    assert_eq!(
        (
            task["total_num"].as_i64(),
            task["skipped_num"].as_i64(),
            task["successful_num"].as_i64()
        ),
        (Some(1004), Some(1004), Some(0))
    );
    assert_eq!(task["complete_size"].as_i64(), Some(total));
    assert_eq!(task["real_size"].as_i64(), Some(0));
    // Nothing more was copied: the one new write is the second task's skip list (it copied
    // nothing, so it has no verification manifest).
    assert_eq!(m.dst.calls.total("put_object"), 1001 + 2 + 1);
    assert_eq!(
        m.dst.calls.total("head_object"),
        heads_before,
        "the checker should merge-join listings"
    );
}

#[tokio::test]
async fn content_type_always_migrates_and_metadata_only_when_asked() {
    let m = Migration::start().await;
    m.src
        .put(
            SRC_BUCKET,
            "doc.html",
            b"<p>hi</p>".to_vec(),
            Some("text/html"),
            &[("team", "blue")],
        )
        .await;
    // crc64 verification falls back to size and time where the stores expose no CRC64, as OMS does.
    let body = with(m.task_body(&[""]), "/consistency_check", json!("crc64"));
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["consistency_check"], "crc64");
    let (content_type, metadata) = m.dst.headers(DST_BUCKET, "doc.html").await;
    assert_eq!(content_type.as_deref(), Some("text/html"));
    assert!(metadata.is_empty(), "{metadata:?}");
}

/// Each overwrite mode over four objects: `same.txt` (same bytes, the destination's copy newer),
/// `changed.txt` (another size, the destination's newer), `stale.txt` (the same size, the
/// destination's copy older than the source) and `new.txt` (only at the source). The compare
/// modes copy what differs in size *or* is newer at the source; `stale.txt`, once copied, is
/// the same.
#[tokio::test]
async fn overwrite_modes_decide_what_is_copied_again() {
    let m = Migration::start().await;
    let stale_old = b"stale, twelve".to_vec();
    let stale_new = b"fresh, twelve".to_vec();
    m.dst
        .put(DST_BUCKET, "stale.txt", stale_old.clone(), None, &[])
        .await;
    // The source gets its objects later (so its stale.txt is newer)...
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (key, body) in [
        ("same.txt", b"same content".to_vec()),
        ("changed.txt", b"new and longer content".to_vec()),
        ("new.txt", b"only at the source".to_vec()),
        ("stale.txt", stale_new.clone()),
    ] {
        m.src.put(SRC_BUCKET, key, body, None, &[]).await;
    }
    // ...and the destination copies later still (so they are newer), one of them different.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    m.dst
        .put(DST_BUCKET, "same.txt", b"same content".to_vec(), None, &[])
        .await;

    // (mode, copied, skipped, stale.txt at the destination after it)
    let cases = [
        ("NO_OVERWRITE", 1, 3, &stale_old),
        ("SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE", 3, 1, &stale_new),
        // stale.txt is now the newer copy of the same size.
        ("CRC64_COMPARISON_OVERWRITE", 2, 2, &stale_new),
        ("FULL_OVERWRITE", 4, 0, &stale_new),
    ];
    for (mode, copied, skipped, stale) in cases {
        // Reset changed.txt and new.txt to their starting state.
        m.dst
            .put(DST_BUCKET, "changed.txt", b"old".to_vec(), None, &[])
            .await;
        m.dst
            .client()
            .delete_object()
            .bucket(DST_BUCKET)
            .key("new.txt")
            .send()
            .await
            .unwrap();
        let id = m
            .create(&with(
                m.task_body(&[""]),
                "/object_overwrite_mode",
                json!(mode),
            ))
            .await;
        let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
        assert_eq!(
            (
                task["successful_num"].as_i64(),
                task["skipped_num"].as_i64()
            ),
            (Some(copied), Some(skipped)),
            "{mode}"
        );
        let at_destination = m.dst.md5s(DST_BUCKET, "").await;
        let source = m.src.md5s(SRC_BUCKET, "").await;
        assert_eq!(
            at_destination["changed.txt"] == source["changed.txt"],
            mode != "NO_OVERWRITE",
            "{mode}"
        );
        assert_eq!(at_destination["stale.txt"], md5_hex(stale), "{mode}");
        assert_eq!(at_destination["same.txt"], source["same.txt"], "{mode}");
        assert_eq!(at_destination["new.txt"], source["new.txt"], "{mode}");
    }
}

#[tokio::test]
async fn migrate_since_skips_older_objects() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "old.txt", b"old".to_vec(), None, &[])
        .await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    m.src
        .put(SRC_BUCKET, "new.txt", b"new".to_vec(), None, &[])
        .await;
    let id = m
        .create(&with(m.task_body(&[""]), "/migrate_since", json!(since)))
        .await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            task["successful_num"].as_i64(),
            task["skipped_num"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(m.dst.keys(DST_BUCKET, "").await, vec!["new.txt".to_owned()]);
    m.assert_identical("new.txt", "").await;
}

#[tokio::test]
async fn save_prefix_object_and_list_tasks_select_what_they_name() {
    let m = Migration::start().await;
    for key in [
        "a.txt",
        "b.txt",
        "folder/x.txt",
        "folder/y.txt",
        "other/z.txt",
        "with space+plus.txt",
    ] {
        m.src
            .put(SRC_BUCKET, key, random_bytes(100), None, &[])
            .await;
    }
    // Object task: one key and one folder, under a save prefix.
    let object = with(
        with(
            with(m.task_body(&[]), "/task_type", json!("object")),
            "/src_node/object_key",
            json!(["a.txt", "folder/"]),
        ),
        "/dst_node/save_prefix",
        json!("backup/"),
    );
    let id = m.create(&object).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 3);
    assert_eq!(
        m.dst.keys(DST_BUCKET, "").await,
        ["backup/a.txt", "backup/folder/x.txt", "backup/folder/y.txt"]
    );
    m.assert_identical("folder/", "backup/").await;
    m.assert_identical("a.txt", "backup/").await;

    // List task: URL-encoded keys, one per line, in a text file at the destination.
    let lines = "b.txt\nwith%20space%2Bplus.txt\nother/z.txt\n";
    m.dst
        .put(
            DST_BUCKET,
            "lists/objects.txt",
            lines.as_bytes().to_vec(),
            Some("text/plain"),
            &[],
        )
        .await;
    let list = json!({
        "task_type": "list",
        "src_node": {"cloud_type": "AWS", "region": super::SRC_REGION, "ak": m.src.ak, "sk": m.src.sk, "bucket": SRC_BUCKET,
                     "list_file": {"list_file_key": "lists/objects.txt", "obs_bucket": DST_BUCKET}},
        "dst_node": {"ak": m.dst.ak, "sk": m.dst.sk, "region": DST_REGION, "bucket": DST_BUCKET, "save_prefix": "listed/"},
    });
    let id = m.create(&list).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 3);
    let listed = m.dst.md5s(DST_BUCKET, "listed/").await;
    let source = m.src.md5s(SRC_BUCKET, "").await;
    let expected: std::collections::BTreeMap<String, String> =
        ["b.txt", "other/z.txt", "with space+plus.txt"]
            .iter()
            .map(|k| (format!("listed/{k}"), source[*k].clone()))
            .collect();
    assert_eq!(listed, expected);

    // List-file rules: missing, empty, not text/plain.
    m.dst
        .put(
            DST_BUCKET,
            "lists/empty.txt",
            Vec::new(),
            Some("text/plain"),
            &[],
        )
        .await;
    m.dst
        .put(
            DST_BUCKET,
            "lists/json.txt",
            b"a.txt\n".to_vec(),
            Some("application/json"),
            &[],
        )
        .await;
    for (file, code) in [
        ("lists/none.txt", "TRF.0013"),
        ("lists/empty.txt", "TRF.0017"),
        ("lists/json.txt", "TRF.0019"),
        ("lists/x.csv", "TRF.0014"),
    ] {
        let id = m
            .create(&with(
                list.clone(),
                "/src_node/list_file/list_file_key",
                json!(file),
            ))
            .await;
        let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
        assert_eq!(task["error_reason"]["error_code"], code, "{file}: {task:#}");
    }
}

#[tokio::test]
async fn one_endpoint_with_the_same_keys_copies_server_side() {
    let m = Migration::start().await;
    m.src.create_bucket("mirror").await;
    m.src
        .put(
            SRC_BUCKET,
            "small.txt",
            random_bytes(3000),
            Some("text/plain"),
            &[],
        )
        .await;
    m.src
        .put(SRC_BUCKET, "big.bin", random_bytes(12 * MIB), None, &[])
        .await;
    // The destination region points at the source server too.
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": super::SRC_REGION, "ak": m.src.ak, "sk": m.src.sk, "bucket": SRC_BUCKET, "object_key": [""]},
        "dst_node": {"ak": m.src.ak, "sk": m.src.sk, "region": super::SAME_STORE_REGION, "bucket": "mirror"},
    });
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 2);
    assert_eq!(
        m.src.md5s("mirror", "").await,
        m.src.md5s(SRC_BUCKET, "").await
    );
    assert_eq!(m.src.calls.count("copy_object", "small.txt"), 1);
    assert_eq!(m.src.calls.total("upload_part_copy"), 3);
    assert_eq!(
        m.src.calls.total("put_object"),
        2 + 2,
        "only the test's own two uploads, and the task's success list and manifest"
    );
    assert_eq!(m.src.calls.total("upload_part"), 0);
}

/// The speed a task shows while a 1 MiB/s window holds it stays at that rate (the limiter lets
/// a fifth of a second's bytes through at once: the first samples may show a little more), and
/// the object arrives whole. Unheld, 3 MiB would be copied before a speed is ever shown.
#[tokio::test]
async fn a_bandwidth_window_holds_the_transfer_to_its_rate() {
    let m = Migration::start().await;
    let size = 3 * MIB;
    m.src
        .put(SRC_BUCKET, "throttled.bin", random_bytes(size), None, &[])
        .await;
    // Two windows cover the whole day at 1 MiB/s.
    let policy = json!([
        {"start": "00:00", "end": "23:59", "max_bandwidth": MIB},
        {"start": "23:59", "end": "00:00", "max_bandwidth": MIB},
    ]);
    let id = m
        .create(&with(m.task_body(&[""]), "/bandwidth_policy", policy))
        .await;
    let speeds = running_speeds(&m, id).await;
    assert!(
        speeds.iter().any(|s| *s > 0),
        "no speed was shown while the task ran: {speeds:?}"
    );
    let most = i64::try_from(MIB * 5 / 4).unwrap();
    assert!(
        speeds.iter().all(|s| *s <= most),
        "faster than 1 MiB/s: {speeds:?}"
    );
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["complete_size"].as_i64(), i64::try_from(size).ok());
    m.assert_identical("", "").await;
}

/// A bandwidth policy changed while a task runs reaches its transfer: of two tasks held to
/// 1 MiB/s, the one with the larger object (8 MiB, against 5) is freed once both are under way,
/// and it completes while the other is still held, its object not done (at 1 MiB/s it needs
/// 5 s; unfreed, the larger one would need 8).
#[tokio::test]
async fn a_bandwidth_change_reaches_a_running_task() {
    let m = Migration::start().await;
    // (Bytes cheap to make: the limiter does not look at them.)
    m.src
        .put(SRC_BUCKET, "held/a.bin", vec![b'a'; 5 * MIB], None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "freed/b.bin", vec![b'b'; 8 * MIB], None, &[])
        .await;
    let policy = json!([
        {"start": "00:00", "end": "23:59", "max_bandwidth": MIB},
        {"start": "23:59", "end": "00:00", "max_bandwidth": MIB},
    ]);
    let held = m
        .create(&with(
            m.task_body(&["held/"]),
            "/bandwidth_policy",
            policy.clone(),
        ))
        .await;
    let freed = m
        .create(&with(m.task_body(&["freed/"]), "/bandwidth_policy", policy))
        .await;
    let under_way = crate::support::harness::eventually(Duration::from_secs(30), async || {
        let (a, b) = (m.task(held).await, m.task(freed).await);
        [a, b]
            .iter()
            .all(|t| t["status"] == 2 && t["migrate_speed"].as_i64() > Some(0))
    })
    .await;
    assert!(under_way, "both tasks copy under their windows");

    let api = m.oms.signed_client(&m.oms.a);
    let lift = json!({"bandwidth_policy": []});
    let policy_of = |id: i64| format!("/v2/{}/tasks/{id}/bandwidth-policy", m.oms.a.id);
    api.put(&policy_of(freed), Some(&lift)).await.ok();
    m.wait_for(freed, 5, Duration::from_secs(60)).await;
    let still = m.task(held).await;
    assert_eq!(
        still["status"], 2,
        "the held task is still running: {still:#}"
    );
    assert_eq!(still["successful_num"], 0, "{still:#}");
    assert!(
        still["complete_size"].as_u64() < Some(5 * 1024 * 1024),
        "{still:#}"
    );

    api.put(&policy_of(held), Some(&lift)).await.ok();
    m.wait_for(held, 5, Duration::from_secs(60)).await;
    m.assert_identical("", "").await;
}

/// The `migrate_speed` of task `id` at every look while it waits or runs, until it ends.
pub(super) async fn running_speeds(m: &Migration, id: i64) -> Vec<i64> {
    let mut speeds = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let task = m.task(id).await;
        if !matches!(task["status"].as_i64(), Some(1 | 2)) {
            return speeds;
        }
        if task["status"] == 2 {
            speeds.push(task["migrate_speed"].as_i64().unwrap());
        }
        assert!(tokio::time::Instant::now() < deadline, "{task:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
