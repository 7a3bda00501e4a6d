//! Fields of a request body that the API does not have (`save_prefx` for `save_prefix`). OMS
//! ignores them, and so does omsd — a client written for a newer API still works — but it says
//! so: each is logged and named in the answer's `warnings` ([`report_ignored`]); with
//! `server.reject_unknown_fields` the request is refused instead.
//!
//! What a body may hold is read from the OpenAPI document, the one description of every
//! request schema, so the check cannot disagree with what `/openapi.json` tells clients.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// The document the schemas are read from, built once.
static DOCUMENT: LazyLock<Value> = LazyLock::new(crate::openapi::document);

/// Deeper than any request schema: a document with a cycle stops here.
const MAX_DEPTH: usize = 32;

/// The fields of `value` that the schema `schema` (a component of the document) does not
/// have, as paths (`dst_node.save_prefx`, `bandwidth_policy[1].max_band`), in order.
pub fn unknown_fields(value: &Value, schema: &str) -> Vec<String> {
    let doc = &*DOCUMENT;
    let mut found = BTreeSet::new();
    if let Some(schema) = doc.pointer(&format!("/components/schemas/{}", escape(schema))) {
        walk(doc, value, &[schema], "", &mut found, 0);
    }
    found.into_iter().collect()
}

/// A JSON-pointer token.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// What a set of schemas lets a value hold: named properties (each with the schemas that
/// describe it), whether other properties are allowed, and the schemas of array items.
#[derive(Default)]
struct Shape<'a> {
    names: BTreeSet<&'a str>,
    described: Vec<(&'a str, &'a Value)>,
    open: bool,
    items: Vec<&'a Value>,
}

fn gather<'a>(doc: &'a Value, schema: &'a Value, shape: &mut Shape<'a>, depth: usize) {
    if depth > MAX_DEPTH {
        shape.open = true;
        return;
    }
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(location) => match doc.pointer(location.trim_start_matches('#')) {
            Some(target) => target,
            None => {
                shape.open = true;
                return;
            }
        },
        None => schema,
    };
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            shape.names.insert(name.as_str());
            shape.described.push((name.as_str(), property));
        }
    }
    if schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false))
    {
        shape.open = true;
    }
    if let Some(items) = schema.get("items") {
        shape.items.push(items);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            gather(doc, branch, shape, depth + 1);
        }
    }
}

fn walk(
    doc: &Value,
    value: &Value,
    schemas: &[&Value],
    path: &str,
    found: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut shape = Shape::default();
    for schema in schemas {
        gather(doc, schema, &mut shape, 0);
    }
    match value {
        Value::Object(fields) => {
            // An object the document says nothing about (a free-form one) is not checked.
            if shape.open || shape.names.is_empty() {
                return;
            }
            for (name, field) in fields {
                let at = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                if !shape.names.contains(name.as_str()) {
                    found.insert(at);
                    continue;
                }
                let described: Vec<&Value> = shape
                    .described
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, s)| *s)
                    .collect();
                walk(doc, field, &described, &at, found, depth + 1);
            }
        }
        Value::Array(elements) if !shape.items.is_empty() => {
            for (i, element) in elements.iter().enumerate() {
                walk(
                    doc,
                    element,
                    &shape.items,
                    &format!("{path}[{i}]"),
                    found,
                    depth + 1,
                );
            }
        }
        _ => {}
    }
}

/// The fields a request's body extractor ignored, shared with [`report_ignored`].
#[derive(Debug, Clone, Default)]
pub struct Ignored(Arc<Mutex<Vec<String>>>);

impl Ignored {
    /// Notes fields ignored.
    pub fn add(&self, fields: &[String]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(fields.iter().cloned());
    }

    /// The fields ignored so far.
    pub fn fields(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The largest answer `warnings` are added to; a larger one goes out as it is.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Gives each request a place for the fields its body extractor ignores, and names them in
/// the `warnings` of a successful JSON answer.
pub async fn report_ignored(mut request: Request, next: Next) -> Response {
    let ignored = Ignored::default();
    request.extensions_mut().insert(ignored.clone());
    let response = next.run(request).await;
    let fields = ignored.take();
    if fields.is_empty() || !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ANSWER_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, "cannot add warnings to an answer");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut warnings: Vec<Value> = match answer.remove("warnings") {
        Some(Value::Array(earlier)) => earlier,
        _ => Vec::new(),
    };
    warnings.extend(fields.iter().map(|f| {
        Value::String(format!(
            "unknown field ignored: {f} (not part of this request; check its spelling)"
        ))
    }));
    answer.insert("warnings".to_owned(), Value::Array(warnings));
    let Ok(body) = serde_json::to_vec(&Value::Object(answer)) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn misspelled_fields_are_found_at_every_depth() {
        let body = json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": "r", "ak": "a", "sk": "s", "bucket": "b",
                         "object_key": [""], "bukcet": "x"},
            "dst_node": {"ak": "a", "sk": "s", "region": "r", "bucket": "b", "save_prefx": "p/"},
            "bandwidth_policy": [{"start": "00:00", "end": "01:00", "max_bandwidth": 1_048_576,
                                  "max_band": 1}],
            "descripton": "typo",
        });
        assert_eq!(
            unknown_fields(&body, "CreateTaskReq"),
            [
                "bandwidth_policy[0].max_band",
                "descripton",
                "dst_node.save_prefx",
                "src_node.bukcet",
            ]
        );
        let clean = json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": "r", "ak": "a", "sk": "s", "bucket": "b"},
            "dst_node": {"ak": "a", "sk": "s", "region": "r", "bucket": "b", "save_prefix": "p/"},
            "smn_config": {"topic_urn": "urn:smn:r:p:t", "trigger_conditions": ["SUCCESS"]},
        });
        assert!(unknown_fields(&clean, "CreateTaskReq").is_empty());
    }
}
