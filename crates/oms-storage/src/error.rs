//! Storage errors and their classification: the one place that decides what an object-store
//! failure means (and so whether it is worth retrying), and how it reads.
//!
//! An error reads as one sentence an operator can act on: what was asked, of which bucket and
//! key, at which endpoint, and what the store answered (its HTTP status and error code). It
//! never carries a client library's debug output, request ids or a response body.

use std::fmt;
use std::time::Duration;

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
    /// A failure that may not happen again (5xx, connection reset, timeout, a body cut short).
    Transient,
    /// The object is not the version that was listed or read before: it changed (a 412 to a
    /// conditional read, another entity tag, size or total length).
    Changed,
    /// The store answered a ranged read with something other than exactly that range (a 200
    /// with the whole object, or a 206 for another range): it cannot serve ranges.
    RangeNotHonored,
    /// The store refuses a write without `Content-MD5` or a checksum (an Object Lock bucket):
    /// the same write with one will do.
    ChecksumRequired,
    /// Anything else: retrying will not help.
    Permanent,
}

impl ErrorKind {
    /// Whether trying again (after a pause) may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }

    /// The kind as a metrics label (`snake_case`).
    pub const fn label(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::NoSuchBucket => "no_such_bucket",
            Self::BadCredentials => "bad_credentials",
            Self::Denied => "denied",
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::Changed => "changed",
            Self::RangeNotHonored => "range_not_honored",
            Self::ChecksumRequired => "checksum_required",
            Self::Permanent => "permanent",
        }
    }
}

/// Longest store message kept: a store may put anything in its message.
const MAX_MESSAGE_CHARS: usize = 300;

/// An object-store failure.
#[derive(Debug, Clone, thiserror::Error)]
pub struct StorageError {
    /// What kind of failure, which decides retries and the `TRF` code.
    pub kind: ErrorKind,
    /// The operation (`GetObject`, `ListObjectsV2`, `GET`, ...).
    pub operation: &'static str,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The store's error code (`NoSuchBucket`, `SlowDown`, ...).
    pub code: Option<String>,
    /// What happened, in words.
    pub message: String,
    /// How long the store asked to wait before trying again (`Retry-After`), when it said.
    pub retry_after: Option<Duration>,
    /// What was asked, where (boxed: errors travel in every `Result` of a request's path).
    target: Option<Box<Target>>,
}

/// What an error was about.
#[derive(Debug, Clone, Default)]
struct Target {
    /// The bucket asked about, when there was one.
    bucket: Option<String>,
    /// The key asked about, when there was one.
    key: Option<String>,
    /// The endpoint asked (scheme, host and port; never credentials or a query).
    endpoint: Option<String>,
}

impl StorageError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            operation,
            status: None,
            code: None,
            message: tidy(&message.into()),
            retry_after: None,
            target: None,
        }
    }

    /// The same error, with the wait the store asked for (a `Retry-After` header's value).
    #[must_use]
    pub fn with_retry_after(mut self, header: Option<&str>) -> Self {
        self.retry_after = header.and_then(parse_retry_after);
        self
    }

    fn target(&mut self) -> &mut Target {
        self.target.get_or_insert_with(Box::default)
    }

    /// The bucket the error is about.
    pub fn bucket(&self) -> Option<&str> {
        self.target.as_ref()?.bucket.as_deref()
    }

    /// The key the error is about.
    pub fn key(&self) -> Option<&str> {
        self.target.as_ref()?.key.as_deref()
    }

    /// The endpoint the error is about.
    pub fn endpoint(&self) -> Option<&str> {
        self.target.as_ref()?.endpoint.as_deref()
    }

    /// The same error, naming the HTTP status and the store's code.
    #[must_use]
    pub fn with_status(mut self, status: Option<u16>, code: Option<String>) -> Self {
        self.status = status;
        self.code = code;
        self
    }

    /// The same error, naming the bucket and key asked about.
    #[must_use]
    pub fn at(mut self, bucket: &str, key: Option<&str>) -> Self {
        let target = self.target();
        if !bucket.is_empty() {
            target.bucket = Some(bucket.to_owned());
        }
        target.key = key.map(str::to_owned);
        self
    }

    /// The same error, naming the endpoint asked.
    #[must_use]
    pub fn via(mut self, endpoint: &str) -> Self {
        self.target().endpoint = Some(endpoint.to_owned());
        self
    }

    /// The kind of an error response with `status` and `code`.
    pub fn classify_response(status: Option<u16>, code: Option<&str>) -> ErrorKind {
        match code.unwrap_or_default() {
            "NoSuchBucket" | "ContainerNotFound" => return ErrorKind::NoSuchBucket,
            "NoSuchKey" | "NotFound" | "NoSuchUpload" | "BlobNotFound" => {
                return ErrorKind::NotFound;
            }
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidToken"
            | "ExpiredToken"
            | "TokenRefreshRequired"
            | "AuthenticationFailed"
            | "InvalidAuthenticationInfo" => return ErrorKind::BadCredentials,
            "AccessDenied"
            | "AllAccessDisabled"
            | "AccountProblem"
            | "AuthorizationFailure"
            | "AuthorizationPermissionMismatch" => return ErrorKind::Denied,
            // AWS, Tencent COS and MinIO say SlowDown; Aliyun OSS QpsLimitExceeded; Azure
            // ServerBusy; the rest are what AWS SDKs treat as throttling.
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequests"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "QpsLimitExceeded"
            | "ServerBusy" => {
                return ErrorKind::Throttled;
            }
            // A 503 ServiceUnavailable is how S3 and Huawei OBS also say "reduce your request
            // rate": backing off as from throttling is right either way.
            "ServiceUnavailable" if status == Some(503) => return ErrorKind::Throttled,
            "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeTooSkewed"
            | "OperationTimedOut" => {
                return ErrorKind::Transient;
            }
            "PreconditionFailed" | "ConditionNotMet" | "TargetConditionNotMet" => {
                return ErrorKind::Changed;
            }
            "MissingUploadObjectWithObjectLockHeaders" => return ErrorKind::ChecksumRequired,
            // What the store does not do, it will not do on the next try either.
            "NotImplemented" => return ErrorKind::Permanent,
            // The body arrived otherwise than its Content-MD5 says: damaged on the way.
            "BadDigest" | "XAmzContentSHA256Mismatch" => return ErrorKind::Transient,
            _ => {}
        }
        match status {
            Some(429 | 503) => ErrorKind::Throttled,
            Some(501) => ErrorKind::Permanent,
            Some(408 | 500..=599) | None => ErrorKind::Transient,
            Some(404) => ErrorKind::NotFound,
            Some(401) => ErrorKind::BadCredentials,
            Some(403) => ErrorKind::Denied,
            Some(412) => ErrorKind::Changed,
            Some(_) => ErrorKind::Permanent,
        }
    }
}

/// The longest wait a `Retry-After` is taken for: a store asking for more is asked again then.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A `Retry-After` value: delay-seconds, or an HTTP date (the wait until then); capped at
/// [`MAX_RETRY_AFTER`].
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
            .ok()?;
        let left = at - time::OffsetDateTime::now_utc();
        Duration::try_from(left).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// One line, of bounded length: a store's message may hold newlines or a whole document.
pub(crate) fn tidy(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_MESSAGE_CHARS {
        return line;
    }
    let cut: String = line.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{cut}…")
}

impl fmt::Display for StorageError {
    /// `GetObject of bucket/key at http://host:port: the message (HTTP 412 PreconditionFailed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.operation)?;
        match (self.bucket(), self.key()) {
            (Some(bucket), Some(key)) => write!(f, " of {bucket}/{key}")?,
            (Some(bucket), None) => write!(f, " of bucket {bucket}")?,
            (None, Some(key)) => write!(f, " of {key}")?,
            (None, None) => {}
        }
        if let Some(endpoint) = self.endpoint() {
            write!(f, " at {endpoint}")?;
        }
        write!(f, ": {}", self.message)?;
        match (self.status, &self.code) {
            (Some(status), Some(code)) => write!(f, " (HTTP {status} {code})"),
            (Some(status), None) => write!(f, " (HTTP {status})"),
            (None, Some(code)) => write!(f, " ({code})"),
            (None, None) => Ok(()),
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
    fn the_clouds_ways_of_asking_to_slow_down_are_throttling() {
        for (status, code) in [
            (503, "SlowDown"),
            (503, "QpsLimitExceeded"),
            (503, "ServiceUnavailable"),
            (503, "ServerBusy"),
            (429, "TooManyRequestsException"),
            (400, "RequestLimitExceeded"),
        ] {
            assert_eq!(
                StorageError::classify_response(Some(status), Some(code)),
                ErrorKind::Throttled,
                "{status} {code}"
            );
        }
        assert_eq!(
            StorageError::classify_response(Some(500), Some("InternalError")),
            ErrorKind::Transient
        );
    }

    #[test]
    fn what_a_store_does_not_implement_is_not_tried_again() {
        for (status, code) in [
            (501, Some("NotImplemented")),
            (501, None),
            (400, Some("NotImplemented")),
        ] {
            assert_eq!(
                StorageError::classify_response(Some(status), code),
                ErrorKind::Permanent,
                "{status} {code:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date_and_capped() {
        let wait = |v: &str| {
            StorageError::new(ErrorKind::Throttled, "GET", "busy")
                .with_retry_after(Some(v))
                .retry_after
        };
        assert_eq!(wait("7"), Some(Duration::from_secs(7)));
        assert_eq!(wait("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(wait("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(wait("soon"), None);
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
        assert_eq!(
            StorageError::classify_response(Some(412), None),
            ErrorKind::Changed
        );
        assert!(!ErrorKind::Denied.is_retryable());
        assert!(!ErrorKind::Changed.is_retryable());
    }

    #[test]
    fn errors_read_as_one_sentence_naming_what_where_and_the_answer() {
        let error = StorageError::new(
            ErrorKind::Changed,
            "GetObject",
            "the object changed\nsince it was listed",
        )
        .with_status(Some(412), Some("PreconditionFailed".into()))
        .at("src", Some("big.bin"))
        .via("http://127.0.0.1:9000");
        assert_eq!(
            error.to_string(),
            "GetObject of src/big.bin at http://127.0.0.1:9000: the object changed since it was listed (HTTP 412 PreconditionFailed)"
        );
        let long = StorageError::new(ErrorKind::Permanent, "GET", "x".repeat(1000));
        assert!(long.to_string().chars().count() < 320);
    }
}
