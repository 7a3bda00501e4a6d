//! Azurite, the Azure Blob emulator (started from `OMS_AZURITE`, an `azurite-blob` executable,
//! or `PATH`), and a Shared Key client of its own to put containers and blobs in it, written
//! here from Azure's "Authorize with Shared Key" independently of the connector's signer.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oms_storage::ObjectHeaders;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Azurite's well-known development account (public in Azure's documentation).
const ACCOUNT: &str = "devstoreaccount1";
/// Its key.
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A blob name's bytes sent as they are in a URL path: unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A running Azurite; stops when dropped.
pub struct Azurite {
    endpoint: String,
    child: Child,
    http: reqwest::Client,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    async fn start() -> Option<Self> {
        let program = std::env::var("OMS_AZURITE").unwrap_or_else(|_| "azurite-blob".to_owned());
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(&program)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                // Azurite sends usage data to Azure unless told not to: no test reaches out.
                "--disableTelemetry",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let azurite = Self {
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            child,
            http: reqwest::Client::new(),
        };
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(azurite);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Azurite, or `None` (the test is skipped, with a note) when none can be started and
    /// `OMS_REQUIRE_AZURITE` is not set; with it set, a missing Azurite fails the test.
    #[expect(
        clippy::print_stderr,
        reason = "a skipped test says why, as cargo test shows it"
    )]
    pub async fn start_or_skip() -> Option<Self> {
        let azurite = Self::start().await;
        if azurite.is_none() {
            assert!(
                std::env::var_os("OMS_REQUIRE_AZURITE").is_none(),
                "azurite-blob is required (OMS_AZURITE)"
            );
            eprintln!("skipped: no azurite-blob (set OMS_AZURITE to run this test)");
        }
        azurite
    }

    /// A connection string for the development account with `key`.
    pub fn connection_string(&self, key: &str) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={}/;",
            self.endpoint
        )
    }

    /// A Shared Key signed request; `path` is already encoded.
    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
        extra: &[(String, String)],
    ) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let date = httpdate_now();
        let mut ms_headers: Vec<(String, String)> = vec![
            ("x-ms-date".into(), date),
            ("x-ms-version".into(), "2021-08-06".into()),
        ];
        ms_headers.extend(extra.iter().cloned());
        ms_headers.sort();
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut params: Vec<(&str, &str)> =
            query.split('&').filter_map(|p| p.split_once('=')).collect();
        params.sort_unstable();
        let mut resource = format!("/{ACCOUNT}/{ACCOUNT}{path}");
        for (k, v) in params {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        let canonical_headers: String = ms_headers
            .iter()
            .map(|(k, v)| format!("{k}:{v}\n"))
            .collect();
        let to_sign =
            format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n{canonical_headers}{resource}");
        let key = hmac::Key::new(hmac::HMAC_SHA256, &STANDARD.decode(ACCOUNT_KEY).unwrap());
        let signature = STANDARD.encode(hmac::sign(&key, to_sign.as_bytes()).as_ref());
        let method_name = method.to_string();
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.endpoint))
            .header("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .header("Content-Length", body.len())
            .body(body);
        for (k, v) in &ms_headers {
            request = request.header(k, v);
        }
        let response = request.send().await.unwrap();
        let (status, code) = (
            response.status(),
            response.headers().get("x-ms-error-code").cloned(),
        );
        assert!(
            status.is_success(),
            "{method_name} {path_and_query}: {status} {code:?} {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Creates a container.
    pub async fn create_container(&self, name: &str) {
        self.send(
            reqwest::Method::PUT,
            &format!("/{name}?restype=container"),
            Vec::new(),
            &[],
        )
        .await;
    }

    /// Puts a block blob.
    pub async fn put_blob(&self, container: &str, name: &str, bytes: Vec<u8>) {
        self.put_blob_with(container, name, bytes, &ObjectHeaders::default())
            .await;
    }

    /// Puts a block blob with headers and metadata.
    pub async fn put_blob_with(
        &self,
        container: &str,
        name: &str,
        bytes: Vec<u8>,
        headers: &ObjectHeaders,
    ) {
        let mut extra = vec![("x-ms-blob-type".to_owned(), "BlockBlob".to_owned())];
        for (header, value) in [
            ("x-ms-blob-content-type", &headers.content_type),
            ("x-ms-blob-cache-control", &headers.cache_control),
            (
                "x-ms-blob-content-disposition",
                &headers.content_disposition,
            ),
            ("x-ms-blob-content-language", &headers.content_language),
            ("x-ms-blob-content-encoding", &headers.content_encoding),
        ] {
            if let Some(value) = value {
                extra.push((header.to_owned(), value.clone()));
            }
        }
        for (name, value) in &headers.user_metadata {
            extra.push((format!("x-ms-meta-{name}"), value.clone()));
        }
        let path = utf8_percent_encode(name, PATH);
        self.send(
            reqwest::Method::PUT,
            &format!("/{container}/{path}"),
            bytes,
            &extra,
        )
        .await;
    }
}

fn httpdate_now() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc().format(format).unwrap()
}
