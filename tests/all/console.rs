//! The web console (`/console/`) in a real headless Chromium, driven over WebDriver
//! (chromedriver): sign-in, the study guide's stages, upload + publish + alias by clicking,
//! a canary's share in the traffic chart, logs, a dev key refused on prod, a bad token,
//! a phone-width screen. Screenshots of each page go to `target/console-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`bash tests/install-browser.sh`); without
//! them the browser test skips with a message, unless `WAYGATE_BROWSER_TESTS=require` (set
//! by `.ci/run`) makes a missing browser a failure. The console's files, the OpenAPI
//! document and the stats endpoint are tested over plain HTTP below, browser or not.

use crate::fixtures;
use crate::harness::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long any one wait for the page may take before the test fails (a slow machine
/// only makes the test wait longer; nothing is timed).
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free 127.0.0.1 port, killed on drop.
struct Driver {
    child: std::process::Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// `None` (with a message) when no browser is installed and none is required.
    fn start() -> Option<Driver> {
        let present = std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
        if !present {
            let required = std::env::var("WAYGATE_BROWSER_TESTS").as_deref() == Ok("require");
            assert!(!required, "WAYGATE_BROWSER_TESTS=require but {CHROMEDRIVER} or {CHROMIUM} is missing");
            eprintln!("skipped: no {CHROMIUM} / {CHROMEDRIVER} (bash tests/install-browser.sh installs them)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PAGE_WAIT, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(driver)
    }

    async fn client(&self) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--no-first-run", "--disable-extensions"],
            },
        });
        let caps = caps.as_object().unwrap().clone();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until `css` matches an element whose text contains `want`; returns that text.
async fn text_of(c: &Client, css: &str, want: &str) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < PAGE_WAIT {
        if let Ok(els) = c.find_all(Locator::Css(css)).await {
            for e in els {
                if let Ok(t) = e.text().await {
                    if t.contains(want) {
                        return t;
                    }
                    last = t;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let notice = match c.find(Locator::Css("#notice")).await {
        Ok(n) => n.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    panic!("no `{css}` with text containing {want:?} (last seen: {last:?}; notice: {notice:?})");
}

/// Opens `#/route` and waits for the page to be drawn (`main[data-ready]`).
async fn open(c: &Client, s: &TestServer, route: &str, ready: &str) {
    c.goto(&format!("{}/console/#/{route}", s.url)).await.unwrap();
    c.wait().at_most(PAGE_WAIT).for_element(Locator::Css(&format!("main[data-ready='{ready}']"))).await.unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    let el = c.wait().at_most(PAGE_WAIT).for_element(Locator::Css(css)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.wait().at_most(PAGE_WAIT).for_element(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// Moves a range slider as a user would drag it: its value, then its `input` event.
async fn slide(c: &Client, css: &str, value: u32) {
    c.wait().at_most(PAGE_WAIT).for_element(Locator::Css(css)).await.unwrap();
    c.execute(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
         el.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![json!(css), json!(value)],
    )
    .await
    .unwrap();
}

async fn sign_in(c: &Client, s: &TestServer, token: &str) {
    c.goto(&format!("{}/console/", s.url)).await.unwrap();
    c.execute("sessionStorage.clear()", vec![]).await.unwrap();
    c.goto(&format!("{}/console/#/", s.url)).await.unwrap();
    c.refresh().await.unwrap();
    fill(c, "#token", token).await;
    click(c, "#signin button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let Some(driver) = Driver::start() else { return };
    let s = TestServer::start().await;
    waygate::examples::register(&s.platform()).await.expect("examples register");
    let (_, apis) = s.call(Method::GET, "/v1/apis", None).await;
    let api = apis["apis"].as_array().unwrap().iter().find(|a| a["name"] == "orders").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = driver.client().await;

    // A bad token is refused with the server's message, and nothing else is shown.
    sign_in(&c, &s, "wgk_not-a-key").await;
    text_of(&c, "#notice", "The token was refused").await;
    assert!(c.find(Locator::Css("#nav[hidden]")).await.is_ok(), "no pages without a valid token");
    shot(&c, "sign-in-refused").await;

    // Overview: dev runs EXPERIMENTAL → $LATEST, prod runs STABLE → 1.
    sign_in(&c, &s, &s.token).await;
    c.wait().at_most(PAGE_WAIT).for_element(Locator::Css("main[data-ready='overview']")).await.unwrap();
    let dev = text_of(&c, "article[data-stage='dev']", "orders:EXPERIMENTAL").await;
    assert!(dev.contains("$LATEST") && dev.contains("alias=EXPERIMENTAL"), "{dev}");
    assert_eq!(text_of(&c, "article[data-stage='dev'] .runs", "").await, "$LATEST");
    text_of(&c, "article[data-stage='prod']", "orders:STABLE").await;
    assert_eq!(text_of(&c, "article[data-stage='prod'] .runs", "").await, "1");
    shot(&c, "overview").await;

    // Function page: upload new code (file picker), publish it, send half of STABLE to it.
    open(&c, &s, "function/orders", "function").await;
    let code = wat::parse_str(fixtures::print("v2 from the console")).unwrap();
    let file = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    std::fs::write(file.path(), &code).unwrap();
    c.find(Locator::Css("#code-file")).await.unwrap().send_keys(file.path().to_str().unwrap()).await.unwrap();
    let hash = blake3::hash(&code).to_hex().to_string();
    text_of(&c, "#latest-hash", &hash).await;
    fill(&c, "#publish-description", "from the console").await;
    click(&c, "#publish").await;
    text_of(&c, "#notice", "Published version 2").await;
    c.find(Locator::Css("#alias-second-STABLE")).await.unwrap().select_by_value("2").await.unwrap();
    slide(&c, "#alias-weight-STABLE", 50).await;
    click(&c, "#alias-save-STABLE").await;
    text_of(&c, "#notice", "Alias STABLE → 1 (50 %) + 2 (50 %)").await;
    text_of(&c, "article[data-alias='STABLE'] .bar", "version 2 50 %").await;
    let (_, alias) = s.call(Method::GET, "/v1/functions/orders/aliases/STABLE", None).await;
    assert_eq!(alias["routing"], json!({ "2": 0.5 }), "{alias}");
    // The API's own validation message, shown as it says it.
    fill(&c, "#alias-name-new", "bad/name").await;
    click(&c, "#alias-save-new").await;
    let refused = text_of(&c, "#notice", "alias").await;
    assert!(!refused.contains("Published"), "{refused}");
    shot(&c, "function").await;

    // Put STABLE back on 1 alone, so prod's canary (below) is what splits its traffic.
    let (st, v) = s.call(Method::PUT, "/v1/functions/orders/aliases/STABLE", Some(json!({ "version": "1" }))).await;
    assert_eq!(st, 200, "{v}");

    // Stage page: deploy a canary at 25 %, then slide it to 50 %.
    open(&c, &s, &format!("stage/{api}/prod"), "stage").await;
    fill(&c, "#deploy-canary-percent", "25").await;
    click(&c, "#deploy").await;
    text_of(&c, "#notice", "Canary deployment").await;
    slide(&c, "#canary-percent", 50).await;
    click(&c, "#canary-save").await;
    text_of(&c, "#notice", "Canary at 50 %").await;
    let (_, stage) = s.call(Method::GET, &format!("/v1/apis/{api}/stages/prod"), None).await;
    assert_eq!(stage["canary"]["percent_traffic"], 50.0, "{stage}");
    shot(&c, "stage").await;

    // Traffic: requests to prod show up split between main and canary.
    open(&c, &s, "traffic", "traffic").await;
    for _ in 0..60 {
        let r = s.gw(Method::GET, &format!("/{api}/prod/orders")).send().await.unwrap();
        assert!(r.status().is_success() || r.status().is_client_error(), "{}", r.status());
    }
    let share = text_of(&c, ".traffic-stage[data-stage='prod'] .canary-share", "%").await;
    let pct: f64 = share.trim_end_matches(" %").parse().unwrap();
    assert!((10.0..=90.0).contains(&pct), "a canary at 50 % got {pct} % of 60 requests");
    text_of(&c, ".traffic-stage[data-stage='prod']", "Requests/s").await;
    // Two more polls, so the screenshot's charts show lines, not single points.
    tokio::time::sleep(Duration::from_secs(7)).await;
    c.execute("document.querySelector(\".traffic-stage[data-stage='prod']\").scrollIntoView()", vec![]).await.unwrap();
    shot(&c, "traffic").await;

    // Logs: the tail of orders' START/END/REPORT lines.
    open(&c, &s, "logs/orders", "logs").await;
    text_of(&c, "#log-lines", "REPORT RequestId").await;
    shot(&c, "logs").await;

    // Configuration: the bundled orders/flags deployments, with progress and events.
    open(&c, &s, "configuration", "configuration").await;
    let dep = text_of(&c, ".deployment", "Deployment 1").await;
    assert!(dep.contains("flags"), "{dep}");
    shot(&c, "configuration").await;

    // A dev key: sees prod, and a change to prod is refused with a readable message.
    let (st, key) = s
        .call(
            Method::POST,
            "/v1/keys",
            Some(json!({ "name": "console-dev", "policy": [
                { "effect": "allow", "actions": ["function:Read", "api:Read"], "resources": ["function/*", "api/*"] },
                { "effect": "allow", "actions": ["api:Deploy", "stage:Update"], "resources": ["api/*/stage/dev"] },
            ] })),
        )
        .await;
    assert_eq!(st, 201, "{key}");
    click(&c, "#signout").await;
    sign_in(&c, &s, key["key"].as_str().unwrap()).await;
    c.wait().at_most(PAGE_WAIT).for_element(Locator::Css("main[data-ready='overview']")).await.unwrap();
    text_of(&c, "article[data-stage='prod']", "orders:STABLE").await;
    open(&c, &s, &format!("stage/{api}/prod"), "stage").await;
    slide(&c, "#canary-percent", 10).await;
    click(&c, "#canary-save").await;
    let denied = text_of(&c, "#notice", "Not allowed with this key").await;
    assert!(denied.contains("stage:Update") && denied.contains("/stage/prod"), "{denied}");
    let (_, stage) = s.call(Method::GET, &format!("/v1/apis/{api}/stages/prod"), None).await;
    assert_eq!(stage["canary"]["percent_traffic"], 50.0, "prod untouched: {stage}");
    shot(&c, "dev-key-refused-on-prod").await;
    // Configuration isn't in the key's policy: the page says so instead of going blank.
    c.goto(&format!("{}/console/#/configuration", s.url)).await.unwrap();
    text_of(&c, "#page-error", "Not allowed with this key").await;

    // A phone-width screen: the overview fits without sideways scrolling.
    click(&c, "#signout").await;
    sign_in(&c, &s, &s.token).await;
    c.set_window_size(390, 844).await.unwrap();
    c.wait().at_most(PAGE_WAIT).for_element(Locator::Css("main[data-ready='overview']")).await.unwrap();
    let overflow = c.execute("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await.unwrap();
    assert!(overflow.as_f64().unwrap_or(1.0) <= 0.0, "wider than the screen by {overflow} px");
    shot(&c, "overview-phone").await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn console_files_are_served_without_a_token_with_a_strict_policy() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/console", s.url)).send().await.unwrap();
    assert_eq!(r.url().path(), "/console/", "redirected");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("<script src=\"console.js\">"), "{html}");
    for (file, kind) in [("console.js", "text/javascript"), ("console.css", "text/css")] {
        let r = http.get(format!("{}/console/{file}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{file}");
    }
    let r = http.get(format!("{}/console/secrets.txt", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("secrets.txt"), "{v}");
    // The gateway listener has no console.
    let r = http.get(format!("{}/console/", s.gateway)).send().await.unwrap();
    assert_ne!(r.status(), 200);
}

#[tokio::test]
async fn openapi_document_is_public_and_names_every_route() {
    let s = TestServer::start().await;
    let r = reqwest::get(format!("{}/v1/openapi.json", s.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in waygate::control::routes::ROUTES {
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        assert!(op["operationId"].is_string(), "{} {} missing", route.method, route.path);
        assert_eq!(op["security"], json!([{ "bearer": [] }]), "{} {}", route.method, route.path);
    }
    assert_eq!(doc["paths"]["/v1/openapi.json"]["get"]["security"], json!([{}]), "no token needed");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // What the document says about access is what the server enforces: a key allowed
    // one operation's action on its resource may call it.
    let op = &doc["paths"]["/v1/functions/{name}"]["get"];
    assert_eq!(
        (op["x-waygate-action"].as_str(), op["x-waygate-resource"].as_str()),
        (Some("function:Read"), Some("function/{name}"))
    );
}

#[tokio::test]
async fn stats_are_live_totals_each_shown_to_who_may_read_it() {
    let s = TestServer::start().await;
    crate::canary::echo_function(&s, "f").await;
    let (_, api) = s.call(Method::POST, "/v1/apis", Some(json!({ "name": "a" }))).await;
    let id = api["id"].as_str().unwrap().to_string();
    let (st, v) = s
        .call(
            Method::PUT,
            &format!("/v1/apis/{id}/routes"),
            Some(json!({ "method": "GET", "path": "/x", "integration": { "type": "function", "target": "f" } })),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    crate::canary::allow(&s, "f", &id).await;
    for stage in ["dev", "prod"] {
        let (st, v) =
            s.call(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(json!({ "stage": stage }))).await;
        assert_eq!(st, 201, "{v}");
    }
    for _ in 0..3 {
        assert_eq!(s.gw(Method::GET, &format!("/{id}/prod/x")).send().await.unwrap().status(), 200);
    }
    assert_eq!(s.gw(Method::GET, &format!("/{id}/dev/x")).send().await.unwrap().status(), 200);
    s.invoke("f", "").await;

    let (st, v) = s.call(Method::GET, "/v1/stats", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["latency_bounds_ms"].as_array().unwrap().len(), 40);
    let side = |v: &Value, stage: &str| {
        v["stages"].as_array().unwrap().iter().find(|r| r["stage"] == stage && r["canary"] == false).cloned()
    };
    let prod = side(&v, "prod").expect("prod");
    assert_eq!(prod["requests"], 3, "{prod}");
    assert_eq!(prod["invocations"]["invocations"], 3, "{prod}");
    let buckets: u64 = prod["invocations"]["latency"].as_array().unwrap().iter().map(|b| b[1].as_u64().unwrap()).sum();
    assert_eq!(buckets, 3, "every invocation in one latency bucket: {prod}");
    let latest = v["versions"].as_array().unwrap().iter().find(|r| r["function"] == "f").unwrap();
    assert_eq!(latest["version"], "$LATEST");
    assert_eq!(latest["invocations"], 5, "3 prod + 1 dev + 1 direct: {latest}");

    // A key that may read dev only sees dev's row and no function it may not read.
    let (st, key) = s
        .call(
            Method::POST,
            "/v1/keys",
            Some(json!({ "name": "dev-reader", "policy": [
                { "effect": "allow", "actions": ["api:Read"], "resources": [format!("api/{id}/stage/dev")] },
            ] })),
        )
        .await;
    assert_eq!(st, 201, "{key}");
    let r = reqwest::Client::new()
        .get(format!("{}/v1/stats", s.url))
        .bearer_auth(key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(side(&v, "dev").is_some() && side(&v, "prod").is_none(), "{v}");
    assert_eq!(v["versions"], json!([]), "{v}");
    // No token, or a wrong one: 401 as everywhere.
    let r = reqwest::get(format!("{}/v1/stats", s.url)).await.unwrap();
    assert_eq!(r.status(), 401);
}
