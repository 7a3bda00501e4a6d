//! The rules of list files (OMS's TRF.0013 to TRF.0019), shared by the engine, which reads
//! them, and the API, which checks one before a task is created (`CheckUrlSourceListFileFormat`):
//! what a list file may be, and what one of its lines is.

use percent_encoding::percent_decode_str;

use crate::error::FailureCode;

/// The largest list file (TRF.0014).
pub const MAX_LIST_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// The longest line (TRF.0018).
pub const MAX_LINE_CHARS: usize = 65_535;

/// Why a list file or one of its lines is refused: the failure code and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ListFileError {
    /// The code.
    pub code: FailureCode,
    /// Why.
    pub message: String,
}

impl ListFileError {
    fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Checks the name of a list file: a `.txt` file.
pub fn check_name(key: &str) -> Result<(), ListFileError> {
    if key.to_ascii_lowercase().ends_with(".txt") {
        Ok(())
    } else {
        Err(ListFileError::new(
            FailureCode::ListFileRefused,
            format!("the list file {key} is not a .txt file"),
        ))
    }
}

/// Checks what a store tells about a list file before it is read: a `.txt` name, a size of
/// 1..=`max_bytes`, `text/plain` and no Content-Encoding.
pub fn check_file(
    key: &str,
    size: u64,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    max_bytes: u64,
) -> Result<(), ListFileError> {
    check_name(key)?;
    if size > max_bytes {
        return Err(ListFileError::new(
            FailureCode::ListFileRefused,
            format!("the list file is {size} bytes; at most {max_bytes} are allowed"),
        ));
    }
    if size == 0 {
        return Err(ListFileError::new(
            FailureCode::ListFileEmpty,
            format!("the list file {key} is empty"),
        ));
    }
    let content_type = content_type.unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("text/plain") {
        return Err(ListFileError::new(
            FailureCode::ListFileContentType,
            format!("the list file must have Content-Type text/plain (has '{content_type}')"),
        ));
    }
    if let Some(encoding) = content_encoding.filter(|e| !e.trim().is_empty()) {
        return Err(ListFileError::new(
            FailureCode::ListFileContentType,
            format!(
                "the list file must be stored plain, without Content-Encoding (has '{encoding}'): upload it uncompressed"
            ),
        ));
    }
    Ok(())
}

/// The text of line `line_no` (its bytes without the `\n`), or `None` for a blank line (which
/// is not counted): UTF-8, a byte-order mark dropped from the first line, at most
/// [`MAX_LINE_CHARS`] characters.
pub fn line_text(mut raw: Vec<u8>, line_no: u64) -> Result<Option<String>, ListFileError> {
    // The mark goes first: a file that begins with it and then a blank line (as Notepad
    // writes one) has a blank first line.
    const BOM: &[u8] = "\u{feff}".as_bytes();
    if line_no == 1 && raw.starts_with(BOM) {
        raw.drain(..BOM.len());
    }
    if raw.last() == Some(&b'\r') {
        raw.pop();
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = String::from_utf8(raw).map_err(|_| {
        ListFileError::new(
            FailureCode::ListLineMalformed,
            format!("line {line_no} is not UTF-8"),
        )
    })?;
    if text.chars().count() > MAX_LINE_CHARS {
        return Err(line_too_long(line_no));
    }
    Ok(Some(text))
}

/// Line `line_no` is longer than [`MAX_LINE_CHARS`].
pub fn line_too_long(line_no: u64) -> ListFileError {
    ListFileError::new(
        FailureCode::ListLineTooLong,
        format!("line {line_no} is longer than {MAX_LINE_CHARS} characters"),
    )
}

/// A URL-list line: the URL (kept as written: it is already encoded) and the destination name
/// (decoded). Exactly one TAB separates them.
pub fn url_line(text: &str) -> Result<(String, String), String> {
    let text = text.trim_matches(|c| c == ' ' || c == '\r');
    let (url, name) = text
        .split_once('\t')
        .ok_or("it is not '<URL><TAB><destination name>'")?;
    if name.contains('\t') {
        return Err("it holds more than one TAB".into());
    }
    let (url, name) = (url.trim(), name.trim());
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("'{url}' is not an http(s) URL"));
    }
    let name = percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| "the destination name is not URL-encoded UTF-8".to_owned())?
        .into_owned();
    if name.is_empty() {
        return Err("the destination name is empty".into());
    }
    Ok((url.to_owned(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_lines_split_at_one_tab_and_decode_the_name() {
        assert_eq!(
            url_line("https://cdn.example.com/a%20b.jpg\tphotos/%E4%B8%AD%20x.jpg\r").unwrap(),
            (
                "https://cdn.example.com/a%20b.jpg".to_owned(),
                "photos/中 x.jpg".to_owned()
            )
        );
        assert!(url_line("https://cdn.example.com/a.jpg").is_err());
        assert!(url_line("https://a/b\tc\td").is_err());
        assert!(url_line("ftp://a/b\tc").is_err());
        assert!(url_line("https://a/b\t").is_err());
        assert!(url_line("https://a/b\t%FF").is_err());
    }

    #[test]
    fn lines_are_utf8_without_a_bom_and_blank_lines_are_skipped() {
        assert_eq!(line_text(b"  \r".to_vec(), 1).unwrap(), None);
        assert_eq!(
            line_text("\u{feff}\r".as_bytes().to_vec(), 1).unwrap(),
            None
        );
        assert_eq!(line_text("\u{feff}".as_bytes().to_vec(), 1).unwrap(), None);
        assert_eq!(
            line_text("\u{feff}a\r".as_bytes().to_vec(), 1).unwrap(),
            Some("a".into())
        );
        assert_eq!(
            line_text(vec![0xff], 3).unwrap_err().code,
            FailureCode::ListLineMalformed
        );
        assert_eq!(
            line_text(vec![b'a'; MAX_LINE_CHARS + 1], 2)
                .unwrap_err()
                .code,
            FailureCode::ListLineTooLong
        );
    }
}
