//! One queued key of a sync task: a HEAD of the source, then the checker and the transfer code
//! of tasks. A key the source no longer has is skipped — unless it was queued by an
//! `ObjectRemoved` notification of a task that propagates deletions: then the destination
//! object is deleted. Never on the event alone: the HEAD of the source, made now, must say the
//! object is gone, so a re-created object is copied, not lost.

use oms_db::QueuedKey;

use oms_core::error::ObjectFailureCode;

use crate::checker;
use crate::control::Side;
use crate::copy::error::{CopyError, at};
use crate::copy::{self, CopyCtx};
use crate::pipeline::{Item, Outcome};
use crate::retry::retry;

/// What became of a key, and its size at the source (0 when it is gone).
#[derive(Debug)]
pub(crate) struct Synced {
    pub(crate) outcome: Outcome,
    pub(crate) size: u64,
    /// The destination object was deleted (a propagated removal); the outcome says `Skipped`.
    pub(crate) deleted: bool,
}

impl Synced {
    const fn with(outcome: Outcome, size: u64) -> Self {
        Self {
            outcome,
            size,
            deleted: false,
        }
    }

    /// Stopped before it finished: the key stays queued.
    pub(crate) const fn interrupted() -> Self {
        Self::with(Outcome::Interrupted, 0)
    }
}

/// Deletes the destination object of `key`, retried as copies are.
async fn delete_destination(ctx: &CopyCtx, key: &str) -> Synced {
    let dst_key = ctx.dst_key(key);
    let deleted = retry(&ctx.config.retry, &ctx.stop.hard, || async {
        ctx.destination
            .delete(ctx.dst_bucket(), &dst_key)
            .await
            .map_err(at(Side::Destination))
    })
    .await;
    match deleted {
        Ok(()) => Synced {
            deleted: true,
            ..Synced::with(Outcome::Skipped, 0)
        },
        Err(e) => Synced::with(
            CopyError::gave_up(ObjectFailureCode::Delete, e).into_outcome(ctx),
            0,
        ),
    }
}

/// Brings `queued.key` at the destination in step with the source (`seq` numbers it in the
/// run, for the multipart progress).
pub(crate) async fn sync_key(ctx: &CopyCtx, queued: &QueuedKey, seq: u64) -> Synced {
    let mut item = Item::to_head(seq, &queued.key);
    let meta = match copy::head_source(ctx, &item).await {
        Ok(Some(meta)) => meta,
        // Gone from the source, asked now: a propagated removal deletes at the destination.
        Ok(None) if queued.removal => return delete_destination(ctx, &queued.key).await,
        // Gone from the source (deleted since the event): skipped, never deleted here.
        Ok(None) => {
            return Synced::with(Outcome::Skipped, 0);
        }
        Err(e) => return Synced::with(e.into_outcome(ctx), 0),
    };
    item.learn(meta);
    let size = item.size;
    let destination = if checker::needs_lookup(ctx, &item) {
        checker::Destination::Head
    } else {
        checker::Destination::Unneeded
    };
    let outcome = match checker::check(ctx, item, destination, 0).await {
        checker::Verdict::Copy(item) => copy::copy(ctx, &item).await,
        checker::Verdict::Skip(crate::pipeline::Event::Done { outcome, .. }) => outcome,
        checker::Verdict::Skip(_) | checker::Verdict::Stop => Outcome::Interrupted,
    };
    Synced::with(outcome, size)
}
