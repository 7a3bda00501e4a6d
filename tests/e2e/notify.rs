//! Webhook notifications as an operator receives them: `omsd` runs as its own process with a
//! receiver configured for a topic; tasks and a group with `smn_config` complete or fail; a
//! local receiver checks each body's HMAC signature and counts deliveries by event id. The
//! first delivery is refused and the omsd that finished the task is killed: the next omsd
//! delivers it, exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::engine::{DST_BUCKET, SRC_BUCKET, random_bytes};
use crate::service::program::{Daemon, database_env, omsd};
use crate::support::harness::eventually;
use crate::support::s3::S3Server;

const SECRET: &str = "hook-secret-5f1e0c9a";
const TOPIC: &str = "urn:smn:cn-north-4:0123456789abcdef:oms-done";
/// The project of [`TOPIC`].
const TOPIC_PROJECT: &str = "0123456789abcdef";

/// A webhook receiver on 127.0.0.1: checks signatures, counts deliveries by event id, and
/// answers 503 while `failing`.
#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<BTreeMap<String, Vec<Value>>>>,
    failing: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    unsigned: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let signed = headers
        .get("x-oms-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok())
        .is_some_and(|tag| hmac::verify(&key, &body, &tag).is_ok());
    if !signed {
        r.unsigned.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if r.failing.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let event = headers
        .get("x-oms-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap();
    r.deliveries
        .lock()
        .unwrap()
        .entry(event)
        .or_default()
        .push(body);
    StatusCode::OK
}

impl Receiver {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    /// Every delivery's body, in event-id order.
    fn bodies(&self) -> Vec<Value> {
        self.deliveries
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// The bodies about `subject` `id`.
    fn about(&self, key: &str, id: &str) -> Vec<Value> {
        self.bodies()
            .into_iter()
            .filter(|b| b[key].as_str() == Some(id))
            .collect()
    }
}

/// An omsd (API and worker) in `home`, on `database` (see [`database_env`]), that sends to
/// `hook`.
fn daemon(
    home: &std::path::Path,
    database: &[(&str, String)],
    src: &S3Server,
    dst: &S3Server,
    hook: &str,
) -> Daemon {
    let endpoints = format!(
        "[{{cloud_type = \"AWS\", region = \"n-src\", url = \"{}\"}}, {{cloud_type = \"HEC\", region = \"n-dst\", url = \"{}\"}}]",
        src.url, dst.url
    );
    let webhooks =
        format!("[{{topic_urn = \"{TOPIC}\", url = \"{hook}\", secret = \"{SECRET}\"}}]");
    let mut env = vec![
        ("OMS__SERVER__LISTEN", "127.0.0.1:0"),
        ("OMS__ENDPOINTS", endpoints.as_str()),
        ("OMS__NOTIFY__WEBHOOKS", webhooks.as_str()),
        ("OMS__WORKER__POLL_INTERVAL_MS", "200"),
    ];
    env.extend(database.iter().map(|(k, v)| (*k, v.as_str())));
    Daemon::start(home, &[], &env)
}

#[tokio::test]
async fn webhooks_arrive_signed_once_per_event_also_when_the_sender_is_killed() {
    let src = S3Server::start("src").await;
    let dst = S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    src.put_many(
        SRC_BUCKET,
        (0..3)
            .map(|i| (format!("n/{i}"), random_bytes(1000)))
            .collect(),
    )
    .await;
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    receiver.failing.store(true, Ordering::SeqCst);

    let home = tempfile::tempdir().unwrap();
    // The first-start project is the one the topic names (a task may only name its own
    // project's topics).
    std::fs::create_dir(home.path().join("data")).unwrap();
    std::fs::write(
        home.path().join("data/bootstrap.toml"),
        format!("project_id = \"{TOPIC_PROJECT}\"\naccess_key = \"AKNOTIFY\"\nsecret_key = \"SKNOTIFY\"\n"),
    )
    .unwrap();
    // On PostgreSQL when the suite runs there: the outbox is written in the same transaction as
    // the status change on both databases.
    let database = database_env(home.path()).await;
    let first = daemon(home.path(), &database, &src, &dst, &hook);
    let out = omsd(home.path(), &["token"], &[]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let project = crate::service::bootstrap_project(home.path());
    let http = reqwest::Client::new();
    let body = |task_type: &str, keys: &[&str], smn: bool| {
        let mut body = json!({
            "task_type": task_type,
            "src_node": {"cloud_type": "AWS", "region": "n-src", "ak": src.ak, "sk": src.sk,
                         "bucket": SRC_BUCKET, "object_key": keys},
            "dst_node": {"ak": dst.ak, "sk": dst.sk, "region": "n-dst", "bucket": DST_BUCKET},
        });
        if smn {
            body["smn_config"] =
                json!({"topic_urn": TOPIC, "trigger_conditions": ["SUCCESS", "FAILURE"]});
        }
        body
    };
    let call = async |daemon: &Daemon, method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{}/v2/{project}/{path}", daemon.base_url()))
            .header("x-auth-token", &token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status();
        let value: Value = reply.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    };

    // A task completes while the receiver refuses: the refusal shows on the task.
    let ok = call(
        &first,
        reqwest::Method::POST,
        "tasks",
        Some(body("prefix", &["n/"], true)),
    )
    .await;
    let ok_id = ok["id"].as_i64().unwrap().to_string();
    let refused = eventually(Duration::from_secs(60), async || {
        let task = call(
            &first,
            reqwest::Method::GET,
            &format!("tasks/{ok_id}"),
            None,
        )
        .await;
        task["status"] == 5
            && task["smn_info"]["notify_result"] == false
            && task["smn_info"]["notify_error_message"]
                .as_str()
                .is_some_and(|m| m.contains("503"))
    })
    .await;
    assert!(
        refused,
        "{}",
        call(
            &first,
            reqwest::Method::GET,
            &format!("tasks/{ok_id}"),
            None
        )
        .await
    );
    assert!(receiver.refused.load(Ordering::SeqCst) >= 1);

    // The omsd that finished it dies (SIGKILL); another on the same database delivers it.
    drop(first);
    receiver.failing.store(false, Ordering::SeqCst);
    let second = daemon(home.path(), &database, &src, &dst, &hook);
    let delivered = eventually(Duration::from_secs(60), async || {
        !receiver.about("task_id", &ok_id).is_empty()
    })
    .await;
    assert!(delivered, "never delivered: {:?}", receiver.bodies());

    // A task that fails (an object that does not exist), one without smn_config, and a group.
    let bad = call(
        &second,
        reqwest::Method::POST,
        "tasks",
        Some(body("object", &["n/missing"], true)),
    )
    .await;
    let bad_id = bad["id"].as_i64().unwrap().to_string();
    let quiet = call(
        &second,
        reqwest::Method::POST,
        "tasks",
        Some(body("prefix", &["n/"], false)),
    )
    .await;
    let quiet_id = quiet["id"].as_i64().unwrap().to_string();
    let group = call(
        &second,
        reqwest::Method::POST,
        "taskgroups",
        Some(body("PREFIX", &["n/"], true)),
    )
    .await;
    let group_id = group["group_id"].as_str().unwrap().to_owned();
    let all_arrived = eventually(Duration::from_secs(90), async || {
        !receiver.about("task_id", &bad_id).is_empty()
            && !receiver.about("group_id", &group_id).is_empty()
            && call(
                &second,
                reqwest::Method::GET,
                &format!("tasks/{quiet_id}"),
                None,
            )
            .await["status"]
                == 5
    })
    .await;
    assert!(all_arrived, "{:?}", receiver.bodies());
    // Time for any duplicate to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Exactly one delivery per event, every one signed; none for the quiet task, none for the
    // group's own task.
    assert_eq!(receiver.unsigned.load(Ordering::SeqCst), 0);
    let deliveries = receiver.deliveries.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 3, "{deliveries:#?}");
    assert!(deliveries.values().all(|d| d.len() == 1), "{deliveries:#?}");
    let ok_body = &receiver.about("task_id", &ok_id)[0];
    assert_eq!(ok_body["event"], "SUCCESS");
    assert_eq!(ok_body["status"], 5);
    assert_eq!(ok_body["counters"]["successful_num"], 3);
    assert_eq!(ok_body["topic_urn"], TOPIC);
    assert_eq!(ok_body["project_id"], TOPIC_PROJECT);
    let bad_body = &receiver.about("task_id", &bad_id)[0];
    assert_eq!(bad_body["event"], "FAILURE");
    assert_eq!(bad_body["status"], 4);
    assert_eq!(bad_body["counters"]["failed_num"], 1);
    let group_body = &receiver.about("group_id", &group_id)[0];
    assert_eq!(group_body["event"], "SUCCESS");
    assert_eq!(group_body["subject"], "group");
    // (The objects were at the destination already: the group's task skipped them.)
    assert_eq!(group_body["counters"]["total_num"], 3, "{group_body:#}");
    assert_eq!(group_body["counters"]["skipped_num"], 3, "{group_body:#}");
    assert!(receiver.about("task_id", &quiet_id).is_empty());

    // The outcome shows as OMS shows it: sent, no error, no topic name.
    let task = call(
        &second,
        reqwest::Method::GET,
        &format!("tasks/{ok_id}"),
        None,
    )
    .await;
    assert_eq!(
        task["smn_info"],
        json!({"notify_result": true, "notify_error_message": "", "topic_name": ""}),
        "{task:#}"
    );
    let shown = call(
        &second,
        reqwest::Method::GET,
        &format!("taskgroups/{group_id}"),
        None,
    )
    .await;
    assert_eq!(shown["smn_config"]["notify_result"], true, "{shown:#}");
    // The receiver's secret is in no log line.
    assert!(!second.stderr().contains(SECRET));

    // Another project's topic (and a name that is no SMN URN) is refused at creation: no
    // project can send its events to another project's receivers.
    for topic in ["urn:smn:cn-north-4:fedcba9876543210:oms-done", "oms-done"] {
        let mut other = body("prefix", &["n/"], true);
        other["smn_config"]["topic_urn"] = json!(topic);
        let reply = http
            .post(format!("{}/v2/{project}/tasks", second.base_url()))
            .header("x-auth-token", &token)
            .json(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "{topic}");
        let refused: Value = reply.json().await.unwrap();
        assert_eq!(refused["error_code"], "OMS.0064", "{refused}");
        assert_eq!(
            refused["error_detail"],
            "request parameter [smn_config.topic_urn] invalid"
        );
    }
}
