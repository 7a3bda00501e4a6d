//! The door, tried as an attacker would: raw HTTP against a running omsd. Signed bodies cannot
//! be swapped and signed changes cannot be replayed; logins cannot exhaust memory and a guesser
//! is locked out; half-open connections and unauthenticated uploads cannot starve the API;
//! erased credentials leave nothing in the database files; a project cannot keep another's
//! tasks waiting; a token dies with its password; HTTPS is served with a reloadable
//! certificate. (Webhooks cannot cross projects: `notify.rs`.)

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use oms_api::auth::signature;
use serde_json::{Value, json};

use crate::support::fixtures::task_body;
use crate::support::harness::{Auth, TestServer, sdk_date};

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// A request signed by hand: its headers (Authorization included, `host` aside).
struct Signed {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
}

/// Signs `method path` of project A for `signed_body`, with `extra` headers signed too.
fn sign(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    signed_body: &[u8],
    extra: &[(&str, &str)],
    sk: &str,
) -> Signed {
    let p = &server.a;
    let date = sdk_date(SystemTime::now());
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/json"),
        ("host", &server.host),
        ("x-project-id", &p.id),
        ("x-sdk-date", &date),
    ];
    headers.extend(extra.iter().copied());
    let authorization = signature::sign(
        &p.ak,
        sk.as_bytes(),
        method.as_str(),
        path,
        None,
        &headers,
        signed_body,
    );
    let mut owned: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| *k != "host")
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    owned.push(("authorization".into(), authorization));
    Signed {
        method,
        url: format!("{}{path}", server.base),
        headers: owned,
    }
}

/// Sends `signed` with `body` and `unsigned` headers besides.
async fn send(signed: &Signed, body: Vec<u8>, unsigned: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(signed.method.clone(), &signed.url)
        .body(body);
    for (k, v) in signed
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(unsigned.iter().copied())
    {
        request = request.header(k, v);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// A 401 APIGW.0301; its message.
#[track_caller]
fn refused((status, body): (u16, Value)) -> String {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_code"], "APIGW.0301", "{body}");
    body["error_msg"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_signature_covers_the_body_received_and_a_signed_change_is_taken_once() {
    let server = TestServer::start().await;
    let p = server.a.clone();
    let path = format!("/v2/{}/tasks", p.id);
    let post = reqwest::Method::POST;
    let original = serde_json::to_vec(&task_body()).unwrap();
    let mut evil = task_body();
    evil["dst_node"]["bucket"] = json!("attacker-bucket");
    let evil = serde_json::to_vec(&evil).unwrap();

    // Another body, with the signed body's hash declared beside it (unsigned).
    let declared = sha256_hex(&original);
    let signed = sign(&server, post.clone(), &path, &original, &[], &p.sk);
    let mismatch = refused(
        send(
            &signed,
            evil.clone(),
            &[("x-sdk-content-sha256", &declared)],
        )
        .await,
    );
    // A signature over no body, the hash of "" declared, and a body sent.
    let empty = sign(&server, post.clone(), &path, b"", &[], &p.sk);
    let empty_hash = sha256_hex(b"");
    refused(
        send(
            &empty,
            evil.clone(),
            &[("x-sdk-content-sha256", &empty_hash)],
        )
        .await,
    );
    // The other body's hash declared and signed: still not the body received.
    let signed_hash = sign(
        &server,
        post.clone(),
        &path,
        &original,
        &[("x-sdk-content-sha256", &declared)],
        &p.sk,
    );
    refused(send(&signed_hash, evil.clone(), &[]).await);
    // UNSIGNED-PAYLOAD, signed, on a request with a body.
    let unsigned = sign(
        &server,
        post.clone(),
        &path,
        &original,
        &[("x-sdk-content-sha256", "UNSIGNED-PAYLOAD")],
        &p.sk,
    );
    let why = refused(send(&unsigned, evil.clone(), &[]).await);
    assert!(why.contains("UNSIGNED-PAYLOAD"), "{why}");
    // A wrong secret, and an unknown access key, read exactly like a swapped body.
    let wrong = sign(
        &server,
        post.clone(),
        &path,
        &original,
        &[],
        "not-the-secret",
    );
    assert_eq!(refused(send(&wrong, original.clone(), &[]).await), mismatch);
    let unknown = server.client(Auth::Signed {
        ak: "AKUNKNOWN000000000".into(),
        sk: "whatever".into(),
        project: p.id.clone(),
    });
    let reply = unknown.get(&path).await;
    reply.assert_error(401, "APIGW.0301");
    assert_eq!(reply.msg(), mismatch);
    let listed = server.token_client(&p).get(&path).await;
    assert_eq!(listed.ok()["count"], 0, "nothing was created");

    // The request as signed is taken (and a quick retry of it, which SDKs sign the same way);
    // the same bytes sent again later are refused.
    let honest = sign(&server, post.clone(), &path, &original, &[], &p.sk);
    let (status, created) = send(&honest, original.clone(), &[]).await;
    assert_eq!(status, 200, "{created}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let why = refused(send(&honest, original.clone(), &[]).await);
    assert!(why.contains("received before"), "{why}");
    let listed = server.token_client(&p).get(&path).await;
    assert_eq!(listed.ok()["count"], 1, "one task, not two");
    // A signed read may be sent again (clients poll).
    let read = sign(&server, reqwest::Method::GET, &path, b"", &[], &p.sk);
    for _ in 0..2 {
        let (status, body) = send(&read, Vec::new(), &[]).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}

fn login(user: &str, password: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["password"],
                                 "password": {"user": {"name": user, "password": password}}}}})
}

#[tokio::test]
async fn a_token_stops_working_when_its_users_password_changes() {
    let mut server = TestServer::start().await;
    let a = server.a.clone();
    let anonymous = server.client(Auth::None);
    let reply = anonymous
        .post(
            "/v3/auth/tokens",
            Some(&login(&a.user, crate::support::harness::PASSWORD)),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.headers["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let tasks = format!("/v2/{}/tasks", a.id);
    server
        .client(Auth::Token(token.clone()))
        .get(&tasks)
        .await
        .ok();

    let new_hash = oms_api::password::hash(&secrecy::SecretString::from("a new password")).unwrap();
    server
        .restart_with(crate::support::harness::Overrides {
            user_a_password_hash: Some(new_hash),
            ..crate::support::harness::Overrides::default()
        })
        .await;
    let reply = server.client(Auth::Token(token)).get(&tasks).await;
    reply.assert_error(401, "APIGW.0301");
    assert!(reply.msg().contains("password"), "{}", reply.msg());
    let reply = server
        .client(Auth::None)
        .post("/v3/auth/tokens", Some(&login(&a.user, "a new password")))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let fresh = reply.headers["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned();
    server.client(Auth::Token(fresh)).get(&tasks).await.ok();
}

/// A project of the daemons below.
const PROJECT: &str = "5ec0123456789abcdef0123456789abc";

/// `[[auth.users]]` of the daemons below: victim and other, both with `password`.
fn users(password: &str) -> String {
    let hash = oms_api::password::hash(&secrecy::SecretString::from(password.to_owned())).unwrap();
    format!(
        "[{{name = \"victim\", password_hash = \"{hash}\", project_id = \"{PROJECT}\"}}, \
          {{name = \"other\", password_hash = \"{hash}\", project_id = \"{PROJECT}\"}}]"
    )
}

/// A client whose connections come from `address` (another loopback address is another
/// client).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn logins_and_unauthenticated_uploads_cannot_exhaust_memory_and_a_guesser_is_locked_out() {
    let home = tempfile::tempdir().unwrap();
    let users = users("the right one");
    let daemon = crate::service::program::Daemon::start(
        home.path(),
        &[],
        &[
            ("OMS__SERVER__LISTEN", "127.0.0.1:0"),
            ("OMS__AUTH__USERS", &users),
            ("OMS__WORKER__ENABLED", "false"),
        ],
    );
    let base = daemon.base_url();
    let before = daemon.peak_rss_bytes();

    // 200 wrong passwords at once: each password check is an Argon2 hash of 19 MiB.
    let attacker = client_from("127.0.0.1");
    let statuses: Vec<u16> = futures::future::join_all((0..200).map(|_| {
        let (attacker, base) = (attacker.clone(), base.clone());
        async move {
            attacker
                .post(format!("{base}/v3/auth/tokens"))
                .json(&login("victim", "a guess"))
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        }
    }))
    .await;
    // (Past the per-client connection cap, connections are closed unanswered: 0 here.)
    assert!(
        statuses.iter().all(|s| [0, 401, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 401).count() < 100,
        "most guesses were checked: {statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "nothing was turned away: {statuses:?}"
    );
    let flood = daemon.peak_rss_bytes().saturating_sub(before);
    assert!(flood < 200 * MIB, "the flood took {} MiB", flood / MIB);

    // The guessed user and the guessing address are locked out, even with the right password.
    let reply = attacker
        .post(format!("{base}/v3/auth/tokens"))
        .json(&login("victim", "the right one"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 429);
    assert!(reply.headers().contains_key("retry-after"));
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error_code"], "APIGW.0308", "{body}");
    let reply = attacker
        .post(format!("{base}/v3/auth/tokens"))
        .json(&login("other", "the right one"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        429,
        "the address is locked out for every name"
    );
    // Another user from another address logs in.
    let reply = client_from("127.0.0.2")
        .post(format!("{base}/v3/auth/tokens"))
        .json(&login("other", "the right one"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);

    // 60 unauthenticated uploads of 12 MiB: refused before their bodies are read.
    let before = daemon.peak_rss_bytes();
    let body = vec![b'x'; 12 * MIB as usize];
    let uploads = futures::future::join_all((0..60).map(|i| {
        let (client, base, body) = (client_from("127.0.0.3"), base.clone(), body.clone());
        async move {
            let auth = if i % 2 == 0 {
                ("x-auth-token", "forged")
            } else {
                (
                    "authorization",
                    "SDK-HMAC-SHA256 Access=NOBODY, SignedHeaders=x-sdk-date, Signature=00",
                )
            };
            client
                .post(format!("{base}/v2/{PROJECT}/tasks"))
                .header(auth.0, auth.1)
                .header("x-sdk-date", sdk_date(SystemTime::now()))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    }))
    .await;
    // Answered 401 at once (or cut off while still sending: the server stops reading).
    assert!(
        uploads.iter().all(|r| matches!(r, Ok(401) | Err(_))),
        "{uploads:?}"
    );
    let held = daemon.peak_rss_bytes().saturating_sub(before);
    assert!(held < 200 * MIB, "the uploads took {} MiB", held / MIB);
}

/// Reads what `stream` has now (up to 1 s); `None` when the server closed it.
fn read_some(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read as _;
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0_u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            Some(String::new())
        }
        Err(_) => None,
    }
}

#[tokio::test]
async fn half_open_connections_cannot_starve_the_api_and_idle_ones_are_closed() {
    use std::io::Write as _;
    let home = tempfile::tempdir().unwrap();
    let mut daemon = crate::service::program::Daemon::spawn_with_open_files(
        home.path(),
        &[
            ("OMS__SERVER__LISTEN", "127.0.0.1:0"),
            ("OMS__SERVER__MAX_CONNECTIONS", "150"),
            ("OMS__SERVER__MAX_CONNECTIONS_PER_CLIENT", "40"),
            ("OMS__SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
            ("OMS__WORKER__ENABLED", "false"),
        ],
        256,
    );
    daemon.wait_listening();
    let addr: std::net::SocketAddr = daemon.addr.parse().unwrap();

    // 300 requests that never finish their headers, from one client.
    let mut half_open = Vec::new();
    for _ in 0..300 {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
            half_open.push(stream);
        }
    }
    // Another client is served at once, and omsd did not run out of descriptors.
    let reply = client_from("127.0.0.2")
        .get(format!("{}/healthz", daemon.base_url()))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        daemon.open_files() < 200,
        "{} descriptors",
        daemon.open_files()
    );
    // The half-open requests are cut after the header timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still_open = half_open
        .iter_mut()
        .map(read_some)
        .filter(Option::is_some)
        .count();
    assert_eq!(still_open, 0, "connections kept past the header timeout");

    // An idle keep-alive connection is closed too.
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = read_some(&mut idle).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(read_some(&mut idle), None, "an idle connection kept open");
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn erased_credentials_leave_nothing_in_the_database_files() {
    use sqlx::{Connection as _, Row as _};
    if crate::support::harness::on_postgres() {
        // PostgreSQL's files belong to its server: there, dead rows are vacuumed (see the
        // docs); this test reads SQLite's own files.
        return;
    }
    let server = TestServer::start().await;
    let id = server.create_task(&task_body()).await;
    // The sealed keys as stored.
    let mut conn = sqlx::AnyConnection::connect(&server.db_url).await.unwrap();
    let row = sqlx::query("select ciphertext from credentials where owner_id = $1")
        .bind(id.to_string())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let sealed: Vec<u8> = row.try_get("ciphertext").unwrap();
    conn.close().await.unwrap();
    assert!(sealed.len() > 32);
    let files = || {
        ["oms.db", "oms.db-wal"]
            .iter()
            .map(|f| std::fs::read(server.data_dir().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert!(
        files().iter().any(|bytes| contains(bytes, &sealed)),
        "the sealed keys should be on disk while the task needs them"
    );

    // Deleting the task erases its keys: within moments no database file holds them.
    server
        .signed_client(&server.a)
        .delete(&format!("/v2/{}/tasks/{id}", server.a.id))
        .await
        .ok();
    let gone = crate::support::harness::eventually(Duration::from_secs(10), async || {
        files().iter().all(|bytes| !contains(bytes, &sealed))
    })
    .await;
    assert!(gone, "the erased keys are still in oms.db or oms.db-wal");
}

#[tokio::test]
async fn a_project_is_not_kept_waiting_behind_anothers_queue() {
    use std::sync::atomic::Ordering;

    use crate::engine::{DST_BUCKET, Migration, SRC_BUCKET, random_bytes};
    let m = Migration::start_overrides(crate::support::harness::Overrides {
        worker: true,
        max_tasks: Some(1),
        ..crate::support::harness::Overrides::default()
    })
    .await;
    for i in 0..6 {
        m.src
            .put(SRC_BUCKET, &format!("a/{i}"), random_bytes(100), None, &[])
            .await;
    }
    m.src
        .put(SRC_BUCKET, "b/one", random_bytes(7), None, &[])
        .await;
    // Project A's tasks are slow (every write waits) and of high priority.
    m.dst.faults.put_delay_ms.store(400, Ordering::SeqCst);
    let (a, b) = (m.oms.a.clone(), m.oms.b.clone());
    let create =
        async |project: &crate::support::harness::Project, prefix: &str, priority: &str| {
            let mut body = m.task_body(&[prefix]);
            body["task_priority"] = json!(priority);
            m.oms
                .signed_client(project)
                .post(&format!("/v2/{}/tasks", project.id), Some(&body))
                .await
                .ok()["id"]
                .as_i64()
                .unwrap()
        };
    let mut a_tasks = Vec::new();
    for _ in 0..3 {
        a_tasks.push(create(&a, "a/", "HIGH").await);
    }
    let b_task = create(&b, "b/", "LOW").await;
    let show = async |project: &crate::support::harness::Project, id: i64| {
        m.oms
            .signed_client(project)
            .get(&format!("/v2/{}/tasks/{id}", project.id))
            .await
            .ok()
            .clone()
    };
    let done = crate::support::harness::eventually(Duration::from_secs(120), async || {
        show(&b, b_task).await["status"] == 5
    })
    .await;
    assert!(done, "{:#}", show(&b, b_task).await);
    // B's task ran right after A's first, before A's other two started.
    let b_start = show(&b, b_task).await["start_time"].as_i64().unwrap();
    let later_a: Vec<i64> = futures::future::join_all(a_tasks[1..].iter().map(|id| show(&a, *id)))
        .await
        .iter()
        .map(|t| t["start_time"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        later_a.iter().all(|s| *s == 0 || *s > b_start),
        "B started at {b_start}, A's later tasks at {later_a:?}"
    );
    assert_eq!(m.dst.keys(DST_BUCKET, "b/").await, vec!["b/one".to_owned()]);
    m.assert_identical("b/", "").await;
}

/// A self-signed certificate for 127.0.0.1 and localhost (PEM files `name.crt`, `name.key`
/// in `dir`), made with the openssl command.
fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes test certificates");
    assert!(out.status.success(), "{out:?}");
    (cert, key)
}

/// A client that trusts only `cert`.
fn trusting(cert: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_is_served_with_the_configured_certificate_and_a_renewed_one_without_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(home.path(), "first");
    let (next_cert, next_key) = self_signed(home.path(), "second");
    let (served_cert, served_key) = (home.path().join("tls.crt"), home.path().join("tls.key"));
    std::fs::copy(&cert, &served_cert).unwrap();
    std::fs::copy(&key, &served_key).unwrap();
    let daemon = crate::service::program::Daemon::start(
        home.path(),
        &[],
        &[
            ("OMS__SERVER__LISTEN", "127.0.0.1:0"),
            ("OMS__SERVER__TLS_CERT_FILE", served_cert.to_str().unwrap()),
            ("OMS__SERVER__TLS_KEY_FILE", served_key.to_str().unwrap()),
            ("OMS__WORKER__ENABLED", "false"),
        ],
    );
    let https = format!("https://{}/healthz", daemon.addr);
    let reply = trusting(&cert).get(&https).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    // Plain HTTP gets no answer from the TLS port; a client that does not trust the
    // certificate refuses it.
    assert!(
        reqwest::get(format!("http://{}/healthz", daemon.addr))
            .await
            .is_err_or_not_200()
    );
    assert!(trusting(&next_cert).get(&https).send().await.is_err());

    // The certificate is renewed on disk: omsd serves the new one, without a restart.
    std::fs::copy(&next_cert, &served_cert).unwrap();
    std::fs::copy(&next_key, &served_key).unwrap();
    let renewed = crate::support::harness::eventually(Duration::from_secs(30), async || {
        trusting(&next_cert).get(&https).send().await.is_ok()
    })
    .await;
    assert!(
        renewed,
        "the renewed certificate was not served: {}",
        daemon.stderr()
    );
    assert!(daemon.stderr().contains("TLS certificate reloaded"));
}

/// Whether an HTTP attempt failed or was not answered 200.
trait NotOk {
    fn is_err_or_not_200(&self) -> bool;
}

impl NotOk for reqwest::Result<reqwest::Response> {
    fn is_err_or_not_200(&self) -> bool {
        self.as_ref().map_or(true, |r| r.status() != 200)
    }
}

#[test]
fn plain_http_beyond_this_machine_is_warned_about_at_start() {
    let home = tempfile::tempdir().unwrap();
    let daemon = crate::service::program::Daemon::start(
        home.path(),
        &[],
        &[
            ("OMS__SERVER__LISTEN", "0.0.0.0:0"),
            ("OMS__WORKER__ENABLED", "false"),
        ],
    );
    let line = daemon.wait_for_stderr("over plain HTTP");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("tls_cert_file"), "{line}");
}
