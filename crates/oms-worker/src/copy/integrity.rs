//! How a write proves its bytes. Every body the engine sends is checked one of two ways:
//!
//! - **by its entity tag**: the MD5 of what was sent (from a tee, or vouched for by the source)
//!   is compared with the ETag the destination answers, when that ETag is the MD5 of the bytes
//!   (a plain or SSE-S3 object, one piece);
//! - **by the store**: the body goes with `Content-MD5`, so that the store refuses one that
//!   arrives otherwise (`BadDigest`). This is the only proof where the answer's ETag is opaque
//!   (SSE-KMS, customer keys), and what Object Lock buckets require of every write.
//!
//! `Content-MD5` costs nothing when the source vouches for its MD5 before the body is read (a
//! plain S3 object read whole). Otherwise the digest is known only after the bytes are read, so
//! the body is held in memory first — done only where the destination needs it: once it is
//! known to encrypt with opaque ETags or to refuse writes without a checksum (found out before
//! the first write from the bucket's settings, or from the first answer that says so), every
//! later body of the run is hashed before it is sent, within [`BUFFER_BUDGET_BYTES`].

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use md5::{Digest as _, Md5};
use oms_storage::{ByteStream, ErrorKind, Payload, PutOutcome, StorageError};
use tokio::sync::{Semaphore, watch};

/// Bytes one run may hold in memory to hash bodies before sending them (a multipart part is at
/// most the part size; larger single objects go in parts while bodies are hashed first).
pub(crate) const BUFFER_BUDGET_BYTES: u64 = 256 * 1024 * 1024;
/// The unit the budget is counted in.
const BUFFER_UNIT_BYTES: u64 = 1024 * 1024;

/// What a run knows of how its destination proves bytes.
#[derive(Debug)]
pub(crate) struct Integrity {
    /// Every body must carry `Content-MD5`.
    md5_first: AtomicBool,
    /// Room for bodies held to be hashed, in [`BUFFER_UNIT_BYTES`].
    buffers: Semaphore,
    /// Whether what the destination's settings say is known (read, or found unreadable):
    /// copies wait for it before they choose how to write ([`Self::settled`]). Its sender is
    /// the [`Settling`] that learns them; once that is gone there is nothing to wait for.
    settled: watch::Receiver<bool>,
}

impl Default for Integrity {
    /// Nothing to learn: writes go without `Content-MD5` until an answer asks for it.
    fn default() -> Self {
        Self::waiting_for(watch::channel(true).1)
    }
}

fn units(bytes: u64) -> usize {
    usize::try_from(bytes.div_ceil(BUFFER_UNIT_BYTES)).unwrap_or(usize::MAX)
}

/// The MD5 of `bytes`, hex.
pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// What learns the destination's settings for an [`Integrity`] that copies wait on: dropped
/// without learning (a run that ends first, a panic), it lets them go as if the destination
/// had not said, and its answers tell.
#[derive(Debug)]
#[must_use = "copies wait until the destination's settings are learnt or this is dropped"]
pub(crate) struct Settling(watch::Sender<bool>);

impl Settling {
    /// Asks the destination bucket of `ctx` whether its writes need `Content-MD5` (default
    /// SSE-KMS, Object Lock), unless this worker read that within the last minute as the same
    /// `caller` (see [`crate::seen`]), then lets the copies of `ctx` go. A store that does not
    /// say is found out by its first answers instead.
    pub(crate) async fn learn(self, ctx: &super::CopyCtx, caller: oms_storage::connect::Caller) {
        let (integrity, config, destination, bucket) = (
            &ctx.integrity,
            &ctx.config,
            ctx.destination.as_ref(),
            ctx.dst_bucket(),
        );
        let seen = &config.buckets_seen;
        let reason = match seen.write_settings(caller, bucket) {
            Some(reason) => reason,
            None => match destination.writes_need_content_md5(bucket).await {
                Ok(reason) => {
                    seen.read_write_settings(caller, bucket, reason.clone());
                    reason
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the destination bucket's encryption and Object Lock settings cannot be read; its answers will tell");
                    // A store that does not keep these settings, or keys that may not read
                    // them, answer the same way a moment later; a throttled, failed or
                    // missing-bucket answer may not.
                    if matches!(e.kind, ErrorKind::Denied | ErrorKind::Permanent) {
                        seen.read_write_settings(caller, bucket, None);
                    }
                    None
                }
            },
        };
        if let Some(reason) = reason {
            integrity.require_md5(&reason);
        }
        self.0.send_replace(true);
    }
}

impl Integrity {
    fn waiting_for(settled: watch::Receiver<bool>) -> Self {
        Self {
            md5_first: AtomicBool::new(false),
            buffers: Semaphore::new(units(BUFFER_BUDGET_BYTES)),
            settled,
        }
    }

    /// An `Integrity` that copies wait on until its [`Settling`] has read the destination's
    /// settings: the read goes beside the run's first requests (its listings) instead of
    /// before them, a round trip saved on every task across a WAN.
    pub(crate) fn unsettled() -> (Self, Settling) {
        let (sender, settled) = watch::channel(false);
        (Self::waiting_for(settled), Settling(sender))
    }

    /// Waits until the destination's settings are known.
    pub(crate) async fn settled(&self) {
        let mut settled = self.settled.clone();
        // An error: the `Settling` is gone, and nothing more will be learnt.
        let _ = settled.wait_for(|known| *known).await;
    }

    /// Whether every body must be sent with `Content-MD5`.
    pub(crate) fn md5_first(&self) -> bool {
        self.md5_first.load(Ordering::Relaxed)
    }

    /// From now on, every body is sent with `Content-MD5`, because of `reason`.
    pub(crate) fn require_md5(&self, reason: &str) {
        if !self.md5_first.swap(true, Ordering::Relaxed) {
            tracing::info!(reason, "every write of this run now carries Content-MD5");
        }
    }

    /// `body` (`size` bytes) as a payload with `Content-MD5`: `known_md5` when the source
    /// vouched for it, else computed by reading the body into memory first when the
    /// destination needs it. Returns the payload and, when the body streams unhashed, nothing
    /// (the caller tees it).
    pub(crate) async fn payload(
        &self,
        body: ByteStream,
        size: u64,
        known_md5: Option<String>,
    ) -> Result<Payload, StorageError> {
        if known_md5.is_some() || !self.md5_first() {
            return Ok(Payload {
                body,
                size,
                content_md5: known_md5,
            });
        }
        let budget = units(size).min(units(BUFFER_BUDGET_BYTES));
        let _room = self
            .buffers
            .acquire_many(u32::try_from(budget).unwrap_or(u32::MAX))
            .await
            .map_err(|_| StorageError::new(ErrorKind::Transient, "hash body", "closed"))?;
        let bytes = collect(body, size).await?;
        let md5 = md5_hex(&bytes);
        Ok(Payload {
            body: Box::pin(futures::stream::once(async move { Ok(bytes) })),
            size,
            content_md5: Some(md5),
        })
    }

    /// What a write's answer proves. `sent_md5`: the MD5 of the bytes sent (from a tee, or the
    /// `Content-MD5` they went with). A mismatch is a transient error (the bytes are sent
    /// again); an answer that proves nothing (an opaque ETag, no `Content-MD5` sent) switches
    /// the run to `Content-MD5` and is a transient error too, so that the body is sent again
    /// with it.
    pub(crate) fn check(
        &self,
        outcome: &PutOutcome,
        sent_md5: &str,
        content_md5_sent: bool,
        operation: &'static str,
    ) -> Result<(), StorageError> {
        if let Some(etag) = outcome.etag_md5() {
            if !etag.eq_ignore_ascii_case(sent_md5) {
                return Err(StorageError::new(
                    ErrorKind::Transient,
                    operation,
                    format!("MD5 mismatch: sent {sent_md5}, the destination stored {etag}"),
                ));
            }
            return Ok(());
        }
        if content_md5_sent || !outcome.opaque_etag {
            // The store checked the bytes against their Content-MD5; or it gives no tag to
            // compare and says nothing of encryption (nothing more can be learnt here).
            return Ok(());
        }
        self.require_md5("the destination encrypts objects so that their entity tags are not MD5s (SSE-KMS or customer keys)");
        Err(StorageError::new(
            ErrorKind::Transient,
            operation,
            "the destination's entity tag cannot prove the bytes (SSE-KMS); sending them again with Content-MD5",
        ))
    }

    /// A write refused for want of `Content-MD5` (Object Lock) switches the run to it; the
    /// error becomes transient so that the write is tried again with it.
    pub(crate) fn refused(&self, mut error: StorageError) -> StorageError {
        if error.kind == ErrorKind::ChecksumRequired {
            self.require_md5(
                "the destination bucket requires Content-MD5 on every write (Object Lock)",
            );
            error.kind = ErrorKind::Transient;
        }
        error
    }
}

/// Reads exactly `size` bytes of `body` into one buffer.
async fn collect(mut body: ByteStream, size: u64) -> Result<Bytes, StorageError> {
    let mut buffer = BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&chunk?);
    }
    if buffer.len() as u64 != size {
        return Err(StorageError::new(
            ErrorKind::Transient,
            "read body",
            format!(
                "the body held {} bytes, {size} were announced",
                buffer.len()
            ),
        ));
    }
    Ok(buffer.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_wait_for_the_settings_and_go_once_nothing_will_learn_them() {
        use std::time::Duration;
        let (integrity, settling) = Integrity::unsettled();
        let waited = tokio::time::timeout(Duration::from_millis(50), integrity.settled()).await;
        assert!(waited.is_err(), "an unsettled integrity holds copies back");
        // A run that ends (or panics) before the settings are read lets them go.
        drop(settling);
        tokio::time::timeout(Duration::from_secs(5), integrity.settled())
            .await
            .unwrap();
        assert!(!integrity.md5_first());
        tokio::time::timeout(Duration::from_secs(5), Integrity::default().settled())
            .await
            .unwrap();
    }

    fn outcome(etag: &str, opaque: bool) -> PutOutcome {
        PutOutcome {
            etag: Some(etag.to_owned()),
            opaque_etag: opaque,
            crc64: None,
            encryption: oms_storage::Encryption::default(),
        }
    }

    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";
    const OTHER: &str = "00000000000000000000000000000000";

    #[test]
    fn a_plain_etag_is_compared_with_what_was_sent() {
        let integrity = Integrity::default();
        assert!(
            integrity
                .check(&outcome(MD5, false), MD5, false, "put")
                .is_ok()
        );
        let err = integrity
            .check(&outcome(OTHER, false), MD5, false, "put")
            .unwrap_err();
        assert!(err.kind.is_retryable());
        // A multipart ETag is no MD5: nothing to compare.
        assert!(
            integrity
                .check(&outcome("abc-3", false), MD5, false, "put")
                .is_ok()
        );
        assert!(!integrity.md5_first());
    }

    #[test]
    fn an_opaque_etag_never_fails_a_good_copy_nor_passes_an_unproven_one() {
        let integrity = Integrity::default();
        // Sent with Content-MD5: the store checked the bytes.
        assert!(
            integrity
                .check(&outcome(OTHER, true), MD5, true, "put")
                .is_ok()
        );
        assert!(!integrity.md5_first());
        // Sent without: unproven, sent again, and from now on with Content-MD5.
        let err = integrity
            .check(&outcome(OTHER, true), MD5, false, "put")
            .unwrap_err();
        assert!(err.kind.is_retryable());
        assert!(integrity.md5_first());
    }

    #[tokio::test]
    async fn bodies_are_hashed_first_only_when_the_destination_needs_it() {
        let integrity = Integrity::default();
        let body = |b: &'static [u8]| -> ByteStream {
            Box::pin(futures::stream::once(
                async move { Ok(Bytes::from_static(b)) },
            ))
        };
        let streamed = integrity.payload(body(b"hello"), 5, None).await.unwrap();
        assert_eq!(streamed.content_md5, None);
        integrity.require_md5("test");
        let hashed = integrity.payload(body(b"hello"), 5, None).await.unwrap();
        assert_eq!(hashed.content_md5.as_deref(), Some(MD5));
        let vouched = integrity
            .payload(body(b"hello"), 5, Some(MD5.to_owned()))
            .await
            .unwrap();
        assert_eq!(vouched.content_md5.as_deref(), Some(MD5));
        assert!(integrity.payload(body(b"hello"), 6, None).await.is_err());
    }
}
