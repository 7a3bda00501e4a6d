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
