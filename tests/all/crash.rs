//! Crash consistency of the real binary: rounds of acknowledged writes over HTTP, a
//! SIGKILL at a random moment, a restart, and a check that every acknowledged write is
//! there (unacknowledged ones may or may not be). `crash_consistency_short` runs in the
//! normal suite; the long one: `cargo test --release --test all -- --ignored crash`.

use crate::fixtures;
use crate::harness::Spawned;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server acknowledged (a 2xx answer), so what must survive any crash after it.
#[derive(Default, Debug)]
struct Acked {
    /// Function → value of its env var `KEY` in its latest acknowledged configuration.
    config: BTreeMap<String, String>,
    /// Function → code hash of its latest acknowledged upload, and the text that code prints.
    code: BTreeMap<String, (String, String)>,
    /// (function, version number) → the text that version's code prints.
    versions: BTreeMap<(String, u64), String>,
    /// Secret names (environment `default`) → value.
    secrets: BTreeMap<String, String>,
    /// Function → the configuration value / code hash of a write sent but not (yet)
    /// acknowledged: after a kill, the stored state is the acknowledged one or this.
    pending_config: BTreeMap<String, String>,
    pending_code: BTreeMap<String, String>,
}

#[test]
fn crash_consistency_short() {
    crash_rounds(3, Duration::from_secs(120));
}

#[test]
#[ignore = "long: cargo test --release --test all -- --ignored crash"]
fn crash_consistency_long() {
    crash_rounds(25, Duration::from_secs(900));
}

fn crash_rounds(rounds: usize, budget: Duration) {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let log = root.path().join("server.log");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let started = Instant::now();
    let mut next = 0usize;
    for round in 0..rounds {
        if started.elapsed() > budget {
            eprintln!("crash check: time budget spent after {round} rounds");
            break;
        }
        let server = Arc::new(Spawned::start(&data, &log));
        verify(&server, &data, &acked.lock().unwrap(), round);
        // The writer runs until the server stops answering; the kill comes at a random
        // moment, usually in the middle of some write (uploads compile: they are long).
        let first = next;
        next += 1000;
        let writer = {
            let (server, acked) = (server.clone(), acked.clone());
            std::thread::spawn(move || write_until_killed(&server, &acked, first))
        };
        std::thread::sleep(Duration::from_millis(100 + rand::random::<u64>() % 1500));
        server.kill();
        writer.join().expect("writer thread");
    }
    // One last start: everything acknowledged in the last round too.
    let server = Spawned::start(&data, &log);
    let acked = acked.lock().unwrap();
    verify(&server, &data, &acked, rounds);
    assert!(!acked.config.is_empty(), "no write was acknowledged at all: {acked:?}");
}

fn write_until_killed(server: &Spawned, acked: &Mutex<Acked>, first: usize) {
    for k in first.. {
        let name = format!("f{k}");
        let ok = |r: Result<(u16, serde_json::Value), reqwest::Error>| match r {
            Ok((st, v)) if (200..300).contains(&st) => Some(v),
            Ok((st, v)) => panic!("write refused while the server was up: {st} {v}"),
            Err(_) => None,
        };
        let body = json!({ "name": name, "env": { "KEY": format!("a{k}") } });
        let Some(_) = ok(server.call(Method::POST, "/v1/functions", Some(body))) else { return };
        acked.lock().unwrap().config.insert(name.clone(), format!("a{k}"));

        let text = format!("code{k}");
        let wasm = wat::parse_str(fixtures::print(&text)).expect("fixture");
        let hash = waygate::model::CodeHash::of(&wasm).to_hex();
        acked.lock().unwrap().pending_code.insert(name.clone(), hash);
        let Some(v) = ok(server.upload(&name, &wasm)) else { return };
        let hash = v["code_hash"].as_str().expect("code_hash").to_string();
        acked.lock().unwrap().code.insert(name.clone(), (hash, text.clone()));

        acked.lock().unwrap().pending_config.insert(name.clone(), format!("b{k}"));
        let patch = json!({ "env": { "KEY": format!("b{k}") } });
        let Some(_) = ok(server.call(Method::PATCH, &format!("/v1/functions/{name}/config"), Some(patch))) else {
            return;
        };
        acked.lock().unwrap().config.insert(name.clone(), format!("b{k}"));

        let Some(v) = ok(server.call(Method::POST, &format!("/v1/functions/{name}/versions"), Some(json!({})))) else {
            return;
        };
        let number = v["version"].as_str().and_then(|n| n.parse().ok()).expect("version number");
        acked.lock().unwrap().versions.insert((name.clone(), number), text);

        let secret = format!("s{k}");
        let put = json!({ "value": format!("value{k}") });
        let Some(_) = ok(server.call(Method::PUT, &format!("/v1/secrets/default/{secret}"), Some(put))) else {
            return;
        };
        acked.lock().unwrap().secrets.insert(secret, format!("value{k}"));
    }
}

fn verify(server: &Spawned, data: &Path, acked: &Acked, round: usize) {
    let get = |path: &str| {
        let (st, v) = server.call(Method::GET, path, None).expect("server answers");
        assert_eq!(st, 200, "round {round}: GET {path}: {v}");
        v
    };
    let either = |v: &serde_json::Value, acked: &str, pending: Option<&String>| {
        v.as_str().is_some_and(|v| v == acked || pending.is_some_and(|p| p == v))
    };
    for (name, value) in &acked.config {
        let f = get(&format!("/v1/functions/{name}"));
        let ok = either(&f["config"]["env"]["KEY"], value, acked.pending_config.get(name));
        assert!(ok, "round {round}: {name}: acknowledged KEY={value}: {f}");
    }
    for (name, (hash, _)) in &acked.code {
        let f = get(&format!("/v1/functions/{name}"));
        let ok = either(&f["code_hash"], hash, acked.pending_code.get(name));
        assert!(ok, "round {round}: {name}: acknowledged code {hash}: {f}");
    }
    for (name, number) in acked.versions.keys() {
        get(&format!("/v1/functions/{name}/versions/{number}"));
    }
    let listed = get("/v1/secrets/default");
    let names: Vec<&str> =
        listed["secrets"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
    for name in acked.secrets.keys() {
        assert!(names.contains(&name.as_str()), "round {round}: secret {name} missing: {listed}");
    }
    // The newest acknowledged code of each kind actually runs (blob and artifact are there).
    let runs = |target: &str, want: &str| {
        let (name, q) = target.split_once(':').unwrap_or((target, "$LATEST"));
        let resp = server
            .req(Method::POST, &format!("/v1/functions/{name}/invoke"))
            .query(&[("qualifier", q)])
            .send()
            .expect("invoke");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        assert_eq!((status, text.as_str()), (200, want), "round {round}: invoke {target}");
    };
    if let Some((name, (_, text))) = acked.code.last_key_value() {
        runs(name, text);
    }
    if let Some(((name, number), text)) = acked.versions.last_key_value() {
        runs(&format!("{name}:{number}"), text);
    }
    // The start swept whatever the kill left in tmp/.
    let left: Vec<_> = std::fs::read_dir(data.join("tmp")).expect("tmp/").flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "round {round}: tmp/ not swept: {left:?}");
}
