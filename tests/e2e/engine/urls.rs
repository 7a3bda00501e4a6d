//! URL sources end to end: URL-list tasks and groups fetched from an HTTP origin inside the
//! test that checks CDN signatures, buckets read through a CDN, and the SSRF guard.

use std::collections::BTreeMap;
use std::time::Duration;

use oms_core::ids::{GroupId, TaskId};
use oms_db::CredentialOwner;
use serde_json::{Value, json};

use super::groups::{tasks_of, wait_group};
use super::{DST_BUCKET, DST_REGION, Migration, SRC_BUCKET, random_bytes};
use crate::support::fixtures::with;
use crate::support::harness::Overrides;
use crate::support::origin::Origin;
use crate::support::s3::md5_hex;

const KEY: &str = "cdn-key-0123456789";

/// A migration setup; with `group_task_max_objects`, the group's tasks run one at a time, so
/// that a stop lands while some of them have not started (with all of them running at once,
/// every object can be in flight when the stop comes, and in-flight objects finish).
async fn start(allow_private_networks: bool, group_task_max_objects: Option<i64>) -> Migration {
    Migration::start_overrides(Overrides {
        worker: true,
        group_task_max_objects,
        max_tasks: group_task_max_objects.map(|_| 1),
        allow_private_networks,
        ..Overrides::default()
    })
    .await
}

/// Writes a URL list (`text/plain`) at the destination.
async fn put_list(m: &Migration, key: &str, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    m.dst
        .put(DST_BUCKET, key, text.into_bytes(), Some("text/plain"), &[])
        .await;
}

fn url_body(m: &Migration, list_file_key: &str, cdn: Option<Value>) -> Value {
    let mut body = json!({
        "task_type": "url_list",
        "src_node": {"cloud_type": "URLSource",
                     "list_file": {"list_file_key": list_file_key, "obs_bucket": DST_BUCKET}},
        "dst_node": {"ak": m.dst.ak, "sk": m.dst.sk, "region": DST_REGION, "bucket": DST_BUCKET},
    });
    if let Some(cdn) = cdn {
        body["source_cdn"] = cdn;
    }
    body
}

fn cdn(origin: &Origin, scheme: &str, key: Option<&str>) -> Value {
    let mut cdn =
        json!({"domain": origin.authority, "protocol": "http", "authentication_type": scheme});
    if let Some(key) = key {
        cdn["authentication_key"] = json!(key);
    }
    cdn
}

/// The destination's MD5s of `names`, by name.
async fn destination_md5s(m: &Migration, prefix: &str) -> BTreeMap<String, String> {
    m.dst.md5s(DST_BUCKET, prefix).await
}

#[tokio::test]
async fn a_url_list_group_behind_an_aliyun_a_cdn_is_stopped_resumed_and_retried_with_the_right_key()
{
    url_list_group_behind_a_cdn("ALIYUN_OSS_A").await;
}

#[tokio::test]
async fn a_url_list_group_behind_a_tencent_c_cdn_is_stopped_resumed_and_retried_with_the_right_key()
{
    url_list_group_behind_a_cdn("TENCENT_COS_C").await;
}

/// The seed scenario for a URL_LIST group whose origin checks `scheme` signatures: stopped
/// while its tasks run, resumed with a wrong CDN key (objects fail), retried with the right one.
async fn url_list_group_behind_a_cdn(scheme: &str) {
    let m = start(true, Some(10)).await;
    let origin = Origin::start().await;
    origin.require_signature(scheme, KEY);
    // 40 small files with a space in their names, and one large enough for ranged GETs into a
    // multipart upload; two list files of URL<TAB>name lines, names URL-encoded.
    let mut expected = BTreeMap::new();
    let mut lines = Vec::new();
    for i in 0..40 {
        let path = format!("/media/{i:02}%20clip.bin");
        let bytes = random_bytes(2048 + i);
        expected.insert(
            format!("videos/{i:02} clip.bin"),
            hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes)),
        );
        origin.add(&path, bytes);
        lines.push(format!("{}\tvideos/{i:02}%20clip.bin", origin.url(&path)));
    }
    let big = random_bytes(12 * 1024 * 1024 + 5);
    expected.insert(
        "videos/big.bin".to_owned(),
        hex::encode(<md5::Md5 as md5::Digest>::digest(&big)),
    );
    origin.add("/media/big.bin", big);
    lines.insert(
        5,
        format!("{}\tvideos/big.bin", origin.url("/media/big.bin")),
    );
    put_list(&m, "urls/a.txt", &lines[..21]).await;
    put_list(&m, "urls/b.txt", &lines[21..]).await;
    origin.set_delay_ms(100);

    let mut body = url_body(&m, "urls/", Some(cdn(&origin, scheme, Some(KEY))));
    body["task_type"] = json!("URL_LIST");
    let api = m.oms.signed_client(&m.oms.a);
    let p = &m.oms.a.id;
    let id = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&body))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Stop once some objects have arrived.
    assert!(
        crate::support::harness::eventually(Duration::from_secs(60), async || {
            origin.served().len() >= 4
        })
        .await
    );
    api.put(&format!("/v2/{p}/taskgroups/{id}/stop"), None)
        .await
        .ok();
    let paused = wait_group(&m, &id, 3, Duration::from_secs(60)).await;
    let tasks = tasks_of(&m, &id).await;
    assert!(tasks.len() >= 4, "41 lines cut 10 by 10: {}", tasks.len());
    assert!(tasks.iter().all(|t| t["task_type"] == "url_list"));
    assert!(
        tasks.iter().all(|t| t["status"] == 3 || t["status"] == 5),
        "every task paused or done: {tasks:#?}"
    );
    let db = m.oms.db().await;
    assert!(
        db.load_credentials(CredentialOwner::Group(GroupId::parse(&id).unwrap()))
            .await
            .unwrap()
            .is_none(),
        "paused: no keys kept, the CDN key neither"
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
    assert!(done_before < 41, "stopped before the end");

    // Resumed with a wrong CDN key: the CDN refuses, objects fail with a clear reason.
    origin.set_delay_ms(0);
    let dst_keys = json!({"dst_ak": m.dst.ak, "dst_sk": m.dst.sk});
    let wrong = with(
        dst_keys.clone(),
        "/source_cdn_authentication_key",
        json!("not-the-key"),
    );
    api.put(&format!("/v2/{p}/taskgroups/{id}/start"), Some(&wrong))
        .await
        .ok();
    let failed = wait_group(&m, &id, 5, Duration::from_secs(60)).await;
    assert_eq!(failed["error_reason"]["error_code"], "TRF.0004");
    assert_eq!(failed["success_num"].as_i64(), Some(done_before));
    assert_eq!(failed["fail_num"].as_i64(), Some(41 - done_before));
    assert!(origin.refused() > 0);
    let tasks = tasks_of(&m, &id).await;
    let failed_task = tasks.iter().find(|t| t["status"] == 4).unwrap();
    let task = m.task(failed_task["id"].as_i64().unwrap()).await;
    let list = m.failed_list(&task).await;
    assert!(
        list.lines()
            .all(|l| l.starts_with("GET_SRC_OBJ_META_FAILURE\t")
                && l.contains("403")
                && l.contains("CDN key")
                && !l.contains("not-the-key")),
        "{list}"
    );

    // Retried with the right key, failed objects only: everything arrives, each once.
    let right = with(
        with(dst_keys, "/source_cdn_authentication_key", json!(KEY)),
        "/migrate_failed_object",
        json!(true),
    );
    api.put(&format!("/v2/{p}/taskgroups/{id}/retry"), Some(&right))
        .await
        .ok();
    let done = wait_group(&m, &id, 6, Duration::from_secs(60)).await;
    // Objects copied before the stop but beyond their task's checkpoint were listed again:
    // the wrong key failed them, the retry found them at the destination (skipped).
    let (success, skipped) = (
        done["success_num"].as_i64().unwrap(),
        done["skip_num"].as_i64().unwrap(),
    );
    assert_eq!(
        (success + skipped, done["fail_num"].as_i64()),
        (41, Some(0))
    );
    assert_eq!(done["total_num"], 41);
    assert_eq!(destination_md5s(&m, "videos/").await, expected);
    for name in expected.keys().filter(|k| !k.ends_with("big.bin")) {
        assert_eq!(m.dst.calls.count("put_object", name), 1, "{name}");
    }
    assert_eq!(
        m.dst
            .calls
            .count("complete_multipart_upload", "videos/big.bin"),
        1
    );
    assert!(
        !crate::support::harness::captured_logs().contains(KEY),
        "the CDN key never reaches the logs"
    );
}

#[tokio::test]
async fn every_signature_type_passes_a_cdn_that_checks_it() {
    let m = start(true, None).await;
    let schemes = [
        "ALIYUN_OSS_B",
        "ALIYUN_OSS_C",
        "TENCENT_COS_A",
        "TENCENT_COS_B",
        "TENCENT_COS_C",
        "TENCENT_COS_D",
    ];
    let mut origins = Vec::new();
    let mut ids = Vec::new();
    for (n, scheme) in schemes.iter().enumerate() {
        let origin = Origin::start().await;
        origin.require_signature(scheme, KEY);
        let mut lines = Vec::new();
        for i in 0..3 {
            let path = format!("/{scheme}/dir/file-{i}.bin");
            origin.add(&path, random_bytes(1000 + i));
            lines.push(format!("{}\t{scheme}/file-{i}.bin", origin.url(&path)));
        }
        // A URL that already has a query keeps it (the origin ignores it).
        origin.add("/q.bin", random_bytes(10));
        lines.push(format!("{}?v=1\t{scheme}/q.bin", origin.url("/q.bin")));
        let list = format!("lists/{n}.txt");
        put_list(&m, &list, &lines).await;
        ids.push(
            m.create(&url_body(&m, &list, Some(cdn(&origin, scheme, Some(KEY)))))
                .await,
        );
        origins.push(origin);
    }
    for ((id, origin), scheme) in ids.into_iter().zip(&origins).zip(schemes) {
        let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
        assert_eq!(task["successful_num"], 4, "{scheme}: {task:#}");
        assert_eq!(origin.refused(), 0, "{scheme}");
        let copied = destination_md5s(&m, &format!("{scheme}/")).await;
        let served: BTreeMap<String, String> = origin
            .md5s()
            .into_iter()
            .map(|(path, md5)| {
                let file = path.rsplit('/').next().unwrap().to_owned();
                (format!("{scheme}/{file}"), md5)
            })
            .collect();
        assert_eq!(copied, served, "{scheme}");
    }
}

#[tokio::test]
async fn the_guard_keeps_url_lists_away_from_private_and_metadata_addresses() {
    let m = start(false, None).await;
    let origin = Origin::start().await;
    origin.add("/secret.txt", b"internal".to_vec());
    let port = origin.authority.rsplit(':').next().unwrap().to_owned();
    let lines = [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/\tm1".to_owned(),
        "http://10.0.0.1/admin\tm2".to_owned(),
        format!("{}\tm3", origin.url("/secret.txt")),
        format!("http://127.0.0.1:{port}/secret.txt\tm4"),
        "http://[::1]/secret.txt\tm5".to_owned(),
        "http://metadata.google.internal/computeMetadata/v1/\tm6".to_owned(),
    ];
    put_list(&m, "ssrf.txt", &lines).await;
    let id = m.create(&url_body(&m, "ssrf.txt", None)).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0004");
    assert_eq!(task["failed_num"], 6);
    assert_eq!(
        origin.requests(),
        0,
        "no request reached the private address"
    );
    let list = m.failed_list(&task).await;
    let codes: BTreeMap<String, String> = list
        .lines()
        .map(|l| {
            let code = l.split('\t').next().unwrap().to_owned();
            let name = l.split('\t').nth(4).unwrap().to_owned();
            (name, code)
        })
        .collect();
    let ip = "URL_LIST_IP_FORBIDDEN".to_owned();
    assert_eq!(
        codes,
        BTreeMap::from([
            ("m1".to_owned(), ip.clone()),
            ("m2".to_owned(), ip.clone()),
            ("m3".to_owned(), ip.clone()),
            ("m4".to_owned(), ip.clone()),
            ("m5".to_owned(), ip),
            ("m6".to_owned(), "URL_LIST_DOMAIN_FORBIDDEN".to_owned()),
        ]),
        "{list}"
    );
    assert!(m.dst.keys(DST_BUCKET, "m").await.is_empty());
}

/// Every hop of a redirect goes through the guard: with private networks allowed (the origins
/// here are on 127.0.0.1), a redirect to another local server is followed, one to a cloud
/// metadata service, by address or by name, is refused after the origin answered it.
#[tokio::test]
async fn redirects_are_followed_only_where_the_guard_lets_each_hop_go() {
    let m = start(true, None).await;
    let origin = Origin::start().await;
    let other = Origin::start().await;
    let bytes = random_bytes(3000);
    other.add("/moved.bin", bytes.clone());
    let other_port = other.authority.rsplit(':').next().unwrap().to_owned();
    origin.redirect(
        "/hop.bin",
        &format!("http://127.0.0.1:{other_port}/moved.bin"),
    );
    origin.redirect(
        "/by-address",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    );
    origin.redirect(
        "/by-name",
        "http://metadata.google.internal/computeMetadata/v1/",
    );
    let lines = [
        format!("{}\tr/hop.bin", origin.url("/hop.bin")),
        format!("{}\tr/by-address", origin.url("/by-address")),
        format!("{}\tr/by-name", origin.url("/by-name")),
    ];
    put_list(&m, "redirects.txt", &lines).await;
    let id = m.create(&url_body(&m, "redirects.txt", None)).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(
        (task["successful_num"].as_i64(), task["failed_num"].as_i64()),
        (Some(1), Some(2)),
        "{task:#}"
    );
    let list = m.failed_list(&task).await;
    let codes: BTreeMap<String, String> = list
        .lines()
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields[4].to_owned(), fields[0].to_owned())
        })
        .collect();
    assert_eq!(
        codes,
        BTreeMap::from([
            (
                "r/by-address".to_owned(),
                "URL_LIST_IP_FORBIDDEN".to_owned()
            ),
            (
                "r/by-name".to_owned(),
                "URL_LIST_DOMAIN_FORBIDDEN".to_owned()
            ),
        ]),
        "{list}"
    );
    // The refusals came at the redirect: the origin was asked, and answered with it.
    let redirected = origin.redirected();
    assert!(
        redirected["/by-address"] >= 1 && redirected["/by-name"] >= 1,
        "{redirected:?}"
    );
    assert_eq!(
        destination_md5s(&m, "r/").await,
        BTreeMap::from([("r/hop.bin".to_owned(), md5_hex(&bytes))])
    );
}

#[tokio::test]
async fn a_bucket_read_through_its_cdn_fails_objects_the_cdn_serves_differently() {
    let m = start(true, None).await;
    let origin = Origin::start().await;
    let mut objects = Vec::new();
    for i in 0..10 {
        objects.push((format!("site/page-{i}.html"), random_bytes(500 + i)));
    }
    m.src.put_many(SRC_BUCKET, objects.clone()).await;
    for (key, bytes) in &objects {
        let served = if key.ends_with("page-7.html") {
            random_bytes(3) // a stale copy of another size
        } else {
            bytes.clone()
        };
        origin.add(&format!("/{key}"), served);
    }
    let mut body = m.task_body(&["site/"]);
    body["source_cdn"] = cdn(&origin, "NONE", None);
    let id = m.create(&body).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(
        (task["successful_num"].as_i64(), task["failed_num"].as_i64()),
        (Some(9), Some(1))
    );
    let list = m.failed_list(&task).await;
    assert!(
        list.starts_with("COMPARE_SRC_AND_CDN_FAILURE\t") && list.contains("site/page-7.html"),
        "{list}"
    );
    for (key, _) in &objects {
        assert_eq!(
            m.src.calls.count("get_object", key),
            0,
            "{key}: bytes come from the CDN, not the bucket"
        );
    }
    let copied = destination_md5s(&m, "site/").await;
    let source = m.src.md5s(SRC_BUCKET, "site/").await;
    assert_eq!(copied.len(), 9);
    for (key, md5) in &copied {
        assert_eq!(source.get(key), Some(md5), "{key}");
    }
    assert_eq!(origin.served().len(), 10);
}

/// Origins that misbehave with ranges and lengths, each with a file above the multipart
/// threshold (20 MiB, parts of 5 MiB): what reaches the destination is the file, byte for byte,
/// or the task says why not.
#[tokio::test]
async fn origins_that_bend_ranges_and_lengths_still_give_the_file_byte_for_byte() {
    use crate::support::origin::Ranges;
    let m = start(true, None).await;
    let origin = Origin::start().await;
    let cases: [(&str, Ranges, bool); 3] = [
        // Every range answered 206 with the file's first bytes and a Content-Range to match.
        ("from-start", Ranges::FromStart, false),
        // Ranges ignored, as `python3 -m http.server` does.
        ("ignored", Ranges::Ignored, false),
        // Bodies without Content-Length.
        ("chunked", Ranges::Honoured, true),
    ];
    for (name, ranges, chunked) in cases {
        let bytes = random_bytes(20 * 1024 * 1024);
        let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes));
        let path = format!("/{name}.bin");
        origin.add(&path, bytes);
        origin.set_ranges(ranges);
        origin.set_chunked(chunked);
        let list = format!("lists/{name}.txt");
        put_list(
            &m,
            &list,
            &[format!("{}\tout/{name}.bin", origin.url(&path))],
        )
        .await;
        let id = m.create(&url_body(&m, &list, None)).await;
        let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
        assert_eq!(task["successful_num"], 1, "{name}: {task:#}");
        assert_eq!(
            destination_md5s(&m, &format!("out/{name}.bin")).await[&format!("out/{name}.bin")],
            md5,
            "{name}"
        );
    }
    // Ignored ranges: the file was read in one streamed GET after the first part's answer.
    assert!(
        origin.served()["/ignored.bin"] <= 4,
        "{:?}",
        origin.served()
    );
}

#[tokio::test]
async fn a_file_replaced_at_the_origin_during_its_copy_arrives_whole_in_its_new_version() {
    let m = start(true, None).await;
    let origin = Origin::start().await;
    let (old, new) = (vec![b'A'; 12 * 1024 * 1024], vec![b'B'; 12 * 1024 * 1024]);
    origin.add("/clip.bin", old);
    origin.overwrite_at("/clip.bin", 5 * 1024 * 1024, new.clone());
    put_list(
        &m,
        "lists/clip.txt",
        &[format!("{}\tclip.bin", origin.url("/clip.bin"))],
    )
    .await;
    let id = m.create(&url_body(&m, "lists/clip.txt", None)).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1, "{task:#}");
    assert_eq!(
        destination_md5s(&m, "clip.bin").await["clip.bin"],
        hex::encode(<md5::Md5 as md5::Digest>::digest(&new))
    );
}
