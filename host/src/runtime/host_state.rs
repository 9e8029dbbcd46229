//! The per-store state of one invocation, whatever the guest kind: its own file so that
//! the loader, the compiler, the executors and the instance lifecycle can all name it
//! without depending on each other.

use super::limits::{Deadline, MemoryLimiter};
use super::wasi_p1::{Wasi, WasiView};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView};

/// The per-store state of one invocation.
pub struct HostState {
    /// The invocation's WASI preview1 context: a module's whole world; for a component,
    /// where the instance lifecycle put its args, environment and limits (the component's
    /// executor builds its WASI 0.2 context from it) and where its log ends up.
    pub(super) wasi: Wasi,
    pub(super) limiter: MemoryLimiter,
    pub(super) deadline: Deadline,
    /// The WASI 0.2 and wasi:http state of a component; `None` for a module (built only by
    /// the component executors, so a module's store pays nothing for it).
    pub(super) component: Option<Box<ComponentState>>,
    /// The invocation's outbound HTTP (allow-list, budget); `None` outside an invocation.
    pub(super) outbound: Option<std::sync::Arc<super::outbound::Outbound>>,
}

/// What a component's imports (wasmtime-wasi, wasmtime-wasi-http) work on.
pub struct ComponentState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub hooks: super::executor::component::Hooks,
}

impl HostState {
    pub(super) fn new(wasi: Wasi, limiter: MemoryLimiter, deadline: Deadline) -> Self {
        HostState { wasi, limiter, deadline, component: None, outbound: None }
    }

    /// The component state. Only a component's imports call this, and a component runs
    /// only through its executor, which sets the state before instantiating: its absence
    /// would be a host bug, logged as an error (the guest gets an empty context).
    fn component(&mut self) -> &mut ComponentState {
        self.component.get_or_insert_with(|| {
            tracing::error!("a component import ran without component state; using an empty one");
            Box::new(ComponentState::empty())
        })
    }
}

impl ComponentState {
    /// A context with no environment, no preopened directories, no network.
    pub fn empty() -> Self {
        ComponentState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: super::executor::component::Hooks::default(),
        }
    }
}

impl WasiView for HostState {
    fn wasi(&mut self) -> &mut Wasi {
        &mut self.wasi
    }
    fn deadline(&self) -> Instant {
        self.deadline.0
    }
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let c = self.component();
        WasiCtxView { ctx: &mut c.wasi, table: &mut c.table }
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let c = self.component();
        WasiHttpCtxView { ctx: &mut c.http, table: &mut c.table, hooks: &mut c.hooks }
    }
}
