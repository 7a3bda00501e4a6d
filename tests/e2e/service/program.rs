//! The `omsd` program as an operator runs it: built from omsd's own `main.rs` into this package
//! (`omsd-e2e`), started in a folder of the test's, with none of the caller's `OMS_` variables.

use std::io::{Read, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The program.
const OMSD: &str = env!("CARGO_BIN_EXE_omsd-e2e");

/// How long a start or a command may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// `omsd args` in `dir`, with `env` (and no `OMS_` variable or `RUST_LOG` of the caller's).
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(OMSD);
    command.args(args);
    clean(command, dir, env)
}

/// `command` in `dir` with `env` and none of the caller's `OMS_` variables or `RUST_LOG`.
fn clean(mut command: Command, dir: &Path, env: &[(&str, &str)]) -> Command {
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("OMS_") || key == "RUST_LOG" {
            command.env_remove(key.as_ref());
        }
    }
    command.envs(env.iter().copied());
    command
}

/// The database setting for an omsd started in `dir` by a test of the engine: none on SQLite
/// (omsd's default, `data/oms.db` in its folder), a fresh PostgreSQL database when the suite
/// runs on PostgreSQL (`OMS_TEST_DATABASE_URL`), as `("OMS__DATABASE__URL", url)`.
pub async fn database_env(dir: &Path) -> Vec<(&'static str, String)> {
    if crate::support::harness::on_postgres() {
        let url = oms_db::testing::fresh_database_url(&dir.join("data"), "oms_e2e").await;
        vec![("OMS__DATABASE__URL", url)]
    } else {
        Vec::new()
    }
}

/// Runs `omsd args` to its end, with nothing on standard input.
pub fn omsd(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `omsd args` to its end with `input` piped on standard input.
pub fn omsd_with_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = command(dir, args, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The lines of `text` containing `needle`.
pub fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// Collects a stream into a string as it comes, until it ends (the thread's end).
fn collect(stream: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        let mut stream = stream;
        let mut chunk = [0_u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut chunk) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    (text, reader)
}

/// A running `omsd` (killed when dropped) and what it printed so far.
pub struct Daemon {
    /// Where its API listens (`127.0.0.1:PORT`), read from its start-up summary.
    pub addr: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts `omsd args` in `dir` without waiting for anything.
    pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command(dir, args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, _) = collect(child.stdout.take().unwrap());
        let (stderr, _) = collect(child.stderr.take().unwrap());
        Self {
            addr: String::new(),
            child,
            stdout,
            stderr,
        }
    }

    /// Starts `omsd` (all roles) in `dir` with at most `open_files` file descriptors (a
    /// shell's `ulimit -n`), without waiting for anything.
    pub fn spawn_with_open_files(dir: &Path, env: &[(&str, &str)], open_files: u32) -> Self {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!("ulimit -n {open_files} && exec \"$0\""),
            OMSD,
        ]);
        let mut child = clean(shell, dir, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, _) = collect(child.stdout.take().unwrap());
        let (stderr, _) = collect(child.stderr.take().unwrap());
        Self {
            addr: String::new(),
            child,
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends it a signal (`TERM`, `INT`), as `kill -s NAME` does.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -s {name}");
    }

    /// Waits for the program to end, and returns how it ended (panics with its log when it
    /// does not end). Async: the servers of the test's runtime keep answering meanwhile.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "omsd did not exit:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The most memory the process has held so far (`VmHWM`), bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib * 1024
    }

    /// File descriptors the process holds now.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Waits until its API listens, and learns its address from its start-up summary.
    pub fn wait_listening(&mut self) {
        let line = self.wait_for_stderr("API address");
        self.addr = line
            .split("listen=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        self.wait_for_stderr("omsd API listening");
    }

    /// Starts `omsd args` in `dir` and waits until its API listens.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut daemon = Self::spawn(dir, args, env);
        daemon.wait_listening();
        daemon
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything it wrote on standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything it wrote on standard error (its log) so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a line of its log containing `needle`, and returns it (panics with the log
    /// when the program ends or takes too long first).
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.stderr();
            let complete = &log[..log.rfind('\n').map_or(0, |end| end + 1)];
            if let Some(line) = complete.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in omsd's log:\n{log}\nstdout:\n{}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `omsd args` at a terminal (a pseudo-terminal of `script`), typing each of `typed` once
/// the program asks for it, and returns what the terminal showed.
pub fn at_a_terminal(args: &[&str], typed: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let line = std::iter::once(OMSD)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        // The terminal echoes what is typed, as terminals do, unless the program turns it off.
        .args([
            "--quiet",
            "--return",
            "--echo",
            "always",
            "--command",
            &line,
        ])
        .arg("/dev/null")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) runs programs at a pseudo-terminal");
    let (screen, reader) = collect(child.stdout.take().unwrap());
    let mut keyboard = child.stdin.take().unwrap();
    for (i, text) in typed.iter().enumerate() {
        let deadline = Instant::now() + PATIENCE;
        while screen.lock().unwrap().matches("Password").count() <= i {
            assert!(
                Instant::now() < deadline,
                "no prompt: {:?}",
                screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // As a person would, type after the prompt has been shown (and echo turned off).
        std::thread::sleep(Duration::from_millis(500));
        keyboard.write_all(format!("{text}\r").as_bytes()).unwrap();
    }
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{:?}", screen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(keyboard);
    reader.join().unwrap();
    screen.lock().unwrap().clone()
}
