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
    /// `OMS.0153`: a bucket's store could not be queried (wrong keys, no such bucket, a store
    /// that refuses, cannot be reached or does not answer in time).
    BucketQueryFailed,
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
    /// `APIGW.0308`: too many requests (the API gateway's throttling answer, HTTP 429).
    Throttled,
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
            Self::BucketQueryFailed => "OMS.0153",
            Self::NotFound => "OMS.1009",
            Self::IncorrectParameterType => "OMS.1010",
            Self::Internal => "OMS.9999",
            Self::Unavailable => "OMS.0503",
            Self::ApiNotFound => "APIGW.0101",
            Self::Unauthenticated => "APIGW.0301",
            Self::Forbidden => "APIGW.0302",
            Self::Throttled => "APIGW.0308",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task or a group failed: OMS's `TRF.xxxx` codes (`error_reason.error_code`), the one
/// place where each is named and worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCode {
    /// `TRF.0001`: a system error (no credentials stored, an endpoint omsd cannot reach).
    SystemError,
    /// `TRF.0003`: waiting for execution timed out.
    WaitTimedOut,
    /// `TRF.0004`: some objects failed; see the failed-object list.
    ObjectsFailed,
    /// `TRF.0013`: a list file is missing or cannot be read.
    ListFileUnreadable,
    /// `TRF.0014`: a list file is not `.txt`, or larger than 100 MB.
    ListFileRefused,
    /// `TRF.0016`: a URL-list (or list) line is malformed.
    ListLineMalformed,
    /// `TRF.0017`: a list file is empty.
    ListFileEmpty,
    /// `TRF.0018`: a list line is longer than 65,535 characters.
    ListLineTooLong,
    /// `TRF.0019`: a list file is not `text/plain`, or has a Content-Encoding.
    ListFileContentType,
    /// `TRF.0024`: the metadata of a given file or folder cannot be read.
    SourceObjectUnreadable,
    /// `TRF.0027`: the source objects cannot be listed (or their listing cannot be trusted).
    SourceListing,
    /// `TRF.0051`: the destination keys lack permission.
    DestinationDenied,
    /// `TRF.0057`: the destination keys are invalid.
    DestinationCredentials,
    /// `TRF.0058`: the destination bucket does not exist.
    DestinationBucketMissing,
    /// `TRF.0061`: the destination storage answered with an error, or cannot be reached.
    DestinationError,
    /// `TRF.0151`: the source keys are invalid.
    SourceCredentials,
    /// `TRF.0152`: the source keys lack permission.
    SourceDenied,
    /// `TRF.0155`: the source bucket does not exist.
    SourceBucketMissing,
    /// `TRF.0157`: the source storage answered with an error, or cannot be reached.
    SourceError,
}

impl FailureCode {
    /// Every code, in number order.
    pub const ALL: [Self; 19] = [
        Self::SystemError,
        Self::WaitTimedOut,
        Self::ObjectsFailed,
        Self::ListFileUnreadable,
        Self::ListFileRefused,
        Self::ListLineMalformed,
        Self::ListFileEmpty,
        Self::ListLineTooLong,
        Self::ListFileContentType,
        Self::SourceObjectUnreadable,
        Self::SourceListing,
        Self::DestinationDenied,
        Self::DestinationCredentials,
        Self::DestinationBucketMissing,
        Self::DestinationError,
        Self::SourceCredentials,
        Self::SourceDenied,
        Self::SourceBucketMissing,
        Self::SourceError,
    ];

    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SystemError => "TRF.0001",
            Self::WaitTimedOut => "TRF.0003",
            Self::ObjectsFailed => "TRF.0004",
            Self::ListFileUnreadable => "TRF.0013",
            Self::ListFileRefused => "TRF.0014",
            Self::ListLineMalformed => "TRF.0016",
            Self::ListFileEmpty => "TRF.0017",
            Self::ListLineTooLong => "TRF.0018",
            Self::ListFileContentType => "TRF.0019",
            Self::SourceObjectUnreadable => "TRF.0024",
            Self::SourceListing => "TRF.0027",
            Self::DestinationDenied => "TRF.0051",
            Self::DestinationCredentials => "TRF.0057",
            Self::DestinationBucketMissing => "TRF.0058",
            Self::DestinationError => "TRF.0061",
            Self::SourceCredentials => "TRF.0151",
            Self::SourceDenied => "TRF.0152",
            Self::SourceBucketMissing => "TRF.0155",
            Self::SourceError => "TRF.0157",
        }
    }

    /// What the code means, as OMS documents it (the default start of a message).
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::SystemError => "system error; start the task again",
            Self::WaitTimedOut => "waiting for execution timed out",
            Self::ObjectsFailed => "some objects failed; see the failed object list",
            Self::ListFileUnreadable => "the list file is missing or cannot be read",
            Self::ListFileRefused => "the list file is not a .txt file of at most 100 MB",
            Self::ListLineMalformed => "a line of the list file is malformed",
            Self::ListFileEmpty => "the list file is empty",
            Self::ListLineTooLong => "a line of the list file is longer than 65535 characters",
            Self::ListFileContentType => {
                "the list file is not text/plain, or has a Content-Encoding"
            }
            Self::SourceObjectUnreadable => "the metadata of a given object cannot be read",
            Self::SourceListing => "the source objects cannot be listed",
            Self::DestinationDenied => "the destination keys lack permission",
            Self::DestinationCredentials => "the destination AK/SK is invalid",
            Self::DestinationBucketMissing => "the destination bucket does not exist",
            Self::DestinationError => "the destination storage failed",
            Self::SourceCredentials => "the source AK/SK is invalid",
            Self::SourceDenied => "the source keys lack permission",
            Self::SourceBucketMissing => "the source bucket does not exist",
            Self::SourceError => "the source storage failed",
        }
    }

    /// The code of a wire string.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

/// Why one object failed: the codes of OMS's failed-object list (`error_code` of
/// `GET .../failed-objects`, and the first column of the list file), the one place where each
/// is named. Two are this implementation's, for causes OMS's codes do not tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectFailureCode {
    /// `GET_SRC_OBJ_META_FAILURE`: the source object's metadata cannot be read, or it does not
    /// exist.
    SourceMetadata,
    /// `GET_SRC_OBJ_FAILURE` (extension): the source object's bytes cannot be read — the store
    /// refused the read, the connection broke, the body was cut short, or another range came.
    SourceRead,
    /// `SRC_OBJ_CHANGED_FAILURE` (extension): the source object changed during every attempt
    /// to copy it.
    SourceChanged,
    /// `UPLOAD_DST_OBJ_FAILURE`: writing to the destination failed.
    Upload,
    /// `INIT_DST_OBJ_MULTIPART_FAILURE`: starting a multipart upload failed.
    InitMultipart,
    /// `COMPLETE_DST_OBJ_MULTIPART_FAILURE`: completing a multipart upload failed.
    CompleteMultipart,
    /// `COMPARE_SRC_AND_CDN_FAILURE`: the CDN's copy differs from the bucket's object (size, or
    /// the source is newer).
    CdnMismatch,
    /// `DELETE_DST_OBJ_FAILURE` (extension): deleting the destination object of a propagated
    /// removal failed.
    Delete,
    /// `URL_LIST_IP_FORBIDDEN`: a URL resolves to an address the guard refuses.
    IpForbidden,
    /// `URL_LIST_DOMAIN_FORBIDDEN`: a host name the guard refuses.
    DomainForbidden,
}

impl ObjectFailureCode {
    /// Every code.
    pub const ALL: [Self; 10] = [
        Self::SourceMetadata,
        Self::SourceRead,
        Self::SourceChanged,
        Self::Upload,
        Self::InitMultipart,
        Self::CompleteMultipart,
        Self::CdnMismatch,
        Self::Delete,
        Self::IpForbidden,
        Self::DomainForbidden,
    ];

    /// The code as it appears in the list and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SourceMetadata => "GET_SRC_OBJ_META_FAILURE",
            Self::SourceRead => "GET_SRC_OBJ_FAILURE",
            Self::SourceChanged => "SRC_OBJ_CHANGED_FAILURE",
            Self::Upload => "UPLOAD_DST_OBJ_FAILURE",
            Self::InitMultipart => "INIT_DST_OBJ_MULTIPART_FAILURE",
            Self::CompleteMultipart => "COMPLETE_DST_OBJ_MULTIPART_FAILURE",
            Self::CdnMismatch => "COMPARE_SRC_AND_CDN_FAILURE",
            Self::Delete => "DELETE_DST_OBJ_FAILURE",
            Self::IpForbidden => "URL_LIST_IP_FORBIDDEN",
            Self::DomainForbidden => "URL_LIST_DOMAIN_FORBIDDEN",
        }
    }

    /// The code of a wire string.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for ObjectFailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for FailureCode {
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
    #[error("the {0} is running and cannot be deleted; {verb} it first", verb = .0.halt_verb())]
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
        /// Whether a task or a task group refused the transition.
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
    /// A sync task.
    SyncTask,
}

impl Subject {
    /// What the API calls halting it: tasks and groups are paused, sync tasks stopped.
    pub const fn halt_verb(self) -> &'static str {
        match self {
            Self::Task | Self::TaskGroup => "pause",
            Self::SyncTask => "stop",
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Task => "task",
            Self::TaskGroup => "task group",
            Self::SyncTask => "sync task",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{FailureCode, ObjectFailureCode};

    #[test]
    fn object_codes_read_back_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ObjectFailureCode::ALL {
            assert_eq!(ObjectFailureCode::parse(code.as_str()), Some(code));
            assert!(seen.insert(code.as_str()), "{code}");
        }
    }

    #[test]
    fn failure_codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in FailureCode::ALL {
            assert!(code.as_str().starts_with("TRF."), "{code}");
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(FailureCode::parse(code.as_str()), Some(code));
            assert!(!code.meaning().is_empty());
        }
        assert_eq!(FailureCode::parse("TRF.9999"), None);
    }
}
