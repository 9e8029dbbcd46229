//! The data plane's handle: what serving an invocation needs and nothing else — the
//! current routing snapshot, the live state, the runtime, the observer and the few
//! settings the gateway reads. The gateway and direct invoke go through it; it has no
//! store, so the data plane cannot reach the database. Built (and shared) by
//! [`crate::platform::Platform::open`], which keeps swapping new snapshots into the same
//! cell.

use crate::invoke::{CallContext, Resolved};
use crate::live::LiveState;
use crate::observe::Observer;
use crate::runtime::{GuestInput, InvokeError, Outcome, Runtime};
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use std::sync::Arc;

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
}

impl DataPlane {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        live: Arc<LiveState>,
        runtime: Arc<Runtime>,
        observe: Arc<Observer>,
        config: DataPlaneConfig,
    ) -> Self {
        DataPlane { snapshot, live, runtime, observe, config }
    }

    /// The current routing state. Cheap: one atomic load.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Runs a resolved invocation and records it ([`crate::invoke::run`]).
    pub async fn invoke(
        &self,
        resolved: &Resolved,
        ctx: CallContext<'_>,
        input: GuestInput,
    ) -> Result<Outcome, InvokeError> {
        crate::invoke::run(&self.runtime, &self.observe, resolved, ctx, input).await
    }
}
