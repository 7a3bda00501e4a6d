//! Destination encryption (`enable_kms`, `dst_node.crypto_type: KMS` with `kms_key_id`) on
//! moto, which applies SSE-KMS as it is asked and says so in its answers. A proxy in front of
//! the destination makes it answer as real SSE-KMS stores do (entity tags that are not MD5s),
//! counts the writes that came without Content-MD5, and can turn it into a store that ignores
//! the encryption (it says none): then every object fails, with OMS's "KMS state" reason, until
//! a start with the same crypto fields runs them again against a store that honours them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

use super::{MIB, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::proxy::{After, Before, Proxy, RequestHead};
use crate::support::s3::{bucket_md5s, client, md5_hex, object_bytes};

const KEY: &str = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";

/// What the proxy in front of the destination does.
#[derive(Default)]
struct Destination {
    /// Writes of bodies (PutObject, UploadPart) that came without Content-MD5.
    writes_without_md5: AtomicUsize,
    /// Writes of bodies seen.
    writes: AtomicUsize,
    /// The store ignores encryption: its answers say none.
    ignores_kms: AtomicBool,
}

async fn proxy(moto: &Moto, destination: &Arc<Destination>) -> Proxy {
    let before: Before = {
        let destination = Arc::clone(destination);
        Arc::new(move |head: RequestHead| {
            let destination = Arc::clone(&destination);
            Box::pin(async move {
                let body_write = head.method == http::Method::PUT
                    && !head.headers.contains_key("x-amz-copy-source")
                    && !head.path.trim_start_matches('/').ends_with('/')
                    && head.path.trim_start_matches('/').contains('/');
                if body_write && !head.path.contains("/oms/") {
                    destination.writes.fetch_add(1, Ordering::SeqCst);
                    if !head.headers.contains_key("content-md5") {
                        destination
                            .writes_without_md5
                            .fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
    };
    let after: After = {
        let destination = Arc::clone(destination);
        Arc::new(
            move |head: &RequestHead, parts: &mut http::response::Parts| {
                if destination.ignores_kms.load(Ordering::SeqCst) {
                    parts.headers.remove("x-amz-server-side-encryption");
                    parts
                        .headers
                        .remove("x-amz-server-side-encryption-aws-kms-key-id");
                }
                // An SSE-KMS store's entity tag of a whole object is not its MD5 (a part's is kept:
                // the completion names parts by it).
                let part = head.query.contains("partNumber") || head.query.contains("uploadId");
                if !part
                    && let Some(etag) = parts.headers.get("etag").cloned()
                    && parts.headers.contains_key("x-amz-server-side-encryption")
                {
                    let opaque = md5_hex(format!("kms:{}", etag.to_str().unwrap()).as_bytes());
                    parts.headers.insert(
                        "etag",
                        http::HeaderValue::from_str(&format!("\"{opaque}\"")).unwrap(),
                    );
                }
            },
        )
    };
    Proxy::start(&moto.url, Some(before), Some(after)).await
}

/// A prefix task from moto's `plain` bucket to the `sealed-{tag}` bucket behind the proxy.
fn body(prefix: &str, tag: &str, dst_crypto: &Value) -> Value {
    let mut dst = json!({"ak": "MOTODST", "sk": "secret", "region": "kms-dst",
                         "bucket": format!("sealed-{tag}")});
    for (k, v) in dst_crypto.as_object().unwrap() {
        dst[k] = v.clone();
    }
    json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "kms-src", "ak": "MOTOSRC", "sk": "secret",
                     "bucket": "plain", "object_key": [prefix]},
        "dst_node": dst,
    })
}

async fn setup(tags: &[&str]) -> Option<(Moto, aws_sdk_s3::Client)> {
    let moto = Moto::start_or_skip().await?;
    let s3 = client(&moto.url, "MOTOSRC", "secret");
    s3.create_bucket().bucket("plain").send().await.unwrap();
    for tag in tags {
        s3.create_bucket()
            .bucket(format!("sealed-{tag}"))
            .send()
            .await
            .unwrap();
    }
    // Small objects, and one copied in parts.
    for (key, len) in [("k/a", 1_000), ("k/b", 70_000), ("k/big", 9 * MIB + 3)] {
        s3.put_object()
            .bucket("plain")
            .key(key)
            .body(ByteStream::from(random_bytes(len)))
            .send()
            .await
            .unwrap();
    }
    Some((moto, s3))
}

async fn server(moto: &Moto, proxy: &Proxy) -> TestServer {
    TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "kms-src", &moto.url),
            rule("HEC", "kms-dst", &proxy.url),
        ],
        ..Overrides::default()
    })
    .await
}

/// Each object of `bucket` under `prefix` is SSE-KMS with `key` (any key when `None`).
async fn assert_sealed(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, key: Option<&str>) {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 3);
    for object in listed.contents() {
        let name = object.key().unwrap();
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(name)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption().map(|e| e.as_str()),
            Some("aws:kms"),
            "{name}"
        );
        if let Some(key) = key {
            assert_eq!(head.ssekms_key_id(), Some(key), "{name}");
        }
    }
}

#[tokio::test]
async fn sse_kms_at_the_destination_is_applied_checked_and_proven_by_content_md5() {
    let Some((moto, s3)) = setup(&["key", "default"]).await else {
        return;
    };
    let destination = Arc::new(Destination::default());
    let proxy = proxy(&moto, &destination).await;
    let oms = server(&moto, &proxy).await;

    // A chosen key (the 2026-05 fields). k/a is at the destination already, the same bytes but
    // not encrypted: not "already there" for a KMS task, so it is written again, encrypted.
    let a = object_bytes(&s3, "plain", "k/a").await;
    s3.put_object()
        .bucket("sealed-key")
        .key("k/a")
        .body(ByteStream::from(a))
        .send()
        .await
        .unwrap();
    let crypto = json!({"crypto_type": "KMS", "kms_key_id": KEY});
    let id = oms.create_task(&body("k/", "key", &crypto)).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 3, "{task:#}");
    assert_eq!(task["skipped_num"], 0, "{task:#}");
    assert_eq!(task["enable_kms"], true, "{task:#}");
    assert_eq!(
        bucket_md5s(&s3, "sealed-key", "k/").await,
        bucket_md5s(&s3, "plain", "k/").await
    );
    assert_sealed(&s3, "sealed-key", "k/", Some(KEY)).await;
    // The entity tags prove nothing: every body went with Content-MD5, which the store checks.
    assert!(destination.writes.load(Ordering::SeqCst) >= 3);
    assert_eq!(destination.writes_without_md5.load(Ordering::SeqCst), 0);
    // So the manifest proves each object by the MD5s sent: a whole object's, or the S3
    // multipart tag of its parts' (5 MiB parts here), which anyone can recompute from its bytes.
    let api = oms.signed_client(&oms.a);
    let manifest = api
        .get(&format!("/v2/{}/tasks/{id}/manifest", oms.a.id))
        .await;
    let manifest = manifest.ok().clone();
    assert_eq!(manifest["count"], 3, "{manifest:#}");
    for entry in manifest["objects"].as_array().unwrap() {
        let key = entry["key"].as_str().unwrap();
        let bytes = object_bytes(&s3, "sealed-key", key).await;
        let (checksum, value) = if bytes.len() > 8 * MIB {
            let parts: Vec<u8> = bytes
                .chunks(5 * MIB)
                .flat_map(|part| hex::decode(md5_hex(part)).unwrap())
                .collect();
            let count = bytes.len().div_ceil(5 * MIB);
            let tag = format!("{}-{count}@{}", md5_hex(&parts), 5 * MIB);
            ("multipart-md5", tag)
        } else {
            ("md5", md5_hex(&bytes))
        };
        assert_eq!(entry["checksum"], checksum, "{entry}");
        assert_eq!(entry["checksum_value"], value.as_str(), "{entry}");
    }

    // The store's own key (enable_kms, as before 2026-05).
    let mut legacy = body("k/", "default", &json!({}));
    legacy["enable_kms"] = json!(true);
    let id = oms.create_task(&legacy).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(
        bucket_md5s(&s3, "sealed-default", "k/").await,
        bucket_md5s(&s3, "plain", "k/").await
    );
    assert_sealed(&s3, "sealed-default", "k/", None).await;
}

#[tokio::test]
async fn a_store_that_ignores_kms_fails_every_object_until_a_start_runs_them_where_it_is_honoured()
{
    let Some((moto, s3)) = setup(&["ignored"]).await else {
        return;
    };
    let destination = Arc::new(Destination::default());
    destination.ignores_kms.store(true, Ordering::SeqCst);
    let proxy = proxy(&moto, &destination).await;
    let oms = server(&moto, &proxy).await;
    let api = oms.signed_client(&oms.a);
    let p = oms.a.id.clone();

    let crypto = json!({"crypto_type": "KMS", "kms_key_id": KEY});
    let id = oms.create_task(&body("k/", "ignored", &crypto)).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 4, "{task:#}");
    assert_eq!(task["failed_num"], 3, "{task:#}");
    let failed = api.get(&format!("/v2/{p}/tasks/{id}/failed-objects")).await;
    for object in failed.ok()["failed_objects"].as_array().unwrap() {
        assert_eq!(object["error_code"], "UPLOAD_DST_OBJ_FAILURE", "{object}");
        let message = object["error_msg"].as_str().unwrap();
        assert!(message.contains("KMS state error"), "{message}");
        assert!(message.contains(KEY), "{message}");
        assert!(message.contains("was removed"), "{message}");
    }
    // What was written without the encryption asked for did not stay.
    assert_eq!(
        bucket_md5s(&s3, "sealed-ignored", "k/").await.len(),
        0,
        "objects written unencrypted were left at the destination"
    );

    // The keys again, with crypto fields: another destination key, a KMS-encrypted CDN key
    // and unknown types are refused naming the field, nothing changes.
    let keys = json!({"src_ak": "MOTOSRC", "src_sk": "secret", "dst_ak": "MOTODST",
                      "dst_sk": "secret", "migrate_failed_object": true});
    let start = format!("/v2/{p}/tasks/{id}/start");
    for (extra, field) in [
        (
            json!({"dst_crypto_type": "KMS", "dst_kms_key_id": "ffffffff-4e5f-6a7b-8c9d-0e1f2a3b4c5d"}),
            "dst_kms_key_id",
        ),
        (json!({"dst_crypto_type": "DEFAULT"}), "dst_crypto_type"),
        (
            json!({"source_cdn_crypto_type": "KMS"}),
            "source_cdn_crypto_type",
        ),
        (json!({"src_crypto_type": "SM4"}), "src_crypto_type"),
    ] {
        let mut req = keys.clone();
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        let reply = api.post(&start, Some(&req)).await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.msg().contains(field), "{field}: {}", reply.msg());
    }
    let shown = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(shown.ok()["status"], 4);

    // The store honours it now; the same fields as at creation are taken, and the failed
    // objects are copied, encrypted, and proven.
    destination.ignores_kms.store(false, Ordering::SeqCst);
    let mut req = keys.clone();
    req["dst_crypto_type"] = json!("KMS");
    req["dst_kms_key_id"] = json!(KEY);
    req["src_crypto_type"] = json!("KMS");
    api.post(&start, Some(&req)).await.ok();
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(
        bucket_md5s(&s3, "sealed-ignored", "k/").await,
        bucket_md5s(&s3, "plain", "k/").await
    );
    assert_sealed(&s3, "sealed-ignored", "k/", Some(KEY)).await;

    // A task group and a sync task take the same fields, by the same rules.
    let mut group = body(
        "k/",
        "ignored",
        &json!({"crypto_type": "KMS", "kms_key_id": KEY}),
    );
    group["task_type"] = json!("PREFIX");
    let created = api.post(&format!("/v2/{p}/taskgroups"), Some(&group)).await;
    let group_id = created.ok()["group_id"].as_str().unwrap().to_owned();
    for verb in ["start", "retry"] {
        let mut req = keys.clone();
        req["dst_crypto_type"] = json!("KMS");
        req["dst_kms_key_id"] = json!("ffffffff-4e5f-6a7b-8c9d-0e1f2a3b4c5d");
        let reply = api
            .put(&format!("/v2/{p}/taskgroups/{group_id}/{verb}"), Some(&req))
            .await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.msg().contains("dst_kms_key_id"), "{}", reply.msg());
    }
    let shown = api.get(&format!("/v2/{p}/taskgroups/{group_id}")).await;
    assert_eq!(shown.ok()["enable_kms"], true);
    let sync = json!({
        "src_cloud_type": "AWS", "src_region": "kms-src", "src_bucket": "plain",
        "src_ak": "MOTOSRC", "src_sk": "secret",
        "dst_region": "kms-dst", "dst_bucket": "sealed-ignored", "dst_ak": "MOTODST",
        "dst_sk": "secret", "dst_crypto_type": "KMS", "dst_kms_key_id": KEY,
    });
    let created = api.post(&format!("/v2/{p}/sync-tasks"), Some(&sync)).await;
    let sync_id = created.ok()["sync_task_id"].as_str().unwrap().to_owned();
    let shown = api
        .get(&format!("/v2/{p}/sync-tasks/{sync_id}?query_time=0"))
        .await;
    assert_eq!(shown.ok()["enable_kms"], true);
    let reply = api
        .post(
            &format!("/v2/{p}/sync-tasks/{sync_id}/start"),
            Some(
                &json!({"src_ak": "MOTOSRC", "src_sk": "secret", "dst_ak": "MOTODST",
                         "dst_sk": "secret", "dst_crypto_type": "DEFAULT"}),
            ),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("dst_crypto_type"), "{}", reply.msg());
}
