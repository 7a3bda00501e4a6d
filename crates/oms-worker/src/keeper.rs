//! The lease keeper. While a worker works on a claimed row (a task it runs, a group it splits),
//! the keeper renews the lease every heartbeat — at once when a stop was asked for in this
//! process — and hands each answer to the work, which follows it (a stop, a new bandwidth
//! policy) or ends without writing anything more (the lease was lost).

use std::sync::Arc;
use std::time::Duration;

use oms_db::{Db, DbError};

use crate::WorkerConfig;

/// What a renewal told the work.
#[derive(Debug)]
pub(crate) enum Renewal<S> {
    /// The lease holds for another period; what the row says now.
    Held(S),
    /// Another worker holds the row now: the work must stop and write nothing more.
    Lost,
}

/// Counts a lease event of `kind` (`task`, `group`) in the metrics.
pub(crate) fn lease_event(kind: &'static str, event: &'static str) {
    metrics::counter!(oms_core::metrics::LEASES, "kind" => kind, "event" => event).increment(1);
}

/// Keeps `lease` (of `kind`: `task` or `group`) until it is lost (or the task running this is aborted): `renew`s it for
/// [`WorkerConfig::lease`] every [`WorkerConfig::heartbeat`], and at once when a stop is
/// announced in this process, and hands each answer to `follow`. The first renewal is at once,
/// so that a stop asked for since the claim is seen without waiting a heartbeat. A renewal that
/// fails otherwise (the database unreachable a moment) is tried again at the next heartbeat: a
/// lease outlives a few.
pub(crate) async fn keep_lease<L, S>(
    db: Db,
    config: Arc<WorkerConfig>,
    lease: L,
    kind: &'static str,
    renew: impl AsyncFn(&Db, &L, Duration) -> Result<S, DbError>,
    mut follow: impl FnMut(Renewal<S>),
) {
    let mut ticks = tokio::time::interval(config.heartbeat);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = db.stop_announced() => {}
        }
        match renew(&db, &lease, config.lease).await {
            Ok(state) => {
                lease_event(kind, "renewed");
                follow(Renewal::Held(state));
            }
            Err(DbError::LeaseLost) => {
                lease_event(kind, "lost");
                tracing::warn!("the lease was lost; another worker holds it now");
                follow(Renewal::Lost);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed; trying again"),
        }
    }
}
