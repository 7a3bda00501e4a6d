//! The OMS REST API: Huawei Cloud OMS v2 wire-compatible routes over axum.
//!
//! [`router`] is what `omsd` serves and what the tests drive. Handlers are thin: extract, parse
//! into a domain value (`oms_core::parse`), one repository call (`oms_db`), map to the wire type.
//! Errors become responses in one place ([`error`]).

pub mod auth;
pub mod cache;
pub mod console;
pub mod error;
pub mod extract;
mod meter;
pub mod openapi;
pub mod password;
pub mod routes;
pub mod state;
pub mod verify;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::IntoResponse as _;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::error::ApiError;
pub use crate::state::{ApiLimits, AppState, StoreCheck};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API: every route of the route list ([`routes`]), `/openapi.json` (the document
/// of those same routes), `/docs`, and the web console ([`console`]).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    // Authentication first, then the cache (which relies on the caller's project being checked).
    let project = routes::project()
        .route_layer(axum::middleware::from_fn(extract::unknown::report_ignored))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cache::serve_cached,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_caller,
        ));
    let (api, paths) = routes::public().merge(project).split_for_parts();
    let api = api.route_layer(axum::middleware::from_fn(meter::track));
    let docs = SwaggerUi::new("/docs")
        .external_url_unchecked("/openapi.json", openapi::document_of(paths));
    api.merge(docs)
        .merge(console::router())
        .fallback(|req: Request| async move { ApiError::RouteNotFound(req.uri().path().to_owned()).into_response() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("handler panicked".into()).into_response()))
        .layer(axum::middleware::from_fn_with_state(request_timeout, limit_duration))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request.id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Answers 503 in the OMS shape when a request takes longer than the configured timeout.
async fn limit_duration(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout {
            timeout_secs: timeout.as_secs(),
        }
        .into_response(),
    }
}
