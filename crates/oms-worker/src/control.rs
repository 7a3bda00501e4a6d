//! How a run is told to stop, and how it fails.

use std::sync::{Arc, Mutex};

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
    /// The code.
    pub code: &'static str,
    /// The reason, naming the side at fault.
    pub message: String,
}

impl TaskFailure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
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
        (Side::Source, ErrorKind::BadCredentials) => ("TRF.0151", "the source AK/SK is invalid"),
        (Side::Source, ErrorKind::NoSuchBucket) => ("TRF.0155", "the source bucket does not exist"),
        (Side::Destination, ErrorKind::BadCredentials) => {
            ("TRF.0057", "the destination AK/SK is invalid")
        }
        (Side::Destination, ErrorKind::NoSuchBucket) => {
            ("TRF.0058", "the destination bucket does not exist")
        }
        _ => return None,
    };
    Some(TaskFailure::new(code, format!("{what}: {error}")))
}

/// The failure of a whole task when a bucket check of `side` fails.
pub(crate) fn check_failure_of(side: Side, error: &StorageError) -> TaskFailure {
    task_failure_of(side, error).unwrap_or_else(|| {
        let (code, what) = match (side, error.kind) {
            (Side::Source, ErrorKind::Denied) => (
                "TRF.0152",
                "the source AK/SK may not read the source bucket",
            ),
            (Side::Source, _) => ("TRF.0157", "the source storage cannot be reached"),
            (Side::Destination, ErrorKind::Denied) => (
                "TRF.0051",
                "the destination AK/SK may not write the destination bucket",
            ),
            (Side::Destination, _) => ("TRF.0061", "the destination storage cannot be reached"),
        };
        TaskFailure::new(code, format!("{what}: {error}"))
    })
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
    /// Stop taking new work.
    pub intake: CancellationToken,
    /// Abort everything.
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
            Err(GaveUp::Failed(e)) => return Err(check_failure_of(side, &e)),
        }
    }
    Ok(true)
}
