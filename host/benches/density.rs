//! Density on one host, measured on the real binary (a child `waygate up`, its RSS read
//! from /proc): what stored-but-idle code costs, what bringing it back costs, and what a
//! restart and a management call cost at that size.
//!
//! 1. BENCH_VERSIONS (10,000) functions, each with its own code (a small WAT guest that
//!    prints its number: distinct code hashes, so distinct artifacts and loaded modules),
//!    each published as version 1 — made over the API, 8 calls at a time (timed).
//! 2. **Restart**: the server restarted on that data → first 200 (spawn to response).
//! 3. **Idle memory**, two servers on the same data in the same run, each invoking every
//!    version once then left idle: A with the idle unload (`--code-idle-s 2`), B with
//!    every bound lifted (`--code-idle-s 0`, no byte or count bound: code stays loaded,
//!    the behaviour before the code cache). RSS growth per version over an empty server.
//! 4. **Reload**: the first request after an unload, server-side `load` p50/p99 (from
//!    `server-timing`), for the WAT guest and the bundled Rust `hello` guest.
//! 5. **Set-up and management at size**: BENCH_APIS (1,000) APIs × 20 routes made over the
//!    API (timed), then publish, alias move, stage-variable change, deploy of one API and
//!    key revocation, 50 each: p50 / p99 with all of it stored.
//!
//! 6. **Memory per loaded Rust module**: BENCH_RUST_MODULES (200) variants of the bundled
//!    Rust `hello` uploaded and invoked, then all unloaded and loaded again by a request
//!    (from the mapped artifact file): RSS per loaded module.
//!
//! 7. **Declarations at size** (`waygate plan/apply/export`, the binary as a user runs
//!    it): everything exported, the export planned (no changes expected) 5 times, then one
//!    stage variable changed in the file and applied, 10 times, against the same change
//!    made with `waygate stage set-var` (the peer: one process, one call).
//!
//! `cargo bench --bench density` (BENCH_VERSIONS=N to resize; BENCH_LOG=info shows the
//! servers' logs, the start's phases among them).
mod common;
use common::{env_usize, hist, ROUTES_PER_API};

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    /// Spawns `waygate up` on `data` and waits until it answers.
    async fn start(data: &Path, extra: &[&str]) -> (Server, Duration) {
        let started = Instant::now();
        let _ = std::fs::remove_file(data.join("admin.url"));
        let child = Command::new(env!("CARGO_BIN_EXE_waygate"))
            .args(["up", "--no-examples", "--max-instances", "64", "--admin-addr", "127.0.0.1:0"])
            .args(["--gateway-addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn waygate up");
        let url = loop {
            if let Ok(u) = std::fs::read_to_string(data.join("admin.url")) {
                break u.trim().to_string();
            }
            assert!(started.elapsed() < Duration::from_secs(120), "server did not start");
            std::thread::sleep(Duration::from_millis(1));
        };
        let token = std::fs::read_to_string(data.join("admin.token")).expect("token").trim().to_string();
        let s = Server { child, url, token, http: reqwest::Client::new() };
        (s, started.elapsed())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn upload(&self, name: &str, wasm: Vec<u8>) {
        let r = self
            .http
            .put(format!("{}/v1/functions/{name}/code", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/wasm")
            .body(wasm)
            .send()
            .await
            .expect("upload");
        assert!(r.status().is_success(), "upload {name}: {}", r.status());
    }

    /// Invokes `name:1`; returns the server-side `load` in µs when this request loaded it.
    async fn invoke(&self, target: &str) -> Option<f64> {
        let (name, q) = target.split_once(':').unwrap_or((target, "$LATEST"));
        let r = self
            .http
            .post(format!("{}/v1/functions/{name}/invoke", self.url))
            .query(&[("qualifier", q)])
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("invoke");
        assert_eq!(r.status(), 200, "{target}");
        let timing = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        timing.split(',').find_map(|m| {
            let m = m.trim();
            m.strip_prefix("load;dur=").and_then(|d| d.parse::<f64>().ok()).map(|ms| ms * 1000.0)
        })
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    fn stop(self) {
        // SAFETY: a plain kill(2) of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        // `Drop` waits for it.
    }
}

impl Drop for Server {
    /// A panicking bench leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        }
        let _ = self.child.wait();
    }
}

/// A small guest printing `n`: distinct per `n`, so every version has its own code.
fn guest(n: usize) -> Vec<u8> {
    let text = format!("v{n}");
    wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "{text}")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const {}))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        text.len()
    ))
    .expect("wat")
}

/// Runs `f(i)` for i in 0..n, `width` at a time.
async fn each<F, Fut>(n: usize, width: usize, f: F) -> Vec<Option<f64>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Option<f64>>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(0..n).map(f).buffer_unordered(width).collect().await
}

fn p(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn hello_wasm() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples/prebuilt/hello.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn idle_memory(data: &Path, flags: &[&str], n: usize, rss_empty: u64, label: &str) {
    let (server, _) = Server::start(data, flags).await;
    let s = &server;
    each(n, 8, |i| async move { s.invoke(&format!("f{i}:1")).await }).await;
    let loaded = s.rss_kib();
    // Past the idle timeout (2 s) and a sweep (every 0.5 s), with room to spare.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = s.rss_kib();
    let runtime = s.call(reqwest::Method::GET, "/v1/runtime", None).await;
    println!(
        "{label}: RSS empty {} MiB, all {n} invoked {} MiB, idle {} MiB → {:.1} KiB per idle version; \
         loaded now {} modules / {} KiB of code, warm slots {} ({} KiB resident)",
        rss_empty / 1024,
        loaded / 1024,
        idle / 1024,
        idle.saturating_sub(rss_empty) as f64 / n as f64,
        runtime["code"]["loaded_modules"],
        runtime["code"]["loaded_bytes"].as_u64().unwrap_or(0) / 1024,
        runtime["pool"]["warm_slots"],
        runtime["pool"]["warm_slots_resident_bytes"].as_u64().unwrap_or(0) / 1024,
    );
    server.stop();
}

/// `hello.wasm` made distinct by a custom section carrying `n` (same code, another hash:
/// another artifact and another loaded module).
fn hello_variant(hello: &[u8], n: usize) -> Vec<u8> {
    fn leb(mut v: usize, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let (name, payload) = (b"waygate-bench", n.to_le_bytes());
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(&payload);
    let mut out = hello.to_vec();
    out.push(0); // custom section
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Step 6, memory per loaded Rust module: `k` distinct variants of the bundled Rust `hello`,
/// uploaded (loaded from the bytes just compiled) and each invoked once; then all unloaded
/// and loaded again by a request (from the artifact file, which wasmtime maps), RSS per
/// module over the unloaded server. Nothing is unloaded for idleness or bounds meanwhile.
async fn loaded_rust_modules(dir: &Path, flags: &[&str], k: usize) {
    let (server, _) = Server::start(dir, flags).await;
    let s = &server;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty = s.rss_kib();
    let hello = hello_wasm();
    let hello = &hello;
    each(k, 2, |i| async move {
        s.call(reqwest::Method::POST, "/v1/functions", Some(json!({ "name": format!("r{i}") }))).await;
        s.upload(&format!("r{i}"), hello_variant(hello, i)).await;
        None
    })
    .await;
    each(k, 4, |i| async move { s.invoke(&format!("r{i}")).await }).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let from_bytes = s.rss_kib();
    s.call(reqwest::Method::POST, "/v1/runtime/evict", None).await;
    // mimalloc returns freed pages after its 10 s purge delay.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let unloaded = s.rss_kib();
    let reloads = each(k, 4, |i| async move { s.invoke(&format!("r{i}")).await }).await;
    assert!(reloads.iter().all(Option::is_some), "every request after the eviction loads");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let from_file = s.rss_kib();
    let runtime = s.call(reqwest::Method::GET, "/v1/runtime", None).await;
    println!(
        "{k} loaded Rust hello modules ({} KiB of artifacts): after uploading (the compiler's memory included) \
         {:.0} KiB RSS each ({} → {} MiB); all unloaded {} MiB; loaded again by requests (mapped artifact \
         files) {:.0} KiB RSS each ({} MiB)",
        runtime["code"]["loaded_bytes"].as_u64().unwrap_or(0) / 1024,
        from_bytes.saturating_sub(empty) as f64 / k as f64,
        empty / 1024,
        from_bytes / 1024,
        unloaded / 1024,
        from_file.saturating_sub(unloaded) as f64 / k as f64,
        from_file / 1024,
    );
    server.stop();
}

/// The first request after an unload, `rounds` times: evict, invoke, read `load`.
/// `waygate ARGS` against `s`, timed; the exit code and output.
fn cli(s: &Server, args: &[&str]) -> (Duration, i32, String) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_waygate"))
        .args(args)
        .env("WAYGATE_ENDPOINT", &s.url)
        .env("WAYGATE_TOKEN", &s.token)
        .output()
        .expect("run waygate");
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (t.elapsed(), o.status.code().unwrap_or(-1), out)
}

async fn declarations(s: &Server, dir: &Path, api0: &str) {
    let file = dir.join("declared").join("waygate.toml");
    let f = file.to_str().expect("utf-8 path");
    let (took, code, out) = cli(s, &["export", "-o", f]);
    assert_eq!(code, 0, "{out}");
    println!("export of everything: {:.1} s ({})", took.as_secs_f64(), out.trim());
    let mut plan = hist();
    for _ in 0..5 {
        let (took, code, out) = cli(s, &["plan", "-f", f]);
        assert_eq!(code, 0, "the export plans with changes:\n{out}");
        plan.record(took.as_micros() as u64).ok();
    }
    // api0's prod stage: alias LIVE ⇄ 1, in the file (apply) and by set-var (the peer).
    let text = std::fs::read_to_string(&file).expect("read the export");
    let at = text.find(&format!("[apis.{}.stages.prod", api_name(s, api0).await)).expect("api0's prod stage");
    let var = at + text[at..].find("alias = \"LIVE\"").expect("its alias variable");
    let one = format!("{}alias = \"1\"{}", &text[..var], &text[var + "alias = \"LIVE\"".len()..]);
    std::fs::write(&file, &one).expect("write");
    let (mut apply, mut set_var) = (hist(), hist());
    // Each round: the file moves the stage LIVE → 1, set-var moves it back.
    for _ in 0..10 {
        let (took, code, out) = cli(s, &["apply", "-f", f, "--auto-approve"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("1 to update"), "{out}");
        apply.record(took.as_micros() as u64).ok();
        let (took, code, out) = cli(s, &["stage", "set-var", api0, "prod", "alias=LIVE"]);
        assert_eq!(code, 0, "{out}");
        set_var.record(took.as_micros() as u64).ok();
    }
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| p(h, q);
    println!(
        "plan of the export (no changes): p50 {:.0} ms, max {:.0} ms; apply of one stage variable: p50 {:.0} ms, max {:.0} ms; waygate stage set-var (peer): p50 {:.0} ms ({:.1}×)",
        ms(&plan, 0.5),
        plan.max() as f64 / 1000.0,
        ms(&apply, 0.5),
        apply.max() as f64 / 1000.0,
        ms(&set_var, 0.5),
        p(&apply, 0.5) / p(&set_var, 0.5)
    );
}

async fn api_name(s: &Server, id: &str) -> String {
    let api = s.call(reqwest::Method::GET, &format!("/v1/apis/{id}"), None).await;
    api["name"].as_str().expect("name").to_string()
}

async fn reload(s: &Server, target: &str, rounds: usize) -> hdrhistogram::Histogram<u64> {
    let mut h = hist();
    for _ in 0..rounds {
        s.call(reqwest::Method::POST, "/v1/runtime/evict", None).await;
        let load = s.invoke(target).await.expect("the request after an eviction loads");
        h.record((load * 1000.0) as u64).ok();
    }
    h
}

#[tokio::main]
async fn main() {
    let n = env_usize("BENCH_VERSIONS", 10_000);
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let a_flags = ["--code-idle-s", "2"];
    let b_flags = ["--code-idle-s", "0", "--loaded-modules", "1000000", "--code-cache-mb", "1048576"];

    // The peer every RSS figure is taken against: an empty server.
    let (empty, _) = Server::start(&root.path().join("empty"), &a_flags).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_empty = empty.rss_kib();
    empty.stop();

    // 1. Set-up over the API.
    let (server, _) = Server::start(&data, &a_flags).await;
    let s = &server;
    let started = Instant::now();
    each(n, 8, |i| async move {
        let name = format!("f{i}");
        s.call(reqwest::Method::POST, "/v1/functions", Some(json!({ "name": name }))).await;
        s.upload(&name, guest(i)).await;
        s.call(reqwest::Method::POST, &format!("/v1/functions/{name}/versions"), Some(json!({}))).await;
        None
    })
    .await;
    println!(
        "set-up: {n} functions (create + upload + publish, 8 at a time) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The routes' functions f0..f19: alias LIVE → 1, invocable by every API's prod stage.
    for j in 0..ROUTES_PER_API {
        let f = format!("/v1/functions/f{j}");
        s.call(reqwest::Method::PUT, &format!("{f}/aliases/LIVE"), Some(json!({ "version": "1" }))).await;
        for (id, q) in [("live", "LIVE"), ("one", "1")] {
            let body = json!({ "statement_id": id, "principal": "*", "source": "*/prod/*/*", "qualifier": q });
            s.call(reqwest::Method::POST, &format!("{f}/permissions"), Some(body)).await;
        }
    }

    // APIs × routes over the API: create, 20 route puts, deploy onto `prod` (8 APIs at a time).
    let apis = env_usize("BENCH_APIS", 1_000);
    let started = Instant::now();
    let ids: Vec<Option<f64>> = each(apis, 8, |i| async move {
        let api = s.call(reqwest::Method::POST, "/v1/apis", Some(json!({ "name": format!("api{i}") }))).await;
        let id = api["id"].as_str().expect("id").to_string();
        for j in 0..ROUTES_PER_API {
            let path = if j + 1 == ROUTES_PER_API { "/{proxy+}".to_string() } else { format!("/svc{j}/items/{{id}}") };
            let target = format!("f{j}:${{stageVariables.alias}}");
            let route =
                json!({ "method": "GET", "path": path, "integration": { "type": "function", "target": target } });
            s.call(reqwest::Method::PUT, &format!("/v1/apis/{id}/routes"), Some(route)).await;
        }
        let dep = s.call(reqwest::Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({}))).await;
        let stage = json!({ "deployment_id": dep["id"], "variables": { "alias": "LIVE" } });
        s.call(reqwest::Method::PUT, &format!("/v1/apis/{id}/stages/prod"), Some(stage)).await;
        None
    })
    .await;
    drop(ids);
    println!(
        "set-up: {apis} APIs × {ROUTES_PER_API} routes, deployed to a stage (8 APIs at a time) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let listed = s.call(reqwest::Method::GET, "/v1/apis", None).await;
    let api0 = listed["apis"][0]["id"].as_str().expect("an api").to_string();

    // Management at size: each kind 50 times, one at a time.
    let mut figures = Vec::new();
    for kind in ["publish", "alias move", "stage variable", "deploy one API", "key revocation"] {
        let mut h = hist();
        for i in 0..50 {
            // What isn't measured (the set-up of one sample) happens before `t`.
            let f = format!("/v1/functions/f{}", i + 1);
            match kind {
                "publish" => {
                    let body = json!({ "description": format!("{kind}{i}") });
                    s.call(reqwest::Method::PATCH, &format!("{f}/config"), Some(body)).await;
                }
                "key revocation" => {
                    let policy =
                        json!([{ "effect": "allow", "actions": ["function:Invoke"], "resources": ["function/f0"] }]);
                    s.call(
                        reqwest::Method::POST,
                        "/v1/keys",
                        Some(json!({ "name": format!("k{i}"), "policy": policy })),
                    )
                    .await;
                }
                _ => {}
            }
            let t = Instant::now();
            match kind {
                "publish" => s.call(reqwest::Method::POST, &format!("{f}/versions"), Some(json!({}))).await,
                "alias move" => {
                    let body = json!({ "version": if i % 2 == 0 { "$LATEST" } else { "1" } });
                    s.call(reqwest::Method::PUT, "/v1/functions/f100/aliases/LIVE", Some(body)).await
                }
                "stage variable" => {
                    let body = json!({ "variables": { "alias": if i % 2 == 0 { "1" } else { "LIVE" } } });
                    s.call(reqwest::Method::PATCH, &format!("/v1/apis/{api0}/stages/prod"), Some(body)).await
                }
                "deploy one API" => {
                    s.call(
                        reqwest::Method::POST,
                        &format!("/v1/apis/{api0}/deployments"),
                        Some(json!({ "stage": "prod" })),
                    )
                    .await
                }
                _ => s.call(reqwest::Method::DELETE, &format!("/v1/keys/k{i}"), None).await,
            };
            h.record(t.elapsed().as_nanos() as u64).ok();
        }
        figures.push(format!("{kind} p50 {:.2} ms p99 {:.2} ms", p(&h, 0.5) / 1000.0, p(&h, 0.99) / 1000.0));
    }
    println!("management with {n} functions and {apis} APIs: {}", figures.join(", "));

    // 7. Declarations at size.
    declarations(s, root.path(), &api0).await;

    // 4. Reload: the WAT guest and the bundled Rust guest.
    s.call(reqwest::Method::POST, "/v1/functions", Some(json!({ "name": "hello-rs" }))).await;
    s.upload("hello-rs", hello_wasm()).await;
    for (label, target) in [("WAT guest", "f7:1"), ("Rust hello guest", "hello-rs")] {
        let h = reload(s, target, 200).await;
        println!("reload after an unload ({label}): load p50 {:.0} µs p99 {:.0} µs", p(&h, 0.5), p(&h, 0.99));
    }
    server.stop();

    // 2. Restart → first 200.
    let mut restart = hist();
    for round in 0..5 {
        let t = Instant::now();
        let (server, _) = Server::start(&data, &a_flags).await;
        server.invoke(&format!("f{}:1", round * 13)).await;
        restart.record(t.elapsed().as_nanos() as u64).ok();
        server.stop();
    }
    println!(
        "restart with {n} versions → first 200: p50 {:.0} ms, max {:.0} ms (5 restarts)",
        p(&restart, 0.5) / 1000.0,
        restart.max() as f64 / 1e6
    );

    // 3. Idle memory, A then B on the same data.
    idle_memory(&data, &a_flags, n, rss_empty, "A (--code-idle-s 2)").await;
    idle_memory(&data, &b_flags, n, rss_empty, "B (no unload, no bounds)").await;

    // 6. Memory per loaded Rust module.
    loaded_rust_modules(&root.path().join("rust"), &b_flags, env_usize("BENCH_RUST_MODULES", 200)).await;
}
