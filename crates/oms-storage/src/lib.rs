//! Connectors to object stores.
//!
//! Two small traits by capability: [`ReadStore`] (check a bucket, list a page from a marker,
//! head, a ranged get pinned to a version as a byte stream) for every store, and [`WriteStore`]
//! (put from a stream; multipart create / upload part / complete / abort / list) for
//! destinations, which are S3-compatible. Server-side copy is an optional capability
//! ([`ServerSideCopy`]), offered only where it works. Errors carry an [`ErrorKind`] decided in
//! one place (the `error` module), which is all the engine needs to choose between retrying, failing the
//! object, and failing the task. What a store answers is checked before it is used
//! (`client::read`).

pub mod account;
mod azure;
pub mod catalogue;
mod client;
#[cfg(feature = "test-support")]
pub mod conformance;
pub mod connect;
pub mod crc64;
mod error;
mod gcs;
pub mod guard;
mod listing;
pub mod metadata;
mod metered;
mod pace;
pub mod s3;
pub mod url;

use std::collections::BTreeMap;
use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use crate::client::read::Version;
pub use crate::error::{ErrorKind, StorageError};

/// Which side of a migration a store serves (and a check failed on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source side (keys of `src_node`).
    Source,
    /// The destination side (keys of `dst_node`).
    Destination,
}

/// Object bytes as they flow from a source to a destination.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send + Sync>>;

/// What a listing tells about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key, exactly as the store lists it.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix ms.
    pub last_modified_ms: i64,
    /// The entity tag, without quotes (absent where a store does not list it).
    pub etag: Option<String>,
    /// The storage class, when listed.
    pub storage_class: Option<String>,
}

/// One page of a listing, in key order.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The objects of this page, in key order.
    pub objects: Vec<ObjectInfo>,
    /// Whether more keys follow the last one.
    pub is_truncated: bool,
}

/// Headers that travel with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires (an HTTP date, as the store answered it).
    pub expires: Option<String>,
    /// User metadata (`x-amz-meta-*`), names lower-case.
    pub user_metadata: BTreeMap<String, String>,
    /// How many tags the object has, when the answer said (`x-amz-tagging-count`); the tags
    /// themselves are read with [`ReadStore::tags`].
    pub tag_count: Option<u32>,
}

/// What a HEAD tells about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key, size, time, entity tag and class, as a listing would tell them.
    pub info: ObjectInfo,
    /// The headers a copy carries over (content type, user metadata, ...).
    pub headers: ObjectHeaders,
    /// The object's CRC-64/XZ, when the store reports it ([`crc64`]).
    pub crc64: Option<u64>,
    /// Where a restore of an archived object stands (`x-amz-restore`); `None`: none was asked
    /// for (or the store does not say).
    pub restore: Option<Restore>,
    /// The server-side encryption the store says the object has.
    pub encryption: Encryption,
}

/// The server-side encryption a store says it applied to an object (in a write's answer or a
/// HEAD): `x-amz-server-side-encryption` and its KMS key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encryption {
    /// `AES256`, `aws:kms`, `aws:kms:dsse`, ...; `None`: the store did not say (no encryption,
    /// or a store that does not tell).
    pub algorithm: Option<String>,
    /// The KMS key, as the store names it (a key id or an ARN).
    pub kms_key_id: Option<String>,
}

impl Encryption {
    /// Whether this is SSE-KMS (or its dual-layer form).
    pub fn is_kms(&self) -> bool {
        self.algorithm.as_deref().is_some_and(|a| {
            a.to_ascii_lowercase().starts_with("aws:kms") || a.eq_ignore_ascii_case("kms")
        })
    }
}

/// How fast, and so at what price, an archive restores an object (S3's Glacier tiers; OBS,
/// COS and OSS take the same names through their S3 APIs, or their nearest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreTier {
    /// Minutes (a few, for GLACIER; not offered for DEEP_ARCHIVE).
    Expedited,
    /// Hours (3–5 for GLACIER, up to 12 for DEEP_ARCHIVE).
    #[default]
    Standard,
    /// The cheapest: up to 12 hours (GLACIER) or 48 (DEEP_ARCHIVE).
    Bulk,
}

impl RestoreTier {
    /// The tier named `name` (`Standard`, `Bulk`, `Expedited`, in any case).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "standard" => Some(Self::Standard),
            "bulk" => Some(Self::Bulk),
            "expedited" => Some(Self::Expedited),
            _ => None,
        }
    }
}

/// What a restore asks for: how long the restored copy is kept, and how fast it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreRequest {
    /// Days the restored copy stays readable.
    pub days: i32,
    /// The retrieval tier.
    pub tier: RestoreTier,
}

/// Where the restore of an archived object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// Asked for, not finished: the object cannot be read yet.
    InProgress,
    /// Finished: a readable copy is there until it expires.
    Done,
}

impl Restore {
    /// The state an `x-amz-restore` header says (`ongoing-request="true"` or `"false"`).
    pub fn from_header(value: &str) -> Option<Self> {
        let value = value.to_ascii_lowercase().replace(' ', "");
        if value.contains("ongoing-request=\"true\"") {
            Some(Self::InProgress)
        } else if value.contains("ongoing-request=\"false\"") {
            Some(Self::Done)
        } else {
            None
        }
    }
}

/// An object being downloaded: its headers and its bytes.
pub struct Download {
    /// Headers of the object.
    pub headers: ObjectHeaders,
    /// Bytes in `body` (exactly: the body ends in an error otherwise).
    pub content_length: u64,
    /// The whole object's size as the answer tells it (the total of its Content-Range, or its
    /// length for a whole read), when it tells it.
    pub total_size: Option<u64>,
    /// Last modification, Unix ms.
    pub last_modified_ms: i64,
    /// The entity tag, without quotes.
    pub etag: Option<String>,
    /// The MD5 of the whole object's bytes (hex), when the store vouches for it: an S3 ETag of
    /// a whole object stored in one piece without KMS or customer keys. A copy can then be
    /// verified against the destination's MD5 without hashing the bytes again.
    pub content_md5: Option<String>,
    /// The whole object's CRC-64/XZ, when the store reports it ([`crc64`]).
    pub crc64: Option<u64>,
    /// The bytes, `content_length` of them.
    pub body: ByteStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("content_length", &self.content_length)
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

/// How an object is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Headers to set on the written object (`tag_count` aside).
    pub headers: ObjectHeaders,
    /// The storage class to write with (`None`: the bucket's default).
    pub storage_class: Option<String>,
    /// SSE-KMS to write with (`None`: the bucket's default encryption, if any).
    pub kms: Option<oms_core::spec::Kms>,
    /// Tags to set on the written object (key, value).
    pub tags: Vec<(String, String)>,
}

/// The body of a write: its bytes, how many, and (when known before sending) their MD5.
pub struct Payload {
    /// The bytes, `size` of them.
    pub body: ByteStream,
    /// Bytes in `body`.
    pub size: u64,
    /// The MD5 of the bytes (hex), sent as `Content-MD5` so that the store refuses a body that
    /// arrives otherwise — the one proof of the bytes a store gives whatever it does to its
    /// entity tag (SSE-KMS), and what Object Lock buckets require of every write.
    pub content_md5: Option<String>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("size", &self.size)
            .field("content_md5", &self.content_md5)
            .finish_non_exhaustive()
    }
}

/// What the destination said about a written object or part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The entity tag, without quotes.
    pub etag: Option<String>,
    /// Whether the store says it encrypted the bytes in a way that makes its entity tag
    /// something other than their MD5 (SSE-KMS, customer-provided keys): the tag then proves
    /// nothing about the bytes.
    pub opaque_etag: bool,
    /// The CRC-64/XZ of the written object or part, when the store reports it ([`crc64`]).
    pub crc64: Option<u64>,
    /// The encryption the store says it applied (writes of whole objects: PUT, Complete, Copy).
    pub encryption: Encryption,
}

impl PutOutcome {
    /// The entity tag when it is the MD5 of the bytes written (plain or SSE-S3, one piece),
    /// which can be compared with the MD5 of what was sent.
    pub fn etag_md5(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| {
            !self.opaque_etag && e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())
        })
    }
}

/// A completed part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1-based part number.
    pub part_number: i32,
    /// The part's entity tag.
    pub etag: String,
}

/// What every store can do for a migration: be checked, listed and read. Sources are only ever
/// read (Google, Azure and HTTP sources implement nothing else); destinations are a
/// [`WriteStore`], which extends this.
#[async_trait]
pub trait ReadStore: Send + Sync + std::fmt::Debug {
    /// Checks that `bucket` exists and can be listed with these credentials.
    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError>;

    /// Up to `limit` objects under `prefix` with keys after `start_after`, as the store
    /// answers: its pages are untrusted input (order, progress and repeats are checked by the
    /// engine's paginator), but every key is the exact name the store holds.
    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError>;

    /// The object's metadata, or `None` when it does not exist.
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError>;

    /// The object's headers and bytes (`range`: a byte range of it). With `pinned`, the read is
    /// of that version only: the store is asked to refuse another one, and the answer is
    /// checked (`read::check_answer`): a changed object is [`ErrorKind::Changed`], a range
    /// the store did not honour is [`ErrorKind::RangeNotHonored`]. The body holds exactly
    /// [`Download::content_length`] bytes, or ends in an error.
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<Download, StorageError>;

    /// Asks the store to restore an archived object as `request` says (S3 RestoreObject); a
    /// restore already in progress is not an error. Stores that keep no archive cannot.
    async fn restore(
        &self,
        _bucket: &str,
        key: &str,
        _request: RestoreRequest,
    ) -> Result<(), StorageError> {
        Err(StorageError::new(
            ErrorKind::Permanent,
            "RestoreObject",
            format!("this source cannot restore the archived object {key}"),
        ))
    }

    /// The object's tags (key, value), in the store's order; none where a store keeps no tags.
    async fn tags(&self, _bucket: &str, _key: &str) -> Result<Vec<(String, String)>, StorageError> {
        Ok(Vec::new())
    }

    /// Identifies the endpoint and the access key (never the secret), so that the engine can
    /// tell whether two connectors reach the same store as the same user.
    fn identity(&self) -> String;

    /// Where the store is, for messages: its endpoint URL (scheme, host, port; no credentials).
    fn endpoint(&self) -> String {
        String::new()
    }

    /// Whether a listing can start after any key at the cost of one page (S3 `start-after`,
    /// the GCS marker): then the engine reads a long listing over several key ranges at once.
    /// A store that can only go on from a token it gave (Azure's marker) walks from the
    /// prefix's first key to get there, so its listings are read one page after another.
    fn lists_from_any_key(&self) -> bool {
        true
    }
}

/// A store that can be written: a migration's destination.
#[async_trait]
pub trait WriteStore: ReadStore {
    /// Writes an object from `payload`.
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        options: &WriteOptions,
    ) -> Result<PutOutcome, StorageError>;

    /// Starts a multipart upload; returns its id.
    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        options: &WriteOptions,
    ) -> Result<String, StorageError>;

    /// Uploads part `part_number` (1-based) from `payload`; the outcome always has an entity
    /// tag (the completion names the part by it).
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        payload: Payload,
    ) -> Result<PutOutcome, StorageError>;

    /// Completes a multipart upload from its parts, in part-number order.
    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome, StorageError>;

    /// Aborts a multipart upload and frees its parts.
    async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StorageError>;

    /// Deletes an object (a sync task propagating a removal); an object already gone is not
    /// an error.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError>;

    /// Server-side copy between buckets of this connector, where the store offers it.
    fn server_side_copy(&self) -> Option<&dyn ServerSideCopy> {
        None
    }

    /// Why every write to `bucket` needs `Content-MD5` (its default encryption makes entity
    /// tags opaque, or Object Lock requires a checksum), as far as the bucket's settings tell;
    /// `None` when they say neither.
    async fn writes_need_content_md5(&self, _bucket: &str) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
}

/// Copies without moving bytes through the worker.
#[async_trait]
pub trait ServerSideCopy: Send + Sync {
    /// Copies a whole object (up to 5 GiB), only if the source is still `pinned` (a changed
    /// source is [`ErrorKind::Changed`]). `replace_headers`: write `options.headers` instead of
    /// copying the source's.
    #[expect(clippy::too_many_arguments, reason = "mirrors CopyObject's parameters")]
    async fn copy_object(
        &self,
        source_bucket: &str,
        source_key: &str,
        pinned: &Version,
        bucket: &str,
        key: &str,
        options: &WriteOptions,
        replace_headers: bool,
    ) -> Result<PutOutcome, StorageError>;

    /// Copies `range` of a source object, only if it is still `pinned`, as part `part_number`
    /// of a multipart upload.
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors UploadPartCopy's parameters"
    )]
    async fn upload_part_copy(
        &self,
        source_bucket: &str,
        source_key: &str,
        pinned: &Version,
        range: Range<u64>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
    ) -> Result<String, StorageError>;
}
