//! The XML answers of S3's ListObjectsV2 (and of Google Cloud Storage's XML API, which writes
//! the same `ListBucketResult`), and S3's error documents, read in one pass over the bytes.
//!
//! A re-check of a flat prefix is mostly listing: a thousand keys a page, each with its size,
//! time and ETag. Read through a document model (the AWS SDK's, or serde's), every element
//! becomes a tree node or a builder call before it becomes an [`ObjectInfo`]; this reader goes
//! from the XML events to the [`ObjectInfo`]s, allocating only the strings that are kept.
//!
//! Keys are taken exactly as written: text is not trimmed, line ends are not normalised,
//! character and entity references are resolved, and a key the store URL-encoded
//! (`<EncodingType>url</EncodingType>`, wherever it stands in the document) is decoded.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use percent_encoding::percent_decode_str;
use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

use crate::{ErrorKind, ListPage, ObjectInfo};

/// The element whose text is being gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Key,
    Size,
    LastModified,
    ETag,
    StorageClass,
    IsTruncated,
    EncodingType,
}

/// One `<Contents>` entry as written.
#[derive(Debug, Default)]
struct Entry {
    key: Option<String>,
    size: Option<String>,
    last_modified: Option<String>,
    etag: Option<String>,
    storage_class: Option<String>,
}

/// What is wrong with a listing answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadListing {
    /// The document is not a whole `ListBucketResult` (asking again may give one).
    Document(String),
    /// An entry cannot be an object: its key cannot be decoded, or its size is not a number
    /// (the same page comes back the same way).
    Entry(String),
}

impl BadListing {
    /// How the engine should take it.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Self::Document(_) => ErrorKind::Transient,
            Self::Entry(_) => ErrorKind::Permanent,
        }
    }
}

impl std::fmt::Display for BadListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Document(why) | Self::Entry(why) => f.write_str(why),
        }
    }
}

/// A `ListBucketResult` as a [`ListPage`], in the document's order.
pub(crate) fn parse_list_bucket_result(xml: &[u8]) -> Result<ListPage, BadListing> {
    let mut reader = Reader::from_reader(xml);
    // Depth 1 is the root, 2 its children, 3 the fields of a `<Contents>`.
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut in_contents = false;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    let mut entry = Entry::default();
    let mut entries = Vec::new();
    let mut is_truncated = false;
    let mut url_encoded = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            BadListing::Document(format!("the listing is not well-formed XML: {e}"))
        })?;
        match event {
            Event::Start(start) => {
                depth += 1;
                let name = start.local_name();
                match (depth, name.as_ref()) {
                    (1, b"ListBucketResult") => root_seen = true,
                    (1, other) => {
                        return Err(BadListing::Document(format!(
                            "the listing is a <{}>, not a <ListBucketResult>",
                            String::from_utf8_lossy(other)
                        )));
                    }
                    (2, b"Contents") => {
                        in_contents = true;
                        entry = Entry::default();
                    }
                    (2, b"IsTruncated") => field = Some(Field::IsTruncated),
                    (2, b"EncodingType") => field = Some(Field::EncodingType),
                    (3, name) if in_contents => field = contents_field(name),
                    _ => field = None,
                }
                text.clear();
            }
            Event::Empty(empty) => {
                // `<Key/>`: an element without text; `<ListBucketResult/>`: no keys at all.
                if depth == 0 && empty.local_name().as_ref() == b"ListBucketResult" {
                    root_seen = true;
                } else if depth == 2 && in_contents {
                    if let Some(f) = contents_field(empty.local_name().as_ref()) {
                        entry.set(f, String::new());
                    }
                } else if depth == 1 && empty.local_name().as_ref() == b"Contents" {
                    entries.push(Entry::default());
                }
            }
            Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                if field.is_some() {
                    push_text(&mut text, &event).map_err(BadListing::Document)?;
                }
            }
            Event::End(_) => {
                match (depth, field.take()) {
                    (3, Some(f)) if in_contents => entry.set(f, std::mem::take(&mut text)),
                    (2, Some(Field::IsTruncated)) => is_truncated = text.trim() == "true",
                    (2, Some(Field::EncodingType)) => url_encoded = text.trim() == "url",
                    (2, None) if in_contents => {
                        in_contents = false;
                        entries.push(std::mem::take(&mut entry));
                    }
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof if depth == 0 => break,
            Event::Eof => {
                return Err(BadListing::Document(
                    "the listing ends before its elements close".to_owned(),
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::DocType(_) | Event::Comment(_) => {}
        }
    }
    if !root_seen {
        return Err(BadListing::Document(
            "the answer holds no <ListBucketResult>".to_owned(),
        ));
    }
    let objects = entries
        .into_iter()
        .map(|e| e.into_info(url_encoded))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListPage {
        objects,
        is_truncated,
    })
}

fn contents_field(name: &[u8]) -> Option<Field> {
    match name {
        b"Key" => Some(Field::Key),
        b"Size" => Some(Field::Size),
        b"LastModified" => Some(Field::LastModified),
        b"ETag" => Some(Field::ETag),
        b"StorageClass" => Some(Field::StorageClass),
        _ => None,
    }
}

/// Appends what a text event says (its text, its CDATA, or the character a reference stands
/// for) to `text`; other events add nothing.
fn push_text(text: &mut String, event: &Event<'_>) -> Result<(), String> {
    match event {
        Event::Text(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
        Event::CData(c) => text.push_str(&c.decode().map_err(|e| e.to_string())?),
        Event::GeneralRef(r) => push_reference(text, r)?,
        _ => {}
    }
    Ok(())
}

/// `&amp;`, `&#233;`: the character a reference stands for, appended to `text`.
fn push_reference(text: &mut String, reference: &BytesRef<'_>) -> Result<(), String> {
    let bad = || "the listing holds an unknown character reference".to_owned();
    if let Some(c) = reference.resolve_char_ref().map_err(|_| bad())? {
        text.push(c);
        return Ok(());
    }
    let name = reference.decode().map_err(|_| bad())?;
    let resolved = quick_xml::escape::resolve_predefined_entity(&name).ok_or_else(bad)?;
    text.push_str(resolved);
    Ok(())
}

impl Entry {
    fn set(&mut self, field: Field, value: String) {
        let slot = match field {
            Field::Key => &mut self.key,
            Field::Size => &mut self.size,
            Field::LastModified => &mut self.last_modified,
            Field::ETag => &mut self.etag,
            Field::StorageClass => &mut self.storage_class,
            Field::IsTruncated | Field::EncodingType => return,
        };
        *slot = Some(value);
    }

    fn into_info(self, url_encoded: bool) -> Result<ObjectInfo, BadListing> {
        let key = self
            .key
            .and_then(|k| listed_key(k, url_encoded))
            .ok_or_else(|| {
                BadListing::Entry("the listing holds an entry without a readable key".to_owned())
            })?;
        // Every listing names each object's size; one without it cannot be copied right.
        let size = self
            .size
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                BadListing::Entry(format!(
                    "the listing gives {key:?} no size, or one that is not a number"
                ))
            })?;
        Ok(ObjectInfo {
            size,
            last_modified_ms: self
                .last_modified
                .and_then(|t| DateTime::from_str(t.trim(), Format::DateTime).ok())
                .and_then(|d| d.to_millis().ok())
                .unwrap_or(0),
            etag: self.etag.as_deref().map(crate::client::unquote),
            storage_class: self.storage_class.filter(|s| !s.trim().is_empty()),
            key,
        })
    }
}

/// A listed key, decoded when the store encoded it (`EncodingType=url`: form encoding, where
/// `+` is a space and a plus sign is `%2B`).
fn listed_key(key: String, url_encoded: bool) -> Option<String> {
    if !url_encoded {
        return Some(key);
    }
    percent_decode_str(&key.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The `<Code>` and `<Message>` of an S3 error document (`<Error>...</Error>`), where the answer
/// is one.
pub(crate) fn parse_error(xml: &[u8]) -> (Option<String>, Option<String>) {
    let mut reader = Reader::from_reader(xml);
    let mut depth = 0usize;
    let mut field: Option<bool> = None; // Some(true): Code, Some(false): Message
    let mut text = String::new();
    let (mut code, mut message) = (None, None);
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                depth += 1;
                let name = start.local_name();
                if depth == 1 && name.as_ref() != b"Error" {
                    break;
                }
                field = match (depth, name.as_ref()) {
                    (2, b"Code") => Some(true),
                    (2, b"Message") => Some(false),
                    _ => None,
                };
                text.clear();
            }
            Ok(event @ (Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)))
                if field.is_some() =>
            {
                // What cannot be read (an unknown reference) is left out of the text.
                let _ = push_text(&mut text, &event);
            }
            Ok(Event::End(_)) => {
                let value = std::mem::take(&mut text).trim().to_owned();
                match field.take() {
                    Some(true) if !value.is_empty() => code = Some(value),
                    Some(false) if !value.is_empty() => message = Some(value),
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>src</Name><Prefix>d%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>d%2F+lead%2Bplus</Key><LastModified>2026-12-01T10:20:30.456Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><Size>1</Size><Owner><ID>x</ID><DisplayName>Size</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>d%2F%C3%A9%0D</Key><Size>42</Size><StorageClass>GLACIER</StorageClass></Contents><Contents><Key>d%2F%26%3C</Key><LastModified>2026-12-01T10:20:30Z</LastModified><ETag>"abc-2"</ETag><Size>7</Size></Contents><EncodingType>url</EncodingType><StartAfter>d%2F</StartAfter></ListBucketResult>"#;

    #[test]
    fn a_url_encoded_page_gives_every_key_exactly() {
        let page = parse_list_bucket_result(PAGE.as_bytes()).unwrap();
        assert!(page.is_truncated);
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["d/ lead+plus", "d/é\r", "d/&<"]);
        let first = &page.objects[0];
        assert_eq!(first.size, 1);
        assert_eq!(first.last_modified_ms, 1_796_120_430_456);
        assert_eq!(
            first.etag.as_deref(),
            Some("0cc175b9c0f1b6a831c399e269772661")
        );
        assert_eq!(first.storage_class.as_deref(), Some("STANDARD"));
        assert_eq!(page.objects[1].size, 42);
        assert_eq!(page.objects[1].last_modified_ms, 0);
        assert_eq!(page.objects[1].etag, None);
        assert_eq!(page.objects[1].storage_class.as_deref(), Some("GLACIER"));
        assert_eq!(page.objects[2].last_modified_ms, 1_796_120_430_000);
        assert_eq!(page.objects[2].etag.as_deref(), Some("abc-2"));
    }

    #[test]
    fn keys_that_are_not_encoded_keep_their_spaces_and_references() {
        let xml = "<ListBucketResult><Contents><Key> a &amp; b&#x20;</Key><Size>3</Size></Contents>\
                   <Contents><Key><![CDATA[c<d]]></Key><Size>0</Size></Contents><Contents><Key/><Size>5</Size></Contents>\
                   <IsTruncated>false</IsTruncated></ListBucketResult>";
        let page = parse_list_bucket_result(xml.as_bytes()).unwrap();
        assert!(!page.is_truncated);
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, [" a & b ", "c<d", ""]);
    }

    #[test]
    fn url_encoded_keys_are_form_decoded() {
        assert_eq!(
            listed_key("a%01b/%E4%B8%AD+x%25".to_owned(), true).as_deref(),
            Some("a\u{1}b/中 x%")
        );
        assert_eq!(
            listed_key("100%".to_owned(), false).as_deref(),
            Some("100%")
        );
        assert_eq!(listed_key("%FF".to_owned(), true), None);
    }

    #[test]
    fn what_is_not_a_listing_is_refused() {
        for bad in [
            "<Error><Code>NoSuchBucket</Code></Error>",
            "not xml at all",
            "<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Key>%FF</Key></Contents><EncodingType>url</EncodingType></ListBucketResult>",
            "<ListBucketResult><Contents><Key>&nope;</Key></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Key>a</Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents><Conte",
            "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
        ] {
            assert!(parse_list_bucket_result(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_root_is_an_empty_page() {
        for xml in [
            "<ListBucketResult/>",
            "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\" />",
        ] {
            let page = parse_list_bucket_result(xml.as_bytes()).unwrap();
            assert!(page.objects.is_empty() && !page.is_truncated, "{xml}");
        }
    }

    #[test]
    fn an_error_document_gives_its_code_and_message() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>\
                   <Message>The bucket &apos;x&apos; does not exist</Message><BucketName>x</BucketName></Error>";
        assert_eq!(
            parse_error(xml.as_bytes()),
            (
                Some("NoSuchBucket".to_owned()),
                Some("The bucket 'x' does not exist".to_owned())
            )
        );
        assert_eq!(parse_error(b"<html>503</html>"), (None, None));
        assert_eq!(parse_error(b""), (None, None));
    }
}
