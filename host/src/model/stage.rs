//! Stage settings that are not part of a deployment and apply immediately: the canary,
//! the response cache and the throttle, with API Gateway's limits and defaults. Pure types with their
//! rules and limits; the gateway turns them into live policies when the snapshot is built.

use super::api::{validate_variables, Method, RoutePath};
use super::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cache TTL bounds (API Gateway's): default 300 s, at most 3600 s, 0 = off.
pub const DEFAULT_CACHE_TTL_SECONDS: u32 = 300;
pub const MAX_CACHE_TTL_SECONDS: u32 = 3600;
/// Largest response body a stage cache stores (API Gateway's 1,048,576 bytes).
pub const MAX_CACHED_RESPONSE_BYTES: u64 = 1_048_576;
pub const MAX_CACHE_KEY_HEADERS: usize = 10;
/// Throttle ceilings: API Gateway's account defaults (10,000 req/s, burst 5,000).
pub const MAX_RATE_PER_SECOND: f64 = 10_000.0;
pub const MAX_BURST: u32 = 5_000;
/// Per-route overrides of one setting on one stage.
pub const MAX_ROUTE_OVERRIDES: usize = 100;

/// A stage's canary: a share of its traffic served by another deployment, with stage
/// variables overridden.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CanarySettings {
    pub percent_traffic: f64,
    pub deployment_id: String,
    #[serde(default)]
    pub stage_variable_overrides: BTreeMap<String, String>,
    /// Canary requests read and write the stage's cache entries even when the canary
    /// serves another deployment.
    #[serde(default)]
    pub use_stage_cache: bool,
}

/// A change to a canary: absent fields keep their value (or take their default when the
/// canary is being created).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryPatch {
    pub percent_traffic: Option<f64>,
    pub deployment_id: Option<String>,
    pub stage_variable_overrides: Option<BTreeMap<String, String>>,
    pub use_stage_cache: Option<bool>,
}

pub fn validate_percent(p: f64) -> Result<(), Invalid> {
    if !(0.0..=100.0).contains(&p) {
        return Err(Invalid::new(format!("Invalid canary percent_traffic {p}: it must be between 0.0 and 100.0")));
    }
    Ok(())
}

impl CanarySettings {
    /// Applies `patch`; `current` is `None` when the stage has no canary yet.
    pub fn apply(current: Option<&CanarySettings>, patch: &CanaryPatch) -> Result<CanarySettings, Invalid> {
        let deployment_id = match (&patch.deployment_id, current) {
            (Some(d), _) => d.clone(),
            (None, Some(c)) => c.deployment_id.clone(),
            (None, None) => {
                return Err(Invalid::new("The stage has no canary: give canary.deployment_id to create one"));
            }
        };
        let c = CanarySettings {
            percent_traffic: patch.percent_traffic.or(current.map(|c| c.percent_traffic)).unwrap_or(0.0),
            deployment_id,
            stage_variable_overrides: patch
                .stage_variable_overrides
                .clone()
                .or_else(|| current.map(|c| c.stage_variable_overrides.clone()))
                .unwrap_or_default(),
            use_stage_cache: patch.use_stage_cache.or(current.map(|c| c.use_stage_cache)).unwrap_or(false),
        };
        validate_percent(c.percent_traffic)?;
        validate_variables(&c.stage_variable_overrides)?;
        Ok(c)
    }

    /// The stage variables a canary request sees: the stage's with the overrides on top.
    pub fn variables(&self, stage: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut v = stage.clone();
        v.extend(self.stage_variable_overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        v
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum UnauthorizedStrategy {
    #[default]
    #[serde(rename = "FAIL_WITH_403")]
    FailWith403,
    #[serde(rename = "SUCCEED_WITH_RESPONSE_HEADER")]
    SucceedWithResponseHeader,
    #[serde(rename = "SUCCEED_WITHOUT_RESPONSE_HEADER")]
    SucceedWithoutResponseHeader,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub enabled: bool,
    pub ttl_seconds: u32,
    /// `Cache-Control: max-age=0` refreshes an entry only with an invalidation credential.
    pub require_authorization: bool,
    pub unauthorized_strategy: UnauthorizedStrategy,
    /// Request headers whose values are part of the cache key (lower-cased).
    pub key_headers: Vec<String>,
    /// Largest response body this stage caches (at most 1 MiB).
    pub max_bytes: u64,
    /// Overrides by route key (`"GET /items/{id}"`).
    pub routes: BTreeMap<String, RouteCacheOverride>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: false,
            ttl_seconds: DEFAULT_CACHE_TTL_SECONDS,
            require_authorization: true,
            unauthorized_strategy: UnauthorizedStrategy::default(),
            key_headers: Vec::new(),
            max_bytes: MAX_CACHED_RESPONSE_BYTES,
            routes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheOverride {
    /// `true` on a non-GET route caches that method too (only GET is cached by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
}

fn validate_ttl(ttl: u32) -> Result<(), Invalid> {
    if ttl > MAX_CACHE_TTL_SECONDS {
        return Err(Invalid::new(format!(
            "Invalid cache ttl_seconds {ttl}: it must be between 0 and {MAX_CACHE_TTL_SECONDS}"
        )));
    }
    Ok(())
}

/// `"GET /items/{id}"` → its canonical form; the method may be `ANY`.
pub fn parse_route_key(key: &str) -> Result<String, Invalid> {
    let bad = || Invalid::new(format!("Invalid route key '{key}': expected 'METHOD /path', e.g. 'GET /items/{{id}}'"));
    let (m, p) = key.trim().split_once(' ').ok_or_else(bad)?;
    let method = Method::parse(&m.to_ascii_uppercase()).map_err(|_| bad())?;
    let path = RoutePath::parse(p.trim()).map_err(|_| bad())?;
    Ok(route_key(method, &path))
}

pub fn route_key(method: Method, path: &RoutePath) -> String {
    format!("{} {}", method.as_str(), path.as_str())
}

fn canonical_routes<T: Clone>(routes: &BTreeMap<String, T>) -> Result<BTreeMap<String, T>, Invalid> {
    if routes.len() > MAX_ROUTE_OVERRIDES {
        return Err(Invalid::new(format!("At most {MAX_ROUTE_OVERRIDES} route overrides per stage")));
    }
    routes.iter().map(|(k, v)| Ok((parse_route_key(k)?, v.clone()))).collect()
}

impl CacheSettings {
    /// Validates and canonicalises (route keys, lower-case header names).
    pub fn validated(mut self) -> Result<Self, Invalid> {
        validate_ttl(self.ttl_seconds)?;
        if self.max_bytes > MAX_CACHED_RESPONSE_BYTES {
            return Err(Invalid::new(format!(
                "Invalid cache max_bytes {}: at most {MAX_CACHED_RESPONSE_BYTES}",
                self.max_bytes
            )));
        }
        if self.key_headers.len() > MAX_CACHE_KEY_HEADERS {
            return Err(Invalid::new(format!("At most {MAX_CACHE_KEY_HEADERS} cache key headers")));
        }
        for h in &mut self.key_headers {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(Invalid::new(format!("Invalid cache key header name '{h}'")));
            }
            *h = h.to_ascii_lowercase();
        }
        self.key_headers.sort();
        self.key_headers.dedup();
        for o in self.routes.values() {
            if let Some(t) = o.ttl_seconds {
                validate_ttl(t)?;
            }
        }
        self.routes = canonical_routes(&self.routes)?;
        Ok(self)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub rate_per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    fn validate(&self) -> Result<(), Invalid> {
        if !(0.0..=MAX_RATE_PER_SECOND).contains(&self.rate_per_second) {
            return Err(Invalid::new(format!(
                "Invalid throttle rate_per_second {}: it must be between 0 and {MAX_RATE_PER_SECOND}",
                self.rate_per_second
            )));
        }
        if self.burst > MAX_BURST {
            return Err(Invalid::new(format!(
                "Invalid throttle burst {}: it must be between 0 and {MAX_BURST}",
                self.burst
            )));
        }
        Ok(())
    }
}

/// Stage throttle (token bucket): absent = unthrottled. A route override replaces the
/// stage limit for that route (as API Gateway's method settings do).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(default)]
    pub routes: BTreeMap<String, RateLimit>,
}

impl ThrottleSettings {
    pub fn stage_limit(&self) -> Option<RateLimit> {
        Some(RateLimit { rate_per_second: self.rate_per_second?, burst: self.burst? })
    }

    pub fn validated(mut self) -> Result<Self, Invalid> {
        match self.stage_limit() {
            Some(l) => l.validate()?,
            None if self.rate_per_second.is_some() || self.burst.is_some() => {
                return Err(Invalid::new("Give both throttle rate_per_second and burst (or neither)"));
            }
            None => {}
        }
        for l in self.routes.values() {
            l.validate()?;
        }
        self.routes = canonical_routes(&self.routes)?;
        Ok(self)
    }
}

/// Which work a shared host runs first. Production invocations run on the main workers;
/// development invocations run on their own low-priority worker threads (`SCHED_IDLE` on
/// Linux) and draw from their own share of the instance pool, so development code —
/// however much CPU or memory it burns — cannot slow production down, while it still gets
/// every CPU cycle production leaves idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorityClass {
    Production,
    Development,
}

impl PriorityClass {
    pub const ALL: [PriorityClass; 2] = [PriorityClass::Production, PriorityClass::Development];

    /// The class of a stage (or alias) that does not set one: `production` for the names
    /// `prod` and `production` (any case), `development` for every other name.
    pub fn default_for(name: &str) -> Self {
        if name.eq_ignore_ascii_case("prod") || name.eq_ignore_ascii_case("production") {
            PriorityClass::Production
        } else {
            PriorityClass::Development
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PriorityClass::Production => "production",
            PriorityClass::Development => "development",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Largest `max_concurrency` a stage may set.
pub const MAX_STAGE_CONCURRENCY: u32 = 100_000;

/// A stage's share of the host: its priority class and how many instances of its
/// functions may run at once. Absent fields take their defaults (the class from the
/// stage's name; no stage limit). Replaced as a whole by a change, like the throttle.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CapacitySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<PriorityClass>,
    /// Instances of this stage's integrations running at once (main and canary together);
    /// a request over it is answered 429 before any instance is created. 0 refuses every
    /// invocation (as a reserved concurrency of 0 does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

impl CapacitySettings {
    pub fn validated(self) -> Result<Self, Invalid> {
        if let Some(n) = self.max_concurrency.filter(|n| *n > MAX_STAGE_CONCURRENCY) {
            return Err(Invalid::new(format!(
                "Invalid capacity max_concurrency {n}: it must be between 0 and {MAX_STAGE_CONCURRENCY}"
            )));
        }
        Ok(self)
    }

    /// The class the stage runs in: its own, or the default for its name.
    pub fn class_for(&self, stage: &str) -> PriorityClass {
        self.class.unwrap_or_else(|| PriorityClass::default_for(stage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_patch_merges_and_validates() {
        let patch = CanaryPatch { percent_traffic: Some(20.0), ..Default::default() };
        assert!(CanarySettings::apply(None, &patch).is_err(), "a new canary needs a deployment");
        let created = CanaryPatch { deployment_id: Some("d1".into()), ..patch.clone() };
        let c = CanarySettings::apply(None, &created).unwrap();
        assert_eq!((c.percent_traffic, c.deployment_id.as_str()), (20.0, "d1"));
        let c2 = CanarySettings::apply(Some(&c), &CanaryPatch { use_stage_cache: Some(true), ..Default::default() })
            .unwrap();
        assert_eq!((c2.percent_traffic, c2.use_stage_cache), (20.0, true));
        let over = CanaryPatch { percent_traffic: Some(100.5), ..Default::default() };
        assert!(CanarySettings::apply(Some(&c), &over).is_err());
        let vars = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())]);
        let c3 = CanarySettings { stage_variable_overrides: BTreeMap::from([("b".into(), "3".into())]), ..c };
        assert_eq!(c3.variables(&vars)["b"], "3");
        assert_eq!(c3.variables(&vars)["a"], "1");
    }

    #[test]
    fn cache_settings_limits_and_canonical_keys() {
        let s: CacheSettings = serde_json::from_str(
            r#"{"enabled":true,"unauthorized_strategy":"SUCCEED_WITH_RESPONSE_HEADER","key_headers":["X-Tenant"],
                "routes":{"post  /search":{"enabled":true}}}"#,
        )
        .unwrap();
        let s = s.validated().unwrap();
        assert_eq!(s.ttl_seconds, 300);
        assert_eq!(s.key_headers, vec!["x-tenant"]);
        assert!(s.routes.contains_key("POST /search"));
        assert!(CacheSettings { ttl_seconds: 3601, ..Default::default() }.validated().is_err());
        assert!(CacheSettings { max_bytes: 2 << 20, ..Default::default() }.validated().is_err());
        assert!(serde_json::from_str::<CacheSettings>(r#"{"unauthorized_strategy":"NOPE"}"#).is_err());
    }

    #[test]
    fn throttle_needs_both_fields_and_bounds() {
        let t = ThrottleSettings { rate_per_second: Some(5.0), ..Default::default() };
        assert!(t.validated().is_err());
        let t = ThrottleSettings { rate_per_second: Some(5.0), burst: Some(10_000), ..Default::default() };
        assert!(t.validated().is_err());
        let t = ThrottleSettings { rate_per_second: Some(5.0), burst: Some(10), ..Default::default() };
        assert_eq!(t.validated().unwrap().stage_limit(), Some(RateLimit { rate_per_second: 5.0, burst: 10 }));
    }

    #[test]
    fn class_defaults_by_name_and_capacity_bounds() {
        assert_eq!(PriorityClass::default_for("prod"), PriorityClass::Production);
        assert_eq!(PriorityClass::default_for("Production"), PriorityClass::Production);
        assert_eq!(PriorityClass::default_for("dev"), PriorityClass::Development);
        assert_eq!(PriorityClass::default_for("prod2"), PriorityClass::Development);
        let c: CapacitySettings = serde_json::from_str(r#"{"class":"production","max_concurrency":3}"#).unwrap();
        assert_eq!(c.class_for("dev"), PriorityClass::Production);
        assert!(c.validated().is_ok());
        assert!(CapacitySettings { max_concurrency: Some(MAX_STAGE_CONCURRENCY + 1), ..Default::default() }
            .validated()
            .is_err());
        assert!(serde_json::from_str::<CapacitySettings>(r#"{"class":"staging"}"#).is_err());
        assert!(serde_json::from_str::<CapacitySettings>(r#"{"max_concurrency":-1}"#).is_err());
    }
}
