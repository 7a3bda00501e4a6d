//! The ids of a project path, parsed once: `/v2/{project_id}/tasks/{task_id}...` into a
//! [`TaskPath`], `/v2/{project_id}/taskgroups/{group_id}...` into a [`GroupPath`].
//!
//! Each also documents its id parameter (the route list documents `{project_id}` for every
//! project route), from the same rules it parses with.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use oms_core::ids::{GroupId, ProjectId, TaskId};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Required, Schema};

use crate::auth::{self, Caller};
use crate::error::ApiError;

/// A UUID in its hyphenated form (any case), what [`GroupId::parse`] accepts.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// What [`TaskId::parse`] accepts, in words.
const TASK_ID_RULE: &str = "must be a number of at most 15 digits";
/// What [`GroupId::parse`] accepts, in words.
const GROUP_ID_RULE: &str = "must be a UUID";

/// A task of the caller's project: `{project_id}` (checked to be the caller's) and `{task_id}`.
#[derive(Debug, Clone)]
pub struct TaskPath {
    /// The project of the path, which is the caller's.
    pub project_id: ProjectId,
    /// The `{task_id}` segment, a task id of at most 15 digits.
    pub task_id: TaskId,
}

/// A task group of the caller's project: `{project_id}` (checked to be the caller's) and
/// `{group_id}`.
#[derive(Debug, Clone)]
pub struct GroupPath {
    /// The project of the path, which is the caller's.
    pub project_id: ProjectId,
    /// The `{group_id}` segment, a hyphenated UUID.
    pub group_id: GroupId,
}

/// The caller's project and the raw value of the path parameter `id_name`.
///
/// The caller is checked against `{project_id}` here too, although `require_caller` did so
/// already: holding a [`TaskPath`] or a [`GroupPath`] proves that the caller may act on it.
pub(crate) async fn project_and_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    id_name: &'static str,
    rule: &str,
) -> Result<(ProjectId, String), ApiError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::BadParameter {
            field: id_name,
            reason: format!("{rule}, got a value that is not UTF-8 text"),
        })?;
    let mut project = None;
    let mut id = None;
    for (name, value) in &params {
        if name == "project_id" {
            project = Some(value.to_owned());
        } else if name == id_name {
            id = Some(value.to_owned());
        }
    }
    auth::check_project(&caller, project.as_deref())?;
    let id = id.ok_or_else(|| ApiError::Internal(format!("the route has no {{{id_name}}}")))?;
    Ok((caller.project_id, id))
}

impl<S: Send + Sync> FromRequestParts<S> for TaskPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (project_id, raw) = project_and_id(parts, state, "task_id", TASK_ID_RULE).await?;
        let task_id = TaskId::parse(&raw).ok_or_else(|| ApiError::BadParameter {
            field: "task_id",
            reason: format!("{TASK_ID_RULE}, got '{raw}'"),
        })?;
        Ok(Self {
            project_id,
            task_id,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for GroupPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (project_id, raw) = project_and_id(parts, state, "group_id", GROUP_ID_RULE).await?;
        let group_id = GroupId::parse(&raw).ok_or_else(|| ApiError::BadParameter {
            field: "group_id",
            reason: format!("{GROUP_ID_RULE}, got '{raw}'"),
        })?;
        Ok(Self {
            project_id,
            group_id,
        })
    }
}

/// A required path parameter.
pub(crate) fn path_parameter(name: &str, description: &str, schema: Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

impl IntoParams for TaskPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .maximum(Some(TaskId::MAX))
            .build();
        vec![path_parameter(
            "task_id",
            "Task id: a decimal number of at most 15 digits (OMS.1010 otherwise)",
            Schema::Object(schema),
        )]
    }
}

impl IntoParams for GroupPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_parameter(
            "group_id",
            "Task group id: a UUID, hyphenated (OMS.1010 otherwise)",
            Schema::Object(uuid_schema()),
        )]
    }
}

/// A hyphenated UUID.
pub(crate) fn uuid_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .pattern(Some(UUID_PATTERN))
        .build()
}
