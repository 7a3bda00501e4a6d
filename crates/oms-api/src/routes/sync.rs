//! `/v2/{project_id}/sync-tasks`: sync tasks, which keep a destination in step with a live
//! source. The source's event function posts the keys that changed (`events`); workers copy
//! them (see `oms-worker`'s `sync` module). A missing sync task answers 404 with OMS.1009, as
//! OMS answers for sync tasks.

use axum::Json;
use axum::extract::State;
use oms_core::parse::sync as parse;
use oms_core::sync::{month_of, series};
use oms_core::wire::{
    CreateSyncTaskReq, CreateSyncTaskResponse, EmptyBody, ListSyncTaskStatisticResponse,
    ListSyncTasksResponse, ShowSyncTaskResponse, StartSyncTaskReq, StatisticData,
    StatisticTypeData, SyncObjectReq, SyncTaskInfo,
};
use oms_db::DbError;
use secrecy::ExposeSecret as _;

use crate::auth::Caller;
use crate::error::{ApiError, Missing};
use crate::extract::JsonBody;
use crate::extract::sync::{ShowSyncQuery, StatisticsParams, SyncListQuery, SyncTaskPath};
use crate::openapi::ErrorResponses;
use crate::state::AppState;

fn for_sync_task(e: DbError) -> ApiError {
    match e {
        DbError::NotFound => ApiError::NotFound(Missing::SyncTask),
        other => other.into(),
    }
}

/// A sync body's names for the fields a task body's region check names.
fn sync_fields(e: ApiError) -> ApiError {
    match e {
        ApiError::Validation(mut v) => {
            v.field = match v.field.as_str() {
                "src_node.region" => "src_region".to_owned(),
                "dst_node.region" => "dst_region".to_owned(),
                _ => v.field,
            };
            ApiError::Validation(v)
        }
        other => other,
    }
}

/// Creates a sync task; it synchronizes at once (no start call is needed). The keys are tried
/// against both buckets first, as a start does.
#[utoipa::path(post, path = "/v2/{project_id}/sync-tasks", tag = "sync-tasks",
    request_body(content = CreateSyncTaskReq, content_type = "application/json"),
    responses((status = 200, description = "Created, SYNCHRONIZING", body = CreateSyncTaskResponse), ErrorResponses))]
pub async fn create_sync_task(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateSyncTaskReq>,
) -> Result<Json<CreateSyncTaskResponse>, ApiError> {
    let new = parse::create_sync_task(req)?;
    crate::verify::regions_known(&state, &new.spec).map_err(sync_fields)?;
    crate::verify::keys_reach_both_sides(&state, &new.spec, &new.credentials).await?;
    let (task, token) = state.db.create_sync_task(&caller.project_id, &new).await?;
    tracing::info!(sync_task.id = %task.id, project.id = %caller.project_id, "sync task created");
    Ok(Json(CreateSyncTaskResponse {
        sync_task_id: task.id.to_string(),
        notification_token: token.expose_secret().to_owned(),
        notification_path: super::sync_intake::notification_path(&caller.project_id, task.id),
    }))
}

/// Lists sync tasks, newest first.
#[utoipa::path(get, path = "/v2/{project_id}/sync-tasks", tag = "sync-tasks",
    params(SyncListQuery),
    responses((status = 200, description = "One page of sync tasks", body = ListSyncTasksResponse), ErrorResponses))]
pub async fn list_sync_tasks(
    State(state): State<AppState>,
    caller: Caller,
    SyncListQuery(filter): SyncListQuery,
) -> Result<Json<ListSyncTasksResponse>, ApiError> {
    let (tasks, count) = state
        .db
        .list_sync_tasks(&caller.project_id, &filter)
        .await?;
    Ok(Json(ListSyncTasksResponse {
        tasks: tasks.iter().map(SyncTaskInfo::from).collect(),
        count,
    }))
}

/// Shows a sync task with the counters of the month (UTC) holding `query_time`.
#[utoipa::path(get, path = "/v2/{project_id}/sync-tasks/{sync_task_id}", tag = "sync-tasks",
    params(SyncTaskPath, ShowSyncQuery),
    responses((status = 200, description = "The sync task and its monthly counters", body = ShowSyncTaskResponse), ErrorResponses))]
pub async fn show_sync_task(
    State(state): State<AppState>,
    path: SyncTaskPath,
    query: ShowSyncQuery,
) -> Result<Json<ShowSyncTaskResponse>, ApiError> {
    let task = state
        .db
        .get_sync_task(&path.project_id, path.sync_task_id)
        .await
        .map_err(for_sync_task)?;
    let (from, to) = month_of(query.query_time_ms);
    let month = state.db.sync_counters(task.id, from, to).await?;
    Ok(Json(ShowSyncTaskResponse::new(&task, &month)))
}

/// Deletes a stopped sync task, with its queue and counters (OMS.0063 while synchronizing).
#[utoipa::path(delete, path = "/v2/{project_id}/sync-tasks/{sync_task_id}", tag = "sync-tasks",
    params(SyncTaskPath),
    responses((status = 200, description = "Deleted", body = EmptyBody), ErrorResponses))]
pub async fn delete_sync_task(
    State(state): State<AppState>,
    path: SyncTaskPath,
) -> Result<Json<EmptyBody>, ApiError> {
    state
        .db
        .delete_sync_task(&path.project_id, path.sync_task_id)
        .await
        .map_err(for_sync_task)?;
    tracing::info!(sync_task.id = %path.sync_task_id, project.id = %path.project_id, "sync task deleted");
    Ok(Json(EmptyBody {}))
}

/// Starts a stopped sync task with its keys, tried against both buckets first (OMS.0065 when
/// it synchronizes already). Keys queued before the stop are copied then.
#[utoipa::path(post, path = "/v2/{project_id}/sync-tasks/{sync_task_id}/start", tag = "sync-tasks",
    params(SyncTaskPath),
    request_body(content = StartSyncTaskReq, content_type = "application/json"),
    responses((status = 200, description = "SYNCHRONIZING", body = EmptyBody), ErrorResponses))]
pub async fn start_sync_task(
    State(state): State<AppState>,
    path: SyncTaskPath,
    JsonBody(req): JsonBody<StartSyncTaskReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let task = state
        .db
        .get_sync_task(&path.project_id, path.sync_task_id)
        .await
        .map_err(for_sync_task)?;
    let start = parse::start_sync_task(req, &task.spec)?;
    crate::verify::keys_reach_both_sides(&state, &task.spec, &start.credentials).await?;
    state
        .db
        .start_sync_task(&path.project_id, path.sync_task_id, &start)
        .await
        .map_err(for_sync_task)?;
    tracing::info!(sync_task.id = %path.sync_task_id, project.id = %path.project_id, "sync task started");
    Ok(Json(EmptyBody {}))
}

/// Stops a sync task and erases its keys (OMS.0066 when stopped already).
#[utoipa::path(post, path = "/v2/{project_id}/sync-tasks/{sync_task_id}/stop", tag = "sync-tasks",
    params(SyncTaskPath),
    responses((status = 200, description = "STOPPED", body = EmptyBody), ErrorResponses))]
pub async fn stop_sync_task(
    State(state): State<AppState>,
    path: SyncTaskPath,
) -> Result<Json<EmptyBody>, ApiError> {
    state
        .db
        .stop_sync_task(&path.project_id, path.sync_task_id)
        .await
        .map_err(for_sync_task)?;
    tracing::info!(sync_task.id = %path.sync_task_id, project.id = %path.project_id, "sync task stopped");
    Ok(Json(EmptyBody {}))
}

/// Queues 1-10 changed keys (URL-encoded) for copying; they are stored before the answer.
/// A stopped sync task refuses them with OMS.0066 (see the README).
#[utoipa::path(post, path = "/v2/{project_id}/sync-tasks/{sync_task_id}/events", tag = "sync-tasks",
    params(SyncTaskPath),
    request_body(content = SyncObjectReq, content_type = "application/json"),
    responses((status = 200, description = "Queued", body = EmptyBody), ErrorResponses))]
pub async fn create_sync_events(
    State(state): State<AppState>,
    path: SyncTaskPath,
    JsonBody(req): JsonBody<SyncObjectReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let keys = parse::event_keys(req)?;
    state
        .db
        .add_sync_events(&path.project_id, path.sync_task_id, &keys)
        .await
        .map_err(for_sync_task)?;
    Ok(Json(EmptyBody {}))
}

/// The counters of a sync task over a range, as series: 5-minute points for ranges up to
/// 24 hours (`FIVE_MINUTES`), 1-hour points for longer ones (`ONE_HOUR`).
#[utoipa::path(get, path = "/v2/{project_id}/sync-tasks/{sync_task_id}/statistics", tag = "sync-tasks",
    params(SyncTaskPath, StatisticsParams),
    responses((status = 200, description = "One series per asked counter", body = ListSyncTaskStatisticResponse), ErrorResponses))]
pub async fn list_sync_task_statistic(
    State(state): State<AppState>,
    path: SyncTaskPath,
    StatisticsParams(query): StatisticsParams,
) -> Result<Json<ListSyncTaskStatisticResponse>, ApiError> {
    let task = state
        .db
        .get_sync_task(&path.project_id, path.sync_task_id)
        .await
        .map_err(for_sync_task)?;
    let buckets = state
        .db
        .sync_buckets(task.id, query.start_ms, query.end_ms)
        .await?;
    let (granularity, all) = series(&query, &buckets);
    Ok(Json(ListSyncTaskStatisticResponse {
        sync_task_id: task.id.to_string(),
        statistic_time_type: granularity.as_str().to_owned(),
        statistic_datas: all
            .into_iter()
            .map(|(kind, points)| StatisticTypeData {
                data_type: kind.as_str().to_owned(),
                data: points
                    .into_iter()
                    .map(|(time_stamp, statistic_num)| StatisticData {
                        time_stamp,
                        statistic_num,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
