//! What every install serves: versions, probes, the OpenAPI document.

use crate::harness::{Auth, TestServer};

#[tokio::test]
async fn versions_are_listed_and_shown_without_authentication() {
    let server = TestServer::start().await;
    let api = server.client(Auth::None);
    let list = api.get("/").await;
    assert_eq!(list.ok()["versions"][0]["id"], "v2");
    assert_eq!(list.body["versions"][0]["status"], "CURRENT");
    assert_eq!(
        list.body["versions"][0]["links"][0]["href"],
        format!("http://{}/v2/", server.host)
    );
    assert_eq!(api.get("/v2").await.ok()["id"], "v2");
    api.get("/v7").await.assert_error(400, "OMS.1009");
    api.get("/version-two").await.assert_error(400, "OMS.0064");
}

#[tokio::test]
async fn probes_and_the_api_document_are_served() {
    let server = TestServer::start().await;
    let api = server.client(Auth::None);
    assert_eq!(api.get("/healthz").await.ok()["status"], "ok");
    assert_eq!(api.get("/readyz").await.ok()["status"], "ok");
    let doc = api.get("/openapi.json").await;
    let paths = doc.ok()["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v2/{project_id}/taskgroups/{group_id}/start"));
    assert!(doc.body["components"]["securitySchemes"]["aksk"].is_object());
    let ui = api
        .raw(reqwest::Method::GET, "/docs/", None, Vec::new())
        .await;
    assert_eq!(ui.status, 200);
    assert!(
        ui.text.contains("swagger"),
        "{}",
        &ui.text[..ui.text.len().min(200)]
    );
}
