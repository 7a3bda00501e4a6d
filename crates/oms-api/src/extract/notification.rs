//! The caller of a sync task's notification URL: the `{project_id}` and `{sync_task_id}` of the
//! path and the notification token sent (`Authorization: Bearer <token>` or `?token=`), checked
//! by the handler against the task's stored hash. Anything unusable answers 401, like a wrong
//! token: an unauthenticated sender learns nothing about which sync tasks exist.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use oms_core::ids::ProjectId;
use oms_core::sync::SyncTaskId;
use secrecy::SecretString;
use utoipa::IntoParams;
use utoipa::openapi::Schema;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::path::{path_parameter, uuid_schema};
use super::query::{given, params, query_parameter};
use crate::error::ApiError;

/// What a 401 says: where the token goes, never why it did not match.
const TOKEN_RULE: &str = "the sync task's notification token is missing or wrong (send the token \
    shown when the sync task was created as 'Authorization: Bearer <token>' or '?token=<token>')";

/// The sync task a notification is for, and the token it came with (not checked yet).
#[derive(Debug)]
pub struct NotificationCaller {
    project_id: ProjectId,
    sync_task_id: SyncTaskId,
    token: SecretString,
}

pub(crate) fn unauthenticated() -> ApiError {
    ApiError::Unauthenticated(TOKEN_RULE.into())
}

/// The token of `Authorization: Bearer <token>` (any case of `Bearer`).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl NotificationCaller {
    /// The project of the path.
    pub const fn project_id(&self) -> &ProjectId {
        &self.project_id
    }

    /// The sync task of the path.
    pub const fn sync_task_id(&self) -> SyncTaskId {
        self.sync_task_id
    }

    /// The token sent (not checked yet).
    pub const fn token(&self) -> &SecretString {
        &self.token
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NotificationCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let path = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| unauthenticated())?;
        let (mut project, mut id) = (None, None);
        for (name, value) in &path {
            match name {
                "project_id" => project = ProjectId::parse(value),
                "sync_task_id" => id = SyncTaskId::parse(value),
                _ => {}
            }
        }
        let query = params(parts, state).await?;
        let token = bearer(&parts.headers)
            .or_else(|| given(&query, "token"))
            .map(|t| SecretString::from(t.to_owned()));
        match (project, id, token) {
            (Some(project_id), Some(sync_task_id), Some(token)) => Ok(Self {
                project_id,
                sync_task_id,
                token,
            }),
            _ => Err(unauthenticated()),
        }
    }
}

impl IntoParams for NotificationCaller {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let project = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(ProjectId::MAX_LEN))
            .pattern(Some("^[A-Za-z0-9_-]+$"))
            .build();
        vec![
            path_parameter(
                "project_id",
                "The sync task's project",
                Schema::Object(project),
            ),
            path_parameter(
                "sync_task_id",
                "The sync task",
                Schema::Object(uuid_schema()),
            ),
            query_parameter(
                "token",
                "The sync task's notification token, for senders that cannot set \
                 `Authorization: Bearer <token>` (Ceph RGW push endpoints, OBS/SMN HTTP \
                 subscriptions); the header wins when both are sent",
                ObjectBuilder::new().schema_type(Type::String).build(),
            ),
        ]
    }
}
