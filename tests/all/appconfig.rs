//! Configuration per environment (AppConfig): applications, environments, profiles with
//! validators, immutable versions, strategies, gradual deployments that functions see
//! through `/config`, stop (rollback), restart mid-deployment.

use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FLAGS: &str = "/v1/applications/shop/profiles/flags";

async fn post_version(s: &TestServer, profile_path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let r = s
        .req(Method::POST, &format!("{profile_path}/versions"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    crate::harness::json_of(r).await
}

/// shop with environments dev and prod, and a `flags` profile whose schema wants an
/// integer `discount` of at most 50.
async fn shop(s: &TestServer) {
    let (status, v) = s.call(Method::POST, "/v1/applications", Some(json!({"name": "shop"}))).await;
    assert_eq!(status, 201, "{v}");
    for env in ["dev", "prod"] {
        let (status, v) = s.call(Method::POST, "/v1/applications/shop/environments", Some(json!({"name": env}))).await;
        assert_eq!(status, 201, "{v}");
    }
    let schema = json!({
        "type": "object",
        "properties": {"discount": {"type": "integer", "maximum": 50}},
        "required": ["discount"]
    });
    let (status, v) = s
        .call(
            Method::POST,
            "/v1/applications/shop/profiles",
            Some(json!({"name": "flags", "validators": [{"type": "json_schema", "content": schema}]})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["path"], "/config/shop/flags");
}

async fn strategy(s: &TestServer, name: &str, growth_factor: f64, duration_s: u64, bake_s: u64) {
    let body = json!({"name": name, "growth_type": "linear", "growth_factor": growth_factor,
        "duration_s": duration_s, "final_bake_time_s": bake_s});
    let (status, v) = s.call(Method::POST, "/v1/deployment-strategies", Some(body)).await;
    assert_eq!(status, 201, "{v}");
}

async fn deploy(s: &TestServer, env: &str, profile: &str, version: u32, strategy: &str) -> (u16, Value) {
    s.call(
        Method::POST,
        &format!("/v1/applications/shop/environments/{env}/deployments"),
        Some(json!({"profile": profile, "version": version, "strategy": strategy})),
    )
    .await
}

/// What `reader` (which lists `shop/flags`) reads at `path` when invoked in `env`.
async fn read(s: &TestServer, env: &str, path: &str) -> String {
    let r = s
        .req(Method::POST, "/v1/functions/reader/invoke")
        .query(&[("qualifier", "1"), ("environment", env)])
        .body(path.to_string())
        .send()
        .await
        .expect("invoke");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-waygate-function-error").is_none());
    r.text().await.expect("body")
}

async fn reader(s: &TestServer) {
    s.deploy("reader", json!({"config": ["shop/flags"]}), &fixtures::read_config()).await;
    let (status, v) = s.publish("reader", json!({})).await;
    assert_eq!(status, 201, "{v}");
}

/// Polls the deployment until `until` holds (bounded: 20 s).
async fn wait_for(s: &TestServer, env: &str, n: u64, until: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, v) =
            s.call(Method::GET, &format!("/v1/applications/shop/environments/{env}/deployments/{n}"), None).await;
        assert_eq!(status, 200, "{v}");
        if until(&v) {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "deployment never reached the state: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn versions_are_validated_immutable_and_deduplicated() {
    let s = TestServer::start().await;
    shop(&s).await;
    // Names, duplicates, validators.
    let (status, v) = s.call(Method::POST, "/v1/applications", Some(json!({"name": "shop"}))).await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = s.call(Method::POST, "/v1/applications", Some(json!({"name": "a/b"}))).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = s
        .call(
            Method::POST,
            "/v1/applications/shop/profiles",
            Some(json!({"name": "bad", "validators": [{"type": "json_schema", "content": {"type": 12}}]})),
        )
        .await;
    assert_eq!(status, 400, "an invalid schema: {v}");
    assert!(v["message"].as_str().unwrap().contains("Invalid JSON schema"), "{v}");
    let three = json!([{"type": "json_schema", "content": {}}, {"type": "json_schema", "content": {}},
        {"type": "json_schema", "content": {}}]);
    let (status, v) =
        s.call(Method::POST, "/v1/applications/shop/profiles", Some(json!({"name": "x", "validators": three}))).await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = s.call(Method::GET, "/v1/applications/shop/profiles/bad", None).await;
    assert_eq!(status, 404, "nothing stored");
    let (status, v) = s.call(Method::GET, "/v1/applications/nope/profiles", None).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["message"], "Application nope not found");

    // A version: created, then the same content again is the same version.
    let (status, v1) = post_version(&s, FLAGS, "application/json", r#"{"discount": 10}"#).await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["content_hash"], waygate::model::hash::content_hash_hex(br#"{"discount": 10}"#));
    let (status, again) = post_version(&s, FLAGS, "application/json", r#"{"discount": 10}"#).await;
    assert_eq!((status, &again["version"]), (200, &json!(1)), "{again}");
    // Validation failures store nothing and say where.
    let (status, v) = post_version(&s, FLAGS, "application/json", r#"{"discount": 90}"#).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("/discount"), "{v}");
    let (status, v) = post_version(&s, FLAGS, "application/json", r#"{"discount": "#).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("not valid JSON"), "{v}");
    let (status, v) = post_version(&s, FLAGS, "application/yaml", "discount: [unclosed").await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = post_version(&s, FLAGS, "text/plain", "discount is 10").await;
    assert_eq!(status, 400, "a schema needs JSON or YAML: {v}");
    let (status, v) = post_version(&s, FLAGS, "application/xml", "<a/>").await;
    assert_eq!(status, 415, "{v}");
    let big = format!("{{\"discount\": 1, \"pad\": \"{}\"}}", "x".repeat(1024 * 1024));
    let (status, v) = post_version(&s, FLAGS, "application/json", &big).await;
    assert_eq!(status, 413, "{v}");
    // YAML is read as JSON for the schema.
    let (status, v2) = post_version(&s, FLAGS, "application/yaml", "discount: 20\n").await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["version"], 2);
    let (_, list) = s.call(Method::GET, &format!("{FLAGS}/versions"), None).await;
    let numbers: Vec<u64> =
        list["versions"].as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [2, 1], "{list}");
    // A version reads back as stored, with its type.
    let r = s.req(Method::GET, &format!("{FLAGS}/versions/2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/yaml");
    assert_eq!(r.text().await.unwrap(), "discount: 20\n");
    for (path, want) in [
        (format!("{FLAGS}/versions/9"), 404),
        (format!("{FLAGS}/versions/x"), 400),
        ("/v1/applications/shop/profiles/nope/versions/1".to_string(), 404),
    ] {
        let (status, v) = s.call(Method::GET, &path, None).await;
        assert_eq!(status, want, "{path}: {v}");
        assert!(v["message"].is_string(), "{v}");
    }
    // An unused version can be deleted; numbers are never reused.
    let (status, _) = s.call(Method::DELETE, &format!("{FLAGS}/versions/2"), None).await;
    assert_eq!(status, 204);
    let (status, v3) = post_version(&s, FLAGS, "application/json", r#"{"discount": 30}"#).await;
    assert_eq!((status, &v3["version"]), (201, &json!(3)), "{v3}");

    // Strategies: predefined ones are listed and fixed; custom ones are checked.
    let (_, list) = s.call(Method::GET, "/v1/deployment-strategies", None).await;
    let names: Vec<&str> = list["strategies"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"AppConfig.Linear50PercentEvery30Seconds") && names.len() == 4, "{list}");
    for (body, want) in [
        (json!({"name": "g0", "growth_type": "linear", "growth_factor": 0, "duration_s": 10}), 400),
        (json!({"name": "g101", "growth_type": "linear", "growth_factor": 101, "duration_s": 10}), 400),
        (json!({"name": "long", "growth_type": "linear", "growth_factor": 10, "duration_s": 86401}), 400),
        (json!({"name": "AppConfig.Mine", "growth_type": "linear", "growth_factor": 10, "duration_s": 1}), 400),
        (json!({"name": "weird", "growth_type": "sideways", "growth_factor": 10, "duration_s": 1}), 400),
    ] {
        let (status, v) = s.call(Method::POST, "/v1/deployment-strategies", Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {v}");
    }
    let (status, _) = s.call(Method::DELETE, "/v1/deployment-strategies/AppConfig.AllAtOnce", None).await;
    assert_eq!(status, 409);
    let (status, _) = s.call(Method::GET, "/v1/deployment-strategies/nope", None).await;
    assert_eq!(status, 404);
    // Deployments of unknown things are 404s.
    for (env, profile, version, strat) in [
        ("qa", "flags", 1, "AppConfig.AllAtOnce"),
        ("prod", "nope", 1, "AppConfig.AllAtOnce"),
        ("prod", "flags", 9, "AppConfig.AllAtOnce"),
        ("prod", "flags", 1, "Nope"),
    ] {
        let (status, v) = deploy(&s, env, profile, version, strat).await;
        assert_eq!(status, 404, "{env} {profile} {version} {strat}: {v}");
    }
}

#[tokio::test]
async fn a_gradual_deployment_reaches_functions_through_config_files_and_can_be_stopped() {
    let s = TestServer::start().await;
    shop(&s).await;
    reader(&s).await;
    strategy(&s, "Instant", 100.0, 0, 0).await;
    strategy(&s, "Half", 50.0, 4, 1).await;
    let (_, _) = post_version(&s, FLAGS, "application/json", r#"{"discount": 10}"#).await;
    let (_, _) = post_version(&s, FLAGS, "application/json", r#"{"discount": 20}"#).await;

    // Nothing deployed yet: the directory is there, the file is not.
    assert_eq!(read(&s, "prod", "shop/flags").await, "E44");
    let (status, d1) = deploy(&s, "prod", "flags", 1, "Instant").await;
    assert_eq!(status, 201, "{d1}");
    assert_eq!((d1["number"].as_u64(), d1["state"].as_str()), (Some(1), Some("COMPLETE")), "{d1}");
    assert_eq!(read(&s, "prod", "shop/flags").await, r#"{"discount": 10}"#);
    // The response and the REPORT line name the versions the invocation was given.
    let r = s
        .req(Method::POST, "/v1/functions/reader/invoke")
        .query(&[("qualifier", "1"), ("environment", "prod")])
        .body("shop/flags")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-waygate-config"], "shop/flags=1");
    let (_, logs) = s.call(Method::GET, "/v1/functions/reader/logs", None).await;
    assert!(logs.to_string().contains("Config: shop/flags=1"), "{logs}");
    assert_eq!(read(&s, "prod", "./shop/../shop/flags").await, r#"{"discount": 10}"#);
    assert_eq!(read(&s, "dev", "shop/flags").await, "E44", "dev has nothing deployed");
    // Read-only, and nothing outside the tree.
    assert_eq!(read(&s, "prod", "!shop/flags").await, "E69", "EROFS");
    assert_eq!(read(&s, "prod", "../etc/passwd").await, "E76", "ENOTCAPABLE");
    // A deployed profile the function doesn't list is not visible.
    let (status, _) = s.call(Method::POST, "/v1/applications/shop/profiles", Some(json!({"name": "motd"}))).await;
    assert_eq!(status, 201);
    let (status, _) = post_version(&s, "/v1/applications/shop/profiles/motd", "text/plain", "hello").await;
    assert_eq!(status, 201);
    let (status, v) = deploy(&s, "prod", "motd", 1, "Instant").await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(read(&s, "prod", "shop/motd").await, "E44");

    // Version 2 at 50 %, then 100 % after 2 s, baking until 4 s + 1 s.
    let (status, d3) = deploy(&s, "prod", "flags", 2, "Half").await;
    assert_eq!(status, 201, "{d3}");
    assert_eq!((d3["state"].as_str(), d3["percentage_complete"].as_f64()), (Some("DEPLOYING"), Some(50.0)), "{d3}");
    let n = d3["number"].as_u64().unwrap();
    let (status, v) = deploy(&s, "prod", "motd", 1, "Instant").await;
    assert_eq!(status, 409, "one deployment at a time per environment: {v}");
    // Both versions are served while at 50 % (2^-40 odds of a false failure).
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        seen.insert(read(&s, "prod", "shop/flags").await);
        if seen.len() == 2 {
            break;
        }
    }
    let d = wait_for(&s, "prod", n, |v| v["percentage_complete"] == 100.0).await;
    assert!(seen.len() == 2 || d["events"].as_array().unwrap().len() > 2, "{seen:?}");
    for _ in 0..10 {
        assert_eq!(read(&s, "prod", "shop/flags").await, r#"{"discount": 20}"#);
    }
    let done = wait_for(&s, "prod", n, |v| v["state"] == "COMPLETE").await;
    let events: Vec<&str> =
        done["events"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["DEPLOYMENT_STARTED", "PERCENTAGE_UPDATED", "PERCENTAGE_UPDATED", "BAKE_TIME_STARTED", "DEPLOYMENT_COMPLETED"],
        "{done}"
    );
    let (status, v) =
        s.call(Method::DELETE, &format!("/v1/applications/shop/environments/prod/deployments/{n}"), None).await;
    assert_eq!(status, 409, "a complete deployment can't be stopped: {v}");

    // Back to version 1 gradually, stopped half way: prod keeps serving version 2.
    let (status, d4) = deploy(&s, "prod", "flags", 1, "Half").await;
    assert_eq!(status, 201, "{d4}");
    let n4 = d4["number"].as_u64().unwrap();
    let (status, stopped) =
        s.call(Method::DELETE, &format!("/v1/applications/shop/environments/prod/deployments/{n4}"), None).await;
    assert_eq!(status, 202, "{stopped}");
    assert_eq!(stopped["state"], "ROLLED_BACK");
    assert!(stopped["events"].as_array().unwrap().iter().any(|e| e["event_type"] == "ROLLBACK_STARTED"), "{stopped}");
    for _ in 0..10 {
        assert_eq!(read(&s, "prod", "shop/flags").await, r#"{"discount": 20}"#);
    }
    // What is deployed can't be deleted.
    let (status, v) = s.call(Method::DELETE, &format!("{FLAGS}/versions/2"), None).await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = s.call(Method::DELETE, FLAGS, None).await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = s.call(Method::DELETE, "/v1/applications/shop", None).await;
    assert_eq!(status, 409, "{v}");
    // Version 1 is no longer deployed anywhere (replaced by 2): it can go.
    let (status, v) = s.call(Method::DELETE, &format!("{FLAGS}/versions/1"), None).await;
    assert_eq!(status, 204, "{v}");
    let (_, list) = s.call(Method::GET, "/v1/applications/shop/environments/prod/deployments", None).await;
    assert_eq!(list["deployments"].as_array().unwrap().len(), 4, "{list}");
}

#[tokio::test]
async fn a_restart_mid_deployment_resumes_on_the_clock() {
    let s = TestServer::start().await;
    shop(&s).await;
    reader(&s).await;
    strategy(&s, "Instant", 100.0, 0, 0).await;
    strategy(&s, "Slow", 50.0, 3, 1).await;
    post_version(&s, FLAGS, "application/json", r#"{"discount": 1}"#).await;
    post_version(&s, FLAGS, "application/json", r#"{"discount": 2}"#).await;
    assert_eq!(deploy(&s, "prod", "flags", 1, "Instant").await.0, 201);
    let (status, d) = deploy(&s, "prod", "flags", 2, "Slow").await;
    assert_eq!(status, 201, "{d}");
    let started_at = d["started_at"].clone();
    let s = s.restart().await;
    let (status, after) = s.call(Method::GET, "/v1/applications/shop/environments/prod/deployments/2", None).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["started_at"], started_at, "the same deployment, not a new one");
    assert!(matches!(after["state"].as_str(), Some("DEPLOYING" | "BAKING" | "COMPLETE")), "{after}");
    // It goes on where the clock says, and completes once.
    wait_for(&s, "prod", 2, |v| v["percentage_complete"] == 100.0).await;
    assert_eq!(read(&s, "prod", "shop/flags").await, r#"{"discount": 2}"#);
    let done = wait_for(&s, "prod", 2, |v| v["state"] == "COMPLETE").await;
    let completed = done["events"].as_array().unwrap().iter().filter(|e| e["event_type"] == "DEPLOYMENT_COMPLETED");
    assert_eq!(completed.count(), 1, "{done}");
    // Completed means recorded: the next deployment is accepted.
    assert_eq!(deploy(&s, "prod", "flags", 1, "Instant").await.0, 201);
    assert_eq!(read(&s, "prod", "shop/flags").await, r#"{"discount": 1}"#);
}

#[tokio::test]
async fn function_validators_accept_reject_and_time_out() {
    let s = TestServer::start().await;
    let (status, _) = s.call(Method::POST, "/v1/applications", Some(json!({"name": "shop"}))).await;
    assert_eq!(status, 201);
    s.deploy("says-no", json!({}), &fixtures::print(r#"{"valid": false, "reason": "discount too high"}"#)).await;
    s.deploy("says-yes", json!({}), &fixtures::print(r#"{"valid": true}"#)).await;
    s.deploy("fails", json!({}), &fixtures::exit(3)).await;
    s.deploy("hangs", json!({"timeout_ms": 1000}), &fixtures::infinite_loop()).await;
    for (profile, target, want) in [
        ("yes", "says-yes", None),
        ("no", "says-no", Some("discount too high")),
        ("fails", "fails", Some("rejected")),
        ("hangs", "hangs", Some("timed out")),
        ("missing", "nobody", Some("Function not found")),
    ] {
        let validators = json!([{"type": "function", "target": target}]);
        let (status, v) = s
            .call(
                Method::POST,
                "/v1/applications/shop/profiles",
                Some(json!({"name": profile, "validators": validators})),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        let path = format!("/v1/applications/shop/profiles/{profile}");
        let (status, v) = post_version(&s, &path, "application/json", r#"{"discount": 80}"#).await;
        match want {
            None => assert_eq!(status, 201, "{v}"),
            Some(why) => {
                assert_eq!(status, 400, "{profile}: {v}");
                let m = v["message"].as_str().unwrap();
                assert!(m.contains(why) && m.contains(target), "{profile}: {m}");
                let (_, list) = s.call(Method::GET, &format!("{path}/versions"), None).await;
                assert_eq!(list["versions"].as_array().unwrap().len(), 0, "nothing stored: {list}");
            }
        }
    }
    let (status, v) = s
        .call(
            Method::POST,
            "/v1/applications/shop/profiles",
            Some(json!({"name": "bad", "validators": [{"type": "function", "target": "a b"}]})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
}

/// A monitor on prod rolls a deployment back by itself when the function fails there —
/// and failures in dev, where the same bad version is deployed, don't count.
#[tokio::test]
async fn a_tripped_monitor_rolls_the_deployment_back() {
    let s = TestServer::start().await;
    let (status, _) = s.call(Method::POST, "/v1/applications", Some(json!({"name": "shop"}))).await;
    assert_eq!(status, 201);
    let monitor = json!({"metric": "function_error_rate", "function": "flaky", "threshold_percent": 5, "window_s": 60});
    for (env, monitors) in [("dev", json!([])), ("prod", json!([monitor.clone()]))] {
        let (status, v) = s
            .call(Method::POST, "/v1/applications/shop/environments", Some(json!({"name": env, "monitors": monitors})))
            .await;
        assert_eq!(status, 201, "{v}");
    }
    // Monitors can be replaced later (PATCH), checked as at creation.
    let prod = "/v1/applications/shop/environments/prod";
    let (status, v) = s.call(Method::PATCH, prod, Some(json!({"monitors": []}))).await;
    assert_eq!((status, v["monitors"].clone()), (200, json!([])), "{v}");
    let (status, v) = s.call(Method::PATCH, prod, Some(json!({"monitors": [monitor.clone()]}))).await;
    assert_eq!((status, v["monitors"][0]["function"].as_str()), (200, Some("flaky")), "{v}");
    let (status, _) =
        s.call(Method::PATCH, "/v1/applications/shop/environments/qa", Some(json!({"monitors": []}))).await;
    assert_eq!(status, 404);
    let (status, _) = s.call(Method::PATCH, prod, Some(json!({"monitors": [{"metric": "cpu"}]}))).await;
    assert_eq!(status, 400);
    for bad in [
        json!({"metric": "function_error_rate", "function": "flaky", "threshold_percent": 100, "window_s": 60}),
        json!({"metric": "function_error_rate", "function": "flaky", "threshold_percent": 5, "window_s": 0}),
        json!({"metric": "function_latency_p99", "function": "a/b", "threshold_ms": 5, "window_s": 10}),
        json!({"metric": "cpu", "function": "flaky", "window_s": 10}),
    ] {
        let (status, v) = s
            .call(Method::POST, "/v1/applications/shop/environments", Some(json!({"name": "qa", "monitors": [bad]})))
            .await;
        assert_eq!(status, 400, "{v}");
    }
    let (status, _) = s.call(Method::POST, "/v1/applications/shop/profiles", Some(json!({"name": "flags"}))).await;
    assert_eq!(status, 201);
    post_version(&s, FLAGS, "text/plain", "Good").await;
    post_version(&s, FLAGS, "text/plain", "Bad").await;
    s.deploy("flaky", json!({"config": ["shop/flags"]}), &fixtures::fail_on_bad_config()).await;
    strategy(&s, "Instant", 100.0, 0, 0).await;
    strategy(&s, "Slowly", 50.0, 60, 60).await;
    let invoke = |env: &'static str| {
        let req = s.req(Method::POST, "/v1/functions/flaky/invoke").query(&[("environment", env)]);
        async move { req.send().await.expect("invoke").headers().contains_key("x-waygate-function-error") }
    };
    // dev runs the bad version and fails every time: prod's monitor doesn't see it.
    assert_eq!(deploy(&s, "dev", "flags", 2, "Instant").await.0, 201);
    for _ in 0..5 {
        assert!(invoke("dev").await, "the bad version fails");
    }
    assert_eq!(deploy(&s, "prod", "flags", 1, "Instant").await.0, 201);
    let (status, d) = deploy(&s, "prod", "flags", 2, "Slowly").await;
    assert_eq!(status, 201, "{d}");
    let n = d["number"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, now) = s.call(Method::GET, &format!("/v1/applications/shop/environments/prod/deployments/{n}"), None).await;
    assert_eq!(now["state"], "DEPLOYING", "dev's failures don't roll prod back: {now}");
    // At 50 %, prod's invocations fail half the time: the monitor trips.
    let mut failed = 0;
    for _ in 0..40 {
        failed += u32::from(invoke("prod").await);
        if failed >= 3 {
            break;
        }
    }
    assert!(failed >= 1);
    let d = wait_for(&s, "prod", n, |v| v["state"] == "ROLLED_BACK").await;
    let rollback = d["events"].as_array().unwrap().iter().find(|e| e["event_type"] == "ROLLBACK_STARTED").cloned();
    let why = rollback.expect("a rollback event")["description"].as_str().unwrap().to_string();
    assert!(why.contains("function_error_rate of flaky") && why.contains("% of"), "{why}");
    // prod serves the good version again.
    for _ in 0..10 {
        assert!(!invoke("prod").await, "the good version is back");
    }
}

/// `shop` with version 1 answering `one` and version 2 answering `two` (or failing), and
/// alias STABLE → 1.
async fn two_versions(s: &TestServer, v2_fails: bool) {
    s.deploy("shop", json!({}), &fixtures::print("one")).await;
    assert_eq!(s.publish("shop", json!({})).await.0, 201);
    let v2 = if v2_fails { fixtures::exit(1) } else { fixtures::print("two") };
    let (status, v) = s.upload("shop", &wat::parse_str(v2).unwrap()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.publish("shop", json!({})).await.0, 201);
    let (status, v) = s.call(Method::PUT, "/v1/functions/shop/aliases/STABLE", Some(json!({"version": "1"}))).await;
    assert_eq!(status, 201, "{v}");
}

const SHIFT: &str = "/v1/functions/shop/aliases/STABLE/shift";

async fn wait_for_shift(s: &TestServer, until: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, v) = s.call(Method::GET, SHIFT, None).await;
        assert_eq!(status, 200, "{v}");
        if until(&v) {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the shift never reached the state: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An alias moves to a new version step by step and ends pointing at it; it can't be
/// changed by hand meanwhile.
#[tokio::test]
async fn an_alias_shifts_gradually_and_owns_the_alias_meanwhile() {
    let s = TestServer::start().await;
    two_versions(&s, false).await;
    strategy(&s, "Linear50Every1s", 50.0, 2, 0).await;
    for (body, want) in [
        (json!({"to_version": 9, "strategy": "Linear50Every1s"}), 404),
        (json!({"to_version": 1, "strategy": "Linear50Every1s"}), 400),
        (json!({"to_version": 2, "strategy": "Nope"}), 404),
        (
            json!({"to_version": 2, "strategy": "Linear50Every1s",
            "monitors": [{"metric": "function_error_rate", "function": "other", "threshold_percent": 5, "window_s": 10}]}),
            400,
        ),
    ] {
        let (status, v) = s.call(Method::POST, SHIFT, Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {v}");
    }
    let (status, v) = s.call(Method::GET, SHIFT, None).await;
    assert_eq!(status, 404, "no shift yet: {v}");
    let started = Instant::now();
    let (status, x) = s.call(Method::POST, SHIFT, Some(json!({"to_version": 2, "strategy": "Linear50Every1s"}))).await;
    assert_eq!(status, 201, "{x}");
    assert_eq!((x["state"].as_str(), x["percentage_complete"].as_f64()), (Some("DEPLOYING"), Some(50.0)), "{x}");
    // The alias shows the new version's current weight, as CodeDeploy's shifting does.
    let (_, a) = s.call(Method::GET, "/v1/functions/shop/aliases/STABLE", None).await;
    assert!(a["routing"] == json!({"2": 0.5}) || started.elapsed() >= Duration::from_secs(1), "{a}");
    assert_eq!(a["version"], "1", "{a}");
    assert_eq!((x["from_version"].as_str(), x["to_version"].as_str()), (Some("1"), Some("2")));
    // Manual changes are refused while it runs; so is a second shift and deleting v2.
    let (status, v) = s.call(Method::PUT, "/v1/functions/shop/aliases/STABLE", Some(json!({"version": "2"}))).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["type"], "ResourceConflictException");
    let (status, _) = s.call(Method::DELETE, "/v1/functions/shop/aliases/STABLE", None).await;
    assert_eq!(status, 409);
    let (status, _) = s.call(Method::POST, SHIFT, Some(json!({"to_version": 2, "strategy": "AllAtOnce"}))).await;
    assert_eq!(status, 409);
    let (status, _) = s.call(Method::DELETE, "/v1/functions/shop/versions/2", None).await;
    assert_eq!(status, 409, "the shift's new version is in use");
    // Both versions serve while at 50 % (2^-40 odds of a false failure).
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        seen.insert(s.invoke("shop:STABLE", "").await.text());
        if seen.len() == 2 {
            break;
        }
    }
    let done = wait_for_shift(&s, |v| v["state"] == "COMPLETE").await;
    assert!(seen.len() == 2 || done["events"].as_array().unwrap().len() > 2, "{seen:?}");
    // It ends pointing the alias at version 2 with no routing.
    let started = Instant::now();
    loop {
        let (_, a) = s.call(Method::GET, "/v1/functions/shop/aliases/STABLE", None).await;
        if a["version"] == "2" {
            assert!(a["routing"].is_null() || a["routing"] == json!({}), "{a}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the alias never moved: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..5 {
        assert_eq!(s.invoke("shop:STABLE", "").await.text(), "two");
    }
    let (status, _) = s.call(Method::DELETE, SHIFT, None).await;
    assert_eq!(status, 409, "nothing to stop");
    let (status, v) = s.call(Method::PUT, "/v1/functions/shop/aliases/STABLE", Some(json!({"version": "1"}))).await;
    assert_eq!(status, 200, "the alias is the user's again: {v}");
    // A CodeDeploy canary stopped by hand: the alias keeps version 1.
    let (status, x) =
        s.call(Method::POST, SHIFT, Some(json!({"to_version": 2, "strategy": "Canary10Percent5Minutes"}))).await;
    assert_eq!(status, 201, "{x}");
    assert_eq!(x["percentage_complete"], 10.0);
    let (status, x) = s.call(Method::DELETE, SHIFT, None).await;
    assert_eq!((status, x["state"].as_str()), (202, Some("ROLLED_BACK")), "{x}");
    for _ in 0..10 {
        assert_eq!(s.invoke("shop:STABLE", "").await.text(), "one");
    }
}

/// A monitor on the new version rolls the shift back when it fails.
#[tokio::test]
async fn a_shift_rolls_back_when_its_new_version_fails() {
    let s = TestServer::start().await;
    two_versions(&s, true).await;
    strategy(&s, "Slowly", 50.0, 60, 0).await;
    let monitors =
        json!([{"metric": "function_error_rate", "function": "shop", "threshold_percent": 10, "window_s": 60}]);
    let (status, x) =
        s.call(Method::POST, SHIFT, Some(json!({"to_version": 2, "strategy": "Slowly", "monitors": monitors}))).await;
    assert_eq!(status, 201, "{x}");
    for _ in 0..40 {
        if s.invoke("shop:STABLE", "").await.text() != "one" {
            break;
        }
    }
    let x = wait_for_shift(&s, |v| v["state"] == "ROLLED_BACK").await;
    let why = x["events"].as_array().unwrap().iter().find(|e| e["event_type"] == "ROLLBACK_STARTED").cloned();
    let why = why.expect("a rollback event")["description"].as_str().unwrap().to_string();
    assert!(why.contains("function_error_rate of shop") && why.contains("on version 2"), "{why}");
    let (_, a) = s.call(Method::GET, "/v1/functions/shop/aliases/STABLE", None).await;
    assert_eq!(a["version"], "1", "{a}");
    for _ in 0..10 {
        assert_eq!(s.invoke("shop:STABLE", "").await.text(), "one");
    }
}

/// A stage picks its environment (`environment`, or the older `secret_environment`; by
/// default its name): its functions read that environment's configuration.
#[tokio::test]
async fn a_stage_reads_its_environments_configuration() {
    let s = TestServer::start().await;
    shop(&s).await;
    let (status, _) = s.call(Method::POST, "/v1/applications/shop/profiles", Some(json!({"name": "motd"}))).await;
    assert_eq!(status, 201);
    s.deploy("reader", json!({"config": ["shop/motd"]}), &fixtures::proxy_motd()).await;
    assert_eq!(s.publish("reader", json!({})).await.0, 201);
    strategy(&s, "Instant", 100.0, 0, 0).await;
    post_version(&s, "/v1/applications/shop/profiles/motd", "text/plain", "five").await;
    assert_eq!(deploy(&s, "prod", "motd", 1, "Instant").await.0, 201);
    let (_, api) = s.call(Method::POST, "/v1/apis", Some(json!({"name": "r"}))).await;
    let id = api["id"].as_str().unwrap().to_string();
    let route = json!({"method": "POST", "path": "/read", "integration": {"type": "function", "target": "reader:1"}});
    assert_eq!(s.call(Method::PUT, &format!("/v1/apis/{id}/routes"), Some(route)).await.0, 201);
    let perm = json!({"statement_id": "all", "principal": format!("api:{id}"), "source": format!("{id}/*/*/*"), "qualifier": "1"});
    assert_eq!(s.call(Method::POST, "/v1/functions/reader/permissions", Some(perm)).await.0, 201);
    let (_, dep) = s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({}))).await;
    let dep = dep["id"].as_str().unwrap().to_string();
    for (stage, body) in [
        ("qa", json!({"deployment_id": dep, "environment": "prod"})),
        ("prod", json!({"deployment_id": dep})),
        ("dev", json!({"deployment_id": dep, "secret_environment": "dev"})),
    ] {
        let (status, v) = s.call(Method::PUT, &format!("/v1/apis/{id}/stages/{stage}"), Some(body)).await;
        assert_eq!(status, 201, "{v}");
    }
    let (_, qa) = s.call(Method::GET, &format!("/v1/apis/{id}/stages/qa"), None).await;
    assert_eq!((qa["environment"].as_str(), qa["secret_environment"].as_str()), (Some("prod"), Some("prod")), "{qa}");
    for (stage, want, header) in
        [("qa", "five", Some("shop/motd=1")), ("prod", "five", Some("shop/motd=1")), ("dev", "none", None)]
    {
        let r = s.gw(Method::POST, &format!("/{id}/{stage}/read")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{stage}");
        assert_eq!(r.headers().get("x-waygate-config").map(|v| v.to_str().unwrap()), header, "{stage}");
        assert_eq!(r.text().await.unwrap(), want, "{stage}");
    }
    let (status, v) = s
        .call(
            Method::PATCH,
            &format!("/v1/apis/{id}/stages/qa"),
            Some(json!({"environment": "a", "secret_environment": "b"})),
        )
        .await;
    assert_eq!(status, 400, "one field under two names: {v}");
}
