//! The one place that decides retries of object-store calls: transient and throttled errors
//! (by [`oms_storage::ErrorKind::is_retryable`]) are tried again with exponential backoff and
//! jitter, a bounded number of times; anything else is returned at once.

use std::future::Future;
use std::time::Duration;

use oms_storage::{ErrorKind, StorageError};
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

/// How often and how patiently a retryable store error is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub max_attempts: u32,
    /// The pause before the first retry, doubled for each one after.
    pub base_delay: Duration,
    /// The longest pause between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (0-based): exponential, with jitter in [50%, 100%].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2_u32.saturating_pow(attempt.min(20)));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// An error that knows its [`ErrorKind`].
pub(crate) trait Classified: std::fmt::Display {
    /// The kind, which decides whether a retry may help.
    fn kind(&self) -> ErrorKind;
}

impl Classified for StorageError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Why a retried call gave up.
#[derive(Debug)]
pub(crate) enum GaveUp<E = StorageError> {
    /// The last error (not retryable, or out of attempts).
    Failed(E),
    /// The run was cancelled while waiting.
    Cancelled,
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
    let mut attempt = 0;
    loop {
        let result = tokio::select! {
            () = cancel.cancelled() => return Err(GaveUp::Cancelled),
            result = op() => result,
        };
        match result {
            Ok(value) => return Ok(value),
            Err(error) if error.kind().is_retryable() && attempt + 1 < policy.max_attempts => {
                let pause = policy.backoff(attempt);
                metrics::counter!(oms_core::metrics::RETRIES, "kind" => error.kind().label())
                    .increment(1);
                tracing::debug!(error = %error, attempt, pause_ms = pause.as_millis(), "retrying");
                attempt += 1;
                tokio::select! {
                    () = cancel.cancelled() => return Err(GaveUp::Cancelled),
                    () = tokio::time::sleep(pause) => {}
                }
            }
            Err(error) => return Err(GaveUp::Failed(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
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
        };
        assert!(
            p.backoff(0) <= Duration::from_millis(100) && p.backoff(0) >= Duration::from_millis(50)
        );
        assert!(p.backoff(3) >= Duration::from_millis(400));
        assert!(p.backoff(30) <= Duration::from_secs(1));
    }
}
