//! `GET /v1/stats`: the running totals the console's traffic charts poll — per stage side
//! (main deployment / canary) the gateway's request counters and the invocations behind
//! them, per function version its invocations — read from live state only (atomics in
//! the snapshot's stage sides and the metrics' tallies): no store query, so it stays
//! cheap at any installation size. Totals since start; a client makes rates and
//! percentiles from the difference of two polls (the histograms subtract bucket by
//! bucket). Each item is shown only to a caller that may read it (`api:Read` on the
//! stage, `function:Read` on the version), as the per-item routes would show it.

use super::access::Principal;
use super::AppState;
use crate::observe::stage_metrics::SideView;
use crate::observe::tally::{bounds_ms, TallySum, TallyView};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct Stats {
    /// When the totals were read, ms since the Unix epoch.
    at_ms: u128,
    /// The latency histograms' bucket upper bounds, ms (`null`: no bound).
    latency_bounds_ms: Vec<Option<f64>>,
    stages: Vec<StageStats>,
    versions: Vec<VersionStats>,
}

#[derive(Serialize)]
struct StageStats {
    api_id: String,
    stage: String,
    /// The canary's side of the stage (its own counters, as API Gateway keeps them).
    canary: bool,
    /// The gateway's requests: `requests`, `cache_hits`, `cache_misses`, `throttled`,
    /// `client_errors`, `server_errors`.
    #[serde(flatten)]
    requests: SideView,
    /// The function invocations those requests made.
    invocations: TallyView,
}

#[derive(Serialize)]
struct VersionStats {
    function: String,
    /// `$LATEST` or the number.
    version: String,
    #[serde(flatten)]
    tally: TallyView,
}

pub async fn get(
    State(p): State<AppState>,
    Extension(who): Extension<Principal>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Json<Stats>, super::error::ApiError> {
    if query.is_some_and(|q| !q.is_empty()) {
        return Err(super::error::ApiError::BadRequest("GET /v1/stats takes no query parameters".into()));
    }
    // The admin reads everything: no resource strings to build per row.
    let admin = matches!(who, Principal::Admin);
    let may_read_stage = |api: &str, stage: &str| admin || who.allows("api:Read", &format!("api/{api}/stage/{stage}"));
    let by_side = p.observe.metrics.tallies(|l| {
        (!l.api.is_empty() && may_read_stage(&l.api, &l.stage)).then(|| (l.api.clone(), l.stage.clone(), l.canary))
    });
    let sides = p.live.metrics.all(may_read_stage);
    let stages = sides
        .into_iter()
        .map(|(api_id, stage, canary, requests)| {
            let sum = by_side.get(&(api_id.clone(), stage.clone(), canary)).cloned().unwrap_or_default();
            StageStats { api_id, stage, canary, requests, invocations: (&sum).into() }
        })
        .collect();
    let by_version: BTreeMap<(String, String), TallySum> = p.observe.metrics.tallies(|l| {
        if admin {
            return Some((l.function.clone(), l.version.clone()));
        }
        let resource = match l.version.as_str() {
            "$LATEST" => format!("function/{}", l.function),
            n => format!("function/{}/version/{n}", l.function),
        };
        who.allows("function:Read", &resource).then(|| (l.function.clone(), l.version.clone()))
    });
    let versions = by_version
        .iter()
        .map(|((function, version), sum)| VersionStats {
            function: function.clone(),
            version: version.clone(),
            tally: sum.into(),
        })
        .collect();
    let at_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Ok(Json(Stats { at_ms, latency_bounds_ms: bounds_ms(), stages, versions }))
}
