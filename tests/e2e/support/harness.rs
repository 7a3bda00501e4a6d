//! The test harness: omsd in-process on 127.0.0.1:0 over a fresh database (SQLite in a temp
//! folder, or a new PostgreSQL database when `OMS_TEST_DATABASE_URL` names a server), with two
//! projects, each with a password user and an access key, and HTTP clients that authenticate the
//! way real clients do.
//!
//! No test reaches a public endpoint: every region of every cloud that a test does not point
//! somewhere itself leads to [`CLOSED_PORT`] on this machine ([`closed_endpoints`]), so a
//! fixture's `us-east-1` or `cn-north-4` is refused at once instead of reaching AWS or OBS.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use oms_api::auth::signature;
use oms_api::auth::token::TokenIssuer;
use oms_core::ids::ProjectId;
use oms_db::{Db, DbOptions, MasterKey, Sealer};
use oms_storage::catalogue::endpoints::EndpointRule;
use omsd::config::{AccessKeyConfig, Config, UserConfig};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A project with its user and access key.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Password user.
    pub user: String,
    /// Access key.
    pub ak: String,
    /// Secret key.
    pub sk: String,
}

/// Settings a test may change.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `server.max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// `retention.waiting_expiry_secs`.
    pub waiting_expiry_secs: Option<u64>,
    /// `retention.sweep_interval_secs`.
    pub sweep_interval_secs: Option<u64>,
    /// Run the in-process worker (off: the API tests look at tasks that wait).
    pub worker: bool,
    /// `[[endpoints]]` (every cloud and region they do not cover leads to [`CLOSED_PORT`]).
    pub endpoints: Vec<EndpointRule>,
    /// `worker.group_task_max_objects`.
    pub group_task_max_objects: Option<i64>,
    /// `worker.group_task_max_bytes`.
    pub group_task_max_bytes: Option<i64>,
    /// `server.request_timeout_secs`.
    pub request_timeout_secs: Option<u64>,
    /// `security.allow_private_networks` (URL sources and CDNs on 127.0.0.1).
    pub allow_private_networks: bool,
    /// `worker.max_tasks`.
    pub max_tasks: Option<usize>,
    /// `server.read_cache_ms` (default here: an hour, see [`TestServer::config`]).
    pub read_cache_ms: Option<u64>,
    /// `worker.list_page_size`.
    pub list_page_size: Option<i32>,
    /// `worker.list_lanes`.
    pub list_lanes: Option<usize>,
    /// `worker.manifest_part_objects`.
    pub manifest_part_objects: Option<usize>,
    /// `worker.object_concurrency` (default here: 16).
    pub object_concurrency: Option<usize>,
    /// `worker.restore_days`.
    pub restore_days: Option<i32>,
    /// `catalogue.timeout_secs`.
    pub catalogue_timeout_secs: Option<u64>,
    /// `catalogue.max_list_file_bytes`.
    pub max_list_file_bytes: Option<u64>,
    /// The password hash of project A's user (default: the hash of [`PASSWORD`]).
    pub user_a_password_hash: Option<String>,
    /// `server.reject_unknown_fields`.
    pub reject_unknown_fields: bool,
}

/// A running omsd.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Project A.
    pub a: Project,
    /// Project B.
    pub b: Project,
    /// The database URL.
    pub db_url: String,
    dir: tempfile::TempDir,
    overrides: Overrides,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    http: reqwest::Client,
}

fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| oms_api::password::hash(&SecretString::from(PASSWORD.to_owned())).unwrap())
        .clone()
}

fn project(tag: &str) -> Project {
    let id = ProjectId::random().to_string();
    Project {
        user: format!("user-{tag}"),
        ak: format!("AK{}", &id[..18].to_ascii_uppercase()),
        sk: format!("SK-{tag}-{}", uuid::Uuid::new_v4().simple()),
        id,
    }
}

/// Whether the suite runs on PostgreSQL.
pub use oms_db::testing::on_postgres;

/// An address where nothing listens (the discard port): a connection to it is refused at once.
pub const CLOSED_PORT: &str = "http://127.0.0.1:9";

/// `rules`, then a rule sending every region of the public catalogue (every S3-compatible
/// cloud, and `HEC`) that `rules` do not cover to [`CLOSED_PORT`]. Regions stay known exactly
/// as they were (a rule for each catalogue region adds none), and a test's own rules, exact or
/// `*`, still win.
pub fn closed_endpoints(rules: &[EndpointRule]) -> Vec<EndpointRule> {
    let covered = |cloud: &str, region: &str| {
        rules.iter().any(|r| {
            r.cloud_type.eq_ignore_ascii_case(cloud) && (r.region == region || r.region == "*")
        })
    };
    let closed = oms_storage::catalogue::regions::catalogue().flat_map(|(cloud, regions)| {
        regions
            .iter()
            .filter(move |r| !covered(cloud, r.value))
            .map(move |r| EndpointRule {
                cloud_type: cloud.to_owned(),
                region: r.value.to_owned(),
                url: CLOSED_PORT.to_owned(),
                path_style: true,
                time_zone: None,
            })
    });
    rules.iter().cloned().chain(closed).collect()
}

impl TestServer {
    /// Starts omsd with the default settings.
    pub async fn start() -> Self {
        Self::start_with(Overrides::default()).await
    }

    /// Starts omsd with some settings changed.
    pub async fn start_with(overrides: Overrides) -> Self {
        init_logs();
        let dir = tempfile::tempdir().unwrap();
        let db_url = oms_db::testing::fresh_database_url(&dir.path().join("data"), "oms_e2e").await;
        let mut server = Self {
            base: String::new(),
            host: String::new(),
            a: project("a"),
            b: project("b"),
            db_url,
            dir,
            overrides,
            shutdown: CancellationToken::new(),
            handle: None,
            http: reqwest::Client::new(),
        };
        server.spawn().await;
        server
    }

    /// The configuration omsd runs with.
    pub fn config(&self) -> Config {
        let mut c = omsd::config::load(None, Vec::new()).unwrap();
        let data = self.dir.path().join("data");
        c.server.listen = "127.0.0.1:0".parse().unwrap();
        c.server.shutdown_timeout_secs = 5;
        // Answers stay cached until something is written in this process, however long that
        // takes: every test that watches a change through a GET also checks that the change
        // retired the cached answer (the only writers are this process's API and workers).
        c.server.read_cache_ms = self.overrides.read_cache_ms.unwrap_or(3_600_000);
        c.database.url = self.db_url.clone();
        c.database.max_connections = 8;
        c.security.master_key_file = data.join("master.key");
        c.auth.bootstrap_file = data.join("bootstrap.toml");
        c.auth.users = [&self.a, &self.b]
            .iter()
            .map(|p| UserConfig {
                name: p.user.clone(),
                password_hash: match &self.overrides.user_a_password_hash {
                    Some(hash) if p.id == self.a.id => hash.clone(),
                    _ => password_hash(),
                },
                project_id: p.id.clone(),
            })
            .collect();
        c.auth.access_keys = [&self.a, &self.b]
            .iter()
            .map(|p| AccessKeyConfig {
                access_key: p.ak.clone(),
                secret_key: SecretString::from(p.sk.clone()),
                project_id: p.id.clone(),
            })
            .collect();
        if let Some(v) = self.overrides.max_body_bytes {
            c.server.max_body_bytes = v;
        }
        if let Some(v) = self.overrides.waiting_expiry_secs {
            c.retention.waiting_expiry_secs = v;
        }
        if let Some(v) = self.overrides.sweep_interval_secs {
            c.retention.sweep_interval_secs = v;
        }
        c.worker.enabled = self.overrides.worker;
        c.security.allow_private_networks = self.overrides.allow_private_networks;
        c.endpoints = closed_endpoints(&self.overrides.endpoints);
        // Small parts and quick heartbeats, so that the engine tests exercise multipart
        // uploads, stops and lease expiry in seconds.
        c.worker.part_size_bytes = 5 * 1024 * 1024;
        c.worker.multipart_threshold_bytes = 8 * 1024 * 1024;
        c.worker.object_concurrency = self.overrides.object_concurrency.unwrap_or(16);
        c.worker.part_concurrency = 2;
        // Long enough that a heartbeat starved by the whole suite on 2 cores (every test runs
        // omsd, its worker and its S3 servers on one current-thread runtime) does not lose it.
        c.worker.lease_ms = 10_000;
        c.worker.heartbeat_ms = 200;
        c.worker.poll_interval_ms = 100;
        c.worker.flush_interval_ms = 200;
        c.worker.retry_base_delay_ms = 20;
        c.worker.retry_max_delay_ms = 200;
        c.worker.throttle_base_delay_ms = 50;
        c.worker.throttle_max_delay_ms = 1000;
        c.worker.throttle_patience_secs = 120;
        c.worker.shutdown_grace_secs = 2;
        c.worker.operation_timeout_secs = 30;
        if let Some(v) = self.overrides.group_task_max_objects {
            c.worker.group_task_max_objects = v;
        }
        if let Some(v) = self.overrides.group_task_max_bytes {
            c.worker.group_task_max_bytes = v;
        }
        if let Some(v) = self.overrides.request_timeout_secs {
            c.server.request_timeout_secs = v;
        }
        if let Some(v) = self.overrides.max_tasks {
            c.worker.max_tasks = v;
        }
        if let Some(v) = self.overrides.restore_days {
            c.worker.restore_days = v;
        }
        if let Some(v) = self.overrides.manifest_part_objects {
            c.worker.manifest_part_objects = v;
        }
        if let Some(v) = self.overrides.list_lanes {
            c.worker.list_lanes = v;
        }
        if let Some(v) = self.overrides.list_page_size {
            c.worker.list_page_size = v;
        }
        if let Some(v) = self.overrides.catalogue_timeout_secs {
            c.catalogue.timeout_secs = v;
        }
        if let Some(v) = self.overrides.max_list_file_bytes {
            c.catalogue.max_list_file_bytes = v;
        }
        c.server.reject_unknown_fields = self.overrides.reject_unknown_fields;
        c
    }

    async fn spawn(&mut self) {
        let app = omsd::App::build(&self.config(), omsd::Role::All)
            .await
            .expect("omsd starts");
        let addr = app.local_addr().unwrap();
        self.host = addr.to_string();
        self.base = format!("http://{addr}");
        self.shutdown = CancellationToken::new();
        self.handle = Some(tokio::spawn(app.run(self.shutdown.clone())));
    }

    /// Stops omsd gracefully and waits for it.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }

    /// Stops omsd and starts it again on the same database and data folder.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Starts omsd again after [`Self::stop`], on the same database and data folder.
    pub async fn start_again(&mut self) {
        self.spawn().await;
    }

    /// Stops omsd and starts it again with `overrides` (same database and data folder).
    pub async fn restart_with(&mut self, overrides: Overrides) {
        self.stop().await;
        self.overrides = overrides;
        self.spawn().await;
    }

    fn master_key(&self) -> MasterKey {
        MasterKey::load_or_create(&self.dir.path().join("data/master.key"))
            .unwrap()
            .0
    }

    /// A direct connection to omsd's database (to check what it stores).
    pub async fn db(&self) -> Db {
        Db::connect(
            &self.db_url,
            &DbOptions {
                max_connections: 2,
                ..DbOptions::default()
            },
            Sealer::new(&self.master_key()).unwrap(),
        )
        .await
        .unwrap()
    }

    /// A token for `project`'s user, issued at `issued_at` with omsd's key.
    pub fn token_at(&self, project: &Project, issued_at: SystemTime) -> String {
        let issuer = TokenIssuer::new(
            &omsd::token_signing_key(&self.master_key()),
            Duration::from_secs(3600),
        );
        issuer
            .issue_at(
                &project.user,
                &ProjectId::parse(&project.id).unwrap(),
                Some(&oms_api::auth::token::password_stamp(&password_hash())),
                issued_at,
            )
            .unwrap()
            .token
    }

    /// A client using a token of `project`.
    pub fn token_client(&self, project: &Project) -> Api<'_> {
        Api {
            server: self,
            auth: Auth::Token(self.token_at(project, SystemTime::now())),
        }
    }

    /// A client signing with `project`'s access key.
    pub fn signed_client(&self, project: &Project) -> Api<'_> {
        Api {
            server: self,
            auth: Auth::Signed {
                ak: project.ak.clone(),
                sk: project.sk.clone(),
                project: project.id.clone(),
            },
        }
    }

    /// A client with the given authentication.
    pub fn client(&self, auth: Auth) -> Api<'_> {
        Api { server: self, auth }
    }

    /// A worker of this install's database, configured as omsd's own.
    pub async fn worker(&self) -> oms_worker::Worker {
        oms_worker::Worker::new(self.db().await, omsd::worker_config(&self.config()))
    }

    /// The data folder (SQLite files, key files).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Creates a task in project A; returns its id.
    pub async fn create_task(&self, body: &Value) -> i64 {
        let api = self.signed_client(&self.a);
        api.post(&format!("/v2/{}/tasks", self.a.id), Some(body))
            .await
            .ok()["id"]
            .as_i64()
            .unwrap()
    }

    /// Waits until task `id` of project A has ended: completed, failed or paused (panics with
    /// the task after `timeout`).
    pub async fn wait_task_end(&self, id: i64, timeout: Duration) -> Value {
        let api = self.signed_client(&self.a);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = api
                .get(&format!("/v2/{}/tasks/{id}", self.a.id))
                .await
                .ok()
                .clone();
            if matches!(task["status"].as_i64(), Some(3..=5)) {
                return task;
            }
            assert!(tokio::time::Instant::now() < deadline, "{task:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// How a client authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Not at all.
    None,
    /// `X-Auth-Token`.
    Token(String),
    /// `SDK-HMAC-SHA256`.
    Signed {
        /// AK.
        ak: String,
        /// SK.
        sk: String,
        /// Sent as `X-Project-Id`.
        project: String,
    },
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when not JSON).
    pub body: Value,
    /// The raw body.
    pub text: String,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The OMS error code, or "".
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or_default()
    }

    /// The error message, or "".
    pub fn msg(&self) -> &str {
        self.body["error_msg"].as_str().unwrap_or_default()
    }

    /// Asserts a 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {}: {}",
            self.status, self.text
        );
        &self.body
    }

    /// Asserts an error status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected reply: {}",
            self.text
        );
    }
}

/// A client of one omsd.
pub struct Api<'a> {
    server: &'a TestServer,
    auth: Auth,
}

impl Api<'_> {
    /// Sends `body` as JSON (`application/json;charset=UTF-8`, as the SDKs do).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let content_type = body.map(|_| "application/json;charset=UTF-8");
        self.raw(method, path, content_type, bytes).await
    }

    /// Sends raw bytes with any content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let url = format!("{}{path}", self.server.base);
        let mut req = self.server.http.request(method.clone(), &url);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        match &self.auth {
            Auth::None => {}
            Auth::Token(t) => req = req.header("x-auth-token", t),
            Auth::Signed { ak, sk, project } => {
                let date = sdk_date(SystemTime::now());
                let (raw_path, query) = path
                    .split_once('?')
                    .map_or((path, None), |(p, q)| (p, Some(q)));
                let mut headers = vec![
                    ("host", self.server.host.as_str()),
                    ("x-project-id", project.as_str()),
                    ("x-sdk-date", date.as_str()),
                ];
                if let Some(ct) = content_type {
                    headers.push(("content-type", ct));
                }
                let auth = signature::sign(
                    ak,
                    sk.as_bytes(),
                    method.as_str(),
                    raw_path,
                    query,
                    &headers,
                    &body,
                );
                req = req
                    .header("x-project-id", project)
                    .header("x-sdk-date", &date)
                    .header("authorization", auth);
            }
        }
        let resp = req.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            headers,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    /// POST with a JSON body (or none).
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Reply {
        self.call(Method::POST, path, body).await
    }

    /// PUT with a JSON body (or none).
    pub async fn put(&self, path: &str, body: Option<&Value>) -> Reply {
        self.call(Method::PUT, path, body).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }
}

/// `X-Sdk-Date` for `t`.
pub fn sdk_date(t: SystemTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from(t).format(format).unwrap()
}

/// Everything every test's omsd logged (tracing at debug and above), to search for secrets.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(Default::default)
}

#[derive(Clone)]
struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs().lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures all logs (quiet unless `TEST_LOG` is set).
fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,hyper=info,h2=info",
            ))
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
    });
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
