//! The bundled guest examples (built from `guest-examples/`, committed as
//! `guest-examples/prebuilt/*.wasm`), registered by `waygate up` on an empty data
//! directory so a first-time user has something to call: the functions, and the study
//! guide's scenario — one API whose `dev` and `prod` stages run different aliases of
//! `orders` through `orders:${stageVariables.alias}`.

use crate::control::code::store_code;
use crate::control::error::ApiResult;
use crate::model::api::{Integration, Method, RoutePath, StageName};
use crate::model::{AliasName, AliasTarget, FunctionConfig, FunctionName};
use crate::platform::Platform;
use crate::store::{AliasInput, PermissionRecord, PublishInput};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub const HELLO: &[u8] = include_bytes!("../../guest-examples/prebuilt/hello.wasm");
pub const ECHO: &[u8] = include_bytes!("../../guest-examples/prebuilt/echo.wasm");
pub const ORDERS: &[u8] = include_bytes!("../../guest-examples/prebuilt/orders.wasm");
pub const FAIL: &[u8] = include_bytes!("../../guest-examples/prebuilt/fail.wasm");

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
            "\nOr invoke functions directly:\n  TOKEN=$(cat {tok})\n  curl -s -H \"Authorization: Bearer $TOKEN\" -X POST '{admin_url}/v1/functions/hello/invoke' -d '{{\"name\":\"you\"}}'\n  curl -s -H \"Authorization: Bearer $TOKEN\" -X POST '{admin_url}/v1/functions/orders/invoke?qualifier=STABLE' -d '{{\"order_id\":\"A1\",\"items\":[{{\"sku\":\"x\",\"qty\":2}}]}}'\n  waygate invoke orders:EXPERIMENTAL --payload '{{\"order_id\":\"A2\"}}'\n",
            tok = token.display()
        ));
        s
    }
}

async fn function(p: &Arc<Platform>, name: &str, env: &[(&str, &str)], wasm: &'static [u8]) -> ApiResult<FunctionName> {
    let name = FunctionName::parse(name)?;
    let config = FunctionConfig {
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        description: format!("bundled example {name}"),
        ..FunctionConfig::default()
    };
    let n = name.clone();
    p.db(move |s| s.create_function(&n, &config)).await?;
    store_code(p, name.clone(), bytes::Bytes::from_static(wasm)).await?;
    Ok(name)
}

/// Creates hello, echo, fail and orders; publishes orders as version 1 and points
/// STABLE → 1 and EXPERIMENTAL → $LATEST (the study guide's setup).
pub async fn register(p: &Arc<Platform>) -> ApiResult<Report> {
    let mut lines = Vec::new();
    function(p, "hello", &[("GREETING", "Hello from Waygate")], HELLO).await?;
    lines.push("hello: greets (uses env GREETING)".to_string());
    function(p, "echo", &[], ECHO).await?;
    lines.push("echo: returns the event and environment it got".to_string());
    function(p, "fail", &[], FAIL).await?;
    lines.push("fail: fails on request ({\"mode\":\"panic\"} or {\"mode\":\"exit\",\"code\":3})".to_string());
    let orders = function(p, "orders", &[("ORDERS_ENV", "stable"), ("ORDERS_TABLE", "orders-v1")], ORDERS).await?;
    let o = orders.clone();
    let input = PublishInput { expected_code_hash: None, expected_revision: None, description: "first release".into() };
    let (v1, _) = p.db(move |s| s.publish_version(&o, &input)).await?;
    // $LATEST moves on: the draft reads a different setting than the published version.
    let o = orders.clone();
    p.db(move |s| {
        let mut c = s.get_function(&o)?.config;
        c.env.insert("ORDERS_ENV".into(), "experimental".into());
        s.update_config(&o, &c)
    })
    .await?;
    for (alias, version) in [("STABLE", v1.version.to_string()), ("EXPERIMENTAL", "$LATEST".to_string())] {
        let (o, a) = (orders.clone(), AliasName::parse(alias)?);
        let input =
            AliasInput { target: AliasTarget::parse(&version, None)?, description: None, expected_revision: None };
        p.db(move |s| s.put_alias(&o, &a, &input)).await?;
    }
    p.refresh().await?;
    lines.push(format!(
        "orders: version {} published; aliases STABLE → {}, EXPERIMENTAL → $LATEST",
        v1.version, v1.version
    ));
    let (api_id, stages) = orders_api(p, &orders).await?;
    lines.push(format!("API {api_id} \"orders\": stages dev (alias=EXPERIMENTAL) and prod (alias=STABLE)"));
    Ok(Report { lines, stages, api_id })
}

/// The study guide's worked example: one API, one route whose target picks the alias
/// from a stage variable, `dev` → EXPERIMENTAL and `prod` → STABLE, and the permissions
/// that let the API invoke both aliases.
async fn orders_api(p: &Arc<Platform>, orders: &FunctionName) -> ApiResult<(String, Vec<(String, String)>)> {
    let api = p.db(|s| s.create_api("orders", "the study guide's ProcessOrder API (bundled example)")).await?;
    let id = api.id.clone();
    let integration = Integration::Function { target: "orders:${stageVariables.alias}".into(), timeout_ms: None };
    let path = RoutePath::parse("/{proxy+}")?;
    let i = id.clone();
    p.db(move |s| s.put_route(&i, Method::Any, &path, &integration)).await?;
    let (i, dev) = (id.clone(), StageName::parse("dev")?);
    let (deployment, _) = p.db(move |s| s.create_deployment(&i, "bundled example", Some(&dev), None)).await?;
    let mut stages = Vec::new();
    for (stage, alias) in [("dev", "EXPERIMENTAL"), ("prod", "STABLE")] {
        let (i, name, dep) = (id.clone(), StageName::parse(stage)?, deployment.id.clone());
        let vars = BTreeMap::from([("alias".to_string(), alias.to_string())]);
        p.db(move |s| s.put_stage(&i, &name, &dep, &vars, "", None)).await?;
        let statement = PermissionRecord {
            function: orders.clone(),
            qualifier: Some(alias.to_string()),
            statement_id: format!("orders-api-{stage}"),
            principal: format!("api:{id}"),
            source: format!("{id}/{stage}/*/*"),
            created_at: crate::store::now_rfc3339(),
        };
        p.db(move |s| s.add_permission(&statement)).await?;
        stages.push((stage.to_string(), p.invoke_url(id.as_str(), stage)));
    }
    p.refresh().await?;
    Ok((id.to_string(), stages))
}
