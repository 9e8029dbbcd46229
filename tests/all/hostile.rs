//! Guests that misbehave on purpose. Each must end in a clean function error, and the
//! server must go on serving others afterwards.

use crate::fixtures;
use crate::harness::TestServer;
use serde_json::json;
use std::time::Instant;

async fn still_serving(s: &TestServer) {
    assert_eq!(s.invoke("ok", "").await.text(), "fine", "server still serves after a hostile guest");
}

async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.deploy("ok", json!({}), &fixtures::print("fine")).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_times_out() {
    let s = server().await;
    s.deploy("spin", json!({ "timeout_ms": 300 }), &fixtures::infinite_loop()).await;
    let started = Instant::now();
    let inv = s.invoke("spin", "").await;
    let msg = inv.expect_error("Sandbox.Timedout");
    assert_eq!(msg, format!("RequestId: {} Error: Task timed out after 0.30 seconds", inv.request_id));
    // Server-side: the run stopped within timeout + 100 ms.
    let run = inv.timing("run").unwrap() + inv.timing("instantiate").unwrap();
    assert!((300.0..400.0).contains(&run), "ran {run} ms");
    assert!(started.elapsed().as_millis() >= 300);
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_does_not_stall_others() {
    let s = std::sync::Arc::new(server().await);
    s.deploy("spin", json!({ "timeout_ms": 2000 }), &fixtures::infinite_loop()).await;
    // Two spinners on a two-worker runtime: without epoch yields they'd hold both workers.
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.invoke("spin", "").await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let t = Instant::now();
    still_serving(&s).await;
    assert!(t.elapsed().as_millis() < 1500, "answered while guests spun ({} ms)", t.elapsed().as_millis());
    for sp in spinners {
        sp.await.unwrap().expect_error("Sandbox.Timedout");
    }
}

#[tokio::test]
async fn sleeping_in_a_host_call_times_out() {
    let s = server().await;
    s.deploy("sleepy", json!({ "timeout_ms": 200 }), &fixtures::sleep_in_host()).await;
    let t = Instant::now();
    let inv = s.invoke("sleepy", "").await;
    inv.expect_error("Sandbox.Timedout");
    // The sleep asked for 60 s: the host wakes it at the deadline instead.
    assert!(t.elapsed() < std::time::Duration::from_secs(30), "took {:?}", t.elapsed());
    still_serving(&s).await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_limit() {
    let s = server().await;
    s.deploy("bomb", json!({ "memory_mb": 16 }), &fixtures::memory_bomb()).await;
    let inv = s.invoke("bomb", "").await;
    let msg = inv.expect_error("Runtime.OutOfMemory");
    assert!(msg.contains("memory limit of 16 MB exceeded"), "{msg}");
    still_serving(&s).await;
}

#[tokio::test]
async fn deep_recursion_traps() {
    let s = server().await;
    s.deploy("rec", json!({}), &fixtures::deep_recursion()).await;
    let msg = s.invoke("rec", "").await.expect_error("Runtime.Trap");
    assert!(msg.contains("call stack exhausted"), "{msg}");
    still_serving(&s).await;
}

#[tokio::test]
async fn stdout_flood_is_capped() {
    let s = server().await;
    s.deploy("flood", json!({ "timeout_ms": 20000 }), &fixtures::stdout_flood()).await;
    let inv = s.invoke("flood", "").await;
    let msg = inv.expect_error("Function.ResponseSizeTooLarge");
    assert!(msg.contains("6291456"), "{msg}");
    still_serving(&s).await;
}

#[tokio::test]
async fn proc_exit_codes() {
    let s = server().await;
    s.deploy("exit3", json!({}), &fixtures::exit(3)).await;
    let inv = s.invoke("exit3", "").await;
    let msg = inv.expect_error("Runtime.ExitError");
    assert_eq!(msg, format!("RequestId: {} Error: Runtime exited with error: exit status 3", inv.request_id));
    s.deploy("exit0", json!({}), &fixtures::exit(0)).await;
    let inv = s.invoke("exit0", "").await;
    assert_eq!((inv.status, inv.function_error.clone()), (200, None), "exit 0 is success");
    still_serving(&s).await;
}
