//! Google Cloud Storage sources. GCS's XML API is the S3 v1 dialect, so the connector's reads
//! (listing by marker, HEAD, ranged GETs) run against moto in every suite; against a real GCS
//! when `OMS_TEST_GCS_JSON` names a service-account file and `OMS_TEST_GCS_BUCKET` a bucket
//! holding objects under `OMS_TEST_GCS_PREFIX` (default `oms-test/`). OAuth itself needs
//! Google: its handling is unit-tested in oms-storage.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use oms_storage::guard::Guard;
use secrecy::SecretString;
use serde_json::json;

use super::{DST_BUCKET, DST_REGION, Migration};
use crate::support::harness::Overrides;
use crate::support::s3::md5_hex;

/// A Google source served by moto (`gcs_base_url`, no OAuth): a prefix with awkward names and
/// an object above the multipart threshold arrives byte-identical under the exact names (moto
/// is the destination too: a file-system store cannot hold `x//y`), with exact counters.
#[tokio::test]
async fn a_google_source_over_the_xml_api_is_copied_byte_identical() {
    let Some(moto) = crate::support::moto::Moto::start_or_skip().await else {
        return;
    };
    let s3 = crate::support::s3::client(&moto.url, "MOTOKEY", "motosecret");
    s3.create_bucket().bucket("gshots").send().await.unwrap();
    s3.create_bucket().bucket("gdst").send().await.unwrap();
    let mut expected = BTreeMap::new();
    let big: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for (key, body) in [
        ("cam/a b.jpg", b"first".to_vec()),
        ("cam/c+d%e.jpg", b"second object".to_vec()),
        ("cam/\u{65e5}\u{672c}/x//y.txt", vec![7u8; 1000]),
        ("cam/big.bin", big),
        ("other/skip.txt", b"not under the prefix".to_vec()),
    ] {
        if key.starts_with("cam/") {
            expected.insert(key.to_owned(), md5_hex(&body));
        }
        s3.put_object()
            .bucket("gshots")
            .key(key)
            // Requests without OAuth are anonymous to moto, which reads only public objects.
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let oms = crate::support::harness::TestServer::start_with(Overrides {
        worker: true,
        allow_private_networks: true,
        endpoints: vec![super::rule("HEC", "moto-dst", &moto.url)],
        ..Overrides::default()
    })
    .await;
    let account = crate::support::fixtures::google_account(&moto.url, Some("shop"));
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "Google", "region": "us", "bucket": "gshots",
                     "json_auth_file": account, "object_key": ["cam/"]},
        "dst_node": {"ak": "MOTOKEY", "sk": "motosecret", "region": "moto-dst", "bucket": "gdst"},
    });
    let id = oms.create_task(&body).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 4, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    assert_eq!(
        task["complete_size"],
        11 * 1024 * 1024 + 5 + 13 + 1000,
        "{task:#}"
    );
    let copied = crate::support::s3::bucket_md5s(&s3, "gdst", "").await;
    assert_eq!(copied, expected);
}

/// Against a real GCS bucket: run with `--ignored` and `OMS_TEST_GCS_JSON`,
/// `OMS_TEST_GCS_BUCKET` (and `OMS_TEST_GCS_PREFIX`) set.
#[tokio::test]
#[ignore = "needs a real GCS bucket (OMS_TEST_GCS_JSON, OMS_TEST_GCS_BUCKET); run with --ignored"]
async fn a_gcs_prefix_is_copied_byte_identical() {
    let json_path =
        std::env::var("OMS_TEST_GCS_JSON").expect("OMS_TEST_GCS_JSON names a service-account file");
    let bucket =
        std::env::var("OMS_TEST_GCS_BUCKET").expect("OMS_TEST_GCS_BUCKET names a GCS bucket");
    let prefix = std::env::var("OMS_TEST_GCS_PREFIX").unwrap_or_else(|_| "oms-test/".into());
    let account = std::fs::read_to_string(json_path).unwrap();
    let m = Migration::start_overrides(Overrides {
        worker: true,
        allow_private_networks: true,
        ..Overrides::default()
    })
    .await;
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "Google", "region": "us", "bucket": bucket,
                     "json_auth_file": account, "object_key": [prefix]},
        "dst_node": {"ak": m.dst.ak, "sk": m.dst.sk, "region": DST_REGION, "bucket": DST_BUCKET},
    });
    let id = m.create(&body).await;
    m.wait_for(id, 5, Duration::from_secs(600)).await;

    // The source's bytes, read back through the connector a bucket helper would use.
    let settings = oms_storage::connect::ConnectSettings {
        endpoints: Vec::new(),
        connect_timeout: Duration::from_secs(10),
        operation_timeout: Duration::from_secs(60),
        guard: Guard {
            allow_private_networks: true,
        },
        max_requests_in_flight: 8,
    };
    let access = oms_core::parse::StoreAccess {
        cloud: oms_core::parse::HelperCloud::Source(oms_core::spec::CloudType::Google),
        region: None,
        app_id: String::new(),
        credentials: oms_core::credentials::SourceCredentials {
            ak: None,
            sk: None,
            security_token: None,
            connection_string: None,
            json_auth_file: Some(SecretString::from(account)),
        },
    };
    let source = oms_storage::connect::helper_store(&settings, &access, &bucket)
        .unwrap()
        .store;
    let mut expected = BTreeMap::new();
    let page = source.list(&bucket, &prefix, None, 1000).await.unwrap();
    for object in page.objects {
        let mut body = source
            .get(&bucket, &object.key, None, None)
            .await
            .unwrap()
            .body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        expected.insert(object.key, md5_hex(&bytes));
    }
    assert!(!expected.is_empty(), "the GCS prefix holds objects");
    assert_eq!(m.dst.md5s(DST_BUCKET, &prefix).await, expected);
}
