//! Google Cloud Storage sources over the XML API, by exact object names.
//!
//! object_store is used for one thing only: turning the service-account JSON into OAuth bearer
//! tokens (and refreshing them). Listings are `GET {base}/{bucket}?prefix=&marker=&max-keys=`
//! (S3 v1 semantics: `marker` is the key to list after), objects are read at
//! `{base}/{bucket}/{name}` with the name percent-encoded byte by byte ([`object_path`]).
//! Reads ask for `Accept-Encoding: gzip`: otherwise GCS decompresses objects stored with
//! `Content-Encoding: gzip` on the fly, and the bytes (and their length) would not be the
//! stored ones.

mod account;

use std::ops::Range;

use async_trait::async_trait;
use object_store::ClientOptions;
use object_store::gcp::{GcpCredentialProvider, GoogleCloudStorageBuilder};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::client::{
    Call, CloudSettings, Dialect, absent, check_endpoint, config_error, download, header_value,
    http_client, if_match, no_such_bucket, object_meta, object_path, query_value, range_header,
};
use crate::listing::parse_list_bucket_result;
use crate::{Download, ErrorKind, ListPage, ObjectMeta, ReadStore, StorageError, Version};

/// Where GCS's XML API is, unless the service-account JSON names another base URL.
const DEFAULT_BASE_URL: &str = "https://storage.googleapis.com";

/// The most keys GCS lists in one answer.
const MAX_KEYS: i32 = 1000;

const GCS: Dialect = Dialect {
    meta_prefix: "x-goog-meta-",
    storage_class: "x-goog-storage-class",
};

/// The settings of a GCS service-account JSON besides its key.
#[derive(Debug, Default, Deserialize)]
struct AccountSettings {
    #[serde(default)]
    gcs_base_url: Option<String>,
    #[serde(default)]
    disable_oauth: bool,
    /// The project whose buckets the account lists (`x-goog-project-id`).
    #[serde(default)]
    project_id: Option<String>,
}

fn account_settings(json: &str) -> Result<AccountSettings, StorageError> {
    let mut settings: AccountSettings =
        serde_json::from_str(json).map_err(|_| config_error("json_auth_file is not valid JSON"))?;
    settings.gcs_base_url = settings
        .gcs_base_url
        .map(|s| s.trim_end_matches('/').to_owned());
    Ok(settings)
}

/// object_store's HTTP client for the token requests: [`http_client`]'s (object_store's own
/// client options are not used).
#[derive(Debug)]
struct GuardedConnector(CloudSettings);

impl object_store::client::HttpConnector for GuardedConnector {
    fn connect(
        &self,
        _options: &ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let client = http_client(&self.0).map_err(|e| object_store::Error::Generic {
            store: "gcs",
            source: Box::new(e),
        })?;
        Ok(object_store::client::HttpClient::new(client))
    }
}

/// A GCS bucket, read by exact object names.
pub(crate) struct GcsSource {
    client: reqwest::Client,
    base: String,
    bucket: String,
    /// The service account's project (the one whose buckets are listed).
    project_id: Option<String>,
    /// `None`: OAuth is off (an emulator).
    credentials: Option<GcpCredentialProvider>,
}

impl std::fmt::Debug for GcsSource {
    /// Without the credentials (their provider may hold a token).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsSource")
            .field("base", &self.base)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl GcsSource {
    pub(crate) fn new(
        settings: &CloudSettings,
        json_auth_file: &SecretString,
        bucket: &str,
    ) -> Result<Self, StorageError> {
        let json = json_auth_file.expose_secret();
        let account = account_settings(json)?;
        if let Some(base) = &account.gcs_base_url {
            check_endpoint(&settings.guard, base)?;
        }
        let store = GoogleCloudStorageBuilder::new()
            .with_service_account_key(json)
            .with_bucket_name(bucket)
            .with_retry(object_store::RetryConfig {
                max_retries: 0,
                ..object_store::RetryConfig::default()
            })
            .with_http_connector(GuardedConnector(settings.clone()))
            .build()
            .map_err(|e| config_error(format!("cannot use json_auth_file: {e}")))?;
        Ok(Self {
            client: http_client(settings)?,
            base: account
                .gcs_base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            bucket: bucket.to_owned(),
            project_id: account.project_id.filter(|p| !p.is_empty()),
            credentials: (!account.disable_oauth).then(|| store.credentials().clone()),
        })
    }

    fn call<'a>(&'a self, operation: &'static str, key: Option<&'a str>) -> Call<'a> {
        Call {
            operation,
            bucket: &self.bucket,
            key,
            endpoint: &self.base,
        }
    }

    /// The URL of `{base}/{bucket}/{path}?{query}`.
    fn url(
        &self,
        call: &Call<'_>,
        path: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<Url, StorageError> {
        let mut text = format!("{}/{}", self.base, query_value(&self.bucket));
        if let Some(path) = path {
            text.push('/');
            text.push_str(path);
        }
        let pairs: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{name}={}", query_value(value)))
            .collect();
        if !pairs.is_empty() {
            text.push('?');
            text.push_str(&pairs.join("&"));
        }
        Url::parse(&text).map_err(|e| {
            call.failure(
                ErrorKind::Permanent,
                format!("cannot build the request URL: {e}"),
            )
        })
    }

    /// Sends a request with a bearer token (unless OAuth is off).
    async fn send(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, StorageError> {
        let mut request = reqwest::Request::new(method, url);
        *request.headers_mut() = headers;
        if let Some(credentials) = &self.credentials {
            let token = credentials
                .get_credential()
                .await
                .map_err(|e| token_error(call, &e))?;
            if !token.bearer.is_empty() {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.bearer))
                    .map_err(|_| {
                        call.failure(ErrorKind::BadCredentials, "the OAuth token is not ASCII")
                    })?;
                value.set_sensitive(true);
                request.headers_mut().insert(header::AUTHORIZATION, value);
            }
        }
        call.send(&self.client, request).await
    }

    /// An error answer, with the code of its XML error document (HEAD answers have none).
    async fn refused(call: &Call<'_>, response: reqwest::Response) -> StorageError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let code = match call.body(response).await {
            Ok(text) => error_code(&text),
            Err(_) => None,
        };
        call.refused(status, code)
            .with_retry_after(retry_after.as_deref())
    }

    /// The headers of an object read: the stored bytes, `range` of them, of `pinned` only.
    fn object_headers(
        call: &Call<'_>,
        range: Option<&Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<HeaderMap, StorageError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        if let Some(range) = range {
            headers.insert(header::RANGE, header_value(call, &range_header(range))?);
        }
        if let Some(tag) = if_match(pinned) {
            headers.insert(header::IF_MATCH, header_value(call, &tag)?);
        }
        Ok(headers)
    }
}

/// The HTTP status in an object_store error. The token service's answer arrives wrapped in a
/// retry error whose type is private; its text is the one place the status shows
/// ("... non-2xx status code: 400 Bad Request ...").
fn status_in(error: &object_store::Error) -> Option<u16> {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if let Some(at) = text.find("status code: ") {
            return text.get(at + 13..at + 16)?.parse().ok();
        }
        source = e.source();
    }
    None
}

/// A token that could not be had: refused credentials, or a token service out of reach. The
/// service's answer is not shown (it may echo the request).
fn token_error(call: &Call<'_>, error: &object_store::Error) -> StorageError {
    let status = status_in(error);
    let (kind, message) = match status {
        Some(400 | 401 | 403) => (
            ErrorKind::BadCredentials,
            "the OAuth token service refused the service account",
        ),
        Some(status) => (
            StorageError::classify_response(Some(status), None),
            "the OAuth token service failed",
        ),
        None => (
            ErrorKind::Transient,
            "cannot get an OAuth token for the service account",
        ),
    };
    call.failure(kind, message).with_status(status, None)
}

/// The `<Code>` of an XML error document.
fn error_code(xml: &str) -> Option<String> {
    crate::listing::parse_error(xml.as_bytes())
        .0
        .filter(|c| c.len() <= 64)
}

#[async_trait]
impl ReadStore for GcsSource {
    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.list(bucket, "", None, 1)
            .await
            .map(|_| ())
            .map_err(no_such_bucket)
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError> {
        let call = self.call("ListObjects", None);
        call.reaches(bucket)?;
        let max_keys = limit.clamp(1, MAX_KEYS).to_string();
        let mut query = vec![("max-keys", max_keys.as_str())];
        if !prefix.is_empty() {
            query.push(("prefix", prefix));
        }
        if let Some(after) = start_after {
            query.push(("marker", after));
        }
        let url = self.url(&call, None, &query)?;
        let response = self.send(&call, Method::GET, url, HeaderMap::new()).await?;
        if !response.status().is_success() {
            return Err(Self::refused(&call, response).await);
        }
        let text = call.body(response).await?;
        // The XML API's listing is S3's (without URL-encoded keys).
        parse_list_bucket_result(text.as_bytes())
            .map_err(|bad| call.failure(bad.kind(), bad.to_string()))
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let call = self.call("HeadObject", Some(key));
        call.reaches(bucket)?;
        let url = self.url(&call, Some(&object_path(key, &call)?), &[])?;
        let headers = Self::object_headers(&call, None, None)?;
        let response = self.send(&call, Method::HEAD, url, headers).await?;
        if !response.status().is_success() {
            return absent(Self::refused(&call, response).await);
        }
        object_meta(&call, key, response.headers(), GCS).map(Some)
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<Download, StorageError> {
        let call = self.call("GetObject", Some(key));
        call.reaches(bucket)?;
        let url = self.url(&call, Some(&object_path(key, &call)?), &[])?;
        let headers = Self::object_headers(&call, range.as_ref(), pinned)?;
        let response = self.send(&call, Method::GET, url, headers).await?;
        if !response.status().is_success() {
            return Err(Self::refused(&call, response).await);
        }
        download(&call, response, range.as_ref(), pinned, GCS)
    }

    fn identity(&self) -> String {
        format!("gcs:{}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::GcsSource;
    use super::*;
    use crate::guard::Guard;

    fn settings(allow_private_networks: bool) -> CloudSettings {
        CloudSettings {
            guard: Guard {
                allow_private_networks,
            },
            connect_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1),
        }
    }

    const EMULATOR: &str = r#"{"client_email":"a@b.iam.gserviceaccount.com","private_key":"","private_key_id":"","gcs_base_url":"http://10.0.0.5:4443/","disable_oauth":true}"#;

    #[test]
    fn gcs_json_may_name_an_emulator() {
        let json = SecretString::from(EMULATOR);
        let account = account_settings(json.expose_secret()).unwrap();
        assert_eq!(
            account.gcs_base_url.as_deref(),
            Some("http://10.0.0.5:4443")
        );
        assert!(account.disable_oauth);
        let err = GcsSource::new(&settings(false), &json, "bkt").unwrap_err();
        assert_eq!(err.code.as_deref(), Some(crate::guard::IP_FORBIDDEN));
        let source = GcsSource::new(&settings(true), &json, "bkt").unwrap();
        assert_eq!(source.identity(), "gcs:http://10.0.0.5:4443");
        let bad = SecretString::from("{not json");
        assert_eq!(
            GcsSource::new(&settings(true), &bad, "bkt")
                .unwrap_err()
                .kind,
            ErrorKind::BadCredentials
        );
    }

    #[test]
    fn a_service_account_without_a_usable_key_is_refused_up_front() {
        let json = SecretString::from(
            r#"{"client_email":"a@b","private_key":"not a key","private_key_id":"k"}"#,
        );
        let err = GcsSource::new(&settings(true), &json, "bkt").unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadCredentials);
    }

    #[tokio::test]
    async fn keys_of_other_buckets_are_refused() {
        let source = GcsSource::new(&settings(true), &SecretString::from(EMULATOR), "bkt").unwrap();
        let err = source.head("other", "k").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(err.to_string().contains("reaches bucket bkt"), "{err}");
        let err = source.list("other", "", None, 10).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent);
    }

    #[test]
    fn object_urls_name_the_exact_key() {
        let source = GcsSource::new(&settings(true), &SecretString::from(EMULATOR), "bkt").unwrap();
        let call = source.call("GetObject", None);
        let url = |key: &str| {
            let path = object_path(key, &call).unwrap();
            source.url(&call, Some(&path), &[]).unwrap().to_string()
        };
        assert_eq!(url("dir/"), "http://10.0.0.5:4443/bkt/dir/");
        assert_eq!(url("a//b"), "http://10.0.0.5:4443/bkt/a//b");
        assert_eq!(url("/lead"), "http://10.0.0.5:4443/bkt//lead");
        assert_eq!(url("x y%?#"), "http://10.0.0.5:4443/bkt/x%20y%25%3F%23");
        let list = source
            .url(&call, None, &[("prefix", "a b+"), ("marker", "a//b")])
            .unwrap();
        assert_eq!(
            list.to_string(),
            "http://10.0.0.5:4443/bkt?prefix=a%20b%2B&marker=a%2F%2Fb"
        );
    }

    #[test]
    fn list_bucket_results_give_keys_in_the_stores_order() {
        let xml = r#"<?xml version='1.0' encoding='UTF-8'?>
<ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01"><Name>bkt</Name><Prefix></Prefix><Marker>a</Marker><IsTruncated>true</IsTruncated><NextMarker>dir/</NextMarker><Contents><Key>dir/x</Key><Generation>1</Generation><MetaGeneration>1</MetaGeneration><LastModified>2024-01-02T03:04:05.678Z</LastModified><ETag>"9e107d9d372bb6826bd81d3542a419d6"</ETag><Size>43</Size><StorageClass>NEARLINE</StorageClass></Contents><Contents><Key> sp &amp; &lt;x&gt; </Key><LastModified>2024-01-02T03:04:05Z</LastModified><ETag>"abc"</ETag><Size>0</Size></Contents><Contents><Key>dir/</Key><Size>0</Size></Contents></ListBucketResult>"#;
        let page = parse_list_bucket_result(xml.as_bytes()).unwrap();
        assert!(page.is_truncated);
        let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            ["dir/x", " sp & <x> ", "dir/"],
            "never sorted or trimmed"
        );
        let first = &page.objects[0];
        assert_eq!(first.size, 43);
        assert_eq!(first.last_modified_ms, 1_704_164_645_678);
        assert_eq!(
            first.etag.as_deref(),
            Some("9e107d9d372bb6826bd81d3542a419d6")
        );
        assert_eq!(first.storage_class.as_deref(), Some("NEARLINE"));
        let empty = parse_list_bucket_result(
            br#"<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>"#,
        )
        .unwrap();
        assert!(empty.objects.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn error_documents_give_their_code() {
        let xml = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>";
        assert_eq!(error_code(xml).as_deref(), Some("NoSuchBucket"));
        assert_eq!(error_code("not xml"), None);
        assert_eq!(error_code(""), None);
    }
}
