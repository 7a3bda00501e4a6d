//! Reads that cannot mix versions or ranges: what a store answers to a GET is checked against
//! what was asked before a byte of it is used.
//!
//! A read after a listing or a HEAD is pinned to the [`Version`] seen (each connector sends the
//! condition its store understands: `If-Match`, `If-Range`, `x-amz-copy-source-if-match`).
//! Whatever the store did with the condition, `check_answer` compares the answer with the
//! request: a ranged read must come back as exactly that range of an object of the pinned size,
//! with the pinned entity tag; a whole read must have the pinned size. `Counted` then makes
//! sure the body holds exactly the bytes announced.

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use crate::{ByteStream, ErrorKind, StorageError};

/// The version of an object that a copy reads: what a listing or a HEAD said of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag, without quotes (`None`: the store did not tell it).
    pub etag: Option<String>,
    /// Its last modification, Unix ms (0: unknown).
    pub last_modified_ms: i64,
}

impl Version {
    /// The entity tag to send in a condition: strong tags only (a weak one cannot pin bytes).
    pub fn strong_etag(&self) -> Option<&str> {
        self.etag
            .as_deref()
            .filter(|e| !e.is_empty() && !e.starts_with("W/"))
    }
}

/// What a store answered to a GET, as far as the checks need it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer<'a> {
    /// The answer was a 206 (`None`: the client does not tell, as aws-sdk-s3).
    pub partial: Option<bool>,
    /// The `Content-Range` header.
    pub content_range: Option<&'a str>,
    /// The `Content-Length` header.
    pub content_length: Option<u64>,
    /// The entity tag, without quotes.
    pub etag: Option<&'a str>,
}

/// `bytes a-b/total` as (a..b+1, total); `total` is `None` for `*`.
pub(crate) fn parse_content_range(text: &str) -> Option<(Range<u64>, Option<u64>)> {
    let rest = text.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.trim().split_once('-')?;
    let (first, last): (u64, u64) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first..last + 1, total))
}

fn failure(kind: ErrorKind, operation: &'static str, message: String) -> StorageError {
    StorageError::new(kind, operation, message)
}

/// Checks an answer to a read of `requested` (a range, or the whole object) pinned to `pinned`;
/// returns how many body bytes are due. `expected_len` is what the caller knows of the whole
/// object's size when nothing is pinned (a list line's size, say).
pub(crate) fn check_answer(
    operation: &'static str,
    requested: Option<&Range<u64>>,
    pinned: Option<&Version>,
    answer: &Answer<'_>,
) -> Result<u64, StorageError> {
    if let (Some(seen), Some(now)) = (pinned.and_then(Version::strong_etag), answer.etag)
        && !now.starts_with("W/")
        && !seen.eq_ignore_ascii_case(now)
    {
        return Err(failure(
            ErrorKind::Changed,
            operation,
            format!("the object changed: its entity tag is now {now}, not {seen}"),
        ));
    }
    let size = pinned.map(|v| v.size);
    let Some(range) = requested else {
        let length = answer.content_length.or(size).ok_or_else(|| {
            failure(
                ErrorKind::Permanent,
                operation,
                "the answer tells no length, and the object's size is not known".into(),
            )
        })?;
        if let Some(size) = size
            && size != length
        {
            return Err(failure(
                ErrorKind::Changed,
                operation,
                format!("the object changed: it now holds {length} bytes, not {size}"),
            ));
        }
        return Ok(length);
    };
    let wanted = range.end - range.start;
    let whole = range.start == 0 && size == Some(range.end);
    match (answer.partial, answer.content_range) {
        // A store that ignores the range answers with the whole object: good only when the
        // range is the whole object.
        (Some(false), _) | (None, None) => {
            if whole && answer.content_length.is_none_or(|n| n == wanted) {
                return Ok(wanted);
            }
            Err(failure(
                ErrorKind::RangeNotHonored,
                operation,
                format!(
                    "asked for bytes {}-{}, the store answered with the whole object",
                    range.start,
                    range.end - 1
                ),
            ))
        }
        (Some(true), None) => Err(failure(
            ErrorKind::RangeNotHonored,
            operation,
            "a partial answer without Content-Range".into(),
        )),
        (_, Some(text)) => {
            let Some((got, total)) = parse_content_range(text) else {
                return Err(failure(
                    ErrorKind::RangeNotHonored,
                    operation,
                    format!(
                        "a Content-Range that cannot be read: '{}'",
                        crate::error::tidy(text)
                    ),
                ));
            };
            if let (Some(size), Some(total)) = (size, total)
                && size != total
            {
                return Err(failure(
                    ErrorKind::Changed,
                    operation,
                    format!("the object changed: it now holds {total} bytes, not {size}"),
                ));
            }
            if got != *range {
                return Err(failure(
                    ErrorKind::RangeNotHonored,
                    operation,
                    format!(
                        "asked for bytes {}-{}, the store sent bytes {}-{}",
                        range.start,
                        range.end - 1,
                        got.start,
                        got.end - 1
                    ),
                ));
            }
            if let Some(n) = answer.content_length
                && n != wanted
            {
                return Err(failure(
                    ErrorKind::RangeNotHonored,
                    operation,
                    format!("a range of {wanted} bytes came with Content-Length {n}"),
                ));
            }
            Ok(wanted)
        }
    }
}

/// A body that must hold exactly `expected` bytes: more, or an end before them, is an error
/// (a transient one: the connection was cut, or the object changed under the read). Its errors
/// name what was read, where.
pub(crate) struct Counted {
    inner: ByteStream,
    expected: u64,
    seen: u64,
    operation: &'static str,
    done: bool,
    /// The bucket, key and endpoint read.
    named: Option<(String, String, String)>,
}

impl Counted {
    pub(crate) fn new(inner: ByteStream, expected: u64, operation: &'static str) -> Self {
        Self {
            inner,
            expected,
            seen: 0,
            operation,
            done: false,
            named: None,
        }
    }

    /// Errors of the body name `bucket`, `key` and `endpoint`.
    pub(crate) fn named(mut self, bucket: &str, key: &str, endpoint: &str) -> Self {
        self.named = Some((bucket.to_owned(), key.to_owned(), endpoint.to_owned()));
        self
    }

    fn error(&self, error: StorageError) -> StorageError {
        match &self.named {
            Some((bucket, key, endpoint)) if error.bucket().is_none() && error.key().is_none() => {
                let error = error.at(bucket, Some(key));
                if endpoint.is_empty() {
                    error
                } else {
                    error.via(endpoint)
                }
            }
            _ => error,
        }
    }
}

impl Stream for Counted {
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.expected {
                    self.done = true;
                    let message = format!(
                        "the body holds more than the {} bytes announced",
                        self.expected
                    );
                    let error = failure(ErrorKind::Transient, self.operation, message);
                    return Poll::Ready(Some(Err(self.error(error))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                self.done = true;
                if self.seen < self.expected {
                    let message = format!(
                        "the body ended after {} of {} bytes",
                        self.seen, self.expected
                    );
                    let error = failure(ErrorKind::Transient, self.operation, message);
                    return Poll::Ready(Some(Err(self.error(error))));
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(mut e))) => {
                self.done = true;
                e.message = format!(
                    "{} (after {} of {} bytes)",
                    e.message, self.seen, self.expected
                );
                Poll::Ready(Some(Err(self.error(e))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    fn version(size: u64, etag: &str) -> Version {
        Version {
            size,
            etag: Some(etag.into()),
            last_modified_ms: 0,
        }
    }

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(
            parse_content_range("bytes 0-9/100"),
            Some((0..10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5..6, None)));
        assert_eq!(parse_content_range("bytes 9-5/100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn a_range_must_come_back_as_that_range_of_the_pinned_object() {
        let pinned = version(20, "abc");
        let asked = 5..10;
        let good = Answer {
            partial: Some(true),
            content_range: Some("bytes 5-9/20"),
            content_length: Some(5),
            etag: Some("abc"),
        };
        assert_eq!(
            check_answer("GET", Some(&asked), Some(&pinned), &good).unwrap(),
            5
        );
        let other_range = Answer {
            content_range: Some("bytes 0-4/20"),
            ..good.clone()
        };
        assert_eq!(
            check_answer("GET", Some(&asked), Some(&pinned), &other_range)
                .unwrap_err()
                .kind,
            ErrorKind::RangeNotHonored
        );
        let other_total = Answer {
            content_range: Some("bytes 5-9/21"),
            ..good.clone()
        };
        assert_eq!(
            check_answer("GET", Some(&asked), Some(&pinned), &other_total)
                .unwrap_err()
                .kind,
            ErrorKind::Changed
        );
        let other_tag = Answer {
            etag: Some("def"),
            ..good.clone()
        };
        assert_eq!(
            check_answer("GET", Some(&asked), Some(&pinned), &other_tag)
                .unwrap_err()
                .kind,
            ErrorKind::Changed
        );
        let whole = Answer {
            partial: Some(false),
            content_range: None,
            content_length: Some(20),
            etag: Some("abc"),
        };
        assert_eq!(
            check_answer("GET", Some(&asked), Some(&pinned), &whole)
                .unwrap_err()
                .kind,
            ErrorKind::RangeNotHonored
        );
        assert_eq!(
            check_answer("GET", Some(&(0..20)), Some(&pinned), &whole).unwrap(),
            20,
            "a range that is the whole object may come back whole"
        );
    }

    #[test]
    fn a_whole_read_must_have_the_pinned_size() {
        let pinned = version(20, "abc");
        let answer = Answer {
            content_length: Some(21),
            ..Answer::default()
        };
        assert_eq!(
            check_answer("GET", None, Some(&pinned), &answer)
                .unwrap_err()
                .kind,
            ErrorKind::Changed
        );
        let chunked = Answer::default();
        assert_eq!(
            check_answer("GET", None, Some(&pinned), &chunked).unwrap(),
            20,
            "no Content-Length: the pinned size is due"
        );
        assert!(check_answer("GET", None, None, &chunked).is_err());
    }

    #[tokio::test]
    async fn a_body_must_hold_exactly_the_bytes_announced() {
        let body = |chunks: Vec<&'static [u8]>| -> ByteStream {
            Box::pin(futures::stream::iter(
                chunks.into_iter().map(|c| Ok(Bytes::from_static(c))),
            ))
        };
        let exact: Vec<_> = Counted::new(body(vec![b"ab", b"c"]), 3, "GET")
            .collect()
            .await;
        assert!(exact.iter().all(Result::is_ok));
        let short: Vec<_> = Counted::new(body(vec![b"ab"]), 3, "GET").collect().await;
        assert!(short.last().unwrap().is_err());
        let long: Vec<_> = Counted::new(body(vec![b"ab", b"cd"]), 3, "GET")
            .collect()
            .await;
        assert!(long.last().unwrap().is_err());
    }
}
