//! Access control end to end: every management route refuses a key without its
//! permission, the study guide's ci-dev key, revocation, the audit log, and secrets per
//! environment (never readable back, never on disk in plaintext).

use crate::fixtures;
use crate::harness::{json_of, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use waygate::control::access::{BodyKind, Refine, Source, FIELD_RULES};
use waygate::control::routes::{Route, ROUTES};

async fn make_key(s: &TestServer, name: &str, policy: Value) -> String {
    let (status, v) = s.call(Method::POST, "/v1/keys", Some(json!({ "name": name, "policy": policy }))).await;
    assert_eq!(status, 201, "{v}");
    v["key"].as_str().expect("key shown once").to_string()
}

async fn upload_as_key(s: &TestServer, key: &str, function: &str, wasm: Vec<u8>) -> u16 {
    let r = reqwest::Client::new()
        .put(format!("{}/v1/functions/{function}/code", s.url))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .expect("upload");
    r.status().as_u16()
}

async fn as_key(s: &TestServer, key: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, format!("{}{path}", s.url)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    json_of(r.send().await.expect("request")).await
}

pub fn concrete(path: &str) -> String {
    path.replace("{name}", "f1")
        .replace("{version}", "1")
        .replace("{alias}", "A1")
        .replace("{statement_id}", "s1")
        .replace("{id}", "abcdefghij")
        .replace("{route}", "r1")
        .replace("{deployment}", "d1")
        .replace("{stage}", "st1")
        .replace("{environment}", "e1")
        .replace("{application}", "app1")
        .replace("{profile}", "p1")
        .replace("{strategy}", "s1")
        .replace("{resource}", "abcdef0123")
        .replace("{method}", "GET")
}

/// The router is built from `control::routes::ROUTES`, each route with its rule, so the
/// table is every route; a key refused with the rule's action named proves the route is
/// registered and reached its rule (an unregistered one would be refused without it).
#[tokio::test]
async fn every_route_has_a_rule_and_refuses_a_key_without_its_permission() {
    assert!(ROUTES.len() >= 50, "too few routes: {}", ROUTES.len());
    let s = TestServer::start().await;
    // Allowed everything but audit:Read — a key that can only read the audit log.
    let audit_only =
        make_key(&s, "audit-only", json!([{"effect": "allow", "actions": ["audit:Read"], "resources": ["audit"]}]))
            .await;
    let mut keys = std::collections::HashMap::new();
    for route in ROUTES {
        let r = &route.rule;
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let path = concrete(route.path);
        // A body that names a stage, so body-dependent rules take their narrowest form.
        let body = matches!(r.refine, Refine::Deploy).then(|| json!({ "stage": "st1" }));
        // A key allowed everything except this route's action.
        let deny = json!([
            {"effect": "allow", "actions": ["*"], "resources": ["*"]},
            {"effect": "deny", "actions": [r.action], "resources": ["*"]}
        ]);
        if !keys.contains_key(r.action) {
            let name = format!("k{}", r.action.replace(':', "-"));
            keys.insert(r.action, make_key(&s, &name, deny).await);
        }
        if r.refine == Refine::PerItem {
            // No permission on the route: the answer keeps what the key may read
            // (tests/all/console.rs checks the filtering), here nothing.
            for key in [&keys[r.action], &audit_only] {
                let (status, v) = as_key(&s, key, method.clone(), &path, body.clone()).await;
                assert_eq!(status, 200, "{} {path}: {v}", route.method);
                assert_eq!((&v["stages"], &v["versions"]), (&json!([]), &json!([])), "{v}");
            }
            continue;
        }
        let (status, v) = as_key(&s, &keys[r.action], method.clone(), &path, body.clone()).await;
        assert_eq!(status, 403, "{} {path} with {} denied: {v}", route.method, r.action);
        assert!(v["message"].as_str().is_some_and(|m| m.contains(r.action)), "{v}");
        let (status, v) = as_key(&s, &audit_only, method, &path, body).await;
        if r.action == "audit:Read" {
            assert_eq!(status, 200, "{v}");
        } else {
            assert_eq!(status, 403, "{} {path} for an audit-only key: {v}", route.method);
            assert!(v["message"].is_string(), "{v}");
        }
    }
    // Unknown keys are 401, as is no key at all.
    let (status, _) = as_key(&s, "wgk_0000", Method::GET, "/v1/functions", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_unlisted_route_is_refused_to_keys_but_not_to_admin() {
    let s = TestServer::start().await;
    let all = make_key(&s, "all", json!([{"effect": "allow", "actions": ["*"], "resources": ["*"]}])).await;
    // Not in the router: 404 for admin, 403 for keys (no rule → no key passes).
    let (status, _) = s.call(Method::GET, "/v1/nothing-here", None).await;
    assert_eq!(status, 404);
    let (status, v) = as_key(&s, &all, Method::GET, "/v1/nothing-here", None).await;
    assert_eq!(status, 403, "{v}");
    // A wildcard key reaches listed routes.
    let (status, v) = as_key(&s, &all, Method::GET, "/v1/functions", None).await;
    assert_eq!(status, 200, "{v}");
}

/// The example: `ci-dev` may upload code, publish versions, move EXPERIMENTAL
/// and deploy to `dev`, and gets 403 for STABLE, `prod`, deleting, and creating keys.
#[tokio::test]
async fn ci_dev_key_changes_dev_and_nothing_else() {
    let s = TestServer::start().await;
    s.deploy("orders", json!({}), &fixtures::print("v1")).await;
    let (status, v1) = s.publish("orders", json!({})).await;
    assert_eq!(status, 201, "{v1}");
    for alias in ["STABLE", "EXPERIMENTAL"] {
        let (status, v) =
            s.call(Method::PUT, &format!("/v1/functions/orders/aliases/{alias}"), Some(json!({"version": "1"}))).await;
        assert!(status == 201, "{v}");
    }
    let (_, api) = s.call(Method::POST, "/v1/apis", Some(json!({"name": "orders"}))).await;
    let id = api["id"].as_str().unwrap().to_string();
    let route = json!({"method": "GET", "path": "/x", "integration": {"type": "mock", "status": 200}});
    assert_eq!(s.call(Method::PUT, &format!("/v1/apis/{id}/routes"), Some(route)).await.0, 201);
    for stage in ["dev", "prod"] {
        let (status, v) =
            s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({"stage": stage}))).await;
        assert_eq!(status, 201, "{v}");
    }

    let key = make_key(
        &s,
        "ci-dev",
        json!([
            {"effect": "allow",
             "actions": ["function:Read", "function:UpdateCode", "function:PublishVersion", "function:Invoke", "api:Read"],
             "resources": ["function/orders", "function/orders/*", "api/*"]},
            {"effect": "allow", "actions": ["alias:Update"], "resources": ["function/orders/alias/EXPERIMENTAL"]},
            {"effect": "allow", "actions": ["api:Deploy", "stage:Update"], "resources": [format!("api/{id}/stage/dev")]}
        ]),
    )
    .await;

    // Allowed: upload, publish, move EXPERIMENTAL, deploy to dev.
    let wasm = wat::parse_str(fixtures::print("v2")).unwrap();
    assert_eq!(upload_as_key(&s, &key, "orders", wasm).await, 200);
    let (status, v2) = as_key(&s, &key, Method::POST, "/v1/functions/orders/versions", Some(json!({}))).await;
    assert_eq!(status, 201, "{v2}");
    let (status, v) =
        as_key(&s, &key, Method::PUT, "/v1/functions/orders/aliases/EXPERIMENTAL", Some(json!({"version": "2"}))).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) =
        as_key(&s, &key, Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({"stage": "dev"}))).await;
    assert_eq!(status, 201, "{v}");
    let dep = v["id"].as_str().unwrap().to_string();
    let (status, v) = as_key(
        &s,
        &key,
        Method::PATCH,
        &format!("/v1/apis/{id}/stages/dev"),
        Some(json!({"deployment_id": dep.clone()})),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    let (status, v) = as_key(&s, &key, Method::POST, "/v1/functions/orders/invoke?qualifier=EXPERIMENTAL", None).await;
    assert_eq!(status, 200, "{v}");
    // Refused: STABLE, prod (deploying, moving its deployment, editing it), deleting, keys.
    let denied: Vec<(Method, String, Option<Value>)> = vec![
        (Method::PUT, "/v1/functions/orders/aliases/STABLE".into(), Some(json!({"version": "2"}))),
        (Method::DELETE, "/v1/functions/orders/aliases/EXPERIMENTAL".into(), None),
        (Method::POST, format!("/v1/apis/{id}/deployments"), Some(json!({"stage": "prod"}))),
        (Method::POST, format!("/v1/apis/{id}/deployments"), Some(json!({}))),
        (Method::PATCH, format!("/v1/apis/{id}/stages/prod"), Some(json!({"deployment_id": dep}))),
        (Method::PATCH, format!("/v1/apis/{id}/stages/prod"), Some(json!({"description": "x"}))),
        (Method::PUT, format!("/v1/apis/{id}/stages/prod"), Some(json!({"deployment_id": dep}))),
        (Method::DELETE, format!("/v1/apis/{id}/stages/dev"), None),
        (Method::DELETE, "/v1/functions/orders".into(), None),
        (Method::DELETE, "/v1/functions/orders/versions/1".into(), None),
        (Method::DELETE, format!("/v1/apis/{id}"), None),
        (
            Method::POST,
            "/v1/keys".into(),
            Some(json!({"name": "mine", "policy": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]})),
        ),
        (Method::PATCH, "/v1/functions/orders/config".into(), Some(json!({"memory_mb": 256}))),
        // Pointing dev at prod's secrets, or invoking with them, needs secret:Use on prod.
        (Method::PATCH, format!("/v1/apis/{id}/stages/dev"), Some(json!({"secret_environment": "prod"}))),
        (
            Method::PUT,
            format!("/v1/apis/{id}/stages/dev"),
            Some(json!({"deployment_id": dep, "secret_environment": "prod"})),
        ),
        (Method::POST, "/v1/functions/orders/invoke?environment=prod".into(), None),
    ];
    for (m, path, body) in denied {
        let (status, v) = as_key(&s, &key, m.clone(), &path, body).await;
        assert_eq!(status, 403, "{m} {path}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // Nothing changed on the prod side.
    let (_, stable) = s.call(Method::GET, "/v1/functions/orders/aliases/STABLE", None).await;
    assert_eq!(stable["version"], "1");
    let (_, prod) = s.call(Method::GET, &format!("/v1/apis/{id}/stages/prod"), None).await;
    assert_ne!(prod["deployment_id"], dep.as_str());

    // The audit log has who did what, allowed and refused.
    let (status, log) = s.call(Method::GET, "/v1/audit?principal=ci-dev&limit=100", None).await;
    assert_eq!(status, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["principal"] == "ci-dev"));
    let has = |action: &str, resource: &str, st: u64| {
        entries.iter().any(|e| e["action"] == action && e["resource"] == resource && e["status"] == st)
    };
    assert!(has("alias:Update", "function/orders/alias/EXPERIMENTAL", 200), "{log}");
    assert!(has("alias:Update", "function/orders/alias/STABLE", 403), "{log}");
    assert!(has("api:Deploy", &format!("api/{id}/stage/dev"), 201), "{log}");
    assert!(has("api:Deploy", &format!("api/{id}/stage/prod"), 403), "{log}");
    assert!(has("function:UpdateCode", "function/orders", 200), "{log}");
    // Every permission checked is listed, paired with its resource.
    let dev = format!("api/{id}/stage/dev");
    assert!(has("stage:Update,secret:Use,api:Deploy", &format!("{dev},secret/prod/*,{dev}"), 403), "{log}");
    // Reads are not audited.
    assert!(entries.iter().all(|e| e["method"] != "GET"), "{log}");
}

#[tokio::test]
async fn keys_are_shown_once_hashed_at_rest_and_revoked_at_once() {
    let s = TestServer::start().await;
    let key =
        make_key(&s, "reader", json!([{"effect": "allow", "actions": ["function:Read"], "resources": ["function/*"]}]))
            .await;
    assert!(key.starts_with("wgk_"));
    let (status, list) = s.call(Method::GET, "/v1/keys", None).await;
    assert_eq!(status, 200);
    assert!(!list.to_string().contains(&key), "{list}");
    assert!(list["keys"][0].get("key_hash").is_none(), "{list}");
    assert_eq!(as_key(&s, &key, Method::GET, "/v1/functions", None).await.0, 200);
    // Duplicate names conflict; bad policies are 400 and store nothing.
    let dup = json!({"name": "reader", "policy": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]});
    assert_eq!(s.call(Method::POST, "/v1/keys", Some(dup)).await.0, 409);
    for bad in [
        json!({"name": "x", "policy": [{"effect": "allow", "actions": ["function:Nope"], "resources": ["*"]}]}),
        json!({"name": "x", "policy": []}),
        json!({"name": "admin", "policy": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]}),
        json!({"name": "a/b", "policy": [{"effect": "allow", "actions": ["*"], "resources": ["*"]}]}),
    ] {
        let (status, v) = s.call(Method::POST, "/v1/keys", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["message"].is_string());
    }
    assert_eq!(s.call(Method::GET, "/v1/keys", None).await.1["keys"].as_array().unwrap().len(), 1);
    // The key's plaintext is nowhere in the data directory.
    assert!(grep_dir(&s.data(), key.as_bytes()).is_empty());

    assert_eq!(s.call(Method::DELETE, "/v1/keys/reader", None).await.0, 204);
    let (status, v) = as_key(&s, &key, Method::GET, "/v1/functions", None).await;
    assert_eq!(status, 401, "{v}");
    assert!(!s.platform().snapshot().access.allows(&key, "function:Read", "function/x"));
    assert_eq!(s.call(Method::DELETE, "/v1/keys/reader", None).await.0, 404);
}

#[tokio::test]
async fn snapshot_access_allows_matches_policies() {
    let s = TestServer::start().await;
    let key = make_key(
        &s,
        "cache-dev",
        json!([{"effect": "allow", "actions": ["stage:InvalidateCache"], "resources": ["api/*/stage/dev"]}]),
    )
    .await;
    let snap = s.platform().snapshot();
    assert!(snap.access.allows(&key, "stage:InvalidateCache", "api/abc/stage/dev"));
    assert!(!snap.access.allows(&key, "stage:InvalidateCache", "api/abc/stage/prod"));
    assert!(!snap.access.allows(&key, "stage:FlushCache", "api/abc/stage/dev"));
    assert!(snap.access.allows(&s.token, "stage:FlushCache", "api/abc/stage/prod"));
    assert!(!snap.access.allows("wgk_unknown", "stage:InvalidateCache", "api/abc/stage/dev"));
}

/// Files under `dir` (recursively) whose bytes contain `needle`.
fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

#[tokio::test]
async fn secrets_differ_per_stage_and_never_leave_in_plaintext() {
    let s = TestServer::start().await;
    let echo = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/echo.wasm")).unwrap();
    s.create("echo", json!({"env": {"DB_PASSWORD": "secret:db-password", "PLAIN": "p"}})).await;
    let (status, v) = s.upload("echo", &echo).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = s.publish("echo", json!({})).await;
    assert_eq!(status, 201, "{v}");

    let (dev_pw, prod_pw) = ("dev-pw-7f3a9c1e55", "prod-pw-b81d0e22c4");
    for (env, value) in [("dev", dev_pw), ("prod", prod_pw)] {
        let (status, v) =
            s.call(Method::PUT, &format!("/v1/secrets/{env}/db-password"), Some(json!({"value": value}))).await;
        assert_eq!(status, 201, "{v}");
        assert!(!v.to_string().contains(value));
    }
    // One API, one route to version 1, two stages: dev and prod.
    let (_, api) = s.call(Method::POST, "/v1/apis", Some(json!({"name": "sec"}))).await;
    let id = api["id"].as_str().unwrap().to_string();
    let route = json!({"method": "GET", "path": "/pw", "integration": {"type": "function", "target": "echo:1"}});
    assert_eq!(s.call(Method::PUT, &format!("/v1/apis/{id}/routes"), Some(route)).await.0, 201);
    let perm = json!({"statement_id": "api", "principal": format!("api:{id}"), "source": format!("{id}/*/*/*"), "qualifier": "1"});
    let (status, v) = s.call(Method::POST, "/v1/functions/echo/permissions", Some(perm)).await;
    assert_eq!(status, 201, "{v}");
    let (_, dep) = s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({"stage": "dev"}))).await;
    let dep = dep["id"].as_str().unwrap().to_string();
    let (status, v) =
        s.call(Method::PUT, &format!("/v1/apis/{id}/stages/prod"), Some(json!({"deployment_id": dep}))).await;
    assert_eq!(status, 201, "{v}");
    // A third stage that reads prod's secrets explicitly.
    let (status, v) = s
        .call(
            Method::PUT,
            &format!("/v1/apis/{id}/stages/canary"),
            Some(json!({"deployment_id": dep, "secret_environment": "prod"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");

    let pw_of = |stage: &'static str| {
        let url = format!("{}/{id}/{stage}/pw", s.gateway);
        async move {
            let r = reqwest::get(url).await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            (status, v["env"]["DB_PASSWORD"].as_str().unwrap_or("").to_string())
        }
    };
    assert_eq!(pw_of("dev").await, (200, dev_pw.to_string()));
    assert_eq!(pw_of("prod").await, (200, prod_pw.to_string()));
    assert_eq!(pw_of("canary").await, (200, prod_pw.to_string()));

    // Rotation takes effect without a new version.
    let rotated = "dev-pw-rotated-449a";
    assert_eq!(s.call(Method::PUT, "/v1/secrets/dev/db-password", Some(json!({"value": rotated}))).await.0, 200);
    assert_eq!(pw_of("dev").await, (200, rotated.to_string()));

    // Direct invoke picks the environment by query; the default one has no such secret.
    let r =
        s.req(Method::POST, "/v1/functions/echo/invoke?qualifier=1&environment=prod").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["env"]["DB_PASSWORD"], prod_pw);
    let (status, v) =
        json_of(s.req(Method::POST, "/v1/functions/echo/invoke?qualifier=1").body("{}").send().await.unwrap()).await;
    assert_eq!(status, 502, "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("db-password") && msg.contains("'default'"), "{msg}");

    // A missing secret on a stage is a configuration error, not an empty value.
    assert_eq!(s.call(Method::DELETE, "/v1/secrets/prod/db-password", None).await.0, 204);
    assert_eq!(pw_of("prod").await.0, 500);
    assert_eq!(s.call(Method::DELETE, "/v1/secrets/prod/db-password", None).await.0, 404);

    // No API returns a value: listing shows names only.
    let (status, list) = s.call(Method::GET, "/v1/secrets/dev", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["secrets"][0]["name"], "db-password");
    assert!(!list.to_string().contains(rotated), "{list}");
    let (_, audit) = s.call(Method::GET, "/v1/audit?limit=1000", None).await;
    for v in [dev_pw, prod_pw, rotated] {
        assert!(!audit.to_string().contains(v));
    }
    // Bad names and oversized values are 400.
    let (status, _) = s.call(Method::PUT, "/v1/secrets/dev/bad%20name", Some(json!({"value": "x"}))).await;
    assert_eq!(status, 400);
    let big = "x".repeat(waygate::secrets::MAX_SECRET_BYTES + 1);
    assert_eq!(s.call(Method::PUT, "/v1/secrets/dev/big", Some(json!({"value": big}))).await.0, 400);

    // Nothing on disk holds a plaintext value (DB, WAL, every file), even after a restart.
    let s = s.restart().await;
    assert_eq!(pw_of_after_restart(&s, &id).await, rotated);
    for v in [dev_pw, prod_pw, rotated] {
        let hits = grep_dir(&s.data(), v.as_bytes());
        assert!(hits.is_empty(), "plaintext {v} found in {hits:?}");
    }
}

async fn pw_of_after_restart(s: &TestServer, id: &str) -> String {
    let v: Value = s.gw(Method::GET, &format!("/{id}/dev/pw")).send().await.unwrap().json().await.unwrap();
    v["env"]["DB_PASSWORD"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn audit_is_bounded_and_filterable() {
    let s = TestServer::start().await;
    s.create("a1", json!({})).await;
    assert_eq!(s.call(Method::DELETE, "/v1/functions/nope", None).await.0, 404);
    let (status, v) = s.call(Method::GET, "/v1/audit?limit=10", None).await;
    assert_eq!(status, 200);
    let e = v["entries"].as_array().unwrap();
    assert_eq!(e[0]["action"], "function:Delete");
    assert_eq!(e[0]["status"], 404);
    assert_eq!(e[0]["principal"], "admin");
    assert_eq!(e[1]["action"], "function:Create");
    assert_eq!(e[1]["resource"], "function/a1");
    let (_, v) = s.call(Method::GET, "/v1/audit?action=function:Create", None).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    let (_, v) = s.call(Method::GET, "/v1/audit?resource=function/a", None).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    let (_, v) = s.call(Method::GET, "/v1/audit?limit=1", None).await;
    let before = v["next_before"].as_i64().unwrap();
    let (_, v) = s.call(Method::GET, &format!("/v1/audit?limit=10&before={before}"), None).await;
    assert_eq!(v["entries"][0]["action"], "function:Create");
    for bad in ["limit=0", "limit=1001", "since=yesterday", "bogus=1"] {
        let (status, v) = s.call(Method::GET, &format!("/v1/audit?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    // Unauthenticated mutating calls are recorded too.
    let r = reqwest::Client::new().delete(format!("{}/v1/functions/a1", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (_, v) = s.call(Method::GET, "/v1/audit?principal=unauthenticated", None).await;
    assert_eq!(v["entries"][0]["status"], 401);
    // Invocations change nothing and are not audited (CloudTrail's data events are opt-in).
    let inv = s.invoke("a1", "{}").await;
    assert_eq!(inv.status, 409, "a1 has no code yet: {}", inv.text());
    let (_, v) = s.call(Method::GET, "/v1/audit?action=function:Invoke", None).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 0, "{v}");
}

/// Every permission-bearing field is checked on every route and method that can carry it:
/// a key allowed everything but the field's own permission is refused, with the field's
/// permission named, whatever route it is sent to.
#[tokio::test]
async fn every_permission_bearing_field_is_checked_on_every_route_and_method() {
    let s = TestServer::start().await;
    let mut cases = 0;
    for f in FIELD_RULES {
        for r in ROUTES {
            let reads_body = r.rule.body != BodyKind::Raw && matches!(r.method, "POST" | "PUT" | "PATCH");
            if f.source == Source::Body && !reads_body {
                continue;
            }
            let path = concrete(r.path);
            let base = path_resource(r, &path);
            let resource =
                if f.resource.contains("{value}") { f.resource.replace("{value}", "prod") } else { base.clone() };
            let key = make_key(
                &s,
                &format!("f{cases}"),
                json!([
                    {"effect": "allow", "actions": ["*"], "resources": ["*"]},
                    {"effect": "deny", "actions": [f.action], "resources": [resource]}
                ]),
            )
            .await;
            let method = Method::from_bytes(r.method.as_bytes()).unwrap();
            let (url, body) = match f.source {
                Source::Body => (path.clone(), Some(json!({ f.field: "prod" }))),
                Source::Query => (format!("{path}?{}=prod", f.field), None),
            };
            let (status, v) = as_key(&s, &key, method, &url, body).await;
            assert_eq!(status, 403, "{} {url} with {}: {v}", r.method, f.field);
            let want = format!("{} on {resource}", f.action);
            assert!(v["message"].as_str().is_some_and(|m| m.contains(&want)), "{} {url}: want {want}: {v}", r.method);
            cases += 1;
        }
    }
    assert!(cases > 60, "too few cases: {cases}");
}

/// The resource a rule checks for `path` (its template filled from the concrete path).
fn path_resource(r: &Route, path: &str) -> String {
    let mut out = r.rule.resource.to_string();
    for (t, c) in r.path.split('/').zip(path.split('/')) {
        if t.starts_with('{') {
            out = out.replace(t, c);
        }
    }
    if matches!(r.rule.refine, Refine::CreateFunction | Refine::CreateKey) {
        return out; // `TYPE/*`: the body names no resource.
    }
    if r.rule.refine == Refine::CreateAlias {
        return format!("{out}/alias/*"); // the body names no alias.
    }
    if r.rule.refine == Refine::CreateStage {
        return format!("{out}/stage/*"); // the body names no stage.
    }
    out
}

/// The review's reproduction: a dev-scoped key replaces the dev stage with PUT, naming
/// prod's secrets, then reads them through an env-echoing function on dev.
#[tokio::test]
async fn a_dev_key_cannot_bind_dev_to_prods_secrets_with_put() {
    let s = TestServer::start().await;
    assert_eq!(s.call(Method::PUT, "/v1/secrets/prod/db-password", Some(json!({"value": "PROD-PW"}))).await.0, 201);
    s.deploy("orders", json!({"env": {"DB_PASSWORD": "secret:db-password"}}), &fixtures::print("v1")).await;
    let (_, api) = s.call(Method::POST, "/v1/apis", Some(json!({"name": "orders"}))).await;
    let id = api["id"].as_str().unwrap().to_string();
    let route = json!({"method": "ANY", "path": "/{proxy+}", "integration": {"type": "function", "target": "orders"}});
    assert_eq!(s.call(Method::PUT, &format!("/v1/apis/{id}/routes"), Some(route)).await.0, 201);
    let (_, d) = s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({"stage": "dev"}))).await;
    let dep = d["id"].as_str().unwrap().to_string();
    let perm = json!({"statement_id": "gw", "principal": format!("api:{id}"), "source": format!("{id}/*/*/*")});
    let (status, v) = s.call(Method::POST, "/v1/functions/orders/permissions", Some(perm)).await;
    assert_eq!(status, 201, "{v}");
    let key = make_key(
        &s,
        "ci-dev",
        json!([
            {"effect": "allow", "actions": ["function:Read", "function:UpdateCode", "api:Read"],
             "resources": ["function/orders", "function/orders/*", "api/*"]},
            {"effect": "allow", "actions": ["api:Deploy", "stage:Update"], "resources": [format!("api/{id}/stage/dev")]}
        ]),
    )
    .await;
    let put = json!({"deployment_id": dep, "variables": {"alias": "EXPERIMENTAL"}, "secret_environment": "prod"});
    let (status, v) = as_key(&s, &key, Method::PUT, &format!("/v1/apis/{id}/stages/dev"), Some(put)).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("secret:Use on secret/prod/*"), "{v}");
    // The same PUT without the secret binding is the key's to make.
    let put = json!({"deployment_id": dep, "variables": {"alias": "EXPERIMENTAL"}});
    let (status, v) = as_key(&s, &key, Method::PUT, &format!("/v1/apis/{id}/stages/dev"), Some(put)).await;
    assert_eq!(status, 200, "{v}");
    // The key uploads an env-echoing module: dev still sees no prod secret.
    let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-examples/prebuilt/echo.wasm")).unwrap();
    assert_eq!(upload_as_key(&s, &key, "orders", wasm).await, 200);
    let dev_sees = || async { s.gw(Method::GET, &format!("/{id}/dev/x")).send().await.unwrap().text().await.unwrap() };
    let out = dev_sees().await;
    assert!(!out.contains("PROD-PW"), "{out}");
    // What the refused call would have done (the admin may): dev then prints prod's secret.
    let bind = json!({"secret_environment": "prod"});
    assert_eq!(s.call(Method::PATCH, &format!("/v1/apis/{id}/stages/dev"), Some(bind)).await.0, 200);
    let out = dev_sees().await;
    assert!(out.contains("PROD-PW"), "{out}");
}
