//! Questions about an account rather than one bucket, which only the bucket helpers ask:
//! which buckets the keys see, and in which region a bucket lives.

use async_trait::async_trait;

use crate::StorageError;

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
