//! Per-invocation latency of the bundled `hello` guest, in-process and over HTTP.
//!
//! `cargo bench --bench invoke` (env BENCH_ROUNDS, BENCH_ITERS to change the size).
//! Each figure is reported next to a peer measured in the same run, alternating A/B
//! rounds so machine noise hits both alike:
//! * in-process: Waygate's runtime (pooling + pagemap_scan + InstancePre) vs the same
//!   runtime with the on-demand allocator;
//! * HTTP: `POST /invoke?class=production` (fresh instance per request, on the main
//!   workers) vs `GET /v1/functions/hello` on
//!   the same server (HTTP + JSON ceiling, no Wasm).
mod common;
use common::{env_usize, Stats};

use bytes::Bytes;
use std::time::Instant;
use waygate::model::{CodeHash, FunctionConfig, VersionId};
use waygate::platform::PlatformConfig;
use waygate::runtime::{executor, CodeRef, GuestRequest, Invocation, Runtime, RuntimeConfig};
use waygate::server::Server;
use waygate::store::{artifacts, layout::DataDir};

const EVENT: &str = r#"{"resource":"/hello","path":"/hello","httpMethod":"GET","headers":{"accept":"*/*"},"queryStringParameters":{"name":"bench"},"requestContext":{"stage":"dev","requestId":"r-1"},"body":null,"isBase64Encoded":false}"#;

fn runtime(pooling: bool, dir: &std::path::Path, wasm: &[u8]) -> (Runtime, CodeRef) {
    let data = DataDir::new(dir);
    data.create_dirs().expect("dirs");
    let rc = RuntimeConfig { pooling, max_instances: 64, ..RuntimeConfig::default() };
    let rt = Runtime::new(rc, data.clone()).expect("runtime");
    let hash = CodeHash::of(wasm);
    let compiled = rt.compile(wasm).expect("hello compiles");
    let rec = artifacts::put(&data, &hash, rt.fingerprint(), compiled.kind, &compiled.artifact).expect("artifact");
    (rt, CodeRef { code_hash: hash, kind: rec.kind, artifact: Ok(rec.artifact_hash) })
}

async fn in_process(rt: &Runtime, code: &CodeRef, config: &FunctionConfig, iters: usize, stats: &mut Stats) {
    let payload = Bytes::from_static(EVENT.as_bytes());
    let started = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        let out = rt
            .invoke(Invocation {
                function: "hello",
                executed_version: VersionId::Latest,
                qualifier: "$LATEST",
                alias: None,
                stage: None,
                request_id: "bench",
                code,
                config,
                input: executor::encode(code.kind, GuestRequest::Direct(payload.clone()), usize::MAX).expect("input"),
                cut_off: None,
                class: waygate::model::stage::PriorityClass::Production,
                outbound: None,
                files: None,
            })
            .await
            .expect("invoke");
        assert!(out.error.is_none(), "{:?}", out.error);
        // Teardown included (the gateway defers it past the response; here it is timed).
        drop(out);
        stats.hist.record(t.elapsed().as_nanos() as u64).ok();
    }
    stats.elapsed += started.elapsed();
}

async fn http(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    invoke: bool,
    concurrency: usize,
    per_task: usize,
) -> Stats {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), url.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut h = common::hist();
            for _ in 0..per_task {
                let t = Instant::now();
                let r = if invoke {
                    client
                        .post(format!("{url}/v1/functions/hello/invoke?class=production"))
                        .bearer_auth(&token)
                        .body(EVENT)
                        .send()
                        .await
                } else {
                    client.get(format!("{url}/v1/functions/hello")).bearer_auth(&token).send().await
                };
                let r = r.expect("request");
                assert!(r.status().is_success());
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
    let wasm = waygate::examples::HELLO;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let (pool, code_a) = runtime(true, &dir.path().join("a"), wasm);
        let (ondemand, code_b) = runtime(false, &dir.path().join("b"), wasm);
        let config = FunctionConfig::default();
        // Warm both (first call loads the module).
        let (mut warm, mut a, mut b) = (Stats::new(), Stats::new(), Stats::new());
        in_process(&pool, &code_a, &config, 200, &mut warm).await;
        in_process(&ondemand, &code_b, &config, 200, &mut warm).await;
        for _ in 0..rounds {
            in_process(&pool, &code_a, &config, iters, &mut a).await;
            in_process(&ondemand, &code_b, &config, iters, &mut b).await;
        }
        println!(
            "in-process invocation of hello (fresh instance, event in, response out), {} calls each:",
            a.hist.len()
        );
        println!("  waygate (pooling={}): p50 {:7.1} µs  p99 {:7.1} µs", pool.is_pooling(), a.us(0.5), a.us(0.99));
        println!("  peer on-demand alloc : p50 {:7.1} µs  p99 {:7.1} µs", b.us(0.5), b.us(0.99));
        println!("  ratio waygate/peer  : p50 {:.2}×  p99 {:.2}×", a.us(0.5) / b.us(0.5), a.us(0.99) / b.us(0.99));
        drop((pool, ondemand));

        let mut config = PlatformConfig::new(dir.path().join("server"));
        config.runtime.max_instances = 64;
        let any = "127.0.0.1:0".parse().expect("addr");
        let server = Server::start(config, any, any).await.expect("server");
        waygate::examples::register(&server.platform).await.expect("examples");
        let (url, token) = (server.admin_url(), server.platform.admin_token.clone());
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
        for c in [1usize, 8] {
            let per_task = (iters / c).max(100);
            http(&client, &url, &token, true, c, 50).await;
            let (mut inv, mut ceil) = (Stats::new(), Stats::new());
            for _ in 0..rounds {
                let s = http(&client, &url, &token, true, c, per_task).await;
                inv.hist.add(&s.hist).ok();
                inv.elapsed += s.elapsed;
                let s = http(&client, &url, &token, false, c, per_task).await;
                ceil.hist.add(&s.hist).ok();
                ceil.elapsed += s.elapsed;
            }
            println!(
                "HTTP over loopback, concurrency {c} (client in the same process), {} requests each:",
                inv.hist.len()
            );
            println!(
                "  invoke hello        : {:8.0} req/s  p50 {:7.1} µs  p99 {:7.1} µs",
                inv.rps(),
                inv.us(0.5),
                inv.us(0.99)
            );
            println!(
                "  peer GET metadata   : {:8.0} req/s  p50 {:7.1} µs  p99 {:7.1} µs",
                ceil.rps(),
                ceil.us(0.5),
                ceil.us(0.99)
            );
            println!(
                "  ratio invoke/peer   : req/s {:.2}×  p50 {:.2}×",
                inv.rps() / ceil.rps(),
                inv.us(0.5) / ceil.us(0.5)
            );
        }
        server.shutdown().await;
    });
}
