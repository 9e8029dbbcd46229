//! The rollout task, for configuration deployments and alias shifts alike: rolls back
//! configuration deployments whose environment's monitors trip (and shifts whose monitors
//! trip on their new version) ([`crate::ops::appconfig::check_monitors`], every [`MONITOR_PERIOD`] while any
//! runs) and records those whose time is up as `COMPLETE`
//! ([`crate::ops::appconfig::finish_due`]). Requests don't wait for it — the data plane
//! computes a rollout's percentage from the clock, so each step takes effect at its
//! scheduled time — but the durable record does: it is what the next deployment, a
//! restart and `GET …/deployments` build on. It wakes when the next deployment is due,
//! at least every [`MAX_SLEEP`], and ends with the server.

use crate::platform::Platform;
use std::sync::Arc;
use std::time::Duration;

/// Longest sleep between two looks (a deployment started meanwhile is found by then).
pub const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How often monitors are evaluated while a deployment runs.
pub const MONITOR_PERIOD: Duration = Duration::from_millis(250);

pub async fn run(p: Arc<Platform>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        match crate::ops::appconfig::check_monitors(&p).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rolled_back = n, "configuration deployments rolled back by their monitors"),
            Err(e) => tracing::warn!(error = %e, "the rollout task could not evaluate monitors"),
        }
        match crate::ops::alias_shifts::check_monitors(&p).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rolled_back = n, "alias shifts rolled back by their monitors"),
            Err(e) => tracing::warn!(error = %e, "the rollout task could not evaluate shift monitors"),
        }
        let shifting = match crate::ops::alias_shifts::finish_due(&p).await {
            Ok((finished, running)) => {
                if finished > 0 {
                    tracing::info!(finished, "alias shifts completed");
                }
                running
            }
            Err(e) => {
                tracing::warn!(error = %e, "the rollout task could not record finished alias shifts");
                false
            }
        };
        let sleep = match crate::ops::appconfig::finish_due(&p).await {
            Ok((finished, next)) => {
                if finished > 0 {
                    tracing::info!(finished, "configuration deployments completed");
                }
                let now = crate::configuration::now_ms();
                next.map_or(MAX_SLEEP, |t| {
                    Duration::from_millis(u64::try_from(t - now).unwrap_or(0)).min(MONITOR_PERIOD)
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "the rollout task could not record finished deployments");
                MAX_SLEEP
            }
        };
        let sleep = if shifting { sleep.min(MONITOR_PERIOD) } else { sleep };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
