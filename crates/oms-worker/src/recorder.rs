//! The recorder: counts outcomes, moves the checkpoint over the contiguous prefix of finished
//! objects, and flushes counters, checkpoint and failed objects about once a second in one
//! fenced write — never one write per object.
//!
//! Counters shown are exact for the work done; the counters stored with the checkpoint cover
//! only what lies at or before it, so that a run resumed after a crash redoes (and counts once)
//! the objects that finished beyond it. A run that ends early (pause, shutdown) leaves the
//! checkpoint's counters and failures as its last word, so that what a paused task shows is
//! where its next run starts, and no failure is recorded for an object that will be redone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use oms_core::model::{ObjectCounters, ObjectFailure, Progress};
use oms_core::time::now_ms;
use oms_db::DbError;
use tokio::sync::mpsc;

use crate::pipeline::{Event, Outcome, RunCtx};

/// How a run ended, as the recorder saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The listing ended and every listed object finished.
    pub complete: bool,
    /// Objects failed (in total, for the task).
    pub failed_num: i64,
    /// Objects found (in total).
    pub total_num: i64,
}

#[derive(Debug)]
struct Pending {
    position: String,
    size: u64,
    /// The counter change once it is done.
    delta: Option<ObjectCounters>,
    /// Its failure, recorded once the checkpoint passes it.
    failure: Option<ObjectFailure>,
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

struct Recorder {
    ctx: Arc<RunCtx>,
    shown: ObjectCounters,
    committed: ObjectCounters,
    checkpoint: Option<String>,
    pending: BTreeMap<u64, Pending>,
    failures: Vec<ObjectFailure>,
    resolved: Vec<String>,
    query_over: bool,
    moved_bytes: u64,
    started: Instant,
    previous_time_ms: i64,
}

impl Recorder {
    fn on_event(&mut self, event: Event) {
        match event {
            Event::Listed {
                seq,
                position,
                size,
            } => {
                if !self.ctx.failed_only {
                    self.shown.total_num += 1;
                    self.shown.total_size += size_i64(size);
                }
                self.pending.insert(
                    seq,
                    Pending {
                        position,
                        size,
                        delta: None,
                        failure: None,
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
        let mut size = size_i64(size);
        let mut delta = ObjectCounters::default();
        let mut failure = None;
        match outcome {
            Outcome::Interrupted => return,
            Outcome::Copied {
                moved_bytes,
                size: copied,
            } => {
                // The source changed during the copy: the version copied is what counts.
                let copied = size_i64(copied);
                if !self.ctx.failed_only {
                    self.shown.total_size += copied - size;
                }
                size = copied;
                self.moved_bytes += moved_bytes;
                delta.successful_num = 1;
                delta.complete_size = size;
                delta.real_size = size;
            }
            Outcome::Skipped => {
                delta.skipped_num = 1;
                delta.complete_size = size;
            }
            Outcome::Failed { code, message } => {
                delta.failed_num = 1;
                tracing::warn!(key = %key, code, message = %message, "object failed");
                failure = Some(ObjectFailure {
                    key: key.clone(),
                    size,
                    code: code.to_owned(),
                    message,
                    failed_time_ms: now_ms(),
                });
            }
        }
        if self.ctx.failed_only {
            // The object was counted as failed by the previous run: move it to its new outcome.
            if delta.failed_num == 0 {
                delta.failed_num = -1;
                self.resolved.push(key);
            } else {
                delta.failed_num = 0;
            }
        }
        add(&mut self.shown, &delta);
        if let Some(p) = self.pending.get_mut(&seq) {
            if !self.ctx.failed_only {
                delta.total_num = 1;
                delta.total_size = if delta.successful_num == 1 {
                    size
                } else {
                    size_i64(p.size)
                };
            }
            p.delta = Some(delta);
            p.failure = failure;
        } else if let Some(failure) = failure {
            self.failures.push(failure);
        }
        while let Some(entry) = self.pending.first_entry() {
            let Some(delta) = entry.get().delta else {
                break;
            };
            let done = entry.remove();
            add(&mut self.committed, &delta);
            if let Some(failure) = done.failure {
                self.failures.push(failure);
            }
            if !self.ctx.failed_only {
                self.checkpoint = Some(done.position);
            }
        }
    }

    fn progress(&self) -> Progress {
        let c = self.shown;
        let elapsed = self.started.elapsed();
        let speed = if elapsed.as_secs_f64() > 0.0 {
            self.moved_bytes as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        };
        let finished = c.successful_num + c.skipped_num + c.failed_num;
        let progress = if c.total_size > 0 {
            c.complete_size as f64 / c.total_size as f64
        } else if c.total_num > 0 {
            finished as f64 / c.total_num as f64
        } else if self.query_over {
            1.0
        } else {
            0.0
        };
        let left_ms = if self.query_over && speed > 0.0 {
            ((c.total_size - c.complete_size).max(0) as f64 / speed * 1000.0) as i64
        } else {
            0
        };
        Progress {
            counters: c,
            checkpoint: self.checkpoint.clone(),
            checkpoint_counters: self.committed,
            migrate_speed_bytes_per_sec: speed as i64,
            progress: progress.clamp(0.0, 1.0),
            left_time_ms: left_ms,
            total_time_ms: self.previous_time_ms
                + i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            is_query_over: self.query_over,
        }
    }

    async fn flush(&mut self) -> Result<(), DbError> {
        let failures = std::mem::take(&mut self.failures);
        let resolved = std::mem::take(&mut self.resolved);
        self.ctx
            .db
            .record_progress(&self.ctx.lease, &self.progress(), &failures, &resolved)
            .await
    }
}

/// Runs the recorder until every stage has hung up; returns how the run ended.
pub(crate) async fn run(
    ctx: Arc<RunCtx>,
    mut events: mpsc::Receiver<Event>,
    start: ObjectCounters,
) -> Summary {
    let mut recorder = Recorder {
        shown: start,
        committed: start,
        checkpoint: ctx.checkpoint.clone(),
        pending: BTreeMap::new(),
        failures: Vec::new(),
        resolved: Vec::new(),
        query_over: false,
        moved_bytes: 0,
        started: Instant::now(),
        previous_time_ms: ctx.task.total_time_ms,
        ctx: ctx.clone(),
    };
    let mut ticks = tokio::time::interval(ctx.config.flush_interval);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => recorder.on_event(event),
                None => break,
            },
            _ = ticks.tick() => {
                if let Err(e) = recorder.flush().await {
                    ctx.stop.db_failed(&e);
                }
            }
        }
    }
    if !recorder.pending.is_empty() {
        // Ended early: the next run starts from the checkpoint and redoes what lies beyond.
        recorder.shown = recorder.committed;
    }
    if let Err(e) = recorder.flush().await {
        ctx.stop.db_failed(&e);
    }
    Summary {
        complete: recorder.query_over && recorder.pending.is_empty(),
        failed_num: recorder.shown.failed_num,
        total_num: recorder.shown.total_num,
    }
}
