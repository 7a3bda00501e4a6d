//! OMS error codes and the domain errors that carry them.
//!
//! The HTTP status for each code is decided in exactly one place, the API's error mapping; this
//! module only knows which OMS code a domain failure is.

/// An OMS error code the API can answer with (`error_code` in the error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `OMS.0005`: the HTTP method is not supported on this path.
    MethodNotSupported,
    /// `OMS.0063`: the task or group is running and cannot be deleted; pause it first.
    RunningCannotDelete,
    /// `OMS.0064`: a request parameter is invalid.
    InvalidParameter,
    /// `OMS.0065`: the task or group has already started.
    AlreadyStarted,
    /// `OMS.0066`: the task or group is not in progress, so it cannot be paused.
    NotInProgress,
    /// `OMS.0067`: the request body is not JSON.
    NotJson,
    /// `OMS.0070`: the task or group has completed; it cannot be started or paused.
    AlreadyCompleted,
    /// `OMS.1009`: no such resource (also for another project's resources).
    NotFound,
    /// `OMS.1010`: a path or query parameter has the wrong type.
    IncorrectParameterType,
    /// `OMS.9999`: an internal error; details are only in the server log.
    Internal,
    /// `OMS.0503`: the service cannot serve the request right now (database unavailable).
    Unavailable,
    /// `APIGW.0101`: no API at this path.
    ApiNotFound,
    /// `APIGW.0301`: missing or invalid credentials.
    Unauthenticated,
    /// `APIGW.0302`: the credentials do not grant access to this project.
    Forbidden,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MethodNotSupported => "OMS.0005",
            Self::RunningCannotDelete => "OMS.0063",
            Self::InvalidParameter => "OMS.0064",
            Self::AlreadyStarted => "OMS.0065",
            Self::NotInProgress => "OMS.0066",
            Self::NotJson => "OMS.0067",
            Self::AlreadyCompleted => "OMS.0070",
            Self::NotFound => "OMS.1009",
            Self::IncorrectParameterType => "OMS.1010",
            Self::Internal => "OMS.9999",
            Self::Unavailable => "OMS.0503",
            Self::ApiNotFound => "APIGW.0101",
            Self::Unauthenticated => "APIGW.0301",
            Self::Forbidden => "APIGW.0302",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request field that breaks a rule of the OMS v2 API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request parameter [{field}]: {reason}")]
pub struct ValidationError {
    /// The field's JSON path, e.g. `src_node.bucket` or `bandwidth_policy[1].start`.
    pub field: String,
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

impl ValidationError {
    /// A validation error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A verb that the current status of a task or task group does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// Start or resume of something that is already waiting or running.
    #[error("the {0} has already started")]
    AlreadyStarted(Subject),
    /// Start of something that is still pausing.
    #[error("the {0} is pausing; start it again once it is paused")]
    StillPausing(Subject),
    /// Stop of something that is not waiting or running.
    #[error("failed to pause the {0}: it is not in progress")]
    NotInProgress(Subject),
    /// Delete of something that is running.
    #[error("the {0} is running and cannot be deleted; pause it first")]
    RunningCannotDelete(Subject),
    /// Start or stop of something completed.
    #[error("the {0} has completed and cannot be started or paused")]
    AlreadyCompleted(Subject),
    /// Resume (start) of a failed task group: that is what retry is for.
    #[error("the task group failed; use retry to run it again")]
    UseRetry,
    /// Retry of a task group that has not failed.
    #[error("only a failed task group can be retried; a paused one is resumed with start")]
    NotFailed,
    /// Any verb on a task group that is being deleted.
    #[error("the task group is being deleted")]
    Deleting,
    /// A worker-side transition that the current status does not allow (a lost race).
    #[error("the {subject} cannot go from status {from} by {event}")]
    Illegal {
        /// Task or task group.
        subject: Subject,
        /// The current status number.
        from: i64,
        /// The event's name.
        event: &'static str,
    },
}

impl TransitionError {
    /// The OMS code the API answers with.
    pub const fn code(self) -> ErrorCode {
        match self {
            Self::AlreadyStarted(_) | Self::StillPausing(_) => ErrorCode::AlreadyStarted,
            Self::NotInProgress(_) => ErrorCode::NotInProgress,
            Self::RunningCannotDelete(_) => ErrorCode::RunningCannotDelete,
            Self::AlreadyCompleted(_) => ErrorCode::AlreadyCompleted,
            Self::UseRetry | Self::NotFailed | Self::Illegal { .. } => ErrorCode::InvalidParameter,
            Self::Deleting => ErrorCode::NotFound,
        }
    }
}

/// What a transition error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A migration task.
    Task,
    /// A task group.
    TaskGroup,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Task => "task",
            Self::TaskGroup => "task group",
        })
    }
}
