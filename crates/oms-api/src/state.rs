//! What every handler shares.

use std::sync::Arc;

use oms_db::Db;

use crate::auth::Authenticator;
use crate::cache::ReadCache;

/// Limits on requests, from the `[server]` configuration.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// The largest request body accepted (the Huawei API gateway allows 12 MB signed bodies).
    pub max_body_bytes: usize,
    /// The most tasks one project may have waiting for a worker: a create beyond it is refused
    /// (0: no limit).
    pub max_waiting_tasks_per_project: i64,
    /// Refuse a body with a field the API does not have (OMS ignores them; so does omsd by
    /// default, saying so in the answer's `warnings`).
    pub reject_unknown_fields: bool,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 12 * 1024 * 1024,
            max_waiting_tasks_per_project: 1500,
            reject_unknown_fields: false,
        }
    }
}

/// The state of the API: the database, the authenticator and the limits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database every handler reads and writes (its pool is shared by clones).
    pub db: Db,
    /// Checks tokens and signatures.
    pub auth: Arc<Authenticator>,
    /// Request limits (`[server]` of the configuration).
    pub limits: ApiLimits,
    /// How to reach stores, to check the keys a start supplies (`None`: no check).
    pub stores: Option<Arc<StoreCheck>>,
    /// Answers of project GETs kept for reuse (`None`: every GET reads the database).
    pub read_cache: Option<Arc<ReadCache>>,
}

/// How the keys of a start, resume or retry are checked against the stores.
#[derive(Debug, Clone)]
pub struct StoreCheck {
    /// Endpoints and timeouts.
    pub connect: oms_storage::connect::ConnectSettings,
    /// How long each side may take to answer.
    pub timeout: std::time::Duration,
    /// How long a bucket helper's whole call to a store may take (`[catalogue] timeout_secs`).
    pub helper_timeout: std::time::Duration,
    /// The largest list file `CheckUrlSourceListFileFormat` reads
    /// (`[catalogue] max_list_file_bytes`).
    pub max_list_file_bytes: u64,
}
