//! The end of a multipart upload: the source is checked to still be the version every part was
//! read from, then the upload is completed and the object it made checked — recognising an
//! upload a lost answer had completed already.

use std::collections::BTreeMap;

use md5::{Digest as _, Md5};
use oms_core::error::ObjectFailureCode;
use oms_core::model::{Proof, SavedPart};
use oms_storage::{CompletedPart, ObjectMeta};

use super::{Upload, db_trouble};
use crate::control::Side;
use crate::copy::error::{CopyError, at};
use crate::copy::verify::etag_is_md5;
use crate::copy::{CopyCtx, head_source};
use crate::crc::{Crc64, combine_parts};
use crate::retry::retry;

/// Succeeds when the source object is still the version every part was read from. Reads and
/// part copies are pinned to it, but some stores ignore conditional requests: without this,
/// a source rewritten during the upload could end as a mix of two versions counted a success.
pub(super) async fn still_pinned(upload: &Upload<'_>) -> Result<(), CopyError> {
    let (item, pinned) = (upload.item, &upload.pinned);
    let Some(meta) = head_source(upload.ctx, item).await? else {
        return Err(CopyError::Object {
            code: ObjectFailureCode::SourceMetadata,
            message: format!(
                "source: the object {} was deleted while it was being copied",
                item.key
            ),
        });
    };
    let now = &meta.info;
    let other_tag = matches!(
        (pinned.strong_etag(), now.etag.as_deref()),
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b.trim_start_matches("W/").trim_matches('"'))
    );
    // At the second: a listing tells milliseconds where a HEAD's Last-Modified tells seconds.
    let other_time = pinned.last_modified_ms > 0
        && now.last_modified_ms > 0
        && pinned.last_modified_ms / 1000 != now.last_modified_ms / 1000;
    if now.size != pinned.size || other_tag || other_time {
        return Err(CopyError::Changed(format!(
            "source: {} changed while its parts were copied (it holds {} bytes, entity tag {}, now)",
            item.key,
            now.size,
            now.etag.as_deref().unwrap_or("unknown")
        )));
    }
    Ok(())
}

/// Completes the upload from its `done` parts and checks the object it made; returns what
/// proved it.
pub(super) async fn complete(
    upload: &Upload<'_>,
    done: BTreeMap<i32, SavedPart>,
    reusable: bool,
) -> Result<Proof, CopyError> {
    let (ctx, item, dst_key, size) = (upload.ctx, upload.item, upload.dst_key, upload.size);
    // The object's CRC-64 from its parts' (those of earlier runs included).
    let crc_sent = combine_parts(done.iter().map(|(n, part)| {
        part.crc64.map(|value| Crc64 {
            value,
            len: upload.part_len(*n),
        })
    }))
    .map(|c| c.value);
    // The S3 multipart tag of the MD5s of the bytes sent (each checked by the destination),
    // when every part was sent through the worker.
    let md5s: Option<Vec<String>> = done.values().map(|part| part.md5.clone()).collect();
    let sent_tag = md5s.and_then(|md5s| md5s_tag(md5s.iter().map(String::as_str)));
    let parts: Vec<CompletedPart> = done
        .into_iter()
        .map(|(part_number, part)| CompletedPart {
            part_number,
            etag: part.etag,
        })
        .collect();
    let completed = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.destination
            .complete_multipart(ctx.dst_bucket(), dst_key, &upload.upload_id, &parts)
            .await
            .map_err(at(Side::Destination))
    })
    .await;
    // The destination's answer to a HEAD, when the recovery below has asked already.
    let mut headed = None;
    let completed_crc64 = completed.as_ref().ok().and_then(|c| c.crc64);
    if let Err(e) = completed {
        let error = CopyError::gave_up(ObjectFailureCode::CompleteMultipart, e);
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
            upload.discard().await?;
            if reusable {
                tracing::info!(key = %item.key, "the saved multipart upload cannot be completed; starting it over");
                return Err(CopyError::Changed(
                    "the saved multipart upload could not be completed".to_owned(),
                ));
            }
            return Err(error);
        }
    }
    ctx.db
        .delete_upload(ctx.lease.task_id, &item.record_key())
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
        .map_err(|e| CopyError::gave_up(ObjectFailureCode::Upload, e))?,
    };
    match written {
        Some(w) if w.info.size == size => {
            let dst_crc = completed_crc64.or(w.crc64);
            ctx.check_crc64(crc_sent, upload.source_crc64, dst_crc)
                .map_err(|e| CopyError::Object {
                    code: ObjectFailureCode::Upload,
                    message: e.at(ctx.dst_bucket(), Some(dst_key)).to_string(),
                })?;
            crate::copy::verify::check_encryption(ctx, dst_key, w.encryption).await?;
            // The CRC-64 both ends agree on; else the S3 multipart entity tag of the parts (each
            // part's MD5 was checked as it was sent), when the destination's tag is it; else,
            // where tags are not MD5s (SSE-KMS), that tag made of the MD5s of the parts sent,
            // each of which the destination checked (as Content-MD5, or as its part's tag);
            // else (parts copied server-side) only the size.
            let tag = multipart_etag(&parts);
            let (checksum, value) = match (crc_sent, dst_crc) {
                (Some(sent), Some(dst)) if sent == dst => ("crc64", format!("{sent:016x}")),
                _ => match tag {
                    Some(tag)
                        if w.info
                            .etag
                            .as_deref()
                            .is_some_and(|e| e.eq_ignore_ascii_case(&tag)) =>
                    {
                        ("multipart-etag", tag)
                    }
                    _ => match sent_tag {
                        Some(tag) => ("multipart-md5", format!("{tag}@{}", upload.part_size)),
                        None => ("size", String::new()),
                    },
                },
            };
            Ok(Proof {
                source_etag: upload.pinned.etag.clone(),
                checksum: checksum.to_owned(),
                value,
                dst_etag: w.info.etag,
            })
        }
        Some(w) => Err(CopyError::Object {
            code: ObjectFailureCode::Upload,
            message: format!(
                "destination: {dst_key} holds {} bytes after the upload, the source {size}",
                w.info.size
            ),
        }),
        None => Err(CopyError::Object {
            code: ObjectFailureCode::Upload,
            message: format!("destination: the completed object {dst_key} is missing"),
        }),
    }
}

/// The S3 multipart entity tag of `parts`: the MD5 of their MD5s, then `-` and their number.
/// Part tags that are not MD5s (encrypted stores) cannot make it: `None`.
fn multipart_etag(parts: &[CompletedPart]) -> Option<String> {
    md5s_tag(parts.iter().map(|part| part.etag.as_str()))
}

/// The S3 multipart entity tag of parts whose MD5s (hex) are `md5s`; `None` when one is not
/// an MD5.
fn md5s_tag<'a>(md5s: impl ExactSizeIterator<Item = &'a str>) -> Option<String> {
    let count = md5s.len();
    let mut all = Md5::new();
    for md5 in md5s {
        match hex::decode(md5) {
            Ok(digest) if etag_is_md5(md5) => all.update(&digest),
            _ => return None,
        }
    }
    Some(format!("{}-{count}", hex::encode(all.finalize())))
}

/// The destination's object, when it is the one that completing `parts` makes: `size` bytes and
/// the S3 multipart entity tag of those parts (the MD5 of their MD5s, then `-` and their number).
/// Part tags that are not MD5s (encrypted stores) cannot show it: `None`.
async fn completed_earlier(
    ctx: &CopyCtx,
    dst_key: &str,
    size: u64,
    parts: &[CompletedPart],
) -> Option<ObjectMeta> {
    let expected = multipart_etag(parts)?;
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
