//! The OpenAPI document, served at `/openapi.json` with Swagger UI at `/docs`.

use oms_core::wire::ErrorBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::routes;

mod rules;

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
    /// Too many of the project's tasks wait for a worker (APIGW.0308, with `Retry-After`).
    #[response(status = 429)]
    Throttled(ErrorBody),
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

/// What the document says besides its operations: title, security schemes and tags. The
/// operations come from the route list ([`crate::routes`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "OMS", description = "Self-hosted Object Migration Service, wire-compatible with Huawei Cloud OMS API v2"),
    modifiers(&SecuritySchemes),
    tags(
        (name = "tasks", description = "Migration tasks"),
        (name = "taskgroups", description = "Task groups"),
        (name = "catalogue", description = "Clouds, regions and buckets, asked before a task is created"),
        (name = "sync-tasks", description = "Sync tasks: keep a destination in step with a live source"),
        (name = "auth", description = "Tokens"),
        (name = "versions", description = "API versions"),
        (name = "health", description = "Probes"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document of the routes in `routes` (their operations and schemas): [`ApiDoc`] with
/// them, and the rules between fields that JSON Schema states but the derives cannot
/// (`rules`).
pub fn document_of(routes: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes);
    #[expect(
        clippy::expect_used,
        reason = "a document of string-keyed maps always serializes; this runs at start-up"
    )]
    let mut doc = serde_json::to_value(&doc).expect("the OpenAPI document serializes");
    rules::apply(&mut doc);
    doc
}

/// The API's OpenAPI document, as `/openapi.json` serves it.
pub fn document() -> serde_json::Value {
    document_of(routes::public().merge(routes::project()).into_openapi())
}
