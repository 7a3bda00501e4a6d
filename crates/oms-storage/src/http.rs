//! HTTP sources: the URLs of a URL list, and objects of a bucket read through a CDN domain.
//!
//! Objects are fetched with reqwest as streams; a large object is read in ranged GETs by the
//! engine like any other. Every request goes through the [`Guard`]: the host is checked and
//! resolved first, connections are made to the checked addresses only, and redirects are
//! followed here (not by reqwest) so that each hop is checked too. URLs on the CDN domain are
//! signed with the CDN key when the CDN needs it.

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

use crate::cdn::Signer;
use crate::guard::{Guard, resolver};
use crate::{
    ByteStream, CompletedPart, Connector, Download, ErrorKind, ListPage, ObjectHeaders, ObjectInfo,
    ObjectMeta, PutOutcome, StorageError, WriteOptions,
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
    /// The address guard.
    pub guard: Guard,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Time allowed without progress on a response.
    pub read_timeout: Duration,
}

/// Objects over HTTP: keys are URLs (a URL list), or bucket keys under a CDN domain (`listing`
/// then lists the bucket itself).
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    guard: Guard,
    cdn: Option<Cdn>,
    listing: Option<Arc<dyn Connector>>,
}

fn failure(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> StorageError {
    StorageError::new(kind, operation, message)
}

fn status_error(operation: &'static str, status: StatusCode, url: &Url) -> StorageError {
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
    StorageError {
        kind,
        operation,
        status: Some(code),
        code: None,
        message,
    }
}

/// A URL as it may be shown in messages: without its query (which may carry a signature).
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
        user_metadata: Default::default(),
    }
}

fn etag(headers: &HeaderMap) -> Option<String> {
    header_text(headers, header::ETAG)
        .map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
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
    /// An HTTP source; `cdn` signs URLs of its domain; `listing` lists the bucket behind it.
    pub fn new(
        settings: &HttpSettings,
        cdn: Option<Cdn>,
        listing: Option<Arc<dyn Connector>>,
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
            (Some(cdn), Some(_)) => {
                // A URL cannot name `a/../b` or `a/./b` as they are: HTTP clients and servers
                // resolve the dots, and another object would be fetched.
                if key.split('/').any(|s| s == "." || s == "..") {
                    return Err(failure(
                        ErrorKind::Permanent,
                        operation,
                        format!(
                            "the key '{key}' has '.' or '..' segments, which a CDN URL cannot carry"
                        ),
                    ));
                }
                format!(
                    "{}://{}/{}",
                    cdn.protocol,
                    cdn.domain,
                    utf8_percent_encode(key, PATH)
                )
            }
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
                return StorageError {
                    kind: refused.kind,
                    operation,
                    status: None,
                    code: refused.code.clone(),
                    message: refused.message.clone(),
                };
            }
            message = format!("{message}: {inner}");
            source = inner.source();
        }
        failure(ErrorKind::Transient, operation, message)
    }

    /// Size and headers from a GET of the first byte (servers that refuse HEAD).
    async fn probe(&self, url: Url) -> Result<Option<ObjectMeta>, StorageError> {
        let (url, response) = self.send(Method::GET, url, Some(&(0..1)), "head").await?;
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
            _ => return Err(status_error("head", status, &url)),
        };
        drop(response);
        let size = size.ok_or_else(|| {
            failure(
                ErrorKind::Permanent,
                "head",
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
    }
}

fn not_a_destination(operation: &'static str) -> StorageError {
    failure(
        ErrorKind::Permanent,
        operation,
        "an HTTP source cannot be written to",
    )
}

#[async_trait]
impl Connector for HttpSource {
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
                "list",
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
        let url = self.url_of(key, "head")?;
        let (final_url, response) = self.send(Method::HEAD, url.clone(), None, "head").await?;
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
            s => Err(status_error("head", s, &final_url)),
        }
    }

    async fn get(
        &self,
        _bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Download, StorageError> {
        let url = self.url_of(key, "get")?;
        let (final_url, response) = self.send(Method::GET, url, range.as_ref(), "get").await?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error("get", status, &final_url));
        }
        let headers = response.headers().clone();
        let expected = range.as_ref().map(|r| r.end - r.start);
        // A server that ignores Range answers 200 with the whole object: right only when the
        // range is the whole object.
        if range.is_some()
            && status != StatusCode::PARTIAL_CONTENT
            && (range.as_ref().is_some_and(|r| r.start != 0)
                || content_length(&headers) != expected)
        {
            return Err(failure(
                ErrorKind::Permanent,
                "get",
                format!("{} ignores byte ranges", shown(&final_url)),
            ));
        }
        let content_length = match (content_length(&headers), expected) {
            (Some(n), _) => n,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(failure(
                    ErrorKind::Permanent,
                    "get",
                    format!("{} sends no Content-Length", shown(&final_url)),
                ));
            }
        };
        let body = response.bytes_stream().map(|chunk| {
            chunk.map_err(|e| {
                failure(
                    ErrorKind::Transient,
                    "get",
                    format!("reading the body: {e}"),
                )
            })
        });
        Ok(Download {
            headers: object_headers(&headers),
            content_length,
            last_modified_ms: last_modified_ms(&headers),
            etag: etag(&headers),
            content_md5: None,
            body: Box::pin(body),
        })
    }

    async fn put(
        &self,
        _bucket: &str,
        _key: &str,
        _body: ByteStream,
        _size: u64,
        _options: &WriteOptions,
    ) -> Result<PutOutcome, StorageError> {
        Err(not_a_destination("put_object"))
    }

    async fn create_multipart(
        &self,
        _bucket: &str,
        _key: &str,
        _options: &WriteOptions,
    ) -> Result<String, StorageError> {
        Err(not_a_destination("create_multipart_upload"))
    }

    async fn upload_part(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
        _part_number: i32,
        _body: ByteStream,
        _size: u64,
    ) -> Result<String, StorageError> {
        Err(not_a_destination("upload_part"))
    }

    async fn complete_multipart(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
        _parts: &[CompletedPart],
    ) -> Result<PutOutcome, StorageError> {
        Err(not_a_destination("complete_multipart_upload"))
    }

    async fn abort_multipart(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
    ) -> Result<(), StorageError> {
        Err(not_a_destination("abort_multipart_upload"))
    }

    fn identity(&self) -> String {
        match &self.cdn {
            Some(cdn) => format!("cdn:{}://{}", cdn.protocol, cdn.domain),
            None => "http".to_owned(),
        }
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
        assert_eq!(etag(&headers).as_deref(), Some("abc"));
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
        let err = status_error("get", StatusCode::FORBIDDEN, &url);
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("CDN key"));
        assert!(!err.kind.is_retryable());
    }
}
