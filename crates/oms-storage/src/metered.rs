//! Store calls counted and timed for the metrics (`oms_store_requests_total`,
//! `oms_store_request_duration_seconds`), and paced: a wrapper around any connector, labelled
//! with the side it serves, the operation and the outcome. Every connector of a migration is
//! wrapped once, where both sides are built ([`crate::connect::connect`]), and so is the store a
//! bucket helper asks ([`crate::connect::helper_store`]): no connector counts for itself. A
//! migration's connectors also wait for a place in flight from their side's [`Pace`], which
//! learns from every answer whether the store throttles.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use metrics::{counter, histogram};
use oms_core::metrics::{STORE_REQUESTS, STORE_SECONDS};

use crate::account::AccountStore;
use crate::client::read::Version;
use crate::pace::Pace;
use crate::{
    CompletedPart, Download, ListPage, ObjectMeta, Payload, PutOutcome, ReadStore, ServerSideCopy,
    Side, StorageError, WriteOptions, WriteStore,
};

/// A connector whose calls are counted and timed.
#[derive(Debug)]
pub(crate) struct Metered<S: ?Sized> {
    inner: Arc<S>,
    side: &'static str,
    pace: Option<Arc<Pace>>,
}

/// The metrics label of a side.
pub(crate) fn side_label(side: Side) -> &'static str {
    match side {
        Side::Source => "source",
        Side::Destination => "destination",
    }
}

impl<S: ?Sized> Metered<S> {
    /// Wraps `inner`, which serves `side`; with a `pace`, every call waits for a place.
    pub(crate) fn new(inner: Arc<S>, side: Side, pace: Option<Arc<Pace>>) -> Self {
        Self {
            inner,
            side: side_label(side),
            pace,
        }
    }

    /// Runs `call` (once there is a place in flight), then counts it with its outcome and
    /// records how long it took.
    async fn measure<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let place = match &self.pace {
            Some(pace) => Some(pace.enter().await),
            None => None,
        };
        let started = Instant::now();
        let result = call.await;
        if let Some(place) = place {
            let throttled = matches!(&result, Err(e) if e.kind == crate::ErrorKind::Throttled);
            place.answered(throttled);
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.label(),
        };
        counter!(STORE_REQUESTS, "side" => self.side, "operation" => operation, "outcome" => outcome)
            .increment(1);
        histogram!(STORE_SECONDS, "side" => self.side, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: ReadStore + ?Sized> ReadStore for Metered<S> {
    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.measure("check_bucket", self.inner.check_bucket(bucket))
            .await
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError> {
        self.measure("list", self.inner.list(bucket, prefix, start_after, limit))
            .await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.measure("head", self.inner.head(bucket, key)).await
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<Download, StorageError> {
        let operation = if range.is_some() { "get_range" } else { "get" };
        self.measure(operation, self.inner.get(bucket, key, range, pinned))
            .await
    }

    async fn tags(&self, bucket: &str, key: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.measure("tags", self.inner.tags(bucket, key)).await
    }

    async fn restore(
        &self,
        bucket: &str,
        key: &str,
        request: crate::RestoreRequest,
    ) -> Result<(), StorageError> {
        self.measure("restore", self.inner.restore(bucket, key, request))
            .await
    }

    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }

    fn lists_from_any_key(&self) -> bool {
        self.inner.lists_from_any_key()
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: AccountStore + ?Sized> AccountStore for Metered<S> {
    async fn list_buckets(&self) -> Result<Vec<String>, StorageError> {
        self.measure("list_buckets", self.inner.list_buckets())
            .await
    }

    async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, StorageError> {
        self.measure("bucket_region", self.inner.bucket_region(bucket))
            .await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: WriteStore + ?Sized> WriteStore for Metered<S> {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        options: &WriteOptions,
    ) -> Result<PutOutcome, StorageError> {
        self.measure("put", self.inner.put(bucket, key, payload, options))
            .await
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        options: &WriteOptions,
    ) -> Result<String, StorageError> {
        self.measure(
            "create_multipart",
            self.inner.create_multipart(bucket, key, options),
        )
        .await
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        payload: Payload,
    ) -> Result<PutOutcome, StorageError> {
        self.measure(
            "upload_part",
            self.inner
                .upload_part(bucket, key, upload_id, part_number, payload),
        )
        .await
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome, StorageError> {
        self.measure(
            "complete_multipart",
            self.inner.complete_multipart(bucket, key, upload_id, parts),
        )
        .await
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.measure("delete", self.inner.delete(bucket, key)).await
    }

    async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        self.measure(
            "abort_multipart",
            self.inner.abort_multipart(bucket, key, upload_id),
        )
        .await
    }

    fn server_side_copy(&self) -> Option<&dyn ServerSideCopy> {
        self.inner
            .server_side_copy()
            .map(|_| self as &dyn ServerSideCopy)
    }

    async fn writes_need_content_md5(&self, bucket: &str) -> Result<Option<String>, StorageError> {
        self.measure(
            "bucket_settings",
            self.inner.writes_need_content_md5(bucket),
        )
        .await
    }
}

/// Server-side copies of the wrapped destination (only offered when it offers them).
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: WriteStore + ?Sized> ServerSideCopy for Metered<S> {
    async fn copy_object(
        &self,
        source_bucket: &str,
        source_key: &str,
        pinned: &Version,
        bucket: &str,
        key: &str,
        options: &WriteOptions,
        replace_headers: bool,
    ) -> Result<PutOutcome, StorageError> {
        let Some(copier) = self.inner.server_side_copy() else {
            return Err(no_copy("copy_object"));
        };
        self.measure(
            "copy_object",
            copier.copy_object(
                source_bucket,
                source_key,
                pinned,
                bucket,
                key,
                options,
                replace_headers,
            ),
        )
        .await
    }

    async fn upload_part_copy(
        &self,
        source_bucket: &str,
        source_key: &str,
        pinned: &Version,
        range: Range<u64>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
    ) -> Result<String, StorageError> {
        let Some(copier) = self.inner.server_side_copy() else {
            return Err(no_copy("upload_part_copy"));
        };
        self.measure(
            "upload_part_copy",
            copier.upload_part_copy(
                source_bucket,
                source_key,
                pinned,
                range,
                bucket,
                key,
                upload_id,
                part_number,
            ),
        )
        .await
    }
}

/// A server-side copy asked of a store that offers none (never reached: the wrapper offers
/// copies only when the wrapped store does).
fn no_copy(operation: &'static str) -> StorageError {
    StorageError::new(
        crate::ErrorKind::Permanent,
        operation,
        "this store offers no server-side copy",
    )
}
