//! Environments as code: `waygate plan`, `apply` and `export` against a real server, as a
//! user runs them (the binary, over HTTP).

use crate::fixtures;
use crate::harness::{ok, waygate, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A function answering the gateway with `body`.
fn answering(body: &str) -> Vec<u8> {
    wat::parse_str(fixtures::print(&format!(r#"{{"statusCode":200,"body":"{body}"}}"#))).unwrap()
}

/// A project directory: two code files and a declaration built by [`declaration`].
struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("v1.wasm"), answering("one")).unwrap();
        std::fs::write(root.join("v2.wasm"), answering("two")).unwrap();
        Project { _dir: dir, root }
    }

    fn write(&self, text: &str) -> String {
        let p = self.root.join("waygate.toml");
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}

/// The shop scenario: `shop` with version 1 (v1.wasm) and `$LATEST` (`latest`), aliases,
/// an API whose dev stage runs EXPERIMENTAL and prod STABLE, and a key.
fn declaration(latest: &str, prod_alias: &str, extra: &str) -> String {
    format!(
        r#"
[functions.shop]
code = "{latest}"
memory_mb = 64
env = {{ COLOR = "teal" }}

[[functions.shop.versions]]
version = 1
code = "v1.wasm"
description = "first"

[functions.shop.aliases]
STABLE = {{ version = 1 }}
EXPERIMENTAL = {{ version = "$LATEST" }}

[[functions.shop.permissions]]
id = "shop-api"
api = "shop"
qualifier = "STABLE"

[[functions.shop.permissions]]
id = "shop-api-dev"
api = "shop"
source = "dev/*/*"
qualifier = "EXPERIMENTAL"

[apis.shop]
description = "the shop"
routes = [
  {{ method = "ANY", path = "/{{proxy+}}", integration = {{ type = "function", target = "shop:${{stageVariables.alias}}" }} }},
  {{ method = "GET", path = "/health", integration = {{ type = "mock", status = 200, body = "ok" }} }},
]

[apis.shop.stages.dev]
variables = {{ alias = "EXPERIMENTAL" }}

[apis.shop.stages.prod]
variables = {{ alias = "{prod_alias}" }}
cache = {{ enabled = true, ttl_seconds = 60 }}
throttle = {{ rate_per_second = 100.0, burst = 50 }}

[keys.ci-dev]
policy = [
  {{ effect = "allow", actions = ["function:Read", "api:Read"], resources = ["*"] }},
  {{ effect = "allow", actions = ["stage:Update", "api:Deploy"], resources = ["api/*/stage/dev"] }},
]
{extra}
"#
    )
}

fn run(s: &TestServer, args: &[&str]) -> Output {
    waygate(s, args)
}

/// As `key` instead of the admin token.
fn run_as(s: &TestServer, key: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_waygate"))
        .args(args)
        .env("WAYGATE_ENDPOINT", &s.url)
        .env("WAYGATE_TOKEN", key)
        .env("WAYGATE_DATA_DIR", s.data())
        .output()
        .unwrap()
}

fn blocking<T: Send + 'static>(s: &Arc<TestServer>, f: impl FnOnce(&TestServer) -> T + Send + 'static) -> T {
    let s = s.clone();
    std::thread::spawn(move || f(&s)).join().unwrap()
}

async fn stage_body(s: &TestServer, api: &str, stage: &str, path: &str) -> String {
    s.gw(Method::GET, &format!("/{api}/{stage}{path}")).send().await.unwrap().text().await.unwrap()
}

async fn api_id(s: &TestServer, name: &str) -> String {
    let (_, v) = s.call(Method::GET, "/v1/apis", None).await;
    let ids: Vec<&Value> = v["apis"].as_array().unwrap().iter().filter(|a| a["name"] == name).collect();
    assert_eq!(ids.len(), 1, "{v}");
    ids[0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_is_idempotent_and_export_round_trips() {
    let s = Arc::new(TestServer::start().await);
    let project = Project::new();
    let file = project.write(&declaration("v2.wasm", "STABLE", ""));

    // A plan of a new installation: everything to create, exit 2.
    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    let out = text(&o);
    for line in [
        "+ function shop",
        "+ version shop:1",
        "+ alias shop:STABLE",
        "+ api shop",
        "+ permission shop/shop-api (qualifier STABLE)",
        "+ route shop ANY /{proxy+}",
        "+ stage shop/prod",
        "+ key ci-dev",
        "to create",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    // plan changed nothing.
    assert_eq!(s.call(Method::GET, "/v1/functions", None).await.1["functions"], json!([]));

    // apply: every step in order, a line each; the key shown once.
    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"]));
    let out = ok(&o);
    assert!(out.contains("publish version shop:1 … done"), "{out}");
    assert!(out.contains("deploy stage shop/prod … ("), "{out}");
    assert!(out.contains("New key ci-dev (shown once"), "{out}");
    assert!(out.contains("Apply complete"), "{out}");

    // It runs: dev serves $LATEST (v2.wasm), prod version 1 (v1.wasm), the mock route too.
    assert_eq!(stage_body(&s, &api_id(&s, "shop").await, "dev", "/orders").await, "two");
    let id = api_id(&s, "shop").await;
    assert_eq!(stage_body(&s, &id, "prod", "/orders").await, "one");
    assert_eq!(stage_body(&s, &id, "prod", "/health").await, "ok");
    let (_, stage) = s.call(Method::GET, &format!("/v1/apis/{id}/stages/prod"), None).await;
    assert_eq!(stage["cache"]["ttl_seconds"], 60, "{stage}");
    assert_eq!(stage["throttle"]["burst"], 50, "{stage}");
    let (_, latest) = s.call(Method::GET, "/v1/functions/shop", None).await;
    assert_eq!(latest["config"]["memory_mb"], 64);
    assert_eq!(latest["config"]["env"]["COLOR"], "teal");

    // A second plan and apply: no changes (exit 0).
    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("No changes"), "{}", text(&o));
    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"]));
    assert!(ok(&o).contains("No changes"));

    // A new version and prod moved to it: a field diff, then live.
    let extra = "[[functions.shop.versions]]\nversion = 2\ndescription = \"second\"\n";
    let text2 = declaration("v2.wasm", "STABLE", extra).replace("STABLE = { version = 1 }", "STABLE = { version = 2 }");
    let file2 = project.write(&text2);
    let f = file2.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("+ version shop:2"), "{out}");
    assert!(out.contains("~ alias shop:STABLE\n        version: 1 → 2"), "{out}");
    let f = file2.clone();
    ok(&blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"])));
    // (prod caches for 60 s: another path.)
    assert_eq!(stage_body(&s, &id, "prod", "/orders/2").await, "two");
    let (_, v2) = s.call(Method::GET, "/v1/functions/shop/versions/2", None).await;
    assert_eq!(v2["description"], "second");

    // A version's content can't change: refused at plan time, with the file position.
    let tampered = text2.replace("description = \"first\"", "description = \"rewritten\"");
    let f = project.write(&tampered);
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("waygate.toml:7:1: version shop:1 on the server differs from the file (description \"first\" → \"rewritten\")"), "{}", text(&o));
    assert!(text(&o).contains("versions are immutable"), "{}", text(&o));
    project.write(&text2);

    // export writes the state with code files by hash; its plan shows no changes.
    let out_dir = tempfile::tempdir().unwrap();
    let exported = out_dir.path().join("exported.toml").to_str().unwrap().to_string();
    let e = exported.clone();
    let o = blocking(&s, move |s| run(s, &["export", "-o", &e]));
    assert!(ok(&o).contains("1 functions, 1 APIs, 1 keys"), "{}", text(&o));
    let code_dir: Vec<_> = std::fs::read_dir(out_dir.path().join("code")).unwrap().collect();
    assert_eq!(code_dir.len(), 2, "two distinct codes");
    let e = exported.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &e]));
    assert_eq!(code(&o), 0, "{}\n{}", text(&o), std::fs::read_to_string(&exported).unwrap());
    let e = exported.clone();
    let o = blocking(&s, move |s| run(s, &["export", "-o", &e]));
    assert!(!o.status.success() && text(&o).contains("--force"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_examples_are_the_study_guide_file() {
    let s = Arc::new(TestServer::start().await);
    waygate::examples::register(&s.platform()).await.expect("examples register");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-examples/study-guide/waygate.toml");
    let f = root.to_str().unwrap().to_string();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 0, "the file and examples::register disagree:\n{}", text(&o));

    // On an empty server, apply sets the same scenario up.
    let t = Arc::new(TestServer::start().await);
    let f = root.to_str().unwrap().to_string();
    ok(&blocking(&t, move |t| run(t, &["apply", "-f", &f, "--auto-approve"])));
    let id = api_id(&t, "orders").await;
    let (_, prod) = t.call(Method::GET, &format!("/v1/apis/{id}/stages/prod"), None).await;
    assert_eq!(prod["variables"]["alias"], "STABLE");
    let (_, stable) = t.call(Method::GET, "/v1/functions/orders/aliases/STABLE", None).await;
    assert_eq!(stable["version"], "1");
    let (_, v1) = t.call(Method::GET, "/v1/functions/orders/versions/1", None).await;
    assert_eq!(v1["config"]["env"]["ORDERS_ENV"], "stable");
    let f = root.to_str().unwrap().to_string();
    let o = blocking(&t, move |t| run(t, &["plan", "-f", &f]));
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_what_the_file_lacks_only_when_asked() {
    let s = Arc::new(TestServer::start().await);
    let project = Project::new();
    let file = project.write(&declaration("v2.wasm", "STABLE", ""));
    let f = file.clone();
    ok(&blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"])));
    // Made by hand: an alias of a declared function, another function, a stage.
    s.call(Method::PUT, "/v1/functions/shop/aliases/OLD", Some(json!({"version": "1"}))).await;
    s.deploy("stray", json!({}), &fixtures::print("x")).await;
    let id = api_id(&s, "shop").await;
    let (st, _) = s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({"stage": "qa"}))).await;
    assert_eq!(st, 201);

    // Without --prune they are kept (and said so), and the plan has no changes.
    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("alias shop:OLD"), "{}", text(&o));
    assert!(text(&o).contains("--prune deletes them"), "{}", text(&o));

    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f, "--prune"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    let out = text(&o);
    for line in ["- stage shop/qa", "- alias shop:OLD", "- function stray"] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let f = file.clone();
    ok(&blocking(&s, move |s| run(s, &["apply", "-f", &f, "--prune", "--auto-approve"])));
    assert_eq!(s.call(Method::GET, "/v1/functions/stray", None).await.0, 404);
    assert_eq!(s.call(Method::GET, "/v1/functions/shop/aliases/OLD", None).await.0, 404);
    assert_eq!(s.call(Method::GET, &format!("/v1/apis/{id}/stages/qa"), None).await.0, 404);
    let f = file.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f, "--prune"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_says_what_was_done_and_a_second_apply_converges() {
    let s = Arc::new(TestServer::start().await);
    let project = Project::new();
    // The server refuses the reserved concurrency (above its instance limit): the plan
    // can't know that limit, so apply fails part-way.
    let bad = declaration("v2.wasm", "STABLE", "")
        .replace("memory_mb = 64", "memory_mb = 64\nreserved_concurrency = 100000000");
    let f = project.write(&bad);
    let o = blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("failed"), "{out}");
    assert!(out.contains("changes were made; not done: "), "{out}");
    assert!(out.contains("Running apply again"), "{out}");
    // What was done stays: version 1 was published before the failure.
    assert_eq!(s.call(Method::GET, "/v1/functions/shop/versions/1", None).await.0, 200);

    let f = project.write(&declaration("v2.wasm", "STABLE", ""));
    let f2 = f.clone();
    let o = blocking(&s, move |s| run(s, &["apply", "-f", &f2, "--auto-approve"]));
    let out = ok(&o);
    assert!(!out.contains("version shop:1"), "version 1 is not published twice:\n{out}");
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f]));
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_scoped_key_applies_dev_and_is_refused_on_prod() {
    let s = Arc::new(TestServer::start().await);
    let project = Project::new();
    let f = project.write(&declaration("v2.wasm", "STABLE", ""));
    ok(&blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"])));
    let (st, k) = s
        .call(
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "ci", "policy": [
                {"effect": "allow", "actions": ["function:Read", "api:Read", "key:Manage"], "resources": ["*"]},
                {"effect": "allow", "actions": ["stage:Update", "api:Deploy"], "resources": ["api/*/stage/dev"]}
            ]})),
        )
        .await;
    assert_eq!(st, 201);
    let key = k["key"].as_str().unwrap().to_string();

    // Both stages' variables change in the file.
    let changed = declaration("v2.wasm", "EXPERIMENTAL", "")
        .replace(
            "variables = { alias = \"EXPERIMENTAL\" }\n\n[apis.shop.stages.prod]",
            "variables = { alias = \"EXPERIMENTAL\", color = \"blue\" }\n\n[apis.shop.stages.prod]",
        )
        .replace("[keys.ci-dev]", "[keys.ci]")
        .replace("[\"function:Read\", \"api:Read\"]", "[\"function:Read\", \"api:Read\", \"key:Manage\"]");
    let f = project.write(&changed);

    // --stage dev: only dev is planned and applied, with the key's rights.
    let (f1, k1) = (f.clone(), key.clone());
    let o = blocking(&s, move |s| run_as(s, &k1, &["plan", "-f", &f1, "--stage", "dev"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("~ stage shop/dev") && !text(&o).contains("shop/prod"), "{}", text(&o));
    let (f1, k1) = (f.clone(), key.clone());
    ok(&blocking(&s, move |s| run_as(s, &k1, &["apply", "-f", &f1, "--stage", "dev", "--auto-approve"])));
    let id = api_id(&s, "shop").await;
    let (_, dev) = s.call(Method::GET, &format!("/v1/apis/{id}/stages/dev"), None).await;
    assert_eq!(dev["variables"]["color"], "blue", "{dev}");

    // All stages: prod is refused with the server's message, and stays as it was.
    let (f1, k1) = (f.clone(), key.clone());
    let o = blocking(&s, move |s| run_as(s, &k1, &["apply", "-f", &f1, "--auto-approve"]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o)
            .contains(&format!("AccessDenied: key 'ci' is not allowed to perform stage:Update on api/{id}/stage/prod")),
        "{}",
        text(&o)
    );
    let (_, prod) = s.call(Method::GET, &format!("/v1/apis/{id}/stages/prod"), None).await;
    assert_eq!(prod["variables"]["alias"], "STABLE", "{prod}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_with_positions_before_anything_changes() {
    let s = Arc::new(TestServer::start().await);
    let project = Project::new();
    let cases: &[(&str, &str)] = &[
        ("[functions.shop]\ncode = \"v1.wasm\"\nmemroy_mb = 64\n", "waygate.toml:3:1: unknown field `memroy_mb`"),
        ("[functions.shop]\ncode = \"v1.wasm\"\nmemory_mb = \"big\"\n", "waygate.toml:3:13:"),
        ("[functions.shop]\ncode = \"missing.wasm\"\n", "waygate.toml:2:8: cannot read code file"),
        ("[functions.\"no spaces\"]\ncode = \"v1.wasm\"\n", "waygate.toml:1:12:"),
        (
            "[functions.shop]\ncode = \"v1.wasm\"\naliases.LIVE = { version = \"$LATEST\", routing = { \"1\" = 0.5 } }\n",
            "waygate.toml:3:16: alias shop:LIVE:",
        ),
        (
            "[apis.a]\nroutes = [{ method = \"GET\", path = \"/x\", integration = { type = \"function\", target = \"shop:${stageVariables.alias\" } }]\n",
            "waygate.toml:2:11: API a route GET /x: Invalid target",
        ),
        (
            "[apis.a]\nroutes = [{ method = \"GET\", path = \"/x\", integration = { type = \"function\", target = \"nope:${stageVariables.alias}\" } }]\nstages.dev = { variables = { alias = \"LIVE\" } }\n",
            "waygate.toml:3:14: stage a/dev: route GET /x resolves to nope:LIVE, but there is no function nope",
        ),
        ("[keys.k]\npolicy = [{ effect = \"allow\", actions = [\"function:Invok\"], resources = [\"*\"] }]\n", "waygate.toml:1:7: key k:"),
    ];
    for (body, want) in cases {
        let f = project.write(body);
        let o = blocking(&s, move |s| run(s, &["apply", "-f", &f, "--auto-approve"]));
        assert_eq!(code(&o), 1, "{body}\n{}", text(&o));
        assert!(text(&o).contains(want), "{body}\nwant {want:?} in:\n{}", text(&o));
    }
    let (_, fns) = s.call(Method::GET, "/v1/functions", None).await;
    assert_eq!(fns["functions"], json!([]), "nothing was stored");
    let (_, keys) = s.call(Method::GET, "/v1/keys", None).await;
    assert_eq!(keys["keys"], json!([]), "nothing was stored");
    let o = blocking(&s, |s| run(s, &["apply", "-f", "/nonexistent/waygate.toml", "--auto-approve"]));
    assert!(text(&o).contains("cannot read /nonexistent/waygate.toml"), "{}", text(&o));
    // apply refuses to go on without a terminal or --auto-approve.
    let f = project.write(&declaration("v2.wasm", "STABLE", ""));
    let o = blocking(&s, move |s| run(s, &["apply", "-f", &f]));
    assert!(text(&o).contains("pass --auto-approve"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_names_the_secrets_an_environment_lacks() {
    let s = Arc::new(TestServer::start().await);
    let project = Project::new();
    let with_secret = declaration("v2.wasm", "STABLE", "")
        .replace("env = { COLOR = \"teal\" }", "env = { COLOR = \"teal\", DB_PASSWORD = \"secret:db-password\" }");
    let f = project.write(&with_secret);
    let (st, _) = s.call(Method::PUT, "/v1/secrets/dev/db-password", Some(json!({"value": "d"}))).await;
    assert_eq!(st, 201);
    let f1 = f.clone();
    let o = blocking(&s, move |s| run(s, &["plan", "-f", &f1, "--output", "json"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains(
            "secret db-password is missing in environment prod: function shop reads it through stage shop/prod"
        ),
        "{v}"
    );
    assert!(!warnings.contains("environment dev"), "dev has it: {v}");
    assert!(v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["address"] == "function shop" && c["action"] == "create"));
    // The value itself is never in the file or the plan.
    assert!(!String::from_utf8_lossy(&o.stdout).contains("\"d\""));
}
