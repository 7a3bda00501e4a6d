//! The rules between fields of a request body, which the parser (`oms_core::parse`) applies
//! and JSON Schema can state but the `ToSchema` derives cannot: which fields a kind of source
//! needs, what each migration mode takes, `group_id` or `ids`, a CDN key when URLs are
//! signed. They are added to the serialized document as schemas combined with the derived ones
//! (`allOf`, `anyOf`, `oneOf`), built from the same enumerations the parser uses.
//!
//! What JSON Schema cannot state is said in the descriptions: bandwidth windows may not overlap
//! (nor end where they start), a Google key file must be a service-account JSON, regions must be
//! ones omsd knows, and a start needs the credentials of the source it starts (which depends on
//! the task, not on the body).

use oms_core::spec::{CdnAuthType, CloudType};
use oms_core::wire::schema;
use serde_json::{Value, json};

/// A reference to the component schema `name`.
fn component(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A text that must be given and not empty.
fn non_empty() -> Value {
    json!({ "type": "string", "minLength": 1 })
}

/// A text that must be left out, null or empty.
fn empty() -> Value {
    json!({ "type": ["string", "null"], "maxLength": 0 })
}

/// A derived schema's JSON (a schema of string-keyed maps always serializes).
fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// The keys of an Azure connection string that name its account.
const AZURE_ACCOUNT_KEYS: [&str; 3] = ["AccountName", "UseDevelopmentStorage", "BlobEndpoint"];

/// `word` in any ASCII letter case, as a regular expression.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// What `parse` accepts as an Azure connection string: `;`-separated parts, each blank or
/// `Key=Value`, one of them naming the account.
fn azure_connection_string_pattern() -> String {
    let part = r"(\s*|[^;=]*=[^;]*)";
    let account = AZURE_ACCOUNT_KEYS.map(any_case).join("|");
    format!(r"^({part};)*\s*({account})\s*=[^;]*(;{part})*$")
}

/// The credentials each kind of bucket source needs (`src_node` of a bucket migration).
fn source_credentials() -> Value {
    let s3_like: Vec<Value> = [Value::Null, "".into()]
        .into_iter()
        .chain(
            CloudType::ALL
                .iter()
                .filter(|c| c.is_s3_compatible() && **c != CloudType::Tencent)
                .map(|c| c.as_str().into()),
        )
        .collect();
    let google_key_file = json!({
        "type": "object",
        "required": ["client_email"],
        "properties": {
            "client_email": non_empty(),
            "private_key": { "type": "string", "description": "Required unless disable_oauth is true" },
            "disable_oauth": { "type": "boolean" },
        },
    });
    json!({
        "description": "The credentials of the source: an access key pair for S3-compatible clouds (with \
                        the APPID for Tencent), a connection string for Azure, a service-account key \
                        file for Google",
        "anyOf": [
            {
                "title": "S3-compatible",
                "required": ["ak", "sk"],
                "properties": { "cloud_type": { "enum": s3_like }, "ak": non_empty(), "sk": non_empty() },
            },
            {
                "title": "Tencent",
                "required": ["cloud_type", "ak", "sk", "app_id"],
                "properties": {
                    "cloud_type": { "enum": [CloudType::Tencent.as_str()] },
                    "ak": non_empty(), "sk": non_empty(), "app_id": non_empty(),
                },
            },
            {
                "title": "Azure",
                "required": ["cloud_type", "connection_string"],
                "properties": {
                    "cloud_type": { "enum": [CloudType::Azure.as_str()] },
                    "connection_string": { "type": "string", "pattern": azure_connection_string_pattern() },
                },
            },
            {
                "title": "Google",
                "required": ["cloud_type", "json_auth_file"],
                "properties": {
                    "cloud_type": { "enum": [CloudType::Google.as_str()] },
                    "json_auth_file": {
                        "type": "string",
                        "minLength": 1,
                        "contentMediaType": "application/json",
                        "contentSchema": google_key_file,
                    },
                },
            },
        ],
    })
}

/// A bucket source of an object or prefix migration: keys or prefixes, no list file.
fn bucket_source_of_keys() -> Value {
    json!({
        "allOf": [component("SourceCredentials")],
        "required": ["region", "bucket", "object_key"],
        "properties": {
            "region": non_empty(),
            "bucket": non_empty(),
            "object_key": { "type": "array", "minItems": 1 },
            "list_file": { "type": "null" },
        },
    })
}

/// A bucket source of a list migration: a list file, no keys.
fn bucket_source_of_list() -> Value {
    json!({
        "allOf": [component("SourceCredentials")],
        "required": ["region", "bucket", "list_file"],
        "properties": {
            "region": non_empty(),
            "bucket": non_empty(),
            "object_key": { "type": ["array", "null"], "maxItems": 0 },
            "list_file": component("ListFile"),
        },
    })
}

/// The source of a URL-list migration: `URLSource`, a list file, no keys of any kind.
fn url_list_source() -> Value {
    json!({
        "required": ["cloud_type", "list_file"],
        "properties": {
            "cloud_type": { "enum": [CloudType::UrlSource.as_str()] },
            "ak": empty(),
            "sk": empty(),
            "object_key": { "type": ["array", "null"], "maxItems": 0 },
            "list_file": component("ListFile"),
        },
    })
}

/// The migration modes of a create body: `keys` are the `task_type` values (besides the
/// default) of an object or prefix migration, `list` and `url_list` the values of the others.
fn modes(keys: &[&str], list: &str, url_list: &str) -> Value {
    let keys: Vec<Value> = [Value::Null, "".into()]
        .into_iter()
        .chain(keys.iter().map(|k| (*k).into()))
        .collect();
    // `no_check` (and `transmission`) only for URL lists.
    let checked = json!({ "enum": [null, "", "size_last_modified", "crc64"] });
    json!({
        "anyOf": [
            {
                "title": "Objects or prefixes of a bucket",
                "properties": {
                    "task_type": { "enum": keys },
                    "src_node": component("BucketSourceOfKeys"),
                    "consistency_check": checked,
                },
            },
            {
                "title": "A list file of objects of a bucket",
                "required": ["task_type"],
                "properties": {
                    "task_type": { "enum": [list] },
                    "src_node": component("BucketSourceOfList"),
                    "consistency_check": checked,
                },
            },
            {
                "title": "A list file of URLs",
                "required": ["task_type"],
                "properties": {
                    "task_type": { "enum": [url_list] },
                    "src_node": component("UrlListSource"),
                },
            },
        ],
    })
}

/// The rules of `POST .../tasks`: its modes, and its priority (task groups ignore theirs).
fn create_task_modes() -> Value {
    let mut rules = modes(&["object", "prefix"], "list", "url_list");
    rules["properties"] = json!({ "task_priority": to_json(schema::task_priority()) });
    rules["description"] = "task_type: `object` (default), `prefix`, `list` or `url_list`".into();
    rules
}

/// The rules of `POST .../taskgroups`: its modes.
fn create_group_modes() -> Value {
    let mut rules = modes(&["PREFIX"], "LIST", "URL_LIST");
    rules["description"] = "task_type: `PREFIX` (default), `LIST` or `URL_LIST`".into();
    rules
}

/// A CDN key unless the CDN's URLs are not signed.
fn cdn_key_when_signed() -> Value {
    let unsigned: Vec<&str> = CdnAuthType::ALL
        .iter()
        .filter(|t| t.is_supported() && !t.needs_key())
        .map(|t| t.as_str())
        .collect();
    json!([
        { "properties": { "authentication_type": { "enum": unsigned } } },
        { "required": ["authentication_key"], "properties": { "authentication_key": non_empty() } },
    ])
}

/// The source keys of a sync task: the APPID too for Tencent.
fn create_sync_task_rules() -> Value {
    let others: Vec<Value> = [Value::Null, "".into()]
        .into_iter()
        .chain(
            oms_core::wire::sync_source_clouds()
                .filter(|c| *c != CloudType::Tencent)
                .map(|c| c.as_str().into()),
        )
        .collect();
    json!({
        "description": "Tencent sources need `app_id` too",
        "anyOf": [
            { "title": "S3-compatible", "properties": { "src_cloud_type": { "enum": others } } },
            {
                "title": "Tencent",
                "required": ["src_cloud_type", "app_id"],
                "properties": {
                    "src_cloud_type": { "enum": [CloudType::Tencent.as_str()] },
                    "app_id": non_empty(),
                },
            },
        ],
    })
}

/// Either `group_id` or `ids` (a null one counts as left out).
fn group_or_ids() -> Value {
    json!([
        {
            "title": "Every task of a group",
            "required": ["group_id"],
            "properties": { "group_id": { "type": "string" }, "ids": { "type": "null" } },
        },
        {
            "title": "Listed tasks",
            "required": ["ids"],
            "properties": { "ids": { "type": "array" }, "group_id": { "type": "null" } },
        },
    ])
}

/// The request body schema of the operation `method path`.
fn request_body_schema<'a>(doc: &'a mut Value, path: &str, method: &str) -> &'a mut Value {
    &mut doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
}

/// Adds the rules to `doc`.
pub(super) fn apply(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["SourceCredentials"] = source_credentials();
    schemas["BucketSourceOfKeys"] = bucket_source_of_keys();
    schemas["BucketSourceOfList"] = bucket_source_of_list();
    schemas["UrlListSource"] = url_list_source();
    schemas["CreateTaskModes"] = create_task_modes();
    schemas["CreateTaskGroupModes"] = create_group_modes();
    schemas["CreateSyncTaskRules"] = create_sync_task_rules();
    schemas["SourceCdnReq"]["anyOf"] = cdn_key_when_signed();
    schemas["BatchUpdateTasksReq"]["oneOf"] = group_or_ids();
    schemas["TokenIdentity"]["properties"]["methods"]["contains"] = json!({ "const": "password" });

    for (path, body, modes) in [
        ("/v2/{project_id}/tasks", "CreateTaskReq", "CreateTaskModes"),
        (
            "/v2/{project_id}/taskgroups",
            "CreateTaskReq",
            "CreateTaskGroupModes",
        ),
        (
            "/v2/{project_id}/sync-tasks",
            "CreateSyncTaskReq",
            "CreateSyncTaskRules",
        ),
    ] {
        *request_body_schema(doc, path, "post") =
            json!({ "allOf": [component(body), component(modes)] });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_refer_to_schemas_of_the_document() {
        let doc = crate::openapi::document();
        let text = doc.to_string();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#/components/schemas/") {
            rest = &rest[at + "#/components/schemas/".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{name} is referred to but not defined"
            );
        }
        for path in ["/v2/{project_id}/tasks", "/v2/{project_id}/taskgroups"] {
            let schema =
                &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
            assert!(schema["allOf"].is_array(), "{path}: {schema}");
        }
    }

    #[test]
    fn the_connection_string_pattern_names_every_account_key() {
        let pattern = azure_connection_string_pattern();
        assert!(pattern.contains("[aA][cC][cC][oO][uU][nN][tT][nN][aA][mM][eE]"));
        assert!(pattern.starts_with('^') && pattern.ends_with('$'));
    }
}
