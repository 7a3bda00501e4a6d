//! CRC-64/XZ of the bytes a copy sends, for `consistency_check: crc64`: computed while they
//! stream ([`CrcTee`]), per part for multipart uploads and combined into the object's
//! ([`combine`]), then compared with what the source and the destination report
//! ([`verdict`]). The algorithm is the one Huawei OBS, Aliyun OSS and Tencent COS report
//! (`x-obs-hash-crc64ecma`, `x-oss-hash-crc64ecma`, `x-cos-hash-crc64ecma`).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crc_fast::{CrcAlgorithm, Digest};
use futures::Stream;
use oms_storage::ByteStream;

/// The CRC-64 the clouds report: ECMA-182 polynomial, reflected, all-ones start and end.
const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// A CRC-64 of some bytes, and how many bytes it covers (what combining needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crc64 {
    /// The CRC-64/XZ value.
    pub value: u64,
    /// Bytes it covers.
    pub len: u64,
}

/// The CRC-64 of `bytes`.
#[cfg(test)]
fn of(bytes: &[u8]) -> Crc64 {
    Crc64 {
        value: crc_fast::checksum(ALGORITHM, bytes),
        len: bytes.len() as u64,
    }
}

/// The CRC-64 of `first` followed by `then`.
pub(crate) fn combine(first: Crc64, then: Crc64) -> Crc64 {
    Crc64 {
        value: crc_fast::checksum_combine(ALGORITHM, first.value, then.value, then.len),
        len: first.len + then.len,
    }
}

/// The CRC-64 of an object from its parts' in order; `None` when one part's is unknown (a part
/// copied server-side, or saved by a run that computed none).
pub(crate) fn combine_parts(parts: impl IntoIterator<Item = Option<Crc64>>) -> Option<Crc64> {
    let mut parts = parts.into_iter();
    let first = parts.next()??;
    parts.try_fold(first, |acc, part| Some(combine(acc, part?)))
}

/// A body that computes the CRC-64 of what passes through it.
pub(crate) struct CrcTee {
    inner: ByteStream,
    state: Arc<Mutex<(Digest, u64)>>,
}

/// The CRC-64 a [`CrcTee`] computed, read once its body was sent.
#[derive(Clone)]
pub(crate) struct CrcSum(Arc<Mutex<(Digest, u64)>>);

impl CrcTee {
    /// Wraps `inner`.
    pub(crate) fn wrap(inner: ByteStream) -> (ByteStream, CrcSum) {
        let state = Arc::new(Mutex::new((Digest::new(ALGORITHM), 0)));
        let sum = CrcSum(state.clone());
        (Box::pin(Self { inner, state }), sum)
    }
}

impl CrcSum {
    /// The CRC-64 of the bytes that went through, when they were `expected_len` (a body not sent
    /// whole proves nothing).
    pub(crate) fn of_whole(&self, expected_len: u64) -> Option<Crc64> {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (state.1 == expected_len).then(|| Crc64 {
            value: state.0.finalize(),
            len: state.1,
        })
    }
}

impl Stream for CrcTee {
    type Item = <ByteStream as Stream>::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0.update(chunk);
            state.1 += chunk.len() as u64;
        }
        polled
    }
}

/// What the CRC-64 check of one copied object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every CRC-64 known agrees, and at least one side reported one to compare.
    Proven,
    /// Neither side reported a CRC-64 (or only one did, with nothing computed to hold it
    /// against): the object rests on size and time, as OMS falls back to.
    Unreported,
    /// Two of them differ: the object fails with this sentence.
    Mismatch(String),
}

/// Compares the CRC-64 of the bytes sent (`sent`: `None` when they did not pass through the
/// worker) with the ones the `source` and the `destination` reported.
pub(crate) fn verdict(sent: Option<u64>, source: Option<u64>, destination: Option<u64>) -> Verdict {
    let known = [
        ("the source reports", source),
        ("the bytes sent have", sent),
        ("the destination reports", destination),
    ];
    let present: Vec<(&str, u64)> = known
        .iter()
        .filter_map(|(who, v)| v.map(|v| (*who, v)))
        .collect();
    if let Some((a, b)) = present
        .iter()
        .zip(present.iter().skip(1))
        .find(|(a, b)| a.1 != b.1)
    {
        return Verdict::Mismatch(format!("CRC64 mismatch: {} {}, {} {}", a.0, a.1, b.0, b.1));
    }
    let reported = usize::from(source.is_some()) + usize::from(destination.is_some());
    if present.len() >= 2 && reported >= 1 {
        Verdict::Proven
    } else {
        Verdict::Unreported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_crc64_xz_as_the_clouds_publish_it() {
        // The check value of CRC-64/XZ (and of Aliyun's and Tencent's SDK test vectors).
        assert_eq!(of(b"123456789").value, 0x995D_C9BB_DF19_39FA);
        assert_eq!(of(b"").value, 0);
    }

    #[test]
    fn parts_combine_into_the_objects_crc() {
        let bytes: Vec<u8> = (0..100_000_u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = of(&bytes);
        let parts = bytes.chunks(30_000).map(|p| Some(of(p)));
        assert_eq!(combine_parts(parts), Some(whole));
        let missing = [Some(of(&bytes[..10])), None];
        assert_eq!(combine_parts(missing), None);
    }

    #[tokio::test]
    async fn the_tee_sees_every_byte_sent() {
        use futures::StreamExt as _;
        let chunks = ["1234", "56789"].map(|c| Ok(bytes::Bytes::from_static(c.as_bytes())));
        let (mut body, sum) = CrcTee::wrap(Box::pin(futures::stream::iter(chunks)));
        while body.next().await.is_some() {}
        assert_eq!(sum.of_whole(9).unwrap().value, 0x995D_C9BB_DF19_39FA);
        assert_eq!(sum.of_whole(10), None);
    }

    #[test]
    fn a_side_that_disagrees_fails_and_one_that_says_nothing_is_noted() {
        assert_eq!(verdict(Some(1), Some(1), Some(1)), Verdict::Proven);
        assert_eq!(verdict(Some(1), None, Some(1)), Verdict::Proven);
        assert_eq!(verdict(None, Some(1), Some(1)), Verdict::Proven);
        assert_eq!(verdict(Some(1), None, None), Verdict::Unreported);
        assert_eq!(verdict(None, Some(1), None), Verdict::Unreported);
        let Verdict::Mismatch(why) = verdict(Some(1), Some(1), Some(2)) else {
            panic!("a lying destination passed");
        };
        assert!(why.contains("the destination reports 2"), "{why}");
        assert!(matches!(
            verdict(Some(2), Some(1), None),
            Verdict::Mismatch(_)
        ));
    }
}
