//! Racing status changes resolve through compare-and-set: each is decided from the row as it is
//! when its write lands, so that none is lost and none is applied twice.

use std::fmt::Debug;

use oms_core::ids::{GroupId, ProjectId, TaskId};
use oms_core::model::StartRequest;
use oms_core::status::{GroupEvent, GroupStatus, TaskEvent, TaskStatus};
use oms_db::{Db, DbError, GroupLease, Lease};

use crate::{LONG, TestDb, start_request};

/// Of two racing changes, exactly one applies and the other is refused by the state machine
/// (the row was no longer where it started); returns the one's answer.
fn one_applies<T: Debug>(outcomes: [Result<T, DbError>; 2]) -> T {
    let [first, second] = outcomes;
    match (first, second) {
        (Ok(answer), Err(DbError::Transition(_))) | (Err(DbError::Transition(_)), Ok(answer)) => {
            answer
        }
        outcomes => panic!("exactly one change should apply: {outcomes:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_changes_of_one_row_are_applied_once() {
    let t = TestDb::new().await;
    let (p, db, start) = (&t.project, &t.db, &start_request());

    // A waiting task pauses at once: of two stops, one pauses it, the other finds it paused.
    let task = t.task().await;
    let stops = tokio::join!(db.stop_task(p, task), db.stop_task(p, task));
    assert_eq!(one_applies(stops.into()), TaskStatus::Paused);
    let starts = tokio::join!(db.start_task(p, task, start), db.start_task(p, task, start));
    one_applies(starts.into());
    assert_eq!(
        db.get_task(p, task).await.unwrap().status,
        TaskStatus::Waiting
    );

    let group = t.group().await;
    let stops = tokio::join!(db.stop_group(p, group), db.stop_group(p, group));
    assert_eq!(one_applies(stops.into()), GroupStatus::Paused);
    let resumes = tokio::join!(
        db.resume_group(p, group, start),
        db.resume_group(p, group, start)
    );
    one_applies(resumes.into());
    assert_eq!(
        db.get_group(p, group).await.unwrap().status,
        GroupStatus::Waiting
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_of_a_running_task_all_answer_pausing_until_its_worker_pauses_it() {
    let t = TestDb::new().await;
    let task = t.task().await;
    let lease = t.claim_task("w", LONG).await;

    let stops = tokio::join!(
        t.db.stop_task(&t.project, task),
        t.db.stop_task(&t.project, task),
        t.db.stop_task(&t.project, task)
    );
    assert!(
        matches!(
            stops,
            (
                Ok(TaskStatus::Pausing),
                Ok(TaskStatus::Pausing),
                Ok(TaskStatus::Pausing)
            )
        ),
        "{stops:?}"
    );
    let paused = t.db.finish_task(&lease, TaskEvent::PauseReached, None);
    assert_eq!(paused.await.unwrap(), TaskStatus::Paused);
}

/// A stop that lands as the run ends is never lost: when the stop is taken, the end of the run
/// is decided again from pausing (the task pauses); when the run ended first, the stop is
/// refused. The same for a group whose split ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_racing_the_end_of_a_run_is_never_lost() {
    let t = TestDb::new().await;
    for _ in 0..6 {
        let task = t.task().await;
        let lease = t.claim_task("w", LONG).await;
        let (stopped, finished) = tokio::join!(
            t.db.stop_task(&t.project, task),
            t.db.finish_task(&lease, TaskEvent::Succeed, None)
        );
        let finished = finished.unwrap();
        assert_eq!(
            t.db.get_task(&t.project, task).await.unwrap().status,
            finished
        );
        match stopped {
            Ok(TaskStatus::Pausing) => assert_eq!(finished, TaskStatus::Paused),
            Err(DbError::Transition(_)) => assert_eq!(finished, TaskStatus::Succeeded),
            other => panic!("unexpected stop: {other:?}"),
        }

        let group = t.group().await;
        let lease = t.claim_group("w", LONG).await;
        let (stopped, finished) = tokio::join!(
            t.db.stop_group(&t.project, group),
            t.db.finish_split(&lease, Some(GroupEvent::SplitDone), None)
        );
        let (stopped, finished) = (stopped.unwrap(), finished.unwrap());
        assert_eq!(
            t.db.get_group(&t.project, group).await.unwrap().status,
            stopped
        );
        // Stopped while splitting: it pauses once its splitter lets go; stopped after: at once.
        let expected = match stopped {
            GroupStatus::Pausing => GroupStatus::Pausing,
            _ => GroupStatus::Monitoring,
        };
        assert_eq!(finished, expected, "stop answered {stopped:?}");
    }
}

/// API handlers and worker tasks run these on any thread of a multi-threaded runtime, so their
/// futures must be `Send` (the compare-and-set loop once made them not). Compiling is the test.
#[expect(dead_code, reason = "type-checked, never run")]
fn status_changes_can_run_on_any_thread(
    db: &Db,
    p: &ProjectId,
    (task, group): (TaskId, GroupId),
    (lease, group_lease): (&Lease, &GroupLease),
    start: &StartRequest,
) {
    fn send<T: Send>(_: T) {}
    send(db.start_task(p, task, start));
    send(db.stop_task(p, task));
    send(db.delete_task(p, task));
    send(db.stop_group(p, group));
    send(db.resume_group(p, group, start));
    send(db.retry_group(p, group, start));
    send(db.delete_group(p, group));
    send(db.claim_next_task("w", LONG, &[]));
    send(db.renew_lease(lease, LONG));
    send(db.finish_task(lease, TaskEvent::Succeed, None));
    send(db.claim_next_group("w", LONG, &[]));
    send(db.renew_group_lease(group_lease, LONG));
    send(db.finish_split(group_lease, None, None));
}
