//! wasi:http/proxy components (runtime/executor/wasi_http.rs): recognised and checked at
//! upload, run through stages, aliases and versions with the gateway's context as
//! `x-waygate-*` headers, direct invoke as a POST, and hostile components ending as
//! function errors. The component is guest-examples' prebuilt `probe-http` (answers what
//! it got, or misbehaves on request); refusals use component WAT.

use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

fn probe_wasm() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/probe-http.wasm"))
        .expect("probe-http.wasm")
}

async fn probe(s: &TestServer, name: &str, config: Value) {
    s.create(name, config).await;
    let (st, v) = s.upload(name, &probe_wasm()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["kind"], "wasi-http", "{v}");
}

/// Allows `api`'s stages to invoke `function:qualifier`.
async fn allow_qualifier(s: &TestServer, function: &str, api: &str, qualifier: &str) {
    let statement = json!({ "statement_id": format!("{api}-{qualifier}"), "principal": format!("api:{api}"),
        "source": format!("{api}/*/*/*"), "qualifier": qualifier });
    let (st, v) = s.call(Method::POST, &format!("/v1/functions/{function}/permissions"), Some(statement)).await;
    assert_eq!(st, 201, "{v}");
}

/// `crate::canary::api_for`'s API deployed to stage `dev`, with stage `variables`.
pub(crate) async fn stage(s: &TestServer, target: &str, variables: Value) -> String {
    let (id, _) = crate::canary::api_for(s, target, "probe", "dev").await;
    let (st, v) =
        s.call(Method::PATCH, &format!("/v1/apis/{id}/stages/dev"), Some(json!({ "variables": variables }))).await;
    assert_eq!(st, 200, "{v}");
    id
}

/// `name` (created with env `GREETING=one`) published as version 1, then with
/// `GREETING=two` as version 2 (both reporting `kind`), behind alias LIVE weighted 50/50,
/// served by stage `dev` as `name:${stageVariables.alias}` with `alias=LIVE`. Returns the
/// API id.
pub(crate) async fn two_versions_behind_live(s: &TestServer, name: &str, kind: &str) -> String {
    let (st, v) = s.publish(name, json!({})).await;
    assert_eq!((st, v["kind"].as_str()), (201, Some(kind)), "{v}");
    let (st, v) = s
        .call(Method::PATCH, &format!("/v1/functions/{name}/config"), Some(json!({ "env": { "GREETING": "two" } })))
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.publish(name, json!({})).await;
    assert_eq!((st, v["version"].as_str()), (201, Some("2")), "{v}");
    let alias = json!({ "version": "1", "routing": { "2": 0.5 } });
    let (st, v) = s.call(Method::PUT, &format!("/v1/functions/{name}/aliases/LIVE"), Some(alias)).await;
    assert_eq!(st, 201, "{v}");
    let api = stage(s, &format!("{name}:${{stageVariables.alias}}"), json!({ "alias": "LIVE" })).await;
    allow_qualifier(s, name, &api, "LIVE").await;
    api
}

/// The weighted alias picks both versions (40 requests through `api`'s dev stage: both at
/// 50 %).
pub(crate) async fn weighted_alias_serves_both(s: &TestServer, api: &str) {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = s.gw(Method::GET, &format!("/{api}/dev/w")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        seen.insert(r.headers()["x-waygate-executed-version"].to_str().unwrap().to_string());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["1", "2"]);
}

/// The messages of `name`'s last 1000 log lines.
pub(crate) async fn log_lines(s: &TestServer, name: &str) -> Vec<String> {
    let (_, logs) = s.call(Method::GET, &format!("/v1/functions/{name}/logs?limit=1000"), None).await;
    logs["events"].as_array().unwrap().iter().filter_map(|e| e["message"].as_str().map(str::to_string)).collect()
}

/// Every instance is gone again (torn down just after each response; bounded wait).
pub(crate) async fn pool_drains(s: &TestServer) {
    for attempt in 0.. {
        let (_, rt) = s.call(Method::GET, "/v1/runtime", None).await;
        if rt["pool"]["in_use"] == 0 {
            break;
        }
        assert!(attempt < 100, "instances left in the pool: {rt}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_recognises_components_and_refuses_what_they_cannot_have() {
    let s = TestServer::start().await;
    probe(&s, "probe", json!({})).await;
    let (_, f) = s.call(Method::GET, "/v1/functions/probe", None).await;
    assert_eq!(f["kind"], "wasi-http", "{f}");
    let hash = f["code_hash"].clone();

    for (wat, says) in [
        ("(component)", "exports neither of the worlds Waygate runs"),
        (
            r#"(component
                (import "example:thing/api" (instance (export "f" (func))))
                (core module $m (func (export "h")))
                (core instance $i (instantiate $m))
                (func (export "handler") (canon lift (core func $i "h"))))"#,
            "example:thing/api",
        ),
    ] {
        let (st, v) = s.upload("probe", &wat::parse_str(wat).expect("component WAT")).await;
        assert_eq!(st, 400, "{wat}: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{wat}: {message}");
    }
    let (_, f) = s.call(Method::GET, "/v1/functions/probe", None).await;
    assert_eq!(f["code_hash"], hash, "a refused upload stores nothing: {f}");

    // A module is still a module.
    let hello =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/hello.wasm")).unwrap();
    let (st, v) = s.upload("probe", &hello).await;
    assert_eq!((st, v["kind"].as_str()), (200, Some("stdio")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_run_through_stages_aliases_and_versions() {
    let s = TestServer::start().await;
    probe(&s, "probe", json!({ "env": { "GREETING": "one" } })).await;
    let api = two_versions_behind_live(&s, "probe", "wasi-http").await;

    // The request as the component sees it: below the stage, with the gateway's context
    // (a client's x-waygate-* headers removed), the version's environment.
    let r = s
        .gw(Method::PUT, &format!("/{api}/dev/things/7?x=1"))
        .header("x-waygate-stage", "forged")
        .header("x-custom", "kept")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-probe"], "1", "the component's headers pass");
    let executed = r.headers()["x-waygate-executed-version"].to_str().unwrap().to_string();
    assert!(r.headers()["server-timing"].to_str().unwrap().contains("instantiate;dur="));
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str(), v["query"].as_str()),
        (Some("PUT"), Some("/things/7"), Some("x=1")),
        "{v}"
    );
    assert_eq!(v["body"], "payload", "{v}");
    let h = &v["headers"];
    assert_eq!(h["x-custom"], "kept", "{v}");
    assert_eq!(h["x-waygate-stage"], "dev", "{v}");
    assert_eq!(h["x-waygate-api-id"], api.as_str(), "{v}");
    assert_eq!(h["x-waygate-resource"], "/{proxy+}", "{v}");
    let vars: Value = serde_json::from_str(h["x-waygate-stage-variables"].as_str().unwrap()).unwrap();
    assert_eq!(vars, json!({ "alias": "LIVE" }));
    let params: Value = serde_json::from_str(h["x-waygate-path-parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params, json!({ "proxy": "things/7" }));
    assert!(h["x-waygate-request-id"].as_str().is_some_and(|id| !id.is_empty()), "{v}");
    let greeting = if executed == "1" { "one" } else { "two" };
    assert_eq!(v["env"]["GREETING"], greeting, "{v}");
    assert_eq!((v["env"]["WAYGATE_ALIAS"].as_str(), v["env"]["WAYGATE_STAGE"].as_str()), (Some("LIVE"), Some("dev")));

    weighted_alias_serves_both(&s, &api).await;

    // The component's status passes as it is.
    let r = s.gw(Method::GET, &format!("/{api}/dev/status/418")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 418);

    // Direct invoke: the payload is a POST's body; the answer is the response body.
    let out = s.invoke("probe:2", "{\"a\":1}").await;
    assert_eq!((out.status, out.version.as_str()), (200, "2"), "{}", out.text());
    let v = out.json();
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str(), v["body"].as_str()),
        (Some("POST"), Some("/"), Some("{\"a\":1}"))
    );
    assert_eq!(v["env"]["GREETING"], "two", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_components_end_as_function_errors() {
    let s = TestServer::start().await;
    probe(&s, "probe", json!({ "timeout_ms": 1000, "memory_mb": 64 })).await;
    let api = stage(&s, "probe", json!({})).await;
    let get = |path: &str| s.gw(Method::GET, &format!("/{api}/dev{path}")).send();

    for path in ["/loop", "/alloc", "/panic", "/recurse", "/no-response", "/big?bytes=7000000"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status().as_u16(), 502, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap(), json!({ "message": "Internal server error" }), "{path}");
    }
    // A wait in the host (the clock), where no wasm runs for the epoch to stop, still ends
    // at the 1 s timeout: 502 well before the 10 s sleep would.
    let started = std::time::Instant::now();
    let r = get("/sleep?ms=10000").await.unwrap();
    assert_eq!(r.status().as_u16(), 502);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "a 10 s host wait held a 1 s function for {took:?}");
    // Within the limits, the same component answers.
    assert_eq!(get("/sleep?ms=10").await.unwrap().text().await.unwrap(), "slept");
    let r = get("/big?bytes=100000").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 100_000);
    // wasi:sockets links (CPython needs it) but reaches nothing: a listener on loopback
    // sees no connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = get(&format!("/connect?port={port}")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let how = r.text().await.unwrap();
    assert!(how.starts_with("refused: ") && how.contains("access-denied"), "{how}");
    assert!(listener.accept().is_err(), "the guest reached the listener");
    // A log past its limit is cut, never an error.
    assert_eq!(get("/log?bytes=400000").await.unwrap().status().as_u16(), 200);

    let lines = log_lines(&s, "probe").await;
    let has = |text: &str| lines.iter().any(|l| l.contains(text));
    assert!(has("probe asked to panic"), "the panic message is logged: {lines:?}");
    assert!(has("Max Memory Used: 64 MB"), "the memory bomb met its limit: {lines:?}");
    assert!(has("log truncated"), "{lines:?}");
    let longest = lines
        .iter()
        .filter_map(|l| l.split("\tDuration: ").nth(1)?.split(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(longest >= 1000.0, "the loop ran to its 1 s timeout: {lines:?}");
    pool_drains(&s).await;
}

/// A component reads `/config` through WASI 0.2's filesystem (std::fs in a wasip2 Rust
/// component), read-only, as deployed to the invoking stage's environment.
#[tokio::test]
async fn components_read_configuration_files() {
    let s = TestServer::start().await;
    let (st, _) = s.call(Method::POST, "/v1/applications", Some(json!({ "name": "shop" }))).await;
    assert_eq!(st, 201);
    for env in ["dev", "prod"] {
        let (st, _) = s.call(Method::POST, "/v1/applications/shop/environments", Some(json!({ "name": env }))).await;
        assert_eq!(st, 201);
    }
    let (st, _) = s.call(Method::POST, "/v1/applications/shop/profiles", Some(json!({ "name": "flags" }))).await;
    assert_eq!(st, 201);
    let strategy = json!({"name": "Instant", "growth_type": "linear", "growth_factor": 100, "duration_s": 0});
    assert_eq!(s.call(Method::POST, "/v1/deployment-strategies", Some(strategy)).await.0, 201);
    for (env, content) in [("dev", "on"), ("prod", "off")] {
        let r = s
            .req(Method::POST, "/v1/applications/shop/profiles/flags/versions")
            .header("content-type", "text/plain")
            .body(content)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let body = json!({"profile": "flags", "version": v["version"], "strategy": "Instant"});
        let (st, v) =
            s.call(Method::POST, &format!("/v1/applications/shop/environments/{env}/deployments"), Some(body)).await;
        assert_eq!(st, 201, "{v}");
    }
    probe(&s, "probe", json!({ "config": ["shop/flags"] })).await;
    let id = stage(&s, "probe", json!({})).await;
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v1/apis/{id}/stages/prod"),
            Some(json!({ "deployment_id":
        s.call(Method::GET, &format!("/v1/apis/{id}/stages/dev"), None).await.1["deployment_id"] })),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    for (stage, want, version) in [("dev", "on", "shop/flags=1"), ("prod", "off", "shop/flags=2")] {
        let r = s.gw(Method::GET, &format!("/{id}/{stage}/read?path=/config/shop/flags")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{stage}");
        assert_eq!(r.headers()["x-waygate-config"], version);
        assert_eq!(r.text().await.unwrap(), want, "{stage}");
    }
    // Read-only; nothing else of the host's file system; a profile it doesn't list is absent.
    let r = s.gw(Method::GET, &format!("/{id}/prod/write?path=/config/shop/flags")).send().await.unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    for path in ["/etc/passwd", "/config/../etc/passwd", "/config/shop/other"] {
        let r = s.gw(Method::GET, &format!("/{id}/prod/read?path={path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}: {}", r.text().await.unwrap());
    }
    let r = s.gw(Method::GET, &format!("/{id}/prod/read?path=/config/shop/flags")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "off", "the write changed nothing");
}
