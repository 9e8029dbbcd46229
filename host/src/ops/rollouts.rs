//! The rollout engine that configuration deployments and alias shifts share: where a
//! rollout stands at some time (state, percentage, the AWS-style event log) from its
//! start, its frozen strategy and how it ended — a pure function of the clock — and when
//! a monitor rule trips on the invocations it watched.

use crate::model::appconfig::{Monitor, Phase, Strategy};
use crate::store::appconfig::DeploymentEnd;

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentEvent {
    pub event_type: &'static str,
    pub at_ms: i64,
    pub description: String,
}

/// What the schedule needs of a deployment or an alias shift.
pub struct Rollout<'a> {
    pub strategy: &'a Strategy,
    pub started_at_ms: i64,
    pub end: DeploymentEnd,
    pub ended_at_ms: Option<i64>,
    pub reason: Option<&'a str>,
    /// The `DEPLOYMENT_STARTED` event's text.
    pub started: String,
    /// The `ROLLBACK_COMPLETED` event's text.
    pub rolled_back: &'static str,
}

/// A rollout's state (`DEPLOYING`, `BAKING`, `COMPLETE`, `ROLLED_BACK`), percentage and
/// event log at `now_ms`: the steps that are due by then (or by its end), as AWS lists
/// them.
pub fn progress(r: &Rollout<'_>, now_ms: i64) -> (&'static str, f64, Vec<DeploymentEvent>) {
    let s = r.strategy;
    let start = r.started_at_ms;
    // Events happen up to now, or up to the end for a rollout that ended.
    let until = match r.end {
        DeploymentEnd::Active => now_ms,
        _ => r.ended_at_ms.unwrap_or(now_ms),
    };
    let elapsed = u64::try_from(until - start).unwrap_or(0);
    let rolled_back = r.end == DeploymentEnd::RolledBack;
    let mut events =
        vec![DeploymentEvent { event_type: "DEPLOYMENT_STARTED", at_ms: start, description: r.started.clone() }];
    for step in s.schedule() {
        if step.at_ms > elapsed || (step.at_ms == elapsed && rolled_back && step.at_ms > 0) {
            break;
        }
        events.push(DeploymentEvent {
            event_type: "PERCENTAGE_UPDATED",
            at_ms: start + step.at_ms as i64,
            description: format!("Percentage updated to {}%", trim(step.percent)),
        });
    }
    let duration_ms = s.duration_s * 1000;
    if s.final_bake_time_s > 0 && elapsed >= duration_ms && !(rolled_back && elapsed == duration_ms) {
        events.push(DeploymentEvent {
            event_type: "BAKE_TIME_STARTED",
            at_ms: start + duration_ms as i64,
            description: format!("Baking for {} s", s.final_bake_time_s),
        });
    }
    let (state, percent) = match (r.end, s.phase_at(elapsed)) {
        (DeploymentEnd::RolledBack, _) => {
            let at = r.ended_at_ms.unwrap_or(now_ms);
            let why = r.reason.unwrap_or("stopped").to_string();
            events.push(DeploymentEvent { event_type: "ROLLBACK_STARTED", at_ms: at, description: why });
            events.push(DeploymentEvent {
                event_type: "ROLLBACK_COMPLETED",
                at_ms: at,
                description: r.rolled_back.into(),
            });
            ("ROLLED_BACK", 0.0)
        }
        (DeploymentEnd::Complete, _) | (_, Phase::Complete) => {
            events.push(DeploymentEvent {
                event_type: "DEPLOYMENT_COMPLETED",
                at_ms: start + s.total_ms() as i64,
                description: "Deployment completed".into(),
            });
            ("COMPLETE", 100.0)
        }
        (_, Phase::Baking) => ("BAKING", 100.0),
        (_, Phase::Deploying { percent, .. }) => ("DEPLOYING", percent),
    };
    (state, percent, events)
}

fn trim(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.2}")
    }
}

/// Why `m` trips on what its window saw, if it does.
pub fn tripped(m: &Monitor, s: &crate::live::windows::WindowStats) -> Option<String> {
    match m {
        Monitor::FunctionErrorRate { function, threshold_percent, window_s, min_invocations } => {
            (s.invocations >= *min_invocations && s.error_percent() > *threshold_percent).then(|| {
                format!(
                    "Monitor function_error_rate of {function} tripped: {:.1} % of {} invocations failed in the \
                     last {window_s} s (threshold {threshold_percent} %)",
                    s.error_percent(),
                    s.invocations
                )
            })
        }
        Monitor::FunctionLatencyP99 { function, threshold_ms, window_s, min_invocations } => {
            (s.invocations >= *min_invocations && s.p99_ms > *threshold_ms).then(|| {
                format!(
                    "Monitor function_latency_p99 of {function} tripped: p99 {:.1} ms over {} invocations in the \
                     last {window_s} s (threshold {threshold_ms} ms)",
                    s.p99_ms, s.invocations
                )
            })
        }
    }
}
