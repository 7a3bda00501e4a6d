//! Sync tasks in the database: the lease on a sync task (its third user), the queue, the
//! counters, and the credentials kept only while it synchronizes.

use std::time::Duration;

use oms_core::model::{Page, TaskFilter};
use oms_core::sync::{SyncCounters, SyncTaskId};
use oms_db::{CredentialOwner, DbError};
use serde_json::json;

use crate::{LONG, TestDb, from_json, start_request};

/// Lapses while the test sleeps [`PAST_SHORT`].
const SHORT: Duration = Duration::from_millis(50);
const PAST_SHORT: Duration = Duration::from_millis(300);

async fn sync_task(t: &TestDb) -> SyncTaskId {
    let body = json!({
        "src_cloud_type": "AWS", "src_region": "us-east-1", "src_bucket": "live", "src_ak": "SRC-AK",
        "src_sk": "SRC-SK", "dst_region": "cn-north-4", "dst_bucket": "copy", "dst_ak": "DST-AK",
        "dst_sk": "DST-SK",
    });
    let new = oms_core::parse::sync::create_sync_task(from_json(body)).unwrap();
    t.db.create_sync_task(&t.project, &new).await.unwrap().0.id
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| (*k).to_owned()).collect()
}

#[tokio::test]
async fn a_sync_task_is_claimed_only_with_keys_waiting_and_a_lost_lease_records_nothing() {
    let t = TestDb::new().await;
    let id = sync_task(&t).await;
    assert!(
        t.db.claim_next_sync_task("a", SHORT, &[])
            .await
            .unwrap()
            .is_none()
    );

    t.db.add_sync_events(&t.project, id, &keys(&["k1", "k2", "k1"]))
        .await
        .unwrap();
    assert_eq!(
        t.db.pending_sync_events(id).await.unwrap(),
        2,
        "k1 is queued once"
    );
    let a =
        t.db.claim_next_sync_task("a", SHORT, &[])
            .await
            .unwrap()
            .unwrap();
    assert!(
        t.db.claim_next_sync_task("b", LONG, &[])
            .await
            .unwrap()
            .is_none()
    );
    let taken = t.db.queued_sync_keys(&a, 10).await.unwrap();
    assert_eq!(taken.len(), 2);

    // A's lease lapses; B claims with a higher epoch; A's outcomes are refused, whole.
    tokio::time::sleep(PAST_SHORT).await;
    let b =
        t.db.claim_next_sync_task("b", LONG, &[])
            .await
            .unwrap()
            .unwrap();
    assert!(b.epoch > a.epoch);
    let copied = SyncCounters {
        success: 2,
        size: 10,
        ..SyncCounters::default()
    };
    let lost = t.db.record_sync_outcomes(&a, &taken, &copied).await;
    assert!(matches!(lost, Err(DbError::LeaseLost)), "{lost:?}");
    assert!(matches!(t.db.queued_sync_keys(&a, 10).await, Ok(k) if k.is_empty()));
    assert_eq!(t.db.pending_sync_events(id).await.unwrap(), 2);

    // k2 is posted again while B copies it: it stays queued once B records it.
    let run = t.db.load_sync_run(&b).await.unwrap();
    assert!(run.credentials.is_some());
    assert_eq!(run.task_lease.epoch, b.epoch);
    let taken = t.db.queued_sync_keys(&b, 10).await.unwrap();
    t.db.add_sync_events(&t.project, id, &keys(&["k2"]))
        .await
        .unwrap();
    t.db.record_sync_outcomes(&b, &taken, &copied)
        .await
        .unwrap();
    let left = t.db.queued_sync_keys(&b, 10).await.unwrap();
    assert_eq!(
        left.iter().map(|q| q.key.as_str()).collect::<Vec<_>>(),
        ["k2"]
    );
    let month = t.db.sync_counters(id, 0, i64::MAX).await.unwrap();
    assert_eq!(
        month,
        SyncCounters {
            request: 4,
            success: 2,
            failure: 0,
            skip: 0,
            size: 10,
            ..SyncCounters::default()
        }
    );
    assert_eq!(
        t.db.sync_buckets(id, 0, i64::MAX).await.unwrap().len(),
        1,
        "one 5-minute row"
    );
    t.db.release_sync_task(&b, None).await.unwrap();
    assert!(
        t.db.claim_next_sync_task("c", LONG, &[])
            .await
            .unwrap()
            .is_some(),
        "k2 waits"
    );
}

#[tokio::test]
async fn a_stop_erases_the_keys_refuses_events_and_only_a_stopped_task_is_deleted() {
    let t = TestDb::new().await;
    let id = sync_task(&t).await;
    let owner = CredentialOwner::SyncTask(id);
    assert!(t.db.load_credentials(owner).await.unwrap().is_some());
    // The hidden task the copies run as is not a task of the task API.
    let filter = TaskFilter {
        group_id: None,
        status: None,
        name_contains: None,
        page: Page {
            limit: 10,
            offset: 0,
        },
    };
    assert_eq!(t.db.list_tasks(&t.project, &filter).await.unwrap().1, 0);

    let refused = t.db.delete_sync_task(&t.project, id).await.unwrap_err();
    assert!(matches!(refused, DbError::Transition(e) if e.code().as_str() == "OMS.0063"));
    t.db.add_sync_events(&t.project, id, &keys(&["queued"]))
        .await
        .unwrap();
    t.db.stop_sync_task(&t.project, id).await.unwrap();
    assert!(t.db.load_credentials(owner).await.unwrap().is_none());
    let refused =
        t.db.add_sync_events(&t.project, id, &keys(&["late"]))
            .await
            .unwrap_err();
    assert!(matches!(refused, DbError::Refused { .. }), "{refused:?}");
    assert!(
        t.db.claim_next_sync_task("a", LONG, &[])
            .await
            .unwrap()
            .is_none(),
        "stopped"
    );

    t.db.start_sync_task(&t.project, id, &start_request())
        .await
        .unwrap();
    assert!(t.db.load_credentials(owner).await.unwrap().is_some());
    assert!(
        t.db.claim_next_sync_task("a", LONG, &[])
            .await
            .unwrap()
            .is_some(),
        "queued key kept"
    );
    t.db.stop_sync_task(&t.project, id).await.unwrap();
    t.db.delete_sync_task(&t.project, id).await.unwrap();
    assert!(matches!(
        t.db.get_sync_task(&t.project, id).await,
        Err(DbError::NotFound)
    ));
    assert_eq!(t.db.pending_sync_events(id).await.unwrap(), 0);
}

#[tokio::test]
async fn a_queued_removal_stays_asked_for_whatever_arrives_after_it() {
    let t = TestDb::new().await;
    let id = sync_task(&t).await;
    let target = oms_db::NotificationTarget {
        id,
        status: oms_core::sync::SyncStatus::Synchronizing,
        src_bucket: "live".into(),
        propagate_deletions: true,
    };
    // Notifications come in no set order: a removal, then a creation of the same key (and a
    // creation alone): the removal is still asked for; the source decides when it is processed.
    t.db.add_notified_keys(&target, &[], &keys(&["both"]))
        .await
        .unwrap();
    t.db.add_notified_keys(&target, &keys(&["both", "created"]), &[])
        .await
        .unwrap();
    let lease =
        t.db.claim_next_sync_task("a", LONG, &[])
            .await
            .unwrap()
            .unwrap();
    let mut queued: Vec<(String, bool)> =
        t.db.queued_sync_keys(&lease, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.key, k.removal))
            .collect();
    queued.sort();
    assert_eq!(
        queued,
        [("both".to_owned(), true), ("created".to_owned(), false)]
    );
}
