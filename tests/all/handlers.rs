//! Handler components (runtime/executor/handler.rs, the `waygate:function/handler` world
//! of wit/handler.wit): recognised at upload, run through stages, aliases and versions
//! with the proxy event and a context, direct invoke with the payload, `err` as a
//! function error, hostile handlers ending as function errors. The Rust fixture is
//! guest-examples' prebuilt `probe-handler`; the JavaScript and Python examples are built
//! by guest-examples/build.sh (too large to commit), and their tests say so and pass
//! without checking anything when they were not built.

use crate::components::{log_lines, pool_drains, stage, two_versions_behind_live, weighted_alias_serves_both};
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples"))
}

async fn probe(s: &TestServer, name: &str, config: Value) {
    s.create(name, config).await;
    let wasm = std::fs::read(examples().join("prebuilt/probe-handler.wasm")).expect("probe-handler.wasm");
    let (st, v) = s.upload(name, &wasm).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["kind"], "handler", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_recognises_handlers_and_refuses_a_wrong_signature() {
    let s = TestServer::start().await;
    probe(&s, "probe", json!({})).await;
    let (_, f) = s.call(Method::GET, "/v1/functions/probe", None).await;
    assert_eq!(f["kind"], "handler", "{f}");
    let hash = f["code_hash"].clone();

    // A `handler` export of another type: named, with the signature the world wants.
    let wat = r#"(component
        (core module $m (func (export "h")))
        (core instance $i (instantiate $m))
        (func (export "handler") (canon lift (core func $i "h"))))"#;
    let (st, v) = s.upload("probe", &wat::parse_str(wat).expect("component WAT")).await;
    assert_eq!(st, 400, "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("does not match waygate:function/handler@0.1.0"), "{message}");
    let (_, f) = s.call(Method::GET, "/v1/functions/probe", None).await;
    assert_eq!(f["code_hash"], hash, "a refused upload stores nothing: {f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_run_through_stages_aliases_and_versions() {
    let s = TestServer::start().await;
    probe(&s, "probe", json!({ "env": { "GREETING": "one" }, "memory_mb": 96 })).await;
    let api = two_versions_behind_live(&s, "probe", "handler").await;

    // Through a route: the proxy event (stage variables, path parameters, body), the
    // context, the version's environment; the proxy response is the answer.
    let r = s.gw(Method::PUT, &format!("/{api}/dev/things/7?x=1")).body("payload").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-probe"], "1", "the handler's headers pass");
    let executed = r.headers()["x-waygate-executed-version"].to_str().unwrap().to_string();
    let request_id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
    assert!(r.headers()["server-timing"].to_str().unwrap().contains("instantiate;dur="));
    let v: Value = r.json().await.unwrap();
    let e = &v["event"];
    assert_eq!((e["httpMethod"].as_str(), e["path"].as_str()), (Some("PUT"), Some("/things/7")), "{v}");
    assert_eq!(e["body"], "payload", "{v}");
    assert_eq!(e["stageVariables"], json!({ "alias": "LIVE" }), "{v}");
    assert_eq!(e["pathParameters"], json!({ "proxy": "things/7" }), "{v}");
    assert_eq!(e["requestContext"]["stage"], "dev", "{v}");
    let c = &v["context"];
    assert_eq!(c["requestId"], request_id.as_str(), "{v}");
    assert_eq!((c["functionName"].as_str(), c["functionVersion"].as_str()), (Some("probe"), Some(executed.as_str())));
    assert_eq!(c["memoryLimitMb"], 96, "{v}");
    let remaining = c["remainingTimeMs"].as_u64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "{v}");
    assert_eq!(v["env"]["GREETING"], if executed == "1" { "one" } else { "two" }, "{v}");
    assert_eq!((v["env"]["WAYGATE_ALIAS"].as_str(), v["env"]["WAYGATE_STAGE"].as_str()), (Some("LIVE"), Some("dev")));

    weighted_alias_serves_both(&s, &api).await;

    // Direct invoke: the payload is the event, the answer the result; the log has what
    // the handler printed.
    let out = s.invoke("probe:2", "{\"a\":1}").await;
    assert_eq!((out.status, out.version.as_str()), (200, "2"), "{}", out.text());
    let v = out.json();
    assert_eq!(v["event"], json!({ "a": 1 }), "{v}");
    assert_eq!(v["env"]["GREETING"], "two", "{v}");
    let printed = format!("probe-handler: \"{}\"", out.request_id);
    let lines = log_lines(&s, "probe").await;
    assert!(lines.contains(&printed), "{lines:?}");

    // A payload that is not text can't be a handler's event: 400, and nothing runs.
    let out = s.invoke("probe:2", vec![0xff, 0xfe, 0x00]).await;
    assert_eq!(out.status, 400, "{}", out.text());
    assert!(out.json()["message"].as_str().unwrap().contains("not UTF-8"), "{}", out.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_and_hostile_handlers_end_as_function_errors() {
    let s = TestServer::start().await;
    probe(&s, "probe", json!({ "timeout_ms": 1000, "memory_mb": 64 })).await;
    let api = stage(&s, "probe", json!({})).await;
    let get = |path: &str| s.gw(Method::GET, &format!("/{api}/dev{path}")).send();

    // `err(message)`: Function.Error with the handler's message (direct), 502 (route).
    let out = s.invoke("probe", r#"{"probe":"/error"}"#).await;
    assert_eq!(out.expect_error("Function.Error"), "probe asked to fail");

    for path in ["/error", "/not-proxy", "/loop", "/alloc", "/panic", "/recurse", "/big?bytes=7000000"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status().as_u16(), 502, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap(), json!({ "message": "Internal server error" }), "{path}");
    }
    for (probe, error_type) in [
        ("/loop", "Sandbox.Timedout"),
        ("/alloc", "Runtime.OutOfMemory"),
        ("/panic", "Runtime.Trap"),
        ("/recurse", "Runtime.Trap"),
    ] {
        let out = s.invoke("probe", json!({ "probe": probe }).to_string()).await;
        out.expect_error(error_type);
    }
    let out = s.invoke("probe", json!({ "probe": "/big", "bytes": 7_000_000 }).to_string()).await;
    out.expect_error("Function.ResponseSizeTooLarge");
    // Within the limits, the same handler answers.
    let r = get("/big?bytes=100000").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 100_000);
    assert_eq!(get("/log?bytes=400000").await.unwrap().status().as_u16(), 200, "a log past its limit is cut");

    let lines = log_lines(&s, "probe").await;
    let has = |text: &str| lines.iter().any(|l| l.contains(text));
    assert!(has("probe asked to panic"), "the panic message is logged: {lines:?}");
    assert!(has("Max Memory Used: 64 MB"), "the memory bomb met its limit: {lines:?}");
    assert!(has("log truncated"), "{lines:?}");
    pool_drains(&s).await;
}

/// The JavaScript and Python examples, registered as `waygate up` does: direct invoke,
/// the environment, the context, a thrown error, the log, and orders-js's dev and prod
/// stages (the study guide's scenario in JavaScript). They are built by
/// guest-examples/build.sh (CI does); without them this test says so and checks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_and_python_examples_run_as_handlers() {
    let dir = std::path::Path::new(waygate::examples::BUILT_DIR);
    let missing: Vec<&str> =
        ["hello-js.wasm", "hello-py.wasm", "orders-js.wasm"].into_iter().filter(|f| !dir.join(f).exists()).collect();
    if !missing.is_empty() {
        eprintln!("SKIPPED: {missing:?} not built in {}: run guest-examples/build.sh", dir.display());
        return;
    }
    let s = TestServer::start().await;
    let lines = waygate::examples::register_built(&s.platform()).await.expect("register the built examples");
    assert!(!lines.iter().any(|l| l.contains("not built")), "{lines:?}");

    for (name, lang) in [("hello-js", "javascript"), ("hello-py", "python")] {
        let (_, f) = s.call(Method::GET, &format!("/v1/functions/{name}"), None).await;
        assert_eq!(f["kind"], "handler", "{f}");
        let out = s.invoke(name, r#"{"name":"ann"}"#).await;
        assert_eq!(out.status, 200, "{name}: {}", out.text());
        let v = out.json();
        assert_eq!(v["message"], "Hello, ann!", "{name}: {v}");
        assert_eq!(v["greeting_from"], "Hello from Waygate", "{name}: the environment: {v}");
        assert_eq!((v["lang"].as_str(), v["version"].as_str()), (Some(lang), Some("$LATEST")), "{v}");
        assert_eq!(v["request_id"], out.request_id.as_str(), "{name}: the context: {v}");
        // What the handler threw is the function error's message.
        let message = s.invoke(name, "not json").await.expect_error("Function.Error");
        assert!(message.contains("Error"), "{name}: {message}");
        let greeted = format!("{name} greeted ann");
        let lines = log_lines(&s, name).await;
        assert!(lines.contains(&greeted), "{lines:?}");
    }

    let (_, apis) = s.call(Method::GET, "/v1/apis", None).await;
    let api = apis["apis"].as_array().unwrap().iter().find(|a| a["name"] == "orders-js").expect("orders-js API");
    let api = api["id"].as_str().unwrap();
    let order = r#"{"order_id":"A1","items":[{"sku":"x","qty":2}]}"#;
    for (stage, alias, version, environment) in
        [("dev", "EXPERIMENTAL", "$LATEST", "experimental"), ("prod", "STABLE", "1", "stable")]
    {
        let r = s.gw(Method::POST, &format!("/{api}/{stage}/orders")).body(order).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{stage}");
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["message"].as_str(), v["item_count"].as_u64()), (Some("Order processed"), Some(1)), "{v}");
        let by = &v["processed_by"];
        assert_eq!((by["alias"].as_str(), by["version"].as_str()), (Some(alias), Some(version)), "{v}");
        assert_eq!((by["stage"].as_str(), v["environment"].as_str()), (Some(stage), Some(environment)), "{v}");
        let r = s.gw(Method::POST, &format!("/{api}/{stage}/orders")).body("{\"nope\":1}").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{stage}: an invalid order");
    }
}
