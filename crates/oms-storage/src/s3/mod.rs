//! The S3 connector (aws-sdk-s3; listings, GETs and single PUTs are sent without it,
//! `s3/direct.rs`), for every S3-compatible cloud.
//!
//! Clients are built from the operator's endpoint and the keys of the request only: no ambient
//! `AWS_*` configuration is read. The SDK's own retries are off (the engine decides retries).
//! For clouds other than AWS, checksums are computed and validated only when required, because
//! most S3-compatible stores refuse the `aws-chunked` uploads that default checksums imply.
//! Requests go through `crate::transport` (hyper), which sends every key exactly as it is
//! (never resolving `.` or `..` segments) and lets answers with Latin-1 header values through. Reads are pinned with `If-Match` and `x-amz-copy-source-if-match`, and
//! listings ask for URL-encoded keys, so that every key comes back exactly as stored, even one
//! with characters XML cannot hold.

mod account;
mod direct;
pub(crate) mod transport;
mod write;

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as AwsByteStream;
use aws_sdk_s3::types::RequestPayer;
use bytes::Bytes;
use futures::Stream;
use http_body::{Frame, SizeHint};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret as _, SecretString};

use crate::catalogue::endpoints::Endpoint;
use crate::client::{Call, Dialect, downloaded, header_text};
use crate::s3::transport::HyperTransport;
use crate::{
    ByteStream, Download, ErrorKind, ListPage, ObjectHeaders, ObjectInfo, ObjectMeta, ReadStore,
    StorageError, Version,
};

/// How to reach an S3-compatible store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Where the store is, and whether it takes path-style requests.
    pub endpoint: Endpoint,
    /// The region used for signing.
    pub region: String,
    /// Access key requests are signed with (SigV4).
    pub access_key: String,
    /// Secret key requests are signed with.
    pub secret_key: SecretString,
    /// Temporary STS token, sent as `x-amz-security-token`.
    pub security_token: Option<SecretString>,
    /// Whether this is AWS itself (which takes the SDK's default checksums).
    pub is_aws: bool,
    /// Whether reads are billed to the requester.
    pub requester_pays: bool,
    /// Longest wait for a TCP (and TLS) connection to the store.
    pub connect_timeout: Duration,
    /// Timeout of one request without its body (listings, heads, part completion).
    pub operation_timeout: Duration,
}

/// An S3 connector.
#[derive(Debug, Clone)]
pub struct S3Connector {
    client: Client,
    /// Listings, GETs and single PUTs, sent without the SDK.
    direct: direct::Direct,
    identity: String,
    /// The endpoint, as errors name it.
    endpoint: String,
    requester_pays: bool,
}

/// Where S3 answers keep user metadata and the storage class.
const S3: Dialect = Dialect {
    meta_prefix: "x-amz-meta-",
    storage_class: "x-amz-storage-class",
};

/// Key characters that stay unencoded in `x-amz-copy-source`.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl S3Settings {
    /// The keys requests are signed with (the SDK's, and those of `direct.rs`).
    fn credentials(&self) -> Credentials {
        Credentials::new(
            self.access_key.clone(),
            self.secret_key.expose_secret().to_owned(),
            self.security_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "oms-request",
        )
    }
}

impl S3Connector {
    /// Builds a client for `settings`.
    pub fn new(settings: &S3Settings) -> Result<Self, StorageError> {
        let credentials = settings.credentials();
        let checksums = if settings.is_aws {
            (
                RequestChecksumCalculation::WhenSupported,
                ResponseChecksumValidation::WhenSupported,
            )
        } else {
            (
                RequestChecksumCalculation::WhenRequired,
                ResponseChecksumValidation::WhenRequired,
            )
        };
        let transport = HyperTransport::new(settings.connect_timeout, settings.operation_timeout)
            .map_err(|e| {
            StorageError::new(
                ErrorKind::Permanent,
                "connect",
                format!("cannot build an HTTP client: {e}"),
            )
        })?;
        let direct = direct::Direct::new(settings, transport.clone())?;
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(transport)
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .endpoint_url(settings.endpoint.url.clone())
            .force_path_style(settings.endpoint.path_style)
            .retry_config(RetryConfig::disabled())
            .request_checksum_calculation(checksums.0)
            .response_checksum_validation(checksums.1)
            // Throttled transfers may pause between chunks; the transport's read timeout
            // catches a store that stops sending.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            direct,
            identity: format!("s3|{}|{}", settings.endpoint.url, settings.access_key),
            endpoint: settings.endpoint.described(),
            requester_pays: settings.requester_pays,
        })
    }

    /// The SDK client (for the account-level calls of [`crate::account`]).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    fn payer(&self) -> Option<RequestPayer> {
        self.requester_pays.then_some(RequestPayer::Requester)
    }

    /// An SDK error of `operation` on `bucket` (and `key`), naming this endpoint.
    pub(crate) fn error<E>(
        &self,
        operation: &'static str,
        bucket: &str,
        key: Option<&str>,
        err: &SdkError<E, HttpResponse>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        map_err(operation, err).at(bucket, key).via(&self.endpoint)
    }

    /// A storage error of `operation` on `bucket` (and `key`), naming this endpoint.
    fn failure(
        &self,
        kind: ErrorKind,
        operation: &'static str,
        bucket: &str,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> StorageError {
        StorageError::new(kind, operation, message)
            .at(bucket, key)
            .via(&self.endpoint)
    }
}

/// The innermost cause of an error: the part of a chain that says what went wrong in words
/// (a connection refused, a timeout), without the wrappers' debug output.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The one translation of SDK errors into storage errors.
fn map_err<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let retry_after = err
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"));
    let (kind, message) = match err {
        SdkError::ConstructionFailure(_) => (
            ErrorKind::Permanent,
            format!("the request cannot be built: {}", root_cause(err)),
        ),
        SdkError::TimeoutError(_) => (ErrorKind::Transient, "timed out".to_owned()),
        SdkError::DispatchFailure(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_io() {
                "the connection failed"
            } else {
                "the request could not be sent"
            };
            (ErrorKind::Transient, format!("{what}: {}", root_cause(err)))
        }
        SdkError::ResponseError(_) => (
            ErrorKind::Transient,
            format!("the answer cannot be read: {}", root_cause(err)),
        ),
        _ => {
            let message = err.message().map(str::to_owned);
            return refusal(operation, status, code, message, retry_after);
        }
    };
    StorageError::new(kind, operation, message)
        .with_status(status, code)
        .with_retry_after(retry_after)
}

/// The one reading of a store's refusal of `operation` (an answer, not a success), whichever
/// way the request went (the SDK's, or direct.rs's): its code and message ("the store refused
/// the request" without one), its kind by status and code, and its `Retry-After`.
fn refusal(
    operation: &'static str,
    status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
    retry_after: Option<&str>,
) -> StorageError {
    let message = message.unwrap_or_else(|| "the store refused the request".to_owned());
    // AWS words an Object Lock bucket's refusal as an InvalidRequest.
    let kind = if code.as_deref() == Some("InvalidRequest") && message.contains("Content-MD5") {
        ErrorKind::ChecksumRequired
    } else {
        StorageError::classify_response(status, code.as_deref())
    };
    StorageError::new(kind, operation, message)
        .with_status(status, code)
        .with_retry_after(retry_after)
}

fn unquote(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_owned())
}

fn millis(t: Option<&aws_sdk_s3::primitives::DateTime>) -> i64 {
    t.and_then(|d| d.to_millis().ok()).unwrap_or(0)
}

fn size_of(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A response body as a [`ByteStream`].
struct ResponseBody {
    inner: Pin<Box<AwsByteStream>>,
    operation: &'static str,
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let operation = self.operation;
        self.inner.as_mut().poll_next(cx).map(|item| {
            item.map(|r| {
                r.map_err(|e| {
                    StorageError::new(
                        ErrorKind::Transient,
                        operation,
                        format!("reading the body failed: {}", root_cause(&e)),
                    )
                })
            })
        })
    }
}

/// A [`ByteStream`] as a request body of known size.
struct RequestBody {
    inner: ByteStream,
    size: u64,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = StorageError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StorageError>>> {
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.size)
    }
}

fn request_body(body: ByteStream, size: u64) -> AwsByteStream {
    AwsByteStream::from_body_1_x(RequestBody { inner: body, size })
}

/// `x-amz-copy-source` of `key` in `bucket`: the key URL-encoded, `/` kept, and the dots of
/// `.` and `..` segments encoded too, so that nothing between here and the store can read the
/// header as a path to resolve.
fn copy_source(bucket: &str, key: &str) -> String {
    let segments: Vec<String> = key
        .split('/')
        .map(|segment| match segment {
            "." => "%2E".to_owned(),
            ".." => "%2E%2E".to_owned(),
            _ => utf8_percent_encode(segment, COPY_SOURCE).to_string(),
        })
        .collect();
    format!("{bucket}/{}", segments.join("/"))
}

/// The headers of a HEAD or GET response (two types with the same accessors).
macro_rules! headers_of {
    ($out:expr) => {
        ObjectHeaders {
            content_type: $out.content_type().map(str::to_owned),
            content_encoding: $out.content_encoding().map(str::to_owned),
            content_disposition: $out.content_disposition().map(str::to_owned),
            content_language: $out.content_language().map(str::to_owned),
            cache_control: $out.cache_control().map(str::to_owned),
            expires: $out.expires_string().map(str::to_owned),
            user_metadata: $out
                .metadata()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            tag_count: $out.tag_count().and_then(|n| u32::try_from(n).ok()),
        }
    };
}

#[async_trait]
impl ReadStore for S3Connector {
    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.direct
            .list_objects_v2(bucket, &[("max-keys", "1")])
            .await
            .map_err(|e| e.at(bucket, None).via(&self.endpoint))?;
        Ok(())
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError> {
        let max_keys = limit.to_string();
        let mut query = vec![
            ("prefix", prefix),
            ("max-keys", max_keys.as_str()),
            ("encoding-type", "url"),
        ];
        if let Some(after) = start_after {
            query.push(("start-after", after));
        }
        let body = self
            .direct
            .list_objects_v2(bucket, &query)
            .await
            .map_err(|e| e.at(bucket, None).via(&self.endpoint))?;
        crate::listing::parse_list_bucket_result(&body)
            .map_err(|bad| self.failure(bad.kind(), "ListObjectsV2", bucket, None, bad.to_string()))
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let seen = crate::crc64::Crc64Seen::default();
        let out = match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_request_payer(self.payer())
            .customize()
            .interceptor(seen.clone())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = self.error("HeadObject", bucket, Some(key), &e);
                return if err.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(Some(ObjectMeta {
            info: ObjectInfo {
                key: key.to_owned(),
                size: size_of(out.content_length()),
                last_modified_ms: millis(out.last_modified()),
                etag: unquote(out.e_tag()),
                storage_class: out.storage_class().map(|c| c.as_str().to_owned()),
            },
            headers: headers_of!(out),
            crc64: seen.get(),
            restore: out.restore().and_then(crate::Restore::from_header),
            encryption: write::applied(
                out.server_side_encryption().map(|e| e.as_str()),
                out.ssekms_key_id(),
            ),
        }))
    }

    async fn restore(
        &self,
        bucket: &str,
        key: &str,
        asked: crate::RestoreRequest,
    ) -> Result<(), StorageError> {
        let tier = match asked.tier {
            crate::RestoreTier::Expedited => aws_sdk_s3::types::Tier::Expedited,
            crate::RestoreTier::Standard => aws_sdk_s3::types::Tier::Standard,
            crate::RestoreTier::Bulk => aws_sdk_s3::types::Tier::Bulk,
        };
        let request = aws_sdk_s3::types::RestoreRequest::builder()
            .days(asked.days)
            .glacier_job_parameters(
                aws_sdk_s3::types::GlacierJobParameters::builder()
                    .tier(tier)
                    .build()
                    .map_err(|e| {
                        self.failure(
                            ErrorKind::Permanent,
                            "RestoreObject",
                            bucket,
                            Some(key),
                            e.to_string(),
                        )
                    })?,
            )
            .build();
        match self
            .client
            .restore_object()
            .bucket(bucket)
            .key(key)
            .restore_request(request)
            .set_request_payer(self.payer())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = self.error("RestoreObject", bucket, Some(key), &e);
                // Asked for already (by this task before a pause or a crash, or by someone
                // else): it is under way.
                if err.code.as_deref() == Some("RestoreAlreadyInProgress") {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<Download, StorageError> {
        let header = range
            .as_ref()
            .map(|r| format!("bytes={}-{}", r.start, r.end.saturating_sub(1)));
        let if_match = pinned
            .and_then(Version::strong_etag)
            .map(|e| format!("\"{e}\""));
        let (parts, body) = self
            .direct
            .get_object(bucket, key, header.as_deref(), if_match.as_deref())
            .await
            .map_err(|e| e.at(bucket, Some(key)).via(&self.endpoint))?
            .into_parts();
        let headers = &parts.headers;
        let call = Call {
            operation: "GetObject",
            bucket,
            key: Some(key),
            endpoint: &self.endpoint,
        };
        let body = Box::pin(ResponseBody {
            inner: Box::pin(AwsByteStream::new(body)),
            operation: "GetObject",
        });
        let download = downloaded(
            &call,
            parts.status.as_u16(),
            headers,
            body,
            range.as_ref(),
            pinned,
            S3,
        )?;
        // With SSE-KMS or customer keys the ETag is not the MD5 of the bytes; a multipart
        // ETag ("...-N") is not either.
        let text = |name: &str| header_text(headers, name);
        let plain = !write::opaque_etag(
            text("x-amz-server-side-encryption").as_deref(),
            text("x-amz-server-side-encryption-customer-algorithm").as_deref(),
        );
        let content_md5 = download
            .etag
            .as_ref()
            .filter(|e| {
                range.is_none()
                    && plain
                    && e.len() == 32
                    && e.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .map(|e| e.to_ascii_lowercase());
        Ok(Download {
            headers: ObjectHeaders {
                tag_count: text("x-amz-tagging-count").and_then(|n| n.trim().parse().ok()),
                ..download.headers
            },
            content_md5,
            ..download
        })
    }

    async fn tags(&self, bucket: &str, key: &str) -> Result<Vec<(String, String)>, StorageError> {
        let answer = self
            .client
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .set_request_payer(self.payer())
            .send()
            .await
            .map_err(|e| self.error("GetObjectTagging", bucket, Some(key), &e));
        match answer {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()),
            // Stores without tags (s3s-fs, some S3-compatible clouds) say so.
            Err(e) if e.status == Some(501) || e.code.as_deref() == Some("NotImplemented") => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_url_encoded_but_keep_slashes() {
        assert_eq!(copy_source("b", "dir/a b+c.txt"), "b/dir/a%20b%2Bc.txt");
        assert_eq!(copy_source("b", "中/x"), "b/%E4%B8%AD/x");
        assert_eq!(
            copy_source("b", "../victim/./x/.hidden/a..b//"),
            "b/%2E%2E/victim/%2E/x/.hidden/a..b//"
        );
    }
}
