//! moto, the most S3-faithful server available here (folder markers, `a` beside `a/b`, ETags
//! in listings, conditional requests, ListMultipartUploads), started from `OMS_MOTO_SERVER` (a
//! `moto_server` executable) or `PATH`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running moto server; stops when dropped.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    async fn start() -> Option<Self> {
        // The port is free when chosen but may be taken (by another test's server) before moto
        // binds it: then moto exits, and whatever holds the port must not be mistaken for it.
        for _ in 0..5 {
            if let Some(moto) = Self::start_once().await {
                return Some(moto);
            }
        }
        None
    }

    async fn start_once() -> Option<Self> {
        let program = std::env::var("OMS_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut moto = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if moto.child.try_wait().ok()?.is_some() {
                return None;
            }
            // moto's own API answers; an S3 server that took the port does not.
            let answer = http
                .get(format!("{}/moto-api/data.json", moto.url))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// A moto server, or `None` (the test is skipped, with a note) when none can be started
    /// and `OMS_REQUIRE_MOTO` is not set; with it set, a missing moto fails the test.
    #[expect(
        clippy::print_stderr,
        reason = "a skipped test says why, as cargo test shows it"
    )]
    pub async fn start_or_skip() -> Option<Self> {
        let moto = Self::start().await;
        if moto.is_none() {
            assert!(
                std::env::var_os("OMS_REQUIRE_MOTO").is_none(),
                "moto_server is required (OMS_MOTO_SERVER)"
            );
            eprintln!("skipped: no moto_server (set OMS_MOTO_SERVER to run this test)");
        }
        moto
    }
}
