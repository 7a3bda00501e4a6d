//! The S3 connector's writes: single PUTs, multipart uploads (create, parts, complete, abort),
//! deletes, and server-side copies between buckets of one endpoint.

use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart as AwsCompletedPart, MetadataDirective, StorageClass,
};

use super::{S3Connector, as_i64, copy_source, request_body, unquote};
use crate::{
    ByteStream, CompletedPart, ErrorKind, PutOutcome, ServerSideCopy, StorageError, Version,
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
            .set_storage_class($options.storage_class.as_deref().map(StorageClass::from));
        for (k, v) in &h.user_metadata {
            b = b.metadata(k, v);
        }
        b
    }};
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
        body: ByteStream,
        size: u64,
        options: &WriteOptions,
    ) -> Result<PutOutcome, StorageError> {
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(as_i64(size));
        let out = with_options!(request, options)
            .body(request_body(body, size))
            .send()
            .await
            .map_err(|e| self.error("PutObject", bucket, Some(key), &e))?;
        Ok(PutOutcome {
            etag: unquote(out.e_tag()),
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
        body: ByteStream,
        size: u64,
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(as_i64(size))
            .body(request_body(body, size))
            .send()
            .await
            .map_err(|e| self.error("UploadPart", bucket, Some(key), &e))?;
        unquote(out.e_tag()).ok_or_else(|| {
            self.failure(
                ErrorKind::Permanent,
                "UploadPart",
                bucket,
                Some(key),
                "the store returned no entity tag",
            )
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
            .send()
            .await
            .map_err(|e| self.error("CompleteMultipartUpload", bucket, Some(key), &e))?;
        Ok(PutOutcome {
            etag: unquote(out.e_tag()),
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
        let request = if replace_headers {
            with_options!(
                request.metadata_directive(MetadataDirective::Replace),
                options
            )
        } else {
            request
                .metadata_directive(MetadataDirective::Copy)
                .set_storage_class(options.storage_class.as_deref().map(StorageClass::from))
        };
        let out = request
            .send()
            .await
            .map_err(|e| self.error("CopyObject", bucket, Some(key), &e))?;
        Ok(PutOutcome {
            etag: unquote(out.copy_object_result().and_then(|r| r.e_tag())),
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
