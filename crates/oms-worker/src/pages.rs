//! Listing pages one ahead: the next page is requested as soon as the current one arrives, so
//! that its round trip overlaps the work on the current one (a listing request takes a store
//! from tens to hundreds of milliseconds; a re-check of a bucket is little else).

use std::sync::Arc;

use oms_storage::{Connector, ListPage, StorageError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::retry::{GaveUp, RetryPolicy, retry};

type Fetch = JoinHandle<Result<ListPage, GaveUp<StorageError>>>;

/// The pages of one listing, fetched one ahead.
pub(crate) struct Pages {
    store: Arc<dyn Connector>,
    policy: RetryPolicy,
    cancel: CancellationToken,
    bucket: String,
    prefix: String,
    page_size: i32,
    next: Option<Fetch>,
}

impl Drop for Pages {
    fn drop(&mut self) {
        if let Some(fetch) = self.next.take() {
            fetch.abort();
        }
    }
}

impl Pages {
    /// Starts listing `prefix` of `bucket` after `start` (the first request leaves at once).
    pub(crate) fn new(
        store: Arc<dyn Connector>,
        policy: RetryPolicy,
        cancel: CancellationToken,
        bucket: String,
        prefix: String,
        start: Option<String>,
        page_size: i32,
    ) -> Self {
        let mut pages = Self {
            store,
            policy,
            cancel,
            bucket,
            prefix,
            page_size,
            next: None,
        };
        pages.next = Some(pages.fetch(start));
        pages
    }

    fn fetch(&self, after: Option<String>) -> Fetch {
        let (store, policy, cancel) = (self.store.clone(), self.policy, self.cancel.clone());
        let (bucket, prefix, size) = (self.bucket.clone(), self.prefix.clone(), self.page_size);
        tokio::spawn(async move {
            retry(&policy, &cancel, || {
                store.list(&bucket, &prefix, after.as_deref(), size)
            })
            .await
        })
    }

    /// The next page (`None`: the listing is over); the one after it is requested at once.
    pub(crate) async fn next(&mut self) -> Option<Result<ListPage, GaveUp<StorageError>>> {
        let fetch = self.next.take()?;
        let page = match fetch.await {
            Ok(page) => page,
            // The fetch panicked or was aborted: treat it as cancelled.
            Err(_) => Err(GaveUp::Cancelled),
        };
        if let Ok(page) = &page
            && page.is_truncated
            && let Some(last) = page.objects.last()
        {
            self.next = Some(self.fetch(Some(last.key.clone())));
        }
        Some(page)
    }
}
