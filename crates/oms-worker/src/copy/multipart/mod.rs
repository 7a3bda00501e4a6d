//! Large objects: multipart uploads with parallel parts. The upload id and every completed part
//! are saved, so that a run that stops (pause, shutdown, crash) is continued by the next run
//! with the same upload: parts already uploaded are not sent again.
//!
//! Every part is read from one version of the source: the one a HEAD found when the upload
//! started (saved with it). A part read that finds another version ends the upload (aborted at
//! the destination) and the copy starts over; a saved upload whose source changed since is not
//! continued. A source that does not honour byte ranges is read in one streamed GET, cut into
//! the parts still missing. An object that fails has its upload aborted at once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use oms_core::error::ObjectFailureCode;
use oms_core::model::{SavedPart, SavedUpload};
use oms_db::DbError;
use oms_storage::{Payload, Version};

use crate::control::Side;
use crate::copy::error::{CopyError, SideError, at, reading, written};
use crate::copy::options::{source_tags, write_options};
use crate::copy::verify::{compare_with_cdn, md5_sent};
use crate::copy::{CopyCtx, InFlight, head_source};
use crate::crc::CrcTee;
use crate::digests::Md5Tee;
use crate::pipeline::Item;
use crate::retry::retry;
use crate::streams::{Throttled, Watched};

mod complete;
mod one_read;

/// S3 allows at most 10,000 parts.
const MAX_PARTS: u64 = 10_000;

fn db_trouble(ctx: &CopyCtx, error: &DbError) -> CopyError {
    ctx.stop.db_failed(error);
    CopyError::Interrupted
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The part size of an object of `size` bytes.
fn part_size_of(ctx: &CopyCtx, size: u64) -> u64 {
    ctx.config
        .part_size_bytes
        .max(size.div_ceil(MAX_PARTS))
        .max(1)
}

/// The byte range of part `part_number` (1-based).
fn part_range(part_number: i32, part_size: u64, size: u64) -> std::ops::Range<u64> {
    let start = u64::try_from(part_number - 1).unwrap_or(0) * part_size;
    start..(start + part_size).min(size)
}

/// The upload of one object: where it goes and which source version it reads.
struct Upload<'a> {
    ctx: &'a CopyCtx,
    item: &'a Item,
    dst_key: &'a str,
    upload_id: String,
    /// The source version every part reads.
    pinned: Version,
    size: u64,
    part_size: u64,
    parts_total: i32,
    /// The CRC-64 the source reported of the object when the upload started.
    source_crc64: Option<u64>,
}

impl Upload<'_> {
    /// Sends `body` (a source body of `len` bytes) as part `part_number`, throttled, with the
    /// MD5 of what was sent checked against the part's entity tag (and its CRC-64, computed
    /// when the task checks CRC64, against the one the destination reports of the part);
    /// returns the part as it is saved.
    async fn send_part(
        &self,
        part_number: i32,
        body: oms_storage::ByteStream,
        len: u64,
    ) -> Result<SavedPart, SideError> {
        let ctx = self.ctx;
        let (body, fault) = Watched::new(body);
        let body: oms_storage::ByteStream =
            Box::pin(Throttled::new(Box::pin(body), ctx.limiter.clone()));
        // Hashed first where the destination needs Content-MD5, else on the way (see
        // `crate::integrity`).
        let payload = ctx
            .integrity
            .payload(body, len, None)
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
        let outcome = ctx
            .destination
            .upload_part(
                ctx.dst_bucket(),
                self.dst_key,
                &self.upload_id,
                part_number,
                payload,
            )
            .await
            .map_err(|e| ctx.integrity.refused(e))
            .map_err(written(&fault))?;
        let sent = match tee {
            Err(content_md5) => content_md5,
            Ok(md5) => md5_sent(md5).await?,
        };
        ctx.integrity
            .check(&outcome, &sent, content_md5_sent, "UploadPart")
            .map_err(at(Side::Destination))?;
        let crc64 = crc_sum.and_then(|s| s.of_whole(len)).map(|c| c.value);
        if let (Some(sent), Some(stored)) = (crc64, outcome.crc64)
            && sent != stored
        {
            return Err(at(Side::Destination)(
                oms_storage::StorageError::new(
                    oms_storage::ErrorKind::Permanent,
                    "verify CRC64",
                    format!(
                        "CRC64 mismatch: the bytes sent of part {part_number} have {sent}, the destination reports {stored}"
                    ),
                )
                .at(ctx.dst_bucket(), Some(self.dst_key)),
            ));
        }
        Ok(SavedPart {
            etag: outcome.etag.unwrap_or_default(),
            crc64,
            md5: Some(sent),
        })
    }

    /// Aborts the upload at the destination and forgets it: its object failed, or its source
    /// changed. An abort that fails is left to the next run's cleanup of the bucket.
    async fn discard(&self) -> Result<(), CopyError> {
        self.ctx.forget_parts(self.item.seq);
        if let Err(e) = self
            .ctx
            .destination
            .abort_multipart(self.ctx.dst_bucket(), self.dst_key, &self.upload_id)
            .await
        {
            tracing::warn!(key = %self.item.key, error = %e, "cannot abort a multipart upload");
        }
        self.ctx
            .db
            .delete_upload(self.ctx.lease.task_id, &self.item.record_key())
            .await
            .map_err(|e| db_trouble(self.ctx, &e))
    }

    /// Saves a finished part (and counts its bytes as done).
    async fn save_part(&self, part_number: i32, part: &SavedPart) -> Result<(), CopyError> {
        self.ctx
            .db
            .save_part(&self.ctx.lease, &self.item.record_key(), part_number, part)
            .await
            .map_err(|e| db_trouble(self.ctx, &e))?;
        self.ctx
            .add_parts(self.item.seq, self.part_len(part_number));
        Ok(())
    }

    fn part_len(&self, part_number: i32) -> u64 {
        let range = part_range(part_number, self.part_size, self.size);
        range.end - range.start
    }
}

/// A HEAD of the source, which must still be `expected` (its size, and its entity tag where
/// both tell one): [`CopyError::Changed`] otherwise, for the caller to start over.
async fn head_expected(
    ctx: &CopyCtx,
    item: &Item,
    expected: &Version,
) -> Result<oms_storage::ObjectMeta, CopyError> {
    let Some(meta) = head_source(ctx, item).await? else {
        return Err(CopyError::Object {
            code: ObjectFailureCode::SourceMetadata,
            message: format!("source: the object {} disappeared", item.key),
        });
    };
    let other_tag = matches!(
        (expected.strong_etag(), meta.info.etag.as_deref()),
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b)
    );
    if meta.info.size != expected.size || other_tag {
        return Err(CopyError::Changed(format!(
            "source: {} holds {} bytes (entity tag {}) now, {} bytes were seen",
            item.key,
            meta.info.size,
            meta.info.etag.as_deref().unwrap_or("unknown"),
            expected.size
        )));
    }
    Ok(meta)
}

/// Copies `item` with a multipart upload (continuing a saved one); returns the bytes moved now.
/// `expected` is the version the copy was started for: a source found otherwise by the HEAD is
/// [`CopyError::Changed`], for the caller to start over with what it is now.
pub(crate) async fn copy(
    ctx: &CopyCtx,
    item: &Item,
    dst_key: &str,
    expected: &Version,
) -> Result<super::Copied, CopyError> {
    // What the listing (or the lister's HEAD) said is a version every read is pinned to, and
    // the check before completion (`complete::still_pinned`) proves it was not replaced: a
    // HEAD is needed only without an entity tag to pin to, for the source's CRC-64 (no
    // listing carries it), or for the headers of a new upload that the lister did not learn.
    let mut head = None;
    let pinned = if expected.strong_etag().is_some() && !ctx.crc64_wanted() {
        expected.clone()
    } else {
        let meta = head_expected(ctx, item, expected).await?;
        let version = Version {
            size: meta.info.size,
            etag: meta.info.etag.clone(),
            last_modified_ms: meta.info.last_modified_ms,
        };
        head = Some(meta);
        version
    };
    let size = pinned.size;
    let part_size = part_size_of(ctx, size);
    let parts_total = i32::try_from(size.div_ceil(part_size).max(1)).unwrap_or(i32::MAX);
    let task_id = ctx.lease.task_id;

    let saved = ctx
        .db
        .load_upload(task_id, &item.record_key())
        .await
        .map_err(|e| db_trouble(ctx, &e))?;
    let reusable = saved.as_ref().is_some_and(|s| {
        s.dst_bucket == ctx.dst_bucket()
            && s.dst_key == dst_key
            && s.object_size == as_i64(size)
            && s.part_size == as_i64(part_size)
            && s.source_mtime_ms == pinned.last_modified_ms
            && s.source_etag == pinned.etag
    });
    let source_crc64 = head.as_ref().and_then(|meta| meta.crc64);
    let (upload_id, done) = match saved {
        Some(s) if reusable => {
            tracing::info!(key = %item.key, parts_done = s.parts.len(), parts_total, "continuing a saved multipart upload");
            (
                s.upload_id,
                s.parts.into_iter().collect::<BTreeMap<i32, SavedPart>>(),
            )
        }
        stale => {
            if let Some(old) = stale {
                // The source changed (or the settings did): start over.
                tracing::info!(key = %item.key, "the saved multipart upload is of another version of the source; starting over");
                let _ = ctx
                    .destination
                    .abort_multipart(&old.dst_bucket, &old.dst_key, &old.upload_id)
                    .await;
                ctx.db
                    .delete_upload(task_id, &item.record_key())
                    .await
                    .map_err(|e| db_trouble(ctx, &e))?;
            }
            let headers = match (head, &item.headers) {
                (Some(meta), _) => meta.headers,
                (None, Some(headers)) => (**headers).clone(),
                (None, None) => head_expected(ctx, item, &pinned).await?.headers,
            };
            let mut options = write_options(
                ctx.spec(),
                &item.key,
                &headers,
                item.storage_class.as_deref(),
            );
            options.tags = retry(&ctx.config.retry, &ctx.stop.hard, || {
                source_tags(ctx, item, &headers, true)
            })
            .await
            .map_err(|e| CopyError::gave_up(ObjectFailureCode::SourceMetadata, e))?;
            let upload_id = retry(&ctx.config.retry, &ctx.stop.hard, || async {
                ctx.destination
                    .create_multipart(ctx.dst_bucket(), dst_key, &options)
                    .await
                    .map_err(at(Side::Destination))
            })
            .await
            .map_err(|e| CopyError::gave_up(ObjectFailureCode::InitMultipart, e))?;
            let record = SavedUpload {
                object_key: item.record_key(),
                dst_bucket: ctx.dst_bucket().to_owned(),
                dst_key: dst_key.to_owned(),
                upload_id: upload_id.clone(),
                part_size: as_i64(part_size),
                object_size: as_i64(size),
                source_mtime_ms: pinned.last_modified_ms,
                source_etag: pinned.etag.clone(),
                parts: Vec::new(),
            };
            ctx.db
                .save_upload(&ctx.lease, &record)
                .await
                .map_err(|e| db_trouble(ctx, &e))?;
            (upload_id, BTreeMap::new())
        }
    };
    let upload = Upload {
        ctx,
        item,
        dst_key,
        upload_id,
        pinned,
        size,
        part_size,
        parts_total,
        source_crc64,
    };
    // Parts of a saved upload are done bytes from the start.
    let saved_bytes: u64 = done.keys().map(|n| upload.part_len(*n)).sum();
    ctx.add_parts(item.seq, saved_bytes);
    let done = Mutex::new(done);
    let sent = match send_parts(&upload, &done).await {
        Ok(moved) => Ok(moved),
        Err(CopyError::RangeNotHonored(why)) => {
            tracing::info!(key = %item.key, why = %why, "the source does not honour byte ranges; reading it in one stream");
            one_read::send_parts_from_one_read(&upload, &done).await
        }
        Err(e) => Err(e),
    };
    let moved = match sent {
        Ok(moved) => moved,
        Err(e @ (CopyError::Interrupted | CopyError::Task(_))) => return Err(e),
        Err(e) => {
            // The object fails, or starts over from a new version: its parts are of no use.
            upload.discard().await?;
            return Err(e);
        }
    };
    let done = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if done.len() < usize::try_from(parts_total).unwrap_or(usize::MAX) {
        return Err(CopyError::Interrupted);
    }
    if let Err(e) = complete::still_pinned(&upload).await {
        if !matches!(e, CopyError::Interrupted | CopyError::Task(_)) {
            upload.discard().await?;
        }
        return Err(e);
    }
    let proof = complete::complete(&upload, done, reusable).await?;
    Ok(super::Copied { moved, proof })
}

/// Sends the parts not yet `done`, `part_concurrency` at a time, each from its own ranged read
/// (or server-side copy); returns the bytes moved.
async fn send_parts(
    upload: &Upload<'_>,
    done: &Mutex<BTreeMap<i32, SavedPart>>,
) -> Result<u64, CopyError> {
    let ctx = upload.ctx;
    let todo: Vec<i32> = {
        let done = done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (1..=upload.parts_total)
            .filter(|n| !done.contains_key(n))
            .collect()
    };
    let failed = AtomicBool::new(false);
    let results = futures::stream::iter(todo)
        .take_while(|_| {
            std::future::ready(!ctx.stop.intake.is_cancelled() && !failed.load(Ordering::Relaxed))
        })
        .map(|part_number| {
            let failed = &failed;
            async move {
                let result = upload_part(upload, part_number).await;
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                result
            }
        })
        .buffer_unordered(ctx.config.part_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut moved = 0;
    let mut first_error = None;
    for result in results {
        match result {
            Ok((part_number, part, bytes)) => {
                done.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(part_number, part);
                moved += bytes;
            }
            // A changed source or ranges not honoured decide what happens next, whatever
            // other parts said.
            Err(e @ (CopyError::Changed(_) | CopyError::RangeNotHonored(_))) => {
                if !matches!(first_error, Some(CopyError::Changed(_))) {
                    first_error = Some(e);
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(moved),
    }
}

/// Uploads one part (downloaded with a pinned ranged read, or copied server-side pinned) and
/// saves it; returns (part number, the part as saved, bytes).
async fn upload_part(
    upload: &Upload<'_>,
    part_number: i32,
) -> Result<(i32, SavedPart, u64), CopyError> {
    let _flying = InFlight::new(oms_core::metrics::PARTS_IN_FLIGHT);
    let (ctx, item) = (upload.ctx, upload.item);
    let range = part_range(part_number, upload.part_size, upload.size);
    let len = range.end - range.start;
    let copier = if ctx.same_store {
        ctx.destination.server_side_copy()
    } else {
        None
    };
    let etag = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        if let Some(copier) = copier {
            let copied = copier
                .upload_part_copy(
                    &ctx.source_bucket,
                    &item.key,
                    &upload.pinned,
                    range.clone(),
                    ctx.dst_bucket(),
                    upload.dst_key,
                    &upload.upload_id,
                    part_number,
                )
                .await
                .map_err(at(Side::Destination))?;
            ctx.limiter.count(len);
            // No bytes went through the worker: no CRC-64 of the part is known.
            return Ok(SavedPart {
                etag: copied,
                crc64: None,
                md5: None,
            });
        }
        let download = ctx
            .source
            .get(
                &ctx.source_bucket,
                &item.key,
                Some(range.clone()),
                Some(&upload.pinned),
            )
            .await
            .map_err(reading)?;
        compare_with_cdn(ctx, item, download.total_size, download.last_modified_ms)?;
        upload.send_part(part_number, download.body, len).await
    })
    .await
    .map_err(|e| CopyError::gave_up(ObjectFailureCode::Upload, e))?;
    upload.save_part(part_number, &etag).await?;
    Ok((part_number, etag, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_object_once() {
        let (size, part) = (12 * 1024 * 1024 + 5, 5 * 1024 * 1024);
        let total = i32::try_from(u64::div_ceil(size, part)).unwrap();
        let ranges: Vec<_> = (1..=total).map(|n| part_range(n, part, size)).collect();
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, size);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }
}
