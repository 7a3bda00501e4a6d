//! Prometheus metrics as an operator scrapes them: `omsd` runs as its own process (the exporter
//! is per process; on PostgreSQL when the suite runs there), a task migrates between two real
//! S3 servers, one of which throttles some writes, `/metrics` is scraped while parts are in
//! flight and after the end, and the numbers are compared with the task's counters and with
//! the calls the servers saw.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::{DST_BUCKET, MIB, SRC_BUCKET, random_bytes};
use crate::service::program::{Daemon, database_env, omsd};
use crate::support::s3::S3Server;

/// One sample of the text format: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (comment lines skipped); panics on a line it cannot read,
/// so a malformed exposition fails the test.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"));
                (name.to_owned(), parse_labels(body, line))
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// `k="v",k2="v2"` (values may hold commas and braces; quotes are escaped as `\"`).
fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line:?}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("{line:?}"),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The sum of the samples named `name` whose labels include every one of `with`.
fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
        .map(|s| s.value)
        .sum()
}

/// The number in a JSON field.
fn num(task: &Value, field: &str) -> f64 {
    task[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field}: {task:#}"))
}

#[tokio::test]
async fn metrics_count_what_the_task_counts_and_what_the_stores_saw() {
    let src = S3Server::start("src").await;
    let dst = S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    // 30 small objects, 10 of them already at the destination (skipped), and one of 12 MiB
    // copied in three parts.
    let small: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("m/{i:02}"), random_bytes(3000)))
        .collect();
    src.put_many(SRC_BUCKET, small.clone()).await;
    src.put(SRC_BUCKET, "m/big.bin", random_bytes(12 * MIB), None, &[])
        .await;
    dst.put_many(DST_BUCKET, small[..10].to_vec()).await;
    dst.faults.part_delay_ms.store(1_500, Ordering::SeqCst);
    // The destination throttles the first write of three of the objects to copy (503 SlowDown).
    dst.faults
        .flaky_keys
        .lock()
        .unwrap()
        .extend(["m/10", "m/11", "m/12"].map(str::to_owned));
    dst.faults.flaky_attempts.store(1, Ordering::SeqCst);
    let seeding_puts = dst.calls.total("put_object");

    let home = tempfile::tempdir().unwrap();
    let endpoints = format!(
        "[{{cloud_type = \"AWS\", region = \"m-src\", url = \"{}\"}}, {{cloud_type = \"HEC\", region = \"m-dst\", url = \"{}\"}}]",
        src.url, dst.url
    );
    // On PostgreSQL when the suite runs there: the gauges read the database at each scrape.
    let database = database_env(home.path()).await;
    let mut env = vec![
        ("OMS__SERVER__LISTEN", "127.0.0.1:0"),
        ("OMS__METRICS__LISTEN", "127.0.0.1:0"),
        ("OMS__ENDPOINTS", endpoints.as_str()),
        ("OMS__WORKER__PART_SIZE_BYTES", "5242880"),
        ("OMS__WORKER__MULTIPART_THRESHOLD_BYTES", "8388608"),
        ("OMS__WORKER__THROTTLE_BASE_DELAY_MS", "50"),
    ];
    env.extend(database.iter().map(|(k, v)| (*k, v.as_str())));
    let daemon = Daemon::start(home.path(), &[], &env);
    let line = daemon.wait_for_stderr("metrics served at /metrics");
    let metrics_addr = line
        .split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let out = omsd(home.path(), &["token"], &[]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let project = crate::service::bootstrap_project(home.path());
    let http = reqwest::Client::new();
    let scrape = async || {
        let reply = http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.text().await.unwrap()
    };

    let post = async |url: String, body: Value| -> Value {
        let reply = http
            .post(url)
            .header("x-auth-token", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.json().await.unwrap()
    };
    let created = post(
        format!("{}/v2/{project}/tasks", daemon.base_url()),
        json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": "m-src", "ak": src.ak, "sk": src.sk,
                         "bucket": SRC_BUCKET, "object_key": ["m/"]},
            "dst_node": {"ak": dst.ak, "sk": dst.sk, "region": "m-dst", "bucket": DST_BUCKET},
        }),
    )
    .await;
    let id = created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{created}"));

    // While the large object's parts are on their way, they show as in flight.
    let flying = crate::support::harness::eventually(Duration::from_secs(60), async || {
        sum(&parse(&scrape().await), "oms_parts_in_flight", &[]) >= 1.0
    })
    .await;
    assert!(flying, "no part was ever in flight: {}", scrape().await);

    dst.faults.part_delay_ms.store(0, Ordering::SeqCst);
    let mut task = Value::Null;
    let done = crate::support::harness::eventually(Duration::from_secs(120), async || {
        task = http
            .get(format!("{}/v2/{project}/tasks/{id}", daemon.base_url()))
            .header("x-auth-token", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        task["status"] == 5
    })
    .await;
    assert!(done, "{task:#}");
    // A bucket helper's store calls are counted too, on the side it asks about.
    let buckets = post(
        format!("{}/v2/{project}/objectstorage/buckets", daemon.base_url()),
        json!({"cloud_type": "HEC", "ak": dst.ak, "sk": dst.sk}),
    )
    .await;
    assert_eq!(buckets, json!([DST_BUCKET]));

    let text = scrape().await;
    let samples = parse(&text);
    let objects = |outcome| sum(&samples, "oms_objects_total", &[("outcome", outcome)]);
    let bytes = |outcome| sum(&samples, "oms_object_bytes_total", &[("outcome", outcome)]);
    assert_eq!(objects("copied"), num(&task, "successful_num"), "{text}");
    assert_eq!(objects("skipped"), num(&task, "skipped_num"), "{text}");
    assert_eq!(objects("failed"), num(&task, "failed_num"), "{text}");
    assert_eq!((objects("copied"), objects("skipped")), (21.0, 10.0));
    assert_eq!(
        bytes("copied") + bytes("skipped"),
        num(&task, "complete_size"),
        "{text}"
    );
    assert_eq!(
        sum(
            &samples,
            "oms_objects_total",
            &[("task_type", "prefix"), ("src_cloud", "AWS")]
        ),
        31.0
    );
    // Store calls, as the destination server saw them.
    let calls = |side, operation| {
        sum(
            &samples,
            "oms_store_requests_total",
            &[("side", side), ("operation", operation), ("outcome", "ok")],
        )
    };
    assert_eq!(
        calls("destination", "upload_part"),
        f64::from(dst.calls.total("upload_part")),
        "{text}"
    );
    assert_eq!(calls("destination", "upload_part"), 3.0);
    // Every PutObject the server saw: 23 accepted (20 objects, the task's success and skip
    // lists and its verification manifest), 3 throttled (each tried again, once).
    let throttled = |side, operation| {
        sum(
            &samples,
            "oms_store_requests_total",
            &[
                ("side", side),
                ("operation", operation),
                ("outcome", "throttled"),
            ],
        )
    };
    assert_eq!(
        calls("destination", "put") + throttled("destination", "put"),
        f64::from(dst.calls.total("put_object") - seeding_puts),
        "{text}"
    );
    assert_eq!(
        (calls("destination", "put"), throttled("destination", "put")),
        (23.0, 3.0),
        "{text}"
    );
    assert_eq!(
        sum(
            &samples,
            "oms_store_requests_total",
            &[("outcome", "throttled")]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        sum(
            &samples,
            "oms_store_retries_total",
            &[("kind", "throttled")]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(sum(&samples, "oms_store_retries_total", &[]), 3.0, "{text}");
    assert_eq!(calls("destination", "list_buckets"), 1.0, "{text}");
    assert_eq!(dst.calls.total("list_buckets"), 1);
    assert!(
        sum(
            &samples,
            "oms_store_request_duration_seconds_count",
            &[("side", "source"), ("operation", "list")]
        ) >= 1.0,
        "{text}"
    );
    // Nothing in flight any more; the task is counted as completed; its lease was claimed.
    assert_eq!(sum(&samples, "oms_parts_in_flight", &[]), 0.0);
    assert_eq!(sum(&samples, "oms_objects_in_flight", &[]), 0.0);
    assert_eq!(sum(&samples, "oms_tasks", &[("status", "completed")]), 1.0);
    assert_eq!(sum(&samples, "oms_tasks", &[("status", "running")]), 0.0);
    assert!(
        sum(
            &samples,
            "oms_lease_events_total",
            &[("kind", "task"), ("event", "claimed")]
        ) >= 1.0
    );
    // The API request that created the task, by its route template.
    assert_eq!(
        sum(
            &samples,
            "oms_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/v2/{project_id}/tasks"),
                ("status", "200")
            ]
        ),
        1.0,
        "{text}"
    );
    assert!(sum(&samples, "oms_db_pool_max_connections", &[]) >= 1.0);

    // A sync task's copies count too, as task type `sync`: two keys changed, one gone.
    src.put_many(
        SRC_BUCKET,
        vec![
            ("s/1".into(), random_bytes(1000)),
            ("s/2".into(), random_bytes(2000)),
        ],
    )
    .await;
    let api = format!("{}/v2/{project}/sync-tasks", daemon.base_url());
    let created = post(
        api.clone(),
        json!({
            "src_cloud_type": "AWS", "src_region": "m-src", "src_bucket": SRC_BUCKET,
            "src_ak": src.ak, "src_sk": src.sk,
            "dst_region": "m-dst", "dst_bucket": DST_BUCKET, "dst_ak": dst.ak, "dst_sk": dst.sk,
        }),
    )
    .await;
    let sync = created["sync_task_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    let keys = json!({ "object_keys": ["s%2F1", "s%2F2", "s%2Fgone"] });
    assert_eq!(post(format!("{api}/{sync}/events"), keys).await, json!({}));
    let synced = async |outcome| {
        sum(
            &parse(&scrape().await),
            "oms_objects_total",
            &[("task_type", "sync"), ("outcome", outcome)],
        )
    };
    let counted = crate::support::harness::eventually(Duration::from_secs(60), async || {
        synced("copied").await == 2.0 && synced("skipped").await == 1.0
    })
    .await;
    assert!(counted, "sync copies not counted: {}", scrape().await);
    let samples = parse(&scrape().await);
    assert_eq!(
        sum(
            &samples,
            "oms_object_bytes_total",
            &[("task_type", "sync"), ("outcome", "copied")]
        ),
        3000.0
    );

    // No credential reaches a label.
    for secret in [&src.ak, &src.sk, &dst.ak, &dst.sk, &token] {
        assert!(!text.contains(secret.as_str()));
    }
}
