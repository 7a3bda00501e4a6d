//! The router serves exactly what the document describes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use oms_db::{Db, DbOptions, MasterKey, Sealer};
use secrecy::SecretString;
use tower::ServiceExt as _;

use super::*;
use crate::auth::{AuthSettings, Authenticator};
use crate::state::{ApiLimits, AppState};

/// Paths the router serves besides the API: the document itself, Swagger UI and the console.
const DOCUMENTATION_PATHS: [&str; 7] = [
    "/openapi.json",
    "/docs",
    "/docs/",
    "/docs/{*rest}",
    "/console",
    "/console/",
    "/console/{file}",
];
/// The methods probed on every path.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

async fn test_router(dir: &tempfile::TempDir) -> Router {
    let master = MasterKey::generate().unwrap();
    let url = format!("sqlite://{}/oms.db", dir.path().display());
    let db = Db::connect(&url, &DbOptions::default(), Sealer::new(&master).unwrap())
        .await
        .unwrap();
    let auth = Authenticator::new(AuthSettings {
        users: Vec::new(),
        access_keys: Vec::new(),
        token_signing_key: SecretString::from("k".repeat(64)),
        token_ttl: Duration::from_secs(60),
        max_clock_skew: Duration::from_secs(60),
        logins: crate::auth::logins::LoginLimits::default(),
    });
    let state = AppState {
        db,
        auth: Arc::new(auth),
        limits: ApiLimits::default(),
        stores: None,
        read_cache: None,
    };
    crate::router(state, Duration::from_secs(30))
}

/// The paths of the router's table, from its `Debug` output (axum has no other way to list
/// them): the quoted strings of every `Node { paths: {RouteId(n): "/path", ...} }`.
fn served_paths(router: &Router) -> BTreeSet<String> {
    const NODE: &str = "Node { paths: {";
    let debug = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for node in debug.split(NODE).skip(1) {
        let mut rest = node;
        // Each entry: `RouteId(n): "path"`, then `, ` or the closing `}`.
        while let Some(entry) = rest.strip_prefix("RouteId(") {
            let (_, quoted) = entry.split_once(": \"").unwrap();
            let end = quoted.find('"').unwrap();
            paths.insert(quoted[..end].to_owned());
            rest = quoted[end + 1..].trim_start_matches(", ");
        }
    }
    paths
}

/// The documented operations, as (method, path).
fn documented() -> BTreeSet<(Method, String)> {
    let doc = crate::openapi::document();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            operations.insert((method, path.clone()));
        }
    }
    operations
}

/// A concrete path for a path template.
fn example(template: &str) -> String {
    template
        .replace("{project_id}", "p1")
        .replace("{task_id}", "123456789012345")
        .replace("{group_id}", "157ece42-3270-4824-a3d2-f0187a03ca01")
        .replace("{version}", "v2")
}

/// The status and OMS code of a request without credentials.
async fn probe(router: &Router, method: Method, path: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error_code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

#[tokio::test]
async fn every_route_of_the_router_is_documented_and_every_documented_route_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_router(&dir).await;
    let documented = documented();
    assert!(documented.len() > 20, "{documented:?}");

    let documented_paths: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    let served = served_paths(&router);
    assert!(
        DOCUMENTATION_PATHS.iter().all(|p| served.contains(*p)),
        "the router's table was not read: {served:?}"
    );
    let served: BTreeSet<String> = served
        .into_iter()
        .filter(|p| !DOCUMENTATION_PATHS.contains(&p.as_str()))
        // How axum routes its fallback; not a route of ours.
        .filter(|p| !p.contains("__private__axum"))
        .collect();
    assert_eq!(served, documented_paths, "served paths vs documented paths");

    for path in &documented_paths {
        for method in METHODS {
            let (status, code) = probe(&router, method.clone(), &example(path)).await;
            let routed = !(status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND && code == "APIGW.0101"));
            let is_documented = documented.contains(&(method.clone(), path.clone()));
            assert_eq!(
                routed, is_documented,
                "{method} {path}: {status} {code} (documented: {is_documented})"
            );
            if !is_documented {
                assert_eq!(code, "OMS.0005", "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn project_routes_need_a_caller_and_public_routes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_router(&dir).await;
    let project = project().into_openapi();
    for (path, item) in &project.paths.paths {
        assert!(path.starts_with(PROJECT_PREFIX), "{path}");
        for operation in [&item.get, &item.post, &item.put, &item.delete]
            .into_iter()
            .flatten()
        {
            assert!(operation.security.is_some(), "{path} has no security");
        }
    }
    for (method, path) in documented() {
        let (status, code) = probe(&router, method.clone(), &example(&path)).await;
        // A sync task's notification URL is public (a store posts it) but checks its own token.
        let needs_caller = project.paths.paths.contains_key(&path)
            || path == "/v2/{project_id}/sync-tasks/{sync_task_id}/notifications";
        assert_eq!(
            status == StatusCode::UNAUTHORIZED,
            needs_caller,
            "{method} {path}: {status} {code}"
        );
    }
}

#[test]
fn every_path_parameter_is_documented_once() {
    let doc = crate::openapi::document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let captures: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let unique: BTreeSet<&str> = declared.iter().copied().collect();
            assert_eq!(
                unique.len(),
                declared.len(),
                "{method} {path}: {declared:?}"
            );
            assert_eq!(unique, captures, "{method} {path}");
        }
    }
}
