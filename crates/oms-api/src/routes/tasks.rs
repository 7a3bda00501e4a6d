//! `/v2/{project_id}/tasks`: migration tasks.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use oms_core::model::{TaskFilter, TaskSelector};
use oms_core::parse;
use oms_core::status::TaskStatus;
use oms_core::wire::{
    BatchUpdateTasksReq, CreateTaskReq, CreateTaskResponse, EmptyBody, FailedObjectResp,
    ListFailedObjectsResponse, ListTasksResponse, StartTaskReq, TaskResp, UpdateBandwidthPolicyReq,
};
use oms_db::DbError;

use crate::auth::Caller;
use crate::error::{ApiError, Missing};
use crate::extract::{self, JsonBody};
use crate::openapi::ErrorResponses;
use crate::state::AppState;

fn for_task(e: DbError) -> ApiError {
    match e {
        DbError::NotFound => ApiError::NotFound(Missing::Task),
        other => other.into(),
    }
}

/// Creates a migration task; it waits for a worker at once.
#[utoipa::path(post, path = "/v2/{project_id}/tasks", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id")),
    request_body(content = CreateTaskReq, content_type = "application/json"),
    responses((status = 200, description = "Created", body = CreateTaskResponse), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn create_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<CreateTaskReq>,
) -> Result<Json<CreateTaskResponse>, ApiError> {
    let new = parse::create_task(req)?;
    crate::verify::regions_known(&state, &new.spec)?;
    let task = state.db.create_task(&caller.project_id, &new).await?;
    tracing::info!(task.id = %task.id, project.id = %caller.project_id, task_type = %new.spec.kind, "task created");
    Ok(Json(CreateTaskResponse {
        id: task.id.get(),
        task_name: task.name,
    }))
}

/// Lists tasks, newest first.
#[utoipa::path(get, path = "/v2/{project_id}/tasks", tag = "tasks",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("group_id" = Option<String>, Query, description = "Only tasks of this task group"),
        ("limit" = Option<i32>, Query, description = "Page size, 1-100 (default 10)"),
        ("offset" = Option<i32>, Query, description = "Tasks to skip (default 0)"),
        ("status" = Option<i32>, Query, description = "Only tasks in this status (0-7)"),
        ("task_name" = Option<String>, Query, description = "Only tasks whose name contains this"),
    ),
    responses((status = 200, description = "One page of tasks", body = ListTasksResponse), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ListTasksResponse>, ApiError> {
    let group_id = match params.get("group_id").filter(|g| !g.is_empty()) {
        Some(raw) => {
            if raw.chars().count() > 100 {
                return Err(ApiError::invalid(
                    "group_id",
                    "must be at most 100 characters",
                ));
            }
            Some(
                oms_core::ids::GroupId::parse(raw)
                    .ok_or_else(|| ApiError::invalid("group_id", "must be a UUID"))?,
            )
        }
        None => None,
    };
    let status = extract::query_int(&params, "status", None, 0, 7)?.and_then(TaskStatus::from_code);
    let name_contains = params.get("task_name").filter(|n| !n.is_empty()).cloned();
    if let Some(name) = &name_contains {
        oms_core::text::check_no_xss("task_name", name, 0, 255)?;
    }
    let filter = TaskFilter {
        group_id,
        status,
        name_contains,
        page: extract::page(&params)?,
    };
    let (tasks, count) = state.db.list_tasks(&caller.project_id, &filter).await?;
    Ok(Json(ListTasksResponse {
        tasks: tasks.iter().map(TaskResp::from).collect(),
        count,
    }))
}

/// Shows a task.
#[utoipa::path(get, path = "/v2/{project_id}/tasks/{task_id}", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id"), ("task_id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "The task", body = TaskResp), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn show_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, task_id)): Path<(String, String)>,
) -> Result<Json<TaskResp>, ApiError> {
    let id = extract::task_id(&task_id)?;
    let task = state
        .db
        .get_task(&caller.project_id, id)
        .await
        .map_err(for_task)?;
    Ok(Json(TaskResp::from(&task)))
}

/// The failed objects of a task, one page in key order: what the failed-object list in the
/// destination bucket holds, without reading the bucket. An omsd extension (not in OMS v2).
#[utoipa::path(get, path = "/v2/{project_id}/tasks/{task_id}/failed-objects", tag = "tasks",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("task_id" = i64, Path, description = "Task id"),
        ("limit" = Option<i32>, Query, description = "Page size, 1-1000 (default 100)", minimum = 1, maximum = 1000),
        ("offset" = Option<i32>, Query, description = "Failed objects to skip (default 0)", minimum = 0),
    ),
    responses((status = 200, description = "One page of failed objects (an omsd extension)", body = ListFailedObjectsResponse), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn list_failed_objects(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, task_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ListFailedObjectsResponse>, ApiError> {
    let id = extract::task_id(&task_id)?;
    let limit = extract::query_int(&params, "limit", Some(100), 1, 1000)?.unwrap_or(100);
    let offset =
        extract::query_int(&params, "offset", Some(0), 0, i64::from(i32::MAX))?.unwrap_or(0);
    let (count, failures) = state
        .db
        .failures_page(&caller.project_id, id, limit, offset)
        .await
        .map_err(for_task)?;
    Ok(Json(ListFailedObjectsResponse {
        failed_objects: failures
            .into_iter()
            .map(|f| FailedObjectResp {
                key: f.key,
                size: f.size,
                error_code: f.code,
                error_msg: f.message,
                failed_time: f.failed_time_ms,
            })
            .collect(),
        count,
    }))
}

/// Deletes a task that is not running (OMS.0063 otherwise).
#[utoipa::path(delete, path = "/v2/{project_id}/tasks/{task_id}", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id"), ("task_id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "Deleted", body = EmptyBody), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn delete_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, task_id)): Path<(String, String)>,
) -> Result<Json<EmptyBody>, ApiError> {
    let id = extract::task_id(&task_id)?;
    state
        .db
        .delete_task(&caller.project_id, id)
        .await
        .map_err(for_task)?;
    tracing::info!(task.id = %id, project.id = %caller.project_id, "task deleted");
    Ok(Json(EmptyBody {}))
}

/// Starts a paused or failed task again, with its credentials (OMS.0065 when already started).
#[utoipa::path(post, path = "/v2/{project_id}/tasks/{task_id}/start", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id"), ("task_id" = i64, Path, description = "Task id")),
    request_body(content = StartTaskReq, content_type = "application/json"),
    responses((status = 200, description = "Waiting for a worker", body = EmptyBody), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn start_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, task_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<StartTaskReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let id = extract::task_id(&task_id)?;
    let task = state
        .db
        .get_task(&caller.project_id, id)
        .await
        .map_err(for_task)?;
    let start = parse::start(req, &task.spec)?;
    crate::verify::keys_reach_both_sides(&state, &task.spec, &start.credentials).await?;
    state
        .db
        .start_task(&caller.project_id, id, &start)
        .await
        .map_err(for_task)?;
    tracing::info!(task.id = %id, project.id = %caller.project_id, failed_only = start.migrate_failed_objects, "task started");
    Ok(Json(EmptyBody {}))
}

/// Pauses a task (OMS.0066 when it is not in progress).
#[utoipa::path(post, path = "/v2/{project_id}/tasks/{task_id}/stop", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id"), ("task_id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "Paused, or pausing while a worker saves its state", body = EmptyBody), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn stop_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, task_id)): Path<(String, String)>,
) -> Result<Json<EmptyBody>, ApiError> {
    let id = extract::task_id(&task_id)?;
    let status = state
        .db
        .stop_task(&caller.project_id, id)
        .await
        .map_err(for_task)?;
    tracing::info!(task.id = %id, project.id = %caller.project_id, status = status.code(), "task stopped");
    Ok(Json(EmptyBody {}))
}

/// Replaces a task's bandwidth windows; a running task follows them at once.
#[utoipa::path(put, path = "/v2/{project_id}/tasks/{task_id}/bandwidth-policy", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id"), ("task_id" = i64, Path, description = "Task id")),
    request_body(content = UpdateBandwidthPolicyReq, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = EmptyBody), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn update_bandwidth_policy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, task_id)): Path<(String, String)>,
    JsonBody(req): JsonBody<UpdateBandwidthPolicyReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let id = extract::task_id(&task_id)?;
    let policy = parse::update_bandwidth_policy(req)?;
    state
        .db
        .set_task_bandwidth(&caller.project_id, id, &policy)
        .await
        .map_err(for_task)?;
    Ok(Json(EmptyBody {}))
}

/// The fields of a batch-update body ([`BatchUpdateTasksReq`]).
const BATCH_UPDATE_FIELDS: [&str; 4] = ["group_id", "ids", "bandwidth_policy", "task_priority"];

/// Updates the bandwidth windows (and the priority of waiting, paused and failed tasks) of the
/// listed tasks or of every task of a group. Unknown fields are ignored as everywhere (SDKs send
/// newer ones), except that a body selecting no tasks names them: `task_ids` for `ids` is a
/// mistake to point at, not a missing `ids`.
#[utoipa::path(post, path = "/v2/{project_id}/tasks/batch-update", tag = "tasks",
    params(("project_id" = String, Path, description = "Project id")),
    request_body(content = BatchUpdateTasksReq, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = EmptyBody), ErrorResponses),
    security(("token" = []), ("aksk" = [])))]
pub async fn batch_update_tasks(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<EmptyBody>, ApiError> {
    let unknown = body
        .keys()
        .find(|field| !BATCH_UPDATE_FIELDS.contains(&field.as_str()))
        .cloned();
    let req: BatchUpdateTasksReq = extract::decode_value(serde_json::Value::Object(body))?;
    if let (None, None, Some(field)) = (&req.group_id, &req.ids, unknown) {
        return Err(ApiError::invalid(
            field,
            "is not a field of this request; give either group_id or ids",
        ));
    }
    let update = parse::batch_update(req)?;
    let updated = state
        .db
        .batch_update_tasks(&caller.project_id, &update)
        .await
        .map_err(|e| match (e, &update.selector) {
            // A task operation: what it names is missing is a 400, as for any task.
            (DbError::NotFound, TaskSelector::Ids(_)) => ApiError::NotFound(Missing::Task),
            (DbError::NotFound, TaskSelector::Group(_)) => ApiError::Refused {
                code: oms_core::error::ErrorCode::NotFound,
                message: "no resources found; check that the task group exists".into(),
            },
            (other, _) => other.into(),
        })?;
    tracing::info!(project.id = %caller.project_id, tasks = updated, "tasks updated");
    Ok(Json(EmptyBody {}))
}
