use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AliasCmd {
    /// Create or move an alias: `waygate alias set orders STABLE 3 --routing 4=0.1`.
    Set {
        /// The function's name.
        name: String,
        /// The alias's name, e.g. STABLE (not all digits).
        alias: String,
        /// A version number or $LATEST.
        version: String,
        /// VERSION=WEIGHT: send WEIGHT (0.0–1.0) of the traffic to VERSION. Omit to clear.
        #[arg(long, value_parser = routing)]
        routing: Option<(String, f64)>,
        /// Change the alias only if its revision id is still this one.
        #[arg(long)]
        expected_revision: Option<String>,
        /// A description of the alias (up to 256 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show an alias: its version, routing and revision id.
    Get {
        /// The function's name.
        name: String,
        /// The alias's name.
        alias: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List a function's aliases.
    List {
        /// The function's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete an alias (its versions stay).
    Delete {
        /// The function's name.
        name: String,
        /// The alias's name.
        alias: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Move an alias's traffic to another version gradually by a strategy:
    /// `waygate alias shift shop STABLE --to 3 --strategy Linear10PercentEvery1Minute`.
    Shift {
        /// The function's name.
        name: String,
        /// The alias's name (it must point at one published version).
        alias: String,
        /// The version to shift the traffic to.
        #[arg(long)]
        to: u32,
        /// CodeDeploy's (Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce, …),
        /// AppConfig's or one made with `waygate config create-strategy`.
        #[arg(long)]
        strategy: String,
        /// Roll back when more than this percent of the new version's invocations fail.
        #[arg(long, value_name = "PERCENT")]
        max_error_rate: Option<f64>,
        /// The window the error rate is measured over, seconds.
        #[arg(long, default_value_t = 60)]
        window_s: u64,
        /// Follow it until it completes or rolls back, printing its progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show an alias's newest shift: state, percentage and events.
    ShiftStatus {
        /// The function's name.
        name: String,
        /// The alias's name.
        alias: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop an alias's shift in progress: the alias keeps its previous version.
    StopShift {
        /// The function's name.
        name: String,
        /// The alias's name.
        alias: String,
        #[command(flatten)]
        conn: Conn,
    },
}

fn routing(s: &str) -> Result<(String, f64), String> {
    let (v, w) = s.split_once('=').ok_or_else(|| format!("expected VERSION=WEIGHT, got '{s}'"))?;
    let w: f64 = w.parse().map_err(|_| format!("weight '{w}' is not a number"))?;
    Ok((v.to_string(), w))
}

pub fn run(cmd: AliasCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AliasCmd::Set { name, alias, version, routing, expected_revision, description, conn } => {
            let mut body = Map::new();
            body.insert("version".into(), version.into());
            let mut r = Map::new();
            if let Some((v, w)) = routing {
                r.insert(v, w.into());
            }
            body.insert("routing".into(), r.into());
            if let Some(e) = expected_revision {
                body.insert("expected_revision".into(), e.into());
            }
            if let Some(d) = description {
                body.insert("description".into(), d.into());
            }
            let v = conn.client()?.json(
                Method::PUT,
                &format!("/v1/functions/{name}/aliases/{alias}"),
                Some(Value::Object(body)),
            )?;
            output::object(conn.output, &v);
        }
        AliasCmd::Get { name, alias, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/functions/{name}/aliases/{alias}"), None)?;
            output::object(conn.output, &v);
        }
        AliasCmd::List { name, conn } => {
            let v = conn.client()?.list_all(&format!("/v1/functions/{name}/aliases"), "aliases")?;
            output::list(conn.output, &v, "aliases", &["name", "version", "routing", "revision_id"]);
        }
        AliasCmd::Shift { name, alias, to, strategy, max_error_rate, window_s, wait, conn } => {
            let client = conn.client()?;
            let path = format!("/v1/functions/{name}/aliases/{alias}/shift");
            let monitors: Vec<Value> = max_error_rate
                .map(|t| {
                    serde_json::json!({"metric": "function_error_rate", "function": name, "threshold_percent": t,
                        "window_s": window_s})
                })
                .into_iter()
                .collect();
            let body = serde_json::json!({ "to_version": to, "strategy": strategy, "monitors": monitors });
            let v = client.json(Method::POST, &path, Some(body))?;
            if !wait {
                output::object(conn.output, &v);
                return Ok(ExitCode::SUCCESS);
            }
            let end = super::config::follow(&client, &path, v)?;
            output::object(conn.output, &end);
            if end["state"] != "COMPLETE" {
                return Ok(ExitCode::FAILURE);
            }
        }
        AliasCmd::ShiftStatus { name, alias, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/functions/{name}/aliases/{alias}/shift"), None)?;
            if conn.output == output::Output::Text {
                super::config::print_events(&v);
            }
            output::object(conn.output, &v);
        }
        AliasCmd::StopShift { name, alias, conn } => {
            let v =
                conn.client()?.json(Method::DELETE, &format!("/v1/functions/{name}/aliases/{alias}/shift"), None)?;
            output::object(conn.output, &v);
        }
        AliasCmd::Delete { name, alias, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/functions/{name}/aliases/{alias}"), None)?;
            if conn.output == output::Output::Text {
                println!("deleted alias {alias} of {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
