//! A synthetic S3 server for re-checks at any scale: every bucket holds the same `count`
//! objects `d/000000000`, `d/000000001`, ... of 4 KiB with one entity tag and one date,
//! generated on the fly, so both sides of a re-check are identical and a page costs the same
//! whatever the bucket's size (s3s-fs walks its whole folder for every page; real stores do
//! not). It answers what a re-check asks: ListObjectsV2 (by `start-after` or continuation
//! token, any prefix) and ListObjects (by marker: rclone's default for S3-compatible stores),
//! HEAD and GET of an object, the bucket's HEAD, and "not set" for its
//! encryption and Object Lock settings. Signatures are not checked.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

/// The key prefix of every object.
pub(crate) const PREFIX: &str = "d/";
/// Every object's size.
pub(crate) const OBJECT_BYTES: usize = 4096;
const LAST_MODIFIED_HTTP: &str = "Mon, 01 Jan 2024 00:00:00 GMT";
const LAST_MODIFIED_XML: &str = "2024-01-01T00:00:00.000Z";

/// `text` with the characters XML reserves escaped.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn key(i: u64) -> String {
    format!("{PREFIX}{i:09}")
}

struct Objects {
    count: u64,
    etag: String,
}

impl Objects {
    /// The index of the first key after `after` (`None`: from the first).
    fn first_after(&self, after: Option<&str>) -> u64 {
        let Some(after) = after else { return 0 };
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(mid).as_str() > after {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// The index of the first key at or after `from`.
    fn first_at_or_after(&self, from: &str) -> u64 {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(mid).as_str() >= from {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    fn index_of(&self, name: &str) -> Option<u64> {
        let digits = name.strip_prefix(PREFIX)?;
        let i: u64 = digits.parse().ok()?;
        (digits.len() == 9 && i < self.count).then_some(i)
    }
}

fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn not_found(code: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>not set</Message></Error>"
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

fn list(objects: &Objects, bucket: &str, query: &str) -> Response {
    let prefix = query_value(query, "prefix").unwrap_or_default();
    let max_keys: u64 = query_value(query, "max-keys")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let v1 = query_value(query, "list-type").is_none();
    let token = query_value(query, "continuation-token");
    let start_after = query_value(query, if v1 { "marker" } else { "start-after" });
    let after = [token.clone(), start_after.clone()]
        .into_iter()
        .flatten()
        .max();
    // Keys from the first after `after` that is also at or after the prefix.
    let i = objects
        .first_after(after.as_deref())
        .max(objects.first_at_or_after(&prefix));
    let mut i = i;
    let mut contents = String::new();
    let mut n = 0;
    let mut last = None;
    while i < objects.count && n < max_keys {
        let k = key(i);
        if !k.starts_with(&prefix) {
            break;
        }
        let _ = write!(
            contents,
            "<Contents><Key>{k}</Key><LastModified>{LAST_MODIFIED_XML}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{OBJECT_BYTES}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            objects.etag
        );
        last = Some(k);
        n += 1;
        i += 1;
    }
    let truncated = n == max_keys && i < objects.count && key(i).starts_with(&prefix);
    let mut body = String::with_capacity(contents.len() + 512);
    let _ = write!(
        body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{bucket}</Name><Prefix>{}</Prefix><KeyCount>{n}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml(&prefix)
    );
    if v1 {
        let _ = write!(
            body,
            "<Marker>{}</Marker>",
            xml(start_after.as_deref().unwrap_or(""))
        );
        if truncated && let Some(last) = &last {
            let _ = write!(body, "<NextMarker>{last}</NextMarker>");
        }
    }
    if query_value(query, "encoding-type").is_some() {
        body.push_str("<EncodingType>url</EncodingType>");
    }
    if let Some(token) = &token {
        let _ = write!(
            body,
            "<ContinuationToken>{}</ContinuationToken>",
            xml(token)
        );
    }
    if let Some(after) = start_after.as_ref().filter(|_| !v1) {
        let _ = write!(body, "<StartAfter>{}</StartAfter>", xml(after));
    }
    if !v1
        && truncated
        && let Some(last) = &last
    {
        let _ = write!(
            body,
            "<NextContinuationToken>{last}</NextContinuationToken>"
        );
    }
    body.push_str(&contents);
    body.push_str("</ListBucketResult>");
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

async fn serve(State(objects): State<Arc<Objects>>, request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/').to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let (bucket, name) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let method = request.method().clone();
    if name.is_empty() {
        return match method {
            Method::GET if query.contains("encryption") => {
                not_found("ServerSideEncryptionConfigurationNotFoundError")
            }
            Method::GET if query.contains("object-lock") => {
                not_found("ObjectLockConfigurationNotFoundError")
            }
            Method::GET if query.contains("location") => (
                [(header::CONTENT_TYPE, "application/xml")],
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><LocationConstraint/>",
            )
                .into_response(),
            Method::GET => list(&objects, bucket, &query),
            _ => StatusCode::OK.into_response(),
        };
    }
    let Some(_) = objects.index_of(name) else {
        return match method {
            // Writes of other names (a task's object lists) are read and forgotten: answered
            // before their body is read, they broke the connection under the proxy's request.
            Method::PUT | Method::POST | Method::DELETE => {
                match axum::body::to_bytes(request.into_body(), usize::MAX).await {
                    Ok(_) => StatusCode::OK.into_response(),
                    Err(_) => StatusCode::BAD_REQUEST.into_response(),
                }
            }
            _ => not_found("NoSuchKey"),
        };
    };
    let mut response = match method {
        Method::GET => Body::from(vec![b'x'; OBJECT_BYTES]).into_response(),
        Method::HEAD => StatusCode::OK.into_response(),
        _ => return StatusCode::OK.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(OBJECT_BYTES));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static(LAST_MODIFIED_HTTP),
    );
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", objects.etag)) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// Starts a server whose every bucket holds `count` objects; returns its URL.
pub(crate) async fn start(count: u64) -> anyhow::Result<String> {
    use md5::Digest as _;
    let etag = hex::encode(md5::Md5::digest(vec![b'x'; OBJECT_BYTES]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(serve)
        .with_state(Arc::new(Objects { count, etag }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_start_after_and_prefixes() {
        let objects = Objects {
            count: 2500,
            etag: "e".into(),
        };
        assert_eq!(objects.first_after(None), 0);
        assert_eq!(objects.first_after(Some("d/000000999")), 1000);
        assert_eq!(objects.first_after(Some("a")), 0);
        assert_eq!(objects.first_after(Some("z")), 2500);
        let text = |r: Response| {
            let body = r.into_body();
            let bytes =
                futures::executor::block_on(axum::body::to_bytes(body, usize::MAX)).unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let page = text(list(
            &objects,
            "b",
            "list-type=2&prefix=d%2F&start-after=d%2F000002000",
        ));
        assert_eq!(page.matches("<Contents>").count(), 499);
        assert!(page.contains("<IsTruncated>false</IsTruncated>"));
        let page = text(list(
            &objects,
            "b",
            "list-type=2&prefix=d%2F000001&max-keys=10",
        ));
        assert!(
            page.contains("<Key>d/000001000</Key>")
                && page.contains("<IsTruncated>true</IsTruncated>")
        );
        assert!(page.contains("<NextContinuationToken>d/000001009</NextContinuationToken>"));
        let page = text(list(&objects, "b", "list-type=2&prefix=e%2F"));
        assert_eq!(page.matches("<Contents>").count(), 0);
        let page = text(list(&objects, "b", "prefix=d%2F&marker=d%2F000002489"));
        assert_eq!(page.matches("<Contents>").count(), 10);
        assert!(page.contains("<Marker>d/000002489</Marker>"));
    }
}
