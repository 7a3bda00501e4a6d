//! The repository error.

use oms_core::{ErrorCode, TransitionError};

/// What can go wrong in the repositories.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No such task or group in this project.
    #[error("no such resource")]
    NotFound,
    /// The verb is not allowed in the current status.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The request is refused for a reason about the stored data (not its syntax).
    #[error("{message}")]
    Refused {
        /// The OMS code to answer with.
        code: ErrorCode,
        /// The reason, in one sentence naming the task, group or field.
        message: String,
    },
    /// The row kept changing under us (another writer won every race).
    #[error("the {what} kept changing; try again")]
    Contention {
        /// What was being changed.
        what: &'static str,
    },
    /// The worker's lease on a task was taken over (or the task changed under it).
    #[error("the lease on the task was lost")]
    LeaseLost,
    /// Bad configuration (URL, key file).
    #[error("{0}")]
    Config(String),
    /// Stored data that cannot be read back.
    #[error("stored {what} is not readable: {detail}")]
    Corrupt {
        /// Which data (a task's spec, a status, sealed credentials, ...).
        what: &'static str,
        /// Why it cannot be read.
        detail: String,
    },
    /// Sealing or opening credentials failed.
    #[error("credential sealing failed: {0}")]
    Crypto(String),
    /// The database failed or cannot be reached (the cause is logged, never answered).
    #[error("database error")]
    Sqlx(#[from] sqlx::Error),
    /// A schema migration failed at start-up.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Whether the error means the database could not be reached (rather than a bug): the pool
    /// gave up or was closed, the connection broke, PostgreSQL refused or ended the session (a
    /// database closed to connections, dropped or shutting down, too many connections), or
    /// SQLite's write lock stayed taken beyond the busy timeout.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Sqlx(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => true,
            Self::Sqlx(sqlx::Error::Database(e)) => database_unavailable(e.as_ref()),
            _ => false,
        }
    }

    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// Whether a database's own error says it cannot serve now, rather than that a statement is
/// wrong.
fn database_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(pg) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // FATAL and PANIC end the session: raised when a connection is refused (the database
        // does not accept connections, does not exist, the server is starting or stopping) or
        // ended (an administrator's command, a crash). Class 08 is a connection exception;
        // 57P01-57P03 are shutdowns and "cannot connect now"; 53300 too many connections.
        return matches!(
            pg.severity(),
            sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
        ) || pg.code().starts_with("08")
            || matches!(pg.code(), "57P01" | "57P02" | "57P03" | "53300");
    }
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes: another
        // connection held the lock for longer than the busy timeout.
        return error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6));
    }
    false
}
