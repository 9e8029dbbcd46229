//! Outbound HTTP from functions: what a component's `wasi:http/outgoing-handler` calls
//! reach. Per invocation, an [`Outbound`] holds the version's allow-list filled for the
//! invocation's environment ([`crate::model::outbound`]), the deadline and the budget;
//! [`Outbound::send`] checks a request against them and sends it through the platform's
//! one client ([`crate::backend::Backends`], which applies the private-address rule).
//!
//! A refused request never leaves the host: the guest gets `http-request-denied` (the
//! address rule: `destination-ip-prohibited`), and a line in the function's log says why.

use crate::backend::{self, Backends, OutBody, SendError};
use crate::model::outbound::{AllowList, Verdict};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error, WasiBody};

/// Outbound requests one invocation may make.
pub const MAX_REQUESTS: u32 = 50;
/// Bytes one invocation may send and receive in all (request and response bodies).
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// One invocation's outbound state.
pub struct Outbound {
    allow: Arc<AllowList>,
    backends: Option<Arc<Backends>>,
    deadline: tokio::time::Instant,
    requests: AtomicU32,
    bytes: Arc<AtomicU64>,
    /// Time spent waiting for response heads, in ns (requests may overlap: summed).
    waited_ns: AtomicU64,
}

/// A guest body's error as the client's error type (a named fn: a closure here trips
/// the compiler's higher-ranked `Send` check of the future it is used in).
fn boxed(e: Error) -> backend::BoxError {
    Box::new(std::io::Error::other(e.to_string()))
}

/// What an invocation's outbound requests came to (REPORT, server-timing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundUse {
    pub requests: u32,
    pub bytes: u64,
    pub waited: Duration,
}

impl Outbound {
    pub fn new(allow: Arc<AllowList>, backends: Option<Arc<Backends>>, deadline: std::time::Instant) -> Self {
        Outbound {
            allow,
            backends,
            deadline: deadline.into(),
            requests: AtomicU32::new(0),
            bytes: Arc::default(),
            waited_ns: AtomicU64::new(0),
        }
    }

    pub fn usage(&self) -> OutboundUse {
        OutboundUse {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed)),
        }
    }

    /// Checks and sends one request of the guest; `note` writes a line to the function's
    /// log. Bounded by the invocation's deadline: the response head must arrive before it,
    /// and its body is cut off at it.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        note: &(dyn Fn(String) + Send + Sync),
    ) -> Result<http::Response<WasiBody>, Error> {
        let target = format!(
            "{} {}://{}",
            request.method(),
            request.uri().scheme_str().unwrap_or("?"),
            request.uri().authority().map_or("?", |a| a.as_str())
        );
        let refuse = |why: String, code: Error| {
            note(format!("[waygate] outbound request refused: {target}: {why}"));
            Err(code)
        };
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if n > MAX_REQUESTS {
            return refuse(
                format!("more than {MAX_REQUESTS} outbound requests in one invocation"),
                Error::HttpRequestDenied,
            );
        }
        let named_literal = match self.allow.check(request.uri()) {
            Verdict::Allowed { named_literal } => named_literal,
            Verdict::Refused(why) => return refuse(why, Error::HttpRequestDenied),
        };
        let Some(backends) = &self.backends else {
            return refuse("this server has no outbound client".into(), Error::HttpRequestDenied);
        };
        // The guest's body is read whole (within the budget and the deadline) and sent with
        // its length: a body of unknown length would go chunked, its end in a write — and
        // a packet — of its own, which costs a loopback round trip more per request.
        let (parts, body) = request.into_parts();
        let body = body.map_err(boxed);
        let bounded = backend::Bounded::new(body, self.bytes.clone(), MAX_BYTES, None, self.deadline);
        let body = match bounded.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<backend::TooLarge>() => {
                return refuse(
                    format!("the request body is over the {MAX_BYTES}-byte budget"),
                    Error::HttpRequestBodySize(None),
                )
            }
            Err(e) => return refuse(format!("reading the request body: {e}"), Error::HttpRequestDenied),
        };
        let body: OutBody = http_body_util::Full::new(body).map_err(|never| match never {}).boxed_unsync();
        let request = http::Request::from_parts(parts, body);
        let started = std::time::Instant::now();
        let sent = tokio::time::timeout_at(self.deadline, backends.send(request, named_literal)).await;
        self.waited_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let response = match sent {
            Err(_) => return refuse("no response before the function's timeout".into(), Error::ConnectionTimeout),
            Ok(Err(SendError::Refused(why))) => return refuse(why, Error::DestinationIpProhibited),
            Ok(Err(e @ SendError::Connect(_))) => {
                note(format!("[waygate] outbound request failed: {target}: {e}"));
                return Err(Error::ConnectionRefused);
            }
            Ok(Err(e @ SendError::Protocol(_))) => {
                note(format!("[waygate] outbound request failed: {target}: {e}"));
                return Err(Error::HttpProtocolError);
            }
            Ok(Ok(r)) => r,
        };
        Ok(response.map(|body| {
            backend::Bounded::new(body, self.bytes.clone(), MAX_BYTES, None, self.deadline)
                .map_err(|e| {
                    if e.is::<backend::TooLarge>() {
                        Error::HttpResponseBodySize(None)
                    } else if e.is::<backend::Stalled>() {
                        Error::ConnectionReadTimeout
                    } else {
                        Error::InternalError(Some(e.to_string()))
                    }
                })
                .boxed_unsync()
        }))
    }
}
