//! The web console at `/console/`: plain HTML, CSS and a few JavaScript modules, embedded in
//! the binary (nothing is fetched from another origin, at build time or at run time).
//!
//! The console is static: it signs in with `POST /v3/auth/tokens` (or a pasted token) and then
//! calls the same API as every client, same-origin, with `X-Auth-Token`. The pages carry a
//! strict Content-Security-Policy (scripts and styles from this origin only, no inline code,
//! API calls to this origin only, no framing), and answers are gzipped when the browser
//! accepts it (compressed once, on first use).

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::error::ApiError;

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/console/";

/// What every console answer carries: no code or style but the console's own, API calls to
/// this origin only, never framed, no referrer.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-cache"),
];

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// An embedded file of `crates/oms-api/console/`.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The console's files (`index.html` answers `/console/`).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JAVASCRIPT),
    asset!("api.js", JAVASCRIPT),
    asset!("ui.js", JAVASCRIPT),
    asset!("lists.js", JAVASCRIPT),
    asset!("detail.js", JAVASCRIPT),
    asset!("create.js", JAVASCRIPT),
];

/// An asset made ready to serve: its gzip form and its entity tag.
struct Prepared {
    gzip: Vec<u8>,
    etag: HeaderValue,
}

fn prepared() -> &'static [Prepared] {
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    PREPARED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, asset.body);
                let etag = format!("\"{}\"", hex::encode(&digest.as_ref()[..12]));
                Prepared {
                    gzip: gzip(asset.body).unwrap_or_default(),
                    etag: HeaderValue::from_str(&etag)
                        .unwrap_or_else(|_| HeaderValue::from_static("\"console\"")),
                }
            })
            .collect()
    })
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The console's routes: `/console` (redirected to `/console/`), `/console/` and its files.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent(CONSOLE_PATH) }))
        .route(CONSOLE_PATH, get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
        )
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.trim().split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn serve(file: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == file) else {
        return ApiError::RouteNotFound(format!("/console/{file}")).into_response();
    };
    let asset = &ASSETS[index];
    let ready = &prepared()[index];
    let mut headers = HeaderMap::new();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::ETAG, ready.etag.clone());
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag == ready.etag)
    {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if accepts_gzip(request) && !ready.gzip.is_empty() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (headers, ready.gzip.clone()).into_response();
    }
    (headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_served_only_to_browsers_that_take_it() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
    }

    #[test]
    fn every_asset_compresses_and_names_only_embedded_files() {
        for (asset, ready) in ASSETS.iter().zip(prepared()) {
            assert!(!ready.gzip.is_empty(), "{}", asset.name);
            assert!(ready.gzip.len() < asset.body.len(), "{}", asset.name);
        }
        // The page loads only files of this list, from this origin.
        let index = String::from_utf8_lossy(ASSETS[0].body);
        for reference in index
            .split(['"', '\''])
            .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
        {
            let name = reference
                .trim_start_matches("./")
                .trim_start_matches(CONSOLE_PATH);
            assert!(ASSETS.iter().any(|a| a.name == name), "{reference}");
        }
        assert!(!index.contains("http://") && !index.contains("https://"));
    }
}
