//! `waygate canary …`: send a share of a stage's traffic to another deployment, then
//! promote or remove it.

use super::{key_value, output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CanaryCmd {
    /// Create or change a stage's canary: `waygate canary set API prod --percent 10
    /// --var alias=EXPERIMENTAL`. A stage without a canary gets the draft deployed as its
    /// canary (or --deployment D); an existing canary is changed in place (its deployment
    /// kept unless --deployment or --from-draft says otherwise).
    Set {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// Share of the stage's requests served by the canary, 0.0–100.0.
        #[arg(long)]
        percent: Option<f64>,
        /// An existing deployment to use as the canary.
        #[arg(long, conflicts_with = "from_draft")]
        deployment: Option<String>,
        /// Deploy the draft as the canary's new deployment even if the stage has a canary.
        #[arg(long)]
        from_draft: bool,
        /// NAME=VALUE, repeatable: stage-variable overrides for canary requests (replaces them all).
        #[arg(long = "var", value_parser = key_value)]
        vars: Vec<(String, String)>,
        /// Canary requests use the stage's cache entries.
        #[arg(long)]
        use_stage_cache: Option<bool>,
        #[command(flatten)]
        conn: Conn,
    },
    /// The stage takes the canary's deployment and variables; the canary drops to 0 %.
    Promote {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete the canary: all traffic goes to the stage's deployment.
    Remove {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(cmd: CanaryCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CanaryCmd::Set { api, stage, percent, deployment, from_draft, vars, use_stage_cache, conn } => {
            let mut canary = Map::new();
            if let Some(p) = percent {
                canary.insert("percent_traffic".into(), p.into());
            }
            if !vars.is_empty() {
                let o: Map<String, Value> = vars.into_iter().map(|(k, v)| (k, v.into())).collect();
                canary.insert("stage_variable_overrides".into(), o.into());
            }
            if let Some(u) = use_stage_cache {
                canary.insert("use_stage_cache".into(), u.into());
            }
            let client = conn.client()?;
            let path = format!("/v1/apis/{api}/stages/{stage}");
            // Changing a canary's share must not redeploy the draft behind the user's back.
            let has_canary = deployment.is_none()
                && !from_draft
                && client.json(Method::GET, &path, None)?.get("canary").is_some_and(|c| !c.is_null());
            let v = match deployment {
                Some(d) => {
                    canary.insert("deployment_id".into(), d.into());
                    client.json(Method::PATCH, &path, Some(json!({ "canary": canary })))?
                }
                None if has_canary => client.json(Method::PATCH, &path, Some(json!({ "canary": canary })))?,
                None => {
                    let body = json!({ "stage": stage, "canary": canary, "description": "canary" });
                    client.json(Method::POST, &format!("/v1/apis/{api}/deployments"), Some(body))?["stage"].clone()
                }
            };
            for w in v["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            output::object(conn.output, &v);
        }
        CanaryCmd::Promote { api, stage, conn } => {
            let path = format!("/v1/apis/{api}/stages/{stage}/canary/promote");
            let v = conn.client()?.json(Method::POST, &path, None)?;
            output::object(conn.output, &v);
        }
        CanaryCmd::Remove { api, stage, conn } => {
            let v = conn.client()?.json(Method::DELETE, &format!("/v1/apis/{api}/stages/{stage}/canary"), None)?;
            output::object(conn.output, &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}
