//! Compare and set: a status change is computed from the row as read and written only if the
//! row is still as read (`... where status = $from`). When another writer changed it in
//! between, the write matches nothing and the change is decided again from what the row says
//! now, so that racing writers (an API call, a worker ending its run) never both win.

use std::future::Future;

use crate::DbError;

/// How often a status change is retried when another writer changed the row in between.
pub(crate) const MAX_CAS_ATTEMPTS: usize = 8;
/// How often a lease holder retries ending its claim when the row changed under it (a stop
/// landing as the run ends) before it counts the lease as lost.
const MAX_FENCED_ATTEMPTS: usize = 5;

/// One attempt's outcome.
#[derive(Debug)]
pub(crate) enum Cas<T> {
    /// The write landed (or nothing needed writing): the answer.
    Done(T),
    /// The row changed between the read and the write: read it again and decide again.
    Retry,
}

/// Who is contending for the row, which says how often to try and what to answer when other
/// writers won every race.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Contended {
    /// A change asked for through the API, on the named row: [`DbError::Contention`].
    Row(&'static str),
    /// A lease holder ending its claim: the row that keeps changing under it is no longer its
    /// own, [`DbError::LeaseLost`].
    Lease,
}

impl Contended {
    const fn attempts(self) -> usize {
        match self {
            Self::Row(_) => MAX_CAS_ATTEMPTS,
            Self::Lease => MAX_FENCED_ATTEMPTS,
        }
    }

    fn error(self) -> DbError {
        match self {
            Self::Row(what) => DbError::Contention { what },
            Self::Lease => DbError::LeaseLost,
        }
    }
}

/// Runs `attempt` (read the row, decide the change, write it conditionally on what was read)
/// until it is [`Cas::Done`] or fails, at most as often as `contended` allows.
///
/// `attempt` is a closure returning an `async move` block rather than an async closure: the
/// future of an async closure borrows the closure, and rustc cannot yet prove such a future
/// `Send` (rust-lang/rust#110338), which every caller (API handlers, worker tasks) needs.
pub(crate) async fn with_cas<T, Attempt>(
    contended: Contended,
    mut attempt: impl FnMut() -> Attempt,
) -> Result<T, DbError>
where
    Attempt: Future<Output = Result<Cas<T>, DbError>>,
{
    for _ in 0..contended.attempts() {
        if let Cas::Done(answer) = attempt().await? {
            return Ok(answer);
        }
    }
    Err(contended.error())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `with_cas` with an attempt that loses `races` races before it lands; returns the
    /// outcome and how many attempts were made.
    async fn run(contended: Contended, races: usize) -> (Result<&'static str, DbError>, usize) {
        let mut attempts = 0;
        let outcome = with_cas(contended, || {
            attempts += 1;
            let landed = attempts > races;
            async move {
                Ok(if landed {
                    Cas::Done("landed")
                } else {
                    Cas::Retry
                })
            }
        })
        .await;
        (outcome, attempts)
    }

    #[tokio::test]
    async fn a_change_that_loses_some_races_is_decided_again_until_it_lands() {
        let (outcome, attempts) = run(Contended::Row("task"), 3).await;
        assert_eq!(outcome.unwrap(), "landed");
        assert_eq!(attempts, 4);
    }

    #[tokio::test]
    async fn a_change_that_loses_every_race_gives_up_with_contention() {
        let (outcome, attempts) = run(Contended::Row("task group"), usize::MAX).await;
        assert!(
            matches!(outcome, Err(DbError::Contention { what: "task group" })),
            "{outcome:?}"
        );
        assert_eq!(attempts, MAX_CAS_ATTEMPTS);
    }

    #[tokio::test]
    async fn a_holder_whose_row_keeps_changing_counts_its_lease_as_lost() {
        let (outcome, attempts) = run(Contended::Lease, usize::MAX).await;
        assert!(matches!(outcome, Err(DbError::LeaseLost)), "{outcome:?}");
        assert_eq!(attempts, MAX_FENCED_ATTEMPTS);
    }

    #[tokio::test]
    async fn an_error_ends_the_loop_at_once() {
        let mut attempts = 0;
        let outcome: Result<(), _> = with_cas(Contended::Row("task"), || {
            attempts += 1;
            async { Err(DbError::NotFound) }
        })
        .await;
        assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
        assert_eq!(attempts, 1);
    }
}
