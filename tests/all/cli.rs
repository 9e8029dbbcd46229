//! The `waygate` binary as a user drives it against a running server.

use crate::harness::{ok, waygate, TestServer};
use std::process::{Command, Output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_publish_alias_invoke_from_the_cli() {
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("g.wasm");
    std::fs::write(&wasm, wat::parse_str(crate::fixtures::env()).unwrap()).unwrap();
    let w = wasm.to_str().unwrap().to_string();
    let s = std::sync::Arc::new(s);
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let s = &s2;
        // The token comes from the data dir's token file (no --token given).
        let out = ok(&waygate(s, &["function", "create", "cli-fn", "--env", "COLOR=teal", "--memory-mb", "64"]));
        assert!(out.contains("cli-fn"), "{out}");
        let out = ok(&waygate(s, &["function", "upload", "cli-fn", &w, "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["code_hash"].as_str().unwrap().len(), 64);
        ok(&waygate(s, &["version", "publish", "cli-fn", "--description", "first"]));
        ok(&waygate(s, &["function", "config", "cli-fn", "--env", "COLOR=red"]));
        ok(&waygate(s, &["alias", "set", "cli-fn", "PROD", "1"]));
        let out = ok(&waygate(s, &["invoke", "cli-fn:PROD"]));
        assert!(out.contains("COLOR=teal"), "{out}");
        let out = ok(&waygate(s, &["invoke", "cli-fn", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["executed_version"], "$LATEST");
        assert!(v["payload"].as_str().unwrap().contains("COLOR=red"));
        let out = ok(&waygate(s, &["version", "list", "cli-fn"]));
        assert!(out.lines().next().unwrap().starts_with("VERSION"), "{out}");
        assert!(out.contains("first"), "{out}");
        let out = ok(&waygate(s, &["alias", "list", "cli-fn", "--output", "json"]));
        assert!(out.contains("\"PROD\""), "{out}");
        ok(&waygate(s, &["function", "list"]));
        ok(&waygate(s, &["function", "get", "cli-fn"]));

        // Errors print the server's message and exit non-zero.
        let o = waygate(s, &["version", "delete", "cli-fn", "1"]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("Unable to delete version because the following aliases reference it: [PROD]"), "{err}");
        let o = waygate(s, &["function", "get", "nope"]);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("Function not found"));
        let o = Command::new(env!("CARGO_BIN_EXE_waygate"))
            .args(["function", "list", "--token", "wrong"])
            .env("WAYGATE_ENDPOINT", &s.url)
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("Unauthorized"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_reports_function_errors_with_exit_status() {
    let s = TestServer::start().await;
    s.deploy("exit3", serde_json::json!({}), &crate::fixtures::exit(3)).await;
    let s = std::sync::Arc::new(s);
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let o = waygate(&s2, &["invoke", "exit3"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("Runtime.ExitError"));
    })
    .await
    .unwrap();
}

fn waygate_stdin(s: &TestServer, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_waygate"))
        .args(args)
        .env("WAYGATE_ENDPOINT", &s.url)
        .env("WAYGATE_DATA_DIR", s.data())
        .env_remove("WAYGATE_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run waygate");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("waygate output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_secrets_and_audit_from_the_cli() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let s = &s2;
        let policy = r#"[{"effect":"allow","actions":["function:Read"],"resources":["function/*"]}]"#;
        let out = ok(&waygate(s, &["key", "create", "reader", "--policy", policy, "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let key = v["key"].as_str().unwrap().to_string();
        // The key works as --token for what its policy allows, and nothing else.
        ok(&waygate(s, &["function", "list", "--token", &key]));
        let denied = waygate(s, &["function", "create", "nope", "--token", &key]);
        assert!(!denied.status.success());
        assert!(String::from_utf8_lossy(&denied.stderr).contains("403"), "{denied:?}");
        let out = ok(&waygate(s, &["key", "list"]));
        assert!(out.contains("reader") && !out.contains(&key), "{out}");

        let out = ok(&waygate_stdin(s, &["secret", "put", "prod", "db-password"], "s3cr3t-value-91\n"));
        assert!(out.contains("db-password") && !out.contains("s3cr3t"), "{out}");
        let out = ok(&waygate(s, &["secret", "list", "prod"]));
        assert!(out.contains("db-password") && !out.contains("s3cr3t"), "{out}");
        ok(&waygate(s, &["secret", "delete", "prod", "db-password"]));

        ok(&waygate(s, &["key", "delete", "reader"]));
        let out = ok(&waygate(s, &["audit", "--principal", "reader"]));
        assert!(out.contains("function:Create") && out.contains("403"), "{out}");
        let out = ok(&waygate(s, &["audit", "--action", "secret:Put", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["entries"][0]["resource"], "secret/prod/db-password");
    })
    .await
    .unwrap();
}

/// `waygate up`'s log goes to stderr — plain text when it is not a terminal (no ANSI
/// colour codes), or one JSON object per line with `--log-format json` — and stdout stays
/// free for what `up` prints for the user.
#[test]
fn server_log_on_stderr_plain_or_json() {
    use std::io::BufRead;
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_waygate"))
            .args(["up", "--admin-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--no-examples"])
            .args(["--max-instances", "8", "--log-format", format, "--data-dir"])
            .arg(dir.path())
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn waygate up");
        let stderr = child.stderr.take().unwrap();
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok).take(200) {
            let up = line.contains("Waygate is up");
            lines.push(line);
            if up {
                break;
            }
        }
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let all = lines.join("\n");
        assert!(lines.last().is_some_and(|l| l.contains("Waygate is up")), "{format}: {all}");
        assert!(!all.contains('\u{1b}'), "{format}: no colour codes when stderr is not a terminal: {all}");
        assert!(out.stdout.is_empty(), "{format}: nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
        if format == "json" {
            for l in &lines {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
            }
        }
    }
}

/// A server on other ports and another data directory: `WAYGATE_DATA_DIR` alone lets the
/// CLI find it (`up` records its admin URL there; the token is read from there), and
/// `--endpoint` still wins.
#[test]
fn the_cli_finds_a_server_through_its_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("elsewhere");
    let server = crate::harness::Spawned::start(&data, &dir.path().join("log"));
    let url = std::fs::read_to_string(data.join("admin.url")).expect("up records its admin URL");
    assert_eq!(url, server.url);
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_waygate"))
            .args(args)
            .env("WAYGATE_DATA_DIR", &data)
            .env_remove("WAYGATE_ENDPOINT")
            .env_remove("WAYGATE_TOKEN")
            .output()
            .expect("run waygate")
    };
    let out = ok(&cli(&["function", "list", "--output", "json"]));
    assert!(out.contains("functions"), "{out}");
    // An explicit endpoint wins over the recorded one.
    let o = cli(&["function", "list", "--endpoint", "http://127.0.0.1:9"]);
    assert!(!o.status.success(), "a dead explicit endpoint is used, not the recorded one");
    server.kill();
}

/// `function config`: `--env-set`/`--env-unset` change single variables; `--env` replaces
/// the set and says what it removed; `--output id` prints only the name. `secret put`
/// refuses an empty value unless told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_merge_flags_and_empty_secrets_from_the_cli() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let s = &s2;
        let created = ok(&waygate(s, &["function", "create", "f", "--env", "AA=1", "--env", "BB=2", "--output", "id"]));
        assert_eq!(created.trim(), "f");
        let env = |s: &TestServer| {
            let out = ok(&waygate(s, &["function", "get", "f", "--output", "json"]));
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            v["config"]["env"].clone()
        };
        ok(&waygate(s, &["function", "config", "f", "--env-set", "CC=3", "--env-set", "AA=10"]));
        assert_eq!(env(s), serde_json::json!({ "AA": "10", "BB": "2", "CC": "3" }));
        ok(&waygate(s, &["function", "config", "f", "--env-unset", "AA"]));
        assert_eq!(env(s), serde_json::json!({ "BB": "2", "CC": "3" }));
        let o = waygate(s, &["function", "config", "f", "--env-unset", "NOPE"]);
        assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("f has no such variable"));
        let o = waygate(s, &["function", "config", "f", "--env", "XX=9"]);
        assert!(o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("removed BB, CC"), "a replacement names what it drops: {err}");
        assert_eq!(env(s), serde_json::json!({ "XX": "9" }));

        let o = waygate(s, &["secret", "put", "dev", "db-password"]);
        assert!(!o.status.success(), "an empty value (nothing on stdin) is refused");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-empty"));
        let out = ok(&waygate(s, &["secret", "list", "dev", "--output", "id"]));
        assert!(out.trim().is_empty(), "nothing stored: {out}");
        ok(&waygate(s, &["secret", "put", "dev", "db-password", "--allow-empty"]));
        assert_eq!(ok(&waygate(s, &["secret", "list", "dev", "--output", "id"])).trim(), "db-password");
    })
    .await
    .unwrap();
}
