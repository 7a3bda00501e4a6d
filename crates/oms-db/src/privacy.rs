//! Acceptances of the privacy statement (`UpdatePrivacyAgreementRecord`): one row per project
//! naming who accepted it last, and when.

use oms_core::ids::ProjectId;
use oms_core::time::now_ms;
use sqlx::Row as _;

use crate::{Db, DbError};

/// The last acceptance of the privacy statement in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyAcceptance {
    /// Who accepted it: `user:<name>` or `access_key:<AK>` (never a secret).
    pub accepted_by: String,
    /// When, Unix ms.
    pub accepted_at_ms: i64,
}

impl Db {
    /// Records that `accepted_by` accepted the privacy statement for `project` now, replacing
    /// the project's earlier acceptance.
    pub async fn record_privacy_acceptance(
        &self,
        project: &ProjectId,
        accepted_by: &str,
    ) -> Result<PrivacyAcceptance, DbError> {
        let accepted_at_ms = now_ms();
        sqlx::query(
            "insert into privacy_agreements (project_id, accepted_by, accepted_at) \
             values ($1, $2, $3) on conflict (project_id) do update \
             set accepted_by = excluded.accepted_by, accepted_at = excluded.accepted_at",
        )
        .bind(project.to_string())
        .bind(accepted_by)
        .bind(accepted_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(PrivacyAcceptance {
            accepted_by: accepted_by.to_owned(),
            accepted_at_ms,
        })
    }

    /// The last acceptance of the privacy statement in `project`, if any.
    pub async fn privacy_acceptance(
        &self,
        project: &ProjectId,
    ) -> Result<Option<PrivacyAcceptance>, DbError> {
        let row = sqlx::query(
            "select accepted_by, accepted_at from privacy_agreements where project_id = $1",
        )
        .bind(project.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PrivacyAcceptance {
                accepted_by: row.try_get("accepted_by")?,
                accepted_at_ms: row.try_get("accepted_at")?,
            })
        })
        .transpose()
    }
}
