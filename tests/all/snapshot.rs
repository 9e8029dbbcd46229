//! The incremental snapshot equals a full build: random sequences of management calls
//! (functions, code, versions, aliases, concurrency, permissions, APIs, stages, keys,
//! secrets, values, configuration, alias shifts), and after each one the snapshot the data
//! plane serves must describe exactly like a fresh full build of the same state.

use crate::fixtures;
use crate::harness::TestServer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

const FUNCTIONS: usize = 4;
const APIS: usize = 2;

fn pick<'a>(rng: &mut StdRng, of: &'a [&'a str]) -> &'a str {
    of[rng.random_range(0..of.len())]
}

/// One random management call; returns what it did (for the failure message). Refusals
/// (404, 409, 400) are part of the game: a refused call must change nothing.
async fn step(s: &TestServer, rng: &mut StdRng, apis: &mut Vec<String>) -> String {
    let f = format!("f{}", rng.random_range(0..FUNCTIONS));
    let qualifier = pick(rng, &["$LATEST", "1", "2", "3", "LIVE"]).to_string();
    let (what, status) = match rng.random_range(0..20) {
        0 | 1 => {
            let (st, _) = s.call(Method::POST, "/v1/functions", Some(json!({ "name": f }))).await;
            (format!("create {f}"), st)
        }
        2 | 3 => {
            // Few distinct texts: functions share code (and so artifacts).
            let text = format!("code{}", rng.random_range(0..3));
            let (st, _) = s.upload(&f, &wat::parse_str(fixtures::print(&text)).unwrap()).await;
            (format!("upload {f} {text}"), st)
        }
        4 | 5 => (format!("publish {f}"), s.publish(&f, json!({})).await.0),
        6 => {
            let body = json!({ "description": format!("d{}", rng.random_range(0..3)), "memory_mb": 64 * rng.random_range(1..3) });
            (format!("config {f}"), s.call(Method::PATCH, &format!("/v1/functions/{f}/config"), Some(body)).await.0)
        }
        7 | 8 => {
            let to = pick(rng, &["$LATEST", "1", "2"]);
            let body = match rng.random_bool(0.3) {
                true => json!({ "version": "1", "routing": { "version": "2", "weight": 0.25 } }),
                false => json!({ "version": to }),
            };
            (
                format!("alias {f} LIVE → {body}"),
                s.call(Method::PUT, &format!("/v1/functions/{f}/aliases/LIVE"), Some(body)).await.0,
            )
        }
        9 => (
            format!("delete alias {f}"),
            s.call(Method::DELETE, &format!("/v1/functions/{f}/aliases/LIVE"), None).await.0,
        ),
        10 => {
            let v = rng.random_range(1..4);
            (
                format!("delete {f}:{v}"),
                s.call(Method::DELETE, &format!("/v1/functions/{f}/versions/{v}"), None).await.0,
            )
        }
        11 => (format!("delete {f}"), s.call(Method::DELETE, &format!("/v1/functions/{f}"), None).await.0),
        12 => match rng.random_bool(0.6) {
            true => {
                let n = rng.random_range(0..4);
                let body = json!({ "reserved_concurrency": n });
                (
                    format!("concurrency {f} {n}"),
                    s.call(Method::PUT, &format!("/v1/functions/{f}/concurrency"), Some(body)).await.0,
                )
            }
            false => (
                format!("no concurrency {f}"),
                s.call(Method::DELETE, &format!("/v1/functions/{f}/concurrency"), None).await.0,
            ),
        },
        13 => {
            let Some(api) = apis.get(rng.random_range(0..APIS)).cloned() else {
                let (st, v) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "a" }))).await;
                apis.push(v["id"].as_str().unwrap_or_default().to_string());
                return format!("create api → {st}");
            };
            let q = if qualifier == "$LATEST" { None } else { Some(qualifier.clone()) };
            let id = format!("s{}", rng.random_range(0..2));
            let body = json!({ "statement_id": id, "principal": format!("api:{api}"), "source": format!("{api}/*/*/*"), "qualifier": q });
            let add = s.call(Method::POST, &format!("/v1/functions/{f}/permissions"), Some(body)).await.0;
            if add == 409 {
                let st = s.call(Method::DELETE, &format!("/v1/functions/{f}/permissions/{id}"), None).await.0;
                (format!("remove permission {f} {id}"), st)
            } else {
                (format!("permission {f}:{qualifier} for {api}"), add)
            }
        }
        14 | 15 => {
            let Some(api) = apis.get(rng.random_range(0..APIS)).cloned() else {
                let (st, v) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "a" }))).await;
                apis.push(v["id"].as_str().unwrap_or_default().to_string());
                return format!("create api → {st}");
            };
            let target = match rng.random_bool(0.5) {
                true => format!("{f}:${{stageVariables.alias}}"),
                false => format!("{f}:{qualifier}"),
            };
            let route = json!({ "method": "GET", "path": format!("/r{}", rng.random_range(0..3)),
                "integration": { "type": "function", "target": target } });
            let put = s.call(Method::PUT, &format!("/v1/apis/{api}/routes"), Some(route)).await.0;
            let (dst, dep) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
            let stage = pick(rng, &["dev", "prod"]);
            let alias = pick(rng, &["LIVE", "1", "$LATEST"]);
            let body = json!({ "deployment_id": dep["id"], "variables": { "alias": alias } });
            let st = s.call(Method::PUT, &format!("/v1/apis/{api}/stages/{stage}"), Some(body)).await.0;
            (format!("route {target} put {put}, deploy {dst}, stage {stage} alias={alias}"), st)
        }
        16 => {
            let Some(api) = apis.get(rng.random_range(0..apis.len().max(1))).cloned() else { return "no api".into() };
            let stage = pick(rng, &["dev", "prod"]);
            let path = format!("/v1/apis/{api}/stages/{stage}");
            match rng.random_range(0..8) {
                0 => {
                    apis.retain(|a| *a != api);
                    (format!("delete api {api}"), s.call(Method::DELETE, &format!("/v1/apis/{api}"), None).await.0)
                }
                1 | 2 => (format!("delete stage {stage}"), s.call(Method::DELETE, &path, None).await.0),
                3 | 4 => {
                    let (_, dep) = s.call(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(json!({}))).await;
                    let body = json!({ "canary": { "deployment_id": dep["id"], "percent_traffic": 30.0 } });
                    (format!("canary on {stage}"), s.call(Method::PATCH, &path, Some(body)).await.0)
                }
                _ => {
                    let alias = pick(rng, &["LIVE", "2"]);
                    let body = json!({ "variables": { "alias": alias } });
                    (format!("stage {stage} alias={alias}"), s.call(Method::PATCH, &path, Some(body)).await.0)
                }
            }
        }
        17 => {
            let name = format!("k{}", rng.random_range(0..2));
            let policy =
                json!([{ "effect": "allow", "actions": ["function:Invoke"], "resources": [format!("function/{f}")] }]);
            let st = s.call(Method::POST, "/v1/keys", Some(json!({ "name": name, "policy": policy }))).await.0;
            if st == 409 {
                (format!("revoke {name}"), s.call(Method::DELETE, &format!("/v1/keys/{name}"), None).await.0)
            } else {
                (format!("key {name}"), st)
            }
        }
        18 => {
            let env = pick(rng, &["dev", "prod"]);
            let v = rng.random_range(0..3);
            let a = s
                .call(Method::PUT, &format!("/v1/secrets/{env}/pw"), Some(json!({ "value": format!("p{v}") })))
                .await
                .0;
            let b = s
                .call(
                    Method::PUT,
                    &format!("/v1/environments/{env}/values/host"),
                    Some(json!({ "value": format!("h{v}.example") })),
                )
                .await
                .0;
            (format!("secret and value in {env}: {a}"), b)
        }
        _ => {
            // Configuration: an application, an environment, a profile, a version deployed.
            s.call(Method::POST, "/v1/applications", Some(json!({ "name": "shop" }))).await;
            s.call(Method::POST, "/v1/applications/shop/environments", Some(json!({ "name": "prod" }))).await;
            s.call(Method::POST, "/v1/applications/shop/profiles", Some(json!({ "name": "motd" }))).await;
            let body = format!("hello {}", rng.random_range(0..3));
            let r = s
                .req(Method::POST, "/v1/applications/shop/profiles/motd/versions")
                .header("content-type", "text/plain")
                .body(body)
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap_or_default();
            let deploy = json!({ "profile": "motd", "version": v["version"], "strategy": "AppConfig.AllAtOnce" });
            let st = s.call(Method::POST, "/v1/applications/shop/environments/prod/deployments", Some(deploy)).await.0;
            ("config deployment".into(), st)
        }
    };
    format!("{what} → {status}")
}

async fn run(seed: u64, steps: usize) {
    let s = TestServer::start().await;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut apis = Vec::new();
    let mut done = Vec::new();
    for i in 0..steps {
        done.push(step(&s, &mut rng, &mut apis).await);
        let p = s.platform();
        let (served, served_seq) = {
            let snap = p.snapshot();
            (snap.describe(), snap.change_seq)
        };
        // Blocking (the shared store's client must not run on the reactor).
        let (full, full_seq) = tokio::task::spawn_blocking(move || {
            let snap = p.full_snapshot().unwrap();
            (snap.describe(), snap.change_seq)
        })
        .await
        .unwrap();
        if served != full {
            let last: Vec<_> = done.iter().rev().take(8).rev().collect();
            panic!(
                "seed {seed}, step {i}: the incremental snapshot differs from a full build\n\
                 last steps: {last:#?}\n--- served ---\n{served}\n--- full ---\n{full}"
            );
        }
        assert_eq!(served_seq, full_seq, "seed {seed}, step {i}");
    }
    // The sequence must have done things, not only been refused.
    let applied = done.iter().filter(|d| d.ends_with("→ 200") || d.ends_with("→ 201") || d.ends_with("→ 204")).count();
    assert!(applied * 4 >= steps, "seed {seed}: only {applied} of {steps} steps changed anything: {done:#?}");
}

#[tokio::test]
async fn incremental_snapshots_equal_full_builds_over_random_changes() {
    for seed in [1, 2, 3] {
        run(seed, 150).await;
    }
}
