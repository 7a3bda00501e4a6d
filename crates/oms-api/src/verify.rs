//! The check of resume (DESIGN §4): before a start, resume or retry is accepted, the supplied
//! keys are tried against both stores with one cheap call each. A definite refusal (unknown
//! keys, wrong signature, missing bucket, access denied) is a 400 naming the side, and nothing
//! changes; a store that cannot be reached right now does not block the start.

use oms_core::credentials::CredentialSet;
use oms_core::spec::{CloudType, MigrationSpec};
use oms_storage::connect::{self, Side};

use crate::error::ApiError;
use crate::state::AppState;

/// The request field that carries the source's credentials.
fn source_field(cloud: CloudType) -> &'static str {
    match cloud {
        CloudType::Google => "json_auth_file",
        CloudType::Azure => "connection_string",
        _ => "src_ak",
    }
}

/// Refuses a notification topic of another project: `smn_config.topic_urn` must be an SMN URN
/// (`urn:smn:<region>:<project_id>:<topic>`) naming the caller's project, so that no project can
/// send its events to another project's receivers (which sign them with their own secret).
pub fn topic_of_caller(caller: &crate::auth::Caller, spec: &MigrationSpec) -> Result<(), ApiError> {
    let Some(smn) = &spec.smn else {
        return Ok(());
    };
    let project = caller.project_id.as_str();
    match oms_core::spec::topic_project(&smn.topic_urn) {
        Some(of) if of == project => Ok(()),
        _ => Err(ApiError::invalid(
            "smn_config.topic_urn",
            format!("must be a topic of this project: urn:smn:<region>:{project}:<topic name>"),
        )),
    }
}

/// Refuses a new task while the caller's project has as many tasks waiting for a worker as
/// `server.max_waiting_tasks_per_project` allows (OMS's limit is 1,500), so that one project
/// cannot fill the queue before another.
pub async fn room_for_a_task(
    state: &AppState,
    caller: &crate::auth::Caller,
) -> Result<(), ApiError> {
    let cap = state.limits.max_waiting_tasks_per_project;
    if cap <= 0 {
        return Ok(());
    }
    let waiting = state.db.count_waiting_tasks(&caller.project_id).await?;
    if waiting >= cap {
        return Err(ApiError::Throttled {
            message: format!(
                "project {} has {waiting} tasks waiting for a worker, the most this installation takes (server.max_waiting_tasks_per_project); create more once some have started",
                caller.project_id
            ),
            retry_after_secs: 60,
        });
    }
    Ok(())
}

/// Refuses a migration whose source or destination `cloud_type` + `region` lead to no endpoint
/// omsd knows (an operator `[[endpoints]]` rule, or a region of the cloud's public catalogue),
/// naming the field: a mistyped region would otherwise fail only when a worker runs the task,
/// with a DNS error.
pub fn regions_known(state: &AppState, spec: &MigrationSpec) -> Result<(), ApiError> {
    let Some(check) = &state.stores else {
        return Ok(());
    };
    let rules = &check.connect.endpoints;
    let source = &spec.source;
    let source_by_region = !matches!(
        source.cloud_type,
        CloudType::Azure | CloudType::Google | CloudType::UrlSource
    );
    if source_by_region
        && !oms_storage::catalogue::endpoints::is_known(
            rules,
            source.cloud_type.as_str(),
            &source.region,
        )
    {
        return Err(ApiError::invalid(
            "src_node.region",
            format!(
                "'{}' is not a region omsd knows for {}; use one of its regions, or add an [[endpoints]] rule for it",
                source.region,
                source.cloud_type.as_str()
            ),
        ));
    }
    let destination = &spec.destination.region;
    if !oms_storage::catalogue::endpoints::is_known(
        rules,
        oms_storage::catalogue::endpoints::DESTINATION_CLOUD,
        destination,
    ) {
        return Err(ApiError::invalid(
            "dst_node.region",
            format!(
                "'{destination}' is not a destination region omsd knows; use a Huawei Cloud OBS region, or add an [[endpoints]] rule with cloud_type HEC for it"
            ),
        ));
    }
    Ok(())
}

/// Checks `credentials` for `spec` against the stores, if the API is set up to.
pub async fn keys_reach_both_sides(
    state: &AppState,
    spec: &MigrationSpec,
    credentials: &CredentialSet,
) -> Result<(), ApiError> {
    let Some(check) = &state.stores else {
        return Ok(());
    };
    let field = source_field(spec.source.cloud_type);
    let sides = match connect::connect(&check.connect, spec, credentials) {
        Ok(sides) => sides,
        // Credentials the connector cannot use at all (a service-account file object_store
        // cannot read, a connection string without a key) are the request's fault.
        Err(e) if e.code == oms_core::error::FailureCode::SourceCredentials => {
            return Err(ApiError::invalid(
                field,
                format!("cannot be used to reach the source: {}", e.message),
            ));
        }
        // No endpoint for the region, or an address the guard refuses: the engine reports it.
        Err(_) => return Ok(()),
    };
    match connect::verify_access(&sides, &spec.destination.bucket, check.timeout).await {
        Ok(()) => Ok(()),
        Err(denied) => {
            let (field, side, bucket) = match denied.side {
                Side::Source => (field, "source", sides.source_bucket.as_str()),
                Side::Destination => ("dst_ak", "destination", spec.destination.bucket.as_str()),
            };
            Err(ApiError::invalid(
                field,
                format!(
                    "the {side} keys cannot access the {side} bucket {bucket}: {}",
                    denied.error
                ),
            ))
        }
    }
}
