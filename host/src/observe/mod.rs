//! What an invocation tells the outside: the per-invocation [`InvocationRecord`] feeds the
//! Lambda-shaped START / stderr / END / REPORT lines (tracing + the per-function [`logs`]
//! ring buffer), the Prometheus [`metrics`], and the `server-timing` header value.

pub mod logs;
pub mod metrics;

pub mod stage_metrics;
pub mod tally;

use crate::runtime::Outcome;
use std::fmt::Write;
use std::time::Duration;

pub use logs::{LogBook, LogEvent};
pub use metrics::{Labels, Metrics};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A duration as `server-timing` writes it: milliseconds with three decimals (`0.042`),
/// rounded to the microsecond. Integer arithmetic: no float formatting per request.
pub struct Ms(pub Duration);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = self.0.as_nanos().saturating_add(500) / 1000;
        write!(f, "{}.{:03}", us / 1000, us % 1000)
    }
}

/// Everything known about one finished invocation.
pub struct InvocationRecord<'a> {
    pub function: &'a str,
    /// `$LATEST` or the version number that ran.
    pub executed_version: &'a str,
    /// As the caller named it: `$LATEST`, `7` or an alias name.
    pub qualifier: &'a str,
    pub alias: Option<&'a str>,
    pub api: Option<&'a str>,
    pub stage: Option<&'a str>,
    /// True when a stage canary served this request.
    pub canary: bool,
    pub request_id: &'a str,
    pub memory_mb: u32,
    pub outcome: &'a Outcome,
    /// The configuration versions it was given (`/config`).
    pub config: &'a [std::sync::Arc<crate::model::appconfig::ConfigFile>],
}

impl InvocationRecord<'_> {
    /// The metric labels of this invocation (all from configured resources).
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            function: self.function,
            version: self.executed_version,
            alias: self.alias.unwrap_or(""),
            api: self.api.unwrap_or(""),
            stage: self.stage.unwrap_or(""),
            canary: self.canary,
        }
    }
}

/// The process's observability sinks: per-function log buffers and metrics.
pub struct Observer {
    pub logs: LogBook,
    pub metrics: std::sync::Arc<Metrics>,
}

impl Observer {
    /// `log_lines`: events kept per function (the ring buffer's size).
    pub fn new(log_lines: usize) -> Self {
        Observer { logs: LogBook::new(log_lines), metrics: Metrics::new() }
    }

    /// Records a finished invocation: log lines and metrics.
    pub fn record(&self, rec: &InvocationRecord<'_>) {
        let lines = lines(rec);
        // Rendered to text here only when a subscriber wants them (the ring buffer keeps
        // them unrendered until read).
        if tracing::enabled!(target: "waygate::function", tracing::Level::INFO) {
            for line in &lines {
                let line = line.render(rec.request_id, rec.executed_version);
                tracing::info!(target: "waygate::function", function = rec.function, "{line}");
            }
        }
        self.logs.push(rec, lines);
        self.metrics.invocation(rec);
    }
}

/// `server-timing` value. `route` when the caller resolved a route (gateway) or a
/// qualifier (direct invoke); `load` only when this request loaded the code.
pub fn server_timing(route: Option<Duration>, outcome: &Outcome, total: Duration) -> String {
    let t = &outcome.timing;
    let mut s = String::with_capacity(112);
    if let Some(route) = route {
        let _ = write!(s, "route;dur={}, ", Ms(route));
    }
    if let Some(load) = t.load {
        let _ = write!(s, "load;dur={}, ", Ms(load));
    }
    let _ = write!(s, "instantiate;dur={}, run;dur={}, ", Ms(t.instantiate), Ms(t.run));
    // Part of `run`: the function waiting for its outbound requests' responses.
    if t.outbound.requests > 0 {
        let _ = write!(s, "outbound;dur={}, ", Ms(t.outbound.waited));
    }
    let _ = write!(s, "total;dur={}", Ms(total));
    s
}

/// Lambda's billed duration: the duration rounded up to the next millisecond.
pub fn billed_ms(duration: Duration) -> u64 {
    duration.as_millis() as u64 + u64::from(!duration.subsec_nanos().is_multiple_of(1_000_000))
}

/// One log event of an invocation, kept unrendered: the ring buffer holds these, and
/// [`Line::render`] writes the text only when someone reads it (most lines never are).
#[derive(Debug, Clone)]
pub enum Line {
    Start,
    /// A line the guest wrote to stderr.
    Stderr(String),
    /// Marks that the rest of the guest's stderr was dropped.
    Truncated,
    End,
    Report(Report),
}

/// REPORT's figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub duration: Duration,
    pub memory_mb: u32,
    pub used_mb: usize,
    /// Init Duration: only when this request loaded the code.
    pub init: Option<Duration>,
    /// Outbound HTTP requests made, and the time spent waiting for their responses.
    pub outbound: crate::runtime::outbound::OutboundUse,
    /// The configuration versions it was given: `shop/flags=2` (empty: none).
    pub config: String,
}

impl Line {
    /// The line in Lambda's format (START / END / REPORT).
    pub fn render(&self, request_id: &str, version: &str) -> String {
        match self {
            Line::Start => format!("START RequestId: {request_id} Version: {version}"),
            Line::Stderr(s) => s.clone(),
            Line::Truncated => format!(
                "[waygate] RequestId: {request_id} log truncated: the rest of this invocation's stderr was dropped"
            ),
            Line::End => format!("END RequestId: {request_id}"),
            Line::Report(r) => {
                let mut report = format!(
                    "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
                    ms(r.duration),
                    billed_ms(r.duration),
                    r.memory_mb,
                    r.used_mb,
                );
                if let Some(load) = r.init {
                    let _ = write!(report, "\tInit Duration: {:.2} ms", ms(load));
                }
                if r.outbound.requests > 0 {
                    let _ = write!(
                        report,
                        "\tOutbound Requests: {}\tOutbound Duration: {:.2} ms\tOutbound Bytes: {}",
                        r.outbound.requests,
                        ms(r.outbound.waited),
                        r.outbound.bytes
                    );
                }
                if !r.config.is_empty() {
                    let _ = write!(report, "\tConfig: {}", r.config);
                }
                report
            }
        }
    }
}

/// The invocation's log events: START with the executed version, the guest's stderr
/// lines, END, REPORT (Init Duration only when this request loaded the code).
pub fn lines(rec: &InvocationRecord<'_>) -> Vec<Line> {
    let o = rec.outcome;
    let t = &o.timing;
    let mut lines = Vec::with_capacity(3);
    lines.push(Line::Start);
    if !o.logs.is_empty() {
        lines.extend(String::from_utf8_lossy(&o.logs).lines().map(|l| Line::Stderr(l.to_string())));
    }
    if o.logs_truncated {
        lines.push(Line::Truncated);
    }
    lines.push(Line::End);
    lines.push(Line::Report(Report {
        duration: t.instantiate + t.run,
        memory_mb: rec.memory_mb,
        used_mb: o.max_memory_bytes.div_ceil(1 << 20),
        init: t.load,
        outbound: t.outbound,
        config: crate::model::appconfig::describe(rec.config),
    }));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Timing;
    use bytes::Bytes;

    /// The invocation's log lines as text ([`lines`], rendered).
    fn log_lines(rec: &InvocationRecord<'_>) -> Vec<String> {
        lines(rec).iter().map(|l| l.render(rec.request_id, rec.executed_version)).collect()
    }

    fn outcome(load: Option<Duration>, logs: &str) -> Outcome {
        Outcome {
            logs: Bytes::from(logs.to_string()),
            timing: Timing {
                load,
                instantiate: Duration::from_micros(10),
                run: Duration::from_micros(1_490),
                ..Timing::default()
            },
            max_memory_bytes: (1 << 20) + 1,
            ..Outcome::empty()
        }
    }

    fn record(o: &Outcome) -> InvocationRecord<'_> {
        InvocationRecord {
            function: "f",
            executed_version: "3",
            qualifier: "live",
            alias: Some("live"),
            api: None,
            stage: None,
            canary: false,
            request_id: "r1",
            memory_mb: 128,
            outcome: o,
            config: &[],
        }
    }

    #[test]
    fn lines_follow_lambda_format() {
        let o = outcome(None, "hello\nworld\n");
        let lines = log_lines(&record(&o));
        assert_eq!(lines[0], "START RequestId: r1 Version: 3");
        assert_eq!(&lines[1..3], ["hello", "world"]);
        assert_eq!(lines[3], "END RequestId: r1");
        assert_eq!(
            lines[4],
            "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 2 MB"
        );
        let o = outcome(Some(Duration::from_micros(120)), "");
        let lines = log_lines(&record(&o));
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with("\tInit Duration: 0.12 ms"), "{}", lines[2]);
    }

    #[test]
    fn ms_has_three_decimals_rounded_to_the_microsecond() {
        assert_eq!(Ms(Duration::from_nanos(5_499)).to_string(), "0.005");
        assert_eq!(Ms(Duration::from_nanos(5_500)).to_string(), "0.006");
        assert_eq!(Ms(Duration::from_micros(12_345_678)).to_string(), "12345.678");
        assert_eq!(Ms(Duration::ZERO).to_string(), "0.000");
    }

    #[test]
    fn billed_rounds_up() {
        assert_eq!(billed_ms(Duration::from_millis(3)), 3);
        assert_eq!(billed_ms(Duration::from_micros(3_001)), 4);
        assert_eq!(billed_ms(Duration::ZERO), 0);
    }

    #[test]
    fn timing_has_load_only_when_loaded() {
        let o = outcome(None, "");
        let s = server_timing(Some(Duration::from_micros(5)), &o, Duration::from_millis(2));
        assert_eq!(s, "route;dur=0.005, instantiate;dur=0.010, run;dur=1.490, total;dur=2.000");
        let o = outcome(Some(Duration::from_micros(100)), "");
        assert!(server_timing(None, &o, Duration::from_millis(2)).starts_with("load;dur=0.100, instantiate"));
    }
}
