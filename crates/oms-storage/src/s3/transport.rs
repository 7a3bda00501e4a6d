//! The HTTP transport of the S3 connector: aws-sdk-s3 (or [`super::direct`], for listings,
//! GETs and single PUTs) builds and signs requests, a hyper client sends them exactly as built,
//! and the answer is made readable before it is read.
//!
//! **Paths are sent as built.** An S3 key is not a path: `../victim/x`, `a/./b` and `a/..` are
//! names of their own. Clients that keep the request target as a WHATWG URL (reqwest, through
//! the `url` crate) resolve `.` and `..` segments — encoded as `%2E` or not — before sending,
//! so a key `../victim/x` of bucket `src` would be asked for as `/victim/x`: an object of
//! another bucket. hyper sends the `http::Uri` the SDK signed, byte for byte, as botocore and
//! the AWS CLI do.
//!
//! **Header values need not be UTF-8.** The SDK refuses a whole answer when one header value is
//! not UTF-8 (a store that keeps `x-amz-meta-title: caf\xE9` as a Latin-1 client sent it), so
//! the object could never be read, even with metadata migration off. Such values are decoded as
//! ISO-8859-1, which is what HTTP's obs-text historically is, so every answer reaches the SDK;
//! what can be carried to the destination is decided when it is written
//! ([`crate::metadata`]).
//!
//! The client follows no redirects, uses no proxy from the environment, reads no `AWS_*` or
//! CA-bundle variables, and gives up on a request that makes no progress (no byte sent or
//! received) for its idle timeout.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt as _, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector as TcpConnector, capture_connection};
use hyper_util::rt::TokioExecutor;

use crate::client::readable_headers;
use crate::{ErrorKind, StorageError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long an unused connection is kept for the next request.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Sends the SDK's requests with hyper.
#[derive(Debug, Clone)]
pub(crate) struct HyperTransport {
    client: Client<HttpsConnector<TcpConnector>, Tracked<SdkBody>>,
    idle_timeout: Duration,
}

impl HyperTransport {
    /// A transport with these timeouts (`idle_timeout`: the longest time a request may go
    /// without sending or receiving a byte). Transports of one connect timeout share their
    /// connection pool: a worker's next task to the same store reuses the connections of the
    /// last one instead of paying a TCP (and TLS) handshake per connection again — across a
    /// WAN, one to three round trips each. Requests are signed one by one, so connections carry
    /// no credentials.
    pub(crate) fn new(connect_timeout: Duration, idle_timeout: Duration) -> Result<Self, String> {
        type Pools = std::collections::HashMap<
            Duration,
            Client<HttpsConnector<TcpConnector>, Tracked<SdkBody>>,
        >;
        static POOLS: std::sync::LazyLock<std::sync::Mutex<Pools>> =
            std::sync::LazyLock::new(Default::default);
        let mut pools = POOLS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let client = match pools.get(&connect_timeout) {
            Some(client) => client.clone(),
            None => {
                let client = Self::client(connect_timeout)?;
                pools.insert(connect_timeout, client.clone());
                client
            }
        };
        Ok(Self {
            client,
            idle_timeout,
        })
    }

    fn client(
        connect_timeout: Duration,
    ) -> Result<Client<HttpsConnector<TcpConnector>, Tracked<SdkBody>>, String> {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        let https = HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https))
    }
}

/// A whole answer to a request sent by [`HyperTransport::fetch`].
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

/// The answer to a request sent by [`HyperTransport::send`], its body still on its way.
pub(crate) type Answer = http::Response<Tracked<hyper::body::Incoming>>;

impl HyperTransport {
    /// Sends a request built and signed here rather than by the SDK (see [`super::direct`]) on
    /// the same pool. A connection that fails, or a request or answer that makes no progress
    /// for the idle timeout, is a transient error of `operation`, worded as the SDK path words
    /// it; so is an answer's body that stops coming.
    pub(crate) async fn send(
        &self,
        operation: &'static str,
        request: http::Request<SdkBody>,
    ) -> Result<Answer, StorageError> {
        let transient =
            |message: String| StorageError::new(ErrorKind::Transient, operation, message);
        let progress = Progress::new();
        let request = request.map(|body| Tracked::request(body, progress.clone()));
        send_tracked(&self.client, request, progress, self.idle_timeout)
            .await
            .map_err(|e| match e {
                SendError::Failed(e) => {
                    let what = if e.is_connect() {
                        "the connection failed"
                    } else {
                        "the request could not be sent"
                    };
                    transient(format!("{what}: {}", super::root_cause(&e)))
                }
                SendError::Stalled(stalled) => transient(format!("timed out: {stalled}")),
            })
    }

    /// Reads the whole of an answer's `body`, of at most `limit` bytes.
    pub(crate) async fn read(
        operation: &'static str,
        body: Tracked<hyper::body::Incoming>,
        limit: usize,
    ) -> Result<Bytes, StorageError> {
        Ok(Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                StorageError::new(
                    ErrorKind::Transient,
                    operation,
                    format!(
                        "the answer cannot be read: {}",
                        super::root_cause(e.as_ref())
                    ),
                )
            })?
            .to_bytes())
    }

    /// [`Self::send`]s a request and reads its whole answer, of at most `limit` bytes.
    pub(crate) async fn fetch(
        &self,
        operation: &'static str,
        request: http::Request<SdkBody>,
        limit: usize,
    ) -> Result<Fetched, StorageError> {
        let (parts, body) = self.send(operation, request).await?.into_parts();
        Ok(Fetched {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: Self::read(operation, body, limit).await?,
        })
    }
}

impl HttpClient for HyperTransport {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// When a request last made progress: milliseconds since `start`.
#[derive(Debug, Clone)]
struct Progress {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Progress {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Ends when nothing happened for `idle`.
    async fn stalled(&self, idle: Duration) {
        loop {
            let quiet = Duration::from_millis(
                self.now_ms()
                    .saturating_sub(self.last_ms.load(Ordering::Relaxed)),
            );
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    }
}

/// A body that records when its bytes move (a request body as it is sent, a response body as
/// it is read) and, for answers, fails when none moves for the idle timeout.
#[derive(Debug)]
pub(crate) struct Tracked<B> {
    inner: B,
    progress: Progress,
    /// For response bodies: the idle timeout and its timer.
    watchdog: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl<B> Tracked<B> {
    fn request(inner: B, progress: Progress) -> Self {
        Self {
            inner,
            progress,
            watchdog: None,
        }
    }

    fn response(inner: B, progress: Progress, idle: Duration) -> Self {
        Self {
            inner,
            progress,
            watchdog: Some((idle, Box::pin(tokio::time::sleep(idle)))),
        }
    }
}

/// A response body that went quiet for longer than the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("no byte of the answer arrived for {0:?}")]
struct Stalled(Duration);

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.progress.touch();
                if let Some((idle, timer)) = &mut this.watchdog {
                    timer.as_mut().reset(tokio::time::Instant::now() + *idle);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if let Some((idle, timer)) = &mut this.watchdog
                    && timer.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Some(Err(Box::new(Stalled(*idle)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why [`send_tracked`] got no answer.
enum SendError {
    /// The connection failed, or the request could not be sent.
    Failed(hyper_util::client::legacy::Error),
    /// Nothing of the request was sent, and no answer came, for the idle timeout.
    Stalled(Stalled),
}

/// Sends `request` (whose body reports to `progress`) on `client`, giving up when it makes no
/// progress for `idle`; the answer's body then fails the same way when it goes quiet.
async fn send_tracked(
    client: &Client<HttpsConnector<TcpConnector>, Tracked<SdkBody>>,
    request: http::Request<Tracked<SdkBody>>,
    progress: Progress,
    idle: Duration,
) -> Result<http::Response<Tracked<hyper::body::Incoming>>, SendError> {
    let response = tokio::select! {
        response = client.request(request) => response.map_err(SendError::Failed)?,
        () = progress.stalled(idle) => return Err(SendError::Stalled(Stalled(idle))),
    };
    progress.touch();
    Ok(response.map(|body| Tracked::response(body, progress, idle)))
}

fn connector_error(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if error.is_connect() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

impl HttpConnector for HyperTransport {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let progress = Progress::new();
        let mut request = match request.try_into_http1x() {
            Ok(request) => request.map(|body| Tracked::request(body, progress.clone())),
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // After a transient failure the SDK closes the connection that carried it (its answer
        // may have been cut mid-way), so the next request does not inherit a broken stream;
        // without a way to reach the connection it logged an ERROR instead, once per failure.
        let connection = capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || {
                connection.connection_metadata().as_ref()?;
                let connection = connection.clone();
                Some(
                    ConnectionMetadata::builder()
                        .proxied(false)
                        .poison_fn(move || {
                            if let Some(open) = connection.connection_metadata().as_ref() {
                                open.poison();
                            }
                        })
                        .build(),
                )
            });
        }
        let (client, idle) = (self.client.clone(), self.idle_timeout);
        HttpConnectorFuture::new(async move {
            let mut response = send_tracked(&client, request, progress, idle)
                .await
                .map_err(|e| match e {
                    SendError::Failed(e) => connector_error(e),
                    SendError::Stalled(stalled) => ConnectorError::timeout(Box::new(stalled)),
                })?;
            readable_headers(response.headers_mut());
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}
