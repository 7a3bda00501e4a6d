//! The recorder: counts outcomes, moves the checkpoint over the contiguous prefix of finished
//! objects, and flushes counters, checkpoint and failed objects about once a second in one
//! fenced write — never one write per object.
//!
//! What it shows is what happened, at every moment of a run:
//! - object counters are exact for the work done; `complete_size` also counts the saved parts
//!   of objects still in progress (or interrupted: a paused task shows them) and the bytes of
//!   the bodies on their way, so it moves while a large part travels;
//! - `total_num`, `total_size`, `complete_size` and `progress` never go back while a task is
//!   unfinished: a run resumed after a pause, a crash or a lease hand-over starts from what the
//!   last one showed ([`HighWater`]) until its own figures pass it, and a part sent again after
//!   a failure does not count twice; `complete_size` never exceeds `total_size`. When a task
//!   completes its counters are exact (bytes of parts that were sent and then discarded leave
//!   the count then);
//! - the speed is the bytes sent to the destination over the last [`SPEED_WINDOW`] (parts and
//!   objects in flight included), and the time left follows from it;
//! - `progress` stays below 1.0 until the task completes.
//!
//! The checkpoint carries the counters that hold at it, and the objects finished beyond it
//! ([`FinishedAhead`]): a run resumed after a pause, a shutdown or a crash starts from the
//! checkpoint, counts those objects as they were (copied by this task, or skipped) without
//! copying them again, and redoes only what was unfinished. Failures beyond the checkpoint are
//! not recorded (the object will be tried again).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::metrics::{Counter, counter};
use oms_core::metrics;
use oms_core::model::{
    FinishedAhead, ObjectCounters, ObjectFailure, ObjectRecord, ObjectRestore, PLAN_FIRST_KEYS,
    PlanCount, Progress, Proof, RECORDS_PER_LIST, RecordKind,
};
use oms_core::spec::TaskKind;
use oms_core::time::now_ms;
use oms_db::DbError;
use tokio::sync::mpsc;

use crate::lists::KeptRecords;
use crate::pipeline::{Event, Outcome, Pass, RunCtx};

/// The speed shown is the bytes sent over this window: long enough to smooth out parts that
/// finish in bursts, short enough to follow a bandwidth window that changes.
const SPEED_WINDOW: Duration = Duration::from_secs(10);

/// Object records (success, skip, manifest, plan) held before they are written without waiting
/// for the next tick: a re-check finds tens of thousands of skips a second, and written only
/// at the tick (or all at the end of a short run) they would be one large statement that the
/// run's end waits for, instead of small ones while the listings wait on the network.
const RECORDS_PER_FLUSH: usize = 5_000;

/// Progress shown before a task completes never reads as done.
const BELOW_DONE: f64 = 0.999;

/// How a pass of a run ended, as the recorder saw it.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// The listing ended, every listed object finished, and no restore is awaited: the task
    /// is through.
    pub complete: bool,
    /// The listing ended and every listed object finished, but archived objects wait for
    /// their restores: a restores pass follows.
    pub restores_waiting: bool,
    /// Objects failed (in total, for the task).
    pub failed_num: i64,
    /// Objects found (in total).
    pub total_num: i64,
    /// The counters as last recorded (what the task shows).
    pub counters: ObjectCounters,
    /// How long this run took (its passes so far).
    pub run_time: Duration,
    /// What the next pass of the run starts from.
    pub carry: Carry,
}

/// What a pass of a run hands the next one (the restores pass after the listing's): where the
/// checkpoint stands, what was shown, the time spent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Carry {
    counters: ObjectCounters,
    checkpoint: Option<String>,
    high_water: HighWater,
    total_time_ms: i64,
    run_time: Duration,
}

#[derive(Debug)]
struct Pending {
    position: String,
    /// The key recorded for the object.
    key: String,
    size: u64,
    /// The counter change once it is done.
    delta: Option<ObjectCounters>,
    /// Copied or skipped (what is kept when it finished beyond the checkpoint).
    kept: Option<bool>,
    /// Its failure, recorded once the checkpoint passes it.
    failure: Option<ObjectFailure>,
    /// Archived and being restored: recorded as awaited once the checkpoint passes it.
    restoring: bool,
    /// A dry run's: what the plan counts it as (copy, overwrite or skip) once the checkpoint
    /// passes it.
    planned: Option<RecordKind>,
}

fn add(into: &mut ObjectCounters, d: &ObjectCounters) {
    into.total_num += d.total_num;
    into.successful_num += d.successful_num;
    into.failed_num += d.failed_num;
    into.skipped_num += d.skipped_num;
    into.total_size += d.total_size;
    into.complete_size += d.complete_size;
    into.real_size += d.real_size;
}

fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The counter change of an object of `size` bytes, copied or skipped.
fn finished(size: i64, copied: bool) -> ObjectCounters {
    ObjectCounters {
        total_num: 1,
        successful_num: i64::from(copied),
        skipped_num: i64::from(!copied),
        total_size: size,
        complete_size: size,
        real_size: if copied { size } else { 0 },
        ..ObjectCounters::default()
    }
}

/// The object and byte counters of one outcome.
type Meter = (Counter, Counter);

/// The metrics counters of a run, looked up once (not per object): its task type and source
/// cloud are the same for every object.
pub(crate) struct Meters {
    copied: Meter,
    skipped: Meter,
    failed: Meter,
}

impl Meters {
    fn of(spec: &oms_core::spec::MigrationSpec) -> Self {
        Self::labelled(spec.kind.as_str(), spec.source.cloud_type.as_str())
    }

    /// The counters of a sync task's copies (`task_type` `sync`).
    pub(crate) fn of_sync(spec: &oms_core::spec::MigrationSpec) -> Self {
        Self::labelled("sync", spec.source.cloud_type.as_str())
    }

    fn labelled(task_type: &'static str, src_cloud: &'static str) -> Self {
        let meter = |outcome: &'static str| {
            let labels = [
                ("outcome", outcome),
                ("task_type", task_type),
                ("src_cloud", src_cloud),
            ];
            (
                counter!(metrics::OBJECTS, &labels),
                counter!(metrics::BYTES, &labels),
            )
        };
        Self {
            copied: meter("copied"),
            skipped: meter("skipped"),
            failed: meter("failed"),
        }
    }
}

/// How a finished object is counted in the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counted {
    Copied,
    Skipped,
    Failed,
}

impl Meters {
    /// Counts one finished object of `size` bytes.
    pub(crate) fn count(&self, outcome: Counted, size: i64) {
        let meter = match outcome {
            Counted::Copied => &self.copied,
            Counted::Skipped => &self.skipped,
            Counted::Failed => &self.failed,
        };
        meter.0.increment(1);
        meter.1.increment(u64::try_from(size).unwrap_or(0));
    }
}

/// The highest figures shown for a task so far, which an unfinished task never shows less than.
#[derive(Debug, Clone, Copy, Default)]
struct HighWater {
    total_num: i64,
    total_size: i64,
    complete_size: i64,
    progress: f64,
}

impl HighWater {
    /// What the task showed when this run claimed it. A run after a finished one (a
    /// retransmission of failed objects) shows its own progress, from the counters it keeps.
    fn of(task: &oms_core::model::Task) -> Self {
        Self {
            total_num: task.counters.total_num,
            total_size: task.counters.total_size,
            complete_size: task.counters.complete_size,
            progress: if task.progress < 1.0 {
                task.progress
            } else {
                0.0
            },
        }
    }

    /// Raises `c` and `progress` to the figures shown before, then remembers them.
    fn hold(&mut self, c: &mut ObjectCounters, progress: &mut f64) {
        c.total_num = c.total_num.max(self.total_num);
        c.total_size = c.total_size.max(self.total_size);
        c.complete_size = c.complete_size.max(self.complete_size).min(c.total_size);
        *progress = progress.max(self.progress).min(BELOW_DONE);
        *self = Self {
            total_num: c.total_num,
            total_size: c.total_size,
            complete_size: c.complete_size,
            progress: *progress,
        };
    }
}

struct Recorder {
    ctx: Arc<RunCtx>,
    high_water: HighWater,
    meters: Meters,
    shown: ObjectCounters,
    committed: ObjectCounters,
    checkpoint: Option<String>,
    pending: BTreeMap<u64, Pending>,
    /// Objects a previous run finished beyond its checkpoint, not seen again yet (counted in
    /// `shown` already).
    ahead: HashMap<String, FinishedAhead>,
    failures: Vec<ObjectFailure>,
    resolved: Vec<String>,
    /// Objects copied or skipped since the last flush, for the success and skip lists.
    records: Vec<ObjectRecord>,
    /// The run's success and skip records, for the lists no earlier run recorded into.
    kept: KeptRecords,
    /// Whether the task records its objects (`enable_failed_object_recording`).
    recording: bool,
    /// Archived objects passed by the checkpoint since the last flush, whose restores are
    /// awaited.
    restoring: Vec<ObjectRestore>,
    /// Restored objects the restores pass finished since the last flush.
    restored: Vec<String>,
    /// Archived objects of the task whose restores are awaited (the run's and earlier runs').
    restores_waiting: i64,
    /// A dry run's plan since the last flush.
    plan: Vec<PlanCount>,
    /// How many more keys of each kind the plan names (its first [`PLAN_FIRST_KEYS`]).
    plan_keys_left: HashMap<RecordKind, i64>,
    /// How many more skipped objects the skip list takes (it holds at most
    /// [`RECORDS_PER_LIST`]; a dry run's plan and the copied objects, for the verification
    /// manifest, are not capped).
    skips_left: i64,
    query_over: bool,
    /// (when, bytes sent so far) samples over the speed window.
    samples: VecDeque<(Instant, u64)>,
    started: Instant,
    previous_time_ms: i64,
}

impl Recorder {
    fn on_event(&mut self, event: Event) {
        match event {
            Event::Listed {
                seq,
                position,
                key,
                size,
                counted,
            } => {
                let counted_before = self.ahead.contains_key(&key);
                if let Some(counted) = counted {
                    // Counted by an earlier run at its size then.
                    self.shown.total_size += size_i64(size) - size_i64(counted);
                } else if !self.ctx.counted_before() && !counted_before {
                    self.shown.total_num += 1;
                    self.shown.total_size += size_i64(size);
                }
                self.pending.insert(
                    seq,
                    Pending {
                        position,
                        key,
                        size,
                        delta: None,
                        kept: None,
                        failure: None,
                        restoring: false,
                        planned: None,
                    },
                );
            }
            Event::Done {
                seq,
                key,
                size,
                outcome,
            } => self.on_done(seq, key, size, outcome),
            Event::QueryOver => self.query_over = true,
        }
    }

    fn on_done(&mut self, seq: u64, key: String, size: u64, outcome: Outcome) {
        if outcome == Outcome::Interrupted {
            // Its saved parts stay done: the next run continues the upload.
            return;
        }
        self.ctx.forget_parts(seq);
        let mut size = size_i64(size);
        let mut delta = ObjectCounters::default();
        let mut failure = None;
        let mut kept = None;
        match outcome {
            Outcome::Interrupted => return,
            Outcome::FinishedBefore => {
                // Counted when the previous run finished it: it only joins the checkpoint.
                let dry_run = self.ctx.spec().dry_run;
                if let (Some(before), Some(p)) =
                    (self.ahead.remove(&key), self.pending.get_mut(&seq))
                {
                    p.delta = Some(finished(before.size, before.copied));
                    p.kept = Some(before.copied);
                    // A dry run's skip beyond the checkpoint was not in the plan yet.
                    if dry_run && !before.copied {
                        p.planned = Some(RecordKind::Skip);
                    }
                }
                self.advance();
                return;
            }
            Outcome::Copied {
                size: copied,
                proof,
                ..
            } => {
                // The source changed during the copy: the version copied is what counts (in
                // the total too, retransmissions of failed objects included).
                let copied = size_i64(copied);
                self.shown.total_size += copied - size;
                size = copied;
                delta.successful_num = 1;
                delta.complete_size = size;
                delta.real_size = size;
                kept = Some(true);
                self.record(&key, size, RecordKind::Success, Some(proof));
            }
            Outcome::Skipped => {
                delta.skipped_num = 1;
                delta.complete_size = size;
                kept = Some(false);
                if self.ctx.spec().dry_run {
                    if let Some(p) = self.pending.get_mut(&seq) {
                        p.planned = Some(RecordKind::Skip);
                    }
                } else {
                    self.record(&key, size, RecordKind::Skip, None);
                }
            }
            Outcome::Restoring => {
                // Counted in the totals, not finished: copied in the restores pass.
                let pass = self.ctx.pass();
                if let Some(p) = self.pending.get_mut(&seq) {
                    let mut delta = ObjectCounters::default();
                    match pass {
                        Pass::Listing => {
                            delta.total_num = 1;
                            delta.total_size = size_i64(p.size);
                        }
                        // No longer failed: its failure goes, it waits for its restore.
                        Pass::FailedOnly => delta.failed_num = -1,
                        // That pass waits for restores: nothing to change.
                        Pass::Restored => {}
                    }
                    p.delta = Some(delta);
                    p.restoring = true;
                }
                if pass == Pass::FailedOnly {
                    self.shown.failed_num -= 1;
                    self.resolved.push(key);
                }
                self.advance();
                return;
            }
            Outcome::Planned { overwrite } => {
                // A dry run's: neither copied nor skipped, only planned (counted in the plan).
                let kind = if overwrite {
                    RecordKind::PlanOverwrite
                } else {
                    RecordKind::PlanCopy
                };
                if let Some(p) = self.pending.get_mut(&seq) {
                    let mut delta = ObjectCounters::default();
                    if !self.ctx.counted_before() {
                        delta.total_num = 1;
                        delta.total_size = size_i64(p.size);
                    }
                    p.delta = Some(delta);
                    p.planned = Some(kind);
                }
                self.advance();
                return;
            }
            Outcome::Failed { code, message } => {
                delta.failed_num = 1;
                tracing::warn!(key = %key, code = %code, message = %message, "object failed");
                failure = Some(ObjectFailure {
                    key: key.clone(),
                    size,
                    code: code.as_str().to_owned(),
                    message,
                    failed_time_ms: now_ms(),
                });
            }
        }
        if self.ctx.pass() == Pass::Restored {
            // Copied (or failed) once restored: no longer awaited.
            self.restored.push(key.clone());
            self.restores_waiting -= 1;
        }
        if self.ctx.pass() == Pass::FailedOnly {
            // The object was counted as failed by the previous run: move it to its new outcome.
            if delta.failed_num == 0 {
                delta.failed_num = -1;
                self.resolved.push(key);
            } else {
                delta.failed_num = 0;
            }
        }
        self.count(&delta, size);
        add(&mut self.shown, &delta);
        if let Some(p) = self.pending.get_mut(&seq) {
            if !self.ctx.counted_before() {
                delta.total_num = 1;
                delta.total_size = if delta.successful_num == 1 {
                    size
                } else {
                    size_i64(p.size)
                };
            }
            p.delta = Some(delta);
            p.kept = kept;
            p.failure = failure;
        } else if let Some(failure) = failure {
            self.failures.push(failure);
        }
        self.advance();
    }

    /// Keeps a copied or skipped object for its list (and a copied one's proof for the
    /// verification manifest), when the task records.
    fn record(&mut self, key: &str, size: i64, kind: RecordKind, proof: Option<Proof>) {
        if kind == RecordKind::Skip {
            if self.skips_left <= 0 {
                return;
            }
            self.skips_left -= 1;
        }
        if self.recording {
            let at_ms = now_ms();
            self.kept.keep(kind, key, size, at_ms);
            self.records.push(ObjectRecord {
                key: key.to_owned(),
                size,
                kind,
                at_ms,
                proof,
            });
        }
    }

    /// Counts an object of a dry run in its plan as `kind`, and keeps its key when it is among
    /// the first of that kind (objects come here in key order, as the checkpoint passes them).
    fn plan(&mut self, key: &str, size: i64, kind: RecordKind) {
        let count = match self.plan.iter_mut().find(|c| c.kind == kind) {
            Some(count) => count,
            None => {
                self.plan.push(PlanCount {
                    kind,
                    num: 0,
                    size: 0,
                });
                let last = self.plan.len() - 1;
                &mut self.plan[last]
            }
        };
        count.num += 1;
        count.size += size;
        let left = self.plan_keys_left.entry(kind).or_insert(0);
        if *left > 0 {
            *left -= 1;
            self.records.push(ObjectRecord {
                key: key.to_owned(),
                size,
                kind,
                at_ms: now_ms(),
                proof: None,
            });
        }
    }

    /// Counts a finished object in the metrics (once, when it finishes in this run).
    fn count(&self, delta: &ObjectCounters, size: i64) {
        let outcome = if delta.successful_num == 1 {
            Counted::Copied
        } else if delta.skipped_num == 1 {
            Counted::Skipped
        } else {
            Counted::Failed
        };
        self.meters.count(outcome, size);
    }

    /// Moves the checkpoint over the finished objects at the front.
    fn advance(&mut self) {
        if self.ctx.counted_before() {
            // Failed or restored objects again: no checkpoint moves, so nothing waits for the
            // objects before it. Each is settled as it finishes, in the flush that also drops
            // its failure or restore row (a pause or a crash then loses nothing).
            let finished: Vec<u64> = self
                .pending
                .iter()
                .filter(|(_, p)| p.delta.is_some())
                .map(|(seq, _)| *seq)
                .collect();
            for seq in finished {
                if let Some(done) = self.pending.remove(&seq) {
                    self.settle(done);
                }
            }
            return;
        }
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().delta.is_none() {
                break;
            }
            let done = entry.remove();
            self.settle(done);
        }
    }

    /// Commits a finished object: its counter change, its failure, its awaited restore, and
    /// (in the listing pass) the checkpoint past it.
    fn settle(&mut self, done: Pending) {
        if let Some(delta) = done.delta {
            add(&mut self.committed, &delta);
        }
        if let Some(failure) = done.failure {
            self.failures.push(failure);
        }
        if let Some(kind) = done.planned {
            self.plan(&done.key, size_i64(done.size), kind);
        }
        if done.restoring {
            self.restoring.push(ObjectRestore {
                key: done.key,
                size: size_i64(done.size),
                requested_ms: now_ms(),
            });
            self.restores_waiting += 1;
        }
        if !self.ctx.counted_before() {
            self.checkpoint = Some(done.position);
        }
    }

    /// Objects finished beyond the checkpoint (and those of the previous run not seen again).
    fn finished_ahead(&self) -> Vec<FinishedAhead> {
        let mut ahead: Vec<FinishedAhead> = self
            .pending
            .values()
            .filter_map(|p| {
                let copied = p.kept?;
                let size = p.delta.map_or(0, |d| d.total_size);
                Some(FinishedAhead {
                    key: p.key.clone(),
                    size,
                    copied,
                })
            })
            .collect();
        ahead.extend(self.ahead.values().cloned());
        ahead
    }

    /// Bytes per second sent over the speed window.
    fn speed(&mut self) -> f64 {
        let now = Instant::now();
        let sent = self.ctx.limiter.sent();
        self.samples.push_back((now, sent));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > SPEED_WINDOW)
        {
            self.samples.pop_front();
        }
        match self.samples.front() {
            Some((at, first)) if now.duration_since(*at) >= Duration::from_millis(100) => {
                (sent - first) as f64 / now.duration_since(*at).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn progress(&mut self, complete: bool) -> Progress {
        let mut c = self.shown;
        if !complete {
            // Saved parts of the objects in progress, and the bodies on their way, are done
            // bytes too.
            c.complete_size += size_i64(self.ctx.parts_done() + self.ctx.limiter.in_flight());
        }
        c.complete_size = c.complete_size.min(c.total_size);
        let speed = self.speed();
        let finished = c.successful_num + c.skipped_num + c.failed_num;
        let ratio = if c.total_size > 0 {
            c.complete_size as f64 / c.total_size as f64
        } else if c.total_num > 0 {
            finished as f64 / c.total_num as f64
        } else {
            0.0
        };
        let mut progress = if complete {
            1.0
        } else {
            ratio.clamp(0.0, BELOW_DONE)
        };
        if !complete {
            self.high_water.hold(&mut c, &mut progress);
        }
        let left_ms = if self.query_over && speed > 0.0 && !complete {
            ((c.total_size - c.complete_size).max(0) as f64 / speed * 1000.0) as i64
        } else {
            0
        };
        Progress {
            counters: c,
            checkpoint: self.checkpoint.clone(),
            checkpoint_counters: self.committed,
            migrate_speed_bytes_per_sec: speed as i64,
            progress,
            left_time_ms: left_ms,
            total_time_ms: self.previous_time_ms
                + i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            is_query_over: self.query_over,
            ahead: self.finished_ahead(),
            records: Vec::new(),
            restoring: Vec::new(),
            restored: Vec::new(),
            plan: Vec::new(),
            crc64_unchecked_num: self.ctx.task.crc64_unchecked_num + self.ctx.crc64_unchecked(),
        }
    }

    /// Writes counters, checkpoint and failures; returns the counters written.
    async fn flush(&mut self, complete: bool) -> Result<ObjectCounters, DbError> {
        let failures = std::mem::take(&mut self.failures);
        let resolved = std::mem::take(&mut self.resolved);
        let mut progress = self.progress(complete);
        progress.records = std::mem::take(&mut self.records);
        progress.restoring = std::mem::take(&mut self.restoring);
        progress.restored = std::mem::take(&mut self.restored);
        progress.plan = std::mem::take(&mut self.plan);
        self.ctx
            .db
            .record_progress(&self.ctx.lease, &progress, &failures, &resolved)
            .await?;
        Ok(progress.counters)
    }
}

/// Where a pass of a run starts from.
pub(crate) enum Start {
    /// The task as claimed: the counters at its checkpoint, and the objects the previous run
    /// finished beyond it.
    Claim(ObjectCounters, Vec<FinishedAhead>),
    /// Where the run's previous pass ended.
    Pass(Carry),
}

/// Runs the recorder until every stage has hung up; returns how the pass ended.
pub(crate) async fn run(
    ctx: Arc<RunCtx>,
    mut events: mpsc::Receiver<Event>,
    start: Start,
) -> Summary {
    let task = ctx.lease.task_id;
    // Counted once a pass: the objects this task's earlier runs put on its skip list, and the
    // archived objects whose restores they asked for.
    let skipped = ctx.db.count_records(task, RecordKind::Skip).await;
    if let Err(e) = &skipped {
        tracing::warn!(error = %e, "cannot count the skip list's objects");
    }
    let skips_fresh = matches!(skipped, Ok(0));
    let skipped = skipped.unwrap_or(0);
    // Unknown (the database cannot say) counts as some: the task is then not taken for done.
    let restores_waiting = if ctx.spec().enable_restore {
        ctx.db.count_restores(task).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot count the restores awaited");
            1
        })
    } else {
        0
    };
    // A dry run names the first keys of each kind of its plan: those its earlier runs did not.
    let spec = ctx.spec();
    let keeps_lists = spec.enable_failed_object_recording
        && !spec.dry_run
        && matches!(spec.kind, TaskKind::Object | TaskKind::Prefix);
    let kept = match ctx.take_kept_records() {
        Some(kept) => kept,
        None if keeps_lists => {
            let copied_before = ctx
                .db
                .has_records(task, RecordKind::Success)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot tell whether the task recorded copies");
                    true
                });
            KeptRecords::new(!copied_before, skips_fresh)
        }
        None => KeptRecords::default(),
    };
    let mut plan_keys_left = HashMap::new();
    if ctx.spec().dry_run {
        for kind in [
            RecordKind::PlanCopy,
            RecordKind::PlanOverwrite,
            RecordKind::Skip,
        ] {
            let named = ctx.db.count_records(task, kind).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot count the keys a plan names");
                0
            });
            plan_keys_left.insert(kind, PLAN_FIRST_KEYS.saturating_sub(named));
        }
    }
    let (shown, committed, ahead, checkpoint, high_water, previous_time_ms, earlier) = match start {
        Start::Claim(start, ahead) => {
            let mut shown = start;
            for a in &ahead {
                add(&mut shown, &finished(a.size, a.copied));
            }
            (
                shown,
                start,
                ahead,
                ctx.checkpoint.clone(),
                HighWater::of(&ctx.task),
                ctx.task.total_time_ms,
                Duration::ZERO,
            )
        }
        Start::Pass(carry) => (
            carry.counters,
            carry.counters,
            Vec::new(),
            carry.checkpoint,
            carry.high_water,
            carry.total_time_ms,
            carry.run_time,
        ),
    };
    let mut recorder = Recorder {
        high_water,
        meters: Meters::of(ctx.spec()),
        shown,
        committed,
        checkpoint,
        pending: BTreeMap::new(),
        ahead: ahead.into_iter().map(|a| (a.key.clone(), a)).collect(),
        failures: Vec::new(),
        resolved: Vec::new(),
        records: Vec::new(),
        kept,
        recording: ctx.spec().enable_failed_object_recording,
        restoring: Vec::new(),
        restored: Vec::new(),
        restores_waiting,
        plan: Vec::new(),
        plan_keys_left,
        skips_left: RECORDS_PER_LIST.saturating_sub(skipped),
        query_over: false,
        // From the start of the run: the first bytes show as a speed at once.
        samples: VecDeque::from([(Instant::now(), 0)]),
        started: Instant::now(),
        previous_time_ms,
        ctx: ctx.clone(),
    };
    let mut ticks = tokio::time::interval(ctx.config.flush_interval);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    recorder.on_event(event);
                    if recorder.records.len() >= RECORDS_PER_FLUSH
                        && let Err(e) = recorder.flush(false).await
                    {
                        ctx.stop.db_failed(&e);
                    }
                }
                None => break,
            },
            _ = ticks.tick() => {
                if let Err(e) = recorder.flush(false).await {
                    ctx.stop.db_failed(&e);
                }
            }
        }
    }
    let through = recorder.query_over && recorder.pending.is_empty();
    let complete = through && recorder.restores_waiting <= 0;
    // A run that ends early keeps what it showed: the next one starts from the checkpoint and
    // counts the objects finished beyond it as they were.
    let counters = match recorder.flush(complete).await {
        Ok(counters) => counters,
        Err(e) => {
            ctx.stop.db_failed(&e);
            recorder.shown
        }
    };
    let run_time = earlier + recorder.started.elapsed();
    ctx.put_kept_records(std::mem::take(&mut recorder.kept));
    Summary {
        complete,
        restores_waiting: through && !complete,
        failed_num: recorder.shown.failed_num,
        total_num: recorder.shown.total_num,
        counters,
        run_time,
        carry: Carry {
            counters: recorder.shown,
            checkpoint: recorder.checkpoint.clone(),
            high_water: recorder.high_water,
            total_time_ms: recorder.previous_time_ms
                + i64::try_from(recorder.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            run_time,
        },
    }
}
