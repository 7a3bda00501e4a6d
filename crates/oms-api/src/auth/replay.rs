//! Signed requests that change something are taken once. A signature is valid for the whole
//! clock-skew window (15 minutes by default), so whoever sees one signed request could send it
//! again within that time; the signatures seen are kept until their window closes, and a
//! later arrival is refused. GET and HEAD only read, and clients poll them: they are not kept.
//!
//! `X-Sdk-Date` counts seconds and the SDKs add no nonce, so a client that sends the same
//! request twice within one second (a quick retry) signs it identically: a repeat within
//! [`REPEAT_GRACE`] of the first arrival is taken.
//!
//! The memory is bounded: at most [`MAX_SEEN`] signatures are kept; past that, new ones are
//! not remembered (and logged once), which is where a fleet of API nodes stands anyway — each
//! node keeps its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

/// The most signatures kept at once: about 200 bytes each.
pub const MAX_SEEN: usize = 1_000_000;
/// How long after its first arrival an identical signed request is still taken.
pub const REPEAT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Default)]
struct Seen {
    /// (access key, signature) → when it first arrived.
    until: HashMap<(String, String), std::time::Instant>,
    /// The same, by expiry, for sweeping.
    by_expiry: BTreeMap<(SystemTime, String, String), ()>,
    full_warned: bool,
}

/// Signatures seen within their window.
#[derive(Debug, Default)]
pub struct SeenSignatures(Mutex<Seen>);

impl SeenSignatures {
    /// Whether `signature` of `access_key` may be taken: the first time it arrives, or again
    /// within [`REPEAT_GRACE`]; it is remembered until `until` (when its date leaves the
    /// clock-skew window).
    pub fn first_time(&self, access_key: &str, signature: &str, until: SystemTime) -> bool {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = SystemTime::now();
        // Forget what can no longer be replayed.
        while let Some(((at, ak, sig), ())) = seen.by_expiry.first_key_value() {
            if *at > now {
                break;
            }
            let key = (ak.clone(), sig.clone());
            seen.by_expiry.pop_first();
            seen.until.remove(&key);
        }
        let key = (access_key.to_owned(), signature.to_ascii_lowercase());
        if let Some(first) = seen.until.get(&key) {
            return first.elapsed() < REPEAT_GRACE;
        }
        if seen.until.len() >= MAX_SEEN {
            if !seen.full_warned {
                seen.full_warned = true;
                tracing::warn!(
                    kept = MAX_SEEN,
                    "too many signed requests within the clock-skew window to remember them all; replays of the newest are not refused"
                );
            }
            return true;
        }
        seen.by_expiry
            .insert((until, key.0.clone(), key.1.clone()), ());
        seen.until.insert(key, std::time::Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_signature_is_taken_once_within_its_window() {
        let seen = SeenSignatures::default();
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(seen.first_time("AK", "abc", later));
        assert!(seen.first_time("AK", "abc", later), "a quick retry");
        std::thread::sleep(REPEAT_GRACE);
        assert!(!seen.first_time("AK", "ABC", later));
        assert!(
            seen.first_time("AK2", "abc", later),
            "another key's signature"
        );
        // Once its window has closed, it is forgotten (the date check refuses it then).
        let past = SystemTime::now() - Duration::from_secs(1);
        assert!(seen.first_time("AK", "old", past));
        assert!(seen.first_time("AK", "old", past));
    }
}
