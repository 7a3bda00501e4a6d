//! The one place where errors become HTTP responses: status, OMS code and message.
//!
//! Every failure answers with the OMS error body `{"error_code", "error_msg"}` (plus
//! `error_detail` for invalid parameters and the request id). Internal errors answer with a
//! generic message; their cause is logged once, here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use oms_core::wire::ErrorBody;
use oms_core::{ErrorCode, TransitionError, ValidationError};
use oms_db::DbError;

/// Everything a handler or middleware can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A body field breaks a rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The body is not JSON, or a field has the wrong JSON type.
    #[error("{0}")]
    NotJson(String),
    /// A path or query parameter has the wrong type or is out of range.
    #[error("invalid parameter [{field}]: {reason}")]
    BadParameter {
        /// The parameter's name.
        field: &'static str,
        /// What is wrong with the value, in words.
        reason: String,
    },
    /// The body is too large.
    #[error("the request body exceeds {limit_bytes} bytes")]
    BodyTooLarge {
        /// The largest body accepted, bytes (`max_body_bytes`).
        limit_bytes: usize,
    },
    /// The body could not be read whole (the client was too slow, or went away).
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
    /// The body is not `application/json`.
    #[error("{0}")]
    UnsupportedContentType(String),
    /// No such task or group (or one of another project).
    #[error("no resources found; check that the {0} exists")]
    NotFound(Missing),
    /// The verb is not allowed in the current status.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A request refused for a reason about stored data.
    #[error("{message}")]
    Refused {
        /// The OMS code answered (`OMS.xxxx`).
        code: ErrorCode,
        /// Why, in one sentence naming the task, group or field.
        message: String,
    },
    /// A store a bucket helper asked failed: wrong keys, no such bucket, refused, unreachable
    /// or too slow. The message names the side and the cause in one sentence.
    #[error("{0}")]
    Store(String),
    /// Missing or invalid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials for another project.
    #[error("{0}")]
    Forbidden(String),
    /// No API at this path.
    #[error("the API does not exist: {0}")]
    RouteNotFound(String),
    /// The method is not supported at this path.
    #[error("use the request method described in the OMS API reference")]
    MethodNotAllowed,
    /// Too many requests of this kind now (logins, a project's tasks): retry after a while.
    #[error("{message}")]
    Throttled {
        /// Why, in one sentence.
        message: String,
        /// When to retry, seconds (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The request took too long.
    #[error("the request took longer than {timeout_secs}s; retry later")]
    Timeout {
        /// The limit it exceeded, seconds (`request_timeout_secs`).
        timeout_secs: u64,
    },
    /// The database failed or cannot be reached.
    #[error(transparent)]
    Db(DbError),
    /// Anything else that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What was not found, which the message names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A task.
    Task,
    /// A task group.
    TaskGroup,
    /// A sync task (404, as OMS answers for sync tasks).
    SyncTask,
    /// An API version.
    ApiVersion,
    /// A stored resource of unknown kind.
    Resource,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Task => "task",
            Self::TaskGroup => "task group",
            Self::SyncTask => "sync task",
            Self::ApiVersion => "API version",
            Self::Resource => "resource",
        })
    }
}

impl ApiError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(ValidationError::new(field, reason))
    }

    /// The HTTP status and OMS code of this error.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::Validation(_)
            | Self::BodyTooLarge { .. }
            | Self::BodyUnreadable(_)
            | Self::UnsupportedContentType(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter)
            }
            Self::NotJson(_) => (StatusCode::BAD_REQUEST, ErrorCode::NotJson),
            Self::BadParameter { .. } => {
                (StatusCode::BAD_REQUEST, ErrorCode::IncorrectParameterType)
            }
            // OMS answers a missing task with 400 and OMS.1009 (Terraform's task resource
            // counts that as gone); a missing task group is a 404 with OMS.1009, the only
            // answer Terraform's group resource counts as gone.
            Self::NotFound(Missing::TaskGroup | Missing::SyncTask) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            Self::NotFound(_) => (StatusCode::BAD_REQUEST, ErrorCode::NotFound),
            Self::Transition(e) => (StatusCode::BAD_REQUEST, e.code()),
            Self::Refused {
                code: ErrorCode::Unavailable,
                ..
            } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::Refused { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Self::Store(_) => (StatusCode::BAD_REQUEST, ErrorCode::BucketQueryFailed),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::RouteNotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::ApiNotFound),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotSupported,
            ),
            Self::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::Throttled),
            Self::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            Self::Db(e) if e.is_unavailable() => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            Self::Db(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(e) => format!("Invalid request parameters: {} {}", e.field, e.reason),
            Self::Db(e) if e.is_unavailable() => {
                "the service is temporarily unavailable; retry later".into()
            }
            Self::Db(_) | Self::Internal(_) => "internal error; see the server log".into(),
            other => other.to_string(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::NotFound(Missing::Resource),
            DbError::Transition(t) => Self::Transition(t),
            DbError::Refused { code, message } => Self::Refused { code, message },
            DbError::Contention { what } => Self::Refused {
                code: ErrorCode::Unavailable,
                message: format!("the {what} is changing too fast; try again"),
            },
            other => Self::Db(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "request failed");
        }
        let error_detail = match &self {
            Self::Validation(e) => Some(format!("request parameter [{}] invalid", e.field)),
            Self::BadParameter { field, .. } => {
                Some(format!("request parameter [{field}] invalid"))
            }
            _ => None,
        };
        let body = ErrorBody {
            error_code: code.as_str().to_owned(),
            error_msg: self.message(),
            error_detail,
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::Throttled {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases = [
            (
                ApiError::invalid("description", "too long"),
                400,
                "OMS.0064",
            ),
            (ApiError::NotFound(Missing::Task), 400, "OMS.1009"),
            (ApiError::NotFound(Missing::TaskGroup), 404, "OMS.1009"),
            (ApiError::Unauthenticated("no".into()), 401, "APIGW.0301"),
            (ApiError::Forbidden("no".into()), 403, "APIGW.0302"),
            (
                ApiError::BadParameter {
                    field: "task_id",
                    reason: "x".into(),
                },
                400,
                "OMS.1010",
            ),
            (ApiError::NotJson("x".into()), 400, "OMS.0067"),
            (ApiError::Internal("boom".into()), 500, "OMS.9999"),
        ];
        for (err, status, code) in cases {
            let (s, c) = err.status_and_code();
            assert_eq!((s.as_u16(), c.as_str()), (status, code));
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        assert_eq!(
            ApiError::Internal("secret detail".into()).message(),
            "internal error; see the server log"
        );
    }
}
