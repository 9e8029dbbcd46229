//! Per-invocation resource limits and the errors that say which one was hit.

use std::time::Instant;

/// Caps linear memory at the function's `memory_mb` and remembers the peak, which the
/// REPORT line shows as "Max Memory Used".
pub struct MemoryLimiter {
    pub limit_bytes: usize,
    pub peak_bytes: usize,
}

/// Raised (as a trap) when the guest asks for more memory than its function allows. Lambda
/// kills such a sandbox; we do the same instead of letting `memory.grow` return -1, so a
/// runaway allocation is reported as out-of-memory and not as some later, stranger trap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit_mb} MB exceeded")]
pub struct MemoryLimitExceeded {
    pub limit_mb: u64,
}

/// Raised from the epoch callback when the invocation's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("task timed out")]
pub struct TimedOut;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            return Err(MemoryLimitExceeded { limit_mb: (self.limit_bytes >> 20) as u64 }.into());
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Table size is bounded by the pooling allocator's per-table element limit.
        Ok(true)
    }
}

/// The wall-clock deadline of one invocation.
#[derive(Clone, Copy)]
pub struct Deadline(pub Instant);

impl Deadline {
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}
