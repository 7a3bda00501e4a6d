//! Keys are names, not paths: `../victim/x`, `./lead`, `x/../y`, `a/.`, `/lead` and `a//b` each
//! name one object, on every copy path (single PUT, multipart upload, CopyObject,
//! UploadPartCopy, list files, URL lists, sync tasks), and no request reaches another object or
//! another bucket. moto keeps such keys as S3 does (s3s-fs maps keys to files and cannot).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

use super::{MIB, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::origin::Origin;
use crate::support::s3::{bucket_md5s, client};
use crate::sync::{Sync, encode, num};

/// The bucket a traversal would reach; it must keep exactly what it holds.
const VICTIM: &str = "victim";
const SRC: &str = "keys-src";
/// Where list files are kept.
const LISTS: &str = "keys-lists";

/// Keys that are not paths, and their sizes (one large enough for a multipart upload).
fn odd_keys() -> Vec<(&'static str, usize)> {
    vec![
        ("../victim/x", 300),
        ("../victim/big", 9 * MIB + 17),
        ("../up", 10),
        ("./lead", 11),
        ("dot/./x", 12),
        ("x/./y", 13),
        ("x/../y", 14),
        ("y", 15),
        ("a/.", 16),
        ("a/..", 17),
        ("/lead", 18),
        ("a//b", 19),
        ("plain", 20),
    ]
}

struct Setup {
    moto: Moto,
    oms: TestServer,
    /// MD5 of every source object, by key.
    source: BTreeMap<String, String>,
    /// What the victim bucket holds before anything runs.
    victim: BTreeMap<String, String>,
    origin: Origin,
}

impl Setup {
    async fn start() -> Option<Self> {
        let moto = Moto::start_or_skip().await?;
        let s3 = client(&moto.url, "MOTOSRC", "secret");
        for bucket in [
            SRC,
            VICTIM,
            LISTS,
            "keys-dst",
            "keys-same",
            "keys-list",
            "keys-url",
            "keys-sync",
        ] {
            s3.create_bucket().bucket(bucket).send().await.unwrap();
        }
        for (key, body) in [("x", random_bytes(300)), ("big", random_bytes(MIB))] {
            s3.put_object()
                .bucket(VICTIM)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
        }
        let origin = Origin::start().await;
        for (i, (key, size)) in odd_keys().into_iter().enumerate() {
            let body = random_bytes(size);
            origin.add(&format!("/file-{i}"), body.clone());
            s3.put_object()
                .bucket(SRC)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
        }
        let source = bucket_md5s(&s3, SRC, "").await;
        assert_eq!(
            source.len(),
            odd_keys().len(),
            "moto keeps every odd key: {source:?}"
        );
        let victim = bucket_md5s(&s3, VICTIM, "").await;
        let oms = TestServer::start_with(Overrides {
            worker: true,
            allow_private_networks: true,
            endpoints: vec![
                rule("AWS", "moto-src", &moto.url),
                rule("HEC", "moto-dst", &moto.url),
            ],
            ..Overrides::default()
        })
        .await;
        Some(Self {
            moto,
            oms,
            source,
            victim,
            origin,
        })
    }

    /// A task from the source bucket into `bucket`; `same_keys`: the destination uses the
    /// source's access key, so that objects are copied server-side.
    fn body(&self, bucket: &str, same_keys: bool, src: &Value) -> Value {
        let mut src_node = json!({"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC",
                                  "sk": "secret", "bucket": SRC});
        for (k, v) in src.as_object().unwrap() {
            src_node[k] = v.clone();
        }
        let dst_ak = if same_keys { "MOTOSRC" } else { "MOTODST" };
        json!({
            "src_node": src_node,
            "dst_node": {"ak": dst_ak, "sk": "secret", "region": "moto-dst", "bucket": bucket},
        })
    }

    async fn run(&self, mut body: Value, task_type: &str) -> Value {
        body["task_type"] = json!(task_type);
        let id = self.oms.create_task(&body).await;
        self.oms.wait_task_end(id, Duration::from_secs(120)).await
    }

    async fn put_list(&self, key: &str, lines: &[String]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        client(&self.moto.url, "MOTODST", "secret")
            .put_object()
            .bucket(LISTS)
            .key(key)
            .content_type("text/plain")
            .body(ByteStream::from(text.into_bytes()))
            .send()
            .await
            .unwrap();
    }

    /// The destination holds every source object under its own name, byte for byte, and
    /// the victim bucket is as it was.
    async fn assert_copied_exactly(&self, bucket: &str, expected: &BTreeMap<String, String>) {
        let s3 = client(&self.moto.url, "MOTOSRC", "secret");
        assert_eq!(&bucket_md5s(&s3, bucket, "").await, expected, "{bucket}");
        assert_eq!(
            bucket_md5s(&s3, VICTIM, "").await,
            self.victim,
            "the victim bucket changed"
        );
    }
}

fn assert_completed(task: &Value, objects: usize) {
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], objects, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
}

#[tokio::test]
async fn keys_with_dot_segments_name_their_own_object_on_every_copy_path() {
    let Some(s) = Setup::start().await else {
        return;
    };
    let n = odd_keys().len();

    // Streamed: single PUTs and a multipart upload.
    let task = s
        .run(
            s.body("keys-dst", false, &json!({"object_key": [""]})),
            "prefix",
        )
        .await;
    assert_completed(&task, n);
    s.assert_copied_exactly("keys-dst", &s.source).await;

    // Server-side: CopyObject and UploadPartCopy.
    let task = s
        .run(
            s.body("keys-same", true, &json!({"object_key": [""]})),
            "prefix",
        )
        .await;
    assert_completed(&task, n);
    s.assert_copied_exactly("keys-same", &s.source).await;

    // A list file naming the keys (URL-encoded, as list files hold them).
    let lines: Vec<String> = s.source.keys().map(|k| encode(k)).collect();
    s.put_list("objects.txt", &lines).await;
    let list = json!({"list_file": {"list_file_key": "objects.txt", "obs_bucket": LISTS}});
    let task = s.run(s.body("keys-list", false, &list), "list").await;
    assert_completed(&task, n);
    s.assert_copied_exactly("keys-list", &s.source).await;

    // A URL list whose destination names are the odd keys.
    let lines: Vec<String> = odd_keys()
        .iter()
        .enumerate()
        .map(|(i, (key, _))| format!("{}\t{}", s.origin.url(&format!("/file-{i}")), encode(key)))
        .collect();
    s.put_list("urls.txt", &lines).await;
    let body = json!({
        "task_type": "url_list",
        "src_node": {"cloud_type": "URLSource",
                     "list_file": {"list_file_key": "urls.txt", "obs_bucket": LISTS}},
        "dst_node": {"ak": "MOTODST", "sk": "secret", "region": "moto-dst", "bucket": "keys-url"},
    });
    let id = s.oms.create_task(&body).await;
    let task = s.oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_completed(&task, n);
    let served = s.origin.md5s();
    let expected: BTreeMap<String, String> = odd_keys()
        .iter()
        .enumerate()
        .map(|(i, (key, _))| ((*key).to_owned(), served[&format!("/file-{i}")].clone()))
        .collect();
    s.assert_copied_exactly("keys-url", &expected).await;

    // A sync task told of each key.
    let sync = Sync::create(
        &s.oms,
        &json!({"src_cloud_type": "AWS", "src_region": "moto-src", "src_bucket": SRC,
                "src_ak": "MOTOSRC", "src_sk": "secret", "dst_region": "moto-dst",
                "dst_bucket": "keys-sync", "dst_ak": "MOTODST", "dst_sk": "secret"}),
    )
    .await;
    let keys: Vec<String> = s.source.keys().cloned().collect();
    sync.events(&keys).await;
    let shown = sync
        .drain(&s.oms.db().await, Duration::from_secs(120))
        .await;
    assert_eq!(num(&shown, "monthly_success_object"), n as i64, "{shown:#}");
    assert_eq!(num(&shown, "monthly_failure_object"), 0, "{shown:#}");
    s.assert_copied_exactly("keys-sync", &s.source).await;

    // Had a traversal read the victim's object, the copy would hold its bytes.
    assert_ne!(s.victim["x"], s.source["../victim/x"]);
}
