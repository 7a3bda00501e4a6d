//! What a worker learnt of destination buckets in the last minute: whether their writes need
//! `Content-MD5` (default SSE-KMS, Object Lock), so that its next tasks to the same bucket, as
//! the same caller, do not read it again. A group's tasks follow one another on the same
//! bucket, and across a WAN that read is a round trip before a task's first listing. A setting
//! changed in that minute costs a little time, never proof: a destination that turned to
//! needing `Content-MD5` says so in its first answer, and the run sends with it from then on
//! (and again what it could not prove). Only answers that stay the same a moment later are
//! kept: the settings, or a refusal to tell them (denied, not supported); never a throttled,
//! failed or missing-bucket answer.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use oms_storage::connect::Caller;

/// How long an answer holds.
const FRESH: Duration = Duration::from_secs(60);

/// Why writes of a caller to a bucket need `Content-MD5` (`None`: they do not), by caller and
/// bucket, each with when it was read.
type Answers = HashMap<(Caller, String), (Instant, Option<String>)>;

/// The destinations' write settings a worker read lately.
#[derive(Debug, Default)]
pub struct BucketsSeen {
    write_settings: Mutex<Answers>,
}

impl BucketsSeen {
    /// Why writes of `caller` to `bucket` need `Content-MD5` (`Some(None)`: they do not), as
    /// read within the last minute.
    pub(crate) fn write_settings(&self, caller: Caller, bucket: &str) -> Option<Option<String>> {
        let answers = self
            .write_settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        answers
            .get(&(caller, bucket.to_owned()))
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, answer)| answer.clone())
    }

    /// What `caller` read of `bucket`'s write settings.
    pub(crate) fn read_write_settings(&self, caller: Caller, bucket: &str, md5: Option<String>) {
        let mut answers = self
            .write_settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        answers.retain(|_, (at, _)| at.elapsed() < FRESH);
        answers.insert((caller, bucket.to_owned()), (Instant::now(), md5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_per_caller_and_bucket() {
        let seen = BucketsSeen::default();
        let (one, other) = (Caller::for_tests(1), Caller::for_tests(2));
        assert_eq!(seen.write_settings(one, "b"), None);
        seen.read_write_settings(one, "b", Some("default SSE-KMS".into()));
        assert_eq!(
            seen.write_settings(one, "b"),
            Some(Some("default SSE-KMS".into()))
        );
        assert_eq!(seen.write_settings(other, "b"), None);
        assert_eq!(seen.write_settings(one, "c"), None);
        seen.read_write_settings(one, "b", None);
        assert_eq!(seen.write_settings(one, "b"), Some(None));
    }
}
