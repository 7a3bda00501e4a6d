//! The one paginator of every listing (source, destination, the splitter's): pages are fetched
//! one ahead, so that the next page's round trip overlaps the work on the current one, and each
//! page is checked before a key of it is used, because a store's listing is untrusted input.
//!
//! What a listing must be: keys under the prefix, strictly increasing in byte order within and
//! across pages, each page starting after the key the request named, a truncated page carrying
//! a key to go on from. What is done when it is not:
//! - keys outside the prefix are left out (they are not part of this listing);
//! - the last page out of order is sorted (the store said these are all the keys left, so a
//!   sort of at most one page is safe), and a key it repeats is left out once;
//! - a page that begins with the key the previous page ended with (a store that takes
//!   start-after as inclusive) has that repeat left out;
//! - anything else — a truncated page out of order, a page that does not start after the
//!   requested key (a store ignoring `start-after`), a key twice, a truncated page without keys
//!   — cannot be recovered by sorting without risking a skipped key: it is a [`Broken`] listing
//!   that names what the store did. The caller fails the task (source) or stops trusting the
//!   listing and asks object by object (destination); nothing is skipped, repeated or looped.

use std::sync::Arc;

use oms_storage::{ListPage, ReadStore, StorageError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::retry::{GaveUp, RetryPolicy, retry};

type Fetch = JoinHandle<Result<ListPage, GaveUp<StorageError>>>;

/// A listing that broke its contract: what the store did, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken(pub String);

/// Why a listing cannot go on.
#[derive(Debug)]
pub(crate) enum ListingError {
    /// The run was stopped.
    Cancelled,
    /// The store refused (after retries).
    Failed(StorageError),
    /// The store's answer cannot be trusted.
    Broken(Broken),
}

impl From<GaveUp<StorageError>> for ListingError {
    fn from(gave_up: GaveUp<StorageError>) -> Self {
        match gave_up {
            GaveUp::Cancelled => Self::Cancelled,
            GaveUp::Failed(e) => Self::Failed(e),
        }
    }
}

/// The pages of one listing, fetched one ahead and checked.
pub(crate) struct Pages {
    store: Arc<dyn ReadStore>,
    policy: RetryPolicy,
    cancel: CancellationToken,
    bucket: String,
    prefix: String,
    page_size: i32,
    /// The key the pending request lists after.
    after: Option<String>,
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
        store: Arc<dyn ReadStore>,
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
            after: None,
            next: None,
        };
        pages.request(start);
        pages
    }

    fn request(&mut self, after: Option<String>) {
        let (store, policy, cancel) = (self.store.clone(), self.policy, self.cancel.clone());
        let (bucket, prefix, size) = (self.bucket.clone(), self.prefix.clone(), self.page_size);
        self.after.clone_from(&after);
        self.next = Some(tokio::spawn(async move {
            retry(&policy, &cancel, || {
                store.list(&bucket, &prefix, after.as_deref(), size)
            })
            .await
        }));
    }

    /// The next page (`None`: the listing is over); the one after it is requested at once.
    pub(crate) async fn next(&mut self) -> Option<Result<ListPage, ListingError>> {
        let fetch = self.next.take()?;
        let page = match fetch.await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => return Some(Err(e.into())),
            // The fetch panicked or was aborted: treat it as cancelled.
            Err(_) => return Some(Err(ListingError::Cancelled)),
        };
        let (page, go_on) = match checked(page, &self.prefix, self.after.as_deref()) {
            Ok(checked) => checked,
            Err(broken) => return Some(Err(ListingError::Broken(broken))),
        };
        if let Some(after) = go_on {
            self.request(Some(after));
        }
        Some(Ok(page))
    }
}

/// Checks one page of a listing of `prefix` that asked for keys after `after` (see the module
/// documentation); returns the page as it may be used, and the key to list after next (`None`:
/// the listing is over).
pub(crate) fn checked(
    mut page: ListPage,
    prefix: &str,
    after: Option<&str>,
) -> Result<(ListPage, Option<String>), Broken> {
    let in_order = page.objects.windows(2).all(|w| w[0].key < w[1].key);
    if !in_order {
        if page.is_truncated {
            let (first, second) = page
                .objects
                .windows(2)
                .find(|w| w[0].key >= w[1].key)
                .map(|w| (w[0].key.clone(), w[1].key.clone()))
                .unwrap_or_default();
            let what = if first == second {
                format!("listed '{first}' twice")
            } else {
                format!("listed '{first}' before '{second}'")
            };
            return Err(Broken(format!(
                "{what} in a page with more to follow: its listing is not in byte order, so no key can be trusted to be the last before the next page"
            )));
        }
        tracing::warn!(
            prefix,
            "the store's last page is not in byte order; it is sorted"
        );
        page.objects.sort_by(|a, b| a.key.cmp(&b.key));
        page.objects.dedup_by(|a, b| a.key == b.key);
    }
    // Some stores begin a page with the key the previous one ended with (start-after taken
    // as inclusive): that is a repeat of a key already handled, not disorder.
    if let (Some(after), Some(first)) = (after, page.objects.first())
        && first.key == after
    {
        tracing::debug!(
            key = after,
            "the store began a page with the key it ended the last one with; the repeat is left out"
        );
        page.objects.remove(0);
    }
    if let (Some(after), Some(first)) = (after, page.objects.first())
        && first.key.as_str() <= after
    {
        return Err(Broken(format!(
            "asked for keys after '{after}', it answered with '{}': it does not honour start-after, or it repeats keys",
            first.key
        )));
    }
    let last = page.objects.last().map(|o| o.key.clone());
    let go_on = match (page.is_truncated, last) {
        (false, _) => None,
        (true, None) => {
            return Err(Broken(
                "it said more keys follow, but its page held none to go on from".to_owned(),
            ));
        }
        // Sorted keys past the prefix mean that nothing under it can follow.
        (true, Some(last)) if !last.starts_with(prefix) && last.as_str() > prefix => None,
        (true, Some(last)) => Some(last),
    };
    let before = page.objects.len();
    page.objects.retain(|o| o.key.starts_with(prefix));
    if page.objects.len() < before {
        tracing::warn!(
            prefix,
            outside = before - page.objects.len(),
            "the store listed keys outside the prefix; they are left out"
        );
    }
    Ok((page, go_on))
}

#[cfg(test)]
mod tests {
    use oms_storage::ObjectInfo;

    use super::*;

    fn page(keys: &[&str], is_truncated: bool) -> ListPage {
        ListPage {
            objects: keys
                .iter()
                .map(|k| ObjectInfo {
                    key: (*k).to_owned(),
                    ..ObjectInfo::default()
                })
                .collect(),
            is_truncated,
        }
    }

    fn keys(page: &ListPage) -> Vec<&str> {
        page.objects.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn an_ordered_page_passes_as_it_is() {
        let (p, next) = checked(page(&["a", "b"], true), "", None).unwrap();
        assert_eq!(keys(&p), ["a", "b"]);
        assert_eq!(next.as_deref(), Some("b"));
        let (_, next) = checked(page(&["c"], false), "", Some("b")).unwrap();
        assert_eq!(next, None);
    }

    #[test]
    fn the_last_page_out_of_order_is_sorted_once() {
        let (p, next) = checked(page(&["b", "a", "b"], false), "", None).unwrap();
        assert_eq!(keys(&p), ["a", "b"]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_truncated_page_out_of_order_is_broken() {
        let broken = checked(page(&["b", "a"], true), "", None).unwrap_err();
        assert!(broken.0.contains("'b' before 'a'"), "{}", broken.0);
        assert!(checked(page(&["a", "a"], true), "", None).is_err());
    }

    #[test]
    fn a_page_that_does_not_start_after_the_marker_is_broken() {
        let broken = checked(page(&["a", "b"], true), "", Some("b")).unwrap_err();
        assert!(broken.0.contains("start-after"), "{}", broken.0);
        assert!(checked(page(&["c"], false), "", Some("b")).is_ok());
    }

    #[test]
    fn a_page_that_repeats_the_marker_first_goes_on_without_the_repeat() {
        let (p, next) = checked(page(&["b", "c", "d"], true), "", Some("b")).unwrap();
        assert_eq!(keys(&p), ["c", "d"]);
        assert_eq!(next.as_deref(), Some("d"));
        let (p, next) = checked(page(&["b"], false), "", Some("b")).unwrap();
        assert!(keys(&p).is_empty());
        assert_eq!(next, None);
        // Nothing after the repeat, yet more to follow: no progress is possible.
        assert!(checked(page(&["b"], true), "", Some("b")).is_err());
        // A page going further back than the marker is still refused.
        assert!(checked(page(&["b", "a"], true), "", Some("b")).is_err());
        assert!(checked(page(&["a", "c"], true), "", Some("b")).is_err());
    }

    #[test]
    fn a_truncated_page_without_keys_is_broken() {
        assert!(checked(page(&[], true), "", Some("b")).is_err());
        assert!(checked(page(&[], false), "", Some("b")).is_ok());
    }

    #[test]
    fn keys_outside_the_prefix_are_left_out() {
        let (p, next) = checked(page(&["p/a", "q"], true), "p/", None).unwrap();
        assert_eq!(keys(&p), ["p/a"]);
        assert_eq!(next, None, "past the prefix, nothing more can follow");
        let (p, next) = checked(page(&["a", "b"], true), "p/", None).unwrap();
        assert!(keys(&p).is_empty());
        assert_eq!(
            next.as_deref(),
            Some("b"),
            "before the prefix, the listing goes on"
        );
    }
}
