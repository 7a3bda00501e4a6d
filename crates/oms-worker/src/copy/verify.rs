//! Checks of what is read and written beside the pinned reads: a copy read through a CDN is
//! compared with the bucket's object, and the MD5 of what was sent is known for the checks of
//! [`super::integrity`].

use oms_core::error::ObjectFailureCode;
use oms_core::spec::Kms;
use oms_storage::{Encryption, ErrorKind, StorageError};

use super::CopyCtx;
use super::error::{CopyError, SideError, at};
use crate::control::Side;
use crate::digests::Md5Sum;
use crate::pipeline::Item;
use crate::retry::{GaveUp, retry};

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

/// OMS's "KMS state" check: with SSE-KMS asked for (`enable_kms`, `dst_node.crypto_type`),
/// the destination must say it applied it, with the task's key — in its answer to the write
/// (`said`), or where that says nothing, in a HEAD of the object. A store that did otherwise
/// fails the object.
pub(crate) async fn check_encryption(
    ctx: &CopyCtx,
    dst_key: &str,
    said: Encryption,
) -> Result<(), CopyError> {
    let Some(kms) = &ctx.spec.destination.kms else {
        return Ok(());
    };
    let said = if said.algorithm.is_some() {
        said
    } else {
        retry(&ctx.config.retry, &ctx.stop.hard, || async {
            ctx.destination
                .head(ctx.dst_bucket(), dst_key)
                .await
                .map_err(at(Side::Destination))
        })
        .await
        .map_err(|e| CopyError::gave_up(ObjectFailureCode::Upload, e))?
        .map(|meta| meta.encryption)
        .unwrap_or_default()
    };
    let Err(problem) = kms_state(kms, &said) else {
        return Ok(());
    };
    // What was written is not encrypted as the task asks: it does not stay (a retry writes it
    // again where the encryption is honoured).
    let removed = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.destination
            .delete(ctx.dst_bucket(), dst_key)
            .await
            .map_err(at(Side::Destination))
    })
    .await;
    let what_became = match removed {
        Ok(()) => "the object written without it was removed".to_owned(),
        Err(GaveUp::Cancelled) => return Err(CopyError::Interrupted),
        Err(GaveUp::Failed(e)) => {
            tracing::warn!(key = %dst_key, error = %e, "cannot remove an object written without the task's encryption");
            format!("the object written without it could not be removed ({e})")
        }
    };
    Err(CopyError::Object {
        code: ObjectFailureCode::Upload,
        message: format!("destination: KMS state error on {dst_key}: {problem}; {what_became}"),
    })
}

/// Whether the encryption a store `said` it applied is the task's `kms`; if not, what differs.
pub(crate) fn kms_state(kms: &Kms, said: &Encryption) -> Result<(), String> {
    if !said.is_kms() {
        return Err(format!(
            "the task asks for {kms}, the destination applied {}",
            said.algorithm.as_deref().unwrap_or("no encryption")
        ));
    }
    if !kms.is_key(said.kms_key_id.as_deref()) {
        return Err(format!(
            "the task asks for {kms}, the destination used the key {}",
            said.kms_key_id.as_deref().unwrap_or("it does not name")
        ));
    }
    Ok(())
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
    fn the_kms_state_is_the_tasks_or_the_object_fails() {
        let key = "0a1b2c3d-0000-1111-2222-333344445555";
        let kms = |key_id: Option<&str>| Kms {
            key_id: key_id.map(str::to_owned),
        };
        let said = |algorithm: Option<&str>, key_id: Option<&str>| Encryption {
            algorithm: algorithm.map(str::to_owned),
            kms_key_id: key_id.map(str::to_owned),
        };
        assert!(kms_state(&kms(Some(key)), &said(Some("aws:kms"), Some(key))).is_ok());
        let arn = format!("arn:aws:kms:cn-north-4:0123:key/{key}");
        assert!(kms_state(&kms(Some(key)), &said(Some("aws:kms"), Some(&arn))).is_ok());
        assert!(kms_state(&kms(None), &said(Some("aws:kms"), Some(key))).is_ok());
        let other = kms_state(&kms(Some(key)), &said(Some("aws:kms"), Some("other"))).unwrap_err();
        assert!(other.contains("used the key other"), "{other}");
        let plain = kms_state(&kms(None), &said(Some("AES256"), None)).unwrap_err();
        assert!(plain.contains("applied AES256"), "{plain}");
        assert!(kms_state(&kms(None), &said(None, None)).is_err());
    }

    #[test]
    fn only_plain_md5_etags_are_md5s() {
        assert!(etag_is_md5("5d41402abc4b2a76b9719d911017c592"));
        assert!(!etag_is_md5("5d41402abc4b2a76b9719d911017c592-3"));
    }
}
