//! Connectors for a migration: its spec, its credentials, and the operator's endpoints. The
//! engine builds them to run a task; the API builds them to check keys a start supplies.

use std::sync::Arc;
use std::time::Duration;

use oms_core::credentials::{CredentialSet, SourceCredentials};
use oms_core::error::FailureCode;
use oms_core::parse::{HelperCloud, StoreAccess};
use oms_core::spec::{CdnSpec, CloudType, MigrationSpec};
use secrecy::{ExposeSecret as _, SecretString};

use crate::account::AccountStore;
use crate::azure::AzureSource;
use crate::catalogue::endpoints::{self, DESTINATION_CLOUD, EndpointRule};
use crate::client::CloudSettings;
use crate::gcs::GcsSource;
use crate::guard::Guard;
use crate::metered::{self, Metered};
use crate::pace::Pace;
use crate::s3::{S3Connector, S3Settings};
use crate::url::cdn::Signer;
use crate::url::{Cdn, HttpSettings, HttpSource};
use crate::{ErrorKind, ReadStore, StorageError, WriteStore};

/// What connectors are built from besides a spec and credentials.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// The operator's endpoints.
    pub endpoints: Vec<EndpointRule>,
    /// Connect timeout of store requests.
    pub connect_timeout: Duration,
    /// Read timeout of store requests.
    pub operation_timeout: Duration,
    /// Which addresses user-chosen URLs and endpoints may reach.
    pub guard: Guard,
    /// The most requests one migration keeps in flight to each side: where each side's
    /// request pace starts, and what it grows back to after the store throttled.
    pub max_requests_in_flight: usize,
}

/// Why connectors cannot be built: a `TRF.xxxx` code and words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ConnectError {
    /// The `TRF.xxxx` code the task fails with.
    pub code: FailureCode,
    /// The reason, in words naming the side at fault.
    pub message: String,
}

/// Both sides of a migration.
#[derive(Debug, Clone)]
pub struct Sides {
    /// The source: only ever read.
    pub source: Arc<dyn ReadStore>,
    /// The destination: written, and read to check what is already there.
    pub destination: Arc<dyn WriteStore>,
    /// The source bucket as the store names it.
    pub source_bucket: String,
    /// Same store, same keys: server-side copy works.
    pub same_store: bool,
    /// Who reads the source, and who writes the destination: see [`Caller`].
    pub callers: (Caller, Caller),
}

/// Who asks a store: its endpoint, the access key and the secret, in one keyed hash whose key
/// is drawn afresh by each process. Two connectors of one process with equal callers reach the
/// same store as the same user, so what one learnt of a bucket (that it is there and may be
/// read, how it wants writes) holds for the other; nothing of the secret can be learnt from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller(u64);

impl Caller {
    fn of(identity: &str, secrets: &[Option<&SecretString>], requester_pays: bool) -> Self {
        use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
        static KEY: std::sync::LazyLock<std::collections::hash_map::RandomState> =
            std::sync::LazyLock::new(Default::default);
        let mut hasher = KEY.build_hasher();
        identity.hash(&mut hasher);
        for secret in secrets {
            secret.map(|s| s.expose_secret()).hash(&mut hasher);
        }
        requester_pays.hash(&mut hasher);
        Self(hasher.finish())
    }

    /// A caller of its own, for tests of what is kept by caller.
    #[doc(hidden)]
    pub const fn for_tests(n: u64) -> Self {
        Self(n)
    }
}

/// The bucket name a store knows: Tencent COS names carry the APPID (`bucket-1250000000`).
pub fn source_bucket_name(spec: &MigrationSpec) -> String {
    let source = &spec.source;
    let suffix = format!("-{}", source.app_id);
    if source.cloud_type == CloudType::Tencent
        && !source.app_id.is_empty()
        && !source.bucket.ends_with(&suffix)
    {
        format!("{}{suffix}", source.bucket)
    } else {
        source.bucket.clone()
    }
}

struct S3Side<'a> {
    cloud: &'a str,
    region: &'a str,
    access_key: &'a str,
    secret_key: &'a SecretString,
    security_token: Option<&'a SecretString>,
    requester_pays: bool,
}

fn s3(settings: &ConnectSettings, side: &S3Side<'_>) -> Result<Arc<S3Connector>, ConnectError> {
    let endpoint =
        endpoints::resolve(&settings.endpoints, side.cloud, side.region).ok_or_else(|| {
            ConnectError {
                code: FailureCode::SystemError,
                message: format!(
                    "no endpoint is known for {} in region {}; add one to [[endpoints]]",
                    side.cloud, side.region
                ),
            }
        })?;
    let is_aws = side.cloud.eq_ignore_ascii_case("AWS") && endpoint.url.contains(".amazonaws.com");
    let connector = S3Connector::new(&S3Settings {
        endpoint,
        region: side.region.to_owned(),
        access_key: side.access_key.to_owned(),
        secret_key: side.secret_key.clone(),
        security_token: side.security_token.cloned(),
        is_aws,
        requester_pays: side.requester_pays,
        connect_timeout: settings.connect_timeout,
        operation_timeout: settings.operation_timeout,
    })
    .map_err(|e| ConnectError {
        code: FailureCode::SystemError,
        message: e.to_string(),
    })?;
    Ok(Arc::new(connector))
}

/// A source that cannot be reached with what was supplied.
fn source_error(code: FailureCode, message: impl Into<String>) -> ConnectError {
    ConnectError {
        code,
        message: message.into(),
    }
}

/// The code of a connector that could not be built from user-supplied settings.
fn built(error: &StorageError) -> ConnectError {
    source_error(
        match error.code.as_deref() {
            Some(crate::guard::IP_FORBIDDEN | crate::guard::DOMAIN_FORBIDDEN) => {
                FailureCode::SourceError
            }
            _ => FailureCode::SourceCredentials,
        },
        error.message.clone(),
    )
}

/// A Google or Azure bucket as a source, and its account as the bucket helpers ask it.
type CloudStore = (Arc<dyn ReadStore>, Arc<dyn AccountStore>);

/// A Google or Azure source over `bucket` (and its account-level calls), from the credentials
/// of its cloud.
fn cloud_store(
    settings: &ConnectSettings,
    cloud: CloudType,
    src: &SourceCredentials,
    bucket: &str,
) -> Result<Option<CloudStore>, ConnectError> {
    let cloud_settings = CloudSettings {
        guard: settings.guard,
        connect_timeout: settings.connect_timeout,
        operation_timeout: settings.operation_timeout,
    };
    match cloud {
        CloudType::Google => {
            let json = src.json_auth_file.as_ref().ok_or_else(|| {
                source_error(
                    FailureCode::SourceCredentials,
                    "no json_auth_file was supplied for the Google source",
                )
            })?;
            let source =
                Arc::new(GcsSource::new(&cloud_settings, json, bucket).map_err(|e| built(&e))?);
            Ok(Some((source.clone(), source)))
        }
        CloudType::Azure => {
            let conn = src.connection_string.as_ref().ok_or_else(|| {
                source_error(
                    FailureCode::SourceCredentials,
                    "no connection_string was supplied for the Azure source",
                )
            })?;
            let source =
                Arc::new(AzureSource::new(&cloud_settings, conn, bucket).map_err(|e| built(&e))?);
            Ok(Some((source.clone(), source)))
        }
        _ => Ok(None),
    }
}

/// An S3-compatible store of `cloud` in `region` with source-style keys.
fn s3_store(
    settings: &ConnectSettings,
    cloud: &str,
    region: &str,
    src: &SourceCredentials,
    requester_pays: bool,
) -> Result<Arc<S3Connector>, ConnectError> {
    let (Some(ak), Some(sk)) = (src.ak.as_ref(), src.sk.as_ref()) else {
        return Err(source_error(
            FailureCode::SourceCredentials,
            "no source AK/SK were supplied",
        ));
    };
    s3(
        settings,
        &S3Side {
            cloud,
            region,
            access_key: ak.expose_secret(),
            secret_key: sk,
            security_token: src.security_token.as_ref(),
            requester_pays,
        },
    )
}

/// The source connector of a migration (before any CDN in front of it).
fn source_store(
    settings: &ConnectSettings,
    spec: &MigrationSpec,
    credentials: &CredentialSet,
) -> Result<Arc<dyn ReadStore>, ConnectError> {
    let src = &credentials.source;
    let cloud = spec.source.cloud_type;
    if let Some((store, _)) = cloud_store(settings, cloud, src, &spec.source.bucket)? {
        return Ok(store);
    }
    let store: Arc<dyn ReadStore> = s3_store(
        settings,
        cloud.as_str(),
        &spec.source.region,
        src,
        spec.enable_requester_pays,
    )?;
    Ok(store)
}

/// A bucket helper's view of a store, built from the request's cloud, region and keys.
#[derive(Debug, Clone)]
pub struct HelperStore {
    /// The bucket's store.
    pub store: Arc<dyn ReadStore>,
    /// Account-level calls, where the cloud offers them.
    pub account: Option<Arc<dyn AccountStore>>,
    /// The region the store was reached in (`None`: the cloud has no regional endpoints).
    pub region: Option<String>,
    /// Where the store is, for messages.
    pub endpoint: String,
}

/// The region an account-level call of an S3-compatible `cloud` goes to when the request
/// names none: the first region an `[[endpoints]]` rule names for it, else the first region
/// of the cloud's public catalogue.
pub fn default_region(rules: &[EndpointRule], cloud: &str) -> Option<String> {
    rules
        .iter()
        .find(|r| r.cloud_type.eq_ignore_ascii_case(cloud) && r.region != "*")
        .map(|r| r.region.clone())
        .or_else(|| {
            crate::catalogue::regions::catalogue()
                .find(|(c, _)| c.eq_ignore_ascii_case(cloud))
                .and_then(|(_, table)| table.first())
                .map(|r| r.value.to_owned())
        })
}

/// Builds the store a bucket helper asks about `bucket` (Azure and Google connectors serve one
/// bucket; S3 ones any), its calls counted in the store metrics like the engine's.
pub fn helper_store(
    settings: &ConnectSettings,
    access: &StoreAccess,
    bucket: &str,
) -> Result<HelperStore, ConnectError> {
    let helper = unmetered_helper_store(settings, access, bucket)?;
    let side = match access.cloud {
        HelperCloud::Source(_) => Side::Source,
        HelperCloud::Destination => Side::Destination,
    };
    Ok(HelperStore {
        store: Arc::new(Metered::new(helper.store, side, None)),
        account: helper
            .account
            .map(|a| Arc::new(Metered::new(a, side, None)) as Arc<dyn AccountStore>),
        ..helper
    })
}

fn unmetered_helper_store(
    settings: &ConnectSettings,
    access: &StoreAccess,
    bucket: &str,
) -> Result<HelperStore, ConnectError> {
    let src = &access.credentials;
    if let HelperCloud::Source(cloud) = access.cloud
        && let Some((store, account)) = cloud_store(settings, cloud, src, bucket)?
    {
        let endpoint = store.endpoint();
        return Ok(HelperStore {
            account: Some(account),
            store,
            region: None,
            endpoint,
        });
    }
    let cloud = access.cloud.as_str();
    let region = match &access.region {
        Some(region) => region.clone(),
        None => default_region(&settings.endpoints, cloud).ok_or_else(|| ConnectError {
            code: FailureCode::SystemError,
            message: format!("no endpoint is known for {cloud}; add one to [[endpoints]]"),
        })?,
    };
    let connector = s3_store(settings, cloud, &region, src, false)?;
    let endpoint = connector.endpoint();
    Ok(HelperStore {
        store: connector.clone(),
        account: Some(connector),
        region: Some(region),
        endpoint,
    })
}

/// The HTTP settings of URL and CDN sources.
fn http_settings(settings: &ConnectSettings) -> HttpSettings {
    HttpSettings {
        guard: settings.guard,
        connect_timeout: settings.connect_timeout,
        read_timeout: settings.operation_timeout,
    }
}

/// The CDN of a source, its domain checked by the address guard.
fn cdn_of(
    settings: &ConnectSettings,
    cdn: &CdnSpec,
    key: Option<SecretString>,
) -> Result<Cdn, ConnectError> {
    // The host as an HTTP client reads it (`0x7f000001` is 127.0.0.1).
    let host = reqwest::Url::parse(&format!("http://{}/", cdn.domain))
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| cdn.domain.clone());
    if let Err(e) = settings.guard.check_host(&host) {
        return Err(source_error(
            FailureCode::SourceError,
            format!("the CDN domain: {}", e.message),
        ));
    }
    Ok(Cdn {
        protocol: cdn.protocol.as_str().to_owned(),
        domain: cdn.domain.clone(),
        signer: key.and_then(|key| Signer::new(cdn.authentication_type, key)),
    })
}

/// A reader of a bucket's objects through `cdn` (signed with `key` as the engine signs), for
/// comparing what the CDN serves with the bucket.
pub fn cdn_source(
    settings: &ConnectSettings,
    cdn: &CdnSpec,
    key: Option<SecretString>,
) -> Result<HttpSource, ConnectError> {
    let cdn = cdn_of(settings, cdn, key)?;
    HttpSource::new(&http_settings(settings), Some(cdn), None).map_err(|e| built(&e))
}

/// Builds the source and destination connectors of a migration.
pub fn connect(
    settings: &ConnectSettings,
    spec: &MigrationSpec,
    credentials: &CredentialSet,
) -> Result<Sides, ConnectError> {
    let http = http_settings(settings);
    let cdn = spec
        .source
        .cdn
        .as_ref()
        .map(|cdn| cdn_of(settings, cdn, credentials.cdn_key.clone()))
        .transpose()?;
    let source: Arc<dyn ReadStore> = if spec.source.cloud_type == CloudType::UrlSource {
        Arc::new(HttpSource::new(&http, cdn, None).map_err(|e| built(&e))?)
    } else {
        let store = source_store(settings, spec, credentials)?;
        match cdn {
            Some(cdn) => {
                Arc::new(HttpSource::new(&http, Some(cdn), Some(store)).map_err(|e| built(&e))?)
            }
            None => store,
        }
    };
    let dst = &credentials.destination;
    let destination: Arc<dyn WriteStore> = s3(
        settings,
        &S3Side {
            cloud: DESTINATION_CLOUD,
            region: &spec.destination.region,
            access_key: dst.ak.expose_secret(),
            secret_key: &dst.sk,
            security_token: dst.security_token.as_ref(),
            requester_pays: false,
        },
    )?;
    let same_store = source.identity() == destination.identity() && !spec.enable_requester_pays;
    let src = &credentials.source;
    let callers = (
        Caller::of(
            &format!(
                "{}|{:?}|{}",
                source.identity(),
                spec.source.cloud_type,
                spec.source.region
            ),
            &[
                src.ak.as_ref(),
                src.sk.as_ref(),
                src.security_token.as_ref(),
                src.connection_string.as_ref(),
                src.json_auth_file.as_ref(),
                credentials.cdn_key.as_ref(),
            ],
            spec.enable_requester_pays,
        ),
        Caller::of(
            &format!("{}|{}", destination.identity(), spec.destination.region),
            &[Some(&dst.sk), dst.security_token.as_ref()],
            false,
        ),
    );
    let pace = |side| {
        Arc::new(Pace::new(
            metered::side_label(side),
            settings.max_requests_in_flight,
        ))
    };
    Ok(Sides {
        source: Arc::new(Metered::new(source, Side::Source, Some(pace(Side::Source)))),
        destination: Arc::new(Metered::new(
            destination,
            Side::Destination,
            Some(pace(Side::Destination)),
        )),
        source_bucket: source_bucket_name(spec),
        same_store,
        callers,
    })
}

pub use crate::Side;

/// A definite "no" from a store about keys or a bucket.
#[derive(Debug)]
pub struct AccessDenied {
    /// The side whose keys or bucket were refused.
    pub side: Side,
    /// The store's answer.
    pub error: StorageError,
}

/// Checks, within `timeout`, that both sides' keys can list their buckets. Only a definite
/// answer — unknown keys, a wrong signature, a missing bucket, access denied — is a failure;
/// a store that cannot be reached now may be reachable by the time a worker runs.
pub async fn verify_access(
    sides: &Sides,
    destination_bucket: &str,
    timeout: Duration,
) -> Result<(), AccessDenied> {
    let destination: Arc<dyn ReadStore> = sides.destination.clone();
    for (side, connector, bucket) in [
        (Side::Source, &sides.source, sides.source_bucket.as_str()),
        (Side::Destination, &destination, destination_bucket),
    ] {
        if let Ok(Err(error)) = tokio::time::timeout(timeout, connector.check_bucket(bucket)).await
            && matches!(
                error.kind,
                ErrorKind::BadCredentials | ErrorKind::NoSuchBucket | ErrorKind::Denied
            )
        {
            return Err(AccessDenied { side, error });
        }
    }
    Ok(())
}
