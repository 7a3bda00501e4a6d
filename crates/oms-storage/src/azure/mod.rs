//! Azure Blob sources over the Blob REST API, by exact blob names.
//!
//! Requests are signed with Shared Key (the connection string's AccountKey) or carry its
//! SharedAccessSignature. A listing's `<Name>` is the blob's name as stored (URL-decoded when
//! marked `Encoded="true"`, for names XML cannot hold); a blob is read at
//! `{endpoint}/{container}/{name}` with the name percent-encoded byte by byte
//! ([`object_path`]).
//!
//! Azure lists from an opaque marker, not from a key. The engine asks for the page after the
//! last key it was given, so each page's last key is remembered with the `NextMarker` that
//! followed it ([`Markers`]), and the next page continues from that marker. A listing resumed
//! from a checkpoint has no marker: it is walked from the prefix, and the keys up to the
//! checkpoint are skipped.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::client::{
    Call, CloudSettings, Dialect, absent, check_endpoint, config_error, download, header_text,
    header_value, http_client, http_date_ms, if_match, no_such_bucket, object_meta, object_path,
    query_value, range_header, unquote,
};
use crate::{
    Download, ErrorKind, ListPage, ObjectInfo, ObjectMeta, ReadStore, StorageError, Version,
};

mod account;
#[cfg(test)]
mod tests;

/// The REST API version asked for (Azurite 3.35 and every Azure region accept it).
const API_VERSION: &str = "2021-08-06";

/// The most blobs Azure lists in one answer.
const MAX_RESULTS: i32 = 5000;

/// Continuations remembered per connector: one per listing in flight (a task lists one prefix
/// at a time, a worker runs a few tasks), with room for pages retried after an error.
const REMEMBERED_MARKERS: usize = 64;

const AZURE: Dialect = Dialect {
    meta_prefix: "x-ms-meta-",
    storage_class: "x-ms-access-tier",
};

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

/// How requests are authorized.
enum Auth {
    /// Shared Key: the account key, ready to sign (boxed: it holds the HMAC's whole state).
    SharedKey(Box<hmac::Key>),
    /// A SharedAccessSignature: a query appended to every URL.
    Sas(SecretString),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SharedKey(_) => "SharedKey",
            Self::Sas(_) => "Sas",
        })
    }
}

/// An Azure container, read by exact blob names.
#[derive(Debug)]
pub(crate) struct AzureSource {
    client: reqwest::Client,
    /// `https://account.blob.core.windows.net`, or `http://127.0.0.1:10000/account` (Azurite).
    endpoint: String,
    account: String,
    auth: Auth,
    container: String,
    markers: Markers,
}

impl AzureSource {
    pub(crate) fn new(
        settings: &CloudSettings,
        connection_string: &SecretString,
        container: &str,
    ) -> Result<Self, StorageError> {
        let parsed = parse_connection_string(connection_string.expose_secret())?;
        let endpoint = parsed.endpoint.unwrap_or_default();
        check_endpoint(&settings.guard, &endpoint)?;
        let auth = match (parsed.key, parsed.sas) {
            (Some(key), _) => {
                let bytes = STANDARD.decode(key.expose_secret().trim()).map_err(|_| {
                    config_error("the connection string's AccountKey is not base64")
                })?;
                Auth::SharedKey(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
            }
            (None, Some(sas)) => Auth::Sas(SecretString::from(
                sas.expose_secret().trim_start_matches('?').to_owned(),
            )),
            (None, None) => {
                return Err(config_error(
                    "the connection string carries neither an AccountKey nor a SharedAccessSignature",
                ));
            }
        };
        Ok(Self {
            client: http_client(settings)?,
            endpoint,
            account: parsed.account.unwrap_or_default(),
            auth,
            container: container.to_owned(),
            markers: Markers::default(),
        })
    }

    fn call<'a>(&'a self, operation: &'static str, key: Option<&'a str>) -> Call<'a> {
        Call {
            operation,
            bucket: &self.container,
            key,
            endpoint: &self.endpoint,
        }
    }

    /// A request for `path` (under the endpoint) with `query`, authorized.
    fn request(
        &self,
        call: &Call<'_>,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: HeaderMap,
    ) -> Result<reqwest::Request, StorageError> {
        let mut pairs: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{name}={}", query_value(value)))
            .collect();
        if let Auth::Sas(sas) = &self.auth {
            pairs.push(sas.expose_secret().to_owned());
        }
        let mut text = format!("{}/{path}", self.endpoint);
        if !pairs.is_empty() {
            text.push('?');
            text.push_str(&pairs.join("&"));
        }
        // The parse error names no part of the URL (which may hold a signature).
        let url = Url::parse(&text).map_err(|e| {
            call.failure(
                ErrorKind::Permanent,
                format!("cannot build the request URL: {e}"),
            )
        })?;
        let mut request = reqwest::Request::new(method, url);
        *request.headers_mut() = headers;
        let date = DateTime::from_secs(now_secs())
            .fmt(Format::HttpDate)
            .map_err(|e| call.failure(ErrorKind::Permanent, e.to_string()))?;
        for (name, value) in [
            ("x-ms-version", API_VERSION.to_owned()),
            ("x-ms-date", date),
        ] {
            request
                .headers_mut()
                .insert(name, header_value(call, &value)?);
        }
        if let Auth::SharedKey(key) = &self.auth {
            let to_sign = string_to_sign(
                &self.account,
                request.method(),
                request.url(),
                request.headers(),
            );
            let mut value = header_value(
                call,
                &format!("SharedKey {}:{}", self.account, signature(key, &to_sign)),
            )?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        Ok(request)
    }

    /// An error answer, with the code Azure puts in `x-ms-error-code`.
    fn refused(call: &Call<'_>, response: &reqwest::Response) -> StorageError {
        call.refused(
            response.status(),
            header_text(response.headers(), "x-ms-error-code"),
        )
        .with_retry_after(header_text(response.headers(), "retry-after").as_deref())
    }

    /// One List Blobs answer: up to `max_results` blobs under `prefix` from `marker`.
    async fn list_page(
        &self,
        call: &Call<'_>,
        prefix: &str,
        marker: Option<&str>,
        max_results: usize,
    ) -> Result<Listing, StorageError> {
        let max_results = max_results.to_string();
        let mut query = vec![
            ("restype", "container"),
            ("comp", "list"),
            ("maxresults", max_results.as_str()),
        ];
        if !prefix.is_empty() {
            query.push(("prefix", prefix));
        }
        if let Some(marker) = marker {
            query.push(("marker", marker));
        }
        let path = query_value(&self.container);
        let request = self.request(call, Method::GET, &path, &query, HeaderMap::new())?;
        let response = call.send(&self.client, request).await?;
        if !response.status().is_success() {
            return Err(Self::refused(call, &response));
        }
        let text = call.body(response).await?;
        parse_listing(&text).map_err(|message| call.failure(ErrorKind::Permanent, message))
    }

    fn blob_path(&self, call: &Call<'_>, key: &str) -> Result<String, StorageError> {
        Ok(format!(
            "{}/{}",
            query_value(&self.container),
            object_path(key, call)?
        ))
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Shared Key's string to sign (Azure Storage, "Authorize with Shared Key", versions from
/// 2015-02-21): the verb, twelve standard headers (a zero Content-Length is empty), the
/// `x-ms-*` headers sorted by name, then `/account` + the URL's encoded path and the decoded
/// query parameters sorted by lower-case name.
fn string_to_sign(account: &str, method: &Method, url: &Url, headers: &HeaderMap) -> String {
    let standard = |name: &str| {
        headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let length = match standard("content-length").as_str() {
        "0" => String::new(),
        length => length.to_owned(),
    };
    let mut out = method.as_str().to_owned();
    for value in [
        standard("content-encoding"),
        standard("content-language"),
        length,
        standard("content-md5"),
        standard("content-type"),
        standard("date"),
        standard("if-modified-since"),
        standard("if-match"),
        standard("if-none-match"),
        standard("if-unmodified-since"),
        standard("range"),
    ] {
        out.push('\n');
        out.push_str(&value);
    }
    out.push('\n');
    let mut canonical: Vec<(&str, String)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes());
            (
                name.as_str(),
                text.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    canonical.sort();
    for (name, value) in canonical {
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push('/');
    out.push_str(account);
    out.push_str(url.path());
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        params
            .entry(name.to_lowercase())
            .or_default()
            .push(value.into_owned());
    }
    for (name, mut values) in params {
        values.sort();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

/// The base64 HMAC-SHA256 of `to_sign` under the account key.
fn signature(key: &hmac::Key, to_sign: &str) -> String {
    STANDARD.encode(hmac::sign(key, to_sign.as_bytes()).as_ref())
}

/// One answer of List Blobs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Listing {
    blobs: Vec<ObjectInfo>,
    /// Where the listing continues (`None`: it is complete).
    next_marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnumerationResults {
    #[serde(default)]
    blobs: Blobs,
    #[serde(default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<Blob>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Blob {
    name: BlobName,
    properties: Properties,
}

#[derive(Debug, Deserialize)]
struct BlobName {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct Properties {
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
    #[serde(rename = "Etag", default)]
    etag: Option<String>,
    #[serde(rename = "Content-Length", default)]
    content_length: Option<u64>,
    #[serde(rename = "AccessTier", default)]
    access_tier: Option<String>,
}

/// The blobs of a List Blobs answer, in its order, by their exact names.
fn parse_listing(xml: &str) -> Result<Listing, String> {
    let results: EnumerationResults = quick_xml::de::from_str(xml)
        .map_err(|e| format!("the listing is not a List Blobs answer: {e}"))?;
    let mut blobs = Vec::with_capacity(results.blobs.blob.len());
    for blob in results.blobs.blob {
        let encoded = blob
            .name
            .encoded
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("true"));
        let key = if encoded {
            percent_encoding::percent_decode_str(&blob.name.text)
                .decode_utf8()
                .map_err(|_| "the listing holds an encoded name that is not UTF-8".to_owned())?
                .into_owned()
        } else {
            blob.name.text
        };
        let size = blob
            .properties
            .content_length
            .ok_or_else(|| format!("the listing does not tell the size of '{key}'"))?;
        blobs.push(ObjectInfo {
            key,
            size,
            last_modified_ms: http_date_ms(blob.properties.last_modified.as_deref()),
            etag: blob.properties.etag.as_deref().map(unquote),
            storage_class: blob.properties.access_tier.filter(|t| !t.is_empty()),
        });
    }
    Ok(Listing {
        blobs,
        next_marker: results.next_marker.filter(|m| !m.is_empty()),
    })
}

/// Where listings continue: the `NextMarker` that followed the last key of a page returned.
#[derive(Debug, Default)]
struct Markers(Mutex<VecDeque<Continuation>>);

#[derive(Debug)]
struct Continuation {
    prefix: String,
    last_key: String,
    marker: String,
}

impl Markers {
    fn find(&self, prefix: &str, last_key: &str) -> Option<String> {
        let entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .iter()
            .rev()
            .find(|c| c.prefix == prefix && c.last_key == last_key)
            .map(|c| c.marker.clone())
    }

    fn remember(&self, prefix: &str, last_key: &str, marker: &str) {
        let mut entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|c| !(c.prefix == prefix && c.last_key == last_key));
        if entries.len() == REMEMBERED_MARKERS {
            entries.pop_front();
        }
        entries.push_back(Continuation {
            prefix: prefix.to_owned(),
            last_key: last_key.to_owned(),
            marker: marker.to_owned(),
        });
    }
}

#[async_trait]
impl ReadStore for AzureSource {
    /// Azure goes on only from a marker it gave; from any other key it walks from the prefix.
    fn lists_from_any_key(&self) -> bool {
        false
    }

    async fn check_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let call = self.call("ListBlobs", None);
        call.reaches(bucket)?;
        self.list_page(&call, "", None, 1)
            .await
            .map(|_| ())
            .map_err(no_such_bucket)
    }

    /// Pages are asked for `limit` blobs less those gathered, so every page returned ends
    /// where an answer ended, and its last key can be remembered with the marker after it.
    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: i32,
    ) -> Result<ListPage, StorageError> {
        let call = self.call("ListBlobs", None);
        call.reaches(bucket)?;
        let limit = usize::try_from(limit.clamp(1, MAX_RESULTS)).unwrap_or(1);
        let mut marker = start_after.and_then(|after| self.markers.find(prefix, after));
        let skip_through = if marker.is_none() { start_after } else { None };
        let mut objects: Vec<ObjectInfo> = Vec::new();
        loop {
            let wanted = limit.saturating_sub(objects.len()).max(1);
            let page = self
                .list_page(&call, prefix, marker.as_deref(), wanted)
                .await?;
            objects.extend(
                page.blobs
                    .into_iter()
                    .filter(|b| skip_through.is_none_or(|after| b.key.as_str() > after)),
            );
            if page.next_marker.is_some() && page.next_marker == marker {
                return Err(call.failure(
                    ErrorKind::Permanent,
                    "the listing does not progress: the same NextMarker came back",
                ));
            }
            marker = page.next_marker;
            if objects.len() >= limit || marker.is_none() {
                break;
            }
        }
        if let (Some(last), Some(next)) = (objects.last(), &marker) {
            self.markers.remember(prefix, &last.key, next);
        }
        Ok(ListPage {
            objects,
            is_truncated: marker.is_some(),
        })
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let call = self.call("GetBlobProperties", Some(key));
        call.reaches(bucket)?;
        let path = self.blob_path(&call, key)?;
        let request = self.request(&call, Method::HEAD, &path, &[], HeaderMap::new())?;
        let response = call.send(&self.client, request).await?;
        if !response.status().is_success() {
            return absent(Self::refused(&call, &response));
        }
        object_meta(&call, key, response.headers(), AZURE).map(Some)
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        pinned: Option<&Version>,
    ) -> Result<Download, StorageError> {
        let call = self.call("GetBlob", Some(key));
        call.reaches(bucket)?;
        let path = self.blob_path(&call, key)?;
        let mut headers = HeaderMap::new();
        if let Some(range) = &range {
            headers.insert("x-ms-range", header_value(&call, &range_header(range))?);
        }
        if let Some(tag) = if_match(pinned) {
            headers.insert(header::IF_MATCH, header_value(&call, &tag)?);
        }
        let request = self.request(&call, Method::GET, &path, &[], headers)?;
        let response = call.send(&self.client, request).await?;
        if !response.status().is_success() {
            return Err(Self::refused(&call, &response));
        }
        download(&call, response, range.as_ref(), pinned, AZURE)
    }

    fn identity(&self) -> String {
        format!("azure:{}/{}", self.endpoint, self.account)
    }
}
