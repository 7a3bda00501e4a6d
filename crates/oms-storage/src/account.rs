//! Questions about an account rather than one bucket, which only the bucket helpers ask:
//! which buckets the keys see, and in which region a bucket lives.

use async_trait::async_trait;

use crate::StorageError;
use crate::s3::S3Connector;

/// The most bucket names one answer holds: a console lists them, and an account with more is
/// better searched by name.
pub const MAX_BUCKETS: usize = 10_000;

/// What a store tells about the account its keys belong to.
#[async_trait]
pub trait AccountStore: Send + Sync + std::fmt::Debug {
    /// The names of the buckets (containers) the keys see, sorted, at most [`MAX_BUCKETS`].
    async fn list_buckets(&self) -> Result<Vec<String>, StorageError>;

    /// The region of `bucket` as the store reports it (`None`: the store names none).
    async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, StorageError>;
}

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
