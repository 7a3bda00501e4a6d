//! List tasks: one URL-encoded source key per line of a list file kept at the destination
//! (`list_file.obs_bucket`), with OMS's rules on list files (TRF.0013 to TRF.0019). The file is
//! read in ranges, so memory stays bounded whatever its length; the checkpoint is a line number.

use oms_storage::{ErrorKind, StorageError};
use percent_encoding::percent_decode_str;

use crate::control::{Side, TaskFailure, task_failure_of};
use crate::lister::{Emitter, Halt, head_item};
use crate::pipeline::RunCtx;
use crate::retry::{GaveUp, retry};

/// The largest list file (TRF.0014).
pub(crate) const MAX_LIST_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// The longest line (TRF.0018).
pub(crate) const MAX_LINE_CHARS: usize = 65_535;
/// How much of the file is read at once.
const RANGE_BYTES: u64 = 4 * 1024 * 1024;

fn fail(code: &'static str, message: impl Into<String>) -> Halt {
    Halt::Failed(TaskFailure::new(code, message))
}

fn read_failure(error: &StorageError) -> Halt {
    Halt::Failed(
        task_failure_of(Side::Destination, error).unwrap_or_else(|| {
            TaskFailure::new("TRF.0013", format!("cannot read the list file: {error}"))
        }),
    )
}

/// Walks the list file from the line after the checkpoint.
pub(crate) async fn walk(ctx: &RunCtx, emitter: &mut Emitter) -> Result<(), Halt> {
    let Some(list_file) = ctx.spec().source.list_file.clone() else {
        return Err(fail("TRF.0013", "the task has no list file"));
    };
    let (bucket, key) = (
        list_file.obs_bucket.as_str(),
        list_file.list_file_key.as_str(),
    );
    if !key.to_ascii_lowercase().ends_with(".txt") {
        return Err(fail(
            "TRF.0014",
            format!("the list file {key} is not a .txt file"),
        ));
    }
    let meta = match retry(&ctx.config.retry, &ctx.stop.intake, || {
        ctx.destination.head(bucket, key)
    })
    .await
    {
        Ok(Some(meta)) => meta,
        Ok(None) => {
            return Err(fail(
                "TRF.0013",
                format!("the list file {bucket}/{key} does not exist"),
            ));
        }
        Err(GaveUp::Cancelled) => return Err(Halt::Stopped),
        Err(GaveUp::Failed(e)) => return Err(read_failure(&e)),
    };
    let size = meta.info.size;
    if size > MAX_LIST_FILE_BYTES {
        return Err(fail(
            "TRF.0014",
            format!("the list file is {size} bytes; at most {MAX_LIST_FILE_BYTES} are allowed"),
        ));
    }
    if size == 0 {
        return Err(fail("TRF.0017", "the list file is empty"));
    }
    let content_type = meta.headers.content_type.unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("text/plain")
        || meta.headers.content_encoding.is_some()
    {
        return Err(fail(
            "TRF.0019",
            format!(
                "the list file must have Content-Type text/plain and no Content-Encoding (has '{content_type}')"
            ),
        ));
    }
    let done_lines: u64 = ctx
        .checkpoint
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut line_no: u64 = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut offset = 0;
    while offset < size {
        let end = (offset + RANGE_BYTES).min(size);
        let chunk = read_range(ctx, bucket, key, offset..end).await?;
        offset = end;
        carry.extend_from_slice(&chunk);
        let last_newline = carry.iter().rposition(|b| *b == b'\n');
        let complete: Vec<u8> = match last_newline {
            Some(i) if offset < size => carry.drain(..=i).collect(),
            _ if offset >= size => std::mem::take(&mut carry),
            _ => {
                if carry.len() > MAX_LINE_CHARS * 4 {
                    return Err(fail(
                        "TRF.0018",
                        format!(
                            "line {} is longer than {MAX_LINE_CHARS} characters",
                            line_no + 1
                        ),
                    ));
                }
                continue;
            }
        };
        for raw in complete.split(|b| *b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let first = line_no == 0;
            if raw.is_empty() {
                continue;
            }
            line_no += 1;
            let text = std::str::from_utf8(raw)
                .map_err(|_| fail("TRF.0016", format!("line {line_no} is not UTF-8")))?;
            let text = if first {
                text.trim_start_matches('\u{feff}')
            } else {
                text
            };
            if text.chars().count() > MAX_LINE_CHARS {
                return Err(fail(
                    "TRF.0018",
                    format!("line {line_no} is longer than {MAX_LINE_CHARS} characters"),
                ));
            }
            if line_no <= done_lines {
                continue;
            }
            let key = percent_decode_str(text.trim())
                .decode_utf8()
                .map_err(|_| {
                    fail(
                        "TRF.0016",
                        format!("line {line_no} is not a URL-encoded UTF-8 key"),
                    )
                })?
                .into_owned();
            let item = head_item(ctx, &key).await?;
            if line_no == 1 && item.unreadable.is_some() {
                return Err(fail(
                    "TRF.0024",
                    format!("the first listed object {key} cannot be read at the source"),
                ));
            }
            emitter.emit(item, line_no.to_string()).await?;
        }
    }
    Ok(())
}

async fn read_range(
    ctx: &RunCtx,
    bucket: &str,
    key: &str,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, Halt> {
    let read = retry(&ctx.config.retry, &ctx.stop.intake, || async {
        let download = ctx
            .destination
            .get(bucket, key, Some(range.clone()))
            .await?;
        let mut body = download.body;
        let mut bytes = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok::<_, StorageError>(bytes)
    })
    .await;
    match read {
        Ok(bytes) => Ok(bytes),
        Err(GaveUp::Cancelled) => Err(Halt::Stopped),
        Err(GaveUp::Failed(e)) if e.kind == ErrorKind::NotFound => {
            Err(fail("TRF.0013", "the list file disappeared"))
        }
        Err(GaveUp::Failed(e)) => Err(read_failure(&e)),
    }
}
