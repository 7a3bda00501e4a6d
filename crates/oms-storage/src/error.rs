//! Storage errors and their classification: the one place that decides what an object-store
//! failure means (and so whether it is worth retrying).

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object does not exist.
    NotFound,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The access key is unknown or the signature does not match.
    BadCredentials,
    /// The credentials are valid but not allowed.
    Denied,
    /// The store asks to slow down (429, 503 SlowDown).
    Throttled,
    /// A failure that may not happen again (5xx, connection reset, timeout).
    Transient,
    /// The object changed while it was being copied.
    Changed,
    /// Anything else: retrying will not help.
    Permanent,
}

impl ErrorKind {
    /// Whether trying again (after a pause) may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }
}

/// An object-store failure.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({kind:?}{}): {message}", status.map(|s| format!(", HTTP {s}")).unwrap_or_default())]
pub struct StorageError {
    /// The kind.
    pub kind: ErrorKind,
    /// The operation (`put_object`, `list_objects_v2`, ...).
    pub operation: &'static str,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The store's error code (`NoSuchBucket`, `SlowDown`, ...).
    pub code: Option<String>,
    /// What happened.
    pub message: String,
}

impl StorageError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            operation,
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// The kind of an error response with `status` and `code`.
    pub fn classify_response(status: Option<u16>, code: Option<&str>) -> ErrorKind {
        match code.unwrap_or_default() {
            "NoSuchBucket" => return ErrorKind::NoSuchBucket,
            "NoSuchKey" | "NotFound" | "NoSuchUpload" => return ErrorKind::NotFound,
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidToken"
            | "ExpiredToken"
            | "TokenRefreshRequired" => return ErrorKind::BadCredentials,
            "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => return ErrorKind::Denied,
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequests"
            | "RequestLimitExceeded" => {
                return ErrorKind::Throttled;
            }
            "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "RequestTimeTooSkewed" => {
                return ErrorKind::Transient;
            }
            "PreconditionFailed" => return ErrorKind::Changed,
            _ => {}
        }
        match status {
            Some(429 | 503) => ErrorKind::Throttled,
            Some(408 | 500..=599) | None => ErrorKind::Transient,
            Some(404) => ErrorKind::NotFound,
            Some(401) => ErrorKind::BadCredentials,
            Some(403) => ErrorKind::Denied,
            Some(412) => ErrorKind::Changed,
            Some(_) => ErrorKind::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        assert!(StorageError::classify_response(Some(503), Some("SlowDown")).is_retryable());
        assert!(StorageError::classify_response(Some(429), None).is_retryable());
        assert!(StorageError::classify_response(Some(500), Some("InternalError")).is_retryable());
        assert!(
            StorageError::classify_response(None, None).is_retryable(),
            "no response: connection trouble"
        );
    }

    #[test]
    fn client_errors_are_not() {
        assert_eq!(
            StorageError::classify_response(Some(404), Some("NoSuchBucket")),
            ErrorKind::NoSuchBucket
        );
        assert_eq!(
            StorageError::classify_response(Some(404), None),
            ErrorKind::NotFound
        );
        assert_eq!(
            StorageError::classify_response(Some(403), Some("InvalidAccessKeyId")),
            ErrorKind::BadCredentials
        );
        assert_eq!(
            StorageError::classify_response(Some(403), Some("SignatureDoesNotMatch")),
            ErrorKind::BadCredentials
        );
        assert_eq!(
            StorageError::classify_response(Some(403), Some("AccessDenied")),
            ErrorKind::Denied
        );
        assert_eq!(
            StorageError::classify_response(Some(400), Some("InvalidArgument")),
            ErrorKind::Permanent
        );
        assert!(!ErrorKind::Denied.is_retryable());
    }
}
