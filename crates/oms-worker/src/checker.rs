//! The checker: decides for each listed object whether to copy it, by `migrate_since` and the
//! overwrite mode. For listed prefixes it merge-joins the destination listing of the same range
//! (both are in key order) instead of sending one HEAD per object. When the destination's
//! listing breaks its contract (see [`crate::pages`]), the join stops trusting it and the rest
//! of the range is looked up with HEADs: an object is never overwritten, or copied again,
//! because a listing was out of order.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt as _;
use oms_core::model::Proof;
use oms_core::policy::{self, Decision, ObjectFacts};
use oms_core::spec::OverwriteMode;
use oms_storage::ObjectInfo;
use tokio::sync::mpsc;

use crate::control::{Activity, activity_failure};
use crate::copy::CopyCtx;
use crate::pages::{KeyRange, ListingError, Pages};
use crate::pipeline::{Event, Item, Lookup, Outcome, RunCtx};
use crate::plan;
use crate::retry::{GaveUp, retry};

/// A walk over the destination listing under one prefix, its pages fetched one ahead.
pub(crate) struct DestinationCursor {
    entry: usize,
    pages: Pages,
    buffer: VecDeque<ObjectInfo>,
    exhausted: bool,
    /// The listing broke its contract: from here on, lookups are HEADs.
    broken: bool,
}

/// What the destination listing says of a key.
pub(crate) enum Joined {
    /// Listed at the destination, with what the listing says of it.
    Found(ObjectInfo),
    /// Not at the destination: the listing covers the key and does not have it.
    Absent,
    /// The listing cannot tell: ask the store.
    Unknown,
}

impl DestinationCursor {
    fn new(ctx: &RunCtx, entry: usize, source_prefix: &str) -> Self {
        let start = plan::list_start(
            source_prefix,
            ctx.checkpoint.as_deref(),
            ctx.range.0.as_deref(),
        );
        Self::within(ctx, entry, source_prefix, start, ctx.range.1.as_deref())
    }

    /// A walk over the destination of `source_prefix` from after the source key `start` up
    /// to the source key `until`.
    pub(crate) fn within(
        ctx: &CopyCtx,
        entry: usize,
        source_prefix: &str,
        start: Option<&str>,
        until: Option<&str>,
    ) -> Self {
        Self {
            entry,
            pages: Pages::new(
                ctx.destination.clone(),
                &ctx.config,
                ctx.stop.intake.clone(),
                ctx.dst_bucket().to_owned(),
                ctx.dst_key(source_prefix),
                KeyRange {
                    after: start.map(|s| ctx.dst_key(s)),
                    until: until.map(|u| ctx.dst_key(u)),
                },
            ),
            buffer: VecDeque::new(),
            exhausted: false,
            broken: false,
        }
    }

    /// What the destination lists at `key` (keys must be asked for in increasing order).
    pub(crate) async fn find(&mut self, ctx: &CopyCtx, key: &str) -> Result<Joined, GaveUp> {
        loop {
            while let Some(front) = self.buffer.front() {
                match front.key.as_str().cmp(key) {
                    std::cmp::Ordering::Less => {
                        self.buffer.pop_front();
                    }
                    std::cmp::Ordering::Equal => {
                        return Ok(self
                            .buffer
                            .pop_front()
                            .map_or(Joined::Absent, Joined::Found));
                    }
                    std::cmp::Ordering::Greater => return Ok(Joined::Absent),
                }
            }
            if self.broken {
                return Ok(Joined::Unknown);
            }
            if self.exhausted {
                return Ok(Joined::Absent);
            }
            match self.pages.next().await {
                Some(Ok(page)) => self.buffer.extend(page.objects),
                Some(Err(ListingError::Cancelled)) => return Err(GaveUp::Cancelled),
                Some(Err(ListingError::Failed(e))) => return Err(GaveUp::Failed(e)),
                Some(Err(ListingError::Broken(broken))) => {
                    tracing::warn!(
                        bucket = ctx.dst_bucket(),
                        endpoint = %ctx.destination.endpoint(),
                        what = %broken.0,
                        "the destination listing cannot be trusted; the rest of the range is compared object by object"
                    );
                    self.broken = true;
                }
                None => self.exhausted = true,
            }
        }
    }
}

/// The first prefix of the plan, whose destination listing can start with the run.
fn first_cursor(ctx: &RunCtx) -> Option<DestinationCursor> {
    if !policy::needs_destination(ctx.spec().object_overwrite_mode) || ctx.counted_before() {
        return None;
    }
    plan::entries(ctx.spec())
        .into_iter()
        .enumerate()
        .find_map(|(index, entry)| match entry {
            plan::Entry::Prefix(prefix) => Some(DestinationCursor::new(ctx, index, &prefix)),
            plan::Entry::Key(_) => None,
        })
}

/// What the checker decided about an item.
pub(crate) enum Verdict {
    /// Copy it: absent at the destination, or the overwrite mode says so.
    Copy(Item),
    /// Skipped: its event.
    Skip(Event),
    /// The destination cannot be read: the task fails (already signalled).
    Stop,
}

/// How an item's destination is known.
pub(crate) enum Destination {
    /// Not needed: the decision does not depend on it.
    Unneeded,
    /// Found by the merge-join (cursor lookups run in order, before the concurrent part).
    Joined(Result<Option<ObjectInfo>, GaveUp>),
    /// To be read with a HEAD (concurrently).
    Head,
}

/// Whether the destination must be looked at for this item.
pub(crate) fn needs_lookup(ctx: &CopyCtx, item: &Item) -> bool {
    let spec = ctx.spec();
    let source = ObjectFacts {
        size: item.size,
        last_modified_ms: item.last_modified_ms,
        crc64: None,
    };
    item.unreadable.is_none()
        && policy::needs_destination(spec.object_overwrite_mode)
        && policy::decide(
            spec.object_overwrite_mode,
            spec.migrate_since_secs,
            source,
            None,
        ) != Decision::SkipOlderThanSince
}

/// Decides one item; HEAD lookups run here, concurrently. `run_started_ms`: when the task run
/// this copy belongs to started its current attempt (0: no such run, as for sync tasks).
pub(crate) async fn check(
    ctx: &CopyCtx,
    item: Item,
    destination: Destination,
    run_started_ms: i64,
) -> Verdict {
    let spec = ctx.spec();
    if item.unreadable.is_some() {
        return Verdict::Copy(item);
    }
    let mut source = ObjectFacts {
        size: item.size,
        last_modified_ms: item.last_modified_ms,
        crc64: None,
    };
    let found = match destination {
        Destination::Unneeded => None,
        Destination::Joined(found) => Some(found),
        Destination::Head => {
            let dst_key = ctx.item_dst_key(&item);
            let head = retry(&ctx.config.retry, &ctx.stop.intake, || {
                ctx.destination.head(ctx.dst_bucket(), &dst_key)
            })
            .await;
            Some(head.map(|m| m.map(|m| m.info)))
        }
    };
    let destination = if let Some(found) = found {
        match found {
            Ok(found) => found.map(|o| ObjectFacts {
                size: o.size,
                last_modified_ms: o.last_modified_ms,
                crc64: None,
            }),
            Err(GaveUp::Cancelled) => return Verdict::Stop,
            Err(GaveUp::Failed(e)) => {
                ctx.stop
                    .fail(activity_failure(Activity::ReadingDestination, &e));
                return Verdict::Stop;
            }
        }
    } else {
        None
    };
    let mut destination = destination;
    if spec.object_overwrite_mode == OverwriteMode::Crc64
        && let Some(dst) = destination.as_mut()
    {
        // Listings carry no CRC64: both sides are asked (a side that reports none leaves the
        // decision to size and time).
        match crc64_of_both(ctx, &item).await {
            Ok((src_crc, dst_crc)) => {
                source.crc64 = src_crc;
                dst.crc64 = dst_crc;
            }
            Err(GaveUp::Cancelled) => return Verdict::Stop,
            Err(GaveUp::Failed(e)) => {
                ctx.stop
                    .fail(activity_failure(Activity::ReadingDestination, &e));
                return Verdict::Stop;
            }
        }
    }
    let mut decision = policy::decide(
        spec.object_overwrite_mode,
        spec.migrate_since_secs,
        source,
        destination,
    );
    // OMS's comparisons also require the destination's encryption to be the task's: an object
    // there without the task's SSE-KMS is not "already there" (NO_OVERWRITE does not compare).
    if decision == Decision::SkipExisting
        && spec.object_overwrite_mode != OverwriteMode::NoOverwrite
        && let Some(kms) = &spec.destination.kms
    {
        let dst_key = ctx.item_dst_key(&item);
        let head = retry(&ctx.config.retry, &ctx.stop.intake, || {
            ctx.destination.head(ctx.dst_bucket(), &dst_key)
        })
        .await;
        match head {
            Ok(Some(meta)) if crate::copy::verify::kms_state(kms, &meta.encryption).is_err() => {
                decision = Decision::Copy;
            }
            Ok(_) => {}
            Err(GaveUp::Cancelled) => return Verdict::Stop,
            Err(GaveUp::Failed(e)) => {
                ctx.stop
                    .fail(activity_failure(Activity::ReadingDestination, &e));
                return Verdict::Stop;
            }
        }
    }
    let outcome = match decision {
        // A dry run stops here: what a run would do is its plan.
        Decision::Copy if spec.dry_run => Outcome::Planned {
            overwrite: destination.is_some(),
        },
        Decision::Copy => return Verdict::Copy(item),
        Decision::SkipExisting if written_by_this_run(ctx, run_started_ms, destination) => {
            Outcome::Copied {
                moved_bytes: 0,
                size: item.size,
                proof: Proof {
                    source_etag: item.etag.clone(),
                    checksum: "size".to_owned(),
                    value: String::new(),
                    dst_etag: None,
                },
            }
        }
        Decision::SkipExisting | Decision::SkipOlderThanSince => Outcome::Skipped,
    };
    Verdict::Skip(Event::Done {
        seq: item.seq,
        key: item.record_key(),
        size: item.size,
        outcome,
    })
}

/// The CRC64 the source and the destination report of an item (HEADs of both).
async fn crc64_of_both(ctx: &CopyCtx, item: &Item) -> Result<(Option<u64>, Option<u64>), GaveUp> {
    let dst_key = ctx.item_dst_key(item);
    let source = retry(&ctx.config.retry, &ctx.stop.intake, || {
        ctx.source.head(&ctx.source_bucket, &item.key)
    })
    .await?;
    let destination = retry(&ctx.config.retry, &ctx.stop.intake, || {
        ctx.destination.head(ctx.dst_bucket(), &dst_key)
    })
    .await?;
    Ok((
        source.and_then(|m| m.crc64),
        destination.and_then(|m| m.crc64),
    ))
}

/// Whether a destination object that makes the object skippable was written by an earlier run
/// of this task (of its current attempt: a full restart starts over). After a worker died, the
/// objects it copied in its last moments (not yet recorded) are found at the destination: they
/// were copied by this task, not skipped. Only a task claimed again (lease epoch above 1) can
/// have such objects; in a first run, an object newer than the task was written by someone else.
fn written_by_this_run(ctx: &CopyCtx, started: i64, destination: Option<ObjectFacts>) -> bool {
    ctx.lease.epoch > 1 && started > 0 && destination.is_some_and(|d| d.last_modified_ms >= started)
}

/// Runs the checker until its input ends or the run stops. Items leave in the order they came.
pub(crate) async fn run(
    ctx: Arc<RunCtx>,
    input: mpsc::Receiver<Item>,
    output: mpsc::Sender<Item>,
    events: mpsc::Sender<Event>,
) {
    // Items arrive in key order: the merge-join walks the destination listing here, one item
    // after the other; HEADs (items of lists and object tasks) run concurrently after it.
    let state = (input, first_cursor(&ctx));
    let items = futures::stream::unfold(state, |(mut rx, mut cursor)| {
        let ctx = ctx.clone();
        async move {
            let item = tokio::select! {
                () = ctx.stop.intake.cancelled() => None,
                item = rx.recv() => item,
            }?;
            let destination = match &item.lookup {
                _ if !needs_lookup(&ctx, &item) => Destination::Unneeded,
                _ if ctx.finished_before(&item.record_key()) => Destination::Unneeded,
                Lookup::Head => Destination::Head,
                Lookup::Cursor { entry, prefix } => {
                    if cursor.as_ref().is_none_or(|c| c.entry != *entry) {
                        cursor = Some(DestinationCursor::new(&ctx, *entry, prefix));
                    }
                    let dst_key = ctx.item_dst_key(&item);
                    match cursor.as_mut() {
                        Some(c) => match c.find(&ctx, &dst_key).await {
                            Ok(Joined::Found(info)) => Destination::Joined(Ok(Some(info))),
                            Ok(Joined::Absent) => Destination::Joined(Ok(None)),
                            Ok(Joined::Unknown) => Destination::Head,
                            Err(e) => Destination::Joined(Err(e)),
                        },
                        None => Destination::Unneeded,
                    }
                }
            };
            Some(((item, destination), (rx, cursor)))
        }
    });
    let mut verdicts = std::pin::pin!(
        items
            .map(|(item, destination)| {
                let ctx = ctx.clone();
                async move {
                    // Finished by an earlier run beyond its checkpoint (and counted then).
                    if ctx.finished_before(&item.record_key()) {
                        return Verdict::Skip(Event::Done {
                            seq: item.seq,
                            key: item.record_key(),
                            size: item.size,
                            outcome: Outcome::FinishedBefore,
                        });
                    }
                    check(&ctx, item, destination, ctx.task.start_time_ms).await
                }
            })
            .buffered(ctx.config.object_concurrency.max(1))
    );
    while let Some(verdict) = verdicts.next().await {
        match verdict {
            Verdict::Copy(item) => {
                let sent = tokio::select! {
                    () = ctx.stop.intake.cancelled() => return,
                    sent = output.send(item) => sent,
                };
                if sent.is_err() {
                    return;
                }
            }
            Verdict::Skip(done) => {
                if events.send(done).await.is_err() {
                    return;
                }
            }
            Verdict::Stop => return,
        }
    }
}
