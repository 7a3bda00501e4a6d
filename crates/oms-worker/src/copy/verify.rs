//! Checks of what is read and written beside the pinned reads: a copy read through a CDN is
//! compared with the bucket's object, and the MD5 of what was sent is known for the checks of
//! [`super::integrity`].

use oms_core::error::ObjectFailureCode;
use oms_storage::{ErrorKind, StorageError};

use super::CopyCtx;
use super::error::{SideError, at};
use crate::control::Side;
use crate::digests::Md5Sum;
use crate::pipeline::Item;

/// Whether objects are read through a CDN in front of a bucket (and so compared with it).
pub(crate) fn reads_through_cdn(ctx: &CopyCtx) -> bool {
    ctx.spec.source.cdn.is_some() && ctx.spec.kind != oms_core::spec::TaskKind::UrlList
}

/// Fails (for good) when the CDN's copy is not the bucket's object: another size (`size`:
/// the whole object's, when the response tells it), or older than the source.
pub(crate) fn compare_with_cdn(
    ctx: &CopyCtx,
    item: &Item,
    size: Option<u64>,
    last_modified_ms: i64,
) -> Result<(), SideError> {
    if !reads_through_cdn(ctx) {
        return Ok(());
    }
    let problem = if size.is_some_and(|s| s != item.size) {
        Some(format!(
            "the CDN serves {} bytes, the source bucket holds {}",
            size.unwrap_or_default(),
            item.size
        ))
    } else if last_modified_ms > 0 && last_modified_ms / 1000 < item.last_modified_ms / 1000 {
        Some("the source object is newer than the CDN's copy; refresh the CDN cache".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => Err(SideError {
            side: Side::Source,
            read: true,
            error: StorageError::new(ErrorKind::Permanent, "compare with the CDN", message)
                .with_status(
                    None,
                    Some(ObjectFailureCode::CdnMismatch.as_str().to_owned()),
                )
                .at(&ctx.source_bucket, Some(&item.key)),
        }),
        None => Ok(()),
    }
}

/// Whether an entity tag is a plain MD5 (single PUT without KMS), which can be compared.
pub(crate) fn etag_is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The MD5 of what went through a tee.
pub(crate) async fn md5_sent(sum: Md5Sum) -> Result<String, SideError> {
    sum.hex().await.map_err(|e| at(Side::Destination)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_md5_etags_are_md5s() {
        assert!(etag_is_md5("5d41402abc4b2a76b9719d911017c592"));
        assert!(!etag_is_md5("5d41402abc4b2a76b9719d911017c592-3"));
    }
}
