//! Stream adapters on object bytes: a bandwidth limiter (a token bucket per task, whose rate
//! follows the task's bandwidth policy and can change at any time); a watch on a source body
//! that keeps its error, so that a write which fails because its source failed blames the
//! source; and a cutter that turns one streamed read into the bodies of consecutive parts.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use oms_storage::{ByteStream, StorageError};
use tokio::time::Sleep;

/// How much a limiter lets through at once: a fifth of a second at the current rate.
const BURST_SECS: f64 = 0.2;

#[derive(Debug)]
struct Bucket {
    rate_bytes_per_sec: Option<u64>,
    tokens: f64,
    refilled: Instant,
}

/// A token bucket shared by all transfers of a task, which also counts the bytes it lets
/// through (the task's speed).
#[derive(Debug)]
pub(crate) struct Limiter {
    bucket: Mutex<Bucket>,
    sent: std::sync::atomic::AtomicU64,
    /// Bytes of the bodies being sent now (every [`Throttled`] alive), which no part or object
    /// has been counted for yet.
    in_flight: std::sync::atomic::AtomicU64,
}

impl Limiter {
    /// A limiter at `rate` bytes/s (`None`: unlimited).
    pub(crate) fn new(rate: Option<u64>) -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                rate_bytes_per_sec: rate,
                tokens: 0.0,
                refilled: Instant::now(),
            }),
            sent: std::sync::atomic::AtomicU64::new(0),
            in_flight: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Bytes of the bodies being sent now: what a task's `complete_size` shows moving while a
    /// large part travels (a part is counted as done only once the store took it).
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes let through so far (and bytes copied server-side, counted by [`Limiter::count`]).
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts `bytes` moved without passing through (a server-side copy).
    pub(crate) fn count(&self, bytes: u64) {
        self.sent
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the rate (takes effect for the next chunk).
    pub(crate) fn set_rate(&self, rate: Option<u64>) {
        let mut b = self.lock();
        if b.rate_bytes_per_sec != rate {
            b.rate_bytes_per_sec = rate;
            b.tokens = b.tokens.min(0.0);
            b.refilled = Instant::now();
        }
    }

    /// Takes `bytes` from the bucket; returns how long to wait before sending them. They are
    /// counted as sent ([`Limiter::count`]) once they are let through, not now: a chunk waiting
    /// its turn is not part of the task's speed yet.
    fn reserve(&self, bytes: usize) -> Duration {
        let mut b = self.lock();
        let Some(rate) = b.rate_bytes_per_sec.filter(|r| *r > 0) else {
            return Duration::ZERO;
        };
        let rate = rate as f64;
        let now = Instant::now();
        let elapsed = now.duration_since(b.refilled).as_secs_f64();
        b.refilled = now;
        b.tokens = (b.tokens + elapsed * rate).min(rate * BURST_SECS);
        b.tokens -= bytes as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }
}

/// A stream that sends no faster than its limiter allows, and counts what it passed as in
/// flight until it is dropped (sent, or abandoned).
pub(crate) struct Throttled {
    inner: ByteStream,
    limiter: Arc<Limiter>,
    wait: Option<(Pin<Box<Sleep>>, Bytes)>,
    passed: u64,
}

impl Throttled {
    pub(crate) fn new(inner: ByteStream, limiter: Arc<Limiter>) -> Self {
        Self {
            inner,
            limiter,
            wait: None,
            passed: 0,
        }
    }
}

impl Throttled {
    /// Counts `chunk` as sent, and in flight until the stream is dropped, as it goes on its way.
    fn let_through(&mut self, chunk: Bytes) -> Bytes {
        let len = chunk.len() as u64;
        self.passed += len;
        self.limiter
            .in_flight
            .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        self.limiter.count(len);
        chunk
    }
}

impl Drop for Throttled {
    fn drop(&mut self) {
        self.limiter
            .in_flight
            .fetch_sub(self.passed, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Stream for Throttled {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some((sleep, _)) = self.wait.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let chunk = self.wait.take().map(|(_, c)| self.let_through(c));
            return Poll::Ready(chunk.map(Ok));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let pause = self.limiter.reserve(chunk.len());
                if pause.is_zero() {
                    return Poll::Ready(Some(Ok(self.let_through(chunk))));
                }
                let mut sleep = Box::pin(tokio::time::sleep(pause));
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Ok(self.let_through(chunk))));
                }
                self.wait = Some((sleep, chunk));
                Poll::Pending
            }
            other => other,
        }
    }
}

/// The first error of a watched source body, shared with whoever sent it on.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFault(Arc<Mutex<Option<StorageError>>>);

impl SourceFault {
    /// The error the source body ended with, if it did.
    pub(crate) fn take(&self) -> Option<StorageError> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn keep(&self, error: &StorageError) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(error.clone());
        }
    }
}

/// A source body whose error is kept in a [`SourceFault`] as it passes by.
pub(crate) struct Watched {
    inner: ByteStream,
    fault: SourceFault,
}

impl Watched {
    pub(crate) fn new(inner: ByteStream) -> (Self, SourceFault) {
        let fault = SourceFault::default();
        (
            Self {
                inner,
                fault: fault.clone(),
            },
            fault,
        )
    }
}

impl Stream for Watched {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Err(e))) = &polled {
            self.fault.keep(e);
        }
        polled
    }
}

/// Where a [`Cutter`] waits between parts.
type CutterSlot = Arc<Mutex<Option<Cutter>>>;

/// One streamed read cut into the bodies of consecutive parts, without holding a part in
/// memory: each part's body reads its bytes from the stream and hands the stream back when it
/// has them all. A part whose upload fails leaves the stream in the middle of that part: the
/// read must then start over.
pub(crate) struct Cutter {
    inner: ByteStream,
    leftover: Option<Bytes>,
}

impl Cutter {
    pub(crate) fn new(inner: ByteStream) -> CutterSlot {
        Arc::new(Mutex::new(Some(Self {
            inner,
            leftover: None,
        })))
    }

    /// The body of the next `len` bytes, or `None` when the stream is not back (the part
    /// before did not take all its bytes).
    pub(crate) fn part(slot: &CutterSlot, len: u64) -> Option<PartBody> {
        let cutter = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        Some(PartBody {
            cutter: Some(cutter),
            remaining: len,
            slot: slot.clone(),
        })
    }
}

/// The bytes of one part, read from a [`Cutter`].
pub(crate) struct PartBody {
    cutter: Option<Cutter>,
    remaining: u64,
    slot: CutterSlot,
}

impl PartBody {
    fn give_back(&mut self) {
        if let Some(cutter) = self.cutter.take() {
            *self
                .slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cutter);
        }
    }
}

impl Stream for PartBody {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == 0 {
            self.give_back();
            return Poll::Ready(None);
        }
        let remaining = self.remaining;
        let Some(cutter) = self.cutter.as_mut() else {
            return Poll::Ready(None);
        };
        let chunk = match cutter.leftover.take() {
            Some(chunk) => chunk,
            None => match cutter.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                // The read is counted: it cannot end before the object does.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            },
        };
        let take = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let mut chunk = chunk;
        if take < chunk.len() {
            cutter.leftover = Some(chunk.split_off(take));
        }
        self.remaining -= take as u64;
        if self.remaining == 0 {
            self.give_back();
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    fn chunks(n: usize, size: usize) -> ByteStream {
        Box::pin(futures::stream::iter(
            (0..n).map(move |_| Ok(Bytes::from(vec![7_u8; size]))),
        ))
    }

    #[tokio::test]
    async fn a_limited_stream_takes_at_least_size_over_rate() {
        let limiter = Arc::new(Limiter::new(Some(1_000_000)));
        let started = Instant::now();
        let total: usize = Throttled::new(chunks(50, 10_000), limiter)
            .map(|c| c.unwrap().len())
            .collect::<Vec<_>>()
            .await
            .iter()
            .sum();
        assert_eq!(total, 500_000);
        // 500 kB at 1 MB/s, less the initial burst allowance.
        assert!(
            started.elapsed() >= Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn bytes_count_as_sent_once_they_are_let_through() {
        let limiter = Arc::new(Limiter::new(Some(1_000_000)));
        let mut stream = Throttled::new(chunks(2, 500_000), limiter.clone());
        // The first chunk waits its turn (half a second at 1 MB/s): it is not sent yet, and
        // neither the task's speed nor its bytes on their way may show it.
        assert!(futures::poll!(stream.next()).is_pending());
        assert_eq!((limiter.sent(), limiter.in_flight()), (0, 0));
        assert_eq!(stream.next().await.unwrap().unwrap().len(), 500_000);
        assert_eq!((limiter.sent(), limiter.in_flight()), (500_000, 500_000));
    }

    #[tokio::test]
    async fn one_read_is_cut_into_consecutive_parts() {
        let slot = Cutter::new(chunks(5, 7));
        let mut lens = Vec::new();
        for len in [10, 10, 15] {
            let body = Cutter::part(&slot, len).expect("the stream is back");
            let bytes: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
            lens.push(bytes.iter().map(Bytes::len).sum::<usize>());
        }
        assert_eq!(lens, [10, 10, 15]);
        let mut half = Cutter::part(&slot, 0).unwrap();
        assert!(half.next().await.is_none());
        let (mut watched, fault) = Watched::new(Box::pin(futures::stream::iter([Err(
            StorageError::new(oms_storage::ErrorKind::Transient, "GET", "cut"),
        )])));
        assert!(watched.next().await.unwrap().is_err());
        assert_eq!(fault.take().unwrap().message, "cut");
    }

    #[tokio::test]
    async fn an_unlimited_stream_does_not_wait() {
        let limiter = Arc::new(Limiter::new(None));
        let started = Instant::now();
        let n = Throttled::new(chunks(100, 100_000), limiter).count().await;
        assert_eq!(n, 100);
        assert!(started.elapsed() < Duration::from_millis(200));
    }
}
