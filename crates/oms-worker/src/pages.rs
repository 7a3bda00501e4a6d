//! The one paginator of every listing (source, destination, the splitter's): pages are fetched
//! ahead, so that the next page's round trip overlaps the work on the current one, a long
//! listing is read over several key ranges at once (see [`Pages`]), and each page is checked
//! before a key of it is used, because a store's listing is untrusted input.
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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use oms_storage::{ListPage, ReadStore, StorageError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::WorkerConfig;
use crate::retry::{GaveUp, RetryPolicy, retry};

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

/// The keys a listing covers: those after `after` (`None`: from the first) up to `until`
/// included (`None`: to the last).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRange {
    pub after: Option<String>,
    pub until: Option<String>,
}

impl KeyRange {
    /// The keys after `after`, to the end.
    pub(crate) fn after(after: Option<String>) -> Self {
        Self { after, until: None }
    }
}

/// Pages a segment reads ahead of the one handing pages out.
const READ_AHEAD: usize = 4;
/// Ranges one listing holds at most, those waiting with their pages read ahead and those
/// being read, unless it has more lanes: a bound on what it holds in memory (this ×
/// `READ_AHEAD` pages, and one more each). It does not grow with the lanes: where the checker
/// keeps up (across a WAN) ranges are handed out as fast as they are read and every lane is
/// busy; where it does not (a re-check of millions of keys, CPU-bound), more lanes would only
/// hold more pages waiting for it.
const RANGES_HELD: usize = 16;

/// What every segment of one listing asks the store.
struct Request {
    store: Arc<dyn ReadStore>,
    policy: RetryPolicy,
    cancel: CancellationToken,
    bucket: String,
    prefix: String,
    page_size: i32,
}

/// Where a segment stands. Its reader cuts pages at `until` and the listing splits it by
/// lowering `until`, both under this one lock: a cut and a split cannot cross, so a key is
/// handed out by exactly one segment.
#[derive(Debug, Default)]
struct Bounds {
    /// The key the segment's next request lists after.
    after: Option<String>,
    /// The last key the segment may hand out.
    until: Option<String>,
    /// A page has come back (a segment is split only once it is known to hold keys).
    answered: bool,
    /// The segment makes no more requests.
    finished: bool,
    /// A request is on its way (a segment waiting to hand its pages out takes no lane).
    fetching: bool,
    /// The first key of the last full page: with `after`, how far a page reaches.
    page_first: Option<String>,
}

fn lock(bounds: &Mutex<Bounds>) -> MutexGuard<'_, Bounds> {
    // A reader that panicked left nothing half-written in these plain fields.
    bounds
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One key range of a listing, read by its own task.
struct Segment {
    bounds: Arc<Mutex<Bounds>>,
    pages: mpsc::Receiver<Result<ListPage, ListingError>>,
    reader: JoinHandle<()>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The pages of one listing, in key order, fetched ahead and checked. A listing that goes
/// past its first page is cut into up to `worker.list_lanes` key ranges read side by side (a
/// flat prefix is otherwise one serial chain of round trips, whatever else runs in parallel):
/// nearest the front first, a range is cut into ranges of [`READ_AHEAD`] pages, one per free
/// lane, by how far its last page reached (see [`ahead`]); a tail whose keys cannot be read as
/// numbers is cut halfway instead (see [`midpoint`]). Pages are still handed out in key order,
/// so the checker's merge-join and the checkpoint are as with one chain.
pub(crate) struct Pages {
    request: Arc<Request>,
    lanes: usize,
    /// The ranges not yet handed out completely, in key order.
    segments: VecDeque<Segment>,
}

impl Pages {
    /// Starts listing the keys of `range` under `prefix` of `bucket` (the first request
    /// leaves at once).
    pub(crate) fn new(
        store: Arc<dyn ReadStore>,
        config: &WorkerConfig,
        cancel: CancellationToken,
        bucket: String,
        prefix: String,
        range: KeyRange,
    ) -> Self {
        let lanes = if store.lists_from_any_key() {
            config.list_lanes.max(1)
        } else {
            1
        };
        let mut pages = Self {
            request: Arc::new(Request {
                store,
                policy: config.retry,
                cancel,
                bucket,
                prefix,
                page_size: config.list_page_size,
            }),
            lanes,
            segments: VecDeque::new(),
        };
        let first = pages.spawn(range.after, range.until);
        pages.segments.push_back(first);
        pages
    }

    fn spawn(&self, after: Option<String>, until: Option<String>) -> Segment {
        let bounds = Arc::new(Mutex::new(Bounds {
            after,
            until,
            fetching: true,
            ..Bounds::default()
        }));
        let (sender, pages) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(read(self.request.clone(), bounds.clone(), sender));
        Segment {
            bounds,
            pages,
            reader,
        }
    }

    /// The next page (`None`: the listing is over). After an error the listing is over.
    pub(crate) async fn next(&mut self) -> Option<Result<ListPage, ListingError>> {
        loop {
            self.split();
            let front = self.segments.front_mut()?;
            match front.pages.recv().await {
                Some(Ok(page)) => return Some(Ok(page)),
                Some(Err(e)) => {
                    self.segments.clear();
                    return Some(Err(e));
                }
                None => {
                    self.segments.pop_front();
                }
            }
        }
    }

    /// Cuts ranges until `lanes` are being read (or the listing holds as many ranges as it
    /// may).
    fn split(&mut self) {
        // One lane reads one range from the start to the end: a store that cannot list from
        // any key (Azure) would otherwise walk from the prefix's start to each cut.
        if self.lanes <= 1 {
            return;
        }
        let prefix = self.request.prefix.as_str();
        let held = RANGES_HELD.max(self.lanes);
        loop {
            let fetching = self
                .segments
                .iter()
                .filter(|s| lock(&s.bounds).fetching)
                .count();
            if fetching >= self.lanes || self.segments.len() >= held {
                return;
            }
            // Nearest the front first: a range that has shown how far a page reaches is cut
            // into ranges of `READ_AHEAD` pages, one per free lane, which their lanes read
            // whole before the keys are needed. A listing's tail whose keys cannot be read as
            // numbers is cut in half instead.
            let free = (self.lanes - fetching).min(held - self.segments.len());
            let chunked = self
                .segments
                .iter()
                .enumerate()
                .find_map(|(index, segment)| {
                    let bounds = lock(&segment.bounds);
                    if !bounds.answered || bounds.finished {
                        return None;
                    }
                    ahead(prefix, &bounds, READ_AHEAD).map(|_| index)
                });
            let halved = || {
                self.segments
                    .iter()
                    .enumerate()
                    .find_map(|(index, segment)| {
                        let bounds = lock(&segment.bounds);
                        let tail = bounds.until.is_none() && ahead(prefix, &bounds, 1).is_none();
                        (bounds.answered && !bounds.finished && tail).then_some(index)
                    })
            };
            let Some(index) = chunked.or_else(halved) else {
                return;
            };
            // Cut under the lock, from where the segment stands now.
            let (cuts, until) = {
                let mut bounds = lock(&self.segments[index].bounds);
                if bounds.finished {
                    return;
                }
                let mut cuts: Vec<String> = (1..=free)
                    .map_while(|n| ahead(prefix, &bounds, READ_AHEAD * n))
                    .collect();
                if cuts.is_empty() {
                    cuts.extend(midpoint(
                        prefix,
                        bounds.after.as_deref(),
                        bounds.until.as_deref(),
                    ));
                }
                let Some(first) = cuts.first() else {
                    return;
                };
                let until = bounds.until.replace(first.clone());
                (cuts, until)
            };
            let mut ends: Vec<Option<String>> = cuts.iter().skip(1).cloned().map(Some).collect();
            ends.push(until);
            for (offset, (cut, end)) in cuts.into_iter().zip(ends).enumerate() {
                let segment = self.spawn(Some(cut), end);
                self.segments.insert(index + 1 + offset, segment);
            }
        }
    }
}

/// Reads one segment's pages into `pages` until its range ends, the listing ends, or an error.
async fn read(
    request: Arc<Request>,
    bounds: Arc<Mutex<Bounds>>,
    pages: mpsc::Sender<Result<ListPage, ListingError>>,
) {
    let fail = |e: ListingError| {
        let mut bounds = lock(&bounds);
        bounds.finished = true;
        bounds.fetching = false;
        e
    };
    loop {
        let after = {
            let mut bounds = lock(&bounds);
            bounds.fetching = true;
            bounds.after.clone()
        };
        let fetched = retry(&request.policy, &request.cancel, || {
            request.store.list(
                &request.bucket,
                &request.prefix,
                after.as_deref(),
                request.page_size,
            )
        })
        .await;
        let checked_page = fetched
            .map_err(ListingError::from)
            .and_then(|page| {
                checked(page, &request.prefix, after.as_deref()).map_err(ListingError::Broken)
            })
            .map_err(fail);
        let (mut page, go_on) = match checked_page {
            Ok(checked_page) => checked_page,
            Err(e) => {
                let _ = pages.send(Err(e)).await;
                return;
            }
        };
        let done = {
            let mut bounds = lock(&bounds);
            bounds.answered = true;
            bounds.fetching = false;
            let mut done = go_on.is_none();
            if let Some(until) = bounds.until.as_deref() {
                let before = page.objects.len();
                page.objects.retain(|o| o.key.as_str() <= until);
                done |= page.objects.len() < before
                    || go_on.as_deref().is_some_and(|next| next >= until);
            }
            if done {
                bounds.finished = true;
            } else {
                bounds.page_first = page.objects.first().map(|o| o.key.clone());
                bounds.after = go_on;
            }
            done
        };
        if !page.objects.is_empty() && pages.send(Ok(page)).await.is_err() {
            return;
        }
        if done {
            return;
        }
    }
}

/// The characters a cut is made of, in byte order: those of ordinary keys, which every store
/// takes in `start-after` as they are (no character XML or URLs treat specially).
const ALPHABET: &[u8] = b"-./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
/// Runs of characters keys count in: a position holding one of them is read as a digit of
/// that run (a decimal counter in a key is read in base 10, so a cut halfway between two
/// numbers is a number between them, not a letter after both); any other as one of
/// [`ALPHABET`].
const RUNS: [&[u8]; 3] = [
    b"0123456789",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    b"abcdefghijklmnopqrstuvwxyz",
];
/// Positions a cut is computed over, after the bounds' common beginning.
const DIGITS: usize = 12;

/// The characters a position holding `c` counts in.
fn run_of(c: Option<&u8>) -> &'static [u8] {
    c.and_then(|c| RUNS.iter().find(|run| run.contains(c)).copied())
        .unwrap_or(ALPHABET)
}

/// `c` as a digit of `run`: the nearest character of it at or below `c` (none: 0).
fn digit(run: &[u8], c: Option<&u8>) -> u128 {
    let below = c.map_or(0, |c| run.partition_point(|r| r <= c));
    u128::try_from(below.saturating_sub(1)).unwrap_or(0)
}

/// `value` written out after `beginning`, a digit of each of `runs` per position, without the
/// trailing lowest digits (they say nothing: "d/0005" cuts as "d/00050000" does).
fn spelled(beginning: &[u8], runs: &[&[u8]], mut value: u128) -> Option<String> {
    let mut chars = vec![0_u8; runs.len()];
    for (c, run) in chars.iter_mut().zip(runs).rev() {
        let radix = run.len() as u128;
        *c = run[usize::try_from(value % radix).ok()?];
        value /= radix;
    }
    while let (Some(&c), Some(run)) = (chars.last(), runs.get(chars.len().wrapping_sub(1))) {
        if run.first() != Some(&c) {
            break;
        }
        chars.pop();
    }
    let mut key = beginning.to_vec();
    key.extend_from_slice(&chars);
    String::from_utf8(key).ok()
}

/// A key about `pages` pages past where `bounds` stands, by how far its last page reached
/// (from its first key to its last, read as numbers as [`midpoint`] reads them), if that
/// falls strictly between where it stands and where it ends.
fn ahead(prefix: &str, bounds: &Bounds, pages: usize) -> Option<String> {
    let (first, after) = (bounds.page_first.as_deref()?, bounds.after.as_deref()?);
    if first >= after || !first.starts_with(prefix) {
        return None;
    }
    let (lo, hi) = (first.as_bytes(), after.as_bytes());
    let common = lo.iter().zip(hi).take_while(|(a, b)| a == b).count();
    // A few positions before the first that differs, so that the sum can carry into them.
    let start = common.saturating_sub(4).max(prefix.len());
    let runs: Vec<&[u8]> = (start..start + DIGITS)
        .map(|i| run_of(hi.get(i).or_else(|| lo.get(i))))
        .collect();
    let radix = |run: &[u8]| run.len() as u128;
    let value = |key: &[u8]| {
        runs.iter().enumerate().fold(0, |v, (i, run)| {
            v * radix(run) + digit(run, key.get(start + i))
        })
    };
    let (from, to) = (value(lo), value(hi));
    let span: u128 = runs.iter().map(|run| radix(run)).product();
    let step = to.checked_sub(from).filter(|step| *step > 0)?;
    let cut_value = to.checked_add(step.checked_mul(pages as u128)?)?;
    if cut_value >= span {
        return None;
    }
    let cut = spelled(&hi[..start], &runs, cut_value)?;
    let fits = cut.as_str() > after
        && cut.starts_with(prefix)
        && bounds.until.as_deref().is_none_or(|u| cut.as_str() < u);
    fits.then_some(cut)
}

/// A key halfway between `after` (`None`: the start of `prefix`) and `until` (`None`: the end
/// of `prefix`); `None` when no key fits between them. Keys are read as numbers from where the bounds differ, each
/// position in the run of characters the lower bound holds there; whatever the keys hold, a
/// cut is made of [`ALPHABET`] characters and falls strictly between the bounds, or is not
/// made.
fn midpoint(prefix: &str, after: Option<&str>, until: Option<&str>) -> Option<String> {
    let after = match after {
        Some(a) if a >= prefix => a,
        _ => prefix,
    };
    if !after.starts_with(prefix) {
        return None;
    }
    let (lo, hi) = (after.as_bytes(), until.map(str::as_bytes));
    let common = match hi {
        Some(hi) => lo.iter().zip(hi).take_while(|(a, b)| a == b).count(),
        None => prefix.len(),
    };
    let runs: Vec<&[u8]> = (common..common + DIGITS)
        .map(|i| run_of(lo.get(i).or_else(|| hi.and_then(|h| h.get(i)))))
        .collect();
    let radix = |run: &[u8]| run.len() as u128;
    let value = |key: &[u8]| {
        runs.iter().enumerate().fold(0, |v, (i, run)| {
            v * radix(run) + digit(run, key.get(common + i))
        })
    };
    let low = value(lo);
    let high = match hi {
        Some(hi) => value(hi),
        None => runs
            .iter()
            .fold(0, |v, run| v * radix(run) + radix(run) - 1),
    };
    if high <= low + 1 {
        return None;
    }
    let mid = low + (high - low) / 2;
    let cut = spelled(&lo[..common], &runs, mid)?;
    let fits =
        cut.as_str() > after && cut.starts_with(prefix) && until.is_none_or(|u| cut.as_str() < u);
    fits.then_some(cut)
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
    fn a_cut_falls_between_its_bounds() {
        let cut = midpoint("d/", Some("d/000000999"), None).unwrap();
        assert!(
            cut.as_str() > "d/000000999" && cut.starts_with("d/"),
            "{cut}"
        );
        let cut = midpoint("d/", Some("d/000000999"), Some("d/000001")).unwrap();
        assert!(
            cut.as_str() > "d/000000999" && cut.as_str() < "d/000001",
            "{cut}"
        );
        let cut = midpoint("", None, Some("b")).unwrap();
        assert!(cut.as_str() < "b", "{cut}");
        // Nothing fits between a key and the key with one more character at its end.
        assert!(midpoint("", Some("a"), Some("a-")).is_none());
        // Numbers are cut as numbers.
        let cut = midpoint("d/", Some("d/000020000"), Some("d/000100000")).unwrap();
        assert_eq!(cut, "d/00006");
        let cut = midpoint("d/", Some("d/000000999"), None).unwrap();
        assert!(cut.starts_with("d/4") || cut.starts_with("d/5"), "{cut}");
        // Cuts are made of ordinary characters only, whatever the keys hold.
        let cut = midpoint("", Some("a&<b"), Some("a&<z")).unwrap();
        assert!(
            cut.starts_with("a&<") && cut[3..].bytes().all(|b| ALPHABET.contains(&b)),
            "{cut}"
        );
        // Bytes beyond ASCII: no cut that would not fall between the bounds.
        assert!(midpoint("", Some("\u{e9}t\u{e9}"), None).is_none());
    }

    #[test]
    fn a_range_is_cut_some_pages_ahead_by_how_far_a_page_reached() {
        let bounds = |first: &str, after: &str, until: Option<&str>| Bounds {
            after: Some(after.into()),
            until: until.map(str::to_owned),
            answered: true,
            page_first: Some(first.into()),
            ..Bounds::default()
        };
        // A page of 1,000 numbered keys: 4 pages ahead of d/000123999 is about d/000127995.
        let cut = ahead("d/", &bounds("d/000123000", "d/000123999", None), 4).unwrap();
        assert!(
            cut.as_str() > "d/000127" && cut.as_str() < "d/000128",
            "{cut}"
        );
        // Carried into the positions before: 4 pages past d/000199999 are past d/000200.
        let cut = ahead("d/", &bounds("d/000199000", "d/000199999", None), 4).unwrap();
        assert!(
            cut.as_str() > "d/000203" && cut.as_str() < "d/000204",
            "{cut}"
        );
        // Not past the range's end.
        assert!(
            ahead(
                "d/",
                &bounds("d/000123000", "d/000123999", Some("d/000125")),
                4
            )
            .is_none()
        );
        // No page seen: no cut.
        assert!(ahead("d/", &Bounds::default(), 4).is_none());
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
