//! Reserved concurrency: at most N instances of one function at once (all versions
//! together), as Lambda's PutFunctionConcurrency. The in-flight counter is keyed by
//! function name and outlives snapshot rebuilds, so changing the limit keeps the count.

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
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

/// In-flight counters by function name.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, Arc<AtomicU32>>>);

impl InFlight {
    /// Starts handing out counters for a new snapshot; counters of functions that lost
    /// their limit (or were deleted) are dropped when the renewal ends.
    pub fn renew(&self) -> Renewal<'_> {
        let mut live = self.0.lock();
        let old = std::mem::take(&mut *live);
        Renewal { live, old }
    }
}

pub struct Renewal<'a> {
    live: MutexGuard<'a, HashMap<String, Arc<AtomicU32>>>,
    old: HashMap<String, Arc<AtomicU32>>,
}

impl Renewal<'_> {
    pub fn reserved(&mut self, function: &str, limit: u32) -> Reserved {
        let counter = self.old.remove(function).unwrap_or_default();
        self.live.insert(function.to_string(), counter.clone());
        Reserved { limit, in_flight: counter }
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
