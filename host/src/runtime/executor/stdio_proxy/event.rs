//! The API Gateway REST proxy event v1.0 the function receives on stdin. Field names,
//! null-vs-absent and the `{proxy+}` conventions follow AWS's examples; the tests check it
//! deserialises into `aws_lambda_events::apigw::ApiGatewayProxyRequest`.

use super::super::{EncodeError, GatewayRequest};
use base64::Engine;
use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// The event for `g`, serialised; [`EncodeError::TooLarge`] when it is larger than
/// `max_payload_bytes`.
pub fn encode(g: &GatewayRequest<'_>, max_payload_bytes: usize) -> Result<Bytes, EncodeError> {
    let parts = g.parts;
    let (headers, multi_headers) = headers(&parts.headers);
    let (query, multi_query) = query(parts.uri.query());
    let (body_text, is_base64) = body(g.body);
    let now = time::OffsetDateTime::now_utc();
    // requestContext.path includes the stage (`/dev/orders/1`); the top-level path doesn't.
    let stage_path = format!("/{}{}", g.stage, g.path);
    let event = ProxyEvent {
        resource: g.resource_path,
        path: percent_decode(g.path),
        http_method: parts.method.as_str(),
        headers,
        multi_value_headers: multi_headers,
        query_string_parameters: query,
        multi_value_query_string_parameters: multi_query,
        path_parameters: (!g.path_params.is_empty())
            .then(|| Pairs(g.path_params.iter().map(|(k, v)| (*k, percent_decode(v))).collect())),
        stage_variables: g.stage_variables,
        request_context: RequestContext {
            account_id: "000000000000",
            api_id: g.api_id,
            deployment_id: g.deployment_id,
            domain_name: g.host.unwrap_or(""),
            domain_prefix: g.api_id,
            extended_request_id: g.request_id,
            http_method: parts.method.as_str(),
            identity: Identity {
                source_ip: g.peer.ip().to_string(),
                user_agent: parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
            },
            path: &stage_path,
            protocol: "HTTP/1.1",
            request_id: g.request_id,
            request_time: request_time(now),
            request_time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
            resource_id: g.resource_id,
            resource_path: g.resource_path,
            stage: g.stage,
        },
        body: body_text,
        is_base64_encoded: is_base64,
    };
    // Sized for the event's fixed part plus what comes from the request, so it is written
    // without regrowing (each regrow copies it).
    let headers_len = g.header_bytes + 8 * parts.headers.len();
    let mut payload = Vec::with_capacity(1536 + 2 * g.body.len() + 3 * headers_len + 2 * parts.uri.path().len());
    serde_json::to_writer(&mut payload, &event).map_err(|_| EncodeError::Internal)?;
    if payload.len() > max_payload_bytes {
        return Err(EncodeError::TooLarge);
    }
    Ok(payload.into())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyEvent<'a> {
    pub resource: &'a str,
    pub path: Cow<'a, str>,
    pub http_method: &'a str,
    pub headers: Pairs<&'a str, Cow<'a, str>>,
    pub multi_value_headers: Pairs<&'a str, Vec<Cow<'a, str>>>,
    pub query_string_parameters: Option<HashMap<String, String>>,
    pub multi_value_query_string_parameters: Option<HashMap<String, Vec<String>>>,
    pub path_parameters: Option<Pairs<&'a str, Cow<'a, str>>>,
    pub stage_variables: &'a RawValue,
    pub request_context: RequestContext<'a>,
    pub body: Option<Cow<'a, str>>,
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

/// The `headers` and `multiValueHeaders` views.
pub type HeaderViews<'a> = (Pairs<&'a str, Cow<'a, str>>, Pairs<&'a str, Vec<Cow<'a, str>>>);

/// Single- and multi-valued views of the headers (the single view keeps the last value,
/// as API Gateway does).
pub fn headers(h: &http::HeaderMap) -> HeaderViews<'_> {
    let mut single = Vec::with_capacity(h.keys_len());
    let mut multi = Vec::with_capacity(h.keys_len());
    for k in h.keys() {
        let values: Vec<Cow<'_, str>> = h.get_all(k).iter().map(|v| String::from_utf8_lossy(v.as_bytes())).collect();
        single.push((k.as_str(), values.last().cloned().unwrap_or_default()));
        multi.push((k.as_str(), values));
    }
    (Pairs(single), Pairs(multi))
}

/// Key/value pairs serialised as a JSON object, in order. The keys must be unique (they
/// come from a map): cheaper to build than a `HashMap` for the handful of headers and
/// path parameters of a request.
pub struct Pairs<K, V>(pub Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Pairs<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
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
pub fn body(bytes: &[u8]) -> (Option<Cow<'_, str>>, bool) {
    if bytes.is_empty() {
        return (None, false);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Some(Cow::Borrowed(s)), false),
        Err(_) => (Some(Cow::Owned(base64::engine::general_purpose::STANDARD.encode(bytes))), true),
    }
}

pub fn percent_decode(s: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// `24/Nov/2026:22:30:00 +0000`, API Gateway's requestTime (written directly: the
/// `time` crate's format-description interpreter is slower per request).
pub fn request_time(t: time::OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = t.to_offset(time::UtcOffset::UTC);
    let month = MONTHS[usize::from(u8::from(t.month()) - 1)];
    format!("{:02}/{month}/{}:{:02}:{:02}:{:02} +0000", t.day(), t.year(), t.hour(), t.minute(), t.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_time_is_api_gateways_format() {
        let t = time::macros::datetime!(2026-11-04 07:05:09 UTC);
        assert_eq!(request_time(t), "04/Nov/2026:07:05:09 +0000");
        // Another offset is written in UTC.
        let t = time::macros::datetime!(2026-01-01 00:30:00 +01:00);
        assert_eq!(request_time(t), "31/Dec/2025:23:30:00 +0000");
    }

    #[test]
    fn pairs_are_a_json_object_in_order() {
        let mut h = http::HeaderMap::new();
        h.append("b", http::HeaderValue::from_static("1"));
        h.append("a", http::HeaderValue::from_static("2"));
        h.append("b", http::HeaderValue::from_static("3"));
        let (single, multi) = headers(&h);
        assert_eq!(serde_json::to_string(&single).unwrap(), r#"{"b":"3","a":"2"}"#);
        assert_eq!(serde_json::to_string(&multi).unwrap(), r#"{"b":["1","3"],"a":["2"]}"#);
    }
}
