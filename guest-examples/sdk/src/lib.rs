//! Write Waygate functions in Rust.
//!
//! # The contract ("proxy over stdio")
//! A function is a WASI preview1 command module (`wasm32-wasip1`, exporting `_start`):
//! - **stdin** carries either an API Gateway REST proxy event v1.0 (JSON; when the
//!   function is called through an API stage) or the raw payload of a direct invoke
//!   (any bytes).
//! - **stdout** carries the answer: the proxy response JSON `{statusCode, headers,
//!   multiValueHeaders, body, isBase64Encoded}` for an API call, the raw payload for a
//!   direct invoke.
//! - **stderr** is the function's log.
//! - The environment holds the version's variables plus `AWS_LAMBDA_FUNCTION_NAME`,
//!   `AWS_LAMBDA_FUNCTION_VERSION` (the executed version), `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
//!   `WAYGATE_QUALIFIER` (as invoked), `WAYGATE_ALIAS` (when invoked through an alias),
//!   `WAYGATE_STAGE` (when called through an API stage) and `WAYGATE_REQUEST_ID`.
//!
//! [`run`] hides the difference: the handler always receives an
//! [`ApiGatewayProxyRequest`] (for a direct invoke, a synthetic `POST /` whose body is the
//! payload) and returns an [`ApiGatewayProxyResponse`]; for a direct invoke only the
//! response's body is written out.
//!
//! ```no_run
//! use waygate_sdk::{run, Request, Response};
//! fn main() {
//!     run(|req: Request| Response::text(200, format!("you sent {} bytes", req.raw.len())));
//! }
//! ```

use std::io::{Read, Write};

pub use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
pub use aws_lambda_events::encodings::Body;

/// What the function was called with.
pub struct Request {
    /// The proxy event (synthesised for a direct invoke).
    pub event: ApiGatewayProxyRequest,
    /// stdin as received.
    pub raw: Vec<u8>,
    direct: bool,
}

impl Request {
    /// True for a direct invoke (no API stage in between).
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// The request body as text (the payload for a direct invoke).
    pub fn body(&self) -> &str {
        self.event.body.as_deref().unwrap_or("")
    }

    /// The body parsed as JSON, if it is JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.body()).ok()
    }

    /// A query-string parameter (API calls only).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.event.query_string_parameters.first(name)
    }
}

/// Builders for [`ApiGatewayProxyResponse`].
pub struct Response;

impl Response {
    pub fn text(status: i64, body: impl Into<String>) -> ApiGatewayProxyResponse {
        with_body(status, "text/plain; charset=utf-8", Body::Text(body.into()))
    }

    pub fn json<T: serde::Serialize>(status: i64, value: &T) -> ApiGatewayProxyResponse {
        let text = serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"message\":\"serialization failed: {e}\"}}"));
        with_body(status, "application/json", Body::Text(text))
    }
}

fn with_body(status: i64, content_type: &'static str, body: Body) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.headers.insert("content-type", aws_lambda_events::http::HeaderValue::from_static(content_type));
    r.body = Some(body);
    r
}

/// Facts about this invocation, from the reserved environment variables.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invocation {
    pub function: String,
    pub version: String,
    pub memory_mb: String,
    pub qualifier: String,
    pub alias: Option<String>,
    pub stage: Option<String>,
    pub request_id: String,
}

impl Invocation {
    pub fn current() -> Self {
        let get = |k: &str| std::env::var(k).unwrap_or_default();
        Invocation {
            function: get("AWS_LAMBDA_FUNCTION_NAME"),
            version: get("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_mb: get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            qualifier: get("WAYGATE_QUALIFIER"),
            alias: std::env::var("WAYGATE_ALIAS").ok(),
            stage: std::env::var("WAYGATE_STAGE").ok(),
            request_id: get("WAYGATE_REQUEST_ID"),
        }
    }
}

/// An environment variable of the function's configuration.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Decides whether stdin is a proxy event. Anything that does not parse as one (including
/// malformed JSON that merely looks like an event) is a direct payload.
pub fn parse_request(raw: Vec<u8>) -> Request {
    if looks_like_event(&raw) {
        if let Ok(event) = serde_json::from_slice::<ApiGatewayProxyRequest>(&raw) {
            return Request { event, raw, direct: false };
        }
    }
    let mut event = ApiGatewayProxyRequest::default();
    event.http_method = aws_lambda_events::http::Method::POST;
    event.path = Some("/".into());
    event.body = Some(String::from_utf8_lossy(&raw).into_owned());
    Request { event, raw, direct: true }
}

/// A JSON object with top-level `httpMethod` and `requestContext` keys. Checked by
/// skipping over the input (no tree is built), so an event is parsed once, straight into
/// its type: the parse is most of a small function's run time.
fn looks_like_event(raw: &[u8]) -> bool {
    use serde::de::IgnoredAny;
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "httpMethod")]
        http_method: Option<IgnoredAny>,
        #[serde(rename = "requestContext")]
        request_context: Option<IgnoredAny>,
    }
    matches!(serde_json::from_slice::<Probe>(raw), Ok(Probe { http_method: Some(_), request_context: Some(_) }))
}

/// Serialises the answer: the full proxy response for an API call, the body alone for a
/// direct invoke.
pub fn render(direct: bool, resp: &ApiGatewayProxyResponse) -> Vec<u8> {
    if direct {
        return match &resp.body {
            Some(Body::Text(t)) => t.clone().into_bytes(),
            Some(Body::Binary(b)) => b.clone(),
            _ => Vec::new(),
        };
    }
    serde_json::to_vec(resp).unwrap_or_else(|_| br#"{"statusCode":500}"#.to_vec())
}

/// Reads stdin, calls `handler`, writes its answer to stdout.
pub fn run(handler: impl FnOnce(Request) -> ApiGatewayProxyResponse) {
    // Sized for a typical event, so stdin is read in one call plus the end-of-input
    // check (an empty Vec makes read_to_end probe and double: a host call per step).
    let mut raw = Vec::with_capacity(16 * 1024);
    if let Err(e) = std::io::stdin().read_to_end(&mut raw) {
        eprintln!("waygate-sdk: cannot read stdin: {e}");
        std::process::exit(70);
    }
    let req = parse_request(raw);
    let direct = req.is_direct();
    let resp = handler(req);
    let out = render(direct, &resp);
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
        std::process::exit(71);
    }
}
