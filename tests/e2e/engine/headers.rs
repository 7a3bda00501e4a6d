//! What travels with an object is the same on all four copy paths (single PUT, multipart
//! upload, CopyObject, UploadPartCopy): with metadata migration on, every system header
//! (Expires included), the user metadata and the tags; with it off, Content-Type alone.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
use serde_json::json;

use super::{MIB, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::proxy::{Proxy, recorder};
use crate::support::s3::client;

const EXPIRES: &str = "Wed, 21 Oct 2037 07:28:00 GMT";

/// What a destination object carries.
#[derive(Debug, PartialEq, Eq)]
struct Carried {
    content_type: Option<String>,
    cache_control: Option<String>,
    expires: Option<String>,
    metadata: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

async fn carried(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Carried {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let mut metadata: Vec<(String, String)> = head
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    metadata.sort();
    let mut tags: Vec<(String, String)> = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    Carried {
        content_type: head.content_type().map(str::to_owned),
        cache_control: head.cache_control().map(str::to_owned),
        expires: head.expires_string().map(str::to_owned),
        metadata,
        tags,
    }
}

#[tokio::test]
async fn expires_and_tags_travel_with_the_metadata_on_every_copy_path() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["hdr-src", "hdr-streamed", "hdr-same", "hdr-plain"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let tagging = Tagging::builder()
        .tag_set(
            Tag::builder()
                .key("team")
                .value("data ops")
                .build()
                .unwrap(),
        )
        .tag_set(
            Tag::builder()
                .key("tier")
                .value("gold+1=a")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // Small: one request; large: in parts.
    for (key, size) in [("small", 10_000), ("large", 9 * MIB + 1)] {
        s3.put_object()
            .bucket("hdr-src")
            .key(key)
            .content_type("application/x-test")
            .cache_control("max-age=60")
            .expires(
                aws_sdk_s3::primitives::DateTime::from_str(
                    EXPIRES,
                    aws_sdk_s3::primitives::DateTimeFormat::HttpDate,
                )
                .unwrap(),
            )
            .metadata("origin", "lab")
            .body(ByteStream::from(random_bytes(size)))
            .send()
            .await
            .unwrap();
        s3.put_object_tagging()
            .bucket("hdr-src")
            .key(key)
            .tagging(tagging.clone())
            .send()
            .await
            .unwrap();
    }
    let source = carried(&s3, "hdr-src", "small").await;
    assert_eq!(source.expires.as_deref(), Some(EXPIRES));
    assert_eq!(source.tags.len(), 2);

    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &moto.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;
    let run = |bucket: &'static str, dst_ak: &'static str, metadata: bool| {
        let oms = &oms;
        async move {
            let body = json!({
                "task_type": "object",
                "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC", "sk": "secret",
                             "bucket": "hdr-src", "object_key": ["small", "large"]},
                "dst_node": {"ak": dst_ak, "sk": "secret", "region": "moto-dst", "bucket": bucket},
                "enable_metadata_migration": metadata,
            });
            let id = oms.create_task(&body).await;
            let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
            assert_eq!(task["status"], 5, "{task:#}");
            assert_eq!(task["successful_num"], 2, "{task:#}");
        }
    };
    // Streamed (other keys at the destination): PutObject and a multipart upload.
    run("hdr-streamed", "MOTODST", true).await;
    // Server-side (the same keys): CopyObject and UploadPartCopy.
    run("hdr-same", "MOTOSRC", true).await;
    for bucket in ["hdr-streamed", "hdr-same"] {
        for key in ["small", "large"] {
            assert_eq!(
                carried(&s3, bucket, key).await,
                source,
                "{bucket}/{key} with metadata migration"
            );
        }
    }

    // Without metadata migration: Content-Type only, on every path.
    let bare = Carried {
        content_type: Some("application/x-test".into()),
        cache_control: None,
        expires: None,
        metadata: Vec::new(),
        tags: Vec::new(),
    };
    s3.delete_bucket().bucket("hdr-plain").send().await.unwrap();
    for (bucket, dst_ak) in [("hdr-plain", "MOTODST"), ("hdr-plain-same", "MOTOSRC")] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        run(bucket, dst_ak, false).await;
        for key in ["small", "large"] {
            assert_eq!(
                carried(&s3, bucket, key).await,
                bare,
                "{bucket}/{key} without metadata migration"
            );
        }
    }
}

/// The destination storage policy decides each object's class at the destination: the source
/// class mapped to the nearest one (`SRC_STORAGE_MAPPING`: STANDARD stays standard, STANDARD_IA
/// and ONEZONE_IA become STANDARD_IA), or one class for all (`IA`, `ARCHIVE`, `DEEP_ARCHIVE`),
/// on a single PUT and a multipart upload, streamed and server-side alike.
#[tokio::test]
async fn storage_classes_follow_the_destination_policy_on_every_copy_path() {
    use aws_sdk_s3::types::StorageClass;
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["class-src", "class-dst"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let objects = [
        ("std.txt", "STANDARD", 1000),
        ("ia.txt", "STANDARD_IA", 1000),
        ("onezone.txt", "ONEZONE_IA", 1000),
        ("big-ia.bin", "STANDARD_IA", 9 * MIB),
    ];
    for (key, class, size) in objects {
        s3.put_object()
            .bucket("class-src")
            .key(key)
            .storage_class(StorageClass::from(class))
            .body(ByteStream::from(random_bytes(size)))
            .send()
            .await
            .unwrap();
    }
    // omsd reaches moto through a proxy that records its requests.
    let (record, seen) = recorder();
    let proxy = Proxy::start(&moto.url, Some(record), None).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &proxy.url),
            rule("HEC", "moto-dst", &proxy.url),
        ],
        ..Overrides::default()
    })
    .await;
    // (policy, destination keys: the source's for a server-side copy, save prefix, classes of
    // std.txt, ia.txt, onezone.txt, big-ia.bin)
    let ia = ["STANDARD_IA"; 4];
    let cases = [
        (
            "SRC_STORAGE_MAPPING",
            "MOTODST",
            "mapped/",
            ["STANDARD", "STANDARD_IA", "STANDARD_IA", "STANDARD_IA"],
        ),
        (
            "SRC_STORAGE_MAPPING",
            "MOTOSRC",
            "same/",
            ["STANDARD", "STANDARD_IA", "STANDARD_IA", "STANDARD_IA"],
        ),
        ("IA", "MOTODST", "ia/", ia),
        ("ARCHIVE", "MOTODST", "archive/", ["GLACIER"; 4]),
        ("DEEP_ARCHIVE", "MOTODST", "deep/", ["DEEP_ARCHIVE"; 4]),
    ];
    let mut ids = Vec::new();
    for (policy, dst_ak, prefix, _) in &cases {
        let body = json!({
            "task_type": "prefix", "dst_storage_policy": policy,
            "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC", "sk": "secret",
                         "bucket": "class-src", "object_key": [""]},
            "dst_node": {"ak": dst_ak, "sk": "secret", "region": "moto-dst", "bucket": "class-dst",
                         "save_prefix": prefix},
        });
        ids.push(oms.create_task(&body).await);
    }
    for (id, (policy, _, prefix, classes)) in ids.into_iter().zip(cases) {
        let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
        assert_eq!(
            (task["status"].as_i64(), task["successful_num"].as_i64()),
            (Some(5), Some(4)),
            "{policy} {prefix}: {task:#}"
        );
        let listed = s3
            .list_objects_v2()
            .bucket("class-dst")
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        let found: Vec<(String, String, i64)> = listed
            .contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap().to_owned(),
                    o.storage_class()
                        .map_or("STANDARD", |c| c.as_str())
                        .to_owned(),
                    o.size().unwrap(),
                )
            })
            .collect();
        let mut expected: Vec<(String, String, i64)> = objects
            .iter()
            .zip(classes)
            .map(|((key, _, size), class)| {
                (
                    format!("{prefix}{key}"),
                    class.to_owned(),
                    i64::try_from(*size).unwrap(),
                )
            })
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{policy} {prefix}");
    }
    // With the source's keys, every object of same/ was copied server-side (CopyObject, and
    // UploadPartCopy for the large one).
    let copies = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|h| {
            h.path.starts_with("/class-dst/same/") && h.headers.contains_key("x-amz-copy-source")
        })
        .map(|h| h.path.clone())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(copies.len(), 4, "{copies:?}");
    // What can be read back (archived classes cannot) holds the source's bytes.
    let source = crate::support::s3::bucket_md5s(&s3, "class-src", "").await;
    for prefix in ["mapped/", "same/", "ia/"] {
        let copied = crate::support::s3::bucket_md5s(&s3, "class-dst", prefix).await;
        let copied: std::collections::BTreeMap<String, String> = copied
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches(prefix).to_owned(), v))
            .collect();
        assert_eq!(copied, source, "{prefix}");
    }
}
