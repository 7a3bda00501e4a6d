//! The Google account calls of the bucket helpers, over the XML API: GET Service (the buckets
//! of the service account's project, named by `x-goog-project-id`) and GET Bucket `?location`.
//! GET Service does not page: it answers at most 1,000 buckets.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;

use super::GcsSource;
use crate::account::{AccountStore, MAX_BUCKETS};
use crate::client::{Call, query_value};
use crate::{ErrorKind, StorageError};

/// The header that names the project whose buckets GET Service lists.
const PROJECT_HEADER: HeaderName = HeaderName::from_static("x-goog-project-id");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAllMyBucketsResult {
    /// Present (if empty) in every answer: a document without it is not a bucket list.
    buckets: Option<Buckets>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Buckets {
    #[serde(default)]
    bucket: Vec<Bucket>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Bucket {
    name: String,
}

/// `<LocationConstraint>US-EAST1</LocationConstraint>`.
#[derive(Debug, Deserialize)]
struct LocationConstraint {
    #[serde(rename = "$text", default)]
    value: String,
}

/// The bucket names of a GET Service answer, sorted, at most [`MAX_BUCKETS`].
fn parse_buckets(xml: &str) -> Result<Vec<String>, String> {
    let result: ListAllMyBucketsResult = quick_xml::de::from_str(xml)
        .map_err(|e| format!("the answer is not a ListAllMyBucketsResult: {e}"))?;
    let buckets = result
        .buckets
        .ok_or("the answer is not a ListAllMyBucketsResult: it has no <Buckets>")?;
    let mut names: Vec<String> = buckets.bucket.into_iter().map(|b| b.name).collect();
    names.sort();
    names.dedup();
    names.truncate(MAX_BUCKETS);
    Ok(names)
}

/// The location of a GET Bucket `?location` answer (`None`: the store names none).
fn parse_location(xml: &str) -> Result<Option<String>, String> {
    let location: LocationConstraint = quick_xml::de::from_str(xml)
        .map_err(|e| format!("the answer is not a LocationConstraint: {e}"))?;
    let value = location.value.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

impl GcsSource {
    /// GETs `url` and reads the answer's body, or the store's refusal.
    async fn get_text(
        &self,
        call: &Call<'_>,
        url: Url,
        headers: HeaderMap,
    ) -> Result<String, StorageError> {
        let response = self.send(call, Method::GET, url, headers).await?;
        if !response.status().is_success() {
            return Err(Self::refused(call, response).await);
        }
        call.body(response).await
    }
}

#[async_trait]
impl AccountStore for GcsSource {
    async fn list_buckets(&self) -> Result<Vec<String>, StorageError> {
        let call = self.call("ListBuckets", None);
        let project = self.project_id.as_deref().ok_or_else(|| {
            call.failure(
                ErrorKind::BadCredentials,
                "the json_auth_file names no project_id, whose buckets would be listed",
            )
        })?;
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(project).map_err(|_| {
            call.failure(
                ErrorKind::BadCredentials,
                "the json_auth_file's project_id is not ASCII",
            )
        })?;
        headers.insert(PROJECT_HEADER, value);
        let url = Url::parse(&format!("{}/", self.base)).map_err(|e| {
            call.failure(
                ErrorKind::Permanent,
                format!("cannot build the request URL: {e}"),
            )
        })?;
        let text = self.get_text(&call, url, headers).await?;
        parse_buckets(&text).map_err(|message| call.failure(ErrorKind::Permanent, message))
    }

    async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, StorageError> {
        let call = self.call("GetBucketLocation", None);
        call.reaches(bucket)?;
        let text = format!("{}/{}?location", self.base, query_value(bucket));
        let url = Url::parse(&text).map_err(|e| {
            call.failure(
                ErrorKind::Permanent,
                format!("cannot build the request URL: {e}"),
            )
        })?;
        let text = self.get_text(&call, url, HeaderMap::new()).await?;
        parse_location(&text).map_err(|message| call.failure(ErrorKind::Permanent, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_service_answers_give_sorted_names() {
        let xml = r#"<?xml version='1.0' encoding='UTF-8'?><ListAllMyBucketsResult xmlns="http://doc.s3.amazonaws.com/2006-03-01"><Owner><ID>00b4</ID></Owner><Buckets><Bucket><Name>zeta</Name><CreationDate>2024-01-02T03:04:05.678Z</CreationDate></Bucket><Bucket><Name>alpha</Name><CreationDate>2024-01-02T03:04:05.678Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>"#;
        assert_eq!(parse_buckets(xml).unwrap(), ["alpha", "zeta"]);
        let none = r#"<ListAllMyBucketsResult><Owner><ID>1</ID></Owner><Buckets/></ListAllMyBucketsResult>"#;
        assert!(parse_buckets(none).unwrap().is_empty());
        assert!(parse_buckets("<Error><Code>x</Code></Error>").is_err());
    }

    #[test]
    fn location_answers_give_the_location_as_reported() {
        let xml = r#"<?xml version='1.0' encoding='UTF-8'?><LocationConstraint>US-EAST1</LocationConstraint>"#;
        assert_eq!(parse_location(xml).unwrap().as_deref(), Some("US-EAST1"));
        let empty = r#"<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert_eq!(parse_location(empty).unwrap(), None);
    }
}
