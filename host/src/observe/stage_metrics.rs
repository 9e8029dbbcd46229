//! Per-stage request counters, kept apart for the stage's main deployment and its canary
//! (API Gateway gives a canary its own metrics). Atomics behind an `Arc` in each side of
//! the stage snapshot: recording is a few relaxed adds, no lock, no lookup.

use crate::live::{Renewable, Renewal};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Default)]
pub struct SideCounters {
    requests: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    throttled: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
}

impl SideCounters {
    /// `cache`: the `x-waygate-cache` value, if any.
    pub fn record(&self, status: u16, cache: Option<&[u8]>) {
        self.requests.fetch_add(1, Relaxed);
        match cache {
            Some(b"hit") => self.cache_hits.fetch_add(1, Relaxed),
            Some(b"miss") | Some(b"invalidated") => self.cache_misses.fetch_add(1, Relaxed),
            _ => 0,
        };
        match status {
            429 => self.throttled.fetch_add(1, Relaxed),
            400..=499 => self.client_errors.fetch_add(1, Relaxed),
            500..=599 => self.server_errors.fetch_add(1, Relaxed),
            _ => 0,
        };
    }

    pub fn view(&self) -> Value {
        json!(self.read())
    }

    /// The counters now.
    pub fn read(&self) -> SideView {
        SideView {
            requests: self.requests.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            cache_misses: self.cache_misses.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            client_errors: self.client_errors.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
        }
    }
}

/// One stage side's counters as read at one moment.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SideView {
    pub requests: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub throttled: u64,
    pub client_errors: u64,
    pub server_errors: u64,
}

/// (api, stage, is canary) → counters.
type Key = (String, String, bool);

/// Counters of every stage side, outliving snapshot rebuilds; those of removed stages (or
/// canaries) are dropped when a rebuild's renewal ends.
#[derive(Default)]
pub struct StageMetrics(Renewable<Key, Arc<SideCounters>>);

impl StageMetrics {
    pub fn renew(&self) -> Renewal<'_, Key, Arc<SideCounters>> {
        self.0.renew()
    }

    /// [`Self::renew`] for the stages of `apis`.
    pub fn renew_where_api(&self, apis: &std::collections::BTreeSet<String>) -> Renewal<'_, Key, Arc<SideCounters>> {
        self.0.renew_where(|k| apis.contains(&k.0))
    }

    /// The counters of every stage side `keep(api, stage)` accepts: (API id, stage,
    /// canary, the counters), in key order.
    pub fn all(&self, mut keep: impl FnMut(&str, &str) -> bool) -> Vec<(String, String, bool, SideView)> {
        let m = self.0.lock();
        let mut v: Vec<_> = m
            .iter()
            .filter(|((a, s, _), _)| keep(a, s))
            .map(|((a, s, c), counters)| (a.clone(), s.clone(), *c, counters.read()))
            .collect();
        v.sort_by(|x, y| (&x.0, &x.1, x.2).cmp(&(&y.0, &y.1, y.2)));
        v
    }

    /// `{stage: {...}, canary: {...} | null}`.
    pub fn view(&self, api: &str, stage: &str) -> Value {
        let m = self.0.lock();
        let side = |canary| m.get(&(api.to_string(), stage.to_string(), canary)).map(|c| c.view());
        json!({ "stage": side(false).unwrap_or_else(|| SideCounters::default().view()), "canary": side(true) })
    }
}

impl Renewal<'_, Key, Arc<SideCounters>> {
    pub fn counters(&mut self, api: &str, stage: &str, canary: bool) -> Arc<SideCounters> {
        self.carry((api.to_string(), stage.to_string(), canary), Option::unwrap_or_default)
    }
}
