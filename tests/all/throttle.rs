//! Stage and route throttles (token buckets) and functions' reserved concurrency (the
//! isolation of one stage from a misbehaving other is `isolation.rs`).

use crate::canary::{api_for, echo_function};
use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn status_of(s: &TestServer, path: &str) -> (u16, Option<String>, Value) {
    let r = s.gw(Method::GET, path).send().await.expect("gateway request");
    let kind = r.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_string);
    let status = r.status().as_u16();
    (status, kind, r.json::<Value>().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_throttle_429_route_override_and_recovery() {
    let s = TestServer::start().await;
    echo_function(&s, "echo").await;
    let (api, _) = api_for(&s, "echo", "echo", "dev").await;
    let stage = format!("/v1/apis/{api}/stages/dev");
    for bad in [
        json!({ "rate_per_second": 5.0 }),
        json!({ "rate_per_second": -1.0, "burst": 1 }),
        json!({ "rate_per_second": 1.0, "burst": 6000 }),
        json!({ "rate_per_second": 1.0, "burst": 1, "routes": { "FETCH /x": { "rate_per_second": 1.0, "burst": 1 } } }),
        // A well-formed key that names no route of the stage's deployment would never apply.
        json!({ "routes": { "POST /orders": { "rate_per_second": 1.0, "burst": 1 } } }),
    ] {
        let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "throttle": bad }))).await;
        assert_eq!(st, 400, "{v}");
    }
    let (_, v) = s
        .call(
            Method::PATCH,
            &stage,
            Some(json!({ "throttle": { "routes": { "POST /orders": { "rate_per_second": 1.0, "burst": 1 } } } })),
        )
        .await;
    assert_eq!(
        v["message"],
        "Invalid throttle route 'POST /orders': stage dev serves no such route (its routes: ANY /{proxy+}, GET /mock)"
    );
    // 2 req/s with a burst of 3 on the stage; the echo route gets its own, larger bucket.
    let throttle = json!({ "rate_per_second": 2.0, "burst": 3,
        "routes": { "ANY /{proxy+}": { "rate_per_second": 1000.0, "burst": 1000 } } });
    let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "throttle": throttle }))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["throttle"]["burst"], 3);

    let mock = format!("/{api}/dev/mock");
    let mut ok = 0;
    let mut throttled = 0;
    let started = Instant::now();
    for _ in 0..10 {
        match status_of(&s, &mock).await {
            (200, _, _) => ok += 1,
            (429, kind, body) => {
                throttled += 1;
                assert_eq!(kind.as_deref(), Some("TooManyRequestsException"));
                assert_eq!(body, json!({ "message": "Too Many Requests" }));
            }
            other => panic!("{other:?}"),
        }
    }
    // The burst, plus what refilled at 2/s while the loop ran (slow machines refill more).
    let refills = (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(ok >= 3 && ok <= 3 + refills, "{ok} passed in {:?}", started.elapsed());
    assert!(throttled >= 1 && ok + throttled == 10, "{throttled} throttled");
    let text = s.req(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let series = format!(r#"waygate_stage_throttles_total{{api="{api}",stage="dev"}} {throttled}"#);
    assert!(text.contains(&series), "missing {series} in:\n{text}");
    // The overridden route is not starved by the stage's empty bucket.
    for _ in 0..5 {
        assert_eq!(status_of(&s, &format!("/{api}/dev/items")).await.0, 200);
    }
    // Recovery: tokens come back at the configured rate.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status_of(&s, &mock).await.0, 200);
    // Removing the throttle lifts it.
    let (st, _) = s.call(Method::PATCH, &stage, Some(json!({ "throttle": {} }))).await;
    assert_eq!(st, 200);
    for _ in 0..10 {
        assert_eq!(status_of(&s, &mock).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_on_gateway_and_direct_invoke() {
    let s = Arc::new(TestServer::start().await);
    s.deploy("spin", json!({ "timeout_ms": 1000 }), &fixtures::infinite_loop()).await;
    echo_function(&s, "echo").await;
    let (api, _) = api_for(&s, "echo", "echo", "dev").await;
    let (st, v) =
        s.call(Method::PUT, "/v1/functions/echo/concurrency", Some(json!({ "reserved_concurrency": 0 }))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["reserved_concurrency"], 0);
    let (_, f) = s.call(Method::GET, "/v1/functions/echo", None).await;
    assert_eq!(f["reserved_concurrency"], 0, "{f}");

    // 0 throttles everything: 429 on the gateway and on direct invoke.
    let (status, kind, body) = status_of(&s, &format!("/{api}/dev/x")).await;
    assert_eq!((status, kind.as_deref()), (429, Some("TooManyRequestsException")), "{body}");
    let r = s.req(Method::POST, "/v1/functions/echo/invoke").body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reason"], "ReservedFunctionConcurrentInvocationLimitExceeded", "{v}");
    assert_eq!(v["type"], "TooManyRequestsException", "{v}");

    let (st, _) = s.call(Method::DELETE, "/v1/functions/echo/concurrency", None).await;
    assert_eq!(st, 204);
    assert_eq!(status_of(&s, &format!("/{api}/dev/x")).await.0, 200);

    // 1: a second simultaneous invocation is refused while the first spins.
    for bad in [json!({ "reserved_concurrency": -1 }), json!({ "reserved_concurrency": 100000 }), json!({})] {
        let (st, v) = s.call(Method::PUT, "/v1/functions/spin/concurrency", Some(bad)).await;
        assert_eq!(st, 400, "{v}");
    }
    let (st, _) =
        s.call(Method::PUT, "/v1/functions/spin/concurrency", Some(json!({ "reserved_concurrency": 1 }))).await;
    assert_eq!(st, 200);
    // Three at once: one runs (spinning 1 s), the others are refused while it does.
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.invoke("spin", "").await })
        })
        .collect();
    let (mut ran, mut refused) = (0, 0);
    for c in calls {
        let inv = c.await.unwrap();
        match inv.status {
            429 => refused += 1,
            _ => {
                inv.expect_error("Sandbox.Timedout");
                ran += 1;
            }
        }
    }
    assert!(ran >= 1 && refused >= 1, "{ran} ran, {refused} refused under reserved_concurrency 1");
    // The place is free again once the first is gone.
    assert_eq!(s.invoke("spin", "").await.status, 200);
}
