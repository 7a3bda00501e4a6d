//! The OpenAPI document, served at `/openapi.json` with Swagger UI at `/docs`.

use oms_core::wire::ErrorBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::auth::token;
use crate::routes::{groups, health, tasks, versions};

/// The error responses every authenticated route may give, all in the OMS error shape.
#[derive(Debug, IntoResponses)]
pub enum ErrorResponses {
    /// Invalid request (OMS.0064, OMS.0067, OMS.1010), no such task (OMS.1009), or a verb the
    /// current status does not allow (OMS.0063, OMS.0065, OMS.0066, OMS.0070).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No such task group (OMS.1009), or no such API (APIGW.0101).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Missing, expired or invalid token or signature (APIGW.0301).
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// The credentials belong to another project (APIGW.0302).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Internal error (OMS.9999); the cause is in the server log.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The database is unavailable (OMS.0503).
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A token from POST /v3/auth/tokens (or `omsd token`)",
            ))),
        );
        components.add_security_scheme(
            "aksk",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=..., Signature=... with X-Sdk-Date, as the Huawei Cloud SDKs sign",
            ))),
        );
    }
}

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "OMS", description = "Self-hosted Object Migration Service, wire-compatible with Huawei Cloud OMS API v2"),
    paths(
        versions::list_versions, versions::show_version,
        health::healthz, health::readyz,
        token::issue_token,
        tasks::create_task, tasks::list_tasks, tasks::show_task, tasks::delete_task,
        tasks::start_task, tasks::stop_task, tasks::update_bandwidth_policy, tasks::batch_update_tasks,
        tasks::list_failed_objects,
        groups::create_group, groups::list_groups, groups::show_group, groups::delete_group,
        groups::start_group, groups::stop_group, groups::retry_group, groups::update_group,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "tasks", description = "Migration tasks"),
        (name = "taskgroups", description = "Task groups"),
        (name = "auth", description = "Tokens"),
        (name = "versions", description = "API versions"),
        (name = "health", description = "Probes"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes;

    #[test]
    fn every_route_of_the_router_is_documented() {
        let doc = ApiDoc::openapi();
        for route in routes::table() {
            let item = doc
                .paths
                .paths
                .get(route.path)
                .unwrap_or_else(|| panic!("{} is not documented", route.path));
            let documented = match route.method.as_str() {
                "GET" => item.get.is_some(),
                "POST" => item.post.is_some(),
                "PUT" => item.put.is_some(),
                "DELETE" => item.delete.is_some(),
                other => panic!("unexpected method {other}"),
            };
            assert!(
                documented,
                "{} {} is not documented",
                route.method, route.path
            );
        }
    }

    #[test]
    fn every_documented_route_exists() {
        let table = routes::table();
        let doc = ApiDoc::openapi();
        for (path, item) in &doc.paths.paths {
            for (method, present) in [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("DELETE", item.delete.is_some()),
            ] {
                if present {
                    assert!(
                        table
                            .iter()
                            .any(|r| r.path == path && r.method.as_str() == method),
                        "{method} {path} is documented but not routed"
                    );
                }
            }
        }
    }
}
