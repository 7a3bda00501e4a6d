//! The transfer pool: copies objects with bounded concurrency. Small objects stream GET → PUT
//! (never buffered whole) with an in-flight MD5 checked against what the destination reports;
//! large ones go through [`crate::multipart`]; when both sides are the same store with the same
//! keys, objects are copied server-side.
//!
//! Every read of a source object is pinned to the version the lister saw (or a HEAD found):
//! when the source changes under a copy, the copy is started over from a fresh HEAD, a bounded
//! number of times, so that an object is only ever counted successful with all its bytes from
//! one version.

use std::sync::Arc;

use futures::StreamExt as _;
use oms_core::metrics;
use oms_core::spec::{MigrationSpec, StoragePolicy};
use oms_storage::{ErrorKind, ObjectHeaders, Payload, StorageError, Version, WriteOptions};
use tokio::sync::mpsc;

use crate::control::{Side, TaskFailure, task_failure_of};
use crate::digests::{Md5Sum, Md5Tee};
use crate::multipart;
use crate::pipeline::{Event, Item, Outcome, RunCtx};
use crate::retry::{Classified, GaveUp, retry};
use crate::streams::{Throttled, Watched};

/// How often a copy is started over because its source changed under it, before the object
/// fails: a source rewritten this often is being written while it is migrated, and the
/// operator should hear of it rather than wait.
const MAX_RESTARTS: u32 = 3;

/// The longest destination key.
const MAX_KEY_CHARS: usize = 1024;

/// Per-object failure codes (OMS's failed-object list; the two marked as extensions are this
/// implementation's, for causes OMS's codes do not tell apart).
pub(crate) mod codes {
    /// The source object's metadata could not be read, or it does not exist.
    pub(crate) const SOURCE: &str = "GET_SRC_OBJ_META_FAILURE";
    /// The source object's bytes could not be read (extension): the store refused the read,
    /// the connection broke, the body was cut short, or it answered another range.
    pub(crate) const READ_SOURCE: &str = "GET_SRC_OBJ_FAILURE";
    /// The source object changed during every attempt to copy it (extension).
    pub(crate) const SOURCE_CHANGED: &str = "SRC_OBJ_CHANGED_FAILURE";
    /// Writing to the destination failed.
    pub(crate) const UPLOAD: &str = "UPLOAD_DST_OBJ_FAILURE";
    /// Starting a multipart upload failed.
    pub(crate) const INIT_MULTIPART: &str = "INIT_DST_OBJ_MULTIPART_FAILURE";
    /// Completing a multipart upload failed.
    pub(crate) const COMPLETE_MULTIPART: &str = "COMPLETE_DST_OBJ_MULTIPART_FAILURE";
    /// The CDN's copy differs from the bucket's object (size, or the source is newer).
    pub(crate) const CDN_MISMATCH: &str = "COMPARE_SRC_AND_CDN_FAILURE";
    /// Deleting the destination object of a propagated removal failed (extension).
    pub(crate) const DELETE: &str = "DELETE_DST_OBJ_FAILURE";

    /// The per-object code of a failure at the source (`read`: of its bytes, else of its
    /// metadata).
    pub(crate) fn of_source(error: &oms_storage::StorageError, read: bool) -> &'static str {
        match error.code.as_deref() {
            Some(oms_storage::guard::IP_FORBIDDEN) => oms_storage::guard::IP_FORBIDDEN,
            Some(oms_storage::guard::DOMAIN_FORBIDDEN) => oms_storage::guard::DOMAIN_FORBIDDEN,
            Some(CDN_MISMATCH) => CDN_MISMATCH,
            _ if read => READ_SOURCE,
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
            read: true,
            error: StorageError::new(ErrorKind::Permanent, "compare with the CDN", message)
                .with_status(None, Some(codes::CDN_MISMATCH.to_owned()))
                .at(&ctx.source_bucket, Some(&item.key)),
        }),
        None => Ok(()),
    }
}

/// A storage error with the side it happened on.
#[derive(Debug)]
pub(crate) struct SideError {
    pub side: Side,
    /// At the source: whether reading its bytes failed (else reading its metadata).
    pub read: bool,
    pub error: StorageError,
}

impl std::fmt::Display for SideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Source => "source",
            Side::Destination => "destination",
        };
        write!(f, "{side}: {}", self.error)
    }
}

impl Classified for SideError {
    fn error(&self) -> &StorageError {
        &self.error
    }

    fn side(&self) -> Option<Side> {
        Some(self.side)
    }
}

pub(crate) fn at(side: Side) -> impl Fn(StorageError) -> SideError {
    move |error| SideError {
        side,
        read: false,
        error,
    }
}

/// A failure to read the source object's bytes.
pub(crate) fn reading(error: StorageError) -> SideError {
    SideError {
        side: Side::Source,
        read: true,
        error,
    }
}

/// A failed write, blamed on the source when the source body it was sending failed first (a
/// source cut short makes the write fail, but the fault is the source's).
pub(crate) fn written(fault: &crate::streams::SourceFault) -> impl Fn(StorageError) -> SideError {
    move |error| match fault.take() {
        Some(source) => reading(source),
        None => at(Side::Destination)(error),
    }
}

/// Why an object was not copied.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Stopped; it will be done again.
    Interrupted,
    /// The source changed under the copy (what was seen): the copy starts over.
    Changed(String),
    /// The source answered a ranged read with something else: read it in one stream.
    RangeNotHonored(String),
    /// The object failed with a per-object code (`UPLOAD_DST_OBJ_FAILURE`, ...); the task goes on.
    Object { code: &'static str, message: String },
    /// The whole task must fail.
    Task(TaskFailure),
}

impl CopyError {
    /// What becomes of the object: failed, or interrupted (to be done again). An error that
    /// must fail the whole task is handed to the run's stop.
    pub(crate) fn into_outcome(self, ctx: &RunCtx) -> Outcome {
        match self {
            Self::Interrupted => Outcome::Interrupted,
            Self::Object { code, message } => Outcome::Failed { code, message },
            Self::Changed(message) | Self::RangeNotHonored(message) => Outcome::Failed {
                code: codes::READ_SOURCE,
                message,
            },
            Self::Task(failure) => {
                ctx.stop.fail(failure);
                Outcome::Interrupted
            }
        }
    }

    /// The error a retried call gave up with; `code` when the object fails.
    pub(crate) fn gave_up(code: &'static str, gave_up: GaveUp<SideError>) -> Self {
        match gave_up {
            GaveUp::Cancelled => Self::Interrupted,
            GaveUp::Failed(e) if e.error.kind == ErrorKind::Changed => Self::Changed(e.to_string()),
            GaveUp::Failed(e) if e.error.kind == ErrorKind::RangeNotHonored => {
                Self::RangeNotHonored(e.to_string())
            }
            GaveUp::Failed(e) => match task_failure_of(e.side, &e.error) {
                Some(failure) => Self::Task(failure),
                None => {
                    let code = if e.side == Side::Source {
                        codes::of_source(&e.error, e.read)
                    } else {
                        code
                    };
                    Self::Object {
                        code,
                        message: e.to_string(),
                    }
                }
            },
        }
    }
}

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
    }
}

/// The source object's tags, to be written with it when metadata migration is on (they travel
/// with the other metadata, or not at all). They are asked for when the answer that gave
/// `headers` said the object has some, or — for a HEAD (`from_head`), which AWS answers without
/// a count — did not say.
pub(crate) async fn source_tags(
    ctx: &RunCtx,
    item: &Item,
    headers: &ObjectHeaders,
    from_head: bool,
) -> Result<Vec<(String, String)>, SideError> {
    let wanted = match headers.tag_count {
        _ if !ctx.spec().enable_metadata_migration => false,
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

/// Whether an entity tag is a plain MD5 (single PUT without KMS), which can be compared.
pub(crate) fn etag_is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The MD5 of what went through a tee, for [`check_md5`].
pub(crate) async fn md5_sent(sum: Md5Sum) -> Result<String, SideError> {
    sum.hex().await.map_err(|e| at(Side::Destination)(e.into()))
}

/// Whether `version` is a multipart copy's.
fn multipart(ctx: &RunCtx, version: &Version) -> bool {
    // Where bodies are hashed before they are sent, no more than a part is held at once.
    version.size >= ctx.config.multipart_threshold_bytes
        || (ctx.integrity.md5_first() && version.size > ctx.config.part_size_bytes)
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
                let _flying = InFlight::new(metrics::OBJECTS_IN_FLIGHT);
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

/// One object or part being copied, counted in a gauge for as long as it lives.
pub(crate) struct InFlight(&'static str);

impl InFlight {
    /// Counts one more in the gauge `name` until dropped.
    pub(crate) fn new(name: &'static str) -> Self {
        ::metrics::gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        ::metrics::gauge!(self.0).decrement(1.0);
    }
}

/// Copies one object: the version the lister saw, or the one a HEAD finds after the source
/// changed under a copy.
pub(crate) async fn copy(ctx: &RunCtx, item: &Item) -> Outcome {
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
    let mut version = item.version();
    let mut restarts = 0;
    loop {
        let copied = if multipart(ctx, &version) {
            multipart::copy(ctx, item, &dst_key, &version).await
        } else if ctx.same_store {
            copy_server_side(ctx, item, &dst_key, &version).await
        } else {
            copy_streamed(ctx, item, &dst_key, &version).await
        };
        let copied = match copied {
            Err(CopyError::Changed(seen)) if restarts < MAX_RESTARTS => {
                restarts += 1;
                tracing::info!(key = %item.key, restarts, seen = %seen, "the source object changed during its copy; starting it over");
                match fresh_version(ctx, item).await {
                    Ok(fresh) => {
                        version = fresh;
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
            Err(CopyError::Changed(seen)) => Err(CopyError::Object {
                code: codes::SOURCE_CHANGED,
                message: format!(
                    "the source object changed during each of {} attempts to copy it; the last: {seen}",
                    MAX_RESTARTS + 1
                ),
            }),
            other => other,
        };
        return match copied {
            Ok(moved_bytes) => Outcome::Copied {
                moved_bytes,
                size: version.size,
            },
            Err(e) => e.into_outcome(ctx),
        };
    }
}

/// What a HEAD of the source object says now (`None`: it is gone).
pub(crate) async fn head_source(
    ctx: &RunCtx,
    item: &Item,
) -> Result<Option<oms_storage::ObjectMeta>, CopyError> {
    retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.source
            .head(&ctx.source_bucket, &item.key)
            .await
            .map_err(at(Side::Source))
    })
    .await
    .map_err(|e| CopyError::gave_up(codes::SOURCE, e))
}

/// The source object's version now (after a change), from a HEAD.
async fn fresh_version(ctx: &RunCtx, item: &Item) -> Result<Version, CopyError> {
    match head_source(ctx, item).await? {
        Some(meta) => Ok(Version {
            size: meta.info.size,
            etag: meta.info.etag,
            last_modified_ms: meta.info.last_modified_ms,
        }),
        None => Err(CopyError::Object {
            code: codes::SOURCE,
            message: format!(
                "source: the object {} was deleted while it was being copied",
                item.key
            ),
        }),
    }
}

/// GET → PUT, streamed, with the MD5 of the sent bytes checked against the destination's. The
/// GET is pinned to `version`: a changed source is [`CopyError::Changed`].
async fn copy_streamed(
    ctx: &RunCtx,
    item: &Item,
    dst_key: &str,
    version: &Version,
) -> Result<u64, CopyError> {
    let attempt = || async {
        let download = ctx
            .source
            .get(&ctx.source_bucket, &item.key, None, Some(version))
            .await
            .map_err(reading)?;
        compare_with_cdn(
            ctx,
            item,
            Some(download.content_length),
            download.last_modified_ms,
        )?;
        let mut options = write_options(
            ctx.spec(),
            &item.key,
            &download.headers,
            item.storage_class.as_deref(),
        );
        options.tags = source_tags(ctx, item, &download.headers, false).await?;
        let size = download.content_length;
        let (body, fault) = Watched::new(download.body);
        let body: oms_storage::ByteStream =
            Box::pin(Throttled::new(Box::pin(body), ctx.limiter.clone()));
        // With an MD5 the source vouches for (or one computed first, where the destination
        // needs it), the body goes with Content-MD5 and the store checks it; otherwise its
        // MD5 is computed on the way and compared with the destination's entity tag.
        let payload = ctx
            .integrity
            .payload(body, size, download.content_md5)
            .await
            .map_err(written(&fault))?;
        let (payload, tee) = match payload.content_md5.clone() {
            Some(md5) => (payload, Err(md5)),
            None => {
                let (body, md5) = Md5Tee::new(payload.body);
                let body: oms_storage::ByteStream = Box::pin(body);
                (Payload { body, ..payload }, Ok(md5))
            }
        };
        let content_md5_sent = tee.is_err();
        let put = ctx
            .destination
            .put(ctx.dst_bucket(), dst_key, payload, &options)
            .await
            .map_err(|e| ctx.integrity.refused(e))
            .map_err(written(&fault))?;
        let sent = match tee {
            Err(content_md5) => content_md5,
            Ok(md5) => md5_sent(md5).await?,
        };
        ctx.integrity
            .check(&put, &sent, content_md5_sent, "PutObject")
            .map_err(at(Side::Destination))?;
        Ok::<_, SideError>(size)
    };
    retry(&ctx.config.retry, &ctx.stop.hard, attempt)
        .await
        .map_err(|e| CopyError::gave_up(codes::UPLOAD, e))
}

/// CopyObject within one store: no bytes through the worker, only if the source is still
/// `version`.
async fn copy_server_side(
    ctx: &RunCtx,
    item: &Item,
    dst_key: &str,
    version: &Version,
) -> Result<u64, CopyError> {
    let Some(copier) = ctx.destination.server_side_copy() else {
        return copy_streamed(ctx, item, dst_key, version).await;
    };
    // With metadata migration the source's headers are copied as they are; without it only
    // Content-Type is kept, so the source is read first and the headers replaced. A copy needs
    // an entity tag to be pinned: without one, the HEAD gives it.
    let replace = !ctx.spec().enable_metadata_migration;
    let mut version = version.clone();
    let mut options = write_options(
        ctx.spec(),
        &item.key,
        &ObjectHeaders::default(),
        item.storage_class.as_deref(),
    );
    if replace || version.strong_etag().is_none() {
        let Some(meta) = head_source(ctx, item).await? else {
            return Err(CopyError::Object {
                code: codes::SOURCE,
                message: format!("source: the object {} disappeared", item.key),
            });
        };
        if meta.info.size != version.size {
            return Err(CopyError::Changed(format!(
                "it holds {} bytes now, {} were listed",
                meta.info.size, version.size
            )));
        }
        version.etag = meta.info.etag.clone().or(version.etag);
        if replace {
            options = write_options(
                ctx.spec(),
                &item.key,
                &meta.headers,
                item.storage_class.as_deref(),
            );
        }
    }
    retry(&ctx.config.retry, &ctx.stop.hard, || async {
        copier
            .copy_object(
                &ctx.source_bucket,
                &item.key,
                &version,
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
    ctx.limiter.count(version.size);
    Ok(version.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_md5_etags_are_md5s() {
        assert!(etag_is_md5("5d41402abc4b2a76b9719d911017c592"));
        assert!(!etag_is_md5("5d41402abc4b2a76b9719d911017c592-3"));
    }

    #[test]
    fn storage_classes_map_to_the_destination() {
        assert_eq!(map_storage_class("ONEZONE_IA"), Some("STANDARD_IA"));
        assert_eq!(map_storage_class("Archive"), Some("GLACIER"));
        assert_eq!(map_storage_class("STANDARD"), None);
    }
}
