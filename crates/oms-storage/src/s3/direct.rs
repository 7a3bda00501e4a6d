//! The requests the S3 connector sends without the SDK — ListObjectsV2 (listings and the bucket
//! check), GetObject and PutObject — built and signed (SigV4, with aws-sigv4) here and sent on the
//! connector's pool ([`HyperTransport::send`]); listing answers are read by
//! [`crate::listing`].
//!
//! A re-check of a flat prefix is a chain of listing pages of a thousand keys each, and through
//! the SDK most of a worker's CPU went into them: its orchestrator per request, and above all
//! its XML decoding into builders, one per key, that are then copied into ours. A copy of small
//! objects is a GET and a PUT each, and the SDK's orchestrator (configuration bags, runtime
//! components, interceptors, its endpoint rules) cost as much per GET as the rest of the copy.
//! Single PUTs go this way too (a destination is never AWS itself, so no PUT needs the
//! default checksums the SDK sends there as an `aws-chunked` trailer; each is proven by
//! `Content-MD5` or its entity tag instead). Everything else (HEAD, copies, multipart) goes
//! through the SDK.
//!
//! What a request looks like is what the SDK sends for the same call: path style
//! (`{endpoint}/{bucket}/{key}`) when the endpoint asks for it or the bucket cannot be a host
//! name, virtual-hosted (`{bucket}.{host}/{key}`) otherwise; a key percent-encoded but for its
//! `/` and unreserved characters, its `.` and `..` segments sent as they are; in
//! `x-amz-content-sha256` the empty body's SHA-256, or `UNSIGNED-PAYLOAD` for a PUT's streamed
//! body; `x-amz-security-token` for STS keys;
//! `x-amz-request-payer` for requester-pays sources; a `User-Agent` naming omsd. On AWS a GET
//! sends `x-amz-checksum-mode: ENABLED`, and the body of a GET of a whole object is checked
//! against the whole-object checksum its answer carries (CRC64NVME, CRC32C, CRC32, SHA-1 or
//! SHA-256, the fastest first, as the SDK picks it; a checksum of parts, `...-N`, says nothing
//! of the bytes). A ranged GET is not checked, even one that covers the whole object. Answers
//! with Latin-1 header values are made readable ([`crate::client::readable_headers`]), and
//! read as the other HTTP connectors read theirs ([`crate::client::downloaded`]), which is
//! more lenient than the SDK: a `Last-Modified` that is not a date reads as none instead of
//! failing the GET, and of a header sent twice the first counts. An error answer becomes a
//! [`StorageError`] the way the SDK's does ([`super::refusal`]): its `<Code>` and
//! `<Message>`, its status and `Retry-After`; one whose body cannot be read is a transient
//! error, as with the SDK.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use aws_smithy_checksums::ChecksumAlgorithm;
use aws_smithy_checksums::body::validate::ChecksumBody;
use aws_smithy_checksums::http::CHECKSUM_ALGORITHMS_IN_PRIORITY_ORDER;

use super::S3Settings;
use super::transport::HyperTransport;
use crate::client::readable_headers;
use crate::{ErrorKind, StorageError};

/// The operations, as errors name them.
const LIST_OBJECTS: &str = "ListObjectsV2";
const GET_OBJECT: &str = "GetObject";
const PUT_OBJECT: &str = "PutObject";

/// Who is asking, as stores log it (the SDK's requests name the SDK).
const USER_AGENT: &str = concat!("omsd/", env!("CARGO_PKG_VERSION"));

/// The largest error answer read: an S3 error document is a few hundred bytes, a proxy's
/// error page in front of a store a few hundred kilobytes at most.
const ERROR_LIMIT: usize = 1 << 20;

/// The largest listing answer read. A page of 1,000 keys of 1,024 bytes each, URL-encoded three
/// bytes a byte, with the rest of each entry, stays well under it.
const ANSWER_LIMIT: usize = 16 << 20;

/// Characters sent as they are in a query value or a path-style bucket: SigV4's unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Characters sent as they are in a key: the unreserved ones and `/` (the SDK's encoding of an
/// object key in a path).
const KEY: &AsciiSet = &UNRESERVED.remove(b'/');

/// How one connector sends the requests it builds itself.
#[derive(Debug, Clone)]
pub(crate) struct Direct {
    transport: HyperTransport,
    scheme: String,
    /// `host[:port]` of the endpoint.
    authority: String,
    /// The endpoint's own path, without a trailing `/` (usually empty).
    base_path: String,
    path_style: bool,
    region: String,
    identity: Identity,
    requester_pays: bool,
    /// Whether GetObject asks for the object's checksums and checks a whole body against them
    /// (AWS; elsewhere the SDK does not either).
    checked_reads: bool,
    /// How far the store's clock is ahead of this machine's, in seconds, from the `Date` of
    /// its last answer: requests are signed on the store's clock, as the SDK signs its own, so
    /// that a machine whose clock is off does not have every listing refused as
    /// `RequestTimeTooSkewed` (SigV4 allows 15 minutes).
    skew_secs: Arc<AtomicI64>,
}

impl Direct {
    pub(crate) fn new(
        settings: &S3Settings,
        transport: HyperTransport,
    ) -> Result<Self, StorageError> {
        let url = settings.endpoint.url.as_str();
        let invalid = |why: &str| {
            StorageError::new(
                ErrorKind::Permanent,
                "connect",
                format!("the endpoint {url} cannot be used: {why}"),
            )
        };
        let uri: http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| invalid("no scheme"))?;
        let host = uri.host().ok_or_else(|| invalid("no host"))?;
        // What reaches the wire, as the SDK's requests send it: the host and a port that is
        // not the scheme's own; user information in the URL is never sent.
        let authority = match uri.port_u16() {
            Some(port) if Some(port) != default_port(scheme) => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        // An address is never a bucket's host: the SDK lists path style there whatever the
        // endpoint says.
        let is_ip = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
        Ok(Self {
            transport,
            scheme: scheme.to_owned(),
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            path_style: settings.endpoint.path_style || is_ip,
            region: settings.region.clone(),
            identity: settings.credentials().into(),
            requester_pays: settings.requester_pays,
            checked_reads: settings.is_aws,
            skew_secs: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The URL of a request to `key` of `bucket` (`""`: the bucket itself) with `query` (names
    /// and values as they are).
    fn url(&self, bucket: &str, key: &str, query: &[(&str, &str)]) -> String {
        let mut url = if self.path_style || !virtual_hostable(bucket, self.scheme == "http") {
            format!(
                "{}://{}{}/{}/",
                self.scheme,
                self.authority,
                self.base_path,
                utf8_percent_encode(bucket, UNRESERVED)
            )
        } else {
            format!(
                "{}://{bucket}.{}{}/",
                self.scheme, self.authority, self.base_path
            )
        };
        url.extend(utf8_percent_encode(key, KEY));
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, UNRESERVED));
        }
        url
    }

    /// A signed GET of `url` for `operation`, with `headers` (signed too).
    fn signed(
        &self,
        operation: &'static str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<http::Request<SdkBody>, StorageError> {
        self.signed_with(operation, http::Method::GET, url, headers, None)
    }

    /// A signed request of `method` to `url` for `operation`, with `headers` (signed too) and
    /// `body` (none: empty; a body is sent as `UNSIGNED-PAYLOAD`, as the SDK signs a streamed
    /// one, its `Content-Length` from its size).
    fn signed_with(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<SdkBody>,
    ) -> Result<http::Request<SdkBody>, StorageError> {
        let unbuildable = |e: &dyn std::fmt::Display| {
            StorageError::new(
                ErrorKind::Permanent,
                operation,
                format!("the request cannot be built: {e}"),
            )
        };
        let mut headers = headers.to_vec();
        if self.requester_pays {
            headers.push(("x-amz-request-payer", "requester"));
        }
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(self.store_time())
            .settings(settings)
            .build()
            .map_err(|e| unbuildable(&e))?
            .into();
        let payload = if body.is_some() {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(&[])
        };
        let signable = SignableRequest::new(method.as_str(), url, headers.iter().copied(), payload)
            .map_err(|e| unbuildable(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| unbuildable(&e))?
            .into_parts();
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(body.unwrap_or_else(SdkBody::empty))
            .map_err(|e| unbuildable(&e))?;
        for (name, value) in headers.into_iter().chain(instructions.headers()) {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| unbuildable(&e))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| unbuildable(&format!("the value of {name} is not a header value")))?;
            value.set_sensitive(
                name == http::header::AUTHORIZATION || name == "x-amz-security-token",
            );
            request.headers_mut().insert(name, value);
        }
        Ok(request)
    }

    /// The body of a successful ListObjectsV2 of `bucket` with `query`; an error answer as the
    /// store worded it.
    pub(crate) async fn list_objects_v2(
        &self,
        bucket: &str,
        query: &[(&str, &str)],
    ) -> Result<Bytes, StorageError> {
        let mut all = Vec::with_capacity(query.len() + 1);
        all.push(("list-type", "2"));
        all.extend_from_slice(query);
        let request = self.signed(LIST_OBJECTS, &self.url(bucket, "", &all), &[])?;
        Ok(self.fetch(LIST_OBJECTS, request, ANSWER_LIMIT).await?.body)
    }

    /// A GetObject of `key` in `bucket` (`range`: its `Range`; `if_match`: the quoted entity
    /// tag the bytes must have), answered with its headers, their Latin-1 values made readable,
    /// and its body still on its way; an error answer as the store worded it.
    pub(crate) async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<http::Response<SdkBody>, StorageError> {
        let mut headers = Vec::with_capacity(3);
        if let Some(range) = range {
            headers.push(("range", range));
        }
        if let Some(tag) = if_match {
            headers.push(("if-match", tag));
        }
        if self.checked_reads {
            headers.push(("x-amz-checksum-mode", "ENABLED"));
        }
        let request = self.signed(GET_OBJECT, &self.url(bucket, key, &[]), &headers)?;
        let response = self.transport.send(GET_OBJECT, request).await?;
        self.learn_skew(response.headers());
        let (mut parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let body = HyperTransport::read(GET_OBJECT, body, ERROR_LIMIT).await?;
            return Err(refused(
                GET_OBJECT,
                parts.status.as_u16(),
                &parts.headers,
                &body,
            ));
        }
        readable_headers(&mut parts.headers);
        let mut body = SdkBody::from_body_1_x(body);
        // Only a whole object's checksum says anything about the bytes of this answer.
        if self.checked_reads
            && range.is_none()
            && let Some((algorithm, expected)) = whole_object_checksum(&parts.headers)
        {
            body = SdkBody::from_body_1_x(ChecksumBody::new(body, algorithm.into_impl(), expected));
        }
        Ok(http::Response::from_parts(parts, body))
    }
}

impl Direct {
    /// A PutObject of `body` (`size` bytes) as `key` in `bucket` with `headers` (the object's
    /// own, and `Content-MD5` when known), answered with the answer's headers; an error answer
    /// as the store worded it.
    pub(crate) async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        headers: &[(&str, &str)],
        body: SdkBody,
        size: u64,
    ) -> Result<http::HeaderMap, StorageError> {
        let url = self.url(bucket, key, &[]);
        let mut request =
            self.signed_with(PUT_OBJECT, http::Method::PUT, &url, headers, Some(body))?;
        request
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
        let mut headers = self.fetch(PUT_OBJECT, request, ERROR_LIMIT).await?.headers;
        readable_headers(&mut headers);
        Ok(headers)
    }

    /// Sends `request` of `operation` and reads its whole answer (at most `limit` bytes),
    /// learning the store's clock from it; an error answer as the store worded it.
    async fn fetch(
        &self,
        operation: &'static str,
        request: http::Request<SdkBody>,
        limit: usize,
    ) -> Result<super::transport::Fetched, StorageError> {
        let answer = self.transport.fetch(operation, request, limit).await?;
        self.learn_skew(&answer.headers);
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(refused(
                operation,
                answer.status,
                &answer.headers,
                &answer.body,
            ))
        }
    }
}

/// An error answer of `operation` as a [`StorageError`]: the `<Code>` and `<Message>` of its
/// error document, or `NotFound` for a bodiless 404 (as the SDK reads one), its status and
/// `Retry-After`.
fn refused(
    operation: &'static str,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
) -> StorageError {
    let (mut code, message) = crate::listing::parse_error(body);
    if code.is_none() && body.is_empty() && status == 404 {
        code = Some("NotFound".to_owned());
    }
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    super::refusal(operation, Some(status), code, message, retry_after)
}

/// The checksum of a whole object an answer carries (`x-amz-checksum-crc64nvme`, `-crc32c`,
/// `-crc32`, `-sha1`, `-sha256`; the fastest to compute first), as the SDK picks it. One of an
/// object uploaded in parts (`...-3`) is a checksum of its parts' checksums and cannot be
/// checked against the bytes.
fn whole_object_checksum(headers: &http::HeaderMap) -> Option<(ChecksumAlgorithm, Bytes)> {
    CHECKSUM_ALGORITHMS_IN_PRIORITY_ORDER
        .iter()
        .find_map(|name| {
            let algorithm: ChecksumAlgorithm = name.parse().ok()?;
            let value = headers.get(algorithm.into_impl().header_name())?;
            Some((algorithm, value.to_str().ok()?.trim().to_owned()))
        })
        .and_then(|(algorithm, value)| {
            let per_part = value
                .rsplit_once('-')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if per_part {
                return None;
            }
            let expected = aws_smithy_types::base64::decode(&value).ok()?;
            Some((algorithm, Bytes::from(expected)))
        })
}

impl Direct {
    /// Now on the store's clock, as far as its answers tell.
    fn store_time(&self) -> SystemTime {
        let skew = self.skew_secs.load(Ordering::Relaxed);
        let now = SystemTime::now();
        let shift = Duration::from_secs(skew.unsigned_abs());
        if skew >= 0 {
            now.checked_add(shift).unwrap_or(now)
        } else {
            now.checked_sub(shift).unwrap_or(now)
        }
    }

    /// Keeps how far the clock of an answer's `Date` is from this machine's. The answer's way
    /// back makes no difference to a signature: an offset under a minute is taken as none.
    fn learn_skew(&self, headers: &http::HeaderMap) {
        let Some(date) = headers
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|d| DateTime::from_str(d.trim(), Format::HttpDate).ok())
        else {
            return;
        };
        let skew = date.secs() - DateTime::from(SystemTime::now()).secs();
        self.skew_secs
            .store(if skew.abs() < 60 { 0 } else { skew }, Ordering::Relaxed);
    }
}

/// The port a URL of `scheme` goes to when it names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Whether `bucket` can be the first labels of a host name, as the SDK decides it for a custom
/// endpoint: 3 to 63 characters of lower-case letters, digits and hyphens, no label starting or
/// ending with a hyphen, and dots between labels only over plain HTTP (`with_dots`: a dotted
/// name does not match a TLS certificate's wildcard) and only when it is not an IPv4 address.
/// Other names (capitals, underscores) go path style.
fn virtual_hostable(bucket: &str, with_dots: bool) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !(3..=63).contains(&bucket.len()) {
        return false;
    }
    if with_dots {
        bucket.split('.').all(label) && bucket.parse::<std::net::Ipv4Addr>().is_err()
    } else {
        label(bucket)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;
    use crate::catalogue::endpoints::Endpoint;

    fn direct(url: &str, path_style: bool, token: Option<&str>) -> Direct {
        let settings = S3Settings {
            endpoint: Endpoint {
                url: url.to_owned(),
                path_style,
                guessed: false,
            },
            region: "us-east-1".to_owned(),
            access_key: "AKIDEXAMPLE".to_owned(),
            secret_key: SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            security_token: token.map(SecretString::from),
            is_aws: false,
            requester_pays: token.is_some(),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(5),
        };
        let transport =
            HyperTransport::new(Duration::from_secs(5), Duration::from_secs(5)).unwrap();
        Direct::new(&settings, transport).unwrap()
    }

    #[test]
    fn keys_are_encoded_as_the_sdk_encodes_them_and_dot_segments_stay() {
        let path = direct("http://127.0.0.1:9000", true, None);
        assert_eq!(
            path.url("src", "../other/a b+c~é?#%.txt", &[]),
            "http://127.0.0.1:9000/src/../other/a%20b%2Bc~%C3%A9%3F%23%25.txt"
        );
        assert_eq!(
            path.url("src", "/x//./y", &[]),
            "http://127.0.0.1:9000/src//x//./y"
        );
        let hosted = direct("https://s3.eu-west-1.amazonaws.com", false, None);
        assert_eq!(
            hosted.url("src-1", "dir/k", &[]),
            "https://src-1.s3.eu-west-1.amazonaws.com/dir/k"
        );
        // Signed as sent: no normalising, no second encoding.
        let request = path
            .signed(
                GET_OBJECT,
                &path.url("src", "./a%b", &[]),
                &[("range", "bytes=0-9")],
            )
            .unwrap();
        assert_eq!(request.uri().path(), "/src/./a%25b");
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(authorization.contains(";range;"), "{authorization}");
    }

    #[test]
    fn a_put_signs_its_headers_and_sends_its_body_unsigned() {
        let l = direct("http://127.0.0.1:9000", true, None);
        let body = SdkBody::from("hello");
        let request = l
            .signed_with(
                PUT_OBJECT,
                http::Method::PUT,
                &l.url("dst", "a b/c", &[]),
                &[
                    ("content-md5", "XUFAKrxLKna5cZ2REBfFkg=="),
                    ("content-type", "text/plain"),
                    ("x-amz-meta-title", "x"),
                ],
                Some(body),
            )
            .unwrap();
        assert_eq!(request.method(), http::Method::PUT);
        assert_eq!(request.uri().path(), "/dst/a%20b/c");
        let header = |name: &str| request.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
        assert_eq!(header("user-agent"), USER_AGENT);
        let authorization = header("authorization");
        assert!(
            authorization.contains(
                "SignedHeaders=content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-title,"
            ),
            "{authorization}"
        );
    }

    #[test]
    fn only_a_whole_objects_checksum_is_checked() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in pairs {
                map.insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            map
        };
        let (algorithm, expected) = whole_object_checksum(&headers(&[
            (
                "x-amz-checksum-sha256",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            ),
            ("x-amz-checksum-crc32", "AAAAAA=="),
        ]))
        .unwrap();
        // The fastest of those given.
        assert_eq!(algorithm.as_str(), "crc32");
        assert_eq!(&expected[..], &[0, 0, 0, 0]);
        assert!(
            whole_object_checksum(&headers(&[("x-amz-checksum-crc32", "AAAAAA==-3")])).is_none()
        );
        assert!(
            whole_object_checksum(&headers(&[("x-amz-checksum-crc32c", "not base64!")])).is_none()
        );
        assert!(whole_object_checksum(&headers(&[("etag", "\"x\"")])).is_none());
    }

    #[test]
    fn urls_are_path_style_or_virtual_hosted_as_the_sdk_builds_them() {
        let query = [("prefix", "a b+c/é&"), ("max-keys", "1000")];
        let path = direct("http://127.0.0.1:9000", true, None);
        assert_eq!(
            path.url("src", "", &query),
            "http://127.0.0.1:9000/src/?prefix=a%20b%2Bc%2F%C3%A9%26&max-keys=1000"
        );
        let hosted = direct("https://s3.eu-west-1.amazonaws.com/", false, None);
        assert_eq!(
            hosted.url("src-1", "", &[]),
            "https://src-1.s3.eu-west-1.amazonaws.com/"
        );
        for name in ["my.bucket", "Caps", "under_score", "ab", "-lead", "a.-b"] {
            assert!(
                hosted
                    .url(name, "", &[])
                    .starts_with("https://s3.eu-west-1.amazonaws.com/"),
                "{name}"
            );
        }
        // Over plain HTTP a dotted name is a host's labels too, unless it is an address.
        let plain = direct("http://gw.example:8080", false, None);
        assert_eq!(
            plain.url("my.bucket", "", &[]),
            "http://my.bucket.gw.example:8080/"
        );
        assert_eq!(
            plain.url("10.0.0.1", "", &[]),
            "http://gw.example:8080/10.0.0.1/"
        );
        // An endpoint that is an address is always path style, as the SDK has it.
        for endpoint in ["http://10.0.0.5:9000", "http://[::1]:9000"] {
            let ip = direct(endpoint, false, None);
            assert_eq!(ip.url("src", "", &[]), format!("{endpoint}/src/"));
        }
        let based = direct("http://gw.example:8080/s3/", true, None);
        assert_eq!(based.url("b", "", &[]), "http://gw.example:8080/s3/b/");
        // User information is not sent, and neither is the scheme's own port.
        let user = direct("https://user:pw@gw.example:443", true, None);
        assert_eq!(user.url("b", "", &[]), "https://gw.example/b/");
    }

    #[test]
    fn requests_are_signed_with_the_token_and_the_payer_signed_too() {
        let l = direct("http://127.0.0.1:9000", true, Some("session-token"));
        let request = l
            .signed(LIST_OBJECTS, &l.url("src", "", &[("list-type", "2")]), &[])
            .unwrap();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let authorization = header("authorization");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{authorization}"
        );
        assert!(
            authorization.contains("/us-east-1/s3/aws4_request"),
            "{authorization}"
        );
        assert!(
            authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-request-payer;x-amz-security-token"),
            "{authorization}"
        );
        assert_eq!(
            header("x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(header("x-amz-security-token"), "session-token");
        assert_eq!(header("x-amz-request-payer"), "requester");
        assert!(request.headers()["authorization"].is_sensitive());
    }

    #[test]
    fn requests_are_signed_on_the_clock_of_the_stores_last_answer() {
        let l = direct("http://127.0.0.1:9000", true, None);
        // The signing time, from `x-amz-date` (`20261207T060000Z`).
        let signed_at = |l: &Direct| {
            let request = l.signed(LIST_OBJECTS, &l.url("src", "", &[]), &[]).unwrap();
            let s = request.headers()["x-amz-date"].to_str().unwrap().to_owned();
            let iso = format!(
                "{}-{}-{}T{}:{}:{}Z",
                &s[0..4],
                &s[4..6],
                &s[6..8],
                &s[9..11],
                &s[11..13],
                &s[13..15]
            );
            DateTime::from_str(&iso, Format::DateTime).unwrap().secs()
        };
        let now = DateTime::from(SystemTime::now()).secs();
        assert!((signed_at(&l) - now).abs() <= 2);
        let answered = |l: &Direct, at: i64| {
            let mut headers = http::HeaderMap::new();
            let date = DateTime::from_secs(at).fmt(Format::HttpDate).unwrap();
            headers.insert(http::header::DATE, date.parse().unwrap());
            l.learn_skew(&headers);
        };
        answered(&l, now + 3600);
        assert!((signed_at(&l) - (now + 3600)).abs() <= 2);
        answered(&l, now - 7200);
        assert!((signed_at(&l) - (now - 7200)).abs() <= 2);
        // An answer within the minute puts the clocks level again.
        answered(&l, now + 5);
        assert!((signed_at(&l) - now).abs() <= 2);
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_a_clear_error() {
        let l = direct("http://127.0.0.1:9000", true, Some("bad\ntoken"));
        let err = l
            .signed(LIST_OBJECTS, &l.url("src", "", &[]), &[])
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(!err.to_string().contains("bad"), "{err}");
    }
}
