//! What the HTTP connectors of Azure and Google share: their HTTP client (no redirects, no
//! proxy, names resolved through the [`Guard`], no transparent decompression), the encoding of
//! keys and query values, one request's error wording ([`Call`]), and reading answers (headers,
//! object facts, checked downloads: [`read`]).
//!
//! A key is an opaque string on every source: a listing hands back the exact name the store
//! holds (decoded where the store had to encode it), and a HEAD or GET names it exactly
//! (`object_path`: every byte but unreserved characters and `/` is percent-encoded, so `dir/`,
//! `a//b`, `/lead` and `x y%?#` reach the object of that name). Nothing is retried here: the
//! engine decides retries.

pub(crate) mod read;

use std::ops::Range;
use std::time::Duration;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures::StreamExt as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::client::read::{Answer, Counted, check_answer, parse_content_range};
use crate::guard::{Guard, resolver};
use crate::{
    ByteStream, Download, ErrorKind, ObjectHeaders, ObjectInfo, ObjectMeta, StorageError, Version,
};

/// How a cloud source is reached.
#[derive(Debug, Clone)]
pub(crate) struct CloudSettings {
    /// The address guard for endpoints named in credentials.
    pub(crate) guard: Guard,
    /// Longest wait for a TCP (and TLS) connection to the store.
    pub(crate) connect_timeout: Duration,
    /// Time allowed without progress on a response.
    pub(crate) operation_timeout: Duration,
}

/// Header values that are not UTF-8, decoded as ISO-8859-1 (every byte is a character there).
pub(crate) fn readable_headers(headers: &mut HeaderMap) {
    for value in headers.values_mut() {
        if std::str::from_utf8(value.as_bytes()).is_ok() {
            continue;
        }
        let text: String = value.as_bytes().iter().map(|b| char::from(*b)).collect();
        // UTF-8 bytes of a header value are obs-text (0x80-0xFF) or visible ASCII: allowed.
        if let Ok(decoded) = HeaderValue::from_bytes(text.as_bytes()) {
            *value = decoded;
        }
    }
}

pub(crate) fn config_error(message: impl Into<String>) -> StorageError {
    StorageError::new(ErrorKind::BadCredentials, "connect", message)
}

/// Checks the host of an endpoint URL a credential names (IP literals skip the resolver).
pub(crate) fn check_endpoint(guard: &Guard, url: &str) -> Result<(), StorageError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| config_error(format!("the endpoint '{url}' is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(config_error(format!(
            "the endpoint '{url}' is not an http(s) URL"
        )));
    }
    guard.check_host(parsed.host_str().unwrap_or_default())
}

/// The HTTP client of a cloud source: no redirects, no proxy, names resolved through the
/// guard, and no transparent decompression (the bytes read are the bytes stored, whatever
/// Content-Encoding they carry).
pub(crate) fn http_client(settings: &CloudSettings) -> Result<reqwest::Client, StorageError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .no_zstd()
        .dns_resolver(resolver(settings.guard))
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.operation_timeout)
        .build()
        .map_err(|e| {
            StorageError::new(
                ErrorKind::Permanent,
                "connect",
                format!("cannot build the HTTP client: {e}"),
            )
        })
}

/// Bytes of a key sent as they are in a URL path: unreserved characters and `/`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Bytes of a query value sent as they are: unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path of `key` under `{base}/{bucket}/`, encoded byte by byte so that the store sees the
/// exact name. A URL cannot carry `.` or `..` segments (HTTP clients resolve them, encoded or
/// not, and another object would be read), so such keys are refused.
pub(crate) fn object_path(key: &str, call: &Call<'_>) -> Result<String, StorageError> {
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(call.failure(
            ErrorKind::Permanent,
            "the key has '.' or '..' segments, which a URL path cannot carry",
        ));
    }
    Ok(utf8_percent_encode(key, KEY).to_string())
}

/// A query value, percent-encoded (a space is `%20`, never `+`).
pub(crate) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

/// What a request asks, for the errors it may end in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The operation, as the store's API names it.
    pub operation: &'static str,
    /// The bucket (container).
    pub bucket: &'a str,
    /// The key, when the request is about one object.
    pub key: Option<&'a str>,
    /// The endpoint, as it may be shown (never a query, which may hold a signature).
    pub endpoint: &'a str,
}

impl Call<'_> {
    /// An error of this call.
    pub(crate) fn failure(&self, kind: ErrorKind, message: impl Into<String>) -> StorageError {
        StorageError::new(kind, self.operation, message)
            .at(self.bucket, self.key)
            .via(self.endpoint)
    }

    /// An error answer, of the kind its status and the store's code tell; a 412 is always a
    /// change (only pinned reads send a condition).
    pub(crate) fn refused(&self, status: StatusCode, code: Option<String>) -> StorageError {
        let kind = match status {
            StatusCode::PRECONDITION_FAILED => ErrorKind::Changed,
            _ => StorageError::classify_response(Some(status.as_u16()), code.as_deref()),
        };
        self.failure(kind, refusal(kind))
            .with_status(Some(status.as_u16()), code)
    }

    /// Refuses a bucket other than the connector's.
    pub(crate) fn reaches(&self, bucket: &str) -> Result<(), StorageError> {
        if self.bucket == bucket {
            return Ok(());
        }
        Err(StorageError::new(
            ErrorKind::Permanent,
            self.operation,
            format!(
                "this connector reaches bucket {}, not {bucket}",
                self.bucket
            ),
        )
        .via(self.endpoint))
    }

    /// Sends a request; its answer's header values are all readable as text afterwards.
    pub(crate) async fn send(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, StorageError> {
        let mut response = client
            .execute(request)
            .await
            .map_err(|e| self.unreachable(&e))?;
        readable_headers(response.headers_mut());
        Ok(response)
    }

    /// A request that got no answer: the guard's refusal, or a connection problem worth
    /// retrying. reqwest's own text names the URL (and so a SAS signature): only the causes
    /// below it are shown.
    fn unreachable(&self, error: &reqwest::Error) -> StorageError {
        let mut cause = None;
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            if let Some(refused) = inner.downcast_ref::<StorageError>() {
                return self
                    .failure(refused.kind, refused.message.clone())
                    .with_status(None, refused.code.clone());
            }
            cause = Some(inner.to_string());
            source = inner.source();
        }
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "the request failed"
        };
        let message = match cause {
            Some(cause) if !error.is_timeout() => format!("{what}: {cause}"),
            _ => what.to_owned(),
        };
        self.failure(ErrorKind::Transient, message)
    }

    /// The whole body of an answer (a listing, an error document).
    pub(crate) async fn body(&self, response: reqwest::Response) -> Result<String, StorageError> {
        let bytes = response.bytes().await.map_err(|e| {
            self.failure(
                ErrorKind::Transient,
                format!("reading the answer failed: {}", root_cause(e)),
            )
        })?;
        String::from_utf8(Vec::from(bytes))
            .map_err(|_| self.failure(ErrorKind::Permanent, "the answer is not UTF-8 text"))
    }
}

/// The innermost cause of a failed read, in words; never the URL (which reqwest's own text
/// names, signature and all).
fn root_cause(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut cause: &(dyn std::error::Error + 'static) = &error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// What a refusal of `kind` means, in words (the status and code follow in the message).
fn refusal(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "no such object",
        ErrorKind::NoSuchBucket => "no such bucket",
        ErrorKind::BadCredentials => "the credentials were refused",
        ErrorKind::Denied => "access denied",
        ErrorKind::Throttled => "the store asks to slow down",
        ErrorKind::Transient => "the store failed to answer",
        ErrorKind::Changed => "the object changed since it was listed",
        _ => "the store refused the request",
    }
}

/// A listing's "not found" is the bucket's.
pub(crate) fn no_such_bucket(mut error: StorageError) -> StorageError {
    if error.kind == ErrorKind::NotFound {
        error.kind = ErrorKind::NoSuchBucket;
        refusal(ErrorKind::NoSuchBucket).clone_into(&mut error.message);
    }
    error
}

/// A HEAD's "not found" is no object (a missing bucket stays an error).
pub(crate) fn absent(error: StorageError) -> Result<Option<ObjectMeta>, StorageError> {
    match error.kind {
        ErrorKind::NotFound => Ok(None),
        _ => Err(error),
    }
}

/// How a store names object facts in its headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// The prefix of user metadata headers (`x-ms-meta-`).
    pub meta_prefix: &'static str,
    /// The header of the storage class (access tier).
    pub storage_class: &'static str,
}

/// A header value as text. After [`readable_headers`] every value is UTF-8, which
/// `HeaderValue::to_str` (visible ASCII only) would still refuse.
pub(crate) fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers.get(name).and_then(value_text)
}

fn value_text(value: &HeaderValue) -> Option<String> {
    std::str::from_utf8(value.as_bytes())
        .ok()
        .map(str::to_owned)
}

/// An HTTP date (RFC 1123) as Unix ms; 0 when absent or unreadable.
pub(crate) fn http_date_ms(text: Option<&str>) -> i64 {
    text.and_then(|t| DateTime::from_str(t.trim(), Format::HttpDate).ok())
        .and_then(|d| d.to_millis().ok())
        .unwrap_or(0)
}

/// An entity tag without quotes; a weak one keeps its `W/` (it cannot pin bytes).
pub(crate) fn unquote(tag: &str) -> String {
    match tag.trim().strip_prefix("W/") {
        Some(weak) => format!("W/{}", weak.trim_matches('"')),
        None => tag.trim().trim_matches('"').to_owned(),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_text(headers, header::CONTENT_LENGTH)?
        .trim()
        .parse()
        .ok()
}

/// The headers that travel with an object, user metadata names lower-case.
pub(crate) fn object_headers(headers: &HeaderMap, dialect: Dialect) -> ObjectHeaders {
    let user_metadata = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix(dialect.meta_prefix)?;
            Some((name.to_ascii_lowercase(), value_text(value)?))
        })
        .collect();
    ObjectHeaders {
        content_type: header_text(headers, header::CONTENT_TYPE),
        content_encoding: header_text(headers, header::CONTENT_ENCODING),
        content_disposition: header_text(headers, header::CONTENT_DISPOSITION),
        content_language: header_text(headers, header::CONTENT_LANGUAGE),
        cache_control: header_text(headers, header::CACHE_CONTROL),
        expires: header_text(headers, header::EXPIRES),
        user_metadata,
        tag_count: None,
    }
}

/// What a successful HEAD tells about `key`.
pub(crate) fn object_meta(
    call: &Call<'_>,
    key: &str,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<ObjectMeta, StorageError> {
    let size = content_length(headers).ok_or_else(|| {
        call.failure(
            ErrorKind::Permanent,
            "the answer does not tell the object's size",
        )
    })?;
    Ok(ObjectMeta {
        info: ObjectInfo {
            key: key.to_owned(),
            size,
            last_modified_ms: http_date_ms(header_text(headers, header::LAST_MODIFIED).as_deref()),
            etag: header_text(headers, header::ETAG).map(|e| unquote(&e)),
            storage_class: header_text(headers, HeaderName::from_static(dialect.storage_class)),
        },
        headers: object_headers(headers, dialect),
        crc64: crate::crc64::crc64_of(|n| headers.get(n).and_then(|v| v.to_str().ok())),
        restore: None,
        encryption: crate::Encryption::default(),
    })
}

/// The download of a successful answer to a GET of `range` pinned to `pinned`: checked against
/// the request, its body counted.
pub(crate) fn download(
    call: &Call<'_>,
    response: reqwest::Response,
    range: Option<&Range<u64>>,
    pinned: Option<&Version>,
    dialect: Dialect,
) -> Result<Download, StorageError> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let operation = call.operation;
    let body = response.bytes_stream().map(move |chunk| {
        chunk.map_err(|e| {
            StorageError::new(
                ErrorKind::Transient,
                operation,
                format!("reading the body failed: {}", root_cause(e)),
            )
        })
    });
    downloaded(
        call,
        status,
        &headers,
        Box::pin(body),
        range,
        pinned,
        dialect,
    )
}

/// The download of a successful answer (`status`, `headers`, `body`) to a GET of `range`
/// pinned to `pinned`, whichever client sent it: checked against the request (a 206 and its
/// `Content-Range`, or a 200 with the whole object), its body counted, its errors naming the
/// call.
pub(crate) fn downloaded(
    call: &Call<'_>,
    status: u16,
    headers: &HeaderMap,
    body: ByteStream,
    range: Option<&Range<u64>>,
    pinned: Option<&Version>,
    dialect: Dialect,
) -> Result<Download, StorageError> {
    let etag = header_text(headers, header::ETAG).map(|e| unquote(&e));
    let content_range = header_text(headers, header::CONTENT_RANGE);
    let answer = Answer {
        partial: Some(status == StatusCode::PARTIAL_CONTENT.as_u16()),
        content_range: content_range.as_deref(),
        content_length: content_length(headers),
        etag: etag.as_deref(),
    };
    let content_length = check_answer(call.operation, range, pinned, &answer)
        .map_err(|e| e.at(call.bucket, call.key).via(call.endpoint))?;
    let total_size = match range {
        Some(_) => content_range
            .as_deref()
            .and_then(parse_content_range)
            .and_then(|(_, total)| total)
            .or_else(|| (status == StatusCode::OK.as_u16()).then_some(content_length)),
        None => Some(content_length),
    };
    let mut counted = Counted::new(body, content_length, call.operation);
    if let Some(key) = call.key {
        counted = counted.named(call.bucket, key, call.endpoint);
    }
    Ok(Download {
        headers: object_headers(headers, dialect),
        content_length,
        total_size,
        last_modified_ms: http_date_ms(header_text(headers, header::LAST_MODIFIED).as_deref()),
        etag,
        content_md5: None,
        crc64: crate::crc64::crc64_of(|n| headers.get(n).and_then(|v| v.to_str().ok())),
        body: Box::pin(counted),
    })
}

/// A request header's value (an entity tag from a listing may hold anything).
pub(crate) fn header_value(call: &Call<'_>, text: &str) -> Result<HeaderValue, StorageError> {
    HeaderValue::from_str(text).map_err(|_| {
        call.failure(
            ErrorKind::Permanent,
            "a request header would not be valid HTTP",
        )
    })
}

/// A range as a `bytes=a-b` header value.
pub(crate) fn range_header(range: &Range<u64>) -> String {
    format!("bytes={}-{}", range.start, range.end.saturating_sub(1))
}

/// The `If-Match` condition of a pinned read (strong entity tags only).
pub(crate) fn if_match(pinned: Option<&Version>) -> Option<String> {
    pinned
        .and_then(Version::strong_etag)
        .map(|e| format!("\"{e}\""))
}

#[cfg(test)]
mod tests {

    #[test]
    fn latin1_header_values_become_utf8() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-meta-title",
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        headers.insert("x-amz-meta-plain", HeaderValue::from_static("plain"));
        readable_headers(&mut headers);
        assert_eq!(
            std::str::from_utf8(headers["x-amz-meta-title"].as_bytes()).unwrap(),
            "café"
        );
        assert_eq!(headers["x-amz-meta-plain"], "plain");
    }
    use super::*;

    fn call() -> Call<'static> {
        Call {
            operation: "GetBlob",
            bucket: "c",
            key: Some("k"),
            endpoint: "http://127.0.0.1:1/acct",
        }
    }

    #[test]
    fn object_paths_keep_every_name_exact() {
        let path = |key: &str| object_path(key, &call()).unwrap();
        assert_eq!(path("dir/"), "dir/");
        assert_eq!(path("a//b"), "a//b");
        assert_eq!(path("/lead"), "/lead");
        assert_eq!(path("x y%?#"), "x%20y%25%3F%23");
        assert_eq!(path("caf\u{e9}+~"), "caf%C3%A9%2B~");
        assert_eq!(path("a.b/..c/d."), "a.b/..c/d.");
        // What reqwest sends is what was built: the URL keeps every byte and empty segment.
        for key in ["dir/", "a//b", "/lead", "x y%?#", "caf\u{e9}+~", "a;b=c,d"] {
            let url = reqwest::Url::parse(&format!("http://h/acct/c/{}", path(key))).unwrap();
            let sent = url.path().strip_prefix("/acct/c/").unwrap();
            let decoded = percent_encoding::percent_decode_str(sent)
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, key);
            assert_eq!(url.query(), None, "{key}");
            assert_eq!(url.fragment(), None, "{key}");
        }
    }

    #[test]
    fn dot_segments_are_refused_rather_than_resolved() {
        for key in ["a/./b", "a/../b", "..", "./x", "x/."] {
            let err = object_path(key, &call()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Permanent, "{key}");
        }
    }

    #[test]
    fn query_values_encode_spaces_and_pluses() {
        assert_eq!(query_value("a b+c/d"), "a%20b%2Bc%2Fd");
    }

    #[test]
    fn entity_tags_lose_their_quotes_but_weak_ones_stay_weak() {
        assert_eq!(unquote("\"0x8D\""), "0x8D");
        assert_eq!(unquote("0x8D"), "0x8D");
        assert_eq!(unquote("W/\"x\""), "W/x");
    }

    #[test]
    fn metadata_headers_become_user_metadata_whatever_their_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-meta-title", "caf\u{e9}".parse().unwrap());
        // A Latin-1 value, as a store may keep what a client sent.
        headers.insert(
            "x-ms-meta-latin",
            HeaderValue::from_bytes(b"na\xefve").unwrap(),
        );
        headers.insert(
            "content-disposition",
            HeaderValue::from_bytes(b"attachment; filename=\"r\xe9sum\xe9.txt\"").unwrap(),
        );
        readable_headers(&mut headers);
        headers.insert("content-type", "text/plain".parse().unwrap());
        headers.insert("x-ms-other", "1".parse().unwrap());
        let dialect = Dialect {
            meta_prefix: "x-ms-meta-",
            storage_class: "x-ms-access-tier",
        };
        let out = object_headers(&headers, dialect);
        assert_eq!(out.content_type.as_deref(), Some("text/plain"));
        assert_eq!(
            out.content_disposition.as_deref(),
            Some("attachment; filename=\"r\u{e9}sum\u{e9}.txt\"")
        );
        assert_eq!(
            out.user_metadata.into_iter().collect::<Vec<_>>(),
            vec![
                ("latin".to_owned(), "na\u{ef}ve".to_owned()),
                ("title".to_owned(), "caf\u{e9}".to_owned())
            ]
        );
    }
}
