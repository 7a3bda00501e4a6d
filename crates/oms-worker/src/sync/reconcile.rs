//! Reconciliation: a sync task that has a `reconcile_interval` compares, once per interval, the
//! source listing with the destination listing (the merge-join of the task engine's checker,
//! both sides in key order) and queues the keys that differ, so that an event that was lost —
//! a notification never sent, a post that failed — heals by itself.
//!
//! A pass goes in steps of at most [`OBJECTS_PER_STEP`] source objects, each recorded in one
//! fenced transaction (the keys that differ queued, the counters COMPARED and RECONCILED grown,
//! and the last key compared saved), and the keys of a step are copied before the next step
//! lists on: the queue grows by one step at a time, and a worker killed mid-pass leaves the
//! pass to the next holder from its last recorded step. A pass that ends sets the next one one
//! interval later, in the database, so the schedule survives restarts.

use std::time::Duration;

use oms_core::policy::{self, Decision, ObjectFacts};
use oms_db::{DbError, SyncLease};
use oms_storage::ObjectInfo;

use crate::checker::{DestinationCursor, Joined};
use crate::copy::CopyCtx;
use crate::pages::{KeyRange, ListingError, Pages};
use crate::retry::GaveUp;

/// Source objects compared per step: the most keys a step can queue at once, and the most
/// comparisons a killed worker's successor repeats.
const OBJECTS_PER_STEP: usize = 1000;

/// How long a pass waits before it tries again after a store failed a listing (the store's
/// errors were retried already; this keeps a refusing store from being listed in a loop).
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether the destination object `found` differs from the source object `source`, by the
/// task's overwrite mode (size and last-modified time for sync tasks).
fn differs(ctx: &CopyCtx, source: &ObjectInfo, found: &ObjectInfo) -> bool {
    // Listings carry no CRC64: a reconciliation compares size and time.
    let facts = |o: &ObjectInfo| ObjectFacts {
        size: o.size,
        last_modified_ms: o.last_modified_ms,
        crc64: None,
    };
    policy::decide(
        ctx.spec().object_overwrite_mode,
        0,
        facts(source),
        Some(facts(found)),
    ) == Decision::Copy
}

/// Runs one step of the held sync task's reconciliation pass, from after the source key
/// `after`, and records it. A listing that fails puts the pass off by [`RETRY_AFTER`]; a
/// stopped run records nothing (the step is done again by the next holder).
pub(crate) async fn step(
    ctx: &CopyCtx,
    lease: &SyncLease,
    after: Option<String>,
) -> Result<(), DbError> {
    let mut source = Pages::new(
        ctx.source.clone(),
        &ctx.config,
        ctx.stop.intake.clone(),
        ctx.source_bucket.clone(),
        String::new(),
        KeyRange::after(after.clone()),
    );
    let mut destination = DestinationCursor::within(ctx, 0, "", after.as_deref(), None);
    let mut differing = Vec::new();
    let mut compared = 0_usize;
    let mut last = None;
    let finished = loop {
        let page = match source.next().await {
            None => break true,
            Some(Ok(page)) => page,
            Some(Err(ListingError::Cancelled)) => return Ok(()),
            Some(Err(ListingError::Failed(e))) => {
                return put_off(ctx, lease, &format!("the source listing failed: {e}")).await;
            }
            Some(Err(ListingError::Broken(broken))) => {
                let why = format!("the source listing cannot be trusted: {}", broken.0);
                return put_off(ctx, lease, &why).await;
            }
        };
        for object in page.objects {
            compared += 1;
            let queue = match destination.find(ctx, &ctx.dst_key(&object.key)).await {
                Ok(Joined::Found(found)) => differs(ctx, &object, &found),
                Ok(Joined::Absent) => true,
                // The copy's own HEAD of the destination decides.
                Ok(Joined::Unknown) => true,
                Err(GaveUp::Cancelled) => return Ok(()),
                Err(GaveUp::Failed(e)) => {
                    let why = format!("the destination listing failed: {e}");
                    return put_off(ctx, lease, &why).await;
                }
            };
            if queue {
                differing.push(object.key.clone());
            }
            last = Some(object.key);
        }
        if compared >= OBJECTS_PER_STEP {
            break false;
        }
    };
    let next = if finished { None } else { last };
    tracing::info!(
        compared,
        queued = differing.len(),
        finished,
        "reconciliation step"
    );
    let compared = i64::try_from(compared).unwrap_or(i64::MAX);
    ctx.db
        .record_reconcile_step(lease, &differing, compared, next.as_deref())
        .await
}

/// Puts the pass off after a failed listing (says why once, in the log).
async fn put_off(ctx: &CopyCtx, lease: &SyncLease, why: &str) -> Result<(), DbError> {
    tracing::warn!(
        reason = why,
        retry_after_secs = RETRY_AFTER.as_secs(),
        "the reconciliation pass is put off"
    );
    ctx.db.postpone_reconciliation(lease, RETRY_AFTER).await
}
