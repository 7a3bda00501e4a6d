//! Folder markers (keys ending in `/`, and `a` beside `a/b`) on moto, the most S3-faithful
//! server available here: s3s-fs cannot store them.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use super::{random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::s3::client;

#[tokio::test]
async fn object_tasks_copy_folders_with_their_markers() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let (src_ak, dst_ak) = ("MOTOSRC", "MOTODST");
    let src = client(&moto.url, src_ak, "secret");
    src.create_bucket()
        .bucket("folders-src")
        .send()
        .await
        .unwrap();
    src.create_bucket()
        .bucket("folders-dst")
        .send()
        .await
        .unwrap();
    let objects: [(&str, Vec<u8>); 6] = [
        ("photos/", Vec::new()),
        ("photos/a.jpg", random_bytes(500)),
        ("photos/sub/", Vec::new()),
        ("photos/sub/b.jpg", random_bytes(700)),
        ("notes", random_bytes(10)),
        ("notes/today.txt", random_bytes(20)),
    ];
    for (key, body) in &objects {
        src.put_object()
            .bucket("folders-src")
            .key(*key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &moto.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;
    let body = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": src_ak, "sk": "secret", "bucket": "folders-src",
                     "object_key": ["photos/", "notes", "notes/today.txt"]},
        "dst_node": {"ak": dst_ak, "sk": "secret", "region": "moto-dst", "bucket": "folders-dst"},
    });
    let id = oms.create_task(&body).await;
    let task = oms.wait_task_end(id, Duration::from_secs(60)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 6);

    let dst = client(&moto.url, dst_ak, "secret");
    for (key, body) in &objects {
        let copied = dst
            .get_object()
            .bucket("folders-dst")
            .key(*key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap();
        assert_eq!(&copied.into_bytes()[..], &body[..], "{key}");
    }
}
