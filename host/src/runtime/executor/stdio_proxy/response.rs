//! The proxy response a function writes to stdout, mapped to HTTP by API Gateway's rules
//! for Lambda proxy integrations. Anything else is a malformed response (502).

use super::super::{remap, HttpReply};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// The proxy response as written, borrowed from stdout where it can be (one pass, no
/// JSON tree). Unknown keys make it malformed, as in API Gateway.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw<'a> {
    #[serde(rename = "statusCode", default)]
    status_code: Option<Status<'a>>,
    #[serde(default, borrow)]
    headers: Option<BTreeMap<Cow<'a, str>, Scalar<'a>>>,
    #[serde(rename = "multiValueHeaders", default, borrow)]
    multi_value_headers: Option<BTreeMap<Cow<'a, str>, Vec<Scalar<'a>>>>,
    #[serde(default, borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: Option<bool>,
}

/// `statusCode`: an integer, or a string holding one.
enum Status<'a> {
    Number(u64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Status<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Status<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("statusCode as an integer or a numeric string")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Status::Number(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                u64::try_from(n).map(Status::Number).map_err(|_| E::custom("statusCode is not a valid status"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("statusCode is not an integer"))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Status::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Status::Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A header value: a string, number or boolean (`true`/`false`); anything else is
/// malformed.
struct Scalar<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a header value (string, number or boolean)")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Borrowed(if b { "true" } else { "false" })))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(n.to_string())))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(n.to_string())))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(n.to_string())))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// `Err` says why the response is malformed (for the log; the client sees 502).
pub fn parse(stdout: &[u8]) -> Result<HttpReply, String> {
    let probe = stdout.iter().position(|b| !b.is_ascii_whitespace());
    if probe.is_some_and(|i| stdout[i] != b'{') {
        return Err("not a JSON object".into());
    }
    let raw: Raw<'_> = serde_json::from_slice(stdout).map_err(|e| format!("not a proxy response: {e}"))?;
    if raw.status_code.is_none()
        && raw.headers.is_none()
        && raw.multi_value_headers.is_none()
        && raw.body.is_none()
        && raw.is_base64_encoded.is_none()
        && is_empty_object(stdout)
    {
        return Err("empty object".into());
    }
    let status = match raw.status_code {
        None => 200,
        Some(Status::Number(n)) => n,
        Some(Status::Text(s)) => s.trim().parse::<u64>().map_err(|_| format!("statusCode '{s}' is not numeric"))?,
    };
    // 1xx can't be a final response: hyper would answer 500 (100) or leave the client
    // believing the connection was upgraded (101).
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (200..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("statusCode out of range (200-599)")?;

    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let multi = raw.multi_value_headers.unwrap_or_default();
    for (k, v) in raw.headers.iter().flatten() {
        // multiValueHeaders win over headers on the same key.
        if multi.keys().any(|mk| mk.eq_ignore_ascii_case(k)) {
            continue;
        }
        headers.push(header(k, &v.0)?);
    }
    for (k, items) in &multi {
        for item in items {
            headers.push(header(k, &item.0)?);
        }
    }
    let body = match raw.body {
        None => Bytes::new(),
        Some(s) if raw.is_base64_encoded == Some(true) => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| format!("body is not valid base64: {e}"))?,
        ),
        Some(s) => Bytes::from(s.into_owned()),
    };
    Ok(HttpReply { status, headers, body })
}

/// `{}` (or `{"statusCode":null,…}`-only objects are not empty): only consulted when no
/// known key had a value.
fn is_empty_object(stdout: &[u8]) -> bool {
    matches!(serde_json::from_slice::<BTreeMap<&str, de::IgnoredAny>>(stdout), Ok(m) if m.is_empty())
}

fn header(k: &str, v: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name '{k}'"))?;
    let value = HeaderValue::from_str(v).map_err(|_| format!("invalid value for header '{k}'"))?;
    Ok((remap(name), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> HttpReply {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn aws_cases() {
        assert_eq!(ok(r#"{"statusCode":"201"}"#).status, 201);
        assert_eq!(ok(r#"{"headers":{"x":"1"}}"#).status, 200);
        assert_eq!(ok(r#"{"statusCode":200,"headers":null}"#).status, 200);
        let r = ok(r#"{"statusCode":200,"headers":{"a":true,"b":false,"n":3}}"#);
        let get = |k: &str| r.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.to_str().unwrap().to_string());
        assert_eq!(
            (get("a").unwrap(), get("b").unwrap(), get("n").unwrap()),
            ("true".into(), "false".into(), "3".into())
        );
        let r = ok(r#"{"headers":{"x":"single"},"multiValueHeaders":{"x":["m1","m2"]}}"#);
        let xs: Vec<_> = r.headers.iter().filter(|(n, _)| n == "x").map(|(_, v)| v.to_str().unwrap()).collect();
        assert_eq!(xs, ["m1", "m2"], "multiValueHeaders win");
        assert_eq!(ok(r#"{"body":"aGk=","isBase64Encoded":true}"#).body, Bytes::from_static(b"hi"));
        let r = ok(r#"{"headers":{"Content-Length":"9","x":"1"}}"#);
        let names: Vec<_> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-amzn-remapped-content-length", "x"], "framing headers are the gateway's");
        for bad in [
            r#"{}"#,
            r#""just a string""#,
            r#"{"statusCode":"abc"}"#,
            r#"{"statusCode":200,"extra":1}"#,
            r#"{"multiValueHeaders":{"x":"notalist"}}"#,
            r#"not json"#,
            r#"[1]"#,
            r#"{"statusCode":99999}"#,
            r#"{"statusCode":101}"#,
            r#"{"statusCode":100}"#,
            r#"{"body":{"a":1}}"#,
            r#"{"body":"%%","isBase64Encoded":true}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad} must be malformed");
        }
    }
}
