//! Listings read over several key ranges at once (`worker.list_lanes`): a flat prefix far
//! longer than a page is listed on both sides in ranges side by side, and every key is still
//! seen exactly once, in order: copied once if missing, skipped if already there.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DST_BUCKET, DST_REGION, Migration, SRC_BUCKET, SRC_REGION, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::proxy::{Proxy, RequestHead, Seen, query_value, recorder};
use crate::support::s3::S3Server;

/// The `start-after` of each ListObjectsV2 request in `seen`.
fn starts_after(seen: &Seen) -> Vec<String> {
    let heads: Vec<RequestHead> = seen.lock().unwrap().clone();
    heads
        .iter()
        .filter(|h| h.method == http::Method::GET && h.query.contains("list-type=2"))
        .filter_map(|h| query_value(&h.query, "start-after"))
        .collect()
}

/// PutObject requests of `seen` (not parts, not copies), by path.
fn puts(seen: &Seen) -> BTreeMap<String, usize> {
    let mut puts = BTreeMap::new();
    for head in seen.lock().unwrap().iter() {
        let part = head.query.contains("uploadId");
        let copy = head.headers.contains_key("x-amz-copy-source");
        if head.method == http::Method::PUT && !part && !copy {
            *puts.entry(head.path.clone()).or_default() += 1;
        }
    }
    puts
}

#[tokio::test]
async fn a_flat_prefix_listed_in_ranges_side_by_side_copies_each_missing_key_once() {
    let src = S3Server::start("src").await;
    let dst = S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    let (src_record, src_seen) = recorder();
    let (dst_record, dst_seen) = recorder();
    let src_proxy = Proxy::start(&src.url, Some(src_record), None).await;
    let dst_proxy = Proxy::start(&dst.url, Some(dst_record), None).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        list_page_size: Some(25),
        list_lanes: Some(6),
        endpoints: vec![
            rule("AWS", SRC_REGION, &src_proxy.url),
            rule("HEC", DST_REGION, &dst_proxy.url),
        ],
        ..Overrides::default()
    })
    .await;
    let m = Migration { oms, src, dst };
    // 600 keys in one flat prefix, 24 pages of 25; the first 300 are already at the
    // destination, byte for byte, beside keys the source does not have.
    let objects: Vec<(String, Vec<u8>)> = (0..600)
        .map(|i| (format!("flat/k-{i:05}"), random_bytes(100 + i)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects.clone()).await;
    let mut present: Vec<(String, Vec<u8>)> = objects[..300].to_vec();
    present.extend((0..50).map(|i| (format!("flat/k-{i:05}-extra"), random_bytes(10))));
    m.dst.put_many(DST_BUCKET, present).await;
    let before = puts(&dst_seen);

    let id = m.create(&m.task_body(&["flat/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(120)).await;
    assert_eq!(task["total_num"], 600, "{task:#}");
    assert_eq!(task["successful_num"], 300, "{task:#}");
    assert_eq!(task["skipped_num"], 300, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    let copied = m.dst.md5s(DST_BUCKET, "flat/").await;
    let sent = m.src.md5s(SRC_BUCKET, "flat/").await;
    for (key, md5) in &sent {
        assert_eq!(copied.get(key), Some(md5), "{key}");
    }
    // Each missing key was written once; none of those already there was written again.
    let mut written = puts(&dst_seen);
    for (path, n) in &before {
        *written.entry(path.clone()).or_default() -= n;
    }
    written.retain(|path, n| *n > 0 && path.contains("/flat/"));
    let expected: BTreeMap<String, usize> = (300..600)
        .map(|i| (format!("/{DST_BUCKET}/flat/k-{i:05}"), 1))
        .collect();
    assert_eq!(written, expected);
    // Both listings were read in ranges: some requests listed after a key neither side has.
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    for (side, seen) in [("source", &src_seen), ("destination", &dst_seen)] {
        let cuts = starts_after(seen)
            .into_iter()
            .filter(|after| !keys.contains(&after.as_str()) && !after.ends_with("-extra"))
            .count();
        assert!(
            cuts > 0,
            "the {side} listing was read as one chain of pages"
        );
    }

    // Run again: everything is there, every key is skipped, nothing is written.
    let before = puts(&dst_seen);
    let again = m.create(&m.task_body(&["flat/"])).await;
    let task = m.wait_for(again, 5, Duration::from_secs(120)).await;
    assert_eq!(task["skipped_num"], 600, "{task:#}");
    assert_eq!(task["successful_num"], 0, "{task:#}");
    let after = puts(&dst_seen);
    let rewritten: Vec<&String> = after
        .iter()
        .filter(|(p, n)| p.contains("/flat/") && before.get(*p) != Some(n))
        .map(|(p, _)| p)
        .collect();
    assert!(rewritten.is_empty(), "{rewritten:?}");
}
