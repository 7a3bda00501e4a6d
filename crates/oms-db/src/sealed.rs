//! Sealed credentials: stored only encrypted, only while their owner needs them.

use oms_core::credentials::CredentialSet;
use oms_core::ids::{GroupId, TaskId};
use oms_core::sync::SyncTaskId;
use oms_core::time::now_ms;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{AnyConnection, Row as _};

use crate::{Db, DbError, Sealer};

/// Whose credentials a sealed row holds: one task's, or one group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialOwner {
    /// A task started on its own (or a group task started alone).
    Task(TaskId),
    /// A task group (its tasks use these).
    Group(GroupId),
    /// A sync task, while it synchronizes.
    SyncTask(SyncTaskId),
}

impl From<SyncTaskId> for CredentialOwner {
    fn from(id: SyncTaskId) -> Self {
        Self::SyncTask(id)
    }
}

impl From<TaskId> for CredentialOwner {
    fn from(id: TaskId) -> Self {
        Self::Task(id)
    }
}

impl From<GroupId> for CredentialOwner {
    fn from(id: GroupId) -> Self {
        Self::Group(id)
    }
}

impl CredentialOwner {
    fn kind(self) -> &'static str {
        match self {
            Self::Task(_) => "task",
            Self::Group(_) => "group",
            Self::SyncTask(_) => "sync_task",
        }
    }

    fn id(self) -> String {
        match self {
            Self::Task(id) => id.to_string(),
            Self::Group(id) => id.to_string(),
            Self::SyncTask(id) => id.to_string(),
        }
    }

    /// Associated data binding a ciphertext to its owner.
    fn aad(self) -> String {
        format!("oms-credentials:{}:{}", self.kind(), self.id())
    }
}

/// Seals `credentials` and stores them for `owner`, replacing what was there.
pub(crate) async fn store(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    owner: CredentialOwner,
    credentials: &CredentialSet,
) -> Result<(), DbError> {
    let plain = credentials.to_plain_json();
    let (nonce, ciphertext) = sealer.seal(&owner.aad(), &plain)?;
    sqlx::query(
        "insert into credentials (owner_kind, owner_id, nonce, ciphertext, created_time) values ($1, $2, $3, $4, $5) \
         on conflict (owner_kind, owner_id) do update set nonce = excluded.nonce, \
         ciphertext = excluded.ciphertext, created_time = excluded.created_time",
    )
    .bind(owner.kind())
    .bind(owner.id())
    .bind(nonce)
    .bind(ciphertext)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts `rows` credential rows erased by a statement of this crate in `erasures` (the
/// database's count, which [`Db::scrub_erased`] watches).
pub(crate) fn erased(rows: u64, erasures: &AtomicU64) {
    if rows > 0 {
        erasures.fetch_add(1, Ordering::SeqCst);
    }
}

/// Removes `owner`'s credentials.
pub(crate) async fn wipe(
    conn: &mut AnyConnection,
    owner: CredentialOwner,
    erasures: &AtomicU64,
) -> Result<(), DbError> {
    let done = sqlx::query("delete from credentials where owner_kind = $1 and owner_id = $2")
        .bind(owner.kind())
        .bind(owner.id())
        .execute(conn)
        .await?;
    erased(done.rows_affected(), erasures);
    Ok(())
}

/// Removes the credentials of the tasks of `group` that no longer need them (a group task
/// only has its own when it was started on its own).
pub(crate) async fn wipe_idle_group_tasks(
    conn: &mut AnyConnection,
    group: GroupId,
    erasures: &AtomicU64,
) -> Result<(), DbError> {
    let done = sqlx::query(
        "delete from credentials where owner_kind = 'task' and owner_id in \
         (select cast(id as text) from tasks where group_id = $1 and status in (3, 4, 5))",
    )
    .bind(group.to_string())
    .execute(conn)
    .await?;
    erased(done.rows_affected(), erasures);
    Ok(())
}

impl Db {
    /// The credentials stored for `owner`, decrypted; `None` when none are stored.
    pub async fn load_credentials(
        &self,
        owner: CredentialOwner,
    ) -> Result<Option<CredentialSet>, DbError> {
        let row = sqlx::query(
            "select nonce, ciphertext from credentials where owner_kind = $1 and owner_id = $2",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let nonce: Vec<u8> = row.try_get("nonce")?;
        let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
        let plain = self.sealer.open(&owner.aad(), &nonce, &ciphertext)?;
        CredentialSet::from_plain_json(&plain)
            .map(Some)
            .map_err(|e| DbError::Corrupt {
                what: "credentials",
                detail: e.to_string(),
            })
    }
}
