//! Requests in flight to one store, adapted to what the store allows (AIMD, as TCP does with
//! its congestion window): a throttling answer halves how many requests may be in flight at once
//! — once per window: answers to requests sent before the last decrease were sent at the old
//! pace and say nothing new — and every [`INCREASE_EVERY`] without throttling allows one more,
//! up to the ceiling the engine set. A storm of `503 SlowDown` then costs time, not objects: the store sees
//! fewer requests until it stops refusing them, and the task speeds up again when it does.
//!
//! One pace serves one side of one task run; every call of the connector it wraps waits for a
//! place (see [`crate::metered`]). The current limits, summed over the running tasks, are the
//! `oms_store_pace_limit` gauge; throttled answers are counted in `oms_store_requests_total`
//! with the outcome `throttled`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::gauge;
use oms_core::metrics::STORE_PACE_LIMIT;
use tokio::sync::Notify;

/// How long without throttling before one more request may be in flight.
const INCREASE_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    /// Decreases so far: a request entered in an earlier epoch was sent at an older pace.
    epoch: u64,
    last_change: Instant,
}

/// How many requests may be in flight to one store.
#[derive(Debug)]
pub(crate) struct Pace {
    side: &'static str,
    ceiling: usize,
    state: Mutex<State>,
    freed: Notify,
}

/// A place in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place<'a> {
    pace: &'a Pace,
    /// The epoch the request was sent in.
    epoch: u64,
}

impl Place<'_> {
    /// Takes in what the request's answer says: `throttled` or not.
    pub(crate) fn answered(&self, throttled: bool) {
        self.pace.answered(throttled, self.epoch);
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.pace.state().in_flight -= 1;
        self.pace.freed.notify_one();
    }
}

impl Pace {
    /// A pace for the `side` (a metrics label) that never allows more than `ceiling` requests
    /// at once.
    pub(crate) fn new(side: &'static str, ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        gauge!(STORE_PACE_LIMIT, "side" => side).increment(ceiling as f64);
        Self {
            side,
            ceiling,
            state: Mutex::new(State {
                limit: ceiling,
                in_flight: 0,
                epoch: 0,
                last_change: Instant::now(),
            }),
            freed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many requests may be in flight now.
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.state().limit
    }

    /// Waits for a place in flight.
    pub(crate) async fn enter(&self) -> Place<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.state();
                self.grow(&mut state);
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Place {
                        pace: self,
                        epoch: state.epoch,
                    };
                }
            }
            freed.await;
        }
    }

    /// Takes in what the answer to a request sent in `epoch` says: `throttled` or not.
    fn answered(&self, throttled: bool, epoch: u64) {
        let mut state = self.state();
        if !throttled {
            self.grow(&mut state);
            return;
        }
        if epoch != state.epoch {
            return;
        }
        // Half of what was really in flight (the limit may be far above it).
        let before = state.limit;
        let after = (state.limit.min(state.in_flight) / 2).max(1);
        state.limit = after;
        state.epoch += 1;
        state.last_change = Instant::now();
        gauge!(STORE_PACE_LIMIT, "side" => self.side).decrement(before as f64 - after as f64);
        tracing::info!(
            side = self.side,
            requests_in_flight = after,
            "the store asks to slow down: fewer requests in flight"
        );
    }

    /// One more place per quiet [`INCREASE_EVERY`] since the last change, up to the ceiling.
    fn grow(&self, state: &mut State) {
        if state.limit >= self.ceiling {
            return;
        }
        let quiet = state.last_change.elapsed();
        let steps = usize::try_from(quiet.as_millis() / INCREASE_EVERY.as_millis()).unwrap_or(0);
        if steps == 0 {
            return;
        }
        let after = (state.limit + steps).min(self.ceiling);
        gauge!(STORE_PACE_LIMIT, "side" => self.side).increment((after - state.limit) as f64);
        state.limit = after;
        state.last_change = Instant::now();
        if after == self.ceiling {
            tracing::info!(
                side = self.side,
                "the store no longer throttles: full speed again"
            );
        }
        // More places: wake the waiters that fit.
        for _ in 0..steps {
            self.freed.notify_one();
        }
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        let limit = self.state().limit;
        gauge!(STORE_PACE_LIMIT, "side" => self.side).decrement(limit as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn throttling_halves_what_is_in_flight_and_quiet_brings_it_back() {
        let pace = Pace::new("source", 16);
        let places: Vec<_> = futures::future::join_all((0..8).map(|_| pace.enter())).await;
        places[0].answered(true);
        assert_eq!(pace.limit(), 4, "half of the 8 in flight");
        places[1].answered(true);
        assert_eq!(
            pace.limit(),
            4,
            "one decrease per window: these were sent together"
        );
        drop(places);
        // A ninth request waits while 4 are in flight.
        let held: Vec<_> = futures::future::join_all((0..4).map(|_| pace.enter())).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), pace.enter()).await;
        assert!(waiting.is_err(), "a fifth place was given at a limit of 4");
        drop(held);
        tokio::time::sleep(INCREASE_EVERY * 3).await;
        let _place = pace.enter().await;
        assert!(pace.limit() >= 6, "{}", pace.limit());
        assert!(pace.limit() <= 16);
    }

    #[tokio::test]
    async fn the_limit_never_falls_below_one() {
        let pace = Pace::new("destination", 4);
        for _ in 0..5 {
            let place = pace.enter().await;
            place.answered(true);
        }
        assert_eq!(pace.limit(), 1);
        let _place = pace.enter().await;
    }
}
