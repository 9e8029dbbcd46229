//! What an invocation tells the outside: `server-timing` header values and the Lambda-
//! shaped START / END / REPORT log lines.

pub mod stage_metrics;

use crate::runtime::Outcome;
use std::fmt::Write;
use std::time::Duration;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `server-timing` value: `load` only when this request loaded the code.
pub fn server_timing(outcome: &Outcome, total: Duration) -> String {
    let t = &outcome.timing;
    let mut s = String::with_capacity(96);
    if let Some(load) = t.load {
        let _ = write!(s, "load;dur={:.3}, ", ms(load));
    }
    let _ = write!(s, "instantiate;dur={:.3}, run;dur={:.3}, total;dur={:.3}", ms(t.instantiate), ms(t.run), ms(total));
    s
}

/// Emits the invocation's log lines (target `waygate::function`), in Lambda's format.
pub fn log_invocation(function: &str, version: &str, request_id: &str, memory_mb: u32, outcome: &Outcome) {
    let t = &outcome.timing;
    let duration = t.instantiate + t.run;
    let billed = duration.as_millis() as u64 + u64::from(!duration.subsec_nanos().is_multiple_of(1_000_000));
    let used_mb = outcome.max_memory_bytes.div_ceil(1 << 20);
    tracing::info!(target: "waygate::function", function, "START RequestId: {request_id} Version: {version}");
    for line in String::from_utf8_lossy(&outcome.logs).lines() {
        tracing::info!(target: "waygate::function", function, "{request_id}\t{line}");
    }
    let mut report = format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {used_mb} MB",
        ms(duration)
    );
    if let Some(load) = t.load {
        let _ = write!(report, "\tInit Duration: {:.2} ms", ms(load));
    }
    tracing::info!(target: "waygate::function", function, "END RequestId: {request_id}");
    tracing::info!(target: "waygate::function", function, "{report}");
}
