//! The transfer pool: copies objects with bounded concurrency. Small objects stream GET → PUT
//! (never buffered whole) with an in-flight MD5 checked against what the destination reports;
//! large ones go through [`crate::multipart`]; when both sides are the same store with the same
//! keys, objects are copied server-side.

use std::sync::Arc;

use futures::StreamExt as _;
use oms_core::spec::{MigrationSpec, StoragePolicy};
use oms_storage::{ErrorKind, ObjectHeaders, StorageError, WriteOptions};
use tokio::sync::mpsc;

use crate::control::{Side, TaskFailure, task_failure_of};
use crate::digests::{Md5Sum, Md5Tee};
use crate::multipart;
use crate::pipeline::{Event, Item, Outcome, RunCtx};
use crate::retry::{Classified, GaveUp, retry};
use crate::streams::Throttled;

/// The longest destination key.
const MAX_KEY_CHARS: usize = 1024;

/// Per-object failure codes (OMS's failed-object list).
pub(crate) mod codes {
    /// The source object could not be read.
    pub(crate) const SOURCE: &str = "GET_SRC_OBJ_META_FAILURE";
    /// Writing to the destination failed.
    pub(crate) const UPLOAD: &str = "UPLOAD_DST_OBJ_FAILURE";
    /// Starting a multipart upload failed.
    pub(crate) const INIT_MULTIPART: &str = "INIT_DST_OBJ_MULTIPART_FAILURE";
    /// Completing a multipart upload failed.
    pub(crate) const COMPLETE_MULTIPART: &str = "COMPLETE_DST_OBJ_MULTIPART_FAILURE";
    /// The CDN's copy differs from the bucket's object (size, or the source is newer).
    pub(crate) const CDN_MISMATCH: &str = "COMPARE_SRC_AND_CDN_FAILURE";

    /// The per-object code of a failure to read the source.
    pub(crate) fn of_source(error: &oms_storage::StorageError) -> &'static str {
        match error.code.as_deref() {
            Some(oms_storage::guard::IP_FORBIDDEN) => oms_storage::guard::IP_FORBIDDEN,
            Some(oms_storage::guard::DOMAIN_FORBIDDEN) => oms_storage::guard::DOMAIN_FORBIDDEN,
            Some(CDN_MISMATCH) => CDN_MISMATCH,
            _ => SOURCE,
        }
    }
}

/// Whether objects are read through a CDN in front of a bucket (and so compared with it).
pub(crate) fn reads_through_cdn(ctx: &RunCtx) -> bool {
    ctx.spec().source.cdn.is_some() && ctx.spec().kind != oms_core::spec::TaskKind::UrlList
}

/// Fails (for good) when the CDN's copy is not the bucket's object: another size (`size`:
/// the whole object's, when the response tells it), or older than the source.
pub(crate) fn compare_with_cdn(
    ctx: &RunCtx,
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
            error: StorageError {
                kind: ErrorKind::Permanent,
                operation: "compare_cdn",
                status: None,
                code: Some(codes::CDN_MISMATCH.to_owned()),
                message,
            },
        }),
        None => Ok(()),
    }
}

/// A storage error with the side it happened on.
#[derive(Debug)]
pub(crate) struct SideError {
    pub side: Side,
    pub error: StorageError,
}

impl std::fmt::Display for SideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl Classified for SideError {
    fn kind(&self) -> ErrorKind {
        self.error.kind
    }
}

pub(crate) fn at(side: Side) -> impl Fn(StorageError) -> SideError {
    move |error| SideError { side, error }
}

/// Why an object was not copied.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Stopped; it will be done again.
    Interrupted,
    /// The object failed.
    Object { code: &'static str, message: String },
    /// The whole task must fail.
    Task(TaskFailure),
}

impl CopyError {
    /// The error a retried call gave up with; `code` when the object fails.
    pub(crate) fn gave_up(code: &'static str, gave_up: GaveUp<SideError>) -> Self {
        match gave_up {
            GaveUp::Cancelled => Self::Interrupted,
            GaveUp::Failed(e) => match task_failure_of(e.side, &e.error) {
                Some(failure) => Self::Task(failure),
                None => {
                    let code = if e.side == Side::Source {
                        codes::of_source(&e.error)
                    } else {
                        code
                    };
                    Self::Object {
                        code,
                        message: e.error.to_string(),
                    }
                }
            },
        }
    }
}

/// The write options for an object whose source has `headers`: Content-Type always, the rest
/// when metadata migration is on; the storage class of the policy.
pub(crate) fn write_options(
    spec: &MigrationSpec,
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
    }
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

/// Whether an entity tag is a plain MD5 (single PUT without KMS), which can be compared.
pub(crate) fn etag_is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The MD5 of what went through a tee, for [`check_md5`].
pub(crate) async fn md5_sent(sum: Md5Sum) -> Result<String, SideError> {
    sum.hex().await.map_err(|e| at(Side::Destination)(e.into()))
}

/// Fails (retryably) when the destination's MD5 differs from what was sent.
pub(crate) fn check_md5(
    reported: Option<&str>,
    sent: &str,
    operation: &'static str,
) -> Result<(), SideError> {
    match reported {
        Some(etag) if etag_is_md5(etag) && !etag.eq_ignore_ascii_case(sent) => Err(SideError {
            side: Side::Destination,
            error: StorageError::new(
                ErrorKind::Transient,
                operation,
                format!("MD5 mismatch: sent {sent}, the destination stored {etag}"),
            ),
        }),
        _ => Ok(()),
    }
}

/// Runs the pool until its input ends or the run stops.
pub(crate) async fn run(
    ctx: Arc<RunCtx>,
    input: mpsc::Receiver<Item>,
    events: mpsc::Sender<Event>,
) {
    let intake = ctx.stop.intake.clone();
    let items = futures::stream::unfold((input, intake), |(mut rx, intake)| async move {
        let item = tokio::select! {
            () = intake.cancelled() => None,
            item = rx.recv() => item,
        };
        item.map(|i| (i, (rx, intake)))
    });
    items
        .for_each_concurrent(ctx.config.object_concurrency, |item| {
            let (ctx, events) = (ctx.clone(), events.clone());
            async move {
                let outcome = tokio::select! {
                    () = ctx.stop.hard.cancelled() => Outcome::Interrupted,
                    outcome = copy(&ctx, &item) => outcome,
                };
                let _ = events
                    .send(Event::Done {
                        seq: item.seq,
                        key: item.record_key(),
                        size: item.size,
                        outcome,
                    })
                    .await;
            }
        })
        .await;
}

/// Copies one object.
async fn copy(ctx: &RunCtx, item: &Item) -> Outcome {
    if let Some((code, reason)) = &item.unreadable {
        return Outcome::Failed {
            code,
            message: reason.clone(),
        };
    }
    let dst_key = ctx.item_dst_key(item);
    if dst_key.chars().count() > MAX_KEY_CHARS {
        return Outcome::Failed {
            code: codes::UPLOAD,
            message: format!("the destination key is longer than {MAX_KEY_CHARS} characters"),
        };
    }
    let copied = if item.size >= ctx.config.multipart_threshold_bytes {
        multipart::copy(ctx, item, &dst_key).await
    } else if ctx.same_store {
        copy_server_side(ctx, item, &dst_key).await
    } else {
        copy_streamed(ctx, item, &dst_key).await
    };
    match copied {
        Ok(moved_bytes) => Outcome::Copied { moved_bytes },
        Err(CopyError::Interrupted) => Outcome::Interrupted,
        Err(CopyError::Object { code, message }) => Outcome::Failed { code, message },
        Err(CopyError::Task(failure)) => {
            ctx.stop.fail(failure);
            Outcome::Interrupted
        }
    }
}

/// GET → PUT, streamed, with the MD5 of the sent bytes checked against the destination's.
async fn copy_streamed(ctx: &RunCtx, item: &Item, dst_key: &str) -> Result<u64, CopyError> {
    let attempt = || async {
        let download = ctx
            .source
            .get(&ctx.source_bucket, &item.key, None)
            .await
            .map_err(at(Side::Source))?;
        compare_with_cdn(
            ctx,
            item,
            Some(download.content_length),
            download.last_modified_ms,
        )?;
        let options = write_options(ctx.spec(), &download.headers, item.storage_class.as_deref());
        let size = download.content_length;
        let body: oms_storage::ByteStream =
            Box::pin(Throttled::new(download.body, ctx.limiter.clone()));
        // When the source vouches for its MD5, the destination's MD5 of what it received is
        // compared with it: the same check, without hashing the bytes here.
        let (body, tee) = match download.content_md5 {
            Some(md5) => (body, Err(md5)),
            None => {
                let (body, md5) = Md5Tee::new(body);
                (Box::pin(body) as oms_storage::ByteStream, Ok(md5))
            }
        };
        let put = ctx
            .destination
            .put(ctx.dst_bucket(), dst_key, body, size, &options)
            .await
            .map_err(at(Side::Destination))?;
        let sent = match tee {
            Err(source_md5) => source_md5,
            Ok(md5) => md5_sent(md5).await?,
        };
        check_md5(put.etag.as_deref(), &sent, "put_object")?;
        Ok::<_, SideError>(size)
    };
    retry(&ctx.config.retry, &ctx.stop.hard, attempt)
        .await
        .map_err(|e| CopyError::gave_up(codes::UPLOAD, e))
}

/// CopyObject within one store: no bytes through the worker.
async fn copy_server_side(ctx: &RunCtx, item: &Item, dst_key: &str) -> Result<u64, CopyError> {
    let Some(copier) = ctx.destination.server_side_copy() else {
        return copy_streamed(ctx, item, dst_key).await;
    };
    // With metadata migration the source's headers are copied as they are; without it only
    // Content-Type is kept, so the source is read first and the headers replaced.
    let replace = !ctx.spec().enable_metadata_migration;
    let options = if replace {
        let head = retry(&ctx.config.retry, &ctx.stop.hard, || async {
            ctx.source
                .head(&ctx.source_bucket, &item.key)
                .await
                .map_err(at(Side::Source))
        })
        .await
        .map_err(|e| CopyError::gave_up(codes::SOURCE, e))?;
        let Some(meta) = head else {
            return Err(CopyError::Object {
                code: codes::SOURCE,
                message: "the source object disappeared".into(),
            });
        };
        write_options(ctx.spec(), &meta.headers, item.storage_class.as_deref())
    } else {
        write_options(
            ctx.spec(),
            &ObjectHeaders::default(),
            item.storage_class.as_deref(),
        )
    };
    retry(&ctx.config.retry, &ctx.stop.hard, || async {
        copier
            .copy_object(
                &ctx.source_bucket,
                &item.key,
                ctx.dst_bucket(),
                dst_key,
                &options,
                replace,
            )
            .await
            .map_err(at(Side::Destination))
    })
    .await
    .map_err(|e| CopyError::gave_up(codes::UPLOAD, e))?;
    Ok(item.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_md5_etags_are_compared() {
        assert!(etag_is_md5("5d41402abc4b2a76b9719d911017c592"));
        assert!(!etag_is_md5("5d41402abc4b2a76b9719d911017c592-3"));
        assert!(check_md5(Some("5d41402abc4b2a76b9719d911017c592-3"), "x", "put").is_ok());
        assert!(
            check_md5(
                Some("5d41402abc4b2a76b9719d911017c592"),
                "5D41402ABC4B2A76B9719D911017C592",
                "put"
            )
            .is_ok()
        );
        let err = check_md5(
            Some("5d41402abc4b2a76b9719d911017c592"),
            "00000000000000000000000000000000",
            "put",
        )
        .unwrap_err();
        assert!(err.error.kind.is_retryable());
    }

    #[test]
    fn storage_classes_map_to_the_destination() {
        assert_eq!(map_storage_class("ONEZONE_IA"), Some("STANDARD_IA"));
        assert_eq!(map_storage_class("Archive"), Some("GLACIER"));
        assert_eq!(map_storage_class("STANDARD"), None);
    }
}
