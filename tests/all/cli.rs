//! The `waygate` binary as a user drives it against a running server.

use crate::harness::TestServer;
use std::process::{Command, Output};

fn waygate(s: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waygate"))
        .args(args)
        .env("WAYGATE_ENDPOINT", &s.url)
        .env("WAYGATE_DATA_DIR", s.data())
        .env_remove("WAYGATE_TOKEN")
        .output()
        .expect("run waygate")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

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
