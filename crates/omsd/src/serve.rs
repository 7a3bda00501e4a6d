//! The API's HTTP server: hyper under the axum router, with the limits a service on an open
//! network needs, which `axum::serve` does not have:
//!
//! - **a cap on open connections**, in all and per client address: beyond it a new connection
//!   is closed at once, so that half-open requests cannot take every file descriptor;
//! - **a header timeout**: the headers of a request must arrive within
//!   `server.header_read_timeout_secs` from the moment the connection is ready for one — which
//!   also closes idle keep-alive connections after that long (slowloris);
//! - **a body timeout**: the body of a request must arrive within `server.body_timeout_secs`
//!   of its first read;
//! - **TLS** (rustls) when a certificate and key are configured, re-read when either file
//!   changes, so that a renewed certificate is served without a restart.
//!
//! Each request carries the client's address (`ConnectInfo`), for the login limits. On
//! shutdown, accepting stops, open connections finish their request in flight and close, and
//! what is still open at the deadline is cut.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// How often the certificate files are checked for a change.
const TLS_RELOAD_EVERY: Duration = Duration::from_secs(10);
/// A pause after `accept` fails (out of file descriptors): the loop must not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What one client may hold and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one client address (0: no limit of its own).
    pub max_connections_per_client: usize,
    /// Time for a request's headers, from when the connection is ready for one.
    pub header_read_timeout: Duration,
    /// Time for a request's whole body, from its first read.
    pub body_timeout: Duration,
    /// On shutdown, how long requests in flight may finish.
    pub drain_timeout: Duration,
}

/// Connections open, in all and by client address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// A place among the open connections, given back when the connection ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.total -= 1;
        if let Some(n) = open.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A place for a new connection from `client`, or `None` when a cap is reached.
fn admit(open: &Arc<Mutex<Open>>, limits: &ServerLimits, client: IpAddr) -> Option<Slot> {
    let mut state = lock(open);
    let of_client = state.by_client.get(&client).copied().unwrap_or(0);
    if state.total >= limits.max_connections
        || (limits.max_connections_per_client > 0 && of_client >= limits.max_connections_per_client)
    {
        return None;
    }
    state.total += 1;
    *state.by_client.entry(client).or_default() += 1;
    Some(Slot {
        open: open.clone(),
        client,
    })
}

/// The certificate and key the server presents, re-read when their files change.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<(Option<SystemTime>, Option<SystemTime>, TlsAcceptor)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn acceptor(cert_file: &Path, key_file: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("cannot read the certificate {}", cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} holds no valid PEM certificate", cert_file.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate",
        cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("cannot read a private key from {}", key_file.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and the key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Tls {
    /// Loads the certificate chain and key (PEM files).
    pub fn load(cert_file: &Path, key_file: &Path) -> anyhow::Result<Self> {
        let acceptor = acceptor(cert_file, key_file)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new((modified(cert_file), modified(key_file), acceptor)),
        })
    }

    fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .2
            .clone()
    }

    /// Re-reads the files when they changed; a pair that does not load keeps the old one.
    fn reload_if_changed(&self) {
        let (cert, key) = (modified(&self.cert_file), modified(&self.key_file));
        {
            let current = self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.0 == cert && current.1 == key {
                return;
            }
        }
        match acceptor(&self.cert_file, &self.key_file) {
            Ok(acceptor) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = (cert, key, acceptor);
                tracing::info!(cert = %self.cert_file.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the changed TLS certificate or key cannot be loaded; the previous one is kept");
            }
        }
    }
}

/// A request body that must arrive whole within a time from its first read.
struct Timed {
    inner: Incoming,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTooSlow(Duration);

impl http_body::Body for Timed {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTooSlow(limit)))));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `shutdown`, within `limits`; over TLS when `tls` is
/// given.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    tls: Option<Arc<Tls>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut connections = JoinSet::new();
    let stop_connections = CancellationToken::new();
    if let Some(tls) = &tls {
        let (tls, stop) = (tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TLS_RELOAD_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => tls.reload_if_changed(),
                }
            }
        });
    }
    let mut refused_logged = false;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(slot) = admit(&open, &limits, peer.ip()) else {
            if !refused_logged {
                refused_logged = true;
                tracing::warn!(
                    client = %peer.ip(),
                    max_connections = limits.max_connections,
                    max_connections_per_client = limits.max_connections_per_client,
                    "too many open connections: new ones are closed at once (logged once)"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let (router, stop) = (router.clone(), stop_connections.clone());
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(|inner| {
                    Body::new(Timed {
                        inner,
                        limit: limits.body_timeout,
                        deadline: None,
                    })
                });
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request)
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            match acceptor {
                None => serve_connection(&http, TokioIo::new(stream), service, &stop).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_connection(&http, TokioIo::new(stream), service, &stop).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(client = %peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    stop_connections.cancel();
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            timeout_secs = limits.drain_timeout.as_secs(),
            "requests still running at the shutdown deadline were cut"
        );
        connections.shutdown().await;
    }
    Ok(())
}

async fn serve_connection<I, S>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    stop: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as http_body::Body>::Data: Send,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        () = stop.cancelled() => {
            // The request in flight finishes; no other is read.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Whether `addr` can only be reached from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_all_and_per_client() {
        let open = Arc::new(Mutex::new(Open::default()));
        let limits = ServerLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            header_read_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(1),
        };
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "127.0.0.1".parse().unwrap(),
            "127.0.0.2".parse().unwrap(),
            "127.0.0.3".parse().unwrap(),
        );
        let first = admit(&open, &limits, a).unwrap();
        let _second = admit(&open, &limits, a).unwrap();
        assert!(
            admit(&open, &limits, a).is_none(),
            "a third from one client"
        );
        let _third = admit(&open, &limits, b).unwrap();
        assert!(admit(&open, &limits, c).is_none(), "a fourth in all");
        drop(first);
        let fourth = admit(&open, &limits, c);
        assert!(fourth.is_some());
        assert_eq!(lock(&open).total, 3);
        drop(fourth);
        assert_eq!(lock(&open).total, 2);
    }
}
