//! Google Cloud Storage and Azure Blob sources, through object_store.
//!
//! object_store reaches one bucket (container) per client, so a connector is built for the
//! migration's source bucket. It is a source only: OMS writes to S3-compatible destinations.
//! object_store's own retries are off (the engine decides retries), and its DNS resolution goes
//! through the [`Guard`], because the GCS base URL and the Azure blob endpoint come from
//! user-supplied credentials.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{Attribute, ClientOptions, GetOptions, GetRange, ObjectStore, RetryConfig};
use secrecy::{ExposeSecret as _, SecretString};

use crate::guard::{Guard, resolver};
use crate::{
    ByteStream, CompletedPart, Connector, Download, ErrorKind, ListPage, ObjectHeaders, ObjectInfo,
    ObjectMeta, PutOutcome, StorageError, WriteOptions,
};

/// How a cloud source is reached.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// The address guard for endpoints named in credentials.
    pub guard: Guard,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one request.
    pub operation_timeout: Duration,
}

/// A GCS or Azure bucket, read through object_store.
#[derive(Debug, Clone)]
pub struct CloudSource {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    identity: String,
}

fn config_error(message: impl Into<String>) -> StorageError {
    StorageError {
        kind: ErrorKind::BadCredentials,
        operation: "connect",
        status: None,
        code: None,
        message: message.into(),
    }
}

fn client_options(settings: &CloudSettings, allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(settings.connect_timeout)
        .with_timeout_disabled()
        .with_read_timeout(settings.operation_timeout)
        .with_dns_resolver(resolver(settings.guard))
}

/// object_store's HTTP client, built here: redirects are not followed (a redirect to a private
/// address would pass by the guard, which sees only host names) and no proxy from the
/// environment is used (a proxy would resolve names the guard never sees).
#[derive(Debug)]
struct GuardedConnector(CloudSettings);

impl object_store::client::HttpConnector for GuardedConnector {
    fn connect(
        &self,
        _options: &ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(resolver(self.0.guard))
            .connect_timeout(self.0.connect_timeout)
            .read_timeout(self.0.operation_timeout)
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "http",
                source: Box::new(e),
            })?;
        Ok(object_store::client::HttpClient::new(client))
    }
}

fn no_retries() -> RetryConfig {
    RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    }
}

/// Checks the host of an endpoint URL a credential names (IP literals skip the resolver).
fn check_endpoint(guard: &Guard, url: &str) -> Result<(), StorageError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| config_error(format!("the endpoint '{url}' is not a URL: {e}")))?;
    guard.check_host(parsed.host_str().unwrap_or_default())
}

/// The parts of an Azure storage connection string.
#[derive(Debug, Default)]
pub(crate) struct ConnectionString {
    pub account: Option<String>,
    pub key: Option<SecretString>,
    pub sas: Option<SecretString>,
    pub endpoint: Option<String>,
    pub protocol: Option<String>,
    pub suffix: Option<String>,
    pub development: bool,
}

/// The well-known Azurite development account (public in Azure's docs).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub(crate) fn parse_connection_string(text: &str) -> Result<ConnectionString, StorageError> {
    let mut parsed = ConnectionString::default();
    for part in text.split(';').filter(|p| !p.trim().is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| config_error("the connection string is not Key=Value pairs"))?;
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "accountname" => parsed.account = Some(value),
            "accountkey" => parsed.key = Some(SecretString::from(value)),
            "sharedaccesssignature" => parsed.sas = Some(SecretString::from(value)),
            "blobendpoint" => parsed.endpoint = Some(value.trim_end_matches('/').to_owned()),
            "defaultendpointsprotocol" => parsed.protocol = Some(value),
            "endpointsuffix" => parsed.suffix = Some(value),
            "usedevelopmentstorage" => parsed.development = value.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    if parsed.development {
        parsed.account.get_or_insert_with(|| DEV_ACCOUNT.to_owned());
        parsed
            .key
            .get_or_insert_with(|| SecretString::from(DEV_KEY));
        parsed
            .endpoint
            .get_or_insert_with(|| format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
    }
    let account = parsed
        .account
        .clone()
        .ok_or_else(|| config_error("the connection string names no AccountName"))?;
    if parsed.endpoint.is_none() {
        let protocol = parsed.protocol.as_deref().unwrap_or("https");
        let suffix = parsed.suffix.as_deref().unwrap_or("core.windows.net");
        parsed.endpoint = Some(format!("{protocol}://{account}.blob.{suffix}"));
    }
    if parsed.key.is_none() && parsed.sas.is_none() {
        return Err(config_error(
            "the connection string carries neither an AccountKey nor a SharedAccessSignature",
        ));
    }
    Ok(parsed)
}

/// The object_store settings of a GCS service-account JSON: its base URL, when it names one.
pub(crate) fn gcs_base_url(json: &str) -> Result<Option<String>, StorageError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| config_error("json_auth_file is not valid JSON"))?;
    Ok(value
        .get("gcs_base_url")
        .and_then(serde_json::Value::as_str)
        .map(|s| s.trim_end_matches('/').to_owned()))
}

impl CloudSource {
    /// A source over an Azure container, from a connection string.
    pub fn azure(
        settings: &CloudSettings,
        connection_string: &SecretString,
        container: &str,
    ) -> Result<Self, StorageError> {
        let parsed = parse_connection_string(connection_string.expose_secret())?;
        let endpoint = parsed.endpoint.clone().unwrap_or_default();
        check_endpoint(&settings.guard, &endpoint)?;
        let account = parsed.account.clone().unwrap_or_default();
        let mut builder = MicrosoftAzureBuilder::new()
            .with_account(&account)
            .with_container_name(container)
            .with_endpoint(endpoint.clone())
            .with_allow_http(endpoint.starts_with("http://"))
            .with_retry(no_retries())
            .with_client_options(client_options(settings, endpoint.starts_with("http://")))
            .with_http_connector(GuardedConnector(settings.clone()));
        if let Some(key) = &parsed.key {
            builder = builder.with_access_key(key.expose_secret());
        } else if let Some(sas) = &parsed.sas {
            let pairs = sas
                .expose_secret()
                .trim_start_matches('?')
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| {
                    let decode = |s: &str| {
                        percent_encoding::percent_decode_str(s)
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (decode(k), decode(v))
                })
                .collect::<Vec<_>>();
            builder = builder.with_sas_authorization(pairs);
        }
        let store = builder
            .build()
            .map_err(|e| config_error(format!("cannot use the Azure connection string: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: container.to_owned(),
            identity: format!("azure:{endpoint}/{account}"),
        })
    }

    /// A source over a GCS bucket, from a service-account JSON (which may name a base URL and
    /// turn OAuth off, for emulators).
    pub fn google(
        settings: &CloudSettings,
        json_auth_file: &SecretString,
        bucket: &str,
    ) -> Result<Self, StorageError> {
        let json = json_auth_file.expose_secret();
        let base = gcs_base_url(json)?;
        if let Some(base) = &base {
            check_endpoint(&settings.guard, base)?;
        }
        let allow_http = base.as_deref().is_some_and(|b| b.starts_with("http://"));
        let store = GoogleCloudStorageBuilder::new()
            .with_service_account_key(json)
            .with_bucket_name(bucket)
            .with_retry(no_retries())
            .with_client_options(client_options(settings, allow_http))
            .with_http_connector(GuardedConnector(settings.clone()))
            .build()
            .map_err(|e| config_error(format!("cannot use json_auth_file: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: bucket.to_owned(),
            identity: format!(
                "gcs:{}",
                base.unwrap_or_else(|| "https://storage.googleapis.com".into())
            ),
        })
    }

    fn path(&self, bucket: &str, key: &str, operation: &'static str) -> Result<Path, StorageError> {
        if bucket != self.bucket {
            return Err(StorageError::new(
                ErrorKind::Permanent,
                operation,
                format!(
                    "this connector reaches bucket {}, not {bucket}",
                    self.bucket
                ),
            ));
        }
        Path::parse(key).map_err(|e| {
            StorageError::new(
                ErrorKind::Permanent,
                operation,
                format!("the key '{key}' cannot be read through this connector: {e}"),
            )
        })
    }
}

/// The HTTP status inside an object_store error. Listing errors arrive as `Generic`, wrapping
/// a retry error whose type is private; its text is the one place the status shows
/// ("... non-2xx status code: 403 Forbidden ...").
fn status_in(error: &object_store::Error) -> Option<u16> {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if let Some(at) = text.find("status code: ") {
            let digits = text[at + 13..].get(..3)?;
            return digits.parse().ok();
        }
        source = e.source();
    }
    None
}

/// The kind of an object_store error.
fn storage_error(operation: &'static str, error: &object_store::Error) -> StorageError {
    let (kind, status) = match error {
        object_store::Error::NotFound { .. } => (ErrorKind::NotFound, Some(404)),
        object_store::Error::PermissionDenied { .. } => (ErrorKind::Denied, Some(403)),
        object_store::Error::Unauthenticated { .. } => (ErrorKind::BadCredentials, Some(401)),
        object_store::Error::Precondition { .. } => (ErrorKind::Changed, Some(412)),
        object_store::Error::Generic { .. } => match status_in(error) {
            Some(status) => (
                StorageError::classify_response(Some(status), None),
                Some(status),
            ),
            None => (ErrorKind::Transient, None),
        },
        _ => (ErrorKind::Permanent, None),
    };
    StorageError {
        kind,
        operation,
        status,
        code: None,
        message: error.to_string(),
    }
}

fn headers_of(attributes: &object_store::Attributes) -> ObjectHeaders {
    let get = |a: &Attribute| attributes.get(a).map(|v| v.to_string());
    let mut headers = ObjectHeaders {
        content_type: get(&Attribute::ContentType),
        content_encoding: get(&Attribute::ContentEncoding),
        content_disposition: get(&Attribute::ContentDisposition),
        content_language: get(&Attribute::ContentLanguage),
        cache_control: get(&Attribute::CacheControl),
        user_metadata: Default::default(),
    };
    for (attribute, value) in attributes {
        if let Attribute::Metadata(name) = attribute {
            headers
                .user_metadata
                .insert(name.to_ascii_lowercase(), value.to_string());
        }
    }
    headers
}

fn info_of(meta: &object_store::ObjectMeta) -> ObjectInfo {
    ObjectInfo {
        key: meta.location.to_string(),
        size: meta.size,
        last_modified_ms: meta.last_modified.timestamp_millis(),
        etag: meta.e_tag.as_ref().map(|e| e.trim_matches('"').to_owned()),
        storage_class: None,
    }
}

fn not_a_destination(operation: &'static str) -> StorageError {
    StorageError::new(
        ErrorKind::Permanent,
        operation,
        "Google and Azure are sources only",
    )
}

#[async_trait]
impl Connector for CloudSource {
    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.list(bucket, "", None, 1)
            .await
            .map(|_| ())
            .map_err(|mut e| {
                if e.kind == ErrorKind::NotFound {
                    e.kind = ErrorKind::NoSuchBucket;
                }
                e
            })
    }

    /// object_store lists by path segments, so a prefix that ends inside a segment is listed
    /// from its parent folder and filtered.
    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError> {
        if bucket != self.bucket {
            return Err(StorageError::new(
                ErrorKind::Permanent,
                "list",
                format!(
                    "this connector reaches bucket {}, not {bucket}",
                    self.bucket
                ),
            ));
        }
        // `Path::from` would percent-encode characters such as `~`: the keys must stay as given.
        let unusable = |key: &str, e: object_store::path::Error| {
            StorageError::new(
                ErrorKind::Permanent,
                "list",
                format!("'{key}' cannot be listed through this connector: {e}"),
            )
        };
        let folder = match prefix.rfind('/') {
            Some(i) => Some(Path::parse(&prefix[..i]).map_err(|e| unusable(prefix, e))?),
            None => None,
        };
        let limit = usize::try_from(limit.max(1)).unwrap_or(1000);
        let mut stream = match start_after {
            Some(after) => {
                let offset = Path::parse(after).map_err(|e| unusable(after, e))?;
                self.store.list_with_offset(folder.as_ref(), &offset)
            }
            None => self.store.list(folder.as_ref()),
        };
        let mut objects = Vec::new();
        let mut is_truncated = false;
        while let Some(meta) = stream
            .try_next()
            .await
            .map_err(|e| storage_error("list", &e))?
        {
            let info = info_of(&meta);
            if !info.key.starts_with(prefix) {
                // Listings are in key order: past the prefix, nothing more can match.
                if info.key.as_str() > prefix {
                    break;
                }
                continue;
            }
            if objects.len() == limit {
                is_truncated = true;
                break;
            }
            objects.push(info);
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(ListPage {
            objects,
            is_truncated,
        })
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let path = self.path(bucket, key, "head")?;
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.store.get_opts(&path, options).await {
            Ok(result) => Ok(Some(ObjectMeta {
                info: info_of(&result.meta),
                headers: headers_of(&result.attributes),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error("head", &e)),
        }
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Download, StorageError> {
        let path = self.path(bucket, key, "get")?;
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(|e| storage_error("get", &e))?;
        let headers = headers_of(&result.attributes);
        let info = info_of(&result.meta);
        let content_length = result.range.end - result.range.start;
        let body = result
            .into_stream()
            .map(|chunk| chunk.map_err(|e| storage_error("get", &e)));
        Ok(Download {
            headers,
            content_length,
            last_modified_ms: info.last_modified_ms,
            etag: info.etag,
            content_md5: None,
            body: Box::pin(crate::SyncStream::new(body)),
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
        self.identity.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow_private_networks: bool) -> CloudSettings {
        CloudSettings {
            guard: Guard {
                allow_private_networks,
            },
            connect_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn connection_strings_name_account_key_and_endpoint() {
        let parsed = parse_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(parsed.account.as_deref(), Some("acme"));
        assert_eq!(
            parsed.endpoint.as_deref(),
            Some("https://acme.blob.core.chinacloudapi.cn")
        );
        let dev = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            dev.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        let sas = parse_connection_string(
            "BlobEndpoint=https://acme.blob.core.windows.net/;AccountName=acme;SharedAccessSignature=sv=2022&sig=abc",
        )
        .unwrap();
        assert_eq!(
            sas.endpoint.as_deref(),
            Some("https://acme.blob.core.windows.net")
        );
        assert!(sas.sas.is_some());
        assert!(parse_connection_string("AccountName=acme").is_err());
        assert!(parse_connection_string("AccountKey=a2V5").is_err());
    }

    #[test]
    fn endpoints_in_credentials_pass_the_guard() {
        let conn = SecretString::from(
            "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://169.254.169.254/x",
        );
        let err = CloudSource::azure(&settings(false), &conn, "c").unwrap_err();
        assert_eq!(err.code.as_deref(), Some(crate::guard::IP_FORBIDDEN));
        assert!(
            CloudSource::azure(&settings(true), &conn, "c").is_err(),
            "metadata services stay refused"
        );
        let private = SecretString::from(
            "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://10.0.0.7:10000/x",
        );
        assert!(CloudSource::azure(&settings(false), &private, "c").is_err());
        assert!(CloudSource::azure(&settings(true), &private, "c").is_ok());
    }

    #[test]
    fn gcs_json_may_name_an_emulator() {
        let json = SecretString::from(
            r#"{"client_email":"a@b.iam.gserviceaccount.com","private_key":"","private_key_id":"","gcs_base_url":"http://10.0.0.5:4443/","disable_oauth":true}"#,
        );
        assert_eq!(
            gcs_base_url(json.expose_secret()).unwrap().as_deref(),
            Some("http://10.0.0.5:4443")
        );
        let err = CloudSource::google(&settings(false), &json, "bkt").unwrap_err();
        assert_eq!(err.code.as_deref(), Some(crate::guard::IP_FORBIDDEN));
        let source = CloudSource::google(&settings(true), &json, "bkt").unwrap();
        assert_eq!(source.identity(), "gcs:http://10.0.0.5:4443");
        let bad = SecretString::from("{not json");
        assert_eq!(
            CloudSource::google(&settings(true), &bad, "bkt")
                .unwrap_err()
                .kind,
            ErrorKind::BadCredentials
        );
    }

    #[test]
    fn keys_of_other_buckets_are_refused() {
        let json = SecretString::from(
            r#"{"client_email":"a@b","private_key":"","private_key_id":"","gcs_base_url":"http://10.0.0.5:4443","disable_oauth":true}"#,
        );
        let source = CloudSource::google(&settings(true), &json, "bkt").unwrap();
        assert!(source.path("other", "k", "get").is_err());
        assert!(source.path("bkt", "a/b.txt", "get").is_ok());
    }
}
