//! An HTTP origin inside the test: serves files (HEAD, GET, byte ranges, strong ETags,
//! Last-Modified, If-Range and If-Match) and, like a CDN with URL authentication on, refuses
//! requests whose signature is missing, stale or wrong with 403. It can misbehave the way real
//! origins do: ignore ranges (`python3 -m http.server`), answer every range with the file's
//! first bytes, send bodies without Content-Length, have a file replaced during a read, or
//! redirect elsewhere. The signatures are checked from the providers' formulas written out here
//! again, independently of the engine's signer, so a wrong signer fails the tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::{Digest as _, Md5};
use tokio_util::sync::CancellationToken;

/// A served file.
#[derive(Clone)]
pub struct File {
    pub bytes: Vec<u8>,
    pub last_modified: SystemTime,
}

/// How an origin answers byte ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ranges {
    /// As HTTP says.
    #[default]
    Honoured,
    /// Not at all: every GET gets the whole file with 200.
    Ignored,
    /// With 206, but always from byte 0: `Content-Range: bytes 0-(n-1)/total` and the file's
    /// first n bytes.
    FromStart,
}

#[derive(Default)]
struct Inner {
    ranges: Mutex<Ranges>,
    /// Bodies are sent chunked, without Content-Length.
    chunked: std::sync::atomic::AtomicBool,
    /// A file replaced when a GET of it asks for a range starting at this byte: (path, at,
    /// new bytes).
    overwrite: Mutex<Option<(String, usize, Vec<u8>)>>,
    files: Mutex<BTreeMap<String, File>>,
    /// (scheme, key) when signatures are enforced.
    auth: Mutex<Option<(String, String)>>,
    requests: AtomicU32,
    refused: AtomicU32,
    served: Mutex<BTreeMap<String, u32>>,
    delay_ms: AtomicU32,
    /// Paths answered with a 302 to another URL, and how often each was.
    redirects: Mutex<BTreeMap<String, (String, u32)>>,
}

/// The origin; stops when dropped.
pub struct Origin {
    /// `localhost:PORT`.
    pub authority: String,
    inner: Arc<Inner>,
    shutdown: CancellationToken,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Within an hour of now.
fn fresh(ts: i64) -> bool {
    (unix_now() - ts).abs() < 3600
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The served path of a request signed with `scheme` and `key`, or `None` when the signature
/// is missing or wrong.
fn verify(scheme: &str, key: &str, path: &str, query: &str) -> Option<String> {
    match scheme {
        "ALIYUN_OSS_A" | "TENCENT_COS_A" => {
            let name = if scheme == "ALIYUN_OSS_A" {
                "auth_key"
            } else {
                "sign"
            };
            let value = query_param(query, name)?;
            let parts: Vec<&str> = value.splitn(4, '-').collect();
            let [ts, rand, uid, hash] = parts.as_slice() else {
                return None;
            };
            let expected = md5_hex(&format!("{path}-{ts}-{rand}-{uid}-{key}"));
            (fresh(ts.parse().ok()?) && *hash == expected).then(|| path.to_owned())
        }
        "ALIYUN_OSS_B" | "TENCENT_COS_B" => {
            let rest = path.strip_prefix('/')?;
            let (ts, rest) = rest.split_once('/')?;
            let (hash, rest) = rest.split_once('/')?;
            let file = format!("/{rest}");
            // YYYYMMDDHHMM in UTC+8.
            let format = time::macros::format_description!("[year][month][day][hour][minute]");
            let when = time::PrimitiveDateTime::parse(ts, format)
                .ok()?
                .assume_offset(time::macros::offset!(+8));
            let ok = fresh(when.unix_timestamp()) && hash == md5_hex(&format!("{key}{ts}{file}"));
            ok.then_some(file)
        }
        "ALIYUN_OSS_C" | "TENCENT_COS_C" => {
            let rest = path.strip_prefix('/')?;
            let (hash, rest) = rest.split_once('/')?;
            let (hex_ts, rest) = rest.split_once('/')?;
            let file = format!("/{rest}");
            let ts = i64::from_str_radix(hex_ts, 16).ok()?;
            let ok = fresh(ts) && hash == md5_hex(&format!("{key}{file}{hex_ts}"));
            ok.then_some(file)
        }
        "TENCENT_COS_D" => {
            let sign = query_param(query, "sign")?;
            let t = query_param(query, "t")?;
            let ok = fresh(t.parse().ok()?) && sign == md5_hex(&format!("{key}{path}{t}"));
            ok.then(|| path.to_owned())
        }
        _ => None,
    }
}

fn http_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(format).unwrap()
}

async fn serve(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let delay = inner.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
    }
    let path = request.uri().path().to_owned();
    if let Some((location, hits)) = inner.redirects.lock().unwrap().get_mut(&path) {
        *hits += 1;
        return (StatusCode::FOUND, [(header::LOCATION, location.clone())]).into_response();
    }
    let query = request.uri().query().unwrap_or_default().to_owned();
    let auth = inner.auth.lock().unwrap().clone();
    let path = match auth {
        Some((scheme, key)) => match verify(&scheme, &key, &path, &query) {
            Some(path) => path,
            None => {
                inner.refused.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::FORBIDDEN, "signature check failed").into_response();
            }
        },
        None => path,
    };
    let Some(file) = inner.files.lock().unwrap().get(&path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let mut range = range_of(request.headers(), file.bytes.len());
    let due = {
        let mut overwrite = inner.overwrite.lock().unwrap();
        match (&range, overwrite.as_ref()) {
            (Some((start, _)), Some((at_path, at, _))) if *at_path == path && at == start => {
                overwrite.take()
            }
            _ => None,
        }
    };
    let file = match due {
        Some((_, _, bytes)) => {
            let replaced = File {
                bytes,
                last_modified: SystemTime::now() + Duration::from_secs(2),
            };
            inner
                .files
                .lock()
                .unwrap()
                .insert(path.clone(), replaced.clone());
            replaced
        }
        None => file,
    };
    let etag = format!("\"{}\"", hex::encode(Md5::digest(&file.bytes)));
    let date = http_date(file.last_modified);
    let header_of = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(wanted) = header_of(header::IF_MATCH)
        && wanted != etag
    {
        return StatusCode::PRECONDITION_FAILED.into_response();
    }
    // If-Range: the range only if the file is still the one named, else the whole file.
    if let Some(condition) = header_of(header::IF_RANGE)
        && condition != etag
        && condition != date
    {
        range = None;
    }
    let total = file.bytes.len();
    let mut response = Response::builder()
        .header(header::LAST_MODIFIED, date)
        .header(header::ETAG, etag)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes");
    let ranges = *inner.ranges.lock().unwrap();
    let (status, body) = match range {
        Some(_) if ranges == Ranges::Ignored => (StatusCode::OK, file.bytes),
        Some((start, end)) => {
            let (start, end) = if ranges == Ranges::FromStart {
                (0, end - start)
            } else {
                (start, end)
            };
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{total}", end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, file.bytes[start..end].to_vec())
        }
        None => (StatusCode::OK, file.bytes),
    };
    let chunked = inner.chunked.load(Ordering::SeqCst);
    if !chunked || method == Method::HEAD {
        response = response.header(header::CONTENT_LENGTH, body.len());
    }
    if method == Method::GET {
        *inner.served.lock().unwrap().entry(path).or_default() += 1;
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else if chunked {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(futures::stream::iter(chunks))
    } else {
        Body::from(body)
    };
    response.status(status).body(body).unwrap()
}

fn range_of(headers: &HeaderMap, total: usize) -> Option<(usize, usize)> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let (start, end) = value.strip_prefix("bytes=")?.split_once('-')?;
    let start: usize = start.parse().ok()?;
    let end: usize = end.parse::<usize>().map_or(total, |e| (e + 1).min(total));
    (start < end).then_some((start, end))
}

impl Origin {
    /// Starts an origin on 127.0.0.1, addressed as `localhost:PORT`.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Self {
            authority: format!("localhost:{port}"),
            inner,
            shutdown,
        }
    }

    /// Serves `bytes` at `path`, modified now.
    pub fn add(&self, path: &str, bytes: Vec<u8>) {
        self.inner.files.lock().unwrap().insert(
            path.to_owned(),
            File {
                bytes,
                last_modified: SystemTime::now(),
            },
        );
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority)
    }

    /// Enforces signatures of `scheme` (an OMS authentication_type) with `key`.
    pub fn require_signature(&self, scheme: &str, key: &str) {
        *self.inner.auth.lock().unwrap() = Some((scheme.to_owned(), key.to_owned()));
    }

    /// How byte ranges are answered from now on.
    pub fn set_ranges(&self, ranges: Ranges) {
        *self.inner.ranges.lock().unwrap() = ranges;
    }

    /// Sends bodies chunked, without Content-Length (HEADs still tell the length).
    pub fn set_chunked(&self, chunked: bool) {
        self.inner.chunked.store(chunked, Ordering::SeqCst);
    }

    /// Replaces the file at `path` with `bytes` when a GET of it asks for a range from `at`.
    pub fn overwrite_at(&self, path: &str, at: usize, bytes: Vec<u8>) {
        *self.inner.overwrite.lock().unwrap() = Some((path.to_owned(), at, bytes));
    }

    /// Answers requests for `path` with a 302 to `location`.
    pub fn redirect(&self, path: &str, location: &str) {
        self.inner
            .redirects
            .lock()
            .unwrap()
            .insert(path.to_owned(), (location.to_owned(), 0));
    }

    /// How often each redirecting path was asked for.
    pub fn redirected(&self) -> BTreeMap<String, u32> {
        self.inner
            .redirects
            .lock()
            .unwrap()
            .iter()
            .map(|(path, (_, hits))| (path.clone(), *hits))
            .collect()
    }

    /// Waits `ms` before answering each request.
    pub fn set_delay_ms(&self, ms: u32) {
        self.inner.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Requests received.
    pub fn requests(&self) -> u32 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Requests refused for their signature.
    pub fn refused(&self) -> u32 {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// GETs answered with bytes, per path.
    pub fn served(&self) -> BTreeMap<String, u32> {
        self.inner.served.lock().unwrap().clone()
    }

    /// The MD5 of every file, by path.
    pub fn md5s(&self) -> BTreeMap<String, String> {
        self.inner
            .files
            .lock()
            .unwrap()
            .iter()
            .map(|(k, f)| (k.clone(), hex::encode(Md5::digest(&f.bytes))))
            .collect()
    }
}
