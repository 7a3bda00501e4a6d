//! `POST /v2/{project_id}/sync-tasks/{sync_task_id}/notifications`: a sync task's notification
//! URL, where a source bucket posts its S3 event notifications (AWS S3 directly or through SNS,
//! MinIO webhooks, Ceph RGW HTTP push endpoints, Huawei OBS) with no code in between.
//!
//! A store cannot sign requests the way the API wants (X-Auth-Token or AK/SK), so this route is
//! outside the project routes' authentication: the sync task's own notification token (shown
//! once, at creation) authenticates the post, as `Authorization: Bearer <token>` (MinIO's
//! `auth_token`, most webhook senders) or, for senders that cannot set headers, `?token=`.
//! A missing or wrong token, or a sync task that does not exist, answers 401 alike, and nothing
//! is queued. `ObjectCreated:*` keys are queued as `events` are; `ObjectRemoved:*` records are
//! counted (REMOVED) and ignored, unless the task propagates deletions (then the worker deletes
//! the destination object if the source, asked then, lacks it).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use oms_core::ids::ProjectId;
use oms_core::parse::notification::{self, Notification};
use oms_core::sync::SyncTaskId;
use oms_core::wire::{NotificationAccepted, S3EventNotification};
use oms_db::DbError;
use secrecy::ExposeSecret as _;

use crate::error::{ApiError, Missing};
use crate::extract::notification::{NotificationCaller, unauthenticated};
use crate::openapi::ErrorResponses;
use crate::state::AppState;

/// The path of a sync task's notification URL.
pub fn notification_path(project: &ProjectId, id: SyncTaskId) -> String {
    format!("/v2/{project}/sync-tasks/{id}/notifications")
}

/// Takes an S3 event notification for a sync task: the keys of its `ObjectCreated:*` records
/// for the task's source bucket are queued (stored before the answer) and counted as REQUEST;
/// `ObjectRemoved:*` records are counted as REMOVED and ignored, unless the task was created
/// with `propagate_deletions` (then the destination object is deleted if the source, asked
/// when the key is processed, no longer has it); other records (another
/// bucket, other event kinds) are ignored. An SNS envelope is unwrapped; an SNS subscription
/// confirmation is answered without fetching its `SubscribeURL` (confirm it yourself), and
/// `s3:TestEvent` documents are answered with nothing queued. A stopped sync task refuses
/// notifications with OMS.0066, as it refuses `events`. Authenticated by the task's
/// notification token (`Authorization: Bearer` or `?token=`); 401 otherwise.
#[utoipa::path(post, path = "/v2/{project_id}/sync-tasks/{sync_task_id}/notifications",
    tag = "sync-tasks", params(NotificationCaller),
    request_body(content = S3EventNotification, content_type = "application/json",
        description = "An S3 event notification document (or an SNS envelope of one)"),
    responses((status = 200, description = "Taken: what was queued, counted and ignored", body = NotificationAccepted), ErrorResponses),
    security(()))]
pub async fn post_notification(
    State(state): State<AppState>,
    caller: NotificationCaller,
    body: Body,
) -> Result<Json<NotificationAccepted>, ApiError> {
    let target = state
        .db
        .notification_target(
            caller.project_id(),
            caller.sync_task_id(),
            caller.token().expose_secret(),
        )
        .await
        .map_err(|e| match e {
            DbError::NotFound => unauthenticated(),
            other => other.into(),
        })?;
    let bytes = crate::extract::read_body(body, state.limits.max_body_bytes).await?;
    let keys = match notification::notification(&bytes, &target.src_bucket)? {
        Notification::Records(keys) => keys,
        Notification::Test => {
            tracing::info!(sync_task.id = %target.id, "test notification answered");
            return Ok(Json(NotificationAccepted::default()));
        }
        Notification::SnsConfirmation { topic_arn } => {
            tracing::warn!(sync_task.id = %target.id, topic.arn = %topic_arn,
                "an SNS subscription confirmation arrived; omsd does not fetch its SubscribeURL: confirm the subscription in SNS");
            return Ok(Json(NotificationAccepted::default()));
        }
    };
    state
        .db
        .add_notified_keys(&target, &keys.created, &keys.removed)
        .await
        .map_err(|e| match e {
            DbError::NotFound => ApiError::NotFound(Missing::SyncTask),
            other => other.into(),
        })?;
    tracing::info!(sync_task.id = %target.id, queued = keys.created.len(),
        removed = keys.removed.len(), ignored = keys.ignored, "bucket notification taken");
    Ok(Json(NotificationAccepted {
        queued: keys.created.len(),
        removed: keys.removed.len(),
        ignored: keys.ignored,
    }))
}
