//! What a caller gets when omsd cannot serve in time (503 when a request outlives
//! `server.request_timeout_secs`), and the `X-Request-Id` every answer carries, to find a
//! request in the log.

use serde_json::json;

use crate::engine::rule;
use crate::support::harness::{Auth, Overrides, TestServer, captured_logs};

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
