//! The checks of a destination: what a migration writes.

use bytes::Bytes;

use super::{
    WriteSubject, assert_kind, bytes_for, md5_hex, payload, read, user_metadata, version_of,
};
use crate::{CompletedPart, ErrorKind, ObjectHeaders, ObjectMeta, WriteOptions};

const MIB: usize = 1024 * 1024;

fn options() -> WriteOptions {
    WriteOptions {
        headers: ObjectHeaders {
            content_type: Some("image/jpeg".to_owned()),
            cache_control: Some("no-cache".to_owned()),
            user_metadata: user_metadata(),
            ..ObjectHeaders::default()
        },
        ..WriteOptions::default()
    }
}

async fn head(subject: &WriteSubject, key: &str) -> Option<ObjectMeta> {
    subject
        .store
        .head(&subject.bucket, key)
        .await
        .unwrap_or_else(|e| panic!("{}: HEAD {key:?}: {e}", subject.name))
}

async fn assert_bytes(subject: &WriteSubject, key: &str, expected: &Bytes) {
    let name = &subject.name;
    let bytes = read(subject.store.as_ref(), &subject.bucket, key, None, None)
        .await
        .unwrap_or_else(|e| panic!("{name}: GET {key:?}: {e}"));
    assert_eq!(
        md5_hex(&bytes),
        md5_hex(expected),
        "{name}: the bytes of {key:?} ({} read, {} written)",
        bytes.len(),
        expected.len()
    );
}

fn assert_written_headers(subject: &WriteSubject, key: &str, meta: &ObjectMeta) {
    let wanted = options().headers;
    let name = &subject.name;
    assert_eq!(
        meta.headers.content_type, wanted.content_type,
        "{name}: {key:?} type"
    );
    assert_eq!(
        meta.headers.cache_control, wanted.cache_control,
        "{name}: {key:?} cache"
    );
    assert_eq!(
        meta.headers.user_metadata, wanted.user_metadata,
        "{name}: {key:?} metadata"
    );
}

/// Single PUTs: bytes, headers and tags arrive; an entity tag that is the MD5 says so; a body
/// that does not match its `Content-MD5` is refused as worth sending again; a PUT replaces.
pub async fn single_puts(subject: &WriteSubject) {
    let name = &subject.name;
    let store = &subject.store;
    let bucket = &subject.bucket;
    let key = "w/single.bin";
    let bytes = bytes_for(key, 1, 300 * 1024);
    let mut written = options();
    if subject.tags {
        written.tags = vec![
            ("team".to_owned(), "media".to_owned()),
            ("tier".to_owned(), "gold 1".to_owned()),
        ];
    }
    let outcome = store
        .put(bucket, key, payload(bytes.clone(), true), &written)
        .await
        .unwrap_or_else(|e| panic!("{name}: PUT: {e}"));
    assert_eq!(
        outcome.etag_md5(),
        Some(md5_hex(&bytes).as_str()),
        "{name}: a plain PUT's entity tag is the bytes' MD5"
    );
    let meta = head(subject, key)
        .await
        .unwrap_or_else(|| panic!("{name}: nothing at {key:?} after a PUT"));
    assert_eq!(
        meta.info.size,
        bytes.len() as u64,
        "{name}: size after a PUT"
    );
    assert_written_headers(subject, key, &meta);
    assert_bytes(subject, key, &bytes).await;
    if subject.tags {
        let mut tags = store
            .tags(bucket, key)
            .await
            .unwrap_or_else(|e| panic!("{name}: reading tags: {e}"));
        tags.sort();
        assert_eq!(tags, written.tags, "{name}: the tags written");
    }

    let replaced = bytes_for(key, 2, 1000);
    store
        .put(
            bucket,
            key,
            payload(replaced.clone(), false),
            &WriteOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: a replacing PUT: {e}"));
    assert_bytes(subject, key, &replaced).await;

    let empty = "w/empty.bin";
    store
        .put(
            bucket,
            empty,
            payload(Bytes::new(), true),
            &WriteOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: an empty PUT: {e}"));
    let meta = head(subject, empty).await;
    assert_eq!(
        meta.map(|m| m.info.size),
        Some(0),
        "{name}: an empty object"
    );

    if subject.checks_content_md5 {
        let refused = "w/refused.bin";
        let mut wrong = payload(bytes_for(refused, 3, 2048), false);
        wrong.content_md5 = Some(md5_hex(b"other bytes"));
        // Refused as a body damaged on its way (BadDigest), which is worth sending again.
        let result = store
            .put(bucket, refused, wrong, &WriteOptions::default())
            .await;
        assert!(
            result
                .as_ref()
                .is_err_and(|e| e.kind == ErrorKind::Transient),
            "{name}: a body that differs from its Content-MD5: {result:?}"
        );
        // (Whether the refused body was kept is the store's business: S3 keeps nothing,
        // s3s-fs checks after writing and keeps it. The engine sends the object again.)
    }
}

/// A multipart upload of two parts arrives byte for byte with the headers it was created
/// with; parts carry their `Content-MD5`.
pub async fn multipart(subject: &WriteSubject) {
    let name = &subject.name;
    let store = &subject.store;
    let bucket = &subject.bucket;
    let key = "w/multi part.bin";
    let bytes = bytes_for(key, 4, 5 * MIB + 100 * 1024);
    let upload = store
        .create_multipart(bucket, key, &options())
        .await
        .unwrap_or_else(|e| panic!("{name}: creating an upload: {e}"));
    let mut parts = Vec::new();
    for (number, range) in [(1, 0..5 * MIB), (2, 5 * MIB..bytes.len())] {
        let part = bytes.slice(range);
        let outcome = store
            .upload_part(bucket, key, &upload, number, payload(part, true))
            .await
            .unwrap_or_else(|e| panic!("{name}: part {number}: {e}"));
        let etag = outcome
            .etag
            .unwrap_or_else(|| panic!("{name}: part {number} without an entity tag"));
        parts.push(CompletedPart {
            part_number: number,
            etag,
        });
    }
    let done = store
        .complete_multipart(bucket, key, &upload, &parts)
        .await
        .unwrap_or_else(|e| panic!("{name}: completing an upload: {e}"));
    assert_eq!(
        done.etag_md5(),
        None,
        "{name}: a multipart entity tag is not an MD5"
    );
    let meta = head(subject, key)
        .await
        .unwrap_or_else(|| panic!("{name}: nothing after completing an upload"));
    assert_eq!(meta.info.size, bytes.len() as u64, "{name}: multipart size");
    assert_written_headers(subject, key, &meta);
    assert_bytes(subject, key, &bytes).await;
}

/// An aborted upload leaves no object and cannot be completed; deleting removes an object,
/// and deleting one already gone is no error.
pub async fn aborts_and_deletes(subject: &WriteSubject) {
    let name = &subject.name;
    let store = &subject.store;
    let bucket = &subject.bucket;
    let key = "w/aborted.bin";
    let upload = store
        .create_multipart(bucket, key, &WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{name}: creating an upload: {e}"));
    let part = store
        .upload_part(
            bucket,
            key,
            &upload,
            1,
            payload(bytes_for(key, 5, 1024), false),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: a part: {e}"));
    store
        .abort_multipart(bucket, key, &upload)
        .await
        .unwrap_or_else(|e| panic!("{name}: aborting: {e}"));
    let parts = [CompletedPart {
        part_number: 1,
        etag: part.etag.unwrap_or_default(),
    }];
    let completed = store.complete_multipart(bucket, key, &upload, &parts).await;
    // S3 says 404 NoSuchUpload; moto 5.1 says 500: refused either way.
    assert!(
        completed.is_err(),
        "{name}: completing an aborted upload: {completed:?}"
    );
    assert!(
        head(subject, key).await.is_none(),
        "{name}: an aborted upload left an object"
    );

    let doomed = "w/deleted.bin";
    store
        .put(
            bucket,
            doomed,
            payload(bytes_for(doomed, 6, 10), false),
            &WriteOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: PUT: {e}"));
    store
        .delete(bucket, doomed)
        .await
        .unwrap_or_else(|e| panic!("{name}: DELETE: {e}"));
    assert!(
        head(subject, doomed).await.is_none(),
        "{name}: a deleted object remains"
    );
    store
        .delete(bucket, doomed)
        .await
        .unwrap_or_else(|e| panic!("{name}: deleting what is gone: {e}"));
}

/// Server-side copies (where offered) copy exactly the pinned version — whole, or by ranges
/// into a multipart upload — with its headers or replaced ones, and refuse once the source
/// changed (where the store honours `x-amz-copy-source-if-match`).
pub async fn server_side_copy(subject: &WriteSubject) {
    let name = &subject.name;
    let store = &subject.store;
    let bucket = &subject.bucket;
    let Some(copier) = store.server_side_copy() else {
        return;
    };
    let source = "c/source.bin";
    let bytes = bytes_for(source, 7, 6 * MIB);
    store
        .put(bucket, source, payload(bytes.clone(), false), &options())
        .await
        .unwrap_or_else(|e| panic!("{name}: PUT: {e}"));
    let pinned = version_of(
        &head(subject, source)
            .await
            .unwrap_or_else(|| panic!("{name}: no source")),
    );

    let whole = "c/whole.bin";
    copier
        .copy_object(
            bucket,
            source,
            &pinned,
            bucket,
            whole,
            &WriteOptions::default(),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: CopyObject: {e}"));
    assert_bytes(subject, whole, &bytes).await;
    let meta = head(subject, whole)
        .await
        .unwrap_or_else(|| panic!("{name}: no copy"));
    assert_written_headers(subject, whole, &meta);

    let retyped = "c/retyped.bin";
    let replacing = WriteOptions {
        headers: ObjectHeaders {
            content_type: Some("application/x-replaced".to_owned()),
            ..ObjectHeaders::default()
        },
        ..WriteOptions::default()
    };
    copier
        .copy_object(bucket, source, &pinned, bucket, retyped, &replacing, true)
        .await
        .unwrap_or_else(|e| panic!("{name}: CopyObject replacing headers: {e}"));
    let meta = head(subject, retyped)
        .await
        .unwrap_or_else(|| panic!("{name}: no copy"));
    assert_eq!(
        meta.headers.content_type.as_deref(),
        Some("application/x-replaced"),
        "{name}: replaced headers"
    );
    assert!(
        meta.headers.user_metadata.is_empty(),
        "{name}: replaced metadata"
    );

    let ranged = "c/ranged.bin";
    let upload = store
        .create_multipart(bucket, ranged, &WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{name}: creating an upload: {e}"));
    let mut parts = Vec::new();
    for (number, range) in [(1, 0..5 * MIB as u64), (2, 5 * MIB as u64..6 * MIB as u64)] {
        let etag = copier
            .upload_part_copy(
                bucket, source, &pinned, range, bucket, ranged, &upload, number,
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: UploadPartCopy {number}: {e}"));
        parts.push(CompletedPart {
            part_number: number,
            etag,
        });
    }
    store
        .complete_multipart(bucket, ranged, &upload, &parts)
        .await
        .unwrap_or_else(|e| panic!("{name}: completing a copied upload: {e}"));
    assert_bytes(subject, ranged, &bytes).await;

    if !subject.copy_conditions {
        return;
    }
    store
        .put(
            bucket,
            source,
            payload(bytes_for(source, 8, 6 * MIB), false),
            &options(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: replacing the source: {e}"));
    assert_kind(
        name,
        "CopyObject of a replaced source",
        copier
            .copy_object(
                bucket,
                source,
                &pinned,
                bucket,
                "c/late.bin",
                &WriteOptions::default(),
                false,
            )
            .await,
        ErrorKind::Changed,
    );
    let upload = store
        .create_multipart(bucket, "c/late-parts.bin", &WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{name}: creating an upload: {e}"));
    assert_kind(
        name,
        "UploadPartCopy of a replaced source",
        copier
            .upload_part_copy(
                bucket,
                source,
                &pinned,
                0..1024,
                bucket,
                "c/late-parts.bin",
                &upload,
                1,
            )
            .await,
        ErrorKind::Changed,
    );
    store
        .abort_multipart(bucket, "c/late-parts.bin", &upload)
        .await
        .unwrap_or_else(|e| panic!("{name}: aborting: {e}"));
    assert!(
        head(subject, "c/late.bin").await.is_none(),
        "{name}: a refused copy left an object"
    );
}
