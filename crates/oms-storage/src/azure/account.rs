//! The Azure account call of the bucket helpers: List Containers (the "buckets" a connection
//! string sees). Azure's Blob API does not tell where an account lives, so a container's
//! region is not reported.

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::AzureSource;
use crate::account::{AccountStore, MAX_BUCKETS};
use crate::{ErrorKind, StorageError};

#[derive(Debug, Deserialize)]
struct ContainerResults {
    #[serde(rename = "Containers", default)]
    containers: Containers,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Containers {
    #[serde(rename = "Container", default)]
    container: Vec<Container>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(rename = "Name")]
    name: String,
}

#[async_trait]
impl AccountStore for AzureSource {
    async fn list_buckets(&self) -> Result<Vec<String>, StorageError> {
        let call = self.call("ListContainers", None);
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut query = vec![("comp", "list"), ("maxresults", "5000")];
            if let Some(marker) = &marker {
                query.push(("marker", marker.as_str()));
            }
            let request = self.request(&call, Method::GET, "", &query, HeaderMap::new())?;
            let response = call.send(&self.client, request).await?;
            if !response.status().is_success() {
                return Err(Self::refused(&call, &response));
            }
            let text = call.body(response).await?;
            let results: ContainerResults = quick_xml::de::from_str(&text).map_err(|e| {
                call.failure(
                    ErrorKind::Permanent,
                    format!("the answer is not a List Containers answer: {e}"),
                )
            })?;
            names.extend(results.containers.container.into_iter().map(|c| c.name));
            // A store that repeats its marker would loop for ever.
            let next = results.next_marker.filter(|m| !m.is_empty());
            if next.is_none() || next == marker || names.len() >= MAX_BUCKETS {
                break;
            }
            marker = next;
        }
        names.sort();
        names.dedup();
        names.truncate(MAX_BUCKETS);
        Ok(names)
    }

    async fn bucket_region(&self, _bucket: &str) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
}
