//! Parsing the S3 event notification documents that object stores post to a sync task's
//! notification URL: AWS S3 (directly, or wrapped in an SNS `Notification` envelope), MinIO
//! webhooks, Ceph RGW HTTP push endpoints and Huawei OBS. What OMS reads of a record is
//! `eventName`, `s3.bucket.name` and `s3.object.key` (OBS in its own mode names the entity `obs`
//! instead of `s3`); everything else a store sends is ignored.
//!
//! Keys come URL-encoded as AWS documents them (`+` for a space, `%XX` for other bytes) and
//! are decoded here once, then checked like the keys of `events` (1-1,024 bytes). A document
//! with one bad record is refused whole: nothing of it is queued.

use serde::Deserialize;

use super::Result;
use super::sync::{check_key, percent_decode};
use crate::ValidationError;

/// The most records one document may carry (stores send one to a few per post).
pub const MAX_NOTIFICATION_RECORDS: usize = 1000;

/// The keys a notification document names for the task's bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifiedKeys {
    /// Keys of `ObjectCreated:*` records, decoded, in document order: these are copied.
    pub created: Vec<String>,
    /// Keys of `ObjectRemoved:*` records: counted; queued only by tasks that propagate
    /// deletions.
    pub removed: Vec<String>,
    /// Records for another bucket, or of another kind (restore, replication, lifecycle...).
    pub ignored: usize,
}

/// What a posted document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Event records.
    Records(NotifiedKeys),
    /// A test document (`"Event": "s3:TestEvent"`, sent when a notification is configured):
    /// answered, nothing queued.
    Test,
    /// An SNS `SubscriptionConfirmation` (or `UnsubscribeConfirmation`): omsd never fetches
    /// the `SubscribeURL` itself (an address the body names, taken from an unauthenticated
    /// sender's document); the operator confirms the subscription.
    SnsConfirmation {
        /// The topic's ARN, to name it in the log.
        topic_arn: String,
    },
}

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    /// `Notification`, `SubscriptionConfirmation`, ... in an SNS envelope.
    #[serde(rename = "Type")]
    sns_type: Option<String>,
    /// The wrapped S3 document of an SNS `Notification`, as a JSON string.
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    /// `s3:TestEvent` in AWS's test document.
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    s3: Option<Entity>,
    obs: Option<Entity>,
}

#[derive(Debug, Deserialize)]
struct Entity {
    bucket: Option<Named>,
    object: Option<Named>,
}

/// `bucket` (with `name`) and `object` (with `key`).
#[derive(Debug, Deserialize)]
struct Named {
    name: Option<String>,
    key: Option<String>,
}

/// What a record asks for.
enum Kind {
    Created,
    Removed,
    Other,
}

fn kind_of(event_name: &str) -> Kind {
    // MinIO and Ceph prefix the names with `s3:`, AWS and OBS do not.
    let name = event_name.strip_prefix("s3:").unwrap_or(event_name);
    if name.starts_with("ObjectCreated:") {
        Kind::Created
    } else if name.starts_with("ObjectRemoved:") {
        Kind::Removed
    } else {
        Kind::Other
    }
}

fn not_a_notification(detail: impl std::fmt::Display) -> ValidationError {
    ValidationError::new(
        "body",
        format!("is not an S3 event notification document: {detail}"),
    )
}

/// Parses a posted document (`body`) for a sync task whose source bucket is `bucket`.
pub fn notification(body: &[u8], bucket: &str) -> Result<Notification> {
    let document: Document = serde_json::from_slice(body).map_err(not_a_notification)?;
    let document = match document.sns_type.as_deref() {
        Some("Notification") => {
            let message = document
                .message
                .ok_or_else(|| not_a_notification("the SNS envelope has no Message"))?;
            let inner: Document = serde_json::from_str(&message)
                .map_err(|e| not_a_notification(format!("its SNS Message: {e}")))?;
            if inner.sns_type.is_some() {
                return Err(not_a_notification("an SNS envelope inside an SNS envelope"));
            }
            inner
        }
        Some("SubscriptionConfirmation" | "UnsubscribeConfirmation") => {
            return Ok(Notification::SnsConfirmation {
                topic_arn: document.topic_arn.unwrap_or_default(),
            });
        }
        Some(other) => {
            return Err(not_a_notification(format!(
                "unknown SNS message Type '{other}'"
            )));
        }
        None => document,
    };
    let Some(records) = document.records else {
        if document.event.as_deref() == Some("s3:TestEvent") {
            return Ok(Notification::Test);
        }
        return Err(ValidationError::new("Records", "is required"));
    };
    if records.len() > MAX_NOTIFICATION_RECORDS {
        return Err(ValidationError::new(
            "Records",
            format!(
                "must hold at most {MAX_NOTIFICATION_RECORDS} records, got {}",
                records.len()
            ),
        ));
    }
    let mut keys = NotifiedKeys::default();
    for (i, record) in records.into_iter().enumerate() {
        let kind = kind_of(record.event_name.as_deref().unwrap_or_default());
        let entity = record.s3.or(record.obs);
        let record_bucket = entity
            .as_ref()
            .and_then(|e| e.bucket.as_ref())
            .and_then(|b| b.name.as_deref());
        if matches!(kind, Kind::Other) || record_bucket != Some(bucket) {
            keys.ignored += 1;
            continue;
        }
        let field = format!("Records[{i}].s3.object.key");
        let raw = entity
            .and_then(|e| e.object)
            .and_then(|o| o.key)
            .ok_or_else(|| ValidationError::new(&field, "is required"))?;
        let key = percent_decode(&raw, true).ok_or_else(|| {
            ValidationError::new(
                &field,
                "is not a URL-encoded UTF-8 key (a % must start a %XX escape)",
            )
        })?;
        check_key(&field, &key)?;
        match kind {
            Kind::Created => keys.created.push(key),
            Kind::Removed => keys.removed.push(key),
            Kind::Other => {}
        }
    }
    Ok(Notification::Records(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str, bucket: &str, key: &str) -> serde_json::Value {
        serde_json::json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event,
            "s3": { "s3SchemaVersion": "1.0", "bucket": { "name": bucket, "arn": "arn:aws:s3:::b" },
                    "object": { "key": key, "size": 5, "eTag": "x", "sequencer": "0A" } }
        })
    }

    fn parse(doc: &serde_json::Value) -> Result<Notification> {
        notification(&serde_json::to_vec(doc).unwrap(), "src")
    }

    #[test]
    fn records_decode_keys_as_aws_documents_them_and_sort_by_kind() {
        let doc = serde_json::json!({ "Records": [
            record("ObjectCreated:Put", "src", "a+b%2Bc/%C3%A9t%C3%A9.txt"),
            record("s3:ObjectCreated:CompleteMultipartUpload", "src", "big.bin"),
            record("ObjectRemoved:Delete", "src", "gone+now"),
            record("ObjectCreated:Put", "other", "elsewhere"),
            record("ObjectRestore:Completed", "src", "cold"),
        ]});
        let Notification::Records(keys) = parse(&doc).unwrap() else {
            panic!("not records");
        };
        assert_eq!(keys.created, ["a b+c/été.txt", "big.bin"]);
        assert_eq!(keys.removed, ["gone now"]);
        assert_eq!(keys.ignored, 2);
    }

    #[test]
    fn an_sns_envelope_is_unwrapped_and_confirmations_are_not_fetched() {
        let inner = serde_json::json!({ "Records": [record("ObjectCreated:Copy", "src", "k")] });
        let doc = serde_json::json!({ "Type": "Notification", "Message": inner.to_string() });
        let Notification::Records(keys) = parse(&doc).unwrap() else {
            panic!("not records");
        };
        assert_eq!(keys.created, ["k"]);
        let confirm = serde_json::json!({ "Type": "SubscriptionConfirmation", "TopicArn": "arn:t",
            "SubscribeURL": "http://169.254.169.254/" });
        assert_eq!(
            parse(&confirm).unwrap(),
            Notification::SnsConfirmation {
                topic_arn: "arn:t".into()
            }
        );
    }

    #[test]
    fn test_events_pass_and_bad_documents_name_what_is_wrong() {
        let test = serde_json::json!({ "Service": "Amazon S3", "Event": "s3:TestEvent" });
        assert_eq!(parse(&test).unwrap(), Notification::Test);
        assert_eq!(notification(b"{not json", "src").unwrap_err().field, "body");
        assert_eq!(parse(&serde_json::json!({})).unwrap_err().field, "Records");
        let bad = serde_json::json!({ "Records": [
            record("ObjectCreated:Put", "src", "fine"),
            record("ObjectCreated:Put", "src", "bad%zz"),
        ]});
        assert_eq!(parse(&bad).unwrap_err().field, "Records[1].s3.object.key");
        let long = serde_json::json!({ "Records": [record("ObjectCreated:Put", "src", &"k".repeat(1025))] });
        assert_eq!(parse(&long).unwrap_err().field, "Records[0].s3.object.key");
    }
}
