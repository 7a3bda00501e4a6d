//! What every connector must do, checked against a real server (behind the `test-support`
//! feature). A test names a [`Subject`] — how to build the connector, how to put objects where it
//! reads them, what the store can do — and calls [`check_reads`]; destinations also pass
//! [`check_writes`]. A new connector is done when it passes them against its server.
//!
//! The checks: listing order and pagination ([`reads::listing`]), keys that URL encoders and
//! path normalisers get wrong ([`reads::odd_keys`]), empty objects, ranged reads pinned to one
//! version ([`reads::pinned_reads`]), headers and user metadata, and errors mapped to the same
//! [`ErrorKind`] by every connector ([`reads::errors`]); for destinations, single and multipart
//! writes with their headers, `Content-MD5`, aborts, deletes and server-side copies
//! ([`writes`]). A failed check panics with the subject's name and what differed.

pub mod reads;
pub mod writes;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt as _;

use crate::{ErrorKind, ObjectHeaders, ReadStore, StorageError, Version, WriteStore};

/// Puts objects where a connector under test reads them, with the store's own means (its API,
/// an emulator's, or an origin's file table): a read-only connector cannot seed itself.
#[async_trait]
pub trait Seed: Send + Sync {
    /// Writes (or replaces) the object `name` with `bytes` and `headers`.
    async fn put(&self, name: &str, bytes: Bytes, headers: &ObjectHeaders);
}

/// How a store treats keys with `.` or `..` segments (`a/./b`, `a/../b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotSegments {
    /// Kept as names, as S3 does: the connector must read exactly them.
    Kept,
    /// The store resolves them as paths: the connector must refuse them, never read another
    /// object.
    Refused,
    /// Not checked: keys are URLs (whose dot segments belong to the user's list), or the server
    /// cannot hold such names (a file-system store).
    NotApplicable,
}

/// What a store can do, which decides the checks that apply.
#[derive(Debug, Clone, Copy)]
pub struct Abilities {
    /// Buckets are listed (URL lists are not).
    pub lists: bool,
    /// Listings tell entity tags (s3s-fs's do not).
    pub listed_etags: bool,
    /// Standard headers (type, cache control, disposition, language) set when seeding are read
    /// back.
    pub headers: bool,
    /// User metadata set when seeding is read back.
    pub user_metadata: bool,
    /// A bucket that does not exist is told apart (URL lists have none).
    pub buckets: bool,
    /// The kind wrong keys are refused with: [`ErrorKind::BadCredentials`] from every real
    /// store; an emulator may answer otherwise (Azurite says `AuthorizationFailure` where Azure
    /// says `AuthenticationFailed`). `None`: the server takes any keys, or reads are anonymous.
    pub wrong_keys: Option<ErrorKind>,
    /// Dot segments in keys.
    pub dot_segments: DotSegments,
    /// Names of [`reads::ODD_NAMES`] the server cannot hold (a file-system store has no `a//b`),
    /// left out of the checks: a limit of the server, not of the connector.
    pub skipped_names: &'static [&'static str],
}

/// Builds the connector under test for `bucket`, with the right keys or wrong ones.
pub type Connect = dyn Fn(&str, bool) -> Arc<dyn ReadStore> + Send + Sync;

/// A connector under test, against its server.
pub struct Subject {
    /// Names the connector and server in failure messages (`s3 on moto`).
    pub name: String,
    /// A bucket of its own, existing and empty.
    pub bucket: String,
    /// Builds the connector.
    pub connect: Box<Connect>,
    /// Puts objects in `bucket`.
    pub seed: Box<dyn Seed>,
    /// The key the connector reads an object by: its name (buckets) or its URL (URL lists).
    pub key_of: Box<dyn Fn(&str) -> String + Send + Sync>,
    /// What the store can do.
    pub abilities: Abilities,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("name", &self.name)
            .field("bucket", &self.bucket)
            .field("abilities", &self.abilities)
            .finish_non_exhaustive()
    }
}

impl Subject {
    /// The connector with the right keys.
    pub fn store(&self) -> Arc<dyn ReadStore> {
        (self.connect)(&self.bucket, true)
    }

    async fn put(&self, name: &str, bytes: impl Into<Bytes>) {
        self.seed
            .put(name, bytes.into(), &ObjectHeaders::default())
            .await;
    }
}

/// A destination under test, against its server.
#[derive(Debug)]
pub struct WriteSubject {
    /// Names the connector and server in failure messages.
    pub name: String,
    /// A bucket of its own, existing and empty.
    pub bucket: String,
    /// The connector.
    pub store: Arc<dyn WriteStore>,
    /// Object tags are kept.
    pub tags: bool,
    /// The store refuses a body whose `Content-MD5` differs.
    pub checks_content_md5: bool,
    /// The store refuses a server-side copy whose source is no longer the version named
    /// (`x-amz-copy-source-if-match`), as S3 and OBS do; moto copies anyway (the engine checks
    /// the source again after a multipart copy, but a single CopyObject trusts the store).
    pub copy_conditions: bool,
}

/// Every read check, in turn.
pub async fn check_reads(subject: &Subject) {
    reads::odd_keys(subject).await;
    reads::empty_objects(subject).await;
    if subject.abilities.lists {
        reads::listing(subject).await;
    }
    reads::pinned_reads(subject).await;
    reads::headers(subject).await;
    reads::errors(subject).await;
}

/// Every write check, in turn.
pub async fn check_writes(subject: &WriteSubject) {
    writes::single_puts(subject).await;
    writes::multipart(subject).await;
    writes::aborts_and_deletes(subject).await;
    writes::server_side_copy(subject).await;
}

/// Writes through a destination connector: a destination seeds its own reads.
#[derive(Debug)]
pub struct SeedThrough {
    /// The connector written through.
    pub store: Arc<dyn WriteStore>,
    /// The bucket written to.
    pub bucket: String,
}

#[async_trait]
impl Seed for SeedThrough {
    #[expect(
        clippy::expect_used,
        reason = "test support: a failed seed fails the test"
    )]
    async fn put(&self, name: &str, bytes: Bytes, headers: &ObjectHeaders) {
        let options = crate::WriteOptions {
            headers: headers.clone(),
            ..crate::WriteOptions::default()
        };
        self.store
            .put(&self.bucket, name, payload(bytes, false), &options)
            .await
            .expect("seeding through the destination connector");
    }
}

/// `bytes` as a write's payload, with their MD5 when `with_md5`.
pub fn payload(bytes: Bytes, with_md5: bool) -> crate::Payload {
    let size = bytes.len() as u64;
    let content_md5 = with_md5.then(|| md5_hex(&bytes));
    crate::Payload {
        body: Box::pin(futures::stream::iter([Ok(bytes)])),
        size,
        content_md5,
    }
}

/// The MD5 of `bytes`, hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    hex::encode(Md5::digest(bytes))
}

/// Bytes that differ from key to key and from `salt` to `salt`.
pub fn bytes_for(name: &str, salt: u8, len: usize) -> Bytes {
    let seed = name
        .bytes()
        .fold(u32::from(salt).wrapping_mul(2_654_435_761), |h, b| {
            h.rotate_left(5) ^ u32::from(b)
        });
    (0..len)
        .map(|i| {
            let x = seed.wrapping_add(u32::try_from(i).unwrap_or(u32::MAX).wrapping_mul(40_503));
            x.to_le_bytes()[1] ^ (x >> 17).to_le_bytes()[0]
        })
        .collect()
}

/// What a read returned: the bytes, or the error (from the answer or from its body).
pub async fn read(
    store: &dyn ReadStore,
    bucket: &str,
    key: &str,
    range: Option<Range<u64>>,
    pinned: Option<&Version>,
) -> Result<Bytes, StorageError> {
    let download = store.get(bucket, key, range, pinned).await?;
    let announced = download.content_length;
    let chunks: Vec<Bytes> = download.body.try_collect().await?;
    let bytes: Bytes = chunks.concat().into();
    assert_eq!(
        bytes.len() as u64,
        announced,
        "a body holds the bytes its download announced"
    );
    Ok(bytes)
}

/// The version a HEAD tells.
pub fn version_of(meta: &crate::ObjectMeta) -> Version {
    Version {
        size: meta.info.size,
        etag: meta.info.etag.clone(),
        last_modified_ms: meta.info.last_modified_ms,
    }
}

/// Asserts that `result` failed with `kind`.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(
    subject: &str,
    what: &str,
    result: Result<T, StorageError>,
    kind: ErrorKind,
) {
    match result {
        Ok(value) => panic!("{subject}: {what}: expected a {kind:?} error, got {value:?}"),
        Err(e) => assert_eq!(e.kind, kind, "{subject}: {what}: {e}"),
    }
}

/// The user metadata the header checks set.
pub fn user_metadata() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("owner".to_owned(), "ops".to_owned()),
        ("stage".to_owned(), "nightly 2".to_owned()),
    ])
}
