//! The wasi:http kind: a WebAssembly component exporting
//! `wasi:http/incoming-handler@0.2.x` — the `wasi:http/proxy` world that `wasmtime serve`,
//! Spin and wasmCloud run. The gateway's request becomes the component's incoming request
//! and its response the gateway's; a direct invoke's payload arrives as the body of a
//! `POST /`. The imports are wasmtime-wasi's WASI 0.2 (no preopened directory, no network)
//! and wasmtime-wasi-http's `wasi:http/types`; outgoing HTTP and sockets are refused at
//! upload (and a request sent anyway is denied).
//!
//! What a proxy event would have told a function reaches the component as request
//! headers, set by the gateway (a client's own `x-waygate-*` headers are removed first, so
//! a guest can trust them): `x-waygate-request-id`, `x-waygate-api-id`,
//! `x-waygate-stage`, `x-waygate-deployment-id`, `x-waygate-resource` (the matched route,
//! `/orders/{id}`), `x-waygate-path-parameters` and `x-waygate-stage-variables` (JSON
//! objects) and `x-waygate-source-ip`. The request's path is the path below the stage, as
//! the proxy event's `path`. The environment (`wasi:cli/environment`) is a module's: the
//! version's variables, `AWS_LAMBDA_FUNCTION_*`, `WAYGATE_*`.
//!
//! Stdout and stderr are the function's log (the first `max_log_bytes` are kept, the
//! rest dropped). The response body is collected while the guest writes it, up to the
//! response limit; beyond it the body is cut off and the invocation ends in
//! `Function.ResponseSizeTooLarge`, as a module's oversized stdout does.

use super::{EncodeError, Executor, GuestKind, GuestRequest, HttpReply, PrepareCx, Ran};
use crate::model::CodeHash;
use crate::runtime::compile::{bad, CompileError};
use crate::runtime::host_state::{ComponentState, HostState};
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

pub struct WasiHttp;

/// The component linker: all of WASI 0.2 (`wasi:cli`, clocks, random, io, filesystem and
/// sockets — the context grants no directory and no network) and `wasi:http`.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut l).map_err(|e| anyhow::anyhow!("adding WASI 0.2: {e:#}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut l)
        .map_err(|e| anyhow::anyhow!("adding wasi:http: {e:#}"))?;
    Ok(l)
}

/// Imports a function may not have: the network. Matched as prefixes of the import's name
/// (`wasi:http/outgoing-handler@0.2.3`).
const REFUSED_IMPORTS: [(&str, &str); 2] = [
    ("wasi:http/outgoing-handler", "outgoing HTTP requests are not offered to functions"),
    ("wasi:sockets/", "functions get no network access"),
];

/// The export that makes a component a wasi:http proxy.
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.";

/// The request headers the gateway sets for the component (a client's are removed).
const CONTEXT_HEADER_PREFIX: &str = "x-waygate-";

impl Executor for WasiHttp {
    const KIND: GuestKind = GuestKind::WasiHttp;
    type Template = Arc<ProxyPre<HostState>>;
    /// The request as the component receives it.
    type Input = Request<Bytes>;
    /// The response the component set, its body complete (`None`: it set none).
    type Output = Option<HttpReply>;

    fn compile(cx: &PrepareCx<'_>, wasm: &[u8]) -> Result<Vec<u8>, CompileError> {
        let component =
            Component::new(cx.engine, wasm).map_err(|e| bad(format!("Component could not be compiled: {e:#}")))?;
        let ty = component.component_type();
        let refused: Vec<String> = ty
            .imports(cx.engine)
            .filter_map(|(name, _)| {
                REFUSED_IMPORTS
                    .iter()
                    .find(|(prefix, _)| name.starts_with(prefix))
                    .map(|(_, why)| format!("{name} ({why})"))
            })
            .collect();
        if !refused.is_empty() {
            return Err(bad(format!("Component imports what Waygate does not provide: {}", refused.join(", "))));
        }
        // Names an import the host lacks, or one whose types differ.
        let pre =
            cx.component_linker.instantiate_pre(&component).map_err(|e| bad(format!("Unsupported import: {e:#}")))?;
        let exports: Vec<String> = ty.exports(cx.engine).map(|(name, _)| name.to_string()).collect();
        if !exports.iter().any(|e| e.starts_with(INCOMING_HANDLER)) {
            return Err(bad(format!(
                "Component does not export wasi:http/incoming-handler@0.2.x (the wasi:http/proxy world), \
                 the only component world Waygate runs; its exports: [{}]",
                exports.join(", ")
            )));
        }
        ProxyPre::new(pre).map_err(|e| bad(format!("Component's wasi:http/incoming-handler does not match: {e:#}")))?;
        component.serialize().map_err(|e| bad(format!("Component could not be serialized: {e:#}")))
    }

    unsafe fn prepare(cx: &PrepareCx<'_>, code: &CodeHash, artifact: &[u8]) -> Result<Self::Template, String> {
        // SAFETY: as for a module (stdio_proxy.rs): the caller guarantees these bytes are
        // what this engine's compiler produced for `code`.
        let component = unsafe { Component::deserialize(cx.engine, artifact) }
            .map_err(|e| format!("compiled artifact for code {code} could not be loaded: {e:#}"))?;
        component
            .initialize_copy_on_write_image()
            .map_err(|e| format!("memory image for code {code} could not be built: {e:#}"))?;
        let pre = cx
            .component_linker
            .instantiate_pre(&component)
            .map_err(|e| format!("code {code} could not be linked: {e:#}"))?;
        ProxyPre::new(pre).map(Arc::new).map_err(|e| format!("code {code} is not a wasi:http proxy: {e:#}"))
    }

    fn encode(req: GuestRequest<'_>, max_payload_bytes: usize) -> Result<Request<Bytes>, EncodeError> {
        match req {
            GuestRequest::Direct(payload) => {
                if payload.len() > max_payload_bytes {
                    return Err(EncodeError::TooLarge);
                }
                Request::builder()
                    .method(Method::POST)
                    .uri("http://localhost/")
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(payload)
                    .map_err(|_| EncodeError::Internal)
            }
            GuestRequest::Gateway(g) => {
                if g.body.len().saturating_add(g.header_bytes) > max_payload_bytes {
                    return Err(EncodeError::TooLarge);
                }
                let authority = g.host.filter(|h| h.parse::<http::uri::Authority>().is_ok()).unwrap_or("localhost");
                let uri = match g.parts.uri.query() {
                    Some(q) => format!("http://{authority}{}?{q}", g.path),
                    None => format!("http://{authority}{}", g.path),
                };
                let mut r = Request::builder().method(g.parts.method.clone()).uri(uri);
                let headers = r.headers_mut().ok_or(EncodeError::Internal)?;
                for (k, v) in &g.parts.headers {
                    if !k.as_str().starts_with(CONTEXT_HEADER_PREFIX) {
                        headers.append(k.clone(), v.clone());
                    }
                }
                let params: serde_json::Map<String, serde_json::Value> =
                    g.path_params.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
                let context = [
                    ("x-waygate-request-id", g.request_id.to_string()),
                    ("x-waygate-api-id", g.api_id.to_string()),
                    ("x-waygate-stage", g.stage.to_string()),
                    ("x-waygate-deployment-id", g.deployment_id.to_string()),
                    ("x-waygate-resource", g.resource_path.to_string()),
                    ("x-waygate-path-parameters", serde_json::Value::Object(params).to_string()),
                    ("x-waygate-stage-variables", g.stage_variables.get().to_string()),
                    ("x-waygate-source-ip", g.peer.ip().to_string()),
                ];
                for (k, v) in context {
                    // Values are ids, a route template and compact JSON: visible ASCII, except
                    // where a stage variable holds other text, which is then percent-free
                    // UTF-8 and still a valid (opaque) header value unless it has controls.
                    let v = HeaderValue::from_str(&v).map_err(|_| EncodeError::Internal)?;
                    headers.insert(HeaderName::from_static(k), v);
                }
                r.body(Bytes::copy_from_slice(g.body)).map_err(|_| EncodeError::Internal)
            }
        }
    }

    async fn run(
        template: &Self::Template,
        store: &mut Store<HostState>,
        input: Request<Bytes>,
        started: Instant,
    ) -> Ran<Option<HttpReply>> {
        let (response_cap, log_cap) = store.data().wasi.caps();
        let log = LogPipe::new(log_cap);
        store.data_mut().component = Some(Box::new(component_state(&store.data().wasi, &log)));
        let mut instantiate = Duration::ZERO;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        // The body is read while the guest writes it (the guest's writes wait for room).
        let collect = collect(receiver, response_cap);
        let guest = async {
            let req = store.data_mut().http().new_incoming_request(Scheme::Http, input.map(Full::new))?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            let proxy = template.instantiate_async(&mut *store).await?;
            instantiate = started.elapsed();
            proxy.wasi_http_incoming_handler().call_handle(&mut *store, req, out).await
        };
        let mut collect = std::pin::pin!(collect);
        let mut collected = None;
        let result = {
            let mut guest = std::pin::pin!(guest);
            loop {
                tokio::select! {
                    biased;
                    r = &mut guest => break r,
                    c = &mut collect, if collected.is_none() => collected = Some(c),
                }
            }
        };
        // The guest returned (or trapped): its resources go, so a body it never finished
        // ends now instead of keeping the reader waiting.
        drop(store.data_mut().component.take());
        let c = match collected {
            Some(c) => c,
            None => collect.await,
        };
        let (log_bytes, truncated) = log.take();
        store.data_mut().wasi.set_log(log_bytes, truncated);
        let result = match (result, c.error) {
            (Ok(()), Some(why)) if !c.overflow => Err(wasmtime::Error::msg(why)),
            (r, _) => r,
        };
        Ran { instantiate, result, output: if c.overflow { None } else { c.reply }, output_overflow: c.overflow }
    }

    async fn warm(template: &Self::Template, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        store.data_mut().component = Some(Box::new(ComponentState::empty()));
        template.instantiate_async(store).await.map(drop)
    }

    fn http(output: &Option<HttpReply>) -> Result<HttpReply, String> {
        output.clone().ok_or_else(|| "the component did not set a response (response-outparam::set)".to_string())
    }

    fn raw(output: &Option<HttpReply>) -> Bytes {
        output.as_ref().map(|r| r.body.clone()).unwrap_or_default()
    }
}

/// A component's WASI 0.2 context, from the invocation's preview1 one (`instance.rs` put
/// the args and the environment there): no stdin, stdout and stderr into `log`, no
/// preopened directory, no network (wasmtime-wasi's defaults).
fn component_state(wasi: &crate::runtime::wasi_p1::Wasi, log: &LogPipe) -> ComponentState {
    let mut b = wasmtime_wasi::WasiCtx::builder();
    for a in wasi.args() {
        b.arg(a);
    }
    for (k, v) in wasi.envs() {
        b.env(k, v);
    }
    b.stdout(log.clone()).stderr(log.clone());
    ComponentState { wasi: b.build(), ..ComponentState::empty() }
}

/// What [`collect`] read of the response.
#[derive(Default)]
struct Collected {
    reply: Option<HttpReply>,
    /// The body went past the response limit (reading stopped there).
    overflow: bool,
    /// Why there is no complete response.
    error: Option<String>,
}

type ResponseResult = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;

/// Waits for the response the guest sets and reads its body, up to `cap` bytes.
async fn collect(receiver: tokio::sync::oneshot::Receiver<ResponseResult>, cap: usize) -> Collected {
    let failed = |why: String| Collected { error: Some(why), ..Collected::default() };
    let response = match receiver.await {
        Ok(Ok(r)) => r,
        Ok(Err(code)) => return failed(format!("the component answered with error-code {code:?}")),
        Err(_) => return failed("the component did not set a response (response-outparam::set)".into()),
    };
    let (parts, mut body) = response.into_parts();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let Ok(data) = frame.into_data() else { continue };
                if buf.len().saturating_add(data.len()) > cap {
                    return Collected { overflow: true, ..Collected::default() };
                }
                buf.extend_from_slice(&data);
            }
            Err(e) => return failed(format!("the response body ended early: {e}")),
        }
    }
    let mut headers = Vec::with_capacity(parts.headers.len());
    let mut last: Option<HeaderName> = None;
    for (name, value) in parts.headers {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(n) = &last {
            headers.push((super::remap(n.clone()), value));
        }
    }
    Collected { reply: Some(HttpReply { status: parts.status, headers, body: buf.freeze() }), ..Collected::default() }
}

/// Outgoing HTTP is refused at upload; a request that gets here anyway is denied.
pub struct Hooks;

impl wasmtime_wasi_http::WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// A component's stdout and stderr: keeps the first `cap` bytes and drops the rest
/// without an error, like a module's log (`wasi_p1.rs`). wasmtime-wasi's
/// `MemoryOutputPipe` fails a write past its capacity instead, which a Rust guest's
/// `eprintln!` turns into a panic; no crate offers the truncating pipe.
#[derive(Clone)]
struct LogPipe {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
    cap: usize,
}

impl LogPipe {
    fn new(cap: usize) -> Self {
        LogPipe { inner: Arc::new(Mutex::new((Vec::new(), false))), cap }
    }

    fn push(&self, bytes: &[u8]) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.cap.saturating_sub(g.0.len());
        if bytes.len() > room {
            g.1 = true;
        }
        g.0.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The log and whether some was dropped.
    fn take(&self) -> (Vec<u8>, bool) {
        std::mem::take(&mut *self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
