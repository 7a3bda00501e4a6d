//! The route table: every route of the API, in one list that both the router and the OpenAPI
//! test read.

pub mod groups;
pub mod health;
pub mod tasks;
pub mod versions;

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::auth::token;
use crate::state::AppState;

/// Whether a route needs an authenticated caller of the path's project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A caller of `{project_id}`.
    Project,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path, with `{name}` captures (the same syntax as OpenAPI).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

fn route(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

/// Every route of the API.
pub fn table() -> Vec<Route> {
    use Access::{Project, Public};
    vec![
        route(Method::GET, "/", Public, get(versions::list_versions)),
        route(
            Method::GET,
            "/{version}",
            Public,
            get(versions::show_version).fallback(versions::other_method),
        ),
        route(Method::GET, "/healthz", Public, get(health::healthz)),
        route(Method::GET, "/readyz", Public, get(health::readyz)),
        route(
            Method::POST,
            "/v3/auth/tokens",
            Public,
            post(token::issue_token),
        ),
        route(
            Method::POST,
            "/v2/{project_id}/tasks",
            Project,
            post(tasks::create_task),
        ),
        route(
            Method::GET,
            "/v2/{project_id}/tasks",
            Project,
            get(tasks::list_tasks),
        ),
        route(
            Method::POST,
            "/v2/{project_id}/tasks/batch-update",
            Project,
            post(tasks::batch_update_tasks),
        ),
        route(
            Method::GET,
            "/v2/{project_id}/tasks/{task_id}",
            Project,
            get(tasks::show_task),
        ),
        route(
            Method::DELETE,
            "/v2/{project_id}/tasks/{task_id}",
            Project,
            delete(tasks::delete_task),
        ),
        route(
            Method::GET,
            "/v2/{project_id}/tasks/{task_id}/failed-objects",
            Project,
            get(tasks::list_failed_objects),
        ),
        route(
            Method::POST,
            "/v2/{project_id}/tasks/{task_id}/start",
            Project,
            post(tasks::start_task),
        ),
        route(
            Method::POST,
            "/v2/{project_id}/tasks/{task_id}/stop",
            Project,
            post(tasks::stop_task),
        ),
        route(
            Method::PUT,
            "/v2/{project_id}/tasks/{task_id}/bandwidth-policy",
            Project,
            put(tasks::update_bandwidth_policy),
        ),
        route(
            Method::POST,
            "/v2/{project_id}/taskgroups",
            Project,
            post(groups::create_group),
        ),
        route(
            Method::GET,
            "/v2/{project_id}/taskgroups",
            Project,
            get(groups::list_groups),
        ),
        route(
            Method::GET,
            "/v2/{project_id}/taskgroups/{group_id}",
            Project,
            get(groups::show_group),
        ),
        route(
            Method::DELETE,
            "/v2/{project_id}/taskgroups/{group_id}",
            Project,
            delete(groups::delete_group),
        ),
        route(
            Method::PUT,
            "/v2/{project_id}/taskgroups/{group_id}/start",
            Project,
            put(groups::start_group),
        ),
        route(
            Method::PUT,
            "/v2/{project_id}/taskgroups/{group_id}/stop",
            Project,
            put(groups::stop_group),
        ),
        route(
            Method::PUT,
            "/v2/{project_id}/taskgroups/{group_id}/retry",
            Project,
            put(groups::retry_group),
        ),
        route(
            Method::PUT,
            "/v2/{project_id}/taskgroups/{group_id}/update",
            Project,
            put(groups::update_group),
        ),
    ]
}
