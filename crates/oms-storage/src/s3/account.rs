//! The account-level calls of the bucket helpers on S3-compatible stores: the buckets the keys
//! see, and a bucket's region.

use async_trait::async_trait;

use super::S3Connector;
use crate::StorageError;
use crate::account::{AccountStore, MAX_BUCKETS};

#[async_trait]
impl AccountStore for S3Connector {
    async fn list_buckets(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client()
                .list_buckets()
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| self.error("ListBuckets", "", None, &e))?;
            names.extend(
                out.buckets()
                    .iter()
                    .filter_map(|b| b.name().map(str::to_owned)),
            );
            token = out.continuation_token().map(str::to_owned);
            // A store that repeats its token (or ignores paging) would loop for ever.
            if token.is_none() || names.len() >= MAX_BUCKETS {
                break;
            }
        }
        names.sort();
        names.dedup();
        names.truncate(MAX_BUCKETS);
        Ok(names)
    }

    async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, StorageError> {
        let out = self
            .client()
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| self.error("GetBucketLocation", bucket, None, &e))?;
        Ok(out
            .location_constraint()
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty()))
    }
}
