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

use waygate::model::api::{Integration, Method, RoutePath, StageName};
use waygate::model::{AliasName, AliasTarget, FunctionName};
use waygate::ops;
use waygate::store::Tx;

pub const ROUTES_PER_API: usize = 20;

/// The 20 routes of one API: 18 `GET /svcJ/items/{id}`, `POST /svc0`, `ANY /{proxy+}`.
pub fn routes(n: usize) -> Vec<(Method, RoutePath)> {
    let mut v: Vec<(Method, RoutePath)> = (0..n.min(ROUTES_PER_API - 2))
        .map(|j| (Method::Get, RoutePath::parse(&format!("/svc{j}/items/{{id}}")).expect("path")))
        .collect();
    if n == ROUTES_PER_API {
        v.push((Method::Post, RoutePath::parse("/svc0").expect("path")));
        v.push((Method::Any, RoutePath::parse("/{proxy+}").expect("path")));
    }
    v
}

/// `apis` APIs with `routes_per_api` routes each → `hello:${stageVariables.alias}`, each
/// deployed to stage `prod` with `alias=LIVE`; LIVE → $LATEST, allowed for every API's
/// prod stage. Made through the use cases' in-transaction forms (`ops::*::*_in`) in one
/// commit, so one snapshot rebuild. Returns the API ids.
pub fn populate(tx: &dyn Tx, apis: usize, routes_per_api: usize) -> Result<Vec<String>, waygate::ops::Error> {
    let hello = FunctionName::parse("hello").expect("name");
    let live = AliasName::parse("LIVE").expect("alias");
    let input = ops::aliases::PutAlias {
        target: AliasTarget::parse("$LATEST", None).expect("target"),
        description: None,
        expected_revision: None,
        exists: None,
    };
    ops::aliases::put_in(tx, &hello, &live, &input)?;
    let statement = ops::permissions::AddPermission {
        statement_id: "bench".into(),
        principal: "*".into(),
        source: "*/prod/*/*".into(),
        qualifier: Some("LIVE".into()),
    };
    ops::permissions::add_in(tx, hello, statement)?;
    let integration = Integration::Function { target: "hello:${stageVariables.alias}".into(), timeout_ms: None };
    let prod = StageName::parse("prod").expect("stage");
    let vars = std::collections::BTreeMap::from([("alias".to_string(), "LIVE".to_string())]);
    let mut ids = Vec::with_capacity(apis);
    for i in 0..apis {
        let api = ops::apis::create_in(tx, format!("bench-{i}"), String::new())?;
        for (m, p) in routes(routes_per_api) {
            ops::apis::put_route_in(tx, &api.id, m, p, integration.clone())?;
        }
        let deploy = ops::deployments::Deploy::default();
        let (d, _) = ops::deployments::create_in(tx, &api.id, deploy)?;
        let put = ops::stages::PutStage {
            deployment_id: d.id,
            variables: vars.clone(),
            description: String::new(),
            secret_environment: None,
        };
        ops::stages::put_in(tx, &api.id, &prod, put)?;
        ids.push(api.id.to_string());
    }
    Ok(ids)
}
