//! API requests counted and timed for the metrics (`oms_http_requests_total`,
//! `oms_http_request_duration_seconds`), labelled with the route template (never the path
//! itself: ids would make a series per task).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};
use oms_core::metrics::{HTTP_REQUESTS, HTTP_SECONDS};

/// Counts and times a routed request (a route layer: the route is matched by then).
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!(HTTP_SECONDS, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
