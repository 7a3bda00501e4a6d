//! What a worker learnt of buckets in the last minute, so that its next tasks to the same
//! bucket, as the same caller, do not ask again. A group's tasks follow one another on the same
//! two buckets, and across a WAN each question is a round trip before a task's first listing
//! (on stores whose listings are dear, a listing request each too). An answer that went stale
//! in that minute costs nothing worse than asking would have: a bucket removed since fails the
//! task's listing with the same code, and a destination that turned to needing `Content-MD5`
//! says so in its first answer, which the run follows from then on.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use oms_storage::connect::Caller;

/// How long an answer holds.
const FRESH: Duration = Duration::from_secs(60);

/// Answers by caller and bucket, each with when it was given.
#[derive(Debug)]
struct Answers<T>(Mutex<HashMap<(Caller, String), (Instant, T)>>);

impl<T> Default for Answers<T> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<T: Clone> Answers<T> {
    fn get(&self, caller: Caller, bucket: &str) -> Option<T> {
        let answers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        answers
            .get(&(caller, bucket.to_owned()))
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, answer)| answer.clone())
    }

    fn put(&self, caller: Caller, bucket: &str, answer: T) {
        let mut answers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        answers.retain(|_, (at, _)| at.elapsed() < FRESH);
        answers.insert((caller, bucket.to_owned()), (Instant::now(), answer));
    }
}

/// The buckets a worker checked, and the destinations' write settings it read, lately.
#[derive(Debug, Default)]
pub struct BucketsSeen {
    checked: Answers<()>,
    write_settings: Answers<Option<String>>,
}

impl BucketsSeen {
    /// Whether `caller` found `bucket` there and usable within the last minute.
    pub(crate) fn checked(&self, caller: Caller, bucket: &str) -> bool {
        self.checked.get(caller, bucket).is_some()
    }

    /// `caller` found `bucket` there and usable.
    pub(crate) fn passed(&self, caller: Caller, bucket: &str) {
        self.checked.put(caller, bucket, ());
    }

    /// Why writes of `caller` to `bucket` need `Content-MD5` (`Some(None)`: they do not), as
    /// read within the last minute.
    pub(crate) fn write_settings(&self, caller: Caller, bucket: &str) -> Option<Option<String>> {
        self.write_settings.get(caller, bucket)
    }

    /// What `caller` read of `bucket`'s write settings.
    pub(crate) fn read_write_settings(&self, caller: Caller, bucket: &str, md5: Option<String>) {
        self.write_settings.put(caller, bucket, md5);
    }
}
