//! `ShowCdnInfo`: each key HEADed at the bucket and through the CDN domain (signed with the
//! given algorithm and key, as the engine signs), and their existence and entity tags compared.

use oms_core::parse::CdnCheck;
use oms_core::wire::{CheckedKey, ShowCdnInfoResponse};
use oms_storage::ReadStore;
use oms_storage::url::HttpSource;

use super::{Side, bounded};
use crate::error::ApiError;
use crate::state::StoreCheck;

/// Compares every key of `req` at the bucket and through the CDN. A key the CDN does not serve
/// (404, refused, an error) is not available there; a failure of the bucket's store is the
/// call's failure.
pub(crate) async fn compare(
    check: &StoreCheck,
    bucket_store: &dyn ReadStore,
    cdn: &HttpSource,
    bucket: &str,
    req: &CdnCheck,
) -> Result<ShowCdnInfoResponse, ApiError> {
    let side = Side::of(&req.access);
    let answers = bounded(check, side, "compare the keys with the CDN", async {
        let mut answers = Vec::with_capacity(req.keys.len());
        for key in &req.keys {
            let at_bucket = bucket_store.head(bucket, key).await?;
            let through_cdn = cdn.head_through_cdn(key).await.ok().flatten();
            answers.push((key.clone(), at_bucket, through_cdn));
        }
        Ok(answers)
    })
    .await?;
    let mut checked_keys = Vec::with_capacity(answers.len());
    let (mut existing, mut downloadable, mut matching) = (0, 0, 0);
    for (key, at_bucket, through_cdn) in answers {
        let is_object_existing = at_bucket.is_some();
        let served = is_object_existing && through_cdn.is_some();
        let bucket_etag = at_bucket.and_then(|m| m.info.etag);
        let cdn_etag = through_cdn.and_then(|m| m.info.etag);
        let is_etag_matching = served && bucket_etag.is_some() && bucket_etag == cdn_etag;
        existing += usize::from(is_object_existing);
        downloadable += usize::from(served);
        matching += usize::from(is_etag_matching);
        checked_keys.push(CheckedKey {
            key,
            is_etag_matching,
            is_object_existing,
        });
    }
    Ok(ShowCdnInfoResponse {
        is_same_cloud_type: existing > 0 && matching == existing,
        is_download_available: existing > 0 && downloadable == existing,
        checked_keys,
    })
}
