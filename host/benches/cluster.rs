//! The shared store against the embedded one, measured in the same run on the same
//! machine: a server on SQLite (its data directory on the same disk as PostgreSQL's) and
//! two hosts A and B on one PostgreSQL schema.
//!
//! * **Data plane**: gateway requests per second and p99 through B vs the SQLite server
//!   (the request path reads only the snapshot: the ratio should be ≈ 1). Rounds alternate.
//! * **Propagation**: an alias moved on A, until B serves the new state (B's snapshot at
//!   A's change sequence): p50 / p99 over BENCH_CHANGES (1,000) changes.
//! * **Management latency**: publish (a configuration change, then `POST …/versions`) and
//!   deploy (`POST …/deployments` onto a stage), PostgreSQL vs SQLite.
//! * **Snapshot rebuild at size**: BENCH_APIS (1,000) APIs × 20 routes inserted on both, then
//!   an alias write — its latency is the commit plus the full rebuild.
//!
//! `WAYGATE_BENCH_POSTGRES=postgres://root@127.0.0.1/test cargo bench --bench cluster`
//! (or WAYGATE_TEST_POSTGRES); without either it says so and exits.
mod common;
use common::{env_usize, hist, populate};

use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use waygate::platform::{Platform, PlatformConfig};
use waygate::server::Server;

async fn start(dir: &std::path::Path, store: Option<String>, key: &str) -> Server {
    let mut config = PlatformConfig::new(dir);
    config.runtime.max_instances = 64;
    config.store = store;
    config.master_key_hex = Some(zeroize::Zeroizing::new(key.to_string()));
    let any = "127.0.0.1:0".parse().expect("addr");
    Server::start(config, any, any).await.expect("server")
}

fn admin_sql(base: &str, sql: String) {
    let base = base.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect");
        c.batch_execute(&sql).expect("sql");
    })
    .join()
    .expect("thread");
}

struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    fn of(s: &Server) -> Api {
        Api { client: reqwest::Client::new(), url: s.admin_url(), token: s.platform.admin_token.clone() }
    }
    async fn call(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
}

/// `requests` gateway requests over 16 client tasks to one API's routes.
async fn load(gateway: &str, api: &str, requests: usize) -> (f64, Histogram<u64>) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(32).build().expect("client");
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (client, url) = (client.clone(), format!("{gateway}/{api}/prod/svc{}/items/1", t % 18));
            tokio::spawn(async move {
                let mut h = hist();
                for _ in 0..requests / 16 {
                    let t = Instant::now();
                    let r = client.get(&url).send().await.expect("request");
                    assert_eq!(r.status(), 200);
                    r.bytes().await.expect("body");
                    h.record(t.elapsed().as_nanos() as u64).ok();
                }
                h
            })
        })
        .collect();
    let mut all = hist();
    for t in tasks {
        all.add(t.await.expect("task")).ok();
    }
    (all.len() as f64 / started.elapsed().as_secs_f64(), all)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1e6
}

/// Publish latencies (after a configuration change each time) and deploy latencies.
async fn management(api: &Api, gw_api: &str, rounds: usize, tag: &str) -> (Histogram<u64>, Histogram<u64>) {
    let (mut publish, mut deploy) = (hist(), hist());
    for i in 0..rounds {
        let env = serde_json::json!({ "env": { "ROUND": format!("{tag}{i}") } });
        api.call(reqwest::Method::PATCH, "/v1/functions/hello/config", env).await;
        let t = Instant::now();
        api.call(reqwest::Method::POST, "/v1/functions/hello/versions", serde_json::json!({})).await;
        publish.record(t.elapsed().as_nanos() as u64).ok();
        let t = Instant::now();
        let body = serde_json::json!({ "stage": "prod", "description": format!("{tag}{i}") });
        api.call(reqwest::Method::POST, &format!("/v1/apis/{gw_api}/deployments"), body).await;
        deploy.record(t.elapsed().as_nanos() as u64).ok();
    }
    (publish, deploy)
}

/// Alias writes (each a commit and a full snapshot rebuild).
async fn alias_writes(api: &Api, rounds: usize) -> Histogram<u64> {
    let mut h = hist();
    for i in 0..rounds {
        let version = if i % 2 == 0 { "1" } else { "$LATEST" };
        let t = Instant::now();
        api.call(reqwest::Method::PUT, "/v1/functions/hello/aliases/LIVE", serde_json::json!({ "version": version }))
            .await;
        h.record(t.elapsed().as_nanos() as u64).ok();
    }
    h
}

fn main() {
    waygate_cli::tune_allocator();
    let Some(base) = ["WAYGATE_BENCH_POSTGRES", "WAYGATE_TEST_POSTGRES"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    else {
        println!("cluster bench skipped: set WAYGATE_BENCH_POSTGRES=postgres://USER@127.0.0.1/DB");
        return;
    };
    let requests = env_usize("BENCH_REQUESTS", 20_000);
    let rounds = env_usize("BENCH_ROUNDS", 4);
    let changes = env_usize("BENCH_CHANGES", 1000);
    let apis = env_usize("BENCH_APIS", 1000);
    let schema = format!("wgb_{}", std::process::id());
    admin_sql(&base, format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let key = "5a".repeat(32);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    rt.block_on(async {
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
        let sqlite = start(dirs[0].path(), None, &key).await;
        let a = start(dirs[1].path(), Some(url.clone()), &key).await;
        let b = start(dirs[2].path(), Some(url.clone()), &key).await;
        let mut gw_api = Vec::new();
        for s in [&sqlite, &a] {
            let p: Arc<Platform> = s.platform.clone();
            waygate::examples::register(&p).await.expect("examples");
            let ids = p.commit(move |tx| populate(tx, 1, 20)).await.expect("setup");
            gw_api.push(ids[0].clone());
            Api::of(s).call(reqwest::Method::POST, "/v1/functions/hello/versions", serde_json::json!({})).await;
        }
        // B serves what A wrote.
        let deadline = Instant::now() + Duration::from_secs(10);
        while b.platform.snapshot().change_seq < a.platform.snapshot().change_seq {
            assert!(Instant::now() < deadline, "B never caught up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Data plane: B (PostgreSQL) vs the SQLite server, alternating rounds.
        load(&sqlite.gateway_url(), &gw_api[0], 2000).await;
        load(&b.gateway_url(), &gw_api[1], 2000).await;
        let (mut lite, mut pg) = ((0.0, hist()), (0.0, hist()));
        for _ in 0..rounds {
            let (r, h) = load(&sqlite.gateway_url(), &gw_api[0], requests).await;
            lite.0 += r / rounds as f64;
            lite.1.add(h).ok();
            let (r, h) = load(&b.gateway_url(), &gw_api[1], requests).await;
            pg.0 += r / rounds as f64;
            pg.1.add(h).ok();
        }
        println!("data plane ({rounds} × {requests} gateway requests, 16 in flight, alternating):");
        println!("  SQLite server      {:>8.0} req/s   p50 {:.3} ms   p99 {:.3} ms", lite.0, ms(&lite.1, 0.5), ms(&lite.1, 0.99));
        println!("  PostgreSQL host B  {:>8.0} req/s   p50 {:.3} ms   p99 {:.3} ms", pg.0, ms(&pg.1, 0.5), ms(&pg.1, 0.99));
        println!("  ratio B / SQLite   req/s {:.3}   p99 {:.3}", pg.0 / lite.0, ms(&pg.1, 0.99) / ms(&lite.1, 0.99));

        // Propagation A → B.
        let api_a = Api::of(&a);
        // From the request's start: until A answered (A serves it then), and until B serves it.
        let (mut on_a, mut on_b) = (hist(), hist());
        for i in 0..changes {
            let version = if i % 2 == 0 { "1" } else { "$LATEST" };
            let t = Instant::now();
            api_a
                .call(reqwest::Method::PUT, "/v1/functions/hello/aliases/LIVE", serde_json::json!({ "version": version }))
                .await;
            on_a.record(t.elapsed().as_nanos().max(1) as u64).ok();
            let seq = a.platform.snapshot().change_seq;
            while b.platform.snapshot().change_seq < seq {
                assert!(t.elapsed() < Duration::from_secs(5), "change {seq} not on B within 5 s");
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
            on_b.record(t.elapsed().as_nanos().max(1) as u64).ok();
        }
        println!("propagation over {changes} alias moves made on A (from the request's start):");
        println!("  A answered (A serves it)  p50 {:.2} ms   p99 {:.2} ms", ms(&on_a, 0.5), ms(&on_a, 0.99));
        println!(
            "  B serves it               p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            ms(&on_b, 0.5),
            ms(&on_b, 0.99),
            ms(&on_b, 1.0)
        );

        // Publish and deploy.
        let (lp, ld) = management(&Api::of(&sqlite), &gw_api[0], 100, "s").await;
        let (pp, pd) = management(&api_a, &gw_api[1], 100, "p").await;
        println!("management latency (100 each; p50 / p99 ms):");
        println!("  publish  SQLite {:.2} / {:.2}   PostgreSQL {:.2} / {:.2}", ms(&lp, 0.5), ms(&lp, 0.99), ms(&pp, 0.5), ms(&pp, 0.99));
        println!("  deploy   SQLite {:.2} / {:.2}   PostgreSQL {:.2} / {:.2}", ms(&ld, 0.5), ms(&ld, 0.99), ms(&pd, 0.5), ms(&pd, 0.99));

        // Rebuild at size.
        println!("snapshot rebuild at size:");
        for (name, s) in [("SQLite", &sqlite), ("PostgreSQL", &a)] {
            // `populate` adds its permission statement again.
            let api = Api::of(s);
            let r = api.client.delete(format!("{}/v1/functions/hello/permissions/bench?qualifier=LIVE", api.url)).bearer_auth(&api.token);
            assert!(r.send().await.expect("request").status().is_success());
            let t = Instant::now();
            s.platform.commit(move |tx| populate(tx, apis, 20)).await.expect("populate");
            let insert = t.elapsed();
            let h = alias_writes(&Api::of(s), 20).await;
            println!(
                "  {name}: {apis} APIs × 20 routes inserted in {:.1} s; then an alias write (commit + rebuild) p50 {:.1} ms",
                insert.as_secs_f64(),
                ms(&h, 0.5)
            );
        }
        drop((sqlite, a, b));
    });
    admin_sql(&base, format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}
