//! `GET /` and `GET /{version}`: API version discovery (no authentication).

use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use oms_core::wire::{Link, ListApiVersionsResponse, Version};

use crate::error::ApiError;

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

/// Shows one API version.
#[utoipa::path(get, path = "/{version}", tag = "versions",
    params(("version" = String, Path, description = "Version id, e.g. v2")),
    responses(
        (status = 200, description = "The version", body = Version),
        (status = 400, description = "Invalid or unknown version (OMS.0064, OMS.1009)", body = oms_core::wire::ErrorBody),
    ))]
pub async fn show_version(
    Path(requested): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Version>, ApiError> {
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
        return Err(ApiError::NotFound("API version"));
    }
    Ok(Json(version(&headers)))
}
