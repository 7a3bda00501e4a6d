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
    /// Whether the error means the database could not be reached (rather than a bug).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Sqlx(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
        )
    }

    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}
