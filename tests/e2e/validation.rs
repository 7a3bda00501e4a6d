//! Bad input: every kind of malformed request gets a 400 in the OMS shape, naming the field.

use reqwest::Method;
use serde_json::json;

use crate::support::fixtures::{task_body, with, without};
use crate::support::harness::{Overrides, TestServer};

#[tokio::test]
async fn invalid_fields_are_named_in_the_error() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let path = format!("/v2/{}/tasks", server.a.id);
    let cases = [
        (without(task_body(), "/dst_node"), "dst_node"),
        (without(task_body(), "/src_node/bucket"), "src_node.bucket"),
        (with(task_body(), "/src_node/bucket", json!(42)), "src_node.bucket"),
        (with(task_body(), "/description", json!("a->b")), "description"),
        (with(task_body(), "/description", json!("x".repeat(256))), "description"),
        (with(task_body(), "/task_type", json!("everything")), "task_type"),
        (with(task_body(), "/src_node/cloud_type", json!("Dropbox")), "src_node.cloud_type"),
        (with(task_body(), "/dst_node/ak", json!("k".repeat(101))), "dst_node.ak"),
        (with(task_body(), "/src_node/region", json!("<script>")), "src_node.region"),
        (with(task_body(), "/migrate_since", json!("yesterday")), "migrate_since"),
        (with(task_body(), "/enable_restore", json!("yes")), "enable_restore"),
        (with(task_body(), "/bandwidth_policy", json!([{"start": "8:00", "end": "09:00", "max_bandwidth": 1_048_576}])), "bandwidth_policy[0].start"),
        (with(task_body(), "/bandwidth_policy", json!([{"start": "08:00", "end": "09:00", "max_bandwidth": 1}])), "bandwidth_policy[0].max_bandwidth"),
        (
            with(task_body(), "/bandwidth_policy", json!((0..6).map(|h| json!({"start": format!("{h:02}:00"), "end": format!("{h:02}:30"), "max_bandwidth": 1_048_576})).collect::<Vec<_>>())),
            "bandwidth_policy",
        ),
        (with(task_body(), "/object_overwrite_mode", json!("ALWAYS")), "object_overwrite_mode"),
        (with(task_body(), "/source_cdn", json!({"domain": "cdn.example.com", "protocol": "ftp", "authentication_type": "NONE"})), "source_cdn.protocol"),
        // Regions that lead to no endpoint omsd knows (no [[endpoints]] rule, not a region of
        // the cloud): refused at create, not left to fail with a DNS error at run time.
        (with(task_body(), "/src_node/region", json!("us-eest-1")), "src_node.region"),
        (with(task_body(), "/dst_node/region", json!("cn-nort-4")), "dst_node.region"),
    ];
    for (body, field) in cases {
        let reply = api.post(&path, Some(&body)).await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.msg().contains(field), "{field}: {}", reply.msg());
        assert_eq!(
            reply.body["error_detail"],
            format!("request parameter [{field}] invalid")
        );
    }
    assert_eq!(
        api.get(&path).await.ok()["count"],
        0,
        "nothing was created by a bad request"
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let body = with(
        with(task_body(), "/a_field_from_the_future", json!({"x": 1})),
        "/src_node/newer_thing",
        json!(true),
    );
    api.post(&format!("/v2/{}/tasks", server.a.id), Some(&body))
        .await
        .ok();
}

#[tokio::test]
async fn malformed_requests_are_400_in_the_oms_shape() {
    let server = TestServer::start_with(Overrides {
        max_body_bytes: Some(64 * 1024),
        ..Overrides::default()
    })
    .await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let tasks = format!("/v2/{p}/tasks");

    api.raw(
        Method::POST,
        &tasks,
        Some("application/json"),
        b"{\"task_type\": ".to_vec(),
    )
    .await
    .assert_error(400, "OMS.0067");
    api.raw(
        Method::POST,
        &tasks,
        Some("application/json"),
        b"[]".to_vec(),
    )
    .await
    .assert_error(400, "OMS.0064");
    let reply = api
        .raw(
            Method::POST,
            &tasks,
            Some("text/plain"),
            serde_json::to_vec(&task_body()).unwrap(),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("Content-Type"), "{}", reply.msg());
    let big = with(task_body(), "/description", json!("x".repeat(100 * 1024)));
    let reply = api.post(&tasks, Some(&big)).await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("65536 bytes"), "{}", reply.msg());

    api.get(&format!("{tasks}/12ab"))
        .await
        .assert_error(400, "OMS.1010");
    api.get(&format!("{tasks}/1234567890123456"))
        .await
        .assert_error(400, "OMS.1010");
    api.get(&format!("/v2/{p}/taskgroups/not-a-uuid"))
        .await
        .assert_error(400, "OMS.1010");
    api.get(&format!("{tasks}?limit=abc"))
        .await
        .assert_error(400, "OMS.1010");
    api.get(&format!("{tasks}?limit=0"))
        .await
        .assert_error(400, "OMS.0064");
    api.get(&format!("{tasks}?limit=101"))
        .await
        .assert_error(400, "OMS.0064");
    api.get(&format!("{tasks}?status=9"))
        .await
        .assert_error(400, "OMS.0064");
    api.get(&format!("{tasks}?group_id=xyz"))
        .await
        .assert_error(400, "OMS.0064");
    api.get(&format!("/v2/{p}/taskgroups?status=10"))
        .await
        .assert_error(400, "OMS.0064");
    api.get(&format!("{tasks}/123456789012345"))
        .await
        .assert_error(400, "OMS.1009");

    // Wrong method and unknown paths answer in the OMS shape too.
    api.call(Method::PATCH, &tasks, None)
        .await
        .assert_error(405, "OMS.0005");
    api.get(&format!("/v2/{p}/nothing-here"))
        .await
        .assert_error(404, "APIGW.0101");
}

#[tokio::test]
async fn empty_query_values_are_the_same_as_leaving_them_out() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let id = server.create_task(&task_body()).await;

    let all = api.get(&format!("/v2/{p}/tasks")).await;
    let empty = api
        .get(&format!(
            "/v2/{p}/tasks?limit=&offset=&status=&group_id=&task_name="
        ))
        .await;
    assert_eq!(empty.ok(), all.ok());
    assert_eq!(empty.body["count"], 1);
    api.get(&format!("/v2/{p}/taskgroups?limit=&offset=&status="))
        .await
        .ok();
    api.get(&format!("/v2/{p}/tasks/{id}/failed-objects?limit=&offset="))
        .await
        .ok();
    // A value that is given is checked.
    let reply = api.get(&format!("/v2/{p}/tasks?offset=-1")).await;
    reply.assert_error(400, "OMS.0064");
    assert_eq!(
        reply.body["error_detail"],
        "request parameter [offset] invalid"
    );
}

#[tokio::test]
async fn integer_fields_take_integral_numbers_in_any_json_notation() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    // JSON has one kind of number, and JSON Schema counts 1.7e9 and 10485760.0 as integers.
    let body = with(
        with(task_body(), "/migrate_since", json!(1.7e9)),
        "/bandwidth_policy",
        json!([{"start": "08:00", "end": "20:00", "max_bandwidth": 10_485_760.0}]),
    );
    let id = server.create_task(&body).await;
    let task = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(task.ok()["migrate_since"], 1_700_000_000);
    assert_eq!(
        task.body["bandwidth_policy"][0]["max_bandwidth"],
        10_485_760
    );

    let reply = api
        .post(
            &format!("/v2/{p}/tasks"),
            Some(&with(task_body(), "/migrate_since", json!(1.5))),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(reply.msg().contains("migrate_since"), "{}", reply.msg());
}

#[tokio::test]
async fn path_ids_that_are_not_text_are_refused_naming_the_parameter() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    for (method, path, field) in [
        (Method::GET, format!("/v2/{p}/tasks/%FF"), "task_id"),
        (
            Method::PUT,
            format!("/v2/{p}/taskgroups/%FF/stop"),
            "group_id",
        ),
    ] {
        let reply = api.call(method, &path, None).await;
        reply.assert_error(400, "OMS.1010");
        assert_eq!(
            reply.body["error_detail"],
            format!("request parameter [{field}] invalid"),
            "{path}"
        );
    }
}
