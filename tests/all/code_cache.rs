//! The code cache's bounds: idle code is unloaded and comes back (verified again) on the
//! next request, the byte budget holds under concurrent load, and the CLI flags reach the
//! runtime (`GET /v1/runtime`, `/metrics`).

use crate::fixtures;
use crate::harness::{Spawned, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn code_stats(s: &TestServer) -> Value {
    let (st, v) = s.call(Method::GET, "/v1/runtime", None).await;
    assert_eq!(st, 200, "{v}");
    v["code"].clone()
}

/// Polls `GET /v1/runtime` until `done(code)` (at most 20 s).
async fn wait_for(s: &TestServer, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let code = code_stats(s).await;
        if done(&code) {
            return code;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}: {code}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn artifact_of(data: &std::path::Path, hash: &str) -> std::path::PathBuf {
    for fp in std::fs::read_dir(data.join("artifacts")).unwrap().flatten() {
        for f in std::fs::read_dir(fp.path()).unwrap().flatten() {
            if f.path().to_string_lossy().contains(hash) {
                return f.path();
            }
        }
    }
    panic!("no artifact for {hash}")
}

#[tokio::test]
async fn idle_code_is_unloaded_and_the_next_request_reloads_it_verified() {
    let s = TestServer::start_with(|c| c.runtime.code_idle = Some(Duration::from_secs(1))).await;
    s.deploy("f1", json!({}), &fixtures::print("v1")).await;
    let up = s.deploy("f2", json!({}), &fixtures::print("fine")).await;
    let warm = s.invoke("f1", "").await;
    assert_eq!((warm.status, warm.text().as_str()), (200, "v1"));
    assert!(warm.timing("load").is_none(), "loaded at upload: {}", warm.server_timing);
    assert_eq!(code_stats(&s).await["idle_s"], 1);

    // Nobody calls: both go, and only their metadata stays.
    let code = wait_for(&s, "the idle unload", |c| c["loaded_modules"] == 0).await;
    assert!(code["unloaded_idle"].as_u64().unwrap() >= 2, "{code}");
    assert_eq!(code["loaded_bytes"], 0, "{code}");

    // The next request loads it again (and says so), the one after doesn't.
    let back = s.invoke("f1", "").await;
    assert_eq!((back.status, back.text().as_str()), (200, "v1"));
    assert!(back.timing("load").is_some(), "{}", back.server_timing);
    assert!(s.invoke("f1", "").await.timing("load").is_none());

    // Reloaded from its file (wasmtime maps the checked artifact): the file replaced or
    // deleted under a loaded module changes nothing for it — no rebuild, same answers —
    // since artifact files are only ever replaced by a rename.
    let f1_artifact = {
        let (_, v) = s.call(Method::GET, "/v1/functions/f1", None).await;
        artifact_of(&s.data(), v["code_hash"].as_str().unwrap())
    };
    let kept = std::fs::read(&f1_artifact).unwrap();
    std::fs::remove_file(&f1_artifact).unwrap();
    for _ in 0..3 {
        let again = s.invoke("f1", "").await;
        assert_eq!((again.status, again.text().as_str()), (200, "v1"));
        assert!(again.timing("load").is_none(), "{}", again.server_timing);
    }
    assert!(!f1_artifact.exists(), "nothing rebuilt while loaded");
    std::fs::write(&f1_artifact, kept).unwrap();

    // Tampered while unloaded: the reload checks the artifact's hash again and rebuilds it
    // from the verified blob instead of running the altered bytes.
    let target = artifact_of(&s.data(), up["code_hash"].as_str().unwrap());
    let mut bytes = std::fs::read(&target).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&target, &bytes).unwrap();
    let inv = s.invoke("f2", "").await;
    assert_eq!((inv.status, inv.text().as_str()), (200, "fine"));
    assert_ne!(std::fs::read(&target).unwrap(), bytes, "the tampered artifact was rewritten, not run");

    let (st, metrics) = {
        let r = s.req(Method::GET, "/metrics").send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(st, 200);
    let total = metrics
        .lines()
        .find_map(|l| l.strip_prefix("waygate_code_idle_unloads_total "))
        .unwrap_or_else(|| panic!("no idle unload counter in {metrics}"));
    assert!(total.trim().parse::<u64>().unwrap() >= 2, "{total}");
    assert!(metrics.contains("waygate_code_loaded_bytes ") && metrics.contains("waygate_pool_warm_slots "));
}

#[tokio::test]
async fn the_code_budget_holds_under_concurrent_load() {
    const BUDGET: usize = 96 << 10;
    let s = TestServer::start_with(|c| c.runtime.code_cache_bytes = BUDGET).await;
    let mut sizes = Vec::new();
    for i in 0..8 {
        let up = s.deploy(&format!("f{i}"), json!({}), &fixtures::print(&format!("out{i}"))).await;
        sizes.push(std::fs::metadata(artifact_of(&s.data(), up["code_hash"].as_str().unwrap())).unwrap().len());
    }
    let largest = *sizes.iter().max().unwrap() as usize;
    assert!(largest * 2 <= BUDGET, "fixture artifacts grew ({largest} bytes): raise BUDGET");
    assert!(sizes.iter().sum::<u64>() as usize > BUDGET, "the eight must not fit: lower BUDGET ({sizes:?})");

    // 8 functions × 12 calls, 8 at a time, round robin: every call answers, the budget
    // holds throughout (sampled between rounds) and code is unloaded to keep it.
    let s = &s;
    for round in 0..12 {
        let calls = (0..8).map(|i| async move {
            let inv = s.invoke(&format!("f{i}"), "").await;
            assert_eq!((inv.status, inv.text()), (200, format!("out{i}")), "round {round}");
        });
        futures_util::future::join_all(calls).await;
        let code = code_stats(s).await;
        assert!(code["loaded_bytes"].as_u64().unwrap() as usize <= BUDGET, "{code}");
        assert_eq!(code["max_bytes"], BUDGET, "{code}");
    }
    let code = code_stats(s).await;
    assert!(code["evicted"].as_u64().unwrap() > 0 && code["loaded_modules"].as_u64().unwrap() >= 2, "{code}");
}

#[test]
fn the_cli_sets_the_code_bounds_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let s = Spawned::start_with(
        &dir.path().join("data"),
        &log,
        &["--code-cache-mb", "3", "--code-idle-s", "0", "--loaded-modules", "7", "--warm-slots", "5"],
    );
    let (st, v) = s.call(Method::GET, "/v1/runtime", None).unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["code"]["max_bytes"], 3 << 20, "{v}");
    assert_eq!(v["code"]["max_modules"], 7, "{v}");
    assert_eq!(v["code"]["idle_s"], Value::Null, "0 turns the idle unload off: {v}");
    assert_eq!(v["pool"]["max_warm_slots"], 5, "{v}");
    assert_eq!(v["pool"]["development_priority"], "normal", "what the test servers run with: {v}");
    drop(s);

    for (flag, value) in [
        ("--code-cache-mb", "0"),
        ("--code-idle-s", "604801"),
        ("--loaded-modules", "0"),
        ("--development-priority", "idle"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_waygate"))
            .args(["up", "--no-examples", flag, value, "--data-dir"])
            .arg(dir.path().join("refused"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(flag), "{flag} {value}: {err}");
    }
}
