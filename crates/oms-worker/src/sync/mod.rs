//! The sync-event consumer: copies the keys queued for a sync task, under the sync task's
//! lease (the third user of the one lease implementation, kept by [`crate::keeper`]).
//!
//! A run claims a synchronizing task with events waiting, mirrors its lease onto the task's
//! hidden task (whose lease fences the transfer code's saved multipart uploads), connects to
//! both stores with the sealed keys and takes the queue in batches, oldest first. Each key goes
//! through [`keys::sync_key`]: a HEAD of the source, then the checker and the transfer code of
//! tasks (overwrite mode, consistency check, metadata, storage class, multipart with part-level
//! resume, CDN signing). A batch's outcomes are recorded in one fenced transaction — the events
//! leave the queue and the 5-minute counters grow together — so that a worker killed mid-batch
//! leaves its keys queued for another, and no key is counted twice. Failed and skipped keys are
//! written to the lists under `oms/sync_task/{id}/` at the destination. When the queue is
//! empty and the task's reconciliation pass is due, a step of it ([`reconcile`]) queues the
//! keys that differ between the two buckets.

mod keys;
mod reconcile;

use std::sync::Arc;

use futures::StreamExt as _;
use oms_core::model::FailureReason;
use oms_core::sync::{SyncCounters, SyncStatus};
use oms_core::time::now_ms;
use oms_db::{Db, QueuedKey, SyncLease, SyncRun};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::WorkerConfig;
use crate::control::{Stop, StopReason, cut_after_grace};
use crate::copy::CopyCtx;
use crate::copy::integrity::Integrity;
use crate::keeper::{Renewal, keep_lease};
use crate::lists;
use crate::pipeline::Outcome;
use crate::recorder::{Counted, Meters};
use crate::streams::Limiter;
use crate::sync::keys::Synced;

/// Keys taken from the queue at a time: a few times the copy concurrency, so that copies
/// rarely wait for a batch's slowest key, while a killed worker leaves at most this many keys
/// copied but unrecorded (copied again by the next worker, counted once).
const KEYS_PER_TRANSFER: usize = 4;

/// Copies the queued keys of the sync task held by `lease` until the queue is empty, the task
/// is stopped, the lease is lost or the worker shuts down; then lets go of it.
pub(crate) async fn run_sync_task(
    db: Db,
    config: Arc<WorkerConfig>,
    lease: SyncLease,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("sync_task", sync_task.id = %lease.sync_task_id, worker = %config.worker_id);
    async move {
        let stop = Stop::new();
        let follow = {
            let stop = stop.clone();
            move |renewal| match renewal {
                Renewal::Held(SyncStatus::Synchronizing) => {}
                Renewal::Held(SyncStatus::Stopped) => stop.request(StopReason::Pause),
                Renewal::Lost => stop.request(StopReason::LeaseLost),
            }
        };
        let keeper = tokio::spawn(keep_lease(
            db.clone(),
            config.clone(),
            lease.clone(),
            "sync",
            Db::renew_sync_lease,
            follow,
        ));
        let watcher = tokio::spawn(cut_after_grace(stop.clone(), config.clone(), shutdown));
        let failure = match db.load_sync_run(&lease).await {
            Ok(run) => copy_queue(&db, &config, &lease, run, &stop).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the claimed sync task");
                None
            }
        };
        keeper.abort();
        watcher.abort();
        if stop.reason() != Some(StopReason::LeaseLost)
            && let Err(e) = db.release_sync_task(&lease, failure.as_ref()).await
        {
            tracing::warn!(error = %e, "cannot let go of the sync task");
        }
    }
    .instrument(span)
    .await;
}

/// Connects to both stores and copies batches of queued keys until there are none or the run
/// stops; returns why a store refused the run, if one did (the task then backs off).
async fn copy_queue(
    db: &Db,
    config: &Arc<WorkerConfig>,
    lease: &SyncLease,
    mut run: SyncRun,
    stop: &Stop,
) -> Option<FailureReason> {
    let Some(credentials) = run.credentials.take() else {
        tracing::info!(
            "the sync task has no keys stored (it was stopped); its events wait for a start"
        );
        return None;
    };
    let sides = match oms_storage::connect::connect(
        &config.connect_settings(),
        &run.task.spec,
        &credentials,
    ) {
        Ok(sides) => sides,
        Err(e) => return back_off(db, lease, e.code.as_str(), e.message).await,
    };
    drop(credentials);
    let writer = sides.callers.1;
    let (integrity, settling) = Integrity::unsettled();
    let name = run.task.name.clone();
    let ctx = Arc::new(CopyCtx::new(
        db.clone(),
        config.clone(),
        run.task.spec,
        sides,
        Arc::new(Limiter::new(None)),
        stop.clone(),
        run.task_lease,
        integrity,
    ));
    let meters = Meters::of_sync(ctx.spec());
    let batch = i64::try_from(config.object_concurrency.max(1) * KEYS_PER_TRANSFER).unwrap_or(128);
    let mut seq = 0_u64;
    let work = async {
        while !stop.intake.is_cancelled() {
            let queued = match db.queued_sync_keys(lease, batch).await {
                Ok(queued) => queued,
                Err(e) => {
                    stop.db_failed(&e);
                    break;
                }
            };
            if queued.is_empty() {
                // An empty queue: a step of the reconciliation pass, when one is due, queues more.
                let step = match db.due_reconciliation(lease).await {
                    Ok(Some(due)) => reconcile::step(&ctx, lease, due.after).await,
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                if let Err(e) = step {
                    stop.db_failed(&e);
                    break;
                }
                continue;
            }
            let first = seq;
            seq += queued.len() as u64;
            let outcomes: Vec<(QueuedKey, Synced)> =
                futures::stream::iter(queued.into_iter().enumerate())
                    .map(|(i, queued)| {
                        let ctx = ctx.clone();
                        async move {
                            let synced = tokio::select! {
                                () = ctx.stop.hard.cancelled() => Synced::interrupted(),
                                synced = keys::sync_key(&ctx, &queued, first + i as u64) => synced,
                            };
                            (queued, synced)
                        }
                    })
                    .buffer_unordered(config.object_concurrency.max(1))
                    .collect()
                    .await;
            if let Err(e) = record(&ctx, lease, &name, &meters, &outcomes).await {
                stop.db_failed(&e);
                break;
            }
        }
    };
    // The destination's write settings are read beside the first batch: copies wait for them.
    tokio::join!(settling.learn(&ctx, writer), work);
    match stop.failure() {
        Some(failure) => back_off(db, lease, failure.code.as_str(), failure.message).await,
        None => None,
    }
}

/// A store refused the run: the task waits (longer after each such run in a row) before a
/// worker claims it again; returns the reason its `error_reason` shows.
async fn back_off(
    db: &Db,
    lease: &SyncLease,
    code: &str,
    message: String,
) -> Option<FailureReason> {
    match db.sync_run_failed(lease).await {
        Ok(delay) => tracing::warn!(
            code,
            reason = %message,
            retry_in_secs = delay.as_secs(),
            "the sync task's copies stopped; its events wait"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            code,
            reason = %message,
            "the sync task's copies stopped; cannot put it off"
        ),
    }
    Some(FailureReason {
        code: code.to_owned(),
        message,
    })
}

/// Records a batch's outcomes (fenced), counts them in the metrics (as tasks count theirs;
/// deletions are not counted there), then writes its failed and skip lists.
async fn record(
    ctx: &CopyCtx,
    lease: &SyncLease,
    name: &str,
    meters: &Meters,
    outcomes: &[(QueuedKey, Synced)],
) -> Result<(), oms_db::DbError> {
    let mut counters = SyncCounters::default();
    let mut done = Vec::new();
    let mut counted = Vec::new();
    let now = now_ms();
    let (mut failed, mut skipped) = (String::new(), String::new());
    let zone = ctx.config.time_zone_of(&ctx.spec.destination.region);
    for (
        queued,
        Synced {
            outcome,
            size,
            deleted,
        },
    ) in outcomes
    {
        match outcome {
            Outcome::Skipped if *deleted => counters.deleted += 1,
            Outcome::Copied { size, .. } => {
                let size = i64::try_from(*size).unwrap_or(i64::MAX);
                counters.success += 1;
                counters.size += size;
                counted.push((Counted::Copied, size));
            }
            Outcome::Skipped | Outcome::FinishedBefore => {
                counters.skip += 1;
                skipped.push_str(&lists::record_line(now, &zone, &queued.key, *size));
                counted.push((Counted::Skipped, i64::try_from(*size).unwrap_or(i64::MAX)));
            }
            Outcome::Failed { code, message } => {
                counters.failure += 1;
                failed.push_str(&lists::failed_line(
                    code.as_str(),
                    now,
                    &zone,
                    &queued.key,
                    message,
                ));
                counted.push((Counted::Failed, i64::try_from(*size).unwrap_or(i64::MAX)));
            }
            // Left queued: copied by the next run (sync tasks have no dry run, and wait for
            // the restores of archived objects where they meet them).
            Outcome::Interrupted | Outcome::Planned { .. } | Outcome::Restoring => continue,
        }
        done.push(queued.clone());
    }
    if done.is_empty() {
        return Ok(());
    }
    ctx.db.record_sync_outcomes(lease, &done, &counters).await?;
    for (outcome, size) in counted {
        meters.count(outcome, size);
    }
    let stamp = lists::stamp(&zone);
    let id = lease.sync_task_id;
    for (kind, text) in [("failed", failed), ("skip", skipped)] {
        if text.is_empty() {
            continue;
        }
        let key = format!("oms/sync_task/{id}/{kind}_object_lists/{name}/{stamp}.{kind}_list.txt");
        if let Err(e) = lists::put_text(ctx, &key, text).await {
            tracing::warn!(error = %e, "cannot write the sync task's {kind} object list");
        }
    }
    Ok(())
}
