//! echo: returns the event it got (parsed JSON, or the raw text), its environment, and
//! whether the call was direct.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use waygate_sdk::{run, Request, Response};

fn main() {
    run(|req: Request| {
        let event: Value =
            serde_json::from_slice(&req.raw).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.raw).into_owned()));
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Response::json(200, &json!({ "event": event, "env": env, "is_direct": req.is_direct() }))
    });
}
