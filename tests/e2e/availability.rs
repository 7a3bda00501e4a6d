//! What a caller gets when omsd cannot serve: 503 `OMS.0503` when its database is gone (and the
//! service back once it returns), 503 when a request outlives `server.request_timeout_secs`;
//! and the `X-Request-Id` every answer carries, to find a request in the log.

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};

use crate::engine::rule;
use crate::support::harness::{
    Auth, Overrides, TestServer, captured_logs, eventually, on_postgres,
};

#[tokio::test]
async fn every_answer_carries_the_callers_request_id_or_a_new_one() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let p = &server.a.id;

    // The caller's id comes back, on a success and on a refusal, and names the request in the
    // log.
    let mine = format!("trace-{}", uuid::Uuid::new_v4().simple());
    for (path, status) in [("/v2", 200), (&*format!("/v2/{p}/tasks"), 401)] {
        let reply = http
            .get(format!("{}{path}", server.base))
            .header("x-request-id", &mine)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), status, "{path}");
        assert_eq!(reply.headers()["x-request-id"], mine.as_str(), "{path}");
    }
    assert!(
        captured_logs().contains(&mine),
        "the request id is in the log"
    );

    // Without one, each answer gets its own.
    let api = server.client(Auth::None);
    let ids: Vec<String> =
        futures::future::join_all([api.get("/v2"), api.get("/v2"), api.get("/no/such/path")])
            .await
            .iter()
            .map(|r| r.headers["x-request-id"].to_str().unwrap().to_owned())
            .collect();
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
}

#[tokio::test]
async fn a_request_slower_than_the_request_timeout_is_answered_503() {
    // A store that accepts connections and never answers: a bucket helper asking it waits up
    // to its own timeout (10 s), longer than the request may take (1 s).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let server = TestServer::start_with(Overrides {
        endpoints: vec![rule("AWS", "silent-1", &silent_url)],
        catalogue_timeout_secs: Some(10),
        request_timeout_secs: Some(1),
        ..Overrides::default()
    })
    .await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let body = json!({"cloud_type": "AWS", "ak": "AK", "sk": "SK", "bucket_name": "b",
                      "file_name": "x", "data_center": "silent-1"});
    let reply = api
        .post(
            &format!("/v2/{p}/objectstorage/buckets/prefix"),
            Some(&body),
        )
        .await;
    reply.assert_error(503, "OMS.0503");
    assert!(
        reply.msg().contains("took longer than 1s"),
        "{}",
        reply.text
    );
    // Quick requests are served as ever.
    api.get(&format!("/v2/{p}/tasks")).await.ok();
}

/// The database stops serving a running omsd, then serves again. On PostgreSQL omsd's database
/// is closed to new connections and its connections are ended (the server, which others use,
/// keeps running): every call that needs the database is 503 `OMS.0503`, and so is `/readyz`.
/// On SQLite a running process keeps its open database whatever happens to the file; what
/// stops it there is another process holding the write lock beyond the busy timeout (10 s):
/// writes are 503 `OMS.0503` while reads go on.
#[tokio::test]
async fn a_database_that_cannot_serve_is_503_oms_0503_until_it_serves_again() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let probe = server.client(Auth::None);
    let p = &server.a.id;
    let create = async || {
        api.post(
            &format!("/v2/{p}/tasks"),
            Some(&crate::support::fixtures::task_body()),
        )
        .await
    };
    assert_eq!(probe.get("/readyz").await.ok()["status"], "ok");

    if on_postgres() {
        let options: PgConnectOptions = server.db_url.parse().unwrap();
        let name = options.get_database().unwrap().to_owned();
        let mut admin = options.database("postgres").connect().await.unwrap();
        let mut sql = async |statement: String| {
            admin.execute(AssertSqlSafe(statement)).await.unwrap();
        };
        sql(format!("alter database {name} allow_connections false")).await;
        sql(format!(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'"
        ))
        .await;

        let ready = probe.get("/readyz").await;
        assert_eq!(
            (ready.status, &ready.body),
            (503, &json!({"status": "unavailable"}))
        );
        // A read (of a query no answer was cached for) and a write.
        api.get(&format!("/v2/{p}/tasks?limit=7"))
            .await
            .assert_error(503, "OMS.0503");
        create().await.assert_error(503, "OMS.0503");
        // Liveness needs no database.
        assert_eq!(probe.get("/healthz").await.ok()["status"], "ok");

        sql(format!("alter database {name} allow_connections true")).await;
    } else {
        let mut other = SqliteConnection::connect(&server.db_url).await.unwrap();
        other.execute("begin immediate").await.unwrap();
        let refused = create().await;
        refused.assert_error(503, "OMS.0503");
        assert!(refused.msg().contains("retry later"), "{}", refused.text);
        // Reads are served meanwhile; the database answers.
        api.get(&format!("/v2/{p}/tasks?limit=7")).await.ok();
        assert_eq!(probe.get("/readyz").await.ok()["status"], "ok");
        other.execute("rollback").await.unwrap();
    }

    // It serves again, without a restart.
    let back = eventually(Duration::from_secs(30), async || {
        probe.get("/readyz").await.status == 200
    })
    .await;
    assert!(back, "not ready again");
    let id = create().await.ok()["id"].as_i64().unwrap();
    let shown = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(shown.ok()["status"], 1);
}
