//! What a store says is untrusted input: stores that misbehave the way real ones sometimes do
//! (an object rewritten during its copy, listings out of byte order or with broken paging,
//! ranges answered with other bytes, times at another precision, metadata HTTP cannot carry)
//! never leave a destination that is wrong while the task says it is right. Each test names
//! the store's behaviour and the outcome a user must see.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use super::{
    DST_BUCKET, DST_REGION, MIB, Migration, SRC_BUCKET, SRC_REGION, assert_readable, random_bytes,
    rule,
};
use crate::support::fixtures::with;
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::proxy::{After, Before, Proxy, RequestHead};
use crate::support::s3::{ListingFaults, Overwrite, client, md5_hex, object_bytes};

/// Starts omsd over both servers with listing pages of `page_size` keys.
async fn with_pages(page_size: i32) -> Migration {
    Migration::start_overrides(Overrides {
        worker: true,
        list_page_size: Some(page_size),
        ..Overrides::default()
    })
    .await
}

#[tokio::test]
async fn a_source_rewritten_during_a_multipart_copy_ends_with_the_new_version_whole() {
    let m = Migration::start().await;
    let (old, new) = (vec![b'A'; 12 * MIB], vec![b'B'; 12 * MIB]);
    for (key, check) in [("big.bin", "size_last_modified"), ("crc.bin", "crc64")] {
        m.src.put(SRC_BUCKET, key, old.clone(), None, &[]).await;
        // Parts of 5 MiB: while the second part is read, someone rewrites the object.
        *m.src.faults.overwrite.lock().unwrap() = Some(Overwrite {
            bucket: SRC_BUCKET.into(),
            key: key.into(),
            at: 5 * MIB as u64,
            body: new.clone(),
        });
        let body = with(m.task_body(&[key]), "/consistency_check", json!(check));
        let id = m.create(&body).await;
        let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
        assert_eq!(task["successful_num"], 1, "{task:#}");
        assert_eq!(task["complete_size"], json!(12 * MIB), "{task:#}");
        assert!(
            m.src.faults.overwrite.lock().unwrap().is_none(),
            "the rewrite happened"
        );
        let copied = m.dst.md5s(DST_BUCKET, key).await;
        assert_eq!(
            copied[key],
            md5_hex(&new),
            "{key}: every byte comes from the version that is there now"
        );
    }
}

#[tokio::test]
async fn a_source_rewritten_during_a_server_side_copy_ends_with_the_new_version_whole() {
    let m = Migration::start().await;
    m.src.create_bucket("mirror").await;
    let (old, new) = (vec![b'A'; 12 * MIB], vec![b'B'; 12 * MIB]);
    m.src.put(SRC_BUCKET, "big.bin", old, None, &[]).await;
    *m.src.faults.overwrite.lock().unwrap() = Some(Overwrite {
        bucket: SRC_BUCKET.into(),
        key: "big.bin".into(),
        at: 5 * MIB as u64,
        body: new.clone(),
    });
    let body = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": m.src.ak, "sk": m.src.sk, "bucket": SRC_BUCKET, "object_key": ["big.bin"]},
        "dst_node": {"ak": m.src.ak, "sk": m.src.sk, "region": super::SAME_STORE_REGION, "bucket": "mirror"},
    });
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1, "{task:#}");
    assert!(m.src.faults.overwrite.lock().unwrap().is_none());
    assert_eq!(m.src.md5s("mirror", "").await["big.bin"], md5_hex(&new));
    assert_eq!(m.src.calls.total("upload_part"), 0, "copied server-side");
}

/// The same, against moto's own conditional reads: a proxy in front of it lets another client
/// rewrite the object just before the second part's ranged GET reaches the store.
#[tokio::test]
async fn a_rewrite_during_a_copy_from_moto_is_caught_by_its_own_if_match() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let store = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["rw-src", "rw-dst"] {
        store.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let (old, new) = (vec![b'A'; 12 * MIB], vec![b'B'; 12 * MIB]);
    store
        .put_object()
        .bucket("rw-src")
        .key("big.bin")
        .body(ByteStream::from(old))
        .send()
        .await
        .unwrap();
    let rewrites = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let before: Before = {
        let (store, new, rewrites) = (store.clone(), new.clone(), rewrites.clone());
        Arc::new(move |head: RequestHead| {
            let (store, new, rewrites) = (store.clone(), new.clone(), rewrites.clone());
            Box::pin(async move {
                let second_part = head
                    .headers
                    .get("range")
                    .is_some_and(|r| r.as_bytes().starts_with(b"bytes=5242880-"));
                if head.path.ends_with("/big.bin")
                    && second_part
                    && rewrites.fetch_add(1, Ordering::SeqCst) == 0
                {
                    store
                        .put_object()
                        .bucket("rw-src")
                        .key("big.bin")
                        .body(ByteStream::from(new))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
    };
    let proxy = Proxy::start(&moto.url, Some(before), None).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &proxy.url),
            rule("HEC", "moto-dst", &moto.url),
        ],
        ..Overrides::default()
    })
    .await;
    let body = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC", "sk": "secret", "bucket": "rw-src", "object_key": ["big.bin"]},
        "dst_node": {"ak": "MOTODST", "sk": "secret", "region": "moto-dst", "bucket": "rw-dst"},
    });
    let id = oms.create_task(&body).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(
        rewrites.load(Ordering::SeqCst),
        2,
        "rewritten once, then read through"
    );
    let copied = object_bytes(&store, "rw-dst", "big.bin").await;
    assert_eq!(md5_hex(&copied), md5_hex(&new));
}

#[tokio::test]
async fn pages_that_begin_with_the_last_key_again_are_a_repeat_not_a_broken_listing() {
    let m = with_pages(2).await;
    let keys = ["a", "b", "c", "d", "e", "f", "g"];
    for key in keys {
        m.src
            .put(SRC_BUCKET, key, random_bytes(100), None, &[])
            .await;
    }
    m.src.faults.listing.lock().unwrap().repeat_marker = true;
    m.dst.faults.listing.lock().unwrap().repeat_marker = true;
    let id = m.create(&m.task_body(&[""])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["total_num"], 7, "each key counted once: {task:#}");
    assert_eq!(task["successful_num"], 7, "{task:#}");
    m.src.faults.listing.lock().unwrap().repeat_marker = false;
    m.dst.faults.listing.lock().unwrap().repeat_marker = false;
    m.assert_identical("", "").await;
    for key in keys {
        assert_eq!(m.dst.calls.count("put_object", key), 1, "{key} sent once");
    }
}

#[tokio::test]
async fn a_listing_out_of_byte_order_never_overwrites_what_no_overwrite_keeps() {
    let m = with_pages(2).await;
    for key in ["a", "b", "c", "d", "e"] {
        m.src
            .put(
                SRC_BUCKET,
                key,
                format!("source {key}").into_bytes(),
                None,
                &[],
            )
            .await;
    }
    // The destination holds its own a, c and e.
    for key in ["a", "c", "e"] {
        m.dst
            .put(
                DST_BUCKET,
                key,
                format!("kept {key}").into_bytes(),
                None,
                &[],
            )
            .await;
    }
    let keep = m.dst.md5s(DST_BUCKET, "").await;
    // Source pages come reversed: the last one ([e], and [b, a] before it under the old
    // paging) is sorted, a truncated one is a broken listing.
    m.src.faults.listing.lock().unwrap().reversed = true;
    m.dst.faults.listing.lock().unwrap().reversed = true;
    let body = with(
        m.task_body(&[""]),
        "/object_overwrite_mode",
        json!("NO_OVERWRITE"),
    );
    let id = m.create(&body).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0027", "{task:#}");
    let message = task["error_reason"]["error_msg"].as_str().unwrap();
    assert!(
        message.contains("source listing of bucket source")
            && message.contains(&m.src.url)
            && message.contains("before"),
        "{message}"
    );
    assert_readable(message);
    // Nothing the destination held was touched.
    let now = m.dst.md5s(DST_BUCKET, "").await;
    for (key, md5) in &keep {
        assert_eq!(&now[key], md5, "{key} was overwritten");
    }

    // Only the destination lists out of order: its listing is not trusted, each key is asked
    // for, and NO_OVERWRITE keeps what is there.
    m.src.faults.listing.lock().unwrap().reversed = false;
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            task["successful_num"].as_i64(),
            task["skipped_num"].as_i64()
        ),
        (Some(2), Some(3)),
        "{task:#}"
    );
    let now = m.dst.md5s(DST_BUCKET, "").await;
    for (key, md5) in &keep {
        assert_eq!(&now[key], md5, "{key} was overwritten");
    }
    assert_eq!(now["b"], md5_hex(b"source b"));
    assert_eq!(now["d"], md5_hex(b"source d"));
}

#[tokio::test]
async fn a_single_page_out_of_order_is_sorted_and_copied_right() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "a", b"source a".to_vec(), None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "b", b"source b".to_vec(), None, &[])
        .await;
    m.dst
        .put(DST_BUCKET, "a", b"kept a".to_vec(), None, &[])
        .await;
    m.src.faults.listing.lock().unwrap().reversed = true;
    let body = with(
        m.task_body(&[""]),
        "/object_overwrite_mode",
        json!("NO_OVERWRITE"),
    );
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            task["successful_num"].as_i64(),
            task["skipped_num"].as_i64()
        ),
        (Some(1), Some(1)),
        "{task:#}"
    );
    let now = m.dst.md5s(DST_BUCKET, "").await;
    assert_eq!(
        now["a"],
        md5_hex(b"kept a"),
        "the destination's own a stays"
    );
    assert_eq!(now["b"], md5_hex(b"source b"));
}

#[tokio::test]
async fn broken_paging_fails_the_task_instead_of_ending_early_or_looping() {
    let m = with_pages(10).await;
    let objects: Vec<(String, Vec<u8>)> = (0..25)
        .map(|i| (format!("p/{i:02}"), random_bytes(100)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;

    // The second page is empty but says more follow, with no way forward.
    m.src.faults.listing.lock().unwrap().empty_after_first = true;
    let id = m.create(&m.task_body(&["p/"])).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0027", "{task:#}");
    let message = task["error_reason"]["error_msg"].as_str().unwrap();
    assert!(message.contains("more keys follow"), "{message}");
    assert_readable(message);

    // The store ignores start-after and answers the first page again and again.
    *m.src.faults.listing.lock().unwrap() = ListingFaults {
        ignore_start_after: true,
        ..ListingFaults::default()
    };
    let id = m.create(&m.task_body(&["p/"])).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0027", "{task:#}");
    assert!(
        task["error_reason"]["error_msg"]
            .as_str()
            .unwrap()
            .contains("start-after"),
        "{task:#}"
    );
    for i in 0..10 {
        assert!(
            m.dst.calls.count("put_object", &format!("p/{i:02}")) <= 2,
            "p/{i:02} copied again and again"
        );
    }
}

#[tokio::test]
async fn times_listed_at_another_precision_are_compared_at_the_coarser_one() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "t.txt", b"12345".to_vec(), None, &[])
        .await;
    // The source lists milliseconds, the destination whole seconds of the same instant.
    m.src.faults.listing.lock().unwrap().last_modified_ms = Some(1_700_000_000_789);
    let id = m.create(&m.task_body(&[""])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1);
    m.dst.faults.listing.lock().unwrap().last_modified_ms = Some(1_700_000_000_000);
    let id = m.create(&m.task_body(&[""])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(
        (
            task["successful_num"].as_i64(),
            task["skipped_num"].as_i64()
        ),
        (Some(0), Some(1)),
        "{task:#}"
    );
    assert_eq!(m.dst.calls.count("put_object", "t.txt"), 1, "copied once");
}

#[tokio::test]
async fn metadata_http_cannot_carry_never_fails_an_object() {
    let src = crate::support::s3::S3Server::start("src").await;
    let dst = crate::support::s3::S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    // The source store answers with a Latin-1 metadata value (`caf` + byte 0xE9), as stores
    // that keep what a Latin-1 client sent do.
    let after: After = Arc::new(|head: &RequestHead, parts: &mut http::response::Parts| {
        if head.path.ends_with("/meta.txt") {
            parts.headers.insert(
                "x-amz-meta-title",
                http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
            );
        }
    });
    let proxy = Proxy::start(&src.url, None, Some(after)).await;
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
    m.src
        .put(
            SRC_BUCKET,
            "meta.txt",
            b"hello".to_vec(),
            Some("text/plain"),
            &[],
        )
        .await;
    let id = m.create(&m.task_body(&[""])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1, "{task:#}");

    let body = with(
        with(
            m.task_body(&[""]),
            "/enable_metadata_migration",
            json!(true),
        ),
        "/dst_node/save_prefix",
        json!("m/"),
    );
    let id = m.create(&body).await;
    let task = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(task["successful_num"], 1, "{task:#}");
    let (content_type, metadata) = m.dst.headers(DST_BUCKET, "m/meta.txt").await;
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        metadata.get("title").map(String::as_str),
        Some("=?UTF-8?B?Y2Fmw6k=?="),
        "re-encoded as AWS encodes non-ASCII metadata"
    );
}

#[tokio::test]
async fn a_source_body_cut_short_is_blamed_on_the_source_in_one_readable_sentence() {
    let m = Migration::start().await;
    m.src
        .put(SRC_BUCKET, "cut/short.bin", random_bytes(1000), None, &[])
        .await;
    m.src
        .put(SRC_BUCKET, "cut/fine.bin", random_bytes(1000), None, &[])
        .await;
    m.src
        .faults
        .short_bodies
        .lock()
        .unwrap()
        .insert("cut/short.bin".into());
    let id = m.create(&m.task_body(&["cut/"])).await;
    let task = m.wait_for(id, 4, Duration::from_secs(60)).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0004", "{task:#}");
    assert_eq!(
        (task["successful_num"].as_i64(), task["failed_num"].as_i64()),
        (Some(1), Some(1))
    );
    let list = m.failed_list(&task).await;
    let line = list.lines().next().unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[0], "GET_SRC_OBJ_FAILURE", "{line}");
    assert_eq!(fields[3], "cut/short.bin", "{line}");
    let message = fields[4];
    // The last attempt's cause: the body ended early (hyper's own words, or the count), or
    // the connection the short answer left behind was found closed.
    assert!(
        message.starts_with("source: GetObject of source/cut/short.bin at http://127.0.0.1:"),
        "{message}"
    );
    assert_readable(message);
    assert!(m.dst.keys(DST_BUCKET, "cut/short").await.is_empty());
}

#[tokio::test]
async fn a_saved_upload_whose_source_changed_while_paused_is_started_over() {
    let m = Migration::start().await;
    let (old, new) = (vec![b'A'; 36 * MIB], vec![b'B'; 36 * MIB]);
    m.src.put(SRC_BUCKET, "v.bin", old, None, &[]).await;
    m.dst.faults.part_delay_ms.store(1000, Ordering::SeqCst);
    let id = m.create(&m.task_body(&[""])).await;
    let task_id = oms_core::ids::TaskId::new(id).unwrap();
    let db = m.oms.db().await;
    assert!(
        crate::support::harness::eventually(Duration::from_secs(30), async || {
            db.load_upload(task_id, "v.bin")
                .await
                .unwrap()
                .is_some_and(|u| !u.parts.is_empty())
        })
        .await,
        "no part was saved"
    );
    let api = m.oms.signed_client(&m.oms.a);
    api.post(&format!("/v2/{}/tasks/{id}/stop", m.oms.a.id), None)
        .await
        .ok();
    m.wait_for(id, 3, Duration::from_secs(30)).await;
    // Rewritten while the task is paused, with the same size.
    m.src.put(SRC_BUCKET, "v.bin", new.clone(), None, &[]).await;
    m.dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    api.post(
        &format!("/v2/{}/tasks/{id}/start", m.oms.a.id),
        Some(&m.start_body()),
    )
    .await
    .ok();
    let done = m.wait_for(id, 5, Duration::from_secs(60)).await;
    assert_eq!(done["successful_num"], 1, "{done:#}");
    assert_eq!(m.dst.md5s(DST_BUCKET, "").await["v.bin"], md5_hex(&new));
    assert_eq!(
        m.dst.calls.count("create_multipart_upload", "v.bin"),
        2,
        "the saved upload was not continued"
    );
}

/// moto ignores `x-amz-copy-source-if-match` on UploadPartCopy, as some S3-compatible stores
/// do: a source rewritten (same size, other bytes) between the part copies of a server-side
/// multipart copy would leave a mix of both versions. The source is checked again before the
/// upload is completed, and the object is copied again from its new version.
#[tokio::test]
async fn a_rewrite_during_a_server_side_copy_on_a_store_that_ignores_conditions_is_copied_again() {
    let Some(moto) = Moto::start_or_skip().await else {
        return;
    };
    let store = client(&moto.url, "MOTOSRC", "secret");
    for bucket in ["ic-src", "ic-dst"] {
        store.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let (old, new) = (vec![b'A'; 12 * MIB], vec![b'B'; 12 * MIB]);
    store
        .put_object()
        .bucket("ic-src")
        .key("big.bin")
        .body(ByteStream::from(old))
        .send()
        .await
        .unwrap();
    let rewrites = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let before: Before = {
        let (store, new, rewrites) = (store.clone(), new.clone(), rewrites.clone());
        Arc::new(move |head: RequestHead| {
            let (store, new, rewrites) = (store.clone(), new.clone(), rewrites.clone());
            Box::pin(async move {
                let third_part_copy = head.method == http::Method::PUT
                    && head.path.ends_with("/ic-dst/big.bin")
                    && head.query.contains("partNumber=3")
                    && head.headers.contains_key("x-amz-copy-source");
                if third_part_copy && rewrites.fetch_add(1, Ordering::SeqCst) == 0 {
                    store
                        .put_object()
                        .bucket("ic-src")
                        .key("big.bin")
                        .body(ByteStream::from(new))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
    };
    let proxy = Proxy::start(&moto.url, Some(before), None).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", "moto-src", &proxy.url),
            rule("HEC", "moto-dst", &proxy.url),
        ],
        ..Overrides::default()
    })
    .await;
    // The same keys on both sides of one endpoint: the copy is server-side, part by part.
    let body = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "AWS", "region": "moto-src", "ak": "MOTOSRC", "sk": "secret", "bucket": "ic-src", "object_key": ["big.bin"]},
        "dst_node": {"ak": "MOTOSRC", "sk": "secret", "region": "moto-dst", "bucket": "ic-dst"},
    });
    let id = oms.create_task(&body).await;
    let task = oms.wait_task_end(id, Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 1, "{task:#}");
    assert!(
        rewrites.load(Ordering::SeqCst) >= 2,
        "the rewrite happened during the first copy, and the copy was made again"
    );
    let copied = object_bytes(&store, "ic-dst", "big.bin").await;
    assert_eq!(md5_hex(&copied), md5_hex(&new), "a mix of two versions");
}
