//! `CheckUrlSourceListFileFormat`: a URL-list file (or a folder of them) read from the
//! destination bucket and checked line by line with the engine's own rules
//! ([`oms_core::listfile`]), so that a list the check accepts is one the engine reads.

use futures::StreamExt as _;
use oms_core::listfile::{self, ListFileError};
use oms_core::parse::ListFileCheck;
use oms_storage::ReadStore;

use super::{Side, bounded};
use crate::error::ApiError;
use crate::state::StoreCheck;

/// The most list files of one folder that are checked (a group's folder of lists).
pub(crate) const MAX_FOLDER_FILES: i32 = 1000;

/// What the check found wrong, naming the file.
fn refused(bucket: &str, key: &str, why: &str) -> ApiError {
    ApiError::invalid(
        "list_file_key",
        format!("the list file {bucket}/{key}: {why}"),
    )
}

/// The list files named by the request: the file, or every object of the folder.
pub(crate) async fn files(
    check: &StoreCheck,
    store: &dyn ReadStore,
    req: &ListFileCheck,
) -> Result<Vec<String>, ApiError> {
    if !req.key.ends_with('/') {
        return Ok(vec![req.key.clone()]);
    }
    let page = bounded(
        check,
        Side::Destination,
        "list the folder of list files",
        store.list(&req.bucket, &req.key, None, MAX_FOLDER_FILES),
    )
    .await?;
    let keys: Vec<String> = page
        .objects
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.starts_with(&req.key) && !k.ends_with('/'))
        .collect();
    if keys.is_empty() {
        return Err(ApiError::invalid(
            "list_file_key",
            format!("the folder {}/{} holds no list files", req.bucket, req.key),
        ));
    }
    Ok(keys)
}

/// Reads `key` from the destination and checks every line; the first bad line names the file,
/// the line number and what is wrong.
pub(crate) async fn check_file(
    check: &StoreCheck,
    store: &dyn ReadStore,
    bucket: &str,
    key: &str,
) -> Result<(), ApiError> {
    let side = Side::Destination;
    listfile::check_name(key).map_err(|e| refused(bucket, key, &e.message))?;
    let meta = bounded(check, side, "read the list file", store.head(bucket, key))
        .await?
        .ok_or_else(|| refused(bucket, key, "it does not exist"))?;
    let max_bytes = check.max_list_file_bytes.min(listfile::MAX_LIST_FILE_BYTES);
    listfile::check_file(
        key,
        meta.info.size,
        meta.headers.content_type.as_deref(),
        meta.headers.content_encoding.as_deref(),
        max_bytes,
    )
    .map_err(|e| refused(bucket, key, &e.message))?;
    let lines = bounded(check, side, "read the list file", async {
        let download = store.get(bucket, key, None, None).await?;
        let mut body = download.body;
        let mut lines = Lines::default();
        while let Some(chunk) = body.next().await {
            if let Err(e) = lines.push(&chunk?) {
                return Ok(Err(e));
            }
        }
        Ok::<_, oms_storage::StorageError>(lines.finish())
    })
    .await?;
    lines.map_err(|e| refused(bucket, key, &e.message))
}

/// Lines cut from a file as its bytes arrive (only the current line is held).
#[derive(Debug, Default)]
struct Lines {
    partial: Vec<u8>,
    line_no: u64,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) -> Result<(), ListFileError> {
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            let raw = std::mem::take(&mut self.partial);
            self.line(raw)?;
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > listfile::MAX_LINE_CHARS * 4 {
            return Err(listfile::line_too_long(self.line_no + 1));
        }
        Ok(())
    }

    fn line(&mut self, raw: Vec<u8>) -> Result<(), ListFileError> {
        let Some(text) = listfile::line_text(raw, self.line_no + 1)? else {
            return Ok(());
        };
        self.line_no += 1;
        listfile::url_line(&text).map_err(|reason| ListFileError {
            code: oms_core::error::FailureCode::ListLineMalformed,
            message: format!("line {}: {reason}", self.line_no),
        })?;
        Ok(())
    }

    fn finish(mut self) -> Result<(), ListFileError> {
        let raw = std::mem::take(&mut self.partial);
        self.line(raw)?;
        if self.line_no == 0 {
            return Err(ListFileError {
                code: oms_core::error::FailureCode::ListFileEmpty,
                message: "it holds no lines".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(chunks: &[&[u8]]) -> Result<(), String> {
        let mut lines = Lines::default();
        for chunk in chunks {
            lines.push(chunk).map_err(|e| e.message)?;
        }
        lines.finish().map_err(|e| e.message)
    }

    #[test]
    fn lines_split_across_chunks_are_checked_whole() {
        assert_eq!(check(&[b"http://a/b\tb\nhttp://a/", b"c\tc\n\n"]), Ok(()));
        assert_eq!(
            check(&[b"http://a/b\tb\n\nftp://a/", b"c\tc"]),
            Err("line 2: 'ftp://a/c' is not an http(s) URL".into())
        );
        assert_eq!(check(&[b"\n \n"]), Err("it holds no lines".into()));
    }
}
