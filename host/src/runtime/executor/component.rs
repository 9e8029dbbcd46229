//! What the component kinds share (`wasi_http.rs`, `handler.rs`): the linker (WASI 0.2
//! and wasi:http from wasmtime-wasi and wasmtime-wasi-http), the upload checks every
//! component passes whatever its world — which world it exports decides its kind, no
//! network import, every import one the host links — loading a compiled component, and
//! the per-invocation WASI 0.2 context with the function's log.

use super::GuestKind;
use crate::model::CodeHash;
use crate::runtime::compile::{bad, CompileError};
use crate::runtime::host_state::{ComponentState, HostState};
use crate::runtime::outbound::Outbound;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::Engine;

/// The component linker: all of WASI 0.2 (`wasi:cli`, clocks, random, io, filesystem and
/// sockets — the context grants no directory and no network) and `wasi:http`.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut l).map_err(|e| anyhow::anyhow!("adding WASI 0.2: {e:#}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut l)
        .map_err(|e| anyhow::anyhow!("adding wasi:http: {e:#}"))?;
    Ok(l)
}

/// Imports a function may not have, matched as prefixes of the import's name. None
/// today: `wasi:http/outgoing-handler` is linked and each call is checked against the
/// version's allow-list ([`Hooks`]); `wasi:sockets` may be imported — CPython's libc
/// links it into every componentize-py component — but the context denies every use
/// ([`component_state`]). Kept so a future refusal has one place.
const REFUSED_IMPORTS: [(&str, &str); 0] = [];

/// The import through which a component makes outbound HTTP requests.
pub(crate) const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler";

/// Whether a compiled component imports outgoing HTTP (the upload answer says what its
/// calls will meet).
pub(crate) fn imports_outgoing_http(engine: &Engine, component: &Component) -> bool {
    component.component_type().imports(engine).any(|(name, _)| name.starts_with(OUTGOING_HANDLER))
}

/// The export that makes a component a wasi:http proxy (any 0.2.x).
pub(super) const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.";

/// The export that makes a component a Waygate handler (`wit/handler.wit`).
pub(super) const HANDLER_EXPORT: &str = "handler";

/// The kind of a compiled component, from the world it exports: `wasi:http/proxy`
/// (`wasi:http/incoming-handler@0.2.x`) or Waygate's `handler` world (a `handler`
/// function). Refused first: imports of what no function gets (named, with why); then a
/// component exporting neither world (with the exports it has).
pub(crate) fn kind_of(engine: &Engine, component: &Component) -> Result<GuestKind, CompileError> {
    let refused: Vec<String> = component
        .component_type()
        .imports(engine)
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
    let exports: Vec<String> = component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
    if exports.iter().any(|e| e.starts_with(INCOMING_HANDLER)) {
        return Ok(GuestKind::WasiHttp);
    }
    if exports.iter().any(|e| e == HANDLER_EXPORT) {
        return Ok(GuestKind::Handler);
    }
    Err(bad(format!(
        "Component exports neither of the worlds Waygate runs: wasi:http/proxy (an export \
         wasi:http/incoming-handler@0.2.x) or waygate:function/handler@0.1.0 (an export `handler`); \
         its exports: [{}]",
        exports.join(", ")
    )))
}

/// The upload check every component passes once its kind is known: every import is one
/// the host links with the same types (wasmtime names the first that is not). The result
/// is the pre-linked component, for the kind's export check.
pub(super) fn link(linker: &Linker<HostState>, component: &Component) -> Result<InstancePre<HostState>, CompileError> {
    linker.instantiate_pre(component).map_err(|e| bad(format!("Unsupported import: {e:#}")))
}

/// The artifact of a checked component.
pub(super) fn serialize(component: &Component) -> Result<Vec<u8>, CompileError> {
    component.serialize().map_err(|e| bad(format!("Component could not be serialized: {e:#}")))
}

/// Deserializes and pre-links a component's artifact, its copy-on-write memory images
/// built now rather than by the first request.
///
/// # Safety
/// As `Executor::prepare`: `artifact` is this engine's verified output for `code`.
pub(super) unsafe fn load(
    linker: &Linker<HostState>,
    engine: &Engine,
    code: &CodeHash,
    artifact: super::Artifact<'_>,
) -> Result<InstancePre<HostState>, String> {
    let bytes = artifact.bytes()?;
    // SAFETY: forwarded contract (see stdio_proxy.rs for what deserialize maps).
    let component = unsafe { Component::deserialize(engine, &bytes) }
        .map_err(|e| format!("compiled artifact for code {code} could not be loaded: {e:#}"))?;
    component
        .initialize_copy_on_write_image()
        .map_err(|e| format!("memory image for code {code} could not be built: {e:#}"))?;
    linker.instantiate_pre(&component).map_err(|e| format!("code {code} could not be linked: {e:#}"))
}

/// A component's WASI 0.2 context, from the invocation's preview1 one (`instance.rs` put
/// the args, the environment and the `/config` view there): no stdin, stdout and stderr
/// into `log`, no preopened directory but `/config` (read-only) when the version reads
/// configuration, no network (wasmtime-wasi's defaults).
pub(super) fn component_state(
    wasi: &crate::runtime::wasi_p1::Wasi,
    log: &LogPipe,
    outbound: &Option<Arc<Outbound>>,
) -> ComponentState {
    let mut b = wasmtime_wasi::WasiCtx::builder();
    for a in wasi.args() {
        b.arg(a);
    }
    for (k, v) in wasi.envs() {
        b.env(k, v);
    }
    b.stdout(log.clone()).stderr(log.clone());
    if let Some(dir) = wasi.config_dir() {
        if let Err(e) = b.preopened_dir(dir, crate::model::appconfig::CONFIG_DIR, wasmtime_wasi::FsPerms::ReadOnly) {
            tracing::error!(error = %e, "could not preopen the /config view: the component gets none");
        }
    }
    // No network: no TCP, no UDP, no name lookup (and wasmtime-wasi's default address
    // check refuses every address besides).
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    let hooks = Hooks { outbound: outbound.clone(), log: Some(log.clone()) };
    ComponentState { wasi: b.build(), hooks, ..ComponentState::empty() }
}

/// A component's outgoing HTTP: each request goes to the invocation's [`Outbound`]
/// (allow-list, budget, deadline); without one (a state built outside an invocation)
/// every request is denied. Refusals are written to the function's log.
#[derive(Default)]
pub struct Hooks {
    outbound: Option<Arc<Outbound>>,
    log: Option<LogPipe>,
}

impl wasmtime_wasi_http::WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
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
        let (outbound, log) = (self.outbound.clone(), self.log.clone());
        Box::new(async move {
            let Some(outbound) = outbound else { return Err(wasmtime_wasi_http::Error::HttpRequestDenied) };
            let note = move |line: String| {
                tracing::debug!("{line}");
                if let Some(log) = &log {
                    log.push(format!("{line}\n").as_bytes());
                }
            };
            let response = outbound.send(request, &note).await?;
            let io: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

/// A component's stdout and stderr: keeps the first `cap` bytes and drops the rest
/// without an error, like a module's log (`wasi_p1.rs`). wasmtime-wasi's
/// `MemoryOutputPipe` fails a write past its capacity instead, which a Rust guest's
/// `eprintln!` turns into a panic; no crate offers the truncating pipe.
#[derive(Clone)]
pub(super) struct LogPipe {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
    cap: usize,
}

impl LogPipe {
    pub(super) fn new(cap: usize) -> Self {
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
    pub(super) fn take(&self) -> (Vec<u8>, bool) {
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

/// Gives the store a fresh component state — the invocation's WASI 0.2 context, its
/// stdout and stderr into the returned log pipe — before the component is instantiated.
pub(super) fn begin(store: &mut wasmtime::Store<HostState>) -> LogPipe {
    let (_, log_cap) = store.data().wasi.caps();
    let log = LogPipe::new(log_cap);
    let state = component_state(&store.data().wasi, &log, &store.data().outbound);
    store.data_mut().component = Some(Box::new(state));
    log
}

/// After the guest returned (or trapped): its resources go (a body it never finished ends
/// now) and its log becomes the invocation's.
pub(super) fn end(store: &mut wasmtime::Store<HostState>, log: &LogPipe) {
    drop(store.data_mut().component.take());
    let (bytes, truncated) = log.take();
    store.data_mut().wasi.set_log(bytes, truncated);
}

/// After a run was abandoned at its deadline while the guest waited in the host (no
/// wasm running for the epoch to stop): as [`end`], with the log pipe the hooks hold.
pub(crate) fn abandon(store: &mut wasmtime::Store<HostState>) {
    if let Some(state) = store.data_mut().component.take() {
        if let Some(log) = &state.hooks.log {
            let (bytes, truncated) = log.take();
            store.data_mut().wasi.set_log(bytes, truncated);
        }
    }
}
