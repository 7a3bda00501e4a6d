//! The query parameters of the lists: each parameter is one constant that both parses the
//! request and describes the parameter in the OpenAPI document.
//!
//! An empty value (`?offset=`) is the same as leaving the parameter out, for every parameter:
//! scripts and forms send unset fields that way. The document says so with `allowEmptyValue`.
//! Unknown parameters are ignored.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use oms_core::ids::GroupId;
use oms_core::model::{GroupFilter, Page, TaskFilter};
use oms_core::status::{GroupStatus, TaskStatus};
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::error::ApiError;
use crate::extract::path::uuid_schema;

/// The anti-XSS rule of OMS (`^[^<>&"'\\]*$`), which also refuses control characters, as
/// `oms_core::text::check_no_xss` applies it.
pub const NO_XSS_PATTERN: &str = r#"^[^<>&"'\\\x00-\x1F\x7F-\x9F]*$"#;

/// An integer query parameter within `min..=max`.
#[derive(Debug, Clone, Copy)]
pub struct IntParam {
    /// Its name in the query string and in error messages.
    pub name: &'static str,
    /// The smallest value accepted.
    pub min: i64,
    /// The largest value accepted.
    pub max: i64,
    /// The value when it is absent or empty (`None`: no filter).
    pub default: Option<i64>,
    /// What it does, for the document.
    pub description: &'static str,
}

/// Page size of the task and group lists.
pub const LIMIT: IntParam = IntParam {
    name: "limit",
    min: 1,
    max: 100,
    default: Some(10),
    description: "Page size",
};
/// Items skipped before the page (tasks, groups and failed objects).
pub const OFFSET: IntParam = IntParam {
    name: "offset",
    min: 0,
    max: i32::MAX as i64,
    default: Some(0),
    description: "Items to skip before the page",
};
/// Page size of the failed-object list.
pub const FAILED_OBJECTS_LIMIT: IntParam = IntParam {
    name: "limit",
    min: 1,
    max: 1000,
    default: Some(100),
    description: "Page size",
};
/// The task status filter.
pub const TASK_STATUS: IntParam = IntParam {
    name: "status",
    min: 0,
    max: 7,
    default: None,
    description: "Only tasks in this status: 0 initializing, 1 waiting, 2 running, 3 paused, \
                  4 failed, 5 succeeded, 6 retrying, 7 pausing",
};
/// The task-group status filter.
pub const GROUP_STATUS: IntParam = IntParam {
    name: "status",
    min: 0,
    max: 9,
    default: None,
    description: "Only groups in this status: 0 waiting, 1 creating tasks, 2 monitoring, \
                  3 paused, 4 creation failed, 5 failed, 6 completed, 7 pausing, \
                  8 waiting for deletion, 9 deleted",
};
/// The longest task-name filter.
const TASK_NAME_MAX_CHARS: usize = 255;

impl IntParam {
    /// The value in `params`, or the default when it is absent or empty.
    pub fn parse(&self, params: &HashMap<String, String>) -> Result<Option<i64>, ApiError> {
        let Some(raw) = given(params, self.name) else {
            return Ok(self.default);
        };
        let value: i64 = raw.parse().map_err(|_| ApiError::BadParameter {
            field: self.name,
            reason: format!("must be an integer, got '{raw}'"),
        })?;
        if !(self.min..=self.max).contains(&value) {
            return Err(ApiError::invalid(
                self.name,
                format!("must be between {} and {}, got {value}", self.min, self.max),
            ));
        }
        Ok(Some(value))
    }

    /// The parameter in the document.
    pub fn parameter(&self) -> Parameter {
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(self.min))
            .maximum(Some(self.max))
            .default(self.default.map(Into::into))
            .build();
        let description = match self.default {
            Some(default) => format!(
                "{}, {}-{} (default {default})",
                self.description, self.min, self.max
            ),
            None => format!("{} (default: all)", self.description),
        };
        query_parameter(self.name, &description, schema)
    }
}

/// A parameter's value, unless it is absent or empty.
pub(crate) fn given<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// An optional query parameter that may be sent empty (the same as not sending it).
pub(crate) fn query_parameter(name: &str, description: &str, schema: Object) -> Parameter {
    let mut parameter = ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(format!(
            "{description}. An empty value is the same as leaving it out."
        )))
        .schema(Some(Schema::Object(schema)))
        .build();
    // OpenAPI's own keyword for this; utoipa has no field for it.
    parameter.extensions = Some(Extensions::from_iter([("allowEmptyValue", true)]));
    parameter
}

/// `limit` and `offset` (both have defaults, so neither is ever `None`).
pub(crate) fn page(params: &HashMap<String, String>, limit: IntParam) -> Result<Page, ApiError> {
    Ok(Page {
        limit: limit.parse(params)?.unwrap_or(limit.min),
        offset: OFFSET.parse(params)?.unwrap_or(OFFSET.min),
    })
}

/// The query's parameters; unknown ones are kept and ignored.
pub(crate) async fn params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, ApiError> {
    let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::BadParameter {
            field: "query",
            reason: e.body_text(),
        })?;
    Ok(params)
}

/// `GET /v2/{project_id}/tasks?group_id&limit&offset&status&task_name`.
#[derive(Debug, Clone)]
pub struct TaskListQuery(pub TaskFilter);

impl<S: Send + Sync> FromRequestParts<S> for TaskListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        let group_id = match given(&params, "group_id") {
            Some(raw) => {
                if raw.chars().count() > 100 {
                    return Err(ApiError::invalid(
                        "group_id",
                        "must be at most 100 characters",
                    ));
                }
                Some(
                    GroupId::parse(raw)
                        .ok_or_else(|| ApiError::invalid("group_id", "must be a UUID"))?,
                )
            }
            None => None,
        };
        let status = TASK_STATUS.parse(&params)?.and_then(TaskStatus::from_code);
        let name_contains = given(&params, "task_name").map(str::to_owned);
        if let Some(name) = &name_contains {
            oms_core::text::check_no_xss("task_name", name, 0, TASK_NAME_MAX_CHARS)?;
        }
        Ok(Self(TaskFilter {
            group_id,
            status,
            name_contains,
            page: page(&params, LIMIT)?,
        }))
    }
}

impl IntoParams for TaskListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let task_name = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(TASK_NAME_MAX_CHARS))
            .pattern(Some(NO_XSS_PATTERN))
            .build();
        vec![
            query_parameter(
                "group_id",
                "Only tasks of this task group (a UUID)",
                uuid_schema(),
            ),
            LIMIT.parameter(),
            OFFSET.parameter(),
            TASK_STATUS.parameter(),
            query_parameter(
                "task_name",
                "Only tasks whose name contains this, at most 255 characters without <>&\"'\\",
                task_name,
            ),
        ]
    }
}

/// `GET /v2/{project_id}/taskgroups?limit&offset&status`.
#[derive(Debug, Clone)]
pub struct GroupListQuery(pub GroupFilter);

impl<S: Send + Sync> FromRequestParts<S> for GroupListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        let status = GROUP_STATUS
            .parse(&params)?
            .and_then(GroupStatus::from_code);
        Ok(Self(GroupFilter {
            status,
            page: page(&params, LIMIT)?,
        }))
    }
}

impl IntoParams for GroupListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            LIMIT.parameter(),
            OFFSET.parameter(),
            GROUP_STATUS.parameter(),
        ]
    }
}

/// `GET /v2/{project_id}/tasks/{task_id}/failed-objects?limit&offset`.
#[derive(Debug, Clone, Copy)]
pub struct FailedObjectsQuery(pub Page);

impl<S: Send + Sync> FromRequestParts<S> for FailedObjectsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        Ok(Self(page(&params, FAILED_OBJECTS_LIMIT)?))
    }
}

impl IntoParams for FailedObjectsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![FAILED_OBJECTS_LIMIT.parameter(), OFFSET.parameter()]
    }
}

/// Which side `ShowCloudType` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudSide {
    /// Sources (`type=src`).
    Source,
    /// Destinations (`type=dst`).
    Destination,
}

/// `GET /v2/{project_id}/objectstorage/cloud-type?type=src|dst` (`type` is required).
#[derive(Debug, Clone, Copy)]
pub struct CloudTypeQuery(pub CloudSide);

impl<S: Send + Sync> FromRequestParts<S> for CloudTypeQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        match params.get("type").map(String::as_str) {
            Some("src") => Ok(Self(CloudSide::Source)),
            Some("dst") => Ok(Self(CloudSide::Destination)),
            Some(other) => Err(ApiError::invalid(
                "type",
                format!("must be src or dst, got '{other}'"),
            )),
            None => Err(ApiError::invalid("type", "is required (src or dst)")),
        }
    }
}

impl IntoParams for CloudTypeQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["src", "dst"]))
            .build();
        vec![
            ParameterBuilder::new()
                .name("type")
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .description(Some(
                    "`src`: the source clouds; `dst`: the destination clouds",
                ))
                .schema(Some(Schema::Object(schema)))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn integers_are_checked_against_their_range() {
        assert_eq!(LIMIT.parse(&query(&[])).unwrap(), Some(10));
        assert_eq!(LIMIT.parse(&query(&[("limit", "")])).unwrap(), Some(10));
        assert_eq!(LIMIT.parse(&query(&[("limit", "100")])).unwrap(), Some(100));
        assert!(matches!(
            LIMIT.parse(&query(&[("limit", "abc")])),
            Err(ApiError::BadParameter { field: "limit", .. })
        ));
        assert!(matches!(
            LIMIT.parse(&query(&[("limit", "101")])),
            Err(ApiError::Validation(v)) if v.field == "limit"
        ));
        assert_eq!(TASK_STATUS.parse(&query(&[("status", "")])).unwrap(), None);
    }

    #[test]
    fn every_status_in_range_is_a_status() {
        for code in TASK_STATUS.min..=TASK_STATUS.max {
            assert!(TaskStatus::from_code(code).is_some(), "task status {code}");
        }
        for code in GROUP_STATUS.min..=GROUP_STATUS.max {
            assert!(
                GroupStatus::from_code(code).is_some(),
                "group status {code}"
            );
        }
    }
}
