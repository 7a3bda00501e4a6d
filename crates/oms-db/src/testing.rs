//! A fresh database for the tests of every crate (behind the `test-support` feature).

use std::path::Path;
use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};

/// The variable naming a PostgreSQL server for the tests; unset or empty, they run on SQLite.
pub const SERVER_VARIABLE: &str = "OMS_TEST_DATABASE_URL";

/// Whether the tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(SERVER_VARIABLE).is_ok_and(|v| !v.is_empty())
}

/// The URL of a database nobody else uses, not yet migrated: a new database named
/// `{prefix}_{uuid}` on the PostgreSQL server [`SERVER_VARIABLE`] names, else a SQLite file
/// `oms.db` in `dir` (created on first connection). The PostgreSQL database sorts text as
/// `en-US` does (ICU), close to what the servers of most installations do (a libc locale such
/// as `en_US.utf8`, the compose stack's image included), not byte by byte as a server set up
/// with the C locale would: what depends on the order of keys is tested where it differs. It
/// needs PostgreSQL 15 or later, built with ICU (Debian's is).
///
/// # Panics
/// When the PostgreSQL server named is unreachable or refuses to create a database: the test
/// environment is broken, and the test says so.
#[expect(
    clippy::expect_used,
    reason = "test support: a broken test server fails the test"
)]
pub async fn fresh_database_url(dir: &Path, prefix: &str) -> String {
    let server = std::env::var(SERVER_VARIABLE).unwrap_or_default();
    if server.is_empty() {
        return format!("sqlite://{}/oms.db", dir.display());
    }
    let options =
        PgConnectOptions::from_str(&server).expect("OMS_TEST_DATABASE_URL is a postgres:// URL");
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&options)
        .await
        .expect("OMS_TEST_DATABASE_URL must be reachable");
    admin
        .execute(AssertSqlSafe(format!(
            "create database {name} template template0 locale_provider icu icu_locale 'en-US'"
        )))
        .await
        .expect("the test server lets us create a database");
    admin.close().await.expect("a clean close");
    options.database(&name).to_url_lossy().to_string()
}
