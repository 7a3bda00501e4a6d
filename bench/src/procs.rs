//! The processes a benchmark drives: two s3s-fs servers, omsd, rclone, wrk; and their memory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oms_storage::WriteStore;
use oms_storage::catalogue::endpoints::Endpoint;
use oms_storage::s3::{S3Connector, S3Settings};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::workloads::{MIB, MULTIPART_THRESHOLD, PART_CONCURRENCY, PART_SIZE};

pub(crate) const SRC_AK: &str = "BENCHSRCAK";
pub(crate) const SRC_SK: &str = "BENCHSRCSK";
pub(crate) const DST_AK: &str = "BENCHDSTAK";
pub(crate) const DST_SK: &str = "BENCHDSTSK";
pub(crate) const SRC_BUCKET: &str = "bench";
pub(crate) const DST_BUCKET: &str = "dest";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing listens on port {port}")
}

/// The peak resident memory of a running process, in KiB (`VmHWM`).
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) a running process has used so far.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A client of the S3 server at `url` (the engine's own S3 connector).
pub(crate) fn connector(url: &str, ak: &str, sk: &str) -> anyhow::Result<Arc<dyn WriteStore>> {
    Ok(Arc::new(S3Connector::new(&S3Settings {
        endpoint: Endpoint {
            url: url.to_owned(),
            path_style: true,
            guessed: false,
        },
        region: "us-east-1".into(),
        access_key: ak.into(),
        secret_key: SecretString::from(sk.to_owned()),
        security_token: None,
        is_aws: false,
        requester_pays: false,
        connect_timeout: Duration::from_secs(10),
        operation_timeout: Duration::from_secs(300),
    })?))
}

/// A child process killed when dropped.
pub(crate) struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An s3s-fs server over a directory (a bucket is a folder).
pub(crate) struct S3 {
    pub url: String,
    pub root: PathBuf,
    proc: Proc,
}

impl S3 {
    pub(crate) async fn start(
        bin: &Path,
        root: PathBuf,
        ak: &str,
        sk: &str,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let port = free_port()?;
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ak, "--secret-key", sk])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let proc = Proc(child);
        wait_port(port).await?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            root,
            proc,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    /// A client of this server (the engine's own S3 connector).
    pub(crate) fn connector(&self, ak: &str, sk: &str) -> anyhow::Result<Arc<dyn WriteStore>> {
        connector(&self.url, ak, sk)
    }

    /// Empties a bucket (removes and recreates its folder), and lets the disk settle: the
    /// previous run's writes are flushed now rather than during the next timed run.
    pub(crate) fn empty(&self, bucket: &str) -> anyhow::Result<()> {
        let dir = self.root.join(bucket);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let _ = Command::new("sync").status();
        Ok(())
    }
}

/// A running omsd with one project and an access key.
pub(crate) struct Oms {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    pub proc: Proc,
    /// The binary and folder it runs from, for workers beside it (see [`Oms::start_worker`]).
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// `all` or `api`.
    command: String,
}

/// Starts `omsd --config oms.toml {command}` in `dir`, its output to `log` there.
fn spawn_omsd(bin: &Path, dir: &Path, command: &str, log: &str) -> anyhow::Result<Proc> {
    let log = std::fs::File::create(dir.join(log))?;
    let child = Command::new(bin)
        .args(["--config", "oms.toml", command])
        .current_dir(dir)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok(Proc(child))
}

/// Waits until omsd on `port` answers `/readyz`: the port takes connections from the start,
/// the install (its master key) exists once it answers.
async fn wait_ready(http: &reqwest::Client, port: u16) -> anyhow::Result<()> {
    wait_port(port).await?;
    for _ in 0..600 {
        let answer = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("omsd did not become ready on port {port}")
}

/// What omsd is started with.
pub(crate) struct OmsSetup<'a> {
    pub bin: &'a Path,
    pub dir: PathBuf,
    /// Where the source and destination servers are (the servers, or proxies in front).
    pub src_url: &'a str,
    pub dst_url: &'a str,
    pub concurrency: usize,
    /// `server.read_cache_ms` (`None`: omsd's default).
    pub read_cache_ms: Option<u64>,
    /// `database.url` (`None`: SQLite in the folder).
    pub database_url: Option<&'a str>,
    /// Lines added to `[worker]`.
    pub worker: &'a str,
    /// The command: `all` (API and engine in one process) or `api` (workers started apart).
    pub command: &'a str,
}

impl Oms {
    pub(crate) async fn start(setup: &OmsSetup<'_>) -> anyhow::Result<Self> {
        let dir = &setup.dir;
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let config = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
{read_cache}
{database}
[security]
allow_private_networks = true
[worker]
object_concurrency = {concurrency}
{worker}
[log]
level = "warn"
[[auth.access_keys]]
access_key = "BENCHAPIAK"
secret_key = "BENCHAPISK"
project_id = "{PROJECT}"
[[endpoints]]
cloud_type = "AWS"
region = "bench-src"
url = "{src}"
[[endpoints]]
cloud_type = "HEC"
region = "bench-dst"
url = "{dst}"
"#,
            concurrency = setup.concurrency,
            read_cache = setup
                .read_cache_ms
                .map(|ms| format!("read_cache_ms = {ms}"))
                .unwrap_or_default(),
            database = setup
                .database_url
                .map(|url| {
                    let url = url.replace('\\', "\\\\").replace('"', "\\\"");
                    format!("[database]\nurl = \"{url}\"")
                })
                .unwrap_or_default(),
            worker = setup.worker,
            src = setup.src_url,
            dst = setup.dst_url,
        );
        std::fs::write(dir.join("oms.toml"), config)?;
        let bin = std::fs::canonicalize(setup.bin)
            .with_context(|| format!("no omsd at {}", setup.bin.display()))?;
        let proc = spawn_omsd(&bin, dir, setup.command, "omsd.log")?;
        let http = reqwest::Client::new();
        wait_ready(&http, port).await?;
        let out = Command::new(&bin)
            .args(["--config", "oms.toml", "token", "--project-id", PROJECT])
            .current_dir(dir)
            .output()?;
        if !out.status.success() {
            bail!("omsd token: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(Self {
            base: format!("http://127.0.0.1:{port}/v2/{PROJECT}"),
            token: String::from_utf8(out.stdout)?.trim().to_owned(),
            http,
            proc,
            bin,
            dir: dir.clone(),
            port,
            command: setup.command.to_owned(),
        })
    }

    /// Kills omsd (SIGKILL: nothing is saved on the way out) and starts it again on the same
    /// configuration, database and port; its log goes on in `omsd-{n}.log`.
    pub(crate) async fn kill_and_restart(&mut self, n: usize) -> anyhow::Result<()> {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
        self.proc = spawn_omsd(
            &self.bin,
            &self.dir,
            &self.command,
            &format!("omsd-{n}.log"),
        )?;
        wait_ready(&self.http, self.port).await
    }

    /// Starts an `omsd worker` on this omsd's configuration (its log `worker-{n}.log`).
    pub(crate) fn start_worker(&self, n: usize) -> anyhow::Result<Proc> {
        let log = std::fs::File::create(self.dir.join(format!("worker-{n}.log")))?;
        let child = Command::new(&self.bin)
            .args(["--config", "oms.toml", "worker"])
            .current_dir(&self.dir)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Proc(child))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{path}: {status} {text}");
        }
        Ok(if text.is_empty() {
            json!({})
        } else {
            serde_json::from_str(&text)?
        })
    }

    pub(crate) async fn create_task(&self, body: &Value) -> anyhow::Result<i64> {
        let created = self
            .call(reqwest::Method::POST, "/tasks", Some(body))
            .await?;
        created["id"].as_i64().context("no task id")
    }

    pub(crate) async fn stop_task(&self, id: i64) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, &format!("/tasks/{id}/stop"), None)
            .await
            .map(|_| ())
    }

    /// Creates a task and waits for it to complete; returns the time from create to completed.
    pub(crate) async fn run_task(&self, body: &Value) -> anyhow::Result<(Duration, Value)> {
        let started = Instant::now();
        let id = self.create_task(body).await?;
        let task = self.wait_task(id).await?;
        Ok((started.elapsed(), task))
    }

    /// The task as the API shows it.
    pub(crate) async fn task(&self, id: i64) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, &format!("/tasks/{id}"), None)
            .await
    }

    /// Waits for a task to complete; fails if it fails, or takes more than an hour.
    pub(crate) async fn wait_task(&self, id: i64) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            if started.elapsed() > Duration::from_secs(3600) {
                bail!("task {id} did not complete in an hour");
            }
            let task = self.task(id).await?;
            match task["status"].as_i64() {
                Some(5) => return Ok(task),
                Some(4) => bail!("the task failed: {task}"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// A prefix task from the source bucket to the destination.
pub(crate) fn prefix_task(prefix: &str) -> Value {
    json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "bench-src", "ak": SRC_AK, "sk": SRC_SK,
                     "bucket": SRC_BUCKET, "object_key": [prefix]},
        "dst_node": {"ak": DST_AK, "sk": DST_SK, "region": "bench-dst", "bucket": DST_BUCKET},
    })
}

/// How rclone is run: at its own defaults, or tuned as OMS is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rclone {
    /// `--transfers`, `--checkers` and the multipart settings left to rclone.
    Defaults,
    /// `--transfers` this many, `--checkers` twice that, parts as OMS sends them.
    Like(usize),
    /// As `Like`, comparing the listed modification times (`--use-server-modtime`): no HEAD
    /// per object to read rclone's own time metadata, so a re-check is its two listings.
    ServerTimes(usize),
}

/// Runs `rclone copy` of `prefix` between the servers at `src` and `dst` (URLs); returns its
/// time and peak memory.
pub(crate) fn rclone_copy(
    bin: &Path,
    (src, dst): (&str, &str),
    prefix: &str,
    how: Rclone,
) -> anyhow::Result<(Duration, u64)> {
    let mut command = Command::new(bin);
    for (remote, url, ak, sk) in [("SRC", src, SRC_AK, SRC_SK), ("DST", dst, DST_AK, DST_SK)] {
        for (key, value) in [
            ("TYPE", "s3"),
            ("PROVIDER", "Other"),
            ("ENDPOINT", url),
            ("ACCESS_KEY_ID", ak),
            ("SECRET_ACCESS_KEY", sk),
            ("REGION", "us-east-1"),
            ("FORCE_PATH_STYLE", "true"),
        ] {
            command.env(format!("RCLONE_CONFIG_{remote}_{key}"), value);
        }
    }
    // These machines export AWS_CA_BUNDLE, which breaks rclone on http:// endpoints.
    command.env_remove("AWS_CA_BUNDLE");
    command
        .args(["copy", &format!("SRC:{SRC_BUCKET}/{prefix}")])
        .arg(format!("DST:{DST_BUCKET}/{prefix}"))
        .arg("--s3-no-check-bucket");
    if let Rclone::ServerTimes(_) = how {
        command.arg("--use-server-modtime");
    }
    if let Rclone::Like(concurrency) | Rclone::ServerTimes(concurrency) = how {
        // rclone's docs: checkers run the listings and comparisons beside the transfers; more
        // of them help with many small objects. The part settings match OMS's defaults.
        command
            .args(["--transfers", &concurrency.to_string()])
            .args(["--checkers", &(concurrency * 2).to_string()])
            .args(["--s3-chunk-size", &format!("{}M", PART_SIZE / MIB)])
            .args([
                "--s3-upload-cutoff",
                &format!("{}M", MULTIPART_THRESHOLD / MIB),
            ])
            .args(["--s3-upload-concurrency", &PART_CONCURRENCY.to_string()]);
    }
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let pid = child.id();
    let (mut peak, mut cpu) = (0, 0.0);
    let status = loop {
        peak = peak.max(peak_rss_kib(pid));
        // Read until it exits: its last 10 ms of CPU at most are missed.
        cpu = cpu_secs(pid).max(cpu);
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    eprintln!("    rclone used {cpu:.2} s of CPU");
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        bail!("rclone failed: {err}");
    }
    Ok((elapsed, peak))
}
