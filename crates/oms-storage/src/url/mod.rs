//! HTTP sources: the URLs of a URL list, and objects of a bucket read through a CDN domain.
//!
//! Objects are fetched with reqwest as streams; a large object is read in ranged GETs by the
//! engine like any other. Every request goes through the [`Guard`]: the host is checked and
//! resolved first, connections are made to the checked addresses only, and redirects are
//! followed here (not by reqwest) so that each hop is checked too. URLs on the CDN domain are
//! signed with the CDN key when the CDN needs it.
//!
//! A read of a URL is pinned to what its HEAD said: `If-Range` (a strong entity tag, else the
//! Last-Modified date) on ranged reads, `If-Match` on whole ones, and the answer is checked
//! (`check_answer`): a range answered with the whole object, or with another range, is
//! [`ErrorKind::RangeNotHonored`] (the engine then reads the object in one streamed GET). An
//! answer without Content-Length is taken when the size is known from the HEAD, and the body is
//! counted. Reads through a CDN are pinned to nothing but the range: the CDN's copy is compared
//! with the bucket's object by the engine.

pub mod cdn;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures::StreamExt as _;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};

use crate::client::read::{Answer, Counted, check_answer};
use crate::guard::{Guard, resolver};
use crate::url::cdn::Signer;
use crate::{
    Download, ErrorKind, ListPage, ObjectHeaders, ObjectInfo, ObjectMeta, ReadStore, StorageError,
    Version,
};

/// Redirects followed per request.
const MAX_REDIRECTS: usize = 10;

/// Characters of an object key that are encoded in a CDN URL's path ('/' stays).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'+')
    .add(b'\\');

/// The CDN a source is read through.
#[derive(Debug, Clone)]
pub struct Cdn {
    /// `http` or `https`.
    pub protocol: String,
    /// The domain, with an optional port.
    pub domain: String,
    /// The signer, when the CDN checks signatures.
    pub signer: Option<Signer>,
}

/// How an HTTP source is reached.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Which addresses the URLs of a URL list may resolve to.
    pub guard: Guard,
    /// Longest wait for a TCP (and TLS) connection to an origin.
    pub connect_timeout: Duration,
    /// Time allowed without progress on a response.
    pub read_timeout: Duration,
}

/// The URL of bucket key `key` under the CDN domain. A URL cannot name `a/../b` or `a/./b` as
/// they are: HTTP clients and servers resolve the dots, and another object would be fetched.
fn cdn_url(cdn: &Cdn, key: &str, operation: &'static str) -> Result<String, StorageError> {
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(failure(
            ErrorKind::Permanent,
            operation,
            format!("the key '{key}' has '.' or '..' segments, which a CDN URL cannot carry"),
        ));
    }
    Ok(format!(
        "{}://{}/{}",
        cdn.protocol,
        cdn.domain,
        utf8_percent_encode(key, PATH)
    ))
}

/// Objects over HTTP: keys are URLs (a URL list), or bucket keys under a CDN domain (`listing`
/// then lists the bucket itself).
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    guard: Guard,
    cdn: Option<Cdn>,
    listing: Option<Arc<dyn ReadStore>>,
}

fn failure(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> StorageError {
    StorageError::new(kind, operation, message)
}

fn status_error(
    operation: &'static str,
    status: StatusCode,
    url: &Url,
    headers: &HeaderMap,
) -> StorageError {
    let shown = shown(url);
    let code = status.as_u16();
    let (kind, message) = match code {
        401 | 403 => (
            ErrorKind::Permanent,
            format!(
                "{shown} answered HTTP {code}: the CDN key is missing or wrong, or hotlink protection refused the request"
            ),
        ),
        _ => (
            StorageError::classify_response(Some(code), None),
            format!("{shown} answered HTTP {code}"),
        ),
    };
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    StorageError::new(kind, operation, message)
        .with_status(Some(code), None)
        .with_retry_after(retry_after)
}

/// A URL as it may be shown in messages: without its query (which may carry a signature).
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// A header's value as text: UTF-8, or Latin-1 (HTTP's obs-text) decoded.
fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?.as_bytes();
    Some(match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value.iter().map(|b| char::from(*b)).collect(),
    })
}

fn last_modified_ms(headers: &HeaderMap) -> i64 {
    header_text(headers, header::LAST_MODIFIED)
        .and_then(|v| DateTime::from_str(&v, Format::HttpDate).ok())
        .and_then(|d| d.to_millis().ok())
        .unwrap_or(0)
}

fn object_headers(headers: &HeaderMap) -> ObjectHeaders {
    ObjectHeaders {
        content_type: header_text(headers, header::CONTENT_TYPE),
        content_encoding: header_text(headers, header::CONTENT_ENCODING),
        content_disposition: header_text(headers, header::CONTENT_DISPOSITION),
        content_language: header_text(headers, header::CONTENT_LANGUAGE),
        cache_control: header_text(headers, header::CACHE_CONTROL),
        expires: header_text(headers, header::EXPIRES),
        user_metadata: Default::default(),
        tag_count: None,
    }
}

/// The entity tag without quotes; a weak one keeps its `W/` (it cannot pin bytes).
fn etag(headers: &HeaderMap) -> Option<String> {
    header_text(headers, header::ETAG).map(|e| match e.strip_prefix("W/") {
        Some(weak) => format!("W/{}", weak.trim_matches('"')),
        None => e.trim_matches('"').to_owned(),
    })
}

/// An HTTP date of Unix ms, for `If-Range`.
fn http_date(ms: i64) -> Option<String> {
    DateTime::from_millis(ms).fmt(Format::HttpDate).ok()
}

/// The total size in a `Content-Range: bytes a-b/total` header.
fn content_range_total(headers: &HeaderMap) -> Option<u64> {
    header_text(headers, header::CONTENT_RANGE)?
        .rsplit_once('/')?
        .1
        .trim()
        .parse()
        .ok()
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_text(headers, header::CONTENT_LENGTH)?
        .trim()
        .parse()
        .ok()
}

impl HttpSource {
    /// HEADs `key` of the bucket behind the CDN through the CDN domain, signed as the engine
    /// signs; `None` when the CDN answers 404.
    pub async fn head_through_cdn(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let Some(cdn) = &self.cdn else {
            return Err(failure(
                ErrorKind::Permanent,
                "HEAD",
                "no CDN domain is set",
            ));
        };
        let text = cdn_url(cdn, key, "HEAD")?;
        let url = Url::parse(&text).map_err(|e| {
            failure(
                ErrorKind::Permanent,
                "HEAD",
                format!("'{text}' is not a URL: {e}"),
            )
        })?;
        self.head_url(url).await
    }

    /// HEADs `url` (falling back to a one-byte GET where HEAD is not served).
    async fn head_url(&self, url: Url) -> Result<Option<ObjectMeta>, StorageError> {
        let (final_url, response) = self
            .send(Method::HEAD, url.clone(), None, None, "HEAD")
            .await?;
        let status = response.status();
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            // Servers without HEAD, and presigned URLs (signed for GET only: HEAD gets 403).
            StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::NOT_IMPLEMENTED
            | StatusCode::FORBIDDEN
            | StatusCode::BAD_REQUEST => self.probe(url).await,
            s if s.is_success() => match content_length(response.headers()) {
                Some(size) => Ok(Some(meta_of(&final_url, response.headers(), size))),
                None => self.probe(url).await,
            },
            s => Err(status_error("HEAD", s, &final_url, response.headers())),
        }
    }

    /// An HTTP source; `cdn` signs URLs of its domain; `listing` lists the bucket behind it.
    pub fn new(
        settings: &HttpSettings,
        cdn: Option<Cdn>,
        listing: Option<Arc<dyn ReadStore>>,
    ) -> Result<Self, StorageError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver(settings.guard))
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .no_proxy()
            .build()
            .map_err(|e| failure(ErrorKind::Permanent, "http_client", e.to_string()))?;
        Ok(Self {
            client,
            guard: settings.guard,
            cdn,
            listing,
        })
    }

    /// The URL of a key: the key itself for URL lists, the CDN URL of a bucket key otherwise.
    fn url_of(&self, key: &str, operation: &'static str) -> Result<Url, StorageError> {
        let text = match (&self.cdn, &self.listing) {
            (Some(cdn), Some(_)) => cdn_url(cdn, key, operation)?,
            _ => key.to_owned(),
        };
        let url = Url::parse(&text).map_err(|e| {
            failure(
                ErrorKind::Permanent,
                operation,
                format!("'{text}' is not a URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(failure(
                ErrorKind::Permanent,
                operation,
                format!("{} is not an http(s) URL", shown(&url)),
            ));
        }
        Ok(url)
    }

    /// Signs `url` when it is on the CDN's domain and the CDN checks signatures.
    fn signed(&self, url: Url) -> Url {
        let Some(Cdn {
            domain,
            signer: Some(signer),
            ..
        }) = &self.cdn
        else {
            return url;
        };
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        if authority.eq_ignore_ascii_case(domain) {
            signer.sign(&url)
        } else {
            url
        }
    }

    /// Sends a request, checking the address of the URL and of every redirect.
    async fn send(
        &self,
        method: Method,
        url: Url,
        range: Option<&Range<u64>>,
        pinned: Option<&Version>,
        operation: &'static str,
    ) -> Result<(Url, reqwest::Response), StorageError> {
        // Messages name the URL as the list gave it: a signed one carries the signature (in
        // its query or, for types B and C, its path), a redirect target may carry a token.
        let original = url.clone();
        let mut url = self.signed(url);
        for _ in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(failure(
                    ErrorKind::Permanent,
                    operation,
                    format!("{} redirects to a {} URL", shown(&original), url.scheme()),
                ));
            }
            let host = url.host_str().unwrap_or_default().to_owned();
            self.guard.check_host(&host)?;
            let mut request = self.client.request(method.clone(), url.clone());
            if let Some(range) = range {
                request = request.header(
                    header::RANGE,
                    format!("bytes={}-{}", range.start, range.end.saturating_sub(1)),
                );
            }
            if let Some(pinned) = pinned {
                let strong = pinned.strong_etag().map(|e| format!("\"{e}\""));
                if range.is_some() {
                    let date = (pinned.last_modified_ms > 0)
                        .then(|| http_date(pinned.last_modified_ms))
                        .flatten();
                    if let Some(condition) = strong.or(date) {
                        request = request.header(header::IF_RANGE, condition);
                    }
                } else if let Some(condition) = strong {
                    request = request.header(header::IF_MATCH, condition);
                }
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.send_error(operation, &host, &original, &e))?;
            if !response.status().is_redirection() {
                return Ok((original, response));
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    failure(
                        ErrorKind::Permanent,
                        operation,
                        format!("{} redirects without a Location", shown(&original)),
                    )
                })?;
            url = url.join(location).map_err(|e| {
                failure(
                    ErrorKind::Permanent,
                    operation,
                    format!("{} redirects to a bad Location: {e}", shown(&original)),
                )
            })?;
        }
        Err(failure(
            ErrorKind::Permanent,
            operation,
            format!(
                "{} redirects more than {MAX_REDIRECTS} times",
                shown(&original)
            ),
        ))
    }

    /// A failed send: the guard's refusal (found by resolving again, as the resolver did), or a
    /// connection problem worth retrying.
    fn send_error(
        &self,
        operation: &'static str,
        host: &str,
        url: &Url,
        error: &reqwest::Error,
    ) -> StorageError {
        if error.is_connect()
            && let Err(refused) = self.guard.check_host(host)
        {
            return refused;
        }
        // reqwest's own text names the (signed) URL: describe the error, then its causes.
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "the request failed"
        };
        let mut message = format!("{}: {what}", shown(url));
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            if let Some(refused) = inner.downcast_ref::<StorageError>() {
                return StorageError::new(refused.kind, operation, refused.message.clone())
                    .with_status(None, refused.code.clone());
            }
            message = format!("{message}: {inner}");
            source = inner.source();
        }
        failure(ErrorKind::Transient, operation, message)
    }

    /// Size and headers from a GET of the first byte (servers that refuse HEAD).
    async fn probe(&self, url: Url) -> Result<Option<ObjectMeta>, StorageError> {
        let (url, response) = self
            .send(Method::GET, url, Some(&(0..1)), None, "HEAD")
            .await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let headers = response.headers().clone();
        let size = match status {
            StatusCode::PARTIAL_CONTENT => content_range_total(&headers),
            StatusCode::OK => content_length(&headers),
            // An empty object cannot satisfy a range of one byte.
            StatusCode::RANGE_NOT_SATISFIABLE => Some(0),
            _ => return Err(status_error("HEAD", status, &url, &headers)),
        };
        drop(response);
        let size = size.ok_or_else(|| {
            failure(
                ErrorKind::Permanent,
                "HEAD",
                format!("{} does not tell the object's size", shown(&url)),
            )
        })?;
        Ok(Some(meta_of(&url, &headers, size)))
    }
}

fn meta_of(url: &Url, headers: &HeaderMap, size: u64) -> ObjectMeta {
    ObjectMeta {
        info: ObjectInfo {
            key: url.to_string(),
            size,
            last_modified_ms: last_modified_ms(headers),
            etag: etag(headers),
            storage_class: None,
        },
        headers: object_headers(headers),
        crc64: crate::crc64::crc64_of(|n| headers.get(n).and_then(|v| v.to_str().ok())),
        restore: None,
        encryption: crate::Encryption::default(),
    }
}

#[async_trait]
impl ReadStore for HttpSource {
    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        match &self.listing {
            Some(listing) => listing.check_bucket(bucket).await,
            None => Ok(()),
        }
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError> {
        match &self.listing {
            Some(listing) => listing.list(bucket, prefix, start_after, limit).await,
            None => Err(failure(
                ErrorKind::Permanent,
                "LIST",
                "a URL list cannot be listed",
            )),
        }
    }

    /// Metadata of a bucket key comes from the bucket (the source of truth, compared with the
    /// CDN's answer when the object is read); that of a URL from a HEAD (or a one-byte GET).
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        if let Some(listing) = &self.listing {
            return listing.head(bucket, key).await;
        }
        let url = self.url_of(key, "HEAD")?;
        self.head_url(url).await
    }

    async fn get(
        &self,
        _bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<Download, StorageError> {
        let url = self.url_of(key, "GET")?;
        // Through a CDN, the version seen is the bucket's: the CDN's copy may carry its own
        // tags and dates (the engine compares it with the bucket's object); the range is
        // still checked.
        let through_cdn = self.listing.is_some();
        let condition = if through_cdn { None } else { pinned };
        let (final_url, response) = self
            .send(Method::GET, url, range.as_ref(), condition, "GET")
            .await?;
        let status = response.status();
        if status == StatusCode::PRECONDITION_FAILED {
            let mut error = status_error("GET", status, &final_url, response.headers());
            error.kind = ErrorKind::Changed;
            return Err(error);
        }
        if !status.is_success() {
            return Err(status_error("GET", status, &final_url, response.headers()));
        }
        let headers = response.headers().clone();
        let tag = etag(&headers);
        let answer = Answer {
            partial: Some(status == StatusCode::PARTIAL_CONTENT),
            content_range: headers
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok()),
            content_length: content_length(&headers),
            etag: if through_cdn { None } else { tag.as_deref() },
        };
        let seen = condition;
        let modified = last_modified_ms(&headers);
        // Without entity tags on both sides, the date tells a change (at the second).
        if let Some(pinned) = seen
            && (pinned.strong_etag().is_none() || tag.is_none())
            && pinned.last_modified_ms > 0
            && modified > 0
            && pinned.last_modified_ms / 1000 != modified / 1000
        {
            return Err(failure(
                ErrorKind::Changed,
                "GET",
                format!(
                    "{} changed since it was read: its Last-Modified differs",
                    shown(&final_url)
                ),
            ));
        }
        let content_length =
            check_answer("GET", range.as_ref(), seen, &answer).map_err(|mut e| {
                e.message = format!("{}: {}", shown(&final_url), e.message);
                e
            })?;
        let total_size = match &range {
            Some(_) => answer
                .content_range
                .and_then(crate::client::read::parse_content_range)
                .and_then(|(_, total)| total)
                .or_else(|| (status == StatusCode::OK).then_some(content_length)),
            None => Some(content_length),
        };
        let body = response.bytes_stream().map(|chunk| {
            chunk.map_err(|e| {
                failure(
                    ErrorKind::Transient,
                    "GET",
                    format!("reading the body failed: {e}"),
                )
            })
        });
        Ok(Download {
            headers: object_headers(&headers),
            content_length,
            total_size,
            last_modified_ms: modified,
            etag: tag,
            content_md5: None,
            crc64: crate::crc64::crc64_of(|n| headers.get(n).and_then(|v| v.to_str().ok())),
            body: Box::pin(Counted::new(Box::pin(body), content_length, "GET").named(
                "",
                &shown(&final_url),
                "",
            )),
        })
    }

    fn identity(&self) -> String {
        match &self.cdn {
            Some(cdn) => format!("cdn:{}://{}", cdn.protocol, cdn.domain),
            None => "http".to_owned(),
        }
    }

    /// The bucket's store (which lists), when a CDN is in front of one.
    fn endpoint(&self) -> String {
        self.listing
            .as_ref()
            .map(|l| l.endpoint())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_dates_are_read_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_RANGE, "bytes 0-0/1234".parse().unwrap());
        headers.insert(
            header::LAST_MODIFIED,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        headers.insert(header::ETAG, "W/\"abc\"".parse().unwrap());
        assert_eq!(content_range_total(&headers), Some(1234));
        assert_eq!(last_modified_ms(&headers), 784_111_777_000);
        assert_eq!(etag(&headers).as_deref(), Some("W/abc"));
        assert_eq!(
            http_date(784_111_777_000).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
    }

    #[test]
    fn bucket_keys_become_cdn_urls() {
        let settings = HttpSettings {
            guard: Guard::default(),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        };
        let inner = HttpSource::new(&settings, None, None).unwrap();
        let cdn = Cdn {
            protocol: "https".into(),
            domain: "cdn.example.com".into(),
            signer: None,
        };
        let source = HttpSource::new(&settings, Some(cdn), Some(Arc::new(inner))).unwrap();
        assert_eq!(
            source.url_of("dir/a b+c.txt", "get").unwrap().as_str(),
            "https://cdn.example.com/dir/a%20b%2Bc.txt"
        );
        assert_eq!(
            source.url_of("dir\\file.txt", "get").unwrap().path(),
            "/dir%5Cfile.txt",
            "a backslash is not a slash"
        );
        for dotted in ["a/../b", "./a", "a/.", ".."] {
            assert!(source.url_of(dotted, "get").is_err(), "{dotted}");
        }
        let plain = HttpSource::new(&settings, None, None).unwrap();
        assert!(plain.url_of("ftp://x/y", "get").is_err());
        assert!(plain.url_of("not a url", "get").is_err());
    }

    #[test]
    fn signatures_never_show_in_messages() {
        let url = Url::parse("http://cdn.example.com/a?auth_key=secret").unwrap();
        let err = status_error("get", StatusCode::FORBIDDEN, &url, &HeaderMap::new());
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("CDN key"));
        assert!(!err.kind.is_retryable());
    }
}
