//! Connection handling end to end (host/src/connections.rs): the gateway's cap under a
//! flood of idle connections, the header-read and idle timeouts, the body-read timeout
//! (408), and that a request in flight is never cut. Raw TCP on 127.0.0.1 where the test
//! needs a misbehaving client. Time bounds are generous: the machine may be slow.

use crate::fixtures;
use crate::gateway::{deploy, function, get, new_api, permit, route_ok};
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single wait in these tests may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(30);

fn host_port(url: &str) -> &str {
    url.trim_start_matches("http://")
}

async fn connect(url: &str) -> TcpStream {
    TcpStream::connect(host_port(url)).await.expect("connect")
}

/// Reads until the server closes the connection (EOF or reset); fails after `PATIENCE`.
/// Returns what arrived and when its first byte did.
async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, Option<Instant>) {
    let end = Instant::now() + PATIENCE;
    let (mut out, mut first) = (Vec::new(), None);
    let mut buf = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {PATIENCE:?}; got {:?}", String::from_utf8_lossy(&out)),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, first),
            Ok(Ok(n)) => {
                first.get_or_insert_with(Instant::now);
                out.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Reads one response (head and `content-length` body); returns status and body.
async fn read_response(s: &mut TcpStream) -> (u16, Vec<u8>) {
    let end = Instant::now() + PATIENCE;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(head_end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line: {head}"));
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("content-length"))
                .unwrap_or(0);
            if out.len() >= head_end + 4 + len {
                return (status, out[head_end + 4..head_end + 4 + len].to_vec());
            }
        }
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => panic!("no complete response within {PATIENCE:?}; got {:?}", String::from_utf8_lossy(&out)),
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed before a complete response: {:?}", String::from_utf8_lossy(&out)),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn short_timeouts(c: &mut waygate::platform::PlatformConfig, header_s: f64, idle_s: f64, body_s: f64) {
    c.connections.header_read_timeout = Duration::from_secs_f64(header_s);
    c.connections.idle_timeout = Duration::from_secs_f64(idle_s);
    c.connections.body_read_timeout = Duration::from_secs_f64(body_s);
}

#[tokio::test]
async fn an_idle_flood_beyond_the_gateway_cap_leaves_both_listeners_serving() {
    const CAP: usize = 50;
    const FLOOD: usize = 200;
    let s = TestServer::start_with(|c| c.connections.max_gateway_connections = Some(CAP)).await;
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(connect(&s.gateway).await);
    }
    let (status, v) = tokio::time::timeout(PATIENCE, s.call(Method::GET, "/v1/functions", None))
        .await
        .expect("the management API answers during a gateway flood");
    assert_eq!(status, 200, "{v}");
    // An unknown API: the gateway itself answers 403, so the request got through.
    let r = tokio::time::timeout(PATIENCE, s.gw(Method::GET, "/nope/dev/x").send())
        .await
        .expect("the gateway answers during the flood")
        .expect("gateway request");
    assert_eq!(r.status(), 403);

    // The cap held: the longest-idle connections were closed to make room, so at most
    // CAP of the flood can still be open (and one of those slots went to the call above).
    let mut closed = [false; FLOOD];
    let end = Instant::now() + PATIENCE;
    loop {
        for (c, done) in flood.iter_mut().zip(closed.iter_mut()).filter(|(_, d)| !**d) {
            let mut b = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(2), c.read(&mut b)).await {
                *done = true;
            }
        }
        let n = closed.iter().filter(|d| **d).count();
        if n >= FLOOD - CAP {
            break;
        }
        assert!(Instant::now() < end, "only {n} of {FLOOD} idle connections were closed under a cap of {CAP}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn half_a_request_head_is_closed_after_the_header_timeout() {
    let s = TestServer::start_with(|c| short_timeouts(c, 1.0, 60.0, 60.0)).await;
    let mut c = connect(&s.gateway).await;
    let sent = Instant::now();
    c.write_all(b"GET /nope/dev/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.expect("write");
    let (got, _) = read_to_close(&mut c).await;
    let waited = sent.elapsed();
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(waited >= Duration::from_millis(900), "closed after {waited:?}, before the 1 s header timeout");
    // The idle timeout (60 s) did not apply: the head had started.
    assert!(waited < Duration::from_secs(20), "{waited:?}");
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let s = TestServer::start_with(|c| short_timeouts(c, 60.0, 1.0, 60.0)).await;
    // Keep-alive: a full request and response, then nothing.
    let mut c = connect(&s.gateway).await;
    c.write_all(b"GET /nope/dev/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.expect("write");
    let (got, first) = read_to_close(&mut c).await;
    let closed = Instant::now();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    let idle = closed - first.expect("a response");
    // Slack for the client's own wake-up after the response (the server's clock starts a
    // little before the client sees the first byte).
    assert!(idle >= Duration::from_millis(500), "closed {idle:?} after the response, before the 1 s idle timeout");

    // A new connection that never sends anything.
    let mut silent = connect(&s.gateway).await;
    let opened = Instant::now();
    let (got, _) = read_to_close(&mut silent).await;
    assert!(got.is_empty());
    assert!(opened.elapsed() >= Duration::from_millis(900), "{:?}", opened.elapsed());
}

#[tokio::test]
async fn a_request_in_flight_outlives_the_idle_and_header_timeouts() {
    let s = TestServer::start_with(|c| short_timeouts(c, 0.5, 0.5, 0.5)).await;
    let api = new_api(&s, "slow").await;
    // Sleeps in a host call until its own 2.5 s timeout: 502, as in gateway.rs.
    s.deploy("sleeper", json!({ "timeout_ms": 2500 }), &fixtures::sleep_in_host()).await;
    route_ok(&s, &api, "GET", "/sleep", function("sleeper")).await;
    permit(&s, "sleeper", "gw", &api, None).await;
    deploy(&s, &api, Some("dev")).await;
    let started = Instant::now();
    let r = get(&s, &format!("/{api}/dev/sleep")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_by_both_listeners() {
    let s = TestServer::start_with(|c| short_timeouts(c, 30.0, 30.0, 1.0)).await;
    let api = new_api(&s, "bodies").await;
    s.deploy("echo", json!({}), &fixtures::echo()).await;
    route_ok(&s, &api, "POST", "/echo", function("echo")).await;
    permit(&s, "echo", "gw", &api, None).await;
    deploy(&s, &api, Some("dev")).await;

    // Management API: 100 bytes announced, 8 sent.
    let mut c = connect(&s.url).await;
    let head = format!(
        "POST /v1/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
        s.token
    );
    let sent = Instant::now();
    c.write_all(head.as_bytes()).await.expect("write");
    let (status, body) = read_response(&mut c).await;
    assert!(sent.elapsed() >= Duration::from_millis(900), "{:?}", sent.elapsed());
    assert_eq!(status, 408, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(v["type"], "RequestTimeoutException");

    // Gateway.
    let mut c = connect(&s.gateway).await;
    let head = format!("POST /{api}/dev/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\npartial");
    c.write_all(head.as_bytes()).await.expect("write");
    let (status, body) = read_response(&mut c).await;
    assert_eq!(status, 408, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(v, json!({ "message": "Request body timed out" }));
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_a_request_in_flight_finish() {
    let mut s = TestServer::start().await;
    let api = new_api(&s, "drain").await;
    s.deploy("sleeper", json!({ "timeout_ms": 1500 }), &fixtures::sleep_in_host()).await;
    route_ok(&s, &api, "GET", "/sleep", function("sleeper")).await;
    permit(&s, "sleeper", "gw", &api, None).await;
    deploy(&s, &api, Some("dev")).await;
    let in_flight = tokio::spawn(s.gw(Method::GET, &format!("/{api}/dev/sleep")).send());
    // Let the request reach the function before shutting down (bounded wait).
    let end = Instant::now() + PATIENCE;
    loop {
        let (_, logs) = s.call(Method::GET, "/v1/functions/sleeper/logs", None).await;
        if logs.to_string().contains("START") {
            break;
        }
        assert!(Instant::now() < end, "the invocation never started: {logs}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gateway = s.gateway.clone();
    tokio::time::timeout(PATIENCE, s.stop()).await.expect("shutdown completes");
    let r = in_flight.await.expect("task").expect("the request in flight is answered, not cut");
    assert_eq!(r.status(), 502, "the function ran to its own timeout");
    assert!(TcpStream::connect(host_port(&gateway)).await.is_err(), "no longer accepting");
}
