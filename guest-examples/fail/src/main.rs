//! fail: fails on request, to see how the platform reports each kind of failure.
//! Body/payload `{"mode": ...}`:
//! - `"panic"` → panics (a trap: function error)
//! - `"exit"` with `"code": N` → exits with status N
//! - `"stderr"` with `"lines": N` → writes N log lines, then succeeds
//! - `"bad-response"` → writes a malformed proxy response (`{"statusCode":"abc"}`)
//! - anything else → 200 `{"ok": true}`

use serde::Deserialize;
use serde_json::json;
use std::io::Write;
use waygate_sdk::{parse_request, render, Response};

#[derive(Deserialize, Default)]
struct Ask {
    mode: Option<String>,
    code: Option<i32>,
    lines: Option<u32>,
}

fn main() {
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw);
    let req = parse_request(raw);
    let ask: Ask = req.json().unwrap_or_default();
    match ask.mode.as_deref() {
        Some("panic") => panic!("requested panic"),
        Some("exit") => std::process::exit(ask.code.unwrap_or(1)),
        Some("bad-response") => {
            let _ = std::io::stdout().write_all(br#"{"statusCode":"abc"}"#);
            return;
        }
        Some("stderr") => {
            for i in 0..ask.lines.unwrap_or(1) {
                eprintln!("log line {i}");
            }
        }
        _ => {}
    }
    let _ = std::io::stdout().write_all(&render(req.is_direct(), &Response::json(200, &json!({ "ok": true }))));
}
