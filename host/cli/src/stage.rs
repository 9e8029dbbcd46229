//! `waygate stage …`: a stage is an environment of an API (dev, test, prod) pinned to a
//! deployment, with its own variables and invoke URL.

use super::{key_value, output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum StageCmd {
    /// Create or replace a stage: `waygate stage put API prod --deployment D --var alias=STABLE`.
    Put {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// The deployment id the stage serves (as printed by `waygate deploy`).
        #[arg(long)]
        deployment: String,
        /// NAME=VALUE, repeatable: the stage's variables (replaces them all).
        #[arg(long = "var", value_parser = key_value)]
        vars: Vec<(String, String)>,
        /// A description of the stage (up to 1024 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show a stage and its invoke URL.
    Get {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List an API's stages with their deployments, variables and invoke URLs.
    List {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Move a stage to another deployment (e.g. roll back to an older one).
    SetDeployment {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// The deployment id to serve (as printed by `waygate deploy`).
        deployment: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Set stage variables (NAME=VALUE, repeatable); they apply immediately.
    SetVar {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// NAME=VALUE pairs to set; the stage's other variables stay.
        #[arg(required = true, value_parser = key_value)]
        vars: Vec<(String, String)>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove stage variables.
    #[command(name = "remove-var", alias = "unset-var")]
    UnsetVar {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// Names of the variables to remove.
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a stage of an API.
    Delete {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
}

fn show_stage(out: output::Output, v: &Value) {
    output::object(out, v);
}

pub fn run(cmd: StageCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        StageCmd::Put { api, stage, deployment, vars, description, conn } => {
            let variables: Map<String, Value> = vars.into_iter().map(|(k, v)| (k, v.into())).collect();
            let body = json!({
                "deployment_id": deployment,
                "variables": variables,
                "description": description.unwrap_or_default(),
            });
            let path = format!("/v1/apis/{api}/stages/{stage}");
            let (status, v) = conn.client()?.json_status(Method::PUT, &path, Some(body))?;
            if status == 200 {
                eprintln!(
                    "note: stage {stage} existed: its deployment, variables and description were replaced \
                     (its settings kept); `stage set-var` and `stage set-deployment` change one thing"
                );
            }
            show_stage(conn.output, &v);
        }
        StageCmd::Get { api, stage, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/apis/{api}/stages/{stage}"), None)?;
            show_stage(conn.output, &v);
        }
        StageCmd::List { api, conn } => {
            let v = conn.client()?.list_all(&format!("/v1/apis/{api}/stages"), "stages")?;
            output::list(conn.output, &v, "stages", &["name", "deployment_id", "variables", "invoke_url"]);
        }
        StageCmd::SetDeployment { api, stage, deployment, conn } => {
            let body = json!({ "deployment_id": deployment });
            let v = conn.client()?.json(Method::PATCH, &format!("/v1/apis/{api}/stages/{stage}"), Some(body))?;
            show_stage(conn.output, &v);
        }
        StageCmd::SetVar { api, stage, vars, conn } => {
            let variables: Map<String, Value> = vars.into_iter().map(|(k, v)| (k, v.into())).collect();
            let body = json!({ "variables": variables });
            let v = conn.client()?.json(Method::PATCH, &format!("/v1/apis/{api}/stages/{stage}"), Some(body))?;
            show_stage(conn.output, &v);
        }
        StageCmd::UnsetVar { api, stage, names, conn } => {
            let variables: Map<String, Value> = names.into_iter().map(|k| (k, Value::Null)).collect();
            let body = json!({ "variables": variables });
            let v = conn.client()?.json(Method::PATCH, &format!("/v1/apis/{api}/stages/{stage}"), Some(body))?;
            show_stage(conn.output, &v);
        }
        StageCmd::Delete { api, stage, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/apis/{api}/stages/{stage}"), None)?;
            output::done(conn.output, &format!("deleted stage {stage} of API {api}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
