//! The S3 connector's writes: single PUTs, multipart uploads (create, parts, complete, abort),
//! deletes, and server-side copies between buckets of one endpoint.

use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart as AwsCompletedPart, MetadataDirective,
    ServerSideEncryption, StorageClass, TaggingDirective,
};

use super::{S3Connector, as_i64, copy_source, request_body, unquote};
use crate::crc64::Crc64Seen;
use crate::{
    CompletedPart, ErrorKind, Payload, PutOutcome, ServerSideCopy, StorageError, Version,
    WriteOptions, WriteStore,
};

/// Applies write options to any request builder with the usual header setters.
macro_rules! with_options {
    ($builder:expr, $options:expr) => {{
        let h = &$options.headers;
        let mut b = $builder
            .set_content_type(h.content_type.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_disposition(h.content_disposition.clone())
            .set_content_language(h.content_language.clone())
            .set_cache_control(h.cache_control.clone())
            .set_expires(expires(h.expires.as_deref()))
            .set_tagging(tagging(&$options.tags))
            .set_storage_class($options.storage_class.as_deref().map(StorageClass::from))
            .set_server_side_encryption($options.kms.as_ref().map(|_| ServerSideEncryption::AwsKms))
            .set_ssekms_key_id($options.kms.as_ref().and_then(|k| k.key_id.clone()));
        for (k, v) in &h.user_metadata {
            b = b.metadata(k, v);
        }
        b
    }};
}

/// An `Expires` date as S3 takes it; a value that is no HTTP date (S3 keeps what it is sent,
/// but the SDK sends only dates) is dropped.
fn expires(value: Option<&str>) -> Option<aws_sdk_s3::primitives::DateTime> {
    let value = value?;
    let date = aws_sdk_s3::primitives::DateTime::from_str(
        value,
        aws_smithy_types::date_time::Format::HttpDate,
    );
    if date.is_err() {
        tracing::warn!(
            expires = value,
            "an Expires that is not an HTTP date is not carried"
        );
    }
    date.ok()
}

/// `x-amz-tagging`: the tags as a URL-encoded query (`None` when there are none).
fn tagging(tags: &[(String, String)]) -> Option<String> {
    if tags.is_empty() {
        return None;
    }
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, TAG).to_string();
    Some(
        tags.iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&"),
    )
}

/// Bytes of a tag sent as they are: unreserved characters.
const TAG: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `Content-MD5` (base64) of a hex MD5.
fn content_md5(hex_md5: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    let digest = hex::decode(hex_md5?).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// Whether a write's answer says the entity tag is not the MD5 of the bytes: SSE-KMS (and
/// its dual-layer form, or any other scheme but SSE-S3's AES256) or customer-provided keys.
pub(super) fn opaque_etag(sse: Option<&str>, customer_algorithm: Option<&str>) -> bool {
    let encrypted = sse.is_some_and(|e| !e.eq_ignore_ascii_case("AES256"));
    encrypted || customer_algorithm.is_some()
}

/// The encryption an answer says was applied.
pub(super) fn applied(sse: Option<&str>, kms_key_id: Option<&str>) -> crate::Encryption {
    crate::Encryption {
        algorithm: sse.map(str::to_owned),
        kms_key_id: kms_key_id.map(str::to_owned),
    }
}

/// The headers of a PutObject (sent without the SDK, [`super::direct`]): the object's own
/// headers, tags, storage class and SSE-KMS as [`with_options!`] sets them on the SDK's
/// requests, `Content-Type` `application/octet-stream` when the object has none (the SDK's
/// default, rather than a type the store would guess from the key), and `Content-MD5` (base64)
/// when the MD5 is known.
fn put_headers(options: &WriteOptions, hex_md5: Option<&str>) -> Vec<(String, String)> {
    let h = &options.headers;
    let content_type = h
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut headers: Vec<(String, String)> = [
        ("content-md5", content_md5(hex_md5)),
        ("content-type", Some(content_type)),
        ("content-encoding", h.content_encoding.clone()),
        ("content-disposition", h.content_disposition.clone()),
        ("content-language", h.content_language.clone()),
        ("cache-control", h.cache_control.clone()),
        (
            "expires",
            expires(h.expires.as_deref())
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::HttpDate).ok()),
        ),
        ("x-amz-tagging", tagging(&options.tags)),
        ("x-amz-storage-class", options.storage_class.clone()),
        (
            "x-amz-server-side-encryption",
            options.kms.as_ref().map(|_| "aws:kms".to_owned()),
        ),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            options.kms.as_ref().and_then(|k| k.key_id.clone()),
        ),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name.to_owned(), value?)))
    .collect();
    for (k, v) in &h.user_metadata {
        headers.push((format!("x-amz-meta-{k}"), v.clone()));
    }
    headers
}

/// The answer of a call that removes something (an object, an upload): already gone is what it
/// wants, so a "not found" is success.
fn gone_is_done(result: Result<(), StorageError>) -> Result<(), StorageError> {
    match result {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[async_trait]
impl WriteStore for S3Connector {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        payload: Payload,
        options: &WriteOptions,
    ) -> Result<PutOutcome, StorageError> {
        let headers = put_headers(options, payload.content_md5.as_deref());
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = aws_smithy_types::body::SdkBody::from_body_1_x(super::RequestBody {
            inner: payload.body,
            size: payload.size,
        });
        let answer = self
            .direct
            .put_object(bucket, key, &headers, body, payload.size)
            .await
            .map_err(|e| e.at(bucket, Some(key)).via(&self.endpoint))?;
        let text = |name: &str| crate::client::header_text(&answer, name);
        let sse = text("x-amz-server-side-encryption");
        Ok(PutOutcome {
            etag: unquote(text("etag").as_deref()),
            opaque_etag: opaque_etag(
                sse.as_deref(),
                text("x-amz-server-side-encryption-customer-algorithm").as_deref(),
            ),
            crc64: crate::crc64::crc64_of(|name| answer.get(name).and_then(|v| v.to_str().ok())),
            encryption: applied(
                sse.as_deref(),
                text("x-amz-server-side-encryption-aws-kms-key-id").as_deref(),
            ),
        })
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        options: &WriteOptions,
    ) -> Result<String, StorageError> {
        let request = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key);
        let out = with_options!(request, options)
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", bucket, Some(key), &e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| {
            self.failure(
                ErrorKind::Permanent,
                "CreateMultipartUpload",
                bucket,
                Some(key),
                "the store returned no upload id",
            )
        })
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        payload: Payload,
    ) -> Result<PutOutcome, StorageError> {
        let seen = Crc64Seen::default();
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(as_i64(payload.size))
            .set_content_md5(content_md5(payload.content_md5.as_deref()))
            .body(request_body(payload.body, payload.size))
            .customize()
            .interceptor(seen.clone())
            .send()
            .await
            .map_err(|e| self.error("UploadPart", bucket, Some(key), &e))?;
        let etag = unquote(out.e_tag()).ok_or_else(|| {
            self.failure(
                ErrorKind::Permanent,
                "UploadPart",
                bucket,
                Some(key),
                "the store returned no entity tag",
            )
        })?;
        Ok(PutOutcome {
            etag: Some(etag),
            opaque_etag: opaque_etag(
                out.server_side_encryption()
                    .map(ServerSideEncryption::as_str),
                out.sse_customer_algorithm(),
            ),
            crc64: seen.get(),
            encryption: crate::Encryption::default(),
        })
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<PutOutcome, StorageError> {
        let parts = parts
            .iter()
            .map(|p| {
                AwsCompletedPart::builder()
                    .part_number(p.part_number)
                    .e_tag(format!("\"{}\"", p.etag))
                    .build()
            })
            .collect();
        let seen = Crc64Seen::default();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .customize()
            .interceptor(seen.clone())
            .send()
            .await
            .map_err(|e| self.error("CompleteMultipartUpload", bucket, Some(key), &e))?;
        Ok(PutOutcome {
            etag: unquote(out.e_tag()),
            opaque_etag: opaque_etag(
                out.server_side_encryption()
                    .map(ServerSideEncryption::as_str),
                None,
            ),
            crc64: seen.get(),
            encryption: applied(
                out.server_side_encryption()
                    .map(ServerSideEncryption::as_str),
                out.ssekms_key_id(),
            ),
        })
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let sent = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await;
        gone_is_done(
            sent.map(drop)
                .map_err(|e| self.error("DeleteObject", bucket, Some(key), &e)),
        )
    }

    async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        let sent = self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        gone_is_done(
            sent.map(drop)
                .map_err(|e| self.error("AbortMultipartUpload", bucket, Some(key), &e)),
        )
    }

    fn server_side_copy(&self) -> Option<&dyn ServerSideCopy> {
        Some(self)
    }

    async fn writes_need_content_md5(&self, bucket: &str) -> Result<Option<String>, StorageError> {
        let not_set = |e: &StorageError| {
            matches!(e.kind, ErrorKind::NotFound | ErrorKind::Permanent)
                || e.code
                    .as_deref()
                    .is_some_and(|c| c.ends_with("NotFoundError") || c.ends_with("NotFound"))
        };
        // Both settings at once: one round trip before the copies start, not two.
        let (encryption, lock) = tokio::join!(
            self.client.get_bucket_encryption().bucket(bucket).send(),
            self.client
                .get_object_lock_configuration()
                .bucket(bucket)
                .send()
        );
        match encryption.map_err(|e| self.error("GetBucketEncryption", bucket, None, &e)) {
            Ok(out) => {
                let kms = out
                    .server_side_encryption_configuration()
                    .map(|c| c.rules())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|r| r.apply_server_side_encryption_by_default())
                    .any(|d| !d.sse_algorithm().as_str().eq_ignore_ascii_case("AES256"));
                if kms {
                    return Ok(Some(format!(
                        "the destination bucket {bucket} encrypts with KMS by default, so entity tags are not MD5s"
                    )));
                }
            }
            Err(e) if not_set(&e) => {}
            Err(e) => return Err(e),
        }
        match lock.map_err(|e| self.error("GetObjectLockConfiguration", bucket, None, &e)) {
            Ok(out) => {
                let retained = out
                    .object_lock_configuration()
                    .and_then(|c| c.rule())
                    .and_then(|r| r.default_retention())
                    .is_some();
                Ok(retained.then(|| {
                    format!(
                        "the destination bucket {bucket} has Object Lock with a default retention, which requires Content-MD5"
                    )
                }))
            }
            Err(e) if not_set(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `x-amz-copy-source-if-match` for a pinned source: its strong entity tag, quoted.
fn copy_condition(pinned: &Version) -> Option<String> {
    pinned.strong_etag().map(|e| format!("\"{e}\""))
}

#[async_trait]
impl ServerSideCopy for S3Connector {
    async fn copy_object(
        &self,
        source_bucket: &str,
        source_key: &str,
        pinned: &Version,
        bucket: &str,
        key: &str,
        options: &WriteOptions,
        replace_headers: bool,
    ) -> Result<PutOutcome, StorageError> {
        let request = self
            .client
            .copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(copy_source(source_bucket, source_key))
            .set_copy_source_if_match(copy_condition(pinned));
        // Replaced headers go with the options' tags (none when metadata is not migrated);
        // copied ones with the source's tags and every system header, Expires included.
        let request = if replace_headers {
            with_options!(
                request
                    .metadata_directive(MetadataDirective::Replace)
                    .tagging_directive(TaggingDirective::Replace),
                options
            )
        } else {
            request
                .metadata_directive(MetadataDirective::Copy)
                .tagging_directive(TaggingDirective::Copy)
                .set_storage_class(options.storage_class.as_deref().map(StorageClass::from))
                .set_server_side_encryption(
                    options.kms.as_ref().map(|_| ServerSideEncryption::AwsKms),
                )
                .set_ssekms_key_id(options.kms.as_ref().and_then(|k| k.key_id.clone()))
        };
        let seen = Crc64Seen::default();
        let out = request
            .customize()
            .interceptor(seen.clone())
            .send()
            .await
            .map_err(|e| self.error("CopyObject", bucket, Some(key), &e))?;
        Ok(PutOutcome {
            etag: unquote(out.copy_object_result().and_then(|r| r.e_tag())),
            opaque_etag: opaque_etag(
                out.server_side_encryption()
                    .map(ServerSideEncryption::as_str),
                out.sse_customer_algorithm(),
            ),
            crc64: seen.get(),
            encryption: applied(
                out.server_side_encryption()
                    .map(ServerSideEncryption::as_str),
                out.ssekms_key_id(),
            ),
        })
    }

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
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .upload_part_copy()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .copy_source(copy_source(source_bucket, source_key))
            .set_copy_source_if_match(copy_condition(pinned))
            .copy_source_range(format!(
                "bytes={}-{}",
                range.start,
                range.end.saturating_sub(1)
            ))
            .send()
            .await
            .map_err(|e| self.error("UploadPartCopy", bucket, Some(key), &e))?;
        unquote(out.copy_part_result().and_then(|r| r.e_tag())).ok_or_else(|| {
            self.failure(
                ErrorKind::Permanent,
                "UploadPartCopy",
                bucket,
                Some(key),
                "the store returned no entity tag",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_put_carries_what_the_sdk_put_carried() {
        let mut options = WriteOptions {
            headers: crate::ObjectHeaders {
                content_type: Some("text/plain".into()),
                cache_control: Some("no-cache".into()),
                expires: Some("Wed, 21 Oct 2026 07:28:00 GMT".into()),
                ..crate::ObjectHeaders::default()
            },
            storage_class: Some("STANDARD_IA".into()),
            kms: Some(oms_core::spec::Kms {
                key_id: Some("k-1".into()),
            }),
            tags: vec![("a b".into(), "c&d".into())],
        };
        options
            .headers
            .user_metadata
            .insert("title".into(), "=?UTF-8?B?Y2Fmw6k=?=".into());
        let headers = put_headers(&options, Some("9e107d9d372bb6826bd81d3542a419d6"));
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("content-md5"), Some("nhB9nTcrtoJr2B01QqQZ1g=="));
        assert_eq!(get("content-type"), Some("text/plain"));
        assert_eq!(get("cache-control"), Some("no-cache"));
        assert_eq!(get("expires"), Some("Wed, 21 Oct 2026 07:28:00 GMT"));
        assert_eq!(get("x-amz-tagging"), Some("a%20b=c%26d"));
        assert_eq!(get("x-amz-storage-class"), Some("STANDARD_IA"));
        assert_eq!(get("x-amz-server-side-encryption"), Some("aws:kms"));
        assert_eq!(
            get("x-amz-server-side-encryption-aws-kms-key-id"),
            Some("k-1")
        );
        assert_eq!(get("x-amz-meta-title"), Some("=?UTF-8?B?Y2Fmw6k=?="));
        assert_eq!(get("content-encoding"), None);
        // An object without a type is sent as the SDK sent it, not left to the store's guess.
        options.headers.content_type = None;
        let headers = put_headers(&options, None);
        assert!(
            headers.contains(&(
                "content-type".to_owned(),
                "application/octet-stream".to_owned()
            )),
            "{headers:?}"
        );
        // An Expires that is no date is not sent; nothing unset is sent.
        options.headers.expires = Some("soon".into());
        options.kms = None;
        let headers = put_headers(&options, None);
        assert!(
            headers.iter().all(|(n, _)| n != "expires"
                && n != "content-md5"
                && !n.starts_with("x-amz-server-side")),
            "{headers:?}"
        );
    }
}
