//! Headers that can be sent: what a source says of an object may hold bytes or characters that
//! HTTP cannot carry (non-ASCII text, control characters, names that are not tokens). Such a
//! header never fails an object: a user metadata value is re-encoded as an RFC 2047 encoded
//! word (`=?UTF-8?B?...?=`, the form AWS itself returns for non-ASCII metadata), anything else
//! that cannot be sent is dropped; each change is reported so that the engine can record it.

use base64::Engine as _;

use crate::ObjectHeaders;

/// Whether HTTP can send `value` as it is: visible ASCII, spaces and tabs.
fn sendable_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Whether `name` is an HTTP token (what may follow `x-amz-meta-`).
fn token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 2047 encoded word of `value`, in UTF-8 and base64.
fn encoded_word(value: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    )
}

/// The headers as they can be sent, and what was changed to make them so (one phrase each).
pub fn sendable(headers: &ObjectHeaders) -> (ObjectHeaders, Vec<String>) {
    let mut notes = Vec::new();
    let mut standard = |name: &str, value: &Option<String>| -> Option<String> {
        let value = value.as_ref()?;
        if sendable_value(value) {
            Some(value.clone())
        } else {
            notes.push(format!(
                "{name} dropped: it holds characters HTTP cannot send"
            ));
            None
        }
    };
    let mut out = ObjectHeaders {
        content_type: standard("Content-Type", &headers.content_type),
        content_encoding: standard("Content-Encoding", &headers.content_encoding),
        content_disposition: standard("Content-Disposition", &headers.content_disposition),
        content_language: standard("Content-Language", &headers.content_language),
        cache_control: standard("Cache-Control", &headers.cache_control),
        expires: standard("Expires", &headers.expires),
        user_metadata: Default::default(),
        tag_count: headers.tag_count,
    };
    for (name, value) in &headers.user_metadata {
        if !token(name) {
            notes.push(format!(
                "metadata '{}' dropped: its name is not an HTTP token",
                name.escape_default()
            ));
            continue;
        }
        let value = if sendable_value(value) {
            value.clone()
        } else {
            notes.push(format!("metadata '{name}' re-encoded as an RFC 2047 word"));
            encoded_word(value)
        };
        out.user_metadata.insert(name.clone(), value);
    }
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_http_cannot_send_is_re_encoded_or_dropped_and_said() {
        let mut headers = ObjectHeaders {
            content_type: Some("text/plain".into()),
            content_disposition: Some("attachment; filename=\"café.txt\"".into()),
            ..ObjectHeaders::default()
        };
        headers.user_metadata.insert("title".into(), "café".into());
        headers.user_metadata.insert("plain".into(), "ok".into());
        headers.user_metadata.insert("bad name".into(), "x".into());
        let (sent, notes) = sendable(&headers);
        assert_eq!(sent.content_type.as_deref(), Some("text/plain"));
        assert_eq!(sent.content_disposition, None);
        assert_eq!(sent.user_metadata["title"], "=?UTF-8?B?Y2Fmw6k=?=");
        assert_eq!(sent.user_metadata["plain"], "ok");
        assert!(!sent.user_metadata.contains_key("bad name"));
        assert_eq!(notes.len(), 3, "{notes:?}");
        let (same, none) = sendable(&sent);
        assert_eq!(same, sent);
        assert!(none.is_empty());
    }
}
