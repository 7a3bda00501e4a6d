//! Real S3 servers for the engine tests: s3s-fs in-process on 127.0.0.1:0, signature-checked,
//! behind a thin wrapper that counts calls per operation and key and injects faults
//! (503 SlowDown on chosen keys' first attempts, keys that always fail, calls refused, slow or
//! held part uploads, lost answers, bytes garbled on the way in) and misbehaves the way real stores sometimes do
//! (listings out of order, broken paging, an object overwritten during a read, bodies cut short,
//! times listed at another precision).
//!
//! The wrapper also gives s3s-fs what S3 does and s3s-fs leaves out: `If-Match` on GetObject
//! and `x-amz-copy-source-if-match` on UploadPartCopy answer 412 when the object's entity tag
//! is another (s3s-fs itself honours the condition on CopyObject only).

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use md5::{Digest as _, Md5};
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::stream::RemainingLength;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, StdError};
use s3s_fs::FileSystem;
use tokio_util::sync::CancellationToken;

/// A path-style client of any S3 endpoint.
pub fn client(url: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ak, sk, None, None, "test"))
        .endpoint_url(url)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// An object's bytes, read with one GET.
pub async fn object_bytes(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .to_vec()
}

/// Every key under `prefix`, in order — but the object lists a task writes under `oms/` (its
/// success, skip and failed lists), unless `prefix` asks for them: they are the migration's
/// records, not objects it copied.
pub async fn bucket_keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = all_bucket_keys(client, bucket, prefix).await;
    if !prefix.starts_with("oms/") {
        keys.retain(|k| !k.starts_with("oms/"));
    }
    keys
}

/// Every key under `prefix`, in order, the lists under `oms/` included.
async fn all_bucket_keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

/// The MD5 of every object under `prefix`, read back with GETs.
pub async fn bucket_md5s(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> BTreeMap<String, String> {
    let keys = bucket_keys(client, bucket, prefix).await;
    futures::stream::iter(keys)
        .map(|key| async move {
            let bytes = object_bytes(client, bucket, &key).await;
            (key, md5_hex(&bytes))
        })
        .buffer_unordered(32)
        .collect()
        .await
}

/// Faults a test can switch on.
#[derive(Debug, Default)]
pub struct Faults {
    /// Keys whose first `flaky_attempts` calls of each operation answer 503 SlowDown.
    pub flaky_keys: Mutex<HashSet<String>>,
    /// How many calls per operation and key fail for flaky keys.
    pub flaky_attempts: AtomicU32,
    /// Keys whose GET always fails with 500.
    pub broken_keys: Mutex<HashSet<String>>,
    /// A pause before every UploadPart, in ms.
    pub part_delay_ms: AtomicU32,
    /// While above 0: UploadParts arriving once this many have arrived in all are held until it
    /// is set back to 0, then answered 503 (by then their sender is gone: a worker killed with
    /// its parts in flight).
    pub hold_parts_after: AtomicU32,
    /// A pause before every PutObject, in ms.
    pub put_delay_ms: AtomicU32,
    /// How many of the next CompleteMultipartUploads are carried out but answered with 500, as
    /// if the answer had been lost on the way.
    pub lost_completions: AtomicU32,
    /// How many of the next PutObjects and UploadParts store their body with its first byte
    /// flipped, as if it had been damaged on the way (the store's ETag is then the MD5 of the
    /// damaged bytes).
    pub garbled_writes: AtomicU32,
    /// An object rewritten by someone else when a read of it reaches an offset.
    pub overwrite: Mutex<Option<Overwrite>>,
    /// Keys whose GetObject bodies end after half their bytes (Content-Length unchanged).
    pub short_bodies: Mutex<HashSet<String>>,
    /// A pause before every GetObject, in ms.
    pub get_delay_ms: AtomicU32,
    /// How ListObjectsV2 misbehaves.
    pub listing: Mutex<ListingFaults>,
    /// While above 0: this percentage of object requests (reads, writes, parts, copies, HEADs)
    /// is answered 503 SlowDown — a throttling storm.
    pub storm_percent: AtomicU32,
    /// While above 0: object requests beyond this many per second are answered 503 SlowDown,
    /// as S3 throttles a prefix above its request rate.
    pub max_requests_per_sec: AtomicU32,
    /// Requests answered 503 SlowDown by the storm or the rate limit.
    pub throttled: AtomicU32,
    /// Object requests served (not throttled by the storm or the rate limit).
    pub served: AtomicU32,
    /// PutObjects being served now.
    pub writes_in_flight: AtomicU32,
    /// How many PutObjects were in flight as each served one arrived, in arrival order.
    pub writes_in_flight_seen: Mutex<Vec<u32>>,
    /// The rate limit's window: (second it started, requests in it).
    window: Mutex<(u64, u32)>,
    /// Writes are answered as SSE-KMS stores answer them: `x-amz-server-side-encryption:
    /// aws:kms` and an entity tag that is not the MD5 of the bytes (so is every read).
    pub kms: std::sync::atomic::AtomicBool,
    /// The bucket says it encrypts with KMS by default (GetBucketEncryption); otherwise that
    /// call is not implemented, as in many S3-compatible stores.
    pub kms_advertised: std::sync::atomic::AtomicBool,
    /// PutObjects and UploadParts that came without Content-MD5.
    pub writes_without_md5: AtomicU32,
    /// PutObjects of keys starting with this are refused 403 AccessDenied.
    pub refused_write_prefix: Mutex<Option<String>>,
    /// Calls refused 403 AccessDenied, as (operation, key): `("create_multipart_upload", "k")`.
    pub refused_calls: Mutex<HashSet<(&'static str, String)>>,
    /// Answers about an object (HEAD, GET, PUT, CompleteMultipartUpload, CopyObject) carry
    /// its CRC-64/XZ in this header, as Huawei OBS (`x-obs-hash-crc64ecma`), Aliyun OSS
    /// (`x-oss-hash-crc64ecma`) and Tencent COS (`x-cos-hash-crc64ecma`) answer.
    pub crc64_header: Mutex<Option<&'static str>>,
    /// The CRC-64 answered is off by one: a store that lies about what it holds.
    pub crc64_lies: std::sync::atomic::AtomicBool,
}

/// The CRC-64/XZ of `bytes`, computed here independently of the engine's (the `crc` crate's
/// catalogue entry, whose check value is 0x995DC9BBDF1939FA).
pub fn crc64_xz(bytes: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(bytes)
}

/// The bucket and key an object operation's input names.
fn object_of(input: &(dyn Any + Send + Sync)) -> Option<(String, String)> {
    macro_rules! named {
        ($($ty:ty),*) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return Some((i.bucket.clone(), i.key.clone()));
            }
        )*};
    }
    named!(
        HeadObjectInput,
        GetObjectInput,
        PutObjectInput,
        CompleteMultipartUploadInput,
        CopyObjectInput
    );
    None
}

/// An entity tag as an SSE-KMS store makes it: 32 hex digits, stable per object, not its MD5.
fn kms_etag(real: &ETag) -> ETag {
    ETag::Strong(md5_hex(format!("kms:{}", real.value()).as_bytes()))
}

/// A PutObject being served, counted in [`Faults::writes_in_flight`] until dropped.
struct InFlightWrite<'a>(&'a Faults);

impl<'a> InFlightWrite<'a> {
    fn enter(faults: &'a Faults) -> Self {
        let now = faults.writes_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        faults.writes_in_flight_seen.lock().unwrap().push(now);
        Self(faults)
    }
}

impl Drop for InFlightWrite<'_> {
    fn drop(&mut self) {
        self.0.writes_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The operations a storm or a rate limit throttles: those on objects.
const OBJECT_OPERATIONS: &[&str] = &[
    "head_object",
    "get_object",
    "put_object",
    "copy_object",
    "create_multipart_upload",
    "upload_part",
    "upload_part_copy",
    "complete_multipart_upload",
];

impl Faults {
    /// Whether this request of `op` is throttled by the storm or the rate limit.
    fn throttles(&self, op: &str) -> bool {
        if !OBJECT_OPERATIONS.contains(&op) {
            return false;
        }
        let storm = self.storm_percent.load(Ordering::SeqCst);
        let mut throttled = storm > 0 && rand::random_range(0..100) < storm;
        let rate = self.max_requests_per_sec.load(Ordering::SeqCst);
        if !throttled && rate > 0 {
            let second = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
                / 1000;
            let mut window = self.window.lock().unwrap();
            if window.0 != second {
                *window = (second, 0);
            }
            window.1 += 1;
            throttled = window.1 > rate;
        }
        if throttled {
            self.throttled.fetch_add(1, Ordering::SeqCst);
        } else {
            self.served.fetch_add(1, Ordering::SeqCst);
        }
        throttled
    }
}

/// An object rewritten with `body` as soon as a ranged GetObject or an UploadPartCopy of `key`
/// starts at byte `at` (once).
#[derive(Debug, Clone)]
pub struct Overwrite {
    pub bucket: String,
    pub key: String,
    pub at: u64,
    pub body: Vec<u8>,
}

/// Ways ListObjectsV2 can go wrong.
#[derive(Debug, Clone, Default)]
pub struct ListingFaults {
    /// Every page comes in reverse key order.
    pub reversed: bool,
    /// Every page but the first is empty, truncated, without a continuation token.
    pub empty_after_first: bool,
    /// StartAfter and ContinuationToken are ignored: every request gets the first page.
    pub ignore_start_after: bool,
    /// Every listed object shows this LastModified (Unix ms).
    pub last_modified_ms: Option<i64>,
    /// Every page but the first comes after this pause, in ms.
    pub slow_after_first_ms: u64,
    /// Every page asked for after a key begins with that key again (StartAfter taken as
    /// inclusive).
    pub repeat_marker: bool,
}

/// A body whose first byte is flipped on the way in.
struct Garbled {
    inner: StreamingBlob,
    flipped: bool,
}

impl futures::Stream for Garbled {
    type Item = Result<bytes::Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) if !self.flipped && !chunk.is_empty() => {
                self.flipped = true;
                let mut damaged = chunk.to_vec();
                damaged[0] ^= 0xff;
                Poll::Ready(Some(Ok(damaged.into())))
            }
            other => other,
        }
    }
}

impl s3s::stream::ByteStream for Garbled {
    fn remaining_length(&self) -> RemainingLength {
        self.inner.remaining_length()
    }
}

/// A body that ends after `left` bytes while announcing more.
struct Short {
    inner: StreamingBlob,
    left: u64,
    announced: u64,
}

impl futures::Stream for Short {
    type Item = Result<bytes::Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(mut chunk))) => {
                let take = usize::try_from(self.left).unwrap().min(chunk.len());
                chunk.truncate(take);
                self.left -= take as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}

impl s3s::stream::ByteStream for Short {
    fn remaining_length(&self) -> RemainingLength {
        RemainingLength::new_exact(usize::try_from(self.announced).unwrap())
    }
}

/// Calls seen, per (operation, key).
#[derive(Debug, Default)]
pub struct Calls(Mutex<HashMap<(&'static str, String), u32>>);

impl Calls {
    fn record(&self, op: &'static str, key: &str) -> u32 {
        let mut calls = self.0.lock().unwrap();
        let n = calls.entry((op, key.to_owned())).or_default();
        *n += 1;
        *n
    }

    /// How often `op` was called for `key`.
    pub fn count(&self, op: &'static str, key: &str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .get(&(op, key.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How often `op` was called, over all keys.
    pub fn total(&self, op: &'static str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, n)| *n)
            .sum()
    }
}

struct Faulty {
    fs: FileSystem,
    faults: Arc<Faults>,
    calls: Arc<Calls>,
}

/// A request for s3s-fs made by the wrapper itself.
fn inner_request<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::GET,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

impl Faulty {
    /// The CRC-64 header for an answer about `object`, when [`Faults::crc64_header`] asks for
    /// one: the CRC-64/XZ of the whole object as stored now (plus one when the store lies).
    async fn crc64_answer(&self, object: Option<(String, String)>) -> Option<(&'static str, u64)> {
        let name = (*self.faults.crc64_header.lock().unwrap())?;
        let (bucket, key) = object?;
        let input = GetObjectInput::builder()
            .bucket(bucket)
            .key(key)
            .build()
            .ok()?;
        let out = self.fs.get_object(inner_request(input)).await.ok()?;
        let mut body = out.output.body?;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.ok()?);
        }
        let lie = u64::from(self.faults.crc64_lies.load(Ordering::SeqCst));
        Some((name, crc64_xz(&bytes).wrapping_add(lie)))
    }

    /// The object's entity tag now, as s3s-fs reports it.
    async fn etag_of(&self, bucket: &str, key: &str) -> S3Result<Option<ETag>> {
        let input = HeadObjectInput::builder()
            .bucket(bucket.to_owned())
            .key(key.to_owned())
            .build()
            .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
        match self.fs.head_object(inner_request(input)).await {
            Ok(out) => Ok(out.output.e_tag),
            Err(_) => Ok(None),
        }
    }

    /// 412 unless the object's entity tag is the one `condition` names (S3's If-Match).
    async fn check_if_match(
        &self,
        bucket: &str,
        key: &str,
        condition: Option<&ETagCondition>,
    ) -> S3Result<()> {
        let Some(condition) = condition else {
            return Ok(());
        };
        let now = self.etag_of(bucket, key).await?;
        let matches = match (condition, &now) {
            (ETagCondition::Any, Some(_)) => true,
            (ETagCondition::ETag(wanted), Some(now)) => wanted.value() == now.value(),
            (_, None) => return Err(S3Error::new(S3ErrorCode::NoSuchKey)),
        };
        if matches {
            Ok(())
        } else {
            Err(S3Error::new(S3ErrorCode::PreconditionFailed))
        }
    }

    /// Rewrites the object when a read of it starts at the offset [`Faults::overwrite`] names.
    async fn overwrite_at(&self, bucket: &str, key: &str, start: u64) {
        let due = {
            let mut overwrite = self.faults.overwrite.lock().unwrap();
            match overwrite.as_ref() {
                Some(o) if o.bucket == bucket && o.key == key && o.at == start => overwrite.take(),
                _ => None,
            }
        };
        if let Some(o) = due {
            let input = PutObjectInput::builder()
                .bucket(o.bucket)
                .key(o.key)
                .content_length(Some(i64::try_from(o.body.len()).unwrap()))
                .body(Some(StreamingBlob::from(s3s::Body::from(
                    bytes::Bytes::from(o.body),
                ))))
                .build()
                .unwrap();
            self.fs.put_object(inner_request(input)).await.unwrap();
        }
    }

    /// Holds an UploadPart beyond [`Faults::hold_parts_after`] until the hold ends, then
    /// refuses it.
    async fn hold_part(&self) -> S3Result<()> {
        let held = |faults: &Faults| faults.hold_parts_after.load(Ordering::SeqCst);
        let limit = held(&self.faults);
        if limit == 0 || self.calls.total("upload_part") <= limit {
            return Ok(());
        }
        while held(&self.faults) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(S3Error::with_message(
            S3ErrorCode::SlowDown,
            "this part was held back",
        ))
    }

    /// What a request does before s3s-fs serves it: the conditions s3s-fs does not check, and
    /// the overwrites due at this read.
    async fn conditions(&self, input: &(dyn Any + Send + Sync)) -> S3Result<()> {
        if let Some(get) = input.downcast_ref::<GetObjectInput>() {
            if let Some(Range::Int { first, .. }) = &get.range {
                self.overwrite_at(&get.bucket, &get.key, *first).await;
            }
            self.check_if_match(&get.bucket, &get.key, get.if_match.as_ref())
                .await?;
        } else if let Some(copy) = input.downcast_ref::<UploadPartCopyInput>() {
            let CopySource::Bucket { bucket, key, .. } = &copy.copy_source else {
                return Ok(());
            };
            let start = copy
                .copy_source_range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.split_once('-'))
                .and_then(|(first, _)| first.parse().ok());
            if let Some(start) = start {
                self.overwrite_at(bucket, key, start).await;
            }
            self.check_if_match(bucket, key, copy.copy_source_if_match.as_ref())
                .await?;
        }
        Ok(())
    }

    /// A ListObjectsV2 request as the faulty store takes it.
    async fn list_request(
        &self,
        input: &mut (dyn Any + Send + Sync),
    ) -> Option<S3Result<S3Response<ListObjectsV2Output>>> {
        let input = input.downcast_mut::<ListObjectsV2Input>()?;
        let faults = self.faults.listing.lock().unwrap().clone();
        let later = input.start_after.is_some() || input.continuation_token.is_some();
        if later && faults.slow_after_first_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.slow_after_first_ms)).await;
        }
        if faults.empty_after_first && later {
            let output = ListObjectsV2Output {
                name: Some(input.bucket.clone()),
                prefix: input.prefix.clone(),
                is_truncated: Some(true),
                key_count: Some(0),
                ..Default::default()
            };
            return Some(Ok(S3Response::new(output)));
        }
        if faults.ignore_start_after {
            input.start_after = None;
            input.continuation_token = None;
        }
        if let (true, Some(marker)) = (faults.repeat_marker, input.start_after.clone()) {
            let answer = self.fs.list_objects_v2(inner_request(input.clone())).await;
            let head = HeadObjectInput::builder()
                .bucket(input.bucket.clone())
                .key(marker.clone())
                .build()
                .unwrap();
            let head = self.fs.head_object(inner_request(head)).await;
            return Some(answer.map(|mut response| {
                if let Ok(head) = head {
                    let repeat = Object {
                        key: Some(marker),
                        size: head.output.content_length,
                        last_modified: head.output.last_modified,
                        e_tag: head.output.e_tag,
                        ..Default::default()
                    };
                    response
                        .output
                        .contents
                        .get_or_insert_with(Vec::new)
                        .insert(0, repeat);
                }
                response
            }));
        }
        None
    }

    /// A ListObjectsV2 answer as the faulty store gives it.
    fn list_answer(&self, output: &mut dyn Any) {
        let Some(output) = output.downcast_mut::<ListObjectsV2Output>() else {
            return;
        };
        let faults = self.faults.listing.lock().unwrap().clone();
        if let Some(contents) = output.contents.as_mut() {
            if faults.reversed {
                contents.reverse();
            }
            if let Some(ms) = faults.last_modified_ms {
                let at = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap());
                for object in contents.iter_mut() {
                    object.last_modified = Some(at.into());
                }
            }
        }
    }

    /// Cuts the body of a GetObject answer to half when [`Faults::short_bodies`] names the key.
    fn cut_short(&self, key: &str, output: &mut dyn Any) {
        let Some(output) = output.downcast_mut::<GetObjectOutput>() else {
            return;
        };
        if !self.faults.short_bodies.lock().unwrap().contains(key) {
            return;
        }
        let Some(length) = output.content_length else {
            return;
        };
        if let Some(body) = output.body.take() {
            let half = u64::try_from(length / 2).unwrap();
            output.body = Some(StreamingBlob::new(Short {
                inner: body,
                left: half,
                announced: u64::try_from(length).unwrap(),
            }));
        }
    }

    fn before(&self, op: &'static str, key: &str) -> S3Result<()> {
        let n = self.calls.record(op, key);
        if self
            .faults
            .refused_calls
            .lock()
            .unwrap()
            .contains(&(op, key.to_owned()))
        {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "this call is refused here",
            ));
        }
        if self.faults.throttles(op) {
            return Err(S3Error::with_message(
                S3ErrorCode::SlowDown,
                "please reduce your request rate",
            ));
        }
        if op == "get_object" && self.faults.broken_keys.lock().unwrap().contains(key) {
            return Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                "this key is broken",
            ));
        }
        if n <= self.faults.flaky_attempts.load(Ordering::SeqCst)
            && self.faults.flaky_keys.lock().unwrap().contains(key)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::SlowDown,
                "please slow down",
            ));
        }
        Ok(())
    }

    /// What the store answers itself, without s3s-fs: a refused write, a Content-MD5 that
    /// does not match an UploadPart's body (s3s-fs checks it on PutObject only), the bucket's
    /// encryption settings.
    async fn answer_itself(&self, input: &mut (dyn Any + Send + Sync)) -> Option<Box<dyn Any>> {
        if let Some(put) = input.downcast_mut::<PutObjectInput>() {
            if put.content_md5.is_none() {
                self.faults
                    .writes_without_md5
                    .fetch_add(1, Ordering::SeqCst);
            }
            let refused = self.faults.refused_write_prefix.lock().unwrap().clone();
            if refused.is_some_and(|p| put.key.starts_with(&p)) {
                let error: S3Result<S3Response<PutObjectOutput>> = Err(S3Error::with_message(
                    S3ErrorCode::AccessDenied,
                    "no writes here",
                ));
                return Some(Box::new(error));
            }
        }
        if let Some(part) = input.downcast_mut::<UploadPartInput>() {
            let Some(expected) = part.content_md5.clone() else {
                self.faults
                    .writes_without_md5
                    .fetch_add(1, Ordering::SeqCst);
                return None;
            };
            let mut bytes = Vec::new();
            if let Some(mut body) = part.body.take() {
                while let Some(chunk) = body.next().await {
                    bytes.extend_from_slice(&chunk.unwrap());
                }
            }
            use base64::Engine as _;
            let sent = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&bytes));
            if sent != expected {
                let error: S3Result<S3Response<UploadPartOutput>> = Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    "content_md5 mismatch",
                ));
                return Some(Box::new(error));
            }
            part.body = Some(StreamingBlob::from(s3s::Body::from(bytes::Bytes::from(
                bytes,
            ))));
        }
        if input.is::<GetBucketEncryptionInput>()
            && self.faults.kms_advertised.load(Ordering::SeqCst)
        {
            let rule = ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    kms_master_key_id: Some("test-key".into()),
                    sse_algorithm: ServerSideEncryption::from_static("aws:kms"),
                }),
                ..Default::default()
            };
            let output = GetBucketEncryptionOutput {
                server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                    rules: vec![rule],
                }),
            };
            let answer: S3Result<S3Response<GetBucketEncryptionOutput>> =
                Ok(S3Response::new(output));
            return Some(Box::new(answer));
        }
        None
    }

    /// Answers as an SSE-KMS store does when [`Faults::kms`] says so.
    fn encrypted(&self, output: &mut dyn Any) {
        if !self.faults.kms.load(Ordering::SeqCst) {
            return;
        }
        let kms = || Some(ServerSideEncryption::from_static("aws:kms"));
        macro_rules! opaque {
            ($($ty:ty),*) => {$(
                if let Some(out) = output.downcast_mut::<$ty>() {
                    out.e_tag = out.e_tag.as_ref().map(kms_etag);
                    out.server_side_encryption = kms();
                    return;
                }
            )*};
        }
        opaque!(
            PutObjectOutput,
            UploadPartOutput,
            HeadObjectOutput,
            GetObjectOutput
        );
        if let Some(out) = output.downcast_mut::<CompleteMultipartUploadOutput>() {
            out.server_side_encryption = kms();
        }
    }

    /// Damages the body of a write when [`Faults::garbled_writes`] says so.
    fn garble(&self, input: &mut dyn Any) {
        let body = if let Some(input) = input.downcast_mut::<PutObjectInput>() {
            &mut input.body
        } else if let Some(input) = input.downcast_mut::<UploadPartInput>() {
            &mut input.body
        } else {
            return;
        };
        let due = self
            .faults
            .garbled_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !due {
            return;
        }
        if let Some(inner) = body.take() {
            *body = Some(StreamingBlob::new(Garbled {
                inner,
                flipped: false,
            }));
        }
    }
}

/// The S3 implementation: every operation counts, may fail by the faults, then delegates to
/// s3s-fs. (The whole impl comes from one macro so that `async_trait` sees every method.)
macro_rules! faulty_s3 {
    ($($method:ident($input:ty) -> $output:ty, key: |$req:ident| $key:expr;)*) => {
        #[async_trait::async_trait]
        impl S3 for Faulty {
            $(
                async fn $method(&self, mut $req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    let key: String = $key;
                    self.before(stringify!($method), &key)?;
                    let _writing = (stringify!($method) == "put_object")
                        .then(|| InFlightWrite::enter(&self.faults));
                    self.garble(&mut $req.input);
                    let delay = match stringify!($method) {
                        "upload_part" => self.faults.part_delay_ms.load(Ordering::SeqCst),
                        "put_object" => self.faults.put_delay_ms.load(Ordering::SeqCst),
                        "get_object" => self.faults.get_delay_ms.load(Ordering::SeqCst),
                        _ => 0,
                    };
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
                    }
                    if stringify!($method) == "upload_part" {
                        self.hold_part().await?;
                    }
                    self.conditions(&$req.input).await?;
                    if let Some(answer) = self.list_request(&mut $req.input).await {
                        let answer: Box<dyn Any> = Box::new(answer);
                        return *answer.downcast::<S3Result<S3Response<$output>>>().unwrap();
                    }
                    if let Some(answer) = self.answer_itself(&mut $req.input).await {
                        return *answer.downcast::<S3Result<S3Response<$output>>>().unwrap();
                    }
                    let object = object_of(&$req.input);
                    let mut answer = self.fs.$method($req).await;
                    if let Ok(response) = answer.as_mut() {
                        self.list_answer(&mut response.output);
                        self.cut_short(&key, &mut response.output);
                        self.encrypted(&mut response.output);
                        if let Some((name, crc)) = self.crc64_answer(object).await {
                            response.headers.insert(name, crc.to_string().parse().unwrap());
                        }
                    }
                    if stringify!($method) == "complete_multipart_upload"
                        && answer.is_ok()
                        && self
                            .faults
                            .lost_completions
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                    {
                        return Err(S3Error::with_message(
                            S3ErrorCode::InternalError,
                            "the answer was lost",
                        ));
                    }
                    answer
                }
            )*
        }
    };
}

faulty_s3! {
    create_bucket(CreateBucketInput) -> CreateBucketOutput, key: |req| String::new();
    head_bucket(HeadBucketInput) -> HeadBucketOutput, key: |req| String::new();
    list_buckets(ListBucketsInput) -> ListBucketsOutput, key: |req| String::new();
    list_objects(ListObjectsInput) -> ListObjectsOutput, key: |req| req.input.prefix.clone().unwrap_or_default();
    list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output, key: |req| req.input.prefix.clone().unwrap_or_default();
    head_object(HeadObjectInput) -> HeadObjectOutput, key: |req| req.input.key.clone();
    get_object(GetObjectInput) -> GetObjectOutput, key: |req| req.input.key.clone();
    put_object(PutObjectInput) -> PutObjectOutput, key: |req| req.input.key.clone();
    delete_object(DeleteObjectInput) -> DeleteObjectOutput, key: |req| req.input.key.clone();
    copy_object(CopyObjectInput) -> CopyObjectOutput, key: |req| req.input.key.clone();
    create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput, key: |req| req.input.key.clone();
    upload_part(UploadPartInput) -> UploadPartOutput, key: |req| req.input.key.clone();
    upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput, key: |req| req.input.key.clone();
    complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput, key: |req| req.input.key.clone();
    abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput, key: |req| req.input.key.clone();
    list_parts(ListPartsInput) -> ListPartsOutput, key: |req| req.input.key.clone();
    get_bucket_encryption(GetBucketEncryptionInput) -> GetBucketEncryptionOutput, key: |req| String::new();
}

/// A running S3 server.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its access key.
    pub ak: String,
    /// Its secret key.
    pub sk: String,
    /// Switchable faults.
    pub faults: Arc<Faults>,
    /// Calls seen.
    pub calls: Arc<Calls>,
    _root: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl S3Server {
    /// Starts a server with its own keys and storage folder.
    pub async fn start(tag: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        let (ak, sk) = (
            format!("AK{}", tag.to_uppercase()),
            format!("SK-{tag}-{}", uuid::Uuid::new_v4().simple()),
        );
        let faults = Arc::new(Faults::default());
        let calls = Arc::new(Calls::default());
        let wrapped = Faulty {
            fs: FileSystem::new(root.path()).unwrap(),
            faults: faults.clone(),
            calls: calls.clone(),
        };
        let mut builder = S3ServiceBuilder::new(wrapped);
        builder.set_auth(SimpleAuth::from_single(ak.clone(), sk.clone()));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = conn => {}
                    }
                });
            }
        });
        Self {
            url,
            ak,
            sk,
            faults,
            calls,
            _root: root,
            shutdown,
        }
    }

    /// A client of this server (as a test would use one to seed and check buckets).
    pub fn client(&self) -> aws_sdk_s3::Client {
        client(&self.url, &self.ak, &self.sk)
    }

    /// Creates `bucket`.
    pub async fn create_bucket(&self, bucket: &str) {
        self.client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
    }

    /// Writes an object.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        metadata: &[(&str, &str)],
    ) {
        let mut req = self
            .client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body));
        if let Some(ct) = content_type {
            req = req.content_type(ct);
        }
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        req.send().await.unwrap();
    }

    /// Writes many objects, 32 at a time.
    pub async fn put_many(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        futures::stream::iter(objects)
            .for_each_concurrent(32, |(key, body)| async move {
                self.put(bucket, &key, body, None, &[]).await;
            })
            .await;
    }

    /// Every key under `prefix`, in order.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        bucket_keys(&self.client(), bucket, prefix).await
    }

    /// The MD5 of every object under `prefix`, read back with GETs.
    pub async fn md5s(&self, bucket: &str, prefix: &str) -> BTreeMap<String, String> {
        bucket_md5s(&self.client(), bucket, prefix).await
    }

    /// An object's Content-Type and user metadata.
    pub async fn headers(
        &self,
        bucket: &str,
        key: &str,
    ) -> (Option<String>, HashMap<String, String>) {
        let out = self
            .client()
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        (
            out.content_type().map(str::to_owned),
            out.metadata().cloned().unwrap_or_default(),
        )
    }
}

/// A TCP proxy that resets every connection (RST, mid-request) once the client has sent
/// `reset_after_bytes` through it.
pub struct ResetProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Connections reset so far.
    pub resets: Arc<AtomicU32>,
    shutdown: CancellationToken,
}

impl Drop for ResetProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl ResetProxy {
    /// Proxies to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, reset_after_bytes: usize) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let resets = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let (stop, counter) = (shutdown.clone(), resets.clone());
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
                };
                let (upstream, counter) = (upstream.clone(), counter.clone());
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    // Closing the client socket now sends a reset, not an orderly FIN.
                    let _ = client.set_zero_linger();
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let to_client = tokio::spawn(async move {
                        tokio::io::copy(&mut server_read, &mut client_write).await
                    });
                    let mut sent = 0;
                    let mut buf = vec![0_u8; 16 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        sent += n;
                        if sent > reset_after_bytes {
                            counter.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    to_client.abort();
                });
            }
        });
        Self {
            url,
            resets,
            shutdown,
        }
    }
}
