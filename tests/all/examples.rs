//! The bundled Rust guests (guest-examples/prebuilt), as `waygate up` registers them.

use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

async fn with_examples() -> TestServer {
    let s = TestServer::start().await;
    let server_platform = s.platform();
    waygate::examples::register(&server_platform).await.expect("examples register");
    s
}

#[tokio::test]
async fn hello_greets_with_its_env() {
    let s = with_examples().await;
    let v = s.invoke("hello", r#"{"name":"you"}"#).await.json();
    assert_eq!(v, json!({ "message": "Hello, you!", "greeting_from": "Hello from Waygate", "version": "$LATEST" }));
    let v = s.invoke("hello", "not json").await.json();
    assert_eq!(v["message"], "Hello, world!");
}

#[tokio::test]
async fn hello_http_is_a_component_that_greets() {
    let s = with_examples().await;
    let (_, f) = s.call(Method::GET, "/v1/functions/hello-http", None).await;
    assert_eq!(f["kind"], "wasi-http", "{f}");
    let out = s.invoke("hello-http", "").await;
    assert_eq!(out.json(), json!({ "message": "Hello, world!", "greeting_from": "Waygate", "version": "1" }));
}

#[tokio::test]
async fn orders_reports_version_alias_and_environment() {
    let s = with_examples().await;
    let order = r#"{"order_id":"A1","items":[{"sku":"x","qty":2}]}"#;
    let stable = s.invoke("orders:STABLE", order).await;
    assert_eq!(stable.version, "1");
    let v = stable.json();
    assert_eq!(v["message"], "Order processed");
    assert_eq!(v["item_count"], 1);
    assert_eq!(v["processed_by"], json!({ "function": "orders", "version": "1", "alias": "STABLE", "stage": null }));
    assert_eq!(v["environment"], "stable");
    let exp = s.invoke("orders:EXPERIMENTAL", order).await;
    assert_eq!(exp.version, "$LATEST");
    assert_eq!(exp.json()["environment"], "experimental");
    assert_eq!(exp.json()["processed_by"]["alias"], "EXPERIMENTAL");
    let (_, aliases) = s.call(Method::GET, "/v1/functions/orders/aliases", None).await;
    assert_eq!(aliases["aliases"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn echo_shows_event_and_env() {
    let s = with_examples().await;
    let v = s.invoke("echo", r#"{"a":[1,2]}"#).await.json();
    assert_eq!(v["event"], json!({ "a": [1, 2] }));
    assert_eq!(v["is_direct"], true);
    assert_eq!(v["env"]["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(v["sdk"]["method"], "POST", "a direct invoke is a synthetic POST /");
    assert_eq!(v["sdk"]["path"], "/");
    assert_eq!(v["sdk"]["event_method"], "POST");
    assert_eq!(v["sdk"]["body"], r#"{"a":[1,2]}"#);
    let v = s.invoke("echo", "plain text").await.json();
    assert_eq!(v["event"], "plain text");
    // A payload that merely looks like an event (wrong types) stays a direct payload.
    let v = s.invoke("echo", r#"{"httpMethod":"GET","requestContext":{},"path":7}"#).await.json();
    assert_eq!(v["is_direct"], true);
    assert_eq!(v["sdk"]["method"], "POST");
}

#[tokio::test]
async fn fail_fails_on_request() {
    let s = with_examples().await;
    let msg = s.invoke("fail", r#"{"mode":"panic"}"#).await.expect_error("Runtime.Trap");
    assert!(msg.contains("unreachable"), "{msg}");
    let msg = s.invoke("fail", r#"{"mode":"exit","code":3}"#).await.expect_error("Runtime.ExitError");
    assert!(msg.ends_with("exit status 3"), "{msg}");
    let ok = s.invoke("fail", r#"{"mode":"stderr","lines":3}"#).await;
    assert_eq!(ok.json(), json!({ "ok": true }));
}

/// The study guide's scenario side by side: env vars frozen in the version, and the
/// configuration deployed to each stage's environment (dev: 10 % discount, prod: none),
/// read by the Rust guest with `std::fs` through wasi-libc's preopen of `/config`.
#[tokio::test]
async fn orders_reads_its_flags_per_environment() {
    let s = TestServer::start().await;
    let report = waygate::examples::register(&s.platform()).await.expect("examples register");
    let mut seen = std::collections::BTreeMap::new();
    for (stage, url) in &report.stages {
        let r = reqwest::get(format!("{url}/orders")).await.expect("stage reachable");
        assert_eq!(r.status(), 200, "{stage}");
        let v: serde_json::Value = r.json().await.unwrap();
        seen.insert(stage.clone(), (v["flags"].clone(), v["environment"].clone()));
    }
    assert_eq!(seen["dev"], (json!({"discount_percent": 10}), json!("experimental")), "{seen:?}");
    assert_eq!(seen["prod"], (json!({"discount_percent": 0}), json!("stable")), "{seen:?}");
    // A direct invoke reads the environment it names; none deployed there: no flags.
    let r = s
        .req(Method::POST, "/v1/functions/orders/invoke")
        .query(&[("qualifier", "STABLE"), ("environment", "dev")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["flags"], json!({"discount_percent": 10}));
    assert_eq!(s.invoke("orders:STABLE", "").await.json()["flags"], serde_json::Value::Null);
    // A schema violation is refused with where it is.
    let r = s
        .req(Method::POST, "/v1/applications/orders/profiles/flags/versions")
        .header("content-type", "application/json")
        .body(r#"{"discount_percent": 80}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
