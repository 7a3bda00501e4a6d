//! Google Cloud Storage sources against a real GCS (or an emulator that accepts object_store's
//! XML API), when `OMS_TEST_GCS_JSON` names a service-account file and `OMS_TEST_GCS_BUCKET` a
//! bucket holding objects under `OMS_TEST_GCS_PREFIX` (default `oms-test/`). No such server
//! runs on CI machines; the credential and endpoint handling is unit-tested in oms-storage.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use oms_storage::ReadStore as _;
use oms_storage::cloud::{CloudSettings, CloudSource};
use oms_storage::guard::Guard;
use secrecy::SecretString;
use serde_json::json;

use super::{DST_BUCKET, DST_REGION, Migration};
use crate::harness::Overrides;

#[tokio::test]
async fn a_gcs_prefix_is_copied_byte_identical() {
    let (Ok(json_path), Ok(bucket)) = (
        std::env::var("OMS_TEST_GCS_JSON"),
        std::env::var("OMS_TEST_GCS_BUCKET"),
    ) else {
        eprintln!("skipped: set OMS_TEST_GCS_JSON and OMS_TEST_GCS_BUCKET to run this test");
        return;
    };
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

    // The source's bytes, read back through the connector.
    let source = CloudSource::google(
        &CloudSettings {
            guard: Guard {
                allow_private_networks: true,
            },
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(60),
        },
        &SecretString::from(account),
        &bucket,
    )
    .unwrap();
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
        expected.insert(
            object.key,
            hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes)),
        );
    }
    assert!(!expected.is_empty(), "the GCS prefix holds objects");
    assert_eq!(m.dst.md5s(DST_BUCKET, &prefix).await, expected);
}
