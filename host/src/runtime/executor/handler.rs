//! The handler kind: a WebAssembly component of Waygate's own world,
//! `waygate:function/handler@0.1.0` (`wit/handler.wit` at the repository's root), which
//! exports one function, `handler(event, context) -> result<string, string>` — Lambda's
//! programming model for any language with a component toolchain (JavaScript through
//! componentize-js, Python through componentize-py, Rust through wit-bindgen).
//!
//! The event is what a stdio module reads on stdin — API Gateway's proxy event from a
//! route, the payload as sent from a direct invoke — as text; `ok` is read as a module's
//! stdout is (a proxy response through a route, the result bytes from a direct invoke);
//! `err(message)` is the function error `Function.Error` with that message. The context
//! carries the request id, the function's name, version and memory limit, and the
//! time left. The environment (`wasi:cli/environment`) and the log (stdout, stderr) are as
//! for every component (`component.rs`).

use super::stdio_proxy::StdioProxy;
use super::{component, Artifact, Code, EncodeError, Executor, GuestKind, GuestRequest, HttpReply, PrepareCx, Ran};
use crate::model::CodeHash;
use crate::runtime::compile::{bad, CompileError};
use crate::runtime::host_state::{ComponentState, HostState};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/handler.wit",
        world: "handler",
        exports: { default: async },
        require_store_data_send: true,
    });
}

use bindings::{Context, HandlerPre};

pub struct Handler;

/// The handler returned `err(message)`: the invocation's function error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerFailed(pub String);

impl Executor for Handler {
    const KIND: GuestKind = GuestKind::Handler;
    type Template = Arc<HandlerPre<HostState>>;
    /// The event, as text.
    type Input = String;
    /// What the handler returned in `ok`.
    type Output = Bytes;

    fn compile(cx: &PrepareCx<'_>, code: Code<'_>) -> Result<Vec<u8>, CompileError> {
        let Code::Component(component) = code else { return Err(bad("a handler is a component")) };
        let pre = component::link(cx.component_linker, component)?;
        HandlerPre::new(pre).map_err(|e| {
            bad(format!(
                "Component's `handler` export does not match waygate:function/handler@0.1.0 \
                 (handler: func(event: string, context: context) -> result<string, string>): {e:#}"
            ))
        })?;
        component::serialize(component)
    }

    unsafe fn prepare(cx: &PrepareCx<'_>, code: &CodeHash, artifact: Artifact<'_>) -> Result<Self::Template, String> {
        // SAFETY: forwarded contract.
        let pre = unsafe { component::load(cx.component_linker, cx.engine, code, artifact) }?;
        HandlerPre::new(pre).map(Arc::new).map_err(|e| format!("code {code} is not a Waygate handler: {e:#}"))
    }

    fn encode(req: GuestRequest<'_>, max_payload_bytes: usize) -> Result<String, EncodeError> {
        // A stdio module's input, as text: the event is JSON from the gateway; a direct
        // payload is whatever was sent, and a WIT string must be UTF-8.
        let bytes = StdioProxy::encode(req, max_payload_bytes)?;
        String::from_utf8(Vec::from(bytes)).map_err(|_| EncodeError::NotText)
    }

    async fn run(
        template: &Self::Template,
        store: &mut Store<HostState>,
        input: String,
        started: Instant,
    ) -> Ran<Bytes> {
        let (response_cap, _) = store.data().wasi.caps();
        let context = context(store.data());
        let log = component::begin(store);
        let mut instantiate = Duration::ZERO;
        let result = async {
            let handler = template.instantiate_async(&mut *store).await?;
            instantiate = started.elapsed();
            handler.call_handler(&mut *store, &input, &context).await
        }
        .await;
        component::end(store, &log);
        let (result, output) = match result {
            Ok(Ok(answer)) => (Ok(()), answer),
            Ok(Err(message)) => (Err(wasmtime::Error::new(HandlerFailed(message))), String::new()),
            Err(e) => (Err(e), String::new()),
        };
        // The answer was lifted whole out of the guest's memory (bounded by its memory
        // limit); past the response limit it is dropped, like a module's stdout.
        let output_overflow = output.len() > response_cap;
        let output = if output_overflow { Bytes::new() } else { Bytes::from(output) };
        Ran { instantiate, result, output, output_overflow }
    }

    async fn warm(template: &Self::Template, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        store.data_mut().component = Some(Box::new(ComponentState::empty()));
        template.instantiate_async(store).await.map(drop)
    }

    /// Read as a stdio module's stdout is.
    fn http(output: &Bytes) -> Result<HttpReply, String> {
        StdioProxy::http(output)
    }

    fn raw(output: &Bytes) -> Bytes {
        StdioProxy::raw(output)
    }
}

/// The handler's context, from what the instance lifecycle put in the invocation's
/// environment (`AWS_LAMBDA_FUNCTION_*`, `WAYGATE_REQUEST_ID`) and its deadline.
fn context(state: &HostState) -> Context {
    let mut c = Context {
        request_id: String::new(),
        function_name: String::new(),
        function_version: String::new(),
        memory_limit_mb: 0,
        remaining_time_ms: 0,
    };
    for (k, v) in state.wasi.envs() {
        match k {
            "WAYGATE_REQUEST_ID" => c.request_id = v.to_string(),
            "AWS_LAMBDA_FUNCTION_NAME" => c.function_name = v.to_string(),
            "AWS_LAMBDA_FUNCTION_VERSION" => c.function_version = v.to_string(),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => c.memory_limit_mb = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    let remaining = state.deadline.0.saturating_duration_since(Instant::now());
    c.remaining_time_ms = u32::try_from(remaining.as_millis()).unwrap_or(u32::MAX);
    c
}
