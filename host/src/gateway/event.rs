//! The API Gateway REST proxy event v1.0 the function receives on stdin. Field names,
//! null-vs-absent and the `{proxy+}` conventions follow AWS's examples; the tests check it
//! deserialises into `aws_lambda_events::apigw::ApiGatewayProxyRequest`.

use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyEvent<'a> {
    pub resource: &'a str,
    pub path: String,
    pub http_method: &'a str,
    pub headers: HashMap<String, String>,
    pub multi_value_headers: HashMap<String, Vec<String>>,
    pub query_string_parameters: Option<HashMap<String, String>>,
    pub multi_value_query_string_parameters: Option<HashMap<String, Vec<String>>>,
    pub path_parameters: Option<HashMap<&'a str, String>>,
    pub stage_variables: &'a RawValue,
    pub request_context: RequestContext<'a>,
    pub body: Option<String>,
    pub is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext<'a> {
    pub account_id: &'static str,
    pub api_id: &'a str,
    pub deployment_id: &'a str,
    pub domain_name: &'a str,
    pub domain_prefix: &'a str,
    pub extended_request_id: &'a str,
    pub http_method: &'a str,
    pub identity: Identity<'a>,
    pub path: &'a str,
    pub protocol: &'a str,
    pub request_id: &'a str,
    pub request_time: String,
    pub request_time_epoch: i64,
    pub resource_id: &'a str,
    pub resource_path: &'a str,
    pub stage: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity<'a> {
    pub source_ip: String,
    pub user_agent: Option<&'a str>,
}

/// Single- and multi-valued views of the headers (the single view keeps the last value,
/// as API Gateway does).
pub fn headers(h: &http::HeaderMap) -> (HashMap<String, String>, HashMap<String, Vec<String>>) {
    let mut single = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in h {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        single.insert(k.as_str().to_string(), v.clone());
        multi.entry(k.as_str().to_string()).or_default().push(v);
    }
    (single, multi)
}

pub type QueryViews = (Option<HashMap<String, String>>, Option<HashMap<String, Vec<String>>>);

/// Decoded query parameters; both `None` when there is no query string.
pub fn query(q: Option<&str>) -> QueryViews {
    let Some(q) = q.filter(|q| !q.is_empty()) else { return (None, None) };
    let mut single = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        single.insert(k.to_string(), v.to_string());
        multi.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    (Some(single), Some(multi))
}

/// The body as the event carries it: text when it is UTF-8, base64 otherwise.
pub fn body(bytes: &[u8]) -> (Option<String>, bool) {
    if bytes.is_empty() {
        return (None, false);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Some(s.to_string()), false),
        Err(_) => (Some(base64::engine::general_purpose::STANDARD.encode(bytes)), true),
    }
}

pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `24/Nov/2026:22:30:00 +0000`, API Gateway's requestTime.
pub fn request_time(t: time::OffsetDateTime) -> String {
    const FMT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    t.format(FMT).unwrap_or_default()
}
