//! Stage and route throttles: token buckets (the `governor` crate) that outlive snapshot
//! rebuilds. A bucket is keyed by its stage, route override and settings, so changing a
//! limit starts a fresh bucket while an unchanged stage keeps its tokens across rebuilds.

use crate::model::stage::RateLimit;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub enum Limiter {
    /// Rate or burst 0: every request is throttled.
    Closed,
    Bucket(DefaultDirectRateLimiter),
}

impl Limiter {
    fn new(l: RateLimit) -> Limiter {
        if l.rate_per_second <= 0.0 {
            return Limiter::Closed;
        }
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / l.rate_per_second));
        match (quota, NonZeroU32::new(l.burst)) {
            (Some(q), Some(burst)) => Limiter::Bucket(RateLimiter::direct(q.allow_burst(burst))),
            _ => Limiter::Closed,
        }
    }

    /// Takes one token; false = throttle this request.
    pub fn admit(&self) -> bool {
        match self {
            Limiter::Closed => false,
            Limiter::Bucket(b) => b.check().is_ok(),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BucketKey {
    pub api: String,
    pub stage: String,
    /// `None`: the stage bucket; otherwise the route key of an override.
    pub route: Option<String>,
    rate_bits: u64,
    burst: u32,
}

impl BucketKey {
    pub fn new(api: &str, stage: &str, route: Option<&str>, limit: RateLimit) -> Self {
        BucketKey {
            api: api.to_string(),
            stage: stage.to_string(),
            route: route.map(str::to_string),
            rate_bits: limit.rate_per_second.to_bits(),
            burst: limit.burst,
        }
    }
}

/// Every live bucket, by key; buckets not asked for again by a rebuild are dropped.
pub type Buckets = crate::live::Renewable<BucketKey, Arc<Limiter>>;

impl crate::live::Renewal<'_, BucketKey, Arc<Limiter>> {
    pub fn bucket(&mut self, key: BucketKey, limit: RateLimit) -> Arc<Limiter> {
        self.carry(key, |b| b.unwrap_or_else(|| Arc::new(Limiter::new(limit))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_throttles_and_survives_renewal() {
        let buckets = Buckets::default();
        let limit = RateLimit { rate_per_second: 0.001, burst: 3 };
        let key = BucketKey::new("a", "dev", None, limit);
        let b = buckets.renew().bucket(key.clone(), limit);
        assert_eq!((0..5).filter(|_| b.admit()).count(), 3);
        let again = buckets.renew().bucket(key, limit);
        assert!(Arc::ptr_eq(&b, &again), "an unchanged setting keeps its bucket");
        drop(buckets.renew());
        assert!(buckets.is_empty(), "unused buckets are dropped");
        assert!(!Limiter::new(RateLimit { rate_per_second: 0.0, burst: 10 }).admit());
        assert!(!Limiter::new(RateLimit { rate_per_second: 10.0, burst: 0 }).admit());
    }
}
