use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

async fn two_versions(s: &TestServer) {
    s.deploy("f1", json!({}), &fixtures::print("one")).await;
    s.publish("f1", json!({})).await;
    s.upload("f1", &wat::parse_str(fixtures::print("two")).unwrap()).await;
    s.publish("f1", json!({})).await;
    s.upload("f1", &wat::parse_str(fixtures::print("latest")).unwrap()).await;
}

#[tokio::test]
async fn alias_lifecycle() {
    let s = TestServer::start().await;
    two_versions(&s).await;
    let (st, a) = s
        .call(Method::PUT, "/v1/functions/f1/aliases/STABLE", Some(json!({ "version": "1", "description": "prod" })))
        .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["version"], "1");
    assert_eq!(a["routing"], json!({}));
    assert_eq!(s.invoke("f1:STABLE", "").await.text(), "one");
    let inv = s.invoke("f1:STABLE", "").await;
    assert_eq!(inv.version, "1", "executed version is reported");

    // Move it: no redeploy of anything else needed.
    let (st, b) = s.call(Method::PUT, "/v1/functions/f1/aliases/STABLE", Some(json!({ "version": "2" }))).await;
    assert_eq!(st, 200);
    assert_ne!(a["revision_id"], b["revision_id"]);
    assert_eq!(b["description"], "prod", "description kept when not given");
    assert_eq!(s.invoke("f1:STABLE", "").await.text(), "two");

    let (st, _) = s.call(Method::PUT, "/v1/functions/f1/aliases/DEV", Some(json!({ "version": "$LATEST" }))).await;
    assert_eq!(st, 201);
    let inv = s.invoke("f1:DEV", "").await;
    assert_eq!((inv.text().as_str(), inv.version.as_str()), ("latest", "$LATEST"));

    let (_, list) = s.call(Method::GET, "/v1/functions/f1/aliases", None).await;
    assert_eq!(list["aliases"].as_array().unwrap().len(), 2);
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f1/aliases/DEV", None).await;
    assert_eq!(st, 204);
    let (st, v) = s.call(Method::GET, "/v1/functions/f1/aliases/DEV", None).await;
    assert_eq!(st, 404);
    assert_eq!(v["message"], "Alias not found: waygate:function:f1:DEV");
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f1/aliases/DEV", None).await;
    assert_eq!(st, 404);
    let inv = s.invoke("f1:DEV", "").await;
    assert_eq!(inv.status, 404);
}

#[tokio::test]
async fn aws_alias_rules() {
    let s = TestServer::start().await;
    two_versions(&s).await;
    let put = |alias: &str, body: serde_json::Value| {
        let path = format!("/v1/functions/f1/aliases/{alias}");
        let s = &s;
        async move { s.call(Method::PUT, &path, Some(body)).await }
    };
    let cases = [
        (
            "A",
            json!({ "version": "1", "routing": { "2": 0.1, "3": 0.1 } }),
            400,
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ),
        (
            "A",
            json!({ "version": "$LATEST", "routing": { "2": 0.1 } }),
            400,
            "$LATEST is not supported for an alias pointing to more than 1 version",
        ),
        (
            "A",
            json!({ "version": "1", "routing": { "1": 0.1 } }),
            400,
            "Invalid function version 1. Function version 1 is already included in routing configuration.",
        ),
        ("A", json!({ "version": "1", "routing": { "2": 1.5 } }), 400, "between 0.0 and 1.0"),
        ("A", json!({ "version": "1", "routing": { "$LATEST": 0.5 } }), 400, "[0-9]+"),
        ("A", json!({ "version": "7" }), 404, "Function not found: waygate:function:f1:7"),
        ("A", json!({ "version": "1", "routing": { "9": 0.5 } }), 404, "Function not found: waygate:function:f1:9"),
        ("A", json!({ "version": "STABLE" }), 400, "Invalid version"),
        ("123", json!({ "version": "1" }), 400, "Invalid alias name"),
        ("A", json!({ "version": "1", "description": "x".repeat(257) }), 400, "description is too long"),
    ];
    for (alias, body, status, msg) in cases {
        let (st, v) = put(alias, body.clone()).await;
        assert_eq!(st, status, "{body} → {v}");
        assert!(v["message"].as_str().unwrap().contains(msg), "{body} → {v}");
    }
    let (_, list) = s.call(Method::GET, "/v1/functions/f1/aliases", None).await;
    assert_eq!(list["aliases"].as_array().unwrap().len(), 0, "nothing stored");

    // Optimistic concurrency on the revision id.
    let (_, a) = put("LIVE", json!({ "version": "1" })).await;
    let (st, v) = put("LIVE", json!({ "version": "2", "expected_revision": "stale" })).await;
    assert_eq!(st, 412, "{v}");
    let (st, _) = put("LIVE", json!({ "version": "2", "expected_revision": a["revision_id"] })).await;
    assert_eq!(st, 200);
    // Routing can be reset with {}.
    let (st, v) = put("LIVE", json!({ "version": "2", "routing": { "1": 0.2 } })).await;
    assert_eq!((st, &v["routing"]), (200, &json!({ "1": 0.2 })));
    let (_, v) = put("LIVE", json!({ "version": "2", "routing": {} })).await;
    assert_eq!(v["routing"], json!({}));
    let (st, _) = s.call(Method::PUT, "/v1/functions/nope/aliases/A", Some(json!({ "version": "1" }))).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn weighted_alias_splits_traffic() {
    let s = TestServer::start().await;
    two_versions(&s).await;
    let (st, v) = s
        .call(Method::PUT, "/v1/functions/f1/aliases/live", Some(json!({ "version": "1", "routing": { "2": 0.3 } })))
        .await;
    assert_eq!(st, 201, "{v}");
    let n = 400;
    let mut v2 = 0;
    for _ in 0..n {
        let inv = s.invoke("f1:live", "").await;
        match (inv.version.as_str(), inv.text().as_str()) {
            ("1", "one") => {}
            ("2", "two") => v2 += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Expected 120; ± 4.4 standard deviations.
    assert!((80..=160).contains(&v2), "version 2 served {v2} of {n}");
}
