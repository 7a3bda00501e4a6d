//! Why a copy of one object stopped: a [`SideError`] while it is retried (which side failed,
//! and whether the source's bytes or its metadata), and a [`CopyError`] when it gives up
//! (interrupted, changed, ranges not honoured, a per-object failure, or one that fails the whole
//! task).

use oms_core::error::ObjectFailureCode;
use oms_storage::{ErrorKind, StorageError};

use super::CopyCtx;
use crate::control::{Side, TaskFailure, task_failure_of};
use crate::pipeline::Outcome;
use crate::retry::{Classified, GaveUp};

/// A storage error with the side it happened on.
#[derive(Debug)]
pub(crate) struct SideError {
    pub side: Side,
    /// At the source: whether reading its bytes failed (else reading its metadata).
    pub read: bool,
    pub error: StorageError,
}

impl std::fmt::Display for SideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Source => "source",
            Side::Destination => "destination",
        };
        write!(f, "{side}: {}", self.error)
    }
}

impl Classified for SideError {
    fn error(&self) -> &StorageError {
        &self.error
    }

    fn side(&self) -> Option<Side> {
        Some(self.side)
    }
}

/// A failure of a request to `side`.
pub(crate) fn at(side: Side) -> impl Fn(StorageError) -> SideError {
    move |error| SideError {
        side,
        read: false,
        error,
    }
}

/// A failure to read the source object's bytes.
pub(crate) fn reading(error: StorageError) -> SideError {
    SideError {
        side: Side::Source,
        read: true,
        error,
    }
}

/// A failed write, blamed on the source when the source body it was sending failed first (a
/// source cut short makes the write fail, but the fault is the source's).
pub(crate) fn written(fault: &crate::streams::SourceFault) -> impl Fn(StorageError) -> SideError {
    move |error| match fault.take() {
        Some(source) => reading(source),
        None => at(Side::Destination)(error),
    }
}

/// The per-object code of a failure at the source (`read`: of its bytes, else of its
/// metadata): the guard's and the CDN comparison's own codes where the error carries them.
pub(crate) fn source_code(error: &StorageError, read: bool) -> ObjectFailureCode {
    match error.code.as_deref().and_then(ObjectFailureCode::parse) {
        Some(
            code @ (ObjectFailureCode::IpForbidden
            | ObjectFailureCode::DomainForbidden
            | ObjectFailureCode::CdnMismatch),
        ) => code,
        _ if read => ObjectFailureCode::SourceRead,
        _ => ObjectFailureCode::SourceMetadata,
    }
}

/// Why an object was not copied.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Stopped; it will be done again.
    Interrupted,
    /// The source changed under the copy (what was seen): the copy starts over.
    Changed(String),
    /// The source answered a ranged read with something else: read it in one stream.
    RangeNotHonored(String),
    /// The object failed with a per-object code; the task goes on.
    Object {
        code: ObjectFailureCode,
        message: String,
    },
    /// The whole task must fail.
    Task(TaskFailure),
}

impl CopyError {
    /// What becomes of the object: failed, or interrupted (to be done again). An error that
    /// must fail the whole task is handed to the run's stop.
    pub(crate) fn into_outcome(self, ctx: &CopyCtx) -> Outcome {
        match self {
            Self::Interrupted => Outcome::Interrupted,
            Self::Object { code, message } => Outcome::Failed { code, message },
            Self::Changed(message) | Self::RangeNotHonored(message) => Outcome::Failed {
                code: ObjectFailureCode::SourceRead,
                message,
            },
            Self::Task(failure) => {
                ctx.stop.fail(failure);
                Outcome::Interrupted
            }
        }
    }

    /// The error a retried call gave up with; `code` when the object fails at the
    /// destination.
    pub(crate) fn gave_up(code: ObjectFailureCode, gave_up: GaveUp<SideError>) -> Self {
        match gave_up {
            GaveUp::Cancelled => Self::Interrupted,
            GaveUp::Failed(e) if e.error.kind == ErrorKind::Changed => Self::Changed(e.to_string()),
            GaveUp::Failed(e) if e.error.kind == ErrorKind::RangeNotHonored => {
                Self::RangeNotHonored(e.to_string())
            }
            GaveUp::Failed(e) => match task_failure_of(e.side, &e.error) {
                Some(failure) => Self::Task(failure),
                None => {
                    let code = if e.side == Side::Source {
                        source_code(&e.error, e.read)
                    } else {
                        code
                    };
                    Self::Object {
                        code,
                        message: e.to_string(),
                    }
                }
            },
        }
    }
}
