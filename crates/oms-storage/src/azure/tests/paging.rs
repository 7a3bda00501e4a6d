//! How `start_after` maps to Azure markers, against a small List Blobs server whose markers
//! are positions: pages continue from the marker remembered for their last key, a resume
//! without one walks from the prefix and skips, and a listing that does not progress fails.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;

type Answer = dyn Fn(&Url) -> String + Send + Sync;

/// A server answering every request with `answer(url)` as an XML body; it records the queries.
async fn serve(answer: Arc<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0_u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
            let url = Url::parse(&format!("http://mock{target}")).unwrap();
            log.lock()
                .unwrap()
                .push(url.query().unwrap_or_default().to_owned());
            let body = answer(&url);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (format!("http://127.0.0.1:{port}/acct"), seen)
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn enumeration(names: &[&str], next_marker: Option<usize>) -> String {
    let blobs: String = names
        .iter()
        .map(|n| {
            format!("<Blob><Name>{n}</Name><Properties><Content-Length>1</Content-Length></Properties></Blob>")
        })
        .collect();
    let marker = next_marker.map(|m| m.to_string()).unwrap_or_default();
    format!(
        "<EnumerationResults><Blobs>{blobs}</Blobs><NextMarker>{marker}</NextMarker></EnumerationResults>"
    )
}

/// Lists `names` (in this order) like Azure: from a marker (a position), `maxresults` at most.
fn container(names: &'static [&'static str]) -> Arc<Answer> {
    Arc::new(move |url: &Url| {
        let prefix = param(url, "prefix").unwrap_or_default();
        let under: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let from: usize = param(url, "marker").map_or(0, |m| m.parse().unwrap());
        let max: usize = param(url, "maxresults").unwrap().parse().unwrap();
        let to = (from + max).min(under.len());
        enumeration(&under[from..to], (to < under.len()).then_some(to))
    })
}

async fn source_over(answer: Arc<Answer>) -> (AzureSource, Arc<Mutex<Vec<String>>>) {
    let (endpoint, seen) = serve(answer).await;
    let conn = SecretString::from(format!(
        "BlobEndpoint={endpoint};AccountName=acct;SharedAccessSignature=sv=2021-08-06&sig=x"
    ));
    (AzureSource::new(&settings(true), &conn, "c").unwrap(), seen)
}

const NAMES: &[&str] = &["a", "b/", "b//c", "b/d", "e"];

#[tokio::test]
async fn pages_continue_from_the_marker_after_their_last_key() {
    let (source, seen) = source_over(container(NAMES)).await;
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = source.list("c", "", after.as_deref(), 2).await.unwrap();
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        after = page.objects.last().map(|o| o.key.clone());
        if !page.is_truncated {
            break;
        }
    }
    assert_eq!(keys, NAMES);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "restype=container&comp=list&maxresults=2&sv=2021-08-06&sig=x",
            "restype=container&comp=list&maxresults=2&marker=2&sv=2021-08-06&sig=x",
            "restype=container&comp=list&maxresults=2&marker=4&sv=2021-08-06&sig=x",
        ],
        "one request a page, each from the marker after the last key"
    );
}

#[tokio::test]
async fn a_resume_without_a_marker_walks_from_the_prefix_and_skips_what_was_listed() {
    let (source, seen) = source_over(container(NAMES)).await;
    let page = source.list("c", "b", Some("b//c"), 2).await.unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["b/d"], "after b//c under b");
    assert!(!page.is_truncated);
    assert!(
        seen.lock().unwrap().iter().all(|q| q.contains("prefix=b&")),
        "the prefix is asked for"
    );

    let (source, seen) = source_over(container(NAMES)).await;
    let page = source.list("c", "", Some("a"), 2).await.unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["b/", "b//c"]);
    assert!(page.is_truncated);
    assert_eq!(seen.lock().unwrap().len(), 2, "a page of 2, then 1 more");
    assert_eq!(
        source.markers.find("", "b//c").as_deref(),
        Some("3"),
        "the walk ends where an answer ended, so its marker is remembered"
    );
}

#[tokio::test]
async fn empty_answers_with_a_marker_are_followed_and_a_stuck_listing_fails() {
    let (source, _) = source_over(Arc::new(|url: &Url| match param(url, "marker") {
        None => enumeration(&[], Some(0)),
        Some(_) => enumeration(&["x"], None),
    }))
    .await;
    let page = source.list("c", "", None, 10).await.unwrap();
    assert_eq!(page.objects.len(), 1);
    assert!(!page.is_truncated);

    let (stuck, _) = source_over(Arc::new(|_: &Url| enumeration(&[], Some(7)))).await;
    let err = stuck.list("c", "", None, 10).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
}
