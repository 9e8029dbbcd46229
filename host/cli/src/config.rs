//! `waygate config …`: configuration per environment (AppConfig) — applications, their
//! environments and profiles, versions from files, deployment strategies, deployments
//! (with `--wait` to follow one to its end).

use super::{enc, output, Conn};
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Create an application (a set of environments and configuration profiles).
    CreateApp {
        /// Its name, e.g. shop.
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List applications, or show one with its environments and profiles.
    Apps {
        /// Show this application.
        name: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete an application (refused while it has configuration deployed).
    DeleteApp {
        /// The application.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create an environment of an application (a stage's environment: dev, prod).
    CreateEnv {
        /// The application.
        app: String,
        /// The environment's name, as stages and `--environment` name it.
        env: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a configuration profile, with up to two validators.
    CreateProfile {
        /// The application.
        app: String,
        /// The profile's name: functions read it at /config/APP/PROFILE.
        profile: String,
        /// A JSON Schema (draft 2020-12) file every version must match.
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        /// A function (NAME[:QUALIFIER]) that must accept every version.
        #[arg(long, value_name = "TARGET")]
        validator_function: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Store a new version of a profile from a file (validated first).
    PutVersion {
        /// The application.
        app: String,
        /// The profile.
        profile: String,
        /// The content: JSON, YAML or text.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// How to read it; default: by the file's extension (.json, .yaml/.yml, else text).
        #[arg(long, value_enum)]
        content_type: Option<Kind>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List a profile's versions, or print one's content.
    Versions {
        /// The application.
        app: String,
        /// The profile.
        profile: String,
        /// Print this version's content.
        version: Option<u32>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a deployment strategy (growth, duration and bake time in seconds).
    CreateStrategy {
        /// Its name, e.g. Linear20PercentEvery10Seconds.
        name: String,
        /// linear: +G % per step; exponential: G·2^n %.
        #[arg(long, default_value = "linear")]
        growth_type: String,
        /// G, 1 to 100.
        #[arg(long)]
        growth_factor: f64,
        /// How long the growth takes, seconds.
        #[arg(long)]
        duration_s: u64,
        /// How long the deployment is watched at 100 %, seconds.
        #[arg(long, default_value_t = 0)]
        bake_s: u64,
        #[command(flatten)]
        conn: Conn,
    },
    /// List deployment strategies (AWS's predefined ones and yours).
    Strategies {
        #[command(flatten)]
        conn: Conn,
    },
    /// Deploy a profile version to an environment, gradually by a strategy.
    Deploy {
        /// The application.
        app: String,
        /// The environment.
        env: String,
        /// The profile.
        #[arg(long)]
        profile: String,
        /// The version to roll out.
        #[arg(long)]
        version: u32,
        /// The strategy, e.g. AppConfig.AllAtOnce or one you created.
        #[arg(long)]
        strategy: String,
        /// Follow it until it completes or rolls back, printing its progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// List an environment's deployments, or show one with its events.
    Status {
        /// The application.
        app: String,
        /// The environment.
        env: String,
        /// Show this deployment.
        number: Option<u32>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop a deployment in progress: the environment serves the previous version again.
    Stop {
        /// The application.
        app: String,
        /// The environment.
        env: String,
        /// The deployment's number.
        number: u32,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Json,
    Yaml,
    Text,
}

impl Kind {
    fn mime(self) -> &'static str {
        match self {
            Kind::Json => "application/json",
            Kind::Yaml => "application/yaml",
            Kind::Text => "text/plain",
        }
    }

    fn of(path: &std::path::Path) -> Kind {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Kind::Json,
            Some("yaml" | "yml") => Kind::Yaml,
            _ => Kind::Text,
        }
    }
}

fn app_path(app: &str) -> String {
    format!("/v1/applications/{}", enc(app))
}

fn deployments_path(app: &str, env: &str) -> String {
    format!("{}/environments/{}/deployments", app_path(app), enc(env))
}

pub fn run(cmd: ConfigCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCmd::CreateApp { name, description, conn } => {
            let body = json!({ "name": name, "description": description });
            output::object(conn.output, &conn.client()?.json(Method::POST, "/v1/applications", Some(body))?);
        }
        ConfigCmd::Apps { name: None, conn } => {
            let v = conn.client()?.json(Method::GET, "/v1/applications", None)?;
            output::list(conn.output, &v, "applications", &["name", "description", "created_at"]);
        }
        ConfigCmd::Apps { name: Some(app), conn } => {
            output::object(conn.output, &conn.client()?.json(Method::GET, &app_path(&app), None)?);
        }
        ConfigCmd::DeleteApp { name, conn } => {
            conn.client()?.json(Method::DELETE, &app_path(&name), None)?;
            output::done(conn.output, &format!("deleted application {name}"));
        }
        ConfigCmd::CreateEnv { app, env, conn } => {
            let path = format!("{}/environments", app_path(&app));
            output::object(conn.output, &conn.client()?.json(Method::POST, &path, Some(json!({ "name": env })))?);
        }
        ConfigCmd::CreateProfile { app, profile, schema, validator_function, conn } => {
            let mut validators = Vec::new();
            if let Some(file) = schema {
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let content: Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
                validators.push(json!({ "type": "json_schema", "content": content }));
            }
            if let Some(target) = validator_function {
                validators.push(json!({ "type": "function", "target": target }));
            }
            let path = format!("{}/profiles", app_path(&app));
            let body = json!({ "name": profile, "validators": validators });
            output::object(conn.output, &conn.client()?.json(Method::POST, &path, Some(body))?);
        }
        ConfigCmd::PutVersion { app, profile, file, content_type, conn } => {
            let content = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let kind = content_type.unwrap_or_else(|| Kind::of(&file));
            let client = conn.client()?;
            let path = format!("{}/profiles/{}/versions", app_path(&app), enc(&profile));
            let resp =
                client.send(client.request(Method::POST, &path).header("content-type", kind.mime()).body(content))?;
            let v: Value = resp.json().context("reading the reply")?;
            output::object(conn.output, &v);
        }
        ConfigCmd::Versions { app, profile, version: None, conn } => {
            let path = format!("{}/profiles/{}/versions", app_path(&app), enc(&profile));
            let v = conn.client()?.json(Method::GET, &path, None)?;
            output::list(
                conn.output,
                &v,
                "versions",
                &["version", "content_type", "size", "content_hash", "created_at"],
            );
        }
        ConfigCmd::Versions { app, profile, version: Some(n), conn } => {
            let client = conn.client()?;
            let path = format!("{}/profiles/{}/versions/{n}", app_path(&app), enc(&profile));
            let text = client.send(client.request(Method::GET, &path))?.text().context("reading the content")?;
            print!("{text}");
        }
        ConfigCmd::CreateStrategy { name, growth_type, growth_factor, duration_s, bake_s, conn } => {
            let body = json!({ "name": name, "growth_type": growth_type, "growth_factor": growth_factor,
                "duration_s": duration_s, "final_bake_time_s": bake_s });
            output::object(conn.output, &conn.client()?.json(Method::POST, "/v1/deployment-strategies", Some(body))?);
        }
        ConfigCmd::Strategies { conn } => {
            let v = conn.client()?.json(Method::GET, "/v1/deployment-strategies", None)?;
            output::list(
                conn.output,
                &v,
                "strategies",
                &["name", "growth_type", "growth_factor", "duration_s", "final_bake_time_s"],
            );
        }
        ConfigCmd::Deploy { app, env, profile, version, strategy, wait, conn } => {
            let client = conn.client()?;
            let body = json!({ "profile": profile, "version": version, "strategy": strategy });
            let v = client.json(Method::POST, &deployments_path(&app, &env), Some(body))?;
            if !wait {
                output::object(conn.output, &v);
                return Ok(ExitCode::SUCCESS);
            }
            let n = v["number"].as_u64().unwrap_or(0);
            let end = follow(&client, &format!("{}/{n}", deployments_path(&app, &env)), v)?;
            output::object(conn.output, &end);
            if end["state"] != "COMPLETE" {
                return Ok(ExitCode::FAILURE);
            }
        }
        ConfigCmd::Status { app, env, number: None, conn } => {
            let v = conn.client()?.json(Method::GET, &deployments_path(&app, &env), None)?;
            output::list(
                conn.output,
                &v,
                "deployments",
                &["number", "profile", "version", "state", "percentage_complete", "started_at"],
            );
        }
        ConfigCmd::Status { app, env, number: Some(n), conn } => {
            let v = conn.client()?.json(Method::GET, &format!("{}/{n}", deployments_path(&app, &env)), None)?;
            if conn.output == output::Output::Text {
                print_events(&v);
            }
            output::object(conn.output, &v);
        }
        ConfigCmd::Stop { app, env, number, conn } => {
            let v = conn.client()?.json(Method::DELETE, &format!("{}/{number}", deployments_path(&app, &env)), None)?;
            output::object(conn.output, &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn print_events(v: &Value) {
    for e in v["events"].as_array().into_iter().flatten() {
        println!(
            "{}  {:<20}  {}",
            e["at"].as_str().unwrap_or(""),
            e["event_type"].as_str().unwrap_or(""),
            e["description"].as_str().unwrap_or("")
        );
    }
}

/// Polls a deployment (or an alias shift) until it ends, printing a progress bar line whenever its state or
/// percentage changes (to stderr, so `--output json` stays parseable). Bounded by the
/// strategy's own duration and bake time plus a minute.
pub(super) fn follow(client: &super::client::Client, path: &str, first: Value) -> anyhow::Result<Value> {
    let total_s = first["strategy"]["duration_s"].as_u64().unwrap_or(0)
        + first["strategy"]["final_bake_time_s"].as_u64().unwrap_or(0);
    let limit = Duration::from_secs(total_s + 60);
    let started = Instant::now();
    let mut last = String::new();
    let mut v = first;
    loop {
        let state = v["state"].as_str().unwrap_or("").to_string();
        let pct = v["percentage_complete"].as_f64().unwrap_or(0.0);
        let line = format!("[{:<20}] {pct:>5.1} %  {state}", "#".repeat((pct / 5.0) as usize));
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if matches!(state.as_str(), "COMPLETE" | "ROLLED_BACK") {
            return Ok(v);
        }
        if started.elapsed() > limit {
            anyhow::bail!("the deployment has not ended after {} s: {state} at {pct} %", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(250));
        v = client.json(Method::GET, path, None)?;
    }
}
