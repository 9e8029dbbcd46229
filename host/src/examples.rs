//! The bundled guest examples (built from `guest-examples/`, committed as
//! `guest-examples/prebuilt/*.wasm`), registered by `waygate up` on an empty data
//! directory so a first-time user has something to call: the functions, and the study
//! guide's scenario — one API whose `dev` and `prod` stages run different aliases of
//! `orders` through `orders:${stageVariables.alias}`. The JavaScript and Python examples
//! are too large to commit: `guest-examples/build.sh` builds them into
//! `guest-examples/built/`, and [`register_built`] registers those it finds there
//! (`orders-js` with the same scenario as `orders`).

use crate::model::api::{Integration, Method, RoutePath, StageName};
use crate::model::{AliasName, AliasTarget, FunctionConfigPatch, FunctionName};
use crate::ops;
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub const HELLO: &[u8] = include_bytes!("../../guest-examples/prebuilt/hello.wasm");
pub const ECHO: &[u8] = include_bytes!("../../guest-examples/prebuilt/echo.wasm");
pub const ORDERS: &[u8] = include_bytes!("../../guest-examples/prebuilt/orders.wasm");
pub const FAIL: &[u8] = include_bytes!("../../guest-examples/prebuilt/fail.wasm");
/// hello as a wasi:http proxy component.
pub const HELLO_HTTP: &[u8] = include_bytes!("../../guest-examples/prebuilt/hello-http.wasm");

pub struct Report {
    lines: Vec<String>,
    /// (stage, invoke URL) of the example API.
    pub stages: Vec<(String, String)>,
    pub api_id: String,
}

impl Report {
    pub fn render(&self, admin_url: &str, data_dir: &Path) -> String {
        let token = data_dir.join("admin.token");
        let mut s = String::from("Registered the bundled examples:\n");
        for l in &self.lines {
            s.push_str(&format!("  - {l}\n"));
        }
        s.push_str(&format!("\nAPI {} (ANY /{{proxy+}} -> orders:${{stageVariables.alias}}):\n", self.api_id));
        for (stage, url) in &self.stages {
            s.push_str(&format!("  {stage:5} {url}\n"));
        }
        s.push_str("\nCall the stages (dev runs $LATEST through EXPERIMENTAL, prod version 1 through STABLE):\n");
        for (_, url) in &self.stages {
            s.push_str(&format!(
                "  curl -si -X POST {url}/orders -d '{{\"order_id\":\"A1\",\"items\":[{{\"sku\":\"x\",\"qty\":2}}]}}'\n"
            ));
        }
        s.push_str(&format!(
            "\nOr invoke functions directly:\n  TOKEN=$(cat {tok})\n  curl -s -H \"Authorization: Bearer $TOKEN\" -X POST '{admin_url}/v1/functions/hello/invoke' -d '{{\"name\":\"you\"}}'\n  curl -s -H \"Authorization: Bearer $TOKEN\" -X POST '{admin_url}/v1/functions/orders/invoke?qualifier=STABLE' -d '{{\"order_id\":\"A1\",\"items\":[{{\"sku\":\"x\",\"qty\":2}}]}}'\n  {cli}waygate invoke orders:EXPERIMENTAL --payload '{{\"order_id\":\"A2\"}}'\n",
            tok = token.display(),
            // The CLI finds this server through its data directory (admin.token, admin.url).
            cli = if data_dir == Path::new("waygate-data") {
                String::new()
            } else {
                format!("WAYGATE_DATA_DIR={} ", data_dir.display())
            }
        ));
        s
    }
}

/// Where `guest-examples/build.sh` puts the JavaScript and Python examples (a path of this
/// checkout: `cargo run -- up` finds them; an installed binary elsewhere does not).
pub const BUILT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/built");

async fn function(
    p: &Arc<Platform>,
    name: &str,
    env: &[(&str, &str)],
    wasm: impl Into<bytes::Bytes>,
) -> anyhow::Result<FunctionName> {
    let name = FunctionName::parse(name)?;
    let patch = FunctionConfigPatch {
        env: Some(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        description: Some(format!("bundled example {name}")),
        ..FunctionConfigPatch::default()
    };
    ops::functions::create(p, name.clone(), patch).await?;
    ops::code::upload(p, name.clone(), wasm.into()).await?;
    Ok(name)
}

/// Creates hello, hello-http, echo, fail and orders; publishes orders as version 1 and points
/// STABLE → 1 and EXPERIMENTAL → $LATEST (the study guide's setup). Everything goes
/// through the use cases (`ops`), as a user's calls would.
pub async fn register(p: &Arc<Platform>) -> anyhow::Result<Report> {
    let mut lines = Vec::new();
    function(p, "hello", &[("GREETING", "Hello from Waygate")], HELLO).await?;
    lines.push("hello: greets (uses env GREETING)".to_string());
    function(p, "hello-http", &[], HELLO_HTTP).await?;
    lines.push("hello-http: hello as a wasi:http component (GET ?name=you)".to_string());
    function(p, "echo", &[], ECHO).await?;
    lines.push("echo: returns the event and environment it got".to_string());
    function(p, "fail", &[], FAIL).await?;
    lines.push("fail: fails on request ({\"mode\":\"panic\"} or {\"mode\":\"exit\",\"code\":3})".to_string());
    let orders = function(p, "orders", &[("ORDERS_ENV", "stable"), ("ORDERS_TABLE", "orders-v1")], ORDERS).await?;
    // orders reads its flags from configuration (`/config/orders/flags`), per environment.
    let reads = FunctionConfigPatch { config: Some(vec!["orders/flags".into()]), ..Default::default() };
    ops::functions::update_config(p, orders.clone(), reads).await?;
    lines.push(format!("orders: {}", release(p, &orders).await?));
    lines.push(orders_flags(p).await?);
    let (api_id, stages) = orders_api(p, &orders, "orders").await?;
    lines.push(format!("API {api_id} \"orders\": stages dev (alias=EXPERIMENTAL) and prod (alias=STABLE)"));
    Ok(Report { lines, stages, api_id })
}

/// Registers the JavaScript and Python examples that `guest-examples/build.sh` built
/// (each compiles for seconds: the three compile at once), with `orders-js` released and
/// served by its own API as `orders` is. Returns a line per example, registered or not.
pub async fn register_built(p: &Arc<Platform>) -> anyhow::Result<Vec<String>> {
    // Registers `name` from built/ if it is there (`None` when it is not).
    let built = |name: &'static str, env: &'static [(&'static str, &'static str)]| async move {
        match std::fs::read(std::path::Path::new(BUILT_DIR).join(format!("{name}.wasm"))) {
            Ok(wasm) => function(p, name, env, wasm).await.map(Some),
            Err(_) => Ok(None),
        }
    };
    let greeting: &[(&str, &str)] = &[("GREETING", "Hello from Waygate")];
    let (js, py, orders) = tokio::join!(
        built("hello-js", greeting),
        built("hello-py", greeting),
        built("orders-js", &[("ORDERS_ENV", "stable"), ("ORDERS_TABLE", "orders-v1")]),
    );
    let skipped =
        |name: &str| format!("{name}: not built (guest-examples/build.sh builds it; needs Node.js and Python)");
    let mut lines = Vec::new();
    for (done, name, what) in [
        (js?, "hello-js", "a JavaScript handler (componentize-js)"),
        (py?, "hello-py", "a Python handler (componentize-py)"),
    ] {
        lines.push(match done {
            Some(_) => format!("{name}: hello as {what}"),
            None => skipped(name),
        });
    }
    match orders? {
        Some(orders) => {
            lines.push(format!("orders-js (JavaScript): {}", release(p, &orders).await?));
            let (api_id, stages) = orders_api(p, &orders, "orders-js").await?;
            let urls: Vec<String> = stages.iter().map(|(s, u)| format!("{s} {u}")).collect();
            lines.push(format!("API {api_id} \"orders-js\": {}", urls.join(", ")));
        }
        None => lines.push(skipped("orders-js")),
    }
    Ok(lines)
}

/// The configuration `orders` reads: application `orders` with environments dev and prod
/// (the stages' environments), profile `flags` whose schema bounds `discount_percent`,
/// version 1 (no discount) deployed to prod and version 2 (10 %) to dev, by a strategy
/// without growth or bake time (`AllAtOnceNoBake`), so a walk-through can deploy again at
/// once. Returns the report line.
async fn orders_flags(p: &Arc<Platform>) -> anyhow::Result<String> {
    use crate::model::appconfig::{ContentType, GrowthType, Strategy, Validator};
    use ops::appconfig as config;
    config::create_application(p, "orders".into(), "feature flags of the orders function".into()).await?;
    for env in ["dev", "prod"] {
        // prod rolls a deployment back when more than 5 % of orders' invocations there fail.
        let monitors = match env {
            "prod" => vec![crate::model::appconfig::Monitor::FunctionErrorRate {
                function: "orders".into(),
                threshold_percent: 5.0,
                window_s: 30,
                min_invocations: 1,
            }],
            _ => Vec::new(),
        };
        config::create_environment(p, "orders".into(), env.into(), monitors).await?;
    }
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "discount_percent": {"type": "integer", "minimum": 0, "maximum": 50},
            "checkout_v2": {"type": "boolean"}
        },
        "required": ["discount_percent"],
        "additionalProperties": false
    });
    config::create_profile(p, "orders".into(), "flags".into(), vec![Validator::JsonSchema { content: schema }]).await?;
    for flags in [r#"{"discount_percent": 0}"#, r#"{"discount_percent": 10}"#] {
        config::create_version(p, "orders".into(), "flags".into(), ContentType::Json, flags.as_bytes().to_vec())
            .await?;
    }
    let instant = Strategy {
        name: "AllAtOnceNoBake".into(),
        description: "everything at once, nothing to watch: for demos and tests".into(),
        growth_type: GrowthType::Linear,
        growth_factor: 100.0,
        duration_s: 0,
        final_bake_time_s: 0,
    };
    config::create_strategy(p, instant).await?;
    for (env, version) in [("prod", 1), ("dev", 2)] {
        let req = config::StartDeployment {
            profile: "flags".into(),
            version,
            strategy: "AllAtOnceNoBake".into(),
            description: "bundled example".into(),
        };
        config::start_deployment(p, "orders".into(), env.into(), req).await?;
    }
    Ok("configuration orders/flags: version 1 (discount 0 %) on prod, version 2 (10 %) on dev".into())
}

/// Publishes `orders` as version 1 and points STABLE → 1 and EXPERIMENTAL → $LATEST, whose
/// environment then moves on (the study guide's setup). Returns the report line.
async fn release(p: &Arc<Platform>, orders: &FunctionName) -> anyhow::Result<String> {
    let publish = ops::versions::Publish { description: "first release".into(), ..Default::default() };
    let (v1, _) = ops::versions::publish(p, orders.clone(), publish).await?;
    // $LATEST moves on: the draft reads a different setting than the published version.
    let mut env = ops::functions::get(p, orders.clone()).await?.config.env;
    env.insert("ORDERS_ENV".into(), "experimental".into());
    ops::functions::update_config(p, orders.clone(), FunctionConfigPatch { env: Some(env), ..Default::default() })
        .await?;
    for (alias, version) in [("STABLE", v1.version.to_string()), ("EXPERIMENTAL", "$LATEST".to_string())] {
        let input = ops::aliases::PutAlias {
            target: AliasTarget::parse(&version, None)?,
            description: None,
            expected_revision: None,
            exists: None,
        };
        ops::aliases::put(p, orders.clone(), AliasName::parse(alias)?, input).await?;
    }
    Ok(format!("version {} published; aliases STABLE → {}, EXPERIMENTAL → $LATEST", v1.version, v1.version))
}

/// The study guide's worked example: one API, one route whose target picks the alias
/// from a stage variable, `dev` → EXPERIMENTAL and `prod` → STABLE, and the permissions
/// that let the API invoke both aliases.
async fn orders_api(
    p: &Arc<Platform>,
    orders: &FunctionName,
    api_name: &str,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let api =
        ops::apis::create(p, api_name.into(), "the study guide's ProcessOrder API (bundled example)".into()).await?;
    let id = api.id.clone();
    let integration = Integration::Function { target: format!("{orders}:${{stageVariables.alias}}"), timeout_ms: None };
    ops::apis::put_route(p, id.clone(), Method::Any, RoutePath::parse("/{proxy+}")?, integration).await?;
    let deploy = ops::deployments::Deploy {
        description: "bundled example".into(),
        stage: Some(StageName::parse("dev")?),
        ..Default::default()
    };
    let (deployment, _) = ops::deployments::create(p, id.clone(), deploy).await?;
    let mut stages = Vec::new();
    for (stage, alias) in [("dev", "EXPERIMENTAL"), ("prod", "STABLE")] {
        let put = ops::stages::PutStage {
            deployment_id: deployment.id.clone(),
            variables: BTreeMap::from([("alias".to_string(), alias.to_string())]),
            description: String::new(),
            secret_environment: None,
        };
        ops::stages::put(p, id.clone(), StageName::parse(stage)?, put).await?;
        let statement = ops::permissions::AddPermission {
            statement_id: format!("{api_name}-api-{stage}"),
            principal: format!("api:{id}"),
            source: format!("{id}/{stage}/*/*"),
            qualifier: Some(alias.to_string()),
        };
        ops::permissions::add(p, orders.clone(), statement).await?;
        stages.push((stage.to_string(), p.invoke_url(id.as_str(), stage)));
    }
    Ok((id.to_string(), stages))
}
