//! Malformed and hostile requests to both listeners, sent as raw bytes where a client
//! library would refuse or normalise them: broken chunk framing, media types that only
//! look like JSON, undecodable URLs, names that are path navigation, dot segments, and
//! oversized request heads. Each answers a 4xx with the JSON error shape and stores nothing.

use crate::fixtures;
use crate::gateway::{deploy, function, new_api, permit, route_ok};
use crate::harness::{raw_http, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// The bundled `echo` (it answers the event it got as JSON) behind `METHOD PATH` of a new
/// API, allowed to be invoked by it; not deployed yet.
async fn echo_api(s: &TestServer, method: &str, path: &str) -> String {
    let echo = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/echo.wasm")).unwrap();
    s.create("echo", json!({})).await;
    assert_eq!(s.upload("echo", &echo).await.0, 200);
    let api = new_api(s, "echo").await;
    route_ok(s, &api, method, path, function("echo")).await;
    permit(s, "echo", "gw", &api, None).await;
    api
}

fn json_body(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

#[tokio::test]
async fn malformed_chunked_bodies_are_400_not_413() {
    let s = TestServer::start().await;
    let api = new_api(&s, "chunks").await;
    let bad = "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nab\r\n0\r\n\r\n";
    s.deploy("f", json!({}), &fixtures::print("ok")).await;
    route_ok(&s, &api, "POST", "/f", function("f")).await;
    permit(&s, "f", "gw", &api, None).await;
    deploy(&s, &api, Some("dev")).await;
    let req = format!("POST /{api}/dev/f HTTP/1.1\r\nHost: 127.0.0.1\r\n{bad}");
    let (status, _, body) = raw_http(&s.gateway, req.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_body(&body), json!({"message": "Bad Request"}));

    let auth = format!("Authorization: Bearer {}\r\nContent-Type: application/json\r\n", s.token);
    let req = format!("POST /v1/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{bad}");
    let (status, _, body) = raw_http(&s.url, req.as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert!(json_body(&body)["message"].is_string(), "{body}");
    let (_, list) = s.call(Method::GET, "/v1/functions", None).await;
    assert_eq!(list["functions"].as_array().map(Vec::len), Some(1), "nothing stored: {list}");
}

#[tokio::test]
async fn content_type_is_parsed_and_compared_exactly() {
    let s = TestServer::start().await;
    let body = r#"{"name":"ct"}"#;
    for ct in [&b"text/plain\xff"[..], b"application/jsonpatch+garbage", b"application/json-seq", b"text/plain"] {
        let mut req = format!(
            "POST /v1/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: ",
            s.token,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(ct);
        req.extend_from_slice(b"\r\n\r\n");
        req.extend_from_slice(body.as_bytes());
        let (status, _, resp) = raw_http(&s.url, &req).await;
        assert_eq!(status, 415, "{}: {resp}", String::from_utf8_lossy(ct));
        assert_eq!(json_body(&resp)["type"], "UnsupportedMediaTypeException");
    }
    assert_eq!(s.call(Method::GET, "/v1/functions/ct", None).await.0, 404, "nothing stored");
    // Parameters are fine; so is curl's default form type.
    for ct in ["application/json; charset=utf-8", "application/x-www-form-urlencoded"] {
        let r = s.req(Method::POST, "/v1/functions").header("content-type", ct).body(body).send().await.unwrap();
        assert_eq!(r.status(), 201, "{ct}");
        assert_eq!(s.call(Method::DELETE, "/v1/functions/ct", None).await.0, 204);
    }
}

#[tokio::test]
async fn every_management_error_is_json() {
    let s = TestServer::start().await;
    let auth = format!("Authorization: Bearer {}\r\nConnection: close\r\n", s.token);
    for path in ["/v1/functions/%ff%fe", "/v1/apis/%ff/stages/%fe", "/v1/secrets/%c3%28"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n");
        let (status, head, body) = raw_http(&s.url, req.as_bytes()).await;
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{path}: {head}");
        let v = json_body(&body);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {v}");
        assert!(v["type"].is_string(), "{v}");
    }
    // A query that doesn't deserialize, and a wrong method, are JSON too.
    let (status, v) = s.call(Method::GET, "/v1/audit?limit=abc", None).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].is_string(), "{v}");
    let (status, v) = s.call(Method::PATCH, "/v1/functions", None).await;
    assert_eq!(status, 405, "{v}");
}

#[tokio::test]
async fn names_that_are_path_navigation_or_hold_control_characters_are_refused() {
    let s = TestServer::start().await;
    for env in ["%2e", "%2e%2e", "%2E.", "...", "..", "."] {
        let body = r#"{"value":"x"}"#;
        let req = format!(
            "PUT /v1/secrets/{env}/n HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.token,
            body.len()
        );
        let (status, _, resp) = raw_http(&s.url, req.as_bytes()).await;
        assert_eq!(status, 400, "{env}: {resp}");
        assert!(json_body(&resp)["message"].as_str().unwrap().contains("Invalid environment"), "{env}: {resp}");
    }
    for env in ["dev", "prod", "default"] {
        let (_, list) = s.call(Method::GET, &format!("/v1/secrets/{env}"), None).await;
        assert_eq!(list["secrets"], json!([]), "nothing stored");
    }
    for name in ["a\u{0}b", "../../etc", "a/b", "a\\b", "tab\there", "   "] {
        let (status, v) = s.call(Method::POST, "/v1/apis", Some(json!({"name": name}))).await;
        assert_eq!(status, 400, "{name:?}: {v}");
        assert!(v["message"].as_str().unwrap().contains("API name"), "{v}");
    }
    let (status, v) = s.call(Method::POST, "/v1/apis", Some(json!({"name": "ok", "description": "a\u{0}b"}))).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(s.call(Method::GET, "/v1/apis", None).await.1["apis"], json!([]), "nothing stored");
    // Env values with NUL would be cut short in the guest's environ.
    let (status, v) = s.call(Method::POST, "/v1/functions", Some(json!({"name": "f", "env": {"AB": "x\u{0}y"}}))).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("NUL"), "{v}");
    assert_eq!(s.call(Method::GET, "/v1/functions/f", None).await.0, 404);
    s.create("f", json!({"env": {"PEM": "line1\nline2"}})).await;
    let (status, v) = s.call(Method::PATCH, "/v1/functions/f/config", Some(json!({"env": {"AB": "\u{0}"}}))).await;
    assert_eq!(status, 400, "{v}");
    let (_, f) = s.call(Method::GET, "/v1/functions/f", None).await;
    assert_eq!(f["config"]["env"]["PEM"], "line1\nline2", "unchanged: {f}");
}

#[tokio::test]
async fn routes_with_dot_segments_and_targets_that_name_no_function_are_refused() {
    let s = TestServer::start().await;
    let api = new_api(&s, "dots").await;
    for path in ["/../x", "/./x", "/a/../b", "/a/.", "/a/.."] {
        let (status, v) =
            crate::gateway::put_route(&s, &api, "GET", path, json!({"type": "mock", "status": 200})).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert!(v["message"].as_str().unwrap().contains("dot segments"), "{v}");
    }
    // `.x` and `..y` are ordinary names.
    route_ok(&s, &api, "GET", "/.well-known/..y", json!({"type": "mock", "status": 200})).await;
    // A literal target must name an existing function; one with a stage variable is
    // resolved per stage, later.
    let (status, v) = crate::gateway::put_route(&s, &api, "GET", "/f", function("nope")).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("function nope does not exist"), "{v}");
    let (status, v) = crate::gateway::put_route(&s, &api, "GET", "/f", function("nope:STABLE")).await;
    assert_eq!(status, 400, "{v}");
    route_ok(&s, &api, "GET", "/v", function("${stageVariables.fn}")).await;
    // A function deleted after its route was put: the draft can't be deployed.
    s.deploy("gone", json!({}), &fixtures::print("x")).await;
    route_ok(&s, &api, "GET", "/gone", function("gone")).await;
    assert_eq!(s.call(Method::DELETE, "/v1/functions/gone", None).await.0, 204);
    let (status, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("function gone does not exist"), "{v}");
    let (_, deps) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments"), None).await;
    assert_eq!(deps["deployments"], json!([]), "nothing stored");
}

#[tokio::test]
async fn dot_segments_are_normalised_and_never_reach_a_function() {
    let s = TestServer::start().await;
    let api = echo_api(&s, "ANY", "/files/{proxy+}").await;
    route_ok(&s, &api, "GET", "/b", json!({"type": "mock", "status": 200, "body": "b"})).await;
    deploy(&s, &api, Some("dev")).await;
    let get = |path: String| {
        let url = s.gateway.clone();
        async move {
            let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            raw_http(&url, req.as_bytes()).await
        }
    };
    // Removed before routing: these are `/b`.
    for p in ["/a/../b", "/./b", "/x/%2e%2E/b", "/x/.%2e/b", "/../dev/b"] {
        let (status, _, body) = get(format!("/{api}/dev{p}")).await;
        assert_eq!((status, body.as_str()), (200, "b"), "{p}");
    }
    // Climbing above the stage leaves it, as the URL says (`/API/b` names stage `b`).
    let (status, _, body) = get(format!("/{api}/dev/../b")).await;
    assert_eq!((status, body.as_str()), (403, r#"{"message":"Forbidden"}"#));
    // `{proxy+}` gets the normalised path, never a `..`.
    let (status, _, body) = get(format!("/{api}/dev/files/a/../../files/x/./y")).await;
    assert_eq!(status, 200, "{body}");
    let v = json_body(&body);
    assert_eq!(v["event"]["pathParameters"]["proxy"], "x/y", "{v}");
    // Encoded slashes would decode into `../..`: refused.
    for p in ["/files/..%2F..%2Fetc", "/files/a%2F..%2F..", "/files/%2e%2e%2fx"] {
        let (status, _, body) = get(format!("/{api}/dev{p}")).await;
        assert_eq!(status, 400, "{p}: {body}");
        assert_eq!(json_body(&body), json!({"message": "Bad Request"}));
    }
}

#[tokio::test]
async fn oversized_request_heads_get_the_json_error_shape() {
    let s = TestServer::start().await;
    let api = new_api(&s, "big").await;
    route_ok(&s, &api, "ANY", "/{proxy+}", json!({"type": "mock", "status": 200, "body": "ok"})).await;
    deploy(&s, &api, Some("dev")).await;
    let long = "a".repeat(waygate::gateway::MAX_URI_BYTES);
    let req = format!("GET /{api}/dev/{long} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let (status, _, body) = raw_http(&s.gateway, req.as_bytes()).await;
    assert_eq!(status, 414, "{body}");
    assert_eq!(json_body(&body), json!({"message": "Request-URI Too Long"}));
    let big = "b".repeat(waygate::gateway::MAX_HEAD_BYTES);
    let req = format!("GET /{api}/dev/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    let (status, _, body) = raw_http(&s.gateway, req.as_bytes()).await;
    assert_eq!(status, 431, "{body}");
    assert_eq!(json_body(&body), json!({"message": "Request Header Fields Too Large"}));
    // Just under both limits still works.
    let (status, _, body) = raw_http(
        &s.gateway,
        format!("GET /{api}/dev/{} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "a".repeat(4000)).as_bytes(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

/// Every route, given bodies and queries that are wrong in the usual ways, answers a 4xx
/// with the JSON error shape — never a 5xx, never an empty or text body — and the server
/// keeps serving.
#[tokio::test]
async fn every_route_answers_bad_input_with_a_json_4xx() {
    let s = TestServer::start().await;
    s.deploy("f1", json!({}), &fixtures::print("x")).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<String> = vec![
        "{".into(),
        "[]".into(),
        "\"x\"".into(),
        "null".into(),
        "{\"unknown_field\": 1}".into(),
        "{\"name\": 123, \"version\": [], \"deployment_id\": {}, \"value\": 1e999}".into(),
        "{\"name\": \"\\u0000\", \"stage\": \"\\ud800\"}".into(),
        deep,
    ];
    let mut checked = 0;
    for r in waygate::control::routes::ROUTES {
        let path = crate::access::concrete(r.path);
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let mut cases: Vec<(String, Option<String>)> =
            vec![(format!("{path}?limit=-1&since=zz&qualifier=%00&environment=..&after=x"), None)];
        if matches!(r.method, "POST" | "PUT" | "PATCH") {
            cases.extend(bodies.iter().map(|b| (path.clone(), Some(b.clone()))));
        }
        for (url, body) in cases {
            let mut req = s.req(method.clone(), &url);
            if let Some(b) = &body {
                req = req.header("content-type", "application/json").body(b.clone());
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let what = format!("{} {url} {:?}", r.method, body.as_deref().map(|b| &b[..b.len().min(60)]));
            assert!(status < 500, "{what}: {status} {text}");
            if status >= 400 {
                let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
                assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {v}");
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
    // Still serving (the DELETE routes did delete what they named: valid requests).
    assert_eq!(s.call(Method::GET, "/v1/functions", None).await.0, 200);
}

/// Odd but parseable requests to a stage whose `ANY /{proxy+}` runs `echo`: methods API
/// Gateway doesn't route, undecodable percent-escapes, non-UTF-8 header values, a flood
/// of query parameters. Each is served (200) or refused by the gateway itself (4xx with
/// `{"message"}`) — never a 5xx, which would mean the event or the response broke.
#[tokio::test]
async fn odd_gateway_requests_are_served_or_refused_never_a_5xx() {
    let s = TestServer::start().await;
    let api = echo_api(&s, "ANY", "/{proxy+}").await;
    deploy(&s, &api, Some("dev")).await;
    let many = (0..2000).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
    // Request line, extra header lines (raw bytes), body.
    let request = |line: String, headers: &[u8], body: &[u8]| {
        let mut r = format!("{line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n").into_bytes();
        r.extend_from_slice(headers);
        r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        r.extend_from_slice(body);
        r
    };
    let cases: Vec<Vec<u8>> = vec![
        request(format!("FOO /{api}/dev/x"), b"", b""),
        request(format!("GET /{api}/dev/%zz/%ff%fe?%zz=%ff&a=%e9"), b"", b""),
        request(format!("GET /{api}/dev/x"), b"X-Bin: \xff\xfea\r\n", b""),
        request(format!("GET /{api}/dev/x?{many}"), b"", b""),
        request(format!("GET /{api}/dev/x"), b"Cookie: a=1\r\nCookie: b=2\r\nX-A: 1\r\nx-a: 2\r\n", b""),
        request(format!("POST /{api}/dev/x"), b"Content-Type: text/plain\xff\r\n", b"\xff\xfe\x00"),
        request(format!("GET /{api}/dev/{}", "%2F".repeat(1000)), b"", b""),
        request(format!("OPTIONS /{api}/dev"), b"", b""),
    ];
    for req in cases {
        let shown = String::from_utf8_lossy(&req[..req.len().min(80)]).into_owned();
        let (status, _, body) = raw_http(&s.gateway, &req).await;
        assert!(status == 200 || (400..500).contains(&status), "{shown:?}: {status} {body}");
        if status >= 400 {
            assert!(json_body(&body)["message"].is_string(), "{shown:?}: {body}");
        }
    }
}
