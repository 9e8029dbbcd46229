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
//! [`run`] hides the difference: the handler always receives a [`Request`] (method, path,
//! query, headers, body, and the typed [`ApiGatewayProxyRequest`] on demand; for a direct
//! invoke, a synthetic `POST /` whose body is the payload) and returns an
//! [`ApiGatewayProxyResponse`]; for a direct invoke only the response's body is written out.
//!
//! ```no_run
//! use waygate_sdk::{run, Request, Response};
//! fn main() {
//!     run(|req: Request| Response::text(200, format!("you sent {} bytes", req.raw().len())));
//! }
//! ```

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::io::{Read, Write};

pub use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
pub use aws_lambda_events::encodings::Body;

/// What the function was called with.
///
/// The fields handlers usually read (method, path, query string, headers, path parameters,
/// stage variables, body) are parsed up front in one pass that skips the rest of the event;
/// the full typed event ([`Request::event`]) is parsed only if the handler asks for it. On a
/// small function the event parse is most of the guest's run time, and most of the event
/// (request context, multi-value maps) is rarely read.
pub struct Request {
    raw: Vec<u8>,
    direct: bool,
    head: Head,
    event: OnceCell<ApiGatewayProxyRequest>,
}

impl Request {
    /// True for a direct invoke (no API stage in between).
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// stdin as received: the event JSON, or a direct invoke's payload.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The HTTP method (`POST` for a direct invoke).
    pub fn method(&self) -> &str {
        self.head.http_method.as_deref().unwrap_or("POST")
    }

    /// The request path (`/` for a direct invoke).
    pub fn path(&self) -> &str {
        self.head.path.as_deref().unwrap_or("/")
    }

    /// The request body as text (the payload for a direct invoke; still base64 when the
    /// event says `isBase64Encoded`).
    pub fn body(&self) -> &str {
        self.head.body.as_deref().unwrap_or("")
    }

    /// Whether [`Request::body`] is base64 (binary bodies through an API).
    pub fn is_base64_encoded(&self) -> bool {
        self.head.is_base64_encoded
    }

    /// The body parsed as JSON, if it is JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.body()).ok()
    }

    /// A query-string parameter (API calls only; the last value when repeated, as API
    /// Gateway's `queryStringParameters`).
    pub fn query(&self, name: &str) -> Option<&str> {
        find(&self.head.query_string_parameters, name)
    }

    /// A request header, by case-insensitive name (API calls only).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A path parameter of the matched route, e.g. `id` for `/orders/{id}`.
    pub fn path_parameter(&self, name: &str) -> Option<&str> {
        find(&self.head.path_parameters, name)
    }

    /// A stage variable of the stage the call came through.
    pub fn stage_variable(&self, name: &str) -> Option<&str> {
        find(&self.head.stage_variables, name)
    }

    /// The whole proxy event, typed (parsed on first use; for a direct invoke, a synthetic
    /// `POST /` whose body is the payload).
    pub fn event(&self) -> &ApiGatewayProxyRequest {
        self.event.get_or_init(|| {
            let parsed = if self.direct { None } else { serde_json::from_slice(&self.raw).ok() };
            parsed.unwrap_or_else(|| self.synthetic_event())
        })
    }

    /// The event rebuilt from the fields parsed up front: for a direct invoke, or an event
    /// that has those fields but not the full event's types.
    fn synthetic_event(&self) -> ApiGatewayProxyRequest {
        use aws_lambda_events::http::{HeaderName, HeaderValue, Method};
        let mut event = ApiGatewayProxyRequest::default();
        event.http_method = Method::from_bytes(self.method().as_bytes()).unwrap_or(Method::POST);
        event.path = Some(self.path().to_string());
        event.body = self.head.body.clone();
        event.is_base64_encoded = self.head.is_base64_encoded;
        for (k, v) in &self.head.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                event.headers.append(k, v);
            }
        }
        event.query_string_parameters =
            self.head.query_string_parameters.iter().map(|(k, v)| (k.clone(), vec![v.clone()])).collect::<HashMap<_, _>>().into();
        event.path_parameters = self.head.path_parameters.iter().cloned().collect();
        event.stage_variables = self.head.stage_variables.iter().cloned().collect();
        event
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The part of the event parsed up front. `request_context` only proves the input is an
/// event; every field not named here is skipped without building anything.
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    http_method: Option<String>,
    path: Option<String>,
    #[serde(default, deserialize_with = "pairs")]
    query_string_parameters: Vec<(String, String)>,
    #[serde(default, deserialize_with = "pairs")]
    headers: Vec<(String, String)>,
    #[serde(default, deserialize_with = "pairs")]
    path_parameters: Vec<(String, String)>,
    #[serde(default, deserialize_with = "pairs")]
    stage_variables: Vec<(String, String)>,
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
    request_context: Option<IgnoredAny>,
}

impl Head {
    /// A direct invoke: no method, path or maps (the accessors give `POST` and `/`).
    fn direct(raw: &[u8]) -> Head {
        Head { body: Some(String::from_utf8_lossy(raw).into_owned()), ..Head::default() }
    }
}

/// A JSON object of strings, or null, as a list of pairs (null values are dropped).
fn pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of strings, or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(Pairs)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
            while let Some((k, v)) = m.next_entry::<String, Option<String>>()? {
                if let Some(v) = v {
                    out.push((k, v));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(Pairs)
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

/// A configuration profile the function's configuration lists (`"config": ["APP/PROFILE"]`),
/// as deployed to the invoking environment: the file `/config/APP/PROFILE`. `None` when
/// nothing is deployed there (or the function doesn't list it).
pub fn config(profile: &str) -> Option<String> {
    std::fs::read_to_string(format!("/config/{profile}")).ok()
}

/// Decides whether stdin is a proxy event: a JSON object with `httpMethod` and
/// `requestContext` whose usual fields have their usual types. Anything else (including
/// malformed JSON that merely looks like an event) is a direct payload.
pub fn parse_request(raw: Vec<u8>) -> Request {
    let head = match serde_json::from_slice::<Head>(&raw) {
        Ok(h) if h.http_method.is_some() && h.request_context.is_some() => Some(h),
        _ => None,
    };
    let direct = head.is_none();
    let head = head.unwrap_or_else(|| Head::direct(&raw));
    Request { raw, direct, head, event: OnceCell::new() }
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
