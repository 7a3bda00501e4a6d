//! Request bodies as a client would send them.

use serde_json::{Value, json};

/// A prefix task over a whole AWS bucket.
pub fn task_body() -> Value {
    json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "us-east-1", "ak": "SRC-AK", "sk": "SRC-SK",
                     "bucket": "source-bucket", "object_key": [""]},
        "dst_node": {"ak": "DST-AK", "sk": "DST-SK", "region": "cn-north-4", "bucket": "dest-bucket",
                     "save_prefix": "migrated/"},
        "description": "nightly copy",
        "enable_metadata_migration": true,
        "task_priority": "HIGH",
        "bandwidth_policy": [{"start": "08:00", "end": "20:00", "max_bandwidth": 10_485_760}],
    })
}

/// A prefix task group over a whole AWS bucket.
pub fn group_body() -> Value {
    json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "AWS", "region": "us-east-1", "ak": "SRC-AK", "sk": "SRC-SK",
                     "bucket": "source-bucket", "object_key": [""]},
        "dst_node": {"ak": "DST-AK", "sk": "DST-SK", "region": "cn-north-4", "bucket": "dest-bucket"},
        "enable_kms": false,
    })
}

/// Credentials re-supplied on start, resume and retry.
pub fn start_body() -> Value {
    json!({"src_ak": "SRC-AK2", "src_sk": "SRC-SK2", "dst_ak": "DST-AK2", "dst_sk": "DST-SK2"})
}

/// Sets `pointer` (a JSON pointer) in `base` to `value`.
pub fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    base.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
    base
}

/// Removes `pointer` from `base`.
pub fn without(mut base: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    base.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    base
}

/// A Google service-account JSON that reaches the XML API at `base` without OAuth (a test
/// server, or an address that never answers), naming `project` when given.
pub fn google_account(base: &str, project: Option<&str>) -> String {
    let mut account = json!({
        "type": "service_account", "client_email": "oms@example.iam.gserviceaccount.com",
        "private_key": "", "private_key_id": "", "disable_oauth": true, "gcs_base_url": base,
    });
    if let Some(project) = project {
        account["project_id"] = json!(project);
    }
    account.to_string()
}
