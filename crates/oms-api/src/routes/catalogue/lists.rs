//! The account-level helpers' store calls, and how a listing becomes a page of records.

use std::sync::Arc;

use oms_core::parse::{ObjectPage, StoreAccess};
use oms_core::wire::ShowBucketRecord;
use oms_storage::ObjectInfo;
use oms_storage::account::AccountStore;

use super::{Side, bounded, connect_helper};
use crate::error::ApiError;
use crate::state::StoreCheck;

/// The account-level store of a helper request.
pub(crate) fn account_store(
    check: &StoreCheck,
    access: &StoreAccess,
) -> Result<Arc<dyn AccountStore>, ApiError> {
    let helper = connect_helper(check, access, "")?;
    helper.account.ok_or_else(|| no_account(access))
}

/// The refusal of an account-level question the cloud's connector cannot answer.
fn no_account(access: &StoreAccess) -> ApiError {
    ApiError::invalid(
        "cloud_type",
        format!(
            "{} accounts cannot be asked for their buckets or regions by this installation",
            access.cloud.as_str()
        ),
    )
}

/// The region of `bucket` as its store reports it. An S3 store that names none (the
/// `us-east-1` convention of S3, and stores without regions) is in the region whose endpoint
/// answered; for Azure and Google, whose endpoints do not come from a region, the location is
/// the store's.
pub(crate) async fn bucket_region(
    check: &StoreCheck,
    access: &StoreAccess,
    bucket: &str,
) -> Result<String, ApiError> {
    let helper = connect_helper(check, access, bucket)?;
    let account = helper.account.clone().ok_or_else(|| no_account(access))?;
    let reported = bounded(
        check,
        Side::of(access),
        "tell the bucket's region",
        account.bucket_region(bucket),
    )
    .await?;
    Ok(reported.or(helper.region).unwrap_or_default())
}

/// The records of a listed page: only keys under the prefix and after the marker (a store's
/// page is untrusted input), in the store's order, at most a page.
pub(crate) fn records(objects: Vec<ObjectInfo>, page: &ObjectPage) -> Vec<ShowBucketRecord> {
    let after = page.after.as_deref().unwrap_or_default();
    objects
        .into_iter()
        .filter(|o| o.key.starts_with(&page.prefix) && o.key.as_str() > after)
        .take(usize::try_from(page.page_size).unwrap_or(100))
        .map(|o| ShowBucketRecord {
            name: o.key,
            size: o.size.to_string(),
        })
        .collect()
}
