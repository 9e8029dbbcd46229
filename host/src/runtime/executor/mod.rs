//! Guest executors: one per [`GuestKind`], each owning one guest ABI end to end — how a
//! caller's request becomes the guest's input, how the instance is entered, and how what
//! the guest produced becomes the answer. The gateway and direct invoke hand over a
//! [`GuestRequest`] and read a [`GuestOutput`] as an [`HttpReply`] or raw bytes; neither
//! knows which ABI ran. (The model is Spin's `trigger-http`: the handler type is decided
//! once per component and each request goes to that type's executor.)
//!
//! The kind is decided once, when the code is compiled (`compile.rs`), recorded with the
//! artifact (`ArtifactRecord::kind`) and carried by every [`super::CodeRef`]; the loader
//! caches one [`Prepared`] template per (code hash, kind).
//!
//! At upload, [`compile`] hands the binary to its kind's executor, which checks it can run
//! it and compiles it. A call then has three phases, each dispatched here on the kind:
//! 1. [`encode`], by the caller before the invocation: a too-large event is refused
//!    before a concurrency or pool slot is taken;
//! 2. [`run`], inside `Runtime::invoke`, on the store that `instance.rs` created (memory
//!    limit, deadline, epoch callback) and retires afterwards;
//! 3. [`GuestOutput::http`] / [`GuestOutput::raw`], by the caller after the invocation
//!    was recorded.
//!
//! Dispatch is by enum, not `dyn Executor`: an async method of a trait object returns a
//! boxed future (one allocation per request on the hot path) behind a vtable call, while
//! these matches are resolved statically, inline, and with one kind are irrefutable. The
//! enums ([`Prepared`], [`GuestInput`], [`GuestOutput`]) are what the loader and the
//! invocation carry anyway, so the seam costs nothing per request. The [`Executor`] trait
//! is the contract each executor file implements; nothing calls it through a pointer.
//!
//! Adding a kind is one new file implementing [`Executor`] plus its
//! registration here: a variant in `model::GuestKind` (and its stored name), one variant
//! in each of the three enums and one arm in each dispatch `match` below (all
//! exhaustive, so the compiler lists every place), and `compile.rs` recognising the
//! binary (a component's layer byte) as that kind. The kind's upload checks are its
//! [`Executor::compile`], in its own file.

pub mod component;
pub mod handler;
pub mod stdio_proxy;
pub mod wasi_http;

use super::compile::CompileError;
use super::host_state::HostState;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::value::RawValue;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wasmtime::{Engine, Linker, Store};

pub use crate::model::GuestKind;
use handler::Handler;
use stdio_proxy::StdioProxy;
use wasi_http::WasiHttp;

/// What one guest ABI does with a call. Implemented by a unit type per kind and called
/// statically from the dispatch functions of this module.
pub trait Executor {
    const KIND: GuestKind;
    /// What the loader caches per code hash: cheap to clone (an `Arc`).
    type Template: Clone + Send + Sync;
    /// What crosses into the instance (for stdio: the event bytes).
    type Input: Send;
    /// What the guest produced (for stdio: its stdout).
    type Output: Send;

    /// Checks that `code` (recognised as this kind by `compile.rs`) is code the host can
    /// run — its entry point, its imports — and compiles it to an artifact. Every refusal
    /// names the problem (the upload answers 400 with it). CPU-heavy: off the reactor.
    fn compile(cx: &PrepareCx<'_>, code: Code<'_>) -> Result<Vec<u8>, CompileError>;

    /// Deserializes and pre-links an artifact of this kind.
    ///
    /// # Safety
    /// `artifact` must be exactly what this engine's compiler produced for `code` (its
    /// bytes verified against the recorded hash, or never out of memory): it is mapped
    /// as executable code.
    unsafe fn prepare(
        cx: &PrepareCx<'_>,
        code: &crate::model::CodeHash,
        artifact: Artifact<'_>,
    ) -> Result<Self::Template, String>;

    /// The caller's request as this ABI's input. `max_payload_bytes`: the invoke payload
    /// limit the encoded input must fit.
    fn encode(req: GuestRequest<'_>, max_payload_bytes: usize) -> Result<Self::Input, EncodeError>;

    /// Instantiates the template in `store` and runs the guest on `input`. `started`:
    /// when the invocation started (the instantiate time is measured from it).
    fn run<'a>(
        template: &'a Self::Template,
        store: &'a mut Store<HostState>,
        input: Self::Input,
        started: Instant,
    ) -> impl Future<Output = Ran<Self::Output>> + Send + 'a;

    /// Instantiates without running (`Runtime::warm`).
    fn warm<'a>(
        template: &'a Self::Template,
        store: &'a mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<()>> + Send + 'a;

    /// The output as an HTTP response (gateway). `Err`: why it is malformed, for the log
    /// (the client gets a 502).
    fn http(output: &Self::Output) -> Result<HttpReply, String>;

    /// The output as a direct invoke's result bytes.
    fn raw(output: &Self::Output) -> Bytes;
}

/// Uploaded code as `compile.rs` hands it to an executor: a core module's bytes, or a
/// component already compiled (its exports decided its kind, so it is compiled once).
pub enum Code<'a> {
    Module(&'a [u8]),
    Component(&'a wasmtime::component::Component),
}

/// What compiling and preparing a template need from the runtime.
pub struct PrepareCx<'a> {
    pub engine: &'a Engine,
    /// Core modules' imports (WASI preview1, `wasi_p1.rs`).
    pub linker: &'a Linker<HostState>,
    /// Components' imports (WASI 0.2 and wasi:http, from wasmtime-wasi and
    /// wasmtime-wasi-http).
    pub component_linker: &'a wasmtime::component::Linker<HostState>,
}

/// The runtime's two linkers, made once per engine.
#[derive(Clone)]
pub struct Linkers {
    pub core: Linker<HostState>,
    pub component: wasmtime::component::Linker<HostState>,
}

impl Linkers {
    pub fn new(engine: &Engine) -> anyhow::Result<Self> {
        let mut core: Linker<HostState> = Linker::new(engine);
        super::wasi_p1::add_to_linker(&mut core)
            .map_err(|e| anyhow::anyhow!("adding WASI preview1 to the linker: {e:#}"))?;
        let component = component::linker(engine)?;
        Ok(Linkers { core, component })
    }

    pub fn cx<'a>(&'a self, engine: &'a Engine) -> PrepareCx<'a> {
        PrepareCx { engine, linker: &self.core, component_linker: &self.component }
    }
}

/// What a caller hands to a guest.
pub enum GuestRequest<'a> {
    /// An HTTP request the gateway routed to the function.
    Gateway(&'a GatewayRequest<'a>),
    /// A direct invoke's payload, as sent.
    Direct(Bytes),
}

/// A routed gateway request: the HTTP request and where it was routed.
pub struct GatewayRequest<'a> {
    pub parts: &'a http::request::Parts,
    pub body: &'a [u8],
    /// Bytes of the request's header names and values (measured once by the gateway).
    pub header_bytes: usize,
    /// The request path below the stage (dot segments removed, still percent-encoded).
    pub path: &'a str,
    pub host: Option<&'a str>,
    pub peer: SocketAddr,
    pub request_id: &'a str,
    /// The matched route: its path template (`/orders/{id}`), id and path parameters.
    pub resource_path: &'a str,
    pub resource_id: &'a str,
    pub path_params: &'a [(&'a str, &'a str)],
    /// The stage that served it.
    pub api_id: &'a str,
    pub stage: &'a str,
    pub deployment_id: &'a str,
    /// The stage variables as a JSON object (`null` when there are none).
    pub stage_variables: &'a RawValue,
}

/// Why a request could not become a guest's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded input is larger than the invoke payload limit.
    #[error("the request does not fit the payload limit")]
    TooLarge,
    /// The guest takes text (a handler's event) and the payload is not UTF-8.
    #[error("the payload is not UTF-8 text")]
    NotText,
    #[error("the request could not be encoded")]
    Internal,
}

/// A guest's answer as HTTP.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// Headers that frame the HTTP message belong to the gateway, not the function: a guest's
/// `content-length: 999` on a 5-byte body would corrupt the response (hyper refuses it
/// mid-write). Like API Gateway, such headers reach the client renamed
/// `x-amzn-remapped-<name>`. Every executor's [`HttpReply`] headers go through it (and
/// the gateway's mock integrations).
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

/// How a guest run ended, as an executor reports it to `Runtime::invoke`.
pub struct Ran<O> {
    /// Time from the invocation's start until the instance existed.
    pub instantiate: Duration,
    /// How the guest stopped (`Err`: trap, exit, timeout…; classified by instance.rs).
    pub result: wasmtime::Result<()>,
    /// Empty when the guest overflowed its response limit.
    pub output: O,
    /// The guest tried to produce more than the response limit.
    pub output_overflow: bool,
}

impl<O> Ran<O> {
    fn map<P>(self, f: impl FnOnce(O) -> P) -> Ran<P> {
        Ran {
            instantiate: self.instantiate,
            result: self.result,
            output: f(self.output),
            output_overflow: self.output_overflow,
        }
    }
}

/// Compiles `code`, recognised as `kind`, with that kind's executor.
pub(crate) fn compile(kind: GuestKind, cx: &PrepareCx<'_>, code: Code<'_>) -> Result<Vec<u8>, CompileError> {
    match kind {
        GuestKind::StdioProxy => StdioProxy::compile(cx, code),
        GuestKind::WasiHttp => WasiHttp::compile(cx, code),
        GuestKind::Handler => Handler::compile(cx, code),
    }
}

/// Where an artifact's verified bytes are.
pub enum Artifact<'a> {
    /// In memory (just compiled, or read and checked).
    Bytes(&'a [u8]),
    /// An open artifact file whose contents were just checked against their hash. A
    /// module maps it as it is (no copy: its code and its memory image are pages of the
    /// file, shared with the page cache); a component reads it. Artifact files are only
    /// ever replaced by a rename, never written in place, so the open file keeps the
    /// checked contents.
    File(std::fs::File),
}

impl Artifact<'_> {
    /// The bytes, read from the file if need be (a component's path).
    fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        match self {
            Artifact::Bytes(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Artifact::File(f) => {
                use std::io::{Read, Seek};
                let mut f = f;
                let mut bytes = Vec::new();
                f.rewind()
                    .and_then(|()| f.read_to_end(&mut bytes))
                    .map_err(|e| format!("reading a compiled artifact: {e}"))?;
                Ok(std::borrow::Cow::Owned(bytes))
            }
        }
    }
}

/// A loaded template, per kind (what the loader caches).
#[derive(Clone)]
pub enum Prepared {
    StdioProxy(<StdioProxy as Executor>::Template),
    WasiHttp(<WasiHttp as Executor>::Template),
    Handler(<Handler as Executor>::Template),
}

impl Prepared {
    /// # Safety
    /// As [`Executor::prepare`]: `artifact` is this engine's verified output for `code`.
    pub(crate) unsafe fn load(
        kind: GuestKind,
        cx: &PrepareCx<'_>,
        code: &crate::model::CodeHash,
        artifact: Artifact<'_>,
    ) -> Result<Prepared, String> {
        match kind {
            // SAFETY: forwarded contract.
            GuestKind::StdioProxy => unsafe { StdioProxy::prepare(cx, code, artifact) }.map(Prepared::StdioProxy),
            // SAFETY: forwarded contract.
            GuestKind::WasiHttp => unsafe { WasiHttp::prepare(cx, code, artifact) }.map(Prepared::WasiHttp),
            // SAFETY: forwarded contract.
            GuestKind::Handler => unsafe { Handler::prepare(cx, code, artifact) }.map(Prepared::Handler),
        }
    }

    pub fn kind(&self) -> GuestKind {
        match self {
            Prepared::StdioProxy(_) => StdioProxy::KIND,
            Prepared::WasiHttp(_) => WasiHttp::KIND,
            Prepared::Handler(_) => Handler::KIND,
        }
    }
}

/// A request encoded for one kind (see [`encode`]).
pub enum GuestInput {
    StdioProxy(<StdioProxy as Executor>::Input),
    /// Boxed: an `http::Request` is 256 bytes, eight times a module's input.
    WasiHttp(Box<<WasiHttp as Executor>::Input>),
    Handler(<Handler as Executor>::Input),
}

/// Encodes `req` for code of `kind`.
pub fn encode(kind: GuestKind, req: GuestRequest<'_>, max_payload_bytes: usize) -> Result<GuestInput, EncodeError> {
    match kind {
        GuestKind::StdioProxy => StdioProxy::encode(req, max_payload_bytes).map(GuestInput::StdioProxy),
        GuestKind::WasiHttp => WasiHttp::encode(req, max_payload_bytes).map(|r| GuestInput::WasiHttp(Box::new(r))),
        GuestKind::Handler => Handler::encode(req, max_payload_bytes).map(GuestInput::Handler),
    }
}

/// What a guest produced, per kind.
pub enum GuestOutput {
    StdioProxy(<StdioProxy as Executor>::Output),
    WasiHttp(<WasiHttp as Executor>::Output),
    Handler(<Handler as Executor>::Output),
}

impl Default for GuestOutput {
    /// No output (an invocation that never ran).
    fn default() -> Self {
        GuestOutput::StdioProxy(Bytes::new())
    }
}

impl std::fmt::Debug for GuestOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestOutput::StdioProxy(b) => write!(f, "StdioProxy({} bytes)", b.len()),
            GuestOutput::WasiHttp(r) => write!(f, "WasiHttp({:?})", r.as_ref().map(|r| r.status)),
            GuestOutput::Handler(b) => write!(f, "Handler({} bytes)", b.len()),
        }
    }
}

impl GuestOutput {
    /// The answer as an HTTP response (gateway). `Err`: why it is malformed.
    pub fn http(&self) -> Result<HttpReply, String> {
        match self {
            GuestOutput::StdioProxy(o) => StdioProxy::http(o),
            GuestOutput::WasiHttp(o) => WasiHttp::http(o),
            GuestOutput::Handler(o) => Handler::http(o),
        }
    }

    /// The answer as a direct invoke's result bytes.
    pub fn raw(&self) -> Bytes {
        match self {
            GuestOutput::StdioProxy(o) => StdioProxy::raw(o),
            GuestOutput::WasiHttp(o) => WasiHttp::raw(o),
            GuestOutput::Handler(o) => Handler::raw(o),
        }
    }
}

/// Runs `input` on `prepared` (both of the code's kind: the loader and [`encode`] were
/// given the same `CodeRef::kind`).
pub(crate) async fn run(
    prepared: &Prepared,
    store: &mut Store<HostState>,
    input: GuestInput,
    started: Instant,
) -> Ran<GuestOutput> {
    match (prepared, input) {
        (Prepared::StdioProxy(t), GuestInput::StdioProxy(i)) => {
            StdioProxy::run(t, store, i, started).await.map(GuestOutput::StdioProxy)
        }
        (Prepared::WasiHttp(t), GuestInput::WasiHttp(i)) => {
            WasiHttp::run(t, store, *i, started).await.map(GuestOutput::WasiHttp)
        }
        (Prepared::Handler(t), GuestInput::Handler(i)) => {
            Handler::run(t, store, i, started).await.map(GuestOutput::Handler)
        }
        // The loader and `encode` were given the same kind; a mismatch is a host bug and
        // ends as a function error rather than a crash.
        _ => Ran {
            instantiate: Duration::ZERO,
            result: Err(wasmtime::Error::msg("the request was encoded for another guest kind")),
            output: GuestOutput::default(),
            output_overflow: false,
        },
    }
}

/// Instantiates `prepared` without running it.
pub(crate) async fn warm(prepared: &Prepared, store: &mut Store<HostState>) -> wasmtime::Result<()> {
    match prepared {
        Prepared::StdioProxy(t) => StdioProxy::warm(t, store).await,
        Prepared::WasiHttp(t) => WasiHttp::warm(t, store).await,
        Prepared::Handler(t) => Handler::warm(t, store).await,
    }
}
