//! `/v2/{project_id}/taskgroups`: task groups.

use axum::Json;
use axum::extract::State;
use oms_core::model::TaskSelector;
use oms_core::parse;
use oms_core::wire::{
    CreateTaskGroupResponse, CreateTaskReq, EmptyBody, ListTaskGroupResponse, PlanResp,
    StartTaskReq, TaskGroupResp, UpdateBandwidthPolicyReq,
};
use oms_db::DbError;

use crate::auth::Caller;
use crate::error::{ApiError, Missing};
use crate::extract::JsonBody;
use crate::extract::path::GroupPath;
use crate::extract::query::GroupListQuery;
use crate::openapi::ErrorResponses;
use crate::state::AppState;

fn for_group(e: DbError) -> ApiError {
    match e {
        DbError::NotFound => ApiError::NotFound(Missing::TaskGroup),
        other => other.into(),
    }
}

/// Creates a task group; a worker splits it into tasks.
#[utoipa::path(post, path = "/v2/{project_id}/taskgroups", tag = "taskgroups",
    request_body(content = CreateTaskReq, content_type = "application/json",
        description = "CreateTaskGroupReq: as CreateTaskReq, with task_type PREFIX (default), LIST or URL_LIST"),
    responses((status = 200, description = "Created", body = CreateTaskGroupResponse), ErrorResponses))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateTaskReq>,
) -> Result<Json<CreateTaskGroupResponse>, ApiError> {
    let new = parse::create_task_group(req)?;
    crate::verify::regions_known(&state, &new.spec)?;
    crate::verify::topic_of_caller(&caller, &new.spec)?;
    let group = state.db.create_group(&caller.project_id, &new).await?;
    tracing::info!(group.id = %group.group_id, project.id = %caller.project_id, "task group created");
    Ok(Json(CreateTaskGroupResponse {
        group_id: group.group_id.to_string(),
    }))
}

/// Lists task groups, newest first.
#[utoipa::path(get, path = "/v2/{project_id}/taskgroups", tag = "taskgroups",
    params(GroupListQuery),
    responses((status = 200, description = "One page of task groups", body = ListTaskGroupResponse), ErrorResponses))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    GroupListQuery(filter): GroupListQuery,
) -> Result<Json<ListTaskGroupResponse>, ApiError> {
    let (groups, count) = state.db.list_groups(&caller.project_id, &filter).await?;
    Ok(Json(ListTaskGroupResponse {
        count,
        taskgroups: groups.iter().map(TaskGroupResp::from).collect(),
    }))
}

/// Shows a task group with the aggregates of its tasks.
#[utoipa::path(get, path = "/v2/{project_id}/taskgroups/{group_id}", tag = "taskgroups",
    params(GroupPath),
    responses((status = 200, description = "The task group", body = TaskGroupResp), ErrorResponses))]
pub async fn show_group(
    State(state): State<AppState>,
    path: GroupPath,
) -> Result<Json<TaskGroupResp>, ApiError> {
    let group = state
        .db
        .get_group(&path.project_id, path.group_id)
        .await
        .map_err(for_group)?;
    let mut resp = TaskGroupResp::from(&group);
    if group.spec.dry_run {
        let plan = state
            .db
            .plan(&path.project_id, &TaskSelector::Group(group.group_id))
            .await?;
        resp.plan = Some(PlanResp::from(&plan));
    }
    Ok(Json(resp))
}

/// Deletes a task group that nothing runs, with its tasks (OMS.0063 otherwise).
#[utoipa::path(delete, path = "/v2/{project_id}/taskgroups/{group_id}", tag = "taskgroups",
    params(GroupPath),
    responses((status = 200, description = "Deleted", body = EmptyBody), ErrorResponses))]
pub async fn delete_group(
    State(state): State<AppState>,
    path: GroupPath,
) -> Result<Json<EmptyBody>, ApiError> {
    state
        .db
        .delete_group(&path.project_id, path.group_id)
        .await
        .map_err(for_group)?;
    tracing::info!(group.id = %path.group_id, project.id = %path.project_id, "task group deleted");
    Ok(Json(EmptyBody {}))
}

/// Resumes a paused task group, re-attaching the source and destination credentials.
#[utoipa::path(put, path = "/v2/{project_id}/taskgroups/{group_id}/start", tag = "taskgroups",
    params(GroupPath),
    request_body(content = StartTaskReq, content_type = "application/json", description = "StartTaskGroupReq"),
    responses((status = 200, description = "Resumed", body = EmptyBody), ErrorResponses))]
pub async fn start_group(
    State(state): State<AppState>,
    path: GroupPath,
    JsonBody(req): JsonBody<StartTaskReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let group = state
        .db
        .get_group(&path.project_id, path.group_id)
        .await
        .map_err(for_group)?;
    let mut start = parse::start(req, &group.spec)?;
    start.migrate_failed_objects = false;
    crate::verify::keys_reach_both_sides(&state, &group.spec, &start.credentials).await?;
    state
        .db
        .resume_group(&path.project_id, path.group_id, &start)
        .await
        .map_err(for_group)?;
    tracing::info!(group.id = %path.group_id, project.id = %path.project_id, "task group resumed");
    Ok(Json(EmptyBody {}))
}

/// Pauses a task group and its tasks.
#[utoipa::path(put, path = "/v2/{project_id}/taskgroups/{group_id}/stop", tag = "taskgroups",
    params(GroupPath),
    responses((status = 200, description = "Paused, or pausing while its tasks save their state", body = EmptyBody), ErrorResponses))]
pub async fn stop_group(
    State(state): State<AppState>,
    path: GroupPath,
) -> Result<Json<EmptyBody>, ApiError> {
    let status = state
        .db
        .stop_group(&path.project_id, path.group_id)
        .await
        .map_err(for_group)?;
    tracing::info!(group.id = %path.group_id, project.id = %path.project_id, status = status.code(), "task group stopped");
    Ok(Json(EmptyBody {}))
}

/// Runs a failed task group again: its failed tasks in full, or only their failed objects.
#[utoipa::path(put, path = "/v2/{project_id}/taskgroups/{group_id}/retry", tag = "taskgroups",
    params(GroupPath),
    request_body(content = StartTaskReq, content_type = "application/json", description = "RetryTaskGroupReq"),
    responses((status = 200, description = "Retrying", body = EmptyBody), ErrorResponses))]
pub async fn retry_group(
    State(state): State<AppState>,
    path: GroupPath,
    JsonBody(req): JsonBody<StartTaskReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let group = state
        .db
        .get_group(&path.project_id, path.group_id)
        .await
        .map_err(for_group)?;
    let start = parse::start(req, &group.spec)?;
    crate::verify::keys_reach_both_sides(&state, &group.spec, &start.credentials).await?;
    state
        .db
        .retry_group(&path.project_id, path.group_id, &start)
        .await
        .map_err(for_group)?;
    tracing::info!(group.id = %path.group_id, project.id = %path.project_id, failed_only = start.migrate_failed_objects, "task group retried");
    Ok(Json(EmptyBody {}))
}

/// Replaces the bandwidth windows of a task group and of all its tasks.
#[utoipa::path(put, path = "/v2/{project_id}/taskgroups/{group_id}/update", tag = "taskgroups",
    params(GroupPath),
    request_body(content = UpdateBandwidthPolicyReq, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = EmptyBody), ErrorResponses))]
pub async fn update_group(
    State(state): State<AppState>,
    path: GroupPath,
    JsonBody(req): JsonBody<UpdateBandwidthPolicyReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let policy = parse::update_bandwidth_policy(req)?;
    state
        .db
        .set_group_bandwidth(&path.project_id, path.group_id, &policy)
        .await
        .map_err(for_group)?;
    Ok(Json(EmptyBody {}))
}
