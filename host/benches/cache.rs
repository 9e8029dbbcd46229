//! Stage cache: hit vs miss throughput through the gateway, measured in the same run.
//!
//! `cargo bench --bench cache` (env BENCH_ROUNDS, BENCH_ITERS, BENCH_CONCURRENCY).
//! One stage with the cache on (TTL 3600 s) in front of the bundled `hello` guest:
//! * hit: every request has the same cache key (answered from the cache, no Wasm);
//! * miss (the peer): every request has a fresh query string, so it looks up, runs a
//!   fresh instance and stores the answer: the full uncached path plus the cache's own cost.
//!
//! Rounds alternate hit/miss so machine noise hits both alike.
mod common;
use common::{env_usize, Stats};

use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use waygate::platform::PlatformConfig;
use waygate::server::Server;

async fn admin(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let r = client.request(method, format!("{url}{path}")).bearer_auth(token).json(&body).send().await.expect("admin");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// `expect`: the `x-waygate-cache` value every request must carry.
async fn run(
    client: &reqwest::Client,
    base: &str,
    unique: bool,
    expect: &'static str,
    c: usize,
    per_task: usize,
    seq: &Arc<AtomicUsize>,
) -> Stats {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (client, base, seq) = (client.clone(), base.to_string(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = common::hist();
            for _ in 0..per_task {
                let url =
                    if unique { format!("{base}?n={}", seq.fetch_add(1, Ordering::Relaxed)) } else { base.clone() };
                let t = Instant::now();
                let r = client.get(url).send().await.expect("request");
                assert!(r.status().is_success(), "{}", r.status());
                let cache = r.headers().get("x-waygate-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                assert_eq!(cache, expect);
                r.bytes().await.expect("body");
                h.record(t.elapsed().as_nanos() as u64).ok();
            }
            h
        }));
    }
    common::join(tasks, started).await
}

fn main() {
    // mimalloc (waygate_cli's global allocator) with the purge delay `waygate` runs with.
    waygate_cli::tune_allocator();
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let iters = env_usize("BENCH_ITERS", 4000);
    let c = env_usize("BENCH_CONCURRENCY", 8);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let mut config = PlatformConfig::new(dir.path().join("server"));
        config.runtime.max_instances = 64;
        let any = "127.0.0.1:0".parse().expect("addr");
        let server = Server::start(config, any, any).await.expect("server");
        waygate::examples::register(&server.platform).await.expect("examples");
        let (url, token) = (server.admin_url(), server.platform.admin_token.clone());
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
        use reqwest::Method;
        let api = admin(&client, &url, &token, Method::POST, "/v1/apis", json!({ "name": "bench" })).await;
        let id = api["id"].as_str().expect("id").to_string();
        let route =
            json!({ "method": "GET", "path": "/{proxy+}", "integration": { "type": "function", "target": "hello" } });
        admin(&client, &url, &token, Method::PUT, &format!("/v1/apis/{id}/routes"), route).await;
        let statement =
            json!({ "statement_id": "bench", "principal": format!("api:{id}"), "source": format!("{id}/*/*/*") });
        admin(&client, &url, &token, Method::POST, "/v1/functions/hello/permissions", statement).await;
        admin(&client, &url, &token, Method::POST, &format!("/v1/apis/{id}/deployments"), json!({ "stage": "bench" }))
            .await;
        let cache = json!({ "cache": { "enabled": true, "ttl_seconds": 3600 } });
        admin(&client, &url, &token, Method::PATCH, &format!("/v1/apis/{id}/stages/bench"), cache).await;

        let base = format!("{}/{id}/bench/hello", server.gateway_url());
        let seq = Arc::new(AtomicUsize::new(0));
        let per_task = (iters / c).max(50);
        // Warm up: load the module, fill the one hit entry.
        run(&client, &base, true, "miss", c, 50, &seq).await;
        run(&client, &base, false, "miss", 1, 1, &seq).await;
        let (mut hit, mut miss) = (Stats::new(), Stats::new());
        for _ in 0..rounds {
            let s = run(&client, &base, false, "hit", c, per_task, &seq).await;
            hit.hist.add(&s.hist).ok();
            hit.elapsed += s.elapsed;
            let s = run(&client, &base, true, "miss", c, per_task, &seq).await;
            miss.hist.add(&s.hist).ok();
            miss.elapsed += s.elapsed;
        }
        println!(
            "gateway GET through a cached stage, concurrency {c} (client in the same process), {} requests each:",
            hit.hist.len()
        );
        println!(
            "  cache hit (no Wasm)      : {:8.0} req/s  p50 {:7.1} µs  p99 {:7.1} µs",
            hit.rps(),
            hit.us(0.5),
            hit.us(0.99)
        );
        println!(
            "  peer cache miss + store  : {:8.0} req/s  p50 {:7.1} µs  p99 {:7.1} µs",
            miss.rps(),
            miss.us(0.5),
            miss.us(0.99)
        );
        println!(
            "  ratio hit/miss           : req/s {:.2}×  p50 {:.2}×",
            hit.rps() / miss.rps(),
            miss.us(0.5) / hit.us(0.5)
        );
        println!("  cache entries            : {}", server.platform.live.cache.entry_count());
        server.shutdown().await;
    });
}
