//! Data-plane state that must outlive snapshot rebuilds: the stage response cache, the
//! throttle buckets and the functions' in-flight counters. Owned by the platform; the
//! snapshot build hands out handles into it, keyed so a settings change takes effect.

use crate::gateway::cache::ResponseCache;
use crate::gateway::throttle::Buckets;
use crate::invoke::concurrency::InFlight;

pub struct LiveState {
    pub cache: ResponseCache,
    pub buckets: Buckets,
    pub in_flight: InFlight,
}

impl LiveState {
    pub fn new(cache_max_bytes: u64) -> Self {
        LiveState {
            cache: ResponseCache::new(cache_max_bytes),
            buckets: Buckets::default(),
            in_flight: InFlight::default(),
        }
    }
}
