//! Sliding windows of a function's invocations in one environment — count, errors and a
//! latency histogram per second — for configuration deployments' monitors
//! ([`crate::model::appconfig::Monitor`]). Only (function, environment) pairs that some
//! environment's monitors name get one: the snapshot hands them out
//! ([`Windows`] is a [`super::Renewable`]), an invocation records into its pair's window
//! if it has one, and the rollout task reads them.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest window a monitor may use, seconds (one bucket per second).
pub const MAX_WINDOW_S: u64 = 300;
/// Latency buckets: bucket `i` holds durations up to `FIRST_BOUND_MS · √2^i`; the last
/// holds everything longer (≈ 37 s and up).
const LATENCY_BUCKETS: usize = 40;
const FIRST_BOUND_MS: f64 = 0.05;

#[derive(Clone, Copy)]
struct Second {
    at: u64,
    invocations: u32,
    errors: u32,
    latency: [u32; LATENCY_BUCKETS],
}

const EMPTY: Second = Second { at: 0, invocations: 0, errors: 0, latency: [0; LATENCY_BUCKETS] };

/// One (function, environment)'s last [`MAX_WINDOW_S`] seconds.
pub struct Window(Mutex<Vec<Second>>);

impl Default for Window {
    fn default() -> Self {
        Window(Mutex::new(vec![EMPTY; MAX_WINDOW_S as usize]))
    }
}

/// What a window saw over some seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    pub invocations: u64,
    pub errors: u64,
    /// The 99th percentile latency's bucket bound (within a factor √2 above the true
    /// value), ms; 0 with no invocations.
    pub p99_ms: f64,
}

impl WindowStats {
    pub fn error_percent(&self) -> f64 {
        if self.invocations == 0 {
            0.0
        } else {
            self.errors as f64 * 100.0 / self.invocations as f64
        }
    }
}

fn bound_ms(i: usize) -> f64 {
    FIRST_BOUND_MS * std::f64::consts::SQRT_2.powi(i as i32)
}

fn bucket_of(d: Duration) -> usize {
    let ms = d.as_secs_f64() * 1000.0;
    (0..LATENCY_BUCKETS).find(|&i| ms <= bound_ms(i)).unwrap_or(LATENCY_BUCKETS - 1)
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Window {
    /// Records one invocation that took `took` and failed or not.
    pub fn record(&self, took: Duration, failed: bool) {
        self.record_at(now_s(), took, failed);
    }

    fn record_at(&self, at: u64, took: Duration, failed: bool) {
        let mut seconds = self.0.lock();
        let s = &mut seconds[(at % MAX_WINDOW_S) as usize];
        if s.at != at {
            *s = Second { at, ..EMPTY };
        }
        s.invocations += 1;
        s.errors += u32::from(failed);
        s.latency[bucket_of(took)] += 1;
    }

    /// The last `window_s` seconds (this one included), at most [`MAX_WINDOW_S`].
    pub fn stats(&self, window_s: u64) -> WindowStats {
        self.stats_at(now_s(), window_s)
    }

    fn stats_at(&self, now: u64, window_s: u64) -> WindowStats {
        let window_s = window_s.clamp(1, MAX_WINDOW_S);
        let seconds = self.0.lock();
        let mut latency = [0u64; LATENCY_BUCKETS];
        let (mut invocations, mut errors) = (0u64, 0u64);
        for s in seconds.iter().filter(|s| s.at + window_s > now && s.at <= now && s.invocations > 0) {
            invocations += u64::from(s.invocations);
            errors += u64::from(s.errors);
            for (sum, n) in latency.iter_mut().zip(s.latency) {
                *sum += u64::from(n);
            }
        }
        let mut p99_ms = 0.0;
        if invocations > 0 {
            // The smallest bucket bound with at least 99 % of the invocations at or below it.
            let need = (invocations * 99).div_ceil(100);
            let mut seen = 0;
            for (i, n) in latency.iter().enumerate() {
                seen += n;
                if seen >= need {
                    p99_ms = bound_ms(i);
                    break;
                }
            }
        }
        WindowStats { invocations, errors, p99_ms }
    }
}

/// The windows of the watched (function, environment) pairs.
pub type Windows = super::Renewable<(String, String), Arc<Window>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_and_p99_over_the_window_only() {
        let w = Window::default();
        for i in 0..98 {
            w.record_at(1000, Duration::from_millis(1), i % 7 == 0);
        }
        w.record_at(1001, Duration::from_millis(100), true);
        w.record_at(1001, Duration::from_millis(100), false);
        let s = w.stats_at(1001, 10);
        assert_eq!((s.invocations, s.errors), (100, 15));
        assert!((s.error_percent() - 15.0).abs() < 1e-9);
        assert!(s.p99_ms >= 100.0 && s.p99_ms < 142.0, "{s:?}");
        // The second before the window is out of it.
        let s = w.stats_at(1001, 1);
        assert_eq!((s.invocations, s.errors), (2, 1));
        // A second a full ring ago is forgotten, not double counted.
        w.record_at(1000 + MAX_WINDOW_S, Duration::from_millis(1), false);
        let s = w.stats_at(1000 + MAX_WINDOW_S, MAX_WINDOW_S);
        assert_eq!(s.invocations, 3, "{s:?}");
        assert_eq!(w.stats_at(5000, 10), WindowStats { invocations: 0, errors: 0, p99_ms: 0.0 });
    }
}
