use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;

#[tokio::test]
async fn payload_in_stdout_out() {
    let s = TestServer::start().await;
    s.deploy("echo", json!({}), &fixtures::echo()).await;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let inv = s.invoke("echo", payload.clone()).await;
    assert_eq!(inv.status, 200);
    assert_eq!(inv.body, payload, "binary payload round-trips");
    assert_eq!(inv.version, "$LATEST");
    assert_eq!(inv.function_error, None);
    assert_eq!(uuid::Uuid::parse_str(&inv.request_id).unwrap().get_version_num(), 4);
    assert!(
        inv.timing("instantiate").is_some() && inv.timing("run").is_some() && inv.timing("total").is_some(),
        "{}",
        inv.server_timing
    );
    assert_eq!(s.invoke("echo", "").await.body, b"");
}

#[tokio::test]
async fn code_is_loaded_at_upload_and_publish_and_load_is_reported_only_when_a_request_loaded_it() {
    let s = TestServer::start().await;
    s.deploy("f1", json!({}), &fixtures::print("x")).await;
    // The upload loaded the code: the first request doesn't.
    let first = s.invoke("f1", "").await;
    assert!(first.timing("load").is_none(), "{}", first.server_timing);
    // After an eviction the next request loads it, the one after doesn't.
    assert_eq!(s.call(Method::POST, "/v1/runtime/evict", None).await.0, 200);
    let cold = s.invoke("f1", "").await;
    assert!(cold.timing("load").is_some(), "{}", cold.server_timing);
    let warm = s.invoke("f1", "").await;
    assert!(warm.timing("load").is_none(), "{}", warm.server_timing);
    // Publishing loads the version's code if it was evicted.
    assert_eq!(s.call(Method::POST, "/v1/runtime/evict", None).await.0, 200);
    assert_eq!(s.publish("f1", json!({})).await.0, 201);
    let published = s.invoke("f1:1", "").await;
    assert_eq!(published.text(), "x");
    assert!(published.timing("load").is_none(), "{}", published.server_timing);
}

#[tokio::test]
async fn environment_has_config_and_reserved_variables() {
    let s = TestServer::start().await;
    s.deploy(
        "envf",
        json!({ "env": { "GREETING": "hi there", "DB_TABLE": "orders" }, "memory_mb": 64 }),
        &fixtures::env(),
    )
    .await;
    s.publish("envf", json!({})).await;
    s.call(Method::PUT, "/v1/functions/envf/aliases/PROD", Some(json!({ "version": "1" }))).await;
    let env = |body: &[u8]| -> HashMap<String, String> {
        body.split(|b| *b == 0)
            .filter(|e| !e.is_empty())
            .filter_map(|e| std::str::from_utf8(e).ok()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    let inv = s.invoke("envf:PROD", "").await;
    let e = env(&inv.body);
    assert_eq!(e["GREETING"], "hi there");
    assert_eq!(e["DB_TABLE"], "orders");
    assert_eq!(e["AWS_LAMBDA_FUNCTION_NAME"], "envf");
    assert_eq!(e["AWS_LAMBDA_FUNCTION_VERSION"], "1");
    assert_eq!(e["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "64");
    assert_eq!(e["WAYGATE_QUALIFIER"], "PROD");
    assert_eq!(e["WAYGATE_ALIAS"], "PROD");
    assert_eq!(e["WAYGATE_REQUEST_ID"], inv.request_id);
    assert!(!e.contains_key("WAYGATE_STAGE"));
    let e = env(&s.invoke("envf:1", "").await.body);
    assert_eq!(e["WAYGATE_QUALIFIER"], "1");
    assert!(!e.contains_key("WAYGATE_ALIAS"));
    let e = env(&s.invoke("envf", "").await.body);
    assert_eq!((e["WAYGATE_QUALIFIER"].as_str(), e["AWS_LAMBDA_FUNCTION_VERSION"].as_str()), ("$LATEST", "$LATEST"));
}

#[tokio::test]
async fn stderr_is_the_log_not_the_response() {
    let s = TestServer::start().await;
    s.deploy("logs", json!({}), &fixtures::logs()).await;
    assert_eq!(s.invoke("logs", "").await.text(), "ok");
}

#[tokio::test]
async fn qualifier_errors() {
    let s = TestServer::start().await;
    s.create("nocode", json!({})).await;
    let inv = s.invoke("nocode", "").await;
    assert_eq!(inv.status, 409, "{}", inv.text());
    assert!(inv.text().contains("has no code yet"));
    s.deploy("f1", json!({}), &fixtures::print("x")).await;
    for (target, status, msg) in [
        ("missing", 404, "Function not found: waygate:function:missing"),
        ("f1:4", 404, "Function not found: waygate:function:f1:4"),
        ("f1:NOPE", 404, "Function not found: waygate:function:f1:NOPE"),
        ("f1:0", 400, "Invalid version"),
        ("f1:a b", 400, "Invalid qualifier"),
    ] {
        let inv = s.invoke(target, "").await;
        assert_eq!(inv.status, status, "{target}: {}", inv.text());
        assert!(inv.text().contains(msg), "{target}: {}", inv.text());
    }
    // Qualifier in the path and in the query must agree.
    let r = s.req(Method::POST, "/v1/functions/f1:$LATEST/invoke?qualifier=2").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = s.req(Method::POST, "/v1/functions/f1:$LATEST/invoke").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn payload_limit() {
    let s = TestServer::start_with(|c| c.max_payload_bytes = 1024).await;
    s.deploy("echo", json!({}), &fixtures::echo()).await;
    assert_eq!(s.invoke("echo", vec![b'a'; 1024]).await.status, 200);
    let inv = s.invoke("echo", vec![b'a'; 1025]).await;
    assert_eq!(inv.status, 413);
    assert_eq!(inv.json()["message"], "Request must be smaller than 1024 bytes for the InvokeFunction operation");
}

#[tokio::test]
async fn pool_exhaustion_throttles_with_429() {
    // $LATEST runs as development: let its share be the whole pool, so the pool is the limit.
    let s = std::sync::Arc::new(
        TestServer::start_with(|c| {
            c.runtime.max_instances = 2;
            c.runtime.development_instances = Some(2);
        })
        .await,
    );
    s.deploy("slow", json!({ "timeout_ms": 1500 }), &fixtures::infinite_loop()).await;
    s.deploy("quick", json!({}), &fixtures::print("ok")).await;
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.invoke("slow", "").await })
        })
        .collect();
    // Wait until both slots are taken, then a third invocation is refused.
    let mut throttled = None;
    for _ in 0..100 {
        let inv = s.invoke("quick", "").await;
        if inv.status == 429 {
            throttled = Some(inv);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let inv = throttled.expect("a third concurrent invocation was throttled");
    assert_eq!(inv.json()["type"], "TooManyRequestsException");
    assert_eq!(inv.json()["reason"], "ConcurrentInvocationLimitExceeded");
    for b in busy {
        b.await.unwrap().expect_error("Sandbox.Timedout");
    }
    assert_eq!(s.invoke("quick", "").await.text(), "ok", "slots are given back");
}
