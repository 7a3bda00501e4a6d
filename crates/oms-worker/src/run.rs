//! One task's run: keep the lease, check both buckets, run the pipeline, and end the task as
//! its outcome says (completed, failed, paused, or handed back).

use std::sync::Arc;
use std::time::Duration;

use oms_core::error::{FailureCode, ObjectFailureCode};
use oms_core::model::FailureReason;
use oms_core::status::{TaskEvent, TaskStatus};
use oms_core::time::now_ms;
use oms_db::{Db, Lease, LeaseState, TaskRun};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::WorkerConfig;
use crate::control::{Stop, StopReason, TaskFailure, check_buckets};
use crate::copy::CopyCtx;
use crate::copy::integrity::Integrity;
use crate::keeper::{Renewal, keep_lease};
use crate::pipeline::{CHECKED_PER_TRANSFER, EVENTS_CAPACITY, LISTED_CAPACITY, Pass, RunCtx};
use crate::recorder::{self, Start, Summary};
use crate::streams::Limiter;
use crate::{checker, lister, lists, transfer};

/// The cap of `policy` now, on the clocks of `zone`.
fn limit_now(
    policy: &oms_core::bandwidth::BandwidthPolicy,
    zone: &jiff::tz::TimeZone,
) -> Option<u64> {
    policy
        .limit_at_instant(now_ms(), zone)
        .and_then(|r| u64::try_from(r).ok())
}

/// Runs the task held by `lease` to its end.
pub(crate) async fn run_task(
    db: Db,
    config: Arc<WorkerConfig>,
    lease: Lease,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("task", task.id = %lease.task_id, worker = %config.worker_id);
    async move {
        let run = match db.load_run(&lease).await {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the claimed task");
                return;
            }
        };
        tracing::info!(failed_only = run.failed_objects_only, checkpoint = ?run.checkpoint, "task run starts");
        let stop = Stop::new();
        let zone = config.time_zone_of(&run.task.spec.destination.region);
        let limiter = Arc::new(Limiter::new(limit_now(&run.task.bandwidth_policy, &zone)));
        // The keeper follows the bandwidth policy and notices a stop (status pausing).
        let follow = {
            let (stop, limiter) = (stop.clone(), limiter.clone());
            move |renewal| match renewal {
                Renewal::Held(LeaseState {
                    status,
                    bandwidth_policy,
                }) => {
                    limiter.set_rate(limit_now(&bandwidth_policy, &zone));
                    if status == TaskStatus::Pausing {
                        stop.request(StopReason::Pause);
                    }
                }
                Renewal::Lost => stop.request(StopReason::LeaseLost),
            }
        };
        let keeper = tokio::spawn(keep_lease(
            db.clone(),
            config.clone(),
            lease.clone(),
            "task",
            Db::renew_lease,
            follow,
        ));
        let watcher = tokio::spawn(crate::control::cut_after_grace(
            stop.clone(),
            config.clone(),
            shutdown,
        ));
        let ended = execute(&db, &config, &lease, run, &stop, limiter).await;
        keeper.abort();
        watcher.abort();
        finish(&db, &lease, ended, &stop).await;
    }
    .instrument(span)
    .await;
}

/// What a run ended with.
struct Ended {
    summary: Option<Summary>,
    ctx: Option<Arc<RunCtx>>,
    failure: Option<TaskFailure>,
}

async fn execute(
    db: &Db,
    config: &Arc<WorkerConfig>,
    lease: &Lease,
    mut run: TaskRun,
    stop: &Stop,
    limiter: Arc<Limiter>,
) -> Ended {
    let failed = |failure| Ended {
        summary: None,
        ctx: None,
        failure: Some(failure),
    };
    let Some(credentials) = run.credentials.take() else {
        return failed(TaskFailure::new(
            FailureCode::SystemError,
            "no credentials are stored for the task; start it again with its keys",
        ));
    };
    let sides = match oms_storage::connect::connect(
        &config.connect_settings(),
        &run.task.spec,
        &credentials,
    ) {
        Ok(sides) => sides,
        Err(e) => return failed(TaskFailure::new(e.code, e.message)),
    };
    drop(credentials);

    // The cleanup of uploads that deleted tasks left, the destination's write settings and the
    // buckets' check all go beside the run's first requests: across a WAN each is a round trip
    // or more (a connection's handshake included). Copies wait for the write settings
    // (`Integrity::settled`); a failed check fails the task with its own words, whatever it
    // made fail meanwhile (`Stop::fail_with`). A dry run changes nothing at the destination,
    // not even the uploads others left.
    let dst_bucket = run.task.spec.destination.bucket.clone();
    let checking = {
        let (sides, dst_bucket, stop) = (sides.clone(), dst_bucket.clone(), stop.clone());
        let policy = config.retry;
        async move {
            // A pause, a shutdown or a lost lease gives the check up; a failure of the run does
            // not: what a failed check says is what the task fails with, even when the run's
            // own requests failed first (a listing of a missing or unreachable bucket).
            let asked_to_stop = async {
                stop.intake.cancelled().await;
                if stop.failure().is_some() {
                    std::future::pending::<()>().await;
                }
            };
            let never = CancellationToken::new();
            tokio::select! {
                checked = check_buckets(&policy, &sides, &dst_bucket, &never) => {
                    if let Err(failure) = checked {
                        stop.fail_with(failure);
                    }
                }
                () = asked_to_stop => {}
            }
        }
    };
    let writer = sides.callers.1;
    let (integrity, settling) = Integrity::unsettled();
    let copy = CopyCtx::new(
        db.clone(),
        config.clone(),
        run.task.spec.clone(),
        sides,
        limiter,
        stop.clone(),
        lease.clone(),
        integrity,
    );
    let pass = if run.failed_objects_only {
        Pass::FailedOnly
    } else {
        Pass::Listing
    };
    // Archived objects are not waited for where the listing finds them: their restores run
    // side by side at the store while the others are copied.
    copy.set_defer_restores(true);
    let ctx = Arc::new(RunCtx::new(
        copy,
        run.task,
        pass,
        run.checkpoint,
        run.range,
        run.ahead.iter().map(|a| a.key.clone()).collect(),
    ));
    let cleanup = async {
        if !ctx.spec().dry_run {
            let project_id = &ctx.task.project_id;
            abort_orphan_uploads(db, project_id, &dst_bucket, ctx.destination.as_ref()).await;
        }
    };
    let (mut summary, (), (), ()) = tokio::join!(
        run_pass(&ctx, Start::Claim(run.checkpoint_counters, run.ahead)),
        checking,
        settling.learn(&ctx, writer),
        cleanup,
    );
    if let Some(through) = summary.as_ref().filter(|s| s.restores_waiting)
        && stop.reason().is_none()
        && stop.failure().is_none()
    {
        tracing::info!(
            "the listing is through; copying the archived objects as their restores finish"
        );
        ctx.set_pass(Pass::Restored);
        ctx.set_defer_restores(false);
        let carry = through.carry.clone();
        summary = run_pass(&ctx, Start::Pass(carry)).await;
    }
    Ended {
        summary,
        ctx: Some(ctx),
        failure: None,
    }
}

/// Runs one pass of the stages over `ctx` (lister, checker, transfer pool, recorder); `None`
/// when the recorder ended abnormally.
async fn run_pass(ctx: &Arc<RunCtx>, start: Start) -> Option<Summary> {
    let (listed_tx, listed_rx) = mpsc::channel(LISTED_CAPACITY);
    let (checked_tx, checked_rx) =
        mpsc::channel(ctx.config.object_concurrency.max(1) * CHECKED_PER_TRANSFER);
    let (events_tx, events_rx) = mpsc::channel(EVENTS_CAPACITY);
    let recorder = tokio::spawn(recorder::run(ctx.clone(), events_rx, start));
    tokio::join!(
        lister::run(ctx.clone(), listed_tx, events_tx.clone()),
        checker::run(ctx.clone(), listed_rx, checked_tx, events_tx.clone()),
        transfer::run(ctx.clone(), checked_rx, events_tx),
    );
    match recorder.await {
        Ok(summary) => Some(summary),
        Err(e) => {
            tracing::error!(error = %e, "the recorder ended abnormally");
            None
        }
    }
}

/// Aborts multipart uploads that deleted tasks of this project left in the destination bucket
/// (best effort: they only cost storage).
async fn abort_orphan_uploads(
    db: &Db,
    project_id: &oms_core::ids::ProjectId,
    bucket: &str,
    destination: &dyn oms_storage::WriteStore,
) {
    let Ok(orphans) = db.orphan_uploads(project_id, bucket, 1000).await else {
        return;
    };
    for orphan in orphans {
        if destination
            .abort_multipart(&orphan.dst_bucket, &orphan.dst_key, &orphan.upload_id)
            .await
            .is_ok()
        {
            tracing::info!(key = %orphan.dst_key, "aborted a multipart upload left by a deleted task");
            let _ = db.forget_orphan_upload(&orphan).await;
        }
    }
}

async fn finish(db: &Db, lease: &Lease, ended: Ended, stop: &Stop) {
    let reason = stop.reason();
    let (event, failure) = if let Some(failure) = stop.failure().or(ended.failure) {
        (
            TaskEvent::Fail,
            Some(FailureReason {
                code: failure.code.as_str().to_owned(),
                message: failure.message,
            }),
        )
    } else if reason == Some(StopReason::LeaseLost) {
        return;
    } else if let (Some(summary), Some(ctx)) = (ended.summary.as_ref(), ended.ctx.as_ref())
        && summary.complete
    {
        lists::write_record_lists(ctx).await;
        if summary.failed_num > 0 {
            let listed = match write_failed_list(ctx).await {
                Some(Ok(key)) => format!("; see the failed object list {key}"),
                Some(Err(why)) => {
                    format!(
                        "; the failed object list could not be written ({why}): GET /v2/{{project_id}}/tasks/{{task_id}}/failed-objects lists them"
                    )
                }
                None => String::new(),
            };
            let message = format!(
                "{} of {} objects failed{listed}",
                summary.failed_num, summary.total_num
            );
            (
                TaskEvent::Fail,
                Some(FailureReason {
                    code: FailureCode::ObjectsFailed.as_str().to_owned(),
                    message,
                }),
            )
        } else {
            // Every object is through: a failed list of an earlier run no longer says anything.
            if (!ctx.task.failed_list_key.is_empty() || !ctx.task.failed_list_error.is_empty())
                && let Err(e) = ctx.db.set_failed_list(&ctx.lease, "", "").await
            {
                tracing::warn!(error = %e, "cannot forget the earlier failed object list");
            }
            (TaskEvent::Succeed, None)
        }
    } else if reason == Some(StopReason::Pause) {
        (TaskEvent::PauseReached, None)
    } else {
        (TaskEvent::Release, None)
    };
    if event == TaskEvent::Fail
        && let Some(ctx) = ended.ctx.as_ref()
    {
        abort_uploads(ctx).await;
    }
    match db.finish_task(lease, event, failure.as_ref()).await {
        Ok(status) => log_end(status, ended.summary.as_ref(), failure.as_ref()),
        Err(e) => tracing::warn!(error = %e, "cannot record the end of the run"),
    }
}

/// The end of a run, in one line an operator reads: the status, the counts, the bytes, how
/// long it took, and why it failed (a warning when it failed or found nothing to copy).
fn log_end(status: TaskStatus, summary: Option<&Summary>, failure: Option<&FailureReason>) {
    let line = end_line(status, summary, failure);
    let found_nothing = summary.is_some_and(|s| s.complete && s.counters.total_num == 0);
    if failure.is_some() || found_nothing {
        tracing::warn!(status = status.code(), "{line}");
    } else {
        tracing::info!(status = status.code(), "{line}");
    }
}

fn end_line(
    status: TaskStatus,
    summary: Option<&Summary>,
    failure: Option<&FailureReason>,
) -> String {
    let c = summary.map(|s| s.counters).unwrap_or_default();
    let took = summary.map(|s| s.run_time).unwrap_or_default();
    let why = failure.map_or_else(String::new, |f| format!(": {} {}", f.code, f.message));
    let nothing = if summary.is_some_and(|s| s.complete) && c.total_num == 0 && failure.is_none() {
        " (the source selection matched no objects: check the bucket, the prefixes or the list \
         file)"
    } else {
        ""
    };
    format!(
        "task run ended, {}: {} objects found, {} copied, {} skipped, {} failed; {} of {} done \
         in {}{why}{nothing}",
        status.label(),
        c.total_num,
        c.successful_num,
        c.skipped_num,
        c.failed_num,
        bytes_text(c.complete_size),
        bytes_text(c.total_size),
        duration_text(took),
    )
}

/// Bytes as a person reads them: `812 B`, `4.2 MiB`, `1.07 GiB`.
fn bytes_text(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    let digits = if value < 10.0 { 2 } else { 1 };
    format!("{value:.digits$} {unit}")
}

/// A duration as a person reads it: `850 ms`, `42 s`, `3 min 12 s`, `2 h 5 min`.
fn duration_text(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{} ms", d.as_millis()),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Aborts the multipart uploads a failing task leaves (objects interrupted by the failure): a
/// failed task does not continue them, and their parts would only cost storage.
async fn abort_uploads(ctx: &RunCtx) {
    let uploads = match ctx.db.task_uploads(ctx.lease.task_id).await {
        Ok(uploads) => uploads,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the task's multipart uploads to abort them");
            return;
        }
    };
    for (object_key, upload) in uploads {
        match ctx
            .destination
            .abort_multipart(&upload.dst_bucket, &upload.dst_key, &upload.upload_id)
            .await
        {
            Ok(()) => {
                tracing::info!(key = %upload.dst_key, "aborted the multipart upload of a failed task");
                if let Err(e) = ctx.db.delete_upload(ctx.lease.task_id, &object_key).await {
                    tracing::warn!(error = %e, "cannot forget an aborted multipart upload");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot abort the multipart upload of a failed task");
            }
        }
    }
}

/// Writes the failed-object list under `oms/` at the destination (as OMS does) and records
/// where, or why it could not be written; `None` when recording is off. A failure to write it
/// is recorded and logged, not fatal.
async fn write_failed_list(ctx: &RunCtx) -> Option<Result<String, String>> {
    // A dry run writes nothing at the destination.
    if !ctx.spec().enable_failed_object_recording || ctx.spec().dry_run {
        return None;
    }
    let zone = ctx.config.time_zone_of(&ctx.spec().destination.region);
    let mut text = String::new();
    let mut after: Option<String> = None;
    loop {
        let batch = match ctx
            .db
            .list_failures(ctx.lease.task_id, after.as_deref(), 5000)
            .await
        {
            Ok(batch) => batch,
            Err(e) => return Some(Err(format!("the database failed: {e}"))),
        };
        let Some(last) = batch.last().map(|f| f.key.clone()) else {
            break;
        };
        for f in batch {
            text.push_str(&lists::failed_line(
                &f.code,
                f.failed_time_ms,
                &zone,
                &f.key,
                &f.message,
            ));
        }
        after = Some(last);
    }
    let key = lists::list_key(&ctx.task, "failed", &lists::stamp(&zone));
    let (recorded, outcome) = match lists::put_text(ctx, &key, text).await {
        Ok(()) => ((key.as_str(), ""), Ok(key.clone())),
        Err(e) => {
            tracing::warn!(error = %e, "cannot write the failed object list");
            let code = e
                .code
                .clone()
                .unwrap_or_else(|| ObjectFailureCode::Upload.as_str().to_owned());
            let why = e.to_string();
            return Some(match ctx.db.set_failed_list(&ctx.lease, "", &code).await {
                Ok(()) => Err(why),
                Err(db) => Err(format!("{why}; and the database failed: {db}")),
            });
        }
    };
    if let Err(e) = ctx
        .db
        .set_failed_list(&ctx.lease, recorded.0, recorded.1)
        .await
    {
        tracing::warn!(error = %e, "cannot record the failed list's key");
    }
    Some(outcome)
}

#[cfg(test)]
mod tests {
    use oms_core::model::ObjectCounters;

    use super::*;

    fn summary(total_num: i64, copied: i64, failed: i64, bytes: i64, secs: u64) -> Summary {
        Summary {
            complete: true,
            failed_num: failed,
            total_num,
            counters: ObjectCounters {
                total_num,
                successful_num: copied,
                failed_num: failed,
                total_size: bytes,
                complete_size: bytes,
                ..ObjectCounters::default()
            },
            run_time: Duration::from_secs(secs),
            restores_waiting: false,
            carry: recorder::Carry::default(),
        }
    }

    #[test]
    fn the_end_of_a_run_reads_as_one_sentence() {
        assert_eq!(
            end_line(
                TaskStatus::Succeeded,
                Some(&summary(1000, 1000, 0, 1_288_490_189, 192)),
                None
            ),
            "task run ended, completed: 1000 objects found, 1000 copied, 0 skipped, 0 failed; \
             1.20 GiB of 1.20 GiB done in 3 min 12 s"
        );
        let failure = FailureReason {
            code: "TRF.0155".into(),
            message: "2 of 10 objects failed".into(),
        };
        assert_eq!(
            end_line(
                TaskStatus::Failed,
                Some(&summary(10, 8, 2, 812, 0)),
                Some(&failure)
            ),
            "task run ended, failed: 10 objects found, 8 copied, 0 skipped, 2 failed; 812 B of \
             812 B done in 0 ms: TRF.0155 2 of 10 objects failed"
        );
        assert!(
            end_line(TaskStatus::Succeeded, Some(&summary(0, 0, 0, 0, 1)), None).ends_with(
                "done in 1 s (the source selection matched no objects: check the \
                            bucket, the prefixes or the list file)"
            )
        );
        assert_eq!(duration_text(Duration::from_secs(7_500)), "2 h 5 min");
        assert_eq!(bytes_text(10 * 1024 * 1024 + 1), "10.0 MiB");
    }
}
