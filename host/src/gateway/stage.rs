//! Stage lookup: the gateway part of the routing snapshot. A stage carries what it serves
//! ([`Serving`]: deployment, variables, integrations resolved against them, per-route
//! throttle and cache policies) for its main deployment and, when it has one, its canary,
//! and its capacity (priority class, concurrency limit).

use super::integration::{group_policies, resolve, Policies, ResolvedIntegration};
use super::route::RouteTable;
use super::throttle::{BucketKey, Buckets, Limiter};
use crate::live::usage::{StageCapacity, UsageBoard};
use crate::model::api::Method;
use crate::model::stage::{route_key, CacheSettings, ThrottleSettings, UnauthorizedStrategy};
use crate::observe::stage_metrics::{SideCounters, StageMetrics};
use crate::store::{GatewayState, RouteRecord, StageRecord};
use http::HeaderName;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub struct DeploymentSnapshot {
    pub id: String,
    pub routes: Vec<RouteRecord>,
    pub table: RouteTable,
}

/// One side of a stage (main or canary).
pub struct Serving {
    pub deployment: Arc<DeploymentSnapshot>,
    pub variables: BTreeMap<String, String>,
    /// `event.stageVariables`, serialised once (`null` when there are none).
    pub variables_json: Arc<serde_json::value::RawValue>,
    /// The following are one per route of the deployment, same order.
    pub integrations: Vec<ResolvedIntegration>,
    /// `None`: unthrottled.
    pub throttles: Vec<Option<Arc<Limiter>>>,
    /// `None`: not cached.
    pub caching: Vec<Option<RouteCache>>,
    /// The deployment id in this side's cache keys.
    pub cache_deployment: String,
    /// Requests served by this side (main and canary counted apart).
    pub metrics: Arc<SideCounters>,
}

pub struct Canary {
    pub percent_traffic: f64,
    pub serving: Serving,
}

pub struct StageSnapshot {
    pub api_id: String,
    pub name: String,
    pub main: Serving,
    pub canary: Option<Canary>,
    pub cache: StageCache,
    /// blake3 of the stage's cache-invalidation key.
    pub invalidation_key_hash: Option<String>,
    /// The environment whose secrets this stage's functions see.
    pub secret_environment: String,
    /// Its priority class, concurrency limit and usage counters.
    pub capacity: StageCapacity,
}

/// How a stage's route is cached (resolved when the snapshot is built).
#[derive(Debug, Clone, Copy)]
pub struct RouteCache {
    pub ttl: Duration,
    /// `Method::bit`s that are cached: GET, or every method the route serves when a route
    /// override enables it explicitly.
    pub methods: u8,
}

/// Stage-wide cache settings, as the data plane needs them.
pub struct StageCache {
    pub enabled: bool,
    pub require_authorization: bool,
    pub strategy: UnauthorizedStrategy,
    pub key_headers: Vec<HeaderName>,
    pub max_bytes: usize,
}

#[derive(Default)]
pub struct GatewaySnapshot {
    /// API → its stages (one `Arc` per API: an update shares the APIs it didn't touch).
    apis: HashMap<String, Arc<HashMap<String, Arc<StageSnapshot>>>>,
}

impl GatewaySnapshot {
    pub fn stage(&self, api: &str, stage: &str) -> Option<&Arc<StageSnapshot>> {
        self.apis.get(api)?.get(stage)
    }

    /// See [`crate::snapshot::Snapshot::describe`].
    pub fn describe(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        for (api, stages) in &self.apis {
            for (name, s) in stages.iter() {
                let side = |v: &Serving| {
                    let integrations: Vec<String> = v.integrations.iter().map(|i| i.describe()).collect();
                    format!(
                        "{} {:?} cache={} throttles={} {:?}",
                        v.deployment.id,
                        v.variables,
                        v.cache_deployment,
                        v.throttles.iter().filter(|t| t.is_some()).count(),
                        integrations
                    )
                };
                let canary = s.canary.as_ref().map(|c| format!("{} {}", c.percent_traffic, side(&c.serving)));
                lines.push(format!(
                    "stage {api}/{name} {} canary={canary:?} secrets={} class={:?} {:?}",
                    side(&s.main),
                    s.secret_environment,
                    s.capacity.class,
                    s.capacity.max_concurrency
                ));
            }
        }
        lines.sort();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// `buckets` and `metrics`: the live state's (`crate::live::LiveState`), which outlive
    /// the snapshot; the build takes handles into them.
    pub fn build(state: &GatewayState, buckets: &Buckets, metrics: &StageMetrics, usage: &UsageBoard) -> Self {
        let mut handles = Handles { buckets: buckets.renew(), metrics: metrics.renew(), usage: usage.renew() };
        let apis = stages(state, &mut handles).into_iter().map(|(api, stages)| (api, Arc::new(stages))).collect();
        GatewaySnapshot { apis }
    }

    /// `prev` with the APIs in `apis` built again from `state` (which holds their stages,
    /// the deployments those serve, and the functions' policies); the other APIs' stages are
    /// `prev`'s, shared. Only those APIs' live handles are renewed.
    pub fn update(
        prev: &GatewaySnapshot,
        apis: &std::collections::BTreeSet<String>,
        state: &GatewayState,
        live: (&Buckets, &StageMetrics, &UsageBoard),
    ) -> Self {
        let mut out = prev.apis.clone();
        let (buckets, metrics, usage) = live;
        let mut built = {
            let mut handles = Handles {
                buckets: buckets.renew_where(|k| apis.contains(&k.api)),
                metrics: metrics.renew_where_api(apis),
                usage: usage.renew_where_api(apis),
            };
            stages(state, &mut handles)
        };
        for api in apis {
            match built.remove(api) {
                Some(stages) => out.insert(api.clone(), Arc::new(stages)),
                None => out.remove(api),
            };
        }
        GatewaySnapshot { apis: out }
    }
}

/// The live handles a build carries over ([`crate::live::Renewable`]).
struct Handles<'a> {
    buckets: crate::live::Renewal<'a, BucketKey, Arc<Limiter>>,
    metrics: crate::live::Renewal<'a, (String, String, bool), Arc<SideCounters>>,
    usage: crate::live::Renewal<'a, (String, String), crate::live::usage::StageCapacity>,
}

/// The stages of `state`, by API and name.
fn stages(state: &GatewayState, h: &mut Handles<'_>) -> HashMap<String, HashMap<String, Arc<StageSnapshot>>> {
    let policies = group_policies(&state.permissions);
    let deployments: HashMap<(&str, &str), Arc<DeploymentSnapshot>> = state
        .deployments
        .iter()
        .map(|d| {
            let snap =
                DeploymentSnapshot { id: d.id.clone(), table: RouteTable::build(&d.routes), routes: d.routes.clone() };
            ((d.api_id.as_str(), d.id.as_str()), Arc::new(snap))
        })
        .collect();
    let mut apis: HashMap<String, HashMap<String, Arc<StageSnapshot>>> = HashMap::new();
    for s in &state.stages {
        let api = s.api_id.as_str();
        // Stages reference deployments by foreign key; a canary's is checked on write.
        let Some(deployment) = deployments.get(&(api, s.deployment_id.as_str())) else { continue };
        let mut side = |deployment: &Arc<DeploymentSnapshot>, variables, cache_deployment, canary: bool| {
            let counters = h.metrics.counters(api, s.name.as_str(), canary);
            let mut bucket = |route: Option<&str>, limit| {
                h.buckets.bucket(BucketKey::new(api, s.name.as_str(), route, limit), limit)
            };
            serving(s, deployment.clone(), variables, cache_deployment, counters, &policies, &mut bucket)
        };
        let Some(main) = side(deployment, s.variables.clone(), deployment.id.clone(), false) else { continue };
        let canary = s.canary.as_ref().and_then(|c| {
            let d = deployments.get(&(api, c.deployment_id.as_str()))?;
            let cache_deployment = if c.use_stage_cache { deployment.id.clone() } else { d.id.clone() };
            let serving = side(d, c.variables(&s.variables), cache_deployment, true)?;
            Some(Canary { percent_traffic: c.percent_traffic, serving })
        });
        let snap = StageSnapshot {
            api_id: api.to_string(),
            name: s.name.to_string(),
            main,
            canary,
            cache: stage_cache(&s.cache),
            invalidation_key_hash: s.invalidation_key_hash.clone(),
            secret_environment: s.secret_environment.clone().unwrap_or_else(|| s.name.to_string()),
            capacity: h.usage.stage(
                api,
                s.name.as_str(),
                s.capacity.class_for(s.name.as_str()),
                s.capacity.max_concurrency,
            ),
        };
        apis.entry(api.to_string()).or_default().insert(s.name.to_string(), Arc::new(snap));
    }
    apis
}

fn serving(
    s: &StageRecord,
    deployment: Arc<DeploymentSnapshot>,
    variables: BTreeMap<String, String>,
    cache_deployment: String,
    metrics: Arc<SideCounters>,
    policies: &Policies<'_>,
    bucket: &mut dyn FnMut(Option<&str>, crate::model::stage::RateLimit) -> Arc<Limiter>,
) -> Option<Serving> {
    let integrations = deployment
        .routes
        .iter()
        .map(|r| resolve(s.api_id.as_str(), s.name.as_str(), r, &variables, policies))
        .collect();
    let shown = (!variables.is_empty()).then_some(&variables);
    // A map of strings always serialises.
    let variables_json = Arc::from(serde_json::value::to_raw_value(&shown).ok()?);
    let keys: Vec<String> = deployment.routes.iter().map(|r| route_key(r.method, &r.path)).collect();
    let throttles = keys.iter().map(|k| route_throttle(&s.throttle, k, bucket)).collect();
    let caching = deployment.routes.iter().zip(&keys).map(|(r, k)| route_cache(&s.cache, r.method, k)).collect();
    Some(Serving { deployment, variables, variables_json, integrations, throttles, caching, cache_deployment, metrics })
}

fn route_throttle(
    t: &ThrottleSettings,
    key: &str,
    bucket: &mut dyn FnMut(Option<&str>, crate::model::stage::RateLimit) -> Arc<Limiter>,
) -> Option<Arc<Limiter>> {
    match t.routes.get(key) {
        Some(limit) => Some(bucket(Some(key), *limit)),
        None => t.stage_limit().map(|limit| bucket(None, limit)),
    }
}

fn route_cache(c: &CacheSettings, method: Method, key: &str) -> Option<RouteCache> {
    let o = c.routes.get(key);
    let ttl = o.and_then(|o| o.ttl_seconds).unwrap_or(c.ttl_seconds);
    let methods = match o.and_then(|o| o.enabled) {
        Some(false) => return None,
        // Enabled explicitly: every method the route serves.
        Some(true) if method == Method::Any => u8::MAX,
        Some(true) => method.bit(),
        None if c.enabled && matches!(method, Method::Get | Method::Any) => Method::Get.bit(),
        None => return None,
    };
    (c.enabled && ttl > 0).then_some(RouteCache { ttl: Duration::from_secs(ttl.into()), methods })
}

fn stage_cache(c: &CacheSettings) -> StageCache {
    StageCache {
        enabled: c.enabled,
        require_authorization: c.require_authorization,
        strategy: c.unauthorized_strategy,
        key_headers: c.key_headers.iter().filter_map(|h| http::HeaderName::from_bytes(h.as_bytes()).ok()).collect(),
        max_bytes: usize::try_from(c.max_bytes).unwrap_or(usize::MAX),
    }
}
