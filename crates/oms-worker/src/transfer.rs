//! The transfer stage of a task run: copies the objects the checker lets through, with bounded
//! concurrency, and tells the recorder how each ended. Copying one object is [`crate::copy`].

use std::sync::Arc;

use futures::StreamExt as _;
use oms_core::metrics;
use tokio::sync::mpsc;

use crate::copy;
use crate::pipeline::{Event, Item, Outcome, RunCtx};

/// Runs the pool until its input ends or the run stops.
pub(crate) async fn run(
    ctx: Arc<RunCtx>,
    input: mpsc::Receiver<Item>,
    events: mpsc::Sender<Event>,
) {
    let intake = ctx.stop.intake.clone();
    let items = futures::stream::unfold((input, intake), |(mut rx, intake)| async move {
        let item = tokio::select! {
            () = intake.cancelled() => None,
            item = rx.recv() => item,
        };
        item.map(|i| (i, (rx, intake)))
    });
    items
        .for_each_concurrent(ctx.config.object_concurrency, |item| {
            let (ctx, events) = (ctx.clone(), events.clone());
            async move {
                let _flying = copy::InFlight::new(metrics::OBJECTS_IN_FLIGHT);
                let outcome = tokio::select! {
                    () = ctx.stop.hard.cancelled() => Outcome::Interrupted,
                    outcome = copy::copy(&ctx, &item) => outcome,
                };
                let _ = events
                    .send(Event::Done {
                        seq: item.seq,
                        key: item.record_key(),
                        size: item.size,
                        outcome,
                    })
                    .await;
            }
        })
        .await;
}
