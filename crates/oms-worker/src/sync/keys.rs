//! One queued key of a sync task: a HEAD of the source, then the checker and the transfer code
//! of tasks. A key the source no longer has is skipped; nothing is ever deleted at the
//! destination.

use crate::pipeline::{Item, Outcome, RunCtx};
use crate::{checker, transfer};

/// What became of a key, and its size at the source (0 when it is gone).
#[derive(Debug)]
pub(crate) struct Synced {
    pub(crate) outcome: Outcome,
    pub(crate) size: u64,
}

impl Synced {
    const fn with(outcome: Outcome, size: u64) -> Self {
        Self { outcome, size }
    }

    /// Stopped before it finished: the key stays queued.
    pub(crate) const fn interrupted() -> Self {
        Self::with(Outcome::Interrupted, 0)
    }
}

/// Brings `key` at the destination in step with the source (`seq` numbers it in the run, for
/// the multipart progress).
pub(crate) async fn sync_key(ctx: &RunCtx, key: &str, seq: u64) -> Synced {
    let mut item = Item::to_head(seq, key);
    let meta = match transfer::head_source(ctx, &item).await {
        Ok(Some(meta)) => meta,
        // Gone from the source (deleted since the event): skipped, never deleted here.
        Ok(None) => {
            return Synced::with(Outcome::Skipped, 0);
        }
        Err(e) => return Synced::with(e.into_outcome(ctx), 0),
    };
    item.learn(meta.info);
    let size = item.size;
    let destination = if checker::needs_lookup(ctx, &item) {
        checker::Destination::Head
    } else {
        checker::Destination::Unneeded
    };
    let outcome = match checker::check(ctx, item, destination).await {
        checker::Verdict::Copy(item) => transfer::copy(ctx, &item).await,
        checker::Verdict::Skip(crate::pipeline::Event::Done { outcome, .. }) => outcome,
        checker::Verdict::Skip(_) | checker::Verdict::Stop => Outcome::Interrupted,
    };
    Synced::with(outcome, size)
}
