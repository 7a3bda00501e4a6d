//! Every per-object failure code of a copy between S3 stores, as a user reads it: in the
//! failed-object list the task writes at the destination and in `GET .../failed-objects`, one
//! object each, with the other objects copied.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{DST_BUCKET, DST_REGION, MIB, Migration, SRC_BUCKET, SRC_REGION, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::proxy::{Before, Proxy, RequestHead};
use crate::support::s3::S3Server;

/// The code each object fails with, and why.
const EXPECTED: [(&str, &str); 6] = [
    // Rewritten at the source before every read of it.
    ("codes/changing.txt", "SRC_OBJ_CHANGED_FAILURE"),
    // Its every GET answers 500.
    ("codes/broken.txt", "GET_SRC_OBJ_FAILURE"),
    // Its PutObject is refused.
    ("codes/upload.txt", "UPLOAD_DST_OBJ_FAILURE"),
    // Its CreateMultipartUpload is refused.
    ("codes/init.bin", "INIT_DST_OBJ_MULTIPART_FAILURE"),
    // Its CompleteMultipartUpload is refused.
    ("codes/complete.bin", "COMPLETE_DST_OBJ_MULTIPART_FAILURE"),
    // Named by an object task, and not at the source.
    ("codes/missing.txt", "GET_SRC_OBJ_META_FAILURE"),
];

#[tokio::test]
async fn each_way_an_object_can_fail_has_its_own_code_in_the_failed_list_and_the_api() {
    let src = S3Server::start("src").await;
    let dst = S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    // Before each GET of codes/changing.txt, someone writes a new version of it (one byte
    // longer each time).
    let writes = Arc::new(AtomicUsize::new(0));
    let rewrite: Before = {
        let (client, writes) = (src.client(), writes.clone());
        Arc::new(move |head: RequestHead| {
            let (client, writes) = (client.clone(), writes.clone());
            Box::pin(async move {
                if head.method == http::Method::GET
                    && head.path == format!("/{SRC_BUCKET}/codes/changing.txt")
                {
                    let n = writes.fetch_add(1, Ordering::SeqCst);
                    client
                        .put_object()
                        .bucket(SRC_BUCKET)
                        .key("codes/changing.txt")
                        .body(random_bytes(1001 + n).into())
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
    };
    let proxy = Proxy::start(&src.url, Some(rewrite), None).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", SRC_REGION, &proxy.url),
            rule("HEC", DST_REGION, &dst.url),
        ],
        ..Overrides::default()
    })
    .await;
    let m = Migration { oms, src, dst };
    for (key, size) in [
        ("codes/changing.txt", 1000),
        ("codes/broken.txt", 1000),
        ("codes/upload.txt", 1000),
        ("codes/ok.txt", 1000),
        ("codes/init.bin", 9 * MIB),
        ("codes/complete.bin", 9 * MIB),
    ] {
        m.src
            .put(SRC_BUCKET, key, random_bytes(size), None, &[])
            .await;
    }
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("codes/broken.txt".into());
    m.dst.faults.refused_calls.lock().unwrap().extend([
        ("put_object", "codes/upload.txt".to_owned()),
        ("create_multipart_upload", "codes/init.bin".to_owned()),
        ("complete_multipart_upload", "codes/complete.bin".to_owned()),
    ]);

    // A prefix task over the five that fail and one that does not; then an object task naming
    // one that is not there (and the one copied by then, which it skips).
    let mut object = m.task_body(&["codes/ok.txt", "codes/missing.txt"]);
    object["task_type"] = json!("object");
    let mut codes = BTreeMap::new();
    for (body, failed, copied, skipped) in [(m.task_body(&["codes/"]), 5, 1, 0), (object, 1, 0, 1)]
    {
        let id = m.create(&body).await;
        let task = m.wait_for(id, 4, Duration::from_secs(90)).await;
        assert_eq!(task["error_reason"]["error_code"], "TRF.0004", "{task:#}");
        assert_eq!(
            (
                task["failed_num"].as_i64(),
                task["successful_num"].as_i64(),
                task["skipped_num"].as_i64()
            ),
            (Some(failed), Some(copied), Some(skipped)),
            "{task:#}"
        );
        // The failed-object list at the destination: code, time, encoded key, key, reason.
        let list = m.failed_list(&task).await;
        let listed: BTreeMap<String, String> = list
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                (fields[3].to_owned(), fields[0].to_owned())
            })
            .collect();
        // The same through the API, each with a readable message.
        let api = m.oms.signed_client(&m.oms.a);
        let page = api
            .get(&format!(
                "/v2/{}/tasks/{id}/failed-objects?limit=100",
                m.oms.a.id
            ))
            .await;
        let shown: BTreeMap<String, String> = page.ok()["failed_objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                super::assert_readable(f["error_msg"].as_str().unwrap());
                (
                    f["key"].as_str().unwrap().to_owned(),
                    f["error_code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(shown, listed, "{list}");
        codes.extend(shown);
    }
    let expected: BTreeMap<String, String> = EXPECTED
        .iter()
        .map(|(k, c)| ((*k).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(codes, expected);
    // Tried four times (the first read and three restarts), then given up.
    assert_eq!(writes.load(Ordering::SeqCst), 4);
    // The upload refused at its completion was aborted; the one never created needs none.
    assert_eq!(
        m.dst
            .calls
            .count("abort_multipart_upload", "codes/complete.bin"),
        1
    );
    // What did not fail arrived whole; nothing that failed arrived at all.
    assert_eq!(
        m.dst.md5s(DST_BUCKET, "codes/").await,
        m.src.md5s(SRC_BUCKET, "codes/ok.txt").await
    );
}
