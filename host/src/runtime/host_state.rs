//! The per-store state of one invocation, whatever the guest kind: its own file so that
//! the loader, the compiler, the executors and the instance lifecycle can all name it
//! without depending on each other.

use super::limits::{Deadline, MemoryLimiter};
use super::wasi_p1::{Wasi, WasiView};
use std::time::Instant;

/// The per-store state of one invocation.
pub struct HostState {
    pub(super) wasi: Wasi,
    pub(super) limiter: MemoryLimiter,
    pub(super) deadline: Deadline,
}

impl WasiView for HostState {
    fn wasi(&mut self) -> &mut Wasi {
        &mut self.wasi
    }
    fn deadline(&self) -> Instant {
        self.deadline.0
    }
}
