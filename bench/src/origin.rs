//! An HTTP origin for URL lists: every path answers the same small body (HEAD and GET).

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// The body every URL serves.
pub(crate) const BODY_BYTES: usize = 1024;

async fn serve(method: Method) -> Response {
    static BODY: [u8; BODY_BYTES] = [b'x'; BODY_BYTES];
    let mut response = if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        Bytes::from_static(&BODY).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(BODY_BYTES));
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static("Sat, 01 Jan 2022 00:00:00 GMT"),
    );
    response
}

/// Starts the origin on 127.0.0.1; returns its base URL.
pub(crate) async fn start() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(serve);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}
