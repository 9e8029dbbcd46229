//! hello: greets `name` (query string, or the direct payload's `"name"`), with the
//! greeting from the `GREETING` environment variable.

use serde::Deserialize;
use serde_json::json;
use waygate_sdk::{env, run, Request, Response};

#[derive(Deserialize)]
struct Payload {
    name: Option<String>,
}

fn main() {
    run(|req: Request| {
        let who = req
            .query("name")
            .map(str::to_string)
            .or_else(|| req.json::<Payload>().and_then(|p| p.name))
            .unwrap_or_else(|| "world".to_string());
        Response::json(
            200,
            &json!({
                "message": format!("Hello, {who}!"),
                "greeting_from": env("GREETING").unwrap_or_else(|| "Waygate".into()),
                "version": env("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_default(),
            }),
        )
    });
}
