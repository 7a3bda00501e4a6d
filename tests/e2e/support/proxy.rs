//! An HTTP proxy in front of a store, for misbehaviour no server here shows by itself: each
//! request is forwarded unchanged (its Host header too, so SigV4 signatures still verify) over
//! a new connection; a hook may run first (another client writing in the middle of a read), and
//! the answer's headers may be rewritten (bytes HTTP allows but UTF-8 does not).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderMap;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio_util::sync::CancellationToken;

/// What a hook sees of a request.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: http::Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

/// Runs before a request is forwarded.
pub type Before =
    Arc<dyn Fn(RequestHead) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;
/// Rewrites the head of an answer.
pub type After = Arc<dyn Fn(&RequestHead, &mut http::response::Parts) + Send + Sync>;

/// The requests a proxy forwarded, in order.
pub type Seen = Arc<std::sync::Mutex<Vec<RequestHead>>>;

/// A hook that records every request it sees in the returned list.
pub fn recorder() -> (Before, Seen) {
    let seen = Seen::default();
    let log = seen.clone();
    let before: Before = Arc::new(move |head| {
        log.lock().unwrap().push(head);
        Box::pin(async {})
    });
    (before, seen)
}

/// The decoded value of `name` in a URL query.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(&format!("http://query/?{query}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// S3 requests of `seen` for `path` (`/bucket/key`, path style): how many
/// CreateMultipartUpload (`POST ?uploads`), UploadPart (`PUT ?partNumber=..&uploadId=..`) and
/// AbortMultipartUpload (`DELETE ?uploadId=..`).
pub fn multipart_calls(seen: &Seen, path: &str) -> (usize, usize, usize) {
    let has = |query: &str, name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    let seen = seen.lock().unwrap();
    let of = |method: http::Method, param: &str| {
        seen.iter()
            .filter(|h| h.path == path && h.method == method && has(&h.query, param))
            .count()
    };
    (
        of(http::Method::POST, "uploads"),
        of(http::Method::PUT, "partNumber"),
        of(http::Method::DELETE, "uploadId"),
    )
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn forward(
    upstream: String,
    before: Option<Before>,
    after: Option<After>,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, BoxError> {
    let head = RequestHead {
        method: request.method().clone(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        headers: request.headers().clone(),
    };
    if let Some(before) = &before {
        before(head.clone()).await;
    }
    let stream = tokio::net::TcpStream::connect(&upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (mut parts, body) = response.into_parts();
    if let Some(after) = &after {
        after(&head, &mut parts);
    }
    Ok(Response::from_parts(parts, body))
}

impl Proxy {
    /// Proxies to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, before: Option<Before>, after: Option<After>) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok((s, _)) => s, Err(_) => continue },
                };
                let (upstream, before, after) = (upstream.clone(), before.clone(), after.clone());
                let service = service_fn(move |request| {
                    forward(upstream.clone(), before.clone(), after.clone(), request)
                });
                let conn = http
                    .serve_connection(TokioIo::new(socket), service)
                    .into_owned();
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = conn => {}
                    }
                });
            }
        });
        Self { url, shutdown }
    }
}
