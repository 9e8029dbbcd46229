//! Several hosts on one PostgreSQL database (the shared store). Skipped, with a message,
//! unless `WAYGATE_TEST_POSTGRES` names a database (`.ci/run` sets it); each test works in
//! a schema of its own, dropped at the end.

use crate::fixtures;
use crate::gateway::{deploy, function, get, new_api, permit, route_ok};
use crate::harness::{test_config, TestServer};
use reqwest::Method;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Proxy responses (the gateway answers with their bodies).
const V1: &str = r#"{"statusCode":200,"body":"v1"}"#;
const V2: &str = r#"{"statusCode":200,"body":"v2"}"#;

/// The test database's URL, if the tests may use one.
pub fn database() -> Option<String> {
    std::env::var("WAYGATE_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

fn skip(test: &str) -> Option<String> {
    let db = database();
    if db.is_none() {
        eprintln!(
            "skipping {test}: set WAYGATE_TEST_POSTGRES=postgres://USER@127.0.0.1/DB to run the PostgreSQL tests"
        );
    }
    db
}

/// A schema name for a data directory (the same after a restart on it).
pub fn schema_of(dir: &Path) -> String {
    format!("wgt_{}", &blake3::hash(dir.as_os_str().as_encoded_bytes()).to_hex()[..20])
}

/// Runs `sql` on the test database (from a thread of its own: the blocking client must
/// not run on the test's async runtime).
fn admin_sql(base: &str, sql: String) -> Result<(), postgres::Error> {
    let base = base.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&base, postgres::NoTls)?;
        c.batch_execute(&sql)
    })
    .join()
    .expect("admin SQL thread")
}

/// Creates `schema` (if missing) and returns a URL whose connections work in it.
pub fn schema_url(base: &str, schema: &str) -> String {
    admin_sql(base, format!("CREATE SCHEMA IF NOT EXISTS {schema}")).expect("create the test schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

/// Drops `schema`. A host's follower thread outlives its server by up to a poll period
/// and may be reading the schema's tables when the drop takes their locks one by one:
/// PostgreSQL then breaks the deadlock by failing one side — the drop is retried.
pub fn drop_schema(schema: &str) {
    let Some(base) = database() else { return };
    let mut tries = 0;
    loop {
        match admin_sql(&base, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")) {
            Ok(()) => return,
            Err(e) if tries < 20 && e.code() == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("drop the test schema {schema}: {e}"),
        }
    }
}

/// `n` hosts on one fresh schema and one master key (the admin token is shared through
/// the database: each host writes it to its own data directory).
struct Cluster {
    hosts: Vec<TestServer>,
    schema: String,
    url: String,
    key: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop_schema(&self.schema);
    }
}

impl Cluster {
    async fn start(base: &str, n: usize) -> Cluster {
        let anchor = tempfile::tempdir().expect("tempdir");
        let schema = schema_of(anchor.path());
        // Its connections carry the schema as application name: a test can find (and kill) them.
        let url = format!("{}&application_name={schema}", schema_url(base, &schema));
        let key = "ab".repeat(32);
        let mut hosts: Vec<TestServer> = Vec::new();
        for _ in 0..n {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut c = test_config(dir.path());
            c.store = Some(url.clone());
            c.master_key_hex = Some(zeroize::Zeroizing::new(key.clone()));
            hosts.push(TestServer::boot(dir, c).await);
        }
        Cluster { hosts, schema, url, key }
    }

    /// One more host, started now.
    async fn join(&mut self) -> &TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = test_config(dir.path());
        c.store = Some(self.url.clone());
        c.master_key_hex = Some(zeroize::Zeroizing::new(self.key.clone()));
        self.hosts.push(TestServer::boot(dir, c).await);
        self.hosts.last().unwrap()
    }
}

/// Polls `check` until it holds or 5 s pass (the target is 1 s; the margin is for slow CI).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "not propagated within 5 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_on_one_host_are_served_by_the_others() {
    let Some(base) = skip("changes_on_one_host_are_served_by_the_others") else { return };
    let c = Cluster::start(&base, 3).await;
    let (a, b, h3) = (&c.hosts[0], &c.hosts[1], &c.hosts[2]);

    // Code uploaded and published on A runs on B (which never saw the upload: it fetches
    // the blob from the database and compiles it for itself).
    a.deploy("orders", json!({}), &fixtures::print(V1)).await;
    let (st, v) = a.publish("orders", json!({})).await;
    assert_eq!(st, 201, "{v}");
    eventually("version 1 on B", || async { b.invoke("orders:1", "").await.status == 200 }).await;
    assert_eq!(b.invoke("orders:1", "").await.text(), V1);

    // An alias made on B, moved on the third host, is served everywhere.
    a.upload("orders", &wat::parse_str(fixtures::print(V2)).unwrap()).await;
    let (st, v) = a.publish("orders", json!({})).await;
    assert_eq!((st, v["version"].as_str()), (201, Some("2")), "{v}");
    let (st, v) = b.call(Method::PUT, "/v1/functions/orders/aliases/LIVE", Some(json!({ "version": "1" }))).await;
    assert_eq!(st, 201, "{v}");
    eventually("alias on A", || async { a.invoke("orders:LIVE", "").await.text() == V1 }).await;
    let (st, v) = h3.call(Method::PUT, "/v1/functions/orders/aliases/LIVE", Some(json!({ "version": "2" }))).await;
    assert_eq!(st, 200, "{v}");
    for h in [a, b] {
        eventually("alias move", || async { h.invoke("orders:LIVE", "").await.text() == V2 }).await;
    }

    // An API deployed on A is routed by B's gateway; a stage moved on B is seen by A's.
    let api = new_api(a, "shop").await;
    route_ok(a, &api, "GET", "/orders", function("orders:${stageVariables.alias}")).await;
    permit(a, "orders", "gw", &api, Some("LIVE")).await;
    permit(a, "orders", "gw1", &api, Some("1")).await;
    deploy(a, &api, Some("prod")).await;
    let (st, v) = a
        .call(Method::PATCH, &format!("/v1/apis/{api}/stages/prod"), Some(json!({ "variables": { "alias": "LIVE" } })))
        .await;
    assert_eq!(st, 200, "{v}");
    let r = get(a, &format!("/{api}/prod/orders")).await;
    assert_eq!(r.body, b"v2", "{} {}", r.status, r.text());
    eventually("stage on B", || async { get(b, &format!("/{api}/prod/orders")).await.body == b"v2" }).await;
    let (st, v) = b
        .call(Method::PATCH, &format!("/v1/apis/{api}/stages/prod"), Some(json!({ "variables": { "alias": "1" } })))
        .await;
    assert_eq!(st, 200, "{v}");
    eventually("stage variable on A", || async { get(a, &format!("/{api}/prod/orders")).await.body == b"v1" }).await;

    // The response cache is per host, its flush is for all: B caches v2 (prod → LIVE → 2),
    // the alias moves back to 1, B answers from its cache until a flush on A reaches it.
    let body = json!({ "variables": { "alias": "LIVE" }, "cache": { "enabled": true, "ttl_seconds": 300 } });
    let (st, v) = a.call(Method::PATCH, &format!("/v1/apis/{api}/stages/prod"), Some(body)).await;
    assert_eq!(st, 200, "{v}");
    eventually("cache on B", || async {
        let r = get(b, &format!("/{api}/prod/orders")).await;
        r.body == b"v2" && r.h("x-waygate-cache") == Some("hit")
    })
    .await;
    let (st, v) = a.call(Method::PUT, "/v1/functions/orders/aliases/LIVE", Some(json!({ "version": "1" }))).await;
    assert_eq!(st, 200, "{v}");
    eventually("the alias on B", || async { b.invoke("orders:LIVE", "").await.text() == V1 }).await;
    assert_eq!(get(b, &format!("/{api}/prod/orders")).await.body, b"v2", "still cached on B");
    assert_eq!(a.call(Method::DELETE, &format!("/v1/apis/{api}/stages/prod/cache"), None).await.0, 202);
    eventually("the flush on B", || async { get(b, &format!("/{api}/prod/orders")).await.body == b"v1" }).await;

    // A secret rotated on one host is what the others' functions get.
    let (st, _) = a.call(Method::PUT, "/v1/secrets/default/pw", Some(json!({ "value": "one" }))).await;
    assert_eq!(st, 201);
    a.deploy("env", json!({ "env": { "PW": "secret:pw" } }), &fixtures::env()).await;
    eventually("secret on B", || async { b.invoke("env", "").await.text().contains("PW=one") }).await;
    assert_eq!(h3.call(Method::PUT, "/v1/secrets/default/pw", Some(json!({ "value": "two" }))).await.0, 200);
    eventually("rotation on B", || async { b.invoke("env", "").await.text().contains("PW=two") }).await;

    // A key made on A works on B; revoked on the third host, B refuses it at once.
    let (st, v) = a
        .call(Method::POST, "/v1/keys", Some(json!({ "name": "ci", "policy": [{ "effect": "allow", "actions": ["function:Read"], "resources": ["*"] }] })))
        .await;
    assert_eq!(st, 201, "{v}");
    let key = v["key"].as_str().unwrap().to_string();
    let as_key =
        |h: &TestServer| reqwest::Client::new().get(format!("{}/v1/functions", h.url)).bearer_auth(key.clone()).send();
    assert_eq!(as_key(b).await.unwrap().status(), 200);
    assert_eq!(h3.call(Method::DELETE, "/v1/keys/ci", None).await.0, 204);
    assert_eq!(as_key(b).await.unwrap().status(), 401);

    // Every host accepts the same admin token; the audit log is shared.
    for h in [a, b, h3] {
        assert_eq!(h.call(Method::GET, "/v1/functions/orders", None).await.0, 200);
    }
    let (_, audit) = b.call(Method::GET, "/v1/audit?limit=200", None).await;
    let entries = audit["entries"].as_array().map_or(0, |e| e.len());
    assert!(entries >= 10, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_on_two_hosts_get_unique_gap_free_numbers() {
    let Some(base) = skip("concurrent_publishes_on_two_hosts_get_unique_gap_free_numbers") else { return };
    let c = Cluster::start(&base, 2).await;
    let (a, b) = (&c.hosts[0], &c.hosts[1]);
    a.deploy("f", json!({}), &fixtures::print("x")).await;
    // Each host changes $LATEST's configuration and publishes, 12 times, both at once.
    let (x, y) = tokio::join!(publish_rounds(a, "a"), publish_rounds(b, "b"));
    let mut created: Vec<u32> = x.into_iter().chain(y).collect();
    created.sort();
    let n = created.len() as u32;
    assert!(n >= 12, "each round changed $LATEST, so most publishes create a version: {created:?}");
    assert_eq!(created, (1..=n).collect::<Vec<_>>(), "unique and gap-free");
    let (_, list) = b.call(Method::GET, "/v1/functions/f/versions", None).await;
    let listed: Vec<&str> = list["versions"].as_array().unwrap().iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(listed.len() as u32, n, "every version: {list}");
}

/// 12 rounds of "change $LATEST's configuration, publish"; the versions created.
async fn publish_rounds(h: &TestServer, tag: &str) -> Vec<u32> {
    let mut created = Vec::new();
    for i in 0..12 {
        let env = json!({ "env": { "TAG": format!("{tag}{i}") } });
        let (st, v) = h.call(Method::PATCH, "/v1/functions/f/config", Some(env)).await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = h.publish("f", json!({})).await;
        assert!(st == 201 || st == 200, "{st} {v}");
        if st == 201 {
            created.push(v["version"].as_str().unwrap().parse::<u32>().unwrap());
        }
    }
    created
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_report_health_survive_a_lost_connection_and_a_late_host_catches_up() {
    let Some(base) = skip("hosts_report_health_survive_a_lost_connection_and_a_late_host_catches_up") else { return };
    let mut c = Cluster::start(&base, 2).await;
    let (a, b) = (&c.hosts[0], &c.hosts[1]);
    // The probe needs no credentials and says nothing more than ok.
    let r = reqwest::get(format!("{}/healthz", a.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!({ "status": "ok" }));
    assert_eq!(reqwest::get(format!("{}/v1/cluster", a.url)).await.unwrap().status(), 401);

    a.deploy("f", json!({}), &fixtures::print(V1)).await;
    let (st, v) = a.publish("f", json!({})).await;
    assert_eq!(st, 201, "{v}");
    // Both hosts heartbeat, and each serves the newest change.
    let both_current = || async {
        let (st, v) = b.call(Method::GET, "/v1/cluster", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["store"], "postgres");
        let latest = v["host"]["latest_seq"].as_u64().unwrap_or(0);
        let hosts = v["hosts"].as_array().cloned().unwrap_or_default();
        hosts.len() == 2 && hosts.iter().all(|h| h["alive"] == true && h["applied_seq"].as_u64() == Some(latest))
    };
    eventually("both hosts listed, alive and current", both_current).await;

    // Every connection of this cluster killed by the server: the hosts reconnect by
    // themselves, the feed resyncs, and a change made right after reaches the other host.
    admin_sql(
        &base,
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}'", c.schema),
    )
    .expect("terminate the cluster's connections");
    eventually("A's feed noticed the lost connection", || async {
        let (_, v) = a.call(Method::GET, "/v1/cluster", None).await;
        v["host"]["disconnects"].as_u64().unwrap_or(0) >= 1 && v["host"]["connected"] == true
    })
    .await;
    let (st, v) = b.call(Method::PUT, "/v1/functions/f/aliases/LIVE", Some(json!({ "version": "1" }))).await;
    assert_eq!(st, 201, "{v}");
    eventually("a change after the reconnection", || async { a.invoke("f:LIVE", "").await.text() == V1 }).await;
    let r = reqwest::get(format!("{}/healthz", a.url)).await.unwrap();
    assert_eq!(r.status(), 200);

    // A host started late serves everything at once, the admin token included.
    let late = c.join().await;
    assert_eq!(late.invoke("f:LIVE", "").await.text(), V1);
    assert_eq!(std::fs::read_to_string(late.data().join("admin.token")).unwrap(), c.hosts[0].token);
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_waygate_is_refused() {
    let Some(base) = skip("a_database_migrated_by_a_newer_waygate_is_refused") else { return };
    let c = Cluster::start(&base, 1).await;
    admin_sql(&base, format!("INSERT INTO {}.waygate_schema (version) VALUES (99)", c.schema))
        .expect("mark the schema newer");
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store = Some(c.url.clone());
    let any = "127.0.0.1:0".parse().unwrap();
    let err = waygate::server::Server::start(config, any, any).await.err().expect("refused");
    assert!(format!("{err:#}").contains("newer than this Waygate"), "{err:#}");
}

#[tokio::test]
async fn a_host_given_another_admin_token_than_the_database_holds_refuses_to_start() {
    let Some(base) = skip("a_host_given_another_admin_token_than_the_database_holds_refuses_to_start") else {
        return;
    };
    let c = Cluster::start(&base, 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("given.token"), "wg_not-the-one").unwrap();
    let mut config = test_config(dir.path());
    config.store = Some(c.url.clone());
    config.master_key_hex = Some(zeroize::Zeroizing::new(c.key.clone()));
    config.admin_token_file = Some(dir.path().join("given.token"));
    let any = "127.0.0.1:0".parse().unwrap();
    let err = waygate::server::Server::start(config, any, any).await.err().expect("refused");
    assert!(format!("{err:#}").contains("another token"), "{err:#}");
    // A wrong master key can't open the stored credentials either.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store = Some(c.url.clone());
    config.master_key_hex = Some(zeroize::Zeroizing::new("cd".repeat(32)));
    let err = waygate::server::Server::start(config, any, any).await.err().expect("refused");
    assert!(format!("{err:#}").contains("same master key"), "{err:#}");
}

/// `waygate store copy` with the real binary.
fn store_copy(from: &str, to: &str, key_file: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_waygate"))
        .args(["store", "copy", "--from", from, "--to", to, "--master-key-file"])
        .arg(key_file)
        .env_remove("WAYGATE_MASTER_KEY")
        .output()
        .expect("waygate store copy runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_copy_moves_an_installation_into_postgres_and_back() {
    let Some(base) = skip("store_copy_moves_an_installation_into_postgres_and_back") else { return };
    // An embedded installation with a bit of everything.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store = None;
    let mut s = TestServer::boot(dir, config).await;
    s.deploy("orders", json!({ "env": { "PW": "secret:db-password" } }), &fixtures::print(V1)).await;
    assert_eq!(s.publish("orders", json!({})).await.0, 201);
    assert_eq!(s.call(Method::PUT, "/v1/functions/orders/aliases/LIVE", Some(json!({ "version": "1" }))).await.0, 201);
    assert_eq!(s.call(Method::PUT, "/v1/secrets/prod/db-password", Some(json!({ "value": "pw1" }))).await.0, 201);
    let api = new_api(&s, "shop").await;
    route_ok(&s, &api, "GET", "/orders", function("orders:LIVE")).await;
    permit(&s, "orders", "gw", &api, Some("LIVE")).await;
    deploy(&s, &api, Some("prod")).await;
    let token = s.token.clone();
    s.stop().await;
    let old = s.data();
    let key_file = old.join("master.key");

    // Into an empty schema: a host on it serves the same API with the same token.
    let anchor = tempfile::tempdir().unwrap();
    let schema = schema_of(anchor.path());
    let url = schema_url(&base, &schema);
    let out = store_copy(old.to_str().unwrap(), &url, &key_file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("1 blobs"), "{report}");
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store = Some(url.clone());
    config.master_key_file = Some(key_file.clone());
    let pg = TestServer::boot(dir, config).await;
    assert_eq!(pg.token, token, "the admin token came along");
    assert_eq!(get(&pg, &format!("/{api}/prod/orders")).await.body, b"v1");
    let (st, v) = pg.call(Method::GET, "/v1/secrets/prod", None).await;
    assert_eq!(st, 200);
    assert!(v.to_string().contains("db-password"), "{v}");
    let (_, audit) = pg.call(Method::GET, "/v1/audit?limit=100", None).await;
    assert!(audit["entries"].as_array().is_some_and(|e| e.len() >= 6), "the audit log came along: {audit}");

    // A non-empty target is refused, nothing written.
    let out = store_copy(old.to_str().unwrap(), &url, &key_file);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("copy into an empty store"));

    // And back out into a new data directory, which runs embedded as before.
    let back = tempfile::tempdir().unwrap();
    let out = store_copy(&url, back.path().to_str().unwrap(), &key_file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(pg);
    let mut config = test_config(back.path());
    config.store = None;
    let again = TestServer::boot(back, config).await;
    assert_eq!(again.token, token);
    assert_eq!(get(&again, &format!("/{api}/prod/orders")).await.body, b"v1");
    drop_schema(&schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_killed_mid_publish_leaves_no_partial_state() {
    let Some(base) = skip("a_host_killed_mid_publish_leaves_no_partial_state") else { return };
    let c = Cluster::start(&base, 1).await;
    let h = &c.hosts[0];
    h.deploy("f", json!({}), &fixtures::print(V1)).await;
    // A second host, the real binary, publishing in a loop until SIGKILL stops it.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.hex");
    std::fs::write(&key_file, &c.key).unwrap();
    let (url, log) = (c.url.clone(), dir.path().join("host.log"));
    let data = dir.path().join("data");
    let acknowledged = tokio::task::spawn_blocking(move || {
        let extra = ["--store", url.as_str(), "--master-key-file", key_file.to_str().unwrap()];
        let p = std::sync::Arc::new(crate::harness::Spawned::start_with(&data, &log, &extra));
        let killer = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400 + rand::random::<u64>() % 400));
                p.kill();
            })
        };
        let mut acknowledged = Vec::new();
        for i in 0..500 {
            let env = json!({ "env": { "ROUND": format!("{i}") } });
            let Ok((200, _)) = p.call(Method::PATCH, "/v1/functions/f/config", Some(env)) else { break };
            match p.call(Method::POST, "/v1/functions/f/versions", Some(json!({ "description": format!("round {i}") })))
            {
                Ok((201, v)) => acknowledged.push(v["version"].as_str().unwrap().parse::<u32>().unwrap()),
                _ => break,
            }
        }
        killer.join().unwrap();
        acknowledged
    })
    .await
    .unwrap();
    assert!(!acknowledged.is_empty(), "the killed host published before it died");
    // What the surviving host sees: every acknowledged version, numbered without a gap, each
    // one whole (its configuration and description from the same round), nothing half-written.
    let (st, list) = h.call(Method::GET, "/v1/functions/f/versions", None).await;
    assert_eq!(st, 200);
    let versions = list["versions"].as_array().unwrap();
    let numbers: Vec<u32> = versions.iter().map(|v| v["version"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>(), "gap-free");
    assert!(acknowledged.iter().all(|n| numbers.contains(n)), "{acknowledged:?} ⊆ {numbers:?}");
    for v in versions {
        let round = v["config"]["env"]["ROUND"].as_str().unwrap();
        assert_eq!(v["description"], format!("round {round}"), "{v}");
    }
    // And it goes on: a publish on the survivor takes the next number.
    h.call(Method::PATCH, "/v1/functions/f/config", Some(json!({ "env": { "ROUND": "after" } }))).await;
    let (st, v) = h.publish("f", json!({ "description": "round after" })).await;
    assert_eq!((st, v["version"].as_str()), (201, Some((numbers.len() + 1).to_string().as_str())), "{v}");
}
