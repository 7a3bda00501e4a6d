//! oms-db's own tests, against a real database: SQLite, or PostgreSQL when
//! `OMS_TEST_DATABASE_URL` names a server (each test then gets a database of its own). The
//! same suite runs on both.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers of a test binary: a panic is a failed test"
)]

mod cas;
mod leases;
mod sync;

use std::time::Duration;

use oms_core::ids::{GroupId, ProjectId, TaskId};
use oms_core::model::{NewMigration, StartRequest};
pub use oms_core::testing::group_body as migration_body;
use oms_db::{Db, DbOptions, GroupLease, Lease, MasterKey, Sealer};
use serde_json::Value;

/// A lease long enough never to lapse during a test.
pub const LONG: Duration = Duration::from_secs(60);

/// A migrated database of its own for one test, with one project in it.
#[derive(Debug)]
pub struct TestDb {
    /// A connection as one worker process (or the API) has it.
    pub db: Db,
    /// The project the test's tasks and groups belong to.
    pub project: ProjectId,
    url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh database, migrated: a new SQLite file, or a new database on the PostgreSQL server
    /// `OMS_TEST_DATABASE_URL` names.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = oms_db::testing::fresh_database_url(dir.path(), "oms_db_it").await;
        let db = connect(&url).await;
        db.migrate().await.unwrap();
        Self {
            db,
            project: ProjectId::random(),
            url,
            _dir: dir,
        }
    }

    /// Another connection to the same database, as a second worker process has.
    pub async fn another_process(&self) -> Db {
        connect(&self.url).await
    }

    /// A new waiting task in the test's project, made from `migration_body`.
    pub async fn task(&self) -> TaskId {
        let new = oms_core::parse::create_task(from_json(migration_body())).unwrap();
        self.db.create_task(&self.project, &new).await.unwrap().id
    }

    /// `owner`'s claim of the next task, for `lease`; the test expects one to be claimable.
    pub async fn claim_task(&self, owner: &str, lease: Duration) -> Lease {
        let claim = self.db.claim_next_task(owner, lease, &[]).await;
        claim.unwrap().expect("a claimable task")
    }

    /// `owner`'s claim of the next group, for `lease`; the test expects one to be claimable.
    pub async fn claim_group(&self, owner: &str, lease: Duration) -> GroupLease {
        let claim = self.db.claim_next_group(owner, lease, &[]).await;
        claim.unwrap().expect("a claimable group")
    }

    /// A new task and a new group, claimed by `owner` for `lease`.
    pub async fn claimed(&self, owner: &str, lease: Duration) -> (Lease, GroupLease) {
        let (task, group) = (self.task().await, self.group().await);
        let task_lease = self.claim_task(owner, lease).await;
        let group_lease = self.claim_group(owner, lease).await;
        assert_eq!((task_lease.task_id, group_lease.group_id), (task, group));
        (task_lease, group_lease)
    }

    /// Whether `owner`, while it still runs the tasks and groups in `busy`, finds neither a
    /// task nor a group to claim.
    pub async fn nothing_to_claim(&self, owner: &str, busy: (&[TaskId], &[GroupId])) -> bool {
        let task = self.db.claim_next_task(owner, LONG, busy.0).await.unwrap();
        let group = self.db.claim_next_group(owner, LONG, busy.1).await.unwrap();
        task.is_none() && group.is_none()
    }

    /// A new waiting task group.
    pub async fn group(&self) -> GroupId {
        let new = oms_core::parse::create_task_group(from_json(migration_body())).unwrap();
        self.db
            .create_group(&self.project, &new)
            .await
            .unwrap()
            .group_id
    }
}

async fn connect(url: &str) -> Db {
    let sealer = Sealer::new(&MasterKey::generate().unwrap()).unwrap();
    Db::connect(url, &DbOptions::default(), sealer)
        .await
        .unwrap()
}

/// A request body as the API has it.
pub fn from_json<T: serde::de::DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).unwrap()
}

/// Fresh credentials for a start, resume or retry.
pub fn start_request() -> StartRequest {
    let new: NewMigration = oms_core::parse::create_task(from_json(migration_body())).unwrap();
    StartRequest {
        credentials: new.credentials,
        migrate_failed_objects: false,
    }
}
