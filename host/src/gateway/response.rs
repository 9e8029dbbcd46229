//! The proxy response a function writes to stdout, mapped to HTTP by API Gateway's rules
//! (aws-semantics.md §2 "Proxy response"). Anything else is a malformed response (502).

use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};

#[derive(Debug)]
pub struct ProxyResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// `Err` says why the response is malformed (for the log; the client sees 502).
pub fn parse(stdout: &[u8]) -> Result<ProxyResponse, String> {
    let v: Value = serde_json::from_slice(stdout).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(obj) = v else { return Err("not a JSON object".into()) };
    if obj.is_empty() {
        return Err("empty object".into());
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "statusCode" | "headers" | "multiValueHeaders" | "body" | "isBase64Encoded"))
    {
        return Err(format!("unexpected key '{k}'"));
    }
    let status = match obj.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(Value::Number(n)) => n.as_u64().ok_or("statusCode is not an integer")?,
        Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| format!("statusCode '{s}' is not numeric"))?,
        Some(_) => return Err("statusCode is not a number".into()),
    };
    // 1xx can't be a final response: hyper would answer 500 (100) or leave the client
    // believing the connection was upgraded (101).
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (200..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("statusCode out of range (200-599)")?;

    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let multi = match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("multiValueHeaders is not an object".into()),
    };
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                // multiValueHeaders win over headers on the same key.
                if multi.keys().any(|mk| mk.eq_ignore_ascii_case(k)) {
                    continue;
                }
                headers.push(header(k, &scalar(v).ok_or_else(|| format!("header '{k}' is not a scalar"))?)?);
            }
        }
        Some(_) => return Err("headers is not an object".into()),
    }
    for (k, v) in &multi {
        let Value::Array(items) = v else { return Err(format!("multiValueHeaders '{k}' is not a list")) };
        for item in items {
            headers.push(header(
                k,
                &scalar(item).ok_or_else(|| format!("multiValueHeaders '{k}' has a non-scalar value"))?,
            )?);
        }
    }
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isBase64Encoded is not a boolean".into()),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("body is not valid base64: {e}"))?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err("body is not a string".into()),
    };
    Ok(ProxyResponse { status, headers, body })
}

/// Header values may be strings, numbers or booleans ("true"/"false").
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn header(k: &str, v: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name '{k}'"))?;
    let value = HeaderValue::from_str(v).map_err(|_| format!("invalid value for header '{k}'"))?;
    Ok((remap(name), value))
}

/// Headers that frame the HTTP message belong to the gateway, not the function: a guest's
/// `content-length: 999` on a 5-byte body would corrupt the response (hyper refuses it
/// mid-write). Like API Gateway, such headers reach the client renamed
/// `x-amzn-remapped-<name>`.
pub fn remap(name: HeaderName) -> HeaderName {
    const FRAMING: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
    ];
    if FRAMING.contains(&name.as_str()) {
        if let Ok(renamed) = HeaderName::from_bytes(format!("x-amzn-remapped-{}", name.as_str()).as_bytes()) {
            return renamed;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ProxyResponse {
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
