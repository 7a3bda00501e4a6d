//! The SQL toolkit every repository of this crate builds dynamic statements with, on SQLite
//! and PostgreSQL alike (one `$N` placeholder syntax, bound in order): values to bind, a
//! statement from SQL and binds, placeholder lists, and one page of rows with their count.
//! (sqlx's `QueryBuilder<Any>` cannot serve: `Any` arguments are not `Encode` for every
//! backend's builder.)

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use oms_core::model::Page;

use crate::{Db, DbError};

/// A statement being built, on either database.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

impl Bind {
    /// Binds the value as the next placeholder of `query`.
    pub(crate) fn bind_to(self, query: AnyQuery<'_>) -> AnyQuery<'_> {
        match self {
            Self::Text(s) => query.bind(s),
            Self::Int(i) => query.bind(i),
        }
    }
}

/// Builds `sql` with `binds` ($1, $2, ... in order).
pub(crate) fn query_with(sql: String, binds: &[Bind]) -> AnyQuery<'static> {
    binds
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), |q, b| b.clone().bind_to(q))
}

impl Db {
    /// One page of `select columns from table clause` in `order`, and the number of all rows
    /// matching `clause` (whose placeholders are `binds`). One statement does both, the count
    /// as a scalar subquery computed once: a second round trip would cost more than the count.
    pub(crate) async fn fetch_page(
        &self,
        columns: &str,
        table: &str,
        clause: &str,
        order: &str,
        mut binds: Vec<Bind>,
        page: Page,
    ) -> Result<(Vec<AnyRow>, i64), DbError> {
        let n = binds.len();
        binds.push(Bind::Int(page.limit));
        binds.push(Bind::Int(page.offset));
        let sql = format!(
            "select {columns}, (select count(*) from {table}{clause}) as matching_rows \
             from {table}{clause} order by {order} limit ${} offset ${}",
            n + 1,
            n + 2
        );
        let rows = query_with(sql, &binds).fetch_all(&self.pool).await?;
        let count = match rows.first() {
            Some(row) => row.try_get("matching_rows")?,
            None if page.offset == 0 => 0,
            // Past the end: the page says nothing about the count.
            None => query_with(
                format!("select count(*) as n from {table}{clause}"),
                &binds[..n],
            )
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?,
        };
        Ok((rows, count))
    }
}

/// `$first, $first+1, ...` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
