//! The stage response cache: hit/miss/bypass, TTL expiry, flush, `Cache-Control:
//! max-age=0` with and without the invalidation key under each strategy, key headers,
//! and per-deployment separation between a stage and its canary.

use crate::canary::{api_for, echo_function};
use crate::harness::TestServer;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

struct Answer {
    status: u16,
    cache: String,
    warning: Option<String>,
    body: Value,
}

impl Answer {
    /// The request id the function saw: equal ids mean the same (cached) response.
    fn seen(&self) -> &str {
        self.body["event"]["requestContext"]["requestId"].as_str().unwrap_or("")
    }
}

async fn send(r: RequestBuilder) -> Answer {
    let r = r.send().await.expect("gateway request");
    let h = |k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (cache, warning) = (h("x-waygate-cache").unwrap_or_default(), h("warning"));
    let status = r.status().as_u16();
    Answer { status, cache, warning, body: r.json().await.unwrap_or(Value::Null) }
}

async fn setup() -> (TestServer, String, String, String) {
    let s = TestServer::start().await;
    echo_function(&s, "echo").await;
    let (api, d1) = api_for(&s, "echo", "echo", "prod").await;
    let stage = format!("/v1/apis/{api}/stages/prod");
    (s, api, d1, stage)
}

async fn set_cache(s: &TestServer, stage: &str, cache: Value) {
    let (st, v) = s.call(Method::PATCH, stage, Some(json!({ "cache": cache }))).await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_miss_bypass_ttl_and_flush() {
    let (s, api, _, stage) = setup().await;
    for bad in [
        json!({ "ttl_seconds": 3601 }),
        json!({ "max_bytes": 2000000 }),
        json!({ "unauthorized_strategy": "X" }),
        json!({ "routes": { "GET nope": {} } }),
    ] {
        let (st, v) = s.call(Method::PATCH, &stage, Some(json!({ "cache": bad }))).await;
        assert_eq!(st, 400, "{v}");
    }
    let url = format!("/{api}/prod/items/1");
    // Off: no cache header at all.
    assert_eq!(send(s.gw(Method::GET, &url)).await.cache, "");
    set_cache(&s, &stage, json!({ "enabled": true, "ttl_seconds": 2, "key_headers": ["X-Tenant"] })).await;

    let first = send(s.gw(Method::GET, &format!("{url}?a=1&b=2"))).await;
    assert_eq!((first.status, first.cache.as_str()), (200, "miss"));
    // Same key whatever the query order: the stored response comes back.
    let hit = send(s.gw(Method::GET, &format!("{url}?b=2&a=1"))).await;
    assert_eq!((hit.status, hit.cache.as_str(), hit.seen()), (200, "hit", first.seen()));
    // Other path, other query, other key header value: other entries.
    assert_eq!(send(s.gw(Method::GET, &format!("{url}?a=2&b=2"))).await.cache, "miss");
    assert_eq!(send(s.gw(Method::GET, &format!("{url}?a=1&b=2")).header("x-tenant", "t1")).await.cache, "miss");
    assert_eq!(send(s.gw(Method::GET, &format!("{url}?a=1&b=2")).header("x-tenant", "t1")).await.cache, "hit");
    assert_eq!(send(s.gw(Method::GET, &format!("/{api}/prod/items/2?a=1&b=2"))).await.cache, "miss");
    let (_, m) = s.call(Method::GET, &format!("{stage}/metrics"), None).await;
    assert_eq!((&m["stage"]["cache_hits"], &m["stage"]["cache_misses"]), (&json!(2), &json!(4)), "{m}");
    assert!(m["canary"].is_null(), "{m}");
    // Only GET by default.
    assert_eq!(send(s.gw(Method::POST, &url)).await.cache, "bypass");
    assert_eq!(send(s.gw(Method::POST, &url)).await.cache, "bypass");

    // A hit never reaches the function: with every invocation throttled, hits still answer.
    let (st, _) =
        s.call(Method::PUT, "/v1/functions/echo/concurrency", Some(json!({ "reserved_concurrency": 0 }))).await;
    assert_eq!(st, 200);
    assert_eq!(send(s.gw(Method::GET, &format!("{url}?a=1&b=2"))).await.status, 200);
    assert_eq!(send(s.gw(Method::GET, &format!("/{api}/prod/items/3"))).await.status, 429);
    s.call(Method::DELETE, "/v1/functions/echo/concurrency", None).await;

    // TTL expiry.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let again = send(s.gw(Method::GET, &format!("{url}?a=1&b=2"))).await;
    assert_eq!(again.cache, "miss");
    assert_ne!(again.seen(), first.seen());
    assert_eq!(send(s.gw(Method::GET, &format!("{url}?a=1&b=2"))).await.cache, "hit");

    // Flush: 202, then misses.
    let r = s.req(Method::DELETE, &format!("{stage}/cache")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(send(s.gw(Method::GET, &format!("{url}?a=1&b=2"))).await.cache, "miss");
    let (st, _) = s.call(Method::DELETE, &format!("/v1/apis/{api}/stages/nope/cache"), None).await;
    assert_eq!(st, 404);

    // Route overrides: POST cached when enabled explicitly; a route can opt out.
    set_cache(
        &s,
        &stage,
        json!({ "enabled": true, "routes": { "ANY /{proxy+}": { "enabled": true, "ttl_seconds": 60 } } }),
    )
    .await;
    assert_eq!(send(s.gw(Method::POST, &url)).await.cache, "miss");
    assert_eq!(send(s.gw(Method::POST, &url)).await.cache, "hit");
    set_cache(&s, &stage, json!({ "enabled": true, "routes": { "ANY /{proxy+}": { "enabled": false } } })).await;
    assert_eq!(send(s.gw(Method::GET, &url)).await.cache, "bypass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_zero_needs_the_invalidation_key_unless_a_strategy_says_otherwise() {
    let (s, api, _, stage) = setup().await;
    set_cache(&s, &stage, json!({ "enabled": true })).await;
    let url = format!("/{api}/prod/things");
    let first = send(s.gw(Method::GET, &url)).await;
    assert_eq!(first.cache, "miss");
    let refresh = || s.gw(Method::GET, &url).header("cache-control", "max-age=0");

    // FAIL_WITH_403 (default): no key, wrong key → 403 and the entry stays.
    let denied = send(refresh()).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.body["message"].as_str().unwrap().contains("Not authorized to invalidate"), "{}", denied.body);
    assert_eq!(send(refresh().bearer_auth("wgi_wrong")).await.status, 403);
    assert_eq!(send(s.gw(Method::GET, &url)).await.seen(), first.seen());

    // The key: shown once, 201.
    let (st, v) = s.call(Method::POST, &format!("{stage}/invalidation-keys"), None).await;
    assert_eq!(st, 201, "{v}");
    let key = v["key"].as_str().unwrap().to_string();
    let (_, got) = s.call(Method::GET, &stage, None).await;
    assert!(!got.to_string().contains(&key), "the key is never shown again: {got}");
    assert_eq!(got["has_invalidation_key"], true, "{got}");
    let fresh = send(refresh().bearer_auth(&key)).await;
    assert_eq!((fresh.status, fresh.cache.as_str()), (200, "invalidated"));
    assert_ne!(fresh.seen(), first.seen());
    let hit = send(s.gw(Method::GET, &url)).await;
    assert_eq!((hit.cache.as_str(), hit.seen()), ("hit", fresh.seen()), "the refreshed entry is served");
    // A key of another stage doesn't work here.
    let (st, _) = s
        .call(
            Method::PUT,
            &format!("/v1/apis/{api}/stages/other"),
            Some(json!({ "deployment_id": got["deployment_id"] })),
        )
        .await;
    assert_eq!(st, 201);
    let (_, other) = s.call(Method::POST, &format!("/v1/apis/{api}/stages/other/invalidation-keys"), None).await;
    assert_eq!(send(refresh().bearer_auth(other["key"].as_str().unwrap())).await.status, 403);

    // SUCCEED_WITH_RESPONSE_HEADER: served from cache, with a warning. (New settings
    // flush the stage's entries.)
    set_cache(&s, &stage, json!({ "enabled": true, "unauthorized_strategy": "SUCCEED_WITH_RESPONSE_HEADER" })).await;
    let fresh = send(s.gw(Method::GET, &url)).await;
    assert_eq!(fresh.cache, "miss", "changing the settings flushed the stage");
    let warned = send(refresh()).await;
    assert_eq!((warned.status, warned.cache.as_str(), warned.seen()), (200, "hit", fresh.seen()));
    assert!(warned.warning.unwrap_or_default().contains("not authorized"));
    // SUCCEED_WITHOUT_RESPONSE_HEADER: served from cache, silently.
    set_cache(&s, &stage, json!({ "enabled": true, "unauthorized_strategy": "SUCCEED_WITHOUT_RESPONSE_HEADER" })).await;
    let fresh = send(s.gw(Method::GET, &url)).await;
    let quiet = send(refresh()).await;
    assert_eq!((quiet.status, quiet.cache.as_str(), quiet.seen()), (200, "hit", fresh.seen()));
    assert!(quiet.warning.is_none());
    // The key still refreshes under either strategy.
    assert_eq!(send(refresh().bearer_auth(&key)).await.cache, "invalidated");
    // require_authorization off: anyone may refresh.
    set_cache(&s, &stage, json!({ "enabled": true, "require_authorization": false })).await;
    assert_eq!(send(refresh()).await.cache, "invalidated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_and_stage_share_entries_only_on_the_same_deployment_or_when_told() {
    let (s, api, d1, stage) = setup().await;
    set_cache(&s, &stage, json!({ "enabled": true })).await;
    let url = format!("/{api}/prod/shared");
    let main = send(s.gw(Method::GET, &url)).await;
    assert_eq!(main.cache, "miss");
    // A canary on the same deployment, 100 %: same entries (AWS rule).
    let (st, v) = s
        .call(Method::PATCH, &stage, Some(json!({ "canary": { "deployment_id": d1, "percent_traffic": 100.0 } })))
        .await;
    assert_eq!(st, 200, "{v}");
    let same = send(s.gw(Method::GET, &url)).await;
    assert_eq!((same.cache.as_str(), same.seen()), ("hit", main.seen()));
    // A canary on another deployment: its own entries.
    let (st, v) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
    assert_eq!(st, 201, "{v}");
    let d2 = v["id"].as_str().unwrap().to_string();
    s.call(Method::PATCH, &stage, Some(json!({ "canary": { "deployment_id": d2 } }))).await;
    let other = send(s.gw(Method::GET, &url)).await;
    assert_eq!(other.cache, "miss");
    assert_eq!(other.body["event"]["requestContext"]["deploymentId"], d2.as_str());
    assert_eq!(send(s.gw(Method::GET, &url)).await.seen(), other.seen());
    // use_stage_cache: the canary reads the stage's entries.
    s.call(Method::PATCH, &stage, Some(json!({ "canary": { "use_stage_cache": true } }))).await;
    let shared = send(s.gw(Method::GET, &url)).await;
    assert_eq!((shared.cache.as_str(), shared.seen()), ("hit", main.seen()));
}

/// The general credential: an API key whose policy allows `stage:InvalidateCache` on the
/// stage (the admin token too); a key allowed it on another stage, or allowed everything
/// but it, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_stage_invalidate_cache_may_refresh() {
    let (s, api, _, stage) = setup().await;
    set_cache(&s, &stage, json!({ "enabled": true })).await;
    let url = format!("/{api}/prod/things");
    let first = send(s.gw(Method::GET, &url)).await;
    assert_eq!(first.cache, "miss");
    let refresh = |key: &str| s.gw(Method::GET, &url).header("cache-control", "max-age=0").bearer_auth(key);
    let key = |name: &str, policy: Value| {
        let s = &s;
        let name = name.to_string();
        async move {
            let (st, v) = s.call(Method::POST, "/v1/keys", Some(json!({ "name": name, "policy": policy }))).await;
            assert_eq!(st, 201, "{v}");
            v["key"].as_str().unwrap().to_string()
        }
    };
    let allowed = key(
        "cache-ops",
        json!([{ "effect": "allow", "actions": ["stage:InvalidateCache"], "resources": [format!("api/{api}/stage/prod")] }]),
    )
    .await;
    let elsewhere = key(
        "cache-dev",
        json!([{ "effect": "allow", "actions": ["stage:InvalidateCache"], "resources": [format!("api/{api}/stage/dev")] }]),
    )
    .await;
    let denied = key(
        "no-cache",
        json!([
            { "effect": "allow", "actions": ["*"], "resources": ["*"] },
            { "effect": "deny", "actions": ["stage:InvalidateCache"], "resources": ["*"] }
        ]),
    )
    .await;
    assert_eq!(send(refresh(&elsewhere)).await.status, 403);
    assert_eq!(send(refresh(&denied)).await.status, 403);
    assert_eq!(send(s.gw(Method::GET, &url)).await.seen(), first.seen(), "refused refreshes left the entry");
    let fresh = send(refresh(&allowed)).await;
    assert_eq!((fresh.status, fresh.cache.as_str()), (200, "invalidated"));
    assert_ne!(fresh.seen(), first.seen());
    assert_eq!(send(refresh(&s.token)).await.cache, "invalidated", "the admin token is root");
    // Revocation is immediate on the data plane too.
    let (st, _) = s.call(Method::DELETE, "/v1/keys/cache-ops", None).await;
    assert_eq!(st, 204);
    assert_eq!(send(refresh(&allowed)).await.status, 403);
}
