//! Large objects: multipart uploads with parallel parts. The upload id and every completed part
//! are saved, so that a run that stops (pause, shutdown, crash) is continued by the next run
//! with the same upload: parts already uploaded are not sent again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use md5::{Digest as _, Md5};
use oms_core::model::SavedUpload;
use oms_db::DbError;
use oms_storage::{CompletedPart, ObjectMeta};

use crate::control::Side;
use crate::digests::Md5Tee;
use crate::pipeline::{Item, RunCtx};
use crate::retry::retry;
use crate::streams::Throttled;
use crate::transfer::{
    CopyError, SideError, at, check_md5, codes, compare_with_cdn, etag_is_md5, md5_sent,
    write_options,
};

/// S3 allows at most 10,000 parts.
const MAX_PARTS: u64 = 10_000;

fn db_trouble(ctx: &RunCtx, error: &DbError) -> CopyError {
    ctx.stop.db_failed(error);
    CopyError::Interrupted
}

/// Copies `item` with a multipart upload (continuing a saved one); returns the bytes moved now.
pub(crate) async fn copy(ctx: &RunCtx, item: &Item, dst_key: &str) -> Result<u64, CopyError> {
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
    let size = meta.info.size;
    let part_size = ctx
        .config
        .part_size_bytes
        .max(size.div_ceil(MAX_PARTS))
        .max(1);
    let parts_total = i32::try_from(size.div_ceil(part_size).max(1)).unwrap_or(i32::MAX);
    let task_id = ctx.lease.task_id;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);

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
            && s.source_mtime_ms == meta.info.last_modified_ms
    });
    let (upload_id, mut done) = match saved {
        Some(s) if reusable => {
            tracing::info!(key = %item.key, parts_done = s.parts.len(), parts_total, "continuing a saved multipart upload");
            (
                s.upload_id,
                s.parts.into_iter().collect::<BTreeMap<i32, String>>(),
            )
        }
        stale => {
            if let Some(old) = stale {
                // The source changed (or the settings did): start over.
                let _ = ctx
                    .destination
                    .abort_multipart(&old.dst_bucket, &old.dst_key, &old.upload_id)
                    .await;
                ctx.db
                    .delete_upload(task_id, &item.record_key())
                    .await
                    .map_err(|e| db_trouble(ctx, &e))?;
            }
            let options = write_options(ctx.spec(), &meta.headers, item.storage_class.as_deref());
            let upload_id = retry(&ctx.config.retry, &ctx.stop.hard, || async {
                ctx.destination
                    .create_multipart(ctx.dst_bucket(), dst_key, &options)
                    .await
                    .map_err(at(Side::Destination))
            })
            .await
            .map_err(|e| CopyError::gave_up(codes::INIT_MULTIPART, e))?;
            let record = SavedUpload {
                object_key: item.record_key(),
                dst_bucket: ctx.dst_bucket().to_owned(),
                dst_key: dst_key.to_owned(),
                upload_id: upload_id.clone(),
                part_size: as_i64(part_size),
                object_size: as_i64(size),
                source_mtime_ms: meta.info.last_modified_ms,
                source_etag: meta.info.etag.clone(),
                parts: Vec::new(),
            };
            ctx.db
                .save_upload(&ctx.lease, &record)
                .await
                .map_err(|e| db_trouble(ctx, &e))?;
            (upload_id, BTreeMap::new())
        }
    };

    let todo: Vec<i32> = (1..=parts_total)
        .filter(|n| !done.contains_key(n))
        .collect();
    let failed = AtomicBool::new(false);
    let uploads = futures::stream::iter(todo)
        .take_while(|_| {
            std::future::ready(!ctx.stop.intake.is_cancelled() && !failed.load(Ordering::Relaxed))
        })
        .map(|part_number| {
            let start = u64::try_from(part_number - 1).unwrap_or(0) * part_size;
            let range = start..(start + part_size).min(size);
            let upload_id = upload_id.as_str();
            let failed = &failed;
            async move {
                let result = upload_part(ctx, item, dst_key, upload_id, part_number, range).await;
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
    for result in uploads {
        match result {
            Ok((part_number, etag, bytes)) => {
                done.insert(part_number, etag);
                moved += bytes;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    if done.len() < usize::try_from(parts_total).unwrap_or(usize::MAX) {
        return Err(CopyError::Interrupted);
    }

    let parts: Vec<CompletedPart> = done
        .into_iter()
        .map(|(part_number, etag)| CompletedPart { part_number, etag })
        .collect();
    let completed = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.destination
            .complete_multipart(ctx.dst_bucket(), dst_key, &upload_id, &parts)
            .await
            .map_err(at(Side::Destination))
    })
    .await;
    // The destination's answer to a HEAD, when the recovery below has asked already.
    let mut headed = None;
    if let Err(e) = completed {
        let error = CopyError::gave_up(codes::COMPLETE_MULTIPART, e);
        if !matches!(error, CopyError::Object { .. }) {
            return Err(error);
        }
        // The store may have completed the upload already: the answer to a completion was
        // lost and its retry finds no upload, or a run died between the completion and saving
        // that it happened. The object is then at the destination.
        if let Some(found) = completed_earlier(ctx, dst_key, size, &parts).await {
            tracing::info!(key = %item.key, "the multipart upload had been completed already");
            headed = Some(found);
        } else {
            // The upload cannot be completed as saved: start it over, at once when it was an
            // earlier run's (this run has not sent its parts), else in the next run.
            let _ = ctx
                .destination
                .abort_multipart(ctx.dst_bucket(), dst_key, &upload_id)
                .await;
            ctx.db
                .delete_upload(task_id, &item.record_key())
                .await
                .map_err(|e| db_trouble(ctx, &e))?;
            if reusable {
                tracing::info!(key = %item.key, "the saved multipart upload cannot be completed; starting it over");
                return Box::pin(copy(ctx, item, dst_key)).await;
            }
            return Err(error);
        }
    }
    ctx.db
        .delete_upload(task_id, &item.record_key())
        .await
        .map_err(|e| db_trouble(ctx, &e))?;

    let written = match headed {
        Some(found) => Some(found),
        None => retry(&ctx.config.retry, &ctx.stop.hard, || async {
            ctx.destination
                .head(ctx.dst_bucket(), dst_key)
                .await
                .map_err(at(Side::Destination))
        })
        .await
        .map_err(|e| CopyError::gave_up(codes::UPLOAD, e))?,
    };
    match written {
        Some(w) if w.info.size == size => Ok(moved),
        Some(w) => Err(CopyError::Object {
            code: codes::UPLOAD,
            message: format!(
                "the destination holds {} bytes after the upload, the source {size}",
                w.info.size
            ),
        }),
        None => Err(CopyError::Object {
            code: codes::UPLOAD,
            message: "the completed object is missing".into(),
        }),
    }
}

/// The destination's object, when it is the one that completing `parts` makes: `size` bytes and
/// the S3 multipart entity tag of those parts (the MD5 of their MD5s, then `-` and their number).
/// Part tags that are not MD5s (encrypted stores) cannot show it: `None`.
async fn completed_earlier(
    ctx: &RunCtx,
    dst_key: &str,
    size: u64,
    parts: &[CompletedPart],
) -> Option<ObjectMeta> {
    let mut md5s = Md5::new();
    for part in parts {
        match hex::decode(&part.etag) {
            Ok(digest) if etag_is_md5(&part.etag) => md5s.update(&digest),
            _ => return None,
        }
    }
    let expected = format!("{}-{}", hex::encode(md5s.finalize()), parts.len());
    let found = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.destination
            .head(ctx.dst_bucket(), dst_key)
            .await
            .map_err(at(Side::Destination))
    })
    .await;
    found.ok().flatten().filter(|meta| {
        meta.info.size == size
            && meta
                .info
                .etag
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&expected))
    })
}

/// Uploads one part (downloaded, or copied server-side) and saves it; returns (part number,
/// entity tag, bytes).
async fn upload_part(
    ctx: &RunCtx,
    item: &Item,
    dst_key: &str,
    upload_id: &str,
    part_number: i32,
    range: std::ops::Range<u64>,
) -> Result<(i32, String, u64), CopyError> {
    let len = range.end - range.start;
    let copier = if ctx.same_store {
        ctx.destination.server_side_copy()
    } else {
        None
    };
    let etag = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        if let Some(copier) = copier {
            return copier
                .upload_part_copy(
                    &ctx.source_bucket,
                    &item.key,
                    range.clone(),
                    ctx.dst_bucket(),
                    dst_key,
                    upload_id,
                    part_number,
                )
                .await
                .map_err(at(Side::Destination));
        }
        let download = ctx
            .source
            .get(&ctx.source_bucket, &item.key, Some(range.clone()))
            .await
            .map_err(at(Side::Source))?;
        compare_with_cdn(ctx, item, None, download.last_modified_ms)?;
        let (body, md5) = Md5Tee::new(Box::pin(Throttled::new(download.body, ctx.limiter.clone())));
        let etag = ctx
            .destination
            .upload_part(
                ctx.dst_bucket(),
                dst_key,
                upload_id,
                part_number,
                Box::pin(body),
                len,
            )
            .await
            .map_err(at(Side::Destination))?;
        check_md5(Some(&etag), &md5_sent(md5).await?, "upload_part")?;
        Ok::<_, SideError>(etag)
    })
    .await
    .map_err(|e| CopyError::gave_up(codes::UPLOAD, e))?;
    ctx.db
        .save_part(&ctx.lease, &item.record_key(), part_number, &etag)
        .await
        .map_err(|e| db_trouble(ctx, &e))?;
    Ok((part_number, etag, len))
}
