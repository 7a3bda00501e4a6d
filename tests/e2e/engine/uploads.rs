//! Multipart uploads are not left behind: an object that fails has its upload aborted at once,
//! and so has every upload of a task that fails. The destination is moto, whose
//! ListMultipartUploads shows what a user would find (and pay for).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::{MIB, SRC_BUCKET, SRC_REGION, random_bytes, rule};
use crate::support::harness::{Overrides, TestServer};
use crate::support::moto::Moto;
use crate::support::proxy::{Proxy, Seen, multipart_calls, recorder};
use crate::support::s3::{ListingFaults, S3Server, client};

const DST: &str = "uploads-dst";

struct Setup {
    oms: TestServer,
    src: S3Server,
    moto: Moto,
    /// What omsd sent to moto, through a proxy that records it.
    seen: Seen,
    _proxy: Proxy,
}

async fn setup(list_page_size: Option<i32>) -> Option<Setup> {
    let moto = Moto::start_or_skip().await?;
    client(&moto.url, "MOTODST", "secret")
        .create_bucket()
        .bucket(DST)
        .send()
        .await
        .unwrap();
    let (record, seen) = recorder();
    let proxy = Proxy::start(&moto.url, Some(record), None).await;
    let src = S3Server::start("src").await;
    src.create_bucket(SRC_BUCKET).await;
    let oms = TestServer::start_with(Overrides {
        worker: true,
        endpoints: vec![
            rule("AWS", SRC_REGION, &src.url),
            rule("HEC", "moto-dst", &proxy.url),
        ],
        list_page_size,
        ..Overrides::default()
    })
    .await;
    Some(Setup {
        oms,
        src,
        moto,
        seen,
        _proxy: proxy,
    })
}

impl Setup {
    async fn run(&self, prefix: &str, status: i64) -> Value {
        let body = json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": self.src.ak, "sk": self.src.sk,
                         "bucket": SRC_BUCKET, "object_key": [prefix]},
            "dst_node": {"ak": "MOTODST", "sk": "secret", "region": "moto-dst", "bucket": DST},
        });
        let id = self.oms.create_task(&body).await;
        let task = self.oms.wait_task_end(id, Duration::from_secs(90)).await;
        assert_eq!(task["status"], status, "{task:#}");
        task
    }

    /// The multipart uploads in progress at the destination, as ListMultipartUploads tells.
    async fn uploads(&self) -> Vec<String> {
        let out = client(&self.moto.url, "MOTODST", "secret")
            .list_multipart_uploads()
            .bucket(DST)
            .send()
            .await
            .unwrap();
        out.uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_owned))
            .collect()
    }
}

#[tokio::test]
async fn a_large_object_that_fails_leaves_no_multipart_upload_behind() {
    let Some(s) = setup(None).await else {
        return;
    };
    s.src
        .put(SRC_BUCKET, "f/big.bin", random_bytes(12 * MIB), None, &[])
        .await;
    s.src
        .put(SRC_BUCKET, "f/small.bin", random_bytes(100), None, &[])
        .await;
    // Every read of the large object's bytes fails; its HEAD works, so its upload starts.
    s.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("f/big.bin".into());
    let task = s.run("f/", 4).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0004", "{task:#}");
    assert_eq!(task["failed_num"], 1);
    // An upload was started, and aborted: none is left.
    let (created, _, aborted) = multipart_calls(&s.seen, &format!("/{DST}/f/big.bin"));
    assert!(created >= 1, "no upload was started");
    assert_eq!(aborted, created, "every upload started was aborted");
    assert_eq!(s.uploads().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_task_that_fails_aborts_the_uploads_it_had_in_flight() {
    let Some(s) = setup(Some(1)).await else {
        return;
    };
    s.src
        .put(SRC_BUCKET, "g/a-big.bin", random_bytes(12 * MIB), None, &[])
        .await;
    s.src
        .put(SRC_BUCKET, "g/b.bin", random_bytes(100), None, &[])
        .await;
    // The large object's parts come slowly; the listing's second page comes later still, and
    // broken: the task fails while the upload is in flight.
    s.src.faults.get_delay_ms.store(700, Ordering::SeqCst);
    *s.src.faults.listing.lock().unwrap() = ListingFaults {
        empty_after_first: true,
        slow_after_first_ms: 1500,
        ..ListingFaults::default()
    };
    let task = s.run("g/", 4).await;
    assert_eq!(task["error_reason"]["error_code"], "TRF.0027", "{task:#}");
    assert!(
        s.src.calls.count("get_object", "g/a-big.bin") >= 1,
        "the upload was under way when the task failed"
    );
    let (created, _, aborted) = multipart_calls(&s.seen, &format!("/{DST}/g/a-big.bin"));
    assert_eq!(created, 1, "the upload was started");
    assert_eq!(aborted, 1, "and aborted");
    assert_eq!(s.uploads().await, Vec::<String>::new());
}
