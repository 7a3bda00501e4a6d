//! `GET /` and `GET /{version}`: API version discovery (no authentication).
//!
//! `/{version}` matches every one-segment path, but only a segment that starts like a version
//! (`v` and a digit: `v2`, `v7`, `v2.1`) asks for one; any other (`/metrics`, `/healthzz`) is
//! no API at all and answers 404 APIGW.0101, as every unknown path does.

use axum::Json;
use axum::http::{HeaderMap, Uri};
use oms_core::wire::{Link, ListApiVersionsResponse, Version};

use crate::error::{ApiError, Missing};

/// The one version served.
const VERSION_ID: &str = "v2";
/// When this implementation of v2 last changed its wire shapes.
const VERSION_UPDATED: &str = "2026-11-28T00:00:00Z";

fn version(headers: &HeaderMap) -> Version {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    Version {
        id: VERSION_ID.to_owned(),
        links: vec![Link {
            href: format!("{scheme}://{host}/{VERSION_ID}/"),
            rel: "self".to_owned(),
        }],
        status: "CURRENT".to_owned(),
        updated: VERSION_UPDATED.to_owned(),
    }
}

/// Lists the API versions.
#[utoipa::path(get, path = "/", tag = "versions",
    responses((status = 200, description = "The versions served", body = ListApiVersionsResponse)))]
pub async fn list_versions(headers: HeaderMap) -> Json<ListApiVersionsResponse> {
    Json(ListApiVersionsResponse {
        versions: vec![version(&headers)],
    })
}

/// The segment of a one-segment path, when it asks for an API version.
fn requested_version(uri: &Uri) -> Option<&str> {
    let segment = uri.path().strip_prefix('/').unwrap_or(uri.path());
    let mut bytes = segment.bytes();
    (bytes.next() == Some(b'v') && bytes.next().is_some_and(|b| b.is_ascii_digit()))
        .then_some(segment)
}

/// Shows one API version.
#[utoipa::path(get, path = "/{version}", tag = "versions",
    params(("version" = String, Path, description = "Version id: the one served is v2; another \
        version-like id (v and a digit) is a 400, any other segment no API at all (404)",
        pattern = "^v2$")),
    responses(
        (status = 200, description = "The version", body = Version),
        (status = 400, description = "Invalid or unknown version (OMS.0064, OMS.1009)", body = oms_core::wire::ErrorBody),
        (status = 404, description = "Not a version: no such API (APIGW.0101)", body = oms_core::wire::ErrorBody),
    ))]
pub async fn show_version(uri: Uri, headers: HeaderMap) -> Result<Json<Version>, ApiError> {
    let Some(requested) = requested_version(&uri) else {
        return Err(ApiError::RouteNotFound(uri.path().to_owned()));
    };
    let valid = (1..=10).contains(&requested.len())
        && requested.starts_with('v')
        && requested
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_alphanumeric() || b == b'.');
    if !valid {
        return Err(ApiError::invalid(
            "version",
            "must match ^v[.0-9a-zA-Z]*$ and be 1-10 characters",
        ));
    }
    if requested != VERSION_ID {
        return Err(ApiError::NotFound(Missing::ApiVersion));
    }
    Ok(Json(version(&headers)))
}

/// Any other method on a one-segment path: 405 for a version, 404 for anything else.
pub async fn other_method(uri: Uri) -> ApiError {
    match requested_version(&uri) {
        Some(_) => ApiError::MethodNotAllowed,
        None => ApiError::RouteNotFound(uri.path().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_version_like_segments_ask_for_a_version() {
        let requested =
            |path: &str| requested_version(&path.parse::<Uri>().unwrap()).map(str::to_owned);
        assert_eq!(requested("/v2").as_deref(), Some("v2"));
        assert_eq!(requested("/v7?x=1").as_deref(), Some("v7"));
        assert_eq!(requested("/v2-beta").as_deref(), Some("v2-beta"));
        for other in ["/metrics", "/healthzz", "/version-two", "/v", "/"] {
            assert_eq!(requested(other), None, "{other}");
        }
    }
}
