//! Authentication and project isolation.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::json;

use crate::support::fixtures::{group_body, start_body, task_body};
use crate::support::harness::{Auth, PASSWORD, TestServer, sdk_date};

fn login(user: &str, password: &str, project: &str) -> serde_json::Value {
    json!({"auth": {"identity": {"methods": ["password"],
                                 "password": {"user": {"name": user, "password": password, "domain": {"name": "any"}}}},
                    "scope": {"project": {"id": project}}}})
}

#[tokio::test]
async fn a_password_login_issues_a_token_the_api_accepts() {
    let server = TestServer::start().await;
    let anonymous = server.client(Auth::None);
    let reply = anonymous
        .post(
            "/v3/auth/tokens",
            Some(&login(&server.a.user, PASSWORD, &server.a.id)),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.headers["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(reply.body["token"]["project"]["id"], server.a.id.as_str());
    assert_eq!(reply.body["token"]["user"]["name"], server.a.user.as_str());
    assert!(
        reply.body["token"]["expires_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let api = server.client(Auth::Token(token));
    api.get(&format!("/v2/{}/tasks", server.a.id)).await.ok();

    anonymous
        .post(
            "/v3/auth/tokens",
            Some(&login(&server.a.user, "wrong", &server.a.id)),
        )
        .await
        .assert_error(401, "APIGW.0301");
    anonymous
        .post(
            "/v3/auth/tokens",
            Some(&login("nobody", PASSWORD, &server.a.id)),
        )
        .await
        .assert_error(401, "APIGW.0301");
    anonymous
        .post(
            "/v3/auth/tokens",
            Some(&login(&server.a.user, PASSWORD, &server.b.id)),
        )
        .await
        .assert_error(403, "APIGW.0302");
    anonymous
        .post("/v3/auth/tokens", Some(&json!({"auth": {}})))
        .await
        .assert_error(400, "OMS.0064");
}

#[tokio::test]
async fn missing_bad_and_expired_credentials_are_401() {
    let server = TestServer::start().await;
    let path = format!("/v2/{}/tasks", server.a.id);
    server
        .client(Auth::None)
        .get(&path)
        .await
        .assert_error(401, "APIGW.0301");
    server
        .client(Auth::Token("not-a-token".into()))
        .get(&path)
        .await
        .assert_error(401, "APIGW.0301");

    let expired = server.token_at(&server.a, SystemTime::now() - Duration::from_secs(7200));
    let reply = server.client(Auth::Token(expired)).get(&path).await;
    reply.assert_error(401, "APIGW.0301");
    assert!(reply.msg().contains("expired"), "{}", reply.msg());

    let wrong_sk = Auth::Signed {
        ak: server.a.ak.clone(),
        sk: "WRONG".into(),
        project: server.a.id.clone(),
    };
    server
        .client(wrong_sk)
        .get(&path)
        .await
        .assert_error(401, "APIGW.0301");
    let unknown_ak = Auth::Signed {
        ak: "NOSUCHKEY".into(),
        sk: server.a.sk.clone(),
        project: server.a.id.clone(),
    };
    server
        .client(unknown_ak)
        .get(&path)
        .await
        .assert_error(401, "APIGW.0301");
}

#[tokio::test]
async fn signatures_cover_the_body_and_the_date() {
    let server = TestServer::start().await;
    let path = format!("/v2/{}/tasks", server.a.id);
    let http = reqwest::Client::new();
    let body = serde_json::to_vec(&task_body()).unwrap();
    let sign = |date: &str, body: &[u8]| {
        oms_api::auth::signature::sign(
            &server.a.ak,
            server.a.sk.as_bytes(),
            "POST",
            &path,
            None,
            &[
                ("content-type", "application/json"),
                ("host", server.host.as_str()),
                ("x-sdk-date", date),
            ],
            body,
        )
    };
    let send = async |date: String, authorization: String, body: Vec<u8>| {
        let reply = http
            .post(format!("{}{path}", server.base))
            .header("content-type", "application/json")
            .header("x-sdk-date", date)
            .header("authorization", authorization)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let body: serde_json::Value = reply.json().await.unwrap();
        (
            status,
            body["error_code"].as_str().unwrap_or_default().to_owned(),
        )
    };

    let now = sdk_date(SystemTime::now());
    assert_eq!(
        send(now.clone(), sign(&now, &body), body.clone()).await.0,
        200
    );

    // The same signature over another body.
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[at] = b'2';
    assert_eq!(
        send(now.clone(), sign(&now, &body), tampered).await,
        (401, "APIGW.0301".to_owned())
    );

    // A correctly signed request from 20 minutes ago (beyond the allowed clock skew).
    let old = sdk_date(SystemTime::now() - Duration::from_secs(20 * 60));
    assert_eq!(
        send(old.clone(), sign(&old, &body), body.clone()).await,
        (401, "APIGW.0301".to_owned())
    );
}

#[tokio::test]
async fn another_projects_credentials_are_403_and_its_resources_look_missing() {
    let server = TestServer::start().await;
    let (a, b) = (&server.a, &server.b);
    let b_api = server.signed_client(b);
    let task_b = b_api
        .post(&format!("/v2/{}/tasks", b.id), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let group_b = b_api
        .post(&format!("/v2/{}/taskgroups", b.id), Some(&group_body()))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for a_api in [server.token_client(a), server.signed_client(a)] {
        // A's credentials on B's paths: 403.
        a_api
            .get(&format!("/v2/{}/tasks", b.id))
            .await
            .assert_error(403, "APIGW.0302");
        a_api
            .get(&format!("/v2/{}/tasks/{task_b}", b.id))
            .await
            .assert_error(403, "APIGW.0302");
        a_api
            .delete(&format!("/v2/{}/taskgroups/{group_b}", b.id))
            .await
            .assert_error(403, "APIGW.0302");

        // B's resources through A's paths: exactly as missing ones.
        let (ta, tg) = (
            format!("/v2/{}/tasks/{task_b}", a.id),
            format!("/v2/{}/taskgroups/{group_b}", a.id),
        );
        a_api.get(&ta).await.assert_error(400, "OMS.1009");
        a_api
            .post(&format!("{ta}/stop"), None)
            .await
            .assert_error(400, "OMS.1009");
        a_api
            .post(&format!("{ta}/start"), Some(&start_body()))
            .await
            .assert_error(400, "OMS.1009");
        a_api
            .put(
                &format!("{ta}/bandwidth-policy"),
                Some(&json!({"bandwidth_policy": []})),
            )
            .await
            .assert_error(400, "OMS.1009");
        a_api.delete(&ta).await.assert_error(400, "OMS.1009");
        a_api.get(&tg).await.assert_error(404, "OMS.1009");
        a_api
            .put(&format!("{tg}/stop"), None)
            .await
            .assert_error(404, "OMS.1009");
        a_api
            .put(&format!("{tg}/start"), Some(&start_body()))
            .await
            .assert_error(404, "OMS.1009");
        a_api
            .put(&format!("{tg}/retry"), Some(&start_body()))
            .await
            .assert_error(404, "OMS.1009");
        a_api
            .put(
                &format!("{tg}/update"),
                Some(&json!({"bandwidth_policy": []})),
            )
            .await
            .assert_error(404, "OMS.1009");
        a_api.delete(&tg).await.assert_error(404, "OMS.1009");
        let batch = json!({"ids": [task_b], "bandwidth_policy": []});
        a_api
            .post(&format!("/v2/{}/tasks/batch-update", a.id), Some(&batch))
            .await
            .assert_error(400, "OMS.1009");
        let batch = json!({"group_id": group_b, "bandwidth_policy": []});
        a_api
            .post(&format!("/v2/{}/tasks/batch-update", a.id), Some(&batch))
            .await
            .assert_error(400, "OMS.1009");
        assert_eq!(
            a_api.get(&format!("/v2/{}/tasks", a.id)).await.ok()["count"],
            0
        );
        assert_eq!(
            a_api.get(&format!("/v2/{}/taskgroups", a.id)).await.ok()["count"],
            0
        );
    }

    // B's task and group are untouched.
    assert_eq!(
        b_api
            .get(&format!("/v2/{}/tasks/{task_b}", b.id))
            .await
            .ok()["status"],
        1
    );
    assert_eq!(
        b_api
            .get(&format!("/v2/{}/taskgroups/{group_b}", b.id))
            .await
            .ok()["status"],
        0
    );
}

#[tokio::test]
async fn a_signature_naming_another_project_is_403() {
    let server = TestServer::start().await;
    let claims_b = Auth::Signed {
        ak: server.a.ak.clone(),
        sk: server.a.sk.clone(),
        project: server.b.id.clone(),
    };
    let reply = server
        .client(claims_b)
        .call(Method::GET, &format!("/v2/{}/tasks", server.a.id), None)
        .await;
    reply.assert_error(403, "APIGW.0302");
}

#[tokio::test]
async fn tokens_of_users_or_projects_the_configuration_no_longer_has_are_refused() {
    let server = TestServer::start().await;
    let as_token = |user: &str, project: &str| {
        let subject = crate::support::harness::Project {
            id: project.to_owned(),
            user: user.to_owned(),
            ak: String::new(),
            sk: String::new(),
        };
        server.client(Auth::Token(server.token_at(&subject, SystemTime::now())))
    };
    let tasks = |project: &str| format!("/v2/{project}/tasks");
    // The configured user in the configured project, and the operator in a served project.
    as_token(&server.a.user, &server.a.id)
        .get(&tasks(&server.a.id))
        .await
        .ok();
    as_token(oms_api::auth::token::OPERATOR_SUBJECT, &server.b.id)
        .get(&tasks(&server.b.id))
        .await
        .ok();
    // A user removed from [[auth.users]], a user moved to another project, the operator in a
    // project nobody works in: signed with the right key, refused all the same.
    let unserved = "0123456789abcdef0123456789abcdef";
    for (user, project) in [
        ("removed-user", server.a.id.as_str()),
        (server.a.user.as_str(), server.b.id.as_str()),
        (oms_api::auth::token::OPERATOR_SUBJECT, unserved),
    ] {
        let reply = as_token(user, project).get(&tasks(project)).await;
        reply.assert_error(401, "APIGW.0301");
        assert!(reply.msg().contains("no longer serves"), "{}", reply.text);
    }
}
