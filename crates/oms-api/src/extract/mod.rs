//! Extractors that fail in the OMS error shape: JSON bodies ([`JsonBody`]), the ids of a path
//! ([`path`]) and the filters of a list ([`query`]). The path and query extractors also describe
//! themselves to the OpenAPI document, so that what is parsed and what is documented come from
//! the same constants.

pub mod notification;
pub mod path;
pub mod query;
pub mod sync;
pub mod unknown;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body, decoded with the path of any field of the wrong type. An empty body counts as
/// `{}`, so that a missing body is reported as the missing required fields. Fields the API
/// does not have are ignored, logged and named in the answer ([`unknown`]), or refused with
/// `server.reject_unknown_fields`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + utoipa::ToSchema> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let ignored = req.extensions().get::<unknown::Ignored>().cloned();
        let bytes = read_body(req.into_body(), state.limits.max_body_bytes).await?;
        let value = parse_json(content_type.as_deref(), &bytes)?;
        let fields = unknown::unknown_fields(&value, &T::name());
        if let Some(first) = fields.first() {
            if state.limits.reject_unknown_fields {
                return Err(ApiError::invalid(
                    first.clone(),
                    "is not a field of this request (server.reject_unknown_fields refuses \
                     unknown fields)",
                ));
            }
            tracing::warn!(fields = ?fields, "request fields ignored: not part of the API");
            if let Some(ignored) = ignored {
                ignored.add(&fields);
            }
        }
        decode_value(value).map(JsonBody)
    }
}

/// A JSON body of a route anyone may call (`POST /v3/auth/tokens`): at most
/// [`SMALL_BODY_BYTES`], so that an unauthenticated caller cannot make the server hold much.
#[derive(Debug)]
pub struct SmallJsonBody<T>(pub T);

/// The largest body of a route anyone may call.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;

impl<T: DeserializeOwned> FromRequest<AppState> for SmallJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let bytes = read_body(req.into_body(), SMALL_BODY_BYTES).await?;
        decode_json(content_type.as_deref(), &bytes).map(SmallJsonBody)
    }
}

/// A request body, whole: at most `limit` bytes, arriving in the server's time.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let error = e.into_inner();
        if error
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            ApiError::BodyTooLarge { limit_bytes: limit }
        } else {
            ApiError::BodyUnreadable(error.to_string())
        }
    })
}

/// Decodes a JSON request body.
pub fn decode_json<T: DeserializeOwned>(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<T, ApiError> {
    decode_value(parse_json(content_type, bytes)?)
}

/// Parses a JSON request body (of type `application/json`, or empty) into a value.
fn parse_json(content_type: Option<&str>, bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
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
    let mut value: serde_json::Value =
        serde_path_to_error::deserialize(&mut de).map_err(decoding_error)?;
    de.end().map_err(|_| {
        ApiError::NotJson("the request body has trailing characters after the JSON value".into())
    })?;
    integral_numbers_as_integers(&mut value);
    Ok(value)
}

/// Writes every number with no fractional part (`5.0`, `1e3`) as an integer: JSON has one
/// kind of number, and JSON Schema counts these as integers, so an integer field takes them.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    /// 2^63: the first integral `f64` beyond `i64`.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && (-I64_END..I64_END).contains(&f)
            {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "an integral value within the range of i64 converts exactly"
                )]
                let integer = f as i64;
                *value = integer.into();
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(integral_numbers_as_integers);
        }
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(integral_numbers_as_integers);
        }
        _ => {}
    }
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
    fn integral_numbers_fill_integer_fields() {
        let req: CreateTaskReq = decode_json(
            Some("application/json"),
            br#"{"migrate_since": 1.7e9, "bandwidth_policy": [{"max_bandwidth": 1048576.0}]}"#,
        )
        .unwrap();
        assert_eq!(req.migrate_since, Some(1_700_000_000));
        let err =
            decode_json::<CreateTaskReq>(Some("application/json"), br#"{"migrate_since": 1.5}"#)
                .unwrap_err();
        assert!(
            matches!(&err, ApiError::Validation(v) if v.field == "migrate_since"),
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
}
