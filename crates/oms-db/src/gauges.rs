//! What the metrics read from the database at each scrape: tasks and task groups by status
//! (every project's), and how much of this process's connection pool is in use.

use oms_core::status::{GroupStatus, TaskStatus};
use sqlx::{AssertSqlSafe, Row as _};

use crate::rows::StatusColumn;
use crate::{Db, DbError};

/// Rows by status, as counted at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Tasks of every project by status (statuses without tasks are not listed; the hidden
    /// task a sync task copies as is not counted).
    pub tasks: Vec<(TaskStatus, i64)>,
    /// Task groups of every project by status (likewise).
    pub groups: Vec<(GroupStatus, i64)>,
}

/// The main connection pool of this process at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open and idle.
    pub idle: u32,
    /// Connections open and running a query or a transaction.
    pub in_use: u32,
    /// The most connections the pool opens (`[database] max_connections`).
    pub max: u32,
}

impl Db {
    /// Tasks and task groups by status, counted now.
    pub async fn status_counts(&self) -> Result<StatusCounts, DbError> {
        Ok(StatusCounts {
            tasks: self.count_by_status("tasks", crate::tasks::VISIBLE).await?,
            groups: self.count_by_status("task_groups", "1 = 1").await?,
        })
    }

    /// Rows of `table` that meet `only` by status (both literals of this crate).
    async fn count_by_status<S: StatusColumn>(
        &self,
        table: &'static str,
        only: &'static str,
    ) -> Result<Vec<(S, i64)>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "select status, count(*) as n from {table} where {only} group by status order by status"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((S::read(row)?, row.try_get::<i64, _>("n")?)))
            .collect()
    }

    /// How much of the main pool is in use now.
    pub fn pool_use(&self) -> PoolUse {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(open);
        PoolUse {
            idle,
            in_use: open.saturating_sub(idle),
            max: self.pool.options().get_max_connections(),
        }
    }
}
