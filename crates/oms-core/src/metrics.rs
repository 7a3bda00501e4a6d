//! The names of omsd's Prometheus metrics, in one place, each with what it counts. Every crate
//! records through the `metrics` facade under these names; omsd installs the exporter, calls
//! [`describe`] and serves the text format on its metrics address.
//!
//! Labels come from small fixed sets only (side, operation, outcome, task type, cloud type,
//! status, route template, lease kind): never a bucket, a key, an id or anything secret, so a
//! scrape can be shown to anyone who may see the machine's load.

/// Objects finished, by `outcome` (`copied`, `skipped`, `failed`), `task_type` (`sync` for a
/// sync task's keys) and `src_cloud`.
pub const OBJECTS: &str = "oms_objects_total";
/// Bytes of finished objects, labelled as [`OBJECTS`] (a copied object counts the size written).
pub const BYTES: &str = "oms_object_bytes_total";
/// Objects being copied now.
pub const OBJECTS_IN_FLIGHT: &str = "oms_objects_in_flight";
/// Multipart parts being copied now.
pub const PARTS_IN_FLIGHT: &str = "oms_parts_in_flight";
/// Calls to object stores, by `side` (`source`, `destination`), `operation` and `outcome`
/// (`ok`, or the error kind: `not_found`, `throttled`, `transient`, ...).
pub const STORE_REQUESTS: &str = "oms_store_requests_total";
/// How long store calls took until the answer's head (a GET's body is not included), by `side`
/// and `operation`.
pub const STORE_SECONDS: &str = "oms_store_request_duration_seconds";
/// Requests the running migrations may keep in flight to their stores, summed, by `side`: it
/// drops when a store throttles (each task halves its own) and climbs back when it stops.
pub const STORE_PACE_LIMIT: &str = "oms_store_pace_limit";
/// Store calls tried again after a transient or throttling answer, by `kind`.
pub const RETRIES: &str = "oms_store_retries_total";
/// Lease events, by `kind` (`task`, `group`, `sync`) and `event` (`claimed`, `renewed`, `lost`).
pub const LEASES: &str = "oms_lease_events_total";
/// Tasks in the database, by `status` (the OMS names: `waiting`, `running`, ...), read at
/// each scrape. Waiting tasks are the queue the workers take from.
pub const TASKS: &str = "oms_tasks";
/// Task groups in the database, by `status`, read at each scrape.
pub const GROUPS: &str = "oms_task_groups";
/// API requests answered, by `method`, `route` (the template, such as
/// `/v2/{project_id}/tasks/{task_id}`) and `status`.
pub const HTTP_REQUESTS: &str = "oms_http_requests_total";
/// How long API requests took, by `method` and `route`.
pub const HTTP_SECONDS: &str = "oms_http_request_duration_seconds";
/// Database connections of this process, by `state` (`idle`, `in_use`), read at each scrape.
pub const DB_CONNECTIONS: &str = "oms_db_pool_connections";
/// The most database connections this process opens.
pub const DB_CONNECTIONS_MAX: &str = "oms_db_pool_max_connections";

/// Histogram bucket bounds for durations, in seconds: from a fast local call to a slow part.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Every metric with its help text, for the exporter's `# HELP` lines.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        OBJECTS,
        "Objects finished, by outcome, task type and source cloud"
    );
    describe_counter!(
        BYTES,
        Unit::Bytes,
        "Bytes of finished objects, by outcome, task type and source cloud"
    );
    describe_gauge!(OBJECTS_IN_FLIGHT, "Objects being copied now");
    describe_gauge!(PARTS_IN_FLIGHT, "Multipart parts being copied now");
    describe_counter!(
        STORE_REQUESTS,
        "Object store calls, by side, operation and outcome"
    );
    describe_gauge!(
        STORE_PACE_LIMIT,
        "Requests the running migrations may keep in flight to their stores, by side"
    );
    describe_histogram!(
        STORE_SECONDS,
        Unit::Seconds,
        "Object store call durations until the answer's head, by side and operation"
    );
    describe_counter!(
        RETRIES,
        "Store calls tried again after a transient or throttling answer, by kind"
    );
    describe_counter!(LEASES, "Lease claims, renewals and losses, by kind");
    describe_gauge!(TASKS, "Tasks by status (waiting tasks are the queue)");
    describe_gauge!(GROUPS, "Task groups by status");
    describe_counter!(
        HTTP_REQUESTS,
        "API requests, by method, route template and status"
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "API request durations, by method and route template"
    );
    describe_gauge!(DB_CONNECTIONS, "Database connections, by state");
    describe_gauge!(DB_CONNECTIONS_MAX, "The most database connections opened");
}
