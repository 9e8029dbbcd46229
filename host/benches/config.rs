//! What configuration files cost an invocation, in-process (`Runtime::invoke`, a fresh
//! instance each), alternating A/B rounds so machine noise hits every case alike:
//! * `hello` as every function that lists no profiles runs it (no `/config` at all) vs
//!   `hello` with an empty `/config` preopened (a version that lists profiles, nothing
//!   deployed): what listing profiles costs a function that doesn't read them;
//! * a WAT guest that opens `/config/shop/flags` and reads it to the end, with a 64 KiB
//!   profile deployed vs nothing deployed (the open fails): what reading 64 KiB costs.
//!
//! `cargo bench --bench config` (env BENCH_ROUNDS, BENCH_ITERS to change the size).
mod common;
use common::{env_usize, Stats};

use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use waygate::model::appconfig::ConfigFile;
use waygate::model::{CodeHash, FunctionConfig, VersionId};
use waygate::runtime::{executor, CodeRef, GuestRequest, Invocation, Runtime, RuntimeConfig};
use waygate::store::{artifacts, layout::DataDir};

/// Opens `/config/shop/flags` (descriptor 3 is the preopen), reads it to the end in 64 KiB
/// reads, answers `ok`.
const READER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 3)
  (data (i32.const 1024) "shop/flags")
  (data (i32.const 1100) "ok")
  (func (export "_start") (local $fd i32)
    (if (i32.eqz (call $path_open (i32.const 3) (i32.const 1) (i32.const 1024) (i32.const 10)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
      (then
        (local.set $fd (i32.load (i32.const 16)))
        (block $done (loop $l
          (i32.store (i32.const 0) (i32.const 65536))
          (i32.store (i32.const 4) (i32.const 65536))
          (br_if $done (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
          (br_if $done (i32.eqz (i32.load (i32.const 8))))
          (br $l)))))
    (i32.store (i32.const 0) (i32.const 1100))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

fn code(rt: &Runtime, data: &DataDir, wasm: &[u8]) -> CodeRef {
    let hash = CodeHash::of(wasm);
    let compiled = rt.compile(wasm).expect("compiles");
    let rec = artifacts::put(data, &hash, rt.fingerprint(), compiled.kind, &compiled.artifact).expect("artifact");
    CodeRef { code_hash: hash, kind: rec.kind, artifact: Ok(rec.artifact_hash) }
}

async fn run(
    rt: &Runtime,
    code: &CodeRef,
    config: &FunctionConfig,
    files: Option<&[Arc<ConfigFile>]>,
    iters: usize,
    stats: &mut Stats,
) {
    let started = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        let out = rt
            .invoke(Invocation {
                function: "bench",
                executed_version: VersionId::Latest,
                qualifier: "$LATEST",
                alias: None,
                stage: None,
                request_id: "bench",
                code,
                config,
                input: executor::encode(code.kind, GuestRequest::Direct(Bytes::from_static(b"{}")), usize::MAX)
                    .expect("input"),
                cut_off: None,
                class: waygate::model::stage::PriorityClass::Production,
                outbound: None,
                files,
            })
            .await
            .expect("invoke");
        assert!(out.error.is_none(), "{:?}", out.error);
        drop(out);
        stats.hist.record(t.elapsed().as_nanos() as u64).ok();
    }
    stats.elapsed += started.elapsed();
}

fn line(name: &str, s: &Stats) {
    println!("  {name:<44}: p50 {:7.2} µs  p99 {:7.2} µs", s.us(0.5), s.us(0.99));
}

fn main() {
    waygate_cli::tune_allocator();
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let iters = env_usize("BENCH_ITERS", 4000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let data = DataDir::new(dir.path());
        data.create_dirs().expect("dirs");
        let runtime = Runtime::new(RuntimeConfig { max_instances: 64, ..RuntimeConfig::default() }, data.clone())
            .expect("runtime");
        let hello = code(&runtime, &data, waygate::examples::HELLO);
        let reader = code(&runtime, &data, &wat::parse_str(READER).expect("WAT"));
        let config = FunctionConfig::default();
        let profile = Arc::new(ConfigFile::new("shop", "flags", 1, Bytes::from(vec![b'x'; 64 * 1024]), String::new()));
        let some = [profile];
        let none: [Arc<ConfigFile>; 0] = [];
        let mut s: Vec<Stats> = (0..4).map(|_| Stats::new()).collect();
        let mut warm = Stats::new();
        run(&runtime, &hello, &config, None, 200, &mut warm).await;
        run(&runtime, &reader, &config, Some(&some), 200, &mut warm).await;
        for _ in 0..rounds {
            run(&runtime, &hello, &config, None, iters, &mut s[0]).await;
            run(&runtime, &hello, &config, Some(&none), iters, &mut s[1]).await;
            run(&runtime, &reader, &config, Some(&none), iters, &mut s[2]).await;
            run(&runtime, &reader, &config, Some(&some), iters, &mut s[3]).await;
        }
        println!("in-process invocations, fresh instance each, {} calls per case:", s[0].hist.len());
        line("hello, no /config (lists no profiles)", &s[0]);
        line("hello, empty /config (lists, reads nothing)", &s[1]);
        println!("  difference p50: {:+.2} µs", s[1].us(0.5) - s[0].us(0.5));
        line("reader, nothing deployed (open fails)", &s[2]);
        line("reader, 64 KiB profile read to the end", &s[3]);
        println!("  reading 64 KiB adds p50: {:+.2} µs", s[3].us(0.5) - s[2].us(0.5));
    });
}
