//! Reserved concurrency: at most N instances of one function at once (all versions
//! together), as Lambda's PutFunctionConcurrency. The in-flight counter is keyed by
//! function name and outlives snapshot rebuilds, so changing the limit keeps the count.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct Reserved {
    pub limit: u32,
    in_flight: Arc<AtomicU32>,
}

/// One running invocation; dropping it frees the place.
pub struct Permit(Arc<AtomicU32>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Reserved {
    /// `None` when the function already runs `limit` instances (always, for limit 0).
    pub fn acquire(&self) -> Option<Permit> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.limit).then_some(n + 1))
            .ok()
            .map(|_| Permit(self.in_flight.clone()))
    }
}

/// In-flight counters by function name; counters of functions that lost their limit (or
/// were deleted) are dropped when a rebuild's renewal ends.
pub type InFlight = super::Renewable<String, Arc<AtomicU32>>;

impl super::Renewal<'_, String, Arc<AtomicU32>> {
    pub fn reserved(&mut self, function: &str, limit: u32) -> Reserved {
        Reserved { limit, in_flight: self.carry(function.to_string(), Option::unwrap_or_default) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_running_invocations() {
        let counters = InFlight::default();
        let r = counters.renew().reserved("f", 2);
        let (a, b) = (r.acquire(), r.acquire());
        assert!(a.is_some() && b.is_some());
        assert!(r.acquire().is_none());
        drop(a);
        // A new snapshot with a new limit shares the count.
        let r2 = counters.renew().reserved("f", 2);
        let c = r2.acquire();
        assert!(c.is_some() && b.is_some());
        assert!(r2.acquire().is_none());
        assert!(counters.renew().reserved("g", 0).acquire().is_none(), "0 throttles everything");
    }
}
