//! The checker: decides for each listed object whether to copy it, by `migrate_since` and the
//! overwrite mode. For listed prefixes it merge-joins the destination listing of the same range
//! (both are in key order) instead of sending one HEAD per object.

use std::collections::VecDeque;
use std::sync::Arc;

use oms_core::policy::{self, Decision, ObjectFacts};
use oms_storage::{ErrorKind, ObjectInfo, StorageError};
use tokio::sync::mpsc;

use crate::control::{Side, TaskFailure, task_failure_of};
use crate::pipeline::{Event, Item, Lookup, Outcome, RunCtx};
use crate::plan;
use crate::retry::{GaveUp, retry};

/// A walk over the destination listing under one prefix.
struct DestinationCursor {
    entry: usize,
    prefix: String,
    after: Option<String>,
    buffer: VecDeque<ObjectInfo>,
    exhausted: bool,
}

impl DestinationCursor {
    fn new(ctx: &RunCtx, entry: usize, source_prefix: &str) -> Self {
        let start = plan::list_start(
            source_prefix,
            ctx.checkpoint.as_deref(),
            ctx.range.0.as_deref(),
        );
        Self {
            entry,
            prefix: ctx.dst_key(source_prefix),
            after: start.map(|s| ctx.dst_key(s)),
            buffer: VecDeque::new(),
            exhausted: false,
        }
    }

    /// What the destination lists at `key` (keys must be asked for in increasing order).
    async fn find(&mut self, ctx: &RunCtx, key: &str) -> Result<Option<ObjectInfo>, GaveUp> {
        loop {
            while let Some(front) = self.buffer.front() {
                match front.key.as_str().cmp(key) {
                    std::cmp::Ordering::Less => {
                        self.buffer.pop_front();
                    }
                    std::cmp::Ordering::Equal => return Ok(self.buffer.pop_front()),
                    std::cmp::Ordering::Greater => return Ok(None),
                }
            }
            if self.exhausted {
                return Ok(None);
            }
            let page = retry(&ctx.config.retry, &ctx.stop.intake, || {
                ctx.destination.list(
                    ctx.dst_bucket(),
                    &self.prefix,
                    self.after.as_deref(),
                    ctx.config.list_page_size,
                )
            })
            .await?;
            self.exhausted = !page.is_truncated || page.objects.is_empty();
            self.after = page
                .objects
                .last()
                .map(|o| o.key.clone())
                .or(self.after.take());
            self.buffer.extend(page.objects);
        }
    }
}

fn destination_failure(error: &StorageError) -> TaskFailure {
    task_failure_of(Side::Destination, error).unwrap_or_else(|| match error.kind {
        ErrorKind::Denied => TaskFailure::new(
            "TRF.0051",
            format!("the destination AK/SK may not read the destination bucket: {error}"),
        ),
        _ => TaskFailure::new("TRF.0061", format!("cannot read the destination: {error}")),
    })
}

/// Runs the checker until its input ends or the run stops.
pub(crate) async fn run(
    ctx: Arc<RunCtx>,
    mut input: mpsc::Receiver<Item>,
    output: mpsc::Sender<Item>,
    events: mpsc::Sender<Event>,
) {
    let spec = ctx.spec();
    let needs_destination = policy::needs_destination(spec.object_overwrite_mode);
    let mut cursor: Option<DestinationCursor> = None;
    loop {
        let item = tokio::select! {
            () = ctx.stop.intake.cancelled() => return,
            item = input.recv() => match item { Some(item) => item, None => return },
        };
        if item.unreadable.is_some() {
            if output.send(item).await.is_err() {
                return;
            }
            continue;
        }
        let source = ObjectFacts {
            size: item.size,
            last_modified_ms: item.last_modified_ms,
        };
        let skip_since = policy::decide(
            spec.object_overwrite_mode,
            spec.migrate_since_secs,
            source,
            None,
        ) == Decision::SkipOlderThanSince;
        let destination = if needs_destination && !skip_since {
            let dst_key = ctx.item_dst_key(&item);
            let found = match &item.lookup {
                Lookup::Head => retry(&ctx.config.retry, &ctx.stop.intake, || {
                    ctx.destination.head(ctx.dst_bucket(), &dst_key)
                })
                .await
                .map(|m| m.map(|m| m.info)),
                Lookup::Cursor { entry, prefix } => {
                    if cursor.as_ref().is_none_or(|c| c.entry != *entry) {
                        cursor = Some(DestinationCursor::new(&ctx, *entry, prefix));
                    }
                    match cursor.as_mut() {
                        Some(c) => c.find(&ctx, &dst_key).await,
                        None => Ok(None),
                    }
                }
            };
            match found {
                Ok(found) => found.map(|o| ObjectFacts {
                    size: o.size,
                    last_modified_ms: o.last_modified_ms,
                }),
                Err(GaveUp::Cancelled) => return,
                Err(GaveUp::Failed(e)) => {
                    ctx.stop.fail(destination_failure(&e));
                    return;
                }
            }
        } else {
            None
        };
        match policy::decide(
            spec.object_overwrite_mode,
            spec.migrate_since_secs,
            source,
            destination,
        ) {
            Decision::Copy => {
                let sent = tokio::select! {
                    () = ctx.stop.intake.cancelled() => return,
                    sent = output.send(item) => sent,
                };
                if sent.is_err() {
                    return;
                }
            }
            Decision::SkipExisting | Decision::SkipOlderThanSince => {
                let done = Event::Done {
                    seq: item.seq,
                    key: item.record_key(),
                    size: item.size,
                    outcome: Outcome::Skipped,
                };
                if events.send(done).await.is_err() {
                    return;
                }
            }
        }
    }
}
