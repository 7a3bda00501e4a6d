//! Copying one object, whatever asks for it: the transfer stage of a task run and the keys of a
//! sync task alike. Small objects stream GET → PUT (never buffered whole) and are proven by
//! their MD5 ([`integrity`]); large ones go through [`multipart`]; when both sides are the same
//! store with the same keys, objects are copied server-side. What travels with an object is
//! decided in [`options`]; why a copy stops, in [`error`].
//!
//! Every read of a source object is pinned to the version the lister saw (or a HEAD found):
//! when the source changes under a copy, the copy is started over from a fresh HEAD, a bounded
//! number of times, so that an object is only ever counted successful with all its bytes from
//! one version.
//!
//! [`CopyCtx`] holds only what copying needs; a task run wraps it with its own state
//! ([`crate::pipeline::RunCtx`]), a sync task uses it as it is.

pub(crate) mod error;
pub(crate) mod integrity;
pub(crate) mod multipart;
pub(crate) mod options;
pub(crate) mod restore;
pub(crate) mod verify;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use oms_core::error::ObjectFailureCode;
use oms_core::model::Proof;
use oms_core::spec::{ConsistencyCheck, MigrationSpec};
use oms_db::{Db, Lease};
use oms_storage::{
    ErrorKind, ObjectHeaders, Payload, ReadStore, StorageError, Version, WriteStore,
};

use crate::WorkerConfig;
use crate::control::{Side, Stop};
use crate::crc::{self, CrcTee};
use crate::digests::Md5Tee;
use crate::pipeline::{Item, Outcome};
use crate::retry::retry;
use crate::streams::{Limiter, Throttled, Watched};
use error::{CopyError, SideError, at, reading, written};
use integrity::Integrity;
use options::{source_tags, write_options};
use verify::{compare_with_cdn, md5_sent};

/// How often a copy is started over because its source changed under it, before the object
/// fails: a source rewritten this often is being written while it is migrated, and the
/// operator should hear of it rather than wait.
const MAX_RESTARTS: u32 = 3;

/// The longest destination key.
const MAX_KEY_CHARS: usize = 1024;

/// What copying objects needs, for one task run or one sync task run.
#[derive(Debug)]
pub(crate) struct CopyCtx {
    /// Where saved multipart uploads are kept.
    pub db: Db,
    /// Concurrency, part sizes, retries.
    pub config: Arc<WorkerConfig>,
    /// What is migrated, and how.
    pub spec: MigrationSpec,
    /// The source store.
    pub source: Arc<dyn ReadStore>,
    /// The destination store.
    pub destination: Arc<dyn WriteStore>,
    /// The source bucket's name as the store knows it (Tencent: with the APPID).
    pub source_bucket: String,
    /// Source and destination are the same store with the same keys: copy server-side.
    pub same_store: bool,
    /// The bandwidth the copies share.
    pub limiter: Arc<Limiter>,
    /// Stops the copies (a pause, a shutdown, a failure of the run).
    pub stop: Stop,
    /// The lease that fences what the copies save (multipart uploads and their parts): the
    /// task's, or the one a sync task holds for its hidden task.
    pub lease: Lease,
    /// How writes prove their bytes at this destination.
    pub integrity: Integrity,
    /// Bytes of the finished parts of objects in progress, by listing order.
    parts: Mutex<HashMap<u64, u64>>,
    /// Objects of this run checked by size and time instead of CRC64 (no side reported one).
    crc64_unchecked: AtomicI64,
    /// Turns to poll the restore of an archived object ([`restore`]).
    pub restores: tokio::sync::Semaphore,
    /// Archived objects are not waited for: their restores are asked for and the object is
    /// left for a later pass ([`Outcome::Restoring`]). Off (they are waited for) unless a task
    /// run's listing turns it on.
    defer_restores: AtomicBool,
}

impl CopyCtx {
    /// A context over these stores, fenced by `lease`.
    #[expect(clippy::too_many_arguments, reason = "every field is needed to copy")]
    pub(crate) fn new(
        db: Db,
        config: Arc<WorkerConfig>,
        spec: MigrationSpec,
        sides: oms_storage::connect::Sides,
        limiter: Arc<Limiter>,
        stop: Stop,
        lease: Lease,
        integrity: Integrity,
    ) -> Self {
        if let Some(kms) = &spec.destination.kms {
            // SSE-KMS makes entity tags other than MD5s: the store checks each body's
            // Content-MD5 instead.
            integrity.require_md5(&format!("the task writes with {kms}"));
        }
        Self {
            db,
            config,
            spec,
            source: sides.source,
            destination: sides.destination,
            source_bucket: sides.source_bucket,
            same_store: sides.same_store,
            limiter,
            stop,
            lease,
            integrity,
            parts: Mutex::default(),
            crc64_unchecked: AtomicI64::new(0),
            restores: tokio::sync::Semaphore::new(restore::RESTORES_POLLED_AT_ONCE),
            defer_restores: AtomicBool::new(false),
        }
    }

    /// Whether archived objects are left for a later pass rather than waited for.
    pub(crate) fn set_defer_restores(&self, defer: bool) {
        self.defer_restores.store(defer, Ordering::Relaxed);
    }

    /// Whether copies are proven by CRC64 (`consistency_check: crc64`): the bytes sent are
    /// hashed, and compared with what the source and the destination report.
    pub(crate) fn crc64_wanted(&self) -> bool {
        self.spec.consistency_check == ConsistencyCheck::Crc64
    }

    /// Objects of this run checked by size and time instead of CRC64.
    pub(crate) fn crc64_unchecked(&self) -> i64 {
        self.crc64_unchecked.load(Ordering::Relaxed)
    }

    /// The CRC64 check of a copied object (`sent`: the CRC-64 of the bytes sent, when they went
    /// through the worker): a mismatch fails the object for good (the bytes were sent whole and
    /// a side says otherwise); an object no side reports one for is counted, and rests on size
    /// and time as OMS's does.
    pub(crate) fn check_crc64(
        &self,
        sent: Option<u64>,
        source: Option<u64>,
        destination: Option<u64>,
    ) -> Result<(), StorageError> {
        if !self.crc64_wanted() {
            return Ok(());
        }
        match crc::verdict(sent, source, destination) {
            crc::Verdict::Proven => Ok(()),
            crc::Verdict::Unreported => {
                self.crc64_unchecked.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            crc::Verdict::Mismatch(why) => {
                Err(StorageError::new(ErrorKind::Permanent, "verify CRC64", why))
            }
        }
    }

    pub(crate) fn spec(&self) -> &MigrationSpec {
        &self.spec
    }

    fn parts_map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        self.parts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `bytes` of finished parts of the object listed as `seq`.
    pub(crate) fn add_parts(&self, seq: u64, bytes: u64) {
        *self.parts_map().entry(seq).or_default() += bytes;
    }

    /// The object listed as `seq` is finished: its parts no longer count apart.
    pub(crate) fn forget_parts(&self, seq: u64) {
        self.parts_map().remove(&seq);
    }

    /// Bytes of finished parts of the objects in progress.
    pub(crate) fn parts_done(&self) -> u64 {
        self.parts_map().values().sum()
    }

    /// Where a source key goes.
    pub(crate) fn dst_key(&self, key: &str) -> String {
        format!("{}{key}", self.spec.destination.save_prefix)
    }

    /// Where an item goes.
    pub(crate) fn item_dst_key(&self, item: &Item) -> String {
        self.dst_key(item.dst_name.as_deref().unwrap_or(&item.key))
    }

    /// The destination bucket.
    pub(crate) fn dst_bucket(&self) -> &str {
        &self.spec.destination.bucket
    }
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

/// Whether `version` is a multipart copy's.
fn multipart(ctx: &CopyCtx, version: &Version) -> bool {
    // Where bodies are hashed before they are sent, no more than a part is held at once.
    version.size >= ctx.config.multipart_threshold_bytes
        || (ctx.integrity.md5_first() && version.size > ctx.config.part_size_bytes)
}

/// A finished copy: the bytes moved now, and what proved the object.
pub(crate) struct Copied {
    /// Bytes moved in this run.
    pub moved: u64,
    /// What proved the object.
    pub proof: Proof,
}

/// The proof of a copy whose bytes went through the worker: the CRC-64 both ends agree on,
/// where the destination reported one (`consistency_check: crc64`), else the MD5 that the
/// destination's entity tag equals or that went as `Content-MD5`.
fn proof_of_sent(
    sent_crc: Option<u64>,
    dst_crc: Option<u64>,
    md5: String,
    dst_etag: Option<String>,
) -> Proof {
    let (checksum, value) = match (sent_crc, dst_crc) {
        (Some(sent), Some(dst)) if sent == dst => ("crc64", format!("{sent:016x}")),
        _ => ("md5", md5),
    };
    Proof {
        source_etag: None,
        checksum: checksum.to_owned(),
        value,
        dst_etag,
    }
}

/// Copies one object: the version the lister saw, or the one a HEAD finds after the source
/// changed under a copy.
pub(crate) async fn copy(ctx: &CopyCtx, item: &Item) -> Outcome {
    if let Some((code, reason)) = &item.unreadable {
        return Outcome::Failed {
            code: *code,
            message: reason.clone(),
        };
    }
    let dst_key = ctx.item_dst_key(item);
    if dst_key.chars().count() > MAX_KEY_CHARS {
        return Outcome::Failed {
            code: ObjectFailureCode::Upload,
            message: format!("the destination key is longer than {MAX_KEY_CHARS} characters"),
        };
    }
    // How to write (in parts, with Content-MD5) depends on what the destination's settings
    // say, read beside the run's first requests.
    ctx.integrity.settled().await;
    if let Some(class) = restore::archived(item) {
        let readable = if ctx.defer_restores.load(Ordering::Relaxed) {
            restore::ask(ctx, item, class).await
        } else {
            restore::make_readable(ctx, item, class)
                .await
                .map(|()| true)
        };
        match readable {
            Ok(true) => {}
            Ok(false) => return Outcome::Restoring,
            Err(e) => return e.into_outcome(ctx),
        }
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
                code: ObjectFailureCode::SourceChanged,
                message: format!(
                    "the source object changed during each of {} attempts to copy it; the last: {seen}",
                    MAX_RESTARTS + 1
                ),
            }),
            other => other,
        };
        return match copied {
            Ok(Copied { moved, mut proof }) => {
                proof.source_etag = proof.source_etag.or_else(|| version.etag.clone());
                Outcome::Copied {
                    moved_bytes: moved,
                    size: version.size,
                    proof,
                }
            }
            Err(e) => e.into_outcome(ctx),
        };
    }
}

/// What a HEAD of the source object says now (`None`: it is gone).
pub(crate) async fn head_source(
    ctx: &CopyCtx,
    item: &Item,
) -> Result<Option<oms_storage::ObjectMeta>, CopyError> {
    retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.source
            .head(&ctx.source_bucket, &item.key)
            .await
            .map_err(at(Side::Source))
    })
    .await
    .map_err(|e| CopyError::gave_up(ObjectFailureCode::SourceMetadata, e))
}

/// The source object's version now (after a change), from a HEAD.
async fn fresh_version(ctx: &CopyCtx, item: &Item) -> Result<Version, CopyError> {
    match head_source(ctx, item).await? {
        Some(meta) => Ok(Version {
            size: meta.info.size,
            etag: meta.info.etag,
            last_modified_ms: meta.info.last_modified_ms,
        }),
        None => Err(CopyError::Object {
            code: ObjectFailureCode::SourceMetadata,
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
    ctx: &CopyCtx,
    item: &Item,
    dst_key: &str,
    version: &Version,
) -> Result<Copied, CopyError> {
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
        let source_etag = download.etag.clone();
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
        let (payload, crc_sum) = if ctx.crc64_wanted() {
            let (body, sum) = CrcTee::wrap(payload.body);
            (Payload { body, ..payload }, Some(sum))
        } else {
            (payload, None)
        };
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
        let crc_sent = crc_sum.and_then(|s| s.of_whole(size)).map(|c| c.value);
        ctx.check_crc64(crc_sent, download.crc64, put.crc64)
            .map_err(|e| e.at(ctx.dst_bucket(), Some(dst_key)))
            .map_err(at(Side::Destination))?;
        let mut proof = proof_of_sent(crc_sent, put.crc64, sent, put.etag.clone());
        proof.source_etag = source_etag;
        Ok::<_, SideError>((size, put.encryption, proof))
    };
    let (size, encryption, proof) = retry(&ctx.config.retry, &ctx.stop.hard, attempt)
        .await
        .map_err(|e| CopyError::gave_up(ObjectFailureCode::Upload, e))?;
    verify::check_encryption(ctx, dst_key, encryption).await?;
    Ok(Copied { moved: size, proof })
}

/// CopyObject within one store: no bytes through the worker, only if the source is still
/// `version`.
async fn copy_server_side(
    ctx: &CopyCtx,
    item: &Item,
    dst_key: &str,
    version: &Version,
) -> Result<Copied, CopyError> {
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
    let mut source_crc64 = None;
    if replace || version.strong_etag().is_none() || ctx.crc64_wanted() {
        let Some(meta) = head_source(ctx, item).await? else {
            return Err(CopyError::Object {
                code: ObjectFailureCode::SourceMetadata,
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
        source_crc64 = meta.crc64;
        if replace {
            options = write_options(
                ctx.spec(),
                &item.key,
                &meta.headers,
                item.storage_class.as_deref(),
            );
        }
    }
    let copied = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        let copied = copier
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
            .map_err(at(Side::Destination))?;
        // No bytes went through the worker: the two sides' CRC64s are compared.
        ctx.check_crc64(None, source_crc64, copied.crc64)
            .map_err(|e| e.at(ctx.dst_bucket(), Some(dst_key)))
            .map_err(at(Side::Destination))?;
        Ok(copied)
    })
    .await
    .map_err(|e| CopyError::gave_up(ObjectFailureCode::Upload, e))?;
    verify::check_encryption(ctx, dst_key, copied.encryption.clone()).await?;
    ctx.limiter.count(version.size);
    // No bytes went through the worker: the two sides' CRC-64s, else the entity tag the copy
    // kept, else only the size proves it.
    let source_etag = version.strong_etag().map(str::to_owned);
    let (checksum, value) = match (source_crc64, copied.crc64) {
        (Some(a), Some(b)) if a == b => ("crc64", format!("{a:016x}")),
        _ => match (&source_etag, &copied.etag) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => ("etag", b.clone()),
            _ => ("size", String::new()),
        },
    };
    Ok(Copied {
        moved: version.size,
        proof: Proof {
            source_etag,
            checksum: checksum.to_owned(),
            value,
            dst_etag: copied.etag,
        },
    })
}
