//! The lister: walks the source selection in order (or the list file, or the failed objects of
//! a previous run) from the checkpoint, and hands each object to the checker.

use std::collections::HashSet;
use std::sync::Arc;

use oms_core::error::FailureCode;
use oms_core::spec::TaskKind;
use oms_core::time::now_ms;
use tokio::sync::mpsc;

use crate::control::{Activity, Side, TaskFailure, activity_failure, task_failure_of};
use crate::listfile;
use crate::pages::{KeyRange, ListingError, Pages};
use oms_core::error::ObjectFailureCode;

use crate::copy::error::source_code;
use crate::copy::restore;
use crate::pipeline::{Event, Item, Lookup, Pass, RunCtx};
use crate::plan::{self, Entry};
use crate::retry::{GaveUp, retry};

/// Why the lister stopped early.
#[derive(Debug)]
pub(crate) enum Halt {
    /// Asked to stop, or the next stage is gone.
    Stopped,
    /// The task cannot go on.
    Failed(TaskFailure),
}

/// Numbers items and sends them on, announcing each to the recorder first.
pub(crate) struct Emitter {
    items: mpsc::Sender<Item>,
    events: mpsc::Sender<Event>,
    seq: u64,
    ctx: Arc<RunCtx>,
}

impl Emitter {
    /// Sends `item` (its `seq` is set here); `position` is the checkpoint once it is done.
    pub(crate) async fn emit(&mut self, item: Item, position: String) -> Result<(), Halt> {
        self.send(item, position, None).await
    }

    /// Sends `item` again, which the task counted before as `counted` bytes (a failed object
    /// retransmitted).
    async fn send(
        &mut self,
        mut item: Item,
        position: String,
        counted: Option<u64>,
    ) -> Result<(), Halt> {
        self.seq += 1;
        item.seq = self.seq;
        let listed = Event::Listed {
            seq: item.seq,
            position,
            key: item.record_key(),
            size: item.size,
            counted,
        };
        self.events.send(listed).await.map_err(|_| Halt::Stopped)?;
        tokio::select! {
            () = self.ctx.stop.intake.cancelled() => Err(Halt::Stopped),
            sent = self.items.send(item) => sent.map_err(|_| Halt::Stopped),
        }
    }
}

/// An item for `key` whose source facts come from a HEAD of the source.
pub(crate) async fn head_item(ctx: &RunCtx, key: &str) -> Result<Item, Halt> {
    Ok(head_item_restoring(ctx, key).await?.0)
}

/// [`head_item`], and whether the object is archived and its restore still under way.
async fn head_item_restoring(ctx: &RunCtx, key: &str) -> Result<(Item, bool), Halt> {
    let head = retry(&ctx.config.retry, &ctx.stop.intake, || {
        ctx.source.head(&ctx.source_bucket, key)
    })
    .await;
    let mut item = Item::to_head(0, key);
    let mut restoring = false;
    match head {
        Ok(Some(meta)) => {
            restoring = meta.restore == Some(oms_storage::Restore::InProgress)
                && meta
                    .info
                    .storage_class
                    .as_deref()
                    .is_some_and(oms_core::spec::is_archive_class);
            item.learn(meta);
        }
        Ok(None) => {
            item.unreadable = Some((
                ObjectFailureCode::SourceMetadata,
                "the source object does not exist".into(),
            ));
        }
        Err(GaveUp::Cancelled) => return Err(Halt::Stopped),
        Err(GaveUp::Failed(e)) => {
            if let Some(failure) = task_failure_of(Side::Source, &e) {
                return Err(Halt::Failed(failure));
            }
            item.unreadable = Some((
                source_code(&e, false),
                format!("source: cannot read the object's metadata: {e}"),
            ));
        }
    }
    Ok((item, restoring))
}

/// Runs the lister; ends by announcing the end of the listing, or by failing the task.
pub(crate) async fn run(ctx: Arc<RunCtx>, items: mpsc::Sender<Item>, events: mpsc::Sender<Event>) {
    let mut emitter = Emitter {
        items,
        events: events.clone(),
        seq: 0,
        ctx: ctx.clone(),
    };
    let walked = match (ctx.pass(), ctx.spec().kind) {
        (Pass::FailedOnly, _) => failed_objects(&ctx, &mut emitter).await,
        (Pass::Restored, _) => restored_objects(&ctx, &mut emitter).await,
        (Pass::Listing, TaskKind::Object | TaskKind::Prefix) => selection(&ctx, &mut emitter).await,
        (Pass::Listing, TaskKind::List | TaskKind::UrlList) => {
            listfile::walk(&ctx, &mut emitter).await
        }
    };
    match walked {
        Ok(()) => {
            let _ = events.send(Event::QueryOver).await;
        }
        Err(Halt::Stopped) => {}
        Err(Halt::Failed(failure)) => ctx.stop.fail(failure),
    }
}

/// The objects and prefixes of the task, in key order, from the checkpoint.
async fn selection(ctx: &RunCtx, emitter: &mut Emitter) -> Result<(), Halt> {
    let checkpoint = ctx.checkpoint.as_deref();
    let (after, until) = (ctx.range.0.as_deref(), ctx.range.1.as_deref());
    for (index, entry) in plan::entries(ctx.spec()).into_iter().enumerate() {
        match entry {
            Entry::Key(key) => {
                if plan::in_scope(&key, checkpoint, after, until) {
                    let item = head_item(ctx, &key).await?;
                    emitter.emit(item, key).await?;
                }
            }
            Entry::Prefix(prefix) => {
                let start = plan::list_start(&prefix, checkpoint, after).map(str::to_owned);
                let mut pages = Pages::new(
                    ctx.source.clone(),
                    &ctx.config,
                    ctx.stop.intake.clone(),
                    ctx.source_bucket.clone(),
                    prefix.clone(),
                    KeyRange {
                        after: start,
                        until: until.map(str::to_owned),
                    },
                );
                'pages: loop {
                    if ctx.stop.intake.is_cancelled() {
                        return Err(Halt::Stopped);
                    }
                    let Some(page) = pages.next().await else {
                        break;
                    };
                    let page = page.map_err(|e| listing_halt(ctx, &prefix, e))?;
                    for object in page.objects {
                        if until.is_some_and(|u| object.key.as_str() > u) {
                            break 'pages;
                        }
                        if !plan::in_scope(&object.key, checkpoint, after, until) {
                            continue;
                        }
                        let position = object.key.clone();
                        let item = Item {
                            seq: 0,
                            key: object.key,
                            size: object.size,
                            last_modified_ms: object.last_modified_ms,
                            storage_class: object.storage_class,
                            etag: object.etag,
                            lookup: Lookup::Cursor {
                                entry: index,
                                prefix: prefix.clone(),
                            },
                            unreadable: None,
                            dst_name: None,
                            headers: None,
                        };
                        emitter.emit(item, position).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// What stops a walk when the source listing of `prefix` cannot go on.
fn listing_halt(ctx: &RunCtx, prefix: &str, error: ListingError) -> Halt {
    match error {
        ListingError::Cancelled => Halt::Stopped,
        ListingError::Failed(e) => Halt::Failed(activity_failure(Activity::ListingSource, &e)),
        ListingError::Broken(broken) => Halt::Failed(crate::control::broken_listing(
            Side::Source,
            ctx.source.as_ref(),
            &ctx.source_bucket,
            prefix,
            &broken,
        )),
    }
}

/// The item of an object recorded by its record key (a source key, or a URL-list line), from a
/// HEAD of the source, and whether it is archived with its restore still under way.
async fn recorded_item(ctx: &RunCtx, record_key: &str) -> Result<(Item, bool), Halt> {
    if ctx.spec().kind != TaskKind::UrlList {
        return head_item_restoring(ctx, record_key).await;
    }
    let (url, name) = listfile::url_line(record_key).map_err(|reason| {
        listfile::fail(
            FailureCode::ListLineMalformed,
            format!("a recorded line cannot be read: {reason}"),
        )
    })?;
    let (mut item, restoring) = head_item_restoring(ctx, &url).await?;
    item.dst_name = Some(name);
    Ok((item, restoring))
}

/// The archived objects whose restores are awaited, each handed on once its restore is done
/// (a HEAD shows it), in rounds over those left: the copies never wait on a restore, so one
/// that ends early is copied before those asked for earlier. Between rounds a pause doubling
/// from [`restore::FIRST_POLL_PAUSE`] to [`restore::MAX_POLL_PAUSE`]; an object whose restore
/// has not ended `worker.restore_wait` after it was asked for is handed on to fail, saying so.
async fn restored_objects(ctx: &RunCtx, emitter: &mut Emitter) -> Result<(), Halt> {
    // Handed on in an earlier round: their rows go once they are done.
    let mut handed: HashSet<String> = HashSet::new();
    let mut pause = restore::FIRST_POLL_PAUSE;
    loop {
        let mut left = 0_usize;
        let mut after: Option<String> = None;
        loop {
            let batch = ctx
                .db
                .list_restores(ctx.lease.task_id, after.as_deref(), 1000)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot read the objects awaiting their restores");
                    Halt::Stopped
                })?;
            let Some(last) = batch.last().map(|r| r.key.clone()) else {
                break;
            };
            for awaited in batch {
                if handed.contains(&awaited.key) {
                    continue;
                }
                let (mut item, restoring) = recorded_item(ctx, &awaited.key).await?;
                if restoring {
                    let waited = now_ms().saturating_sub(awaited.requested_ms);
                    let limit =
                        i64::try_from(ctx.config.restore_wait.as_millis()).unwrap_or(i64::MAX);
                    if waited < limit {
                        left += 1;
                        continue;
                    }
                    item.unreadable = Some((
                        ObjectFailureCode::SourceRead,
                        format!(
                            "source: the restore of the archived object {} did not finish within \
                             {} s (worker.restore_wait_secs); start the task again to keep \
                             waiting for it",
                            item.key,
                            ctx.config.restore_wait.as_secs()
                        ),
                    ));
                }
                let counted = u64::try_from(awaited.size).unwrap_or(0);
                handed.insert(awaited.key.clone());
                emitter.send(item, awaited.key, Some(counted)).await?;
            }
            after = Some(last);
        }
        if left == 0 {
            return Ok(());
        }
        tracing::debug!(
            left,
            pause_secs = pause.as_secs(),
            "restores still under way"
        );
        tokio::select! {
            () = ctx.stop.intake.cancelled() => return Err(Halt::Stopped),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(restore::MAX_POLL_PAUSE);
    }
}

/// The objects that failed in the previous run, in key order.
async fn failed_objects(ctx: &RunCtx, emitter: &mut Emitter) -> Result<(), Halt> {
    let mut after: Option<String> = None;
    loop {
        let batch = ctx
            .db
            .list_failures(ctx.lease.task_id, after.as_deref(), 1000)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot read the failed objects");
                Halt::Stopped
            })?;
        let Some(last) = batch.last().map(|f| f.key.clone()) else {
            return Ok(());
        };
        for failure in batch {
            let (item, _) = recorded_item(ctx, &failure.key).await?;
            let counted = u64::try_from(failure.size).unwrap_or(0);
            emitter.send(item, failure.key, Some(counted)).await?;
        }
        after = Some(last);
    }
}
