//! `/v2/{project_id}/tasks`: migration tasks.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use oms_core::model::TaskSelector;
use oms_core::parse;
use oms_core::wire::{
    BatchUpdateTasksReq, CreateTaskReq, CreateTaskResponse, EmptyBody, FailedObjectResp,
    ListFailedObjectsResponse, ListManifestResponse, ListTasksResponse, ManifestEntryResp,
    PlanResp, StartTaskReq, TaskResp, UpdateBandwidthPolicyReq,
};
use oms_db::DbError;

use crate::auth::Caller;
use crate::error::{ApiError, Missing};
use crate::extract::JsonBody;
use crate::extract::path::TaskPath;
use crate::extract::query::{FailedObjectsQuery, TaskListQuery};
use crate::extract::unknown::Ignored;
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
    request_body(content = CreateTaskReq, content_type = "application/json"),
    responses((status = 200, description = "Created", body = CreateTaskResponse), ErrorResponses))]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateTaskReq>,
) -> Result<Json<CreateTaskResponse>, ApiError> {
    let new = parse::create_task(req)?;
    crate::verify::regions_known(&state, &new.spec)?;
    crate::verify::topic_of_caller(&caller, &new.spec)?;
    crate::verify::room_for_a_task(&state, &caller).await?;
    let task = state.db.create_task(&caller.project_id, &new).await?;
    tracing::info!(task.id = %task.id, project.id = %caller.project_id, task_type = %new.spec.kind, "task created");
    Ok(Json(CreateTaskResponse {
        id: task.id.get(),
        task_name: task.name,
    }))
}

/// Lists tasks, newest first.
#[utoipa::path(get, path = "/v2/{project_id}/tasks", tag = "tasks",
    params(TaskListQuery),
    responses((status = 200, description = "One page of tasks", body = ListTasksResponse), ErrorResponses))]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    TaskListQuery(filter): TaskListQuery,
) -> Result<Json<ListTasksResponse>, ApiError> {
    let (tasks, count) = state.db.list_tasks(&caller.project_id, &filter).await?;
    Ok(Json(ListTasksResponse {
        tasks: tasks.iter().map(TaskResp::from).collect(),
        count,
    }))
}

/// Shows a task.
#[utoipa::path(get, path = "/v2/{project_id}/tasks/{task_id}", tag = "tasks",
    params(TaskPath),
    responses((status = 200, description = "The task", body = TaskResp), ErrorResponses))]
pub async fn show_task(
    State(state): State<AppState>,
    path: TaskPath,
) -> Result<Json<TaskResp>, ApiError> {
    let task = state
        .db
        .get_task(&path.project_id, path.task_id)
        .await
        .map_err(for_task)?;
    let mut resp = TaskResp::from(&task);
    if task.spec.dry_run {
        let plan = state
            .db
            .plan(&path.project_id, &TaskSelector::Ids(vec![task.id]))
            .await?;
        resp.plan = Some(PlanResp::from(&plan));
    }
    Ok(Json(resp))
}

/// The verification manifest of a task, one page in key order: each object it copied, with
/// what proved it (the checksum and its value, the source's and the destination's entity
/// tags), as the manifest written beside the lists at the destination holds it. An omsd
/// extension (not in OMS v2); recorded when `enable_failed_object_recording` is on.
#[utoipa::path(get, path = "/v2/{project_id}/tasks/{task_id}/manifest", tag = "tasks",
    params(TaskPath, FailedObjectsQuery),
    responses((status = 200, description = "One page of the verification manifest (an omsd extension)", body = ListManifestResponse), ErrorResponses))]
pub async fn show_manifest(
    State(state): State<AppState>,
    path: TaskPath,
    FailedObjectsQuery(page): FailedObjectsQuery,
) -> Result<Json<ListManifestResponse>, ApiError> {
    let (count, records) = state
        .db
        .manifest_page(&path.project_id, path.task_id, page.limit, page.offset)
        .await
        .map_err(for_task)?;
    Ok(Json(ListManifestResponse {
        objects: records
            .into_iter()
            .map(|r| {
                let proof = r.proof.unwrap_or_default();
                ManifestEntryResp {
                    key: r.key,
                    size: r.size,
                    source_etag: proof.source_etag.unwrap_or_default(),
                    checksum: proof.checksum,
                    checksum_value: proof.value,
                    dst_etag: proof.dst_etag.unwrap_or_default(),
                    time: r.at_ms,
                }
            })
            .collect(),
        count,
    }))
}

/// The failed objects of a task, one page in key order: what the failed-object list in the
/// destination bucket holds, without reading the bucket. An omsd extension (not in OMS v2).
#[utoipa::path(get, path = "/v2/{project_id}/tasks/{task_id}/failed-objects", tag = "tasks",
    params(TaskPath, FailedObjectsQuery),
    responses((status = 200, description = "One page of failed objects (an omsd extension)", body = ListFailedObjectsResponse), ErrorResponses))]
pub async fn list_failed_objects(
    State(state): State<AppState>,
    path: TaskPath,
    FailedObjectsQuery(page): FailedObjectsQuery,
) -> Result<Json<ListFailedObjectsResponse>, ApiError> {
    let (count, failures) = state
        .db
        .failures_page(&path.project_id, path.task_id, page.limit, page.offset)
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
    params(TaskPath),
    responses((status = 200, description = "Deleted", body = EmptyBody), ErrorResponses))]
pub async fn delete_task(
    State(state): State<AppState>,
    path: TaskPath,
) -> Result<Json<EmptyBody>, ApiError> {
    state
        .db
        .delete_task(&path.project_id, path.task_id)
        .await
        .map_err(for_task)?;
    tracing::info!(task.id = %path.task_id, project.id = %path.project_id, "task deleted");
    Ok(Json(EmptyBody {}))
}

/// Starts a paused or failed task again, with its credentials (OMS.0065 when already started).
#[utoipa::path(post, path = "/v2/{project_id}/tasks/{task_id}/start", tag = "tasks",
    params(TaskPath),
    request_body(content = StartTaskReq, content_type = "application/json"),
    responses((status = 200, description = "Waiting for a worker", body = EmptyBody), ErrorResponses))]
pub async fn start_task(
    State(state): State<AppState>,
    path: TaskPath,
    JsonBody(req): JsonBody<StartTaskReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let task = state
        .db
        .get_task(&path.project_id, path.task_id)
        .await
        .map_err(for_task)?;
    let start = parse::start(req, &task.spec)?;
    crate::verify::keys_reach_both_sides(&state, &task.spec, &start.credentials).await?;
    state
        .db
        .start_task(&path.project_id, path.task_id, &start)
        .await
        .map_err(for_task)?;
    tracing::info!(task.id = %path.task_id, project.id = %path.project_id, failed_only = start.migrate_failed_objects, "task started");
    Ok(Json(EmptyBody {}))
}

/// Pauses a task (OMS.0066 when it is not in progress).
#[utoipa::path(post, path = "/v2/{project_id}/tasks/{task_id}/stop", tag = "tasks",
    params(TaskPath),
    responses((status = 200, description = "Paused, or pausing while a worker saves its state", body = EmptyBody), ErrorResponses))]
pub async fn stop_task(
    State(state): State<AppState>,
    path: TaskPath,
) -> Result<Json<EmptyBody>, ApiError> {
    let status = state
        .db
        .stop_task(&path.project_id, path.task_id)
        .await
        .map_err(for_task)?;
    tracing::info!(task.id = %path.task_id, project.id = %path.project_id, status = status.code(), "task stopped");
    Ok(Json(EmptyBody {}))
}

/// Replaces a task's bandwidth windows; a running task follows them at once.
#[utoipa::path(put, path = "/v2/{project_id}/tasks/{task_id}/bandwidth-policy", tag = "tasks",
    params(TaskPath),
    request_body(content = UpdateBandwidthPolicyReq, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = EmptyBody), ErrorResponses))]
pub async fn update_bandwidth_policy(
    State(state): State<AppState>,
    path: TaskPath,
    JsonBody(req): JsonBody<UpdateBandwidthPolicyReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let policy = parse::update_bandwidth_policy(req)?;
    state
        .db
        .set_task_bandwidth(&path.project_id, path.task_id, &policy)
        .await
        .map_err(for_task)?;
    Ok(Json(EmptyBody {}))
}

/// The fields of a batch-update body ([`BatchUpdateTasksReq`]).
/// Updates the bandwidth windows (and the priority of waiting, paused and failed tasks) of the
/// listed tasks or of every task of a group. Unknown fields are ignored as everywhere (SDKs send
/// newer ones), except that a body selecting no tasks names them: `task_ids` for `ids` is a
/// mistake to point at, not a missing `ids`.
#[utoipa::path(post, path = "/v2/{project_id}/tasks/batch-update", tag = "tasks",
    request_body(content = BatchUpdateTasksReq, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = EmptyBody), ErrorResponses))]
pub async fn batch_update_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ignored): Extension<Ignored>,
    JsonBody(req): JsonBody<BatchUpdateTasksReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    if let (None, None, Some(field)) = (&req.group_id, &req.ids, ignored.fields().first()) {
        return Err(ApiError::invalid(
            field.clone(),
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
