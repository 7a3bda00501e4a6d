//! Request bodies as clients send them, for the tests of every crate (behind the
//! `test-support` feature): one valid task, group and start body, and small edits of them.

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

/// `base` with `pointer` (a JSON pointer) set to `value`.
///
/// # Panics
/// When the parent of `pointer` is not an object of `base` (a mistake of the test).
#[expect(
    clippy::expect_used,
    reason = "test support: a wrong pointer is the test's mistake"
)]
pub fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer names a field");
    base.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("the parent is an object")
        .insert(key.to_owned(), value);
    base
}

/// `base` without `pointer`.
///
/// # Panics
/// When the parent of `pointer` is not an object of `base` (a mistake of the test).
#[expect(
    clippy::expect_used,
    reason = "test support: a wrong pointer is the test's mistake"
)]
pub fn without(mut base: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer names a field");
    base.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("the parent is an object")
        .remove(key);
    base
}
