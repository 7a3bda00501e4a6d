//! The check of resume (DESIGN §4): before a start, resume or retry is accepted, the supplied
//! keys are tried against both stores with one cheap call each. A definite refusal (unknown
//! keys, wrong signature, missing bucket, access denied) is a 400 naming the side, and nothing
//! changes; a store that cannot be reached right now does not block the start.

use oms_core::credentials::CredentialSet;
use oms_core::spec::MigrationSpec;
use oms_storage::connect::{self, Side};

use crate::error::ApiError;
use crate::state::AppState;

/// Checks `credentials` for `spec` against the stores, if the API is set up to.
pub async fn keys_reach_both_sides(
    state: &AppState,
    spec: &MigrationSpec,
    credentials: &CredentialSet,
) -> Result<(), ApiError> {
    let Some(check) = &state.stores else {
        return Ok(());
    };
    // Sources other stores serve cannot be checked here yet; the engine reports them.
    let Ok(sides) = connect::connect(&check.connect, spec, credentials) else {
        return Ok(());
    };
    match connect::verify_access(&sides, &spec.destination.bucket, check.timeout).await {
        Ok(()) => Ok(()),
        Err(denied) => {
            let (field, side, bucket) = match denied.side {
                Side::Source => ("src_ak", "source", sides.source_bucket.as_str()),
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
