//! Observability end to end: Lambda-shaped log lines through the logs API, its parameter
//! validation, Prometheus metric names and labels, `server-timing` on invoke and gateway
//! responses, eviction (cold loads), and `waygate bench` / `waygate logs` from the CLI.

use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

async fn logs(s: &TestServer, query: &str) -> (u16, Value) {
    s.call(Method::GET, &format!("/v1/functions/lg/logs{query}"), None).await
}

fn messages(v: &Value) -> Vec<String> {
    v["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn invocations_leave_lambda_shaped_log_lines() {
    let s = TestServer::start().await;
    s.deploy("lg", json!({ "memory_mb": 64 }), &fixtures::logs()).await;
    assert_eq!(s.publish("lg", json!({})).await.0, 201);
    s.call(Method::PUT, "/v1/functions/lg/aliases/live", Some(json!({ "version": "1" }))).await;
    // Evicted, so the first call loads the code again (uploads preload it).
    assert_eq!(s.call(Method::POST, "/v1/runtime/evict", None).await.0, 200);
    let first = s.invoke("lg:live", "").await;
    assert_eq!(first.text(), "ok");
    let second = s.invoke("lg", "").await;

    let (status, v) = logs(&s, "").await;
    assert_eq!(status, 200, "{v}");
    let m = messages(&v);
    assert_eq!(m.len(), 8, "{m:?}");
    let id = &first.request_id;
    assert_eq!(m[0], format!("START RequestId: {id} Version: 1"));
    assert_eq!(m[1], "a log line");
    assert_eq!(m[2], format!("END RequestId: {id}"));
    let report: Vec<&str> = m[3].split('\t').collect();
    assert_eq!(report[0], format!("REPORT RequestId: {id}"));
    assert!(report[1].starts_with("Duration: ") && report[1].ends_with(" ms"), "{}", m[3]);
    assert!(report[2].starts_with("Billed Duration: "), "{}", m[3]);
    assert_eq!(report[3], "Memory Size: 64 MB");
    assert!(report[4].starts_with("Max Memory Used: ") && report[4].ends_with(" MB"), "{}", m[3]);
    // The first call of this code loaded it: Init Duration; the second did not.
    assert!(report[5].starts_with("Init Duration: "), "{}", m[3]);
    assert_eq!(m[4], format!("START RequestId: {} Version: $LATEST", second.request_id));
    assert_eq!(m[7].split('\t').count(), 5, "{}", m[7]);
    let e = &v["events"][0];
    assert_eq!(
        (e["version"].as_str(), e["qualifier"].as_str(), e["request_id"].as_str()),
        (Some("1"), Some("live"), Some(id.as_str()))
    );

    // Filters: alias, version, limit (a tail), since/after (forward from a point).
    assert_eq!(messages(&logs(&s, "?qualifier=live").await.1).len(), 4);
    assert_eq!(messages(&logs(&s, "?qualifier=1").await.1).len(), 4);
    assert_eq!(messages(&logs(&s, "?qualifier=%24LATEST").await.1).len(), 4);
    assert_eq!(messages(&logs(&s, "?qualifier=2").await.1).len(), 0);
    let tail = logs(&s, "?limit=1").await.1;
    assert!(messages(&tail)[0].starts_with("REPORT"), "{tail}");
    let seq = v["events"][3]["seq"].as_u64().unwrap();
    let next = logs(&s, &format!("?after={seq}&limit=2")).await.1;
    assert_eq!(messages(&next)[0], m[4]);
    assert_eq!(next["next_after"], v["events"][5]["seq"]);
    assert_eq!(messages(&logs(&s, "?since=0").await.1).len(), 8);
    assert_eq!(messages(&logs(&s, "?since=2999-01-01T00:00:00Z").await.1).len(), 0);
}

#[tokio::test]
async fn logs_api_rejects_bad_parameters() {
    let s = TestServer::start().await;
    s.deploy("lg", json!({}), &fixtures::logs()).await;
    for (q, needle) in [
        ("?limit=0", "limit"),
        ("?limit=100000", "limit"),
        ("?since=yesterday", "since"),
        ("?after=x", "after"),
        ("?qualifier=a%20b", "qualifier"),
        ("?tail=1", "Unknown query parameter"),
    ] {
        let (status, v) = logs(&s, q).await;
        assert_eq!(status, 400, "{q}: {v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{q}: {v}");
    }
    let (status, v) = s.call(Method::GET, "/v1/functions/nope/logs", None).await;
    assert_eq!(status, 404, "{v}");
}

#[tokio::test]
async fn the_log_buffer_is_bounded() {
    let s = TestServer::start_with(|c| c.log_buffer_lines = 6).await;
    s.deploy("lg", json!({}), &fixtures::logs()).await;
    for _ in 0..5 {
        s.invoke("lg", "").await;
    }
    let m = messages(&logs(&s, "?limit=100").await.1);
    assert_eq!(m.len(), 6, "{m:?}");
    assert!(m[5].starts_with("REPORT"), "{m:?}");
    // Deleting the function forgets its logs: a new function of that name starts empty.
    assert_eq!(s.call(Method::DELETE, "/v1/functions/lg", None).await.0, 204);
    s.deploy("lg", json!({}), &fixtures::logs()).await;
    assert!(messages(&logs(&s, "").await.1).is_empty());
}

#[tokio::test]
async fn metrics_are_labelled_and_need_the_token() {
    let s = TestServer::start().await;
    s.deploy("mx", json!({}), &fixtures::logs()).await;
    s.publish("mx", json!({})).await;
    s.call(Method::PUT, "/v1/functions/mx/aliases/live", Some(json!({ "version": "1" }))).await;
    assert_eq!(s.call(Method::POST, "/v1/runtime/evict", None).await.0, 200);
    s.invoke("mx:live", "").await;
    s.invoke("mx:live", "").await;
    s.deploy("boom", json!({}), &fixtures::exit(3)).await;
    s.invoke("boom", "").await;

    let anonymous = reqwest::get(format!("{}/metrics", s.url)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let r = s.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let live = r#"function="mx",version="1",alias="live",api="",stage="",canary="false""#;
    for line in [
        format!("waygate_invocations_total{{{live}}} 2"),
        format!("waygate_loads_total{{{live}}} 1"),
        format!("waygate_invocation_duration_seconds_count{{{live}}} 2"),
        format!("waygate_instantiate_duration_seconds_count{{{live}}} 2"),
        format!("waygate_load_duration_seconds_count{{{live}}} 1"),
        r#"waygate_errors_total{function="boom",version="$LATEST",alias="",api="",stage="",canary="false",type="Runtime.ExitError"} 1"#.to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(text.contains("# TYPE waygate_invocation_duration_seconds histogram"), "{text}");
    // No request-derived label values.
    assert!(!text.contains("RequestId") && !text.contains("request_id"), "{text}");
}

#[tokio::test]
async fn server_timing_on_invoke_and_gateway_and_eviction_makes_the_next_call_load() {
    let s = TestServer::start().await;
    waygate::examples::register(&s.platform()).await.expect("examples");
    // Registering uploaded (and so loaded) the code; evicted, the next call loads it.
    assert_eq!(s.call(Method::POST, "/v1/runtime/evict", None).await.0, 200);
    let first = s.invoke("hello", "{}").await;
    for phase in ["route", "load", "instantiate", "run", "total"] {
        assert!(first.timing(phase).is_some(), "{phase} missing: {}", first.server_timing);
    }
    let warm = s.invoke("hello", "{}").await;
    assert!(warm.timing("load").is_none(), "{}", warm.server_timing);
    assert!(warm.timing("route").is_some() && warm.timing("total").is_some(), "{}", warm.server_timing);

    let (status, v) = s.call(Method::POST, "/v1/runtime/evict", None).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["evicted"].as_u64().unwrap() >= 1, "{v}");
    let cold = s.invoke("hello", "{}").await;
    assert!(cold.timing("load").is_some(), "{}", cold.server_timing);

    let (_, apis) = s.call(Method::GET, "/v1/apis", None).await;
    let api = apis["apis"][0]["id"].as_str().unwrap().to_string();
    let r = s.gw(Method::POST, &format!("/{api}/prod/orders")).body(r#"{"order_id":"A1"}"#).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let st = r.headers()["server-timing"].to_str().unwrap().to_string();
    let names: Vec<&str> = st.split(", ").map(|e| e.split(';').next().unwrap()).collect();
    assert_eq!(names, ["route", "load", "instantiate", "run", "total"], "{st}");
    let text = s.req(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let gw = format!(
        r#"waygate_invocations_total{{function="orders",version="1",alias="STABLE",api="{api}",stage="prod",canary="false"}} 1"#
    );
    assert!(text.lines().any(|l| l == gw), "missing {gw} in\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_and_logs_from_the_cli() {
    let s = TestServer::start().await;
    waygate::examples::register(&s.platform()).await.expect("examples");
    let (_, apis) = s.call(Method::GET, "/v1/apis", None).await;
    let api = apis["apis"][0]["id"].as_str().unwrap().to_string();
    let url = format!("{}/{api}/prod/orders", s.gateway);
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("b.svg");
    let (admin, data) = (s.url.clone(), s.data());
    let run = move |args: Vec<String>| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_waygate"))
            .args(&args)
            .env("WAYGATE_ENDPOINT", &admin)
            .env("WAYGATE_DATA_DIR", &data)
            .env_remove("WAYGATE_TOKEN")
            .output()
            .expect("run waygate");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let s_args = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let svg_path = svg.to_str().unwrap().to_string();
    let (out, cold, logs) = tokio::task::spawn_blocking(move || {
        let warm = run(s_args(&[
            "bench",
            &url,
            "--method",
            "POST",
            "--payload",
            r#"{"order_id":"A1","items":[{"sku":"x","qty":2}]}"#,
            "-n",
            "40",
            "-c",
            "4",
            "--output",
            "json",
            "--plot",
            &svg_path,
        ]));
        let cold = run(s_args(&["bench", "hello", "--cold", "-n", "5", "--output", "json"]));
        let logs = run(s_args(&["logs", "hello", "--limit", "3"]));
        (warm, cold, logs)
    })
    .await
    .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["requests"], 40, "{v}");
    assert_eq!(v["statuses"]["200"], 40, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["mode"], "warm");
    for k in ["p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency_ms"][k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
    for phase in ["route", "instantiate", "run", "total"] {
        assert_eq!(v["server_ms"][phase]["count"], 40, "{phase}: {v}");
    }
    assert!(v["requests_per_second"].as_f64().unwrap() > 0.0);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg") && plot.contains("latency by percentile"), "{plot}");

    let c: Value = serde_json::from_str(&cold).unwrap_or_else(|e| panic!("{e}: {cold}"));
    assert_eq!(c["mode"], "cold");
    assert_eq!(c["cold"]["requests_that_loaded"], 5, "{c}");
    assert_eq!(c["server_ms"]["load"]["count"], 5, "{c}");

    let lines: Vec<&str> = logs.lines().collect();
    // hello writes no stderr: START, END, REPORT.
    assert_eq!(lines.len(), 3, "{logs}");
    assert!(lines[0].contains("\tSTART RequestId: ") && lines[2].contains("\tREPORT RequestId: "), "{logs}");
}
