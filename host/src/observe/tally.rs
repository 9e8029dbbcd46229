//! Invocation tallies the console's charts read (`GET /v1/stats`): per metric label set
//! (function, version, alias, API, stage, canary), invocations, errors, cold starts and a
//! latency histogram, as plain atomics. The Prometheus recorder keeps the same figures,
//! but reading them back means rendering and parsing its text; a tally is read directly.
//! Recording is three relaxed adds beside the recorder's own.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Latency buckets: bucket `i` holds durations up to `FIRST_BOUND_MS · √2^i`; the last
/// one everything longer (≈ 37 s and up). √2 apart: a percentile read from them is within
/// a factor 1.41 above the true value.
pub const LATENCY_BUCKETS: usize = 40;
const FIRST_BOUND_MS: f64 = 0.01;

/// The upper bound of each bucket, ms (the last: infinity, written as `null`).
pub fn bounds_ms() -> Vec<Option<f64>> {
    (0..LATENCY_BUCKETS)
        .map(|i| (i + 1 < LATENCY_BUCKETS).then(|| FIRST_BOUND_MS * std::f64::consts::SQRT_2.powi(i as i32)))
        .collect()
}

fn bucket(d: Duration) -> usize {
    let ms = d.as_secs_f64() * 1000.0;
    if ms <= FIRST_BOUND_MS {
        return 0;
    }
    // ms ≤ FIRST · √2^i  ⇔  i ≥ 2·log2(ms / FIRST)
    let i = (2.0 * (ms / FIRST_BOUND_MS).log2()).ceil();
    (i as usize).min(LATENCY_BUCKETS - 1)
}

/// One label set's running totals since the server started.
pub struct Tally {
    invocations: AtomicU64,
    errors: AtomicU64,
    cold_starts: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            invocations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cold_starts: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Tally {
    /// `took`: instantiate + run (REPORT's Duration); `loaded`: the code had to be loaded.
    pub fn record(&self, took: Duration, error: bool, loaded: bool) {
        self.invocations.fetch_add(1, Relaxed);
        if error {
            self.errors.fetch_add(1, Relaxed);
        }
        if loaded {
            self.cold_starts.fetch_add(1, Relaxed);
        }
        self.latency[bucket(took)].fetch_add(1, Relaxed);
    }

    pub fn add_to(&self, sum: &mut TallySum) {
        sum.invocations += self.invocations.load(Relaxed);
        sum.errors += self.errors.load(Relaxed);
        sum.cold_starts += self.cold_starts.load(Relaxed);
        for (s, l) in sum.latency.iter_mut().zip(&self.latency) {
            *s += l.load(Relaxed);
        }
    }
}

/// Tallies added up (several label sets: a stage's aliases, a version's stages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallySum {
    pub invocations: u64,
    pub errors: u64,
    pub cold_starts: u64,
    pub latency: [u64; LATENCY_BUCKETS],
}

impl Default for TallySum {
    fn default() -> Self {
        TallySum { invocations: 0, errors: 0, cold_starts: 0, latency: [0; LATENCY_BUCKETS] }
    }
}

/// A [`TallySum`] as the stats endpoint writes it: the histogram sparse, `[[bucket,
/// count], …]` for the buckets that have counts.
#[derive(Serialize)]
pub struct TallyView {
    pub invocations: u64,
    pub errors: u64,
    pub cold_starts: u64,
    pub latency: Vec<(usize, u64)>,
}

impl From<&TallySum> for TallyView {
    fn from(s: &TallySum) -> Self {
        TallyView {
            invocations: s.invocations,
            errors: s.errors,
            cold_starts: s.cold_starts,
            latency: s.latency.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (i, *c)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_durations_up_to_their_bound() {
        let bounds = bounds_ms();
        assert_eq!(bounds.len(), LATENCY_BUCKETS);
        assert_eq!(bounds[LATENCY_BUCKETS - 1], None);
        for (i, b) in bounds.iter().enumerate().take(LATENCY_BUCKETS - 1) {
            let b = b.unwrap();
            let at = Duration::from_secs_f64(b / 1000.0 * 0.999);
            assert_eq!(bucket(at), i, "just under bound {b} ms");
            let over = Duration::from_secs_f64(b / 1000.0 * 1.01);
            assert_eq!(bucket(over), i + 1, "just over bound {b} ms");
        }
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(Duration::from_secs(3600)), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn sums_and_sparse_view() {
        let t = Tally::default();
        t.record(Duration::from_micros(5), false, true);
        t.record(Duration::from_millis(2), true, false);
        let mut s = TallySum::default();
        t.add_to(&mut s);
        t.add_to(&mut s);
        assert_eq!((s.invocations, s.errors, s.cold_starts), (4, 2, 2));
        let v = TallyView::from(&s);
        assert_eq!(v.latency, vec![(0, 2), (bucket(Duration::from_millis(2)), 2)]);
    }
}
