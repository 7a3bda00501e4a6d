//! List and URL-list tasks: one URL-encoded source key per line (`list`), or one
//! `URL<TAB>destination-name` per line (`url_list`), of a list file kept at the destination
//! (`list_file.obs_bucket`), with OMS's rules on list files (TRF.0013 to TRF.0019). Files are
//! read in ranges, so memory stays bounded whatever their length. Lines are numbered from 1,
//! blank lines not counted; the checkpoint and a group task's range are line numbers.

use futures::StreamExt as _;
use oms_core::error::FailureCode;
use oms_core::spec::TaskKind;
use oms_storage::{ErrorKind, ReadStore, StorageError, Version};
use percent_encoding::percent_decode_str;
use tokio_util::sync::CancellationToken;

use crate::control::{Activity, TaskFailure, activity_failure};
use crate::lister::{Emitter, Halt, head_item};
use crate::pipeline::{Item, RunCtx};
use crate::retry::{GaveUp, RetryPolicy, retry};

pub(crate) use oms_core::listfile::url_line;
use oms_core::listfile::{self as rules, ListFileError, MAX_LINE_CHARS, MAX_LIST_FILE_BYTES};
/// How much of a file is read at once.
const RANGE_BYTES: u64 = 1024 * 1024;

pub(crate) fn fail(code: FailureCode, message: impl Into<String>) -> Halt {
    Halt::Failed(TaskFailure::new(code, message))
}

fn refused(error: ListFileError) -> Halt {
    fail(error.code, error.message)
}

fn read_failure(error: &StorageError) -> Halt {
    Halt::Failed(activity_failure(Activity::ReadingListFile, error))
}

/// Checks a list file against OMS's rules; returns its version (which its reads are pinned to).
pub(crate) async fn check_list_file(
    destination: &dyn ReadStore,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    bucket: &str,
    key: &str,
) -> Result<Version, Halt> {
    rules::check_name(key).map_err(refused)?;
    let meta = match retry(policy, cancel, || destination.head(bucket, key)).await {
        Ok(Some(meta)) => meta,
        Ok(None) => {
            return Err(fail(
                FailureCode::ListFileUnreadable,
                format!("the list file {bucket}/{key} does not exist"),
            ));
        }
        Err(GaveUp::Cancelled) => return Err(Halt::Stopped),
        Err(GaveUp::Failed(e)) => return Err(read_failure(&e)),
    };
    let size = meta.info.size;
    rules::check_file(
        key,
        size,
        meta.headers.content_type.as_deref(),
        meta.headers.content_encoding.as_deref(),
        MAX_LIST_FILE_BYTES,
    )
    .map_err(refused)?;
    Ok(Version {
        size,
        etag: meta.info.etag,
        last_modified_ms: meta.info.last_modified_ms,
    })
}

/// Reads the non-blank lines of a file, range by range. One range is held at a time, and lines
/// are cut from it in place (a list of a million lines is read in `RANGE_BYTES` steps, not
/// held, and not copied once per line).
pub(crate) struct LineReader<'a> {
    connector: &'a dyn ReadStore,
    policy: &'a RetryPolicy,
    cancel: &'a CancellationToken,
    bucket: &'a str,
    key: &'a str,
    /// The version of the file every range is read from.
    pinned: Version,
    size: u64,
    /// Where the next range starts.
    offset: u64,
    /// Bytes read and not yet returned start at `buf[pos]`.
    buf: Vec<u8>,
    pos: usize,
    /// Number of the last line returned.
    pub line_no: u64,
}

impl<'a> LineReader<'a> {
    pub(crate) fn new(
        connector: &'a dyn ReadStore,
        policy: &'a RetryPolicy,
        cancel: &'a CancellationToken,
        bucket: &'a str,
        key: &'a str,
        pinned: Version,
    ) -> Self {
        Self {
            connector,
            policy,
            cancel,
            bucket,
            key,
            size: pinned.size,
            pinned,
            offset: 0,
            buf: Vec::new(),
            pos: 0,
            line_no: 0,
        }
    }

    /// The next non-blank line (without its end of line), checked for length and UTF-8.
    pub(crate) async fn next_line(&mut self) -> Result<Option<String>, Halt> {
        loop {
            let rest = &self.buf[self.pos..];
            let raw = if let Some(i) = rest.iter().position(|b| *b == b'\n') {
                let raw = rest[..i].to_vec();
                self.pos += i + 1;
                raw
            } else if self.offset >= self.size {
                if rest.is_empty() {
                    return Ok(None);
                }
                let raw = rest.to_vec();
                self.pos = self.buf.len();
                raw
            } else {
                if rest.len() > MAX_LINE_CHARS * 4 {
                    return Err(refused(rules::line_too_long(self.line_no + 1)));
                }
                let end = (self.offset + RANGE_BYTES).min(self.size);
                let chunk = self.read(self.offset..end).await?;
                self.offset = end;
                self.buf.drain(..self.pos);
                self.pos = 0;
                self.buf.extend_from_slice(&chunk);
                continue;
            };
            if let Some(text) = self.accept(raw)? {
                return Ok(Some(text));
            }
        }
    }

    /// A line's text, or `None` for a blank line (not counted).
    fn accept(&mut self, raw: Vec<u8>) -> Result<Option<String>, Halt> {
        let text = rules::line_text(raw, self.line_no + 1).map_err(refused)?;
        if text.is_some() {
            self.line_no += 1;
        }
        Ok(text)
    }

    async fn read(&self, range: std::ops::Range<u64>) -> Result<Vec<u8>, Halt> {
        let read = retry(self.policy, self.cancel, || async {
            let download = self
                .connector
                .get(
                    self.bucket,
                    self.key,
                    Some(range.clone()),
                    Some(&self.pinned),
                )
                .await?;
            let mut body = download.body;
            let mut bytes =
                Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
            while let Some(chunk) = futures::StreamExt::next(&mut body).await {
                bytes.extend_from_slice(&chunk?);
            }
            Ok::<_, StorageError>(bytes)
        })
        .await;
        match read {
            Ok(bytes) => Ok(bytes),
            Err(GaveUp::Cancelled) => Err(Halt::Stopped),
            Err(GaveUp::Failed(e)) if e.kind == ErrorKind::NotFound => Err(fail(
                FailureCode::ListFileUnreadable,
                "the list file disappeared",
            )),
            Err(GaveUp::Failed(e)) if e.kind == ErrorKind::Changed => Err(fail(
                FailureCode::ListFileUnreadable,
                format!(
                    "the list file {}/{} changed while it was read ({}); its line numbers no longer say where the task is: give it a new file",
                    self.bucket, self.key, e.message
                ),
            )),
            Err(GaveUp::Failed(e)) => Err(read_failure(&e)),
        }
    }
}

fn line_number(raw: Option<&str>) -> u64 {
    raw.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Walks the task's list file from the line after the checkpoint (and within the task's line
/// range, for a task of a group).
pub(crate) async fn walk(ctx: &RunCtx, emitter: &mut Emitter) -> Result<(), Halt> {
    let Some(list_file) = ctx.spec().source.list_file.clone() else {
        return Err(fail(
            FailureCode::ListFileUnreadable,
            "the task has no list file",
        ));
    };
    let (bucket, key) = (
        list_file.obs_bucket.as_str(),
        list_file.list_file_key.as_str(),
    );
    let policy = &ctx.config.retry;
    let version = check_list_file(
        ctx.destination.as_ref(),
        policy,
        &ctx.stop.intake,
        bucket,
        key,
    )
    .await?;
    let skip = line_number(ctx.checkpoint.as_deref()).max(line_number(ctx.range.0.as_deref()));
    let until = ctx.range.1.as_deref().map(|v| line_number(Some(v)));
    let mut lines = LineReader::new(
        ctx.destination.as_ref(),
        policy,
        &ctx.stop.intake,
        bucket,
        key,
        version,
    );
    // Lines are read in order; their HEADs run concurrently (a HEAD is a round trip, and a
    // list of a million lines must not wait for them one by one); items leave in line order.
    let mut pending = futures::stream::FuturesOrdered::new();
    let mut read_all = false;
    loop {
        while !read_all && pending.len() < ctx.config.object_concurrency.max(1) {
            let Some(text) = lines.next_line().await? else {
                read_all = true;
                break;
            };
            let line_no = lines.line_no;
            if until.is_some_and(|u| line_no > u) {
                read_all = true;
                break;
            }
            if line_no > skip {
                pending.push_back(async move { (line_no, line_item(ctx, line_no, text).await) });
            }
        }
        let Some((line_no, item)) = pending.next().await else {
            return Ok(());
        };
        emitter.emit(item?, line_no.to_string()).await?;
    }
}

/// The item of one line: its key (or URL and name) and the source's facts from a HEAD.
async fn line_item(ctx: &RunCtx, line_no: u64, text: String) -> Result<Item, Halt> {
    if ctx.spec().kind == TaskKind::UrlList {
        let (url, name) = url_line(&text).map_err(|reason| {
            fail(
                FailureCode::ListLineMalformed,
                format!("line {line_no}: {reason}"),
            )
        })?;
        let mut item = head_item(ctx, &url).await?;
        item.dst_name = Some(name);
        return Ok(item);
    }
    let key = percent_decode_str(text.trim())
        .decode_utf8()
        .map_err(|_| {
            fail(
                FailureCode::ListLineMalformed,
                format!("line {line_no} is not a URL-encoded UTF-8 key"),
            )
        })?
        .into_owned();
    let item = head_item(ctx, &key).await?;
    if line_no == 1 && item.unreadable.is_some() {
        return Err(fail(
            FailureCode::SourceObjectUnreadable,
            format!("the first listed object {key} cannot be read at the source"),
        ));
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_lines_read_back_to_the_same_name() {
        for name in [" x", "%20x", "a b/c\td", "中文/名.txt", "x%"] {
            let item = Item {
                seq: 0,
                key: "https://cdn.example.com/a".into(),
                size: 0,
                last_modified_ms: 0,
                storage_class: None,
                etag: None,
                lookup: crate::pipeline::Lookup::Head,
                unreadable: None,
                dst_name: Some(name.into()),
                headers: None,
            };
            let (url, back) = url_line(&item.record_key()).unwrap();
            assert_eq!((url.as_str(), back.as_str()), (item.key.as_str(), name));
        }
    }
}
