//! Connectors for a task: its spec and credentials, and the operator's endpoints.

use std::sync::Arc;

use oms_core::credentials::CredentialSet;
use oms_core::spec::{CloudType, MigrationSpec};
use oms_storage::Connector;
use oms_storage::endpoints::{self, DESTINATION_CLOUD};
use oms_storage::s3::{S3Connector, S3Settings};
use secrecy::SecretString;

use crate::WorkerConfig;
use crate::control::TaskFailure;

/// Both sides of a migration.
#[derive(Debug)]
pub(crate) struct Sides {
    pub source: Arc<dyn Connector>,
    pub destination: Arc<dyn Connector>,
    /// The source bucket as the store names it.
    pub source_bucket: String,
    /// Same store, same keys: server-side copy works.
    pub same_store: bool,
}

/// The bucket name a store knows: Tencent COS names carry the APPID (`bucket-1250000000`).
pub(crate) fn source_bucket_name(spec: &MigrationSpec) -> String {
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

fn s3(
    config: &WorkerConfig,
    cloud: &str,
    region: &str,
    access_key: &str,
    secret_key: &SecretString,
    security_token: Option<&SecretString>,
    requester_pays: bool,
) -> Result<Arc<dyn Connector>, TaskFailure> {
    let endpoint = endpoints::resolve(&config.endpoints, cloud, region).ok_or_else(|| {
        TaskFailure::new(
            "TRF.0001",
            format!(
                "no endpoint is known for {cloud} in region {region}; add one to [[endpoints]]"
            ),
        )
    })?;
    let is_aws = cloud.eq_ignore_ascii_case("AWS") && endpoint.url.contains(".amazonaws.com");
    Ok(Arc::new(S3Connector::new(&S3Settings {
        endpoint,
        region: region.to_owned(),
        access_key: access_key.to_owned(),
        secret_key: secret_key.clone(),
        security_token: security_token.cloned(),
        is_aws,
        requester_pays,
        connect_timeout: config.connect_timeout,
        operation_timeout: config.operation_timeout,
    })))
}

/// Builds the source and destination connectors of a task.
pub(crate) fn connect(
    config: &WorkerConfig,
    spec: &MigrationSpec,
    credentials: &CredentialSet,
) -> Result<Sides, TaskFailure> {
    let cloud = spec.source.cloud_type;
    if !cloud.is_s3_compatible() {
        return Err(TaskFailure::new(
            "TRF.0001",
            format!("{cloud} sources are not supported by this version of the engine yet"),
        ));
    }
    let src = &credentials.source;
    let (Some(ak), Some(sk)) = (src.ak.as_ref(), src.sk.as_ref()) else {
        return Err(TaskFailure::new(
            "TRF.0151",
            "no source AK/SK were supplied",
        ));
    };
    let source = s3(
        config,
        cloud.as_str(),
        &spec.source.region,
        secrecy::ExposeSecret::expose_secret(ak),
        sk,
        src.security_token.as_ref(),
        spec.enable_requester_pays,
    )?;
    let dst = &credentials.destination;
    let destination = s3(
        config,
        DESTINATION_CLOUD,
        &spec.destination.region,
        secrecy::ExposeSecret::expose_secret(&dst.ak),
        &dst.sk,
        dst.security_token.as_ref(),
        false,
    )?;
    let same_store = source.identity() == destination.identity() && !spec.enable_requester_pays;
    Ok(Sides {
        source,
        destination,
        source_bucket: source_bucket_name(spec),
        same_store,
    })
}
