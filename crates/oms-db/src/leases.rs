//! Leases: how a worker holds a row of a leased table (a task it runs, a task group it splits)
//! while it works on it. A claim takes a row nobody holds (or whose holder's lease expired) in
//! one statement and gives it an owner, a new epoch and an expiry on the database clock; the
//! holder renews it every heartbeat, on its own pool; every write the holder makes is fenced
//! with `owner = ? and epoch = ?`, and zero rows means the lease was lost and the work must stop.
//!
//! One implementation serves every leased table. A table joins by implementing [`Leased`] on
//! its lease type — its table and id column, which statuses a claim takes, what a renewal reads
//! back — and by named methods on `Db` over [`Db::claim`], [`Db::renew`] and [`Db::end_claim`]
//! (`claim_next_task`, `renew_group_lease`, ...).

use std::time::Duration;

use oms_core::ids::{GroupId, TaskId};
use oms_core::model::FailureReason;
use oms_core::status::{
    GroupEvent, GroupStatus, TaskEvent, TaskStatus, TaskTransition, group_transition,
    task_transition,
};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use crate::cas::{Cas, Contended, with_cas};
use crate::notify::{self, Subject, Trigger};
use crate::rows::{self, StatusColumn};
use crate::runs::LeaseState;
use crate::sealed::{self, CredentialOwner};
use crate::sql::{AnyQuery, Bind, placeholders, query_with};
use crate::{Backend, Db, DbError};

/// A claimed task: only the holder of the current epoch may write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The task claimed.
    pub task_id: TaskId,
    /// The worker holding it.
    pub owner: String,
    /// The claim's epoch.
    pub epoch: i64,
}

/// A claimed group: only the holder of the current epoch may add tasks to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLease {
    /// The group claimed.
    pub group_id: GroupId,
    /// The worker holding it.
    pub owner: String,
    /// The claim's epoch.
    pub epoch: i64,
}

/// Who holds a lease: what a fenced statement binds.
#[derive(Debug)]
pub(crate) struct Holder<'a, Id> {
    pub(crate) id: Id,
    pub(crate) owner: &'a str,
    pub(crate) epoch: i64,
}

/// Which rows of a leased table a claim takes.
#[derive(Debug)]
pub(crate) struct ClaimRule<S> {
    /// The status a claimed row gets.
    pub(crate) claimed: S,
    /// Statuses nobody holds a row in: claimable at once.
    pub(crate) free: Vec<S>,
    /// Statuses a holder keeps: claimable once the lease is missing or expired (its worker
    /// died).
    pub(crate) held: Vec<S>,
}

/// The id of a leased row, as bound and read back.
pub(crate) trait RowId: Copy + Into<CredentialOwner> + std::fmt::Display {
    /// The id as a statement binds it.
    fn bind(self) -> Bind;

    /// Reads the id from `column` of `row`.
    fn read(row: &AnyRow, column: &str) -> Result<Self, DbError>;
}

/// The lease on a row of a leased table (see the module's documentation).
pub(crate) trait Leased: Sized {
    /// The leased row's id.
    type Id: RowId;
    /// The row's status.
    type Status: StatusColumn;
    /// What a renewal reads back: what the holder follows while it works (the status says
    /// when to stop).
    type Renewal;

    /// The table the leased rows live in.
    const TABLE: &'static str;
    /// The table's id column.
    const ID_COLUMN: &'static str;
    /// The order claims take rows in.
    const CLAIM_ORDER: &'static str;
    /// The columns a renewal returns, for [`Leased::renewal`].
    const RENEWAL_COLUMNS: &'static str;
    /// A further condition on the rows a claim takes (` and ...`, over `{TABLE}`'s columns).
    const CLAIM_FILTER: &'static str = "";
    /// Whether claims share the workers fairly between projects: the project with the fewest
    /// rows held now goes first, then the one served least recently (before
    /// [`Leased::CLAIM_ORDER`]), and no project holds more than the database's per-project cap.
    const FAIR_BY_PROJECT: bool = false;

    /// The lease a claim of row `id` gave `owner`.
    fn claimed(id: Self::Id, owner: &str, epoch: i64) -> Self;

    /// The id, owner and epoch that fence this lease's writes.
    fn holder(&self) -> Holder<'_, Self::Id>;

    /// Which rows a claim takes.
    fn claim_rule() -> Result<ClaimRule<Self::Status>, DbError>;

    /// Reads a renewal's answer from the row it returned.
    fn renewal(row: &AnyRow) -> Result<Self::Renewal, DbError>;

    /// The notification a run ending in `to` sends, if any (written with the status change).
    fn notifies(&self, to: Self::Status) -> Option<(Subject, Bind, String, Trigger)> {
        let _ = to;
        None
    }

    /// The condition every statement of the holder carries: `id = $first and lease_owner =
    /// $first+1 and lease_epoch = $first+2`, bound by [`Fenced::bind_fence`].
    fn fence(first: usize) -> String {
        format!(
            "{} = ${first} and lease_owner = ${} and lease_epoch = ${}",
            Self::ID_COLUMN,
            first + 1,
            first + 2
        )
    }
}

/// Binding a lease's fence.
pub(crate) trait Fenced {
    /// Binds the id, owner and epoch of `lease`, in the order of [`Leased::fence`].
    fn bind_fence<L: Leased>(self, lease: &L) -> Self;
}

impl Fenced for AnyQuery<'_> {
    fn bind_fence<L: Leased>(self, lease: &L) -> Self {
        let holder = lease.holder();
        holder
            .id
            .bind()
            .bind_to(self)
            .bind(holder.owner)
            .bind(holder.epoch)
    }
}

impl Backend {
    /// The database clock in Unix milliseconds, as SQL.
    pub(crate) const fn now_ms_sql(self) -> &'static str {
        match self {
            Self::Sqlite => "cast((julianday('now') - 2440587.5) * 86400000.0 as integer)",
            Self::Postgres => "cast(extract(epoch from clock_timestamp()) * 1000 as bigint)",
        }
    }

    /// Row locking for a claim's sub-select (SQLite has one writer and needs none).
    pub(crate) const fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " for update skip locked",
        }
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A claim's exclusion of the ids its caller is still running: ` and {column} not in ($first,
/// ...)` for `n` ids, nothing for none.
fn excluding(column: &str, first: usize, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" and {column} not in ({})", placeholders(first, n))
    }
}

/// The codes of `statuses`, for an `in (...)` list (`null`, which matches nothing, for none).
fn codes<S: StatusColumn>(statuses: &[S]) -> String {
    if statuses.is_empty() {
        return "null".to_owned();
    }
    statuses
        .iter()
        .map(|s| s.code().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Claims the next row of `L`'s table that nobody holds (see [`ClaimRule`]), in
    /// [`Leased::CLAIM_ORDER`], for `owner` for `duration`. Rows in `busy` (those the caller is
    /// still working on, whose lease may have lapsed while its heartbeat was late) are left
    /// alone: claiming one again would start a second run beside the first.
    pub(crate) async fn claim<L: Leased>(
        &self,
        owner: &str,
        duration: Duration,
        busy: &[L::Id],
    ) -> Result<Option<L>, DbError> {
        let wrote = self.wrote_on_exit();
        let now = self.backend.now_ms_sql();
        let rule = L::claim_rule()?;
        let (fair_order, fair_filter) = if L::FAIR_BY_PROJECT {
            // Rows of the same project held now (under a live lease).
            let held = format!(
                "(select count(*) from {table} r where r.project_id = {table}.project_id \
                 and r.status in ({held}) and r.lease_expires_at > {now})",
                table = L::TABLE,
                held = codes(&rule.held),
            );
            let cap = match self.running_cap_per_project {
                Some(cap) => format!(" and {held} < {cap}"),
                None => String::new(),
            };
            // Then the project served least recently (whose newest task started longest
            // ago; one that never ran first): round robin between projects.
            let served = format!(
                "coalesce((select max(s.start_time) from {table} s \
                 where s.project_id = {table}.project_id), 0)",
                table = L::TABLE,
            );
            (format!("{held}, {served}, "), cap)
        } else {
            (String::new(), String::new())
        };
        let sql = format!(
            "update {table} set status = {claimed}, lease_owner = $1, lease_epoch = lease_epoch + 1, \
             taken_over_from = coalesce(lease_owner, ''), \
             lease_expires_at = {now} + $2, \
             start_time = case when start_time = 0 then {now} else start_time end, \
             status_time = {now}, updated_time = {now} \
             where {id} = (select {id} from {table} where (status in ({free}) \
                 or (status in ({held}) and (lease_expires_at is null or lease_expires_at < {now}))){filter}{fair_filter}{busy} \
                 order by {fair_order}{order} limit 1{lock}) \
             returning {id}, lease_epoch, taken_over_from",
            table = L::TABLE,
            id = L::ID_COLUMN,
            claimed = rule.claimed.code(),
            free = codes(&rule.free),
            held = codes(&rule.held),
            filter = L::CLAIM_FILTER.replace("{now}", now),
            busy = excluding(L::ID_COLUMN, 3, busy.len()),
            order = L::CLAIM_ORDER,
            lock = self.backend.skip_locked(),
        );
        let binds: Vec<Bind> = [
            Bind::Text(owner.to_owned()),
            Bind::Int(duration_ms(duration)),
        ]
        .into_iter()
        .chain(busy.iter().map(|id| id.bind()))
        .collect();
        let row = query_with(sql, &binds).fetch_optional(&self.pool).await?;
        let Some(row) = row else {
            wrote.nothing_written();
            return Ok(None);
        };
        let id = L::Id::read(&row, L::ID_COLUMN)?;
        let previous: String = row.try_get("taken_over_from")?;
        if !previous.is_empty() {
            tracing::warn!(
                table = L::TABLE,
                id = %id,
                previous_worker = %previous,
                "taking over work whose worker stopped renewing its lease"
            );
        }
        Ok(Some(L::claimed(id, owner, row.try_get("lease_epoch")?)))
    }

    /// Extends `lease` by `duration` on the database clock; returns what the holder follows
    /// (see [`Leased::Renewal`]), or [`DbError::LeaseLost`]. Runs on the heartbeat pool.
    pub(crate) async fn renew<L: Leased>(
        &self,
        lease: &L,
        duration: Duration,
    ) -> Result<L::Renewal, DbError> {
        let now = self.backend.now_ms_sql();
        let sql = format!(
            "update {} set lease_expires_at = {now} + $1 where {} returning {}",
            L::TABLE,
            L::fence(2),
            L::RENEWAL_COLUMNS
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(duration_ms(duration))
            .bind_fence(lease)
            .fetch_optional(&self.heartbeats)
            .await?
            .ok_or(DbError::LeaseLost)?;
        L::renewal(&row)
    }

    /// Ends the holder's claim: moves the row from its status to `decide(status)`, records
    /// `failure` (or clears it), sets `also_set` (`, column = value...`) and lets go of the
    /// lease, in one write fenced by the lease and conditional on the status read; returns the
    /// new status. The credentials are erased when the new status no longer needs them.
    pub(crate) async fn end_claim<L: Leased>(
        &self,
        lease: &L,
        decide: impl Fn(L::Status) -> Result<L::Status, DbError>,
        failure: Option<&FailureReason>,
        also_set: &str,
    ) -> Result<L::Status, DbError> {
        let now = self.backend.now_ms_sql();
        let table = L::TABLE;
        let read = format!("select status from {table} where {}", L::fence(1));
        let write = format!(
            "update {table} set status = $1, error_code = $2, error_msg = $3, lease_owner = null, \
             lease_expires_at = null, status_time = {now}, updated_time = {now}{also_set} \
             where {} and status = $7",
            L::fence(4)
        );
        let (read, write, decide) = (&read, &write, &decide);
        // The status can change between the read and the write (a stop arriving as the run
        // ends): the write then matches nothing, and the transition is decided again.
        with_cas(Contended::Lease, || async move {
            let row = sqlx::query(AssertSqlSafe(read.clone()))
                .bind_fence(lease)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(DbError::LeaseLost)?;
            let from = L::Status::read(&row)?;
            let to = decide(from)?;
            let mut tx = self.begin().await?;
            let updated = sqlx::query(AssertSqlSafe(write.clone()))
                .bind(to.code())
                .bind(failure.map(|f| f.code.clone()))
                .bind(failure.map(|f| f.message.clone()))
                .bind_fence(lease)
                .bind(from.code())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated != 1 {
                return Ok(Cas::Retry);
            }
            if !to.needs_credentials() {
                sealed::wipe(&mut tx, lease.holder().id.into(), &self.erasures).await?;
            }
            if let Some((subject, id, owner_id, trigger)) = lease.notifies(to) {
                notify::enqueue(&mut tx, subject, id, owner_id, trigger).await?;
            }
            tx.commit().await?;
            Ok(Cas::Done(to))
        })
        .await
    }
}

// The leased tables.

impl RowId for TaskId {
    fn bind(self) -> Bind {
        Bind::Int(self.get())
    }

    fn read(row: &AnyRow, column: &str) -> Result<Self, DbError> {
        let id: i64 = row.try_get(column)?;
        Self::new(id).ok_or(DbError::Corrupt {
            what: "task id",
            detail: id.to_string(),
        })
    }
}

/// [`RowId`] for an id stored as its text, read back with its `parse`.
macro_rules! text_row_id {
    ($id:ty, $what:literal) => {
        impl RowId for $id {
            fn bind(self) -> Bind {
                Bind::Text(self.to_string())
            }

            fn read(row: &AnyRow, column: &str) -> Result<Self, DbError> {
                let id: String = row.try_get(column)?;
                Self::parse(&id).ok_or(DbError::Corrupt {
                    what: $what,
                    detail: id,
                })
            }
        }
    };
}

text_row_id!(GroupId, "group id");
text_row_id!(oms_core::sync::SyncTaskId, "sync task id");

/// Tasks: a worker runs one under its lease.
impl Leased for Lease {
    type Id = TaskId;
    type Status = TaskStatus;
    type Renewal = LeaseState;

    const TABLE: &'static str = "tasks";
    const ID_COLUMN: &'static str = "id";
    const CLAIM_ORDER: &'static str = "priority, create_time";
    const RENEWAL_COLUMNS: &'static str = "status, bandwidth_policy";
    const FAIR_BY_PROJECT: bool = true;

    fn claimed(task_id: TaskId, owner: &str, epoch: i64) -> Self {
        Self {
            task_id,
            owner: owner.to_owned(),
            epoch,
        }
    }

    fn notifies(&self, to: TaskStatus) -> Option<(Subject, Bind, String, Trigger)> {
        let trigger = match to {
            TaskStatus::Succeeded => Trigger::Success,
            TaskStatus::Failed => Trigger::Failure,
            _ => return None,
        };
        let id = self.task_id;
        Some((Subject::Task, Bind::Int(id.get()), id.to_string(), trigger))
    }

    fn holder(&self) -> Holder<'_, TaskId> {
        Holder {
            id: self.task_id,
            owner: &self.owner,
            epoch: self.epoch,
        }
    }

    /// By the state machine: the statuses a claim applies to, held ones (running, retrying)
    /// only once their lease expired.
    fn claim_rule() -> Result<ClaimRule<TaskStatus>, DbError> {
        let TaskTransition::To(claimed) = task_transition(TaskStatus::Waiting, TaskEvent::Claim)?
        else {
            return Err(DbError::LeaseLost);
        };
        let claimable = |held: bool| {
            TaskStatus::ALL
                .into_iter()
                .filter(|s| s.is_active() == held)
                .filter(|s| task_transition(*s, TaskEvent::Claim).is_ok())
                .collect()
        };
        Ok(ClaimRule {
            claimed,
            free: claimable(false),
            held: claimable(true),
        })
    }

    fn renewal(row: &AnyRow) -> Result<LeaseState, DbError> {
        let policy: String = row.try_get("bandwidth_policy")?;
        Ok(LeaseState {
            status: TaskStatus::read(row)?,
            bandwidth_policy: rows::policy(&policy)?,
        })
    }
}

/// Task groups: a worker's splitter cuts one into tasks under its lease.
impl Leased for GroupLease {
    type Id = GroupId;
    type Status = GroupStatus;
    type Renewal = GroupStatus;

    const TABLE: &'static str = "task_groups";
    const ID_COLUMN: &'static str = "group_id";
    const CLAIM_ORDER: &'static str = "create_time";
    const RENEWAL_COLUMNS: &'static str = "status";

    fn claimed(group_id: GroupId, owner: &str, epoch: i64) -> Self {
        Self {
            group_id,
            owner: owner.to_owned(),
            epoch,
        }
    }

    fn notifies(&self, to: GroupStatus) -> Option<(Subject, Bind, String, Trigger)> {
        // A split ends the group only when the tasks cannot be created.
        (to == GroupStatus::CreationFailed).then(|| {
            let id = self.group_id.to_string();
            (Subject::Group, Bind::Text(id.clone()), id, Trigger::Failure)
        })
    }

    fn holder(&self) -> Holder<'_, GroupId> {
        Holder {
            id: self.group_id,
            owner: &self.owner,
            epoch: self.epoch,
        }
    }

    /// Waiting groups, and groups being split whose splitter's lease lapsed or whose splitter
    /// let go before the end (a shutdown).
    fn claim_rule() -> Result<ClaimRule<GroupStatus>, DbError> {
        let claimed = group_transition(GroupStatus::Waiting, GroupEvent::Claim)?;
        Ok(ClaimRule {
            claimed,
            free: vec![GroupStatus::Waiting],
            held: vec![claimed],
        })
    }

    fn renewal(row: &AnyRow) -> Result<GroupStatus, DbError> {
        GroupStatus::read(row)
    }
}
