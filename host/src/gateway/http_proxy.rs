//! HTTP proxy integrations (API Gateway's `HTTP_PROXY`): the request goes on to an HTTP
//! backend whose URL the stage's variables complete, and the backend's response comes
//! back as it is (streamed, unless the stage caches the route).
//!
//! When the snapshot is built, the URL's stage variables are substituted and the scheme
//! and host checked ([`resolve`]); a request only fills in the route's path parameters
//! (which can land in the path alone) and appends its query string ([`ProxyTarget::uri`]).
//! The address rule ([`crate::backend::address`]) applies at connect time.

use super::error::GatewayError;
use crate::backend::{self, address, Backends, OutBody, SendError};
use crate::model::api::{BackendUrl, UrlPart};
use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Responses that declare at most this many bytes are read whole rather than streamed.
const SMALL_RESPONSE_BYTES: u64 = 64 * 1024;

/// A stage's HTTP proxy target, variables substituted.
#[derive(Debug)]
pub struct ProxyTarget {
    scheme: Scheme,
    authority: Authority,
    /// The host is an IP literal (written in the URL or a stage variable), which may be a
    /// private address.
    literal_host: bool,
    /// The path and query: text, and the route's parameters to fill in.
    rest: Vec<Piece>,
    pub timeout: Duration,
    /// `scheme://host[:port]`, for logs.
    pub origin: String,
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Param(String),
}

/// Substitutes the stage variables of `url` and checks the result; `Err` is the reason the
/// gateway logs (the request answers 500), as for an unresolvable function target.
pub fn resolve(
    url: &str,
    timeout: Duration,
    vars: &BTreeMap<String, String>,
    stage: &str,
) -> Result<ProxyTarget, String> {
    let parsed = BackendUrl::parse(url).map_err(|e| e.0)?;
    let render = |p: &UrlPart| -> Result<Option<String>, String> {
        Ok(match p {
            UrlPart::Text(t) => Some(t.clone()),
            UrlPart::Var(v) => Some(vars.get(v).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
                format!("Execution failed due to configuration error: stage variable '{v}' used in the integration URL '{url}' is not set on stage '{stage}'")
            })?),
            UrlPart::Param(_) => None,
        })
    };
    // The authority's variables may carry a path too (`example.com/v2`): split after substituting.
    let mut head = String::new();
    for p in &parsed.parts[..parsed.path_start] {
        head.push_str(&render(p)?.unwrap_or_default());
    }
    let bad = |why: String| {
        format!("Execution failed due to configuration error: integration URL '{url}' on stage '{stage}': {why}")
    };
    let split = head.find(['/', '?', '#']).unwrap_or(head.len());
    let (host, spill) = head.split_at(split);
    let authority: Authority = host.parse().map_err(|_| bad(format!("'{host}' is not a valid host[:port]")))?;
    if authority.host().is_empty()
        || host.contains('@')
        || (authority.as_str() != authority.host() && authority.port_u16().is_none())
    {
        return Err(bad(format!("'{host}' is not a valid host[:port]")));
    }
    let mut rest = Vec::new();
    if !spill.is_empty() {
        rest.push(Piece::Text(spill.to_string()));
    }
    for p in &parsed.parts[parsed.path_start..] {
        rest.push(match (p, render(p)?) {
            (UrlPart::Param(name), _) => Piece::Param(name.clone()),
            (_, text) => Piece::Text(text.unwrap_or_default()),
        });
    }
    if rest.iter().any(|p| matches!(p, Piece::Text(t) if t.contains('#'))) {
        return Err(bad("a fragment (#) is not allowed".into()));
    }
    let scheme = if parsed.https { Scheme::HTTPS } else { Scheme::HTTP };
    let origin = format!("{scheme}://{authority}");
    let target = ProxyTarget {
        literal_host: address::literal(authority.host()).is_some(),
        scheme,
        authority,
        rest,
        timeout,
        origin,
    };
    // The URL with empty parameters must already be a valid URI: a request adds only
    // parameter values (URI characters, as the request's own path had them) and a query.
    target.uri(&[], None).map_err(|e| bad(e.to_string()))?;
    Ok(target)
}

impl ProxyTarget {
    /// The backend URI of one request: the route's path parameters (raw, still
    /// percent-encoded) filled in, the request's query string appended.
    pub fn uri(&self, params: &[(&str, &str)], query: Option<&str>) -> Result<Uri, http::Error> {
        let mut pq = String::new();
        for p in &self.rest {
            match p {
                Piece::Text(t) => pq.push_str(t),
                Piece::Param(n) => pq.push_str(params.iter().find(|(k, _)| k == n).map_or("", |(_, v)| v)),
            }
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            pq.push(if pq.contains('?') { '&' } else { '?' });
            pq.push_str(q);
        }
        if !pq.starts_with('/') {
            pq.insert(0, '/');
        }
        Uri::builder().scheme(self.scheme.clone()).authority(self.authority.clone()).path_and_query(pq).build()
    }
}

/// What one proxied request needs from the gateway.
pub struct Forward<'a> {
    pub parts: &'a http::request::Parts,
    pub body: Bytes,
    pub params: &'a [(&'a str, &'a str)],
    pub peer: SocketAddr,
    pub request_id: &'a str,
    pub max_response_bytes: usize,
    /// Read the whole response (the stage caches it) instead of streaming it.
    pub buffer: bool,
}

/// The backend's answer: head, and body read or still streaming.
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: AnswerBody,
    /// Until the response head (streamed) or the whole body (buffered).
    pub backend_time: Duration,
}

pub enum AnswerBody {
    Full(Bytes),
    Stream(axum::body::Body),
}

/// Sends the request to the backend. Errors are API Gateway's: 504 when the backend
/// doesn't answer within the integration timeout, 502 when it can't be reached, breaks
/// the exchange or answers more than the response limit.
pub async fn forward(backends: &Backends, t: &ProxyTarget, f: Forward<'_>) -> Result<Answer, (GatewayError, String)> {
    let started = std::time::Instant::now();
    let uri = t.uri(f.params, f.parts.uri.query()).map_err(|e| (GatewayError::BadRequest, e.to_string()))?;
    let mut headers = f.parts.headers.clone();
    backend::strip_hop_by_hop(&mut headers);
    headers.remove(http::header::HOST);
    headers.remove(http::header::CONTENT_LENGTH);
    forwarded_headers(&mut headers, f.peer, f.request_id);
    let mut req = Request::builder().method(f.parts.method.clone()).uri(uri);
    if let Some(h) = req.headers_mut() {
        *h = headers;
    }
    let body: OutBody = http_body_util::Full::new(f.body).map_err(|never| match never {}).boxed_unsync();
    let req = req.body(body).map_err(|e| (GatewayError::BadRequest, e.to_string()))?;
    let deadline = tokio::time::Instant::now() + t.timeout;
    let resp = match tokio::time::timeout_at(deadline, backends.send(req, t.literal_host)).await {
        Err(_) => return Err((GatewayError::IntegrationTimeout, format!("no response within {:?}", t.timeout))),
        Ok(Err(e @ (SendError::Refused(_) | SendError::Connect(_) | SendError::Protocol(_)))) => {
            return Err((GatewayError::BadGateway, e.to_string()))
        }
        Ok(Ok(r)) => r,
    };
    let (head, body) = resp.into_parts();
    let too_large =
        || (GatewayError::BadGateway, format!("the response is larger than {} bytes", f.max_response_bytes));
    let declared = head.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > f.max_response_bytes as u64) {
        return Err(too_large());
    }
    let mut out_headers = head.headers;
    backend::strip_hop_by_hop(&mut out_headers);
    let headers = header_pairs(out_headers);
    // Read whole when the stage caches the route, and when the backend declared a small
    // body: it is (nearly) all there already, and one write of head and body beats a
    // streamed body's separate writes.
    if f.buffer || declared.is_some_and(|n| n <= SMALL_RESPONSE_BYTES) {
        let limited = http_body_util::Limited::new(body, f.max_response_bytes);
        let bytes = match tokio::time::timeout_at(deadline, limited.collect()).await {
            Err(_) => {
                return Err((GatewayError::IntegrationTimeout, "the response body did not arrive in time".into()))
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Ok(Err(e)) => return Err((GatewayError::BadGateway, format!("reading the response: {e}"))),
            Ok(Ok(c)) => c.to_bytes(),
        };
        return Ok(Answer {
            status: head.status,
            headers,
            body: AnswerBody::Full(bytes),
            backend_time: started.elapsed(),
        });
    }
    // Streamed: cut off past the limit, or when no piece arrives for the timeout.
    let limit = f.max_response_bytes as u64;
    let first = tokio::time::Instant::now() + t.timeout;
    let bounded = backend::Bounded::new(body, Default::default(), limit, Some(t.timeout), first);
    let logged = bounded.map_err(|e| {
        tracing::warn!(error = %e, "backend response cut off");
        e
    });
    Ok(Answer {
        status: head.status,
        headers,
        body: AnswerBody::Stream(axum::body::Body::new(logged)),
        backend_time: started.elapsed(),
    })
}

/// `X-Forwarded-For` (the client appended), `X-Forwarded-Proto`, and the request id.
fn forwarded_headers(h: &mut HeaderMap, peer: SocketAddr, request_id: &str) {
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    let ip = peer.ip().to_string();
    let xff = match h.get(&XFF).and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    let pairs = [
        (XFF, xff),
        (HeaderName::from_static("x-forwarded-proto"), "http".to_string()),
        (HeaderName::from_static("x-amzn-requestid"), request_id.to_string()),
        (HeaderName::from_static("x-waygate-request-id"), request_id.to_string()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
}

fn header_pairs(h: HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(h.len());
    let mut last = None;
    for (k, v) in h {
        if let Some(k) = k {
            last = Some(k);
        }
        if let Some(k) = &last {
            out.push((k.clone(), v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn urls() {
        let t = resolve(
            "http://${stageVariables.host}/orders/{proxy}?v=1",
            Duration::from_secs(1),
            &vars(&[("host", "127.0.0.1:8081")]),
            "dev",
        )
        .unwrap();
        assert!(t.literal_host);
        assert_eq!(t.origin, "http://127.0.0.1:8081");
        assert_eq!(
            t.uri(&[("proxy", "a/b%20c")], Some("x=1")).unwrap(),
            "http://127.0.0.1:8081/orders/a/b%20c?v=1&x=1"
        );
        let t = resolve(
            "https://${stageVariables.base}",
            Duration::from_secs(1),
            &vars(&[("base", "example.com/v2")]),
            "dev",
        )
        .unwrap();
        assert!(!t.literal_host);
        assert_eq!(t.uri(&[], Some("q=1")).unwrap(), "https://example.com/v2?q=1");
        let e = resolve("http://${stageVariables.host}/", Duration::from_secs(1), &vars(&[]), "dev").unwrap_err();
        assert!(e.contains("stage variable 'host' used in the integration URL"), "{e}");
        let e =
            resolve("http://${stageVariables.h}/", Duration::from_secs(1), &vars(&[("h", "a:b")]), "dev").unwrap_err();
        assert!(e.contains("not a valid host"), "{e}");
    }
}
