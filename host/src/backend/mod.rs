//! HTTP backends: the one outbound HTTP client that both HTTP proxy integrations
//! ([`crate::gateway::http_proxy`]) and functions' outbound requests
//! ([`crate::runtime::executor::component`]'s `send_request` hook) go through.
//!
//! One pooled client (hyper-util's, connections kept per scheme + host + port), HTTP/1.1
//! and HTTP/2 (negotiated by ALPN over TLS), TLS by rustls with the system's CA
//! certificates plus an optional configured bundle (`--backend-ca-file`). The address
//! rule of [`address`] is enforced here, for every request, whoever sends it.

pub mod address;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every outbound request (not `Sync`: a guest's wasi:http body isn't).
pub type OutBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Knobs of the backend client (`waygate up` flags).
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// PEM file of extra CA certificates trusted for `https` backends (`--backend-ca-file`),
    /// beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Longest wait for a TCP connection (and its TLS handshake) to a backend.
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per backend (scheme, host, port).
    pub pool_max_idle_per_host: usize,
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
        }
    }
}

/// Why an outbound request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The address rule refused it: a private address not named by IP literal.
    #[error("{0}")]
    Refused(String),
    /// DNS failure, connection refused or reset, TLS failure.
    #[error("{0}")]
    Connect(String),
    /// The backend broke the protocol or the connection during the exchange.
    #[error("{0}")]
    Protocol(String),
}

pub struct Backends {
    client: Client<HttpsConnector<HttpConnector<address::PublicOnly>>, OutBody>,
}

impl Backends {
    pub fn new(config: &BackendConfig) -> anyhow::Result<Arc<Self>> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "loading the system's CA certificates");
        }
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if let Some(path) = &config.ca_file {
            use rustls::pki_types::{pem::PemObject, CertificateDer};
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow::anyhow!("reading the backend CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("the backend CA file {} holds no PEM certificate", path.display());
            }
            for c in certs {
                roots.add(c).map_err(|e| anyhow::anyhow!("a certificate of {}: {e}", path.display()))?;
            }
        }
        tracing::debug!(system = added, configured = config.ca_file.is_some(), "backend CA certificates");
        // ring, not aws-lc-rs (rustls' default, which needs cmake and NASM to build):
        // deprecated only for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(address::PublicOnly);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(https);
        Ok(Arc::new(Backends { client }))
    }

    /// Sends `req` (absolute URI). `named_literal`: the operator named this host as an IP
    /// literal, so it may be a private address ([`address`]). The caller bounds the wait.
    pub async fn send(&self, req: Request<OutBody>, named_literal: bool) -> Result<Response<Incoming>, SendError> {
        let host = req.uri().host().unwrap_or_default();
        if let Some(ip) = address::literal(host) {
            if address::is_private(ip) && !named_literal {
                return Err(SendError::Refused(format!(
                    "{ip} is a private address (loopback, link-local or metadata): reached only when named by IP literal"
                )));
            }
        }
        self.client.request(req).await.map_err(|e| {
            if let Some(why) = refusal(&e) {
                SendError::Refused(why)
            } else if e.is_connect() {
                SendError::Connect(chain(&e))
            } else {
                SendError::Protocol(chain(&e))
            }
        })
    }
}

/// The resolver's refusal, if that is what failed.
fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return Some(io.to_string());
            }
        }
        cur = err.source();
    }
    None
}

/// An error and its sources, `: `-joined (hyper's top-level messages say little).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let m = err.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = err.source();
    }
    s
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction.
pub fn is_hop_by_hop(name: &http::HeaderName) -> bool {
    use http::header::*;
    [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE, PROXY_AUTHORIZATION, PROXY_AUTHENTICATE].contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Removes hop-by-hop headers, including those a `Connection` header lists.
pub fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let listed: Vec<http::HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| http::HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        headers.remove(n);
    }
    let hop: Vec<http::HeaderName> = headers.keys().filter(|k| is_hop_by_hop(k)).cloned().collect();
    for n in hop {
        headers.remove(n);
    }
}

/// A response body read under bounds: at most `limit` bytes in all (counted into a shared
/// total, so several bodies of one invocation share one budget), and no wait for the next
/// piece past the timer — reset to `idle` after each piece, or fixed at a deadline when
/// `idle` is `None`. Past a bound the body ends with an error, which a proxied client sees
/// as a cut-off response and a guest as a failed read. A body type of our own:
/// http-body-util has a per-body limit, but neither a shared one nor a timer.
pub struct Bounded<B> {
    inner: B,
    total: Arc<std::sync::atomic::AtomicU64>,
    limit: u64,
    idle: Option<Duration>,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// The error a [`Bounded`] body ends with past its byte limit.
#[derive(Debug, thiserror::Error)]
#[error("the response is larger than {0} bytes")]
pub struct TooLarge(pub u64);

/// The error a [`Bounded`] body ends with when its timer fires.
#[derive(Debug, thiserror::Error)]
#[error("the backend stopped sending the response")]
pub struct Stalled;

impl<B> Bounded<B> {
    /// Bounds `inner` by `limit` bytes counted into `total`, and by `idle` between pieces
    /// (or the fixed `deadline` when `idle` is `None`).
    pub fn new(
        inner: B,
        total: Arc<std::sync::atomic::AtomicU64>,
        limit: u64,
        idle: Option<Duration>,
        deadline: tokio::time::Instant,
    ) -> Self {
        Bounded { inner, total, limit, idle, sleep: Box::pin(tokio::time::sleep_until(deadline)) }
    }
}

impl<B> hyper::body::Body for Bounded<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                let total = this.total.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                if total > this.limit {
                    return Poll::Ready(Some(Err(Box::new(TooLarge(this.limit)))));
                }
                if let Some(idle) = this.idle {
                    this.sleep.as_mut().reset(tokio::time::Instant::now() + idle);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
