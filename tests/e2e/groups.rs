//! Task groups through the API: the seed flow (create, stop, resume with keys), retry, update,
//! delete.

use oms_core::ids::GroupId;
use oms_db::CredentialOwner;
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::support::fixtures::{group_body, start_body, with, without};
use crate::support::harness::TestServer;

#[tokio::test]
async fn a_group_is_created_stopped_and_resumed_with_its_keys() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let db = server.db().await;

    let created = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&group_body()))
        .await;
    let group_id = created.ok()["group_id"].as_str().unwrap().to_owned();
    let owner = CredentialOwner::Group(GroupId::parse(&group_id).unwrap());
    let shown = api.get(&format!("/v2/{p}/taskgroups/{group_id}")).await;
    let g = shown.ok();
    assert_eq!(g["status"], 0);
    assert_eq!(g["task_type"], "PREFIX");
    assert_eq!(g["src_node"]["cloud_type"], "AWS");
    assert_eq!(g["total_task_num"], 0);
    assert!(!shown.text.contains("SRC-SK") && !shown.text.contains("DST-SK"));
    let stored = db
        .load_credentials(owner)
        .await
        .unwrap()
        .expect("a waiting group keeps its keys");
    assert_eq!(stored.destination.sk.expose_secret(), "DST-SK");

    api.put(&format!("/v2/{p}/taskgroups/{group_id}/stop"), None)
        .await
        .ok();
    assert_eq!(
        api.get(&format!("/v2/{p}/taskgroups/{group_id}"))
            .await
            .ok()["status"],
        3
    );
    assert!(
        db.load_credentials(owner).await.unwrap().is_none(),
        "a paused group keeps no credentials"
    );
    api.put(&format!("/v2/{p}/taskgroups/{group_id}/stop"), None)
        .await
        .assert_error(400, "OMS.0066");

    // Resume without destination keys, or without source keys: 400 naming the field, still paused.
    for (body, field) in [
        (without(start_body(), "/dst_ak"), "dst_ak"),
        (without(start_body(), "/src_sk"), "src_sk"),
    ] {
        let reply = api
            .put(&format!("/v2/{p}/taskgroups/{group_id}/start"), Some(&body))
            .await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.msg().contains(field), "{}", reply.msg());
    }
    assert_eq!(
        api.get(&format!("/v2/{p}/taskgroups/{group_id}"))
            .await
            .ok()["status"],
        3
    );
    assert!(db.load_credentials(owner).await.unwrap().is_none());

    api.put(
        &format!("/v2/{p}/taskgroups/{group_id}/start"),
        Some(&start_body()),
    )
    .await
    .ok();
    let resumed = api.get(&format!("/v2/{p}/taskgroups/{group_id}")).await;
    assert_eq!(
        resumed.ok()["status"],
        0,
        "not split yet: it waits for the splitter again"
    );
    let stored = db
        .load_credentials(owner)
        .await
        .unwrap()
        .expect("resumed with keys");
    assert_eq!(stored.destination.sk.expose_secret(), "DST-SK2");
    assert_eq!(
        stored.source.sk.as_ref().unwrap().expose_secret(),
        "SRC-SK2"
    );
    api.put(
        &format!("/v2/{p}/taskgroups/{group_id}/start"),
        Some(&start_body()),
    )
    .await
    .assert_error(400, "OMS.0065");
}

#[tokio::test]
async fn groups_list_update_retry_and_delete() {
    let server = TestServer::start().await;
    let api = server.token_client(&server.a);
    let p = &server.a.id;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = api
            .post(&format!("/v2/{p}/taskgroups"), Some(&group_body()))
            .await;
        ids.push(created.ok()["group_id"].as_str().unwrap().to_owned());
    }
    api.put(&format!("/v2/{p}/taskgroups/{}/stop", ids[0]), None)
        .await
        .ok();

    let all = api.get(&format!("/v2/{p}/taskgroups?limit=2")).await;
    assert_eq!(all.ok()["count"], 3);
    assert_eq!(all.body["taskgroups"].as_array().unwrap().len(), 2);
    assert_eq!(all.body["taskgroups"][0]["group_id"], ids[2].as_str());
    let paused = api.get(&format!("/v2/{p}/taskgroups?status=3")).await;
    assert_eq!(paused.ok()["count"], 1);
    assert_eq!(paused.body["taskgroups"][0]["group_id"], ids[0].as_str());

    let policy = json!({"bandwidth_policy": [{"start": "00:00", "end": "07:30", "max_bandwidth": 52_428_800}]});
    api.put(
        &format!("/v2/{p}/taskgroups/{}/update", ids[1]),
        Some(&policy),
    )
    .await
    .ok();
    let shown = api.get(&format!("/v2/{p}/taskgroups/{}", ids[1])).await;
    assert_eq!(shown.ok()["bandwidth_policy"], policy["bandwidth_policy"]);
    let batch = json!({"group_id": ids[1], "bandwidth_policy": []});
    api.post(&format!("/v2/{p}/tasks/batch-update"), Some(&batch))
        .await
        .ok();

    // Only failed groups are retried; a paused one is resumed with start.
    api.put(
        &format!("/v2/{p}/taskgroups/{}/retry", ids[0]),
        Some(&start_body()),
    )
    .await
    .assert_error(400, "OMS.0064");
    api.put(
        &format!("/v2/{p}/taskgroups/{}/retry", ids[1]),
        Some(&start_body()),
    )
    .await
    .assert_error(400, "OMS.0065");

    api.delete(&format!("/v2/{p}/taskgroups/{}", ids[0]))
        .await
        .ok();
    // A deleted group is a 404 (the Terraform provider counts nothing else as gone).
    api.get(&format!("/v2/{p}/taskgroups/{}", ids[0]))
        .await
        .assert_error(404, "OMS.1009");
    api.put(&format!("/v2/{p}/taskgroups/{}/stop", ids[0]), None)
        .await
        .assert_error(404, "OMS.1009");
    assert_eq!(
        api.get(&format!("/v2/{p}/taskgroups")).await.ok()["count"],
        2
    );
}

#[tokio::test]
async fn group_specific_rules_are_enforced() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    for (body, field) in [
        (
            with(group_body(), "/task_type", json!("object")),
            "task_type",
        ),
        (
            with(group_body(), "/dst_node/cloud_type", json!("AWS")),
            "dst_node.cloud_type",
        ),
        (
            with(group_body(), "/dst_node/kms_key_id", json!("not-a-key")),
            "dst_node.kms_key_id",
        ),
        (
            with(
                with(group_body(), "/task_type", json!("URL_LIST")),
                "/src_node/cloud_type",
                json!("AWS"),
            ),
            "src_node.cloud_type",
        ),
    ] {
        let reply = api.post(&format!("/v2/{p}/taskgroups"), Some(&body)).await;
        reply.assert_error(400, "OMS.0064");
        assert!(reply.msg().contains(field), "{field}: {}", reply.msg());
    }
}

#[tokio::test]
async fn a_url_list_group_behind_a_signed_cdn_needs_the_cdn_key_to_resume() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let url_list = json!({
        "task_type": "URL_LIST",
        "src_node": {"cloud_type": "URLSource", "list_file": {"list_file_key": "urls/", "obs_bucket": "dest-bucket"}},
        "dst_node": {"ak": "DST-AK", "sk": "DST-SK", "region": "cn-north-4", "bucket": "dest-bucket", "cloud_type": "HEC"},
        "source_cdn": {"domain": "cdn.example.com", "protocol": "https", "authentication_type": "TENCENT_COS_A",
                       "authentication_key": "CDN-KEY"},
    });
    let created = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&url_list))
        .await;
    let group_id = created.ok()["group_id"].as_str().unwrap().to_owned();
    let shown = api.get(&format!("/v2/{p}/taskgroups/{group_id}")).await;
    let cdn = json!({"domain": "cdn.example.com", "protocol": "https", "authentication_type": "TENCENT_COS_A"});
    assert_eq!(shown.ok()["source_cdn"], cdn);
    assert!(!shown.text.contains("CDN-KEY"));
    api.put(&format!("/v2/{p}/taskgroups/{group_id}/stop"), None)
        .await
        .ok();

    let reply = api
        .put(
            &format!("/v2/{p}/taskgroups/{group_id}/start"),
            Some(&start_body()),
        )
        .await;
    reply.assert_error(400, "OMS.0064");
    assert!(
        reply.msg().contains("source_cdn_authentication_key"),
        "{}",
        reply.msg()
    );
    assert_eq!(
        api.get(&format!("/v2/{p}/taskgroups/{group_id}"))
            .await
            .ok()["status"],
        3
    );

    // A URL list needs no source keys: any that are sent are not kept.
    let with_key = with(
        start_body(),
        "/source_cdn_authentication_key",
        json!("CDN-KEY-2"),
    );
    api.put(
        &format!("/v2/{p}/taskgroups/{group_id}/start"),
        Some(&with_key),
    )
    .await
    .ok();
    let owner = CredentialOwner::Group(GroupId::parse(&group_id).unwrap());
    let stored = server
        .db()
        .await
        .load_credentials(owner)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.source.sk.is_none());
    assert_eq!(
        stored.cdn_key.as_ref().unwrap().expose_secret(),
        "CDN-KEY-2"
    );
}

#[tokio::test]
async fn a_google_group_resumes_only_with_a_usable_service_account_file() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let account =
        crate::support::fixtures::google_account(crate::support::harness::CLOSED_PORT, None);
    let body = json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "Google", "region": "us", "bucket": "photos",
                     "json_auth_file": account, "object_key": ["2024/"]},
        "dst_node": {"ak": "DST-AK", "sk": "DST-SK", "region": "cn-north-4", "bucket": "dest-bucket"},
    });
    let created = api.post(&format!("/v2/{p}/taskgroups"), Some(&body)).await;
    let group_id = created.ok()["group_id"].as_str().unwrap().to_owned();
    let shown = api.get(&format!("/v2/{p}/taskgroups/{group_id}")).await;
    assert!(
        !shown.text.contains("oms@example"),
        "the JSON is never shown"
    );
    api.put(&format!("/v2/{p}/taskgroups/{group_id}/stop"), None)
        .await
        .ok();
    let start = format!("/v2/{p}/taskgroups/{group_id}/start");
    let dst_only = json!({"dst_ak": "DST-AK", "dst_sk": "DST-SK"});
    for (json_auth_file, why) in [
        (None, "is required"),
        (Some(json!("{not json")), "not valid JSON"),
        (
            Some(json!(json!({"private_key": "x"}).to_string())),
            "client_email",
        ),
    ] {
        let mut start_body = dst_only.clone();
        if let Some(file) = json_auth_file {
            start_body["json_auth_file"] = file;
        }
        let reply = api.put(&start, Some(&start_body)).await;
        reply.assert_error(400, "OMS.0064");
        assert!(
            reply.msg().contains("json_auth_file") && reply.msg().contains(why),
            "{}",
            reply.msg()
        );
    }
    assert_eq!(
        api.get(&format!("/v2/{p}/taskgroups/{group_id}"))
            .await
            .ok()["status"],
        3,
        "refused resumes change nothing"
    );
    let mut good = dst_only;
    good["json_auth_file"] = json!(account);
    api.put(&start, Some(&good)).await.ok();
}
