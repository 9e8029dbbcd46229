//! Gateway overhead: everything a gateway request costs besides instantiating and running
//! the guest (invoke-URL parsing, stage lookup, route matching, permission check, alias
//! resolution, event building, response mapping), with 1,000 APIs × 20 routes deployed,
//! next to a peer server holding 1 API × 1 route, measured in the same run.
//!
//! `cargo bench --bench gateway` (env BENCH_APIS, BENCH_ROUNDS, BENCH_ITERS to change the
//! size; BENCH_CONCURRENCY="1 4" the requests in flight, one run per level). Figures come
//! from the gateway's own `server-timing` header of each response: `route` (invoke URL →
//! stage → matched route) and `total − load − instantiate − run` (the whole gateway path
//! minus the guest). Rounds alternate big/peer so machine noise hits both alike. Requests
//! go over loopback HTTP from client tasks on the same tokio runtime as the servers.
mod common;
use common::{env_usize, hist, populate, ROUTES_PER_API};

use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::Instant;
use waygate::platform::{Platform, PlatformConfig};
use waygate::server::Server;

struct Side {
    name: String,
    server: Server,
    apis: Vec<String>,
    routes_per_api: usize,
    route: Histogram<u64>,
    overhead: Histogram<u64>,
    wall: Histogram<u64>,
    phases: std::collections::BTreeMap<String, Vec<f64>>,
}

/// A data dir on tmpfs when there is one: the setup's 23,000 fsynced transactions are not
/// what this measures.
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("tmp")
}

async fn side(name: &str, dir: &std::path::Path, apis: usize, routes_per_api: usize) -> Side {
    let mut config = PlatformConfig::new(dir);
    config.runtime.max_instances = 16;
    let any = "127.0.0.1:0".parse().expect("addr");
    let server = Server::start(config, any, any).await.expect("server");
    let p: Arc<Platform> = server.platform.clone();
    waygate::examples::register(&p).await.expect("examples");
    let t = Instant::now();
    let ids = p.commit(move |tx| populate(tx, apis, routes_per_api)).await.expect("setup");
    println!(
        "{name}: {apis} APIs × {routes_per_api} routes inserted and the snapshot rebuilt in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Side {
        name: name.into(),
        server,
        apis: ids,
        routes_per_api,
        route: hist(),
        overhead: hist(),
        wall: hist(),
        phases: Default::default(),
    }
}

fn timing(h: &str, name: &str) -> f64 {
    h.split(", ")
        .find_map(|e| {
            let (n, d) = e.split_once(";dur=")?;
            (n == name).then(|| d.parse::<f64>().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// One request's figures, from its `server-timing` and the client's clock (ns).
struct Sample {
    route: u64,
    overhead: u64,
    wall: u64,
    phases: Vec<(String, f64)>,
}

/// `iters` requests over `concurrency` client tasks, each to a random API and route.
async fn run(client: &reqwest::Client, s: &mut Side, iters: usize, concurrency: usize, record: bool) {
    let base = s.server.gateway_url();
    let svcs = s.routes_per_api.min(ROUTES_PER_API - 2);
    let apis = Arc::new(s.apis.clone());
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, apis) = (client.clone(), base.clone(), apis.clone());
        tasks.push(tokio::spawn(async move {
            use rand::Rng;
            let mut out = Vec::with_capacity(iters / concurrency);
            for _ in 0..iters / concurrency {
                let (api, svc, n) = {
                    let mut rng = rand::rng();
                    (
                        apis[rng.random_range(0..apis.len())].clone(),
                        rng.random_range(0..svcs),
                        rng.random_range(0..1_000_000),
                    )
                };
                let url = format!("{base}/{api}/prod/svc{svc}/items/{n}");
                let t = Instant::now();
                let r = client.get(&url).send().await.expect("request");
                assert_eq!(r.status(), 200, "{url}");
                let st = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                r.bytes().await.expect("body");
                let wall = t.elapsed();
                let ns = |ms: f64| (ms * 1e6).max(1.0) as u64;
                let guest = timing(&st, "load") + timing(&st, "instantiate") + timing(&st, "run");
                let phases = st
                    .split(", ")
                    .filter_map(|e| {
                        let (n, d) = e.split_once(";dur=")?;
                        Some((n.to_string(), d.parse::<f64>().ok()? * 1000.0))
                    })
                    .collect();
                out.push(Sample {
                    route: ns(timing(&st, "route")),
                    overhead: ns(timing(&st, "total") - guest),
                    wall: wall.as_nanos() as u64,
                    phases,
                });
            }
            out
        }));
    }
    for t in tasks {
        for x in t.await.expect("client task") {
            if record {
                s.route.record(x.route).ok();
                s.overhead.record(x.overhead).ok();
                s.wall.record(x.wall).ok();
                for (k, v) in x.phases {
                    s.phases.entry(k).or_default().push(v);
                }
            }
        }
    }
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn main() {
    // mimalloc (waygate_cli's global allocator) with the purge delay `waygate` runs with.
    waygate_cli::tune_allocator();
    let apis = env_usize("BENCH_APIS", 1000);
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let iters = env_usize("BENCH_ITERS", 1000);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1 4".into())
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    rt.block_on(async {
        let (dir_big, dir_peer) = (scratch(), scratch());
        let mut big = side("big ", dir_big.path(), apis, ROUTES_PER_API).await;
        let mut peer = side("peer", dir_peer.path(), 1, 1).await;
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
        for &c in &levels {
            for s in [&mut big, &mut peer] {
                (s.route, s.overhead, s.wall) = (hist(), hist(), hist());
                s.phases.clear();
            }
            run(&client, &mut big, 200, c, false).await;
            run(&client, &mut peer, 200, c, false).await;
            for _ in 0..rounds {
                run(&client, &mut big, iters, c, true).await;
                run(&client, &mut peer, iters, c, true).await;
            }
            report(&big, &peer, c);
        }
        stats(&client, &big, &peer, rounds).await;
        big.server.shutdown().await;
        peer.server.shutdown().await;
    });
}

/// `GET /v1/stats` (the console's traffic poll) on both sides after their traffic: every
/// stage side and version has counts by then. Alternating, 50 calls per side per round.
async fn stats(client: &reqwest::Client, big: &Side, peer: &Side, rounds: usize) {
    let mut out = Vec::new();
    for s in [big, peer] {
        out.push((s, hist(), 0usize, 0usize));
    }
    for _ in 0..rounds {
        for (s, h, bytes, rows) in out.iter_mut() {
            let url = format!("{}/v1/stats", s.server.admin_url());
            for _ in 0..50 {
                let t = Instant::now();
                let r = client.get(&url).bearer_auth(&s.server.platform.admin_token).send().await.expect("stats");
                assert_eq!(r.status(), 200);
                let body = r.bytes().await.expect("body");
                h.record(t.elapsed().as_nanos() as u64).ok();
                *bytes = body.len();
                let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                *rows = v["stages"].as_array().map_or(0, Vec::len);
            }
        }
    }
    println!("GET /v1/stats (the console's poll; client wall time over loopback, {} calls each):", out[0].1.len());
    for (s, h, bytes, rows) in &out {
        println!(
            "  {} ({:>4} APIs): p50 {:6.2} ms p99 {:6.2} ms | {rows} stage sides, {:.0} KiB",
            s.name,
            s.apis.len(),
            us(h, 0.5) / 1000.0,
            us(h, 0.99) / 1000.0,
            *bytes as f64 / 1024.0
        );
    }
    println!("  ratio big/peer p50: {:.2}×", us(&out[0].1, 0.5) / us(&out[1].1, 0.5));
}

fn report(big: &Side, peer: &Side, concurrency: usize) {
    let how = if concurrency == 1 {
        "one at a time (idle server between requests)".to_string()
    } else {
        format!("{concurrency} in flight (busy server)")
    };
    println!("gateway overhead per request (server-timing; {} requests each, {how}, loopback):", big.route.len());
    for s in [big, peer] {
        println!(
            "  {} ({:>4} APIs × {:>2} routes): route p50 {:6.1} µs p99 {:6.1} µs | overhead (total − guest) p50 {:6.1} µs p99 {:6.1} µs | client wall p50 {:7.1} µs",
            s.name,
            s.apis.len(),
            s.routes_per_api,
            us(&s.route, 0.5),
            us(&s.route, 0.99),
            us(&s.overhead, 0.5),
            us(&s.overhead, 0.99),
            us(&s.wall, 0.5),
        );
    }
    println!(
        "  ratio big/peer: route p50 {:.2}×  overhead p50 {:.2}×  overhead p99 {:.2}×",
        us(&big.route, 0.5) / us(&peer.route, 0.5),
        us(&big.overhead, 0.5) / us(&peer.overhead, 0.5),
        us(&big.overhead, 0.99) / us(&peer.overhead, 0.99)
    );
    for s in [big, peer] {
        let medians: Vec<String> = s
            .phases
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                format!("{k} {:.1}", v[v.len() / 2])
            })
            .collect();
        println!("  {} server-timing p50 (µs): {}", s.name, medians.join(", "));
    }
}
