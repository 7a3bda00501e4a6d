//! Password checks are bounded, because each is an Argon2 hash (19 MiB of memory, tens of
//! milliseconds of a core) that anyone can ask for without logging in:
//!
//! - at most [`LoginLimits::concurrent`] checks run at once (about the number of cores), and
//!   at most [`LoginLimits::queued`] wait for one; beyond that a login is answered 429 at once;
//! - failures are counted per user name and per client address: after
//!   [`FREE_FAILURES`] in a row, each further attempt of that name or address waits a back-off
//!   that doubles with every failure (from 1 second to [`MAX_LOCKOUT`]) and is answered 429
//!   with `Retry-After` — without a hash — until it has passed. A success clears the count.
//!
//! The failure table is bounded ([`MAX_TRACKED`]); entries are dropped once their back-off has
//! passed and [`FORGET_AFTER`] went by without a failure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Failures in a row that cost nothing.
pub const FREE_FAILURES: u32 = 3;
/// The longest back-off.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// A name or address without failures for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The most names and addresses tracked at once.
pub const MAX_TRACKED: usize = 100_000;

/// How many password checks may run and wait.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Checks at once.
    pub concurrent: usize,
    /// Checks waiting for a turn.
    pub queued: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            concurrent: cores,
            queued: cores * 4,
        }
    }
}

/// Who is trying: a user name or a client address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Instant,
    last: Instant,
}

/// Why a login is not checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotNow {
    /// Too many failures of this name or address: try again after this long.
    LockedOut(Duration),
    /// Too many checks running and waiting.
    Busy,
}

/// The bounds on password checks.
#[derive(Debug)]
pub struct LoginGuard {
    running: Semaphore,
    waiting: AtomicUsize,
    queued: usize,
    failures: Mutex<HashMap<Who, Failures>>,
}

/// A place in the queue, given back when dropped (also when the caller goes away).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A turn to check a password; the check's outcome is reported with [`LoginGuard::record`].
#[derive(Debug)]
pub struct Turn<'a>(#[expect(dead_code, reason = "held for its drop")] SemaphorePermit<'a>);

impl LoginGuard {
    /// A guard with these limits.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            running: Semaphore::new(limits.concurrent.max(1)),
            waiting: AtomicUsize::new(0),
            queued: limits.queued,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Who, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a turn to check `user`'s password from `address`, or says why not now.
    pub async fn turn(&self, user: &str, address: Option<IpAddr>) -> Result<Turn<'_>, NotNow> {
        let now = Instant::now();
        {
            let table = self.table();
            let wait = [Some(Who::User(user.to_owned())), address.map(Who::Address)]
                .into_iter()
                .flatten()
                .filter_map(|who| table.get(&who))
                .map(|f| f.locked_until.saturating_duration_since(now))
                .max()
                .unwrap_or_default();
            if !wait.is_zero() {
                return Err(NotNow::LockedOut(wait));
            }
        }
        if let Ok(permit) = self.running.try_acquire() {
            return Ok(Turn(permit));
        }
        let waiting = Waiting::join(&self.waiting, self.queued).ok_or(NotNow::Busy)?;
        let permit = self.running.acquire().await;
        drop(waiting);
        permit.map(Turn).map_err(|_| NotNow::Busy)
    }

    /// Records the outcome of a check of `user` from `address`.
    pub fn record(&self, user: &str, address: Option<IpAddr>, succeeded: bool) {
        let now = Instant::now();
        let mut table = self.table();
        let whos = [Some(Who::User(user.to_owned())), address.map(Who::Address)];
        if succeeded {
            for who in whos.into_iter().flatten() {
                table.remove(&who);
            }
            return;
        }
        if table.len() >= MAX_TRACKED {
            table.retain(|_, f| f.locked_until > now || now.duration_since(f.last) < FORGET_AFTER);
        }
        for who in whos.into_iter().flatten() {
            if table.len() >= MAX_TRACKED && !table.contains_key(&who) {
                continue;
            }
            let entry = table.entry(who).or_insert(Failures {
                count: 0,
                locked_until: now,
                last: now,
            });
            if now.duration_since(entry.last) >= FORGET_AFTER {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count > FREE_FAILURES {
                let doublings = (entry.count - FREE_FAILURES - 1).min(20);
                let lockout = Duration::from_secs(1)
                    .saturating_mul(1 << doublings)
                    .min(MAX_LOCKOUT);
                entry.locked_until = now + lockout;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_beyond_the_free_ones_lock_the_name_and_the_address_out() {
        let guard = LoginGuard::new(LoginLimits::default());
        let here: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            drop(guard.turn("alice", Some(here)).await.unwrap());
            guard.record("alice", Some(here), false);
        }
        drop(guard.turn("alice", Some(here)).await.unwrap());
        guard.record("alice", Some(here), false);
        assert!(matches!(
            guard.turn("alice", None).await,
            Err(NotNow::LockedOut(_))
        ));
        // The address is locked out for another name too; another address for another name
        // is not.
        assert!(matches!(
            guard.turn("bob", Some(here)).await,
            Err(NotNow::LockedOut(_))
        ));
        assert!(guard.turn("bob", "192.0.2.8".parse().ok()).await.is_ok());
        guard.record("alice", Some(here), true);
        assert!(guard.turn("alice", Some(here)).await.is_ok());
    }

    #[tokio::test]
    async fn beyond_the_running_and_waiting_checks_a_login_is_refused_at_once() {
        let guard = LoginGuard::new(LoginLimits {
            concurrent: 1,
            queued: 1,
        });
        let first = guard.turn("a", None).await.unwrap();
        let waiting = guard.turn("b", None);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), waiting.as_mut())
                .await
                .is_err()
        );
        assert_eq!(guard.turn("c", None).await.unwrap_err(), NotNow::Busy);
        drop(first);
        assert!(waiting.await.is_ok());
    }
}
