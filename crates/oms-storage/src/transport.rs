//! The HTTP transport of the S3 connector: aws-sdk-s3 builds and signs requests, reqwest sends
//! them, and the answer is made readable for the SDK before it sees it.
//!
//! The SDK's own client refuses a whole answer when one header value is not UTF-8 (a store
//! that keeps `x-amz-meta-title: caf\xE9` as a Latin-1 client sent it), so the object could
//! never be read, even with metadata migration off. Here such values are decoded as
//! ISO-8859-1, which is what HTTP's obs-text historically is, so every answer reaches the SDK;
//! what can be carried to the destination is decided when it is written
//! ([`crate::metadata`]). The client follows no redirects, uses no proxy from the environment
//! and reads no `AWS_*` or CA-bundle variables.

use std::time::Duration;

use aws_sdk_s3::config::http::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use http::{HeaderMap, HeaderValue};

/// Sends the SDK's requests with reqwest.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with these timeouts (`read_timeout`: the longest wait for any byte).
    pub(crate) fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { client })
    }
}

impl HttpClient for ReqwestTransport {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
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

fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

impl HttpConnector for ReqwestTransport {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request.map(reqwest::Body::wrap),
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let request = match reqwest::Request::try_from(request) {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let response = client.execute(request).await.map_err(connector_error)?;
            let mut response = http::Response::from(response);
            readable_headers(response.headers_mut());
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
