//! Folder markers (keys ending in `/`, and `a` beside `a/b`) on moto, the most S3-faithful
//! server available here: s3s-fs cannot store them.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use super::{random_bytes, rule};
use crate::harness::{Overrides, TestServer};
use crate::s3::client;

/// A moto server, started from `OMS_MOTO_SERVER` (a `moto_server` executable) or `PATH`.
struct Moto {
    url: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    async fn start() -> Option<Self> {
        let program = std::env::var("OMS_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let moto = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

#[tokio::test]
async fn object_tasks_copy_folders_with_their_markers() {
    let Some(moto) = Moto::start().await else {
        assert!(
            std::env::var_os("OMS_REQUIRE_MOTO").is_none(),
            "moto_server is required (OMS_MOTO_SERVER)"
        );
        eprintln!("skipped: no moto_server (set OMS_MOTO_SERVER to run this test)");
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
    let api = oms.signed_client(&oms.a);
    let id = api
        .post(&format!("/v2/{}/tasks", oms.a.id), Some(&body))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let task = loop {
        let task = api
            .get(&format!("/v2/{}/tasks/{id}", oms.a.id))
            .await
            .ok()
            .clone();
        if task["status"] == 5 || task["status"] == 4 || tokio::time::Instant::now() > deadline {
            break task;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
