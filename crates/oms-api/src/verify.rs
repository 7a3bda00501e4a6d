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
        Err(e) if e.code == "TRF.0151" => {
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
                    denied.error.message
                ),
            ))
        }
    }
}
