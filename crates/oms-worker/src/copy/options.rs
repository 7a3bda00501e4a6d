//! What travels with an object: its headers (Content-Type always; the rest, Expires and the
//! tags with metadata migration on), and the storage class of the destination policy — the
//! same on every copy path.

use oms_core::spec::{MigrationSpec, StoragePolicy};
use oms_storage::{ObjectHeaders, WriteOptions};

use super::CopyCtx;
use super::error::{SideError, at};
use crate::control::Side;
use crate::pipeline::Item;

/// The write options for the object `key` whose source has `headers`: Content-Type always, the
/// rest when metadata migration is on, as far as HTTP can carry them (what cannot be is
/// re-encoded or dropped, and logged); the storage class of the policy.
pub(crate) fn write_options(
    spec: &MigrationSpec,
    key: &str,
    headers: &ObjectHeaders,
    source_class: Option<&str>,
) -> WriteOptions {
    let headers = if spec.enable_metadata_migration {
        headers.clone()
    } else {
        ObjectHeaders {
            content_type: headers.content_type.clone(),
            ..ObjectHeaders::default()
        }
    };
    let (headers, changes) = oms_storage::metadata::sendable(&headers);
    for change in changes {
        tracing::warn!(key, change = %change, "a header of the source object cannot be carried as it is");
    }
    let storage_class = match spec.dst_storage_policy {
        StoragePolicy::Standard => None,
        StoragePolicy::InfrequentAccess => Some("STANDARD_IA".to_owned()),
        StoragePolicy::Archive => Some("GLACIER".to_owned()),
        StoragePolicy::DeepArchive => Some("DEEP_ARCHIVE".to_owned()),
        StoragePolicy::SourceMapping => source_class.and_then(map_storage_class).map(str::to_owned),
    };
    WriteOptions {
        headers,
        storage_class,
        tags: Vec::new(),
        kms: spec.destination.kms.clone(),
    }
}

/// The source object's tags, to be written with it when metadata migration is on (they travel
/// with the other metadata, or not at all). They are asked for when the answer that gave
/// `headers` said the object has some, or — for a HEAD (`from_head`), which AWS answers without
/// a count — did not say.
pub(crate) async fn source_tags(
    ctx: &CopyCtx,
    item: &Item,
    headers: &ObjectHeaders,
    from_head: bool,
) -> Result<Vec<(String, String)>, SideError> {
    let wanted = match headers.tag_count {
        _ if !ctx.spec.enable_metadata_migration => false,
        Some(count) => count > 0,
        None => from_head,
    };
    if !wanted {
        return Ok(Vec::new());
    }
    ctx.source
        .tags(&ctx.source_bucket, &item.key)
        .await
        .map_err(at(Side::Source))
}

/// The destination class nearest to a source cloud's class (`None`: standard).
fn map_storage_class(class: &str) -> Option<&'static str> {
    match class.to_ascii_uppercase().as_str() {
        "STANDARD_IA" | "ONEZONE_IA" | "IA" | "WARM" | "STANDARD_INFREQUENT" => Some("STANDARD_IA"),
        "GLACIER" | "GLACIER_IR" | "ARCHIVE" | "COLD" => Some("GLACIER"),
        "DEEP_ARCHIVE" | "COLDARCHIVE" | "DEEP_COLD" | "DEEPARCHIVE" => Some("DEEP_ARCHIVE"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_map_to_the_destination() {
        assert_eq!(map_storage_class("ONEZONE_IA"), Some("STANDARD_IA"));
        assert_eq!(map_storage_class("Archive"), Some("GLACIER"));
        assert_eq!(map_storage_class("STANDARD"), None);
    }
}
