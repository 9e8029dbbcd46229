//! The wasi:http kind: a WebAssembly component exporting
//! `wasi:http/incoming-handler@0.2.x` — the `wasi:http/proxy` world that `wasmtime serve`,
//! Spin and wasmCloud run. The gateway's request becomes the component's incoming request
//! and its response the gateway's; a direct invoke's payload arrives as the body of a
//! `POST /`. The imports are those of every component (`component.rs`: WASI 0.2 with no
//! preopened directory and no network) and wasmtime-wasi-http's `wasi:http/types`;
//! outgoing HTTP is refused at upload (and a request sent anyway is denied).
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

use super::{component, Artifact, Code, EncodeError, Executor, GuestKind, GuestRequest, HttpReply, PrepareCx, Ran};
use crate::model::CodeHash;
use crate::runtime::compile::{bad, CompileError};
use crate::runtime::host_state::{ComponentState, HostState};
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

pub struct WasiHttp;

/// The request headers the gateway sets for the component (a client's are removed).
const CONTEXT_HEADER_PREFIX: &str = "x-waygate-";

impl Executor for WasiHttp {
    const KIND: GuestKind = GuestKind::WasiHttp;
    type Template = Arc<ProxyPre<HostState>>;
    /// The request as the component receives it.
    type Input = Request<Bytes>;
    /// The response the component set, its body complete (`None`: it set none).
    type Output = Option<HttpReply>;

    fn compile(cx: &PrepareCx<'_>, code: Code<'_>) -> Result<Vec<u8>, CompileError> {
        let Code::Component(component) = code else { return Err(bad("a wasi:http proxy is a component")) };
        let pre = component::link(cx.component_linker, component)?;
        ProxyPre::new(pre).map_err(|e| bad(format!("Component's wasi:http/incoming-handler does not match: {e:#}")))?;
        component::serialize(component)
    }

    unsafe fn prepare(cx: &PrepareCx<'_>, code: &CodeHash, artifact: Artifact<'_>) -> Result<Self::Template, String> {
        // SAFETY: forwarded contract.
        let pre = unsafe { component::load(cx.component_linker, cx.engine, code, artifact) }?;
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
        let (response_cap, _) = store.data().wasi.caps();
        let log = component::begin(store);
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
        component::end(store, &log);
        let c = match collected {
            Some(c) => c,
            None => collect.await,
        };
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
