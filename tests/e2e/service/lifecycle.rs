//! The `omsd` program's lifecycle as an operator drives it: `omsd migrate` before a start, and
//! SIGTERM / SIGINT while tasks run (a first signal hands the running task back at once, a
//! second one exits without waiting, and the task resumes where it stopped either way).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection as _, Row as _};

use super::program::{Daemon, database_env, mode, omsd};
use crate::engine::{DST_BUCKET, MIB, SRC_BUCKET, random_bytes};
use crate::support::harness::{eventually, on_postgres};
use crate::support::s3::S3Server;

/// How many migrations the repository holds for the database the suite runs on.
fn migrations_in_the_repository() -> i64 {
    let backend = if on_postgres() { "postgres" } else { "sqlite" };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let files = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    i64::try_from(files).unwrap()
}

/// The migrations a database has applied.
async fn applied_migrations(url: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    let row = sqlx::query("select count(*) as n from _sqlx_migrations where success")
        .fetch_one(&mut db)
        .await
        .unwrap();
    row.try_get("n").unwrap()
}

#[tokio::test]
async fn omsd_migrate_applies_every_migration_once_and_omsd_starts_on_the_result() {
    let home = tempfile::tempdir().unwrap();
    let database = database_env(home.path()).await;
    let env: Vec<(&str, &str)> = database.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = database.first().map_or_else(
        || format!("sqlite://{}/data/oms.db", home.path().display()),
        |(_, url)| url.clone(),
    );

    let out = omsd(home.path(), &["migrate"], &env);
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("migrations applied"), "{log}");
    assert_eq!(
        applied_migrations(&url).await,
        migrations_in_the_repository()
    );
    // The master key it needs is made private; so is an embedded database.
    assert_eq!(mode(&home.path().join("data")), 0o700);
    assert_eq!(mode(&home.path().join("data/master.key")), 0o600);
    if !on_postgres() {
        assert_eq!(mode(&home.path().join("data/oms.db")), 0o600);
    }

    // Again: nothing left to apply.
    let again = omsd(home.path(), &["migrate"], &env);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(
        applied_migrations(&url).await,
        migrations_in_the_repository()
    );

    // omsd serves from the migrated database.
    let mut with_listen = env.clone();
    with_listen.push(("OMS__SERVER__LISTEN", "127.0.0.1:0"));
    let daemon = Daemon::start(home.path(), &["api"], &with_listen);
    let ready = reqwest::get(format!("{}/readyz", daemon.base_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// An omsd of the test's: its folder, its database and its token.
struct Install {
    home: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    token: String,
    project: String,
}

impl Install {
    async fn new(src: &S3Server, dst: &S3Server) -> Self {
        let home = tempfile::tempdir().unwrap();
        let endpoints = format!(
            "[{{cloud_type = \"AWS\", region = \"sig-src\", url = \"{}\"}}, {{cloud_type = \"HEC\", region = \"sig-dst\", url = \"{}\"}}]",
            src.url, dst.url
        );
        let mut env = database_env(home.path()).await;
        env.extend([
            ("OMS__SERVER__LISTEN", "127.0.0.1:0".to_owned()),
            ("OMS__ENDPOINTS", endpoints),
            ("OMS__WORKER__PART_SIZE_BYTES", "5242880".to_owned()),
            (
                "OMS__WORKER__MULTIPART_THRESHOLD_BYTES",
                "8388608".to_owned(),
            ),
            ("OMS__WORKER__POLL_INTERVAL_MS", "200".to_owned()),
            ("OMS__WORKER__LEASE_MS", "3000".to_owned()),
            ("OMS__WORKER__HEARTBEAT_MS", "500".to_owned()),
        ]);
        // The first start's project and key, written beforehand (as a first start would).
        let project = "5160e5c6a1f04b2c9d7e8f0a1b2c3d4e";
        std::fs::create_dir(home.path().join("data")).unwrap();
        std::fs::write(
            home.path().join("data/bootstrap.toml"),
            format!("project_id = \"{project}\"\naccess_key = \"AKSIGNALS\"\nsecret_key = \"SKSIGNALS\"\n"),
        )
        .unwrap();
        Self {
            home,
            env,
            token: String::new(),
            project: project.to_owned(),
        }
    }

    /// A token for the project, once a start has made the master key.
    fn sign_in(&mut self) {
        let out = omsd(self.home.path(), &["token"], &self.env_refs(&[]));
        assert!(out.status.success(), "{out:?}");
        self.token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    }

    fn env_refs<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        self.env
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(extra.iter().copied())
            .collect()
    }

    /// omsd (API and worker) with `extra` settings.
    fn start(&self, extra: &[(&str, &str)]) -> Daemon {
        Daemon::start(self.home.path(), &[], &self.env_refs(extra))
    }

    async fn call(
        &self,
        daemon: &Daemon,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = reqwest::Client::new()
            .request(
                method,
                format!("{}/v2/{}/{path}", daemon.base_url(), self.project),
            )
            .header("x-auth-token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status();
        let value: Value = reply.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }
}

#[tokio::test]
async fn sigterm_hands_a_running_task_back_and_a_second_sigint_exits_at_once() {
    let src = S3Server::start("src").await;
    let dst = S3Server::start("dst").await;
    src.create_bucket(SRC_BUCKET).await;
    dst.create_bucket(DST_BUCKET).await;
    // Two parts of 5 MiB: the first to arrive is stored, the other hangs until the test lets
    // it go.
    src.put(SRC_BUCKET, "sig/big.bin", random_bytes(10 * MIB), None, &[])
        .await;
    dst.faults.hold_parts_after.store(1, Ordering::SeqCst);
    let mut install = Install::new(&src, &dst).await;

    // SIGTERM while the task is mid-object, with a grace of 1 s for its transfers.
    let mut first = install.start(&[("OMS__WORKER__SHUTDOWN_GRACE_SECS", "1")]);
    install.sign_in();
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "sig-src", "ak": src.ak, "sk": src.sk,
                     "bucket": SRC_BUCKET, "object_key": ["sig/"]},
        "dst_node": {"ak": dst.ak, "sk": dst.sk, "region": "sig-dst", "bucket": DST_BUCKET},
    });
    let created = install
        .call(&first, reqwest::Method::POST, "tasks", Some(body))
        .await;
    let task = format!("tasks/{}", created["id"].as_i64().unwrap());
    let part_done = eventually(Duration::from_secs(60), async || {
        let shown = install
            .call(&first, reqwest::Method::GET, &task, None)
            .await;
        shown["status"] == 2 && shown["complete_size"].as_u64() >= Some(5 * 1024 * 1024)
    })
    .await;
    assert!(part_done, "the first part was never done");
    first.signal("TERM");
    let status = first.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{}", first.stderr());
    let log = first.stderr();
    for line in [
        "signal received: shutting down gracefully",
        "waiting up to 1s for 1 running tasks",
        "omsd stopped",
    ] {
        assert!(log.contains(line), "no {line:?} in:\n{log}");
    }

    // Handed back: waiting again at once (no lease to lapse), as an omsd without a worker shows.
    let api_only = install.start(&[("OMS__WORKER__ENABLED", "false")]);
    let shown = install
        .call(&api_only, reqwest::Method::GET, &task, None)
        .await;
    assert_eq!(shown["status"], 1, "{shown:#}");
    drop(api_only);

    // It runs again; SIGINT, and while omsd waits (its grace is 10 minutes), SIGINT again.
    let parts_before = dst.calls.count("upload_part", "sig/big.bin");
    let mut second = install.start(&[("OMS__WORKER__SHUTDOWN_GRACE_SECS", "600")]);
    let resumed = eventually(Duration::from_secs(60), async || {
        dst.calls.count("upload_part", "sig/big.bin") > parts_before
    })
    .await;
    assert!(resumed, "the task did not run again");
    second.signal("INT");
    let waiting = eventually(Duration::from_secs(60), async || {
        second
            .stderr()
            .contains("waiting up to 600s for 1 running tasks")
    })
    .await;
    assert!(waiting, "{}", second.stderr());
    second.signal("INT");
    let status = second.wait_exit().await;
    assert_eq!(status.code(), Some(130), "{}", second.stderr());
    assert!(
        second.stderr().contains("second signal: exiting now"),
        "{}",
        second.stderr()
    );

    // Its lease was not handed back: the next omsd resumes it once the lease lapses, and the
    // object arrives whole, from the one upload the first omsd began.
    dst.faults.hold_parts_after.store(0, Ordering::SeqCst);
    let third = install.start(&[]);
    let done = eventually(Duration::from_secs(60), async || {
        install
            .call(&third, reqwest::Method::GET, &task, None)
            .await["status"]
            == 5
    })
    .await;
    assert!(
        done,
        "{}",
        install
            .call(&third, reqwest::Method::GET, &task, None)
            .await
    );
    assert_eq!(
        dst.md5s(DST_BUCKET, "sig/").await,
        src.md5s(SRC_BUCKET, "sig/").await
    );
    let logs = [first.stderr(), second.stderr(), third.stderr()];
    let uploads: Vec<&str> = logs
        .iter()
        .flat_map(|log| log.lines())
        .filter(|l| l.contains("upload") || l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert_eq!(
        dst.calls.count("create_multipart_upload", "sig/big.bin"),
        1,
        "{uploads:#?}"
    );
}
