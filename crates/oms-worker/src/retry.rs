//! The one place that decides retries of object-store calls. Transient errors (by
//! [`oms_storage::ErrorKind`]) are tried again with exponential backoff and jitter, a bounded
//! number of times **per side**: when one attempt is a source read streamed into a destination
//! write, a GET that needed three tries does not spend the PUT's budget. Throttling is the store
//! asking to wait, not a fault of the object: it is backed off longer (from
//! [`RetryPolicy::throttle_base_delay`] doubling to [`RetryPolicy::throttle_max_delay`], or as
//! long as the store's `Retry-After` says) and counts against time
//! ([`RetryPolicy::throttle_patience`]), not attempts — a storm of a minute costs a minute, not
//! objects. (The connectors meanwhile lower how many requests are in flight to a store that
//! throttles.) Anything else is returned at once.

use std::future::Future;
use std::time::{Duration, Instant};

use oms_storage::{ErrorKind, StorageError};
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

use crate::control::Side;

/// How often and how patiently a retryable store error is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per side (the first included) after transient errors.
    pub max_attempts: u32,
    /// The pause before the first retry, doubled for each one after.
    pub base_delay: Duration,
    /// The longest pause between two attempts.
    pub max_delay: Duration,
    /// The pause after the first throttling answer, doubled for each one after.
    pub throttle_base_delay: Duration,
    /// The longest pause after a throttling answer (a `Retry-After` may ask for more).
    pub throttle_max_delay: Duration,
    /// How long one call may keep being throttled before it fails.
    pub throttle_patience: Duration,
}

/// `base` doubled `attempt` times, capped, with jitter in [50%, 100%].
fn exponential(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(2_u32.saturating_pow(attempt.min(20)));
    exp.min(cap).mul_f64(rand::rng().random_range(0.5..=1.0))
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (0-based) after a transient error.
    pub fn backoff(&self, attempt: u32) -> Duration {
        exponential(self.base_delay, self.max_delay, attempt)
    }

    /// The pause after the `throttles`-th (0-based) throttling answer in a row; at least what
    /// the store asked for.
    pub fn throttle_backoff(&self, throttles: u32, retry_after: Option<Duration>) -> Duration {
        let pause = exponential(self.throttle_base_delay, self.throttle_max_delay, throttles);
        retry_after.map_or(pause, |asked| pause.max(asked))
    }
}

/// An error that knows its [`ErrorKind`], and the side whose budget it spends.
pub(crate) trait Classified: std::fmt::Display {
    /// The store error.
    fn error(&self) -> &StorageError;

    /// The side of the request that failed (`None`: the call has one side only).
    fn side(&self) -> Option<Side> {
        None
    }
}

impl Classified for StorageError {
    fn error(&self) -> &StorageError {
        self
    }
}

/// Why a retried call gave up.
#[derive(Debug)]
pub(crate) enum GaveUp<E = StorageError> {
    /// The last error (not retryable, or out of attempts or patience).
    Failed(E),
    /// The run was cancelled while waiting.
    Cancelled,
}

/// What a call has spent so far.
#[derive(Debug, Default)]
struct Spent {
    /// Attempts that ended in a transient error: one-sided calls, the source, the destination.
    attempts: [u32; 3],
    /// Throttling answers in a row (for the backoff's exponent).
    throttles: u32,
    /// When the call was first throttled.
    throttled_since: Option<Instant>,
}

impl Spent {
    /// The pause before trying again, or `None` when `error` must be given up on.
    fn pause_after(
        &mut self,
        policy: &RetryPolicy,
        error: &StorageError,
        side: Option<Side>,
    ) -> Option<Duration> {
        match error.kind {
            ErrorKind::Throttled => {
                let since = *self.throttled_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= policy.throttle_patience {
                    return None;
                }
                let pause = policy.throttle_backoff(self.throttles, error.retry_after);
                self.throttles += 1;
                Some(pause)
            }
            ErrorKind::Transient => {
                self.throttles = 0;
                let slot = match side {
                    None => 0,
                    Some(Side::Source) => 1,
                    Some(Side::Destination) => 2,
                };
                let spent = &mut self.attempts[slot];
                *spent += 1;
                (*spent < policy.max_attempts).then(|| policy.backoff(*spent - 1))
            }
            _ => None,
        }
    }
}

/// Calls `op` until it succeeds, fails for good, or `cancel` fires.
pub(crate) async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    mut op: F,
) -> Result<T, GaveUp<E>>
where
    E: Classified,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut spent = Spent::default();
    loop {
        let result = tokio::select! {
            () = cancel.cancelled() => return Err(GaveUp::Cancelled),
            result = op() => result,
        };
        let failed = match result {
            Ok(value) => return Ok(value),
            Err(failed) => failed,
        };
        let kind = failed.error().kind;
        let Some(pause) = spent.pause_after(policy, failed.error(), failed.side()) else {
            return Err(GaveUp::Failed(failed));
        };
        metrics::counter!(oms_core::metrics::RETRIES, "kind" => kind.label()).increment(1);
        tracing::debug!(error = %failed, pause_ms = pause.as_millis(), "retrying");
        tokio::select! {
            () = cancel.cancelled() => return Err(GaveUp::Cancelled),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// The shipped defaults (config/default.toml).
    fn shipped() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            throttle_base_delay: Duration::from_secs(1),
            throttle_max_delay: Duration::from_secs(30),
            throttle_patience: Duration::from_secs(900),
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            throttle_base_delay: Duration::from_millis(1),
            throttle_max_delay: Duration::from_millis(5),
            throttle_patience: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result: Result<i32, GaveUp> = retry(&fast(), &CancellationToken::new(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(StorageError::new(
                    ErrorKind::Throttled,
                    "put_object",
                    "slow down",
                ))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_and_exhausted_attempts_give_up() {
        let calls = AtomicU32::new(0);
        let result: Result<(), GaveUp> = retry(&fast(), &CancellationToken::new(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StorageError::new(ErrorKind::Denied, "get_object", "no"))
        })
        .await;
        assert!(matches!(result, Err(GaveUp::Failed(e)) if e.kind == ErrorKind::Denied));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let result: Result<(), GaveUp> = retry(&fast(), &CancellationToken::new(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StorageError::new(
                ErrorKind::Transient,
                "get_object",
                "reset",
            ))
        })
        .await;
        assert!(matches!(result, Err(GaveUp::Failed(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..shipped()
        };
        assert!(
            p.backoff(0) <= Duration::from_millis(100) && p.backoff(0) >= Duration::from_millis(50)
        );
        assert!(p.backoff(3) >= Duration::from_millis(400));
        assert!(p.backoff(30) <= Duration::from_secs(1));
    }

    /// A failure on one side of a two-sided call.
    struct Sided(Side, StorageError);

    impl std::fmt::Display for Sided {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.1.fmt(f)
        }
    }

    impl Classified for Sided {
        fn error(&self) -> &StorageError {
            &self.1
        }
        fn side(&self) -> Option<Side> {
            Some(self.0)
        }
    }

    #[tokio::test]
    async fn each_side_has_its_own_budget() {
        // Three source failures, then three destination failures: 7 attempts, within 4 per side.
        let calls = AtomicU32::new(0);
        let result: Result<(), GaveUp<Sided>> =
            retry(&fast(), &CancellationToken::new(), || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let side = if n < 3 {
                    Side::Source
                } else {
                    Side::Destination
                };
                if n < 6 {
                    Err(Sided(
                        side,
                        StorageError::new(ErrorKind::Transient, "x", "reset"),
                    ))
                } else {
                    Ok(())
                }
            })
            .await;
        assert!(result.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn throttling_spends_time_not_attempts() {
        // Twenty throttling answers are far more than 4 attempts, well within the patience.
        let calls = AtomicU32::new(0);
        let result: Result<(), GaveUp> = retry(&fast(), &CancellationToken::new(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 20 {
                Err(StorageError::new(ErrorKind::Throttled, "x", "slow down"))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(result.is_ok());
        // And a store that never stops throttling is given up on once the patience is spent.
        let started = Instant::now();
        let result: Result<(), GaveUp> = retry(&fast(), &CancellationToken::new(), || async {
            Err(StorageError::new(ErrorKind::Throttled, "x", "slow down"))
        })
        .await;
        assert!(matches!(result, Err(GaveUp::Failed(_))));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn throttling_backs_off_longer_and_honours_retry_after() {
        let p = shipped();
        assert!(p.throttle_backoff(0, None) >= Duration::from_millis(500));
        assert!(p.throttle_backoff(10, None) >= Duration::from_secs(15));
        assert!(p.throttle_backoff(10, None) <= Duration::from_secs(30));
        assert!(p.throttle_backoff(0, Some(Duration::from_secs(42))) >= Duration::from_secs(42));
    }
}
