//! The MD5 of the bytes a worker sends, for the destination's ETag check.
//!
//! One stream's MD5 is serial: each 64-byte block depends on the block before it. A worker sends
//! many streams at once, though (every part and object in flight), and the blocks of independent
//! streams fit side by side in SIMD lanes: 16 with AVX-512, 8 with AVX2, at several times the
//! speed of hashing the same streams one after another (`md5_many`). So a tee does not hash: it
//! leaves each chunk (a reference-counted `Bytes`, no copy) for one hashing thread per process.
//! That thread wakes every couple of milliseconds while streams are open, or at once when a digest
//! is asked for, and hashes what has come in: side by side, the same length in every lane, and a
//! stream alone only when no other has bytes waiting. Waking on a clock rather than per chunk
//! is what fills the lanes (and spares a wake-up per chunk).
//!
//! Where the thread cannot be started, or has stopped, a tee hashes its chunks itself.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf as _, Bytes};
use futures::Stream;
use md5_many::{Md5Many, Md5State};
use oms_storage::{ByteStream, StorageError};
use tokio::sync::oneshot;

/// An MD5 block.
const BLOCK: usize = 64;
/// The most bytes hashed per lane in one call (16 lanes of it take about half a millisecond).
const MAX_RUN: usize = 256 * 1024;
/// The most a lane holds back, waiting for other lanes to fill a call with, before it is hashed
/// in a narrower one.
const HOLD_MAX: usize = 1024 * 1024;
/// How long chunks gather between passes while streams are open.
const TICK: Duration = Duration::from_millis(2);
/// How often an idle thread looks whether its pool is gone.
const IDLE: Duration = Duration::from_secs(1);

/// What tees and sums leave for the hashing thread.
#[derive(Debug)]
enum Msg {
    Open(u64),
    Data(u64, Bytes),
    /// All of the stream's bytes have been sent: answer its digest.
    Finish(u64, oneshot::Sender<[u8; 16]>),
    /// The stream was abandoned (a failed attempt): drop what is queued for it.
    Forget(u64),
}

/// The thread's inbox, shared with every stream on it.
#[derive(Debug, Default)]
struct Shared {
    inbox: Mutex<Vec<Msg>>,
    /// Rung for new streams and digests asked for.
    bell: Condvar,
    /// Cleared when the thread ends (a panic included).
    alive: AtomicBool,
}

impl Shared {
    fn inbox(&self) -> MutexGuard<'_, Vec<Msg>> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves `msg`; false when the thread is gone.
    fn leave(&self, msg: Msg) -> bool {
        // A new stream wakes an idle thread, which then gathers on the clock.
        let urgent = matches!(msg, Msg::Finish(..) | Msg::Open(_));
        let mut inbox = self.inbox();
        // Under the lock: a thread that ends clears the inbox after it is marked gone, so
        // nothing left here can wait unread.
        if !self.alive.load(Ordering::Acquire) {
            return false;
        }
        inbox.push(msg);
        drop(inbox);
        if urgent {
            self.bell.notify_one();
        }
        true
    }
}

/// A hashing thread, and how to reach it.
#[derive(Debug)]
pub(crate) struct Md5Pool {
    shared: Arc<Shared>,
    next_id: AtomicU64,
}

impl Md5Pool {
    /// Starts a hashing thread; it ends once the pool and every stream opened on it are gone.
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            alive: AtomicBool::new(true),
            ..Shared::default()
        });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("oms-md5".to_owned())
            .spawn(move || hash_loop(&theirs))?;
        Ok(Self {
            shared,
            next_id: AtomicU64::new(0),
        })
    }

    /// The process's pool, started on first use (`None` when no thread could be started).
    fn shared() -> Option<&'static Self> {
        static SHARED: OnceLock<Option<Md5Pool>> = OnceLock::new();
        SHARED
            .get_or_init(|| match Self::start() {
                Ok(pool) => Some(pool),
                Err(e) => {
                    tracing::warn!(error = %e, "no hashing thread; streams are hashed where they are read");
                    None
                }
            })
            .as_ref()
    }

    /// A new stream on this pool; `None` when its thread is gone.
    fn open(&self) -> Option<Sink> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.leave(Msg::Open(id)).then(|| Sink::Pooled {
            shared: self.shared.clone(),
            id,
        })
    }
}

/// Where a tee's chunks go.
#[derive(Debug, Clone)]
enum Sink {
    Pooled { shared: Arc<Shared>, id: u64 },
    Inline(Arc<Mutex<Md5State>>),
}

impl Sink {
    fn new(pool: Option<&Md5Pool>) -> Self {
        pool.and_then(Md5Pool::open)
            .unwrap_or_else(|| Self::Inline(Arc::new(Mutex::new(Md5State::new()))))
    }

    fn feed(&self, chunk: &Bytes) {
        match self {
            // A thread that is gone fails the digest; nothing to do here.
            Self::Pooled { shared, id } => {
                shared.leave(Msg::Data(*id, chunk.clone()));
            }
            Self::Inline(state) => state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .update(chunk),
        }
    }
}

/// The hashing thread stopped before it answered (it panicked): the stream's MD5 is unknown.
#[derive(Debug, thiserror::Error)]
#[error("the MD5 of the bytes sent could not be computed: the hashing thread stopped")]
pub(crate) struct HashingStopped;

impl From<HashingStopped> for StorageError {
    fn from(e: HashingStopped) -> Self {
        Self::new(oms_storage::ErrorKind::Transient, "md5", e.to_string())
    }
}

/// The MD5 of the bytes that went through a [`Md5Tee`].
#[derive(Debug)]
pub(crate) struct Md5Sum {
    sink: Option<Sink>,
}

impl Md5Sum {
    /// The digest, as lower-case hex, of every byte the tee has passed on; ask once the stream
    /// has ended.
    pub(crate) async fn hex(mut self) -> Result<String, HashingStopped> {
        let digest = match self.sink.take() {
            Some(Sink::Pooled { shared, id }) => {
                let (answer, digest) = oneshot::channel();
                if !shared.leave(Msg::Finish(id, answer)) {
                    return Err(HashingStopped);
                }
                digest.await.map_err(|_| HashingStopped)?
            }
            Some(Sink::Inline(state)) => state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finalize(),
            None => return Err(HashingStopped),
        };
        Ok(hex::encode(digest))
    }
}

impl Drop for Md5Sum {
    fn drop(&mut self) {
        if let Some(Sink::Pooled { shared, id }) = self.sink.take() {
            shared.leave(Msg::Forget(id));
        }
    }
}

/// A stream that has what passes through it hashed.
pub(crate) struct Md5Tee {
    inner: ByteStream,
    sink: Sink,
}

impl Md5Tee {
    /// A tee on the process's hashing thread.
    pub(crate) fn new(inner: ByteStream) -> (Self, Md5Sum) {
        Self::on(inner, Md5Pool::shared())
    }

    /// A tee on `pool` (`None`: it hashes what it reads itself).
    fn on(inner: ByteStream, pool: Option<&Md5Pool>) -> (Self, Md5Sum) {
        let sink = Sink::new(pool);
        (
            Self {
                inner,
                sink: sink.clone(),
            },
            Md5Sum { sink: Some(sink) },
        )
    }
}

impl Stream for Md5Tee {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            self.sink.feed(chunk);
        }
        next
    }
}

/// One stream on the hashing thread.
struct Lane {
    id: u64,
    state: Md5State,
    queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    queued: usize,
}

impl Lane {
    fn new(id: u64) -> Self {
        Self {
            id,
            state: Md5State::new(),
            queue: VecDeque::new(),
            queued: 0,
        }
    }

    fn push(&mut self, chunk: Bytes) {
        self.queued += chunk.len();
        self.queue.push_back(chunk);
    }

    /// Hashes alone what keeps the lane from SIMD: the rest of a block begun earlier, and a
    /// chunk's tail shorter than a block when more is queued behind it. Afterwards the state is at
    /// a block boundary with a whole block at the front, or everything queued is less than a
    /// block.
    fn align(&mut self) {
        loop {
            let into_block = usize::try_from(self.state.bytes_hashed() % BLOCK as u64).unwrap_or(0);
            let more_behind = self.queue.len() > 1;
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            let take = if into_block != 0 {
                (BLOCK - into_block).min(front.len())
            } else if front.len() < BLOCK && more_behind {
                front.len()
            } else {
                return;
            };
            self.state.update(&front[..take]);
            self.consume(take);
        }
    }

    /// Whole blocks at the front, ready for a SIMD lane (after [`Self::align`]).
    fn run(&self) -> usize {
        if !self.state.bytes_hashed().is_multiple_of(BLOCK as u64) {
            return 0;
        }
        self.queue
            .front()
            .map_or(0, |front| (front.len() / BLOCK * BLOCK).min(MAX_RUN))
    }

    /// Takes `len` hashed bytes off the front.
    fn consume(&mut self, len: usize) {
        self.queued -= len;
        if let Some(front) = self.queue.front_mut() {
            front.advance(len);
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
    }

    /// The digest of everything, queued included.
    fn finish(mut self) -> [u8; 16] {
        for chunk in self.queue.drain(..) {
            self.state.update(&chunk);
        }
        self.state.finalize()
    }
}

/// Marks the thread gone when it ends, and drops what waits in its inbox (so that no digest is
/// waited for in vain).
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
        self.0.inbox().clear();
    }
}

fn hash_loop(shared: &Arc<Shared>) {
    let _gone = Gone(shared);
    let engine = Md5Many::new();
    let mut lanes: Vec<Lane> = Vec::new();
    let mut msgs = Vec::new();
    let mut pass = Instant::now();
    loop {
        {
            let mut inbox = shared.inbox();
            // Gather for a tick since the last pass, unless a digest is waited for.
            loop {
                if inbox.iter().any(|m| matches!(m, Msg::Finish(..))) {
                    break;
                }
                if lanes.is_empty() && inbox.is_empty() && Arc::strong_count(shared) == 1 {
                    return;
                }
                let wait = if lanes.is_empty() && inbox.is_empty() {
                    IDLE
                } else {
                    TICK.saturating_sub(pass.elapsed())
                };
                if wait.is_zero() {
                    break;
                }
                inbox = shared
                    .bell
                    .wait_timeout(inbox, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut *inbox, &mut msgs);
        }
        pass = Instant::now();
        // Finishes are answered after the data left before them has been hashed.
        let mut finishes = Vec::new();
        for msg in msgs.drain(..) {
            match msg {
                Msg::Open(id) => lanes.push(Lane::new(id)),
                Msg::Data(id, chunk) => {
                    if let Some(lane) = lanes.iter_mut().find(|l| l.id == id) {
                        lane.push(chunk);
                    }
                }
                Msg::Finish(id, answer) => finishes.push((id, answer)),
                Msg::Forget(id) => lanes.retain(|l| l.id != id),
            }
        }
        let finishing: Vec<u64> = finishes.iter().map(|(id, _)| *id).collect();
        hash_waiting(engine, &mut lanes, &finishing);
        for (id, answer) in finishes {
            if let Some(at) = lanes.iter().position(|l| l.id == id) {
                // The caller may have given up waiting; then nobody needs the digest.
                answer.send(lanes.swap_remove(at).finish()).ok();
            }
        }
    }
}

/// Hashes the whole blocks queued, side by side: in calls as wide as the engine while enough
/// lanes have blocks (the longest runs first, so that one short run holds back the fewest). The
/// rest waits for the next pass, where more lanes will have filled, unless it cannot or must not
/// wait: fewer streams are open than the engine has lanes, a digest is asked for, or a lane holds
/// [`HOLD_MAX`]. Then the lanes with blocks go in one narrower call (padded with copies of the
/// first lane, whose results are dropped; below 8 lanes `md5_many` is no faster than one stream),
/// or alone. `update_many` would take uneven lengths and any number of lanes itself, but then
/// runs at about one stream's speed or below (measured: 16 uneven lanes 620 MB/s, 5 to 7 even
/// ones about 250 MB/s, against 7 GB/s for 16 even ones), hence the even, padded calls here.
fn hash_waiting(engine: Md5Many, lanes: &mut [Lane], finishing: &[u64]) {
    let native = engine.lanes();
    let mut ready: Vec<(usize, usize)> = Vec::new();
    loop {
        ready.clear();
        for (at, lane) in lanes.iter_mut().enumerate() {
            lane.align();
            let run = lane.run();
            if run > 0 {
                ready.push((run, at));
            }
        }
        ready.sort_unstable_by(|a, b| b.cmp(a));
        let must_go = lanes.len() < native
            || ready
                .iter()
                .any(|&(_, at)| lanes[at].queued >= HOLD_MAX || finishing.contains(&lanes[at].id));
        let width = match ready.len() {
            0 => return,
            n if n >= native => native,
            _ if !must_go => return,
            1 => 1,
            _ if native < 8 => 1,
            n if n > native / 2 => native,
            _ => native / 2,
        };
        if width == 1 {
            let (run, at) = ready[0];
            let lane = &mut lanes[at];
            let front = lane.queue.front().map_or(&[][..], |f| &f[..run]);
            lane.state.update(front);
            lane.consume(run);
            continue;
        }
        let group = &ready[..ready.len().min(width)];
        let len = group.last().map_or(0, |&(run, _)| run);
        let mut states: Vec<Md5State> = group.iter().map(|&(_, at)| lanes[at].state).collect();
        let mut inputs: Vec<&[u8]> = group
            .iter()
            .map(|&(_, at)| lanes[at].queue.front().map_or(&[][..], |f| &f[..len]))
            .collect();
        states.resize(width, states[0]);
        inputs.resize(width, inputs[0]);
        engine.update_many(&mut states, &inputs);
        for (&(_, at), state) in group.iter().zip(states) {
            lanes[at].state = state;
            lanes[at].consume(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;
    use md5::{Digest as _, Md5};
    use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

    use super::*;

    fn stream_of(chunks: Vec<Bytes>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)))
    }

    fn random_bytes(rng: &mut StdRng, len: usize) -> Bytes {
        let mut data = vec![0_u8; len];
        rng.fill(&mut data[..]);
        data.into()
    }

    /// `data` cut into chunks of random lengths (some empty, some under a block).
    fn cut(data: &Bytes, rng: &mut StdRng) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let len = match rng.random_range(0..4) {
                0 => rng.random_range(0..70),
                1 => rng.random_range(0..5000),
                _ => rng.random_range(0..40_000),
            };
            let end = (at + len).min(data.len());
            chunks.push(data.slice(at..end));
            at = end;
        }
        chunks
    }

    #[tokio::test]
    async fn the_tee_hashes_the_bytes() {
        let pool = Md5Pool::start().unwrap();
        for pool in [Some(&pool), None] {
            let parts = vec![Bytes::from_static(b"hel"), Bytes::from_static(b"lo")];
            let (tee, sum) = Md5Tee::on(stream_of(parts), pool);
            let _: Vec<_> = tee.collect().await;
            assert_eq!(sum.hex().await.unwrap(), "5d41402abc4b2a76b9719d911017c592");
        }
    }

    /// Streams of every shape, read concurrently through one pool, each in random chunks: every
    /// digest is the plain MD5 of its stream, whether the pool ran it beside others or alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_streams_at_once_get_each_their_own_md5() {
        let pool = Arc::new(Md5Pool::start().unwrap());
        let mut rng = StdRng::seed_from_u64(7);
        let mut lengths = vec![0, 1, 63, 64, 65, 127, 128, 1000, 4096, 4097];
        lengths.extend((0..30).map(|_| rng.random_range(0..1_500_000)));
        let runs = lengths.into_iter().enumerate().map(|(n, len)| {
            let pool = pool.clone();
            let mut rng = StdRng::seed_from_u64(n as u64);
            let data = random_bytes(&mut rng, len);
            let chunks = cut(&data, &mut rng);
            tokio::spawn(async move {
                let (tee, sum) = Md5Tee::on(stream_of(chunks), Some(&pool));
                let mut tee = tee;
                let mut passed = Vec::new();
                while let Some(chunk) = tee.next().await {
                    passed.extend_from_slice(&chunk.unwrap());
                    tokio::task::yield_now().await;
                }
                assert_eq!(passed, data, "the tee passes the bytes on unchanged");
                (
                    sum.hex().await.unwrap(),
                    hex::encode(Md5::digest(&data)),
                    len,
                )
            })
        });
        for run in futures::future::join_all(runs).await {
            let (got, want, len) = run.unwrap();
            assert_eq!(got, want, "stream of {len} bytes");
        }
    }

    /// The thread's pass over queued chunks, without the thread's timing: lanes of every shape
    /// queued at once, so that they go side by side (full and padded widths) and alone.
    #[test]
    fn a_pass_hashes_queued_lanes_side_by_side_and_alone() {
        let engine = Md5Many::new();
        let mut rng = StdRng::seed_from_u64(11);
        for count in [1, 2, 5, 8, 9, 16, 17, 40] {
            let streams: Vec<Bytes> = (0..count)
                .map(|_| {
                    let len = rng.random_range(0..400_000);
                    random_bytes(&mut rng, len)
                })
                .collect();
            let mut lanes: Vec<Lane> = (0..count).map(|id| Lane::new(id as u64)).collect();
            // Half the chunks, a pass; the rest, and a pass that may hold nothing back (every
            // digest is asked for).
            let chunked: Vec<Vec<Bytes>> = streams.iter().map(|s| cut(s, &mut rng)).collect();
            for (lane, chunks) in lanes.iter_mut().zip(&chunked) {
                chunks[..chunks.len() / 2]
                    .iter()
                    .for_each(|c| lane.push(c.clone()));
            }
            hash_waiting(engine, &mut lanes, &[]);
            for (lane, chunks) in lanes.iter_mut().zip(&chunked) {
                chunks[chunks.len() / 2..]
                    .iter()
                    .for_each(|c| lane.push(c.clone()));
            }
            let all: Vec<u64> = lanes.iter().map(|l| l.id).collect();
            hash_waiting(engine, &mut lanes, &all);
            for lane in &lanes {
                assert_eq!(
                    lane.queued,
                    lane.queue.iter().map(Bytes::len).sum::<usize>()
                );
                assert!(
                    lane.queued < BLOCK,
                    "a pass that must go leaves less than a block"
                );
            }
            for (lane, data) in lanes.into_iter().zip(&streams) {
                assert_eq!(
                    hex::encode(lane.finish()),
                    hex::encode(Md5::digest(data)),
                    "{count} lanes, one of {} bytes",
                    data.len()
                );
            }
        }
    }

    /// An abandoned stream (a failed attempt) is dropped by the thread, and the others still
    /// get their digests.
    #[tokio::test]
    async fn abandoned_streams_do_not_disturb_the_others() {
        let pool = Md5Pool::start().unwrap();
        let data = Bytes::from(vec![5_u8; 300_000]);
        let (mut dropped, abandoned) = Md5Tee::on(stream_of(vec![data.clone()]), Some(&pool));
        dropped.next().await.unwrap().unwrap();
        drop(abandoned);
        let (tee, sum) = Md5Tee::on(
            stream_of(vec![data.slice(..1000), data.slice(1000..)]),
            Some(&pool),
        );
        let _: Vec<_> = tee.collect().await;
        assert_eq!(sum.hex().await.unwrap(), hex::encode(Md5::digest(&data)));
    }
}
