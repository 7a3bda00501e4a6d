//! `omsctl` as a person uses it: the program (built from its own `main.rs` into this package as
//! `omsctl-e2e`) against omsd in-process and two real S3 servers — create and watch to
//! completion, stop and resume a group with keys from the environment, a failed task and its
//! retry, JSON output parsed, the exit codes, profiles written by `login`, and a terminal (a
//! pseudo-terminal of `script`) showing the live bars and asking for keys without echo.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{DST_BUCKET, DST_REGION, Migration, SRC_BUCKET, SRC_REGION, random_bytes};
use crate::support::harness::{PASSWORD, eventually};

/// The program.
const OMSCTL: &str = env!("CARGO_BIN_EXE_omsctl-e2e");
/// How long a watched migration may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(120);
/// Two windows covering the whole day at 1 MiB/s (a single window must end before it starts
/// again, so `00:00-23:59` would leave the last minute unthrottled).
const SLOW: [&str; 4] = [
    "--bandwidth",
    "00:00-12:00=1M",
    "--bandwidth",
    "12:00-00:00=1M",
];

/// What a run of omsctl left.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// omsctl for project A of `m`'s omsd, signing with its access key (from the environment, as
/// a CI job would), with a profiles file of its own.
struct Ctl {
    env: Vec<(String, String)>,
    keys: Vec<(String, String)>,
    home: tempfile::TempDir,
}

impl Ctl {
    fn new(m: &Migration) -> Self {
        let home = tempfile::tempdir().unwrap();
        let oms = &m.oms;
        let env = vec![
            ("OMSCTL_ENDPOINT".into(), oms.base.clone()),
            ("OMSCTL_PROJECT_ID".into(), oms.a.id.clone()),
            ("OMSCTL_ACCESS_KEY".into(), oms.a.ak.clone()),
            ("OMSCTL_SECRET_KEY".into(), oms.a.sk.clone()),
            (
                "OMSCTL_CONFIG".into(),
                home.path().join("config.toml").display().to_string(),
            ),
        ];
        let keys = vec![
            ("OMSCTL_SRC_AK".into(), m.src.ak.clone()),
            ("OMSCTL_SRC_SK".into(), m.src.sk.clone()),
            ("OMSCTL_DST_AK".into(), m.dst.ak.clone()),
            ("OMSCTL_DST_SK".into(), m.dst.sk.clone()),
        ];
        Self { env, keys, home }
    }

    /// `program` with this omsctl's environment (and none of the caller's `OMSCTL_` variables).
    fn prepare(&self, mut program: Command, extra: &[(String, String)]) -> Command {
        for (key, _) in std::env::vars() {
            if key.starts_with("OMSCTL_") {
                program.env_remove(key);
            }
        }
        program.env("HOME", self.home.path());
        program.envs(self.env.iter().chain(extra).map(|(k, v)| (k, v)));
        program
    }

    fn command(&self, extra: &[(String, String)]) -> Command {
        self.prepare(Command::new(OMSCTL), extra)
    }

    /// Runs `omsctl args` with `extra` variables and `input` on standard input, off the
    /// runtime's thread (omsd runs on it).
    async fn run_with(&self, args: &[&str], extra: &[(String, String)], input: &str) -> Run {
        let mut command = self.command(extra);
        command.args(args);
        let input = input.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    /// Runs `omsctl args` (no store keys in its environment).
    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], "").await
    }

    /// Runs `omsctl args` with the stores' keys in its environment.
    async fn run_keyed(&self, args: &[&str]) -> Run {
        self.run_with(args, &self.keys, "").await
    }
}

/// The options of a migration of `prefix` between `m`'s buckets, after `verb`.
fn migration_args<'a>(verb: &'a [&'a str], prefix: &'a str) -> Vec<&'a str> {
    let mut args = verb.to_vec();
    args.extend([
        "--src-cloud",
        "AWS",
        "--src-region",
        SRC_REGION,
        "--src-bucket",
        SRC_BUCKET,
        "--prefix",
        prefix,
        "--dst-region",
        DST_REGION,
        "--dst-bucket",
        DST_BUCKET,
        "--interval",
        "0.2",
    ]);
    args
}

async fn put_objects(m: &Migration, prefix: &str, count: usize, size: usize) {
    let objects = (0..count)
        .map(|i| (format!("{prefix}obj-{i:03}.bin"), random_bytes(size)))
        .collect();
    m.src.put_many(SRC_BUCKET, objects).await;
}

/// Waits until the API shows `path` (of project A) in a status `accept`s.
async fn wait_status(m: &Migration, path: &str, accept: impl Fn(i64) -> bool) -> Value {
    let api = m.oms.signed_client(&m.oms.a);
    let path = format!("/v2/{}/{path}", m.oms.a.id);
    let seen = Arc::new(Mutex::new(Value::Null));
    let last = Arc::clone(&seen);
    let reached = eventually(PATIENCE, async || {
        let body = api.get(&path).await.body;
        let ok = body["status"].as_i64().is_some_and(&accept);
        *last.lock().unwrap() = body;
        ok
    })
    .await;
    let body = seen.lock().unwrap().clone();
    assert!(reached, "{path} never reached the status: {body:#}");
    body
}

#[tokio::test]
async fn omsctl_creates_a_task_and_watches_it_to_completion_with_json_output() {
    let m = Migration::start().await;
    put_objects(&m, "docs/", 8, 100_000).await;
    let ctl = Ctl::new(&m);

    // First a dry run: omsd lists and compares, omsctl waits and prints the plan, and nothing
    // reaches the destination.
    let plan = ctl
        .run_keyed(&migration_args(
            &["-o", "json", "task", "create", "--dry-run"],
            "docs/",
        ))
        .await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let planned = plan.json();
    assert_eq!(planned["dry_run"], true, "{planned:#}");
    assert_eq!(planned["plan"]["copy"]["num"], 8, "{planned:#}");
    assert_eq!(planned["plan"]["copy"]["size"], 800_000);
    assert_eq!(planned["plan"]["skip"]["num"], 0);
    assert!(!plan.stdout.contains(&m.src.sk) && !plan.stdout.contains(&m.dst.sk));
    assert!(
        m.dst.keys(DST_BUCKET, "").await.is_empty(),
        "a dry run writes nothing"
    );
    let planned_id = planned["id"].as_i64().unwrap().to_string();
    let shown = ctl.run(&["task", "plan", &planned_id]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.contains("nothing was written"), "{shown:?}");
    let copy_line = shown
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("copy"));
    assert!(
        copy_line.is_some_and(|l| l.contains(" 8 objects") && l.contains("docs/obj-000.bin")),
        "{shown:?}"
    );

    let args = migration_args(&["-o", "json", "task", "create", "--watch"], "docs/");
    let run = ctl.run_keyed(&args).await;

    assert_eq!(run.code, 0, "{run:?}");
    let task = run.json();
    assert_eq!(task["status"], 5, "{task:#}");
    assert_eq!(task["successful_num"], 8);
    assert_eq!(task["complete_size"], 800_000);
    m.assert_identical("docs/", "").await;
    let id = task["id"].as_i64().unwrap().to_string();
    let show = ctl.run(&["task", "show", &id]).await;
    assert_eq!(show.code, 0, "{show:?}");
    assert!(
        show.stdout
            .contains("8 total, 8 copied, 0 skipped, 0 failed"),
        "{show:?}"
    );
    let list = ctl
        .run(&["-o", "json", "task", "list", "--status", "5"])
        .await;
    assert_eq!(list.json()["count"], 2, "the dry run and the run: {list:?}");
    // A task that is not a dry run has no plan: a usage error.
    let no_plan = ctl.run(&["task", "plan", &id]).await;
    assert_eq!(no_plan.code, 2, "{no_plan:?}");
    // The verification manifest names each copied object with the MD5 that proved it.
    let manifest = ctl.run(&["-o", "json", "task", "manifest", &id]).await;
    assert_eq!(manifest.code, 0, "{manifest:?}");
    let manifest = manifest.json();
    assert_eq!(manifest["count"], 8, "{manifest:#}");
    let md5s = m.dst.md5s(DST_BUCKET, "docs/").await;
    for object in manifest["objects"].as_array().unwrap() {
        let key = object["key"].as_str().unwrap();
        assert_eq!(object["checksum"], "md5", "{object}");
        assert_eq!(object["checksum_value"], md5s[key].as_str(), "{object}");
    }
    let table = ctl.run(&["task", "manifest", &id, "--limit", "3"]).await;
    assert!(table.stdout.contains("3 of 8 objects"), "{table:?}");
}

#[tokio::test]
async fn omsctl_stops_and_resumes_a_group_with_keys_from_the_environment() {
    let m = Migration::start().await;
    put_objects(&m, "big/", 12, 256 * 1024).await;
    let ctl = Ctl::new(&m);
    let mut args = migration_args(&["-o", "json", "group", "create"], "big/");
    args.extend(SLOW);
    let created = ctl.run_keyed(&args).await;
    assert_eq!(created.code, 0, "{created:?}");
    let group = created.json()["group_id"].as_str().unwrap().to_owned();
    wait_status(&m, &format!("taskgroups/{group}"), |s| s == 2).await;

    let stop = ctl.run(&["group", "stop", &group]).await;
    assert_eq!(stop.code, 0, "{stop:?}");
    assert!(stop.stdout.contains("is pausing"), "{stop:?}");
    // Watching a group that pauses ends with 1 and the group as omsd shows it.
    let watched = ctl.run(&["-o", "json", "group", "watch", &group]).await;
    assert_eq!(watched.code, 1, "{watched:?}");
    assert_eq!(watched.json()["status"], 3);
    assert!(watched.json()["success_num"].as_i64().unwrap() < 12);

    // Keys are never options: without them in the environment (and no terminal), a usage error
    // naming the variables; with a wrong one, omsd's refusal.
    let keyless = ctl.run(&["group", "start", &group]).await;
    assert_eq!(keyless.code, 2, "{keyless:?}");
    assert!(keyless.stderr.contains("OMSCTL_SRC_SK"), "{keyless:?}");
    let mut wrong = ctl.keys.clone();
    wrong[3].1 = "not-the-key".into();
    let refused = ctl.run_with(&["group", "start", &group], &wrong, "").await;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.starts_with("omsctl: OMS.0064: "),
        "{refused:?}"
    );

    let resumed = ctl
        .run_keyed(&["group", "start", &group, "--watch", "--interval", "0.2"])
        .await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(resumed.stdout.contains("completed after"), "{resumed:?}");
    // Plain lines, not bars: standard output was not a terminal.
    assert!(!resumed.stdout.contains('\u{1b}'), "{resumed:?}");
    m.assert_identical("big/", "").await;
    let shown = ctl.run(&["-o", "json", "group", "show", &group]).await;
    assert_eq!(shown.json()["success_num"], 12);
    assert_eq!(shown.json()["tasks"][0]["status"], 5);
}

#[tokio::test]
async fn a_failed_task_exits_1_with_its_reason_and_a_retry_completes_it() {
    let m = Migration::start().await;
    put_objects(&m, "mixed/", 3, 10_000).await;
    m.src
        .faults
        .broken_keys
        .lock()
        .unwrap()
        .insert("mixed/obj-001.bin".into());
    let ctl = Ctl::new(&m);

    let run = ctl
        .run_keyed(&migration_args(&["task", "create", "--watch"], "mixed/"))
        .await;

    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("reason: TRF.0004"), "{run:?}");
    assert!(
        run.stdout.contains("failed: mixed/obj-001.bin ("),
        "{run:?}"
    );
    assert!(run.stderr.starts_with("omsctl: task "), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let id = run.stdout.split_whitespace().nth(1).unwrap().to_owned();
    let failed = ctl.run(&["-o", "json", "task", "failed", &id]).await;
    assert_eq!(
        failed.json()["failed_objects"][0]["key"],
        "mixed/obj-001.bin"
    );

    m.src.faults.broken_keys.lock().unwrap().clear();
    let retried = ctl
        .run_keyed(&["task", "retry", &id, "--watch", "--interval", "0.2"])
        .await;
    assert_eq!(retried.code, 0, "{retried:?}");
    m.assert_identical("mixed/", "").await;
}

#[tokio::test]
async fn errors_are_one_line_with_the_oms_code_and_documented_exit_codes() {
    let m = Migration::start_with(false).await;
    let ctl = Ctl::new(&m);

    let missing = ctl.run(&["task", "show", "123456"]).await;
    assert_eq!(missing.code, 3, "{missing:?}");
    assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");
    assert!(
        missing.stderr.starts_with("omsctl: OMS.1009: "),
        "{missing:?}"
    );
    let as_json = ctl.run(&["-o", "json", "task", "show", "123456"]).await;
    let error: Value = serde_json::from_str(&as_json.stderr).unwrap();
    assert_eq!(
        (error["error_code"].as_str(), error["exit_code"].as_i64()),
        (Some("OMS.1009"), Some(3))
    );
    let usage = ctl.run(&["task", "list", "--status", "running"]).await;
    assert_eq!(usage.code, 2, "{usage:?}");
    let profile = ctl.run(&["--profile", "nowhere", "task", "list"]).await;
    assert_eq!(profile.code, 2, "{profile:?}");
    let unreachable = ctl
        .run(&["--endpoint", "http://127.0.0.1:9", "task", "list"])
        .await;
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("cannot reach omsd"),
        "{unreachable:?}"
    );
    for run in [&missing, &usage, &profile, &unreachable] {
        assert!(!run.stderr.contains("panicked") && !run.stderr.contains("backtrace"));
    }
    // Every command's help has an example.
    let help = ctl.run(&["group", "start", "--help"]).await;
    assert!(help.stdout.contains("Example:"), "{help:?}");
    let completions = ctl.run(&["completions", "bash"]).await;
    assert!(completions.stdout.contains("omsctl"), "{completions:?}");
}

#[tokio::test]
async fn login_writes_a_private_profile_that_later_runs_use() {
    let m = Migration::start_with(false).await;
    let mut ctl = Ctl::new(&m);
    ctl.env.retain(|(k, _)| k == "OMSCTL_CONFIG");
    let config = ctl.home.path().join("config.toml");
    let endpoint = m.oms.base.clone();

    let wrong = ctl
        .run_with(
            &["login", "--endpoint", &endpoint, "--user", &m.oms.a.user],
            &[("OMSCTL_PASSWORD".into(), "wrong".into())],
            "",
        )
        .await;
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(wrong.stderr.contains("APIGW.0301"), "{wrong:?}");
    let login = ctl
        .run_with(
            &["login", "--endpoint", &endpoint, "--user", &m.oms.a.user],
            &[("OMSCTL_PASSWORD".into(), PASSWORD.into())],
            "",
        )
        .await;
    assert_eq!(login.code, 0, "{login:?}");
    assert!(login.stdout.contains(&m.oms.a.id), "{login:?}");
    let signed = ctl
        .run_with(
            &[
                "login",
                "--profile",
                "keys",
                "--endpoint",
                &endpoint,
                "--project",
                &m.oms.a.id,
                "--access-key",
                &m.oms.a.ak,
                "--secret-stdin",
            ],
            &[],
            &format!("{}\n", m.oms.a.sk),
        )
        .await;
    assert_eq!(signed.code, 0, "{signed:?}");

    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    for profile in ["default", "keys"] {
        let list = ctl
            .run(&["--profile", profile, "-o", "json", "task", "list"])
            .await;
        assert_eq!(list.code, 0, "{profile}: {list:?}");
        assert_eq!(list.json()["count"], 0);
    }
    let names = ctl.run(&["profiles"]).await;
    assert_eq!(names.stdout, "default\nkeys\n");
}

/// Runs `omsctl args` at a terminal (a pseudo-terminal of `script`, which echoes what is typed
/// unless the program turns echo off), typing each of `typed` once `prompts[i]` has appeared;
/// returns the exit code and what the terminal showed.
fn at_a_terminal(
    ctl: &Ctl,
    args: &[&str],
    extra: &[(String, String)],
    typed: &[(&str, &str)],
) -> (i32, String) {
    let line = std::iter::once(OMSCTL)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    // `script` passes its environment on to the line it runs.
    let mut script = ctl.prepare(Command::new("script"), extra);
    let mut child = script
        .args([
            "--quiet",
            "--return",
            "--echo",
            "always",
            "--command",
            &line,
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) runs programs at a pseudo-terminal");
    let screen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&screen);
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0_u8; 4096];
        while let Ok(n @ 1..) = out.read(&mut chunk) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    let mut keyboard = child.stdin.take().unwrap();
    for (prompt, text) in typed {
        let deadline = Instant::now() + PATIENCE;
        while !screen.lock().unwrap().contains(prompt) {
            assert!(
                Instant::now() < deadline,
                "no {prompt:?}: {:?}",
                screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        keyboard.write_all(format!("{text}\r").as_bytes()).unwrap();
    }
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{:?}", screen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(keyboard);
    reader.join().unwrap();
    let shown = screen.lock().unwrap().clone();
    (status.code().unwrap_or(-1), shown)
}

#[tokio::test]
async fn at_a_terminal_watch_draws_bars_and_keys_are_asked_without_echo() {
    let m = Migration::start().await;
    put_objects(&m, "tty/", 6, 512 * 1024).await;
    let ctl = Arc::new(Ctl::new(&m));

    let mut args = migration_args(&["task", "create", "--watch"], "tty/");
    args.extend(SLOW);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let terminal = Arc::clone(&ctl);
    let (code, screen) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        at_a_terminal(&terminal, &args, &terminal.keys, &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\u{1b}["), "live redraws: {screen:?}");
    assert!(
        screen.contains("] 100% completed"),
        "a full bar: {screen:?}"
    );
    assert!(
        screen.contains("% running"),
        "a bar while it ran: {screen:?}"
    );
    assert!(screen.contains("completed after"), "{screen:?}");
    let id = screen
        .split("task ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    // Stop it again (it is done: stopping is refused with omsd's code) — then a new, paused task
    // is resumed with its secret keys typed at the prompt.
    let refused = ctl.run(&["task", "stop", &id]).await;
    assert_eq!(refused.code, 3, "{refused:?}");
    let mut args = migration_args(&["-o", "json", "task", "create"], "tty/");
    args.extend(["--save-prefix", "again/"]);
    args.extend(SLOW);
    let again = ctl.run_keyed(&args).await.json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    wait_status(&m, &format!("tasks/{again}"), |s| s == 2).await;
    assert_eq!(ctl.run(&["task", "stop", &again]).await.code, 0);
    wait_status(&m, &format!("tasks/{again}"), |s| s == 3).await;
    let ids = [m.src.ak.clone(), m.dst.ak.clone()];
    let secrets = [m.src.sk.clone(), m.dst.sk.clone()];
    let terminal = Arc::clone(&ctl);
    let task = again.clone();
    let (code, screen) = tokio::task::spawn_blocking(move || {
        at_a_terminal(
            &terminal,
            &[
                "task", "start", &task, "--src-ak", &ids[0], "--dst-ak", &ids[1],
            ],
            &[],
            &[
                ("Source secret key: ", &secrets[0]),
                ("Destination secret key: ", &secrets[1]),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains(&format!("task {again} started")),
        "{screen:?}"
    );
    assert!(
        !screen.contains(&m.src.sk) && !screen.contains(&m.dst.sk),
        "a key was echoed: {screen:?}"
    );
    wait_status(&m, &format!("tasks/{again}"), |s| s == 5).await;
    m.assert_identical("tty/", "again/").await;
}
