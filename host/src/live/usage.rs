//! What each priority class and each stage uses of the host: instances running now,
//! invocations, refusals for capacity (stage `max_concurrency`, development's share of
//! the pool), time spent waiting for a worker before the guest started, CPU time and
//! yields. Atomics behind `Arc`s: a stage's counters are handed to its snapshot when it
//! is built (and outlive rebuilds), so recording is a few relaxed adds with no lookup.
//! An invocation touches ONE set of counters — its stage's, or for a direct invoke its
//! class's — so the hot path pays no second contended cache line; a class's figures are
//! summed when read (its direct invokes plus the stages now in that class). Read by
//! `GET /v1/runtime` and exported to `/metrics`.

use super::{Renewable, Renewal};
use crate::model::stage::PriorityClass;
use crate::observe::metrics::Metrics;
use crate::runtime::Timing;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct Usage {
    running: AtomicU32,
    invocations: AtomicU64,
    refused: AtomicU64,
    queue_wait_ns: AtomicU64,
    cpu_ns: AtomicU64,
    yields: AtomicU64,
}

/// One running invocation counted in a [`Usage`]; dropping it ends it.
pub struct Running<'a>(&'a Usage);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Relaxed);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Usage {
    /// Counts one more running invocation, unless `limit` are running already.
    pub fn enter(&self, limit: Option<u32>) -> Option<Running<'_>> {
        let max = limit.unwrap_or(u32::MAX);
        self.running.fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1)).ok().map(|_| Running(self))
    }

    /// An invocation refused for capacity (429).
    pub fn refuse(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// An invocation that ran: it waited `queue_wait` for a worker before it started.
    /// (Zeros are not added: a production request has no wait and rarely yields.)
    pub fn finish(&self, queue_wait: Duration, timing: &Timing) {
        self.invocations.fetch_add(1, Relaxed);
        self.cpu_ns.fetch_add(nanos(timing.cpu), Relaxed);
        let waited = nanos(queue_wait);
        if waited > 0 {
            self.queue_wait_ns.fetch_add(waited, Relaxed);
        }
        if timing.yields > 0 {
            self.yields.fetch_add(timing.yields.into(), Relaxed);
        }
    }

    /// Adds `other`'s counters into this one (for a class's totals).
    fn add(&self, other: &Usage) {
        for (a, b) in [
            (&self.invocations, &other.invocations),
            (&self.refused, &other.refused),
            (&self.queue_wait_ns, &other.queue_wait_ns),
            (&self.cpu_ns, &other.cpu_ns),
            (&self.yields, &other.yields),
        ] {
            a.fetch_add(b.load(Relaxed), Relaxed);
        }
        self.running.fetch_add(other.running(), Relaxed);
    }

    pub fn running(&self) -> u32 {
        self.running.load(Relaxed)
    }

    pub fn view(&self) -> Value {
        let secs = |a: &AtomicU64| a.load(Relaxed) as f64 / 1e9;
        json!({
            "running": self.running(),
            "invocations": self.invocations.load(Relaxed),
            "refused": self.refused.load(Relaxed),
            "queue_wait_seconds": secs(&self.queue_wait_ns),
            "cpu_seconds": secs(&self.cpu_ns),
            "yields": self.yields.load(Relaxed),
        })
    }

    /// Sets this usage's series (`{prefix}_running_instances`, …) in `metrics`.
    fn export(&self, metrics: &Metrics, prefix: &str, labels: &[(&'static str, String)]) {
        // Prometheus counters are integers here: durations are exported in microseconds.
        let micros = |a: &AtomicU64| a.load(Relaxed) / 1000;
        metrics.gauge(format!("{prefix}_running_instances"), labels, f64::from(self.running()));
        metrics.counter_absolute(format!("{prefix}_invocations_total"), labels, self.invocations.load(Relaxed));
        metrics.counter_absolute(format!("{prefix}_capacity_refusals_total"), labels, self.refused.load(Relaxed));
        metrics.counter_absolute(
            format!("{prefix}_queue_wait_microseconds_total"),
            labels,
            micros(&self.queue_wait_ns),
        );
        metrics.counter_absolute(format!("{prefix}_cpu_microseconds_total"), labels, micros(&self.cpu_ns));
        metrics.counter_absolute(format!("{prefix}_yields_total"), labels, self.yields.load(Relaxed));
    }
}

/// A stage's usage with its settings: the class it runs in and its concurrency limit.
#[derive(Clone)]
pub struct StageCapacity {
    pub class: PriorityClass,
    pub max_concurrency: Option<u32>,
    pub usage: Arc<Usage>,
}

/// (api, stage) → the stage's capacity.
type Key = (String, String);

/// Usage per class and per stage, outliving snapshot rebuilds.
#[derive(Default)]
pub struct UsageBoard {
    /// Direct invokes, per class (they have no stage).
    direct: [Usage; 2],
    stages: Renewable<Key, StageCapacity>,
}

impl UsageBoard {
    /// The counters of direct invokes in `class`.
    pub fn direct(&self, class: PriorityClass) -> &Usage {
        &self.direct[class.index()]
    }

    /// A class's totals: its direct invokes and the stages now in it.
    pub fn class_totals(&self) -> [Usage; 2] {
        let totals: [Usage; 2] = Default::default();
        for c in PriorityClass::ALL {
            totals[c.index()].add(self.direct(c));
        }
        for s in self.stages.lock().values() {
            totals[s.class.index()].add(&s.usage);
        }
        totals
    }

    /// Starts handing out stage counters for a new snapshot; those of removed stages are
    /// dropped when the renewal ends.
    pub fn renew(&self) -> Renewal<'_, Key, StageCapacity> {
        self.stages.renew()
    }

    /// [`Self::renew`] for the stages of `apis`.
    pub fn renew_where_api(&self, apis: &std::collections::BTreeSet<String>) -> Renewal<'_, Key, StageCapacity> {
        self.stages.renew_where(|k| apis.contains(&k.0))
    }

    /// `{classes: {production: {...}, development: {...}}, stages: [...]}`.
    pub fn view(&self) -> Value {
        let totals = self.class_totals();
        let classes: serde_json::Map<String, Value> =
            PriorityClass::ALL.iter().map(|c| (c.as_str().to_string(), totals[c.index()].view())).collect();
        let mut stages: Vec<(&Key, &StageCapacity)> = Vec::new();
        let guard = self.stages.lock();
        stages.extend(guard.iter());
        stages.sort_by(|a, b| a.0.cmp(b.0));
        let stages: Vec<Value> = stages
            .into_iter()
            .map(|((api, stage), c)| {
                let mut v = c.usage.view();
                if let Value::Object(m) = &mut v {
                    m.insert("api_id".into(), json!(api));
                    m.insert("stage".into(), json!(stage));
                    m.insert("class".into(), json!(c.class.as_str()));
                    m.insert("max_concurrency".into(), json!(c.max_concurrency));
                }
                v
            })
            .collect();
        json!({ "classes": classes, "stages": stages })
    }

    /// Sets the `waygate_class_*` and `waygate_stage_*` series in `metrics` (at scrape).
    pub fn export(&self, metrics: &Metrics) {
        let totals = self.class_totals();
        for c in PriorityClass::ALL {
            totals[c.index()].export(metrics, "waygate_class", &[("class", c.as_str().to_string())]);
        }
        for ((api, stage), c) in self.stages.lock().iter() {
            let labels = [("api", api.clone()), ("stage", stage.clone()), ("class", c.class.as_str().to_string())];
            c.usage.export(metrics, "waygate_stage", &labels);
        }
    }
}

impl Renewal<'_, Key, StageCapacity> {
    /// The stage's capacity under its current settings; its counters carry over.
    pub fn stage(
        &mut self,
        api: &str,
        stage: &str,
        class: PriorityClass,
        max_concurrency: Option<u32>,
    ) -> StageCapacity {
        self.carry((api.to_string(), stage.to_string()), |previous| StageCapacity {
            class,
            max_concurrency,
            usage: previous.map(|c| c.usage).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_running_and_counters_survive_renewal() {
        let board = UsageBoard::default();
        let c = board.renew().stage("a", "dev", PriorityClass::Development, Some(1));
        let first = c.usage.enter(c.max_concurrency);
        assert!(first.is_some());
        assert!(c.usage.enter(c.max_concurrency).is_none(), "over the stage limit");
        let t = Timing { cpu: Duration::from_millis(3), yields: 2, ..Timing::default() };
        c.usage.finish(Duration::from_millis(1), &t);
        let again = board.renew().stage("a", "dev", PriorityClass::Development, None);
        assert_eq!(again.usage.running(), 1, "a rebuild keeps the count");
        drop(first);
        assert_eq!(again.usage.running(), 0);
        let v = board.view();
        assert_eq!(v["stages"][0]["yields"], 2);
        assert_eq!(v["stages"][0]["invocations"], 1);
        assert_eq!(v["stages"][0]["cpu_seconds"], 0.003);
        assert_eq!(v["classes"]["development"]["running"], 0);
        assert_eq!(v["classes"]["development"]["invocations"], 1, "a class sums its stages");
        board.direct(PriorityClass::Development).finish(Duration::ZERO, &t);
        assert_eq!(board.view()["classes"]["development"]["invocations"], 2, "…and its direct invokes");
        board.renew();
        assert_eq!(board.view()["stages"].as_array().map(Vec::len), Some(0), "removed stages go");
    }
}
