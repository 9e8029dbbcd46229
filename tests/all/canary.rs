//! Stage canaries: traffic split, overridden variables, promotion, removal, and the rule
//! that a stage with a canary stays on its deployment.

use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

pub fn echo_wasm() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/echo.wasm")).expect("echo.wasm")
}

/// An API whose `/{proxy+}` (ANY) calls `function` (any stage may invoke it), plus a mock
/// `GET /mock`, deployed to `stage`. Returns (api id, deployment id).
pub async fn api_for(s: &TestServer, target: &str, function: &str, stage: &str) -> (String, String) {
    let (st, api) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "t" }))).await;
    assert_eq!(st, 201, "{api}");
    let id = api["id"].as_str().unwrap().to_string();
    let route =
        json!({ "method": "ANY", "path": "/{proxy+}", "integration": { "type": "function", "target": target } });
    let (st, v) = s.call(Method::PUT, &format!("/v1/apis/{id}/routes"), Some(route)).await;
    assert_eq!(st, 201, "{v}");
    let mock =
        json!({ "method": "GET", "path": "/mock", "integration": { "type": "mock", "status": 200, "body": "mocked" } });
    let (st, v) = s.call(Method::PUT, &format!("/v1/apis/{id}/routes"), Some(mock)).await;
    assert_eq!(st, 201, "{v}");
    allow(s, function, &id).await;
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({ "stage": stage }))).await;
    assert_eq!(st, 201, "{v}");
    (id, v["id"].as_str().unwrap().to_string())
}

pub async fn allow(s: &TestServer, function: &str, api: &str) {
    let statement = json!({ "statement_id": format!("api-{api}"), "principal": format!("api:{api}"), "source": format!("{api}/*/*/*") });
    let (st, v) = s.call(Method::POST, &format!("/v1/functions/{function}/permissions"), Some(statement)).await;
    assert_eq!(st, 201, "{v}");
}

pub async fn echo_function(s: &TestServer, name: &str) {
    s.create(name, json!({})).await;
    let (st, v) = s.upload(name, &echo_wasm()).await;
    assert_eq!(st, 200, "{v}");
}

/// (status, canary header, JSON body or Null).
async fn get(s: &TestServer, path: &str) -> (u16, String, Value) {
    let r = s.gw(Method::GET, path).send().await.expect("gateway request");
    let canary = r.headers().get("x-waygate-canary").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, canary, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_split_overrides_promotion_and_removal() {
    let s = TestServer::start().await;
    echo_function(&s, "echo").await;
    let (api, d1) = api_for(&s, "echo", "echo", "prod").await;
    let stage = format!("/v1/apis/{api}/stages/prod");
    let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "variables": { "color": "blue", "size": "L" } }))).await;
    assert_eq!(st, 200, "{v}");

    // Deploying with canary settings: the stage keeps d1, the new deployment is the canary.
    let body = json!({ "stage": "prod", "canary": { "percent_traffic": 20.0, "stage_variable_overrides": { "color": "green" } } });
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    let d2 = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["stage"]["deployment_id"], d1.as_str(), "{v}");
    assert_eq!(v["stage"]["canary"]["deployment_id"], d2.as_str(), "{v}");

    // 1,000 requests at 20 %: between 150 and 250 go to the canary (p ≈ 1e-4 of failing).
    let path = format!("/{api}/prod/items/1");
    let results: Vec<(u16, String, Value)> = {
        use futures_util::StreamExt;
        futures_util::stream::iter(0..1000).map(|_| get(&s, &path)).buffer_unordered(8).collect().await
    };
    let mut canary = 0;
    for (status, flag, body) in &results {
        assert_eq!(*status, 200, "{body}");
        let event = &body["event"];
        let (vars, deployment) = (&event["stageVariables"], &event["requestContext"]["deploymentId"]);
        match flag.as_str() {
            "true" => {
                canary += 1;
                assert_eq!(vars, &json!({ "color": "green", "size": "L" }));
                assert_eq!(deployment, d2.as_str());
            }
            "false" => {
                assert_eq!(vars, &json!({ "color": "blue", "size": "L" }));
                assert_eq!(deployment, d1.as_str());
            }
            other => panic!("x-waygate-canary: {other:?}"),
        }
    }
    assert!((150..=250).contains(&canary), "{canary} of 1000 went to the canary at 20 %");
    // Metrics count the canary apart from the stage.
    let (st, m) = s.call(Method::GET, &format!("{stage}/metrics"), None).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["canary"]["requests"], canary, "{m}");
    assert_eq!(m["stage"]["requests"], 1000 - canary, "{m}");

    // While the canary exists the stage can't move to another deployment.
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
    assert_eq!(st, 201, "{v}");
    let d3 = v["id"].as_str().unwrap().to_string();
    let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "deployment_id": d3 }))).await;
    assert_eq!(st, 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("promote or remove the canary"), "{v}");
    let (st, _) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({ "stage": "prod" }))).await;
    assert_eq!(st, 409);
    // ... and the canary's deployment can't be deleted.
    let (st, v) = s.call(Method::DELETE, &format!("/v1/apis/{api}/deployments/{d2}"), None).await;
    assert_eq!(st, 409, "{v}");

    // Promote: the stage takes the canary's deployment and merged variables; canary at 0 %.
    let (st, v) = s.call(Method::POST, &format!("{stage}/canary/promote"), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["deployment_id"], d2.as_str());
    assert_eq!(v["variables"], json!({ "color": "green", "size": "L" }));
    assert_eq!(v["canary"]["percent_traffic"], 0.0);
    for _ in 0..20 {
        let (status, flag, body) = get(&s, &path).await;
        assert_eq!((status, flag.as_str()), (200, "false"));
        assert_eq!(body["event"]["requestContext"]["deploymentId"], d2.as_str());
    }

    // Remove; then there is nothing to promote.
    let (st, v) = s.call(Method::DELETE, &format!("{stage}/canary"), None).await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("canary").is_none(), "{v}");
    let (st, v) = s.call(Method::POST, &format!("{stage}/canary/promote"), None).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["message"], "Promotion not available. Canary does not exist.");
    // Without a canary the stage moves freely again.
    let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "deployment_id": d3 }))).await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_settings_are_validated_and_patchable() {
    let s = TestServer::start().await;
    echo_function(&s, "echo").await;
    let (api, d1) = api_for(&s, "echo", "echo", "prod").await;
    let stage = format!("/v1/apis/{api}/stages/prod");
    let deployments = format!("/v1/apis/{api}/deployments");
    for bad in [
        json!({ "stage": "prod", "canary": { "percent_traffic": 120.0 } }),
        json!({ "stage": "prod", "canary": { "percent_traffic": 10.0, "stage_variable_overrides": { "bad name": "x" } } }),
        json!({ "stage": "nope", "canary": { "percent_traffic": 10.0 } }),
        json!({ "canary": { "percent_traffic": 10.0 } }),
    ] {
        let (st, v) = s.call(Method::POST, &deployments, Some(bad.clone())).await;
        assert!(st == 400 || st == 404, "{bad}: {st} {v}");
        assert!(v["message"].is_string(), "{v}");
    }
    let (_, list) = s.call(Method::GET, &deployments, None).await;
    assert_eq!(list["deployments"].as_array().unwrap().len(), 1, "nothing half-stored: {list}");
    // PATCH creates a canary on an existing deployment (100 %: every request), then changes it.
    let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "canary": { "percent_traffic": 100.0 } }))).await;
    assert_eq!(st, 400, "a new canary needs a deployment: {v}");
    let (st, v) = s
        .call(Method::PATCH, &stage, Some(json!({ "canary": { "deployment_id": d1, "percent_traffic": 100.0 } })))
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, flag, _) = get(&s, &format!("/{api}/prod/x")).await;
    assert_eq!(flag, "true");
    let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "canary": { "percent_traffic": 0.0 } }))).await;
    assert_eq!((st, &v["canary"]["deployment_id"]), (200, &json!(d1)), "{v}");
    let (_, flag, _) = get(&s, &format!("/{api}/prod/x")).await;
    assert_eq!(flag, "false");
}

fn waygate(s: &TestServer, args: &[&str]) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["--output", "json"]).collect();
    let out = crate::harness::ok(&crate::harness::waygate(s, &args));
    serde_json::from_str(&out).unwrap_or(Value::String(out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_cache_throttle_and_concurrency_from_the_cli() {
    let s = std::sync::Arc::new(TestServer::start().await);
    echo_function(&s, "echo").await;
    let (api, d1) = api_for(&s, "echo", "echo", "prod").await;
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let s = &s2;
        let v = waygate(s, &["canary", "set", &api, "prod", "--percent", "100", "--var", "color=green"]);
        assert_eq!(v["deployment_id"], d1.as_str(), "{v}");
        assert_eq!(v["canary"]["percent_traffic"], 100.0, "{v}");
        let d2 = v["canary"]["deployment_id"].as_str().unwrap().to_string();
        assert_ne!(d2, d1);
        // On an existing canary, set changes it in place (no new deployment)…
        let v = waygate(s, &["canary", "set", &api, "prod", "--percent", "50"]);
        assert_eq!((&v["canary"]["deployment_id"], &v["canary"]["percent_traffic"]), (&json!(d2), &json!(50.0)), "{v}");
        // …unless told to deploy the draft anew.
        let v = waygate(s, &["canary", "set", &api, "prod", "--from-draft", "--percent", "100"]);
        assert_ne!(v["canary"]["deployment_id"], json!(d2), "{v}");
        let d2 = v["canary"]["deployment_id"].as_str().unwrap().to_string();
        let v = waygate(s, &["canary", "promote", &api, "prod"]);
        assert_eq!((&v["deployment_id"], &v["variables"]["color"]), (&json!(d2), &json!("green")), "{v}");
        let v = waygate(s, &["canary", "remove", &api, "prod"]);
        assert!(v.get("canary").is_none(), "{v}");

        let v = waygate(s, &["cache", "set", &api, "prod", "--ttl", "60", "--key-header", "X-Tenant"]);
        assert_eq!(
            (&v["enabled"], &v["ttl_seconds"], &v["key_headers"]),
            (&json!(true), &json!(60), &json!(["x-tenant"]))
        );
        // Only what is given changes: --disable keeps the TTL and key headers.
        let v = waygate(s, &["cache", "set", &api, "prod", "--disable"]);
        assert_eq!(
            (&v["enabled"], &v["ttl_seconds"], &v["key_headers"]),
            (&json!(false), &json!(60), &json!(["x-tenant"])),
            "{v}"
        );
        let v = waygate(s, &["cache", "set", &api, "prod"]);
        assert_eq!((&v["enabled"], &v["ttl_seconds"]), (&json!(true), &json!(60)), "{v}");
        let v = waygate(s, &["cache", "issue-key", &api, "prod"]);
        assert!(v["key"].as_str().unwrap().starts_with("wgi_"), "{v}");
        waygate(s, &["cache", "flush", &api, "prod"]);

        let v = waygate(s, &["throttle", "set", &api, "prod", "--rate", "5", "--burst", "10"]);
        assert_eq!((&v["rate_per_second"], &v["burst"]), (&json!(5.0), &json!(10)), "{v}");
        let v = waygate(s, &["throttle", "remove", &api, "prod"]);
        assert!(v.get("burst").is_none(), "{v}");

        let v = waygate(s, &["concurrency", "set", "echo", "3"]);
        assert_eq!(v["reserved_concurrency"], 3, "{v}");
        waygate(s, &["concurrency", "remove", "echo"]);
    })
    .await
    .unwrap();
    let (_, f) = s.call(Method::GET, "/v1/functions/echo", None).await;
    assert!(f["reserved_concurrency"].is_null(), "{f}");
}

/// The Prometheus metrics keep canary and stage traffic apart (label `canary`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_label_canary_traffic() {
    let s = TestServer::start().await;
    echo_function(&s, "echo").await;
    let (api, _) = api_for(&s, "echo", "echo", "prod").await;
    let (st, _, _) = get(&s, &format!("/{api}/prod/x")).await;
    assert_eq!(st, 200);
    let body = json!({ "stage": "prod", "canary": { "percent_traffic": 100.0 } });
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    let (st, canary, _) = get(&s, &format!("/{api}/prod/x")).await;
    assert_eq!((st, canary.as_str()), (200, "true"));
    let metrics = s.req(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let invocations = |canary: &str| {
        metrics.lines().any(|l| {
            l.starts_with("waygate_invocations_total{")
                && l.contains(&format!("api=\"{api}\""))
                && l.contains("stage=\"prod\"")
                && l.contains(&format!("canary=\"{canary}\""))
        })
    };
    assert!(invocations("false") && invocations("true"), "{metrics}");
}

/// The README's canary step, done wrong then right: a canary whose overridden variable
/// routes to an alias the stage has no permission for is accepted (as API Gateway does)
/// but the answer — and every stage view — warns; with the permission it goes quiet, and
/// promotion copies the override into the stage's variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_to_a_target_the_stage_cannot_invoke_is_warned_about() {
    let s = TestServer::start().await;
    echo_function(&s, "shop").await;
    for alias in ["STABLE", "EXPERIMENTAL"] {
        let (st, v) = s.publish("shop", json!({})).await;
        assert!(st == 201 || st == 200, "{v}");
        let (st, v) =
            s.call(Method::PUT, &format!("/v1/functions/shop/aliases/{alias}"), Some(json!({ "version": "1" }))).await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, api) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "shop" }))).await;
    assert_eq!(st, 201);
    let api = api["id"].as_str().unwrap().to_string();
    let route = json!({ "method": "ANY", "path": "/{proxy+}",
        "integration": { "type": "function", "target": "shop:${stageVariables.alias}" } });
    assert_eq!(s.call(Method::PUT, &format!("/v1/apis/{api}/routes"), Some(route)).await.0, 201);
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({ "stage": "prod" }))).await;
    assert_eq!(st, 201, "{v}");
    // No variable yet: the stage view says what will fail.
    let w = v["stage"]["warnings"].to_string();
    assert!(w.contains("stage variable 'alias'"), "{v}");
    let stage = format!("/v1/apis/{api}/stages/prod");
    let (_, v) = s.call(Method::PATCH, &stage, Some(json!({ "variables": { "alias": "STABLE" } }))).await;
    assert!(v["warnings"].to_string().contains("does not let"), "no permission yet: {v}");
    let grant = |alias: &str| {
        json!({ "statement_id": format!("prod-{alias}"), "principal": format!("api:{api}"),
                "source": format!("{api}/prod/*/*"), "qualifier": alias })
    };
    assert_eq!(s.call(Method::POST, "/v1/functions/shop/permissions", Some(grant("STABLE"))).await.0, 201);
    let (_, v) = s.call(Method::GET, &stage, None).await;
    assert!(v.get("warnings").is_none(), "all good: {v}");

    // The canary routes to EXPERIMENTAL, which prod may not invoke: accepted, warned.
    let body = json!({ "stage": "prod", "canary": { "percent_traffic": 10.0, "stage_variable_overrides": { "alias": "EXPERIMENTAL" } } });
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    let warnings = v["stage"]["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{v}");
    let w = warnings[0].as_str().unwrap();
    assert!(w.starts_with("canary ANY /{proxy+}: shop:EXPERIMENTAL:") && w.contains("qualifier 'EXPERIMENTAL'"), "{w}");
    assert_eq!(s.call(Method::POST, "/v1/functions/shop/permissions", Some(grant("EXPERIMENTAL"))).await.0, 201);
    let (_, v) = s.call(Method::GET, &stage, None).await;
    assert!(v.get("warnings").is_none(), "{v}");
    // Promotion: the override becomes the stage's variable (prod now runs EXPERIMENTAL).
    let (st, v) = s.call(Method::POST, &format!("{stage}/canary/promote"), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["variables"]["alias"], "EXPERIMENTAL", "{v}");
    assert!(v.get("warnings").is_none(), "{v}");
    let r = s.gw(Method::GET, &format!("/{api}/prod/x")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
