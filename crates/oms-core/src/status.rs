//! The task and task-group state machines, with the status numbers of Huawei Cloud OMS v2.
//!
//! Every status write, by the API or by a worker, asks [`task_transition`] or
//! [`group_transition`] first; the repositories then write the answer conditionally on the status
//! they read, so two writers racing for the same task cannot both win.

use crate::error::{Subject, TransitionError};

/// A migration task's status, with the OMS numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// 0: initializing (kept for compatibility; OMS v1 used it).
    Initializing,
    /// 1: waiting for a worker.
    Waiting,
    /// 2: a worker is migrating it.
    Running,
    /// 3: paused; can be started (with credentials) or deleted.
    Paused,
    /// 4: failed; can be started again (everything, or only the failed objects) or deleted.
    Failed,
    /// 5: completed; terminal.
    Succeeded,
    /// 6: a worker is retrying failed objects.
    Retrying,
    /// 7: stop requested; the worker is saving its state.
    Pausing,
}

impl TaskStatus {
    /// Every status, in number order.
    pub const ALL: [Self; 8] = [
        Self::Initializing,
        Self::Waiting,
        Self::Running,
        Self::Paused,
        Self::Failed,
        Self::Succeeded,
        Self::Retrying,
        Self::Pausing,
    ];

    /// The number OMS shows as `status` (0–7), which is also what the database stores.
    pub const fn code(self) -> i64 {
        match self {
            Self::Initializing => 0,
            Self::Waiting => 1,
            Self::Running => 2,
            Self::Paused => 3,
            Self::Failed => 4,
            Self::Succeeded => 5,
            Self::Retrying => 6,
            Self::Pausing => 7,
        }
    }

    /// The status with OMS number `code`.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The status as a metrics label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Failed => "failed",
            Self::Succeeded => "completed",
            Self::Retrying => "retrying",
            Self::Pausing => "pausing",
        }
    }

    /// Whether a worker holds (or is about to release) the task.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Retrying | Self::Pausing)
    }

    /// Whether the task's credentials are needed (waiting or being worked on).
    pub const fn needs_credentials(self) -> bool {
        matches!(self, Self::Initializing | Self::Waiting) || self.is_active()
    }
}

/// Something that happens to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvent {
    /// `POST .../start`: run a paused or failed task again (credentials re-supplied).
    Start,
    /// `POST .../stop`: pause.
    Stop,
    /// `DELETE`: remove the task.
    Delete,
    /// A worker claimed the waiting task.
    Claim,
    /// The worker finished and every object succeeded or was skipped.
    Succeed,
    /// The worker finished with a task-level error or failed objects.
    Fail,
    /// The worker saved its state after a stop.
    PauseReached,
    /// The worker let go of the task without finishing it (shutdown, lease lost).
    Release,
    /// The task waited longer than the retention period for a worker.
    ExpireWaiting,
}

impl TaskEvent {
    const fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Delete => "delete",
            Self::Claim => "claim",
            Self::Succeed => "succeed",
            Self::Fail => "fail",
            Self::PauseReached => "pause-reached",
            Self::Release => "release",
            Self::ExpireWaiting => "expire-waiting",
        }
    }
}

/// What a verb or an engine event does to a task: a new status, or none (an update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTransition {
    /// To this status (possibly the same one: an idempotent verb).
    To(TaskStatus),
    /// The task and everything it owns are removed.
    Remove,
}

/// The task state machine: the next status of a task in `from` after `event`.
pub fn task_transition(
    from: TaskStatus,
    event: TaskEvent,
) -> Result<TaskTransition, TransitionError> {
    use TaskStatus as S;
    use TaskTransition::{Remove, To};
    const T: Subject = Subject::Task;
    let illegal = TransitionError::Illegal {
        subject: T,
        from: from.code(),
        event: event.name(),
    };
    match (event, from) {
        (TaskEvent::Start, S::Paused | S::Failed) => Ok(To(S::Waiting)),
        (TaskEvent::Start, S::Initializing | S::Waiting | S::Running | S::Retrying) => {
            Err(TransitionError::AlreadyStarted(T))
        }
        (TaskEvent::Start, S::Pausing) => Err(TransitionError::StillPausing(T)),
        (TaskEvent::Start | TaskEvent::Stop, S::Succeeded) => {
            Err(TransitionError::AlreadyCompleted(T))
        }

        // Nobody holds a waiting task (claiming moves it to running), so it pauses at once.
        (TaskEvent::Stop, S::Initializing | S::Waiting) => Ok(To(S::Paused)),
        (TaskEvent::Stop, S::Running | S::Retrying | S::Pausing) => Ok(To(S::Pausing)),
        (TaskEvent::Stop, S::Paused | S::Failed) => Err(TransitionError::NotInProgress(T)),

        (
            TaskEvent::Delete,
            S::Initializing | S::Waiting | S::Paused | S::Failed | S::Succeeded,
        ) => Ok(Remove),
        (TaskEvent::Delete, S::Running | S::Retrying | S::Pausing) => {
            Err(TransitionError::RunningCannotDelete(T))
        }

        // Running and retrying tasks are claimable only once their lease expired (a dead
        // worker); the repository's claim checks the expiry.
        (TaskEvent::Claim, S::Waiting | S::Initializing | S::Running | S::Retrying) => {
            Ok(To(S::Running))
        }
        (TaskEvent::Succeed, S::Running | S::Retrying) => Ok(To(S::Succeeded)),
        // A stop that lands while the last objects drain is still a stop: the task pauses
        // (clients that stopped it wait for 3), and a later start completes it.
        (TaskEvent::Succeed, S::Pausing) => Ok(To(S::Paused)),
        (TaskEvent::Fail, S::Running | S::Retrying | S::Pausing) => Ok(To(S::Failed)),
        (TaskEvent::PauseReached, S::Pausing) => Ok(To(S::Paused)),
        (TaskEvent::Release, S::Running | S::Retrying) => Ok(To(S::Waiting)),
        (TaskEvent::Release, S::Pausing) => Ok(To(S::Paused)),
        (TaskEvent::ExpireWaiting, S::Waiting | S::Initializing) => Ok(To(S::Failed)),
        (
            TaskEvent::Claim
            | TaskEvent::Succeed
            | TaskEvent::Fail
            | TaskEvent::PauseReached
            | TaskEvent::Release
            | TaskEvent::ExpireWaiting,
            _,
        ) => Err(illegal),
    }
}

/// A task group's status, with the OMS numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupStatus {
    /// 0: waiting for a worker to split it.
    Waiting,
    /// 1: a worker is creating its tasks.
    CreatingTasks,
    /// 2: its tasks exist and run; the group follows them.
    Monitoring,
    /// 3: paused; resumed with start (credentials re-supplied).
    Paused,
    /// 4: creating the tasks failed (see `error_reason`); can be retried.
    CreationFailed,
    /// 5: a task failed; can be retried.
    Failed,
    /// 6: every task completed; terminal.
    Completed,
    /// 7: stop requested; waiting for its tasks to pause.
    Pausing,
    /// 8: delete requested.
    WaitingDeletion,
    /// 9: deleted.
    Deleted,
}

impl GroupStatus {
    /// Every status, in number order.
    pub const ALL: [Self; 10] = [
        Self::Waiting,
        Self::CreatingTasks,
        Self::Monitoring,
        Self::Paused,
        Self::CreationFailed,
        Self::Failed,
        Self::Completed,
        Self::Pausing,
        Self::WaitingDeletion,
        Self::Deleted,
    ];

    /// The number OMS shows as `status` (0–9), which is also what the database stores.
    pub const fn code(self) -> i64 {
        match self {
            Self::Waiting => 0,
            Self::CreatingTasks => 1,
            Self::Monitoring => 2,
            Self::Paused => 3,
            Self::CreationFailed => 4,
            Self::Failed => 5,
            Self::Completed => 6,
            Self::Pausing => 7,
            Self::WaitingDeletion => 8,
            Self::Deleted => 9,
        }
    }

    /// The status with OMS number `code`.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The status as a metrics label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::CreatingTasks => "creating_tasks",
            Self::Monitoring => "monitoring",
            Self::Paused => "paused",
            Self::CreationFailed => "creation_failed",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Pausing => "pausing",
            Self::WaitingDeletion => "waiting_deletion",
            Self::Deleted => "deleted",
        }
    }

    /// Whether the group's credentials are needed (waiting, splitting, running or pausing).
    pub const fn needs_credentials(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::CreatingTasks | Self::Monitoring | Self::Pausing
        )
    }
}

/// Something that happens to a task group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEvent {
    /// `PUT .../start`: resume a paused group. `split_done`: whether all its tasks exist.
    Resume {
        /// Whether the splitter already created every task of the group.
        split_done: bool,
    },
    /// `PUT .../stop`: pause. `tasks_active`: whether any of its tasks is held by a worker.
    Stop {
        /// Whether a worker still holds one of the group's tasks (or is splitting it).
        tasks_active: bool,
    },
    /// `PUT .../retry`: run a failed group again.
    Retry,
    /// `DELETE`.
    Delete,
    /// `PUT .../update`: change the bandwidth policy.
    Update,
    /// A worker claimed the waiting group to split it.
    Claim,
    /// The splitter created every task.
    SplitDone,
    /// The splitter failed.
    SplitFailed,
    /// Every task completed.
    AllTasksSucceeded,
    /// Every task ended and at least one failed.
    SomeTasksFailed,
    /// Every task of a pausing group reached paused.
    AllTasksPaused,
    /// The deletion finished.
    Removed,
    /// The group waited longer than the retention period for a worker.
    ExpireWaiting,
}

impl GroupEvent {
    const fn name(self) -> &'static str {
        match self {
            Self::Resume { .. } => "start",
            Self::Stop { .. } => "stop",
            Self::Retry => "retry",
            Self::Delete => "delete",
            Self::Update => "update",
            Self::Claim => "claim",
            Self::SplitDone => "split-done",
            Self::SplitFailed => "split-failed",
            Self::AllTasksSucceeded => "all-tasks-succeeded",
            Self::SomeTasksFailed => "some-tasks-failed",
            Self::AllTasksPaused => "all-tasks-paused",
            Self::Removed => "removed",
            Self::ExpireWaiting => "expire-waiting",
        }
    }
}

/// The task-group state machine: the next status of a group in `from` after `event`.
pub fn group_transition(
    from: GroupStatus,
    event: GroupEvent,
) -> Result<GroupStatus, TransitionError> {
    use GroupStatus as S;
    const G: Subject = Subject::TaskGroup;
    let illegal = TransitionError::Illegal {
        subject: G,
        from: from.code(),
        event: event.name(),
    };
    match (event, from) {
        (GroupEvent::Removed, S::WaitingDeletion | S::Deleted) => Ok(S::Deleted),
        (_, S::WaitingDeletion | S::Deleted) => Err(TransitionError::Deleting),
        (GroupEvent::Resume { split_done }, S::Paused) => Ok(if split_done {
            S::Monitoring
        } else {
            S::Waiting
        }),
        (
            GroupEvent::Resume { .. } | GroupEvent::Retry,
            S::Waiting | S::CreatingTasks | S::Monitoring,
        ) => Err(TransitionError::AlreadyStarted(G)),
        (GroupEvent::Resume { .. } | GroupEvent::Retry, S::Pausing) => {
            Err(TransitionError::StillPausing(G))
        }
        (GroupEvent::Resume { .. } | GroupEvent::Retry | GroupEvent::Stop { .. }, S::Completed) => {
            Err(TransitionError::AlreadyCompleted(G))
        }
        (GroupEvent::Resume { .. }, S::CreationFailed | S::Failed) => {
            Err(TransitionError::UseRetry)
        }

        (GroupEvent::Stop { .. }, S::Waiting) => Ok(S::Paused),
        (GroupEvent::Stop { tasks_active }, S::CreatingTasks | S::Monitoring | S::Pausing) => {
            Ok(if tasks_active { S::Pausing } else { S::Paused })
        }
        (GroupEvent::Stop { .. }, S::Paused | S::CreationFailed | S::Failed) => {
            Err(TransitionError::NotInProgress(G))
        }

        (GroupEvent::Retry, S::CreationFailed) => Ok(S::Waiting),
        (GroupEvent::Retry, S::Failed) => Ok(S::Monitoring),
        (GroupEvent::Retry, S::Paused) => Err(TransitionError::NotFailed),

        (
            GroupEvent::Delete,
            S::Waiting | S::Paused | S::CreationFailed | S::Failed | S::Completed,
        ) => Ok(S::WaitingDeletion),
        (GroupEvent::Delete, S::CreatingTasks | S::Monitoring | S::Pausing) => {
            Err(TransitionError::RunningCannotDelete(G))
        }
        (GroupEvent::Update, _) => Ok(from),

        (GroupEvent::Claim, S::Waiting) => Ok(S::CreatingTasks),
        (GroupEvent::SplitDone, S::CreatingTasks) => Ok(S::Monitoring),
        (GroupEvent::SplitDone, S::Pausing) => Ok(S::Pausing),
        (GroupEvent::SplitFailed, S::CreatingTasks | S::Pausing) => Ok(S::CreationFailed),
        (GroupEvent::AllTasksSucceeded, S::Monitoring | S::Pausing) => Ok(S::Completed),
        (GroupEvent::SomeTasksFailed, S::Monitoring | S::Pausing) => Ok(S::Failed),
        (GroupEvent::AllTasksPaused, S::Pausing) => Ok(S::Paused),
        (GroupEvent::ExpireWaiting, S::Waiting) => Ok(S::CreationFailed),
        (
            GroupEvent::Claim
            | GroupEvent::SplitDone
            | GroupEvent::SplitFailed
            | GroupEvent::AllTasksSucceeded
            | GroupEvent::SomeTasksFailed
            | GroupEvent::AllTasksPaused
            | GroupEvent::Removed
            | GroupEvent::ExpireWaiting,
            _,
        ) => Err(illegal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn code_of(from: TaskStatus, event: TaskEvent) -> Option<ErrorCode> {
        task_transition(from, event)
            .err()
            .map(TransitionError::code)
    }

    #[test]
    fn task_codes_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(TaskStatus::from_code(8), None);
    }

    #[test]
    fn starting_a_started_task_is_oms_0065() {
        for s in [
            TaskStatus::Waiting,
            TaskStatus::Running,
            TaskStatus::Retrying,
            TaskStatus::Pausing,
        ] {
            assert_eq!(
                code_of(s, TaskEvent::Start),
                Some(ErrorCode::AlreadyStarted),
                "{s:?}"
            );
        }
    }

    #[test]
    fn stopping_a_task_that_is_not_running_is_oms_0066() {
        for s in [TaskStatus::Paused, TaskStatus::Failed] {
            assert_eq!(
                code_of(s, TaskEvent::Stop),
                Some(ErrorCode::NotInProgress),
                "{s:?}"
            );
        }
    }

    #[test]
    fn deleting_a_running_task_is_oms_0063() {
        for s in [
            TaskStatus::Running,
            TaskStatus::Retrying,
            TaskStatus::Pausing,
        ] {
            assert_eq!(
                code_of(s, TaskEvent::Delete),
                Some(ErrorCode::RunningCannotDelete),
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_completed_task_cannot_be_started_or_paused() {
        assert_eq!(
            code_of(TaskStatus::Succeeded, TaskEvent::Start),
            Some(ErrorCode::AlreadyCompleted)
        );
        assert_eq!(
            code_of(TaskStatus::Succeeded, TaskEvent::Stop),
            Some(ErrorCode::AlreadyCompleted)
        );
        assert_eq!(
            task_transition(TaskStatus::Succeeded, TaskEvent::Delete),
            Ok(TaskTransition::Remove)
        );
    }

    #[test]
    fn stop_pauses_a_waiting_task_at_once_and_a_running_one_through_pausing() {
        assert_eq!(
            task_transition(TaskStatus::Waiting, TaskEvent::Stop),
            Ok(TaskTransition::To(TaskStatus::Paused))
        );
        assert_eq!(
            task_transition(TaskStatus::Running, TaskEvent::Stop),
            Ok(TaskTransition::To(TaskStatus::Pausing))
        );
        assert_eq!(
            task_transition(TaskStatus::Pausing, TaskEvent::PauseReached),
            Ok(TaskTransition::To(TaskStatus::Paused))
        );
    }

    #[test]
    fn paused_and_failed_tasks_start_again_as_waiting() {
        for s in [TaskStatus::Paused, TaskStatus::Failed] {
            assert_eq!(
                task_transition(s, TaskEvent::Start),
                Ok(TaskTransition::To(TaskStatus::Waiting))
            );
        }
    }

    #[test]
    fn worker_events_only_apply_to_the_states_they_belong_to() {
        assert!(task_transition(TaskStatus::Paused, TaskEvent::Claim).is_err());
        assert!(task_transition(TaskStatus::Pausing, TaskEvent::Claim).is_err());
        assert!(task_transition(TaskStatus::Waiting, TaskEvent::Succeed).is_err());
        assert_eq!(
            task_transition(TaskStatus::Running, TaskEvent::Release),
            Ok(TaskTransition::To(TaskStatus::Waiting))
        );
        assert_eq!(
            task_transition(TaskStatus::Waiting, TaskEvent::ExpireWaiting),
            Ok(TaskTransition::To(TaskStatus::Failed))
        );
    }

    #[test]
    fn only_needed_states_keep_credentials() {
        let keep: Vec<_> = TaskStatus::ALL
            .into_iter()
            .filter(|s| s.needs_credentials())
            .collect();
        assert!(!keep.contains(&TaskStatus::Paused));
        assert!(!keep.contains(&TaskStatus::Failed));
        assert!(!keep.contains(&TaskStatus::Succeeded));
        assert!(keep.contains(&TaskStatus::Waiting) && keep.contains(&TaskStatus::Running));
    }

    #[test]
    fn group_resume_goes_back_to_splitting_or_monitoring() {
        let from = GroupStatus::Paused;
        assert_eq!(
            group_transition(from, GroupEvent::Resume { split_done: false }),
            Ok(GroupStatus::Waiting)
        );
        assert_eq!(
            group_transition(from, GroupEvent::Resume { split_done: true }),
            Ok(GroupStatus::Monitoring)
        );
        assert_eq!(
            group_transition(
                GroupStatus::Monitoring,
                GroupEvent::Resume { split_done: true }
            )
            .map_err(TransitionError::code),
            Err(ErrorCode::AlreadyStarted)
        );
        assert_eq!(
            group_transition(GroupStatus::Failed, GroupEvent::Resume { split_done: true }),
            Err(TransitionError::UseRetry)
        );
    }

    #[test]
    fn group_stop_pauses_through_pausing_only_while_tasks_run() {
        let stop = |active| GroupEvent::Stop {
            tasks_active: active,
        };
        assert_eq!(
            group_transition(GroupStatus::Waiting, stop(false)),
            Ok(GroupStatus::Paused)
        );
        assert_eq!(
            group_transition(GroupStatus::Monitoring, stop(true)),
            Ok(GroupStatus::Pausing)
        );
        assert_eq!(
            group_transition(GroupStatus::Monitoring, stop(false)),
            Ok(GroupStatus::Paused)
        );
        assert_eq!(
            group_transition(GroupStatus::Paused, stop(false)).map_err(TransitionError::code),
            Err(ErrorCode::NotInProgress)
        );
    }

    #[test]
    fn group_delete_and_retry_rules() {
        assert_eq!(
            group_transition(GroupStatus::Paused, GroupEvent::Delete),
            Ok(GroupStatus::WaitingDeletion)
        );
        assert_eq!(
            group_transition(GroupStatus::Monitoring, GroupEvent::Delete)
                .map_err(TransitionError::code),
            Err(ErrorCode::RunningCannotDelete)
        );
        assert_eq!(
            group_transition(GroupStatus::Failed, GroupEvent::Retry),
            Ok(GroupStatus::Monitoring)
        );
        assert_eq!(
            group_transition(GroupStatus::CreationFailed, GroupEvent::Retry),
            Ok(GroupStatus::Waiting)
        );
        assert_eq!(
            group_transition(GroupStatus::Paused, GroupEvent::Retry),
            Err(TransitionError::NotFailed)
        );
        assert_eq!(
            group_transition(GroupStatus::WaitingDeletion, GroupEvent::Update)
                .map_err(TransitionError::code),
            Err(ErrorCode::NotFound)
        );
    }
}
