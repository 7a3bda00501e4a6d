//! Azure Blob sources end to end, against Azurite (started from `OMS_AZURITE`, an
//! `azurite-blob` executable, or `PATH`): a group from a container to S3 is stopped while its
//! tasks run and resumed with the connection string.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::groups::{tasks_of, wait_group};
use super::{DST_BUCKET, DST_REGION, Migration, random_bytes};
use crate::support::azurite::{ACCOUNT_KEY, Azurite};
use crate::support::harness::Overrides;
use crate::support::s3::{md5_hex, object_bytes};

const CONTAINER: &str = "media";

#[tokio::test]
async fn an_azure_group_is_stopped_and_resumed_with_its_connection_string() {
    let Some(azurite) = Azurite::start_or_skip().await else {
        return;
    };
    azurite.create_container(CONTAINER).await;
    let mut expected = BTreeMap::new();
    for i in 0..300 {
        let name = format!("data/{i:03}.bin");
        let bytes = random_bytes(1024 + i);
        expected.insert(name.clone(), md5_hex(&bytes));
        azurite.put_blob(CONTAINER, &name, bytes).await;
    }
    // One blob beside the prefix, which must not be copied.
    azurite
        .put_blob(CONTAINER, "database/other.bin", random_bytes(10))
        .await;
    let m = Migration::start_overrides(Overrides {
        worker: true,
        group_task_max_objects: Some(60),
        allow_private_networks: true,
        ..Overrides::default()
    })
    .await;
    m.dst.faults.put_delay_ms.store(400, Ordering::SeqCst);
    let body = json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "Azure", "region": "eastus", "bucket": CONTAINER,
                     "connection_string": azurite.connection_string(ACCOUNT_KEY), "object_key": ["data/"]},
        "dst_node": {"ak": m.dst.ak, "sk": m.dst.sk, "region": DST_REGION, "bucket": DST_BUCKET},
    });
    let api = m.oms.signed_client(&m.oms.a);
    let p = &m.oms.a.id;
    let id = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&body))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        crate::support::harness::eventually(Duration::from_secs(60), async || {
            !m.dst.keys(DST_BUCKET, "data/").await.is_empty()
        })
        .await
    );
    api.put(&format!("/v2/{p}/taskgroups/{id}/stop"), None)
        .await
        .ok();
    let paused = wait_group(&m, &id, 3, Duration::from_secs(60)).await;
    assert!(paused["success_num"].as_i64().unwrap() < 300);
    let tasks = tasks_of(&m, &id).await;
    assert_eq!(tasks.len(), 5, "300 blobs cut 60 by 60");

    // Resuming needs the connection string, and one whose key the store accepts.
    let dst_keys = json!({"dst_ak": m.dst.ak, "dst_sk": m.dst.sk});
    api.put(&format!("/v2/{p}/taskgroups/{id}/start"), Some(&dst_keys))
        .await
        .assert_error(400, "OMS.0064");
    let mut wrong = dst_keys.clone();
    wrong["connection_string"] =
        json!(azurite.connection_string(&STANDARD.encode(b"a wrong key of some length")));
    let refused = api
        .put(&format!("/v2/{p}/taskgroups/{id}/start"), Some(&wrong))
        .await;
    refused.assert_error(400, "OMS.0064");
    assert!(refused.msg().contains("source"), "{}", refused.msg());
    assert_eq!(
        super::groups::group(&m, &id).await["status"],
        3,
        "refused resumes change nothing"
    );

    m.dst.faults.put_delay_ms.store(0, Ordering::SeqCst);
    let mut right = dst_keys;
    right["connection_string"] = json!(azurite.connection_string(ACCOUNT_KEY));
    api.put(&format!("/v2/{p}/taskgroups/{id}/start"), Some(&right))
        .await
        .ok();
    let done = wait_group(&m, &id, 6, Duration::from_secs(120)).await;
    assert_eq!(
        (done["success_num"].as_i64(), done["fail_num"].as_i64()),
        (Some(300), Some(0))
    );
    let copied = m.dst.md5s(DST_BUCKET, "").await;
    assert_eq!(copied, expected, "destination bytes differ from Azure's");
    for name in expected.keys() {
        assert_eq!(m.dst.calls.count("put_object", name), 1, "{name}");
    }
}

/// A key is an opaque string on every source: Azure holds a 0-byte blob named `dir/` beside
/// `dir/sub/deep.bin` (and `a//b`), and each arrives at an S3 destination under its exact name.
/// moto is the destination: it keeps keys ending in `/`.
#[tokio::test]
async fn azure_blobs_arrive_under_their_exact_names_folder_markers_included() {
    let Some(azurite) = Azurite::start_or_skip().await else {
        return;
    };
    let Some(moto) = crate::support::moto::Moto::start_or_skip().await else {
        return;
    };
    azurite.create_container("exact").await;
    let blobs: [(&str, Vec<u8>); 3] = [
        ("dir/", Vec::new()),
        ("dir/sub/deep.bin", random_bytes(3000)),
        ("a//b", random_bytes(10)),
    ];
    for (name, bytes) in &blobs {
        azurite.put_blob("exact", name, bytes.clone()).await;
    }
    let dst = crate::support::s3::client(&moto.url, "MOTODST", "secret");
    dst.create_bucket()
        .bucket("exact-dst")
        .send()
        .await
        .unwrap();
    let oms = crate::support::harness::TestServer::start_with(Overrides {
        worker: true,
        allow_private_networks: true,
        endpoints: vec![super::rule("HEC", "moto-dst", &moto.url)],
        ..Overrides::default()
    })
    .await;
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "Azure", "region": "eastus", "bucket": "exact",
                     "connection_string": azurite.connection_string(ACCOUNT_KEY), "object_key": [""]},
        "dst_node": {"ak": "MOTODST", "sk": "secret", "region": "moto-dst", "bucket": "exact-dst"},
    });
    let id = oms.create_task(&body).await;
    let task = oms.wait_task_end(id, Duration::from_secs(60)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 3, "{task:#}");
    for (name, bytes) in &blobs {
        let copied = object_bytes(&dst, "exact-dst", name).await;
        assert_eq!(md5_hex(&copied), md5_hex(bytes), "{name}");
    }
}
