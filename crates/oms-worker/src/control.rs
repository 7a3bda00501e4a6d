//! How a run is told to stop, and how it fails.

use std::sync::{Arc, Mutex};

use oms_core::error::FailureCode;
use oms_db::DbError;
pub(crate) use oms_storage::connect::Side;
use oms_storage::{ErrorKind, StorageError};
use tokio_util::sync::CancellationToken;

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The user paused the task (status pausing).
    Pause,
    /// The worker shuts down: hand the task to another worker.
    Shutdown,
    /// Another worker holds the task now: write nothing more.
    LeaseLost,
    /// The database failed under the run: abort, and hand the task back if it can be written.
    Trouble,
}

/// A failure of the whole task, with its `TRF.xxxx` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskFailure {
    /// The `TRF.xxxx` code the task fails with.
    pub code: FailureCode,
    /// The reason, naming the side at fault.
    pub message: String,
}

impl TaskFailure {
    pub(crate) fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The failure of a whole task that a storage error implies, if it implies one: the keys or
/// the bucket of one side are wrong, so every other object would fail the same way.
pub(crate) fn task_failure_of(side: Side, error: &StorageError) -> Option<TaskFailure> {
    let (code, what) = match (side, error.kind) {
        (Side::Source, ErrorKind::BadCredentials) => (
            FailureCode::SourceCredentials,
            "the source AK/SK is invalid",
        ),
        (Side::Source, ErrorKind::NoSuchBucket) => (
            FailureCode::SourceBucketMissing,
            "the source bucket does not exist",
        ),
        (Side::Destination, ErrorKind::BadCredentials) => (
            FailureCode::DestinationCredentials,
            "the destination AK/SK is invalid",
        ),
        (Side::Destination, ErrorKind::NoSuchBucket) => (
            FailureCode::DestinationBucketMissing,
            "the destination bucket does not exist",
        ),
        _ => return None,
    };
    Some(TaskFailure::new(code, format!("{what}: {error}")))
}

/// What a run was doing when a store refused it for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Checking a bucket before the run (one listing request per side).
    CheckingBucket(Side),
    /// Listing the source objects.
    ListingSource,
    /// Reading the destination to compare (its listing, or a HEAD).
    ReadingDestination,
    /// Reading a list file, or listing the list files, at the destination.
    ReadingListFile,
}

/// The failure of a whole task when `activity` failed with `error` (after its retries): wrong
/// keys or a missing bucket first ([`task_failure_of`]), else the activity's own code. The one
/// place where task-ending store errors get their `TRF` codes.
pub(crate) fn activity_failure(activity: Activity, error: &StorageError) -> TaskFailure {
    let side = match activity {
        Activity::CheckingBucket(side) => side,
        Activity::ListingSource => Side::Source,
        Activity::ReadingDestination | Activity::ReadingListFile => Side::Destination,
    };
    task_failure_of(side, error).unwrap_or_else(|| {
        let denied = error.kind == ErrorKind::Denied;
        // Without an answer the store was not reached; with one, it answered wrongly.
        let reached = error.status.is_some();
        let (code, what) = match activity {
            Activity::CheckingBucket(Side::Source) if denied => (
                FailureCode::SourceDenied,
                "the source AK/SK may not read the source bucket",
            ),
            Activity::CheckingBucket(Side::Source) if reached => (
                FailureCode::SourceError,
                "the source storage answered the bucket check with an error",
            ),
            Activity::CheckingBucket(Side::Source) => (
                FailureCode::SourceError,
                "the source storage cannot be reached",
            ),
            Activity::CheckingBucket(Side::Destination) if denied => (
                FailureCode::DestinationDenied,
                "the destination AK/SK may not write the destination bucket",
            ),
            Activity::CheckingBucket(Side::Destination) if reached => (
                FailureCode::DestinationError,
                "the destination storage answered the bucket check with an error",
            ),
            Activity::CheckingBucket(Side::Destination) => (
                FailureCode::DestinationError,
                "the destination storage cannot be reached",
            ),
            Activity::ListingSource if denied => (
                FailureCode::SourceDenied,
                "the source AK/SK may not list the source bucket",
            ),
            Activity::ListingSource => {
                (FailureCode::SourceListing, "cannot list the source objects")
            }
            Activity::ReadingDestination if denied => (
                FailureCode::DestinationDenied,
                "the destination AK/SK may not read the destination bucket",
            ),
            Activity::ReadingDestination => {
                (FailureCode::DestinationError, "cannot read the destination")
            }
            Activity::ReadingListFile => (
                FailureCode::ListFileUnreadable,
                "cannot read the list files",
            ),
        };
        TaskFailure::new(code, format!("{what}: {error}"))
    })
}

/// The failure of a task whose `side` listing of `prefix` in `bucket` broke its contract: the
/// source's is `TRF.0027` (it cannot be listed reliably); a destination listing never fails a
/// task this way (the engine asks object by object instead), but the code is its own.
pub(crate) fn broken_listing(
    side: Side,
    store: &dyn oms_storage::ReadStore,
    bucket: &str,
    prefix: &str,
    broken: &crate::pages::Broken,
) -> TaskFailure {
    let (code, side) = match side {
        Side::Source => (FailureCode::SourceListing, "source"),
        Side::Destination => (FailureCode::DestinationError, "destination"),
    };
    let under = if prefix.is_empty() {
        String::new()
    } else {
        format!(" under '{prefix}'")
    };
    let endpoint = store.endpoint();
    let at = if endpoint.is_empty() {
        String::new()
    } else {
        format!(" at {endpoint}")
    };
    TaskFailure::new(
        code,
        format!(
            "the {side} listing of bucket {bucket}{under}{at} cannot be trusted: the store {}",
            broken.0
        ),
    )
}

#[derive(Debug, Default)]
struct StopState {
    reason: Option<StopReason>,
    failure: Option<TaskFailure>,
}

/// The stop controls of one run. `intake` stops listing and dispatching while in-flight objects
/// finish (or save their multipart state); `hard` also aborts what is in flight. Cancelling
/// `hard` cancels `intake`.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    /// Cancelled to stop listing and dispatching; in-flight objects finish.
    pub intake: CancellationToken,
    /// Cancelled to abort in-flight transfers too (after the grace period).
    pub hard: CancellationToken,
    state: Arc<Mutex<StopState>>,
}

impl Stop {
    pub(crate) fn new() -> Self {
        let hard = CancellationToken::new();
        Self {
            intake: hard.child_token(),
            hard,
            state: Arc::default(),
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut StopState) -> T) -> T {
        // A poisoned lock only means another stage panicked; the state is still meaningful.
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Asks the run to stop for `reason` (the first reason wins).
    pub(crate) fn request(&self, reason: StopReason) {
        self.with_state(|s| {
            s.reason.get_or_insert(reason);
        });
        if matches!(reason, StopReason::LeaseLost | StopReason::Trouble) {
            self.hard.cancel();
        } else {
            self.intake.cancel();
        }
    }

    /// Fails the whole task (the first failure wins) and aborts the run.
    pub(crate) fn fail(&self, failure: TaskFailure) {
        self.with_state(|s| {
            s.failure.get_or_insert(failure);
        });
        self.hard.cancel();
    }

    /// Fails the whole task with `failure` whatever failed before it, and aborts the run: for
    /// the buckets' check, which runs beside the first requests of the run and whose verdict
    /// names the cause (a missing bucket, refused keys) better than what it made fail.
    pub(crate) fn fail_with(&self, failure: TaskFailure) {
        self.with_state(|s| s.failure = Some(failure));
        self.hard.cancel();
    }

    /// Stops the run because a database call failed.
    pub(crate) fn db_failed(&self, error: &DbError) {
        tracing::warn!(error = %error, "a database write of the run failed; stopping it");
        let reason = if matches!(error, DbError::LeaseLost) {
            StopReason::LeaseLost
        } else {
            StopReason::Trouble
        };
        self.request(reason);
    }

    /// Why the run stopped, if it was asked to.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.with_state(|s| s.reason)
    }

    /// The task failure, if one was raised.
    pub(crate) fn failure(&self) -> Option<TaskFailure> {
        self.with_state(|s| s.failure.clone())
    }
}

/// Checks both buckets at once (one listing request each): `Ok(false)` when stopped first, the
/// failure of the side that refused otherwise.
pub(crate) async fn check_buckets(
    policy: &crate::retry::RetryPolicy,
    sides: &oms_storage::connect::Sides,
    destination_bucket: &str,
    cancel: &CancellationToken,
) -> Result<bool, TaskFailure> {
    use crate::retry::{GaveUp, retry};
    let (source, destination) = tokio::join!(
        retry(policy, cancel, || sides
            .source
            .check_bucket(&sides.source_bucket)),
        retry(policy, cancel, || sides
            .destination
            .check_bucket(destination_bucket)),
    );
    for (side, checked) in [(Side::Source, source), (Side::Destination, destination)] {
        match checked {
            Ok(()) => {}
            Err(GaveUp::Cancelled) => return Ok(false),
            Err(GaveUp::Failed(e)) => {
                return Err(activity_failure(Activity::CheckingBucket(side), &e));
            }
        }
    }
    Ok(true)
}

/// A shutdown or a stop lets transfers in flight finish for a grace period, then cuts them
/// (`stop.hard`): a stop takes effect within seconds whatever the bandwidth. Runs until then.
pub(crate) async fn cut_after_grace(
    stop: Stop,
    config: Arc<crate::WorkerConfig>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        () = shutdown.cancelled() => {
            stop.request(StopReason::Shutdown);
            tokio::time::sleep(config.shutdown_grace).await;
        }
        () = stop.intake.cancelled() => {
            tokio::time::sleep(config.stop_grace).await;
        }
    }
    if !stop.hard.is_cancelled() {
        tracing::info!(
            "the grace period is over: transfers in flight are cut and redone on resume"
        );
    }
    stop.hard.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_activity_maps_refusals_to_its_own_code_after_keys_and_buckets() {
        let error = |kind| StorageError::new(kind, "list_objects_v2", "refused");
        let cases = [
            (
                Activity::CheckingBucket(Side::Source),
                ErrorKind::Denied,
                "TRF.0152",
            ),
            (
                Activity::CheckingBucket(Side::Source),
                ErrorKind::Transient,
                "TRF.0157",
            ),
            (
                Activity::CheckingBucket(Side::Destination),
                ErrorKind::Denied,
                "TRF.0051",
            ),
            (
                Activity::CheckingBucket(Side::Destination),
                ErrorKind::Permanent,
                "TRF.0061",
            ),
            (Activity::ListingSource, ErrorKind::Denied, "TRF.0152"),
            (Activity::ListingSource, ErrorKind::Transient, "TRF.0027"),
            (
                Activity::ListingSource,
                ErrorKind::BadCredentials,
                "TRF.0151",
            ),
            (Activity::ListingSource, ErrorKind::NoSuchBucket, "TRF.0155"),
            (Activity::ReadingDestination, ErrorKind::Denied, "TRF.0051"),
            (
                Activity::ReadingDestination,
                ErrorKind::Transient,
                "TRF.0061",
            ),
            (
                Activity::ReadingDestination,
                ErrorKind::NoSuchBucket,
                "TRF.0058",
            ),
            (Activity::ReadingListFile, ErrorKind::Denied, "TRF.0013"),
            (
                Activity::ReadingListFile,
                ErrorKind::BadCredentials,
                "TRF.0057",
            ),
        ];
        for (activity, kind, code) in cases {
            let failure = activity_failure(activity, &error(kind));
            assert_eq!(failure.code.as_str(), code, "{activity:?} {kind:?}");
            assert!(failure.message.ends_with("refused"), "{}", failure.message);
        }
    }
}
