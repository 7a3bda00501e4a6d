//! What every install serves and shows: versions, probes, the OpenAPI document, answers to
//! unknown paths, and the `omsd` program as an operator runs it (first start, the start-up
//! summary, `omsd token`, `omsd hash-password`, the data folder's permissions).

mod lifecycle;
pub mod program;

use std::path::Path;

use oms_api::auth::Principal;
use oms_api::auth::token::TokenIssuer;
use oms_db::MasterKey;
use secrecy::SecretString;
use serde_json::json;

use crate::support::harness::{Auth, TestServer};
use program::{Daemon, lines_with, mode, omsd, omsd_with_stdin};

#[tokio::test]
async fn versions_are_listed_and_shown_without_authentication() {
    let server = TestServer::start().await;
    let api = server.client(Auth::None);
    let list = api.get("/").await;
    assert_eq!(list.ok()["versions"][0]["id"], "v2");
    assert_eq!(list.body["versions"][0]["status"], "CURRENT");
    assert_eq!(
        list.body["versions"][0]["links"][0]["href"],
        format!("http://{}/v2/", server.host)
    );
    assert_eq!(api.get("/v2").await.ok()["id"], "v2");
    api.get("/v7").await.assert_error(400, "OMS.1009");
    api.get("/v2-beta").await.assert_error(400, "OMS.0064");
    api.get("/v12345678901").await.assert_error(400, "OMS.0064");
    api.post("/v2", None).await.assert_error(405, "OMS.0005");
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_oms_shape() {
    let server = TestServer::start().await;
    let api = server.client(Auth::None);
    for path in [
        "/metrics",
        "/healthzz",
        "/version-two",
        "/v",
        "/v2/extra",
        "/v2/p/unknown/x",
    ] {
        let reply = api.get(path).await;
        reply.assert_error(404, "APIGW.0101");
        assert!(reply.msg().contains(path), "{path}: {}", reply.text);
    }
    api.post("/healthzz", None)
        .await
        .assert_error(404, "APIGW.0101");
    api.delete("/metrics").await.assert_error(404, "APIGW.0101");
}

#[tokio::test]
async fn probes_and_the_api_document_are_served() {
    let server = TestServer::start().await;
    let api = server.client(Auth::None);
    assert_eq!(api.get("/healthz").await.ok()["status"], "ok");
    assert_eq!(api.get("/readyz").await.ok()["status"], "ok");
    let doc = api.get("/openapi.json").await;
    let paths = doc.ok()["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v2/{project_id}/taskgroups/{group_id}/start"));
    assert!(doc.body["components"]["securitySchemes"]["aksk"].is_object());
    let ui = api
        .raw(reqwest::Method::GET, "/docs/", None, Vec::new())
        .await;
    assert_eq!(ui.status, 200);
    assert!(
        ui.text.contains("swagger"),
        "{}",
        &ui.text[..ui.text.len().min(200)]
    );
}

#[tokio::test]
async fn the_api_document_states_the_rules_the_api_enforces() {
    let server = TestServer::start().await;
    let doc = server.client(Auth::None).get("/openapi.json").await;
    let doc = doc.ok();
    let parameter = |path: &str, method: &str, name: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no {name}"))
            .clone()
    };

    // Path ids: their formats and ranges, and the project on every project route.
    let task_id = parameter("/v2/{project_id}/tasks/{task_id}", "get", "task_id");
    assert_eq!(task_id["schema"]["type"], "integer");
    assert_eq!(task_id["schema"]["minimum"], 0);
    assert_eq!(task_id["schema"]["maximum"], 999_999_999_999_999_i64);
    let group_id = parameter("/v2/{project_id}/taskgroups/{group_id}", "get", "group_id");
    assert_eq!(group_id["schema"]["format"], "uuid");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"].is_array();
            assert_eq!(
                secured,
                path.starts_with("/v2/{project_id}/"),
                "{method} {path}"
            );
            if secured {
                assert_eq!(parameter(path, method, "project_id")["in"], "path");
            }
        }
    }

    // Query parameters: ranges, and an empty value is the same as none.
    let limit = parameter("/v2/{project_id}/tasks", "get", "limit");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 100);
    assert_eq!(limit["allowEmptyValue"], true);
    let status = parameter("/v2/{project_id}/taskgroups", "get", "status");
    assert_eq!(status["schema"]["maximum"], 9);

    // Bodies: required fields, lengths, patterns, enumerations, and the rules between fields.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["CreateTaskReq"]["required"],
        json!(["src_node", "dst_node"])
    );
    let dst_ak = &schemas["DstNodeReq"]["properties"]["ak"];
    assert_eq!(
        (dst_ak["minLength"].clone(), dst_ak["maxLength"].clone()),
        (json!(1), json!(100))
    );
    assert!(
        dst_ak["pattern"].as_str().unwrap().contains("<>&"),
        "{dst_ak}"
    );
    let cloud_types = schemas["SrcNodeReq"]["properties"]["cloud_type"]["enum"]
        .as_array()
        .unwrap();
    assert!(cloud_types.contains(&json!("URLSource")), "{cloud_types:?}");
    assert_eq!(
        schemas["BatchUpdateTasksReq"]["properties"]["ids"]["minItems"],
        1
    );
    let create = &doc["paths"]["/v2/{project_id}/tasks"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        create["allOf"][1]["$ref"],
        "#/components/schemas/CreateTaskModes"
    );
}

/// The project id of a first-start key file.
pub fn bootstrap_project(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("data/bootstrap.toml")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("project_id = \""))
        .unwrap();
    line.trim_end_matches('"').to_owned()
}

#[tokio::test]
async fn a_first_start_keeps_its_data_private_and_omsd_token_gives_a_working_token_there_only() {
    let home = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(home.path(), &[], &[("OMS__SERVER__LISTEN", "127.0.0.1:0")]);
    let base = daemon.base_url();

    // The key is shown once, on standard output; the data folder is the current folder's.
    assert!(
        daemon.stdout().contains("OMS first start"),
        "{}",
        daemon.stdout()
    );
    let project = bootstrap_project(home.path());
    assert!(daemon.stdout().contains(&project));
    let data = home.path().join("data");
    assert_eq!(mode(&data), 0o700);
    for file in [
        "master.key",
        "bootstrap.toml",
        "oms.db",
        "oms.db-wal",
        "oms.db-shm",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let log = daemon.stderr();
    assert!(
        lines_with(&log, "worker on")[0].contains("max_tasks=4"),
        "{log}"
    );
    assert!(
        lines_with(&log, "first-start access key is in effect").len() == 1,
        "{log}"
    );

    // `TOKEN=$(omsd token)` in that folder: only the token, and it works.
    let out = omsd(home.path(), &["token"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').unwrap();
    assert_eq!(token.split('.').count(), 3, "{stdout:?}");
    let http = reqwest::Client::new();
    let reply = http
        .get(format!("{base}/v2/{project}/tasks"))
        .header("x-auth-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let explicit = omsd(home.path(), &["token", "--project-id", &project], &[]);
    assert!(explicit.status.success(), "{explicit:?}");

    // Projects and users this installation does not serve are refused.
    let stranger = "0123456789abcdef0123456789abcdef";
    let refused = omsd(home.path(), &["token", "--project-id", stranger], &[]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains(stranger) && why.contains(&project), "{why}");
    let refused = omsd(home.path(), &["token", "--user", "admin"], &[]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no users are configured"),
        "{refused:?}"
    );

    // In another folder there is no installation: nothing is created, nothing is printed.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = omsd(elsewhere.path(), &["token"], &[]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{out:?}");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("no OMS installation found"), "{why}");
    assert!(why.contains("master.key"), "{why}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn omsd_token_is_only_for_configured_users_and_projects() {
    let dir = tempfile::tempdir().unwrap();
    let alice_project = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let key_project = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let hash = oms_api::password::hash(&SecretString::from("pw".to_owned())).unwrap();
    std::fs::write(
        dir.path().join("oms.toml"),
        format!(
            "[[auth.users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nproject_id = \"{alice_project}\"\n\
             [[auth.access_keys]]\naccess_key = \"AK1\"\nsecret_key = \"SK1\"\nproject_id = \"{key_project}\"\n"
        ),
    )
    .unwrap();
    // A first-start key left from before users were configured: no longer in effect.
    let old_project = "cccccccccccccccccccccccccccccccc";
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/bootstrap.toml"),
        format!("project_id = \"{old_project}\"\naccess_key = \"AK0\"\nsecret_key = \"SK0\"\n"),
    )
    .unwrap();
    let master = MasterKey::generate().unwrap();
    let master_b64 = secrecy::ExposeSecret::expose_secret(&master.to_base64()).to_owned();
    let env = [
        ("OMS_CONFIG", "oms.toml"),
        ("OMS__SECURITY__MASTER_KEY", master_b64.as_str()),
    ];
    let issuer = TokenIssuer::new(
        &omsd::token_signing_key(&master),
        std::time::Duration::from_secs(60),
    );
    let token_of = |args: &[&str]| {
        let out = omsd(dir.path(), args, &env);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let caller = issuer
            .verify(String::from_utf8(out.stdout).unwrap().trim_end())
            .unwrap();
        (caller.project_id.to_string(), caller.principal)
    };
    let refusal = |args: &[&str]| {
        let out = omsd(dir.path(), args, &env);
        assert!(!out.status.success(), "{args:?} was not refused");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        String::from_utf8(out.stderr).unwrap()
    };

    assert_eq!(
        token_of(&["token", "--user", "alice"]),
        (
            alice_project.to_owned(),
            Principal::User("alice".to_owned())
        )
    );
    assert_eq!(
        token_of(&["token", "--project-id", key_project]),
        (
            key_project.to_owned(),
            Principal::User("operator".to_owned())
        )
    );
    let why = refusal(&["token"]);
    assert!(why.contains("several projects are configured"), "{why}");
    let why = refusal(&["token", "--user", "mallory"]);
    assert!(why.contains("mallory") && why.contains("alice"), "{why}");
    let why = refusal(&["token", "--user", "alice", "--project-id", key_project]);
    assert!(why.contains(alice_project), "{why}");
    for unserved in ["dddddddddddddddddddddddddddddddd", old_project] {
        let why = refusal(&["token", "--project-id", unserved]);
        assert!(
            why.contains(unserved) && why.contains("not configured"),
            "{why}"
        );
    }
    // Reading the installation created nothing.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["bootstrap.toml"]);
}

#[test]
fn a_first_start_on_a_busy_port_fails_before_creating_or_showing_a_key() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let out = omsd(home.path(), &[], &[("OMS__SERVER__LISTEN", &addr)]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{out:?}");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains(&format!("cannot listen on {addr}")), "{why}");
    assert!(!why.contains("secret_key"), "{why}");
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

#[test]
fn a_first_start_opens_its_port_only_once_its_keys_exist() {
    // Whoever waits for the port and then asks `omsd token` must find the keys it needs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(home.path(), &[], &[("OMS__SERVER__LISTEN", &addr)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "omsd never listened: {}",
            daemon.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    for file in ["data/master.key", "data/bootstrap.toml"] {
        assert!(
            home.path().join(file).exists(),
            "{file} missing when the port opened"
        );
    }
    let out = omsd(home.path(), &["token"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty());
}

#[test]
fn the_start_up_summary_tells_what_omsd_runs_with_and_warns_of_opt_outs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oms.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\n\
         [security]\nallow_private_networks = true\n\
         [worker]\nenabled = false\n\
         [[auth.access_keys]]\naccess_key = \"AK1\"\nsecret_key = \"SK1\"\nproject_id = \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\n\
         [[endpoints]]\ncloud_type = \"AWS\"\nregion = \"summary-src\"\nurl = \"http://127.0.0.1:9001\"\n\
         [[endpoints]]\ncloud_type = \"HEC\"\nregion = \"*\"\nurl = \"http://key:secret@127.0.0.1:9002\"\npath_style = false\n",
    )
    .unwrap();
    // A first-start key from before the access key was configured.
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/bootstrap.toml"),
        "project_id = \"cccccccccccccccccccccccccccccccc\"\naccess_key = \"AK0\"\nsecret_key = \"SK0\"\n",
    )
    .unwrap();
    let daemon = Daemon::start(dir.path(), &[], &[("OMS_CONFIG", "oms.toml")]);
    let log = daemon.stderr();
    let db = dir.path().join("data/oms.db");
    let expected = [
        ("INFO", "omsd starting", "role=\"all\""),
        ("INFO", "API address", &format!("listen={}", daemon.addr)),
        ("INFO", "database", &format!("location={}", db.display())),
        ("INFO", "database", "kind=\"sqlite\""),
        (
            "INFO",
            "endpoint rule",
            "region=summary-src url=http://127.0.0.1:9001",
        ),
        (
            "INFO",
            "endpoint rule",
            "region=* url=http://127.0.0.1:9002 path_style=false",
        ),
        (
            "INFO",
            "authentication",
            "users=0 access_keys=1 first_start_key=false",
        ),
        (
            "WARN",
            "worker.enabled = false",
            "tasks wait until a worker",
        ),
        ("WARN", "security.allow_private_networks = true", "loopback"),
        ("WARN", "first-start access key", "no longer accepted"),
    ];
    for (level, message, fields) in expected {
        assert!(
            log.lines()
                .any(|l| l.contains(level) && l.contains(message) && l.contains(fields)),
            "no {level} line with {message:?} and {fields:?} in:\n{log}"
        );
    }
    assert!(!log.contains("secret@"), "{log}");
    drop(daemon);

    // A PostgreSQL location is shown without its password (omsd then fails to connect).
    let pg =
        "postgres://oms:Secr3tPassw0rd@127.0.0.1:1/oms?sslmode=disable&password=Secr3tPassw0rd";
    let daemon = Daemon::spawn(
        dir.path(),
        &[],
        &[("OMS_CONFIG", "oms.toml"), ("OMS__DATABASE__URL", pg)],
    );
    let line = daemon.wait_for_stderr("kind=\"postgres\"");
    assert!(
        line.contains("location=postgres://127.0.0.1:1/oms?sslmode=disable"),
        "{line}"
    );
    assert!(!daemon.stderr().contains("Secr3t"), "{}", daemon.stderr());
}

#[test]
fn hash_password_reads_a_pipe_quietly_and_a_terminal_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let out = omsd_with_stdin(dir.path(), &["hash-password"], b"piped secret\n");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.strip_suffix('\n').unwrap();
    assert!(oms_api::password::verify(
        &SecretString::from("piped secret"),
        hash
    ));

    let screen = program::at_a_terminal(&["hash-password"], &["typed secret", "typed secret"]);
    assert!(screen.contains("Password: "), "{screen:?}");
    assert!(screen.contains("Password again: "), "{screen:?}");
    assert!(!screen.contains("typed secret"), "{screen:?}");
    let hash = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("$argon2id$"))
        .map(|rest| format!("$argon2id${rest}"))
        .unwrap_or_else(|| panic!("no hash in {screen:?}"));
    assert!(oms_api::password::verify(
        &SecretString::from("typed secret"),
        &hash
    ));

    let screen = program::at_a_terminal(&["hash-password"], &["one", "another"]);
    assert!(screen.contains("the passwords differ"), "{screen:?}");
    assert!(!screen.contains("$argon2id$"), "{screen:?}");
}
