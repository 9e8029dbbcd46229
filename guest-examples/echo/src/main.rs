//! echo: returns the event it got (parsed JSON, or the raw text), its environment, whether
//! the call was direct, and what the SDK's accessors read from it.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use waygate_sdk::{run, Request, Response};

fn main() {
    run(|req: Request| {
        let event: Value =
            serde_json::from_slice(req.raw()).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(req.raw()).into_owned()));
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let sdk = json!({
            "method": req.method(),
            "path": req.path(),
            "body": req.body(),
            "is_base64_encoded": req.is_base64_encoded(),
            "header_user_agent": req.header("User-Agent"),
            "query_x": req.query("x"),
            "path_parameter_id": req.path_parameter("id"),
            "stage_variable_color": req.stage_variable("color"),
            "event_resource": req.event().resource,
            "event_method": req.event().http_method.as_str(),
        });
        Response::json(200, &json!({ "event": event, "env": env, "is_direct": req.is_direct(), "sdk": sdk }))
    });
}
