//! A sync task's notification URL, on the database side: the per-task token (random, shown
//! once, kept only as its SHA-256) and the queuing of the keys a bucket notification names.
//!
//! The token is 32 random bytes, so one unsalted SHA-256 is enough to keep it unusable if the
//! database leaks (there is nothing to guess); the comparison is constant-time all the same.

use aws_lc_rs::digest::{SHA256, digest};
use oms_core::ids::ProjectId;
use oms_core::sync::{SyncCounters, SyncStatus, SyncTaskId};
use secrecy::SecretString;
use sqlx::Row as _;

use crate::rows::StatusColumn as _;
use crate::sync::{accepts_events, queue_keys};
use crate::{Db, DbError};

/// Random bytes in a notification token.
const TOKEN_BYTES: usize = 32;

/// A fresh notification token: 32 random bytes, hex-encoded.
pub(crate) fn new_token() -> Result<SecretString, DbError> {
    let mut bytes = zeroize::Zeroizing::new([0_u8; TOKEN_BYTES]);
    aws_lc_rs::rand::fill(bytes.as_mut())
        .map_err(|_| DbError::Crypto("no system randomness".into()))?;
    Ok(SecretString::from(hex::encode(bytes.as_ref())))
}

/// What is stored of a token: its SHA-256, hex-encoded.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(digest(&SHA256, token.as_bytes()))
}

/// A sync task that a notification was authenticated for.
#[derive(Debug, Clone)]
pub struct NotificationTarget {
    /// The sync task.
    pub id: SyncTaskId,
    /// Its status (a stopped task refuses the keys, as `events` does).
    pub status: SyncStatus,
    /// Its source bucket: records for other buckets are ignored.
    pub src_bucket: String,
    /// Whether its `ObjectRemoved` records are queued (to delete at the destination).
    pub propagate_deletions: bool,
}

impl Db {
    /// The sync task `id` of `project` if `token` is its notification token;
    /// [`DbError::NotFound`] when there is no such task or the token is not its own (the two are
    /// not told apart: the caller is not authenticated yet).
    pub async fn notification_target(
        &self,
        project: &ProjectId,
        id: SyncTaskId,
        token: &str,
    ) -> Result<NotificationTarget, DbError> {
        let row = sqlx::query(
            "select status, spec, notify_token_hash, propagate_deletions from sync_tasks \
             where sync_task_id = $1 and project_id = $2",
        )
        .bind(id.to_string())
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let given = token_hash(token);
        let Some(row) = row else {
            return Err(DbError::NotFound);
        };
        let stored: Option<String> = row.try_get("notify_token_hash")?;
        let matches = stored.is_some_and(|stored| {
            aws_lc_rs::constant_time::verify_slices_are_equal(stored.as_bytes(), given.as_bytes())
                .is_ok()
        });
        if !matches {
            return Err(DbError::NotFound);
        }
        let spec: String = row.try_get("spec")?;
        let spec: oms_core::spec::MigrationSpec = crate::rows::spec(&spec)?;
        Ok(NotificationTarget {
            id,
            status: SyncStatus::read(&row)?,
            src_bucket: spec.source.bucket,
            propagate_deletions: row.try_get::<i64, _>("propagate_deletions")? != 0,
        })
    }

    /// Queues the `created` keys of an authenticated notification for `target` and counts them
    /// as received (REQUEST); `removed` keys are counted (REMOVED), and queued as removals
    /// only when the task propagates deletions. Refused (OMS.0066) when the task is stopped, as
    /// `events` are. Both kinds go in one transaction, in document order by kind: a key both
    /// created and removed in one document is left as a removal (the worker's HEAD of the
    /// source decides anyway).
    pub async fn add_notified_keys(
        &self,
        target: &NotificationTarget,
        created: &[String],
        removed: &[String],
    ) -> Result<(), DbError> {
        let _wake = self.wake_on_exit();
        accepts_events(target.status)?;
        let received = SyncCounters {
            request: i64::try_from(created.len()).unwrap_or(i64::MAX),
            removed: i64::try_from(removed.len()).unwrap_or(i64::MAX),
            ..SyncCounters::default()
        };
        let mut tx = self.begin().await?;
        queue_keys(&mut tx, target.id, created, false, &received).await?;
        if target.propagate_deletions {
            queue_keys(&mut tx, target.id, removed, true, &SyncCounters::default()).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
