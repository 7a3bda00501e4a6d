//! Throttling is the store asking to wait, never a fault of the object: storms of `503
//! SlowDown` on both sides, and a store that refuses requests above its rate, cost a migration
//! time and no objects.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{MIB, Migration, SRC_BUCKET, random_bytes};

/// Objects of `size` bytes under `prefix`.
fn objects(prefix: &str, n: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("{prefix}{i:03}.bin"), random_bytes(size)))
        .collect()
}

#[tokio::test]
async fn a_throttling_storm_on_both_sides_costs_time_not_objects() {
    let m = Migration::start().await;
    let mut batch = objects("storm/", 30, 20_000);
    batch.push(("storm/large.bin".to_owned(), random_bytes(11 * MIB)));
    let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
    m.src.put_many(SRC_BUCKET, batch).await;
    // Every object's first three GETs and first three PUTs (and parts) are throttled — more
    // than one shared budget of attempts could take — and on top of that, for a while, a
    // storm throttles most requests on both sides.
    for server in [&m.src, &m.dst] {
        server.faults.flaky_attempts.store(3, Ordering::SeqCst);
        server
            .faults
            .flaky_keys
            .lock()
            .unwrap()
            .extend(keys.iter().cloned());
        server.faults.storm_percent.store(70, Ordering::SeqCst);
    }
    let id = m.create(&m.task_body(&["storm/"])).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for server in [&m.src, &m.dst] {
        server.faults.storm_percent.store(0, Ordering::SeqCst);
    }
    let task = m.wait_for(id, 5, Duration::from_secs(180)).await;
    assert_eq!(task["successful_num"], 31, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    for (side, server) in [("source", &m.src), ("destination", &m.dst)] {
        assert!(
            server.faults.throttled.load(Ordering::SeqCst) > 0,
            "the storm never reached the {side}"
        );
        server.faults.flaky_keys.lock().unwrap().clear();
    }
    m.assert_identical("storm/", "").await;
    // Each small object was read at least four times (three refusals, then the copy) and
    // written once it could be.
    assert!(m.src.calls.count("get_object", "storm/000.bin") >= 4);
    assert!(m.dst.calls.count("put_object", "storm/000.bin") >= 4);
}

#[tokio::test]
async fn a_store_that_refuses_requests_above_its_rate_is_asked_less_and_gets_everything() {
    let m = Migration::start().await;
    m.src
        .put_many(SRC_BUCKET, objects("rate/", 200, 1_000))
        .await;
    // Every write takes 40 ms, and the destination takes 30 object requests a second: the 16
    // objects the task copies at once would ask for about 400.
    m.dst.faults.put_delay_ms.store(40, Ordering::SeqCst);
    m.dst
        .faults
        .max_requests_per_sec
        .store(30, Ordering::SeqCst);
    let id = m.create(&m.task_body(&["rate/"])).await;
    let task = m.wait_for(id, 5, Duration::from_secs(180)).await;
    assert_eq!(task["successful_num"], 200, "{task:#}");
    assert_eq!(task["failed_num"], 0, "{task:#}");
    let throttled = m.dst.faults.throttled.load(Ordering::SeqCst);
    m.dst.faults.max_requests_per_sec.store(0, Ordering::SeqCst);
    m.assert_identical("rate/", "").await;
    assert!(throttled > 0, "the rate was never exceeded");
    // The task slowed down: once the store had throttled it for a while, the writes it kept
    // in flight were a few, not the 16 objects it copies at once.
    let seen = m.dst.faults.writes_in_flight_seen.lock().unwrap().clone();
    // (The last third: on a loaded machine the pace takes longer to settle.)
    let later = &seen[seen.len() * 2 / 3..];
    let most = later.iter().copied().max().unwrap_or(0);
    assert!(
        most <= 8,
        "{most} writes in flight in the last third of the run ({throttled} throttled)"
    );
}
