//! Leases on tasks and task groups: claims, renewals and fencing.

use std::collections::HashSet;
use std::time::Duration;

use oms_core::model::{FailureReason, NewMigration, Progress};
use oms_core::status::{GroupEvent, GroupStatus, TaskEvent, TaskStatus};
use oms_db::{DbError, NewGroupTask};
use tokio::task::JoinSet;

use crate::{LONG, TestDb, migration_body};

/// Lapses while the test sleeps [`PAST_SHORT`].
const SHORT: Duration = Duration::from_millis(50);
const PAST_SHORT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_claimers_never_get_the_same_task_or_group() {
    let t = TestDb::new().await;
    let mut created = HashSet::new();
    for _ in 0..4 {
        created.insert(t.task().await.to_string());
        created.insert(t.group().await.to_string());
    }
    let other_process = t.another_process().await;

    // Twelve claimers in two processes, each asking for a group and then a task, all at once.
    let mut claimers = JoinSet::new();
    for n in 0..12 {
        let db = if n % 2 == 0 {
            t.db.clone()
        } else {
            other_process.clone()
        };
        claimers.spawn(async move {
            let owner = format!("worker-{n}");
            let group = db.claim_next_group(&owner, LONG, &[]).await.unwrap();
            let task = db.claim_next_task(&owner, LONG, &[]).await.unwrap();
            [
                group.map(|l| (l.group_id.to_string(), l.owner, l.epoch)),
                task.map(|l| (l.task_id.to_string(), l.owner, l.epoch)),
            ]
        });
    }
    let claims: Vec<_> = claimers
        .join_all()
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect();

    let claimed: HashSet<_> = claims.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(claims.len(), 8, "one claim per row: {claims:?}");
    assert_eq!(claimed, created);
    assert!(claims.iter().all(|(_, _, epoch)| *epoch == 1), "{claims:?}");
}

#[tokio::test]
async fn a_renewal_by_a_fenced_holder_fails_with_lease_lost() {
    let t = TestDb::new().await;
    let id = t.task().await;
    let first = t.claim_task("w1", SHORT).await;
    tokio::time::sleep(PAST_SHORT).await;
    let second = t.claim_task("w2", LONG).await;
    assert_eq!(second.task_id, id);

    assert!(matches!(
        t.db.renew_lease(&first, LONG).await,
        Err(DbError::LeaseLost)
    ));
    // Even with the owner's name: the epoch fences.
    let same_owner_old_epoch = oms_db::Lease {
        owner: "w2".into(),
        ..first
    };
    assert!(matches!(
        t.db.renew_lease(&same_owner_old_epoch, LONG).await,
        Err(DbError::LeaseLost)
    ));
    let state = t.db.renew_lease(&second, LONG).await.unwrap();
    assert_eq!(state.status, TaskStatus::Running);
}

/// A task or group whose lease lapsed is claimed again with a higher epoch, but not by a worker
/// that says it is still running it (its heartbeat was late): that would start a second run
/// beside the first.
#[tokio::test]
async fn an_expired_lease_is_claimed_again_with_a_higher_epoch() {
    let t = TestDb::new().await;
    let (task_lease, group_lease) = t.claimed("w", SHORT).await;
    let (task, group) = (task_lease.task_id, group_lease.group_id);
    assert!(t.nothing_to_claim("w2", (&[], &[])).await);
    tokio::time::sleep(PAST_SHORT).await;

    assert!(t.nothing_to_claim("w", (&[task], &[group])).await);
    // The first run's late heartbeat still lands: nobody took the lease over.
    t.db.renew_lease(&task_lease, LONG).await.unwrap();
    assert!(
        t.db.claim_next_task("w2", LONG, &[])
            .await
            .unwrap()
            .is_none()
    );

    // Another worker takes a lapsed lease over, one epoch up, and fences the old holder out.
    let group_again = t.claim_group("w2", LONG).await;
    assert_eq!(group_again.group_id, group);
    assert_eq!(group_again.epoch, group_lease.epoch + 1);
    assert!(matches!(
        t.db.renew_group_lease(&group_lease, LONG).await,
        Err(DbError::LeaseLost)
    ));
    assert_eq!(
        t.db.renew_group_lease(&group_again, LONG).await.unwrap(),
        GroupStatus::CreatingTasks
    );
}

#[tokio::test]
async fn a_finish_by_a_lost_lease_writes_nothing() {
    let t = TestDb::new().await;
    let (old_task, old_group) = t.claimed("w1", SHORT).await;
    let (task, group) = (old_task.task_id, old_group.group_id);
    tokio::time::sleep(PAST_SHORT).await;
    let new_task = t.claim_task("w2", LONG).await;
    let new_group = t.claim_group("w2", LONG).await;

    // The old holder of the task: its progress, parts and end are all refused.
    let mut progress = Progress::default();
    progress.counters.successful_num = 7;
    progress.checkpoint = Some("k7".into());
    let refused = [
        t.db.record_progress(&old_task, &progress, &[], &[]).await,
        t.db.save_part(
            &old_task,
            "k8",
            1,
            &oms_core::model::SavedPart {
                etag: "etag".into(),
                crc64: None,
                md5: None,
            },
        )
        .await,
        t.db.finish_task(&old_task, TaskEvent::Succeed, None)
            .await
            .map(|_| ()),
    ];
    for outcome in refused {
        assert!(matches!(outcome, Err(DbError::LeaseLost)), "{outcome:?}");
    }
    let after = t.db.get_task(&t.project, task).await.unwrap();
    assert_eq!(after.status, TaskStatus::Running);
    assert_eq!(after.counters.successful_num, 0);
    assert!(t.db.load_upload(task, "k8").await.unwrap().is_none());
    // The new holder still holds it, with the credentials it needs.
    let run = t.db.load_run(&new_task).await.unwrap();
    assert!(run.checkpoint.is_none());
    assert!(run.credentials.is_some());

    // The old holder of the group: it cuts no task and cannot end the split.
    let cut = NewGroupTask {
        spec: t.db.get_group(&t.project, group).await.unwrap().spec,
        range_start: None,
        range_end: None,
        objects: 1,
        bytes: 1,
        checkpoint: "k".into(),
    };
    assert!(matches!(
        t.db.add_group_task(&old_group, &cut).await,
        Err(DbError::LeaseLost)
    ));
    let failure = FailureReason {
        code: "TRF.0001".into(),
        message: "late".into(),
    };
    assert!(matches!(
        t.db.finish_split(&old_group, Some(GroupEvent::SplitFailed), Some(&failure))
            .await,
        Err(DbError::LeaseLost)
    ));
    let after = t.db.get_group(&t.project, group).await.unwrap();
    assert_eq!(after.tasks.total, 0);
    assert_eq!(after.status, GroupStatus::CreatingTasks);
    assert!(after.failure.is_none());
    assert_eq!(
        t.db.finish_split(&new_group, Some(GroupEvent::SplitDone), None)
            .await
            .unwrap(),
        GroupStatus::Monitoring
    );
}

#[tokio::test]
async fn a_renewal_reads_a_stop_and_the_new_bandwidth_policy() {
    let t = TestDb::new().await;
    let (task_lease, group_lease) = t.claimed("w", LONG).await;
    let (task, group) = (task_lease.task_id, group_lease.group_id);
    let state = t.db.renew_lease(&task_lease, LONG).await.unwrap();
    assert_eq!(state.status, TaskStatus::Running);
    assert_eq!(state.bandwidth_policy, Default::default());

    let throttled = throttled_policy();
    t.db.set_task_bandwidth(&t.project, task, &throttled.bandwidth_policy)
        .await
        .unwrap();
    assert_eq!(
        t.db.renew_lease(&task_lease, LONG)
            .await
            .unwrap()
            .bandwidth_policy,
        throttled.bandwidth_policy
    );

    t.db.stop_task(&t.project, task).await.unwrap();
    t.db.stop_group(&t.project, group).await.unwrap();
    assert_eq!(
        t.db.renew_lease(&task_lease, LONG).await.unwrap().status,
        TaskStatus::Pausing
    );
    assert_eq!(
        t.db.renew_group_lease(&group_lease, LONG).await.unwrap(),
        GroupStatus::Pausing
    );
    assert_eq!(
        t.db.finish_task(&task_lease, TaskEvent::PauseReached, None)
            .await
            .unwrap(),
        TaskStatus::Paused
    );
}

/// A splitter that stops without finishing (its worker shuts down) lets go of the group as it
/// is: another worker takes it over at once, without waiting for a lease to lapse.
#[tokio::test]
async fn a_split_let_go_unfinished_is_claimed_again_at_once() {
    let t = TestDb::new().await;
    let group = t.group().await;
    let first = t.claim_group("w1", LONG).await;
    assert_eq!(
        t.db.finish_split(&first, None, None).await.unwrap(),
        GroupStatus::CreatingTasks
    );
    let second = t.claim_group("w2", LONG).await;
    assert_eq!(second.group_id, group);
    assert_eq!(second.epoch, first.epoch + 1);
}

/// A migration whose bandwidth is limited all day.
fn throttled_policy() -> NewMigration {
    let mut body = migration_body();
    body["bandwidth_policy"] =
        serde_json::json!([{"start": "00:00", "end": "23:59", "max_bandwidth": 10_485_760}]);
    oms_core::parse::create_task(crate::from_json(body)).unwrap()
}
