//! The bucket and catalogue helpers (`/v2/{project_id}/objectstorage/...`,
//! `/privacy-agreements`): what a console asks before it creates a task. Which clouds and
//! regions omsd reaches; which buckets keys see, what lies under a path, whether a prefix
//! exists, where a bucket lives.
//!
//! Keys in these bodies serve the one call: they are not stored, logged or echoed. Every store
//! call is bounded by `[catalogue] timeout_secs`; a store's failure is a 400 `OMS.0153` naming
//! the side and the cause in one sentence.

use std::future::Future;

use axum::Json;
use axum::extract::State;
use oms_core::parse;
use oms_core::wire::{
    CheckPrefixReq, CheckPrefixResponse, CheckUrlSourceListFileFormatReq, EmptyBody,
    ListBucketsReq, RegionInfo, ShowBucketObjectsResponse, ShowBucketRegionReq,
    ShowBucketRegionResponse, ShowBucketReq, ShowCdnInfoReq, ShowCdnInfoResponse,
    ShowRegionInfoResp,
};
use oms_storage::catalogue::endpoints::EndpointRule;
use oms_storage::connect::{self, HelperStore};
use oms_storage::{ErrorKind, StorageError};

use crate::auth::{Caller, Principal};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::extract::query::{CloudSide, CloudTypeQuery};
use crate::openapi::ErrorResponses;
use crate::state::{AppState, StoreCheck};

pub mod cdn;
pub mod listcheck;
pub mod lists;

/// The operator's endpoint rules (none when the API reaches no stores).
fn rules(state: &AppState) -> &[EndpointRule] {
    state
        .stores
        .as_ref()
        .map_or(&[], |s| s.connect.endpoints.as_slice())
}

/// How the API reaches stores, or a 400 when it is set up not to.
pub(crate) fn stores(state: &AppState) -> Result<&StoreCheck, ApiError> {
    state
        .stores
        .as_deref()
        .ok_or_else(|| ApiError::Store("this API node is set up to reach no object stores".into()))
}

/// Which side a helper asked, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    Source,
    Destination,
}

impl Side {
    fn of(access: &parse::StoreAccess) -> Self {
        match access.cloud {
            parse::HelperCloud::Destination => Self::Destination,
            parse::HelperCloud::Source(_) => Self::Source,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Destination => "destination",
        }
    }
}

/// A store's failure as one sentence naming the side and the cause.
pub(crate) fn store_failed(side: Side, doing: &str, error: &StorageError) -> ApiError {
    let cause = match error.kind {
        ErrorKind::BadCredentials => "the keys were refused",
        ErrorKind::NoSuchBucket => "the bucket does not exist",
        ErrorKind::Denied => "the keys may not do this",
        ErrorKind::NotFound => "it does not exist",
        ErrorKind::Throttled => "the store asks to slow down",
        ErrorKind::Transient => "the store cannot be reached or failed",
        _ => "the store refused",
    };
    ApiError::Store(format!(
        "The {} store cannot {doing}: {cause} ({error})",
        side.as_str()
    ))
}

/// Runs one store call within the helper time limit.
pub(crate) async fn bounded<T>(
    check: &StoreCheck,
    side: Side,
    doing: &str,
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(check.helper_timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(store_failed(side, doing, &error)),
        Err(_) => Err(ApiError::Store(format!(
            "The {} store cannot {doing}: it did not answer within {} s",
            side.as_str(),
            check.helper_timeout.as_secs()
        ))),
    }
}

/// The store of a helper request, or a 400 naming why it cannot be reached.
pub(crate) fn connect_helper(
    check: &StoreCheck,
    access: &parse::StoreAccess,
    bucket: &str,
) -> Result<HelperStore, ApiError> {
    connect::helper_store(&check.connect, access, bucket).map_err(|e| {
        ApiError::Store(format!(
            "The {} store cannot be reached: {}",
            Side::of(access).as_str(),
            e.message
        ))
    })
}

/// Lists the clouds omsd migrates from (`type=src`) or to (`type=dst`).
#[utoipa::path(get, path = "/v2/{project_id}/objectstorage/cloud-type", tag = "catalogue",
    params(CloudTypeQuery),
    responses((status = 200, description = "The cloud types, as a bare JSON array", body = Vec<String>), ErrorResponses))]
pub async fn show_cloud_type(CloudTypeQuery(side): CloudTypeQuery) -> Json<Vec<&'static str>> {
    Json(match side {
        CloudSide::Source => oms_storage::catalogue::reach::source_clouds(),
        CloudSide::Destination => oms_storage::catalogue::reach::destination_clouds(),
    })
}

/// Lists the regions of every cloud whose endpoints come from a region: omsd's catalogue of
/// public regions, then the regions its `[[endpoints]]` rules name.
#[utoipa::path(get, path = "/v2/{project_id}/objectstorage/data-center", tag = "catalogue",
    responses((status = 200, description = "The regions per cloud, as a bare JSON array", body = Vec<ShowRegionInfoResp>), ErrorResponses))]
pub async fn show_region_info(State(state): State<AppState>) -> Json<Vec<ShowRegionInfoResp>> {
    let clouds = oms_storage::catalogue::reach::regions(rules(&state));
    Json(
        clouds
            .into_iter()
            .map(|cloud| ShowRegionInfoResp {
                service_name: cloud.cloud_type.to_owned(),
                region_list: cloud
                    .regions
                    .into_iter()
                    .map(|r| RegionInfo {
                        cloud_type: cloud.cloud_type.to_owned(),
                        value: r.value,
                        description: r.description,
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// Records that the caller accepted the privacy statement for the project (who and when).
#[utoipa::path(post, path = "/v2/{project_id}/privacy-agreements", tag = "catalogue",
    responses((status = 200, description = "Recorded", body = EmptyBody), ErrorResponses))]
pub async fn update_privacy_agreement_record(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<EmptyBody>, ApiError> {
    let who = match &caller.principal {
        Principal::User(name) => format!("user:{name}"),
        Principal::AccessKey(ak) => format!("access_key:{ak}"),
    };
    state
        .db
        .record_privacy_acceptance(&caller.project_id, &who)
        .await?;
    tracing::info!(project.id = %caller.project_id, accepted_by = %who, "privacy statement accepted");
    Ok(Json(EmptyBody {}))
}

/// Lists the buckets the keys see (S3-compatible clouds and HEC), the containers an Azure
/// connection string sees, or the buckets of a Google service account's project, sorted by name.
#[utoipa::path(post, path = "/v2/{project_id}/objectstorage/buckets", tag = "catalogue",
    request_body(content = ListBucketsReq, content_type = "application/json"),
    responses((status = 200, description = "The bucket names, as a bare JSON array", body = Vec<String>), ErrorResponses))]
pub async fn show_bucket_list(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ListBucketsReq>,
) -> Result<Json<Vec<String>>, ApiError> {
    let access = parse::list_buckets(req)?;
    let check = stores(&state)?;
    let side = Side::of(&access);
    let account = lists::account_store(check, &access)?;
    let names = bounded(check, side, "list its buckets", account.list_buckets()).await?;
    Ok(Json(names))
}

/// Shows the region of a bucket as its store reports it, and whether omsd can migrate from
/// it (an `[[endpoints]]` rule or a known public endpoint exists for it).
#[utoipa::path(post, path = "/v2/{project_id}/objectstorage/buckets/regions", tag = "catalogue",
    request_body(content = ShowBucketRegionReq, content_type = "application/json"),
    responses((status = 200, description = "The bucket's region", body = ShowBucketRegionResponse), ErrorResponses))]
pub async fn show_bucket_region(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ShowBucketRegionReq>,
) -> Result<Json<ShowBucketRegionResponse>, ApiError> {
    let (access, bucket) = parse::bucket_region(req)?;
    let check = stores(&state)?;
    let bucket = access.bucket_name(&bucket);
    let region = lists::bucket_region(check, &access, &bucket).await?;
    let cloud = access.cloud.as_str();
    // Azure and Google sources are reached through their credentials, wherever they live.
    let support = !access.cloud.is_s3_compatible()
        || oms_storage::catalogue::endpoints::is_known(&check.connect.endpoints, cloud, &region);
    Ok(Json(ShowBucketRegionResponse {
        name: oms_storage::catalogue::reach::region_name(cloud, &region),
        id: region,
        support,
    }))
}

/// Tells whether an object of that name, or any object under that prefix, exists.
#[utoipa::path(post, path = "/v2/{project_id}/objectstorage/buckets/prefix", tag = "catalogue",
    request_body(content = CheckPrefixReq, content_type = "application/json"),
    responses((status = 200, description = "Whether it exists", body = CheckPrefixResponse), ErrorResponses))]
pub async fn check_prefix(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CheckPrefixReq>,
) -> Result<Json<CheckPrefixResponse>, ApiError> {
    let check_req = parse::check_prefix(req)?;
    let check = stores(&state)?;
    let side = Side::of(&check_req.access);
    let bucket = check_req.access.bucket_name(&check_req.bucket);
    let helper = connect_helper(check, &check_req.access, &bucket)?;
    let name = check_req.name.as_str();
    let store = helper.store.as_ref();
    // An object of that name is listed under it as a prefix too: one listing answers both (and
    // a refusal to list names its cause, which a HEAD's bodiless 403 cannot).
    let page = bounded(
        check,
        side,
        "look the name up",
        store.list(&bucket, name, None, 1),
    )
    .await?;
    let exist = page.objects.iter().any(|o| o.key.starts_with(name));
    Ok(Json(CheckPrefixResponse { exist }))
}

/// Lists one page of the objects under `file_path`: every object whose key starts with it, at
/// any depth, by full key in key order (no folders are made up; a folder marker object, a key
/// ending in `/`, is listed as the object it is). `behind_filename` is the last key of the
/// previous page (`next_marker`).
#[utoipa::path(post, path = "/v2/{project_id}/objectstorage/buckets/objects", tag = "catalogue",
    request_body(content = ShowBucketReq, content_type = "application/json"),
    responses((status = 200, description = "One page of objects", body = ShowBucketObjectsResponse), ErrorResponses))]
pub async fn show_bucket_objects(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ShowBucketReq>,
) -> Result<Json<ShowBucketObjectsResponse>, ApiError> {
    let page_req = parse::bucket_objects(req)?;
    let check = stores(&state)?;
    let side = Side::of(&page_req.access);
    let bucket = page_req.access.bucket_name(&page_req.bucket);
    let helper = connect_helper(check, &page_req.access, &bucket)?;
    let page = bounded(
        check,
        side,
        "list the objects",
        helper.store.list(
            &bucket,
            &page_req.prefix,
            page_req.after.as_deref(),
            page_req.page_size,
        ),
    )
    .await?;
    let records = lists::records(page.objects, &page_req);
    let next_page = page.is_truncated && !records.is_empty();
    Ok(Json(ShowBucketObjectsResponse {
        next_page,
        next_marker: records.last().map(|r| r.name.clone()).unwrap_or_default(),
        records,
    }))
}

/// Reads a URL-list file (or every file of a folder ending in `/`) from the destination bucket
/// and checks it as the engine reads it: a `.txt` object of `text/plain` within the size limit,
/// and every non-blank line `URL<TAB>URL-encoded destination name`. The first bad line is a
/// 400 `OMS.0064` naming the file, the line number and what is wrong.
#[utoipa::path(post, path = "/v2/{project_id}/objectstorage/buckets/url-source-list-file", tag = "catalogue",
    request_body(content = CheckUrlSourceListFileFormatReq, content_type = "application/json"),
    responses((status = 200, description = "Every line is well formed", body = EmptyBody), ErrorResponses))]
pub async fn check_url_source_list_file_format(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CheckUrlSourceListFileFormatReq>,
) -> Result<Json<EmptyBody>, ApiError> {
    let list = parse::url_list_file(req)?;
    let check = stores(&state)?;
    let helper = connect_helper(check, &list.access, &list.bucket)?;
    let store = helper.store.as_ref();
    for key in listcheck::files(check, store, &list).await? {
        listcheck::check_file(check, store, &list.bucket, &key).await?;
    }
    Ok(Json(EmptyBody {}))
}

/// HEADs each key at the bucket and through the CDN domain (signed with the given algorithm and
/// key, as the engine signs), and compares existence and entity tags per key:
/// `is_download_available` when the CDN serves every key the bucket holds,
/// `is_same_cloud_type` when it serves each with the bucket's entity tag.
#[utoipa::path(post, path = "/v2/{project_id}/objectstorage/buckets/cdn-info", tag = "catalogue",
    request_body(content = ShowCdnInfoReq, content_type = "application/json"),
    responses((status = 200, description = "The comparison", body = ShowCdnInfoResponse), ErrorResponses))]
pub async fn show_cdn_info(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ShowCdnInfoReq>,
) -> Result<Json<ShowCdnInfoResponse>, ApiError> {
    let cdn_req = parse::cdn_info(req)?;
    let check = stores(&state)?;
    let bucket = cdn_req.access.bucket_name(&cdn_req.bucket);
    let helper = connect_helper(check, &cdn_req.access, &bucket)?;
    let cdn = connect::cdn_source(&check.connect, &cdn_req.cdn, cdn_req.cdn_key.clone())
        .map_err(|e| ApiError::invalid("source_cdn.domain", e.message))?;
    let answer = cdn::compare(check, helper.store.as_ref(), &cdn, &bucket, &cdn_req).await?;
    Ok(Json(answer))
}
