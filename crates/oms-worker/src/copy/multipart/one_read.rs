//! Parts from one streamed read, for sources that do not honour byte ranges.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::StreamExt as _;
use oms_core::error::ObjectFailureCode;
use oms_core::model::SavedPart;
use oms_storage::{ErrorKind, StorageError};

use super::{Upload, part_range};
use crate::control::Side;
use crate::copy::error::{CopyError, SideError, reading};
use crate::copy::verify::compare_with_cdn;
use crate::retry::retry;
use crate::streams::Cutter;

/// Sends the parts not yet `done` from one streamed (pinned) read of the whole object, cut
/// into parts in order, for sources that do not honour byte ranges. A failure part-way starts
/// the read over (parts already sent are skipped, not sent again); returns the bytes moved.
pub(super) async fn send_parts_from_one_read(
    upload: &Upload<'_>,
    done: &Mutex<BTreeMap<i32, SavedPart>>,
) -> Result<u64, CopyError> {
    let (ctx, item) = (upload.ctx, upload.item);
    let moved = Mutex::new(0_u64);
    let is_done = |n: i32| {
        done.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&n)
    };
    let attempt = || async {
        let download = ctx
            .source
            .get(&ctx.source_bucket, &item.key, None, Some(&upload.pinned))
            .await
            .map_err(reading)?;
        compare_with_cdn(
            ctx,
            item,
            Some(download.content_length),
            download.last_modified_ms,
        )?;
        let slot = Cutter::new(download.body);
        for part_number in 1..=upload.parts_total {
            if ctx.stop.intake.is_cancelled() {
                return Ok(());
            }
            let range = part_range(part_number, upload.part_size, upload.size);
            let len = range.end - range.start;
            let cut_short = || {
                reading(StorageError::new(
                    ErrorKind::Transient,
                    "GET",
                    "the read ended before the part it was cut into",
                ))
            };
            let body = Cutter::part(&slot, len).ok_or_else(cut_short)?;
            if is_done(part_number) {
                // Sent by an earlier run or attempt: its bytes are read past.
                let mut body = Box::pin(body);
                while let Some(chunk) = body.next().await {
                    chunk.map_err(reading)?;
                }
                continue;
            }
            let part = upload.send_part(part_number, Box::pin(body), len).await?;
            if upload.save_part(part_number, &part).await.is_err() {
                // The database failed and the run stops: nothing more can be saved.
                return Err(SideError {
                    side: Side::Destination,
                    read: false,
                    error: StorageError::new(
                        ErrorKind::Permanent,
                        "save part",
                        "the run's database failed",
                    ),
                });
            }
            done.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(part_number, part);
            *moved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += len;
        }
        Ok::<_, SideError>(())
    };
    let result = retry(&ctx.config.retry, &ctx.stop.hard, attempt).await;
    if ctx.stop.hard.is_cancelled() {
        return Err(CopyError::Interrupted);
    }
    result.map_err(|e| CopyError::gave_up(ObjectFailureCode::Upload, e))?;
    Ok(moved
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}
