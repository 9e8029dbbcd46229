//! Outbound HTTP from functions end to end: guest-examples' prebuilt `fetch-http` (a
//! wasi:http component that calls a URL through `wasi:http/outgoing-handler`) against
//! backends the tests start on 127.0.0.1. The version's allow-list decides, its
//! `${environment.NAME}` placeholders filled from the invoking environment's values (so
//! dev reaches the sandbox and prod the real service); refused calls never leave the host
//! and are logged; the private-address rule, the request budget and the deadline hold.

use crate::backends::backend;
use crate::components::log_lines;
use crate::harness::{json_of, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn fetch_wasm() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/fetch-http.wasm"))
        .expect("fetch-http.wasm (guest-examples/build.sh)")
}

/// Invokes `name` in `environment`: (HTTP status, server-timing, body as JSON).
async fn invoke_in(s: &TestServer, name: &str, environment: &str) -> (u16, String, Value) {
    let r = s
        .req(Method::POST, &format!("/v1/functions/{name}/invoke"))
        .query(&[("environment", environment)])
        .body("")
        .send()
        .await
        .expect("invoke");
    let timing = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (status, v) = json_of(r).await;
    (status, timing, v)
}

async fn config(s: &TestServer, name: &str, patch: Value) -> (u16, Value) {
    s.call(Method::PATCH, &format!("/v1/functions/{name}/config"), Some(patch)).await
}

async fn set_value(s: &TestServer, environment: &str, name: &str, value: &str) {
    let (st, v) = s
        .call(Method::PUT, &format!("/v1/environments/{environment}/values/{name}"), Some(json!({ "value": value })))
        .await;
    assert!(st == 200 || st == 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_follow_the_versions_allow_list_and_the_environments_values() {
    let s = TestServer::start().await;
    let (sandbox, real) = (backend("sandbox").await, backend("real").await);
    s.create("pay", json!({ "env": { "PAYMENTS_URL": "http://${environment.paymentsHost}/charge" } })).await;
    let (st, up) = s.upload("pay", &fetch_wasm()).await;
    assert_eq!(st, 200, "{up}");
    assert_eq!(up["kind"], "wasi-http");
    let note = up["outbound"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("declares no outbound hosts: every request will be refused"), "{up}");
    set_value(&s, "dev", "paymentsHost", &sandbox.addr.to_string()).await;
    set_value(&s, "prod", "paymentsHost", &real.addr.to_string()).await;
    let (_, list) = s.call(Method::GET, "/v1/environments/dev/values", None).await;
    assert_eq!(list["values"][0]["value"], sandbox.addr.to_string().as_str(), "{list}");

    // No allow-list: refused inside the guest, logged, nothing sent.
    let (st, _, v) = invoke_in(&s, "pay", "dev").await;
    assert_eq!(st, 200);
    assert!(v["error"].as_str().unwrap_or_default().contains("HttpRequestDenied"), "{v}");
    assert_eq!(sandbox.served.load(Ordering::SeqCst), 0);
    let logs = log_lines(&s, "pay").await.join("\n");
    assert!(logs.contains("[waygate] outbound request refused: GET http://127.0.0.1"), "{logs}");
    assert!(logs.contains("(the version declares no outbound hosts)"), "{logs}");

    // The allow-list names the host through the environment's value: each environment
    // reaches its own backend with the same code and configuration.
    let (st, v) = config(&s, "pay", json!({ "outbound": ["http://${environment.paymentsHost}"] })).await;
    assert_eq!(st, 200, "{v}");
    let (_, timing, v) = invoke_in(&s, "pay", "dev").await;
    assert_eq!(v["status"], 200, "{v}");
    let echoed: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!((echoed["backend"].as_str(), echoed["path"].as_str()), (Some("sandbox"), Some("/charge")));
    assert!(timing.contains("outbound;dur="), "{timing}");
    let (_, _, v) = invoke_in(&s, "pay", "prod").await;
    let echoed: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["backend"], "real");
    let logs = log_lines(&s, "pay").await.join("\n");
    assert!(logs.contains("Outbound Requests: 1\tOutbound Duration:"), "{logs}");

    // An environment without the value: the env var can't be filled (a configuration
    // error naming it), and neither can the allow-list entry.
    let (st, _, v) = invoke_in(&s, "pay", "staging").await;
    assert!(st >= 400, "{v}");
    assert!(v["message"].as_str().unwrap_or_default().contains("environment value 'paymentsHost' is not set"), "{v}");

    // The frozen version keeps its allow-list when $LATEST's changes.
    let (st, v) = s.publish("pay", json!({})).await;
    assert_eq!(st, 201, "{v}");
    config(&s, "pay", json!({ "outbound": [] })).await;
    let (_, _, v) = invoke_in(&s, "pay:1", "dev").await;
    assert_eq!(v["status"], 200, "version 1 keeps its allow-list: {v}");
    let (_, _, v) = invoke_in(&s, "pay", "dev").await;
    assert!(v["error"].as_str().unwrap_or_default().contains("HttpRequestDenied"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_budget_and_deadline() {
    let s = TestServer::start().await;
    let b = backend("b").await;
    let port = b.addr.port();
    s.create("f", json!({ "timeout_ms": 1000 })).await;
    let (st, v) = s.upload("f", &fetch_wasm()).await;
    assert_eq!(st, 200, "{v}");
    let cases = [
        // `*` matches, but does not name loopback: the address rule refuses it.
        (vec!["http://*:*".to_string()], format!("http://127.0.0.1:{port}/x"), "DestinationIpProhibited"),
        // A name that resolves to loopback is refused even when named.
        (vec!["http://localhost:*".to_string()], format!("http://localhost:{port}/x"), "DestinationIpProhibited"),
        // Not on the list at all.
        (vec!["https://payments.example.com".to_string()], format!("http://127.0.0.1:{port}/x"), "HttpRequestDenied"),
    ];
    for (allow, url, error) in cases {
        let patch = json!({ "outbound": allow, "env": { "PAYMENTS_URL": url } });
        let (st, v) = config(&s, "f", patch).await;
        assert_eq!(st, 200, "{v}");
        let (_, _, v) = invoke_in(&s, "f", "dev").await;
        assert!(v["error"].as_str().unwrap_or_default().contains(error), "{url}: {v}");
    }
    assert_eq!(b.served.load(Ordering::SeqCst), 0, "refused calls never left the host");

    // Named by IP literal: allowed.
    let allow = json!([format!("http://127.0.0.1:{port}")]);
    config(&s, "f", json!({ "outbound": allow, "env": { "PAYMENTS_URL": format!("http://127.0.0.1:{port}/x") } }))
        .await;
    let r =
        s.req(Method::POST, "/v1/functions/f/invoke").query(&[("environment", "dev")]).body("").send().await.unwrap();
    let (_, v) = json_of(r).await;
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(b.served.load(Ordering::SeqCst), 1);

    // The response budget (10 MB in all) and the deadline (the function's timeout) hold
    // while the guest waits on the network.
    config(&s, "f", json!({ "env": { "PAYMENTS_URL": format!("http://127.0.0.1:{port}/big?n=11000000") } })).await;
    let (_, _, v) = invoke_in(&s, "f", "dev").await;
    assert!(v["error"].as_str().unwrap_or_default().contains("reading the response"), "{v}");
    config(&s, "f", json!({ "env": { "PAYMENTS_URL": format!("http://127.0.0.1:{port}/slow") } })).await;
    let started = Instant::now();
    let r = s.invoke("f", "").await;
    let took = started.elapsed();
    let error_ok = r.function_error.is_some() || r.text().contains("ConnectionTimeout");
    assert!(error_ok, "{}", r.text());
    assert!(took < Duration::from_millis(1900), "the 2 s backend held the 1 s function for {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget_and_bad_entries() {
    let s = TestServer::start().await;
    let b = backend("b").await;
    s.create("f", json!({})).await;
    s.upload("f", &fetch_wasm()).await;
    for (bad, why) in [
        (json!(["payments.example.com"]), "expected SCHEME://HOST[:PORT]"),
        (json!(["https://x/path"]), "no path"),
        (json!(["https://${secret.x}"]), "only ${environment.NAME}"),
        (json!(vec!["https://a.example.com"; 33]), "at most 32"),
    ] {
        let (st, v) = config(&s, "f", json!({ "outbound": bad })).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["message"].as_str().unwrap_or_default().contains(why), "{v}");
    }
    let (_, f) = s.call(Method::GET, "/v1/functions/f", None).await;
    assert!(f["config"].get("outbound").is_none(), "nothing stored: {f}");
    for (method, path, body) in [
        (Method::PUT, "/v1/environments/dev/values/bad%20name", json!({ "value": "x" })),
        (Method::PUT, "/v1/environments/dev/values/ok", json!({ "value": "has space" })),
        (Method::PUT, "/v1/environments/dev/values/ok", json!({ "value": "" })),
    ] {
        let (st, v) = s.call(method, path, Some(body)).await;
        assert_eq!(st, 400, "{path}: {v}");
    }
    let (st, _) = s.call(Method::DELETE, "/v1/environments/dev/values/none", None).await;
    assert_eq!(st, 404);

    // 60 calls asked through the gateway's query, 50 made: the per-invocation budget.
    let allow = json!([format!("http://127.0.0.1:{}", b.addr.port())]);
    let url = format!("http://127.0.0.1:{}/x", b.addr.port());
    config(&s, "f", json!({ "outbound": allow, "env": { "PAYMENTS_URL": url } })).await;
    let (_, api) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "fetch" }))).await;
    let api = api["id"].as_str().unwrap().to_string();
    let route = json!({ "method": "GET", "path": "/fetch", "integration": { "type": "function", "target": "f" } });
    s.call(Method::PUT, &format!("/v1/apis/{api}/routes"), Some(route)).await;
    crate::canary::allow(&s, "f", &api).await;
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({ "stage": "dev" }))).await;
    assert_eq!(st, 201, "{v}");
    let r = s.gw(Method::GET, &format!("/{api}/dev/fetch?n=60")).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["calls"], 51, "{v}");
    assert!(v["error"].as_str().unwrap_or_default().contains("HttpRequestDenied"), "{v}");
    assert_eq!(b.served.load(Ordering::SeqCst), 50);
    let logs = log_lines(&s, "f").await.join("\n");
    assert!(logs.contains("more than 50 outbound requests in one invocation"), "{logs}");
}
