//! Data-plane state that must outlive snapshot rebuilds: the stage response cache, the
//! throttle buckets, the functions' in-flight counters, per-stage request counters and
//! the usage of each priority class and stage.
//! Owned by the platform; each snapshot build hands out handles into it, keyed so that a
//! settings change takes effect.

pub mod concurrency;
pub mod usage;

use crate::gateway::cache::ResponseCache;
use crate::gateway::throttle::Buckets;
use crate::observe::stage_metrics::StageMetrics;
use concurrency::InFlight;
use usage::UsageBoard;

pub struct LiveState {
    pub cache: ResponseCache,
    pub buckets: Buckets,
    pub in_flight: InFlight,
    pub metrics: StageMetrics,
    /// Running instances, CPU time, queue wait and yields per class and stage.
    pub usage: UsageBoard,
}

impl LiveState {
    pub fn new(cache_max_bytes: u64) -> Self {
        LiveState {
            cache: ResponseCache::new(cache_max_bytes),
            buckets: Buckets::default(),
            in_flight: InFlight::default(),
            metrics: StageMetrics::default(),
            usage: UsageBoard::default(),
        }
    }
}
