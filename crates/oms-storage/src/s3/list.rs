//! ListObjectsV2 sent without the SDK: built and signed (SigV4, with aws-sigv4) here, sent on
//! the connector's pool ([`HyperTransport::fetch`]), its answer read by
//! [`crate::listing`].
//!
//! A re-check of a flat prefix is a chain of listing pages of a thousand keys each, and through
//! the SDK most of a worker's CPU went into them: its orchestrator per request, and above all
//! its XML decoding into builders, one per key, that are then copied into ours. Everything else
//! (GET, PUT, HEAD, copies) still goes through the SDK, whose cost is spread over an object's
//! bytes.
//!
//! What a request looks like is what the SDK sends for the same call: path style
//! (`{endpoint}/{bucket}`) when the endpoint asks for it or the bucket cannot be a host name,
//! virtual-hosted (`{bucket}.{host}`) otherwise; the empty body's SHA-256 in
//! `x-amz-content-sha256`; `x-amz-security-token` for STS keys; `x-amz-request-payer` for
//! requester-pays sources. An error answer becomes a [`StorageError`] the way the SDK's does
//! ([`super::refusal`]): its `<Code>` and `<Message>`, its status and `Retry-After`.

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

use super::S3Settings;
use super::transport::HyperTransport;
use crate::{ErrorKind, StorageError};

/// The operation, as errors name it.
const OPERATION: &str = "ListObjectsV2";

/// The largest listing answer read. A page of 1,000 keys of 1,024 bytes each, URL-encoded three
/// bytes a byte, with the rest of each entry, stays well under it.
const ANSWER_LIMIT: usize = 16 << 20;

/// Characters sent as they are in a query value or a path-style bucket: SigV4's unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How one connector's listings are sent.
#[derive(Debug, Clone)]
pub(crate) struct Lister {
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
    /// How far the store's clock is ahead of this machine's, in seconds, from the `Date` of
    /// its last answer: requests are signed on the store's clock, as the SDK signs its own, so
    /// that a machine whose clock is off does not have every listing refused as
    /// `RequestTimeTooSkewed` (SigV4 allows 15 minutes).
    skew_secs: Arc<AtomicI64>,
}

impl Lister {
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
            skew_secs: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The URL of a request to `bucket` with `query` (names and values as they are).
    fn url(&self, bucket: &str, query: &[(&str, &str)]) -> String {
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
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, UNRESERVED));
        }
        url
    }

    /// A signed GET of `url`.
    fn signed(&self, url: &str) -> Result<http::Request<SdkBody>, StorageError> {
        let unbuildable = |e: &dyn std::fmt::Display| {
            StorageError::new(
                ErrorKind::Permanent,
                OPERATION,
                format!("the request cannot be built: {e}"),
            )
        };
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(1);
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
        let signable = SignableRequest::new(
            "GET",
            url,
            headers.iter().copied(),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| unbuildable(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| unbuildable(&e))?
            .into_parts();
        let mut request = http::Request::get(url)
            .body(SdkBody::empty())
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
        let request = self.signed(&self.url(bucket, &all))?;
        let answer = self
            .transport
            .fetch(OPERATION, request, ANSWER_LIMIT)
            .await?;
        self.learn_skew(&answer.headers);
        if (200..300).contains(&answer.status) {
            return Ok(answer.body);
        }
        let (mut code, message) = crate::listing::parse_error(&answer.body);
        if code.is_none() && answer.body.is_empty() && answer.status == 404 {
            // The SDK's reading of a bodiless 404.
            code = Some("NotFound".to_owned());
        }
        let retry_after = answer
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        Err(super::refusal(
            OPERATION,
            Some(answer.status),
            code,
            message,
            retry_after,
        ))
    }
}

impl Lister {
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

    fn lister(url: &str, path_style: bool, token: Option<&str>) -> Lister {
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
        Lister::new(&settings, transport).unwrap()
    }

    #[test]
    fn urls_are_path_style_or_virtual_hosted_as_the_sdk_builds_them() {
        let query = [("prefix", "a b+c/é&"), ("max-keys", "1000")];
        let path = lister("http://127.0.0.1:9000", true, None);
        assert_eq!(
            path.url("src", &query),
            "http://127.0.0.1:9000/src/?prefix=a%20b%2Bc%2F%C3%A9%26&max-keys=1000"
        );
        let hosted = lister("https://s3.eu-west-1.amazonaws.com/", false, None);
        assert_eq!(
            hosted.url("src-1", &[]),
            "https://src-1.s3.eu-west-1.amazonaws.com/"
        );
        for name in ["my.bucket", "Caps", "under_score", "ab", "-lead", "a.-b"] {
            assert!(
                hosted
                    .url(name, &[])
                    .starts_with("https://s3.eu-west-1.amazonaws.com/"),
                "{name}"
            );
        }
        // Over plain HTTP a dotted name is a host's labels too, unless it is an address.
        let plain = lister("http://gw.example:8080", false, None);
        assert_eq!(
            plain.url("my.bucket", &[]),
            "http://my.bucket.gw.example:8080/"
        );
        assert_eq!(
            plain.url("10.0.0.1", &[]),
            "http://gw.example:8080/10.0.0.1/"
        );
        // An endpoint that is an address is always path style, as the SDK has it.
        for endpoint in ["http://10.0.0.5:9000", "http://[::1]:9000"] {
            let ip = lister(endpoint, false, None);
            assert_eq!(ip.url("src", &[]), format!("{endpoint}/src/"));
        }
        let based = lister("http://gw.example:8080/s3/", true, None);
        assert_eq!(based.url("b", &[]), "http://gw.example:8080/s3/b/");
        // User information is not sent, and neither is the scheme's own port.
        let user = lister("https://user:pw@gw.example:443", true, None);
        assert_eq!(user.url("b", &[]), "https://gw.example/b/");
    }

    #[test]
    fn requests_are_signed_with_the_token_and_the_payer_signed_too() {
        let l = lister("http://127.0.0.1:9000", true, Some("session-token"));
        let request = l.signed(&l.url("src", &[("list-type", "2")])).unwrap();
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
        let l = lister("http://127.0.0.1:9000", true, None);
        // The signing time, from `x-amz-date` (`20261207T060000Z`).
        let signed_at = |l: &Lister| {
            let request = l.signed(&l.url("src", &[])).unwrap();
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
        let answered = |l: &Lister, at: i64| {
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
        let l = lister("http://127.0.0.1:9000", true, Some("bad\ntoken"));
        let err = l.signed(&l.url("src", &[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(!err.to_string().contains("bad"), "{err}");
    }
}
