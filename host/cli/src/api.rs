//! `waygate api …` (REST APIs), `waygate route …` (the draft's routes) and
//! `waygate deploy` (snapshot the draft, optionally onto a stage).

use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ApiCmd {
    /// Create a REST API; prints its id.
    Create {
        /// The API's name.
        name: String,
        /// A description of the API (up to 1024 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List REST APIs with their ids.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show an API.
    Get {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete an API with its routes, deployments and stages.
    Delete {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum RouteCmd {
    /// Create or replace a route of the API's draft (live only after `waygate deploy`):
    /// `waygate route put API ANY '/{proxy+}' --function 'orders:${stageVariables.alias}'`.
    Put {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY.
        method: String,
        /// `/orders/{id}`, `/{proxy+}`, `/`.
        path: String,
        /// Proxy integration target: `name`, `name:7`, `name:ALIAS`, with
        /// `${stageVariables.NAME}` anywhere.
        #[arg(long, conflicts_with_all = ["mock_status", "http_proxy"])]
        function: Option<String>,
        /// HTTP proxy integration URL: `http://${stageVariables.backendHost}/orders/{proxy}`
        /// (stage variables in the host, path and query; the route's `{params}` in the path).
        #[arg(long, conflicts_with = "mock_status")]
        http_proxy: Option<String>,
        /// Integration timeout in ms (50–29000, default 29000).
        #[arg(long)]
        timeout_ms: Option<u32>,
        /// A mock integration answering this status.
        #[arg(long)]
        mock_status: Option<u16>,
        /// The mock's body.
        #[arg(long, requires = "mock_status")]
        mock_body: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List the routes of an API's draft.
    List {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a route (by id, as `route list` shows) from the draft.
    Delete {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The route's id (as `waygate route list` shows).
        route: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(clap::Args)]
pub struct DeployArgs {
    /// The API's id (as printed by `waygate api create`).
    api: String,
    /// Point this stage at the new deployment (created if it does not exist).
    #[arg(long)]
    stage: Option<String>,
    /// A description of the deployment (up to 1024 characters).
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

pub fn run_api(cmd: ApiCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ApiCmd::Create { name, description, conn } => {
            let body = json!({ "name": name, "description": description.unwrap_or_default() });
            let v = conn.client()?.json(Method::POST, "/v1/apis", Some(body))?;
            output::object(conn.output, &v);
        }
        ApiCmd::List { conn } => {
            let v = conn.client()?.list_all("/v1/apis", "apis")?;
            output::list(conn.output, &v, "apis", &["id", "name", "description", "created_at"]);
        }
        ApiCmd::Get { api, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/apis/{api}"), None)?;
            output::object(conn.output, &v);
        }
        ApiCmd::Delete { api, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/apis/{api}"), None)?;
            output::done(conn.output, &format!("deleted API {api}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_route(cmd: RouteCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RouteCmd::Put { api, method, path, function, http_proxy, timeout_ms, mock_status, mock_body, conn } => {
            let mut integration = match (function, http_proxy, mock_status) {
                (Some(target), _, _) => json!({ "type": "function", "target": target }),
                (None, Some(url), _) => json!({ "type": "http_proxy", "url": url }),
                (None, None, Some(status)) => {
                    json!({ "type": "mock", "status": status, "body": mock_body.unwrap_or_default() })
                }
                (None, None, None) => {
                    anyhow::bail!("give the integration: --function TARGET, --http-proxy URL or --mock-status STATUS")
                }
            };
            if let Some(t) = timeout_ms {
                if integration["type"] == "mock" {
                    anyhow::bail!("--timeout-ms applies to --function and --http-proxy integrations");
                }
                integration["timeout_ms"] = t.into();
            }
            let body = json!({ "method": method, "path": path, "integration": integration });
            let (status, v) = conn.client()?.json_status(Method::PUT, &format!("/v1/apis/{api}/routes"), Some(body))?;
            if status == 200 {
                eprintln!("note: replaced the draft's existing {method} {path} route (deploy to make it live)");
            }
            output::object(conn.output, &v);
        }
        RouteCmd::List { api, conn } => {
            let mut v = conn.client()?.list_all(&format!("/v1/apis/{api}/routes"), "routes")?;
            if conn.output == output::Output::Text {
                // Show the integration as one readable cell.
                if let Some(routes) = v.get_mut("routes").and_then(Value::as_array_mut) {
                    for r in routes {
                        let shown = describe_integration(&r["integration"]);
                        r["integration"] = shown.into();
                    }
                }
            }
            output::list(conn.output, &v, "routes", &["id", "method", "path", "integration"]);
        }
        RouteCmd::Delete { api, route, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/apis/{api}/routes/{route}"), None)?;
            output::done(conn.output, &format!("deleted route {route} of API {api} (deploy to make it live)"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_integration(i: &Value) -> String {
    match i["type"].as_str() {
        Some("function") => format!("function {}", i["target"].as_str().unwrap_or("?")),
        Some("mock") => format!("mock {}", i["status"]),
        Some("http_proxy") => format!("http_proxy {}", i["url"].as_str().unwrap_or("?")),
        _ => i.to_string(),
    }
}

pub fn run_deploy(a: DeployArgs) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    if let Some(s) = a.stage {
        body.insert("stage".into(), s.into());
    }
    if let Some(d) = a.description {
        body.insert("description".into(), d.into());
    }
    let v = a.conn.client()?.json(Method::POST, &format!("/v1/apis/{}/deployments", a.api), Some(body.into()))?;
    match a.conn.output {
        output::Output::Json => {
            println!("{v}");
            return Ok(ExitCode::SUCCESS);
        }
        output::Output::Id => {
            println!("{}", v["id"].as_str().unwrap_or("?"));
            return Ok(ExitCode::SUCCESS);
        }
        output::Output::Text => {}
    }
    println!("deployment {} of API {}", v["id"].as_str().unwrap_or("?"), a.api);
    if let Some(stage) = v.get("stage") {
        println!(
            "stage {} now serves it: {}",
            stage["name"].as_str().unwrap_or("?"),
            stage["invoke_url"].as_str().unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}
