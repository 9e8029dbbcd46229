//! HTTP proxy integrations end to end, against real HTTP backends the tests start on
//! 127.0.0.1: per-stage routing by stage variable, what is forwarded (method, path
//! parameters, query, headers, body) and what is not (hop-by-hop headers), streaming,
//! the response limit, backend down → 502, slow → 504, canary and cache on proxy
//! routes, the bad-input checks, the address rule (a name never reaches loopback), and
//! TLS (verified against a configured CA, HTTP/2 by ALPN).

use crate::harness::TestServer;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A backend on 127.0.0.1:0 named `name`: `/slow` answers after 2 s, `/big?n=N` streams
/// N bytes in 64 KiB chunks (`&len=1` declares Content-Length), `/count` answers how many
/// requests it has served, anything else echoes the request as JSON.
pub struct Backend {
    pub addr: std::net::SocketAddr,
    pub served: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn backend(name: &'static str) -> Backend {
    let served = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        )
        .route("/big", get(big))
        .route(
            "/count",
            get(|State((_, n)): State<(&'static str, Arc<AtomicU64>)>| async move {
                n.fetch_add(1, Ordering::SeqCst).to_string()
            }),
        )
        .fallback(any(echo))
        .with_state((name, served.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Backend { addr, served, task }
}

async fn echo(State((name, n)): State<(&'static str, Arc<AtomicU64>)>, req: Request) -> axum::Json<Value> {
    n.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let headers: HashMap<String, String> =
        parts.headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    axum::Json(json!({
        "backend": name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn big(Query(q): Query<HashMap<String, usize>>) -> impl IntoResponse {
    let n = q.get("n").copied().unwrap_or(0);
    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let chunks = (0..n.div_ceil(chunk.len())).map(move |i| {
        let len = chunk.len().min(n - i * chunk.len());
        Ok::<_, std::io::Error>(chunk.slice(..len))
    });
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let mut r = body.into_response();
    if q.contains_key("len") {
        r.headers_mut().insert("content-length", n.to_string().parse().unwrap());
    }
    r
}

async fn put_route(s: &TestServer, api: &str, method: &str, path: &str, integration: Value) -> (u16, Value) {
    let body = json!({ "method": method, "path": path, "integration": integration });
    s.call(Method::PUT, &format!("/v1/apis/{api}/routes"), Some(body)).await
}

/// An API whose routes proxy to `http://${stageVariables.backendHost}`: `ANY
/// /orders/{proxy+}`, `GET /slow` (200 ms timeout), `GET /big`, `GET /count`.
async fn proxy_api(s: &TestServer) -> String {
    let (st, v) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "backends" }))).await;
    assert_eq!(st, 201, "{v}");
    let api = v["id"].as_str().unwrap().to_string();
    let host = "http://${stageVariables.backendHost}";
    for (method, path, integration) in [
        ("ANY", "/orders/{proxy+}", json!({ "type": "http_proxy", "url": format!("{host}/orders/{{proxy}}") })),
        ("GET", "/slow", json!({ "type": "http_proxy", "url": format!("{host}/slow"), "timeout_ms": 200 })),
        ("GET", "/big", json!({ "type": "http_proxy", "url": format!("{host}/big") })),
        ("GET", "/count", json!({ "type": "http_proxy", "url": format!("{host}/count") })),
    ] {
        let (st, v) = put_route(s, &api, method, path, integration).await;
        assert_eq!(st, 201, "{v}");
    }
    api
}

async fn stage_at(s: &TestServer, api: &str, stage: &str, deployment: &str, vars: Value) {
    let body = json!({ "deployment_id": deployment, "variables": vars });
    let (st, v) = s.call(Method::PUT, &format!("/v1/apis/{api}/stages/{stage}"), Some(body)).await;
    assert!(st == 200 || st == 201, "{v}");
}

async fn deployment(s: &TestServer, api: &str) -> String {
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_routes_follow_stage_variables_and_forward_the_request() {
    let s = TestServer::start().await;
    let (sandbox, real) = (backend("sandbox").await, backend("real").await);
    let api = proxy_api(&s).await;
    // A stage must set every variable its backend URLs use: deploying to a new stage
    // (which has none) is refused, naming the variable, and nothing is stored.
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({ "stage": "dev" }))).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("uses stage variables that are not set: backendHost"), "{v}");
    let (_, list) = s.call(Method::GET, &format!("/v1/apis/{api}/deployments"), None).await;
    assert_eq!(list["deployments"].as_array().map(Vec::len), Some(0), "{list}");
    let d = deployment(&s, &api).await;
    stage_at(&s, &api, "dev", &d, json!({ "backendHost": sandbox.addr.to_string() })).await;
    stage_at(&s, &api, "prod", &d, json!({ "backendHost": real.addr.to_string() })).await;
    // Removing the variable while a route uses it is refused too.
    let patch = json!({ "variables": { "backendHost": null } });
    let (st, v) = s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/dev"), Some(patch)).await;
    assert_eq!(st, 400, "{v}");

    let r = s
        .gw(Method::POST, &format!("/{api}/dev/orders/42/items%20x?expand=1&b=2"))
        .header("x-custom", "kept")
        .header("x-forwarded-for", "10.1.2.3")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("connection", "x-drop-me")
        .header("x-drop-me", "1")
        .body("order body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();
    let timing = r.headers()["server-timing"].to_str().unwrap().to_string();
    assert!(timing.contains("backend;dur=") && timing.contains("route;dur="), "{timing}");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["backend"], "sandbox");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/orders/42/items%20x");
    assert_eq!(echo["query"], "expand=1&b=2");
    assert_eq!(echo["body"], "order body");
    let h = &echo["headers"];
    assert_eq!(h["x-custom"], "kept");
    assert_eq!(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-amzn-requestid"], request_id.as_str());
    assert_eq!(h["host"], sandbox.addr.to_string().as_str());
    for hop in ["proxy-authorization", "x-drop-me"] {
        assert!(h.get(hop).is_none(), "{hop} is hop-by-hop: {h}");
    }

    let echo: Value = s.gw(Method::GET, &format!("/{api}/prod/orders/7")).send().await.unwrap().json().await.unwrap();
    assert_eq!((echo["backend"].as_str(), echo["path"].as_str()), (Some("real"), Some("/orders/7")));
    assert_eq!((sandbox.served.load(Ordering::SeqCst), real.served.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_errors_map_to_502_and_504_and_large_responses_stream() {
    let s = TestServer::start().await;
    let up = backend("up").await;
    // A port nothing listens on: bound, then released.
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let api = proxy_api(&s).await;
    let d = deployment(&s, &api).await;
    stage_at(&s, &api, "up", &d, json!({ "backendHost": up.addr.to_string() })).await;
    stage_at(&s, &api, "down", &d, json!({ "backendHost": down.to_string() })).await;
    // A name that resolves to loopback is refused (names never reach private addresses).
    stage_at(&s, &api, "named", &d, json!({ "backendHost": format!("localhost:{}", up.addr.port()) })).await;

    for (path, status, message) in [
        (format!("/{api}/down/orders/1"), 502, "Internal server error"),
        (format!("/{api}/named/orders/1"), 502, "Internal server error"),
        (format!("/{api}/up/slow"), 504, "Endpoint request timed out"),
        (format!("/{api}/up/big?n=7000000&len=1"), 502, "Internal server error"),
    ] {
        let r = s.gw(Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert!(r.headers().contains_key("x-amzn-requestid"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["message"], message, "{path}");
    }
    assert_eq!(up.served.load(Ordering::SeqCst), 0, "the named stage never reached the backend");

    // 5 MB streamed through, chunk by chunk.
    let r = s.gw(Method::GET, &format!("/{api}/up/big?n=5000000")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 5_000_000);
    // Over the limit without Content-Length: cut off while streaming (the status was sent).
    let r = s.gw(Method::GET, &format!("/{api}/up/big?n=7000000")).send().await.unwrap();
    let got = r.bytes().await.map(|b| b.len());
    assert!(got.is_err() || got.as_ref().is_ok_and(|n| *n < 7_000_000), "{got:?}");

    let metrics = s.req(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let count = |outcome: &str, stage: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("waygate_backend_requests_total")
                    && l.contains(&format!("stage=\"{stage}\""))
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    assert_eq!(count("error", "down"), Some(1), "{metrics}");
    assert_eq!(count("timeout", "up"), Some(1), "{metrics}");
    assert_eq!(count("ok", "up"), Some(2), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_and_cache_work_on_proxy_routes() {
    let s = TestServer::start().await;
    let (old, new) = (backend("old").await, backend("new").await);
    let api = proxy_api(&s).await;
    let d = deployment(&s, &api).await;
    stage_at(&s, &api, "prod", &d, json!({ "backendHost": old.addr.to_string() })).await;
    // All traffic to the canary, whose variable override points at the new backend.
    let canary = json!({ "canary": { "deployment_id": d, "percent_traffic": 100.0, "stage_variable_overrides": { "backendHost": new.addr.to_string() } } });
    let (st, v) = s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/prod"), Some(canary)).await;
    assert_eq!(st, 200, "{v}");
    let r = s.gw(Method::GET, &format!("/{api}/prod/orders/1")).send().await.unwrap();
    assert_eq!(r.headers()["x-waygate-canary"], "true");
    assert_eq!(r.json::<Value>().await.unwrap()["backend"], "new");
    let (st, v) = s.call(Method::DELETE, &format!("/v1/apis/{api}/stages/prod/canary"), None).await;
    assert!(st == 200 || st == 204, "{v}");

    let cache = json!({ "cache": { "enabled": true, "ttl_seconds": 300 } });
    let (st, v) = s.call(Method::PATCH, &format!("/v1/apis/{api}/stages/prod"), Some(cache)).await;
    assert_eq!(st, 200, "{v}");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = s.gw(Method::GET, &format!("/{api}/prod/count")).send().await.unwrap();
        seen.push((r.headers()["x-waygate-cache"].to_str().unwrap().to_string(), r.text().await.unwrap()));
    }
    assert_eq!(seen, [("miss".to_string(), "0".to_string()), ("hit".to_string(), "0".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_proxy_urls_are_refused_at_put() {
    let s = TestServer::start().await;
    let (_, v) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "bad" }))).await;
    let api = v["id"].as_str().unwrap().to_string();
    for (url, why) in [
        ("${stageVariables.scheme}://h/", "can't stand for the scheme"),
        ("ftp://h/", "must start with http:// or https://"),
        ("http://h:${stageVariables.port}/", "can't stand for the port"),
        ("http://user:pw@h/", "user info"),
        ("http://h/orders/{id}", "path parameter {id} is not a variable of the route path"),
        ("http://{proxy}/", "only in the path"),
        ("http://h/${env.x}", "only ${stageVariables.NAME}"),
    ] {
        let (st, v) = put_route(&s, &api, "GET", "/orders/{proxy+}", json!({ "type": "http_proxy", "url": url })).await;
        assert_eq!(st, 400, "{url}: {v}");
        assert!(v["message"].as_str().unwrap().contains(why), "{url}: {v}");
    }
    let (st, v) =
        put_route(&s, &api, "GET", "/x", json!({ "type": "http_proxy", "url": "http://h/", "timeout_ms": 30000 }))
            .await;
    assert_eq!(st, 400, "{v}");
    let (_, routes) = s.call(Method::GET, &format!("/v1/apis/{api}/routes"), None).await;
    assert_eq!(routes["routes"].as_array().map(Vec::len), Some(0), "{routes}");
}

/// An HTTPS backend on 127.0.0.1 with a self-signed certificate (for 127.0.0.1), offering
/// HTTP/2 and HTTP/1.1 by ALPN; it answers the HTTP version it spoke and the path. Returns
/// its address and the certificate's PEM (the CA a client must trust).
async fn https_backend() -> (std::net::SocketAddr, String, tokio::task::JoinHandle<()>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).expect("key");
    #[allow(deprecated)] // ring's provider: see backend/mod.rs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("server config");
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let text = format!("{:?} {}", req.version(), req.uri().path());
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from(text),
                    )))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, ck.cert.pem(), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_are_verified_and_speak_http2() {
    let (addr, pem, task) = https_backend().await;
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), pem).unwrap();
    let trusting = TestServer::start_with(|c| c.backend.ca_file = Some(ca.path().to_path_buf())).await;
    // Without the CA the certificate is unknown: 502 (no option skips the check).
    let default = TestServer::start().await;
    for (s, status, body) in [(&trusting, 200, "HTTP/2.0 /secure/x"), (&default, 502, "")] {
        let (st, v) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "tls" }))).await;
        assert_eq!(st, 201, "{v}");
        let api = v["id"].as_str().unwrap().to_string();
        let url = "https://${stageVariables.backendHost}/secure/{proxy}";
        let (st, v) = put_route(s, &api, "GET", "/{proxy+}", json!({ "type": "http_proxy", "url": url })).await;
        assert_eq!(st, 201, "{v}");
        let d = deployment(s, &api).await;
        stage_at(s, &api, "prod", &d, json!({ "backendHost": addr.to_string() })).await;
        let r = s.gw(Method::GET, &format!("/{api}/prod/x")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        if status == 200 {
            assert_eq!(r.text().await.unwrap(), body);
        }
    }
    task.abort();
}
