use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn publish_snapshots_code_and_config() {
    let s = TestServer::start().await;
    let up = s.deploy("f1", json!({ "env": { "COLOR": "blue" } }), &fixtures::print("v1")).await;
    let (st, v1) = s.publish("f1", json!({ "description": "first" })).await;
    assert_eq!(st, 201, "{v1}");
    assert_eq!(v1["version"], "1");
    assert_eq!(v1["code_hash"], up["code_hash"]);
    assert_eq!(v1["config"]["env"]["COLOR"], "blue");
    assert_eq!(v1["description"], "first");
    assert_eq!(v1["version_hash"].as_str().unwrap().len(), 64);

    // Unchanged $LATEST: no new number, the newest version comes back with 200.
    let (st, again) = s.publish("f1", json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(again["version"], "1");
    // An empty body is fine too.
    let r = s.req(Method::POST, "/v1/functions/f1/versions").send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Editing $LATEST leaves version 1 alone.
    s.call(Method::PATCH, "/v1/functions/f1/config", Some(json!({ "env": { "COLOR": "red" } }))).await;
    s.upload("f1", &wat::parse_str(fixtures::print("v2")).unwrap()).await;
    let (st, v2) = s.publish("f1", json!({})).await;
    assert_eq!(st, 201);
    assert_eq!(v2["version"], "2");
    assert_ne!(v2["version_hash"], v1["version_hash"]);
    let (_, got1) = s.call(Method::GET, "/v1/functions/f1/versions/1", None).await;
    assert_eq!(got1["config"]["env"]["COLOR"], "blue");
    assert_eq!(got1["code_hash"], v1["code_hash"]);
    assert_eq!(s.invoke("f1:1", "").await.text(), "v1");
    assert_eq!(s.invoke("f1:2", "").await.text(), "v2");
    assert_eq!(s.invoke("f1", "").await.text(), "v2");

    let (_, list) = s.call(Method::GET, "/v1/functions/f1/versions", None).await;
    let nums: Vec<&str> = list["versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(nums, ["1", "2"]);
}

#[tokio::test]
async fn publish_preconditions() {
    let s = TestServer::start().await;
    s.create("empty", json!({})).await;
    let (st, v) = s.publish("empty", json!({})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("has no code yet"));

    let up = s.deploy("f1", json!({}), &fixtures::print("a")).await;
    let wrong = "0".repeat(64);
    let (st, v) = s.publish("f1", json!({ "expected_code_hash": wrong })).await;
    assert_eq!(st, 409, "{v}");
    let code = up["code_hash"].as_str().unwrap();
    assert_eq!(
        v["message"],
        format!("CodeHash ({wrong}) is different from current CodeHash in $LATEST ({code}). Please try again with the CodeHash in $LATEST.")
    );
    let (st, v) = s.publish("f1", json!({ "expected_code_hash": "xyz" })).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = s.publish("f1", json!({ "expected_revision": "not-it" })).await;
    assert_eq!(st, 412, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("The Revision Id provided does not match the latest Revision Id"));
    let (_, list) = s.call(Method::GET, "/v1/functions/f1/versions", None).await;
    assert_eq!(list["versions"].as_array().unwrap().len(), 0, "nothing published");

    let rev = up["function"]["revision_id"].as_str().unwrap();
    let (st, v) = s.publish("f1", json!({ "expected_code_hash": code, "expected_revision": rev })).await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = s.publish("nope", json!({})).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn delete_rules_and_numbers_are_never_reused() {
    let s = TestServer::start().await;
    s.deploy("f1", json!({}), &fixtures::print("a")).await;
    s.publish("f1", json!({})).await;
    s.upload("f1", &wat::parse_str(fixtures::print("b")).unwrap()).await;
    s.publish("f1", json!({})).await;
    s.call(Method::PUT, "/v1/functions/f1/aliases/live", Some(json!({ "version": "1" }))).await;
    s.call(Method::PUT, "/v1/functions/f1/aliases/canary", Some(json!({ "version": "2", "routing": { "1": 0.5 } })))
        .await;

    let (st, v) = s.call(Method::DELETE, "/v1/functions/f1/versions/1", None).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["message"], "Unable to delete version because the following aliases reference it: [canary, live]");
    let (st, v) = s.call(Method::DELETE, "/v1/functions/f1/versions/$LATEST", None).await;
    assert_eq!(st, 400);
    assert_eq!(v["message"], "$LATEST version cannot be deleted without deleting the function.");
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f1/versions/9", None).await;
    assert_eq!(st, 404);
    let (st, _) = s.call(Method::GET, "/v1/functions/f1/versions/abc", None).await;
    assert_eq!(st, 400);

    s.call(Method::DELETE, "/v1/functions/f1/aliases/canary", None).await;
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f1/versions/2", None).await;
    assert_eq!(st, 204);
    assert_eq!(s.invoke("f1:2", "").await.status, 404);
    // A new publish gets 3, not the freed 2.
    s.upload("f1", &wat::parse_str(fixtures::print("c")).unwrap()).await;
    let (st, v) = s.publish("f1", json!({})).await;
    assert_eq!(st, 201);
    assert_eq!(v["version"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_get_distinct_consecutive_numbers() {
    let s = std::sync::Arc::new(TestServer::start().await);
    s.deploy("f1", json!({}), &fixtures::print("a")).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.call(Method::PATCH, "/v1/functions/f1/config", Some(json!({ "description": format!("d{i}") }))).await;
            s.publish("f1", json!({})).await
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert!(st == 201 || st == 200, "{v}");
        if st == 201 {
            created.push(v["version"].as_str().unwrap().parse::<u32>().unwrap());
        }
    }
    created.sort();
    let k = created.len() as u32;
    assert!(k >= 1);
    assert_eq!(created, (1..=k).collect::<Vec<_>>(), "distinct and consecutive");
    let (_, list) = s.call(Method::GET, "/v1/functions/f1/versions", None).await;
    assert_eq!(list["versions"].as_array().unwrap().len() as u32, k);
}
