//! probe-handler: a handler component of Waygate's `waygate:function/handler` world
//! (`wit/handler.wit`) that answers what it got — the event, the context, the environment
//! — or misbehaves when asked, as probe-http does for wasi:http. The request is the
//! event's `path` (through a route) or its `probe` field (direct invoke):
//!
//! | probe | does |
//! |---|---|
//! | `/error` | returns `err("probe asked to fail")` |
//! | `/big` | a body of `bytes` bytes (`x`; a query parameter, or a field of the payload) |
//! | `/log` | writes `bytes` bytes to stderr, then answers |
//! | `/not-proxy` | returns text that is not a proxy response |
//! | `/panic` | panics (a trap) |
//! | `/loop` | spins forever |
//! | `/alloc` | allocates until it fails |
//! | `/recurse` | recurses until the stack overflows |
//! | anything else | the echo |
//!
//! The echo is a proxy response whose body is `{"event", "context", "env"}` through a
//! route, and that object itself from a direct invoke.

use serde_json::{json, Map, Value};
use std::io::Write;

wit_bindgen::generate!({ path: "../../wit/handler.wit", world: "handler" });

struct Probe;

export!(Probe);

#[allow(unconditional_recursion)] // the point: it ends when the stack does
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1).wrapping_add(frame[7])
}

impl Guest for Probe {
    fn handler(event: String, context: Context) -> Result<String, String> {
        let event: Value = serde_json::from_str(&event).map_err(|e| format!("event is not JSON: {e}"))?;
        let proxied = event.get("httpMethod").is_some();
        let probe = if proxied { event.get("path") } else { event.get("probe") };
        let probe = probe.and_then(Value::as_str).unwrap_or("");
        let bytes = event
            .pointer("/queryStringParameters/bytes")
            .and_then(Value::as_str)
            .and_then(|b| b.parse().ok())
            .or_else(|| event.get("bytes").and_then(Value::as_u64).map(|b| b as usize))
            .unwrap_or(0);
        let answer = |body: String| {
            if proxied {
                json!({"statusCode": 200, "headers": {"content-type": "application/json", "x-probe": "1"}, "body": body})
                    .to_string()
            } else {
                body
            }
        };
        match probe {
            "/error" => return Err("probe asked to fail".into()),
            "/big" => return Ok(answer("x".repeat(bytes))),
            "/log" => {
                let _ = std::io::stderr().write_all(&vec![b'l'; bytes]);
            }
            "/not-proxy" => return Ok("this is not a proxy response".into()),
            "/panic" => panic!("probe asked to panic"),
            "/loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/alloc" => {
                let mut held: Vec<Vec<u8>> = Vec::new();
                loop {
                    held.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&held);
                }
            }
            "/recurse" => return Ok(recurse(0).to_string()),
            _ => {}
        }
        let env: Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::from(v))).collect();
        let context = json!({
            "requestId": context.request_id,
            "functionName": context.function_name,
            "functionVersion": context.function_version,
            "memoryLimitMb": context.memory_limit_mb,
            "remainingTimeMs": context.remaining_time_ms,
        });
        println!("probe-handler: {}", context["requestId"]);
        Ok(answer(json!({"event": event, "context": context, "env": env}).to_string()))
    }
}
