use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_get_list_delete() {
    let s = TestServer::start().await;
    let v = s
        .create("orders", json!({ "memory_mb": 256, "timeout_ms": 1500, "env": { "TABLE": "t1" }, "description": "d" }))
        .await;
    assert_eq!(v["name"], "orders");
    assert_eq!(v["version"], "$LATEST");
    assert_eq!(v["code_hash"], serde_json::Value::Null);
    assert_eq!(v["config"]["memory_mb"], 256);
    assert_eq!(v["config"]["timeout_ms"], 1500);
    assert_eq!(v["config"]["env"]["TABLE"], "t1");

    let (st, got) = s.call(Method::GET, "/v1/functions/orders", None).await;
    assert_eq!(st, 200);
    assert_eq!(got["revision_id"], v["revision_id"]);

    s.create("billing", json!({})).await;
    let (_, list) = s.call(Method::GET, "/v1/functions", None).await;
    let names: Vec<&str> = list["functions"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["billing", "orders"]);

    let (st, dup) = s.call(Method::POST, "/v1/functions", Some(json!({ "name": "orders" }))).await;
    assert_eq!(st, 409, "{dup}");
    assert_eq!(dup["message"], "Function already exist: orders");

    let (st, _) = s.call(Method::DELETE, "/v1/functions/orders", None).await;
    assert_eq!(st, 204);
    let (st, v) = s.call(Method::GET, "/v1/functions/orders", None).await;
    assert_eq!(st, 404);
    assert_eq!(v["message"], "Function not found: waygate:function:orders");
    let (st, _) = s.call(Method::DELETE, "/v1/functions/orders", None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn defaults_follow_lambda() {
    let s = TestServer::start().await;
    let v = s.create("f1", json!({})).await;
    assert_eq!(v["config"]["memory_mb"], 128);
    assert_eq!(v["config"]["timeout_ms"], 3000);
}

#[tokio::test]
async fn invalid_input_is_rejected_and_not_stored() {
    let s = TestServer::start().await;
    let cases = [
        (json!({ "name": "bad name" }), "Invalid function name"),
        (json!({ "name": "x".repeat(65) }), "Invalid function name"),
        (json!({ "name": "" }), "Invalid function name"),
        (json!({ "name": "f", "memory_mb": 0 }), "memory_mb 0 is out of range"),
        (json!({ "name": "f", "memory_mb": 4097 }), "memory_mb 4097 is out of range"),
        (json!({ "name": "f", "timeout_ms": 5 }), "timeout_ms 5 is out of range"),
        (json!({ "name": "f", "timeout_ms": 900001 }), "timeout_ms 900001 is out of range"),
        (json!({ "name": "f", "env": { "1BAD": "x" } }), "Invalid environment variable name '1BAD'"),
        (json!({ "name": "f", "env": { "AWS_REGION": "x" } }), "Reserved keys used in this request: AWS_REGION"),
        (json!({ "name": "f", "env": { "BIG": "x".repeat(4094) } }), "exceeded the 4KB limit"),
        (json!({ "name": "f", "description": "d".repeat(257) }), "description is too long"),
        (json!({ "name": "f", "unknown": 1 }), "unknown field `unknown`"),
        (json!({ "memory_mb": 1 }), "missing field `name`"),
    ];
    for (body, msg) in cases {
        let (st, v) = s.call(Method::POST, "/v1/functions", Some(body.clone())).await;
        assert_eq!(st, 400, "{body} → {v}");
        assert!(v["message"].as_str().unwrap().contains(msg), "{body} → {v}");
    }
    let r = s
        .req(Method::POST, "/v1/functions")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (_, list) = s.call(Method::GET, "/v1/functions", None).await;
    assert_eq!(list["functions"].as_array().unwrap().len(), 0, "nothing stored: {list}");
}

#[tokio::test]
async fn config_patch_changes_only_latest_fields_given() {
    let s = TestServer::start().await;
    let created = s.create("f1", json!({ "env": { "A1": "x" }, "memory_mb": 256 })).await;
    let (st, v) = s.call(Method::PATCH, "/v1/functions/f1/config", Some(json!({ "timeout_ms": 500 }))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["config"]["timeout_ms"], 500);
    assert_eq!(v["config"]["memory_mb"], 256);
    assert_eq!(v["config"]["env"]["A1"], "x");
    assert_ne!(v["revision_id"], created["revision_id"]);
    let (st, v) = s.call(Method::PATCH, "/v1/functions/f1/config", Some(json!({ "env": { "B2": "y" } }))).await;
    assert_eq!(st, 200);
    assert_eq!(v["config"]["env"], json!({ "B2": "y" }), "env replaces the whole map");
    let (st, v) = s.call(Method::PATCH, "/v1/functions/f1/config", Some(json!({ "memory_mb": 99999 }))).await;
    assert_eq!(st, 400, "{v}");
    let (_, v) = s.call(Method::GET, "/v1/functions/f1", None).await;
    assert_eq!(v["config"]["memory_mb"], 256, "a rejected patch changes nothing");
    let (st, _) = s.call(Method::PATCH, "/v1/functions/nope/config", Some(json!({}))).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn every_call_needs_the_token() {
    let s = TestServer::start().await;
    let c = reqwest::Client::new();
    for (m, p) in [
        (Method::GET, "/v1/functions"),
        (Method::POST, "/v1/functions"),
        (Method::POST, "/v1/functions/x/invoke"),
        (Method::GET, "/nope"),
    ] {
        let r = c.request(m.clone(), format!("{}{p}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{m} {p}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().starts_with("Unauthorized"), "{v}");
        let r = c.request(m.clone(), format!("{}{p}", s.url)).bearer_auth("wg_wrong").send().await.unwrap();
        assert_eq!(r.status(), 401, "{m} {p}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.data().join("admin.token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let s = TestServer::start().await;
    let (st, v) = s.call(Method::GET, "/v1/nothing", None).await;
    assert_eq!(st, 404);
    assert_eq!(v["message"], "Unknown route: GET /v1/nothing");
    let (st, v) = s.call(Method::PUT, "/v1/functions", None).await;
    assert_eq!(st, 405);
    assert!(v["message"].as_str().unwrap().contains("not allowed"));
}

/// `curl -d` labels JSON as a form: accepted as JSON; other media types are 415.
#[tokio::test]
async fn json_bodies_accept_curls_default_content_type() {
    let s = TestServer::start().await;
    let form = s
        .req(Method::POST, "/v1/functions")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"name":"curly"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    let text = s
        .req(Method::POST, "/v1/functions")
        .header("content-type", "text/plain")
        .body(r#"{"name":"plain"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let (st, _) = s.call(Method::GET, "/v1/functions/plain", None).await;
    assert_eq!(st, 404, "nothing stored on a rejected body");
}

/// Listings page: `limit` and `next`, in key order, each item once; bad pages are refused;
/// the CLI follows `next` to list everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_with_limit_and_next() {
    let s = TestServer::start().await;
    // One more than a default page.
    let created = crate::harness::DEFAULT_PAGE + 1;
    use futures_util::StreamExt;
    let statuses: Vec<u16> = futures_util::stream::iter(0..created)
        .map(|i| {
            let s = &s;
            async move { s.call(Method::POST, "/v1/functions", Some(json!({ "name": format!("p{i:04}") }))).await.0 }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|st| *st == 201), "{statuses:?}");

    let (st, first) = s.call(Method::GET, "/v1/functions", None).await;
    assert_eq!(st, 200);
    assert_eq!(first["functions"].as_array().unwrap().len(), crate::harness::DEFAULT_PAGE, "a default page");
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(n) => format!("/v1/functions?limit=300&next={n}"),
            None => "/v1/functions?limit=300".to_string(),
        };
        let (st, page) = s.call(Method::GET, &path, None).await;
        assert_eq!(st, 200, "{page}");
        let items = page["functions"].as_array().unwrap();
        assert!(items.len() <= 300);
        seen.extend(items.iter().map(|f| f["name"].as_str().unwrap().to_string()));
        match page.get("next") {
            Some(n) => next = Some(n.as_str().unwrap().to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..created).map(|i| format!("p{i:04}")).collect();
    assert_eq!(seen, expected, "every function once, in name order");

    for bad in ["limit=0", "limit=1001", "limit=x", "next=%21%21", "page=2"] {
        let (st, v) = s.call(Method::GET, &format!("/v1/functions?{bad}"), None).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // The same on another listing.
    let (st, v) = s.call(Method::GET, "/v1/apis?limit=0", None).await;
    assert_eq!((st, v["message"].as_str()), (400, Some("limit must be between 1 and 1000")));

    // The CLI lists all of them, across pages.
    let out = crate::harness::ok(&crate::harness::waygate(&s, &["function", "list", "--output", "json"]));
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["functions"].as_array().map(Vec::len), Some(created), "{out:.300}");
}
