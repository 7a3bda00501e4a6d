//! Extractors that fail in the OMS error shape: JSON bodies, path ids and list queries.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use oms_core::ids::{GroupId, TaskId};
use oms_core::model::Page;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body, decoded with the path of any field of the wrong type. An empty body counts as
/// `{}`, so that a missing body is reported as the missing required fields.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let limit = state.limits.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::BodyTooLarge { limit_bytes: limit })?;
        decode_json(content_type.as_deref(), &bytes).map(JsonBody)
    }
}

/// Decodes a JSON request body.
pub fn decode_json<T: DeserializeOwned>(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    if bytes != b"{}" {
        let essence = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            let got = if essence.is_empty() {
                "none".to_owned()
            } else {
                format!("'{essence}'")
            };
            return Err(ApiError::UnsupportedContentType(format!(
                "Content-Type must be application/json;charset=UTF-8, got {got}"
            )));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(decoding_error)?;
    de.end().map_err(|_| {
        ApiError::NotJson("the request body has trailing characters after the JSON value".into())
    })?;
    Ok(value)
}

/// Decodes a JSON value already read from a body (after a look at its field names).
pub fn decode_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(decoding_error)
}

/// A decoding failure: a field of the wrong type (named by its path), or no JSON at all.
fn decoding_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = inner.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_owned();
    if inner.is_data() {
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid(field, message)
    } else {
        ApiError::NotJson(format!("the request body is not valid JSON: {message}"))
    }
}

/// Parses the `{task_id}` path segment.
pub fn task_id(raw: &str) -> Result<TaskId, ApiError> {
    TaskId::parse(raw).ok_or_else(|| ApiError::BadParameter {
        field: "task_id",
        reason: format!("must be a number of at most 15 digits, got '{raw}'"),
    })
}

/// Parses the `{group_id}` path segment.
pub fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(raw).ok_or_else(|| ApiError::BadParameter {
        field: "group_id",
        reason: format!("must be a UUID, got '{raw}'"),
    })
}

/// An integer query parameter within `min..=max`, or `default` when absent.
pub fn query_int(
    params: &HashMap<String, String>,
    name: &'static str,
    default: Option<i64>,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(raw) = params.get(name).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let value: i64 = raw.parse().map_err(|_| ApiError::BadParameter {
        field: name,
        reason: format!("must be an integer, got '{raw}'"),
    })?;
    if !(min..=max).contains(&value) {
        return Err(ApiError::invalid(
            name,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(Some(value))
}

/// `limit` (1–100, default 10) and `offset` (default 0).
pub fn page(params: &HashMap<String, String>) -> Result<Page, ApiError> {
    let limit = query_int(params, "limit", Some(10), 1, 100)?.unwrap_or(10);
    let offset = query_int(params, "offset", Some(0), 0, i64::from(i32::MAX))?.unwrap_or(0);
    Ok(Page { limit, offset })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oms_core::wire::CreateTaskReq;

    #[test]
    fn wrong_types_name_the_field() {
        let err = decode_json::<CreateTaskReq>(
            Some("application/json"),
            br#"{"src_node": {"bucket": 5}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ApiError::Validation(v) if v.field == "src_node.bucket"),
            "{err:?}"
        );
        let err = decode_json::<CreateTaskReq>(
            Some("application/json"),
            br#"{"bandwidth_policy": [{"max_bandwidth": "x"}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ApiError::Validation(v) if v.field == "bandwidth_policy[0].max_bandwidth"),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_json_and_wrong_content_types_are_refused() {
        assert!(matches!(
            decode_json::<CreateTaskReq>(Some("application/json"), b"{oops"),
            Err(ApiError::NotJson(_))
        ));
        assert!(matches!(
            decode_json::<CreateTaskReq>(Some("text/plain"), b"{\"a\":1}"),
            Err(ApiError::UnsupportedContentType(_))
        ));
        assert!(
            decode_json::<CreateTaskReq>(Some("application/json;charset=UTF-8"), b"{\"x\":1}")
                .is_ok()
        );
        assert!(decode_json::<CreateTaskReq>(None, b"").is_ok());
        assert!(matches!(
            decode_json::<CreateTaskReq>(Some("application/json"), b"[1]"),
            Err(ApiError::Validation(_))
        ));
    }

    #[test]
    fn path_ids() {
        assert!(task_id("191297407830872").is_ok());
        assert!(matches!(
            task_id("abc"),
            Err(ApiError::BadParameter {
                field: "task_id",
                ..
            })
        ));
        assert!(matches!(
            group_id("zzz"),
            Err(ApiError::BadParameter {
                field: "group_id",
                ..
            })
        ));
    }
}
