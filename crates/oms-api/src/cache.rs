//! A cache of the project GETs' answers (task and group lists and details).
//!
//! Consoles and scripts poll the same few pages over and over; each answer costs a count, a page
//! of rows and their JSON. An answer is kept, keyed by its path and query (the auth middleware
//! in front of this one has checked that the caller belongs to the path's project, and every
//! caller of a project sees the same data), while both hold:
//! - this process has finished no write to the database's tasks or groups since it was read
//!   ([`Db::writes_seen`](oms_db::Db::writes_seen)): this process's own changes (API calls, the
//!   worker in this process) show at once;
//! - it is younger than the configured age: what other processes write (workers or API nodes of
//!   a fleet on one PostgreSQL) shows within that time.
//!
//! Only 200 answers of at most [`MAX_ENTRY_BYTES`] are kept, at most [`MAX_TOTAL_BYTES`] in all;
//! every entry is dropped as soon as anything is written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest answer kept (100 tasks of a list are about 100 KiB).
pub const MAX_ENTRY_BYTES: usize = 512 * 1024;
/// The most bytes kept in all; past it the cache starts over.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;

/// The cached answers of one generation of writes.
#[derive(Debug)]
pub struct ReadCache {
    max_age: Duration,
    state: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// [`Db::writes_seen`](oms_db::Db::writes_seen) when these entries were read.
    writes: u64,
    bytes: usize,
    answers: HashMap<String, Answer>,
}

#[derive(Debug, Clone)]
struct Answer {
    read_at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.headers_mut() = self.headers.clone();
        response
    }
}

impl ReadCache {
    /// A cache keeping answers at most `max_age` (zero: nothing is kept).
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            state: Mutex::new(Entries::default()),
        }
    }

    fn lookup(&self, key: &str, writes: u64) -> Option<Answer> {
        let mut entries = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.writes != writes {
            // A request that read the count before a concurrent one leaves the newer entries.
            if entries.writes < writes {
                *entries = Entries {
                    writes,
                    ..Entries::default()
                };
            }
            return None;
        }
        entries
            .answers
            .get(key)
            .filter(|a| a.read_at.elapsed() < self.max_age)
            .cloned()
    }

    fn keep(&self, key: String, writes: u64, answer: Answer) {
        let mut entries = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries of a later generation than this answer's are newer: leave them.
        if entries.writes != writes {
            if entries.writes > writes {
                return;
            }
            *entries = Entries {
                writes,
                ..Entries::default()
            };
        }
        if entries.bytes + answer.body.len() > MAX_TOTAL_BYTES {
            entries.answers.clear();
            entries.bytes = 0;
        }
        entries.bytes += answer.body.len();
        if let Some(old) = entries.answers.insert(key, answer) {
            entries.bytes -= old.body.len();
        }
    }
}

/// Middleware of the project routes (behind authentication): answers a GET from the cache when
/// it can, and keeps what it answers otherwise.
pub async fn serve_cached(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cache = match &state.read_cache {
        Some(cache) if request.method() == Method::GET => Arc::clone(cache),
        _ => return next.run(request).await,
    };
    let key = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    // Read before the data: a write finishing after this moves the number and retires the answer.
    let writes = state.db.writes_seen();
    if let Some(answer) = cache.lookup(&key, writes) {
        return answer.response();
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Handlers answer with bodies already in memory: collecting them copies nothing.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return ApiError::Internal(format!("cannot read an answer: {e}")).into_response(),
    };
    if body.len() > MAX_ENTRY_BYTES {
        return Response::from_parts(parts, Body::from(body));
    }
    let answer = Answer {
        read_at: Instant::now(),
        headers: parts.headers,
        body,
    };
    let response = answer.response();
    cache.keep(key, writes, answer);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static str) -> Answer {
        Answer {
            read_at: Instant::now(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn an_answer_is_served_until_a_write_or_its_age_retires_it() {
        let cache = ReadCache::new(Duration::from_secs(60));
        cache.keep("/a".into(), 7, answer("one"));
        assert_eq!(cache.lookup("/a", 7).unwrap().body, "one");
        assert!(cache.lookup("/b", 7).is_none());
        assert!(cache.lookup("/a", 8).is_none(), "a write retires it");
        cache.keep("/a".into(), 8, answer("two"));
        assert!(
            cache.lookup("/a", 7).is_none(),
            "a request that counted earlier misses"
        );
        assert_eq!(
            cache.lookup("/a", 8).unwrap().body,
            "two",
            "and leaves newer entries"
        );
        assert!(cache.lookup("/a", 9).is_none());
        assert!(cache.lookup("/a", 8).is_none(), "and it does not come back");

        let young = ReadCache::new(Duration::from_millis(1));
        young.keep("/a".into(), 1, answer("one"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(young.lookup("/a", 1).is_none(), "too old");
    }

    #[test]
    fn an_answer_read_before_a_newer_generation_is_not_kept() {
        let cache = ReadCache::new(Duration::from_secs(60));
        assert!(cache.lookup("/a", 5).is_none());
        cache.keep("/a".into(), 4, answer("stale"));
        assert!(cache.lookup("/a", 5).is_none());
        assert!(cache.lookup("/a", 4).is_none());
    }

    #[test]
    fn the_cache_starts_over_past_its_size() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let big = Bytes::from(vec![b'x'; MAX_ENTRY_BYTES]);
        for i in 0..(MAX_TOTAL_BYTES / MAX_ENTRY_BYTES + 1) {
            let a = Answer {
                body: big.clone(),
                ..answer("")
            };
            cache.keep(format!("/{i}"), 1, a);
        }
        let entries = cache.state.lock().unwrap();
        assert!(entries.bytes <= MAX_TOTAL_BYTES);
        assert_eq!(entries.answers.len(), 1);
    }
}
