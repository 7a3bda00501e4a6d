//! Sync tasks: a destination kept in step with a live source. The source's event function posts
//! the keys that changed; each is copied (or counted as skipped when the source no longer has
//! it). This module holds the domain: the id, the two statuses and their state machine, the
//! counters and their time series.

use crate::credentials::CredentialSet;
use crate::error::{Subject, TransitionError};
use crate::ids::ProjectId;
pub use crate::ids::SyncTaskId;
use crate::model::Page;
use crate::spec::MigrationSpec;

/// A sync task's status (OMS sends the names; the database keeps the numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// Accepting events and copying them.
    Synchronizing,
    /// Stopped: no credentials, no events accepted.
    Stopped,
}

impl SyncStatus {
    /// Every status.
    pub const ALL: [Self; 2] = [Self::Synchronizing, Self::Stopped];

    /// The number stored in the database.
    pub const fn code(self) -> i64 {
        match self {
            Self::Synchronizing => 0,
            Self::Stopped => 1,
        }
    }

    /// The status of a stored number.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Synchronizing => "SYNCHRONIZING",
            Self::Stopped => "STOPPED",
        }
    }

    /// Parses the wire name (exact case, as the SDK sends it).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Only a synchronizing task keeps its (sealed) credentials: a stop erases them.
    pub const fn needs_credentials(self) -> bool {
        matches!(self, Self::Synchronizing)
    }
}

/// What is asked of a sync task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncVerb {
    /// `POST .../stop`.
    Stop,
    /// `POST .../start`, with fresh keys.
    Start,
    /// `DELETE`.
    Delete,
}

/// The sync-task state machine: the status `verb` leads to from `from`, or the OMS error.
pub fn sync_transition(from: SyncStatus, verb: SyncVerb) -> Result<SyncStatus, TransitionError> {
    const S: Subject = Subject::SyncTask;
    match (verb, from) {
        (SyncVerb::Stop, SyncStatus::Synchronizing) => Ok(SyncStatus::Stopped),
        (SyncVerb::Stop, SyncStatus::Stopped) => Err(TransitionError::NotInProgress(S)),
        (SyncVerb::Start, SyncStatus::Stopped) => Ok(SyncStatus::Synchronizing),
        (SyncVerb::Start, SyncStatus::Synchronizing) => Err(TransitionError::AlreadyStarted(S)),
        (SyncVerb::Delete, SyncStatus::Stopped) => Ok(SyncStatus::Stopped),
        (SyncVerb::Delete, SyncStatus::Synchronizing) => {
            Err(TransitionError::RunningCannotDelete(S))
        }
    }
}

/// A sync task to create: what it copies, and the keys it copies with (sealed while it
/// synchronizes).
#[derive(Debug)]
pub struct NewSyncTask {
    /// Source, destination and options (a whole-bucket prefix spec).
    pub spec: MigrationSpec,
    /// The keys.
    pub credentials: CredentialSet,
    /// Seconds between reconciliation passes; `None`: the task does not reconcile.
    pub reconcile_interval_secs: Option<i64>,
    /// Whether `ObjectRemoved` notifications delete at the destination (when the source, asked
    /// then, lacks the object).
    pub propagate_deletions: bool,
}

/// A sync task as stored.
#[derive(Debug, Clone)]
pub struct SyncTask {
    /// Id.
    pub id: SyncTaskId,
    /// Owner.
    pub project_id: ProjectId,
    /// Status.
    pub status: SyncStatus,
    /// What it copies.
    pub spec: MigrationSpec,
    /// Creation, Unix ms.
    pub create_time_ms: i64,
    /// The last start (creation counts as one), Unix ms.
    pub last_start_time_ms: i64,
    /// Seconds between reconciliation passes; `None`: the task does not reconcile.
    pub reconcile_interval_secs: Option<i64>,
    /// When the last reconciliation pass ended, Unix ms (`None`: none has yet).
    pub last_reconcile_time_ms: Option<i64>,
    /// Whether `ObjectRemoved` notifications delete at the destination.
    pub propagate_deletions: bool,
    /// Why the last run stopped, while the task backs off: a `TRF.xxxx` code and a sentence.
    pub error: Option<(String, String)>,
}

/// The shortest reconciliation interval (one minute): a pass lists both buckets whole.
pub const MIN_RECONCILE_INTERVAL_SECS: i64 = 60;
/// The longest reconciliation interval (30 days).
pub const MAX_RECONCILE_INTERVAL_SECS: i64 = 30 * 24 * 60 * 60;

/// The sync tasks of a list page.
#[derive(Debug, Clone, Copy)]
pub struct SyncFilter {
    /// Only this status.
    pub status: Option<SyncStatus>,
    /// Which page.
    pub page: Page,
}

/// One counter of a sync task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatisticKind {
    /// Keys received by `events` (every key of every call, repeats included).
    Request,
    /// Keys copied.
    Success,
    /// Keys that failed after retries (written to the failed list).
    Failure,
    /// Keys skipped: gone from the source, or already the same at the destination.
    Skip,
    /// Bytes of the objects copied.
    Size,
    /// `ObjectRemoved` records received by the notification URL.
    Removed,
    /// Destination objects deleted by propagated removals (tasks that opted in).
    Deleted,
    /// Source objects compared by reconciliation passes.
    Compared,
    /// Keys reconciliation queued because the destination lacked them or differed.
    Reconciled,
}

impl StatisticKind {
    /// Every kind, in the order of the API's documentation.
    pub const ALL: [Self; 9] = [
        Self::Request,
        Self::Success,
        Self::Failure,
        Self::Skip,
        Self::Size,
        Self::Removed,
        Self::Deleted,
        Self::Compared,
        Self::Reconciled,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Skip => "SKIP",
            Self::Size => "SIZE",
            Self::Removed => "REMOVED",
            Self::Deleted => "DELETED",
            Self::Compared => "COMPARED",
            Self::Reconciled => "RECONCILED",
        }
    }

    /// Parses the wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Its value in `counters`.
    pub const fn of(self, counters: &SyncCounters) -> i64 {
        match self {
            Self::Request => counters.request,
            Self::Success => counters.success,
            Self::Failure => counters.failure,
            Self::Skip => counters.skip,
            Self::Size => counters.size,
            Self::Removed => counters.removed,
            Self::Deleted => counters.deleted,
            Self::Compared => counters.compared,
            Self::Reconciled => counters.reconciled,
        }
    }
}

/// The counters of a sync task over some time (a bucket, a month).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Keys received.
    pub request: i64,
    /// Keys copied.
    pub success: i64,
    /// Keys failed.
    pub failure: i64,
    /// Keys skipped.
    pub skip: i64,
    /// Bytes copied.
    pub size: i64,
    /// `ObjectRemoved` records received.
    pub removed: i64,
    /// Destination objects deleted by propagated removals.
    pub deleted: i64,
    /// Source objects compared by reconciliation.
    pub compared: i64,
    /// Keys queued by reconciliation.
    pub reconciled: i64,
}

impl SyncCounters {
    /// Adds `other` to these counters.
    pub fn add(&mut self, other: &Self) {
        self.request += other.request;
        self.success += other.success;
        self.failure += other.failure;
        self.skip += other.skip;
        self.size += other.size;
        self.removed += other.removed;
        self.deleted += other.deleted;
        self.compared += other.compared;
        self.reconciled += other.reconciled;
    }
}

/// Counters are kept per task in buckets of this many milliseconds (5 minutes): one row per
/// task per bucket, however many events arrive.
pub const BUCKET_MS: i64 = 5 * 60 * 1000;
/// Ranges of statistics up to this long (24 hours) come in 5-minute points; longer ones in
/// 1-hour points.
pub const FIVE_MINUTE_RANGE_MS: i64 = 24 * 60 * 60 * 1000;

/// The spacing of a statistics series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// 5-minute points (ranges up to 24 hours).
    FiveMinutes,
    /// 1-hour points (longer ranges).
    OneHour,
}

impl Granularity {
    /// The granularity of the range `start..=end` (ms).
    pub const fn of_range(start_ms: i64, end_ms: i64) -> Self {
        if end_ms - start_ms <= FIVE_MINUTE_RANGE_MS {
            Self::FiveMinutes
        } else {
            Self::OneHour
        }
    }

    /// Milliseconds between points.
    pub const fn step_ms(self) -> i64 {
        match self {
            Self::FiveMinutes => BUCKET_MS,
            Self::OneHour => 60 * 60 * 1000,
        }
    }

    /// The wire name (`statistic_time_type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FiveMinutes => "FIVE_MINUTES",
            Self::OneHour => "ONE_HOUR",
        }
    }
}

/// A statistics request, checked.
#[derive(Debug, Clone)]
pub struct StatisticsQuery {
    /// Which counters, in the order asked, without repeats.
    pub kinds: Vec<StatisticKind>,
    /// From (ms, inclusive).
    pub start_ms: i64,
    /// To (ms, inclusive).
    pub end_ms: i64,
}

/// One counter's points: (start of the interval, value).
pub type Series = Vec<(i64, i64)>;

/// The series `query` asks for, from the 5-minute `buckets` (in time order) of its range: one
/// per asked kind, in the granularity of the range, with a point for each interval that has a
/// bucket.
pub fn series(
    query: &StatisticsQuery,
    buckets: &[(i64, SyncCounters)],
) -> (Granularity, Vec<(StatisticKind, Series)>) {
    let granularity = Granularity::of_range(query.start_ms, query.end_ms);
    let step = granularity.step_ms();
    let mut intervals: Vec<(i64, SyncCounters)> = Vec::new();
    for (at, counters) in buckets {
        let start = at - at.rem_euclid(step);
        match intervals.last_mut() {
            Some((last, sum)) if *last == start => sum.add(counters),
            _ => intervals.push((start, *counters)),
        }
    }
    let out = query
        .kinds
        .iter()
        .map(|kind| {
            let points = intervals.iter().map(|(at, c)| (*at, kind.of(c))).collect();
            (*kind, points)
        })
        .collect();
    (granularity, out)
}

/// The start of the 5-minute bucket holding `at_ms`.
pub const fn bucket_of(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(BUCKET_MS)
}

/// The first millisecond of the UTC month holding `at_ms`, and of the month after it.
pub fn month_of(at_ms: i64) -> (i64, i64) {
    let days = at_ms.div_euclid(86_400_000);
    let (year, month) = civil_from_days(days);
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (
        days_from_civil(year, month, 1) * 86_400_000,
        days_from_civil(next_year, next_month, 1) * 86_400_000,
    )
}

/// Year and month of a day count since 1970-01-01 (H. Hinnant's civil calendar algorithm).
fn civil_from_days(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// The day count since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2026-02-14T12:00:00Z
        let (start, end) = month_of(1_771_070_400_000);
        assert_eq!(start, 1_769_904_000_000); // 2026-02-01
        assert_eq!(end, 1_772_323_200_000); // 2026-03-01
        let (start, end) = month_of(1_798_675_200_000); // 2026-12-31
        assert_eq!(start, 1_796_083_200_000); // 2026-12-01
        assert_eq!(end, 1_798_761_600_000); // 2027-01-01
        assert_eq!(month_of(0), (0, 31 * 86_400_000));
    }

    #[test]
    fn the_state_machine_refuses_what_oms_refuses() {
        use SyncStatus::{Stopped, Synchronizing};
        assert_eq!(sync_transition(Synchronizing, SyncVerb::Stop), Ok(Stopped));
        assert_eq!(sync_transition(Stopped, SyncVerb::Start), Ok(Synchronizing));
        let code = |s, v| sync_transition(s, v).unwrap_err().code().as_str();
        assert_eq!(code(Stopped, SyncVerb::Stop), "OMS.0066");
        assert_eq!(code(Synchronizing, SyncVerb::Start), "OMS.0065");
        assert_eq!(code(Synchronizing, SyncVerb::Delete), "OMS.0063");
        assert!(sync_transition(Stopped, SyncVerb::Delete).is_ok());
    }

    #[test]
    fn ranges_say_their_granularity() {
        assert_eq!(
            Granularity::of_range(0, FIVE_MINUTE_RANGE_MS),
            Granularity::FiveMinutes
        );
        assert_eq!(
            Granularity::of_range(0, FIVE_MINUTE_RANGE_MS + 1),
            Granularity::OneHour
        );
        assert_eq!(bucket_of(BUCKET_MS + 1), BUCKET_MS);
    }

    #[test]
    fn buckets_add_up_into_hours() {
        let c = |success| SyncCounters {
            success,
            ..SyncCounters::default()
        };
        let hour = 3_600_000;
        let buckets = [(0, c(1)), (BUCKET_MS, c(2)), (hour, c(4))];
        let query = |end_ms| StatisticsQuery {
            kinds: vec![StatisticKind::Success, StatisticKind::Skip],
            start_ms: 0,
            end_ms,
        };
        let (g, s) = series(&query(2 * FIVE_MINUTE_RANGE_MS), &buckets);
        assert_eq!(g, Granularity::OneHour);
        assert_eq!(s[0], (StatisticKind::Success, vec![(0, 3), (hour, 4)]));
        assert_eq!(s[1], (StatisticKind::Skip, vec![(0, 0), (hour, 0)]));
        let (g, s) = series(&query(hour), &buckets);
        assert_eq!(g, Granularity::FiveMinutes);
        assert_eq!(s[0].1, vec![(0, 1), (BUCKET_MS, 2), (hour, 4)]);
    }
}
