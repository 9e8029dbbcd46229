//! The gateway end to end over HTTP: REST APIs, routes, deployments, stages with
//! variables, proxy integration, resource permissions, and every gateway error.

use crate::fixtures;
use crate::harness::TestServer;
use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

/// A gateway response.
pub struct Gw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Gw {
    pub fn h(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// Asserts a gateway-made error: status, `{"message"}`, error type and request id.
    pub fn expect_error(&self, status: u16, message: &str, kind: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.json(), json!({ "message": message }));
        assert_eq!(self.h("x-amzn-errortype"), Some(kind));
        assert!(self.h("x-amzn-requestid").is_some_and(|v| !v.is_empty()));
    }
}

pub async fn send(r: reqwest::RequestBuilder) -> Gw {
    let r = r.send().await.expect("gateway request");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Gw { status, headers, body: r.bytes().await.expect("body").to_vec() }
}

pub async fn get(s: &TestServer, path: &str) -> Gw {
    send(s.gw(Method::GET, path)).await
}

pub async fn new_api(s: &TestServer, name: &str) -> String {
    let (st, v) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": name }))).await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 10);
    assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{id}");
    id
}

pub async fn put_route(s: &TestServer, api: &str, method: &str, path: &str, integration: Value) -> (u16, Value) {
    let body = json!({ "method": method, "path": path, "integration": integration });
    s.call(Method::PUT, &format!("/v1/apis/{api}/routes"), Some(body)).await
}

pub async fn route_ok(s: &TestServer, api: &str, method: &str, path: &str, integration: Value) -> Value {
    let (st, v) = put_route(s, api, method, path, integration).await;
    assert!(st == 201 || st == 200, "{method} {path}: {st} {v}");
    v
}

pub fn function(target: &str) -> Value {
    json!({ "type": "function", "target": target })
}

pub fn mock(status: u16, body: &str) -> Value {
    json!({ "type": "mock", "status": status, "body": body })
}

/// Deploys the draft (to `stage` when given); returns the deployment id.
pub async fn deploy(s: &TestServer, api: &str, stage: Option<&str>) -> String {
    let body = match stage {
        Some(st) => json!({ "stage": st }),
        None => json!({}),
    };
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

pub async fn permit(s: &TestServer, function: &str, sid: &str, api: &str, qualifier: Option<&str>) {
    let mut body = json!({ "statement_id": sid, "principal": format!("api:{api}"), "source": format!("{api}/*/*/*") });
    if let Some(q) = qualifier {
        body["qualifier"] = q.into();
    }
    let (st, v) = s.call(Method::POST, &format!("/v1/functions/{function}/permissions"), Some(body)).await;
    assert_eq!(st, 201, "{v}");
}

async fn with_examples() -> (TestServer, waygate::examples::Report) {
    let s = TestServer::start().await;
    let report = waygate::examples::register(&s.platform()).await.expect("examples register");
    (s, report)
}

const ORDER: &str = r#"{"order_id":"A1","items":[{"sku":"x","qty":2}]}"#;

async fn post_order(s: &TestServer, api: &str, stage: &str) -> Gw {
    send(s.gw(Method::POST, &format!("/{api}/{stage}/orders")).body(ORDER)).await
}

// ---------------------------------------------------------------------------------------
// The study guide's scenario.

#[tokio::test]
async fn dev_runs_latest_prod_runs_stable_and_promotion_needs_no_redeploy() {
    let (s, report) = with_examples().await;
    let api = report.api_id.clone();
    let urls: Vec<_> = report.stages.iter().map(|(st, u)| (st.as_str(), u.as_str())).collect();
    assert_eq!(urls.len(), 2);
    for (stage, url) in &urls {
        assert_eq!(*url, format!("{}/{api}/{stage}", s.gateway), "invoke URL of {stage}");
    }

    let dev = post_order(&s, &api, "dev").await;
    assert_eq!(dev.status, 200, "{}", dev.text());
    assert_eq!(dev.h("x-waygate-executed-version"), Some("$LATEST"));
    let v = dev.json();
    assert_eq!(v["message"], "Order processed");
    assert_eq!(v["environment"], "experimental");
    assert_eq!(
        v["processed_by"],
        json!({ "function": "orders", "version": "$LATEST", "alias": "EXPERIMENTAL", "stage": "dev" })
    );
    let deployment = dev.h("x-waygate-deployment-id").unwrap().to_string();
    assert_eq!(deployment.len(), 8);
    assert!(dev.h("x-waygate-request-id").is_some_and(|r| !r.is_empty()));
    let timing = dev.h("server-timing").unwrap();
    assert!(timing.contains("route;dur="), "{timing}");

    let prod = post_order(&s, &api, "prod").await;
    assert_eq!(prod.status, 200, "{}", prod.text());
    assert_eq!(prod.h("x-waygate-executed-version"), Some("1"));
    assert_eq!(prod.json()["environment"], "stable");
    assert_eq!(prod.json()["processed_by"]["alias"], "STABLE");
    assert_eq!(prod.json()["processed_by"]["stage"], "prod");
    assert_eq!(prod.h("x-waygate-deployment-id"), Some(deployment.as_str()));

    // GET on the same ANY route: the guest's summary.
    let g = get(&s, &format!("/{api}/prod/anything/at/all")).await;
    assert_eq!(g.status, 200, "{}", g.text());
    assert!(g.json()["message"].as_str().unwrap().starts_with("Orders service"));

    // Promotion: publish $LATEST as version 2, move STABLE — no redeploy.
    let (st, v) = s.publish("orders", json!({ "description": "second" })).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["version"], "2");
    let (st, v) = s.call(Method::PUT, "/v1/functions/orders/aliases/STABLE", Some(json!({ "version": "2" }))).await;
    assert_eq!(st, 200, "{v}");
    let prod = post_order(&s, &api, "prod").await;
    assert_eq!(prod.status, 200, "{}", prod.text());
    assert_eq!(prod.h("x-waygate-executed-version"), Some("2"));
    assert_eq!(prod.json()["environment"], "experimental");
    assert_eq!(prod.h("x-waygate-deployment-id"), Some(deployment.as_str()), "same deployment");
    let (_, deps) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments"), None).await;
    assert_eq!(deps["deployments"].as_array().unwrap().len(), 1, "no new deployment: {deps}");

    // Roll back by moving the alias back.
    s.call(Method::PUT, "/v1/functions/orders/aliases/STABLE", Some(json!({ "version": "1" }))).await;
    assert_eq!(post_order(&s, &api, "prod").await.h("x-waygate-executed-version"), Some("1"));
}

#[tokio::test]
async fn stage_variable_change_applies_immediately_and_missing_permission_is_500() {
    let (s, report) = with_examples().await;
    let api = report.api_id;
    assert_eq!(post_order(&s, &api, "dev").await.h("x-waygate-executed-version"), Some("$LATEST"));

    // dev now runs STABLE — but the policy only lets dev call EXPERIMENTAL: 500.
    let (st, v) = s
        .call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "variables": { "alias": "STABLE" } })))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["variables"], json!({ "alias": "STABLE" }));
    post_order(&s, &api, "dev").await.expect_error(500, "Internal server error", "InternalServerErrorException");

    // Allow dev to call STABLE: it applies at once, with no redeploy.
    let body = json!({ "statement_id": "dev-stable", "principal": format!("api:{api}"), "source": format!("{api}/dev/*/*"), "qualifier": "STABLE" });
    let (st, v) = s.call(Method::POST, "/v1/functions/orders/permissions", Some(body)).await;
    assert_eq!(st, 201, "{v}");
    let dev = post_order(&s, &api, "dev").await;
    assert_eq!(dev.status, 200, "{}", dev.text());
    assert_eq!(dev.h("x-waygate-executed-version"), Some("1"));

    // Removing prod's statement breaks prod only.
    let (st, v) =
        s.call(Method::DELETE, "/v1/functions/orders/permissions/orders-api-prod?qualifier=STABLE", None).await;
    assert_eq!(st, 204, "{v}");
    post_order(&s, &api, "prod").await.expect_error(500, "Internal server error", "InternalServerErrorException");
    assert_eq!(post_order(&s, &api, "dev").await.status, 200);

    // A statement for another stage or method doesn't help.
    let body = json!({ "statement_id": "wrong", "principal": format!("api:{api}"), "source": format!("{api}/prod/GET/*"), "qualifier": "STABLE" });
    assert_eq!(s.call(Method::POST, "/v1/functions/orders/permissions", Some(body)).await.0, 201);
    post_order(&s, &api, "prod").await.expect_error(500, "Internal server error", "InternalServerErrorException");
    assert_eq!(get(&s, &format!("/{api}/prod/orders")).await.status, 200, "GET is allowed");
    // Another API's principal doesn't help either.
    let body =
        json!({ "statement_id": "other", "principal": "api:zzzzzzzzzz", "source": "*/*/*/*", "qualifier": "STABLE" });
    assert_eq!(s.call(Method::POST, "/v1/functions/orders/permissions", Some(body)).await.0, 201);
    post_order(&s, &api, "prod").await.expect_error(500, "Internal server error", "InternalServerErrorException");

    // Removing the stage variable: the target can't be resolved → 500.
    let (st, v) = s
        .call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "variables": { "alias": null } })))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["variables"], json!({}));
    post_order(&s, &api, "dev").await.expect_error(500, "Internal server error", "InternalServerErrorException");
    // A variable naming an alias that doesn't exist → 500 too.
    s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "variables": { "alias": "NOPE" } })))
        .await;
    post_order(&s, &api, "dev").await.expect_error(500, "Internal server error", "InternalServerErrorException");
    // ... and one that makes the target invalid.
    s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "variables": { "alias": "a/b" } })))
        .await;
    post_order(&s, &api, "dev").await.expect_error(500, "Internal server error", "InternalServerErrorException");
}

#[tokio::test]
async fn draft_edits_are_not_live_until_deployed_and_a_stage_can_roll_back() {
    let s = TestServer::start().await;
    let api = new_api(&s, "drafts").await;
    route_ok(&s, &api, "GET", "/a", mock(200, "A1")).await;
    let d1 = deploy(&s, &api, Some("dev")).await;
    let a = get(&s, &format!("/{api}/dev/a")).await;
    assert_eq!((a.status, a.text()), (200, "A1".to_string()));
    assert_eq!(a.h("x-waygate-deployment-id"), Some(d1.as_str()));

    // Draft edits: a new route and a changed one. Not live.
    route_ok(&s, &api, "GET", "/b", mock(201, "B")).await;
    let (st, v) = put_route(&s, &api, "GET", "/a", mock(200, "A2")).await;
    assert_eq!(st, 200, "replacing a route answers 200: {v}");
    get(&s, &format!("/{api}/dev/b")).await.expect_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    assert_eq!(get(&s, &format!("/{api}/dev/a")).await.text(), "A1");

    // Deploy: live.
    let d2 = deploy(&s, &api, Some("dev")).await;
    assert_ne!(d1, d2);
    let b = get(&s, &format!("/{api}/dev/b")).await;
    assert_eq!((b.status, b.text()), (201, "B".to_string()));
    assert_eq!(get(&s, &format!("/{api}/dev/a")).await.text(), "A2");

    // Deleting a draft route isn't live either.
    let (_, routes) = s.call(Method::GET, &format!("/v1/apis/{api}/routes"), None).await;
    let b_id = routes["routes"].as_array().unwrap().iter().find(|r| r["path"] == "/b").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = s.call(Method::GET, &format!("/v1/apis/{api}/routes/{b_id}"), None).await;
    assert_eq!(st, 200);
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/routes/{b_id}"), None).await;
    assert_eq!(st, 204);
    assert_eq!(get(&s, &format!("/{api}/dev/b")).await.status, 201);

    // Roll back: point the stage at the older deployment.
    let (st, v) =
        s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "deployment_id": d1 }))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["deployment_id"], d1.as_str());
    let a = get(&s, &format!("/{api}/dev/a")).await;
    assert_eq!((a.text(), a.h("x-waygate-deployment-id")), ("A1".to_string(), Some(d1.as_str())));
    assert_eq!(get(&s, &format!("/{api}/dev/b")).await.status, 403);

    // A deployment in use can't be deleted; an unused one can.
    let (st, v) = s.call(Method::DELETE, &format!("/v1/apis/{api}/deployments/{d1}"), None).await;
    assert_eq!(st, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Active stages pointing to this deployment must be moved or deleted"),
        "{v}"
    );
    assert_eq!(v["type"], "ResourceConflictException");
    let (st, v) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments/{d2}"), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["routes"].as_array().unwrap().len(), 2, "{v}");
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/deployments/{d2}"), None).await;
    assert_eq!(st, 204);
    let (st, v) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments/{d2}"), None).await;
    assert_eq!(st, 404, "{v}");

    // A second stage on the same deployment, with its own URL; deleting a stage → 403 Forbidden.
    let (st, v) =
        s.call(Method::PUT, &format!("/v1/apis/{api}/stages/test"), Some(json!({ "deployment_id": d1 }))).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["invoke_url"], format!("{}/{api}/test", s.gateway));
    assert_eq!(get(&s, &format!("/{api}/test/a")).await.text(), "A1");
    let (_, v) = s.call(Method::GET, &format!("/v1/apis/{api}/stages"), None).await;
    assert_eq!(v["stages"].as_array().unwrap().len(), 2, "{v}");
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/stages/test"), None).await;
    assert_eq!(st, 204);
    get(&s, &format!("/{api}/test/a")).await.expect_error(403, "Forbidden", "ForbiddenException");
    // Deleting dev frees d1.
    s.call(Method::DELETE, &format!("/v1/apis/{api}/stages/dev"), None).await;
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/deployments/{d1}"), None).await;
    assert_eq!(st, 204);

    // Deleting the API takes everything with it.
    deploy(&s, &api, Some("prod")).await;
    assert_eq!(get(&s, &format!("/{api}/prod/a")).await.status, 200);
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}"), None).await;
    assert_eq!(st, 204);
    get(&s, &format!("/{api}/prod/a")).await.expect_error(403, "Forbidden", "ForbiddenException");
    let (st, _) = s.call(Method::GET, &format!("/v1/apis/{api}"), None).await;
    assert_eq!(st, 404);
}

// ---------------------------------------------------------------------------------------
// Gateway errors.

#[tokio::test]
async fn unknown_api_stage_path_and_method() {
    let s = TestServer::start().await;
    let api = new_api(&s, "errors").await;
    route_ok(&s, &api, "GET", "/items/{id}", mock(200, "item")).await;
    route_ok(&s, &api, "POST", "/items", mock(201, "made")).await;
    deploy(&s, &api, Some("dev")).await;
    assert_eq!(get(&s, &format!("/{api}/dev/items/1")).await.text(), "item");

    let forbidden = |g: Gw| g.expect_error(403, "Forbidden", "ForbiddenException");
    forbidden(get(&s, &format!("/{api}/prod/items/1")).await);
    forbidden(get(&s, "/zzzzzzzzzz/dev/items/1").await);
    forbidden(get(&s, "/").await);
    forbidden(get(&s, &format!("/{api}")).await);
    let mat = |g: Gw| g.expect_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException");
    mat(get(&s, &format!("/{api}/dev/nothing")).await);
    mat(get(&s, &format!("/{api}/dev/items")).await);
    mat(get(&s, &format!("/{api}/dev/items/1/more")).await);
    mat(get(&s, &format!("/{api}/dev")).await);
    mat(send(s.gw(Method::DELETE, &format!("/{api}/dev/items/1"))).await);
    mat(send(s.gw(Method::from_bytes(b"BREW").unwrap(), &format!("/{api}/dev/items/1"))).await);
    let made = send(s.gw(Method::POST, &format!("/{api}/dev/items"))).await;
    assert_eq!((made.status, made.text()), (201, "made".to_string()));
}

#[tokio::test]
async fn host_header_style_invoke_url() {
    let s = TestServer::start().await;
    let api = new_api(&s, "hosted").await;
    route_ok(&s, &api, "GET", "/", mock(200, "root")).await;
    route_ok(&s, &api, "GET", "/x", mock(200, "x")).await;
    deploy(&s, &api, Some("prod")).await;
    let host = format!("{api}.execute-api.localhost");
    let g = send(s.gw(Method::GET, "/prod/x").header("host", &host)).await;
    assert_eq!((g.status, g.text()), (200, "x".to_string()));
    let g = send(s.gw(Method::GET, "/prod").header("host", format!("{host}:8080"))).await;
    assert_eq!((g.status, g.text()), (200, "root".to_string()));
    let g = send(s.gw(Method::GET, "/prod/").header("host", &host)).await;
    assert_eq!((g.status, g.text()), (200, "root".to_string()));
    send(s.gw(Method::GET, "/dev/x").header("host", &host)).await.expect_error(403, "Forbidden", "ForbiddenException");
    send(s.gw(Method::GET, "/prod/x").header("host", "zzzzzzzzzz.execute-api.localhost")).await.expect_error(
        403,
        "Forbidden",
        "ForbiddenException",
    );
}

/// One route per guest, each printing a fixed proxy response.
async fn printers(s: &TestServer, api: &str, cases: &[&str]) {
    for (i, out) in cases.iter().enumerate() {
        let name = format!("p{i}");
        s.deploy(&name, json!({}), &fixtures::print(out)).await;
        route_ok(s, api, "GET", &format!("/{name}"), function(&name)).await;
        permit(s, &name, "gw", api, None).await;
    }
}

#[tokio::test]
async fn malformed_proxy_responses_are_502() {
    let s = TestServer::start().await;
    let api = new_api(&s, "malformed").await;
    let bad = [
        r#"{"statusCode":200,"body":"x","extra":1}"#,
        r#"{}"#,
        r#""just a string""#,
        r#"{"statusCode":"abc"}"#,
        r#"{"multiValueHeaders":{"x":"notalist"}}"#,
        r#"not json at all"#,
        r#""#,
        r#"[{"statusCode":200}]"#,
        r#"{"statusCode":200,"body":{"an":"object"}}"#,
    ];
    printers(&s, &api, &bad).await;
    deploy(&s, &api, Some("dev")).await;
    for (i, out) in bad.iter().enumerate() {
        let g = get(&s, &format!("/{api}/dev/p{i}")).await;
        assert_eq!(g.status, 502, "{out} must be malformed: {}", g.text());
        g.expect_error(502, "Internal server error", "InternalServerErrorException");
    }
}

#[tokio::test]
async fn accepted_proxy_response_shapes() {
    let s = TestServer::start().await;
    let api = new_api(&s, "accepted").await;
    let good = [
        r#"{"statusCode":"201","body":"made"}"#,
        r#"{"headers":{"x-only":"yes"}}"#,
        r#"{"statusCode":200,"headers":null,"body":"nullh"}"#,
        r#"{"statusCode":200,"headers":{"x-t":true,"x-f":false,"x-n":3}}"#,
        r#"{"statusCode":200,"headers":{"x-m":"single","x-s":"kept"},"multiValueHeaders":{"x-m":["m1","m2"]}}"#,
        r#"{"statusCode":418,"body":"aGk=","isBase64Encoded":true}"#,
    ];
    printers(&s, &api, &good).await;
    deploy(&s, &api, Some("dev")).await;
    let s = &s;
    let g = |i: usize| {
        let path = format!("/{api}/dev/p{i}");
        async move { get(s, &path).await }
    };
    let r = g(0).await;
    assert_eq!((r.status, r.text()), (201, "made".to_string()));
    let r = g(1).await;
    assert_eq!((r.status, r.h("x-only"), r.text()), (200, Some("yes"), String::new()));
    let r = g(2).await;
    assert_eq!((r.status, r.text()), (200, "nullh".to_string()));
    let r = g(3).await;
    assert_eq!((r.status, r.h("x-t"), r.h("x-f"), r.h("x-n")), (200, Some("true"), Some("false"), Some("3")));
    let r = g(4).await;
    let xm: Vec<_> = r.headers.get_all("x-m").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(xm, ["m1", "m2"], "multiValueHeaders win");
    assert_eq!(r.h("x-s"), Some("kept"));
    let r = g(5).await;
    assert_eq!((r.status, r.body.as_slice()), (418, b"hi".as_slice()));
    // Success responses carry the Waygate headers.
    assert_eq!(r.h("x-waygate-executed-version"), Some("$LATEST"));
    assert!(r.h("x-waygate-request-id").is_some());
    assert!(r.h("x-waygate-deployment-id").is_some());
    assert!(r.h("server-timing").is_some_and(|t| t.contains("route;dur=") && t.contains("total;dur=")));
}

#[tokio::test]
async fn function_error_is_502_timeout_504_too_large_413() {
    let s = TestServer::start().await;
    let api = new_api(&s, "failures").await;
    s.deploy("exit3", json!({}), &fixtures::exit(3)).await;
    s.deploy("spin", json!({}), &fixtures::infinite_loop()).await;
    s.deploy("spin-short", json!({ "timeout_ms": 300 }), &fixtures::infinite_loop()).await;
    s.deploy("echo", json!({}), &fixtures::echo()).await;
    route_ok(&s, &api, "GET", "/exit", function("exit3")).await;
    route_ok(&s, &api, "GET", "/spin-short", function("spin-short")).await;
    route_ok(&s, &api, "GET", "/spin", json!({ "type": "function", "target": "spin", "timeout_ms": 200 })).await;
    route_ok(&s, &api, "POST", "/echo", function("echo")).await;
    for f in ["exit3", "spin", "spin-short", "echo"] {
        permit(&s, f, "gw", &api, None).await;
    }
    deploy(&s, &api, Some("dev")).await;
    get(&s, &format!("/{api}/dev/exit")).await.expect_error(
        502,
        "Internal server error",
        "InternalServerErrorException",
    );
    // The function's own timeout (300 ms, before the 29 s integration timeout) is a
    // function error: 502, as a Lambda timeout behind API Gateway.
    get(&s, &format!("/{api}/dev/spin-short")).await.expect_error(
        502,
        "Internal server error",
        "InternalServerErrorException",
    );
    let started = std::time::Instant::now();
    get(&s, &format!("/{api}/dev/spin")).await.expect_error(
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "the 200 ms integration timeout applies");
    // The instance was stopped at the cut-off and the invocation logged like any other.
    let (_, v) = s.call(Method::GET, "/v1/functions/spin/logs", None).await;
    let m: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(m.first().is_some_and(|l| l.starts_with("START RequestId: ")), "{m:?}");
    assert!(m.last().is_some_and(|l| l.starts_with("REPORT RequestId: ")), "{m:?}");
    let text = s.req(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("waygate_errors_total")
            && l.contains(r#"function="spin""#)
            && l.contains(r#"type="IntegrationTimeout""#)),
        "{text}"
    );
    // An event over the 6 MB payload limit.
    let big = vec![b'a'; 7 * 1024 * 1024];
    send(s.gw(Method::POST, &format!("/{api}/dev/echo")).body(big)).await.expect_error(
        413,
        "Request Too Long",
        "RequestTooLongException",
    );
    // A body over the gateway's 10 MB limit: rejected while reading.
    let huge = vec![b'a'; 11 * 1024 * 1024];
    send(s.gw(Method::POST, &format!("/{api}/dev/echo")).body(huge)).await.expect_error(
        413,
        "Request Too Long",
        "RequestTooLongException",
    );
    // The gateway keeps serving.
    assert_eq!(get(&s, &format!("/{api}/dev/exit")).await.status, 502);
}

// ---------------------------------------------------------------------------------------
// Matching and the event.

fn event_of(g: &Gw) -> (Value, ApiGatewayProxyRequest) {
    assert_eq!(g.status, 200, "{}", g.text());
    let v = g.json()["event"].clone();
    let typed: ApiGatewayProxyRequest =
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not an ApiGatewayProxyRequest ({e}): {v}"));
    (v, typed)
}

#[tokio::test]
async fn proxy_event_matches_aws_for_greedy_and_param_routes() {
    let (s, _) = with_examples().await;
    let api = new_api(&s, "events").await;
    route_ok(&s, &api, "ANY", "/{proxy+}", function("echo")).await;
    route_ok(&s, &api, "GET", "/orders/{id}", function("echo")).await;
    route_ok(&s, &api, "GET", "/orders/list", mock(200, "list")).await;
    route_ok(&s, &api, "GET", "/", mock(200, "root")).await;
    permit(&s, "echo", "gw", &api, None).await;
    let dep = deploy(&s, &api, Some("dev")).await;
    s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "variables": { "color": "teal" } })))
        .await;

    // {proxy+}: resource /{proxy+}, path without the stage, requestContext.path with it.
    let g = send(
        s.gw(Method::POST, &format!("/{api}/dev/a/b%20c/d?x=1&y=2&x=3"))
            .header("x-custom", "one")
            .header("user-agent", "waygate-test")
            .body(r#"{"k":"v"}"#),
    )
    .await;
    let (v, e) = event_of(&g);
    assert_eq!(e.resource.as_deref(), Some("/{proxy+}"));
    assert_eq!(e.path.as_deref(), Some("/a/b c/d"));
    assert_eq!(e.http_method, http::Method::POST);
    assert_eq!(v["pathParameters"], json!({ "proxy": "a/b c/d" }));
    assert_eq!(e.path_parameters.get("proxy").map(String::as_str), Some("a/b c/d"));
    assert_eq!(e.request_context.path.as_deref(), Some("/dev/a/b%20c/d"));
    assert_eq!(e.request_context.resource_path.as_deref(), Some("/{proxy+}"));
    assert_eq!(e.request_context.stage.as_deref(), Some("dev"));
    assert_eq!(e.request_context.apiid.as_deref(), Some(api.as_str()));
    assert_eq!(v["requestContext"]["deploymentId"], dep.as_str());
    assert_eq!(e.request_context.http_method, http::Method::POST);
    assert_eq!(e.request_context.identity.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.request_context.identity.user_agent.as_deref(), Some("waygate-test"));
    assert_eq!(
        e.request_context.request_id.as_deref(),
        g.h("x-waygate-request-id"),
        "the event's request id is the response's"
    );
    assert!(e.request_context.request_time_epoch > 1_700_000_000_000, "ms since the epoch");
    assert_eq!(v["stageVariables"], json!({ "color": "teal" }));
    assert_eq!(e.stage_variables.get("color").map(String::as_str), Some("teal"));
    assert_eq!(v["queryStringParameters"], json!({ "x": "3", "y": "2" }));
    assert_eq!(v["multiValueQueryStringParameters"], json!({ "x": ["1", "3"], "y": ["2"] }));
    assert_eq!(e.headers.get("x-custom").unwrap(), "one");
    assert_eq!(v["multiValueHeaders"]["x-custom"], json!(["one"]));
    assert_eq!(e.body.as_deref(), Some(r#"{"k":"v"}"#));
    assert!(!e.is_base64_encoded);
    assert_eq!(g.json()["env"]["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(g.json()["is_direct"], false);
    // What the guest SDK's accessors read from that event (guest-examples/echo).
    assert_eq!(
        g.json()["sdk"],
        json!({
            "method": "POST",
            "path": "/a/b c/d",
            "body": r#"{"k":"v"}"#,
            "is_base64_encoded": false,
            "header_user_agent": "waygate-test",
            "query_x": "3",
            "path_parameter_id": null,
            "stage_variable_color": "teal",
            "event_resource": "/{proxy+}",
            "event_method": "POST",
        })
    );

    // {param}: resource is the template, pathParameters the value (decoded).
    let g = get(&s, &format!("/{api}/dev/orders/42")).await;
    let (v, e) = event_of(&g);
    assert_eq!(e.resource.as_deref(), Some("/orders/{id}"));
    assert_eq!(e.path.as_deref(), Some("/orders/42"));
    assert_eq!(v["pathParameters"], json!({ "id": "42" }));
    assert_eq!(e.request_context.path.as_deref(), Some("/dev/orders/42"));
    assert_eq!(e.request_context.resource_path.as_deref(), Some("/orders/{id}"));
    let sdk = &g.json()["sdk"];
    assert_eq!(
        (&sdk["method"], &sdk["path_parameter_id"], &sdk["query_x"]),
        (&json!("GET"), &json!("42"), &Value::Null)
    );
    // Absent maps and body are null, not missing.
    for k in ["queryStringParameters", "multiValueQueryStringParameters", "body"] {
        assert!(v.get(k).is_some_and(Value::is_null), "{k} must be null: {v}");
    }
    // A literal beats the parameter; the root has its own route.
    assert_eq!(get(&s, &format!("/{api}/dev/orders/list")).await.text(), "list");
    assert_eq!(get(&s, &format!("/{api}/dev")).await.text(), "root");
    assert_eq!(get(&s, &format!("/{api}/dev/")).await.text(), "root");

    // ANY fallback: DELETE isn't declared on /orders/{id}, so /{proxy+} ANY gets it.
    let g = send(s.gw(Method::DELETE, &format!("/{api}/dev/orders/42"))).await;
    let (v, e) = event_of(&g);
    assert_eq!(e.resource.as_deref(), Some("/{proxy+}"));
    assert_eq!(v["pathParameters"], json!({ "proxy": "orders/42" }));
    assert_eq!(v["httpMethod"], "DELETE");

    // A binary body is base64.
    let g = send(s.gw(Method::PUT, &format!("/{api}/dev/bin")).body(vec![0xff, 0xfe, 0x00, 0x01])).await;
    let (_, e) = event_of(&g);
    assert!(e.is_base64_encoded);
    assert_eq!(e.body.as_deref(), Some("//4AAQ=="));
    assert_eq!((&g.json()["sdk"]["is_base64_encoded"], &g.json()["sdk"]["body"]), (&json!(true), &json!("//4AAQ==")));

    // No stage variables → null.
    let (st, _) = s
        .call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(json!({ "variables": { "color": null } })))
        .await;
    assert_eq!(st, 200);
    let (v, _) = event_of(&get(&s, &format!("/{api}/dev/orders/1")).await);
    assert!(v["stageVariables"].is_null(), "{v}");
}

#[tokio::test]
async fn the_stage_root_event() {
    let (s, _) = with_examples().await;
    let api = new_api(&s, "root").await;
    route_ok(&s, &api, "GET", "/", function("echo")).await;
    permit(&s, "echo", "gw", &api, None).await;
    deploy(&s, &api, Some("dev")).await;
    for url in [format!("/{api}/dev"), format!("/{api}/dev/")] {
        let (v, e) = event_of(&get(&s, &url).await);
        assert_eq!(e.resource.as_deref(), Some("/"), "{url}");
        assert_eq!(e.path.as_deref(), Some("/"), "{url}");
        assert!(v["pathParameters"].is_null(), "{url}: {v}");
        let ctx_path = e.request_context.path.unwrap();
        assert!(ctx_path == "/dev" || ctx_path == "/dev/", "{url}: requestContext.path {ctx_path}");
    }
    for url in ["/dev", "/dev/"] {
        let g = send(s.gw(Method::GET, url).header("host", format!("{api}.execute-api.localhost"))).await;
        let (_, e) = event_of(&g);
        assert_eq!(e.path.as_deref(), Some("/"), "host style {url}");
        let ctx_path = e.request_context.path.unwrap();
        assert!(ctx_path == "/dev" || ctx_path == "/dev/", "host style {url}: requestContext.path {ctx_path}");
    }
}

#[tokio::test]
async fn weighted_alias_behind_a_stage() {
    let s = TestServer::start().await;
    s.deploy("w", json!({}), &fixtures::print(r#"{"statusCode":200,"body":"one"}"#)).await;
    assert_eq!(s.publish("w", json!({})).await.0, 201);
    s.upload("w", &wat::parse_str(fixtures::print(r#"{"statusCode":200,"body":"two"}"#)).unwrap()).await;
    assert_eq!(s.publish("w", json!({})).await.0, 201);
    let (st, v) = s
        .call(Method::PUT, "/v1/functions/w/aliases/LIVE", Some(json!({ "version": "1", "routing": { "2": 0.3 } })))
        .await;
    assert_eq!(st, 201, "{v}");
    let api = new_api(&s, "weighted").await;
    route_ok(&s, &api, "GET", "/w", function("w:${stageVariables.alias}")).await;
    permit(&s, "w", "gw", &api, Some("LIVE")).await;
    let dep = deploy(&s, &api, None).await;
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v1/apis/{api}/stages/prod"),
            Some(json!({ "deployment_id": dep, "variables": { "alias": "LIVE" } })),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (mut ones, mut twos) = (0, 0);
    let n = 200;
    for _ in 0..n {
        let g = get(&s, &format!("/{api}/prod/w")).await;
        assert_eq!(g.status, 200, "{}", g.text());
        match (g.h("x-waygate-executed-version"), g.text().as_str()) {
            (Some("1"), "one") => ones += 1,
            (Some("2"), "two") => twos += 1,
            other => panic!("version header and body disagree: {other:?}"),
        }
    }
    // 30 % of 200 = 60, σ ≈ 6.5: these bounds are > 4σ wide.
    assert!((25..=100).contains(&twos), "v2 served {twos} of {n}");
    assert_eq!(ones + twos, n);
}

// ---------------------------------------------------------------------------------------
// Management API error paths: AWS messages, nothing stored on bad input.

async fn route_count(s: &TestServer, api: &str) -> usize {
    let (st, v) = s.call(Method::GET, &format!("/v1/apis/{api}/routes"), None).await;
    assert_eq!(st, 200, "{v}");
    v["routes"].as_array().unwrap().len()
}

#[tokio::test]
async fn route_rules_and_messages() {
    let s = TestServer::start().await;
    let api = new_api(&s, "rules").await;
    route_ok(&s, &api, "ANY", "/{proxy+}", mock(200, "p")).await;
    route_ok(&s, &api, "GET", "/orders/{id}", mock(200, "o")).await;
    let bad = |st: u16, v: &Value, msg: &str| {
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["message"], msg, "{v}");
        assert_eq!(v["type"], "InvalidParameterValueException");
    };
    let (st, v) = put_route(&s, &api, "GET", "/{proxy+}/child", mock(200, "")).await;
    bad(st, &v, "Cannot create a child of a resource with a greedy path variable: {proxy+}");
    let (st, v) = put_route(&s, &api, "GET", "/{id}", mock(200, "")).await;
    bad(st, &v, "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed");
    let (st, v) = put_route(&s, &api, "GET", "/orders/{other}/x", mock(200, "")).await;
    bad(st, &v, "A sibling ({id}) of this resource already has a variable path part -- only one is allowed");
    let (st, v) = put_route(&s, &api, "GET", "/orders/{rest+}", mock(200, "")).await;
    bad(st, &v, "A sibling ({id}) of this resource already has a variable path part -- only one is allowed");
    let (st, v) = put_route(&s, &api, "FETCH", "/x", mock(200, "")).await;
    bad(st, &v, "Invalid method 'FETCH': expected GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY");
    for path in ["x", "/a//b", "/a/{x}/{x}", "/a/{}", "/a b"] {
        let (st, v) = put_route(&s, &api, "GET", path, mock(200, "")).await;
        assert_eq!(st, 400, "{path}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with("Invalid route path"), "{path}: {v}");
    }
    for target in ["bad name", "f:${env.x}", "f:${stageVariables.x", "f:${stageVariables.a-b}", "f:1:2", ""] {
        let (st, v) = put_route(&s, &api, "GET", "/t", function(target)).await;
        assert_eq!(st, 400, "target {target:?}: {v}");
    }
    let (st, v) =
        put_route(&s, &api, "GET", "/t", json!({ "type": "function", "target": "f", "timeout_ms": 10 })).await;
    bad(st, &v, "Integration timeout_ms 10 is out of range: it must be between 50 and 29000");
    let (st, v) = put_route(&s, &api, "GET", "/t", json!({ "type": "lambda", "target": "f" })).await;
    assert_eq!(st, 400, "{v}");
    for status in [999, 101, 99] {
        let (st, v) = put_route(&s, &api, "GET", "/t", mock(status, "")).await;
        assert_eq!(st, 400, "{v}");
    }
    assert_eq!(route_count(&s, &api).await, 2, "nothing stored on bad input");
    // A variable target is fine (resolved per stage at deploy/request time).
    route_ok(&s, &api, "GET", "/t", function("${stageVariables.fn}")).await;
    assert_eq!(route_count(&s, &api).await, 3);
    // Unknown route id.
    let (st, v) = s.call(Method::GET, &format!("/v1/apis/{api}/routes/nope"), None).await;
    assert_eq!((st, v["message"].as_str().unwrap()), (404, "Invalid route identifier specified: nope"));
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/routes/nope"), None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn api_stage_and_deployment_rules() {
    let s = TestServer::start().await;
    // APIs.
    for body in [json!({ "name": "" }), json!({ "name": "x".repeat(129) }), json!({ "nam": "x" }), json!({})] {
        let (st, v) = s.call(Method::POST, "/v1/apis", Some(body.clone())).await;
        assert_eq!(st, 400, "{body}: {v}");
    }
    let (_, v) = s.call(Method::GET, "/v1/apis", None).await;
    assert_eq!(v["apis"], json!([]), "nothing stored");
    for id in ["abcdefghij", "NOT-AN-ID", "short"] {
        for (m, path) in [
            (Method::GET, format!("/v1/apis/{id}")),
            (Method::DELETE, format!("/v1/apis/{id}")),
            (Method::GET, format!("/v1/apis/{id}/routes")),
            (Method::GET, format!("/v1/apis/{id}/deployments")),
            (Method::GET, format!("/v1/apis/{id}/stages")),
        ] {
            let (st, v) = s.call(m.clone(), &path, None).await;
            assert_eq!(st, 404, "{m} {path}: {v}");
            assert_eq!(v["message"], format!("Invalid API identifier specified: {id}"));
        }
        let (st, _) = put_route(&s, id, "GET", "/", mock(200, "")).await;
        assert_eq!(st, 404);
        let (st, _) = s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({}))).await;
        assert_eq!(st, 404);
    }
    let api = new_api(&s, "stages").await;
    let (_, v) = s.call(Method::GET, "/v1/apis", None).await;
    assert_eq!(v["apis"][0]["id"], api.as_str());
    // No routes: nothing to deploy.
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
    assert_eq!(st, 400, "{v}");
    route_ok(&s, &api, "GET", "/", mock(200, "")).await;
    let (st, v) =
        s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({ "stage": "bad.name" }))).await;
    assert_eq!(st, 400, "{v}");
    let (_, v) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments"), None).await;
    assert_eq!(v["deployments"], json!([]), "a bad stage name stores no deployment");
    let dep = deploy(&s, &api, None).await;

    let s = &s;
    let put = |stage: &str, body: Value| {
        let path = format!("/v1/apis/{api}/stages/{stage}");
        async move { s.call(Method::PUT, &path, Some(body)).await }
    };
    let (st, v) = put("dev", json!({ "deployment_id": "nonexist" })).await;
    assert_eq!((st, v["message"].as_str().unwrap()), (404, "Invalid Deployment identifier specified: nonexist"));
    let (st, v) = put(&"s".repeat(129), json!({ "deployment_id": dep })).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = put("bad.name", json!({ "deployment_id": dep })).await;
    assert_eq!(st, 400, "{v}");
    let too_many: serde_json::Map<String, Value> = (0..101).map(|i| (format!("v{i}"), json!("x"))).collect();
    for vars in [
        json!({ "a-b": "x" }),
        json!({ "x".repeat(65): "x" }),
        json!({ "a": "" }),
        json!({ "a": "has space" }),
        json!({ "a": "x".repeat(513) }),
        json!({ "a": "quote\"" }),
        Value::Object(too_many),
    ] {
        let (st, v) = put("dev", json!({ "deployment_id": dep, "variables": vars })).await;
        assert_eq!(st, 400, "{v}");
    }
    let (_, v) = s.call(Method::GET, &format!("/v1/apis/{api}/stages"), None).await;
    assert_eq!(v["stages"], json!([]), "nothing stored on bad input");
    let ok_value = "A-z0.9_~:/?#&=,";
    let (st, v) =
        put("dev", json!({ "deployment_id": dep, "variables": { "a": ok_value, "x".repeat(64): "x".repeat(512) } }))
            .await;
    assert_eq!(st, 201, "{v}");
    // PATCH with a bad variable changes nothing.
    let path = format!("/v1/apis/{api}/stages/dev");
    for vars in [json!({ "b": "bad value" }), json!({ "b-c": "x" }), json!({ "b": "" })] {
        let (st, v) = s.call(Method::PATCH, &path, Some(json!({ "variables": vars }))).await;
        assert_eq!(st, 400, "{v}");
    }
    let (st, v) = s.call(Method::PATCH, &path, Some(json!({ "deployment_id": "zzzzzzzz" }))).await;
    assert_eq!(st, 404, "{v}");
    let (_, v) = s.call(Method::GET, &path, None).await;
    assert_eq!(v["variables"]["a"], ok_value);
    assert_eq!(v["variables"].as_object().unwrap().len(), 2);
    assert_eq!(v["deployment_id"], dep.as_str());
    assert_eq!(v["invoke_url"], format!("{}/{api}/dev", s.gateway));
    let (st, v) = s.call(Method::GET, &format!("/v1/apis/{api}/stages/prod"), None).await;
    assert_eq!(st, 404, "{v}");
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/stages/prod"), None).await;
    assert_eq!(st, 404);
    let (st, v) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments/zzzzzzzz"), None).await;
    assert_eq!((st, v["message"].as_str().unwrap()), (404, "Invalid Deployment identifier specified: zzzzzzzz"));
}

#[tokio::test]
async fn permission_rules_and_messages() {
    let s = TestServer::start().await;
    s.deploy("f", json!({}), &fixtures::print(r#"{"statusCode":200}"#)).await;
    assert_eq!(s.publish("f", json!({})).await.0, 201);
    s.call(Method::PUT, "/v1/functions/f/aliases/LIVE", Some(json!({ "version": "1" }))).await;
    let s = &s;
    let add = |body: Value| async move { s.call(Method::POST, "/v1/functions/f/permissions", Some(body)).await };
    let base = json!({ "statement_id": "s1", "principal": "api:abcdefghij", "source": "abcdefghij/*/GET/*" });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let (st, v) = add(base.clone()).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = add(base.clone()).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(
        v["message"],
        "The statement id (s1) provided already exists. Please provide a new statement id, or remove the existing statement."
    );
    // The same id on another qualifier's policy is fine: policies are per qualifier.
    let (st, v) = add(with("qualifier", json!("LIVE"))).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = add(with("qualifier", json!("1"))).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = add(with("qualifier", json!("$LATEST"))).await;
    assert_eq!((st, v["message"].as_str().unwrap()), (400, "We currently do not support adding policies for $LATEST."));
    let (st, v) = add(with("qualifier", json!("NOPE"))).await;
    assert_eq!(st, 404, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("Function not found: "), "{v}");
    let (st, v) = add(with("qualifier", json!("7"))).await;
    assert_eq!(st, 404, "{v}");
    for (k, bad) in [
        ("statement_id", json!("has space")),
        ("statement_id", json!("")),
        ("statement_id", json!("x".repeat(101))),
        ("principal", json!("someone")),
        ("principal", json!("api:BAD")),
        ("source", json!("abcdefghij/prod")),
        ("source", json!("//GET/x")),
    ] {
        let (st, v) = add(with(k, bad.clone()).tap_sid()).await;
        assert_eq!(st, 400, "{k}={bad}: {v}");
    }
    let (st, v) = s.call(Method::POST, "/v1/functions/nope/permissions", Some(base.clone())).await;
    assert_eq!(st, 404, "{v}");
    // Lists per qualifier: nothing stored by the bad requests.
    let (_, v) = s.call(Method::GET, "/v1/functions/f/permissions", None).await;
    assert_eq!(v["statements"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = s.call(Method::GET, "/v1/functions/f/permissions?qualifier=LIVE", None).await;
    assert_eq!(v["statements"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["statements"][0]["qualifier"], "LIVE");
    // Remove: unknown → 404 with Lambda's message; qualifier matters.
    let (st, v) = s.call(Method::DELETE, "/v1/functions/f/permissions/s9", None).await;
    assert_eq!((st, v["message"].as_str().unwrap()), (404, "Statement s9 is not found in resource policy."));
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f/permissions/s1?qualifier=LIVE", None).await;
    assert_eq!(st, 204);
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f/permissions/s1?qualifier=LIVE", None).await;
    assert_eq!(st, 404);
    let (_, v) = s.call(Method::GET, "/v1/functions/f/permissions", None).await;
    assert_eq!(v["statements"].as_array().unwrap().len(), 1, "the unqualified policy is untouched: {v}");
    let (st, v) = s.call(Method::DELETE, "/v1/functions/f/permissions/s1?qualifier=$LATEST", None).await;
    assert_eq!(st, 400, "{v}");
}

trait TapSid {
    /// Gives each bad-input body a fresh statement id so a 409 can't mask the 400.
    fn tap_sid(self) -> Self;
}

impl TapSid for Value {
    fn tap_sid(mut self) -> Self {
        if self["statement_id"] == "s1" {
            self["statement_id"] = "fresh".into();
        }
        self
    }
}

#[tokio::test]
async fn framing_headers_from_the_function_cannot_break_the_response() {
    let s = TestServer::start().await;
    let api = new_api(&s, "framing").await;
    let cases = [
        r#"{"statusCode":200,"headers":{"content-length":"999"},"body":"short"}"#,
        r#"{"statusCode":200,"headers":{"transfer-encoding":"chunked"},"body":"short"}"#,
        r#"{"statusCode":200,"multiValueHeaders":{"content-length":["1","2"]},"body":"short"}"#,
        r#"{"statusCode":200,"headers":{"connection":"close","content-type":"text/plain"},"body":"short"}"#,
    ];
    printers(&s, &api, &cases).await;
    deploy(&s, &api, Some("dev")).await;
    for (i, out) in cases.iter().enumerate() {
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), get(&s, &format!("/{api}/dev/p{i}"))).await;
        let g = r.unwrap_or_else(|_| panic!("{out}: the response never completed"));
        assert_eq!((g.status, g.text()), (200, "short".to_string()), "{out}");
    }
    let g = get(&s, &format!("/{api}/dev/p0")).await;
    assert_eq!(g.h("x-amzn-remapped-content-length"), Some("999"), "renamed, as API Gateway does");
    let g = get(&s, &format!("/{api}/dev/p3")).await;
    assert_eq!((g.h("content-type"), g.h("x-amzn-remapped-connection")), (Some("text/plain"), Some("close")));
    // A mock's headers get the same treatment.
    let mock = json!({ "type": "mock", "status": 200, "body": "mocked", "headers": { "content-length": "77" } });
    route_ok(&s, &api, "GET", "/m", mock).await;
    deploy(&s, &api, Some("dev")).await;
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), get(&s, &format!("/{api}/dev/m"))).await;
    let g = r.expect("the mock response completes");
    assert_eq!((g.status, g.text()), (200, "mocked".to_string()));
}

#[tokio::test]
async fn status_codes_from_the_function() {
    let s = TestServer::start().await;
    let api = new_api(&s, "statuses").await;
    let cases = [
        r#"{"statusCode":204,"body":"ignored"}"#,
        r#"{"statusCode":304,"body":"ignored"}"#,
        r#"{"statusCode":599}"#,
        r#"{"statusCode":101}"#,
        r#"{"statusCode":100,"body":"x"}"#,
        r#"{"statusCode":600}"#,
    ];
    printers(&s, &api, &cases).await;
    deploy(&s, &api, Some("dev")).await;
    let g = |i: usize| {
        let path = format!("/{api}/dev/p{i}");
        let s = &s;
        async move { tokio::time::timeout(std::time::Duration::from_secs(10), get(s, &path)).await.expect("completes") }
    };
    for (i, want) in [(0, 204), (1, 304), (2, 599)] {
        let r = g(i).await;
        assert_eq!((r.status, r.text()), (want, String::new()), "{}", cases[i]);
    }
    // A 1xx can't be a final response: malformed.
    for i in 3..cases.len() {
        g(i).await.expect_error(502, "Internal server error", "InternalServerErrorException");
    }
}
