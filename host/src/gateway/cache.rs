//! The stage response cache: one `moka` cache for the whole process, bounded in bytes,
//! with a TTL per entry. A hit is answered before any Wasm work. `Cache-Control:
//! max-age=0` refreshes an entry only with an invalidation credential
//! ([`may_invalidate`]); otherwise the stage's unauthorized strategy applies.

use super::error::GatewayError;
use super::stage::{Serving, StageSnapshot};
use crate::access::AccessSnapshot;
use crate::model::api::Method;
use crate::model::stage::UnauthorizedStrategy;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Identifies one cached response. The deployment is the effective one, so a canary on
/// another deployment never shares entries with its stage (unless `use_stage_cache`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    api: String,
    stage: String,
    deployment: String,
    /// Method, resource, path (params included), sorted query, declared key headers.
    request: String,
}

pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub ttl: Duration,
}

impl CachedResponse {
    fn weight(&self) -> u32 {
        let headers: usize = self.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        u32::try_from(self.body.len() + headers + 128).unwrap_or(u32::MAX)
    }
}

struct PerEntryTtl;

impl moka::Expiry<CacheKey, Arc<CachedResponse>> for PerEntryTtl {
    fn expire_after_create(&self, _: &CacheKey, v: &Arc<CachedResponse>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
    fn expire_after_update(
        &self,
        _: &CacheKey,
        v: &Arc<CachedResponse>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

pub struct ResponseCache {
    entries: moka::sync::Cache<CacheKey, Arc<CachedResponse>>,
}

impl ResponseCache {
    /// `max_bytes` bounds the cache as a whole (bodies + headers + a small overhead per
    /// entry); the least useful entries are evicted beyond it.
    pub fn new(max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &CacheKey, v: &Arc<CachedResponse>| v.weight())
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        ResponseCache { entries }
    }

    /// Drops every entry of a stage (FlushStageCache).
    pub fn flush_stage(&self, api: &str, stage: &str) {
        let (api, stage) = (api.to_string(), stage.to_string());
        if let Err(e) = self.entries.invalidate_entries_if(move |k, _| k.api == api && k.stage == stage) {
            // Only possible without `support_invalidation_closures`, which is set above.
            tracing::error!(error = %e, "cache flush failed; flushing everything");
            self.entries.invalidate_all();
        }
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// What the cache says about a request.
pub enum Lookup {
    /// The stage doesn't cache.
    Off,
    /// The stage caches, but not this route or method.
    Bypass,
    Hit {
        response: Arc<CachedResponse>,
        warn: bool,
    },
    /// Run the integration, then [`store`] the answer under `key`.
    Fetch {
        key: CacheKey,
        ttl: Duration,
        max_bytes: usize,
        status: &'static str,
        warn: bool,
    },
}

impl Lookup {
    /// Keeps a `Fetch` only when its answer may be stored (saves copying the response).
    pub fn filter_cacheable(self, status: StatusCode, body_len: usize) -> Self {
        match self {
            Lookup::Fetch { ttl, max_bytes, .. } if !cacheable(status, body_len, ttl, max_bytes) => Lookup::Bypass,
            other => other,
        }
    }
}

/// 2xx, body within the stage's limit, TTL above 0.
fn cacheable(status: StatusCode, body_len: usize, ttl: Duration, max_bytes: usize) -> bool {
    status.is_success() && body_len <= max_bytes && !ttl.is_zero()
}

/// Header telling an unauthorized `max-age=0` was ignored (SUCCEED_WITH_RESPONSE_HEADER).
pub const WARNING: &str = "199 waygate \"cache invalidation not authorized; ignored\"";

#[allow(clippy::too_many_arguments)]
pub fn lookup(
    cache: &ResponseCache,
    access: &AccessSnapshot,
    stage: &StageSnapshot,
    serving: &Serving,
    route: usize,
    method: Method,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
) -> Result<Lookup, GatewayError> {
    if !stage.cache.enabled {
        return Ok(Lookup::Off);
    }
    let Some(policy) = serving.caching.get(route).copied().flatten() else { return Ok(Lookup::Bypass) };
    if policy.methods & method.bit() == 0 {
        return Ok(Lookup::Bypass);
    }
    let key = CacheKey {
        api: stage.api_id.clone(),
        stage: stage.name.clone(),
        deployment: serving.cache_deployment.clone(),
        request: request_key(method, serving.deployment.routes[route].path.as_str(), path, query, headers, stage),
    };
    let fetch = |status, warn| Lookup::Fetch {
        key: key.clone(),
        ttl: policy.ttl,
        max_bytes: stage.cache.max_bytes,
        status,
        warn,
    };
    let mut warn = false;
    if wants_refresh(headers) {
        if !stage.cache.require_authorization || may_invalidate(access, stage, headers) {
            return Ok(fetch("invalidated", false));
        }
        match stage.cache.strategy {
            UnauthorizedStrategy::FailWith403 => return Err(GatewayError::CacheInvalidationDenied),
            UnauthorizedStrategy::SucceedWithResponseHeader => warn = true,
            UnauthorizedStrategy::SucceedWithoutResponseHeader => {}
        }
    }
    Ok(match cache.entries.get(&key) {
        Some(response) => Lookup::Hit { response, warn },
        None => fetch("miss", warn),
    })
}

/// Stores a fetched response when it may be cached: 2xx, body within the stage's limit.
pub fn store(cache: &ResponseCache, key: CacheKey, ttl: Duration, max_bytes: usize, r: CachedResponse) {
    if cacheable(r.status, r.body.len(), ttl, max_bytes) {
        cache.entries.insert(key, Arc::new(CachedResponse { ttl, ..r }));
    }
}

/// THE check of a cache-invalidation credential for a stage, sent as
/// `Authorization: Bearer <key>`: an API key (or the admin token) whose policy allows
/// `stage:InvalidateCache` on `api/ID/stage/STAGE`, or the stage's own invalidation key
/// (issued by `POST …/invalidation-keys`).
pub fn may_invalidate(access: &AccessSnapshot, stage: &StageSnapshot, headers: &HeaderMap) -> bool {
    let Some(presented) = crate::access::bearer(headers) else {
        return false;
    };
    // Comparing hashes: timing reveals nothing about the key itself.
    if stage.invalidation_key_hash.as_deref().is_some_and(|expected| crate::access::hash_key(presented) == expected) {
        return true;
    }
    let resource = format!("api/{}/stage/{}", stage.api_id, stage.name);
    access.allows(presented, "stage:InvalidateCache", &resource)
}

fn wants_refresh(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("max-age=0")))
}

fn request_key(
    method: Method,
    resource: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    stage: &StageSnapshot,
) -> String {
    let mut pairs: Vec<(String, String)> =
        query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    pairs.sort();
    let mut key = format!("{} {resource} {path}?", method.as_str());
    for (k, v) in pairs {
        key.push_str(&format!("{}={}&", k.len(), k));
        key.push_str(&format!("{}:{v}&", v.len()));
    }
    for h in &stage.cache.key_headers {
        let values: Vec<&[u8]> = headers.get_all(h).iter().map(HeaderValue::as_bytes).collect();
        key.push_str(&format!("\n{h}: {}", String::from_utf8_lossy(&values.join(&b","[..]))));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_directive_is_recognised() {
        let mut h = HeaderMap::new();
        assert!(!wants_refresh(&h));
        h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store, MAX-AGE=0"));
        assert!(wants_refresh(&h));
        h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("max-age=00x"));
        assert!(!wants_refresh(&h));
    }

    #[test]
    fn entries_expire_and_weigh_bytes() {
        let cache = ResponseCache::new(10_000);
        let key =
            |n: u32| CacheKey { api: "a".into(), stage: "s".into(), deployment: "d".into(), request: n.to_string() };
        let resp = |len: usize, ttl| CachedResponse {
            status: StatusCode::OK,
            headers: vec![],
            body: Bytes::from(vec![0u8; len]),
            ttl,
        };
        store(&cache, key(1), Duration::from_millis(50), 1 << 20, resp(10, Duration::ZERO));
        assert!(cache.entries.get(&key(1)).is_some());
        std::thread::sleep(Duration::from_millis(120));
        assert!(cache.entries.get(&key(1)).is_none(), "expired after its TTL");
        for n in 0..50 {
            store(&cache, key(n), Duration::from_secs(60), 1 << 20, resp(1_000, Duration::ZERO));
        }
        cache.entries.run_pending_tasks();
        assert!(cache.entries.weighted_size() <= 10_000, "bounded in bytes: {}", cache.entries.weighted_size());
        let mut not_ok = resp(1, Duration::ZERO);
        not_ok.status = StatusCode::NOT_FOUND;
        store(&cache, key(99), Duration::from_secs(60), 1 << 20, not_ok);
        assert!(cache.entries.get(&key(99)).is_none(), "only 2xx are cached");
        cache.flush_stage("a", "s");
        assert_eq!(cache.entry_count(), 0);
    }
}
