//! The route list: every route of the API, once. Each entry names a handler; the handler's
//! `#[utoipa::path]` says its method, path and OpenAPI operation, and `routes!` takes both the
//! route and the operation from it, so the router and the document cannot disagree.
//!
//! Who may call a route is which list it is in: [`public`] routes answer anyone, [`project`]
//! routes (`/v2/{project_id}/...`) only an authenticated caller of that project. The router
//! puts authentication and the read cache in front of the project list
//! ([`crate::router`]), and the document gets the project routes' security and `{project_id}`
//! parameter from [`project`] too.

pub mod catalogue;
pub mod groups;
pub mod health;
pub mod sync;
pub mod sync_intake;
pub mod tasks;
pub mod versions;

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, RefOr, Schema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

use crate::auth::token;
use crate::extract::path::path_parameter;
use crate::state::AppState;

/// The prefix of every project route; `require_caller` checks its `{project_id}`.
pub const PROJECT_PREFIX: &str = "/v2/{project_id}/";

/// The routes anyone may call.
pub fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(versions::list_versions))
        .routes(routes!(versions::show_version).map(|m| m.fallback(versions::other_method)))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(token::issue_token))
        .routes(routes!(sync_intake::post_notification))
}

/// The routes of a project, for authenticated callers of that project; in the document each
/// operation gets the `{project_id}` parameter and the token and AK/SK security schemes.
pub fn project() -> OpenApiRouter<AppState> {
    let mut routes = OpenApiRouter::default()
        .routes(routes!(tasks::create_task))
        .routes(routes!(tasks::list_tasks))
        .routes(routes!(tasks::batch_update_tasks))
        .routes(routes!(tasks::show_task))
        .routes(routes!(tasks::delete_task))
        .routes(routes!(tasks::list_failed_objects))
        .routes(routes!(tasks::show_manifest))
        .routes(routes!(tasks::start_task))
        .routes(routes!(tasks::stop_task))
        .routes(routes!(tasks::update_bandwidth_policy))
        .routes(routes!(groups::create_group))
        .routes(routes!(groups::list_groups))
        .routes(routes!(groups::show_group))
        .routes(routes!(groups::delete_group))
        .routes(routes!(groups::start_group))
        .routes(routes!(groups::stop_group))
        .routes(routes!(groups::retry_group))
        .routes(routes!(groups::update_group))
        .routes(routes!(catalogue::show_bucket_list))
        .routes(routes!(catalogue::show_bucket_objects))
        .routes(routes!(catalogue::show_bucket_region))
        .routes(routes!(catalogue::check_prefix))
        .routes(routes!(catalogue::check_url_source_list_file_format))
        .routes(routes!(catalogue::show_cdn_info))
        .routes(routes!(catalogue::show_cloud_type))
        .routes(routes!(catalogue::show_region_info))
        .routes(routes!(catalogue::update_privacy_agreement_record))
        .routes(routes!(sync::create_sync_task))
        .routes(routes!(sync::list_sync_tasks))
        .routes(routes!(sync::show_sync_task))
        .routes(routes!(sync::delete_sync_task))
        .routes(routes!(sync::start_sync_task))
        .routes(routes!(sync::stop_sync_task))
        .routes(routes!(sync::create_sync_events))
        .routes(routes!(sync::list_sync_task_statistic));
    document_project_access(routes.get_openapi_mut());
    routes
}

/// Every operation of `doc`.
pub(crate) fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.options.as_mut(),
            item.head.as_mut(),
            item.patch.as_mut(),
            item.trace.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// What every project operation shares: the `{project_id}` parameter (first), and the
/// credentials it takes.
fn document_project_access(doc: &mut OpenApi) {
    let project_id = path_parameter(
        "project_id",
        "Project id: the caller's project (APIGW.0302 otherwise)",
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(oms_core::ids::ProjectId::MAX_LEN))
                .pattern(Some("^[A-Za-z0-9_-]+$"))
                .build(),
        ),
    );
    for operation in operations_mut(doc) {
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        parameters.insert(0, RefOr::T(project_id.clone()));
        operation.security = Some(vec![
            SecurityRequirement::new::<_, _, &str>("token", []),
            SecurityRequirement::new::<_, _, &str>("aksk", []),
        ]);
    }
}

#[cfg(test)]
mod tests;
