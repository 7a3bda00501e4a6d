//! The notification outbox: a row per event (a task or group that completed or failed),
//! written in the transaction of the status change that causes it, so a worker killed right
//! after a task ends loses no notification. Any worker claims due rows (with an expiry, so a
//! killed deliverer's row comes back), delivers them, and records the outcome on the row and on
//! the task or group (`smn_info.notify_result`, `notify_error_message`).

use oms_core::ids::{GroupId, ProjectId, TaskId};
use oms_core::time::now_ms;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::sql::Bind;
use crate::{Db, DbError};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A task.
    Task,
    /// A task group.
    Group,
}

impl Subject {
    /// Its name in the outbox and in webhook bodies.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Group => "group",
        }
    }

    /// The table and id column of its rows.
    const fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::Task => ("tasks", "id"),
            Self::Group => ("task_groups", "group_id"),
        }
    }
}

/// The trigger condition an event meets (`smn_config.trigger_conditions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// It completed.
    Success,
    /// It failed.
    Failure,
}

impl Trigger {
    /// The OMS name (`SUCCESS`, `FAILURE`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|t| t.as_str() == raw)
    }
}

/// A claimed notification, to be delivered.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Its id: the event id receivers deduplicate by.
    pub id: i64,
    /// The project of what it is about.
    pub project_id: ProjectId,
    /// What it is about.
    pub subject: Subject,
    /// The task id (digits) or group id (UUID).
    pub owner_id: String,
    /// The condition met.
    pub trigger: Trigger,
    /// Deliveries tried before this one.
    pub attempts: i64,
    /// When the event happened, Unix ms.
    pub created_at_ms: i64,
}

/// What became of a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every receiver accepted it.
    Sent,
    /// Nothing is to be sent (no notification settings, another trigger, no receiver): the
    /// reason is recorded when it is worth telling (`Some`).
    NotSent(Option<String>),
    /// It failed; tried again at `retry_at_ms`, or never again (`None`: the error stands).
    Failed {
        /// Why, in one sentence.
        error: String,
        /// When to try again.
        retry_at_ms: Option<i64>,
    },
}

/// Adds a notification of `subject` row `id` (`owner_id` as text) to the outbox, on `conn`
/// (inside the transaction of the status change).
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    subject: Subject,
    id: Bind,
    owner_id: String,
    trigger: Trigger,
) -> Result<(), DbError> {
    let (table, column) = subject.table();
    // The tasks of a group tell nothing of their own: the group notifies once, as OMS does.
    let alone = match subject {
        Subject::Task => " and group_id is null",
        Subject::Group => "",
    };
    let now = now_ms();
    let sql = format!(
        "insert into notifications (project_id, owner_kind, owner_id, event, created_at, next_attempt_at) \
         select project_id, $1, $2, $3, $4, $4 from {table} where {column} = $5{alone}"
    );
    let query = sqlx::query(AssertSqlSafe(sql))
        .bind(subject.as_str())
        .bind(owner_id)
        .bind(trigger.as_str())
        .bind(now);
    id.bind_to(query).execute(conn).await?;
    Ok(())
}

/// Adds a notification of group `id` to the outbox, on `conn`.
pub(crate) async fn enqueue_group(
    conn: &mut AnyConnection,
    id: GroupId,
    trigger: Trigger,
) -> Result<(), DbError> {
    let owner = id.to_string();
    enqueue(
        conn,
        Subject::Group,
        Bind::Text(owner.clone()),
        owner,
        trigger,
    )
    .await
}

/// Adds a notification of task `id` to the outbox, on `conn` (none for a task of a group).
pub(crate) async fn enqueue_task(
    conn: &mut AnyConnection,
    id: TaskId,
    trigger: Trigger,
) -> Result<(), DbError> {
    enqueue(
        conn,
        Subject::Task,
        Bind::Int(id.get()),
        id.to_string(),
        trigger,
    )
    .await
}

impl Db {
    /// Claims the oldest due notification for `owner` until `lease_ms` from now (a row whose
    /// claim expired is due again).
    pub async fn claim_notification(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<Notification>, DbError> {
        let now = now_ms();
        let due = "done_at is null and next_attempt_at <= $3 \
                   and (lease_owner is null or lease_expires_at < $3)";
        let sql = format!(
            "update notifications set lease_owner = $1, lease_expires_at = $2 \
             where id = (select id from notifications where {due} order by id limit 1) and {due} \
             returning id, project_id, owner_kind, owner_id, event, attempts, created_at"
        );
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |what: &'static str, detail: String| DbError::Corrupt { what, detail };
        let project: String = row.try_get("project_id")?;
        let kind: String = row.try_get("owner_kind")?;
        let event: String = row.try_get("event")?;
        Ok(Some(Notification {
            id: row.try_get("id")?,
            project_id: ProjectId::parse(&project)
                .ok_or_else(|| corrupt("notification project", project.clone()))?,
            subject: match kind.as_str() {
                "task" => Subject::Task,
                "group" => Subject::Group,
                _ => return Err(corrupt("notification subject", kind)),
            },
            owner_id: row.try_get("owner_id")?,
            trigger: Trigger::parse(&event).ok_or_else(|| corrupt("notification event", event))?,
            attempts: row.try_get("attempts")?,
            created_at_ms: row.try_get("created_at")?,
        }))
    }

    /// Records what became of `notification` (claimed by `owner`): on the outbox row, and — when
    /// something was attempted — on its task or group.
    pub async fn finish_notification(
        &self,
        notification: &Notification,
        owner: &str,
        delivery: &Delivery,
    ) -> Result<(), DbError> {
        let _wrote = self.wrote_on_exit();
        let now = now_ms();
        let (done_at, next, error) = match delivery {
            Delivery::Sent => (Some(now), now, None),
            Delivery::NotSent(reason) => (Some(now), now, reason.clone()),
            Delivery::Failed { error, retry_at_ms } => (
                retry_at_ms.is_none().then_some(now),
                retry_at_ms.unwrap_or(now),
                Some(error.clone()),
            ),
        };
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "update notifications set attempts = attempts + 1, done_at = $1, next_attempt_at = $2, \
             last_error = $3, lease_owner = null, lease_expires_at = null where id = $4 and lease_owner = $5",
        )
        .bind(done_at)
        .bind(next)
        .bind(error.clone())
        .bind(notification.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            // Its claim expired and another worker has it now.
            return Err(DbError::LeaseLost);
        }
        let outcome = match delivery {
            Delivery::Sent => Some((1_i64, String::new())),
            Delivery::NotSent(Some(reason)) => Some((0, reason.clone())),
            Delivery::NotSent(None) => None,
            Delivery::Failed { error, .. } => Some((0, error.clone())),
        };
        if let Some((sent, error)) = outcome {
            let (table, column) = notification.subject.table();
            let id = match notification.subject {
                Subject::Task => {
                    Bind::Int(
                        notification
                            .owner_id
                            .parse()
                            .map_err(|_| DbError::Corrupt {
                                what: "notification task id",
                                detail: notification.owner_id.clone(),
                            })?,
                    )
                }
                Subject::Group => Bind::Text(notification.owner_id.clone()),
            };
            let sql = format!(
                "update {table} set notify_result = $1, notify_error = $2, updated_time = $3 where {column} = $4"
            );
            let query = sqlx::query(AssertSqlSafe(sql))
                .bind(sent)
                .bind(error)
                .bind(now);
            id.bind_to(query).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
