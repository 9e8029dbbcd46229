//! Prometheus metrics (`GET /metrics` on the admin listener), through the `metrics` facade
//! and `metrics-exporter-prometheus`. The recorder is owned by the platform (not installed
//! globally) so several servers in one process (the tests) keep separate counts.
//!
//! Cardinality is bounded by construction: every label value comes from a configured
//! resource (function name, version number, alias, API id, stage name), a boolean
//! (canary) or a fixed set (error type). Nothing from a request (path, query, request id,
//! client) ever becomes a label.

use super::InvocationRecord;
use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub const INVOCATIONS: &str = "waygate_invocations_total";
pub const ERRORS: &str = "waygate_errors_total";
pub const THROTTLES: &str = "waygate_throttles_total";
pub const STAGE_THROTTLES: &str = "waygate_stage_throttles_total";
pub const CACHE_HITS: &str = "waygate_cache_hits_total";
pub const CACHE_MISSES: &str = "waygate_cache_misses_total";
pub const LOADS: &str = "waygate_loads_total";
pub const DURATION: &str = "waygate_invocation_duration_seconds";
pub const INSTANTIATE: &str = "waygate_instantiate_duration_seconds";
pub const LOAD_DURATION: &str = "waygate_load_duration_seconds";
pub const BACKEND_REQUESTS: &str = "waygate_backend_requests_total";
pub const BACKEND_DURATION: &str = "waygate_backend_duration_seconds";

/// Seconds; from 10 µs (a warm instantiate) to 10 s.
const BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// The labels of one invocation. Empty strings for what does not apply (no alias, direct
/// invoke has no API or stage).
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub function: &'a str,
    pub version: &'a str,
    pub alias: &'a str,
    pub api: &'a str,
    pub stage: &'a str,
    pub canary: bool,
}

impl Labels<'_> {
    fn to_vec(self) -> Vec<Label> {
        vec![
            Label::new("function", self.function.to_string()),
            Label::new("version", self.version.to_string()),
            Label::new("alias", self.alias.to_string()),
            Label::new("api", self.api.to_string()),
            Label::new("stage", self.stage.to_string()),
            Label::new("canary", if self.canary { "true" } else { "false" }),
        ]
    }

    fn cache_key(&self) -> String {
        let c = if self.canary { "1" } else { "0" };
        [self.function, self.version, self.alias, self.api, self.stage, c].join("\u{1f}")
    }
}

/// [`Labels`], owned: what a [`Metrics::tallies`] row is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedLabels {
    pub function: String,
    pub version: String,
    pub alias: String,
    pub api: String,
    pub stage: String,
    pub canary: bool,
}

/// The handles every invocation of one label set touches, registered once.
struct Hot {
    labels: OwnedLabels,
    tally: super::tally::Tally,
    invocations: Counter,
    duration: Histogram,
    instantiate: Histogram,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    hot: RwLock<HashMap<String, Arc<Hot>>>,
}

static META: Metadata<'static> = Metadata::new("waygate", Level::INFO, Some(module_path!()));

impl Metrics {
    pub fn new() -> Arc<Self> {
        let builder = PrometheusBuilder::new();
        let builder = [DURATION, INSTANTIATE, LOAD_DURATION, BACKEND_DURATION].iter().fold(builder, |b, name| {
            b.set_buckets_for_metric(Matcher::Full(name.to_string()), BUCKETS).expect("static, non-empty bucket list")
            // constant input, cannot fail
        });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        for (name, help) in [
            (INVOCATIONS, "Invocations that ran (fresh instance each)"),
            (ERRORS, "Failed requests by error type (function errors and gateway errors)"),
            (
                THROTTLES,
                "Invocations refused with 429: instance pool, development share, reserved concurrency or stage max_concurrency",
            ),
            (STAGE_THROTTLES, "Gateway requests refused with 429 by a stage or route throttle (token bucket)"),
            (CACHE_HITS, "Stage cache hits"),
            (CACHE_MISSES, "Stage cache misses"),
            (LOADS, "Cold starts: invocations that had to load (verify + deserialize + pre-link) the code"),
            (
                BACKEND_REQUESTS,
                "HTTP proxy integration requests by outcome (ok, timeout, error: unreachable, refused, broken or too large)",
            ),
        ] {
            recorder.describe_counter(name.into(), None, help.into());
        }
        for (name, help) in [
            (DURATION, "Instantiate + run, as REPORT's Duration"),
            (INSTANTIATE, "Instantiation of the fresh instance"),
            (LOAD_DURATION, "Loading the code (REPORT's Init Duration)"),
            (
                BACKEND_DURATION,
                "HTTP proxy integrations: until the backend's response head (the whole body when cached)",
            ),
        ] {
            recorder.describe_histogram(name.into(), Some(metrics::Unit::Seconds), help.into());
        }
        let m = Arc::new(Metrics { recorder, handle, hot: RwLock::new(HashMap::new()) });
        spawn_upkeep(Arc::downgrade(&m));
        m
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder.register_counter(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder.register_histogram(&Key::from_parts(name, labels), &META)
    }

    fn hot(&self, labels: Labels<'_>) -> Arc<Hot> {
        let key = labels.cache_key();
        if let Some(h) = self.hot.read().get(&key) {
            return h.clone();
        }
        let v = labels.to_vec();
        let hot = Arc::new(Hot {
            labels: OwnedLabels {
                function: labels.function.to_string(),
                version: labels.version.to_string(),
                alias: labels.alias.to_string(),
                api: labels.api.to_string(),
                stage: labels.stage.to_string(),
                canary: labels.canary,
            },
            tally: super::tally::Tally::default(),
            invocations: self.counter(INVOCATIONS, v.clone()),
            duration: self.histogram(DURATION, v.clone()),
            instantiate: self.histogram(INSTANTIATE, v),
        });
        self.hot.write().entry(key).or_insert(hot).clone()
    }

    pub(super) fn invocation(&self, rec: &InvocationRecord<'_>) {
        let labels = rec.labels();
        let t = &rec.outcome.timing;
        let hot = self.hot(labels);
        hot.invocations.increment(1);
        hot.duration.record((t.instantiate + t.run).as_secs_f64());
        hot.instantiate.record(t.instantiate.as_secs_f64());
        hot.tally.record(t.instantiate + t.run, rec.outcome.error.is_some(), t.load.is_some());
        if let Some(load) = t.load {
            self.counter(LOADS, labels.to_vec()).increment(1);
            self.histogram(LOAD_DURATION, labels.to_vec()).record(load.as_secs_f64());
        }
        if let Some(e) = &rec.outcome.error {
            self.error(labels, &e.error_type);
        }
    }

    /// A failed request. `error_type` must come from a fixed set (Lambda's function error
    /// types, the gateway's error kinds), never from request data.
    pub fn error(&self, labels: Labels<'_>, error_type: &str) {
        let mut v = labels.to_vec();
        v.push(Label::new("type", error_type.to_string()));
        self.counter(ERRORS, v).increment(1);
    }

    pub fn throttle(&self, labels: Labels<'_>) {
        self.counter(THROTTLES, labels.to_vec()).increment(1);
    }

    /// A gateway request refused by a stage or route throttle.
    pub fn stage_throttle(&self, api: &str, stage: &str) {
        self.counter(STAGE_THROTTLES, vec![Label::new("api", api.to_string()), Label::new("stage", stage.to_string())])
            .increment(1);
    }

    /// For the stage cache: one hit.
    pub fn cache_hit(&self, api: &str, stage: &str) {
        self.counter(CACHE_HITS, vec![Label::new("api", api.to_string()), Label::new("stage", stage.to_string())])
            .increment(1);
    }

    /// For the stage cache: one miss.
    pub fn cache_miss(&self, api: &str, stage: &str) {
        self.counter(CACHE_MISSES, vec![Label::new("api", api.to_string()), Label::new("stage", stage.to_string())])
            .increment(1);
    }

    /// One HTTP proxy integration request; `outcome` is `ok`, `timeout` or `error`.
    pub fn backend(&self, api: &str, stage: &str, canary: bool, outcome: &'static str, took: Duration) {
        let labels = vec![
            Label::new("api", api.to_string()),
            Label::new("stage", stage.to_string()),
            Label::new("canary", if canary { "true" } else { "false" }),
        ];
        let mut with_outcome = labels.clone();
        with_outcome.push(Label::new("outcome", outcome));
        self.counter(BACKEND_REQUESTS, with_outcome).increment(1);
        if outcome == "ok" {
            self.histogram(BACKEND_DURATION, labels).record(took.as_secs_f64());
        }
    }

    /// Sets a gauge (values kept elsewhere and exported at scrape, e.g. `live::usage`).
    /// Label values must come from configured resources or fixed sets.
    pub fn gauge(&self, name: String, labels: &[(&'static str, String)], value: f64) {
        let labels = labels.iter().map(|(k, v)| Label::new(*k, v.clone())).collect::<Vec<_>>();
        self.recorder.register_gauge(&Key::from_parts(name, labels), &META).set(value);
    }

    /// Sets a counter to a total kept elsewhere (exported at scrape).
    pub fn counter_absolute(&self, name: String, labels: &[(&'static str, String)], value: u64) {
        let labels = labels.iter().map(|(k, v)| Label::new(*k, v.clone())).collect::<Vec<_>>();
        self.recorder.register_counter(&Key::from_parts(name, labels), &META).absolute(value);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Every label set's tally so far, with `f` choosing (and grouping) the rows: rows
    /// for which it returns the same key are added up.
    pub fn tallies<K: Ord>(
        &self,
        mut f: impl FnMut(&OwnedLabels) -> Option<K>,
    ) -> std::collections::BTreeMap<K, super::tally::TallySum> {
        let mut out = std::collections::BTreeMap::new();
        for hot in self.hot.read().values() {
            if let Some(k) = f(&hot.labels) {
                hot.tally.add_to(out.entry(k).or_default());
            }
        }
        out
    }
}

/// Histogram samples queue up between drains; without a periodic drain an unscraped
/// server would grow them without bound. The thread ends with the metrics.
fn spawn_upkeep(m: Weak<Metrics>) {
    let spawned = std::thread::Builder::new().name("waygate-metrics".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(5));
        match m.upgrade() {
            Some(m) => m.handle.run_upkeep(),
            None => return,
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms drain only when scraped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_series() {
        let m = Metrics::new();
        let l = Labels { function: "f", version: "2", alias: "live", api: "a1", stage: "prod", canary: true };
        m.throttle(l);
        m.error(l, "Runtime.Trap");
        m.cache_hit("a1", "prod");
        m.stage_throttle("a1", "dev");
        let text = m.render();
        assert!(
            text.contains(
                r#"waygate_throttles_total{function="f",version="2",alias="live",api="a1",stage="prod",canary="true"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"type="Runtime.Trap"} 1"#), "{text}");
        assert!(text.contains(r#"waygate_cache_hits_total{api="a1",stage="prod"} 1"#), "{text}");
        assert!(text.contains(r#"waygate_stage_throttles_total{api="a1",stage="dev"} 1"#), "{text}");
    }
}
