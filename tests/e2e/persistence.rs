//! What survives a restart, what is never stored or shown in clear, and what expires.

use std::time::Duration;

use oms_core::ids::TaskId;
use oms_db::CredentialOwner;
use serde_json::json;
use sqlx::{Connection as _, Row as _};

use crate::support::fixtures::{group_body, start_body, task_body, with};
use crate::support::harness::{Overrides, TestServer, captured_logs, eventually, on_postgres};

#[tokio::test]
async fn a_restart_loses_nothing() {
    let mut server = TestServer::start().await;
    let p = server.a.id.clone();
    let token = server.token_at(&server.a, std::time::SystemTime::now());
    let (task, group, task_before, group_before) = {
        let api = server.signed_client(&server.a);
        let task = api
            .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
            .await
            .ok()["id"]
            .as_i64()
            .unwrap();
        let group = api
            .post(&format!("/v2/{p}/taskgroups"), Some(&group_body()))
            .await
            .ok()["group_id"]
            .as_str()
            .unwrap()
            .to_owned();
        api.put(&format!("/v2/{p}/taskgroups/{group}/stop"), None)
            .await
            .ok();
        let task_before = api.get(&format!("/v2/{p}/tasks/{task}")).await.body;
        let group_before = api.get(&format!("/v2/{p}/taskgroups/{group}")).await.body;
        (task, group, task_before, group_before)
    };

    server.restart().await;

    // The token issued before the restart still works: the master key persisted.
    let api = server.client(crate::support::harness::Auth::Token(token));
    assert_eq!(
        api.get(&format!("/v2/{p}/tasks/{task}")).await.ok(),
        &task_before
    );
    assert_eq!(
        api.get(&format!("/v2/{p}/taskgroups/{group}")).await.ok(),
        &group_before
    );
    assert!(
        server
            .db()
            .await
            .load_credentials(CredentialOwner::Task(TaskId::new(task).unwrap()))
            .await
            .unwrap()
            .is_some()
    );
    api.put(
        &format!("/v2/{p}/taskgroups/{group}/start"),
        Some(&start_body()),
    )
    .await
    .ok();
}

/// Every stored byte of the database, as text.
pub(crate) async fn database_dump(server: &TestServer) -> String {
    if on_postgres() {
        let mut conn = sqlx::AnyConnection::connect(&server.db_url).await.unwrap();
        let tables: Vec<String> = sqlx::query(
            "select cast(table_name as text) as table_name from information_schema.tables where table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("table_name").unwrap())
        .collect();
        let mut dump = String::new();
        for table in tables {
            let sql = format!("select cast(row_to_json(t) as text) as row from {table} t");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                dump.push_str(&row.try_get::<String, _>("row").unwrap());
            }
        }
        dump
    } else {
        let mut dump = String::new();
        for entry in std::fs::read_dir(server.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("oms.db")
            {
                dump.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
            }
        }
        dump
    }
}

#[tokio::test]
async fn secret_keys_appear_in_no_response_log_or_database_row() {
    let server = TestServer::start().await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let (src_sk, dst_sk, cdn_key, resume_sk) = (
        format!("SRCSK{marker}"),
        format!("DSTSK{marker}"),
        format!("CDNKEY{marker}"),
        format!("RESUMESK{marker}"),
    );
    let body = with(
        with(
            with(task_body(), "/src_node/sk", json!(src_sk)),
            "/dst_node/sk",
            json!(dst_sk),
        ),
        "/source_cdn",
        json!({"domain": "cdn.example.com", "protocol": "https", "authentication_type": "ALIYUN_OSS_C", "authentication_key": cdn_key}),
    );
    let mut responses = Vec::new();
    let created = api.post(&format!("/v2/{p}/tasks"), Some(&body)).await;
    let id = created.ok()["id"].as_i64().unwrap();
    responses.push(created.text);
    let group = api
        .post(
            &format!("/v2/{p}/taskgroups"),
            Some(&with(group_body(), "/dst_node/sk", json!(dst_sk))),
        )
        .await;
    let group_id = group.ok()["group_id"].as_str().unwrap().to_owned();
    responses.push(group.text);
    let resume = with(
        with(start_body(), "/dst_sk", json!(resume_sk)),
        "/source_cdn_authentication_key",
        json!(cdn_key),
    );
    for reply in [
        api.get(&format!("/v2/{p}/tasks/{id}")).await,
        api.get(&format!("/v2/{p}/tasks")).await,
        api.post(&format!("/v2/{p}/tasks/{id}/stop"), None).await,
        api.post(
            &format!("/v2/{p}/tasks/{id}/start"),
            Some(&with(resume.clone(), "/dst_ak", json!("x<y"))),
        )
        .await,
        api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&resume))
            .await,
        api.get(&format!("/v2/{p}/taskgroups/{group_id}")).await,
        api.get(&format!("/v2/{p}/taskgroups")).await,
        api.put(&format!("/v2/{p}/taskgroups/{group_id}/stop"), None)
            .await,
        api.put(
            &format!("/v2/{p}/taskgroups/{group_id}/start"),
            Some(&resume),
        )
        .await,
    ] {
        responses.push(reply.text);
    }
    // The task now waits with sealed credentials: they are stored, but not in clear.
    let stored = server
        .db()
        .await
        .load_credentials(CredentialOwner::Task(TaskId::new(id).unwrap()))
        .await
        .unwrap();
    assert!(stored.is_some());

    let logs = captured_logs();
    let dump = database_dump(&server).await;
    assert!(
        !dump.is_empty() && logs.contains("task created"),
        "the checks must look at real data"
    );
    for secret in [&src_sk, &dst_sk, &cdn_key, &resume_sk] {
        for text in &responses {
            assert!(
                !text.contains(secret.as_str()),
                "a response shows a secret: {text}"
            );
        }
        assert!(!logs.contains(secret.as_str()), "a log line shows a secret");
        assert!(
            !dump.contains(secret.as_str()),
            "the database holds a secret in clear"
        );
    }
}

#[tokio::test]
async fn tasks_waiting_beyond_the_retention_fail_and_lose_their_keys() {
    let server = TestServer::start_with(Overrides {
        waiting_expiry_secs: Some(3),
        sweep_interval_secs: Some(1),
        ..Overrides::default()
    })
    .await;
    let api = server.signed_client(&server.a);
    let p = &server.a.id;
    let id = api
        .post(&format!("/v2/{p}/tasks"), Some(&task_body()))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let group = api
        .post(&format!("/v2/{p}/taskgroups"), Some(&group_body()))
        .await
        .ok()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let expired = eventually(Duration::from_secs(15), async || {
        api.get(&format!("/v2/{p}/tasks/{id}")).await.body["status"] == 4
            && api.get(&format!("/v2/{p}/taskgroups/{group}")).await.body["status"] == 4
    })
    .await;
    assert!(expired, "the waiting task and group should have expired");
    let task = api.get(&format!("/v2/{p}/tasks/{id}")).await;
    assert_eq!(task.body["error_reason"]["error_code"], "TRF.0003");
    let db = server.db().await;
    // Each queued its FAILURE notification, as a failure by a worker does (no worker runs here
    // to deliver them: they wait in the outbox).
    let mut queued = Vec::new();
    while let Some(n) = db.claim_notification("test", 60_000).await.unwrap() {
        queued.push((n.subject.as_str(), n.owner_id, n.trigger.as_str()));
    }
    queued.sort();
    assert_eq!(
        queued,
        [
            ("group", group.clone(), "FAILURE"),
            ("task", id.to_string(), "FAILURE")
        ]
    );
    assert!(
        db.load_credentials(CredentialOwner::Task(TaskId::new(id).unwrap()))
            .await
            .unwrap()
            .is_none()
    );
    // Both can be run again with their keys: the task started, the group retried (its
    // splitting failed, status 4).
    api.post(&format!("/v2/{p}/tasks/{id}/start"), Some(&start_body()))
        .await
        .ok();
    api.put(
        &format!("/v2/{p}/taskgroups/{group}/retry"),
        Some(&start_body()),
    )
    .await
    .ok();
    let retried = api.get(&format!("/v2/{p}/taskgroups/{group}")).await;
    assert!(retried.ok().get("error_reason").is_none());
    let owner = CredentialOwner::Group(oms_core::ids::GroupId::parse(&group).unwrap());
    assert!(db.load_credentials(owner).await.unwrap().is_some());
}
