//! Pieces every benchmark shares: sizes from the environment and a latency histogram
//! with the run's wall time. (Each bench uses part of it.)
#![allow(dead_code)]

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// `BENCH_*` overrides of a benchmark's size.
pub fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

/// Latencies in ns and the wall time they were recorded over.
pub struct Stats {
    pub hist: Histogram<u64>,
    pub elapsed: Duration,
}

impl Stats {
    pub fn new() -> Self {
        Stats { hist: hist(), elapsed: Duration::ZERO }
    }
    pub fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
    pub fn rps(&self) -> f64 {
        self.hist.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// A latency histogram in ns, 1 ns to 60 s, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("constant, valid bounds")
}

/// Merges the histograms of concurrent client tasks into one run's statistics.
pub async fn join(tasks: Vec<tokio::task::JoinHandle<Histogram<u64>>>, started: Instant) -> Stats {
    let mut stats = Stats::new();
    for t in tasks {
        stats.hist.add(t.await.expect("task")).ok();
    }
    stats.elapsed = started.elapsed();
    stats
}
