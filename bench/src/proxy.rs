//! A wide-area network in a box: an HTTP proxy in front of an S3 server that delays every
//! request and every answer by a one-way latency (and every new connection by a round trip,
//! its TCP handshake), so that tools are compared where migrations run — across tens of
//! milliseconds — rather than on loopback, where the servers are the ceiling. It also keeps a
//! log of what went through: requests by S3 operation, and connections opened.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_util::sync::CancellationToken;

type Request = hyper::Request<Incoming>;
type Response = hyper::Response<Body>;

/// What went through a proxy.
#[derive(Debug, Default)]
pub(crate) struct Log {
    requests: Mutex<BTreeMap<&'static str, u64>>,
    connections: AtomicU64,
}

impl Log {
    fn count(&self, operation: &'static str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(operation)
            .or_default() += 1;
    }

    /// Requests by operation, and connections opened, since the last call (which clears them).
    pub(crate) fn take(&self) -> (BTreeMap<&'static str, u64>, u64) {
        let requests =
            std::mem::take(&mut *self.requests.lock().unwrap_or_else(PoisonError::into_inner));
        (requests, self.connections.swap(0, Ordering::Relaxed))
    }
}

/// The S3 operation of a request, as far as the log tells them apart.
fn operation(request: &Request) -> &'static str {
    let query = request.uri().query().unwrap_or_default();
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    // Path-style: /bucket or /bucket/ is the bucket; more is a key.
    let is_bucket = request.uri().path().trim_matches('/').split('/').count() <= 1;
    match *request.method() {
        Method::GET if is_bucket && has("list-type") => "ListObjectsV2",
        Method::GET
            if is_bucket && !has("location") && !has("encryption") && !has("object-lock") =>
        {
            "ListObjects"
        }
        Method::GET if is_bucket => "bucket GET",
        Method::GET => "GetObject",
        Method::HEAD if is_bucket => "HeadBucket",
        Method::HEAD => "HeadObject",
        Method::PUT if has("uploadId") => "UploadPart",
        Method::PUT if request.headers().contains_key("x-amz-copy-source") => "CopyObject",
        Method::PUT if is_bucket => "bucket PUT",
        Method::PUT => "PutObject",
        Method::POST if has("uploads") => "CreateMultipartUpload",
        Method::POST if has("uploadId") => "CompleteMultipartUpload",
        Method::DELETE if has("uploadId") => "AbortMultipartUpload",
        Method::DELETE => "DeleteObject",
        _ => "other",
    }
}

struct Shared {
    upstream: String,
    one_way: Duration,
    client: Client<HttpConnector, Incoming>,
    log: Arc<Log>,
}

async fn forward(shared: Arc<Shared>, request: Request) -> Result<Response, Infallible> {
    shared.log.count(operation(&request));
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let Ok(uri) = format!("{}{path}", shared.upstream).parse() else {
        return Ok(status(StatusCode::BAD_GATEWAY, "bad path".into()));
    };
    parts.uri = uri;
    // The request's way there, then the answer's way back.
    tokio::time::sleep(shared.one_way).await;
    let answer = shared
        .client
        .request(hyper::Request::from_parts(parts, body))
        .await;
    tokio::time::sleep(shared.one_way).await;
    Ok(match answer {
        Ok(response) => response.map(Body::new),
        Err(e) => status(StatusCode::BAD_GATEWAY, e.to_string()),
    })
}

fn status(code: StatusCode, text: String) -> Response {
    let mut response = hyper::Response::new(Body::from(text));
    *response.status_mut() = code;
    response
}

/// A running proxy; stops when dropped.
pub(crate) struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What went through it.
    pub log: Arc<Log>,
    stop: CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`) adding `one_way` to each direction of every
    /// request, and a round trip to every new connection.
    pub(crate) async fn start(upstream: &str, one_way: Duration) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let log = Arc::new(Log::default());
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            one_way,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(connector),
            log: log.clone(),
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let counted = log.clone();
        tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                };
                counted.connections.fetch_add(1, Ordering::Relaxed);
                let _ = socket.set_nodelay(true);
                let shared = shared.clone();
                let service =
                    hyper::service::service_fn(move |request| forward(shared.clone(), request));
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    // The handshake: a round trip before the first request can leave.
                    tokio::time::sleep(one_way * 2).await;
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service);
                    tokio::select! {
                        () = stopped.cancelled() => {}
                        _ = connection => {}
                    }
                });
            }
        });
        Ok(Self { url, log, stop })
    }
}
