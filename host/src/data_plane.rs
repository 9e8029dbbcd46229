//! The data plane's handle: what serving an invocation needs and nothing else — the
//! current routing snapshot, the live state, the runtime, the development pool, the
//! observer and the few settings the gateway reads. The gateway and direct invoke go through it; it has no
//! store, so the data plane cannot reach the database. Built (and shared) by
//! [`crate::platform::Platform::open`], which keeps swapping new snapshots into the same
//! cell.

use crate::invoke::{CallContext, Resolved};
use crate::live::LiveState;
use crate::model::stage::PriorityClass;
use crate::observe::Observer;
use crate::runtime::priority::DevelopmentPool;
use crate::runtime::{GuestInput, InvokeError, Outcome, Runtime};
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The settings the data plane reads (a copy of the platform config's).
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// Largest invoke payload, which the gateway's event must fit too.
    pub max_payload_bytes: usize,
}

pub struct DataPlane {
    /// Shared with the platform, which stores each rebuilt snapshot into it.
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Cache entries, throttle buckets, in-flight counters: outlive snapshot rebuilds.
    pub live: Arc<LiveState>,
    pub runtime: Arc<Runtime>,
    /// Log buffers and metrics.
    pub observe: Arc<Observer>,
    pub config: DataPlaneConfig,
    /// The outbound HTTP client (HTTP proxy integrations, functions' outbound requests).
    pub backends: Arc<crate::backend::Backends>,
    /// Low-priority workers for development work ([`crate::runtime::priority`]).
    development: DevelopmentPool,
}

impl DataPlane {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        live: Arc<LiveState>,
        runtime: Arc<Runtime>,
        observe: Arc<Observer>,
        config: DataPlaneConfig,
        backends: Arc<crate::backend::Backends>,
    ) -> anyhow::Result<Self> {
        let threads = runtime
            .config()
            .development_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let development = DevelopmentPool::new(threads, runtime.config().lower_development_priority)?;
        Ok(DataPlane { snapshot, live, runtime, observe, config, backends, development })
    }

    /// The current routing state. Cheap: one atomic load.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Runs a resolved invocation in its priority class and records it
    /// ([`crate::invoke::run`]; usage per class and stage in [`crate::live::usage`]).
    /// Production work runs right here, on the caller's worker. Development work is
    /// handed to the development pool and awaited; dropping this future stops it there.
    pub async fn invoke(
        &self,
        resolved: &Resolved,
        ctx: CallContext<'_>,
        input: GuestInput,
    ) -> Result<Outcome, InvokeError> {
        // One set of counters per invocation: its stage's, or its class's direct invokes'.
        let usage = match ctx.capacity {
            Some(c) => &*c.usage,
            None => self.live.usage.direct(ctx.class),
        };
        // A stage's `running` is counted (and limited) in `invoke::run`.
        let _running = if ctx.capacity.is_none() { usage.enter(None) } else { None };
        let (result, waited) = match ctx.class {
            // Inline: no queue to wait in.
            PriorityClass::Production => {
                (crate::invoke::run(&self.runtime, &self.observe, resolved, ctx, input).await, Duration::ZERO)
            }
            PriorityClass::Development => {
                let submitted = Instant::now();
                let (runtime, observe) = (self.runtime.clone(), self.observe.clone());
                let (resolved, ctx) = (resolved.clone(), ctx.to_owned());
                let work = async move {
                    let waited = submitted.elapsed();
                    (crate::invoke::run(&runtime, &observe, &resolved, ctx.borrow(), input).await, waited)
                };
                self.development.spawn(work).await.unwrap_or_else(|e| {
                    (Err(InvokeError::Internal(anyhow::anyhow!("development worker failed: {e}"))), Duration::ZERO)
                })
            }
        };
        match &result {
            Ok(outcome) => usage.finish(waited, &outcome.timing),
            Err(
                InvokeError::Throttled
                | InvokeError::ReservedConcurrency
                | InvokeError::DevelopmentShare
                | InvokeError::StageConcurrency,
            ) => usage.refuse(),
            Err(_) => {}
        }
        result
    }
}
