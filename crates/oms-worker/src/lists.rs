//! The object lists written under `oms/` at the destination, as OMS writes them: failed lists
//! (code, time, URL-encoded key, raw key, message) and skip lists (time, key, size), one line
//! per object, tab-separated.

use bytes::Bytes;
use oms_storage::{ObjectHeaders, Payload, StorageError, WriteOptions};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::copy::CopyCtx;

/// `at_ms` as RFC 3339 (UTC), "" when out of range.
fn rfc3339(at_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .map(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// One line of a failed list.
pub(crate) fn failed_line(code: &str, at_ms: i64, key: &str, message: &str) -> String {
    let message = message.replace(['\t', '\n', '\r'], " ");
    let encoded = utf8_percent_encode(key, NON_ALPHANUMERIC);
    format!("{code}\t{}\t{encoded}\t{key}\t{message}\n", rfc3339(at_ms))
}

/// One line of a skip list.
pub(crate) fn skip_line(at_ms: i64, key: &str, size: u64) -> String {
    format!("{}\t{key}\t{size}\n", rfc3339(at_ms))
}

/// The time stamp in a list's name: `YYYYMMDDhhmmss` (UTC), now.
pub(crate) fn stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Writes `text` as the object `key` of the destination bucket (`text/plain`).
pub(crate) async fn put_text(ctx: &CopyCtx, key: &str, text: String) -> Result<(), StorageError> {
    let bytes = Bytes::from(text);
    let size = bytes.len() as u64;
    let options = WriteOptions {
        headers: ObjectHeaders {
            content_type: Some("text/plain".into()),
            ..ObjectHeaders::default()
        },
        storage_class: None,
        tags: Vec::new(),
    };
    // Sent with Content-MD5: the store checks the bytes, and Object Lock buckets take it.
    let content_md5 = Some(crate::copy::integrity::md5_hex(&bytes));
    let body: oms_storage::ByteStream = Box::pin(futures::stream::once(async move { Ok(bytes) }));
    let payload = Payload {
        body,
        size,
        content_md5,
    };
    ctx.destination
        .put(ctx.dst_bucket(), key, payload, &options)
        .await
        .map(|_| ())
}
