//! The path and query parameters of the sync-task routes, each parsed and documented from the
//! same constants: `{sync_task_id}`, the list's `limit`/`offset`/`status`, show's `query_time`,
//! and the statistics' `data_type`/`start_time`/`end_time`.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use oms_core::ids::ProjectId;
use oms_core::sync::{
    Granularity, StatisticKind, StatisticsQuery, SyncFilter, SyncStatus, SyncTaskId,
};
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type};

use super::path::{path_parameter, project_and_id, uuid_schema};
use super::query::{IntParam, LIMIT, given, page, params, query_parameter};
use crate::error::ApiError;

/// What [`SyncTaskId::parse`] accepts, in words.
const SYNC_TASK_ID_RULE: &str = "must be a UUID";
/// The latest time accepted (9999-12-31T23:59:59.999Z), in ms.
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A sync task of the caller's project: `{project_id}` (checked to be the caller's) and
/// `{sync_task_id}`.
#[derive(Debug, Clone)]
pub struct SyncTaskPath {
    /// The project of the path, which is the caller's.
    pub project_id: ProjectId,
    /// The sync task.
    pub sync_task_id: SyncTaskId,
}

impl<S: Send + Sync> FromRequestParts<S> for SyncTaskPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (project_id, raw) =
            project_and_id(parts, state, "sync_task_id", SYNC_TASK_ID_RULE).await?;
        let sync_task_id = SyncTaskId::parse(&raw).ok_or_else(|| ApiError::BadParameter {
            field: "sync_task_id",
            reason: format!("{SYNC_TASK_ID_RULE}, got '{raw}'"),
        })?;
        Ok(Self {
            project_id,
            sync_task_id,
        })
    }
}

impl IntoParams for SyncTaskPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_parameter(
            "sync_task_id",
            "Sync task id: a UUID, hyphenated (OMS.1010 otherwise)",
            Schema::Object(uuid_schema()),
        )]
    }
}

/// The offset of the sync-task list: 0-10000, as OMS documents it.
const SYNC_OFFSET: IntParam = IntParam {
    name: "offset",
    min: 0,
    max: 10_000,
    default: Some(0),
    description: "Sync tasks to skip before the page",
};

/// `GET /v2/{project_id}/sync-tasks?limit&offset&status`.
#[derive(Debug, Clone, Copy)]
pub struct SyncListQuery(pub SyncFilter);

impl<S: Send + Sync> FromRequestParts<S> for SyncListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        let status = given(&params, "status")
            .map(|raw| {
                SyncStatus::parse(raw).ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        format!("must be SYNCHRONIZING or STOPPED, got '{raw}'"),
                    )
                })
            })
            .transpose()?;
        let mut page = page(&params, LIMIT)?;
        page.offset = SYNC_OFFSET.parse(&params)?.unwrap_or(0);
        Ok(Self(SyncFilter { status, page }))
    }
}

impl IntoParams for SyncListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let status = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(SyncStatus::ALL.map(SyncStatus::as_str)))
            .build();
        vec![
            LIMIT.parameter(),
            SYNC_OFFSET.parameter(),
            query_parameter("status", "Only sync tasks in this status", status),
        ]
    }
}

/// A required integer query parameter: Unix ms.
fn required_time(params: &HashMap<String, String>, name: &'static str) -> Result<i64, ApiError> {
    let raw = given(params, name).ok_or_else(|| ApiError::invalid(name, "is required"))?;
    let value: i64 = raw.parse().map_err(|_| ApiError::BadParameter {
        field: name,
        reason: format!("must be an integer (Unix milliseconds), got '{raw}'"),
    })?;
    if !(0..=MAX_TIME_MS).contains(&value) {
        return Err(ApiError::invalid(
            name,
            format!("must be a Unix time in milliseconds between 0 and {MAX_TIME_MS}, got {value}"),
        ));
    }
    Ok(value)
}

/// A required query parameter in the document.
fn required_parameter(name: &str, description: &str, schema: Object) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(Schema::Object(schema)))
        .build()
}

fn time_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(MAX_TIME_MS))
        .build()
}

/// `GET /v2/{project_id}/sync-tasks/{sync_task_id}?query_time`: the month to count.
#[derive(Debug, Clone, Copy)]
pub struct ShowSyncQuery {
    /// A time in the month whose counters are shown, Unix ms.
    pub query_time_ms: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for ShowSyncQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        Ok(Self {
            query_time_ms: required_time(&params, "query_time")?,
        })
    }
}

impl IntoParams for ShowSyncQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![required_parameter(
            "query_time",
            "A time in the month (UTC) whose counters the answer holds, Unix milliseconds",
            time_schema(),
        )]
    }
}

/// `GET .../sync-tasks/{sync_task_id}/statistics?data_type&start_time&end_time`.
#[derive(Debug, Clone)]
pub struct StatisticsParams(pub StatisticsQuery);

impl<S: Send + Sync> FromRequestParts<S> for StatisticsParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        let start = required_time(&params, "start_time")?;
        let end = required_time(&params, "end_time")?;
        let query =
            oms_core::parse::sync::statistics(given(&params, "data_type"), Some(start), Some(end))?;
        Ok(Self(query))
    }
}

impl IntoParams for StatisticsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let kinds = StatisticKind::ALL.map(StatisticKind::as_str).join("|");
        let data_type = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^({kinds})(,({kinds}))*$")))
            .build();
        let five = Granularity::FiveMinutes.as_str();
        let hour = Granularity::OneHour.as_str();
        vec![
            required_parameter(
                "data_type",
                "Counters, comma-separated: REQUEST (keys received), SUCCESS (copied), FAILURE, \
                 SKIP, SIZE (bytes copied); self-hosting extensions: REMOVED (ObjectRemoved \
                 records received by the notification URL), DELETED (destination objects \
                 deleted by propagated removals), COMPARED (source objects \
                 compared by reconciliation), RECONCILED (keys reconciliation queued)",
                data_type,
            ),
            required_parameter(
                "start_time",
                &format!(
                    "From, Unix milliseconds. A range of up to 24 hours comes in 5-minute points \
                     ({five}), a longer one in 1-hour points ({hour}); points are the starts of \
                     their intervals, and intervals where nothing happened are left out"
                ),
                time_schema(),
            ),
            required_parameter(
                "end_time",
                "To (inclusive), Unix milliseconds; not before start_time",
                time_schema(),
            ),
        ]
    }
}
